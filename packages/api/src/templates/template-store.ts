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

/** A template in a list: what it covers, not its bodies. */
export interface TemplateSummary {
  key: string;
  category: string | null;
  channels: string[];
  locales: string[];
  version: number;
  createdAt: string;
  updatedAt: string;
}

const keysOf = (json: unknown): string[] =>
  json && typeof json === 'object' && !Array.isArray(json) ? Object.keys(json).sort() : [];

/**
 * Templates in key order, a page at a time (keyset on the key); `next` is the
 * `after` of the following page, absent on the last one.
 */
export async function listTemplates(
  prisma: PrismaClient,
  options: { category?: string; after?: string; limit: number },
): Promise<{ items: TemplateSummary[]; next?: string }> {
  const rows = await prisma.template.findMany({
    where: {
      ...(options.category !== undefined ? { category: options.category } : {}),
      ...(options.after !== undefined ? { key: { gt: options.after } } : {}),
    },
    orderBy: { key: 'asc' },
    take: options.limit + 1,
  });
  const page = rows.slice(0, options.limit);
  return {
    items: page.map((row) => ({
      key: row.key,
      category: row.category,
      channels: keysOf(row.channels),
      locales: keysOf(row.locales),
      version: row.version,
      createdAt: row.createdAt.toISOString(),
      updatedAt: row.updatedAt.toISOString(),
    })),
    next: rows.length > options.limit ? page[page.length - 1]!.key : undefined,
  };
}

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
