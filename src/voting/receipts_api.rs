//! Receipts that follow the ballot: an owner's own ballots, and a lookup by a ledger entry hash
//! for anyone holding one, each saying whether the ballot counts, was voided, set aside or
//! replaced, and whether a signed checkpoint and the transparency log hold it yet.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{param::Path, payload::Json, Enum, Object, OpenApi};
use uuid::Uuid;

use super::{ledger, service::SET_ASIDE};
use crate::{
    auth::{principal::Principal, BearerAuth},
    error::{ApiError, ApiResult},
    state::AppState,
    tags::ApiTags,
    tenancy::{conn::TenantConn, Tenant},
    transparency::{self, proof::LogInclusion},
};

/// What became of a ballot.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub enum BallotFate {
    /// It counts (while voting is open: so far).
    Counts,
    /// Staff voided it; it counts as invalid only if its voter has no other ballot.
    Voided,
    /// Another ballot of the same voter counts instead (the channel rule), or the unit went to
    /// someone else's ballot signed before a sale.
    SetAside,
    /// The voter changed their vote: a later ballot on the same channel replaced it.
    Replaced,
}

/// A ballot as its receipt follows it.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ReceiptStatus {
    pub matter_id: Uuid,
    pub matter_title: String,
    /// The matter's status: open, closed or cancelled.
    pub matter_status: String,
    pub entry_hash: String,
    pub receipt_code: String,
    pub cast_at: DateTime<Utc>,
    pub channel: String,
    pub fate: BallotFate,
    /// Why staff voided it (the voter's own receipts only).
    pub void_reason: Option<String>,
    /// Its place in the ledger, once a checkpoint gave it one.
    pub position: Option<i64>,
    /// The first checkpoint covering it (its entry count): signed by the street office from
    /// ledger version 5.
    pub checkpoint_entries: Option<i64>,
    /// That checkpoint is in the transparency log, at this index
    /// (`GET /api/platform/log/inclusion` gives the proof).
    pub log_index: Option<i64>,
    /// The street office (tenant) and the ledger's format version, as the checkpoint's
    /// signature and log leaf name them.
    pub tenant: String,
    pub ledger_version: i32,
    /// The checkpoint's root, signing key and Ed25519 signature (version 5).
    pub checkpoint_root: Option<String>,
    pub checkpoint_key_id: Option<String>,
    pub checkpoint_signature: Option<String>,
    /// The entry's audit path to the checkpoint's root: the entry is leaf `position` (the
    /// opening is leaf 0) of `checkpoint_entries + 1` leaves (see `docs/ledger-format.md`). In
    /// the voter's own receipts only: it names neighbouring entries.
    pub ledger_path: Option<Vec<String>>,
    /// That the checkpoint is in the transparency log, under a signed tree head.
    pub log: Option<LogInclusion>,
}

/// The short form of an entry hash: its first 16 hex digits, in four groups.
pub fn receipt_code(entry_hash: &str) -> String {
    let digits = &entry_hash[..entry_hash.len().min(16)];
    digits
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

/// One SQL over ballots `b` joined to their cast entry `l`, ledger position `p`, matter `m`.
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

/// Adds the proofs to a receipt whose ballot a checkpoint covers: the checkpoint's inclusion in
/// the log, and with `path` the entry's path to the checkpoint's root. The path names the
/// neighbouring entries' hashes, which look up their ballots' fates: only for the voter's own
/// receipts, never for an anonymous lookup.
async fn with_proofs(
    conn: &TenantConn,
    mut receipt: ReceiptStatus,
    path: bool,
) -> ApiResult<ReceiptStatus> {
    let (Some(position), Some(entries)) = (receipt.position, receipt.checkpoint_entries) else {
        return Ok(receipt);
    };
    receipt.log = transparency::store::ledger_inclusion(
        conn,
        conn.tenant().id,
        receipt.matter_id,
        Some(position),
    )
    .await?
    .filter(|log| log.entries == entries);
    if !path {
        return Ok(receipt);
    }
    let rows = conn
        .query(
            "SELECT hash FROM (SELECT root AS hash, -1 AS position FROM ledger_checkpoints WHERE matter_id = $1 AND entries = 0
                                UNION ALL
                               SELECT e.hash, p.position FROM ledger_entries e JOIN ledger_positions p ON p.seq = e.seq
                                WHERE e.matter_id = $1 AND p.position <= $2) leaves
              ORDER BY position",
            &[&receipt.matter_id, &entries],
        )
        .await?;
    // Checkpoints exist from version 2 on, whose tree starts with the opening.
    let leaves: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    receipt.ledger_path = Some(ledger::merkle_path(position as usize, &leaves));
    Ok(receipt)
}

fn status(r: &tokio_postgres::Row, with_reason: bool) -> ReceiptStatus {
    let fate = if r.get::<_, bool>(6) {
        BallotFate::Voided
    } else if r.get::<_, bool>(8) {
        BallotFate::Replaced
    } else if r.get::<_, bool>(7) {
        BallotFate::SetAside
    } else {
        BallotFate::Counts
    };
    ReceiptStatus {
        matter_id: r.get(0),
        matter_title: r.get(1),
        matter_status: r.get(2),
        receipt_code: receipt_code(r.get(3)),
        entry_hash: r.get(3),
        cast_at: r.get(4),
        channel: r.get(5),
        fate,
        void_reason: if with_reason { r.get(9) } else { None },
        position: r.get(10),
        checkpoint_entries: r.get(11),
        log_index: r.get(12),
        tenant: String::new(),
        ledger_version: r.get(16),
        checkpoint_root: r.get(13),
        checkpoint_key_id: r.get(14),
        checkpoint_signature: r.get(15),
        ledger_path: None,
        log: None,
    }
}

pub struct ReceiptsApi;

#[OpenApi(tag = "ApiTags::Matters")]
impl ReceiptsApi {
    /// 我的选票回执 / My ballots (cast online, or paper ballots I signed) and what became of each.
    #[oai(
        path = "/api/me/receipts",
        method = "get",
        operation_id = "my_receipt_list"
    )]
    async fn mine(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        _auth: BearerAuth,
    ) -> ApiResult<Json<Vec<ReceiptStatus>>> {
        let Principal::Owner { id } = *principal else {
            return Err(ApiError::forbidden(
                "authz.forbidden",
                "仅业主可以查看",
                "Owners only",
            ));
        };
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let rows = conn
            .query(
                &select("coalesce(b.voter_owner_id, b.signed_by_owner_id) = $2"),
                &[&tenant.id, &id],
            )
            .await?;
        let mut receipts = Vec::with_capacity(rows.len());
        for r in &rows {
            receipts.push(
                with_proofs(
                    &conn,
                    ReceiptStatus {
                        tenant: tenant.slug.clone(),
                        ..status(r, true)
                    },
                    true,
                )
                .await?,
            );
        }
        conn.commit().await?;
        Ok(Json(receipts))
    }

    /// 回执查询 / Look a ballot up by its ledger entry hash (from a receipt or the published
    /// ledger) or its receipt code (`xxxx-xxxx-xxxx-xxxx`, printed on a paper ballot's entry
    /// slip): what became of it. Needs no login; shows no name, choice or void reason.
    #[oai(
        path = "/api/receipts/:entry_hash",
        method = "get",
        operation_id = "receipt_lookup"
    )]
    async fn lookup(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        #[oai(validator(
            max_length = 64,
            min_length = 16,
            pattern = "^([0-9a-f]{64}|[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4})$"
        ))]
        entry_hash: Path<String>,
    ) -> ApiResult<Json<ReceiptStatus>> {
        let wanted = entry_hash.0.replace('-', "");
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let rows = conn
            .query(
                &select("left(l.hash, 16) = left($2, 16) AND (length($2) = 16 OR l.hash = $2)"),
                &[&tenant.id, &wanted],
            )
            .await?;
        let row = rows.into_iter().next();
        let row = row.ok_or_else(|| {
            ApiError::not_found(
                "receipt.not_found",
                "没有这张选票（请核对回执上的哈希值）",
                "No ballot has that entry hash",
            )
        })?;
        let receipt = with_proofs(
            &conn,
            ReceiptStatus {
                tenant: tenant.slug.clone(),
                ..status(&row, false)
            },
            false,
        )
        .await?;
        conn.commit().await?;
        Ok(Json(receipt))
    }
}
