import type { AttemptOutcome, DeliveryStatus } from './generated/prisma/enums';

export type { AttemptOutcome, DeliveryStatus } from './generated/prisma/enums';

/** Every delivery status, in the order a delivery goes through them. */
export const DELIVERY_STATUSES = [
  'pending',
  'scheduled',
  'queued',
  'sending',
  'sent',
  'failed',
  'cancelled',
  'skipped',
] as const satisfies readonly DeliveryStatus[];

/** Statuses after which nothing more happens to a delivery (until an operator redrives it). */
export const TERMINAL_STATUSES: readonly DeliveryStatus[] = [
  'sent',
  'failed',
  'cancelled',
  'skipped',
];

export function isTerminal(status: DeliveryStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

/**
 * A notification's status summarises its deliveries: the least advanced
 * unfinished delivery wins; once all are finished, any success means sent.
 */
export function summarizeStatus(statuses: readonly DeliveryStatus[]): DeliveryStatus {
  const has = (s: DeliveryStatus) => statuses.includes(s);
  if (statuses.length === 0) return 'skipped';
  if (has('sending') || ((has('queued') || has('pending')) && has('sent'))) return 'sending';
  if (has('queued') || has('pending')) return 'queued';
  if (has('scheduled')) return 'scheduled';
  if (has('sent')) return 'sent';
  if (has('failed')) return 'failed';
  if (has('cancelled')) return 'cancelled';
  return 'skipped';
}

export type { AttemptOutcome as AttemptOutcomeValue };
