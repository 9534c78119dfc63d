import { classifyTelegramReply, classifyTelegramTransportError } from './classify-telegram-error';

describe('classifyTelegramReply', () => {
  it.each([
    [400, 'Bad Request: chat not found', 'recipient_not_found', 'permanent'],
    [
      400,
      "Bad Request: can't parse entities: Character '.' is reserved",
      'content_rejected',
      'permanent',
    ],
    [400, 'Bad Request: message is too long', 'content_too_long', 'permanent'],
    [400, 'Bad Request: message text is empty', 'content_rejected', 'permanent'],
    [401, 'Unauthorized', 'misconfigured', 'misconfigured'],
    [403, 'Forbidden: bot was blocked by the user', 'recipient_blocked', 'permanent'],
    [403, 'Forbidden: user is deactivated', 'recipient_blocked', 'permanent'],
    [403, 'Forbidden: bot was kicked from the group chat', 'recipient_blocked', 'permanent'],
    [404, 'Not Found', 'misconfigured', 'misconfigured'],
    [500, 'Internal Server Error', 'provider_unavailable', 'transient'],
    [502, 'Bad Gateway', 'provider_unavailable', 'transient'],
    [409, 'Conflict: something new', 'provider_unavailable', 'transient'],
  ])('%i %s → %s (%s)', (status, description, code, kind) => {
    const err = classifyTelegramReply('sendMessage', status, {
      ok: false,
      error_code: status,
      description,
    });
    expect(err.code).toBe(code);
    expect(err.kind).toBe(kind);
    expect(err.message).toContain(description);
  });

  it('429 waits retry_after seconds, for the whole provider', () => {
    const err = classifyTelegramReply('sendMessage', 429, {
      ok: false,
      error_code: 429,
      description: 'Too Many Requests: retry after 7',
      parameters: { retry_after: 7 },
    });
    expect(err).toMatchObject({ code: 'rate_limited', kind: 'rate_limited', retryAfterMs: 7000 });
    expect(err.scope).toBe('provider');
  });

  it('429 without retry_after leaves the wait to the worker', () => {
    const err = classifyTelegramReply('sendMessage', 429, { ok: false, error_code: 429 });
    expect(err).toMatchObject({ code: 'rate_limited', retryAfterMs: undefined });
  });

  it('a migration it is asked to classify means the chat is gone', () => {
    const err = classifyTelegramReply('sendMessage', 400, {
      ok: false,
      error_code: 400,
      description: 'Bad Request: group chat was upgraded to a supergroup chat',
      parameters: { migrate_to_chat_id: -1001234 },
    });
    expect(err.code).toBe('recipient_not_found');
  });

  it('a body that is not Bot API JSON is the provider being unwell', () => {
    expect(classifyTelegramReply('sendMessage', 502, undefined).code).toBe('provider_unavailable');
    expect(classifyTelegramReply('sendMessage', 200, undefined).code).toBe('provider_unavailable');
  });
});

describe('classifyTelegramTransportError', () => {
  const withCode = (code: string) => Object.assign(new Error(`failed: ${code}`), { code });

  it.each([
    ['ETIMEDOUT', 'timeout'],
    ['ECONNREFUSED', 'network'],
    ['ECONNRESET', 'network'],
    ['ENOTFOUND', 'network'],
    ['ERESPONSETOOLARGE', 'provider_unavailable'],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'misconfigured'],
    ['ESOMETHINGNEW', 'network'],
  ])('%s → %s', (code, expected) => {
    const cause = withCode(code);
    const err = classifyTelegramTransportError('sendMessage', cause);
    expect(err.code).toBe(expected);
    expect(err.kind).toBe(expected === 'misconfigured' ? 'misconfigured' : 'transient');
    expect(err.cause).toBe(cause);
  });

  it('redacts the token from the message', () => {
    const err = classifyTelegramTransportError(
      'sendMessage',
      new Error('bad path /bot1:SECRET/sendMessage'),
      (text) => text.split('1:SECRET').join('<bot-token>'),
    );
    expect(err.message).toBe('telegram sendMessage: bad path /bot<bot-token>/sendMessage');
  });
});
