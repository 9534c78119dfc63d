import { defineConfig } from 'prisma/config';

// Used by `prisma generate` (offline) and, where the schema engine can be
// downloaded, `prisma migrate deploy`. Herald's own runner applies the same SQL.
export default defineConfig({
  schema: '../../prisma/schema.prisma',
  migrations: { path: '../../prisma/migrations' },
  datasource: {
    url: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/herald',
  },
});
