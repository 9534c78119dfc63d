-- The campaign fan-out's outbox: one row per page of recipients expanded,
-- holding that page's BullMQ jobs until Redis has confirmed them. A page of
-- a thousand deliveries was a thousand outbox rows (each inserted, indexed
-- and deleted again a moment later); it is now one.

-- CreateTable
CREATE TABLE "campaign_outbox" (
    "id" BIGSERIAL NOT NULL,
    "campaign_id" UUID NOT NULL,
    "jobs" JSONB NOT NULL,
    "claimed_until" TIMESTAMPTZ(3) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "campaign_outbox_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "campaign_outbox_claimed_until_idx" ON "campaign_outbox"("claimed_until");

-- CreateIndex
CREATE INDEX "campaign_outbox_campaign_id_idx" ON "campaign_outbox"("campaign_id");

-- AddForeignKey
ALTER TABLE "campaign_outbox" ADD CONSTRAINT "campaign_outbox_campaign_id_fkey" FOREIGN KEY ("campaign_id") REFERENCES "campaigns"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- A queue table like the outbox: vacuumed on a fixed number of dead rows.
ALTER TABLE "campaign_outbox" SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_cost_delay = 0);
