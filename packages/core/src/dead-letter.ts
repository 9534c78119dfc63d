import { z } from 'zod';
import { CHANNELS, LANES } from './topology';

/**
 * What `<channel>.dlq` holds: the original job payload, why it died and every
 * error it met on the way, with timestamps. Nothing processes these jobs;
 * operators list, redrive or delete them.
 */
export const deadLetterSchema = z.object({
  v: z.literal(1),
  deliveryId: z.string(),
  notificationId: z.string().optional(),
  channel: z.enum(CHANNELS),
  lane: z.enum(LANES),
  /** The lane queue it came from and goes back to on redrive. */
  queue: z.string(),
  reason: z.string(),
  failedAt: z.string(),
  attemptsMade: z.number().int().nonnegative(),
  errors: z.array(
    z.object({
      attempt: z.number().int(),
      at: z.string(),
      outcome: z.string(),
      code: z.string().optional(),
      message: z.string().optional(),
    }),
  ),
  /** The delivery job exactly as it was enqueued (may not parse, if that is why it died). */
  job: z.unknown(),
});

export type DeadLetter = z.infer<typeof deadLetterSchema>;
