-- Login throttling replaces the hard lock (five failures locked anyone's account for 15 minutes,
-- so a stranger could keep its owner out). Failures are counted here, shared by every replica.
-- `account` is a SHA-256 of where and who, not the phone or username in clear (a digest of a
-- phone number can be reversed by trying every number, so this table is kept like the rest).
-- `client_ip` is an IPv4 address or an IPv6 /64.
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
CREATE INDEX ON platform.login_known_addresses (last_success_at);

-- The old lock columns (failed_logins, locked_until on platform.staff and on each tenant's owners
-- and staff) are left in place, unused, so replicas still running the previous release keep
-- working during a rolling upgrade; a later release drops them.
