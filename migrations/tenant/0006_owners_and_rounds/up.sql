-- Owners'-committee grants keep their whole history: who ended a grant, when and why. A grant
-- of a term ends in the future (its last day); staff may end any grant earlier, one person at a
-- time.
-- (Two statements: Citus 13 crashes on one ALTER adding a column with a foreign key and another.)
ALTER TABLE oc_members
    ADD COLUMN revoked_by  uuid CONSTRAINT oc_members_revoked_by_fkey REFERENCES staff(id);
ALTER TABLE oc_members
    ADD COLUMN end_reason  text CONSTRAINT oc_members_end_reason_check CHECK (end_reason IN ('removed', 'term_replaced', 'no_longer_owner'));

-- When a matter (or election round) was closed and its result declared.
ALTER TABLE matters ADD COLUMN closed_at timestamptz;
UPDATE matters SET closed_at = updated_at WHERE status = 'closed';

-- Units of one import, paged from the import's answer.
CREATE INDEX ON units (import_id);

-- A unit-verification code belongs to the unit it was sent for: an owner verifying two units
-- listed under one phone holds two live codes.
ALTER TABLE sms_codes ADD COLUMN subject text NOT NULL DEFAULT '';

-- Units sold from the developer's stock: at the opening time they were still the developer's.
ALTER TABLE unit_transfers ADD COLUMN old_developer_unsold boolean NOT NULL DEFAULT false;

-- A unit's changes of owner in the order they happened: numbered under the unit's lock (the
-- transaction's start time is not that order when two clerks record changes at once).
-- What `ADD COLUMN seq bigserial` does, spelled out (the catalog is the same): Citus refuses a
-- serial column added to a distributed table, and changes to a sequence once a default uses it.
CREATE SEQUENCE unit_transfers_seq_seq;
ALTER TABLE unit_transfers ADD COLUMN seq bigint;
ALTER SEQUENCE unit_transfers_seq_seq OWNED BY unit_transfers.seq;
ALTER TABLE unit_transfers ALTER COLUMN seq SET DEFAULT nextval('unit_transfers_seq_seq');
-- Changes recorded before this migration are numbered as bigserial would number them (a new
-- street office has none, and Citus refuses nextval() in an UPDATE).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM unit_transfers) THEN
        UPDATE unit_transfers SET seq = nextval('unit_transfers_seq_seq');
    END IF;
END $$;
ALTER TABLE unit_transfers ALTER COLUMN seq SET NOT NULL;
