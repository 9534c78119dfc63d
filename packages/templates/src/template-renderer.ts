import type { Channel } from '@herald/core';
import { compileTemplate, type CompiledTemplate } from './compile-template';
import {
  renderTemplateDetailed,
  type RenderedTemplate,
  type TemplateData,
} from './render-template';
import type { StoredTemplate } from './template-definition';
import { TemplateNotFoundError } from './template-not-found-error';

export interface TemplateRendererOptions {
  /** Reads a template by key (from Postgres in production); undefined when there is none. */
  load(key: string): Promise<StoredTemplate | undefined>;
  /** Safety net behind invalidation: a cached template is reloaded after this long. Default 60 s. */
  ttlMs?: number;
  /** How long "no such template" is remembered. Default 5 s. */
  notFoundTtlMs?: number;
  /** Keys kept at most (least recently used go first). Default 1,000. */
  maxEntries?: number;
  now?: () => number;
}

export interface RenderedStoredTemplate<C extends Channel = Channel> extends RenderedTemplate<C> {
  key: string;
  version: number;
  category?: string;
}

/**
 * Stored templates by key, compiled once per version. Reloads after
 * `invalidate(key)` (wire it to subscribeTemplateChanges) or the TTL; a
 * reload that finds the same version keeps the compiled template.
 */
export interface TemplateRenderer {
  /** The compiled template, loading it on a miss; undefined when no template has the key. */
  get(key: string): Promise<CompiledTemplate | undefined>;
  /**
   * Renders a channel of a stored template (see renderTemplateDetailed for
   * the errors); TemplateNotFoundError when no template has the key.
   */
  render<C extends Channel>(
    key: string,
    channel: C,
    data: TemplateData,
    locale?: string,
  ): Promise<RenderedStoredTemplate<C>>;
  /** Forgets a key: the next use loads it again. */
  invalidate(key: string): void;
  /** Forgets every key (after missing change notifications, e.g. a reconnect). */
  clear(): void;
}

interface Entry {
  template: CompiledTemplate | undefined;
  /** Identity of the loaded row: a reload with the same one reuses `template`. */
  identity: string | undefined;
  expiresAt: number;
}

const identityOf = (stored: StoredTemplate) =>
  `${stored.version}@${stored.updatedAt?.getTime() ?? ''}`;

export function createTemplateRenderer(options: TemplateRendererOptions): TemplateRenderer {
  const ttlMs = options.ttlMs ?? 60_000;
  const notFoundTtlMs = options.notFoundTtlMs ?? 5_000;
  const maxEntries = options.maxEntries ?? 1_000;
  const now = options.now ?? Date.now;
  const entries = new Map<string, Entry>();
  const loading = new Map<string, Promise<CompiledTemplate | undefined>>();
  /** Bumped by invalidate: a load started before it must not fill the cache after it. */
  const generations = new Map<string, number>();

  function remember(key: string, entry: Entry): void {
    entries.delete(key);
    entries.set(key, entry);
    while (entries.size > maxEntries) {
      const oldest = entries.keys().next().value as string;
      entries.delete(oldest);
      generations.delete(oldest);
    }
  }

  async function load(
    key: string,
    previous: Entry | undefined,
  ): Promise<CompiledTemplate | undefined> {
    const generation = generations.get(key) ?? 0;
    const stored = await options.load(key);
    let template: CompiledTemplate | undefined;
    let identity: string | undefined;
    if (stored) {
      identity = identityOf(stored);
      template =
        previous?.template && previous.identity === identity
          ? previous.template
          : compileTemplate(stored);
    }
    if ((generations.get(key) ?? 0) === generation) {
      remember(key, {
        template,
        identity,
        expiresAt: now() + (template ? ttlMs : notFoundTtlMs),
      });
    }
    return template;
  }

  function get(key: string): Promise<CompiledTemplate | undefined> {
    const entry = entries.get(key);
    if (entry && entry.expiresAt > now()) {
      remember(key, entry);
      return Promise.resolve(entry.template);
    }
    let pending = loading.get(key);
    if (!pending) {
      const started = load(key, entry).finally(() => {
        if (loading.get(key) === started) loading.delete(key);
      });
      pending = started;
      loading.set(key, pending);
    }
    return pending;
  }

  return {
    get,
    async render(key, channel, data, locale) {
      const template = await get(key);
      if (!template) throw new TemplateNotFoundError(key);
      return {
        key,
        version: template.version ?? 0,
        ...(template.category !== undefined ? { category: template.category } : {}),
        ...renderTemplateDetailed(template, channel, data, locale),
      };
    },
    invalidate(key) {
      // Expired rather than dropped: a reload that finds the same version reuses the compiled one.
      const entry = entries.get(key);
      if (entry) entry.expiresAt = 0;
      if (entry || loading.delete(key)) generations.set(key, (generations.get(key) ?? 0) + 1);
    },
    clear() {
      for (const key of [...entries.keys(), ...loading.keys()]) {
        generations.set(key, (generations.get(key) ?? 0) + 1);
      }
      for (const entry of entries.values()) entry.expiresAt = 0;
      loading.clear();
    },
  };
}
