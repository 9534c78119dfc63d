-- GET /v1/campaigns/:id/deliveries pages a campaign's deliveries newest
-- first: (campaign_id, id) walks them in that order instead of sorting a
-- million rows. CONCURRENTLY, because deliveries is the busiest table and a
-- plain build would hold up every send and status update while it runs; a
-- migration of this one statement is applied outside a transaction.
CREATE INDEX CONCURRENTLY "deliveries_campaign_id_id_idx" ON "deliveries"("campaign_id", "id") WHERE "campaign_id" IS NOT NULL;
