-- GET /v1/recipients?email=: support finds a recipient by its address,
-- whatever its case. Recipients change rarely; no send path writes them.
CREATE INDEX "recipients_email_lower_idx" ON "recipients" (lower("email")) WHERE "email" IS NOT NULL;
