import { templateDefinitionSchema } from './template-definition';

const fieldsOf = (input: unknown): string[] => {
  const parsed = templateDefinitionSchema.safeParse(input);
  return parsed.success ? [] : parsed.error.issues.map((i) => i.path.join('.'));
};

describe('templateDefinitionSchema', () => {
  it('accepts a template with any channels and partial locales', () => {
    const parsed = templateDefinitionSchema.parse({
      category: 'marketing',
      channels: {
        email: { subject: 'Hi {{ name }}', html: '<p>{{ name }}</p>' },
        telegram: { text: '*Hi* {{ name }}', parseMode: 'MarkdownV2' },
        push: { title: 'Hi', body: '{{ name }}', url: 'https://x.test/{{ id }}' },
        webhook: { payload: { name: '{{ name }}', list: [1, '{{ id }}'] } },
      },
      locales: { 'pt-BR': { push: { title: 'Oi', body: '{{ name }}' } } },
    });
    expect(parsed.locales?.['pt-BR']?.push?.title).toBe('Oi');
  });

  it('names the field of a Liquid syntax error or unknown filter', () => {
    expect(
      fieldsOf({
        channels: {
          email: { subject: 'Hi {{ name', text: 'ok' },
          push: { title: '{{ a | nope }}', body: '' },
          webhook: { payload: { deep: [{ x: '{% for %}' }] } },
        },
        locales: { fr: { email: { subject: 'ok', text: '{% endif %}' } } },
      }),
    ).toEqual([
      'channels.email.subject',
      'channels.push.title',
      'channels.webhook.payload.deep.0.x',
      'locales.fr.email.text',
    ]);
  });

  it('refuses file tags: templates reach only their data', () => {
    expect(fieldsOf({ channels: { telegram: { text: '{% render "secrets" %}' } } })).toEqual([
      'channels.telegram.text',
    ]);
  });

  it('needs at least one channel, and email needs html or text', () => {
    expect(fieldsOf({ channels: {} })).toEqual(['channels']);
    expect(fieldsOf({ channels: { email: { subject: 'x' } } })).toEqual(['channels.email.text']);
  });

  it('refuses unknown fields, bad locale tags, locale channels without a default, duplicate locales', () => {
    // An unknown channel, and so no channel at all.
    expect(fieldsOf({ channels: { sms: { text: 'x' } } })).toEqual(['channels', 'channels']);
    expect(
      fieldsOf({
        channels: { push: { title: 'x', body: 'y', colour: 'red' } },
      }),
    ).toEqual(['channels.push']);
    expect(
      fieldsOf({
        channels: { push: { title: 'x', body: 'y' } },
        locales: { 'not a tag': {} },
      }),
    ).toEqual(['locales.not a tag']);
    expect(
      fieldsOf({
        channels: { push: { title: 'x', body: 'y' } },
        locales: { fr: { email: { subject: 'x', text: 'y' } }, 'PT-br': {}, 'pt-BR': {} },
      }),
    ).toEqual(['locales.fr.email', 'locales.pt-BR']);
    expect(fieldsOf({ channels: { telegram: { text: 'x', parseMode: 'Markdown' } } })).toEqual([
      'channels.telegram.parseMode',
    ]);
  });
});
