import fc from 'fast-check';
import { batchMembers } from './job-payload';
import { batchJobData } from './queues';

describe('batchJobData and batchMembers', () => {
  const content = { email: { subject: 'Launch', html: '<p>big</p>'.repeat(1000) } };
  const member = (i: number) => ({
    v: 1,
    deliveryId: `d${i}`,
    recipientId: `r${i}`,
    campaignId: 'c1',
    lane: 'campaign',
    to: { email: `r${i}@example.com` },
    content,
  });

  it('stores what every member has alike once, and keeps ids and addresses per member', () => {
    const data = batchJobData('email', 'campaign', [member(1), member(2), member(3)]);
    expect(data.shared).toEqual({ v: 1, campaignId: 'c1', lane: 'campaign', content });
    expect(data.deliveries).toEqual(
      [1, 2, 3].map((i) => ({
        deliveryId: `d${i}`,
        recipientId: `r${i}`,
        to: { email: `r${i}@example.com` },
      })),
    );
    // The content is written once, not three times.
    expect(JSON.stringify(data).split('<p>big</p>').length - 1).toBe(1000);
  });

  it('never shares delivery or recipient ids, even when every member has the same', () => {
    const a = { deliveryId: 'd1', recipientId: 'r1', to: { endpoint: 'a' } };
    const b = { deliveryId: 'd2', recipientId: 'r1', to: { endpoint: 'b' } };
    const data = batchJobData('push', 'campaign', [a, b]);
    expect(data.shared).toBeUndefined();
    expect(data.deliveries).toEqual([a, b]);
  });

  it('compares objects by identity: equal copies stay with their members', () => {
    const data = batchJobData('webhook', 'transactional', [
      { deliveryId: 'd1', content: { payload: { n: 1 } } },
      { deliveryId: 'd2', content: { payload: { n: 1 } } },
    ]);
    expect(data.shared).toBeUndefined();
  });

  it('reads a batch written before members shared anything', () => {
    const old = {
      v: 1,
      kind: 'batch',
      channel: 'email',
      lane: 'campaign',
      deliveries: [member(1)],
    };
    expect(batchMembers(old)).toEqual([member(1)]);
  });

  it('gives back every payload as it was, through JSON as Redis stores it', () => {
    const payload = fc.record(
      {
        deliveryId: fc.uuid(),
        recipientId: fc.string(),
        campaignId: fc.constantFrom('c1', 'c2'),
        lane: fc.constantFrom('campaign', 'transactional'),
        acceptedAt: fc.constantFrom(1, 2),
        to: fc.dictionary(fc.string(), fc.jsonValue()),
        content: fc.constantFrom(content, { webhook: { payload: { a: 1 } } }),
      },
      { requiredKeys: ['deliveryId'] },
    );
    fc.assert(
      fc.property(fc.array(payload, { minLength: 1, maxLength: 50 }), (payloads) => {
        const stored = JSON.parse(JSON.stringify(batchJobData('email', 'campaign', payloads)));
        expect(batchMembers(stored)).toEqual(JSON.parse(JSON.stringify(payloads)));
      }),
    );
  });
});
