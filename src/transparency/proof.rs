//! What a verifier needs of the log, with no database: the leaf a checkpoint is logged as, the
//! signed tree head, and the inclusion proof that ties a checkpoint to a head. Published inside
//! ledgers and receipts, and checked by `zmg verify-matter`.

use chrono::{DateTime, SecondsFormat, Utc};
use poem_openapi::{Enum, Object};
use serde::{Deserialize, Serialize};

use super::merkle::{self, Hash};
use crate::voting::signing::{self, PublishedKey};

/// What a leaf of the log states.
#[derive(Enum, Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum LeafKind {
    /// A signed checkpoint of a ledger.
    #[default]
    Checkpoint,
    /// The result declared at a close (its `entries`, `root`, key and signature).
    Result,
}

impl LeafKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LeafKind::Checkpoint => "checkpoint",
            LeafKind::Result => "result",
        }
    }

    /// The first line of the leaf's text.
    fn label(self) -> &'static str {
        match self {
            LeafKind::Checkpoint => "zmg-log-leaf-v1",
            LeafKind::Result => "zmg-log-result-v1",
        }
    }
}

/// A checkpoint or a declared result as the log holds it: one line per field, in this order,
/// after the kind's label. Hashed as an RFC 9162 leaf (SHA-256 of 0x00 and these bytes).
pub struct Leaf<'a> {
    pub kind: LeafKind,
    pub tenant: &'a str,
    pub matter_id: &'a str,
    pub version: u8,
    pub entries: i64,
    pub root: &'a str,
    pub key_id: &'a str,
    pub signature: &'a str,
}

impl Leaf<'_> {
    pub fn text(&self) -> String {
        [
            self.kind.label(),
            self.tenant,
            self.matter_id,
            &self.version.to_string(),
            &self.entries.to_string(),
            self.root,
            self.key_id,
            self.signature,
        ]
        .join("\n")
    }
}

/// The bytes a tree head signature covers: `zmg-tree-head-v1`, the size, the root (hex) and the
/// signing time (RFC 3339, milliseconds), each followed by a zero byte.
pub fn head_message(size: i64, root: &str, signed_at: &DateTime<Utc>) -> Vec<u8> {
    let mut message = Vec::new();
    for part in [
        "zmg-tree-head-v1",
        &size.to_string(),
        root,
        &signed_at.to_rfc3339_opts(SecondsFormat::Millis, true),
    ] {
        message.extend_from_slice(part.as_bytes());
        message.push(0);
    }
    message
}

/// A signed tree head: the log's size and Merkle root (RFC 9162) at `signed_at`, signed by the
/// log's key over `zmg-tree-head-v1`, size, root and time (each followed by a zero byte).
#[derive(Object, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeHead {
    pub size: i64,
    /// SHA-256, lowercase hex.
    pub root: String,
    /// RFC 3339 with milliseconds and `Z`, exactly as signed.
    pub signed_at: String,
    pub key_id: String,
    /// The log's Ed25519 public key (hex): the one `GET /api/platform/signing-keys` lists for
    /// `@transparency-log`. Keep the first one you see and compare.
    pub public_key: String,
    /// Ed25519 signature (hex).
    pub signature: String,
}

impl TreeHead {
    /// Whether the head carries a valid signature by the key it names.
    pub fn self_signed(&self) -> bool {
        let Ok(signed_at) = DateTime::parse_from_rfc3339(&self.signed_at) else {
            return false;
        };
        let signed_at = signed_at.to_utc();
        // The text must be exactly what was signed.
        if signed_at.to_rfc3339_opts(SecondsFormat::Millis, true) != self.signed_at {
            return false;
        }
        let key = PublishedKey {
            tenant: signing::LOG_TENANT.into(),
            key_id: self.key_id.clone(),
            public_key: self.public_key.clone(),
        };
        signing::verifies(
            &key,
            &head_message(self.size, &self.root, &signed_at),
            &self.signature,
        )
    }

    /// Whether its key is the log's key among `keys` (as `GET /api/platform/signing-keys` lists
    /// it).
    pub fn key_published(&self, keys: &[PublishedKey]) -> bool {
        keys.iter().any(|k| {
            k.tenant == signing::LOG_TENANT
                && k.key_id == self.key_id
                && k.public_key == self.public_key
        })
    }
}

/// That a ledger's checkpoint (the one covering `entries`), or its declared result, is in the
/// log at `head`: the leaf's index and its audit path (RFC 9162 §2.1.3, sibling hashes from the
/// leaf up, hex).
#[derive(Object, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogInclusion {
    #[serde(default)]
    #[oai(default)]
    pub kind: LeafKind,
    pub entries: i64,
    pub leaf_index: i64,
    pub proof: Vec<String>,
    pub head: TreeHead,
}

impl LogInclusion {
    /// Whether the proof takes `leaf` to the head's root, and the head is signed by its key.
    pub fn proves(&self, leaf: &Leaf) -> bool {
        let hashes: Option<Vec<Hash>> = self.proof.iter().map(|h| parse_hash(h)).collect();
        let (Some(hashes), Some(root)) = (hashes, parse_hash(&self.head.root)) else {
            return false;
        };
        (leaf.kind, leaf.entries) == (self.kind, self.entries)
            && self.leaf_index >= 0
            && self.head.self_signed()
            && merkle::verify_inclusion(
                self.leaf_index as u64,
                self.head.size.max(0) as u64,
                &merkle::leaf_hash(leaf.text().as_bytes()),
                &hashes,
                &root,
            )
    }
}

pub fn parse_hash(text: &str) -> Option<Hash> {
    hex::decode(text).ok()?.try_into().ok()
}
