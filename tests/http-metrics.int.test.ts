// herald_http_requests_total and herald_http_request_duration_seconds: what
// the gateway answered, by route pattern (never the raw path, whose ids would
// make a series per notification), method and status.
import request from 'supertest';
import { bearer, createHarness, testToken, type Harness } from '@herald/testkit';

const writer = testToken('notifications:write notifications:read', 'http-metrics');

describe('gateway HTTP metrics', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  /** The value of the sample of `name` that carries every one of `labels`, from the app's /metrics. */
  async function sample(
    app: Parameters<typeof request>[0],
    name: string,
    labels: Record<string, string>,
  ): Promise<number | undefined> {
    const text = (await request(app).get('/metrics').expect(200)).text;
    const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
    const line = text
      .split('\n')
      .find((l) => l.startsWith(`${name}{`) && wanted.every((pair) => l.includes(pair)));
    return line === undefined ? undefined : Number(line.split(' ').at(-1));
  }

  it('counts each answer under its route pattern, method and status, and times it', async () => {
    const app = h.appWith();
    const sent = await request(app)
      .post('/v1/notifications')
      .set(bearer(writer))
      .send({
        to: { webhookUrl: 'https://hooks.example.test/metrics' },
        channels: ['webhook'],
        content: { webhook: { payload: { hello: 'metrics' } } },
      })
      .expect(202);
    await request(app).post('/v1/notifications').set(bearer(writer)).send({}).expect(422);
    await request(app).post('/v1/notifications').send({}).expect(401);
    for (let i = 0; i < 3; i++)
      await request(app).get(`/v1/notifications/${sent.body.id}`).set(bearer(writer)).expect(200);
    await request(app).get('/no/such/path/42').expect(404);

    const counted = (route: string, method: string, status: number) =>
      sample(app, 'herald_http_requests_total', { route, method, status: String(status) });
    expect(await counted('/v1/notifications', 'POST', 202)).toBe(1);
    expect(await counted('/v1/notifications', 'POST', 422)).toBe(1);
    expect(await counted('/v1/notifications', 'POST', 401)).toBe(1);
    expect(await counted('/v1/notifications/:id', 'GET', 200)).toBe(3);
    expect(await counted('unmatched', 'GET', 404)).toBe(1);
    const text = (await request(app).get('/metrics').expect(200)).text;
    expect(text).not.toContain(sent.body.id);
    expect(text).not.toContain('/no/such/path');

    const byId = { route: '/v1/notifications/:id', method: 'GET' };
    expect(
      await sample(app, 'herald_http_request_duration_seconds_count', {
        route: '/v1/notifications',
        method: 'POST',
      }),
    ).toBe(3);
    expect(
      await sample(app, 'herald_http_request_duration_seconds_bucket', { ...byId, le: '+Inf' }),
    ).toBe(3);
    expect(await sample(app, 'herald_http_request_duration_seconds_sum', byId)).toBeGreaterThan(0);
  });
});
