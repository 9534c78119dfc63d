-- Storage settings only (not expressible in schema.prisma).

-- Almost every delivery is updated exactly once after insert (queued → sent).
-- Half of each page left free lets that update stay heap-only (HOT) for every
-- row, so it skips index maintenance; 70 % left room for fewer than half.
-- Applies to pages written from now on.
ALTER TABLE "deliveries" SET (fillfactor = 50);

-- The outbox is a queue table: rows live for milliseconds. Vacuum it on a
-- fixed number of dead rows, not a fraction of its (tiny) size, and without
-- cost throttling; the scheduler also vacuums it itself.
ALTER TABLE "outbox" SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000, autovacuum_vacuum_cost_delay = 0);
