/**
 * Example values the document shows, shared by the operations that refer to
 * one another: the stored recipient `u-42` and template `password-reset` are
 * what the notification, campaign and preview examples use, so the examples
 * work against a live gateway in this order (tests/openapi.int.test.ts
 * sends every request example).
 */

export const ids = {
  notification: '0190f5a2-7c3e-7b1a-9d4e-2f6a8b0c1d2e',
  notification2: '0190f5a2-7c3e-7b1a-9d4e-2f6a8b0c1d31',
  notification3: '0190f5a2-7c3e-7b1a-9d4e-2f6a8b0c1d34',
  notification4: '0190f5a2-7c3e-7b1a-9d4e-2f6a8b0c1d37',
  delivery1: '0190f5a2-7c3e-7b1a-9d4e-2f6a8b0c1d2f',
  delivery2: '0190f5a2-7c3e-7b1a-9d4e-2f6a8b0c1d30',
  delivery3: '0190f5a2-7c3e-7b1a-9d4e-2f6a8b0c1d32',
  delivery4: '0190f5a2-7c3e-7b1a-9d4e-2f6a8b0c1d35',
  delivery5: '0190f5a2-7c3e-7b1a-9d4e-2f6a8b0c1d36',
  delivery6: '0190f5a2-7c3e-7b1a-9d4e-2f6a8b0c1d38',
  campaign: '0190f5b0-1a2b-7c3d-8e4f-5a6b7c8d9e0f',
  pushSubscription: '0190f5b4-2c1d-7e3f-a04b-6c7d8e9f0a1b',
} as const;

export const RECIPIENT_ID = 'u-42';
export const TEMPLATE_KEY_EXAMPLE = 'password-reset';
export const RESET_LINK = 'https://app.example.com/reset?token=3f9a2c71';

/** PUT /v1/recipients/u-42. */
export const recipientProfileExample = {
  email: 'ada@example.com',
  telegramChatId: '123456789',
  webhookUrl: 'https://hooks.example.com/herald/u-42',
  locale: 'en-GB',
  timezone: 'Europe/London',
  tags: ['beta', 'pro'],
  preferences: { channels: { telegram: true }, categories: { newsletter: false } },
};

export const recipientViewExample = {
  id: RECIPIENT_ID,
  ...recipientProfileExample,
  unreachable: {},
  pushSubscriptions: [],
  createdAt: '2026-03-01T08:00:00.000Z',
  updatedAt: '2026-03-01T08:00:00.000Z',
};

/** PUT /v1/templates/password-reset: Liquid in every string, a French email. */
export const templateDefinitionExample = {
  category: 'security',
  channels: {
    email: {
      subject: 'Reset your password, {{ name }}',
      html: '<p>Hi {{ name }},</p><p><a href="{{ link }}">Choose a new password</a>. The link expires in 1 hour.</p>',
      text: 'Hi {{ name }}, choose a new password: {{ link }} (the link expires in 1 hour)',
    },
    push: {
      title: 'Password reset',
      body: 'Tap to choose a new password, {{ name }}.',
      url: '{{ link }}',
    },
    webhook: { payload: { event: 'password_reset', name: '{{ name }}', link: '{{ link }}' } },
  },
  locales: {
    fr: {
      email: {
        subject: 'Réinitialisez votre mot de passe, {{ name }}',
        text: 'Bonjour {{ name }}, choisissez un nouveau mot de passe : {{ link }}',
      },
    },
  },
};

interface NotificationExample {
  summary: string;
  request: Record<string, unknown>;
  accepted: Record<string, unknown>;
}

/** POST /v1/notifications: each request with the 202 it gets. */
export const NOTIFICATION_EXAMPLES = {
  storedTemplate: {
    summary: 'A stored recipient and a stored template, push and email',
    request: {
      to: { recipientId: RECIPIENT_ID },
      channels: ['push', 'email'],
      strategy: 'all',
      template: TEMPLATE_KEY_EXAMPLE,
      data: { name: 'Ada', link: RESET_LINK },
      lane: 'transactional',
      metadata: { orderId: 'A-1' },
    },
    accepted: {
      id: ids.notification,
      status: 'queued',
      deliveries: [
        { id: ids.delivery1, channel: 'push', status: 'skipped', reason: 'no push subscription' },
        { id: ids.delivery2, channel: 'email', status: 'queued' },
      ],
    },
  },
  inlineEmail: {
    summary: 'An inline address and inline content',
    request: {
      to: { email: 'ada@example.com' },
      channels: ['email'],
      content: {
        email: {
          subject: 'Your receipt for order A-1',
          html: '<p>Thanks! Order <b>A-1</b> is paid: 42.00 EUR.</p>',
          text: 'Thanks! Order A-1 is paid: 42.00 EUR.',
        },
      },
      metadata: { orderId: 'A-1' },
    },
    accepted: {
      id: ids.notification2,
      status: 'queued',
      deliveries: [{ id: ids.delivery3, channel: 'email', status: 'queued' }],
    },
  },
  fallback: {
    summary: 'Telegram first, email only if Telegram fails for good',
    request: {
      to: { recipientId: RECIPIENT_ID },
      channels: ['telegram', 'email'],
      strategy: 'fallback',
      content: {
        telegram: { text: 'Your sign\\-in code is *482913*', parseMode: 'MarkdownV2' },
        email: { subject: 'Your sign-in code', text: 'Your sign-in code is 482913.' },
      },
      category: 'security',
    },
    accepted: {
      id: ids.notification3,
      status: 'queued',
      deliveries: [
        { id: ids.delivery4, channel: 'telegram', status: 'queued' },
        { id: ids.delivery5, channel: 'email', status: 'pending' },
      ],
    },
  },
  scheduledWebhook: {
    summary: 'A webhook at a later time',
    request: {
      to: { webhookUrl: 'https://hooks.example.com/billing' },
      channels: ['webhook'],
      content: {
        webhook: {
          payload: {
            event: 'invoice.due',
            invoiceId: 'INV-1001',
            amount: '42.00',
            currency: 'EUR',
          },
        },
      },
      sendAt: '2030-01-15T09:00:00Z',
    },
    accepted: {
      id: ids.notification4,
      status: 'scheduled',
      deliveries: [{ id: ids.delivery6, channel: 'webhook', status: 'scheduled' }],
    },
  },
} satisfies Record<string, NotificationExample>;
