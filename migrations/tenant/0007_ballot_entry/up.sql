-- Ballot entry as clerks do it: which owner on the roll signed a paper ballot, the hash of the
-- request that cast or entered each ballot (a retry under the same idempotency key must carry
-- the same body), idempotency keys for paper entry (per clerk), and one ballot per scanned paper.
-- Both new columns are written once, on insert: the ballot guard compares whole rows, so they can
-- never be changed afterwards.

ALTER TABLE ballots ADD COLUMN signed_by_owner_id uuid
    CONSTRAINT ballots_signed_by_owner_id_fkey REFERENCES owners(id);
ALTER TABLE ballots ADD COLUMN request_hash text;

CREATE UNIQUE INDEX ballots_paper_key ON ballots (matter_id, entered_by, idempotency_key)
    WHERE entered_by IS NOT NULL AND idempotency_key IS NOT NULL;

-- One scanned paper backs one ballot. Ballots entered before this rule that share a scan are kept
-- as they are (a ballot cannot be changed); the index covers every ballot after the last of them.
DO $$
DECLARE
    last_shared bigint;
BEGIN
    SELECT coalesce(max(b.seq), 0) INTO last_shared
      FROM ballots b
     WHERE b.scan_id IS NOT NULL
       AND EXISTS (SELECT 1 FROM ballots o WHERE o.scan_id = b.scan_id AND o.id <> b.id);
    EXECUTE format('CREATE UNIQUE INDEX ballots_one_per_scan ON ballots (scan_id) WHERE scan_id IS NOT NULL AND seq > %s', last_shared);
END $$;

-- The "one scan, one ballot" check before entry (the unique index above is partial).
CREATE INDEX ON ballots (scan_id);
