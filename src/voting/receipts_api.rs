//! Receipts that follow the ballot: an owner's own ballots, and a lookup by a ledger entry hash
//! for anyone holding one, each saying whether the ballot counts, was voided, set aside or
//! replaced, and whether a signed checkpoint and the transparency log hold it yet.

use crate::paging::Paging;
use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::{param::Path, payload::Json, Enum, Object, OpenApi};
use uuid::Uuid;

use super::receipts::{self, ReceiptRow};
use crate::{
    auth::principal::Principal,
    error::{ApiError, ApiResult},
    state::AppState,
    tags::ApiTags,
    tenancy::{conn::TenantConn, Tenant},
    transparency::proof::LogInclusion,
};

crate::page_of!(ReceiptPage, ReceiptStatus);

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
    pub channel: super::kinds::BallotChannel,
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

impl From<ReceiptRow> for ReceiptStatus {
    /// The stored ballot as its receipt shows it: its fate (voided before replaced before set
    /// aside), the receipt code, and no tenant or proofs yet (see [`receipt`]).
    fn from(r: ReceiptRow) -> Self {
        let fate = if r.voided {
            BallotFate::Voided
        } else if r.replaced {
            BallotFate::Replaced
        } else if r.set_aside {
            BallotFate::SetAside
        } else {
            BallotFate::Counts
        };
        ReceiptStatus {
            matter_id: r.matter_id,
            matter_title: r.matter_title,
            matter_status: r.matter_status,
            receipt_code: receipt_code(&r.entry_hash),
            entry_hash: r.entry_hash,
            cast_at: r.cast_at,
            channel: crate::stored::parse(&r.channel, super::kinds::BallotChannel::Online),
            fate,
            void_reason: r.void_reason,
            position: r.position,
            checkpoint_entries: r.checkpoint_entries,
            log_index: r.log_index,
            tenant: String::new(),
            ledger_version: r.ledger_version,
            checkpoint_root: r.checkpoint_root,
            checkpoint_key_id: r.checkpoint_key_id,
            checkpoint_signature: r.checkpoint_signature,
            ledger_path: None,
            log: None,
        }
    }
}

/// The receipt of a stored ballot of `tenant`, with its proofs. `own`: the voter's own receipt,
/// which alone shows why staff voided it and the ledger path (it names neighbouring entries).
async fn receipt(
    conn: &TenantConn,
    tenant: &Tenant,
    row: ReceiptRow,
    own: bool,
) -> ApiResult<ReceiptStatus> {
    let proofs = receipts::proofs(conn, &row, own).await?;
    let status = ReceiptStatus::from(row);
    Ok(ReceiptStatus {
        tenant: tenant.slug.clone(),
        void_reason: if own { status.void_reason } else { None },
        log: proofs.log,
        ledger_path: proofs.ledger_path,
        ..status
    })
}

#[derive(Default)]
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
        /// Page number, from 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
        page: Query<Option<i64>>,
        /// Items per page, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        page_size: Query<Option<i64>>,
    ) -> ApiResult<Json<ReceiptPage>> {
        let paging = Paging::new(page.0, page_size.0)?;
        let Principal::Owner { id } = *principal else {
            return Err(ApiError::forbidden(
                "authz.forbidden",
                "仅业主可以查看",
                "Owners only",
            ));
        };
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let rows = receipts::owner_receipts(&conn, tenant.id, *id).await?;
        let mut mine = Vec::with_capacity(rows.len());
        for row in rows {
            mine.push(receipt(&conn, &tenant, row, true).await?);
        }
        conn.commit().await?;
        Ok(Json(ReceiptPage::cut(mine, paging)))
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
        let row = receipts::receipt_by_hash(&conn, tenant.id, &wanted)
            .await?
            .ok_or_else(|| {
                ApiError::not_found(
                    "receipt.not_found",
                    "没有这张选票（请核对回执上的哈希值）",
                    "No ballot has that entry hash",
                )
            })?;
        let receipt = receipt(&conn, &tenant, row, false).await?;
        conn.commit().await?;
        Ok(Json(receipt))
    }
}
