//! Ballots: cast online (owners), entered from paper (staff), voided; the live tally, the
//! units yet to vote, and the public, verifiable ledger.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{param::Path, payload::Json, ApiResponse, Enum, Object, OpenApi};
use uuid::Uuid;

use super::{
    api::visible_to,
    ledger::{self, EntryKind},
    service::{self, choice_str, Matter},
    tally::{Check, Choice, Counts, Tally},
};
use crate::{
    app::AppState,
    audit,
    auth::{principal::Principal, BearerAuth},
    authz::jurisdiction::Jurisdiction,
    error::{ApiError, ApiResult},
    housing::area,
    openapi::ApiTags,
    tenancy::{conn::TenantConn, Tenant},
};

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
    /// Client-chosen key: retrying with it returns the same receipt instead of a second ballot.
    pub idempotency_key: String,
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
    pub unit_codes: String,
    /// m², exact.
    pub area: String,
    pub choice: ChoiceInput,
    /// An election ballot's picks (candidate ids).
    pub picks: Option<Vec<Uuid>>,
    pub cast_at: DateTime<Utc>,
}

#[derive(ApiResponse)]
pub enum Cast {
    #[oai(status = 201)]
    Created(Json<Receipt>),
    /// The same idempotency key again: the original receipt.
    #[oai(status = 200)]
    Repeated(Json<Receipt>),
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CountsView {
    pub heads: i64,
    /// m², exact.
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
    pub shortfall_area: Option<String>,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TallyView {
    pub rule_set: String,
    pub totals: CountsView,
    pub participants: CountsView,
    pub agree: CountsView,
    pub disagree: CountsView,
    pub abstain: CountsView,
    pub invalid: CountsView,
    /// Delivered non-voters counted with the majority (从众), where the matter allows it.
    pub followers: CountsView,
    pub participation: Option<CheckView>,
    pub approval: CheckView,
    pub passed: bool,
    pub status: String,
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
    /// The tally recomputed from the published ledger alone equals the live tally.
    pub tally_matches: bool,
    pub recomputed: Option<TallyView>,
}

pub fn counts(c: Counts) -> CountsView {
    CountsView { heads: c.heads, area: area::format(c.area_centi) }
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

pub(crate) fn tally_view(t: &Tally, status: &str) -> TallyView {
    TallyView {
        rule_set: t.rule_set.clone(),
        totals: counts(t.totals),
        participants: counts(t.participants),
        agree: counts(t.agree),
        disagree: counts(t.disagree),
        abstain: counts(t.abstain),
        invalid: counts(t.invalid),
        followers: counts(t.followers),
        participation: t.participation.as_ref().map(check),
        approval: check(&t.approval),
        passed: t.passed,
        status: status.to_string(),
    }
}

fn choice_input(s: &str) -> ChoiceInput {
    match s {
        "agree" => ChoiceInput::Agree,
        "disagree" => ChoiceInput::Disagree,
        _ => ChoiceInput::Abstain,
    }
}

pub(crate) async fn receipt(conn: &TenantConn, ballot: Uuid) -> ApiResult<Receipt> {
    let r = conn
        .query_one(
            "SELECT b.id, b.matter_id, l.seq, l.hash, l.unit_codes, l.area_centi, b.choice, b.cast_at, b.picks
               FROM ballots b JOIN ledger_entries l ON l.ballot_id = b.id AND l.kind = 'cast' WHERE b.id = $1",
            &[&ballot],
        )
        .await?;
    Ok(Receipt {
        ballot_id: r.get(0),
        matter_id: r.get(1),
        ledger_seq: r.get(2),
        entry_hash: r.get(3),
        unit_codes: r.get(4),
        area: area::format(r.get(5)),
        choice: choice_input(r.get(6)),
        picks: r.get(8),
        cast_at: r.get(7),
    })
}

fn not_open() -> ApiError {
    ApiError::conflict("ballot.not_open", "当前不在投票时间内", "Voting is not open")
}

/// The matter, opened if due, locked shared so it cannot close or be cancelled mid-cast.
pub(crate) async fn open_matter(conn: &TenantConn, id: Uuid) -> ApiResult<Matter> {
    // The matter lock before the row lock, in the order closing takes them.
    service::lock_matter(conn, id, false).await?;
    service::open_if_due(conn, id).await?;
    let m = service::load(conn, id, "").await?;
    let now = Utc::now();
    if m.status != "open" || now < m.opens_at || now >= m.closes_at {
        return Err(not_open());
    }
    Ok(m)
}

/// The person a unit votes for, locked (read again once locked, in case the unit moved).
pub(crate) async fn lock_unit_holder(conn: &TenantConn, m: &Matter, unit: Uuid) -> ApiResult<String> {
    let read = || async {
        conn.query_opt("SELECT holder_key FROM matter_roll WHERE matter_id = $1 AND unit_id = $2", &[&m.id, &unit])
            .await?
            .map(|r| r.get::<_, String>(0))
            .ok_or_else(|| ApiError::field("unit_id", "ballot.unit_not_in_scope", "该房屋不在本次投票范围内", "The unit is not in this vote's scope"))
    };
    for _ in 0..3 {
        let holder = read().await?;
        lock_person(conn, m, &holder).await?;
        if read().await? == holder {
            return Ok(holder);
        }
    }
    Err(ApiError::conflict("ballot.retry", "房屋信息正在变更，请稍后重试", "The roll is changing; try again"))
}

/// A paper ballot's signing time lies within the voting window and not in the future.
pub(crate) fn check_signed_at(m: &Matter, signed_at: Option<DateTime<Utc>>) -> ApiResult<Option<DateTime<Utc>>> {
    match signed_at {
        Some(t) if t < m.opens_at || t > Utc::now() => {
            Err(ApiError::field("signed_at", "ballot.signed_at", "签署时间须在投票开始之后、当前时间之前", "signed_at must lie between the opening and now"))
        }
        other => Ok(other),
    }
}

pub(crate) async fn lock_person(conn: &TenantConn, m: &Matter, holder_key: &str) -> ApiResult<()> {
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('person:' || $1::uuid::text || ':' || $2))", &[&m.id, &holder_key]).await?;
    Ok(())
}

async fn holders_of(conn: &TenantConn, m: &Matter, units: &[Uuid]) -> ApiResult<Vec<String>> {
    Ok(conn
        .query("SELECT DISTINCT holder_key FROM matter_roll WHERE matter_id = $1 AND unit_id = ANY($2) ORDER BY 1", &[&m.id, &units])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// A unit sold after voting opened whose seller had not voted before the sale votes on its
/// own, for its new owner, with its own area only (VOTING-RULES §2, Beijing). `as_of`: when
/// the ballot at hand was cast (a paper ballot: when it was signed); only sales before then
/// split. The seller's person is locked first, so no ballot of theirs is being cast meanwhile.
/// Each split is a regroup entry in the ledger.
pub(crate) async fn split_sold_units(conn: &TenantConn, m: &Matter, units: &[Uuid], as_of: DateTime<Utc>) -> ApiResult<()> {
    let due: Vec<(Uuid, String)> = conn
        .query(
            "SELECT DISTINCT r.unit_id, r.holder_key FROM matter_roll r JOIN matters m ON m.id = r.matter_id
               JOIN unit_transfers t ON t.unit_id = r.unit_id AND t.created_at > m.opened_at AND t.created_at <= $3
              WHERE r.matter_id = $1 AND r.unit_id = ANY($2) AND r.holder_key NOT LIKE 'unit:%'",
            &[&m.id, &units, &as_of],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let mut sellers: Vec<&String> = due.iter().map(|d| &d.1).collect();
    sellers.sort();
    sellers.dedup();
    for seller in sellers {
        lock_person(conn, m, seller).await?;
    }
    let split = conn
        .query(
            "UPDATE matter_roll r SET holder_key = 'unit:' || r.unit_id
               FROM matters m, unit_transfers t
              WHERE r.matter_id = $1 AND r.unit_id = ANY($2) AND r.holder_key NOT LIKE 'unit:%'
                AND m.id = $1 AND t.unit_id = r.unit_id AND t.created_at > m.opened_at AND t.created_at <= $3
                AND NOT EXISTS (SELECT 1 FROM ballots b WHERE b.matter_id = $1 AND b.holder_key = r.holder_key AND b.cast_at < t.created_at)
          RETURNING r.unit_id",
            &[&m.id, &due.iter().map(|d| d.0).collect::<Vec<_>>(), &as_of],
        )
        .await?;
    for row in split {
        service::append_unit_event(conn, m, row.get(0), EntryKind::Regroup).await?;
    }
    Ok(())
}

/// A ballot as it is to be stored.
pub(crate) struct NewBallot<'a> {
    pub channel: &'a str,
    pub choice: Choice,
    /// An election ballot's picks.
    pub picks: Option<&'a [Uuid]>,
    pub voter: Option<Uuid>,
    pub entered_by: Option<Uuid>,
    pub signature: Option<Uuid>,
    pub scan: Option<Uuid>,
    pub idempotency_key: Option<&'a str>,
    /// When a paper ballot was signed; `None`: now (the database's clock).
    pub cast_at: Option<DateTime<Utc>>,
    /// A spoiled paper ballot: kept as marked, void from the start, with this reason.
    pub void_reason: Option<String>,
}

pub(crate) async fn insert_ballot(conn: &TenantConn, m: &Matter, holder_key: &str, b: NewBallot<'_>) -> ApiResult<Uuid> {
    let id = Uuid::new_v4();
    let inserted = conn
        .execute(
            // Never a ballot for a person who no longer holds any unit of the roll.
            "INSERT INTO ballots (id, matter_id, seq, holder_key, channel, choice, voter_owner_id, entered_by, signature_id, scan_id, idempotency_key,
                                  picks, cast_at, voided_at, void_reason)
             SELECT $1, $2, nextval('ballot_seq'), $3, $4, $5, $6, $7, $8, $9, $10, $11, coalesce($12, now()), CASE WHEN $13::text IS NULL THEN NULL ELSE now() END, $13
              WHERE EXISTS (SELECT 1 FROM matter_roll WHERE matter_id = $2 AND holder_key = $3)",
            &[&id, &m.id, &holder_key, &b.channel, &choice_str(b.choice), &b.voter, &b.entered_by, &b.signature, &b.scan, &b.idempotency_key, &b.picks, &b.cast_at, &b.void_reason],
        )
        .await?;
    if inserted != 1 {
        return Err(ApiError::conflict("ballot.retry", "房屋信息正在变更，请稍后重试", "The roll is changing; try again"));
    }
    service::append(conn, m, id, EntryKind::Cast).await?;
    if b.void_reason.is_some() {
        service::append(conn, m, id, EntryKind::Void).await?;
    }
    // After the void: a spoiled ballot never sets a valid one aside.
    service::mark_superseded(conn, m, holder_key).await?;
    Ok(id)
}

/// A paper or on-site ballot as staff enter it.
pub(crate) struct PaperBallot<'a> {
    pub unit: Uuid,
    pub channel: PaperChannel,
    pub choice: Choice,
    pub picks: Option<&'a [Uuid]>,
    /// A spoiled ballot: kept as marked, void, with this reason.
    pub void_reason: Option<String>,
    pub scan: Uuid,
    pub signed_at: Option<DateTime<Utc>>,
}

/// Enters a paper or on-site ballot for the person the unit votes for (a unit sold before it
/// was signed is the buyer's), with its scan, audited, and commits.
pub(crate) async fn enter_paper(conn: TenantConn, principal: &Principal, m: &Matter, p: PaperBallot<'_>) -> ApiResult<Cast> {
    let signed_at = check_signed_at(m, p.signed_at)?;
    split_sold_units(&conn, m, &[p.unit], signed_at.unwrap_or_else(Utc::now)).await?;
    let holder = lock_unit_holder(&conn, m, p.unit).await?;
    if conn.query_opt("SELECT 1 FROM attachments WHERE id = $1 AND uploader_kind = 'staff'", &[&p.scan]).await?.is_none() {
        return Err(ApiError::field("scan_attachment_id", "ballot.scan_required", "请先上传纸质选票的扫描件", "Upload the scanned ballot first"));
    }
    let channel = if p.channel == PaperChannel::Paper { "paper" } else { "on_site" };
    let (_, staff) = principal.actor();
    let new = NewBallot {
        channel,
        choice: p.choice,
        picks: p.picks,
        voter: None,
        entered_by: staff,
        signature: None,
        scan: Some(p.scan),
        idempotency_key: None,
        cast_at: signed_at,
        void_reason: p.void_reason,
    };
    let ballot = insert_ballot(&conn, m, &holder, new)
        .await
        .map_err(|e| if e.code == "conflict.duplicate" { ApiError::conflict("ballot.already_entered", "该户的纸质票已录入", "A ballot of this channel was already entered for this voter") } else { e })?;
    audit::record(&conn, principal, "ballot", &ballot.to_string()).await?;
    let r = receipt(&conn, ballot).await?;
    conn.commit().await?;
    crate::metrics::ballot_cast(channel);
    Ok(Cast::Created(Json(r)))
}

/// The owner's own uploaded signature image, where one is required.
pub(crate) async fn check_signature(conn: &TenantConn, owner: Uuid, signature: Option<Uuid>) -> ApiResult<()> {
    let ok = match signature {
        Some(sig) => conn
            .query_opt("SELECT 1 FROM attachments WHERE id = $1 AND purpose = 'signature' AND uploader_kind = 'owner' AND uploader_id = $2", &[&sig, &owner])
            .await?
            .is_some(),
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::field("signature_attachment_id", "ballot.signature_required", "需要手写签名，请先上传签名图片", "A signature image is required"))
    }
}

/// An owner's online ballot.
pub(crate) struct OnlineBallot<'a> {
    pub owner: Uuid,
    pub key: &'a str,
    pub choice: Choice,
    pub picks: Option<Vec<Uuid>>,
    pub signature: Option<Uuid>,
}

/// Casts an online ballot in the open matter (or election round) `m`, idempotently per key,
/// one per person, and commits. Callers have checked what is particular to them.
pub(crate) async fn cast_online(conn: TenantConn, m: &Matter, c: OnlineBallot<'_>) -> ApiResult<Cast> {
    // A retry waits for the first attempt (same owner), then finds its receipt.
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('ballot:' || $1::uuid::text || ':' || $2::uuid::text))", &[&m.id, &c.owner]).await?;
    if let Some(row) = conn
        .query_opt("SELECT id FROM ballots WHERE matter_id = $1 AND voter_owner_id = $2 AND idempotency_key = $3", &[&m.id, &c.owner, &c.key])
        .await?
    {
        let r = receipt(&conn, row.get(0)).await?;
        conn.commit().await?;
        return Ok(Cast::Repeated(Json(r)));
    }
    let units: Vec<Uuid> = conn
        .query(
            "SELECT h.unit_id FROM unit_holders h JOIN matter_roll r ON r.matter_id = $1 AND r.unit_id = h.unit_id
              WHERE h.owner_id = $2 AND h.ended_at IS NULL",
            &[&m.id, &c.owner],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    split_sold_units(&conn, m, &units, Utc::now()).await?;
    // The person (holder key) of the units I hold, within the frozen roll, locked: co-owners
    // and a paper entry for the same person wait for each other. Read again once locked, in
    // case a unit moved to another person meanwhile.
    let mut tries = 0;
    let holder = loop {
        let holders = holders_of(&conn, m, &units).await?;
        let [holder] = holders.as_slice() else {
            return Err(if holders.is_empty() {
                ApiError::forbidden("ballot.not_a_voter", "您在本次表决范围内没有已认证的房屋", "You hold no verified unit in this vote's scope")
            } else {
                ApiError::conflict(
                    "ballot.several_persons",
                    "您名下的房屋在本次表决中分属不同的投票人（例如您是他人房屋的共有人），请联系居委会现场核实后投票",
                    "Your units belong to different voters in this vote (e.g. you co-own someone else's unit); vote in person",
                )
            });
        };
        lock_person(&conn, m, holder).await?;
        if holders_of(&conn, m, &units).await? == holders {
            break holder.clone();
        }
        tries += 1;
        if tries >= 3 {
            return Err(ApiError::conflict("ballot.retry", "房屋信息正在变更，请稍后重试", "The roll is changing; try again"));
        }
    };
    let holder = &holder;
    let earlier = conn
        .query(
            "SELECT b.id, o.real_name, (SELECT string_agg(r.unit_code, ',') FROM matter_roll r WHERE r.matter_id = b.matter_id AND r.holder_key = b.holder_key),
                    b.replaced_at IS NULL, b.voter_owner_id
               FROM ballots b LEFT JOIN owners o ON o.id = b.voter_owner_id
              WHERE b.matter_id = $1 AND b.holder_key = $2 AND b.channel = 'online' ORDER BY b.seq",
            &[&m.id, holder],
        )
        .await?;
    // Where the matter allows it, the voter who cast the standing ballot may change it once.
    let mut replaces = None;
    if let Some(current) = earlier.iter().find(|r| r.get::<_, bool>(3)) {
        let mine = current.get::<_, Option<Uuid>>(4) == Some(c.owner);
        if m.settings.allow_vote_change && mine && earlier.len() == 1 {
            replaces = Some(current.get::<_, Uuid>(0));
        } else {
            let who: Option<String> = current.get(1);
            let units: Option<String> = current.get(2);
            let (zh, en) = if mine && m.settings.allow_vote_change {
                ("您已改过一次票，不能再改".to_string(), "You have already changed your vote once")
            } else {
                (
                    format!("房屋 {} 已由{}投票，每套房屋只能投一票", units.unwrap_or_default(), who.map(|n| format!(" {n} ")).unwrap_or_else(|| "他人".into())),
                    "This unit has already voted",
                )
            };
            return Err(ApiError::conflict("ballot.already_cast", zh, en));
        }
    }
    if let Some(old) = replaces {
        conn.execute("UPDATE ballots SET replaced_at = now() WHERE id = $1", &[&old]).await?;
    }
    if m.signature_required {
        check_signature(&conn, c.owner, c.signature).await?;
    }
    let new = NewBallot {
        channel: "online",
        choice: c.choice,
        picks: c.picks.as_deref(),
        voter: Some(c.owner),
        entered_by: None,
        signature: c.signature,
        scan: None,
        idempotency_key: Some(c.key),
        cast_at: None,
        void_reason: None,
    };
    let ballot = insert_ballot(&conn, m, holder, new).await?;
    let r = receipt(&conn, ballot).await?;
    conn.commit().await?;
    crate::metrics::ballot_cast("online");
    Ok(Cast::Created(Json(r)))
}

pub struct BallotsApi;

#[OpenApi(tag = "ApiTags::Matters")]
impl BallotsApi {
    /// 投票 / Cast my ballot: one per person per matter, carrying all my units in scope.
    #[oai(path = "/api/matters/:id/ballots", method = "post", operation_id = "ballot_cast")]
    async fn cast(&self, state: Data<&AppState>, tenant: Data<&Tenant>, principal: Data<&Principal>, id: Path<Uuid>, body: Json<CastInput>, _auth: BearerAuth) -> ApiResult<Cast> {
        let Principal::Owner { id: owner } = *principal else {
            return Err(ApiError::forbidden("authz.forbidden", "仅业主可以投票", "Owners only"));
        };
        let owner: Uuid = *owner;
        let key = body.idempotency_key.trim();
        if key.is_empty() || key.len() > 100 {
            return Err(ApiError::field("idempotency_key", "ballot.key_invalid", "请提供 1–100 个字符的请求标识", "idempotency_key must have 1–100 characters"));
        }
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let m = open_matter(&conn, id.0).await?;
        if m.kind != "matter" {
            return Err(ApiError::conflict("ballot.use_election", "选举请通过选举投票", "Vote in an election through the election"));
        }
        let ballot = OnlineBallot { owner, key, choice: body.choice.into(), picks: None, signature: body.signature_attachment_id };
        cast_online(conn, &m, ballot).await
    }

    /// 录入纸质票 / Enter a paper or on-site ballot with its scan (the channel rule decides).
    #[oai(path = "/api/matters/:id/paper-ballots", method = "post", operation_id = "ballot_enter_paper")]
    async fn paper(&self, state: Data<&AppState>, tenant: Data<&Tenant>, principal: Data<&Principal>, id: Path<Uuid>, body: Json<PaperInput>, _auth: BearerAuth) -> ApiResult<Cast> {
        let scope = Jurisdiction::of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let m = open_matter(&conn, id.0).await?;
        scope.check_estate(&conn, m.estate_id).await.map_err(|_| service::not_found())?;
        if m.kind != "matter" {
            return Err(ApiError::conflict("ballot.use_election", "选举的纸质票请在选举中录入", "Enter an election's paper ballots through the election"));
        }
        let paper = PaperBallot {
            unit: body.unit_id,
            channel: body.channel,
            choice: body.choice.into(),
            picks: None,
            void_reason: None,
            scan: body.scan_attachment_id,
            signed_at: body.signed_at,
        };
        enter_paper(conn, &principal, &m, paper).await
    }

    /// 作废选票 / Void a ballot with a reason (kept, counted as invalid).
    #[oai(path = "/api/ballots/:id/void", method = "post", operation_id = "ballot_void")]
    async fn void(&self, state: Data<&AppState>, tenant: Data<&Tenant>, principal: Data<&Principal>, id: Path<Uuid>, body: Json<VoidInput>, _auth: BearerAuth) -> ApiResult<Json<Receipt>> {
        let scope = Jurisdiction::of(&principal)?;
        if body.reason.trim().is_empty() {
            return Err(ApiError::field("reason", "required", "请填写作废原因", "A reason is required"));
        }
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let matter: Uuid = conn
            .query_opt("SELECT matter_id FROM ballots WHERE id = $1", &[&id.0])
            .await?
            .ok_or_else(|| ApiError::not_found("ballot.not_found", "选票不存在", "Ballot not found"))?
            .get(0);
        let m = open_matter(&conn, matter).await?;
        scope.check_estate(&conn, m.estate_id).await.map_err(|_| ApiError::not_found("ballot.not_found", "选票不存在", "Ballot not found"))?;
        let n = conn
            .execute("UPDATE ballots SET voided_at = now(), void_reason = $2 WHERE id = $1 AND voided_at IS NULL", &[&id.0, &body.reason.trim()])
            .await?;
        if n == 0 {
            return Err(ApiError::conflict("ballot.already_void", "该选票已作废", "Already voided"));
        }
        service::append(&conn, &m, id.0, EntryKind::Void).await?;
        audit::record(&conn, &principal, "ballot", &id.0.to_string()).await?;
        let r = receipt(&conn, id.0).await?;
        conn.commit().await?;
        Ok(Json(r))
    }

    /// 送达记录 / Record that a unit's ballot was delivered (for the 从众 clause).
    #[oai(path = "/api/matters/:id/deliveries", method = "post", operation_id = "matter_delivery_record")]
    async fn delivery(&self, state: Data<&AppState>, tenant: Data<&Tenant>, principal: Data<&Principal>, id: Path<Uuid>, body: Json<DeliveryInput>, _auth: BearerAuth) -> ApiResult<Recorded> {
        let scope = Jurisdiction::of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let m = open_matter(&conn, id.0).await?;
        scope.check_estate(&conn, m.estate_id).await.map_err(|_| service::not_found())?;
        if conn.query_opt("SELECT 1 FROM matter_roll WHERE matter_id = $1 AND unit_id = $2", &[&m.id, &body.unit_id]).await?.is_none() {
            return Err(ApiError::field("unit_id", "ballot.unit_not_in_scope", "该房屋不在本次表决范围内", "The unit is not in this vote's scope"));
        }
        if conn.query_opt("SELECT 1 FROM attachments WHERE id = $1 AND uploader_kind = 'staff'", &[&body.proof_attachment_id]).await?.is_none() {
            return Err(ApiError::field("proof_attachment_id", "delivery.proof_required", "请先上传送达凭证", "Upload the proof of delivery first"));
        }
        let (_, staff) = principal.actor();
        let recorded = conn
            .execute(
                "INSERT INTO matter_deliveries (matter_id, unit_id, proof_id, staff_id) VALUES ($1, $2, $3, $4) ON CONFLICT (matter_id, unit_id) DO NOTHING",
                &[&m.id, &body.unit_id, &body.proof_attachment_id, &staff],
            )
            .await?;
        if recorded == 1 {
            service::append_unit_event(&conn, &m, body.unit_id, EntryKind::Delivery).await?;
        }
        audit::record(&conn, &principal, "matter", &m.id.to_string()).await?;
        conn.commit().await?;
        Ok(Recorded::Recorded)
    }

    /// 实时统计 / Live tally (after close: the result).
    #[oai(path = "/api/matters/:id/tally", method = "get", operation_id = "matter_tally")]
    async fn tally(&self, state: Data<&AppState>, tenant: Data<&Tenant>, principal: Data<&Principal>, id: Path<Uuid>, _auth: BearerAuth) -> ApiResult<Json<TallyView>> {
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let m = service::open_if_due(&conn, id.0).await?;
        visible_to(&conn, &principal, m.estate_id, &m.status).await?;
        if m.kind != "matter" {
            return Err(ApiError::conflict("matter.is_election", "这是选举的投票，请查看选举统计", "This is an election's vote: see the election tally"));
        }
        let t = service::live_tally(&conn, &m).await?;
        conn.commit().await?;
        Ok(Json(tally_view(&t, &m.status)))
    }

    /// 未投票房屋 / Units not yet voted, by building (staff, for door-to-door visits).
    #[oai(path = "/api/matters/:id/not-voted", method = "get", operation_id = "matter_not_voted")]
    async fn not_voted(&self, state: Data<&AppState>, tenant: Data<&Tenant>, principal: Data<&Principal>, id: Path<Uuid>, _auth: BearerAuth) -> ApiResult<Json<Vec<BuildingToVisit>>> {
        let scope = Jurisdiction::of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let m = service::open_if_due(&conn, id.0).await?;
        scope.check_estate(&conn, m.estate_id).await.map_err(|_| service::not_found())?;
        let rows = conn
            .query(
                "SELECT r.building, array_agg(r.unit_code ORDER BY length(r.unit_code), r.unit_code) FROM matter_roll r
                  WHERE r.matter_id = $1 AND NOT EXISTS (SELECT 1 FROM ballots b WHERE b.matter_id = r.matter_id AND b.holder_key = r.holder_key)
                  GROUP BY r.building ORDER BY length(r.building), r.building",
                &[&m.id],
            )
            .await?;
        conn.commit().await?;
        Ok(Json(rows.iter().map(|r| BuildingToVisit { building: r.get(0), unit_codes: r.get(1) }).collect()))
    }

    /// 导出选票 / Every ballot with voter, channel, choice and status as xlsx (staff; audited).
    #[oai(path = "/api/matters/:id/ballots/export", method = "get", operation_id = "ballot_export")]
    async fn export(&self, state: Data<&AppState>, tenant: Data<&Tenant>, principal: Data<&Principal>, id: Path<Uuid>, _auth: BearerAuth) -> ApiResult<crate::xlsx::XlsxFile> {
        let scope = Jurisdiction::of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let m = service::open_if_due(&conn, id.0).await?;
        scope.check_estate(&conn, m.estate_id).await.map_err(|_| service::not_found())?;
        let rows = conn
            .query(
                "SELECT b.id, b.seq,
                        (SELECT string_agg(r.unit_code, ',' ORDER BY r.unit_code) FROM matter_roll r WHERE r.matter_id = b.matter_id AND r.holder_key = b.holder_key),
                        (SELECT coalesce(sum(r.area_centi), 0)::bigint FROM matter_roll r WHERE r.matter_id = b.matter_id AND r.holder_key = b.holder_key),
                        o.real_name, b.channel, b.choice, b.voided_at, b.void_reason, b.cast_at, b.picks
                   FROM ballots b LEFT JOIN owners o ON o.id = b.voter_owner_id
                  WHERE b.matter_id = $1 ORDER BY b.seq",
                &[&m.id],
            )
            .await?;
        let superseded: std::collections::BTreeSet<Uuid> = conn
            .query("SELECT ballot_id FROM ledger_entries WHERE matter_id = $1 AND kind = 'superseded'", &[&m.id])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        // An election's ballots show the names picked.
        let names: std::collections::BTreeMap<Uuid, String> = conn
            .query("SELECT c.id, c.name FROM candidates c JOIN elections e ON e.id = c.election_id WHERE e.matter_id = $1", &[&m.id])
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        audit::record(&conn, &principal, "matter", &m.id.to_string()).await?;
        conn.commit().await?;
        let bytes = tokio::task::spawn_blocking(move || ballots_workbook(&rows, &superseded, &names)).await.map_err(ApiError::internal)?.map_err(ApiError::internal)?;
        Ok(crate::xlsx::file(bytes, "选票明细.xlsx"))
    }

    /// 公开账本 / The published ledger: roll (unit, area), entries (unit, area, choice,
    /// hashes) and the Merkle root. No names or phones.
    #[oai(path = "/api/matters/:id/ledger", method = "get", operation_id = "matter_ledger")]
    async fn ledger(&self, state: Data<&AppState>, tenant: Data<&Tenant>, principal: Data<&Principal>, id: Path<Uuid>, _auth: BearerAuth) -> ApiResult<Json<serde_json::Value>> {
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let m = service::open_if_due(&conn, id.0).await?;
        visible_to(&conn, &principal, m.estate_id, &m.status).await?;
        let published = service::published(&conn, &m).await?;
        conn.commit().await?;
        Ok(Json(serde_json::to_value(published).map_err(ApiError::internal)?))
    }

    /// 验证账本 / Recompute every hash, the root and the tally from the published ledger alone.
    #[oai(path = "/api/matters/:id/ledger/verification", method = "get", operation_id = "matter_ledger_verify")]
    async fn verify(&self, state: Data<&AppState>, tenant: Data<&Tenant>, principal: Data<&Principal>, id: Path<Uuid>, _auth: BearerAuth) -> ApiResult<Json<LedgerVerification>> {
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let m = service::open_if_due(&conn, id.0).await?;
        visible_to(&conn, &principal, m.estate_id, &m.status).await?;
        let published = service::published(&conn, &m).await?;
        let v = ledger::verify(&published);
        // The ledger alone must give the same figures as the ballots table.
        let tally_matches = if published.candidates.is_empty() {
            let live = service::live_tally(&conn, &m).await?;
            v.tally.as_ref().is_some_and(|t| same_result(t, &live))
        } else {
            let live = service::live_candidate_tallies(&conn, &m).await?;
            v.candidates.len() == live.len() && v.candidates.iter().zip(&live).all(|((a, x), (b, y))| a == b && same_result(x, y))
        };
        conn.commit().await?;
        Ok(Json(LedgerVerification {
            tally_matches,
            altered_entries: v.altered_entries,
            opening_matches: v.opening_matches,
            broken_checkpoints: v.broken_checkpoints,
            root_matches: v.root_matches,
            recomputed_root: v.recomputed_root,
            recomputed: v.tally.as_ref().map(|t| tally_view(t, &m.status)),
        }))
    }
}

/// Every ballot of the matter as an xlsx sheet (names included: an inspection, audited).
fn ballots_workbook(
    rows: &[tokio_postgres::Row],
    superseded: &std::collections::BTreeSet<Uuid>,
    names: &std::collections::BTreeMap<Uuid, String>,
) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("选票明细")?;
    let bold = rust_xlsxwriter::Format::new().set_bold();
    let headers = ["序号", "房屋", "面积（㎡）", "投票人", "渠道", "选择", "状态", "作废原因", "投票时间"];
    for (c, h) in headers.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, *h, &bold)?;
        ws.set_column_width(c as u16, 16)?;
    }
    for (i, r) in rows.iter().enumerate() {
        let id: Uuid = r.get(0);
        let voided: Option<DateTime<Utc>> = r.get(7);
        let status = if voided.is_some() { "作废" } else if superseded.contains(&id) { "被取代" } else { "有效" };
        let channel = match r.get::<_, &str>(5) {
            "paper" => "纸质票",
            "on_site" => "现场投票",
            _ => "线上",
        };
        let choice = match (r.get::<_, Option<Vec<Uuid>>>(10), r.get::<_, &str>(6)) {
            (Some(picks), _) if picks.is_empty() => "（未选任何人）".to_string(),
            (Some(picks), _) => picks.iter().map(|p| names.get(p).map(String::as_str).unwrap_or("?")).collect::<Vec<_>>().join("、"),
            (None, "agree") => "同意".into(),
            (None, "disagree") => "反对".into(),
            (None, _) => "弃权".into(),
        };
        let cells = [
            r.get::<_, i64>(1).to_string(),
            r.get::<_, Option<String>>(2).unwrap_or_default(),
            area::format(r.get(3)),
            r.get::<_, Option<String>>(4).unwrap_or_else(|| "（工作人员录入）".into()),
            channel.into(),
            choice,
            status.into(),
            r.get::<_, Option<String>>(8).unwrap_or_default(),
            r.get::<_, DateTime<Utc>>(9).with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8")).format("%Y-%m-%d %H:%M:%S").to_string(),
        ];
        for (c, v) in cells.iter().enumerate() {
            ws.write_string(i as u32 + 1, c as u16, v)?;
        }
    }
    wb.save_to_buffer()
}

/// The ledger groups persons by pseudonymous codes, so compare the figures, not the keys.
fn same_result(a: &Tally, b: &Tally) -> bool {
    (a.totals, a.participants, a.agree, a.disagree, a.abstain, a.invalid, a.passed) == (b.totals, b.participants, b.agree, b.disagree, b.abstain, b.invalid, b.passed)
}
