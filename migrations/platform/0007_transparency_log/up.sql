-- The transparency log (RFC 9162 model): every signed ledger checkpoint of every street office,
-- queued by the transaction that signs it and given its place by the sequencer, and the signed
-- tree heads over the placed leaves. Append-only: a leaf's place is set once, and nothing is
-- changed or removed afterwards.
CREATE TABLE platform.log_leaves (
    id          bigserial PRIMARY KEY,
    -- Index in the log (0-based), set by the sequencer; NULL while queued.
    position    bigint UNIQUE,
    tenant_id   uuid NOT NULL REFERENCES platform.tenants (id),
    matter_id   uuid NOT NULL,
    entries     bigint NOT NULL,
    -- The checkpoint statement as logged (see src/transparency/store.rs), and its leaf hash.
    leaf        text NOT NULL,
    leaf_hash   text NOT NULL CHECK (leaf_hash ~ '^[0-9a-f]{64}$'),
    queued_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, matter_id, entries)
);
CREATE INDEX ON platform.log_leaves (id) WHERE position IS NULL;

CREATE TABLE platform.log_heads (
    size        bigint PRIMARY KEY,
    root        text NOT NULL,
    signed_at   timestamptz NOT NULL,
    key_id      text NOT NULL,
    public_key  text NOT NULL,
    signature   text NOT NULL
);

CREATE FUNCTION platform.log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'log_leaves' AND OLD.position IS NULL AND NEW.position IS NOT NULL
       AND (OLD.id, OLD.tenant_id, OLD.matter_id, OLD.entries, OLD.leaf, OLD.leaf_hash, OLD.queued_at)
           = (NEW.id, NEW.tenant_id, NEW.matter_id, NEW.entries, NEW.leaf, NEW.leaf_hash, NEW.queued_at) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the transparency log is append-only';
END $$;
CREATE TRIGGER log_leaves_append_only BEFORE UPDATE OR DELETE ON platform.log_leaves
    FOR EACH ROW EXECUTE FUNCTION platform.log_append_only();
CREATE TRIGGER log_heads_append_only BEFORE UPDATE OR DELETE ON platform.log_heads
    FOR EACH ROW EXECUTE FUNCTION platform.log_append_only();
