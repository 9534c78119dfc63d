import { telegramTextLength } from './telegram-text-length';

describe('telegramTextLength', () => {
  it('counts plain text in UTF-16 code units', () => {
    expect(telegramTextLength('hello')).toBe(5);
    expect(telegramTextLength('😀')).toBe(2);
    expect(telegramTextLength('a*b*')).toBe(4);
  });

  it.each([
    ['*bold* _italic_ __under__ ~strike~ ||spoiler||', 'bold italic under strike spoiler'],
    ['\\. \\! \\\\', '. ! \\'],
    ['[link text](https://example.com/a_(b\\)c)', 'link text'],
    ['![👍](tg://emoji?id=5368324170671202286)', '👍'],
    ['`inline \\` code`', 'inline ` code'],
    ['```python\nprint(1)\n```', 'print(1)\n'],
    ['>quoted line\n**>expandable\n>more||', 'quoted line\nexpandable\nmore'],
    ['a > b', 'a > b'],
  ])('MarkdownV2 %j shows as %j', (markup, shown) => {
    expect(telegramTextLength(markup, 'MarkdownV2')).toBe(shown.length);
  });

  it.each([
    ['<b>bold</b> <a href="https://example.com/?a=1&amp;b=2">link</a>', 'bold link'],
    ['&lt;tag&gt; &amp; &quot;', '<tag> & "'],
    ['&#128512; &#x1F600; &#65;', '😀 😀 A'],
    ['<pre><code class="language-ts">x</code></pre>', 'x'],
  ])('HTML %j shows as %j', (markup, shown) => {
    expect(telegramTextLength(markup, 'HTML')).toBe(shown.length);
  });
});
