-- Login throttling replaces the hard lock (five failures locked anyone's account for 15 minutes,
-- so a stranger could keep its owner out). Failures are counted here, shared by every replica.
-- `account` is a digest of where and who (never the phone or username itself).
CREATE TABLE platform.login_failures (
    id         bigserial PRIMARY KEY,
    account    text NOT NULL,
    client_ip  text NOT NULL,
    failed_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX ON platform.login_failures (account, failed_at);
CREATE INDEX ON platform.login_failures (client_ip, failed_at);

-- Addresses an account has logged in from: they are spared the account-wide delay, so failures
-- from elsewhere never keep the owner out of their own usual device.
CREATE TABLE platform.login_known_addresses (
    account          text NOT NULL,
    client_ip        text NOT NULL,
    last_success_at  timestamptz NOT NULL,
    PRIMARY KEY (account, client_ip)
);

ALTER TABLE platform.staff DROP COLUMN failed_logins, DROP COLUMN locked_until;
