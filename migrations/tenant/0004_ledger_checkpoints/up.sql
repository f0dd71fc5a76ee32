-- The ledger commits to the frozen roll, rule set and settings (an opening hash, the first
-- Merkle leaf), records roll changes and deliveries as entries, and is sealed by periodic
-- checkpoints that fix each entry's position in commit order. The roll and the ballots can no
-- longer be changed except in the ways the ledger records.

-- Who each unit's vote belonged to when voting opened (holder_key may later change: a unit sold
-- mid-vote splits off to its buyer, recorded as a regroup entry).
ALTER TABLE matter_roll ADD COLUMN frozen_holder_key text;
UPDATE matter_roll SET frozen_holder_key = holder_key;
ALTER TABLE matter_roll ALTER COLUMN frozen_holder_key SET NOT NULL;

-- Every column but holder_key is fixed (compared as a whole row, so columns added later are too).
CREATE FUNCTION matter_roll_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR (to_jsonb(NEW) - 'holder_key') IS DISTINCT FROM (to_jsonb(OLD) - 'holder_key') THEN
        RAISE EXCEPTION 'the frozen roll cannot be changed';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER matter_roll_frozen BEFORE UPDATE OR DELETE ON matter_roll
    FOR EACH ROW EXECUTE FUNCTION matter_roll_guard();

-- A ballot is never deleted or edited; it may only be voided once or replaced once. The rest of
-- the row is compared as a whole, so columns added later are guarded too.
CREATE FUNCTION ballots_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE'
       OR (to_jsonb(NEW) - 'voided_at' - 'void_reason' - 'replaced_at') IS DISTINCT FROM (to_jsonb(OLD) - 'voided_at' - 'void_reason' - 'replaced_at')
       OR (OLD.voided_at IS NOT NULL AND (NEW.voided_at, NEW.void_reason) IS DISTINCT FROM (OLD.voided_at, OLD.void_reason))
       OR (OLD.replaced_at IS NOT NULL AND NEW.replaced_at IS DISTINCT FROM OLD.replaced_at) THEN
        RAISE EXCEPTION 'a ballot cannot be changed, only voided or replaced once';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER ballots_kept BEFORE UPDATE OR DELETE ON ballots
    FOR EACH ROW EXECUTE FUNCTION ballots_guard();

-- Roll changes ('regroup': unit → new person) and deliveries ('delivery': unit) carry no ballot.
ALTER TABLE ledger_entries ALTER COLUMN ballot_id DROP NOT NULL;
ALTER TABLE ledger_entries ALTER COLUMN channel DROP NOT NULL;
ALTER TABLE ledger_entries ALTER COLUMN choice DROP NOT NULL;
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_kind_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_kind_check
    CHECK (kind IN ('cast', 'void', 'superseded', 'regroup', 'delivery'));

-- Positions are handed out only by the checkpointer (one at a time per matter), in the order
-- entries became visible, so a checkpoint's prefix never changes afterwards.
CREATE TABLE ledger_positions (
    matter_id  uuid NOT NULL REFERENCES matters(id),
    position   bigint NOT NULL,
    seq        bigint NOT NULL UNIQUE REFERENCES ledger_entries(seq),
    PRIMARY KEY (matter_id, position)
);
-- entries = 0 is the opening: its root is the opening hash over roll, rule set and settings.
CREATE TABLE ledger_checkpoints (
    matter_id  uuid NOT NULL REFERENCES matters(id),
    entries    bigint NOT NULL,
    root       text NOT NULL,
    at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (matter_id, entries)
);
CREATE TRIGGER ledger_positions_append_only BEFORE UPDATE OR DELETE ON ledger_positions
    FOR EACH ROW EXECUTE FUNCTION audit_log_forbid_change();
CREATE TRIGGER ledger_checkpoints_append_only BEFORE UPDATE OR DELETE ON ledger_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_log_forbid_change();
