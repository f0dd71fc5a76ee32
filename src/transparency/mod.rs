//! The transparency log: every signed checkpoint of every street office's ballot ledgers is
//! appended to one append-only Merkle log in the platform schema (the Certificate Transparency
//! model, RFC 9162). The sequencer gives queued checkpoints their place and signs a tree head;
//! anyone fetches heads, inclusion proofs (a checkpoint is in the log) and consistency proofs (a
//! later head extends an earlier one). A mirror that kept an old head detects any rewrite of
//! what that head covered, even by someone who can write the database: the server can no longer
//! prove the new head consistent with it.

pub mod api;
pub mod merkle;
pub mod proof;
pub mod sequencer;
pub mod store;
