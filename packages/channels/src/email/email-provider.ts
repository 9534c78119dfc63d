import type { ChannelMessage, ChannelProvider, SendContext, SendResult } from '../provider';
import { classifySmtpError } from './classify-smtp-error';
import type { EmailTransport } from './email-transport';

export interface EmailProviderOptions {
  transport: EmailTransport;
  /** The From header, e.g. `Herald <noreply@example.com>`. */
  from: string;
}

function domainOf(from: string): string {
  const match = /@([^>\s]+)>?\s*$/.exec(from);
  return match?.[1] ?? 'herald.local';
}

export function createEmailProvider(options: EmailProviderOptions): ChannelProvider<'email'> {
  const messageDomain = domainOf(options.from);
  return {
    channel: 'email',
    async send(message: ChannelMessage<'email'>, ctx: SendContext): Promise<SendResult> {
      try {
        const info = (await options.transport.sendMail({
          from: options.from,
          to: message.to.email,
          subject: message.content.subject,
          text: message.content.text,
          html: message.content.html,
          // A stable Message-ID per delivery lets receivers spot an at-least-once duplicate.
          messageId: `<${ctx.deliveryId}@${messageDomain}>`,
          headers: {
            'X-Herald-Delivery-Id': ctx.deliveryId,
            // Campaign email: one-click unsubscribe (RFC 2369 / RFC 8058).
            ...(message.unsubscribeUrl
              ? {
                  'List-Unsubscribe': `<${message.unsubscribeUrl}>`,
                  'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
                }
              : {}),
          },
        })) as { messageId?: string };
        return { providerMessageId: info.messageId };
      } catch (err) {
        throw classifySmtpError(err);
      }
    },
    async close() {
      options.transport.close();
    },
  };
}
