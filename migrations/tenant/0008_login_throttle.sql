-- The hard lock is gone: failed logins are throttled in platform.login_failures instead.
ALTER TABLE owners DROP COLUMN failed_logins, DROP COLUMN locked_until;
ALTER TABLE staff DROP COLUMN failed_logins, DROP COLUMN locked_until;
