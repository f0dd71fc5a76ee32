-- The shared `platform` schema: the tenant registry, platform staff and their audit trail.
-- Nothing here points into a tenant schema.

CREATE TABLE platform.tenants (
    id          uuid PRIMARY KEY,
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z][a-z0-9_]{1,30}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    schema_name text NOT NULL UNIQUE CHECK (schema_name ~ '^t_[a-z][a-z0-9_]{1,30}$'),
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE platform.staff (
    id             uuid PRIMARY KEY,
    username       text NOT NULL UNIQUE,
    display_name   text NOT NULL,
    password_hash  text NOT NULL,
    failed_logins  integer NOT NULL DEFAULT 0,
    locked_until   timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE platform.sessions (
    token_hash  bytea PRIMARY KEY,
    staff_id    uuid NOT NULL REFERENCES platform.staff(id),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON platform.sessions (staff_id);

CREATE TABLE platform.audit_log (
    id          bigserial PRIMARY KEY,
    actor_id    uuid,
    operation   text NOT NULL,
    object_type text NOT NULL,
    object_id   text NOT NULL,
    request_id  text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION platform.forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit log is append-only';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON platform.audit_log
    FOR EACH ROW EXECUTE FUNCTION platform.forbid_change();
