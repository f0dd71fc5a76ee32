//! The statements behind ballot receipts (a ballot with its cast entry, ledger position, matter
//! and first covering checkpoint), and the step that gathers a receipt's proofs. The voting
//! domain has no store of its own yet and `service.rs` is already its largest file, so the
//! receipts' reads stay together here, beside the one API that uses them; rows are read by
//! position here and nowhere else.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use uuid::Uuid;

use super::{ledger, service::SET_ASIDE};
use crate::{
    error::ApiResult,
    tenancy::conn::TenantConn,
    transparency::{self, proof::LogInclusion},
};

/// One SQL over ballots `b` joined to their cast entry `l`, ledger position `p`, matter `m`,
/// in the order [`receipt_row`] reads. `$1` is the tenant's id (the transparency log's key).
fn select(filter: &str) -> String {
    format!(
        "SELECT m.id, m.title, m.status, l.hash, b.cast_at, b.channel,
                b.voided_at IS NOT NULL, {SET_ASIDE}, b.replaced_at IS NOT NULL, b.void_reason, p.position, cp.entries,
                (SELECT lg.position FROM platform.log_leaves lg WHERE lg.tenant_id = $1 AND lg.matter_id = m.id AND lg.kind = 'checkpoint' AND lg.entries = cp.entries),
                cp.root, cp.key_id, cp.signature, m.ledger_version::int
           FROM ballots b JOIN ledger_entries l ON l.ballot_id = b.id AND l.kind = 'cast' JOIN matters m ON m.id = b.matter_id
           LEFT JOIN ledger_positions p ON p.seq = l.seq
           -- The first checkpoint covering the entry.
           LEFT JOIN LATERAL (SELECT c.entries, c.root, c.key_id, c.signature FROM ledger_checkpoints c
                               WHERE c.matter_id = m.id AND c.entries >= p.position ORDER BY c.entries LIMIT 1) cp ON true
          WHERE {filter}
          ORDER BY b.cast_at DESC"
    )
}

/// A ballot as its receipt follows it, as stored.
pub struct ReceiptRow {
    pub matter_id: Uuid,
    pub matter_title: String,
    pub matter_status: String,
    pub entry_hash: String,
    pub cast_at: DateTime<Utc>,
    pub channel: String,
    pub voided: bool,
    pub set_aside: bool,
    pub replaced: bool,
    pub void_reason: Option<String>,
    /// Its place in the ledger, once a checkpoint gave it one.
    pub position: Option<i64>,
    /// The first checkpoint covering it (its entry count).
    pub checkpoint_entries: Option<i64>,
    /// That checkpoint's index in the transparency log.
    pub log_index: Option<i64>,
    pub checkpoint_root: Option<String>,
    pub checkpoint_key_id: Option<String>,
    pub checkpoint_signature: Option<String>,
    pub ledger_version: i32,
}

/// The one place a receipt row is read by position (the columns of [`select`]).
fn receipt_row(r: &Row) -> ReceiptRow {
    ReceiptRow {
        matter_id: r.get(0),
        matter_title: r.get(1),
        matter_status: r.get(2),
        entry_hash: r.get(3),
        cast_at: r.get(4),
        channel: r.get(5),
        voided: r.get(6),
        set_aside: r.get(7),
        replaced: r.get(8),
        void_reason: r.get(9),
        position: r.get(10),
        checkpoint_entries: r.get(11),
        log_index: r.get(12),
        checkpoint_root: r.get(13),
        checkpoint_key_id: r.get(14),
        checkpoint_signature: r.get(15),
        ledger_version: r.get(16),
    }
}

/// The ballots the owner cast online or signed on paper, newest first.
pub async fn owner_receipts(
    conn: &TenantConn,
    tenant_id: Uuid,
    owner: Uuid,
) -> ApiResult<Vec<ReceiptRow>> {
    let rows = conn
        .query(
            &select("coalesce(b.voter_owner_id, b.signed_by_owner_id) = $2"),
            &[&tenant_id, &owner],
        )
        .await?;
    Ok(rows.iter().map(receipt_row).collect())
}

/// The newest ballot whose entry hash is `wanted`, or starts with it when `wanted` is a receipt
/// code (16 hex digits, which more than one entry may share).
pub async fn receipt_by_hash(
    conn: &TenantConn,
    tenant_id: Uuid,
    wanted: &str,
) -> ApiResult<Option<ReceiptRow>> {
    let rows = conn
        .query(
            &select("left(l.hash, 16) = left($2, 16) AND (length($2) = 16 OR l.hash = $2)"),
            &[&tenant_id, &wanted],
        )
        .await?;
    Ok(rows.first().map(receipt_row))
}

/// The leaves of the matter's ledger tree up to the checkpoint of `entries` entries: the
/// opening first (a checkpoint's tree starts with it, from version 2 on), then each entry's
/// hash in ledger order.
async fn checkpoint_leaves(
    conn: &TenantConn,
    matter: Uuid,
    entries: i64,
) -> ApiResult<Vec<String>> {
    let rows = conn
        .query(
            "SELECT hash FROM (SELECT root AS hash, -1 AS position FROM ledger_checkpoints WHERE matter_id = $1 AND entries = 0
                                UNION ALL
                               SELECT e.hash, p.position FROM ledger_entries e JOIN ledger_positions p ON p.seq = e.seq
                                WHERE e.matter_id = $1 AND p.position <= $2) leaves
              ORDER BY position",
            &[&matter, &entries],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// What proves a receipt's ballot is kept: both absent until a checkpoint covers it.
pub struct Proofs {
    /// The covering checkpoint's inclusion in the transparency log.
    pub log: Option<LogInclusion>,
    /// The entry's audit path to the checkpoint's root.
    pub ledger_path: Option<Vec<String>>,
}

/// The proofs of a ballot a checkpoint covers: the checkpoint's inclusion in the log, and with
/// `path` the entry's path to the checkpoint's root. The path names the neighbouring entries'
/// hashes, which look up their ballots' fates: only for the voter's own receipts, never for an
/// anonymous lookup.
pub async fn proofs(conn: &TenantConn, receipt: &ReceiptRow, path: bool) -> ApiResult<Proofs> {
    let mut proofs = Proofs {
        log: None,
        ledger_path: None,
    };
    let (Some(position), Some(entries)) = (receipt.position, receipt.checkpoint_entries) else {
        return Ok(proofs);
    };
    proofs.log = transparency::store::ledger_inclusion(
        conn,
        conn.tenant().id,
        receipt.matter_id,
        Some(position),
    )
    .await?
    .filter(|log| log.entries == entries);
    if !path {
        return Ok(proofs);
    }
    let leaves = checkpoint_leaves(conn, receipt.matter_id, entries).await?;
    proofs.ledger_path = Some(ledger::merkle_path(position as usize, &leaves));
    Ok(proofs)
}
