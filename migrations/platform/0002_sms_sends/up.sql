-- Every SMS code sent, across all tenants, so the per-phone and per-IP limits cannot be
-- sidestepped by naming another street office. No tenant data: a phone, an address, a time.
CREATE TABLE platform.sms_sends (
    id          bigserial PRIMARY KEY,
    phone       text NOT NULL,
    client_ip   text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON platform.sms_sends (phone, created_at);
CREATE INDEX ON platform.sms_sends (client_ip, created_at);
