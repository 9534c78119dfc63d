import {
  concurrentIndexName,
  holdsSeveralStatements,
  runsOutsideTransaction,
} from './migration-sql';

describe('reading a migration for CONCURRENTLY', () => {
  it('sees the keyword in any case, but not in comments', () => {
    expect(runsOutsideTransaction('CREATE INDEX CONCURRENTLY i ON t (c);')).toBe(true);
    expect(runsOutsideTransaction('drop index concurrently i;')).toBe(true);
    expect(
      runsOutsideTransaction('-- not CONCURRENTLY: small table\nCREATE INDEX i ON t (c);'),
    ).toBe(false);
    expect(runsOutsideTransaction('/* CONCURRENTLY\n later */ CREATE INDEX i ON t (c);')).toBe(
      false,
    );
    expect(runsOutsideTransaction('CREATE INDEX i ON concurrently_used (c);')).toBe(false);
  });

  it('counts a trailing `;` and `;` in comments as no second statement', () => {
    expect(holdsSeveralStatements('CREATE INDEX CONCURRENTLY i ON t (c)')).toBe(false);
    expect(
      holdsSeveralStatements(
        '-- busy; so CONCURRENTLY\nCREATE INDEX CONCURRENTLY i ON t (c);;\n\n',
      ),
    ).toBe(false);
    expect(holdsSeveralStatements('CREATE INDEX CONCURRENTLY i ON t (c); -- done; really\n')).toBe(
      false,
    );
    expect(
      holdsSeveralStatements('CREATE TABLE t (c int);\nCREATE INDEX CONCURRENTLY i ON t (c);'),
    ).toBe(true);
  });

  it('names the index a CREATE or DROP INDEX CONCURRENTLY may leave behind', () => {
    expect(
      concurrentIndexName('-- why\nCREATE UNIQUE INDEX CONCURRENTLY "a_b_key" ON "a"("b");'),
    ).toBe('"a_b_key"');
    expect(concurrentIndexName('create index concurrently if not exists a_idx on a (b);')).toBe(
      'a_idx',
    );
    expect(concurrentIndexName('DROP INDEX CONCURRENTLY IF EXISTS "public"."a_idx";')).toBe(
      '"public"."a_idx"',
    );
    expect(concurrentIndexName('CREATE INDEX CONCURRENTLY ON a (b);')).toBeUndefined();
    expect(concurrentIndexName('REINDEX INDEX CONCURRENTLY a_idx;')).toBeUndefined();
  });
});
