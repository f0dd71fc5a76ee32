-- Version 5 ledgers are signed by their street office: every checkpoint (the opening included)
-- carries the Ed25519 signature of its tenant, matter, version, entry count and root, and the id
-- of the key that made it. Public keys live in platform.signing_keys; private keys never reach
-- the database.
ALTER TABLE matters DROP CONSTRAINT matters_ledger_version_check;
ALTER TABLE matters ADD CONSTRAINT matters_ledger_version_check CHECK (ledger_version IN (1, 2, 3, 4, 5));
ALTER TABLE ledger_checkpoints ADD COLUMN key_id text, ADD COLUMN signature text;
ALTER TABLE ledger_checkpoints ADD CONSTRAINT ledger_checkpoints_signed_whole CHECK ((key_id IS NULL) = (signature IS NULL));
