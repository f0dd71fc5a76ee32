-- Version 4 ledgers keep the set-aside marks true: when the ballot that superseded another is
-- voided, the other counts again and the ledger says so with a 'reinstated' entry, so the
-- superseded mark in the ledger and the export always describes the ballot that counts.
ALTER TABLE matters DROP CONSTRAINT matters_ledger_version_check;
ALTER TABLE matters ADD CONSTRAINT matters_ledger_version_check CHECK (ledger_version IN (1, 2, 3, 4));
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_kind_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_kind_check
    CHECK (kind IN ('cast', 'void', 'superseded', 'regroup', 'delivery', 'reinstated'));
