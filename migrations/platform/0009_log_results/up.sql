-- The transparency log takes in each declared result beside the checkpoints: a leaf is a
-- `checkpoint` (covering `entries` of a ledger) or the `result` declared at the close (covering
-- the same count as the final checkpoint), so the one-per-count rule is per kind.
ALTER TABLE platform.log_leaves
    ADD COLUMN kind text NOT NULL DEFAULT 'checkpoint' CONSTRAINT log_leaves_kind_check CHECK (kind IN ('checkpoint', 'result'));
ALTER TABLE platform.log_leaves DROP CONSTRAINT log_leaves_tenant_id_matter_id_entries_key;
ALTER TABLE platform.log_leaves ADD CONSTRAINT log_leaves_one_per_count UNIQUE (tenant_id, matter_id, kind, entries);

-- Placing a leaf may change nothing else, its kind included.
CREATE OR REPLACE FUNCTION platform.log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'log_leaves' AND OLD.position IS NULL AND NEW.position IS NOT NULL
       AND (OLD.id, OLD.tenant_id, OLD.matter_id, OLD.kind, OLD.entries, OLD.leaf, OLD.leaf_hash, OLD.queued_at)
           = (NEW.id, NEW.tenant_id, NEW.matter_id, NEW.kind, NEW.entries, NEW.leaf, NEW.leaf_hash, NEW.queued_at) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the transparency log is append-only';
END $$;
