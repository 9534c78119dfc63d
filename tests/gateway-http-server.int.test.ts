import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import request from 'supertest';
import { createHttpServer } from '@herald/api';
import { bearer, createHarness, testToken, type Harness } from '@herald/testkit';

const writer = testToken('notifications:write notifications:read', 'billing');

async function listening(server: http.Server): Promise<http.Server> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

const urlOf = (server: http.Server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

async function closed(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

describe('createHttpServer: requests and responses born with the app prototypes', () => {
  it('hands express objects that already have its prototypes, before express sees them', async () => {
    const app = express();
    app.get('/probe', (req, res) => {
      res.json({ query: req.query, header: req.get('x-probe'), ip: typeof req.ip });
    });
    const server = await listening(createHttpServer(app));
    const seen: { request: boolean; response: boolean }[] = [];
    // Runs before the app's own listener: what Node built, not what express re-prototyped.
    server.prependListener('request', (req, res) => {
      seen.push({
        request: Object.getPrototypeOf(req) === app.request,
        response: Object.getPrototypeOf(res) === app.response,
      });
    });
    try {
      const res = await fetch(`${urlOf(server)}/probe?a=1`, { headers: { 'x-probe': 'yes' } });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ query: { a: '1' }, header: 'yes', ip: 'string' });
      expect(seen).toEqual([{ request: true, response: true }]);
      // And they are still everything Node's own objects are.
      const [req, res2] = await new Promise<[unknown, unknown]>((resolve) => {
        server.once('request', (q, s) => resolve([q, s]));
        void fetch(`${urlOf(server)}/probe`);
      });
      expect(req).toBeInstanceOf(http.IncomingMessage);
      expect(res2).toBeInstanceOf(http.ServerResponse);
    } finally {
      await closed(server);
    }
  });

  it('serves many requests on one keep-alive connection, bodies streamed in and out', async () => {
    const app = express();
    app.use(express.json());
    app.post('/echo', (req, res) => res.status(201).json(req.body));
    const server = await listening(createHttpServer(app));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<unknown>();
    server.on('connection', (socket) => sockets.add(socket));
    try {
      for (let i = 0; i < 20; i++) {
        const body = JSON.stringify({ i, text: 'x'.repeat(i * 1000) });
        const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = http.request(
            `${urlOf(server)}/echo`,
            { method: 'POST', agent, headers: { 'content-type': 'application/json' } },
            (res) => {
              let text = '';
              res.setEncoding('utf8');
              res.on('data', (chunk: string) => (text += chunk));
              res.on('end', () => resolve({ status: res.statusCode!, body: text }));
            },
          );
          req.on('error', reject);
          req.end(body);
        });
        expect(answer).toEqual({ status: 201, body });
      }
      expect(sockets.size).toBe(1);
    } finally {
      agent.destroy();
      await closed(server);
    }
  });

  describe('the gateway app on it', () => {
    let h: Harness;
    let server: http.Server;

    beforeAll(async () => {
      h = await createHarness({ admin: { user: 'ops', password: 'correct horse battery' } });
      server = await listening(createHttpServer(h.app));
    });

    afterAll(async () => {
      await closed(server);
      await h.close();
    });

    it('accepts a notification and reads it back', async () => {
      const sent = await request(server)
        .post('/v1/notifications')
        .set(bearer(writer))
        .set('X-Request-Id', 'order-42')
        .send({
          to: { webhookUrl: 'https://hooks.example.test/a' },
          channels: ['webhook'],
          content: { webhook: { payload: { order: 42 } } },
        })
        .expect(202);
      expect(sent.headers['x-request-id']).toBe('order-42');
      const read = await request(server)
        .get(`/v1/notifications/${sent.body.id}`)
        .set(bearer(writer))
        .expect(200);
      expect(read.body.id).toBe(sent.body.id);
    });

    it('answers bad input with problem+json naming the field', async () => {
      const res = await request(server)
        .post('/v1/notifications')
        .set(bearer(writer))
        .send({ to: {}, channels: ['pigeon'] })
        .expect(422);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(JSON.stringify(res.body)).toContain('channels');
    });

    it('serves the mounted Bull Board app (its own request prototypes) and the API after it', async () => {
      const page = await request(server)
        .get('/admin/queues')
        .auth('ops', 'correct horse battery')
        .expect(200);
      expect(page.text).toMatch(/<html/i);
      // The sub-app re-prototyped the objects for itself; the next request is the gateway's again.
      await request(server).get('/v1/notifications/nope').set(bearer(writer)).expect(404);
      await request(server).get('/healthz').expect(200);
    });
  });
});
