import { compileTemplate } from './compile-template';
import { MissingVariablesError } from './missing-variables-error';
import { renderTemplate, renderTemplateDetailed, localeCandidates } from './render-template';
import { TemplateChannelMissingError } from './template-channel-missing-error';
import type { TemplateDefinition } from './template-definition';
import { TemplateRenderError } from './template-render-error';
import { TemplateSyntaxError } from './template-syntax-error';

const SPECIALS = '_*[]()~`>#+-=|{}.!\\';

const welcome: TemplateDefinition = {
  category: 'account',
  channels: {
    email: {
      subject: 'Welcome, {{ name }}',
      html: '<p>Hello <b>{{ name }}</b>, see <a href="{{ link }}">your account</a></p>',
      text: 'Hello {{ name }}: {{ link }}',
    },
    telegram: { text: '*Hello* {{ name }}' },
    push: { title: 'Hi {{ name }}', body: '{{ count }} new', url: '{{ link }}' },
    webhook: {
      payload: {
        event: 'welcome',
        user: { name: '{{ name | upcase }}', tags: ['a', '{{ name }}'] },
        count: 3,
        active: true,
        none: null,
      },
    },
  },
  locales: {
    pt: {
      email: { subject: 'Olá, {{ name }}', text: 'Olá {{ name }}' },
      push: { title: 'Oi {{ name }}', body: 'pt' },
    },
    'pt-BR': { email: { subject: 'Oi, {{ name }}', text: 'Oi {{ name }}' } },
  },
};

const data = { name: 'Ada', link: 'https://example.test/a?x=1&y=2', count: 2 };

describe('renderTemplate', () => {
  it('renders each channel into its content object', () => {
    expect(renderTemplate(welcome, 'email', data)).toEqual({
      subject: 'Welcome, Ada',
      html: '<p>Hello <b>Ada</b>, see <a href="https://example.test/a?x=1&amp;y=2">your account</a></p>',
      text: 'Hello Ada: https://example.test/a?x=1&y=2',
    });
    expect(renderTemplate(welcome, 'telegram', data)).toEqual({
      text: '*Hello* Ada',
      parseMode: 'MarkdownV2',
    });
    expect(renderTemplate(welcome, 'push', data)).toEqual({
      title: 'Hi Ada',
      body: '2 new',
      url: 'https://example.test/a?x=1&y=2',
    });
  });

  it('renders every string inside a webhook payload, keeping other JSON as is', () => {
    expect(renderTemplate(welcome, 'webhook', data)).toEqual({
      payload: {
        event: 'welcome',
        user: { name: 'ADA', tags: ['a', 'Ada'] },
        count: 3,
        active: true,
        none: null,
      },
    });
  });

  it('HTML-escapes variables in email html, and only there', () => {
    const evil = { name: '<script>alert("x")</script>', link: 'javascript:"&' };
    const email = renderTemplate(welcome, 'email', evil);
    expect(email.html).toContain('<b>&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</b>');
    expect(email.html).not.toContain('<script>');
    expect(email.html).toContain('<p>Hello <b>'); // the template's own markup stays
    expect(email.subject).toBe('Welcome, <script>alert("x")</script>');
    expect(email.text).toBe('Hello <script>alert("x")</script>: javascript:"&');
  });

  it('escapes every MarkdownV2 special character (and backslash) in Telegram variables, not the markup', () => {
    const telegram = renderTemplate(welcome, 'telegram', { name: `a${SPECIALS}z` });
    expect(telegram).toEqual({
      text: '*Hello* a\\_\\*\\[\\]\\(\\)\\~\\`\\>\\#\\+\\-\\=\\|\\{\\}\\.\\!\\\\z',
      parseMode: 'MarkdownV2',
    });
  });

  it('escapes Telegram variables for HTML when the template says parseMode HTML', () => {
    const template: TemplateDefinition = {
      channels: { telegram: { text: '<b>Hi</b> {{ name }} *{{ n }}*', parseMode: 'HTML' } },
    };
    expect(renderTemplate(template, 'telegram', { name: '<i>&"x"', n: 1 })).toEqual({
      text: '<b>Hi</b> &lt;i&gt;&amp;&quot;x&quot; *1*',
      parseMode: 'HTML',
    });
  });

  it('escapes the result of filters and non-string values too', () => {
    const template: TemplateDefinition = {
      channels: { telegram: { text: '{{ items | join: "." }} {{ n }} {{ price | times: 1.5 }}' } },
    };
    expect(renderTemplate(template, 'telegram', { items: ['a', 'b'], n: -1, price: 3 }).text).toBe(
      'a\\.b \\-1 4\\.5',
    );
  });

  it('falls back from the exact locale to its language, then to the default channels', () => {
    const subject = (locale?: string) =>
      renderTemplateDetailed(welcome, 'email', data, locale).content.subject;
    expect(subject('pt-BR')).toBe('Oi, Ada');
    expect(subject('pt_br')).toBe('Oi, Ada');
    expect(subject('pt-PT')).toBe('Olá, Ada');
    expect(subject('pt')).toBe('Olá, Ada');
    expect(subject('fr')).toBe('Welcome, Ada');
    expect(subject(undefined)).toBe('Welcome, Ada');
    // A locale without the channel falls through to the next candidate.
    expect(renderTemplateDetailed(welcome, 'push', data, 'pt-BR')).toMatchObject({
      locale: 'pt',
      content: { title: 'Oi Ada' },
    });
    expect(renderTemplateDetailed(welcome, 'telegram', data, 'pt-BR').locale).toBeNull();
    expect(renderTemplateDetailed(welcome, 'email', data, 'PT-br').locale).toBe('pt-BR');
  });

  it('lists locale candidates most specific first', () => {
    expect(localeCandidates('zh-Hant-TW')).toEqual(['zh-hant-tw', 'zh-hant', 'zh']);
    expect(localeCandidates('')).toEqual([]);
    expect(localeCandidates(undefined)).toEqual([]);
  });

  it('refuses a channel the template does not have', () => {
    const template: TemplateDefinition = { channels: { push: { title: 'x', body: 'y' } } };
    expect(() => renderTemplate(template, 'email', {})).toThrow(TemplateChannelMissingError);
    expect(() => renderTemplate(template, 'email', {})).toThrow(/no email content.*push/);
  });
});

describe('missing variables', () => {
  const missing = (fn: () => unknown): readonly string[] => {
    try {
      fn();
    } catch (err) {
      if (err instanceof MissingVariablesError) return err.variables;
      throw err;
    }
    throw new Error('expected MissingVariablesError');
  };

  it('names every missing root variable, sorted, including one used only in html', () => {
    const template: TemplateDefinition = {
      channels: {
        email: { subject: 'Hi {{ name }}', html: '<a href="{{ link }}">{{ zeta }}</a>', text: 'x' },
      },
    };
    expect(missing(() => renderTemplate(template, 'email', {}))).toEqual(['link', 'name', 'zeta']);
    expect(missing(() => renderTemplate(template, 'email', { name: 'A', zeta: 1 }))).toEqual([
      'link',
    ]);
  });

  it('reports the root of a nested path, and counts undefined (not null) as missing', () => {
    const template: TemplateDefinition = {
      channels: { push: { title: 'Hi {{ user.name }}', body: '{{ order["id"] }}' } },
    };
    expect(missing(() => renderTemplate(template, 'push', { order: undefined }))).toEqual([
      'order',
      'user',
    ]);
    expect(renderTemplate(template, 'push', { user: { name: 'Ada' }, order: null })).toEqual({
      title: 'Hi Ada',
      body: '',
    });
  });

  it('does not report variables assigned, captured or bound by loops in the template', () => {
    const template: TemplateDefinition = {
      channels: {
        telegram: {
          text:
            '{% assign greeting = "Hi" %}{% capture who %}{{ name }}{% endcapture %}' +
            '{{ greeting }} {{ who }}{% for item in items %} {{ forloop.index }}:{{ item.sku }}{% endfor %}' +
            '{% for i in (1..3) %}{{ i }}{% endfor %}{% increment counter %}',
        },
      },
    };
    expect(missing(() => renderTemplate(template, 'telegram', {}))).toEqual(['items', 'name']);
    expect(
      renderTemplate(template, 'telegram', { name: 'Ada', items: [{ sku: 'A-1' }, { sku: 'B' }] })
        .text,
    ).toBe('Hi Ada 1:A\\-1 2:B1230');
  });

  it('checks only the content it renders: the locale used, the channel asked', () => {
    const template: TemplateDefinition = {
      channels: { email: { subject: '{{ a }}', text: 'x' }, push: { title: '{{ b }}', body: '' } },
      locales: { fr: { email: { subject: '{{ c }}', text: 'x' } } },
    };
    expect(missing(() => renderTemplate(template, 'email', {}))).toEqual(['a']);
    expect(missing(() => renderTemplate(template, 'email', {}, 'fr-CA'))).toEqual(['c']);
    expect(missing(() => renderTemplate(template, 'push', {}, 'fr'))).toEqual(['b']);
  });

  it('does not look up inherited properties as data', () => {
    const template: TemplateDefinition = {
      channels: { push: { title: '{{ constructor }}', body: '' } },
    };
    expect(missing(() => renderTemplate(template, 'push', {}))).toEqual(['constructor']);
  });
});

describe('errors at compile and render time', () => {
  it('names each field that does not parse, with the Liquid message', () => {
    const bad = {
      channels: {
        email: { subject: '{{ name', text: 'ok' },
        webhook: { payload: { a: ['{% if %}'] } },
      },
      locales: { fr: { email: { subject: '{{ x | nosuchfilter }}', text: '{% include "y" %}' } } },
    } as TemplateDefinition;
    try {
      compileTemplate(bad);
      throw new Error('expected TemplateSyntaxError');
    } catch (err) {
      expect(err).toBeInstanceOf(TemplateSyntaxError);
      const fields = (err as TemplateSyntaxError).issues.map((i) => i.field);
      expect(fields).toEqual([
        'channels.email.subject',
        'channels.webhook.payload.a.0',
        'locales.fr.email.subject',
        'locales.fr.email.text',
      ]);
      expect((err as TemplateSyntaxError).issues[2]!.message).toMatch(/undefined filter/);
      expect((err as TemplateSyntaxError).issues[3]!.message).toMatch(/include/);
    }
  });

  it('refuses rendered content the channel cannot send, naming the template field', () => {
    const template: TemplateDefinition = {
      channels: { push: { title: '{{ title }}', body: '', icon: '{{ icon }}' } },
    };
    try {
      renderTemplate(template, 'push', { title: '', icon: 'not a url' });
      throw new Error('expected TemplateRenderError');
    } catch (err) {
      expect(err).toBeInstanceOf(TemplateRenderError);
      expect((err as TemplateRenderError).issues.map((i) => i.field).sort()).toEqual([
        'channels.push.icon',
        'channels.push.title',
      ]);
    }
  });

  it('stops a runaway loop at the render limit instead of hanging', () => {
    const template: TemplateDefinition = {
      channels: {
        push: {
          title: '{% for i in (1..n) %}{% for j in (1..n) %}x{% endfor %}{% endfor %}',
          body: '',
        },
      },
    };
    expect(() => renderTemplate(template, 'push', { n: 100_000 })).toThrow(TemplateRenderError);
  });

  it('leaves the data untouched', () => {
    const template: TemplateDefinition = {
      channels: { push: { title: '{% assign name = "x" %}{{ name }}', body: '{{ name }}' } },
    };
    const input = { name: 'Ada' };
    renderTemplate(template, 'push', input);
    expect(input).toEqual({ name: 'Ada' });
  });
});
