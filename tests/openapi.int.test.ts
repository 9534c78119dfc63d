import request from 'supertest';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import { SCOPES } from '@herald/api';
import { bearer, createHarness, testToken, type Harness } from '@herald/testkit';
import apiPackage from '../packages/api/package.json';
import {
  operationsOf,
  rebased,
  refsIn,
  resolvePointer,
  SCHEMAS_ID,
  servedRoutes,
  stableParts,
  type Document,
  type Example,
  type Json,
  type Operation,
} from './support/openapi-document';

/**
 * The OpenAPI document (GET /openapi.json) against the app that serves it:
 * well formed, complete (every route express serves is documented), and
 * true (every request example is accepted by the live API and answered
 * with a documented status and a body matching the documented schema).
 */

const VAPID_PUBLIC_KEY =
  'BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM';

describe('OpenAPI document', () => {
  let h: Harness;
  let doc: Document;
  let ajv: Ajv2020;

  beforeAll(async () => {
    h = await createHarness({
      admin: { user: 'ops', password: 'openapi-test-password' },
      vapidPublicKey: VAPID_PUBLIC_KEY,
    });
    const res = await request(h.app).get('/openapi.json').expect(200);
    expect(res.type).toBe('application/json');
    doc = res.body as Document;
    ajv = new Ajv2020({ strict: true, allErrors: true, validateFormats: false });
    ajv.addSchema({ $id: SCHEMAS_ID, $defs: rebased(doc.components.schemas) });
  });

  afterAll(async () => {
    await h.close();
  });

  /** A validator for a schema of the document (its refs point into components). */
  function validatorFor(schema: Json): ValidateFunction {
    return ajv.compile(rebased(schema));
  }

  function expectValid(schema: Json, value: unknown, what: string): void {
    const validate = validatorFor(schema);
    const valid = validate(value);
    if (!valid) throw new Error(`${what}: ${ajv.errorsText(validate.errors)}`);
  }

  /** The JSON schema of an operation's response for `status` (following a response $ref). */
  function responseSchema(
    op: Operation,
    status: number,
  ): { schema: Json; mediaType: string; examples?: Record<string, Example> } {
    let response = op.responses[String(status)];
    if (!response) throw new Error(`${op.operationId} documents no ${status}`);
    if (typeof response.$ref === 'string') response = resolvePointer(doc, response.$ref) as Json;
    const [mediaType, media] = Object.entries(response.content as Record<string, Json>)[0]!;
    return {
      schema: media.schema as Json,
      mediaType,
      examples: media.examples as Record<string, Example> | undefined,
    };
  }

  describe('structure', () => {
    it('is OpenAPI 3.1 with Herald info, servers and security schemes', () => {
      expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
      expect(doc.info).toMatchObject({ title: 'Herald', version: apiPackage.version });
      expect(doc.servers).toEqual([{ url: 'http://herald.test', description: 'This gateway' }]);
      expect(doc.components.securitySchemes).toMatchObject({
        bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
        adminBasic: { type: 'http', scheme: 'basic' },
      });
    });

    it('resolves every $ref inside the document', () => {
      const refs = refsIn(doc);
      expect(refs.length).toBeGreaterThan(50);
      const broken = [...new Set(refs)].filter((ref) => resolvePointer(doc, ref) === undefined);
      expect(broken).toEqual([]);
    });

    it('gives every operation a unique operationId, responses, path parameters and scopes', () => {
      const operations = operationsOf(doc);
      const ids = operations.map(({ op }) => op.operationId);
      expect(new Set(ids).size).toBe(ids.length);
      for (const { path, method, op } of operations) {
        const where = `${method.toUpperCase()} ${path}`;
        expect([where, typeof op.operationId]).toEqual([where, 'string']);
        expect([where, Object.keys(op.responses).length > 0]).toEqual([where, true]);
        const templated = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
        const declared = (op.parameters ?? [])
          .filter((p) => p.in === 'path' && p.required === true)
          .map((p) => p.name)
          .sort();
        expect([where, declared]).toEqual([where, templated]);
        for (const requirement of (op.security ?? []) as Record<string, string[]>[]) {
          for (const [scheme, scopes] of Object.entries(requirement)) {
            expect([where, scheme in (doc.components.securitySchemes as Json)]).toEqual([
              where,
              true,
            ]);
            expect(scopes.every((s) => (SCOPES as readonly string[]).includes(s))).toBe(true);
          }
        }
        if (path.startsWith('/v1/') && path !== '/v1/push/vapid-public-key') {
          expect([where, op['x-scopes']?.length]).toEqual([where, 1]);
          expect(op.responses['401']).toEqual({ $ref: '#/components/responses/Unauthorized' });
          expect(op.responses['403']).toEqual({ $ref: '#/components/responses/Forbidden' });
        }
      }
    });

    it('answers every problem with the shared Problem schema', () => {
      for (const [name, response] of Object.entries(doc.components.responses)) {
        const content = response.content as Record<string, { schema: Json }>;
        expect([name, content['application/problem+json']?.schema]).toEqual([
          name,
          { $ref: '#/components/schemas/Problem' },
        ]);
      }
      expect(Object.keys(doc.components.responses).sort()).toEqual(
        [
          'Conflict',
          'Forbidden',
          'MalformedRequest',
          'NotFound',
          'PayloadTooLarge',
          'ServiceUnavailable',
          'TooManyRequests',
          'Unauthorized',
          'UnsupportedMediaType',
          'ValidationFailed',
        ].sort(),
      );
    });

    it('has examples that match their own schemas (requests, responses, problems)', () => {
      let checked = 0;
      for (const { op } of operationsOf(doc)) {
        const bodies = [
          ...Object.values(op.requestBody?.content ?? {}),
          ...Object.values(op.responses).flatMap((r) =>
            typeof r.$ref === 'string' ? [] : Object.values((r.content ?? {}) as Json),
          ),
        ] as { schema: Json; examples?: Record<string, Example> }[];
        for (const media of bodies) {
          for (const [name, example] of Object.entries(media.examples ?? {})) {
            expectValid(media.schema, example.value, `${op.operationId} example ${name}`);
            checked++;
          }
        }
        for (const p of op.parameters ?? []) {
          expectValid(p.schema, p.example, `${op.operationId} parameter ${p.name}`);
        }
      }
      for (const [name, response] of Object.entries(doc.components.responses)) {
        const media = (response.content as Record<string, { schema: Json; examples: Json }>)[
          'application/problem+json'
        ]!;
        for (const example of Object.values(media.examples) as Example[]) {
          expectValid(media.schema, example.value, `problem ${name}`);
          checked++;
        }
      }
      expect(checked).toBeGreaterThan(40);
    });
  });

  it('documents every route the app serves, and nothing else', () => {
    const dashboard = 'GET /admin/queues';
    const served = new Set(
      servedRoutes(h.app).map((route) =>
        // Bull Board (its pages and its own API) is one documented entry.
        route === 'MOUNT /admin/queues' ? dashboard : route.replace(/:(\w+)/g, '{$1}'),
      ),
    );
    expect(served).toContain('POST /v1/notifications');
    expect(served).toContain(dashboard);
    const documented = new Set(
      operationsOf(doc).map(({ path, method }) => `${method.toUpperCase()} ${path}`),
    );
    expect([...served].filter((r) => !documented.has(r))).toEqual([]);
    expect([...documented].filter((r) => !served.has(r))).toEqual([]);
  });

  describe('against the live API', () => {
    const sub = 'openapi-examples';
    const tokenFor = (op: Operation) => testToken(op['x-scopes'] ?? [], sub);

    function urlOf(path: string, op: Operation): string {
      return path.replace(/\{(\w+)\}/g, (_m, name: string) => {
        const param = op.parameters?.find((p) => p.in === 'path' && p.name === name);
        return encodeURIComponent(String(param?.example));
      });
    }

    /** Prerequisites first: the recipient and the template the other examples refer to. */
    function bodyOperationsInOrder() {
      const rank = (op: Operation) =>
        ({ putRecipient: 0, putTemplate: 1 })[op.operationId as 'putRecipient'] ?? 2;
      return operationsOf(doc)
        .filter(({ op }) => op.requestBody)
        .sort((a, b) => rank(a.op) - rank(b.op));
    }

    it('accepts every request example with a documented status and a body of the documented schema', async () => {
      const sent: string[] = [];
      for (const { path, method, op } of bodyOperationsInOrder()) {
        const examples = op.requestBody!.content['application/json']!.examples ?? {};
        expect([op.operationId, Object.keys(examples).length > 0]).toEqual([op.operationId, true]);
        for (const [name, example] of Object.entries(examples)) {
          const agent = request(h.app);
          const res = await (
            method === 'put' ? agent.put(urlOf(path, op)) : agent.post(urlOf(path, op))
          )
            .set(bearer(tokenFor(op)))
            .send(example.value as object);
          const what = `${op.operationId} example ${name} (${res.status} ${JSON.stringify(res.body)})`;
          const documented = Object.keys(op.responses).filter((s) => s.startsWith('2'));
          expect([what, documented]).toEqual([what, expect.arrayContaining([String(res.status)])]);
          const { schema, examples: answers } = responseSchema(op, res.status);
          expectValid(schema, res.body, what);
          // The answer documented under the same name tells the same story (statuses, counts, reasons).
          const answer = answers?.[name];
          if (answer)
            expect([what, stableParts(res.body)]).toMatchObject([what, stableParts(answer.value)]);
          sent.push(`${op.operationId}:${name}`);
        }
      }
      expect(sent).toEqual(
        expect.arrayContaining([
          'putRecipient:ada',
          'putTemplate:passwordReset',
          'sendNotification:storedTemplate',
          'sendNotificationBatch:mixed',
          'createCampaign:listedTemplate',
          'addPushSubscription:chrome',
          'previewTemplate:frenchEmail',
          'redriveDeadLetters:email',
          'sendTestMessage:storedRecipient',
        ]),
      );
    });

    it('renders the preview example exactly as documented', async () => {
      const op = doc.paths['/v1/templates/{key}/preview']!.post!;
      const [example] = Object.values(op.requestBody!.content['application/json']!.examples!);
      const documented = (op.responses['200']!.content as Record<string, Json>)['application/json']!
        .examples as Record<string, Example>;
      const res = await request(h.app)
        .post(urlOf('/v1/templates/{key}/preview', op))
        .set(bearer(tokenFor(op)))
        .send(example!.value as object)
        .expect(200);
      expect(res.body).toEqual({ ...(Object.values(documented)[0]!.value as Json), version: 1 });
    });

    it('answers key routes with bodies of their documented schemas', async () => {
      const send = doc.paths['/v1/notifications']!.post!;
      const get = doc.paths['/v1/notifications/{id}']!.get!;
      const example = send.requestBody!.content['application/json']!.examples!.inlineEmail!;
      const accepted = await request(h.app)
        .post('/v1/notifications')
        .set(bearer(tokenFor(send)))
        .send(example.value as object)
        .expect(202);
      expectValid(responseSchema(send, 202).schema, accepted.body, 'POST /v1/notifications 202');

      const view = await request(h.app)
        .get(`/v1/notifications/${accepted.body.id}`)
        .set(bearer(tokenFor(get)))
        .expect(200);
      expectValid(responseSchema(get, 200).schema, view.body, 'GET /v1/notifications/{id} 200');

      // The list, with its metadata filter sent as documented (deepObject: metadata[key]=value).
      const list = doc.paths['/v1/notifications']!.get!;
      const metadata = (list.parameters ?? []).find((p) => p.name === 'metadata');
      expect(metadata).toMatchObject({ in: 'query', style: 'deepObject', explode: true });
      // What .describe() says reaches the document: a parameter's and a property's.
      expect((list.parameters ?? []).find((p) => p.name === 'since')).toMatchObject({
        description: 'Accepted at or after this moment',
      });
      expect(JSON.stringify(doc.components.schemas)).toContain(
        "A summary of its deliveries' statuses",
      );
      const filter = Object.fromEntries(
        Object.entries(metadata!.example as Record<string, string>).map(([k, v]) => [
          `metadata[${k}]`,
          v,
        ]),
      );
      for (const query of [{}, filter]) {
        const page = await request(h.app)
          .get('/v1/notifications')
          .query(query)
          .set(bearer(tokenFor(list)))
          .expect(200);
        expectValid(responseSchema(list, 200).schema, page.body, 'GET /v1/notifications 200');
      }

      const invalid = await request(h.app)
        .post('/v1/notifications')
        .set(bearer(tokenFor(send)))
        .send({ to: { email: 'nope' }, channels: [] })
        .expect(422);
      const problem = responseSchema(send, 422);
      expect(invalid.type).toBe(problem.mediaType);
      expectValid(problem.schema, invalid.body, 'POST /v1/notifications 422');
      expect(invalid.body.errors.length).toBeGreaterThan(1);

      for (const [path, status] of [
        ['/v1/recipients/{id}', 200],
        ['/v1/templates/{key}', 200],
        ['/v1/queues', 200],
        ['/v1/push/vapid-public-key', 200],
        ['/healthz', 200],
        ['/readyz', 200],
      ] as const) {
        const op = doc.paths[path]!.get!;
        const res = await request(h.app)
          .get(urlOf(path, op))
          .set(op['x-scopes'] ? bearer(tokenFor(op)) : {})
          .expect(status);
        expectValid(responseSchema(op, status).schema, res.body, `GET ${path}`);
      }
      const dlq = doc.paths['/v1/dlq']!.get!;
      const page = await request(h.app)
        .get('/v1/dlq?channel=email')
        .set(bearer(tokenFor(dlq)))
        .expect(200);
      expectValid(responseSchema(dlq, 200).schema, page.body, 'GET /v1/dlq');
    });

    it('serves the reference at /docs with swagger-ui-dist assets, without auth', async () => {
      const page = await request(h.app).get('/docs').expect(200);
      expect(page.type).toBe('text/html');
      expect(page.text).toContain('/docs/swagger-ui-bundle.js');
      expect(page.text).toContain('"/openapi.json"');
      const bundle = await request(h.app).get('/docs/swagger-ui-bundle.js').expect(200);
      expect(bundle.type).toMatch(/javascript/);
      await request(h.app).get('/docs/swagger-ui.css').expect(200).expect('Content-Type', /css/);
    });
  });
});
