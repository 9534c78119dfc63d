import type { PrismaClient } from './generated/prisma/client';

export interface AuditRecord {
  actor: string;
  action: string;
  entityType: string;
  entityId: string;
  details?: unknown;
}

/** Who did what to which entity: every operator action leaves a row. */
export async function recordAudit(prisma: PrismaClient, record: AuditRecord): Promise<void> {
  await prisma.auditEvent.create({
    data: {
      actor: record.actor,
      action: record.action,
      entityType: record.entityType,
      entityId: record.entityId,
      details: (record.details ?? undefined) as never,
    },
  });
}
