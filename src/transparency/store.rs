//! The log's tables: leaves queued by the transaction that signs a checkpoint, placed by the
//! sequencer, and the signed tree heads.

use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

use super::merkle::{self, Hash};
use crate::{
    db::Db,
    error::{ApiError, ApiResult},
    voting::signing,
};

/// A checkpoint as the log holds it: one line per field, in this order. Hashed as an RFC 9162
/// leaf (SHA-256 of 0x00 and these bytes).
pub struct Leaf<'a> {
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
        ["zmg-log-leaf-v1", self.tenant, self.matter_id, &self.version.to_string(), &self.entries.to_string(), self.root, self.key_id, self.signature]
            .join("\n")
    }
}

/// A signed tree head.
#[derive(Clone, Debug)]
pub struct Head {
    pub size: i64,
    pub root: String,
    pub signed_at: DateTime<Utc>,
    pub key_id: String,
    pub public_key: String,
    pub signature: String,
}

/// The bytes a tree head signature covers: `zmg-tree-head-v1`, the size, the root (hex) and the
/// signing time (RFC 3339, milliseconds), each followed by a zero byte.
pub fn head_message(size: i64, root: &str, signed_at: &DateTime<Utc>) -> Vec<u8> {
    let mut message = Vec::new();
    for part in ["zmg-tree-head-v1", &size.to_string(), root, &signed_at.to_rfc3339_opts(SecondsFormat::Millis, true)] {
        message.extend_from_slice(part.as_bytes());
        message.push(0);
    }
    message
}

/// Queues a signed checkpoint for the log, in the transaction that made it.
pub async fn queue(db: &dyn Db, tenant_id: Uuid, matter_id: Uuid, leaf: &Leaf<'_>) -> ApiResult<()> {
    let text = leaf.text();
    let hash = hex::encode(merkle::leaf_hash(text.as_bytes()));
    db.execute(
        "INSERT INTO platform.log_leaves (tenant_id, matter_id, entries, leaf, leaf_hash) VALUES ($1, $2, $3, $4, $5)",
        &[&tenant_id, &matter_id, &leaf.entries, &text, &hash],
    )
    .await?;
    Ok(())
}

/// Every placed leaf hash, in log order, up to `size` (all when `None`).
async fn leaf_hashes(db: &dyn Db, size: Option<i64>) -> ApiResult<Vec<Hash>> {
    let rows = db
        .query("SELECT leaf_hash FROM platform.log_leaves WHERE position IS NOT NULL AND ($1::bigint IS NULL OR position < $1) ORDER BY position", &[&size])
        .await?;
    rows.iter().map(|r| parse_hash(r.get(0))).collect()
}

fn parse_hash(text: &str) -> ApiResult<Hash> {
    hex::decode(text).ok().and_then(|b| b.try_into().ok()).ok_or_else(|| ApiError::internal(format!("malformed hash in the log: {text}")))
}

/// Places every queued leaf (in queue order, after those already placed) and signs a head over
/// the whole log. Sequencers of every replica take turns; a turn with nothing new signs nothing.
/// Returns the new head, if any.
pub async fn sequence(db: &dyn Db) -> ApiResult<Option<Head>> {
    db.execute("SELECT pg_advisory_xact_lock(hashtext('zmg-transparency-log'))", &[]).await?;
    let placed = db
        .execute(
            "UPDATE platform.log_leaves l SET position = q.position
               FROM (SELECT id, (SELECT coalesce(max(position) + 1, 0) FROM platform.log_leaves) + row_number() OVER (ORDER BY id) - 1 AS position
                       FROM platform.log_leaves WHERE position IS NULL) q
              WHERE l.id = q.id",
            &[],
        )
        .await?;
    if placed == 0 {
        return Ok(None);
    }
    let leaves = leaf_hashes(db, None).await?;
    let (size, root) = (leaves.len() as i64, hex::encode(merkle::root(&leaves)));
    // Millisecond precision, as signed and as stored.
    let signed_at = DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap_or_else(Utc::now);
    let signed = signing::sign_for_log(&head_message(size, &root, &signed_at))?;
    let public_key = signing::log_public_key()?;
    db.execute(
        "INSERT INTO platform.log_heads (size, root, signed_at, key_id, public_key, signature) VALUES ($1, $2, $3, $4, $5, $6)",
        &[&size, &root, &signed_at, &signed.key_id, &public_key, &signed.signature],
    )
    .await?;
    Ok(Some(Head { size, root, signed_at, key_id: signed.key_id, public_key, signature: signed.signature }))
}

/// The latest signed head, or the one of exactly `size` leaves: only heads under the log's own
/// key (one added to the database by hand under another key is never served).
pub async fn head(db: &dyn Db, size: Option<i64>) -> ApiResult<Option<Head>> {
    let row = db
        .query_opt(
            "SELECT size, root, signed_at, key_id, public_key, signature FROM platform.log_heads
              WHERE ($1::bigint IS NULL OR size = $1) AND public_key = $2 ORDER BY size DESC LIMIT 1",
            &[&size, &signing::log_public_key()?],
        )
        .await?;
    Ok(row.map(|r| Head { size: r.get(0), root: r.get(1), signed_at: r.get(2), key_id: r.get(3), public_key: r.get(4), signature: r.get(5) }))
}

/// A checkpoint as the log holds it (parsed from its leaf).
#[derive(Debug, PartialEq, Eq)]
pub struct Logged {
    pub version: u8,
    pub entries: i64,
    pub root: String,
    pub key_id: String,
    pub signature: String,
}

fn parse_leaf(text: &str) -> Option<Logged> {
    let parts: Vec<&str> = text.split('\n').collect();
    match parts.as_slice() {
        ["zmg-log-leaf-v1", _tenant, _matter, version, entries, root, key_id, signature] => Some(Logged {
            version: version.parse().ok()?,
            entries: entries.parse().ok()?,
            root: root.to_string(),
            key_id: key_id.to_string(),
            signature: signature.to_string(),
        }),
        _ => None,
    }
}

/// Every checkpoint of a matter's ledger the log holds (placed or queued).
pub async fn logged_checkpoints(db: &dyn Db, tenant_id: Uuid, matter_id: Uuid) -> ApiResult<Vec<Logged>> {
    let rows = db.query("SELECT leaf FROM platform.log_leaves WHERE tenant_id = $1 AND matter_id = $2 ORDER BY entries", &[&tenant_id, &matter_id]).await?;
    rows.iter().map(|r| parse_leaf(r.get(0)).ok_or_else(|| ApiError::internal("malformed leaf in the log"))).collect()
}

/// The logged checkpoints (by entries covered) the ledger lacks or shows otherwise.
pub fn log_mismatches(ledger: &crate::voting::ledger::PublishedLedger, logged: &[Logged]) -> Vec<i64> {
    logged
        .iter()
        .filter(|l| {
            let shown = ledger.checkpoints.iter().find(|c| c.entries == l.entries);
            !shown.is_some_and(|c| {
                ledger.version == l.version && c.root == l.root && c.key_id.as_deref() == Some(&l.key_id) && c.signature.as_deref() == Some(&l.signature)
            })
        })
        .map(|l| l.entries)
        .collect()
}

/// A checkpoint's place in the log and its proof of inclusion in the tree of `size` leaves.
pub struct Inclusion {
    pub index: i64,
    pub leaf: String,
    pub proof: Vec<String>,
}

pub async fn inclusion(db: &dyn Db, tenant: &str, matter_id: Uuid, entries: i64, size: i64) -> ApiResult<Option<Inclusion>> {
    let found = db
        .query_opt(
            "SELECT l.position, l.leaf FROM platform.log_leaves l JOIN platform.tenants t ON t.id = l.tenant_id
              WHERE t.slug = $1 AND l.matter_id = $2 AND l.entries = $3 AND l.position < $4",
            &[&tenant, &matter_id, &entries, &size],
        )
        .await?;
    let Some(row) = found else { return Ok(None) };
    let index: i64 = row.get(0);
    let leaves = leaf_hashes(db, Some(size)).await?;
    let proof = merkle::inclusion_proof(index as usize, &leaves).iter().map(hex::encode).collect();
    Ok(Some(Inclusion { index, leaf: row.get(1), proof }))
}

/// The proof that the tree of `first` leaves is a prefix of the tree of `second`.
pub async fn consistency(db: &dyn Db, first: i64, second: i64) -> ApiResult<Vec<String>> {
    let leaves = leaf_hashes(db, Some(second)).await?;
    Ok(merkle::consistency_proof(first as usize, &leaves).iter().map(hex::encode).collect())
}
