import type { z } from 'zod';
import {
  emailContentSchema,
  pushContentSchema,
  telegramContentSchema,
  webhookContentSchema,
  type Channel,
  type EmailContent,
  type PushContent,
  type TelegramContent,
  type WebhookContent,
} from '@herald/core';
import {
  CompiledTemplate,
  compileTemplate,
  type CompiledContent,
  type CompiledNode,
} from './compile-template';
import { MissingVariablesError } from './missing-variables-error';
import type { TemplateDefinition } from './template-definition';
import type { TemplateIssue } from './template-error-issue';
import { TemplateChannelMissingError } from './template-channel-missing-error';
import { TemplateRenderError } from './template-render-error';

/** What each channel sends: the core content schemas' types. */
export interface ChannelContentMap {
  email: EmailContent;
  telegram: TelegramContent;
  push: PushContent;
  webhook: WebhookContent;
}
export type ChannelContent<C extends Channel = Channel> = ChannelContentMap[C];

/** The variables a render reads: a notification's `data`. */
export type TemplateData = Readonly<Record<string, unknown>>;

export interface RenderedTemplate<C extends Channel = Channel> {
  channel: C;
  /** The locale whose content was used (as stored), or null for the default content. */
  locale: string | null;
  content: ChannelContent<C>;
}

const CONTENT_SCHEMAS: Record<Channel, z.ZodType> = {
  email: emailContentSchema,
  telegram: telegramContentSchema,
  push: pushContentSchema,
  webhook: webhookContentSchema,
};

/**
 * The locale tags to try, most specific first: `pt_BR` → `pt-br`, `pt`
 * (lower case: stored tags are matched without regard to case).
 */
export function localeCandidates(locale: string | undefined): string[] {
  if (!locale) return [];
  const subtags = locale.trim().replace(/_/g, '-').toLowerCase().split('-');
  const candidates: string[] = [];
  for (let n = subtags.length; n > 0; n--) {
    const tag = subtags.slice(0, n).join('-');
    if (tag !== '' && !tag.endsWith('-')) candidates.push(tag);
  }
  return candidates;
}

/**
 * The content a render uses: the exact locale's, then its language's, then
 * the default channels'. Throws TemplateChannelMissingError when the
 * template has no content for the channel.
 */
export function resolveContent(
  template: CompiledTemplate,
  channel: Channel,
  locale?: string,
): CompiledContent {
  for (const tag of localeCandidates(locale)) {
    const content = template.locales.get(tag)?.get(channel);
    if (content) return content;
  }
  const content = template.defaults.get(channel);
  if (!content) throw new TemplateChannelMissingError(channel, template.channels);
  return content;
}

/** Root variables the content uses that the data does not give (undefined counts as missing). */
export function missingVariables(content: CompiledContent, data: TemplateData): string[] {
  return content.variables.filter((name) => !Object.hasOwn(data, name) || data[name] === undefined);
}

function renderNode(node: CompiledNode, data: TemplateData, issues: TemplateIssue[]): unknown {
  switch (node.kind) {
    case 'value':
      return node.value;
    case 'array':
      return node.items.map((item) => renderNode(item, data, issues));
    case 'object':
      return Object.fromEntries(
        node.entries.map(([key, child]) => [key, renderNode(child, data, issues)]),
      );
    case 'liquid':
      try {
        return String(node.engine.renderSync(node.template, data));
      } catch (err) {
        issues.push({
          field: node.field,
          message: err instanceof Error ? err.message : String(err),
        });
        return '';
      }
  }
}

const compiledDefinitions = new WeakMap<object, CompiledTemplate>();

function compiled(template: CompiledTemplate | TemplateDefinition): CompiledTemplate {
  if (template instanceof CompiledTemplate) return template;
  let result = compiledDefinitions.get(template);
  if (!result) {
    result = compileTemplate(template);
    compiledDefinitions.set(template, result);
  }
  return result;
}

/**
 * Renders one channel of a template, with the locale fallback of
 * resolveContent. Variable output is escaped for where it lands (HTML for
 * email html, MarkdownV2 or HTML for Telegram, nothing for plain text).
 *
 * Throws MissingVariablesError (before rendering anything) when the data
 * lacks a variable the content uses, TemplateChannelMissingError when the
 * template has no such channel, TemplateRenderError when Liquid fails or the
 * result is not sendable content for the channel.
 */
export function renderTemplateDetailed<C extends Channel>(
  template: CompiledTemplate | TemplateDefinition,
  channel: C,
  data: TemplateData,
  locale?: string,
): RenderedTemplate<C> {
  const content = resolveContent(compiled(template), channel, locale);
  const missing = missingVariables(content, data);
  if (missing.length > 0) {
    throw new MissingVariablesError(missing, `${content.source}.${channel}`);
  }
  const issues: TemplateIssue[] = [];
  const rendered = renderNode(content.root, data, issues);
  if (issues.length > 0) throw new TemplateRenderError(issues);
  const parsed = CONTENT_SCHEMAS[channel].safeParse(rendered);
  if (!parsed.success) {
    throw new TemplateRenderError(
      parsed.error.issues.map((issue) => ({
        field: [content.source, channel, ...issue.path.map(String)].join('.'),
        message: `rendered content: ${issue.message}`,
      })),
      { cause: parsed.error },
    );
  }
  return { channel, locale: content.locale, content: parsed.data as ChannelContent<C> };
}

/** renderTemplateDetailed's content alone. */
export function renderTemplate<C extends Channel>(
  template: CompiledTemplate | TemplateDefinition,
  channel: C,
  data: TemplateData,
  locale?: string,
): ChannelContent<C> {
  return renderTemplateDetailed(template, channel, data, locale).content;
}
