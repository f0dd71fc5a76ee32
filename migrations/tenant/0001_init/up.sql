-- One street office (tenant). Applied with search_path set to the tenant's schema: never
-- qualify names here, never SET search_path, and no enums or custom types (text + CHECK instead).

CREATE TABLE residents_committees (
    id         uuid PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    contact    text NOT NULL DEFAULT '',
    phone      text NOT NULL DEFAULT '',
    address    text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE estates (
    id          uuid PRIMARY KEY,
    rc_id       uuid NOT NULL REFERENCES residents_committees(id),
    name        text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    address     text NOT NULL DEFAULT '',
    phone       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON estates (rc_id);

CREATE TABLE owners (
    id                     uuid PRIMARY KEY,
    real_name              text NOT NULL,
    phone                  text NOT NULL UNIQUE,
    nickname               text NOT NULL DEFAULT '',
    password_hash          text NOT NULL,
    failed_logins          integer NOT NULL DEFAULT 0,
    locked_until           timestamptz,
    agreement_accepted_at  timestamptz NOT NULL,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE staff (
    id             uuid PRIMARY KEY,
    username       text NOT NULL UNIQUE,
    display_name   text NOT NULL,
    phone          text NOT NULL DEFAULT '',
    role           text NOT NULL CHECK (role IN ('street_staff', 'rc_staff')),
    -- NULL: the whole street office; otherwise the one residents' committee this account serves.
    rc_id          uuid REFERENCES residents_committees(id),
    password_hash  text NOT NULL,
    failed_logins  integer NOT NULL DEFAULT 0,
    locked_until   timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (role = 'street_staff' OR rc_id IS NOT NULL)
);

CREATE TABLE sessions (
    token_hash    bytea PRIMARY KEY,
    subject_kind  text NOT NULL CHECK (subject_kind IN ('owner', 'staff')),
    subject_id    uuid NOT NULL,
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON sessions (subject_kind, subject_id);

CREATE TABLE sms_codes (
    id          bigserial PRIMARY KEY,
    phone       text NOT NULL,
    purpose     text NOT NULL CHECK (purpose IN ('register', 'login')),
    code_hash   bytea NOT NULL,
    client_ip   text NOT NULL,
    attempts    integer NOT NULL DEFAULT 0,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON sms_codes (phone, created_at);
CREATE INDEX ON sms_codes (client_ip, created_at);

-- Development SMS provider: messages land here instead of a phone.
CREATE TABLE sms_outbox (
    id          bigserial PRIMARY KEY,
    phone       text NOT NULL,
    content     text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE attachments (
    id            uuid PRIMARY KEY,
    purpose       text NOT NULL CHECK (purpose IN ('proof', 'signature', 'document')),
    file_name     text NOT NULL,
    size_bytes    bigint NOT NULL CHECK (size_bytes >= 0),
    content_type  text NOT NULL,
    sha256        text NOT NULL,
    object_key    text NOT NULL UNIQUE,
    uploader_kind text NOT NULL CHECK (uploader_kind IN ('owner', 'staff')),
    uploader_id   uuid NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    actor_kind  text NOT NULL CHECK (actor_kind IN ('owner', 'staff', 'platform_staff', 'system')),
    actor_id    uuid,
    operation   text NOT NULL,
    object_type text NOT NULL,
    object_id   text NOT NULL,
    request_id  text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION audit_log_forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit log is append-only';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_forbid_change();
