import { Redis, type RedisOptions } from 'ioredis';

/**
 * Connection for producers (HTTP handlers): fail fast when Redis is down so
 * the caller can answer at once (and leave the work for the outbox relay),
 * instead of queueing commands in memory.
 */
export function createProducerConnection(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    ...options,
  });
}

/**
 * Connection for BullMQ workers and other blocking consumers: commands wait
 * for a reconnect rather than fail (BullMQ requires maxRetriesPerRequest null).
 */
export function createWorkerConnection(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, ...options });
}

export type { Redis } from 'ioredis';
