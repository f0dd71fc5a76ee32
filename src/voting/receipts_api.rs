//! Receipts that follow the ballot: an owner's own ballots, and a lookup by a ledger entry hash
//! for anyone holding one, each saying whether the ballot counts, was voided, set aside or
//! replaced, and whether a signed checkpoint and the transparency log hold it yet.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{param::Path, payload::Json, Enum, Object, OpenApi};
use uuid::Uuid;

use super::service::SET_ASIDE;
use crate::{
    app::AppState,
    auth::{principal::Principal, BearerAuth},
    error::{ApiError, ApiResult},
    openapi::ApiTags,
    tenancy::{conn::TenantConn, Tenant},
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
}

/// The short form of an entry hash: its first 16 hex digits, in four groups.
pub fn receipt_code(entry_hash: &str) -> String {
    let digits = &entry_hash[..entry_hash.len().min(16)];
    digits.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join("-")
}

/// One SQL over ballots `b` joined to their cast entry `l`, ledger position `p`, matter `m`.
fn select(filter: &str) -> String {
    format!(
        "SELECT m.id, m.title, m.status, l.hash, b.cast_at, b.channel,
                b.voided_at IS NOT NULL, {SET_ASIDE}, b.replaced_at IS NOT NULL, b.void_reason, p.position, cp.entries,
                (SELECT lg.position FROM platform.log_leaves lg WHERE lg.tenant_id = $1 AND lg.matter_id = m.id AND lg.entries = cp.entries)
           FROM ballots b JOIN ledger_entries l ON l.ballot_id = b.id AND l.kind = 'cast' JOIN matters m ON m.id = b.matter_id
           LEFT JOIN ledger_positions p ON p.seq = l.seq
           -- The first checkpoint covering the entry.
           LEFT JOIN LATERAL (SELECT min(c.entries) AS entries FROM ledger_checkpoints c WHERE c.matter_id = m.id AND c.entries >= p.position) cp ON true
          WHERE {filter}
          ORDER BY b.cast_at DESC"
    )
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
    }
}

pub struct ReceiptsApi;

#[OpenApi(tag = "ApiTags::Matters")]
impl ReceiptsApi {
    /// 我的选票回执 / My ballots (cast online, or paper ballots I signed) and what became of each.
    #[oai(path = "/api/me/receipts", method = "get", operation_id = "my_receipt_list")]
    async fn mine(&self, state: Data<&AppState>, tenant: Data<&Tenant>, principal: Data<&Principal>, _auth: BearerAuth) -> ApiResult<Json<Vec<ReceiptStatus>>> {
        let Principal::Owner { id } = *principal else {
            return Err(ApiError::forbidden("authz.forbidden", "仅业主可以查看", "Owners only"));
        };
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let rows = conn.query(&select("coalesce(b.voter_owner_id, b.signed_by_owner_id) = $2"), &[&tenant.id, &id]).await?;
        conn.commit().await?;
        Ok(Json(rows.iter().map(|r| status(r, true)).collect()))
    }

    /// 回执查询 / Look a ballot up by its ledger entry hash (from a receipt or the published
    /// ledger) or its receipt code (`xxxx-xxxx-xxxx-xxxx`, printed on a paper ballot's entry
    /// slip): what became of it. Needs no login; shows no name, choice or void reason.
    #[oai(path = "/api/receipts/:entry_hash", method = "get", operation_id = "receipt_lookup")]
    async fn lookup(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        #[oai(validator(max_length = 64, min_length = 16, pattern = "^([0-9a-f]{64}|[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4})$"))] entry_hash: Path<
            String,
        >,
    ) -> ApiResult<Json<ReceiptStatus>> {
        let wanted = entry_hash.0.replace('-', "");
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let rows = conn.query(&select("left(l.hash, 16) = left($2, 16) AND (length($2) = 16 OR l.hash = $2)"), &[&tenant.id, &wanted]).await?;
        let row = rows.into_iter().next();
        conn.commit().await?;
        let row = row.ok_or_else(|| ApiError::not_found("receipt.not_found", "没有这张选票（请核对回执上的哈希值）", "No ballot has that entry hash"))?;
        Ok(Json(status(&row, false)))
    }
}
