import { v7 as uuidv7 } from 'uuid';

/**
 * The smallest UUIDv7 of a moment: every notification id made before it sorts
 * below it. Notification ids are UUIDv7 (the gateway and the fan-out make
 * them), so a time range is a range of the primary key: no index on
 * created_at for every insert to pay for.
 */
export function firstIdAt(at: Date): string {
  return uuidv7({ msecs: at.getTime(), seq: 0, random: new Uint8Array(16) });
}
