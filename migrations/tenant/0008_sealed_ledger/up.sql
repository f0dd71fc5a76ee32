-- Version 3 ledgers keep each choice sealed while voting is open: an entry publishes a
-- commitment (a salted hash of its choice and picks) and its choice, picks and salt are revealed
-- once the vote closes, so nobody can watch how a unit votes but everyone can check the reveal.
-- The version is set when a matter opens (by the code that writes commitments), so a matter
-- opened by an older replica during a rolling upgrade keeps the format that replica wrote.
ALTER TABLE matters DROP CONSTRAINT matters_ledger_version_check;
ALTER TABLE matters ADD CONSTRAINT matters_ledger_version_check CHECK (ledger_version IN (1, 2, 3));
-- Sealed ledgers also record when each ballot was cast (for paper, signed): under the
-- first-wins channel rule that decides which of a voter's ballots counts.
ALTER TABLE ledger_entries ADD COLUMN commitment text, ADD COLUMN salt text, ADD COLUMN cast_at timestamptz;
