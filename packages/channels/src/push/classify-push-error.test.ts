import { WebPushError } from 'web-push';
import { classifyPushError, parseRetryAfter } from './classify-push-error';
import { PushTimeoutError } from './push-timeout-error';

const answered = (status: number, headers: Record<string, string> = {}) =>
  new WebPushError('Received unexpected response code', status, headers, '', 'https://p/x');
const socketError = (code: string) => Object.assign(new Error('socket said no'), { code });

describe('classifyPushError', () => {
  it.each([
    [answered(404), 'subscription_gone', 'permanent'],
    [answered(410), 'subscription_gone', 'permanent'],
    [answered(413), 'content_rejected', 'permanent'],
    [answered(429), 'rate_limited', 'rate_limited'],
    [answered(400), 'provider_refused', 'transient'],
    [answered(401), 'provider_refused', 'transient'],
    [answered(403), 'provider_refused', 'transient'],
    [answered(422), 'provider_refused', 'transient'],
    [answered(408), 'timeout', 'transient'],
    [answered(500), 'provider_unavailable', 'transient'],
    [answered(503), 'provider_unavailable', 'transient'],
    [new PushTimeoutError(10), 'timeout', 'transient'],
    [socketError('ECONNREFUSED'), 'network', 'transient'],
    [socketError('ECONNRESET'), 'network', 'transient'],
    [socketError('ETIMEDOUT'), 'timeout', 'transient'],
    [socketError('DEPTH_ZERO_SELF_SIGNED_CERT'), 'provider_refused', 'transient'],
    [new Error('no code at all'), 'network', 'transient'],
  ])('%s → %s (%s)', (err, code, kind) => {
    const classified = classifyPushError(err);
    expect(classified).toMatchObject({ code, kind });
    expect(classified.cause).toBe(err);
  });

  it('keeps Retry-After and scopes HTTP answers to the recipient', () => {
    expect(classifyPushError(answered(429, { 'retry-after': '7' }))).toMatchObject({
      retryAfterMs: 7000,
      scope: 'recipient',
    });
    expect(classifyPushError(answered(503, { 'retry-after': '2' })).retryAfterMs).toBe(2000);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2030-01-01T00:00:00Z');
  it.each([
    ['7', 7000],
    [' 0 ', 0],
    ['Tue, 01 Jan 2030 00:00:30 GMT', 30_000],
    ['Mon, 31 Dec 2029 23:59:00 GMT', 0],
    ['soon', undefined],
    ['', undefined],
    [undefined, undefined],
  ])('%j → %j ms', (value, ms) => {
    expect(parseRetryAfter(value, now)).toBe(ms);
  });
});
