-- Which street office sent it (its schema): each office has its own daily allowance per phone
-- below the global one.
ALTER TABLE platform.sms_sends ADD COLUMN tenant text NOT NULL DEFAULT '';
CREATE INDEX ON platform.sms_sends (phone, tenant, created_at);
