-- The resend wait is per phone, purpose and subject (the unit being verified): an owner who
-- registers and then verifies a unit listed under the same phone, or verifies two units listed
-- under it, is not told to wait. The daily caps still count every send of the phone.
ALTER TABLE platform.sms_sends
    ADD COLUMN purpose text NOT NULL DEFAULT '',
    ADD COLUMN subject text NOT NULL DEFAULT '';
CREATE INDEX ON platform.sms_sends (phone, purpose, subject, created_at);
