import fc from 'fast-check';
import request from 'supertest';
import { bearer, createHarness, testToken, type Harness } from '@herald/testkit';

const token = testToken('notifications:write notifications:read', 'bad-input');

const validBody = {
  to: { email: 'fuzz@example.test' },
  channels: ['email'],
  content: { email: { subject: 'Hello', text: 'plain' } },
};

interface FieldErrorBody {
  field: string;
  in?: string;
  message: string;
}

function expectProblem(res: request.Response, status: number): void {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body).toEqual(
    expect.objectContaining({ type: expect.any(String), title: expect.any(String), status }),
  );
}

const fieldsOf = (res: request.Response): string[] =>
  (res.body.errors as FieldErrorBody[]).map((e) => e.field).sort();

describe('bad input: every bad request gets a problem document, never a 5xx', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness();
  });

  afterAll(async () => {
    await h.close();
  });

  /** POSTs raw bytes with a content type of our choosing (supertest would re-encode objects). */
  const postRaw = (body: string | Buffer, contentType = 'application/json') =>
    request(h.app)
      .post('/v1/notifications')
      .set(bearer(token))
      .set('Content-Type', contentType)
      .send(body);

  const post = (body: unknown, headers: Record<string, string> = {}) =>
    request(h.app)
      .post('/v1/notifications')
      .set(bearer(token))
      .set(headers)
      .send(body as object);

  describe('malformed requests', () => {
    it.each([
      ['truncated JSON', '{"to": {"email": '],
      ['a trailing comma', '{"channels": ["email",]}'],
      ['single quotes', "{'to': 1}"],
      ['a bare word', 'hello'],
      ['a JSON string at the top level', '"just a string"'],
      ['a number at the top level', '42'],
    ])('%s → 400', async (_label, body) => {
      const res = await postRaw(body);
      expectProblem(res, 400);
      expect(res.body.detail).toBeDefined();
    });

    it('a body over 1 MiB → 413', async () => {
      const body = JSON.stringify({
        ...validBody,
        content: { email: { subject: 'big', text: 'x'.repeat(1024 * 1024 + 1) } },
      });
      const res = await postRaw(body);
      expectProblem(res, 413);
    });

    it('a body just under 1 MiB is read (and judged on its merits)', async () => {
      const filler = 'x'.repeat(1024 * 1024 - 1024);
      const res = await postRaw(JSON.stringify({ ...validBody, metadata: { filler } }));
      expect(res.status).toBe(202);
    });

    it.each([
      ['text/plain', 'hello'],
      ['application/x-www-form-urlencoded', 'to=me&channels=email'],
      ['application/xml', '<notification/>'],
      ['multipart/form-data; boundary=x', '--x\r\n\r\nhello\r\n--x--'],
    ])('Content-Type %s → 415', async (contentType, body) => {
      expectProblem(await postRaw(body, contentType), 415);
    });

    it('JSON sent under a non-JSON content type is still 415', async () => {
      expectProblem(await postRaw(JSON.stringify(validBody), 'text/plain'), 415);
    });
  });

  describe('schema violations → 422 naming each bad field', () => {
    it('bad to.email, an unknown channel and missing content for a listed channel', async () => {
      const res = await post({
        to: { email: 'not-an-email' },
        channels: ['email', 'sms', 'telegram'],
        content: { email: { subject: 'Hi', text: 'there' } },
      });
      expectProblem(res, 422);
      expect(fieldsOf(res)).toEqual(['channels.1', 'content.telegram', 'to.email']);
      for (const error of res.body.errors as FieldErrorBody[]) {
        expect(error).toMatchObject({ in: 'body', message: expect.any(String) });
      }
    });

    it('missing content for a listed channel on its own', async () => {
      const res = await post({ ...validBody, channels: ['email', 'push'] });
      expectProblem(res, 422);
      expect(fieldsOf(res)).toEqual(['content.push']);
    });

    it('nested fields by dotted path', async () => {
      const res = await post({
        to: {
          pushSubscription: {
            endpoint: 'http://insecure.example',
            keys: { p256dh: '', auth: 'a' },
          },
        },
        channels: ['push'],
        content: { push: { title: '', body: 'b', icon: 'not a url' } },
        lane: 'express',
        strategy: 'random',
        sendAt: 'tomorrow',
      });
      expectProblem(res, 422);
      expect(fieldsOf(res)).toEqual([
        'content.push.icon',
        'content.push.title',
        'lane',
        'sendAt',
        'strategy',
        'to.pushSubscription.endpoint',
        'to.pushSubscription.keys.p256dh',
      ]);
    });

    it('missing required fields', async () => {
      const res = await post({});
      expectProblem(res, 422);
      expect(fieldsOf(res)).toEqual(expect.arrayContaining(['to', 'channels']));
    });

    it('neither template nor content', async () => {
      const res = await post({ to: validBody.to, channels: ['email'] });
      expectProblem(res, 422);
      expect(fieldsOf(res)).toEqual(['content']);
    });

    it('an unknown top-level field is named', async () => {
      const res = await post({ ...validBody, priority: 'high' });
      expectProblem(res, 422);
      expect(fieldsOf(res)).toEqual(['priority']);
    });

    it('unknown nested fields are named by their dotted path', async () => {
      const res = await post({
        ...validBody,
        to: { email: 'fuzz@example.test', cc: 'x@example.test' },
        content: { email: validBody.content.email, sms: { text: 'x' } },
      });
      expectProblem(res, 422);
      expect(fieldsOf(res)).toEqual(['content.sms', 'to.cc']);
    });

    it('an array where an object belongs', async () => {
      const res = await post([validBody]);
      expectProblem(res, 422);
      expect(res.body.errors).toHaveLength(1);
    });

    it('text Postgres cannot store (NUL, unpaired surrogates) → 422 naming each field', async () => {
      const res = await postRaw(
        JSON.stringify({
          ...validBody,
          content: { email: { subject: 'nul \u0000 here', text: 'lone \ud800 surrogate' } },
          metadata: { 'key\u0000': 1, list: ['fine', '\udfff'] },
          category: 'ok',
        }),
      );
      expectProblem(res, 422);
      expect(fieldsOf(res)).toEqual([
        'content.email.subject',
        'content.email.text',
        'metadata.key\u0000',
        'metadata.list.1',
      ]);
      expect(await h.db.prisma.notification.count({ where: { category: 'ok' } })).toBe(0);
    });

    it('paired surrogates (emoji) are fine', async () => {
      await post({ ...validBody, metadata: { mood: '😀' } }).expect(202);
    });

    it.each([
      ['arrays', (d: number) => `${'['.repeat(d)}0${']'.repeat(d)}`],
      ['objects', (d: number) => `${'{"a":'.repeat(d)}0${'}'.repeat(d)}`],
    ])('nesting too deep to validate (%s) → 422, however deep', async (_label, nest) => {
      for (const depth of [65, 5_000, 150_000]) {
        const res = await postRaw(
          `{"to":{"webhookUrl":"https://hooks.example.test/x"},"channels":["webhook"],` +
            `"content":{"webhook":{"payload":${nest(depth)}}}}`,
        );
        expectProblem(res, 422);
        expect(res.body.errors).toEqual([
          expect.objectContaining({
            field: expect.stringMatching(/^content\.webhook\.payload\./),
            message: expect.stringMatching(/nested deeper than/),
          }),
        ]);
      }
      // Within the limit it is accepted.
      const res = await postRaw(
        `{"to":{"webhookUrl":"https://hooks.example.test/x"},"channels":["webhook"],` +
          `"content":{"webhook":{"payload":${nest(40)}}}}`,
      );
      expect(res.status).toBe(202);
    });

    it.each([
      ['300 characters', 'k'.repeat(300)],
      ['a space inside', 'order 1'],
      ['non-ASCII', 'commande-é'],
    ])('a bad Idempotency-Key (%s) → 422 naming the header', async (_label, key) => {
      const res = await request(h.app)
        .post('/v1/notifications')
        .set(bearer(token))
        .set('Idempotency-Key', Buffer.from(key, 'utf8').toString('latin1'))
        .send(validBody);
      expectProblem(res, 422);
      expect(res.body.errors).toEqual([
        expect.objectContaining({ field: 'Idempotency-Key', in: 'header' }),
      ]);
    });

    it('an Idempotency-Key of 255 characters is fine', async () => {
      await post(validBody, { 'Idempotency-Key': 'k'.repeat(255) }).expect(202);
    });
  });

  describe('unknown resources', () => {
    it('GET /v1/notifications/not-a-uuid → 404 problem', async () => {
      const res = await request(h.app).get('/v1/notifications/not-a-uuid').set(bearer(token));
      expectProblem(res, 404);
    });

    it.each([
      ['GET', '/v1/nope'],
      ['POST', '/v1/notifications/123/unknown'],
      ['DELETE', '/v1/notifications'],
      ['GET', '/'],
    ])('%s %s → 404 problem', async (method, path) => {
      const res = await request(h.app)[method.toLowerCase() as 'get' | 'post' | 'delete'](path);
      expectProblem(res, 404);
    });
  });

  describe('fuzzing POST /v1/notifications', () => {
    function expectHandled(res: request.Response): void {
      expect(res.status).toBeLessThan(500);
      if (res.status === 202) {
        expect(res.body).toMatchObject({ id: expect.any(String), deliveries: expect.any(Array) });
        return;
      }
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body).toEqual(
        expect.objectContaining({
          type: expect.any(String),
          title: expect.any(String),
          status: res.status,
        }),
      );
    }

    /**
     * Serialises like a client would (values JSON cannot carry become an empty
     * body), expanding deep-nesting placeholders, which JSON.stringify itself
     * could not serialise.
     */
    const asJson = (value: unknown): string =>
      (JSON.stringify(value) ?? '').replace(
        /"__deep_(\d+)_(array|object)__"/g,
        (_, depth: string, kind: string) => {
          const [open, close] = kind === 'array' ? ['[', ']'] : ['{"a":', '}'];
          return `${open.repeat(Number(depth))}0${close.repeat(Number(depth))}`;
        },
      );

    /** Mostly any code points; sometimes the ones storage and parsers trip on. */
    const nastyUnit = fc.constantFrom('\u0000', '\ud800', '\udfff', '\u2028', '😀', '"', '\\', 'a');
    const anyString = fc.oneof(
      { weight: 9, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) },
      { weight: 1, arbitrary: fc.string({ unit: nastyUnit, maxLength: 10 }) },
    );
    const anyJson = fc.oneof(
      { weight: 9, arbitrary: fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' }) },
      { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3, stringUnit: nastyUnit }) },
    );
    /** A placeholder for JSON nested up to far beyond what a recursive validator survives. */
    const deepJson = fc
      .tuple(
        fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 65, max: 20_000 })),
        fc.constantFrom('array', 'object'),
      )
      .map(([depth, kind]) => `__deep_${depth}_${kind}__`);
    const jsonOrDeep = fc.oneof({ weight: 5, arbitrary: anyJson }, deepJson);
    const text = fc.string({ unit: 'binary', minLength: 1, maxLength: 30 });

    it('any value as the body', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.anything({ maxDepth: 3, stringUnit: 'binary', withNullPrototype: true }),
          async (value) => {
            expectHandled(await postRaw(asJson(value)));
          },
        ),
        { numRuns: 100 },
      );
    });

    it('any JSON value as the body, deep ones included', async () => {
      await fc.assert(
        fc.asyncProperty(fc.oneof(anyJson, deepJson), async (value) => {
          expectHandled(await postRaw(asJson(value)));
        }),
        { numRuns: 100 },
      );
    });

    it('arbitrary text as the body', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ unit: nastyUnit })),
          async (text) => {
            expectHandled(await postRaw(text));
          },
        ),
        { numRuns: 100 },
      );
    });

    const addresses = {
      email: 'ada@example.test',
      telegramChatId: '12345',
      webhookUrl: 'https://hooks.example.test/herald',
      pushSubscription: {
        endpoint: 'https://push.example.test/sub/1',
        keys: { p256dh: 'p256dh-key', auth: 'auth-key' },
      },
    };

    /** Bodies the gateway accepts, with fuzzed free text, data and dates. */
    const acceptableBody = fc
      .record(
        {
          to: fc.oneof(
            fc.constant(addresses),
            fc
              .subarray(Object.keys(addresses) as (keyof typeof addresses)[], { minLength: 1 })
              .map((keys) => Object.fromEntries(keys.map((k) => [k, addresses[k]]))),
            fc.constant({ recipientId: 'fuzz-recipient' }),
          ),
          channels: fc.uniqueArray(fc.constantFrom('email', 'telegram', 'push', 'webhook'), {
            minLength: 1,
          }),
          strategy: fc.constantFrom('all', 'fallback'),
          content: fc.record({
            email: fc.record({
              subject: fc.oneof(text, anyString),
              text: anyString,
              html: anyString,
            }),
            telegram: fc.record({ text: fc.oneof(text, anyString) }),
            push: fc.record({ title: fc.oneof(text, anyString), body: anyString }),
            webhook: fc.record({ payload: jsonOrDeep }),
          }),
          data: fc.dictionary(anyString, anyJson, { maxKeys: 4 }),
          lane: fc.constantFrom('transactional', 'campaign'),
          sendAt: fc
            .date({
              min: new Date('0001-01-01T00:00:00Z'),
              max: new Date('9999-12-31T23:59:59Z'),
              noInvalidDate: true,
            })
            .map((d) => d.toISOString()),
          metadata: fc.dictionary(anyString, jsonOrDeep, { maxKeys: 4 }),
          category: fc.oneof(text, anyString),
        },
        { requiredKeys: ['to', 'channels', 'content'] },
      )
      .map((body) => ({
        ...body,
        // Content for exactly the listed channels, as a valid body has.
        content: Object.fromEntries(
          body.channels.map((c) => [c, body.content[c as keyof typeof body.content]]),
        ),
      }));

    const FIELDS = [
      'to',
      'to.email',
      'to.recipientId',
      'to.telegramChatId',
      'to.webhookUrl',
      'to.pushSubscription',
      'to.pushSubscription.keys.auth',
      'to.unknown',
      'channels',
      'channels.0',
      'strategy',
      'template',
      'content',
      'content.email',
      'content.email.subject',
      'content.email.html',
      'content.telegram.text',
      'content.push',
      'content.webhook',
      'data',
      'lane',
      'sendAt',
      'metadata',
      'category',
      'unknown',
    ];

    /** A copy with a dotted path set (or, for undefined, deleted), creating objects on the way. */
    function withPath(target: unknown, keys: string[], value: unknown): Record<string, unknown> {
      const copy: Record<string, unknown> =
        typeof target === 'object' && target !== null
          ? Array.isArray(target)
            ? ([...target] as unknown as Record<string, unknown>)
            : { ...(target as Record<string, unknown>) }
          : {};
      const [key, ...rest] = keys as [string, ...string[]];
      if (rest.length > 0) copy[key] = withPath(copy[key], rest, value);
      else if (value === undefined) delete copy[key];
      else copy[key] = value;
      return copy;
    }

    const nearValidBody = fc
      .tuple(
        acceptableBody,
        fc.array(fc.tuple(fc.constantFrom(...FIELDS), fc.option(anyJson, { nil: undefined })), {
          minLength: 1,
          maxLength: 3,
        }),
      )
      .map(([body, mutations]) =>
        mutations.reduce<Record<string, unknown>>(
          (mutated, [path, value]) => withPath(mutated, path.split('.'), value),
          body,
        ),
      );

    beforeAll(async () => {
      await h.db.prisma.recipient.create({
        data: { id: 'fuzz-recipient', email: 'fuzz-recipient@example.test', telegramChatId: '7' },
      });
    });

    it('valid bodies with fuzzed text, data and dates', async () => {
      let accepted = 0;
      await fc.assert(
        fc.asyncProperty(acceptableBody, async (body) => {
          const res = await postRaw(asJson(body));
          expectHandled(res);
          if (res.status === 202) accepted++;
        }),
        { numRuns: 200 },
      );
      // Many runs got past validation into Postgres and BullMQ, not only the validator.
      expect(accepted).toBeGreaterThan(20);
    });

    it('near-valid bodies with fields replaced by random JSON or left out', async () => {
      await fc.assert(
        fc.asyncProperty(nearValidBody, async (body) => {
          expectHandled(await postRaw(asJson(body)));
        }),
        { numRuns: 200 },
      );
    });

    it('random Idempotency-Key headers', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 300 }),
          async (key) => {
            const res = await request(h.app)
              .post('/v1/notifications')
              .set(bearer(token))
              .set('Idempotency-Key', key)
              .send(validBody);
            expectHandled(res);
          },
        ),
        { numRuns: 100 },
      );
    });

    it('the process still answers afterwards', async () => {
      await request(h.app).get('/healthz').expect(200, { status: 'ok' });
      await request(h.app).get('/readyz').expect(200);
      await post(validBody).expect(202);
    });
  });

  describe('fuzzing the query strings of the list endpoints', () => {
    const reader = testToken(
      'campaigns:read templates:read notifications:read recipients:read',
      'bad-input',
    );

    beforeAll(async () => {
      await h.db.pool.query("INSERT INTO recipients (id) VALUES ('fuzz-r')");
    });

    it.each([
      ['/v1/campaigns', ['status', 'limit', 'before'], false],
      ['/v1/templates', ['category', 'limit', 'after'], false],
      ['/v1/recipients/fuzz-r/deliveries', ['status', 'channel', 'limit', 'before'], false],
      // Strict: an unknown parameter is named too.
      ['/v1/recipients', ['tag', 'email', 'limit', 'after'], true],
      [
        '/v1/notifications',
        [
          'owner',
          'status',
          'channel',
          'lane',
          'category',
          'recipientId',
          'template',
          'metadata',
          'metadata[orderId]',
          'since',
          'until',
          'limit',
          'before',
        ],
        true,
      ],
    ])('GET %s answers 200 or a 422 naming query fields', async (path, names, strict) => {
      const nastyUnit = fc.constantFrom(
        '\u0000',
        '\ud800',
        '%',
        '&',
        '=',
        '[',
        ']',
        '😀',
        'a',
        '1',
      );
      const value = fc.oneof(
        fc.string({ unit: 'binary', maxLength: 40 }),
        fc.string({ unit: nastyUnit, maxLength: 12 }),
        fc.integer({ min: -10, max: 1000 }).map(String),
        fc.uuid(),
      );
      // Known names (also repeated: an array) and unknown ones, in any mix.
      const pair = fc.tuple(
        fc.oneof(fc.constantFrom(...names, `${names[0]}[x]`), fc.string({ maxLength: 8 })),
        value,
      );
      await fc.assert(
        fc.asyncProperty(fc.array(pair, { maxLength: 5 }), async (pairs) => {
          const query = new URLSearchParams(pairs).toString();
          const res = await request(h.app).get(`${path}?${query}`).set(bearer(reader));
          if (res.status === 200) {
            expect(Array.isArray(res.body.items)).toBe(true);
            return;
          }
          expectProblem(res, 422);
          for (const e of res.body.errors as FieldErrorBody[]) {
            expect(e.in).toBe('query');
            const named =
              names.some((n) => e.field === n || e.field.startsWith(`${n}.`)) ||
              (strict && pairs.some(([key]) => key === e.field));
            expect(named).toBe(true);
          }
        }),
        { numRuns: 150 },
      );
    });
  });
});
