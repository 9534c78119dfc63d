import fc from 'fast-check';
import { escapeMarkdownV2, escapeTelegramHtml } from './telegram-escape';
import { telegramTextLength } from './telegram-text-length';

const SPECIALS = '_*[]()~`>#+-=|{}.!\\';

describe('escapeMarkdownV2', () => {
  it('escapes every reserved character and the backslash', () => {
    expect(escapeMarkdownV2(SPECIALS)).toBe(
      '\\_\\*\\[\\]\\(\\)\\~\\`\\>\\#\\+\\-\\=\\|\\{\\}\\.\\!\\\\',
    );
  });

  it('leaves other text alone', () => {
    expect(escapeMarkdownV2('Hello, world: 42 ✓ 😀 "quoted" & <tag')).toBe(
      'Hello, world: 42 ✓ 😀 "quoted" & <tag',
    );
  });

  it('shows any text literally: unescaping gives the input back, and no reserved character is left bare', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        const escaped = escapeMarkdownV2(text);
        expect(escaped.replace(/\\(.)/gs, '$1')).toBe(text);
        expect(escaped.replace(/\\./gs, '')).not.toMatch(/[_*[\]()~`>#+\-=|{}.!\\]/);
        expect(telegramTextLength(escaped, 'MarkdownV2')).toBe(text.length);
      }),
    );
  });
});

describe('escapeTelegramHtml', () => {
  it('turns &, <, > and " into the entities Telegram supports', () => {
    expect(escapeTelegramHtml('a < b && c > "d"')).toBe('a &lt; b &amp;&amp; c &gt; &quot;d&quot;');
  });

  it('leaves MarkdownV2 characters other than > alone', () => {
    const others = SPECIALS.replace('>', '');
    expect(escapeTelegramHtml(others)).toBe(others);
  });

  it('keeps the shown length of any text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        expect(telegramTextLength(escapeTelegramHtml(text), 'HTML')).toBe(text.length);
      }),
    );
  });
});
