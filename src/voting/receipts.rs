//! The statements behind ballot receipts (a ballot with its cast entry, ledger position, matter
//! and first covering checkpoint), and the step that gathers a receipt's proofs. They are
//! receipts' own (one raw SQL select shared by the owner's list and the anonymous lookup, with
//! the set-aside mark from `service.rs`), so they stay here beside the one API that uses them
//! rather than in `ballot_store.rs`; rows are read by column name into `QueryableByName`
//! structs.

use chrono::{DateTime, Utc};
use diesel::{sql_query, sql_types as sql, QueryableByName};
use uuid::Uuid;

use super::{ledger, service::SET_ASIDE};
use crate::{
    error::ApiResult,
    tenancy::conn::TenantConn,
    transparency::{self, proof::LogInclusion},
};

/// One SQL over ballots `b` joined to their cast entry `l`, ledger position `p`, matter `m`,
/// each column named as its [`ReceiptRow`] field but the log index, read afterwards (the
/// platform's log is not joined: on Citus it lives on the coordinator, the ballots on a worker).
fn select(filter: &str) -> String {
    format!(
        "SELECT m.id AS matter_id, m.title AS matter_title, m.status AS matter_status, l.hash AS entry_hash, b.cast_at, b.channel,
                b.voided_at IS NOT NULL AS voided, {SET_ASIDE} AS set_aside, b.replaced_at IS NOT NULL AS replaced, b.void_reason, p.position,
                cp.entries AS checkpoint_entries, NULL::bigint AS log_index,
                cp.root AS checkpoint_root, cp.key_id AS checkpoint_key_id, cp.signature AS checkpoint_signature, m.ledger_version::int AS ledger_version
           FROM ballots b JOIN ledger_entries l ON l.ballot_id = b.id AND l.kind = 'cast' JOIN matters m ON m.id = b.matter_id
           LEFT JOIN ledger_positions p ON p.seq = l.seq
           -- The first checkpoint covering the entry.
           LEFT JOIN LATERAL (SELECT c.entries, c.root, c.key_id, c.signature FROM ledger_checkpoints c
                               WHERE c.matter_id = m.id AND c.entries >= p.position ORDER BY c.entries LIMIT 1) cp ON true
          WHERE {filter}
          ORDER BY b.cast_at DESC"
    )
}

/// A ballot as its receipt follows it, as stored (the columns of [`select`]).
#[derive(QueryableByName)]
pub struct ReceiptRow {
    #[diesel(sql_type = sql::Uuid)]
    pub matter_id: Uuid,
    #[diesel(sql_type = sql::Text)]
    pub matter_title: String,
    #[diesel(sql_type = sql::Text)]
    pub matter_status: String,
    #[diesel(sql_type = sql::Text)]
    pub entry_hash: String,
    #[diesel(sql_type = sql::Timestamptz)]
    pub cast_at: DateTime<Utc>,
    #[diesel(sql_type = sql::Text)]
    pub channel: String,
    #[diesel(sql_type = sql::Bool)]
    pub voided: bool,
    #[diesel(sql_type = sql::Bool)]
    pub set_aside: bool,
    #[diesel(sql_type = sql::Bool)]
    pub replaced: bool,
    #[diesel(sql_type = sql::Nullable<sql::Text>)]
    pub void_reason: Option<String>,
    /// Its place in the ledger, once a checkpoint gave it one.
    #[diesel(sql_type = sql::Nullable<sql::BigInt>)]
    pub position: Option<i64>,
    /// The first checkpoint covering it (its entry count).
    #[diesel(sql_type = sql::Nullable<sql::BigInt>)]
    pub checkpoint_entries: Option<i64>,
    /// That checkpoint's index in the transparency log (see [`with_log_indexes`]).
    #[diesel(sql_type = sql::Nullable<sql::BigInt>)]
    pub log_index: Option<i64>,
    #[diesel(sql_type = sql::Nullable<sql::Text>)]
    pub checkpoint_root: Option<String>,
    #[diesel(sql_type = sql::Nullable<sql::Text>)]
    pub checkpoint_key_id: Option<String>,
    #[diesel(sql_type = sql::Nullable<sql::Text>)]
    pub checkpoint_signature: Option<String>,
    #[diesel(sql_type = sql::Integer)]
    pub ledger_version: i32,
}

/// Fills in each row's log index: where the transparency log placed its checkpoint, if it has.
async fn with_log_indexes(
    conn: &TenantConn,
    tenant_id: Uuid,
    mut rows: Vec<ReceiptRow>,
) -> ApiResult<Vec<ReceiptRow>> {
    for row in &mut rows {
        if let Some(entries) = row.checkpoint_entries {
            row.log_index =
                transparency::store::checkpoint_position(conn, tenant_id, row.matter_id, entries)
                    .await?;
        }
    }
    Ok(rows)
}

/// The ballots the owner cast online or signed on paper, newest first.
pub async fn owner_receipts(
    conn: &TenantConn,
    tenant_id: Uuid,
    owner: Uuid,
) -> ApiResult<Vec<ReceiptRow>> {
    let rows = conn
        .load(
            sql_query(select(
                "coalesce(b.voter_owner_id, b.signed_by_owner_id) = $1",
            ))
            .bind::<sql::Uuid, _>(owner),
        )
        .await?;
    with_log_indexes(conn, tenant_id, rows).await
}

/// The newest ballot whose entry hash is `wanted`, or starts with it when `wanted` is a receipt
/// code (16 hex digits, which more than one entry may share).
pub async fn receipt_by_hash(
    conn: &TenantConn,
    tenant_id: Uuid,
    wanted: &str,
) -> ApiResult<Option<ReceiptRow>> {
    let mut rows: Vec<ReceiptRow> = conn
        .load(
            sql_query(select(
                "left(l.hash, 16) = left($1, 16) AND (length($1) = 16 OR l.hash = $1)",
            ))
            .bind::<sql::Text, _>(wanted),
        )
        .await?;
    rows.truncate(1);
    Ok(with_log_indexes(conn, tenant_id, rows).await?.pop())
}

#[derive(QueryableByName)]
struct Hash {
    #[diesel(sql_type = sql::Text)]
    hash: String,
}

/// The leaves of the matter's ledger tree up to the checkpoint of `entries` entries: the
/// opening first (a checkpoint's tree starts with it, from version 2 on), then each entry's
/// hash in ledger order.
async fn checkpoint_leaves(
    conn: &TenantConn,
    matter: Uuid,
    entries: i64,
) -> ApiResult<Vec<String>> {
    let rows: Vec<Hash> = conn
        .load(
            sql_query(
                "SELECT hash FROM (SELECT root AS hash, -1 AS position FROM ledger_checkpoints WHERE matter_id = $1 AND entries = 0
                                UNION ALL
                               SELECT e.hash, p.position FROM ledger_entries e JOIN ledger_positions p ON p.seq = e.seq
                                WHERE e.matter_id = $1 AND p.position <= $2) leaves
              ORDER BY position",
            )
            .bind::<sql::Uuid, _>(matter)
            .bind::<sql::BigInt, _>(entries),
        )
        .await?;
    Ok(rows.into_iter().map(|r| r.hash).collect())
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
