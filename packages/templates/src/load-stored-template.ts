import type { PrismaClient } from '@herald/db';
import type { StoredTemplate, TemplateDefinition } from './template-definition';

/** A template row as the renderer needs it; undefined when no template has the key. */
export async function loadStoredTemplate(
  prisma: PrismaClient,
  key: string,
): Promise<StoredTemplate | undefined> {
  const row = await prisma.template.findUnique({ where: { key } });
  if (!row) return undefined;
  // Written only through the validated API; compileTemplate re-checks every string it parses.
  const locales = row.locales as TemplateDefinition['locales'];
  return {
    key: row.key,
    version: row.version,
    ...(row.category !== null ? { category: row.category } : {}),
    channels: row.channels as TemplateDefinition['channels'],
    ...(locales && Object.keys(locales).length > 0 ? { locales } : {}),
    updatedAt: row.updatedAt,
  };
}
