-- Version 3 ledgers keep each choice sealed while voting is open: an entry publishes a
-- commitment (a salted hash of its choice and picks) and its choice, picks and salt are revealed
-- once the vote closes, so nobody can watch how a unit votes but everyone can check the reveal.
ALTER TABLE matters DROP CONSTRAINT matters_ledger_version_check;
ALTER TABLE matters ADD CONSTRAINT matters_ledger_version_check CHECK (ledger_version IN (1, 2, 3));
ALTER TABLE matters ALTER COLUMN ledger_version SET DEFAULT 3;
-- Matters not opened yet open sealed; opened ones keep the format they were opened with.
UPDATE matters m SET ledger_version = 3
 WHERE NOT EXISTS (SELECT 1 FROM ledger_checkpoints c WHERE c.matter_id = m.id) AND NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.matter_id = m.id);
ALTER TABLE ledger_entries ADD COLUMN commitment text, ADD COLUMN salt text;
