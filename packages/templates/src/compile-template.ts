import type { Liquid, Template } from 'liquidjs';
import { CHANNELS, type Channel } from '@herald/core';
import { liquidEngine, rootVariables, type Escaping } from './liquid-engines';
import type { TemplateIssue } from './template-error-issue';
import type { TemplateChannels, TemplateDefinition } from './template-definition';
import { TemplateSyntaxError } from './template-syntax-error';

/** A parsed template string, a JSON value kept as is, or a container of them. */
export type CompiledNode =
  | { kind: 'liquid'; field: string; engine: Liquid; template: Template[] }
  | { kind: 'value'; value: unknown }
  | { kind: 'array'; items: CompiledNode[] }
  | { kind: 'object'; entries: [string, CompiledNode][] };

/** One channel's content in one locale (or the default), parsed and ready to render. */
export interface CompiledContent {
  channel: Channel;
  /** The locale tag as stored, or null for the default channels. */
  locale: string | null;
  /** Where it came from, for error fields: `channels` or `locales.pt-BR`. */
  source: string;
  root: CompiledNode;
  /** Root variables the content reads from the data, sorted. */
  variables: readonly string[];
}

type FieldKind = Escaping | 'literal' | 'json';

/** Which fields of each channel's content are templates, and how their output is escaped. */
function fieldKind(channel: Channel, field: string, content: Record<string, unknown>): FieldKind {
  switch (channel) {
    case 'email':
      return field === 'html' ? 'html' : 'plain';
    case 'telegram':
      if (field === 'parseMode') return 'literal';
      return content.parseMode === 'HTML' ? 'telegramHtml' : 'markdownV2';
    case 'push':
      return 'plain';
    case 'webhook':
      return 'json';
  }
}

const CHANNEL_FIELDS: Record<Channel, readonly string[]> = {
  email: ['subject', 'html', 'text'],
  telegram: ['text', 'parseMode'],
  push: ['title', 'body', 'icon', 'badge', 'url'],
  webhook: ['payload'],
};

interface Compilation {
  issues: TemplateIssue[];
  variables: Set<string>;
}

function compileString(
  source: unknown,
  field: string,
  escaping: Escaping,
  into: Compilation,
): CompiledNode {
  if (typeof source !== 'string') {
    into.issues.push({ field, message: 'expected a string' });
    return { kind: 'value', value: '' };
  }
  const engine = liquidEngine(escaping);
  try {
    const template = engine.parse(source);
    for (const name of rootVariables(engine, template)) into.variables.add(name);
    return { kind: 'liquid', field, engine, template };
  } catch (err) {
    into.issues.push({ field, message: `Liquid: ${err instanceof Error ? err.message : err}` });
    return { kind: 'value', value: '' };
  }
}

/** Every string inside a JSON value is a plain template; everything else is kept. */
function compileJson(value: unknown, field: string, into: Compilation): CompiledNode {
  if (typeof value === 'string') return compileString(value, field, 'plain', into);
  if (Array.isArray(value)) {
    return {
      kind: 'array',
      items: value.map((item, i) => compileJson(item, `${field}.${i}`, into)),
    };
  }
  if (typeof value === 'object' && value !== null) {
    return {
      kind: 'object',
      entries: Object.entries(value).map(([k, v]) => [k, compileJson(v, `${field}.${k}`, into)]),
    };
  }
  return { kind: 'value', value };
}

function compileContent(
  channel: Channel,
  content: unknown,
  locale: string | null,
  issues: TemplateIssue[],
): CompiledContent {
  const source = locale === null ? 'channels' : `locales.${locale}`;
  const base = `${source}.${channel}`;
  const into: Compilation = { issues, variables: new Set() };
  const fields =
    typeof content === 'object' && content !== null ? (content as Record<string, unknown>) : {};
  if (fields !== content) issues.push({ field: base, message: 'expected an object' });
  // Templates are MarkdownV2 unless they say otherwise; the rendered content says so too.
  const normalized = channel === 'telegram' ? { parseMode: 'MarkdownV2', ...fields } : fields;
  const entries: [string, CompiledNode][] = [];
  for (const field of CHANNEL_FIELDS[channel]) {
    const value = normalized[field];
    if (value === undefined) continue;
    const kind = fieldKind(channel, field, normalized);
    const path = `${base}.${field}`;
    entries.push([
      field,
      kind === 'literal'
        ? { kind: 'value', value }
        : kind === 'json'
          ? compileJson(value, path, into)
          : compileString(value, path, kind, into),
    ]);
  }
  return {
    channel,
    locale,
    source,
    root: { kind: 'object', entries },
    variables: [...into.variables].sort(),
  };
}

function compileChannels(
  channels: TemplateChannels | undefined,
  locale: string | null,
  issues: TemplateIssue[],
): Map<Channel, CompiledContent> {
  const compiled = new Map<Channel, CompiledContent>();
  for (const channel of CHANNELS) {
    const content = channels?.[channel];
    if (content !== undefined)
      compiled.set(channel, compileContent(channel, content, locale, issues));
  }
  return compiled;
}

/**
 * A template parsed once, for every channel and locale, with the variables
 * each part needs. Render it as often as needed: parsing is the costly part.
 */
export class CompiledTemplate {
  /** The channels with default content. */
  readonly channels: readonly Channel[];

  constructor(
    readonly defaults: ReadonlyMap<Channel, CompiledContent>,
    /** Keyed by lower-case tag. */
    readonly locales: ReadonlyMap<string, ReadonlyMap<Channel, CompiledContent>>,
    readonly meta: { key?: string; version?: number; category?: string } = {},
  ) {
    this.channels = [...defaults.keys()];
  }

  get key(): string | undefined {
    return this.meta.key;
  }

  get version(): number | undefined {
    return this.meta.version;
  }

  get category(): string | undefined {
    return this.meta.category;
  }
}

/**
 * Parses every string of a template with the escaping its field needs.
 * Throws TemplateSyntaxError naming each field that does not parse.
 */
export function compileTemplate(
  template: TemplateDefinition & { key?: string; version?: number },
): CompiledTemplate {
  const issues: TemplateIssue[] = [];
  const defaults = compileChannels(template.channels, null, issues);
  const locales = new Map<string, Map<Channel, CompiledContent>>();
  for (const [tag, channels] of Object.entries(template.locales ?? {})) {
    locales.set(tag.toLowerCase(), compileChannels(channels, tag, issues));
  }
  if (issues.length > 0) throw new TemplateSyntaxError(issues);
  return new CompiledTemplate(defaults, locales, {
    key: template.key,
    version: template.version,
    category: template.category ?? undefined,
  });
}
