import { summarizeStatus } from './statuses';

describe('summarizeStatus', () => {
  it.each([
    [['queued'], 'queued'],
    [['scheduled', 'scheduled'], 'scheduled'],
    [['sending', 'queued'], 'sending'],
    [['sent', 'queued'], 'sending'],
    [['sent', 'pending'], 'sending'],
    [['failed', 'pending'], 'queued'],
    [['sent', 'sent'], 'sent'],
    [['sent', 'failed'], 'sent'],
    [['failed', 'skipped'], 'failed'],
    [['cancelled', 'cancelled'], 'cancelled'],
    [['skipped'], 'skipped'],
    [[], 'skipped'],
  ] as const)('%j → %s', (statuses, expected) => {
    expect(summarizeStatus(statuses)).toBe(expected);
  });
});
