import { signWebhook, verifyWebhookSignature } from './webhook-signature';

const secret = 'whsec_test_0123456789';
const timestamp = 1_700_000_000;
const body = '{"a":1}';
const at = (seconds: number) => new Date(seconds * 1000);

describe('signWebhook', () => {
  it('is v1= and the lowercase hex HMAC-SHA256 of "<timestamp>.<body>" (the documented example)', () => {
    // printf '%s' '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'whsec_test_0123456789'
    expect(signWebhook(secret, timestamp, body)).toBe(
      'v1=d45143ed412aa9d672e3e06cc6753ced7e0e5a1757b1109ff599ba71790e646d',
    );
  });

  it('signs bytes and strings alike', () => {
    expect(signWebhook(secret, String(timestamp), Buffer.from(body))).toBe(
      signWebhook(secret, timestamp, body),
    );
  });
});

describe('verifyWebhookSignature', () => {
  const signature = signWebhook(secret, timestamp, body);
  const valid = { secret, timestamp: String(timestamp), signature, body, now: at(timestamp + 5) };

  it('accepts the signature over the exact body, as a string or bytes', () => {
    expect(verifyWebhookSignature(valid)).toBe(true);
    expect(verifyWebhookSignature({ ...valid, body: Buffer.from(body) })).toBe(true);
  });

  it('rejects a tampered body', () => {
    expect(verifyWebhookSignature({ ...valid, body: '{"a":2}' })).toBe(false);
    expect(verifyWebhookSignature({ ...valid, body: '{"a": 1}' })).toBe(false);
  });

  it('rejects a wrong secret', () => {
    expect(verifyWebhookSignature({ ...valid, secret: 'whsec_test_other_secret' })).toBe(false);
  });

  it('rejects a timestamp other than the one signed', () => {
    expect(verifyWebhookSignature({ ...valid, timestamp: String(timestamp + 1) })).toBe(false);
  });

  it('rejects a stale or far-future timestamp (default tolerance 300 s)', () => {
    expect(verifyWebhookSignature({ ...valid, now: at(timestamp + 300) })).toBe(true);
    expect(verifyWebhookSignature({ ...valid, now: at(timestamp + 301) })).toBe(false);
    expect(verifyWebhookSignature({ ...valid, now: at(timestamp - 301) })).toBe(false);
    expect(
      verifyWebhookSignature({ ...valid, now: at(timestamp + 301), toleranceSeconds: 600 }),
    ).toBe(true);
  });

  it('uses the current time when no clock is given', () => {
    const now = Math.floor(Date.now() / 1000);
    const fresh = { secret, timestamp: now, signature: signWebhook(secret, now, body), body };
    expect(verifyWebhookSignature(fresh)).toBe(true);
    expect(verifyWebhookSignature({ ...valid, now: undefined })).toBe(false);
  });

  it.each([
    ['missing', undefined],
    ['without version', signature.slice(3)],
    ['another version', `v2=${signature.slice(3)}`],
    ['uppercase hex', `v1=${signature.slice(3).toUpperCase()}`],
    ['truncated', signature.slice(0, -2)],
    ['empty', ''],
  ])('rejects a malformed signature (%s)', (_what, bad) => {
    expect(verifyWebhookSignature({ ...valid, signature: bad })).toBe(false);
  });

  it.each([[undefined], [''], ['17e8'], ['-1'], ['1700000000.5']])(
    'rejects a malformed timestamp %p',
    (bad) => {
      expect(verifyWebhookSignature({ ...valid, timestamp: bad })).toBe(false);
    },
  );
});
