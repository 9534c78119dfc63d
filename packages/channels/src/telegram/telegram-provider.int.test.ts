import { randomUUID } from 'node:crypto';
import { inspect } from 'node:util';
import {
  createLogger,
  DeliveryError,
  JOB_PAYLOAD_VERSION,
  type DeliveryErrorCode,
  type DeliveryErrorKind,
  type TelegramContent,
} from '@herald/core';
import { FakeTelegramApi } from '@herald/testkit';
import type { ChannelMessage, ChannelProvider, SendContext } from '../provider';
import { createTelegramProvider, type TelegramProviderOptions } from './telegram-provider';

const SPECIALS = '_*[]()~`>#+-=|{}.!\\';
const ctx: SendContext = {
  deliveryId: randomUUID(),
  notificationId: randomUUID(),
  lane: 'transactional',
  attempt: 1,
  log: createLogger('telegram-provider-test', 'silent'),
};

let nextChat = 1000;
const newChat = () => String(nextChat++);

function job(chatId: string, content: TelegramContent): ChannelMessage<'telegram'> {
  return {
    v: JOB_PAYLOAD_VERSION,
    deliveryId: randomUUID(),
    notificationId: randomUUID(),
    lane: 'transactional',
    acceptedAt: Date.now(),
    channel: 'telegram',
    to: { chatId },
    content,
  };
}

describe('Telegram provider against a real HTTP Bot API', () => {
  const api = new FakeTelegramApi();
  const providers: ChannelProvider<'telegram'>[] = [];
  let telegram: ChannelProvider<'telegram'>;

  function provider(options: Partial<TelegramProviderOptions> = {}): ChannelProvider<'telegram'> {
    const p = createTelegramProvider({
      apiUrl: api.url,
      botToken: api.token,
      timeoutMs: 5_000,
      ...options,
    });
    providers.push(p);
    return p;
  }

  /** The DeliveryError a send fails with; no error may carry a bot token anywhere. */
  async function failure(
    send: Promise<unknown>,
    code: DeliveryErrorCode,
    kind: DeliveryErrorKind,
    tokens: string[] = [api.token],
  ): Promise<DeliveryError> {
    const err = await send.then(
      () => {
        throw new Error(`expected ${code}, but the send succeeded`);
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DeliveryError);
    const deliveryError = err as DeliveryError;
    expect({ code: deliveryError.code, kind: deliveryError.kind }).toEqual({ code, kind });
    const everything = inspect(err, { depth: 10, showHidden: true });
    for (const token of tokens) {
      expect(everything).not.toContain(token);
      expect(everything).not.toContain(token.split(':')[1]);
    }
    return deliveryError;
  }

  beforeAll(async () => {
    await api.start();
    telegram = provider();
  });

  afterAll(async () => {
    await Promise.all(providers.map((p) => p.close()));
    await api.stop();
  });

  it('sends and returns the message id', async () => {
    const chat = newChat();
    const result = await telegram.send(job(chat, { text: 'Your code is 1234' }), ctx);
    const [message] = api.messagesTo(chat);
    expect(message).toMatchObject({ text: 'Your code is 1234', disableWebPagePreview: true });
    expect(result).toEqual({ providerMessageId: String(message!.messageId) });
  });

  it('sends plain text as MarkdownV2 with every reserved character escaped', async () => {
    const chat = newChat();
    const text = `Order #42 (v1.2) is *done* - total: $3.50! [a_b] ~x~ \`c\` >q {y}=z|w ${SPECIALS}`;
    await telegram.send(job(chat, { text }), ctx);
    const [message] = api.messagesTo(chat);
    expect(message!.parseMode).toBe('MarkdownV2');
    expect(message!.text).toBe(
      'Order \\#42 \\(v1\\.2\\) is \\*done\\* \\- total: $3\\.50\\! \\[a\\_b\\] \\~x\\~ \\`c\\` \\>q \\{y\\}\\=z\\|w ' +
        '\\_\\*\\[\\]\\(\\)\\~\\`\\>\\#\\+\\-\\=\\|\\{\\}\\.\\!\\\\',
    );
  });

  it('passes HTML and MarkdownV2 markup through with its parse mode', async () => {
    const chat = newChat();
    await telegram.send(job(chat, { text: '<b>Hi</b> &amp; <i>bye</i>', parseMode: 'HTML' }), ctx);
    await telegram.send(job(chat, { text: '*Hi* _there_ 1\\.5', parseMode: 'MarkdownV2' }), ctx);
    expect(api.messagesTo(chat).map((m) => [m.text, m.parseMode])).toEqual([
      ['<b>Hi</b> &amp; <i>bye</i>', 'HTML'],
      ['*Hi* _there_ 1\\.5', 'MarkdownV2'],
    ]);
  });

  it('refuses text over 4096 characters for good, before calling the API', async () => {
    const chat = newChat();
    const tooLong = [
      { text: 'a'.repeat(4097) },
      { text: '😀'.repeat(2049) }, // 4098 UTF-16 code units
      { text: `<b>${'&amp;'.repeat(4097)}</b>`, parseMode: 'HTML' as const },
      { text: `*${'x'.repeat(4097)}*`, parseMode: 'MarkdownV2' as const },
    ];
    for (const content of tooLong) {
      const err = await failure(
        telegram.send(job(chat, content), ctx),
        'content_too_long',
        'permanent',
      );
      expect(err.message).toContain('4096');
    }
    expect(api.requests(chat)).toBe(0);
  });

  it('measures length as Telegram shows it: escapes and markup do not count', async () => {
    const chat = newChat();
    const plain = SPECIALS.repeat(216).slice(0, 4096); // 8192 characters once escaped
    await telegram.send(job(chat, { text: plain }), ctx);
    await telegram.send(job(chat, { text: `<b>${'x'.repeat(4096)}</b>`, parseMode: 'HTML' }), ctx);
    const [escaped, html] = api.messagesTo(chat);
    expect(escaped!.text.length).toBe(8192);
    expect(html!.text.length).toBe(4096 + 7);
  });

  it('429 is rate_limited for the whole provider, for retry_after seconds', async () => {
    const chat = newChat();
    api.behave(chat, { kind: 'rate_limit', retryAfterSeconds: 3, times: 1 });
    const err = await failure(
      telegram.send(job(chat, { text: 'hi' }), ctx),
      'rate_limited',
      'rate_limited',
    );
    expect(err.retryAfterMs).toBe(3000);
    expect(err.scope).toBe('provider');
    await telegram.send(job(chat, { text: 'hi' }), ctx);
    expect(api.requests(chat)).toBe(2);
    expect(api.messagesTo(chat)).toHaveLength(1);
  });

  it('403 (bot blocked by the user) is recipient_blocked', async () => {
    const chat = newChat();
    api.behave(chat, { kind: 'blocked' });
    const err = await failure(
      telegram.send(job(chat, { text: 'hi' }), ctx),
      'recipient_blocked',
      'permanent',
    );
    expect(err.message).toContain('bot was blocked by the user');
  });

  it('400 chat not found is recipient_not_found', async () => {
    const chat = newChat();
    api.behave(chat, { kind: 'chat_not_found' });
    await failure(
      telegram.send(job(chat, { text: 'hi' }), ctx),
      'recipient_not_found',
      'permanent',
    );
  });

  it('follows a migration to a supergroup once and reports the new chat id', async () => {
    const group = `-${newChat()}`;
    const supergroup = `-100${newChat()}`;
    api.behave(group, { kind: 'migrate', to: supergroup });
    const result = await telegram.send(job(group, { text: 'moved?' }), ctx);
    const [message] = api.messagesTo(supergroup);
    expect(message!.text).toBe('moved?');
    expect(result).toEqual({
      providerMessageId: String(message!.messageId),
      movedTo: { telegramChatId: supergroup },
    });
    expect(api.requests(group)).toBe(1);
    expect(api.messagesTo(group)).toHaveLength(0);
  });

  it('a migration that fails at the new chat fails with that chat’s reason', async () => {
    const group = `-${newChat()}`;
    const supergroup = `-100${newChat()}`;
    api.behave(group, { kind: 'migrate', to: supergroup });
    api.behave(supergroup, { kind: 'migrate', to: `-100${newChat()}` });
    await failure(
      telegram.send(job(group, { text: 'hi' }), ctx),
      'recipient_not_found',
      'permanent',
    );
    expect(api.requests(supergroup)).toBe(1);
  });

  it("other 400s (can't parse entities, message too long) are permanent content errors", async () => {
    const chat = newChat();
    const err = await failure(
      telegram.send(job(chat, { text: 'Total: 1.5', parseMode: 'MarkdownV2' }), ctx),
      'content_rejected',
      'permanent',
    );
    expect(err.message).toContain("can't parse entities");
    api.behave(chat, { kind: 'bad_request', description: 'Bad Request: message is too long' });
    await failure(
      telegram.send(job(chat, { text: 'hi', parseMode: 'MarkdownV2' }), ctx),
      'content_too_long',
      'permanent',
    );
  });

  it('a wrong bot token (401) or API path (404) is misconfigured (opens the breaker)', async () => {
    const wrongToken = '999999:WRONG-token-value';
    await failure(
      provider({ botToken: wrongToken }).send(job(newChat(), { text: 'hi' }), ctx),
      'misconfigured',
      'misconfigured',
      [wrongToken, api.token],
    );
    await failure(
      provider({ apiUrl: `${api.url}/not-the-api/` }).send(job(newChat(), { text: 'hi' }), ctx),
      'misconfigured',
      'misconfigured',
    );
  });

  it('5xx is provider_unavailable, a transient error', async () => {
    const chat = newChat();
    api.behave(chat, { kind: 'server_error', times: 1 });
    await failure(
      telegram.send(job(chat, { text: 'hi' }), ctx),
      'provider_unavailable',
      'transient',
    );
    await telegram.send(job(chat, { text: 'hi' }), ctx);
    expect(api.messagesTo(chat)).toHaveLength(1);

    api.failAll(502);
    try {
      await failure(
        telegram.send(job(newChat(), { text: 'hi' }), ctx),
        'provider_unavailable',
        'transient',
      );
    } finally {
      api.failAll(undefined);
    }
  });

  it('an answer that is not Bot API JSON is provider_unavailable', async () => {
    const chat = newChat();
    api.behave(chat, { kind: 'not_json', status: 502 });
    await failure(
      telegram.send(job(chat, { text: 'hi' }), ctx),
      'provider_unavailable',
      'transient',
    );
  });

  it('an answer slower than timeoutMs is a timeout', async () => {
    const chat = newChat();
    api.behave(chat, { kind: 'slow', ms: 60_000 });
    const started = Date.now();
    const err = await failure(
      provider({ timeoutMs: 200 }).send(job(chat, { text: 'hi' }), ctx),
      'timeout',
      'transient',
    );
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(err.message).toContain('200 ms');
  });

  it('a refused connection is a network error', async () => {
    const gone = await new FakeTelegramApi({ token: api.token }).start();
    const url = gone.url;
    await gone.stop();
    await failure(
      provider({ apiUrl: url }).send(job(newChat(), { text: 'hi' }), ctx),
      'network',
      'transient',
    );
  });

  it('keeps one pool of connections: sequential sends reuse one', async () => {
    const pooled = provider();
    const before = api.connectionCount;
    for (let i = 0; i < 5; i++) await pooled.send(job(newChat(), { text: `n${i}` }), ctx);
    expect(api.connectionCount - before).toBe(1);
    const chats = Array.from({ length: 20 }, newChat);
    await Promise.all(chats.map((chat) => pooled.send(job(chat, { text: 'hi' }), ctx)));
    for (const chat of chats) expect(api.messagesTo(chat)).toHaveLength(1);
  });
});
