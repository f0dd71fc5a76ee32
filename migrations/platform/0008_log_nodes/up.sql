-- The transparency log's perfect subtrees (RFC 9162 Merkle tree): level 0 holds the leaf
-- hashes, level h + 1 the hash of two adjacent level-h nodes. A subtree never changes once
-- complete, so proofs for any tree size read a few dozen rows instead of hashing every leaf.
-- Filled by the sequencer in the transaction that places the leaves (a log from before this
-- migration gets its subtrees on the sequencer's first turn).
CREATE TABLE platform.log_nodes (
    level   smallint NOT NULL CHECK (level BETWEEN 0 AND 62),
    index   bigint NOT NULL CHECK (index >= 0),
    hash    bytea NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, index)
);
