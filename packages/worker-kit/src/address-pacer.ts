import type { Redis } from '@herald/core';

/**
 * At most one send per address per interval, across every replica (Telegram:
 * one message per second per chat). `SET NX PX` claims the slot.
 */
export interface AddressPacer {
  /** 0 when this address may be sent to now, else ms until its slot frees up. */
  claim(address: string): Promise<number>;
}

export function createAddressPacer(
  redis: Redis,
  options: { keyPrefix: string; intervalMs: number },
): AddressPacer {
  return {
    async claim(address) {
      const key = `${options.keyPrefix}:${address}`;
      const claimed = await redis.set(key, '1', 'PX', options.intervalMs, 'NX');
      if (claimed === 'OK') return 0;
      const ttl = await redis.pttl(key);
      return ttl > 0 ? ttl : 1;
    },
  };
}
