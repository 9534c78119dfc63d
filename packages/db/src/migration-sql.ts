/*
 * What the migration runner needs to know of a migration's SQL, read without
 * a parser: `--` line comments and block comments are dropped and the rest is
 * taken at face value, so a `;` or `--` inside a string literal, quoted
 * identifier or dollar-quoted body is misread. At worst a one-statement
 * CONCURRENTLY migration is refused as holding several (rewrite it), or a
 * second statement hidden behind a `--` in a string is let through (Postgres
 * then refuses the CONCURRENTLY statement and the migration is recorded as
 * failed). Migrations Prisma writes hold neither.
 */

function withoutComments(sql: string): string {
  return sql.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/--[^\n]*/g, '');
}

/** CREATE/DROP/REINDEX … CONCURRENTLY cannot run inside a transaction block. */
export function runsOutsideTransaction(sql: string): boolean {
  return /\bconcurrently\b/i.test(withoutComments(sql));
}

/** Whether a `;` is left once comments and the trailing `;` are gone. */
export function holdsSeveralStatements(sql: string): boolean {
  return withoutComments(sql)
    .replace(/[\s;]+$/, '')
    .includes(';');
}

const INDEX_NAME =
  /^\s*(?:create\s+(?:unique\s+)?|drop\s+)index\s+concurrently\s+(?:if\s+(?:not\s+)?exists\s+)?(?!on\s)((?:"[^"]+"|\w+)(?:\.(?:"[^"]+"|\w+))?)/i;

/**
 * The index a CREATE or DROP INDEX CONCURRENTLY names, which its failure may
 * leave behind invalid; not REINDEX's (what that leaves is another index), nor
 * one Postgres names itself (`CREATE INDEX CONCURRENTLY ON t …`).
 */
export function concurrentIndexName(sql: string): string | undefined {
  return INDEX_NAME.exec(withoutComments(sql))?.[1];
}
