import request from 'supertest';
import {
  createTemplateRenderer,
  loadStoredTemplate,
  publishTemplateChange,
  subscribeTemplateChanges,
} from '@herald/templates';
import {
  bearer,
  createHarness,
  TEST_REDIS_URL,
  testToken,
  waitFor,
  type Harness,
} from '@herald/testkit';

const writer = testToken('templates:write templates:read', 'content-team');
const reader = testToken('templates:read', 'support');
const sender = testToken('notifications:write', 'billing');

const welcome = {
  category: 'account',
  channels: {
    email: {
      subject: 'Welcome, {{ name }}',
      html: '<p>Hello <b>{{ name }}</b></p>',
      text: 'Hello {{ name }}',
    },
    telegram: { text: '*Hello* {{ name }}' },
    push: { title: 'Hi {{ user.name }}', body: '{{ count }} new' },
    webhook: { payload: { event: 'welcome', name: '{{ name }}', n: 1 } },
  },
  locales: {
    pt: { email: { subject: 'Olá, {{ name }}', text: 'Olá {{ name }}' } },
  },
};

describe('templates API: store, version, preview, change notifications', () => {
  let h: Harness;
  const closers: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    h = await createHarness();
  });

  afterAll(async () => {
    for (const close of closers.reverse()) await close();
    await h.close();
  });

  const put = (key: string, body: object, token = writer) =>
    request(h.app).put(`/v1/templates/${key}`).set(bearer(token)).send(body);
  const preview = (key: string, body: object) =>
    request(h.app).post(`/v1/templates/${key}/preview`).set(bearer(reader)).send(body);

  it('needs templates scopes', async () => {
    await request(h.app).get('/v1/templates/welcome').expect(401);
    await put('welcome', welcome, reader).expect(403);
    await put('welcome', welcome, sender).expect(403);
    await request(h.app).get('/v1/templates/welcome').set(bearer(sender)).expect(403);
  });

  it('creates (201), reads and replaces (200) a template, bumping its version', async () => {
    const created = await put('welcome', welcome).expect(201);
    expect(created.headers.location).toBe('/v1/templates/welcome');
    expect(created.body).toMatchObject({
      key: 'welcome',
      category: 'account',
      channels: welcome.channels,
      locales: welcome.locales,
      version: 1,
    });
    const got = await request(h.app).get('/v1/templates/welcome').set(bearer(reader)).expect(200);
    expect(got.body).toEqual(created.body);

    const { locales: _dropped, category: _none, ...replacement } = welcome;
    const updated = await put('welcome', replacement).expect(200);
    expect(updated.body).toMatchObject({ version: 2, category: null, locales: {} });
    await put('welcome', welcome).expect(200);
    const latest = await request(h.app).get('/v1/templates/welcome').set(bearer(reader));
    expect(latest.body).toMatchObject({ version: 3, category: 'account' });

    const audit = await h.db.prisma.auditEvent.findMany({
      where: { entityType: 'template', entityId: 'welcome' },
      orderBy: { id: 'asc' },
    });
    expect(audit.map((a) => [a.action, a.actor])).toEqual([
      ['template.create', 'content-team'],
      ['template.update', 'content-team'],
      ['template.update', 'content-team'],
    ]);
  });

  it('refuses a bad key, bad fields and Liquid syntax errors with 422 naming each field', async () => {
    const badKey = await put('x'.repeat(101), welcome).expect(422);
    expect(badKey.body.errors).toEqual([expect.objectContaining({ field: 'key', in: 'path' })]);
    await put('has%20space', welcome).expect(422);

    const res = await put('broken', {
      channels: {
        email: { subject: 'Hi {{ name', text: 'ok' },
        push: { title: '{{ name | nosuchfilter }}', body: '' },
        webhook: { payload: { items: [{ text: '{% if x %}' }] } },
      },
      locales: { fr: { telegram: { text: 'Salut' } } },
    }).expect(422);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    const fields = res.body.errors.map((e: { field: string }) => e.field).sort();
    expect(fields).toEqual([
      'channels.email.subject',
      'channels.push.title',
      'channels.webhook.payload.items.0.text',
      'locales.fr.telegram',
    ]);
    const subject = res.body.errors.find(
      (e: { field: string }) => e.field === 'channels.email.subject',
    );
    expect(subject.message).toMatch(/Liquid/);

    await put('empty', { channels: {} }).expect(422);
    await put('extra', { ...welcome, colour: 'red' }).expect(422);
    await request(h.app).get('/v1/templates/broken').set(bearer(reader)).expect(404);
  });

  it('previews each channel, escaping variables for where they land', async () => {
    await put('preview-me', welcome).expect(201);
    const data = { name: '<script>x</script>', user: { name: 'Ada' }, count: 2 };
    const email = await preview('preview-me', { channel: 'email', data }).expect(200);
    expect(email.body).toEqual({
      key: 'preview-me',
      version: expect.any(Number),
      channel: 'email',
      locale: null,
      content: {
        subject: 'Welcome, <script>x</script>',
        html: '<p>Hello <b>&lt;script&gt;x&lt;/script&gt;</b></p>',
        text: 'Hello <script>x</script>',
      },
    });
    const telegram = await preview('preview-me', { channel: 'telegram', data: { name: 'a.b!' } });
    expect(telegram.body.content).toEqual({ text: '*Hello* a\\.b\\!', parseMode: 'MarkdownV2' });
    const webhook = await preview('preview-me', { channel: 'webhook', data: { name: 'Ada' } });
    expect(webhook.body.content).toEqual({ payload: { event: 'welcome', name: 'Ada', n: 1 } });
  });

  it('previews with locale fallback and names the locale used', async () => {
    await put('localized', welcome);
    const ptBr = await preview('localized', {
      channel: 'email',
      data: { name: 'Ana' },
      locale: 'pt-BR',
    });
    expect(ptBr.status).toBe(200);
    expect(ptBr.body).toMatchObject({ locale: 'pt', content: { subject: 'Olá, Ana' } });
    const fr = await preview('localized', {
      channel: 'email',
      data: { name: 'Ana' },
      locale: 'fr',
    });
    expect(fr.body).toMatchObject({ locale: null, content: { subject: 'Welcome, Ana' } });
  });

  it('answers 422 naming the missing variables, 422 for a missing channel, 404 for an unknown template', async () => {
    await put('needs-data', {
      channels: {
        push: { title: 'Hi {{ user.name }}', body: '{{ count }} for {{ name }}' },
      },
    });
    const missing = await preview('needs-data', { channel: 'push', data: { count: 1 } }).expect(
      422,
    );
    expect(missing.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(missing.body).toMatchObject({
      status: 422,
      detail: expect.stringMatching(/name, user/),
    });
    expect(missing.body.errors).toEqual([
      { field: 'data.name', in: 'body', message: 'missing variable name' },
      { field: 'data.user', in: 'body', message: 'missing variable user' },
    ]);

    const noChannel = await preview('needs-data', { channel: 'email', data: {} }).expect(422);
    expect(noChannel.body.errors).toEqual([expect.objectContaining({ field: 'channel' })]);

    await preview('no-such-template', { channel: 'push', data: {} }).expect(404);
    const badBody = await preview('needs-data', { channel: 'fax', data: [] }).expect(422);
    expect(badBody.body.errors.map((e: { field: string }) => e.field).sort()).toEqual([
      'channel',
      'data',
    ]);
  });

  it('deletes a template (204), then 404s it', async () => {
    await put('short-lived', welcome).expect(201);
    await request(h.app).delete('/v1/templates/short-lived').set(bearer(reader)).expect(403);
    await request(h.app).delete('/v1/templates/short-lived').set(bearer(writer)).expect(204);
    await request(h.app).get('/v1/templates/short-lived').set(bearer(reader)).expect(404);
    await request(h.app).delete('/v1/templates/short-lived').set(bearer(writer)).expect(404);
    // Created again, it starts over at version 1.
    expect((await put('short-lived', welcome).expect(201)).body.version).toBe(1);
  });

  it('publishes every change to subscribers over Redis', async () => {
    const received: string[] = [];
    closers.push(
      await subscribeTemplateChanges(TEST_REDIS_URL, h.prefix, (key) => received.push(key)),
    );
    // A subscriber made from the gateway's own (offline-queue-less) connection works too.
    const fromConnection: string[] = [];
    closers.push(
      await subscribeTemplateChanges(h.redis, h.prefix, (key) => fromConnection.push(key)),
    );

    await put('announced', welcome).expect(201);
    await request(h.app).delete('/v1/templates/announced').set(bearer(writer)).expect(204);
    expect(await publishTemplateChange(h.redis, h.prefix, 'by-hand')).toBe(2);
    await waitFor(() => received.length >= 3 && fromConnection.length >= 3, {
      what: 'three template changes',
    });
    expect(received).toEqual(['announced', 'announced', 'by-hand']);
    expect(fromConnection).toEqual(received);

    // Another prefix hears nothing of these.
    const other: string[] = [];
    const closeOther = await subscribeTemplateChanges(TEST_REDIS_URL, `${h.prefix}x`, (key) =>
      other.push(key),
    );
    closers.push(closeOther);
    await publishTemplateChange(h.redis, h.prefix, 'mine');
    await waitFor(() => received.includes('mine'));
    expect(other).toEqual([]);
  });

  it('keeps a renderer in another process current: a saved change invalidates its cache', async () => {
    let loads = 0;
    const renderer = createTemplateRenderer({
      load: (key) => {
        loads++;
        return loadStoredTemplate(h.db.prisma, key);
      },
    });
    let changes = 0;
    closers.push(
      await subscribeTemplateChanges(
        TEST_REDIS_URL,
        h.prefix,
        (key) => {
          changes++;
          renderer.invalidate(key);
        },
        { onReconnect: () => renderer.clear() },
      ),
    );
    await put('live', { channels: { push: { title: 'v1 {{ name }}', body: '' } } }).expect(201);
    // The creation's own announcement must not land between the two renders below.
    await waitFor(() => changes >= 1, { what: 'the creation to be announced' });
    const first = await renderer.render('live', 'push', { name: 'Ada' });
    expect(first).toMatchObject({ version: 1, content: { title: 'v1 Ada' } });
    await renderer.render('live', 'push', { name: 'Bob' });
    expect(loads).toBe(1);

    await put('live', { channels: { push: { title: 'v2 {{ name }}', body: '' } } }).expect(200);
    const second = await waitFor(
      async () => {
        const r = await renderer.render('live', 'push', { name: 'Ada' });
        return r.version === 2 ? r : undefined;
      },
      { what: 'the renderer to see version 2' },
    );
    expect(second.content.title).toBe('v2 Ada');
    expect(second.category).toBeUndefined();
  });
});

describe('listing templates', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness();
    const put = (key: string, body: object) =>
      request(h.app).put(`/v1/templates/${key}`).set(bearer(writer)).send(body).expect(201);
    await put('welcome', welcome);
    await put('order-shipped', {
      channels: { webhook: { payload: { event: 'shipped' } } },
    });
    await put('digest', {
      category: 'account',
      channels: { email: { subject: 'Your week', text: 'Hello' } },
    });
  });
  afterAll(async () => {
    await h.close();
  });

  const list = (query: string, token = reader) =>
    request(h.app).get(`/v1/templates${query}`).set(bearer(token));

  it('pages through every template once, in key order, by following next', async () => {
    const first = (await list('?limit=2').expect(200)).body as {
      items: { key: string }[];
      next?: string;
    };
    expect(first.items.map((t) => t.key)).toEqual(['digest', 'order-shipped']);
    expect(first.next).toBe('order-shipped');
    const last = (await list(`?limit=2&after=${first.next}`).expect(200)).body as {
      items: object[];
      next?: string;
    };
    expect(last).toEqual({
      items: [
        {
          key: 'welcome',
          category: 'account',
          channels: ['email', 'push', 'telegram', 'webhook'],
          locales: ['pt'],
          version: 1,
          createdAt: expect.any(String),
          updatedAt: expect.any(String),
        },
      ],
    });
  });

  it('filters by category', async () => {
    const res = await list('?category=account').expect(200);
    expect((res.body as { items: { key: string }[] }).items.map((t) => t.key)).toEqual([
      'digest',
      'welcome',
    ]);
  });

  it('answers 422 naming each bad query parameter, and needs templates:read', async () => {
    const res = await list('?limit=501&after=has%20space').expect(422);
    const errors = (res.body as { errors: object[] }).errors;
    expect(errors).toHaveLength(2);
    for (const field of ['after', 'limit'])
      expect(errors).toContainEqual({ field, in: 'query', message: expect.any(String) });
    await list('', sender).expect(403);
  });
});
