import { classifySmtpError } from './classify-smtp-error';

const smtpError = (fields: { code?: string; responseCode?: number }) =>
  Object.assign(new Error('smtp said no'), fields);

describe('classifySmtpError', () => {
  it.each([
    [{ code: 'EENVELOPE', responseCode: 550 }, 'recipient_rejected', 'permanent'],
    [{ code: 'EENVELOPE', responseCode: 553 }, 'recipient_rejected', 'permanent'],
    [{ code: 'EMESSAGE', responseCode: 552 }, 'content_rejected', 'permanent'],
    [{ code: 'EENVELOPE', responseCode: 451 }, 'provider_deferred', 'transient'],
    [{ code: 'EENVELOPE', responseCode: 452 }, 'provider_deferred', 'transient'],
    [{ code: 'EPROTOCOL', responseCode: 421 }, 'provider_unavailable', 'transient'],
    [{ code: 'EAUTH', responseCode: 535 }, 'misconfigured', 'misconfigured'],
    [{ code: 'EAUTH' }, 'misconfigured', 'misconfigured'],
    [{ code: 'ECONNECTION' }, 'network', 'transient'],
    [{ code: 'ETIMEDOUT' }, 'timeout', 'transient'],
    [{ code: 'EENVELOPE' }, 'invalid_address', 'permanent'],
    [{}, 'provider_unavailable', 'transient'],
  ])('%j → %s (%s)', (fields, code, kind) => {
    const err = classifySmtpError(smtpError(fields));
    expect(err.code).toBe(code);
    expect(err.kind).toBe(kind);
    expect(err.cause).toBeInstanceOf(Error);
  });
});
