import { FakeTelegramApi } from './fake-telegram-api';
import { waitFor } from './wait-for';

describe('FakeTelegramApi', () => {
  const api = new FakeTelegramApi();

  beforeAll(() => api.start());
  afterAll(() => api.stop());

  const post = (path: string, body: string, type = 'application/json') =>
    fetch(`${api.url}${path}`, { method: 'POST', headers: { 'content-type': type }, body }).then(
      async (res) => ({ status: res.status, body: (await res.json()) as Record<string, unknown> }),
    );
  const send = (params: Record<string, unknown>) =>
    post(`/bot${api.token}/sendMessage`, JSON.stringify(params));

  it('answers getMe and sendMessage like the Bot API, and records the message', async () => {
    expect(await post(`/bot${api.token}/getMe`, '{}')).toMatchObject({
      status: 200,
      body: { ok: true, result: { is_bot: true } },
    });
    const sent = await send({ chat_id: 1, text: 'hi', disable_web_page_preview: true });
    expect(sent).toMatchObject({ status: 200, body: { ok: true, result: { text: 'hi' } } });
    const [message] = await api.waitForMessages(1);
    expect(message).toMatchObject({ chatId: '1', text: 'hi', disableWebPagePreview: true });
    expect(api.requests('1')).toBe(1);
  });

  it('accepts form-encoded parameters too', async () => {
    await post(
      `/bot${api.token}/sendMessage`,
      'chat_id=2&text=form',
      'application/x-www-form-urlencoded',
    );
    expect(api.messagesTo(2).map((m) => m.text)).toEqual(['form']);
  });

  it('refuses a wrong token (401) and unknown methods or paths (404)', async () => {
    expect(await post('/bot1:nope/sendMessage', '{}')).toEqual({
      status: 401,
      body: { ok: false, error_code: 401, description: 'Unauthorized' },
    });
    expect((await post(`/bot${api.token}/sendTelepathy`, '{}')).status).toBe(404);
    expect((await post('/elsewhere', '{}')).status).toBe(404);
  });

  it('refuses MarkdownV2 that leaves a reserved character bare, and HTML with unknown tags', async () => {
    const md = await send({ chat_id: 3, text: 'v1.2', parse_mode: 'MarkdownV2' });
    expect(md.status).toBe(400);
    expect(md.body.description).toMatch(/^Bad Request: can't parse entities: Character '\.'/);
    expect(
      (await send({ chat_id: 3, text: 'v1\\.2 *b* [l](http://x.y/a.b)', parse_mode: 'MarkdownV2' }))
        .status,
    ).toBe(200);
    expect((await send({ chat_id: 3, text: '1 < 2', parse_mode: 'HTML' })).status).toBe(400);
    expect((await send({ chat_id: 3, text: '1 &lt; <b>2</b>', parse_mode: 'HTML' })).status).toBe(
      200,
    );
    expect((await send({ chat_id: 3, text: 'x'.repeat(4097) })).body.description).toBe(
      'Bad Request: message is too long',
    );
  });

  it('plays scripted behaviours per chat, for `times` requests when given', async () => {
    api.behave(4, { kind: 'rate_limit', retryAfterSeconds: 2, times: 1 });
    expect(await send({ chat_id: 4, text: 'a' })).toMatchObject({
      status: 429,
      body: { error_code: 429, parameters: { retry_after: 2 } },
    });
    expect((await send({ chat_id: 4, text: 'a' })).status).toBe(200);
    api.behave(5, { kind: 'migrate', to: -1005 });
    expect((await send({ chat_id: 5, text: 'a' })).body).toMatchObject({
      error_code: 400,
      parameters: { migrate_to_chat_id: -1005 },
    });
    expect(api.requests(4)).toBe(2);
  });

  it('failAll answers every request with a storm until switched off', async () => {
    api.failAll(503);
    try {
      expect(await send({ chat_id: 6, text: 'a' })).toMatchObject({
        status: 503,
        body: { ok: false, error_code: 503 },
      });
    } finally {
      api.failAll(undefined);
    }
    expect((await send({ chat_id: 6, text: 'a' })).status).toBe(200);
  });

  it('stop() closes kept-alive connections and pending slow answers', async () => {
    const other = await new FakeTelegramApi().start();
    other.behave(7, { kind: 'slow', ms: 60_000 });
    const pending = fetch(`${other.url}/bot${other.token}/sendMessage`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ chat_id: 7, text: 'a' }),
    }).catch((err: unknown) => err);
    await waitFor(() => other.requests(7) === 1, { what: 'the slow request to arrive' });
    await other.stop();
    // fetch's errors come from another realm than jest's: compare by shape.
    expect(await pending).toMatchObject({ message: 'fetch failed' });
    expect(other.messagesTo(7)).toHaveLength(0);
  });
});
