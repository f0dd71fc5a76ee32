-- Version 5 ledgers are signed by their street office: every checkpoint (the opening included)
-- carries the Ed25519 signature of its tenant, matter, version, entry count and root, and the id
-- of the key that made it. Public keys live in platform.signing_keys; private keys never reach
-- the database.
ALTER TABLE matters DROP CONSTRAINT matters_ledger_version_check;
ALTER TABLE matters ADD CONSTRAINT matters_ledger_version_check CHECK (ledger_version IN (1, 2, 3, 4, 5));
ALTER TABLE ledger_checkpoints ADD COLUMN key_id text, ADD COLUMN signature text;
ALTER TABLE ledger_checkpoints ADD CONSTRAINT ledger_checkpoints_signed_whole CHECK ((key_id IS NULL) = (signature IS NULL));

-- A replica of an older release (during a rolling upgrade or after a rollback) would write
-- unsigned checkpoints into a version 5 ledger, which would then never verify: refused here, so
-- that checkpoint is retried by an upgraded replica.
CREATE FUNCTION ledger_checkpoints_signed_from_v5() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.signature IS NULL AND (SELECT ledger_version FROM matters WHERE id = NEW.matter_id) >= 5 THEN
        RAISE EXCEPTION 'checkpoints of a version 5 ledger must be signed';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER ledger_checkpoints_signed_from_v5 BEFORE INSERT ON ledger_checkpoints
    FOR EACH ROW EXECUTE FUNCTION ledger_checkpoints_signed_from_v5();

-- Receipts are looked up by their code (the entry hash's first 16 hex digits) or whole hash.
CREATE INDEX ledger_entries_receipt_code ON ledger_entries (left(hash, 16));

-- What a matter was when voting opened (law item, scope, rule change reason, window, the
-- estate's registered totals, seats), committed to by a version 5 opening hash.
ALTER TABLE matters ADD COLUMN opening_facts jsonb;
