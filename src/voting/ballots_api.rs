//! Ballots: cast online (owners), entered from paper (staff), voided; the live tally, the
//! units yet to vote, and the public, verifiable ledger.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{
    param::{Header, Path, Query},
    payload::Json,
    ApiResponse, Enum, Object, OpenApi,
};
use serde_json::json;

pub use super::kinds::BallotChannel;
use uuid::Uuid;

use super::{
    ballot_store::{self, BallotRow, CastRow, ExportRow},
    casting::{
        cast_online, enter_paper, lock_person, open_matter, request_hash, retried,
        void_reason_input, OnlineBallot, Outcome, PaperBallot,
    },
    ledger::{self, EntryKind},
    service::{self, choice_str, Matter},
    signing,
    tally::{Check, Choice, Counts, Tally},
};
use crate::{
    audit,
    auth::principal::Principal,
    authz::jurisdiction::Jurisdiction,
    error::{ApiError, ApiResult},
    housing::area,
    paging::Paging,
    state::AppState,
    tags::ApiTags,
    tenancy::{conn::TenantConn, Tenant},
};

crate::page_of!(BuildingToVisitPage, BuildingToVisit);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ChoiceInput {
    /// 同意
    Agree,
    /// 反对
    Disagree,
    /// 弃权
    Abstain,
}

impl From<ChoiceInput> for Choice {
    fn from(c: ChoiceInput) -> Self {
        match c {
            ChoiceInput::Agree => Choice::Agree,
            ChoiceInput::Disagree => Choice::Disagree,
            ChoiceInput::Abstain => Choice::Abstain,
        }
    }
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CastInput {
    pub choice: ChoiceInput,
    /// An uploaded `signature` image, where the matter requires a signature.
    pub signature_attachment_id: Option<Uuid>,
    /// Client-chosen key: retrying with it returns the same receipt instead of a second ballot;
    /// the same key with another choice answers 422 `idempotency.mismatch`.
    /// Deprecated: send the `Idempotency-Key` header instead.
    #[oai(validator(max_length = 100), deprecated)]
    pub idempotency_key: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum PaperChannel {
    Paper,
    OnSite,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PaperInput {
    /// Any unit of the voter (the ballot carries all the voter's units).
    pub unit_id: Uuid,
    pub choice: ChoiceInput,
    pub channel: PaperChannel,
    /// The scanned paper ballot (an uploaded `document` or image).
    pub scan_attachment_id: Uuid,
    /// When the voter signed it (default: now). Decides, for a unit sold during the vote,
    /// whether the ballot is the seller's or the buyer's.
    pub signed_at: Option<DateTime<Utc>>,
    /// The owner on the roll who signed it (a holder of one of the voter's units): among
    /// co-owners the first to vote decides, and the export names the signer.
    pub signed_by_owner_id: Option<Uuid>,
    /// A spoiled ballot (废票): entered as marked, void from the start, with this reason.
    #[oai(validator(max_length = 200))]
    pub void_reason: Option<String>,
    /// Clerk-chosen key: retrying with it returns the same receipt instead of a second entry;
    /// the same key with a different body answers 422 `idempotency.mismatch`.
    /// Deprecated: send the `Idempotency-Key` header instead.
    #[oai(validator(max_length = 100), deprecated)]
    pub idempotency_key: Option<String>,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DeliveryInput {
    pub unit_id: Uuid,
    /// Proof of delivery (a photo or signed receipt), uploaded by staff.
    pub proof_attachment_id: Uuid,
}

#[derive(ApiResponse)]
pub enum Recorded {
    #[oai(status = 204)]
    Recorded,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct VoidInput {
    #[oai(validator(max_length = 200))]
    pub reason: String,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Receipt {
    pub ballot_id: Uuid,
    pub matter_id: Uuid,
    /// The ledger entry that records this ballot: find it in the published ledger.
    pub ledger_seq: i64,
    pub entry_hash: String,
    /// The entry hash's first 16 hex digits in groups of four: short enough to print on a paper
    /// ballot's entry slip or to read out, and looked up like the hash
    /// (`GET /api/receipts/{code}`).
    pub receipt_code: String,
    pub unit_codes: String,
    /// m², exact.
    #[oai(validator(pattern = r"^[0-9]+\.[0-9]{2}$"))]
    pub area: String,
    pub choice: ChoiceInput,
    /// An election ballot's picks (candidate ids).
    pub picks: Option<Vec<Uuid>>,
    pub cast_at: DateTime<Utc>,
    /// While voting is open the published ledger shows this commitment instead of the choice:
    /// hex SHA-256 of `zmg-commit-v1`, matter id, `ledger_seq`, choice, picks (comma-separated
    /// candidate ids, empty on a matter) and `salt`, each followed by a zero byte. Keep the salt
    /// to check it; it is published with the choice once the vote closes. Absent on ledgers
    /// opened before choices were sealed.
    pub commitment: Option<String>,
    pub salt: Option<String>,
    /// A paper ballot, where the service is configured to text receipts: the signer's phone
    /// (masked) that the receipt code was sent to.
    pub receipt_sent_to: Option<String>,
}

#[derive(ApiResponse)]
pub enum Cast {
    #[oai(status = 201)]
    Created(Json<Receipt>),
    /// The same idempotency key again: the original receipt.
    #[oai(status = 200)]
    Repeated(Json<Receipt>),
}

/// One ballot as staff inspect it.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct BallotView {
    pub id: Uuid,
    /// The ballot's sequence number: its cast entry in the ledger.
    pub seq: i64,
    pub channel: BallotChannel,
    /// A matter's choice (absent on an election ballot).
    pub choice: Option<ChoiceInput>,
    /// An election ballot's picks (candidate ids).
    pub picks: Option<Vec<Uuid>>,
    /// The units the ballot votes for now (none for a ballot set aside because its unit went
    /// back to a seller who voted before the sale).
    pub unit_codes: Vec<String>,
    /// m², exact.
    #[oai(validator(pattern = r"^[0-9]+\.[0-9]{2}$"))]
    pub area: String,
    /// Who cast it online, or signed it on paper where staff recorded the signer.
    pub voter_name: Option<String>,
    pub voter_owner_id: Option<Uuid>,
    /// The clerk who entered a paper or on-site ballot.
    pub entered_by: Option<String>,
    /// When it was cast (a paper ballot: when it was signed).
    pub cast_at: DateTime<Utc>,
    /// A paper or on-site ballot's signing time.
    pub signed_at: Option<DateTime<Utc>>,
    /// When a paper or on-site ballot was entered.
    pub entered_at: Option<DateTime<Utc>>,
    pub voided: bool,
    pub void_reason: Option<String>,
    /// Set aside: by the channel rule, or because its unit went back to the seller.
    pub superseded: bool,
    /// Replaced by the voter's one permitted change of vote.
    pub replaced: bool,
    pub scan_attachment_id: Option<Uuid>,
}

crate::page_of!(BallotPage, BallotView);

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CountsView {
    pub heads: i64,
    /// m², exact.
    #[oai(validator(pattern = r"^[0-9]+\.[0-9]{2}$"))]
    pub area: String,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CheckView {
    pub passed: bool,
    pub value: CountsView,
    pub base: CountsView,
    pub required: CountsView,
    /// More persons needed (for approval: more agreeing voters); absent when unreachable.
    pub shortfall_heads: Option<i64>,
    #[oai(validator(pattern = r"^[0-9]+\.[0-9]{2}$"))]
    pub shortfall_area: Option<String>,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TallyView {
    pub rule_set: String,
    pub totals: CountsView,
    pub participants: CountsView,
    /// The split by choice (`agree` … `followers`, `approval`, `passed`) is absent for owners
    /// while voting is open (`choices_sealed`): with it and the ledger's list of who voted, a
    /// neighbour could tell from two looks how each unit voted. Staff always see it.
    pub agree: Option<CountsView>,
    pub disagree: Option<CountsView>,
    pub abstain: Option<CountsView>,
    pub invalid: Option<CountsView>,
    /// Delivered non-voters counted with the majority (从众), where the matter allows it.
    pub followers: Option<CountsView>,
    pub participation: Option<CheckView>,
    pub approval: Option<CheckView>,
    pub passed: Option<bool>,
    /// The split by choice is withheld until the close (see above).
    pub choices_sealed: bool,
    pub status: super::kinds::MatterStatus,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct BuildingToVisit {
    pub building: String,
    /// Units whose owner has not voted (for door-to-door visits).
    pub unit_codes: Vec<String>,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct LedgerVerification {
    /// Sequence numbers of entries whose content no longer matches their hash.
    pub altered_entries: Vec<i64>,
    /// The frozen roll, rule set and settings still hash to the opening checkpoint.
    pub opening_matches: bool,
    /// Checkpoints (by number of entries covered) the published entries no longer reproduce.
    pub broken_checkpoints: Vec<i64>,
    pub root_matches: bool,
    pub recomputed_root: String,
    /// Whether choices are still sealed (voting open): entries show commitments only, and no
    /// tally can be recomputed from the ledger until the close reveals them.
    pub sealed: bool,
    /// Entries whose revealed choice is not the one committed to while voting was open.
    pub broken_commitments: Vec<i64>,
    /// The tally recomputed from the ledger alone equals the live tally. While the choices are
    /// sealed the server checks this with the choices the close will reveal; afterwards anyone
    /// can recompute it from the published ledger.
    pub tally_matches: bool,
    pub recomputed: Option<TallyView>,
    /// The entries are published in the ledger's order (by position, then pending ones by
    /// sequence number).
    pub order_matches: bool,
    /// Entries naming a unit not on the frozen roll, or an area other than their units' area.
    pub units_mismatched: Vec<i64>,
    /// The rule set's fractions are those its name stands for.
    pub rules_match_preset: bool,
    /// Nothing in the ledger belongs to a later format than its version declares.
    pub version_consistent: bool,
    /// Version 4: ballots whose superseded mark disagrees with the recount.
    pub inconsistent_marks: Vec<String>,
    /// Version 5: checkpoints (by entries covered) without the street office's signature.
    pub unsigned_checkpoints: Vec<i64>,
    /// Checkpoints whose signature fails against the street office's published keys
    /// (`GET /api/platform/signing-keys`).
    pub bad_signatures: Vec<i64>,
    /// Version 5, closed: the last signed checkpoint covers every entry and the declared root.
    pub root_signed: bool,
    /// Checkpoints (by entries covered) the transparency log holds for this ledger that the
    /// published ledger lacks or shows otherwise (root, signature, version), and the declared
    /// result (by its entries) when the log holds another than the ledger shows.
    pub log_mismatches: Vec<i64>,
    /// The published ledger's proof that its declared result, or before the close its last
    /// logged checkpoint, is in the transparency log verifies (absent: the log holds nothing of
    /// it yet).
    pub log_included: Option<bool>,
    /// Every check above passed (and the tally matches): the ledger verifies.
    pub intact: bool,
}

pub fn counts(c: Counts) -> CountsView {
    CountsView {
        heads: c.heads,
        area: area::format(c.area_centi),
    }
}

fn check(c: &Check) -> CheckView {
    CheckView {
        passed: c.passed,
        value: counts(c.value),
        base: counts(c.base),
        required: counts(c.required),
        shortfall_heads: c.shortfall_heads,
        shortfall_area: c.shortfall_area_centi.map(area::format),
    }
}

/// Whether `principal` is kept from a matter's split by choice: owners, while a ledger that
/// seals choices (version 3) is not closed (a cancelled vote stays sealed).
pub(crate) fn choices_sealed_for(principal: &Principal, m: &service::Matter) -> bool {
    matches!(principal, Principal::Owner { .. }) && m.status != "closed" && m.ledger_version >= 3
}

pub(crate) fn tally_view(t: &Tally, status: &str, sealed: bool) -> TallyView {
    let shown = |c: Counts| (!sealed).then(|| counts(c));
    TallyView {
        rule_set: t.rule_set.clone(),
        totals: counts(t.totals),
        participants: counts(t.participants),
        agree: shown(t.agree),
        disagree: shown(t.disagree),
        abstain: shown(t.abstain),
        invalid: shown(t.invalid),
        followers: shown(t.followers),
        participation: t.participation.as_ref().map(check),
        approval: (!sealed).then(|| check(&t.approval)),
        passed: (!sealed).then_some(t.passed),
        choices_sealed: sealed,
        status: crate::stored::parse(status, super::kinds::MatterStatus::Open),
    }
}

fn choice_input(s: &str) -> ChoiceInput {
    match s {
        "agree" => ChoiceInput::Agree,
        "disagree" => ChoiceInput::Disagree,
        _ => ChoiceInput::Abstain,
    }
}

impl From<CastRow> for Receipt {
    fn from(r: CastRow) -> Self {
        Receipt {
            ballot_id: r.ballot_id,
            matter_id: r.matter_id,
            ledger_seq: r.ledger_seq,
            receipt_code: crate::voting::receipts_api::receipt_code(&r.entry_hash),
            entry_hash: r.entry_hash,
            unit_codes: r.unit_codes,
            area: area::format(r.area_centi),
            choice: choice_input(&r.choice),
            picks: r.picks,
            cast_at: r.cast_at,
            commitment: r.commitment,
            salt: r.salt,
            receipt_sent_to: None,
        }
    }
}

impl From<Outcome> for Cast {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Created { receipt, sent_to } => Cast::Created(Json(Receipt {
                receipt_sent_to: sent_to,
                ..receipt.into()
            })),
            Outcome::Repeated(receipt) => Cast::Repeated(Json(receipt.into())),
        }
    }
}

/// The channel a paper ballot was entered on, as stored.
pub(crate) fn paper_channel(c: PaperChannel) -> &'static str {
    match c {
        PaperChannel::Paper => "paper",
        PaperChannel::OnSite => "on_site",
    }
}

#[derive(Default)]
pub struct BallotsApi;

#[OpenApi(tag = "ApiTags::Matters")]
impl BallotsApi {
    /// 投票 / Cast my ballot: one per person per matter, carrying all my units in scope.
    #[oai(
        path = "/api/matters/:id/ballots",
        method = "post",
        operation_id = "ballot_cast"
    )]
    async fn cast(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        body: Json<CastInput>,
        /// Retrying with the same key returns the first answer; the same key with another
        /// body answers 422 `idempotency.mismatch`.
        #[oai(name = "Idempotency-Key", validator(max_length = 100))]
        idempotency_key: Header<Option<String>>,
    ) -> ApiResult<Cast> {
        let Principal::Owner { id: owner } = *principal else {
            return Err(ApiError::forbidden(
                "authz.forbidden",
                "仅业主可以投票",
                "Owners only",
            ));
        };
        let owner: Uuid = *owner;
        let key = crate::idempotency::required(
            idempotency_key.0.as_deref(),
            body.idempotency_key.as_deref(),
        )?;
        let key = key.as_str();
        let ballot = OnlineBallot {
            owner,
            key,
            choice: body.choice.into(),
            picks: None,
            signature: body.signature_attachment_id,
        };
        let conn = match retried(
            TenantConn::begin(&state.pool, &tenant).await?,
            id.0,
            &ballot,
        )
        .await?
        {
            Ok(first) => return Ok(first.into()),
            Err(conn) => conn,
        };
        let m = open_matter(&conn, id.0).await?;
        if m.kind != "matter" {
            return Err(ApiError::conflict(
                "ballot.use_election",
                "选举请通过选举投票",
                "Vote in an election through the election",
            ));
        }
        cast_online(conn, &m, ballot).await.map(Cast::from)
    }

    /// 录入纸质票 / Enter a paper or on-site ballot with its scan (the channel rule decides).
    #[oai(
        path = "/api/matters/:id/paper-ballots",
        method = "post",
        operation_id = "ballot_enter_paper"
    )]
    async fn paper(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        body: Json<PaperInput>,
        /// Retrying with the same key returns the first answer; the same key with another
        /// body answers 422 `idempotency.mismatch`.
        #[oai(name = "Idempotency-Key", validator(max_length = 100))]
        idempotency_key: Header<Option<String>>,
    ) -> ApiResult<Cast> {
        let paper_key = crate::idempotency::key(
            idempotency_key.0.as_deref(),
            body.idempotency_key.as_deref(),
        )?;
        let scope = Jurisdiction::of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let m = open_matter(&conn, id.0).await?;
        scope
            .check_estate(&conn, m.estate_id)
            .await
            .map_err(|_| service::not_found())?;
        if m.kind != "matter" {
            return Err(ApiError::conflict(
                "ballot.use_election",
                "选举的纸质票请在选举中录入",
                "Enter an election's paper ballots through the election",
            ));
        }
        let request_hash = request_hash(&json!({
            "unit_id": body.unit_id, "choice": choice_str(body.choice.into()), "channel": paper_channel(body.channel),
            "scan_attachment_id": body.scan_attachment_id, "signed_at": body.signed_at, "signed_by_owner_id": body.signed_by_owner_id,
            "void_reason": body.void_reason,
        }));
        let paper = PaperBallot {
            unit: body.unit_id,
            channel: paper_channel(body.channel),
            choice: body.choice.into(),
            picks: None,
            void_reason: void_reason_input(body.void_reason.as_deref())?,
            scan: body.scan_attachment_id,
            signed_at: body.signed_at,
            signed_by: body.signed_by_owner_id,
            idempotency_key: paper_key.as_deref(),
            request_hash,
        };
        enter_paper(conn, &state, &principal, &m, paper)
            .await
            .map(Cast::from)
    }

    /// 作废选票 / Void a ballot with a reason (kept, counted as invalid).
    #[oai(
        path = "/api/ballots/:id/void",
        method = "post",
        operation_id = "ballot_void"
    )]
    async fn void(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        body: Json<VoidInput>,
    ) -> ApiResult<Json<Receipt>> {
        let scope = Jurisdiction::of(&principal)?;
        if body.reason.trim().is_empty() {
            return Err(ApiError::field(
                "reason",
                "required",
                "请填写作废原因",
                "A reason is required",
            ));
        }
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let matter = ballot_store::ballot_matter(&conn, id.0)
            .await?
            .ok_or_else(|| {
                ApiError::not_found("ballot.not_found", "选票不存在", "Ballot not found")
            })?;
        let m = open_matter(&conn, matter).await?;
        scope.check_estate(&conn, m.estate_id).await.map_err(|_| {
            ApiError::not_found("ballot.not_found", "选票不存在", "Ballot not found")
        })?;
        // The person's lock first, as casting takes it: a ballot cast meanwhile and this void
        // then see each other when they bring the person's marks up to date.
        let holder = ballot_store::ballot_holder(&conn, id.0).await?;
        lock_person(&conn, &m, &holder).await?;
        let n = ballot_store::void(&conn, id.0, body.reason.trim()).await?;
        if n == 0 {
            return Err(ApiError::conflict(
                "ballot.already_void",
                "该选票已作废",
                "This ballot is already voided",
            ));
        }
        service::append(&conn, &m, id.0, EntryKind::Void).await?;
        // The ballot this one had set aside may count again.
        service::refresh_marks(&conn, &m, &holder).await?;
        audit::record(&conn, &principal, "ballot", &id.0.to_string()).await?;
        let r = Receipt::from(ballot_store::cast_row(&conn, id.0).await?);
        conn.commit().await?;
        Ok(Json(r))
    }

    /// 送达记录 / Record that a unit's ballot was delivered (for the 从众 clause).
    #[oai(
        path = "/api/matters/:id/deliveries",
        method = "post",
        operation_id = "matter_delivery_record"
    )]
    async fn delivery(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        body: Json<DeliveryInput>,
    ) -> ApiResult<Recorded> {
        let scope = Jurisdiction::of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let m = open_matter(&conn, id.0).await?;
        scope
            .check_estate(&conn, m.estate_id)
            .await
            .map_err(|_| service::not_found())?;
        if !ballot_store::roll_has_unit(&conn, m.id, body.unit_id).await? {
            return Err(ApiError::field(
                "unit_id",
                "ballot.unit_not_in_scope",
                "该房屋不在本次表决范围内",
                "The unit is not in this vote's scope",
            ));
        }
        if !ballot_store::staff_upload_found(&conn, body.proof_attachment_id).await? {
            return Err(ApiError::field(
                "proof_attachment_id",
                "delivery.proof_required",
                "请先上传送达凭证",
                "Upload the proof of delivery first",
            ));
        }
        let (_, staff) = principal.actor();
        let recorded = ballot_store::insert_delivery(
            &conn,
            m.id,
            body.unit_id,
            body.proof_attachment_id,
            staff,
        )
        .await?;
        if recorded == 1 {
            service::append_unit_event(&conn, &m, body.unit_id, EntryKind::Delivery).await?;
        }
        crate::attachments::bind_to_estate(&conn, m.estate_id, &[body.proof_attachment_id]).await?;
        audit::record(&conn, &principal, "matter", &m.id.to_string()).await?;
        conn.commit().await?;
        Ok(Recorded::Recorded)
    }

    /// 实时统计 / Live tally (after close: the result).
    #[oai(
        path = "/api/matters/:id/tally",
        method = "get",
        operation_id = "matter_tally"
    )]
    async fn tally(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<TallyView>> {
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let m = service::open_if_due(&conn, id.0).await?;
        service::visible_to(&conn, &principal, m.estate_id, &m.status).await?;
        if m.kind != "matter" {
            return Err(ApiError::conflict(
                "matter.is_election",
                "这是选举的投票，请查看选举统计",
                "This is an election's vote: see the election tally",
            ));
        }
        let t = service::live_tally(&conn, &m).await?;
        conn.commit().await?;
        Ok(Json(tally_view(
            &t,
            &m.status,
            choices_sealed_for(&principal, &m),
        )))
    }

    /// 未投票房屋 / Units not yet voted, by building (staff, for door-to-door visits).
    #[oai(
        path = "/api/matters/:id/not-voted",
        method = "get",
        operation_id = "matter_not_voted"
    )]
    async fn not_voted(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        /// Page number, from 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
        page: Query<Option<i64>>,
        /// Items per page, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        page_size: Query<Option<i64>>,
    ) -> ApiResult<Json<BuildingToVisitPage>> {
        let paging = Paging::new(page.0, page_size.0)?;
        let scope = Jurisdiction::of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let m = service::open_if_due(&conn, id.0).await?;
        scope
            .check_estate(&conn, m.estate_id)
            .await
            .map_err(|_| service::not_found())?;
        let rows = ballot_store::not_voted(&conn, m.id).await?;
        conn.commit().await?;
        let all = rows
            .into_iter()
            .map(|r| BuildingToVisit {
                building: r.building,
                unit_codes: r.unit_codes,
            })
            .collect();
        Ok(Json(BuildingToVisitPage::cut(all, paging)))
    }

    /// 导出选票 / Every ballot with voter, channel, choice and status as xlsx (staff; audited).
    #[oai(
        path = "/api/matters/:id/ballots/export",
        method = "get",
        operation_id = "ballot_export"
    )]
    async fn export(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
    ) -> ApiResult<crate::xlsx::XlsxFile> {
        let scope = Jurisdiction::of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let m = service::open_if_due(&conn, id.0).await?;
        scope
            .check_estate(&conn, m.estate_id)
            .await
            .map_err(|_| service::not_found())?;
        let rows = ballot_store::export_rows(&conn, m.id).await?;
        let superseded = ballot_store::set_aside_ids(&conn, m.id).await?;
        // An election's ballots show the names picked.
        let names = ballot_store::candidate_names(&conn, m.id).await?;
        audit::record(&conn, &principal, "matter", &m.id.to_string()).await?;
        conn.commit().await?;
        let bytes =
            tokio::task::spawn_blocking(move || ballots_workbook(&rows, &superseded, &names))
                .await
                .map_err(ApiError::internal)?
                .map_err(ApiError::internal)?;
        Ok(crate::xlsx::file(bytes, "选票明细.xlsx", "ballots.xlsx"))
    }

    /// 选票列表 / Every ballot of a matter or election round, page by page, in ballot order
    /// (staff of its jurisdiction; names included, so audited).
    #[oai(
        path = "/api/matters/:id/ballots",
        method = "get",
        operation_id = "ballot_list"
    )]
    #[allow(clippy::too_many_arguments)] // one extractor per parameter, as poem-openapi wants them
    async fn list(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        /// 投票方式
        channel: Query<Option<BallotChannel>>,
        /// Voided ballots only (true), or none of them (false).
        voided: Query<Option<bool>>,
        /// 搜索: a unit code (`1-2-301`), whole, or part of the voter's name.
        #[oai(validator(max_length = 50))]
        q: Query<Option<String>>,
        /// Page number, from 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
        page: Query<Option<i64>>,
        /// Items per page, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        page_size: Query<Option<i64>>,
    ) -> ApiResult<Json<BallotPage>> {
        let scope = Jurisdiction::of(&principal)?;
        let paging = Paging::new(page.0, page_size.0)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let m = service::open_if_due(&conn, id.0).await?;
        scope
            .check_estate(&conn, m.estate_id)
            .await
            .map_err(|_| service::not_found())?;
        let channel = channel.0.map(|c| crate::stored::text(&c));
        let q = q.0.as_deref().map(str::trim).filter(|q| !q.is_empty());
        let q_pattern = crate::paging::contains(q);
        let filter = ballot_store::BallotFilter {
            matter: m.id,
            channel: channel.as_deref(),
            voided: voided.0,
            q,
            q_pattern: q_pattern.as_deref(),
        };
        let total = ballot_store::ballot_count(&conn, &filter).await?;
        let rows =
            ballot_store::ballot_page(&conn, &filter, paging.limit(), paging.offset()).await?;
        audit::record(&conn, &principal, "matter", &m.id.to_string()).await?;
        conn.commit().await?;
        let election = m.kind == "election";
        let items = rows.into_iter().map(|r| ballot_view(r, election)).collect();
        Ok(Json(BallotPage::new(items, total, paging)))
    }

    /// 公开账本 / The published ledger: roll (unit, area), entries (unit, area, choice,
    /// hashes) and the Merkle root. No names or phones.
    #[oai(
        path = "/api/matters/:id/ledger",
        method = "get",
        operation_id = "matter_ledger"
    )]
    async fn ledger(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<serde_json::Value>> {
        let (conn, m) = ledger_snapshot(&state, &tenant, &principal, id.0).await?;
        let published = service::published(&conn, &m).await?;
        conn.commit().await?;
        Ok(Json(
            serde_json::to_value(published).map_err(ApiError::internal)?,
        ))
    }

    /// 验证账本 / Recompute every hash, the root and the tally from the published ledger alone.
    #[oai(
        path = "/api/matters/:id/ledger/verification",
        method = "get",
        operation_id = "matter_ledger_verify"
    )]
    async fn verify(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<LedgerVerification>> {
        let (conn, m) = ledger_snapshot(&state, &tenant, &principal, id.0).await?;
        // What the transparency log holds of this ledger must be in it, as logged: a ledger
        // stripped of its signatures and relabelled as older is caught here.
        let logged = crate::transparency::store::logged_checkpoints(&conn, tenant.id, m.id).await?;
        let logged_result =
            crate::transparency::store::logged_result(&conn, tenant.id, m.id).await?;
        // One read: the whole ledger for the server's recount, sealed in memory for the public
        // checks while voting is open. The close will reveal exactly what the recount uses.
        let whole = service::whole_ledger(&conn, &m).await?;
        let sealed = service::seals_choices(&m);
        let sealed_recount = sealed.then(|| ledger::verify(&whole));
        let mut published = if sealed { whole.sealed() } else { whole };
        published.log = service::log_inclusion(&conn, &m).await?;
        // Only keys this service derives: one added to the database by hand vouches for nothing.
        let mut keys: Vec<_> = signing::published_keys(&conn, Some(&tenant.slug))
            .await?
            .into_iter()
            .map(|(k, _)| k)
            .filter(signing::derives)
            .collect();
        keys.push(signing::log_key()?);
        let v = ledger::verify_with_keys(&published, &keys);
        let log_mismatches = crate::transparency::store::log_mismatches(
            &published,
            &logged,
            logged_result.as_deref(),
        );
        let recount = sealed_recount.as_ref().unwrap_or(&v);
        // The ledger alone must give the same figures as the ballots table.
        let tally_matches = if published.candidates.is_empty() {
            let live = service::live_tally(&conn, &m).await?;
            recount
                .tally
                .as_ref()
                .is_some_and(|t| same_result(t, &live))
        } else {
            let live = service::live_candidate_tallies(&conn, &m).await?;
            recount.candidates.len() == live.len()
                && recount
                    .candidates
                    .iter()
                    .zip(&live)
                    .all(|((a, x), (b, y))| a == b && same_result(x, y))
        };
        conn.commit().await?;
        Ok(Json(LedgerVerification {
            intact: v.intact() && tally_matches && log_mismatches.is_empty(),
            log_mismatches,
            tally_matches,
            altered_entries: v.altered_entries,
            opening_matches: v.opening_matches,
            broken_checkpoints: v.broken_checkpoints,
            root_matches: v.root_matches,
            recomputed_root: v.recomputed_root,
            sealed,
            broken_commitments: v.broken_commitments,
            recomputed: v.tally.as_ref().map(|t| tally_view(t, &m.status, false)),
            order_matches: v.order_matches,
            units_mismatched: v.units_mismatched,
            rules_match_preset: v.rules_match_preset,
            version_consistent: v.version_consistent,
            inconsistent_marks: v.inconsistent_marks,
            unsigned_checkpoints: v.unsigned_checkpoints,
            bad_signatures: v.bad_signatures,
            root_signed: v.root_signed,
            log_included: v.log_included,
        }))
    }
}

/// The matter (opened first if due) in a snapshot transaction, once `principal` may see it: the
/// ledger, its log proof and the live tally are then read as of one moment.
async fn ledger_snapshot(
    state: &AppState,
    tenant: &Tenant,
    principal: &Principal,
    id: Uuid,
) -> ApiResult<(TenantConn, Matter)> {
    let conn = TenantConn::begin(&state.pool, tenant).await?;
    let m = service::open_if_due(&conn, id).await?;
    service::visible_to(&conn, principal, m.estate_id, &m.status).await?;
    conn.commit().await?;
    let snapshot = TenantConn::begin_snapshot(&state.pool, tenant).await?;
    let m = service::load(&snapshot, id, "").await?;
    Ok((snapshot, m))
}

/// A ballot as staff inspect it; an election ballot shows its picks, not a choice.
fn ballot_view(r: BallotRow, election: bool) -> BallotView {
    let channel = match r.channel.as_str() {
        "paper" => BallotChannel::Paper,
        "on_site" => BallotChannel::OnSite,
        _ => BallotChannel::Online,
    };
    let in_person = channel != BallotChannel::Online;
    BallotView {
        id: r.id,
        seq: r.seq,
        channel,
        choice: (!election).then(|| choice_input(&r.choice)),
        picks: r.picks,
        unit_codes: r.unit_codes,
        area: area::format(r.area_centi),
        voter_name: r.voter_name,
        voter_owner_id: r.voter_owner_id,
        entered_by: r.entered_by,
        cast_at: r.cast_at,
        signed_at: in_person.then_some(r.cast_at),
        entered_at: if in_person { r.entered_at } else { None },
        voided: r.voided,
        void_reason: r.void_reason,
        superseded: r.superseded,
        replaced: r.replaced,
        scan_attachment_id: r.scan_id,
    }
}

/// Every ballot of the matter as an xlsx sheet (names included: an inspection, audited): areas
/// as numbers, the time of each ballot as a date cell in Beijing time.
fn ballots_workbook(
    rows: &[ExportRow],
    superseded: &std::collections::BTreeSet<Uuid>,
    names: &std::collections::BTreeMap<Uuid, String>,
) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use crate::xlsx::{Column, Kind, Value};
    let columns = [
        Column::new("序号", 6.0, Kind::Count),
        Column::new("房屋", 18.0, Kind::Text),
        Column::new("面积（㎡）", 10.0, Kind::Area),
        Column::new("投票人", 12.0, Kind::Text),
        Column::new("渠道", 8.0, Kind::Text),
        Column::new("选择", 16.0, Kind::Text),
        Column::new("状态", 8.0, Kind::Text),
        Column::new("作废原因", 16.0, Kind::Text),
        Column::new("投票时间", 19.0, Kind::Time),
    ];
    let lines = rows.iter().map(|r| {
        let status = if r.voided_at.is_some() {
            "作废"
        } else if superseded.contains(&r.id) {
            "被取代"
        } else {
            "有效"
        };
        let channel = match r.channel.as_str() {
            "paper" => "纸质票",
            "on_site" => "现场投票",
            _ => "线上",
        };
        let choice = match (&r.picks, r.choice.as_str()) {
            (Some(picks), _) if picks.is_empty() => "（未选任何人）".to_string(),
            (Some(picks), _) => picks
                .iter()
                .map(|p| names.get(p).map(String::as_str).unwrap_or("?"))
                .collect::<Vec<_>>()
                .join("、"),
            (None, "agree") => "同意".into(),
            (None, "disagree") => "反对".into(),
            (None, _) => "弃权".into(),
        };
        vec![
            Value::Count(r.seq),
            Value::Text(r.unit_codes.clone().unwrap_or_default()),
            Value::Centi(r.area_centi),
            Value::Text(
                r.voter_name
                    .clone()
                    .unwrap_or_else(|| "（工作人员录入）".into()),
            ),
            Value::Text(channel.into()),
            Value::Text(choice),
            Value::Text(status.into()),
            Value::Text(r.void_reason.clone().unwrap_or_default()),
            Value::Time(r.cast_at),
        ]
    });
    let mut wb = rust_xlsxwriter::Workbook::new();
    crate::xlsx::export_sheet(&mut wb, "选票明细", &columns, lines)?;
    wb.save_to_buffer()
}

/// The ledger groups persons by pseudonymous codes, so compare the figures, not the keys.
fn same_result(a: &Tally, b: &Tally) -> bool {
    (
        a.totals,
        a.participants,
        a.agree,
        a.disagree,
        a.abstain,
        a.invalid,
        a.passed,
    ) == (
        b.totals,
        b.participants,
        b.agree,
        b.disagree,
        b.abstain,
        b.invalid,
        b.passed,
    )
}
