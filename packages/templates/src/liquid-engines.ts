import { Liquid, toValue, type Template } from 'liquidjs';
import { escapeMarkdownV2, escapeTelegramHtml } from '@herald/channels';

/**
 * How the output of `{{ … }}` is escaped. LiquidJS attaches the escape to
 * each output when it parses, so a compiled template belongs to one escaping.
 * Only variable output is escaped; the template's own markup is kept as
 * written (`| raw` as the last filter opts one output out, deliberately).
 */
export type Escaping = 'plain' | 'html' | 'markdownV2' | 'telegramHtml';

/** Liquid's own conversion of an output value to text (nil → '', arrays joined). */
function outputText(value: unknown): string {
  const v: unknown = toValue(value);
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return '';
  if (Array.isArray(v)) return v.map(outputText).join('');
  return String(v);
}

/** Limits for one render: stored templates come from API callers, data from senders. */
const RENDER_LIMITS = {
  /** Milliseconds per render (renders are synchronous). */
  renderLimit: 250,
  /** Characters created by filters and loops per render. */
  memoryLimit: 10_000_000,
};

function createEngine(escaping: Escaping): Liquid {
  const outputEscape =
    escaping === 'html'
      ? ('escape' as const)
      : escaping === 'markdownV2'
        ? (value: unknown) => escapeMarkdownV2(outputText(value))
        : escaping === 'telegramHtml'
          ? (value: unknown) => escapeTelegramHtml(outputText(value))
          : undefined;
  const engine = new Liquid({
    strictFilters: true,
    strictVariables: false,
    ownPropertyOnly: true,
    // Deterministic dates whatever the host's zone and locale.
    timezoneOffset: 0,
    locale: 'en-US',
    parseLimit: 1_000_000,
    ...RENDER_LIMITS,
    ...(outputEscape ? { outputEscape } : {}),
    // No file system: partials are not a feature of stored templates.
    templates: {},
  });
  // Without these tags a template can only reach the data it is given.
  for (const tag of ['include', 'render', 'layout']) delete engine.tags[tag];
  return engine;
}

const engines = new Map<Escaping, Liquid>();

/** The engine for an escaping, created on first use. */
export function liquidEngine(escaping: Escaping): Liquid {
  let engine = engines.get(escaping);
  if (!engine) {
    engine = createEngine(escaping);
    engines.set(escaping, engine);
  }
  return engine;
}

/** Names Liquid binds itself inside loops; never data the caller must give. */
const LIQUID_BUILTINS = new Set(['forloop', 'tablerowloop']);

/**
 * The root variables a parsed template reads from its data: `user` for
 * `{{ user.name }}`, and `k` for `{{ a[k] }}`. Variables assigned, captured
 * or bound by a loop inside the template are not included.
 */
export function rootVariables(engine: Liquid, template: Template[]): string[] {
  const roots = new Set<string>();
  for (const segments of engine.globalVariableSegmentsSync(template)) {
    const root = segments[0];
    if (typeof root === 'string' && !LIQUID_BUILTINS.has(root)) roots.add(root);
  }
  return [...roots];
}

/** Parses a Liquid string, or returns the parser's message (the caller names the field). */
export function liquidSyntaxError(source: string): string | undefined {
  try {
    liquidEngine('plain').parse(source);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
