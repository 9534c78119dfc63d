import { DeliveryError } from '@herald/core';
import {
  classifyWebhookError,
  classifyWebhookStatus,
  parseRetryAfterMs,
} from './classify-webhook-error';

describe('classifyWebhookStatus', () => {
  it.each([200, 201, 202, 204, 299])('%i is success', (status) => {
    expect(classifyWebhookStatus(status, {})).toBeUndefined();
  });

  it.each([
    [301, 'target_refused', 'permanent'],
    [302, 'target_refused', 'permanent'],
    [307, 'target_refused', 'permanent'],
    [400, 'content_rejected', 'permanent'],
    [401, 'content_rejected', 'permanent'],
    [404, 'content_rejected', 'permanent'],
    [410, 'content_rejected', 'permanent'],
    [413, 'content_rejected', 'permanent'],
    [408, 'timeout', 'transient'],
    [429, 'rate_limited', 'rate_limited'],
    [500, 'provider_unavailable', 'transient'],
    [502, 'provider_unavailable', 'transient'],
    [503, 'provider_unavailable', 'transient'],
    [101, 'provider_unavailable', 'transient'],
  ])('%i → %s (%s)', (status, code, kind) => {
    const err = classifyWebhookStatus(status, {});
    expect(err).toBeInstanceOf(DeliveryError);
    expect(err?.code).toBe(code);
    expect(err?.kind).toBe(kind);
    expect(err?.message).toContain(String(status));
  });

  it('says redirects are not followed', () => {
    expect(classifyWebhookStatus(302, { location: 'http://x/' })?.message).toMatch(
      /redirects are not followed/,
    );
  });

  it('429 carries Retry-After and the recipient scope', () => {
    const err = classifyWebhookStatus(429, { 'retry-after': '5' });
    expect(err?.retryAfterMs).toBe(5000);
    expect(err?.scope).toBe('recipient');
    expect(classifyWebhookStatus(429, {})?.retryAfterMs).toBeUndefined();
  });

  it.each([503, 500, 408])('%i honours Retry-After too', (status) => {
    const err = classifyWebhookStatus(status, { 'retry-after': '7' });
    expect(err?.kind).toBe('transient');
    expect(err?.retryAfterMs).toBe(7000);
  });

  it('a 4xx that cannot succeed ignores Retry-After', () => {
    expect(classifyWebhookStatus(400, { 'retry-after': '7' })?.retryAfterMs).toBeUndefined();
  });
});

describe('parseRetryAfterMs', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');

  it.each([
    ['5', 5000],
    [' 0 ', 0],
    ['120', 120_000],
    ['Thu, 01 Jan 2026 00:00:30 GMT', 30_000],
    ['Wed, 31 Dec 2025 23:59:00 GMT', 0],
    [['7', '9'], 7000],
    ['soon', undefined],
    ['-3', undefined],
    ['', undefined],
    [undefined, undefined],
  ])('%p → %p', (value, ms) => {
    expect(parseRetryAfterMs(value, now)).toBe(ms);
  });
});

describe('classifyWebhookError', () => {
  const errno = (code: string) => Object.assign(new Error(`connect ${code}`), { code });

  it.each([
    ['ECONNREFUSED', 'network'],
    ['ECONNRESET', 'network'],
    ['ENOTFOUND', 'network'],
    ['EAI_AGAIN', 'network'],
    ['EHOSTUNREACH', 'network'],
    ['CERT_HAS_EXPIRED', 'network'],
    ['ETIMEDOUT', 'timeout'],
    ['HPE_INVALID_CONSTANT', 'provider_unavailable'],
  ])('%s → %s, keeping the cause', (code, expected) => {
    const cause = errno(code);
    const err = classifyWebhookError(cause);
    expect(err.code).toBe(expected);
    expect(err.kind).toBe('transient');
    expect(err.cause).toBe(cause);
  });

  it('passes a DeliveryError through (the guard and the deadline throw one)', () => {
    const refusal = new DeliveryError('target_refused', 'no');
    expect(classifyWebhookError(refusal)).toBe(refusal);
  });

  it('treats anything else as transient', () => {
    expect(classifyWebhookError('boom').code).toBe('provider_unavailable');
  });
});
