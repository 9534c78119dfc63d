-- deliveries_campaign_id_id_idx serves every lookup this index did; one
-- fewer index to keep up on every campaign delivery written.
DROP INDEX CONCURRENTLY IF EXISTS "deliveries_campaign_id_idx";
