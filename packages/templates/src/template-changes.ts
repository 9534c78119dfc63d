import { Redis } from 'ioredis';

/**
 * Template changes across processes: the gateway publishes a key when a
 * template is saved or deleted, and every process holding a TemplateRenderer
 * invalidates that key. Pub/sub is fire-and-forget, so the renderer's TTL
 * stays as the safety net, and a subscriber that reconnects reports it
 * (changes may have been missed meanwhile).
 */
export function templateChangesChannel(prefix: string): string {
  return `${prefix}:templates`;
}

/** Announces that a template changed; resolves to the number of processes listening. */
export function publishTemplateChange(redis: Redis, prefix: string, key: string): Promise<number> {
  return redis.publish(templateChangesChannel(prefix), key);
}

/**
 * Where the subscriber's connection comes from. A subscribing connection can
 * do nothing else, so it is always a connection of its own: a URL is
 * connected to, a Redis connection is duplicated, a factory is called. The
 * subscription owns (and closes) that connection.
 */
export type SubscriberSource = string | Redis | (() => Redis);

export interface TemplateChangeSubscriptionOptions {
  /** The connection came back after a drop: changes may have been missed, forget everything. */
  onReconnect?: () => void;
  /** Connection errors (the connection keeps retrying on its own). */
  onError?: (err: Error) => void;
}

function subscriberConnection(source: SubscriberSource): Redis {
  // Commands wait for a (re)connect instead of failing, whatever the original's options.
  const options = { enableOfflineQueue: true, maxRetriesPerRequest: null };
  if (typeof source === 'string') return new Redis(source, options);
  if (source instanceof Redis) return source.duplicate(options);
  return source();
}

/**
 * Calls onChange(key) for every published template change until the
 * returned close function is called. Resolves once subscribed, so a change
 * published after that is seen.
 */
export async function subscribeTemplateChanges(
  source: SubscriberSource,
  prefix: string,
  onChange: (key: string) => void,
  options: TemplateChangeSubscriptionOptions = {},
): Promise<() => Promise<void>> {
  const channel = templateChangesChannel(prefix);
  const subscriber = subscriberConnection(source);
  subscriber.on('error', (err: Error) => options.onError?.(err));
  subscriber.on('message', (from: string, key: string) => {
    if (from === channel) onChange(key);
  });
  let readyBefore = subscriber.status === 'ready';
  subscriber.on('ready', () => {
    if (readyBefore) options.onReconnect?.();
    readyBefore = true;
  });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await subscriber.quit().catch(() => subscriber.disconnect());
  };
  try {
    await subscriber.subscribe(channel);
  } catch (err) {
    await close();
    throw err;
  }
  return close;
}
