import type { PrismaClient } from './generated/prisma/client';

export interface RecipientAddresses {
  id: string;
  email?: string;
  telegramChatId?: string;
  webhookUrl?: string;
  locale?: string;
  pushSubscriptions: { endpoint: string; keys: { p256dh: string; auth: string } }[];
  preferences: unknown;
  unreachable: unknown;
}

/** What sending to a stored recipient needs: its addresses and preferences. */
export async function findRecipientAddresses(
  prisma: PrismaClient,
  id: string,
): Promise<RecipientAddresses | undefined> {
  const r = await prisma.recipient.findUnique({
    where: { id },
    include: { pushSubscriptions: { orderBy: { createdAt: 'desc' } } },
  });
  if (!r) return undefined;
  return {
    id: r.id,
    email: r.email ?? undefined,
    telegramChatId: r.telegramChatId ?? undefined,
    webhookUrl: r.webhookUrl ?? undefined,
    locale: r.locale ?? undefined,
    pushSubscriptions: r.pushSubscriptions.map((s) => ({
      endpoint: s.endpoint,
      keys: { p256dh: s.p256dh, auth: s.auth },
    })),
    preferences: r.preferences,
    unreachable: r.unreachable,
  };
}
