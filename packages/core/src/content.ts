import { z } from 'zod';

/**
 * What each channel sends, and where. Shared by the HTTP API (validation of
 * inline content) and the job payloads (validation at the worker boundary).
 */
export const emailContentSchema = z
  .object({
    subject: z.string().min(1).max(998),
    html: z
      .string()
      .max(512 * 1024)
      .optional(),
    text: z
      .string()
      .max(512 * 1024)
      .optional(),
  })
  .refine((c) => c.html !== undefined || c.text !== undefined, {
    message: 'email content needs html or text',
    path: ['text'],
  });
export type EmailContent = z.infer<typeof emailContentSchema>;

export const telegramContentSchema = z.object({
  text: z.string().min(1),
  parseMode: z.enum(['MarkdownV2', 'HTML']).optional(),
});
export type TelegramContent = z.infer<typeof telegramContentSchema>;

export const pushContentSchema = z.object({
  title: z.string().min(1).max(256),
  body: z.string().max(4096),
  icon: z.url().optional(),
  badge: z.url().optional(),
  url: z.url().optional(),
});
export type PushContent = z.infer<typeof pushContentSchema>;

export const webhookContentSchema = z.object({
  payload: z.json(),
});
export type WebhookContent = z.infer<typeof webhookContentSchema>;

export const emailAddressSchema = z.email().max(320);
export const telegramChatIdSchema = z.union([
  z.string().regex(/^-?\d{1,20}$|^@[A-Za-z0-9_]{5,32}$/, 'a numeric chat id or @channelname'),
  z.number().int().safe().transform(String),
]);
export const pushSubscriptionSchema = z.object({
  endpoint: z.url({ protocol: /^https$/ }).max(2048),
  keys: z.object({
    p256dh: z.string().min(1).max(256),
    auth: z.string().min(1).max(64),
  }),
});
export type PushSubscription = z.infer<typeof pushSubscriptionSchema>;
export const webhookUrlSchema = z.url({ protocol: /^https?$/ }).max(2048);
