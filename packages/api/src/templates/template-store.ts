import { recordAudit, type Prisma, type PrismaClient, type Template } from '@herald/db';
import type { TemplateDefinition } from '@herald/templates';

/** A stored template as the API shows it. */
export interface TemplateView {
  key: string;
  category: string | null;
  channels: unknown;
  locales: unknown;
  version: number;
  createdAt: string;
  updatedAt: string;
}

const view = (row: Template): TemplateView => ({
  key: row.key,
  category: row.category,
  channels: row.channels,
  locales: row.locales,
  version: row.version,
  createdAt: row.createdAt.toISOString(),
  updatedAt: row.updatedAt.toISOString(),
});

export async function findTemplate(
  prisma: PrismaClient,
  key: string,
): Promise<TemplateView | undefined> {
  const row = await prisma.template.findUnique({ where: { key } });
  return row ? view(row) : undefined;
}

/**
 * Creates or replaces a template (a PUT: fields left out are cleared). Every
 * replacement bumps `version`, so version 1 means it was just created.
 */
export async function saveTemplate(
  prisma: PrismaClient,
  key: string,
  definition: TemplateDefinition,
  actor: string,
): Promise<{ template: TemplateView; created: boolean }> {
  const fields = {
    category: definition.category ?? null,
    channels: definition.channels as Prisma.InputJsonValue,
    locales: (definition.locales ?? {}) as Prisma.InputJsonValue,
  };
  const row = await prisma.template.upsert({
    where: { key },
    create: { key, ...fields },
    update: { ...fields, version: { increment: 1 } },
  });
  const created = row.version === 1;
  await recordAudit(prisma, {
    actor,
    action: created ? 'template.create' : 'template.update',
    entityType: 'template',
    entityId: key,
    details: { version: row.version },
  });
  return { template: view(row), created };
}

/** Deletes a template; false when there was none. */
export async function deleteTemplate(
  prisma: PrismaClient,
  key: string,
  actor: string,
): Promise<boolean> {
  const { count } = await prisma.template.deleteMany({ where: { key } });
  if (count === 0) return false;
  await recordAudit(prisma, {
    actor,
    action: 'template.delete',
    entityType: 'template',
    entityId: key,
  });
  return true;
}
