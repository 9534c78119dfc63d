-- CreateEnum
CREATE TYPE "channel" AS ENUM ('email', 'telegram', 'push', 'webhook');

-- CreateEnum
CREATE TYPE "lane" AS ENUM ('transactional', 'campaign');

-- CreateEnum
CREATE TYPE "strategy" AS ENUM ('all', 'fallback');

-- CreateEnum
CREATE TYPE "delivery_status" AS ENUM ('pending', 'scheduled', 'queued', 'sending', 'sent', 'failed', 'cancelled', 'skipped');

-- CreateEnum
CREATE TYPE "attempt_outcome" AS ENUM ('sent', 'transient_error', 'permanent_error', 'rate_limited');

-- CreateEnum
CREATE TYPE "campaign_status" AS ENUM ('scheduled', 'running', 'paused', 'completed', 'cancelled');

-- CreateTable
CREATE TABLE "recipients" (
    "id" TEXT NOT NULL,
    "email" TEXT,
    "telegram_chat_id" TEXT,
    "webhook_url" TEXT,
    "locale" TEXT,
    "timezone" TEXT,
    "tags" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "preferences" JSONB NOT NULL DEFAULT '{}',
    "unreachable" JSONB NOT NULL DEFAULT '{}',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "recipients_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "push_subscriptions" (
    "id" UUID NOT NULL,
    "recipient_id" TEXT NOT NULL,
    "endpoint" TEXT NOT NULL,
    "p256dh" TEXT NOT NULL,
    "auth" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_used_at" TIMESTAMPTZ(3),

    CONSTRAINT "push_subscriptions_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "templates" (
    "key" TEXT NOT NULL,
    "category" TEXT,
    "channels" JSONB NOT NULL,
    "locales" JSONB NOT NULL DEFAULT '{}',
    "version" INTEGER NOT NULL DEFAULT 1,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "templates_pkey" PRIMARY KEY ("key")
);

-- CreateTable
CREATE TABLE "notifications" (
    "id" UUID NOT NULL,
    "owner" TEXT NOT NULL,
    "lane" "lane" NOT NULL,
    "strategy" "strategy" NOT NULL,
    "channels" "channel"[],
    "recipient_id" TEXT,
    "campaign_id" UUID,
    "to" JSONB,
    "template_key" TEXT,
    "content" JSONB,
    "data" JSONB,
    "metadata" JSONB,
    "category" TEXT,
    "send_at" TIMESTAMPTZ(3),
    "dispatched_at" TIMESTAMPTZ(3),
    "cancelled_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "notifications_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "deliveries" (
    "id" UUID NOT NULL,
    "notification_id" UUID NOT NULL,
    "campaign_id" UUID,
    "recipient_id" TEXT,
    "channel" "channel" NOT NULL,
    "lane" "lane" NOT NULL,
    "position" SMALLINT NOT NULL DEFAULT 0,
    "status" "delivery_status" NOT NULL,
    "reason" TEXT,
    "attempts_count" INTEGER NOT NULL DEFAULT 0,
    "provider_message_id" TEXT,
    "queued_at" TIMESTAMPTZ(3),
    "sent_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "deliveries_pkey" PRIMARY KEY ("id")
);

-- Status updates touch no indexed column: leave room on each page so they
-- stay heap-only (HOT) and skip index maintenance. (Storage only; not in schema.prisma.)
ALTER TABLE "deliveries" SET (fillfactor = 70);

-- CreateTable
CREATE TABLE "attempts" (
    "id" BIGSERIAL NOT NULL,
    "delivery_id" UUID NOT NULL,
    "attempt" INTEGER NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL,
    "outcome" "attempt_outcome" NOT NULL,
    "error_code" TEXT,
    "error" TEXT,
    "provider_message_id" TEXT,
    "duration_ms" INTEGER NOT NULL,

    CONSTRAINT "attempts_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "campaigns" (
    "id" UUID NOT NULL,
    "owner" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "template_key" TEXT,
    "content" JSONB,
    "channels" "channel"[],
    "audience" JSONB NOT NULL,
    "data" JSONB,
    "category" TEXT NOT NULL DEFAULT 'marketing',
    "status" "campaign_status" NOT NULL,
    "send_at" TIMESTAMPTZ(3),
    "throttle_per_second" INTEGER,
    "cursor" TEXT,
    "paced_until" TIMESTAMPTZ(3),
    "expanded_at" TIMESTAMPTZ(3),
    "total" INTEGER NOT NULL DEFAULT 0,
    "sent" INTEGER NOT NULL DEFAULT 0,
    "failed" INTEGER NOT NULL DEFAULT 0,
    "skipped" INTEGER NOT NULL DEFAULT 0,
    "cancelled" INTEGER NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "started_at" TIMESTAMPTZ(3),
    "completed_at" TIMESTAMPTZ(3),

    CONSTRAINT "campaigns_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "idempotency_keys" (
    "owner" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "request_hash" TEXT NOT NULL,
    "notification_id" UUID NOT NULL,
    "response" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "idempotency_keys_pkey" PRIMARY KEY ("owner","key")
);

-- CreateTable
CREATE TABLE "outbox" (
    "id" BIGSERIAL NOT NULL,
    "delivery_id" UUID NOT NULL,
    "queue" TEXT NOT NULL,
    "job_id" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    "available_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "claimed_until" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "outbox_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "audit_events" (
    "id" BIGSERIAL NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "actor" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "entity_type" TEXT NOT NULL,
    "entity_id" TEXT NOT NULL,
    "details" JSONB,

    CONSTRAINT "audit_events_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "recipients_tags_idx" ON "recipients" USING GIN ("tags");

-- CreateIndex
CREATE UNIQUE INDEX "push_subscriptions_endpoint_key" ON "push_subscriptions"("endpoint");

-- CreateIndex
CREATE INDEX "push_subscriptions_recipient_id_idx" ON "push_subscriptions"("recipient_id");

-- CreateIndex (partial: most notifications have no stored recipient or campaign,
-- and ingest should not pay for indexing NULLs. Partial indexes are SQL-only;
-- schema.prisma declares the plain ones, which Prisma cannot qualify.)
CREATE INDEX "notifications_recipient_id_idx" ON "notifications"("recipient_id") WHERE "recipient_id" IS NOT NULL;

-- CreateIndex
CREATE INDEX "notifications_campaign_id_idx" ON "notifications"("campaign_id") WHERE "campaign_id" IS NOT NULL;

-- CreateIndex
CREATE INDEX "deliveries_notification_id_idx" ON "deliveries"("notification_id");

-- CreateIndex (partial, see above)
CREATE INDEX "deliveries_campaign_id_idx" ON "deliveries"("campaign_id") WHERE "campaign_id" IS NOT NULL;

-- CreateIndex (partial, see above)
CREATE INDEX "deliveries_recipient_id_idx" ON "deliveries"("recipient_id") WHERE "recipient_id" IS NOT NULL;

-- CreateIndex
CREATE INDEX "attempts_delivery_id_idx" ON "attempts"("delivery_id");

-- CreateIndex
CREATE INDEX "campaigns_status_send_at_idx" ON "campaigns"("status", "send_at");

-- CreateIndex
CREATE INDEX "idempotency_keys_created_at_idx" ON "idempotency_keys"("created_at");

-- CreateIndex
CREATE INDEX "outbox_available_at_idx" ON "outbox"("available_at");

-- CreateIndex
CREATE INDEX "outbox_delivery_id_idx" ON "outbox"("delivery_id");

-- CreateIndex
CREATE INDEX "audit_events_entity_type_entity_id_idx" ON "audit_events"("entity_type", "entity_id");

-- CreateIndex
CREATE INDEX "audit_events_at_idx" ON "audit_events"("at");

-- AddForeignKey
ALTER TABLE "push_subscriptions" ADD CONSTRAINT "push_subscriptions_recipient_id_fkey" FOREIGN KEY ("recipient_id") REFERENCES "recipients"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "notifications" ADD CONSTRAINT "notifications_recipient_id_fkey" FOREIGN KEY ("recipient_id") REFERENCES "recipients"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "notifications" ADD CONSTRAINT "notifications_campaign_id_fkey" FOREIGN KEY ("campaign_id") REFERENCES "campaigns"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "deliveries" ADD CONSTRAINT "deliveries_notification_id_fkey" FOREIGN KEY ("notification_id") REFERENCES "notifications"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "deliveries" ADD CONSTRAINT "deliveries_recipient_id_fkey" FOREIGN KEY ("recipient_id") REFERENCES "recipients"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "attempts" ADD CONSTRAINT "attempts_delivery_id_fkey" FOREIGN KEY ("delivery_id") REFERENCES "deliveries"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "outbox" ADD CONSTRAINT "outbox_delivery_id_fkey" FOREIGN KEY ("delivery_id") REFERENCES "deliveries"("id") ON DELETE CASCADE ON UPDATE CASCADE;
