import type { StoredTemplate } from './template-definition';
import { createTemplateRenderer } from './template-renderer';
import { TemplateNotFoundError } from './template-not-found-error';
import { MissingVariablesError } from './missing-variables-error';

/** A real in-memory store standing in for Postgres, counting the loads it serves. */
function templateStore() {
  const rows = new Map<string, StoredTemplate>();
  const loads: string[] = [];
  const waiting: (() => void)[] = [];
  let gate: Promise<void> | undefined;
  return {
    loads,
    put(key: string, title: string) {
      const version = (rows.get(key)?.version ?? 0) + 1;
      rows.set(key, { key, version, channels: { push: { title, body: '' } } });
    },
    delete(key: string) {
      rows.delete(key);
    },
    /** Holds every load until release() (to observe concurrent callers). */
    hold() {
      gate = new Promise((resolve) => waiting.push(resolve));
    },
    release() {
      gate = undefined;
      for (const resolve of waiting.splice(0)) resolve();
    },
    async load(key: string): Promise<StoredTemplate | undefined> {
      loads.push(key);
      // Read first, answer later: like a query whose result is on its way.
      const row = rows.get(key);
      if (gate) await gate;
      return row && structuredClone(row);
    },
  };
}

describe('createTemplateRenderer', () => {
  let clock = 0;
  const now = () => clock;

  beforeEach(() => {
    clock = 1_000;
  });

  it('loads and compiles a template once per version, and renders it', async () => {
    const store = templateStore();
    store.put('hello', 'Hi {{ name }}');
    const renderer = createTemplateRenderer({ load: (k) => store.load(k), now });
    const first = await renderer.render('hello', 'push', { name: 'Ada' });
    expect(first).toEqual({
      key: 'hello',
      version: 1,
      channel: 'push',
      locale: null,
      content: { title: 'Hi Ada', body: '' },
    });
    const compiled = await renderer.get('hello');
    for (let i = 0; i < 20; i++) await renderer.render('hello', 'push', { name: `n${i}` });
    expect(await renderer.get('hello')).toBe(compiled);
    expect(store.loads).toEqual(['hello']);
  });

  it('shares one load between concurrent callers of one key', async () => {
    const store = templateStore();
    store.put('hello', 'Hi {{ name }}');
    const renderer = createTemplateRenderer({ load: (k) => store.load(k), now });
    store.hold();
    const renders = Promise.all(
      Array.from({ length: 10 }, (_, i) => renderer.render('hello', 'push', { name: `u${i}` })),
    );
    store.release();
    const results = await renders;
    expect(results.map((r) => r.content.title)).toEqual(
      Array.from({ length: 10 }, (_, i) => `Hi u${i}`),
    );
    expect(store.loads).toEqual(['hello']);
  });

  it('reloads after invalidate: a new version is compiled, the same version reused', async () => {
    const store = templateStore();
    store.put('hello', 'Hi {{ name }}');
    const renderer = createTemplateRenderer({ load: (k) => store.load(k), now });
    const v1 = await renderer.get('hello');

    renderer.invalidate('hello');
    expect(await renderer.get('hello')).toBe(v1); // same version: no recompile
    expect(store.loads).toHaveLength(2);

    store.put('hello', 'Hello {{ name }}');
    renderer.invalidate('hello');
    const rendered = await renderer.render('hello', 'push', { name: 'Ada' });
    expect(rendered).toMatchObject({ version: 2, content: { title: 'Hello Ada' } });
    expect(store.loads).toHaveLength(3);
  });

  it('does not cache a load that was in flight when the key was invalidated', async () => {
    const store = templateStore();
    store.put('hello', 'old');
    const renderer = createTemplateRenderer({ load: (k) => store.load(k), now });
    store.hold();
    const stale = renderer.get('hello');
    renderer.invalidate('hello');
    store.put('hello', 'new');
    store.release();
    expect((await stale)?.version).toBe(1);
    expect((await renderer.render('hello', 'push', {})).content.title).toBe('new');
  });

  it('reloads after the TTL, even without invalidation', async () => {
    const store = templateStore();
    store.put('hello', 'old');
    const renderer = createTemplateRenderer({ load: (k) => store.load(k), ttlMs: 60_000, now });
    await renderer.get('hello');
    store.put('hello', 'new');
    clock += 59_999;
    expect((await renderer.render('hello', 'push', {})).content.title).toBe('old');
    clock += 2;
    expect((await renderer.render('hello', 'push', {})).content.title).toBe('new');
    expect(store.loads).toHaveLength(2);
  });

  it('remembers an unknown key briefly, and forgets it on invalidate', async () => {
    const store = templateStore();
    const renderer = createTemplateRenderer({
      load: (k) => store.load(k),
      notFoundTtlMs: 5_000,
      now,
    });
    await expect(renderer.render('later', 'push', {})).rejects.toThrow(TemplateNotFoundError);
    await expect(renderer.get('later')).resolves.toBeUndefined();
    expect(store.loads).toHaveLength(1);
    store.put('later', 'here');
    renderer.invalidate('later');
    expect((await renderer.render('later', 'push', {})).content.title).toBe('here');
    store.delete('later');
    renderer.invalidate('later');
    await expect(renderer.get('later')).resolves.toBeUndefined();
  });

  it('does not reuse a compiled template when a deleted key is created again at version 1', async () => {
    const store = templateStore();
    const load = async (key: string) => {
      const row = await store.load(key);
      return row && { ...row, updatedAt: new Date(clock) };
    };
    store.put('hello', 'first');
    const renderer = createTemplateRenderer({ load, now });
    await renderer.get('hello');
    store.delete('hello');
    store.put('hello', 'second');
    clock += 1;
    renderer.clear();
    expect((await renderer.render('hello', 'push', {})).content.title).toBe('second');
  });

  it('passes render errors through and keeps the template cached', async () => {
    const store = templateStore();
    store.put('hello', 'Hi {{ name }}');
    const renderer = createTemplateRenderer({ load: (k) => store.load(k), now });
    await expect(renderer.render('hello', 'push', {})).rejects.toThrow(MissingVariablesError);
    await renderer.render('hello', 'push', { name: 'x' });
    expect(store.loads).toHaveLength(1);
  });

  it('does not cache a failed load', async () => {
    let fail = true;
    const store = templateStore();
    store.put('hello', 'x');
    const renderer = createTemplateRenderer({
      load: async (key) => {
        if (fail) throw new Error('database unavailable');
        return store.load(key);
      },
      now,
    });
    await expect(renderer.get('hello')).rejects.toThrow('database unavailable');
    fail = false;
    expect((await renderer.get('hello'))?.version).toBe(1);
  });

  it('keeps at most maxEntries keys, dropping the least recently used', async () => {
    const store = templateStore();
    for (const key of ['a', 'b', 'c']) store.put(key, key);
    const renderer = createTemplateRenderer({ load: (k) => store.load(k), maxEntries: 2, now });
    await renderer.get('a');
    await renderer.get('b');
    await renderer.get('a');
    await renderer.get('c'); // evicts b
    await renderer.get('a');
    await renderer.get('b');
    expect(store.loads).toEqual(['a', 'b', 'c', 'b']);
  });
});
