import { z } from 'zod';
import { categorySchema, CHANNELS, type Channel } from '@herald/core';
import { liquidSyntaxError } from './liquid-engines';

/**
 * A stored template: per channel, the same content as inline notifications,
 * where every string is a Liquid template. Validation parses each string, so
 * a syntax error or an unknown filter is reported at the field that has it
 * (`channels.email.subject`) when the template is saved, not when it is sent.
 */

const MAX_TEXT = 512 * 1024;

/** A string that parses as Liquid. */
const liquid = (max = MAX_TEXT) =>
  z
    .string()
    .max(max)
    .superRefine((source, ctx) => {
      const error = liquidSyntaxError(source);
      if (error !== undefined) ctx.addIssue({ code: 'custom', message: `Liquid: ${error}` });
    });

/** Every string inside a JSON value parses as Liquid (keys are kept as written). */
const liquidJson = z.json().superRefine((value, ctx) => {
  const walk = (node: unknown, path: (string | number)[]): void => {
    if (typeof node === 'string') {
      const error = liquidSyntaxError(node);
      if (error !== undefined) ctx.addIssue({ code: 'custom', path, message: `Liquid: ${error}` });
    } else if (Array.isArray(node)) {
      node.forEach((item, i) => walk(item, [...path, i]));
    } else if (typeof node === 'object' && node !== null) {
      for (const [key, item] of Object.entries(node)) walk(item, [...path, key]);
    }
  };
  walk(value, []);
});

export const emailTemplateSchema = z
  .object({
    subject: liquid(4096).min(1),
    html: liquid().optional(),
    text: liquid().optional(),
  })
  .strict()
  .refine((c) => c.html !== undefined || c.text !== undefined, {
    message: 'email content needs html or text',
    path: ['text'],
  });

export const telegramTemplateSchema = z
  .object({
    /** MarkdownV2 markup unless parseMode says HTML; variables are escaped for the mode. */
    text: liquid().min(1),
    parseMode: z.enum(['MarkdownV2', 'HTML']).optional(),
  })
  .strict();

export const pushTemplateSchema = z
  .object({
    title: liquid(4096).min(1),
    body: liquid(16 * 1024),
    icon: liquid(4096).optional(),
    badge: liquid(4096).optional(),
    url: liquid(4096).optional(),
  })
  .strict();

export const webhookTemplateSchema = z.object({ payload: liquidJson }).strict();

const channelTemplatesShape = {
  email: emailTemplateSchema.optional(),
  telegram: telegramTemplateSchema.optional(),
  push: pushTemplateSchema.optional(),
  webhook: webhookTemplateSchema.optional(),
};

/** A locale's channels: any subset of the template's default channels. */
export const localeChannelsSchema = z.object(channelTemplatesShape).strict();

export const templateChannelsSchema = localeChannelsSchema.refine(
  (channels) => CHANNELS.some((c) => channels[c] !== undefined),
  { message: 'a template needs at least one channel' },
);

/** BCP 47 language tag: `pt`, `pt-BR`, `zh-Hant-TW`. */
export const LOCALE_TAG = /^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$/;

export const templateDefinitionSchema = z
  .object({
    /** The preference category sends and campaigns of this template fall under. */
    category: categorySchema.optional(),
    channels: templateChannelsSchema,
    locales: z
      .record(
        z.string().max(35).regex(LOCALE_TAG, 'a language tag such as pt or pt-BR'),
        localeChannelsSchema,
      )
      .optional(),
  })
  .strict()
  .superRefine((template, ctx) => {
    const seen = new Map<string, string>();
    for (const [tag, channels] of Object.entries(template.locales ?? {})) {
      const other = seen.get(tag.toLowerCase());
      if (other !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['locales', tag],
          message: `same locale as ${other}`,
        });
      }
      seen.set(tag.toLowerCase(), tag);
      // Every localized channel falls back to a default one for other locales.
      for (const channel of CHANNELS) {
        if (channels[channel] !== undefined && template.channels[channel] === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['locales', tag, channel],
            message: `the template has no default ${channel} content`,
          });
        }
      }
    }
  });

export type TemplateDefinition = z.infer<typeof templateDefinitionSchema>;
export type TemplateChannels = z.infer<typeof localeChannelsSchema>;
export type EmailTemplate = z.infer<typeof emailTemplateSchema>;
export type TelegramTemplate = z.infer<typeof telegramTemplateSchema>;
export type PushTemplate = z.infer<typeof pushTemplateSchema>;
export type WebhookTemplate = z.infer<typeof webhookTemplateSchema>;

/** A template as stored: its definition plus its key and version (bumped on every change). */
export interface StoredTemplate extends TemplateDefinition {
  key: string;
  version: number;
  /** Distinguishes a template deleted and created again (versions restart at 1). */
  updatedAt?: Date;
}

/** The channels a template has default content for. */
export function templateChannels(template: Pick<TemplateDefinition, 'channels'>): Channel[] {
  return CHANNELS.filter((c) => template.channels[c] !== undefined);
}
