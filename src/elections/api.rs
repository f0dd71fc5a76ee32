//! Owners'-committee elections (选届 and its rounds): terms, candidates, ballots, statistics,
//! the count with its seat order, further rounds, and appointing the elected.

use crate::paging::Paging;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::{
    param::{Header, Path},
    payload::Json,
    ApiResponse, Object, OpenApi,
};
use uuid::Uuid;

use super::{
    count, locality,
    rounds::{self, NewRound, Round, VerificationMode, VotingInput},
    service::{self as steps, spoiled},
    store::{self, CandidateRow, TermRow},
};
use crate::{
    audit,
    auth::{principal::Principal, required},
    authz::jurisdiction::Jurisdiction,
    error::{ApiError, ApiResult, FieldIssue},
    housing::{area, owner_api::owner_of, store::holds_unit},
    state::AppState,
    tags::ApiTags,
    tenancy::{conn::TenantConn, Tenant},
    voting::{
        ballots_api::{self, counts, Cast, CountsView, PaperChannel},
        casting::{self, OnlineBallot, PaperBallot},
        service,
        tally::Choice,
    },
};

crate::page_of!(ElectionPage, ElectionView);
crate::page_of!(TermPage, TermView);

#[derive(Object)]
pub struct TermInput {
    /// e.g. 第二届业主委员会
    #[oai(validator(max_length = 50))]
    pub name: String,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    /// Odd, within the estate's locality range (5–11 by default).
    #[oai(validator(minimum(value = "1"), maximum(value = "99")))]
    pub seats: i32,
    #[oai(validator(max_length = 20), default)]
    pub phone: String,
}

#[derive(Object)]
pub struct TermView {
    pub id: Uuid,
    pub estate_id: Uuid,
    pub name: String,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub seats: i32,
    pub phone: String,
}

#[derive(ApiResponse)]
pub enum TermCreated {
    #[oai(status = 201)]
    Created(Json<TermView>),
}

#[derive(Object)]
pub struct ElectionInput {
    pub signup_opens_at: DateTime<Utc>,
    pub signup_closes_at: DateTime<Utc>,
    pub voting: VotingInput,
    pub verification_mode: VerificationMode,
}

#[derive(Object)]
pub struct CancelInput {
    #[oai(validator(max_length = 500))]
    pub reason: String,
}

#[derive(Object)]
pub struct NextRoundInput {
    pub voting: VotingInput,
}

/// Where an election round stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, poem_openapi::Enum)]
#[oai(rename_all = "snake_case")]
pub enum RoundStatus {
    /// 候选人报名中
    Signup,
    /// 报名结束，待投票
    AwaitingVote,
    /// 投票中
    Voting,
    /// 投票截止，待计票
    Counting,
    /// 已计票
    Counted,
    /// 已撤销
    Cancelled,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CandidateView {
    pub id: Uuid,
    /// Staff only.
    pub owner_id: Option<Uuid>,
    pub name: String,
    pub intro: String,
    pub status: super::ReviewStatus,
    pub reason: Option<String>,
    pub elected: bool,
    /// Staff only: the signed sign-up form's signature image (an attachment id).
    pub signature_attachment_id: Option<Uuid>,
    /// Staff only: what review compares (§3.7(3)): the units the candidate holds in the estate,
    /// each with the name registered on the roll.
    pub units: Option<Vec<super::holdings::HeldUnitView>>,
}

/// A counted round's declared result.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ElectionResultView {
    pub tally: ElectionTallyView,
    /// The root sealing the round's ballots, declared at the count.
    pub ledger_root: String,
    pub closed_at: Option<DateTime<Utc>>,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ElectionView {
    pub id: Uuid,
    pub estate_id: Uuid,
    pub estate_name: String,
    /// 第一届业主委员会选举 第1轮, or the preparatory group's owner seats.
    pub title: String,
    pub term_id: Option<Uuid>,
    pub prep_group_id: Option<Uuid>,
    /// 第n轮
    pub round: i32,
    /// Seats this round fills.
    pub seats: i32,
    pub signup_opens_at: DateTime<Utc>,
    pub signup_closes_at: DateTime<Utc>,
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
    pub status: RoundStatus,
    /// Why staff called the round off (cancelled rounds only).
    pub cancel_reason: Option<String>,
    pub verification_mode: String,
    pub rule_set: String,
    /// The matter the round votes through: its ledger, export, voids and not-voted list.
    pub matter_id: Uuid,
    /// Owners see approved candidates only.
    pub candidates: Vec<CandidateView>,
    /// Present once the round is counted.
    pub result: Option<ElectionResultView>,
}

#[derive(ApiResponse)]
pub enum ElectionCreated {
    #[oai(status = 201)]
    Created(Json<ElectionView>),
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SignupInput {
    #[oai(validator(max_length = 2000), default)]
    pub intro: String,
    /// An uploaded `signature` image.
    pub signature_attachment_id: Uuid,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ReviewInput {
    pub approve: bool,
    /// Required when rejecting.
    #[oai(validator(max_length = 500))]
    pub reason: Option<String>,
}

impl ReviewInput {
    /// The status to record and the reason (required to reject).
    pub fn decision(&self) -> ApiResult<(&'static str, Option<&str>)> {
        let reason = self
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty());
        match (self.approve, reason) {
            (true, reason) => Ok(("approved", reason)),
            (false, Some(reason)) => Ok(("rejected", Some(reason))),
            (false, None) => Err(ApiError::field(
                "reason",
                "required",
                "请填写驳回原因",
                "A reason is required",
            )),
        }
    }
}

#[derive(ApiResponse)]
pub enum SignedUp {
    #[oai(status = 201)]
    Created(Json<CandidateView>),
}

#[derive(Object)]
pub struct PicksInput {
    /// The candidates picked: at most as many as the round has seats.
    #[oai(validator(max_items = 99))]
    pub picks: Vec<Uuid>,
    pub signature_attachment_id: Option<Uuid>,
    /// Retrying with the same key returns the same receipt; the same key with other picks
    /// answers 422 `idempotency.mismatch`.
    /// Deprecated: send the `Idempotency-Key` header instead.
    #[oai(validator(max_length = 100), deprecated)]
    pub idempotency_key: Option<String>,
}

#[derive(Object)]
pub struct PaperPicksInput {
    pub unit_id: Uuid,
    /// As marked on paper; more than the seats makes the ballot void (kept, with the reason).
    #[oai(validator(max_items = 99))]
    pub picks: Vec<Uuid>,
    pub channel: PaperChannel,
    pub scan_attachment_id: Uuid,
    /// When the voter signed it (default: now); see `ballot_enter_paper`.
    pub signed_at: Option<DateTime<Utc>>,
    /// The owner on the roll who signed it; see `ballot_enter_paper`.
    pub signed_by_owner_id: Option<Uuid>,
    /// A ballot spoiled otherwise than by too many picks (废票), with its reason.
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
pub struct StandingView {
    pub candidate_id: Uuid,
    pub name: String,
    /// Absent for owners while voting is open (`choices_sealed` on the tally).
    pub votes: Option<CountsView>,
    /// Participation and this candidate's pass test both met (absent with `votes`).
    pub passed: Option<bool>,
    /// Set once the round is counted.
    pub elected: bool,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ElectionTallyView {
    pub totals: CountsView,
    pub participants: CountsView,
    /// Participation test met (heads and area).
    pub participation_passed: bool,
    pub participation_shortfall_heads: Option<i64>,
    #[oai(validator(pattern = r"^[0-9]+\.[0-9]{2}$"))]
    pub participation_shortfall_area: Option<String>,
    pub candidates: Vec<StandingView>,
    /// After the count: seats nobody filled (a next round may fill them).
    pub unfilled: Option<i32>,
    /// After the count: tied groups ordered by lot, as drawn (also in the audit log).
    pub lots: Vec<Vec<Uuid>>,
    /// Each candidate's votes are withheld from owners until the close, as on a matter's tally.
    pub choices_sealed: bool,
}

#[derive(Object)]
pub struct CommitteeView {
    pub term_id: Uuid,
    /// Owners now (or from the term's first day) holding the owners'-committee role.
    pub members: Vec<Uuid>,
    pub effective_from: DateTime<Utc>,
}

/// Sign-up is closed, saying when it runs (Beijing time).
pub fn signup_closed(opens: DateTime<Utc>, closes: DateTime<Utc>) -> ApiError {
    let local = |t: DateTime<Utc>| {
        t.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8"))
            .format("%Y-%m-%d %H:%M")
            .to_string()
    };
    ApiError::conflict(
        "election.signup_closed",
        format!(
            "不在报名时间内（报名时间：{} 至 {}）",
            local(opens),
            local(closes)
        ),
        format!(
            "Sign-up is not open (it runs from {} to {}, UTC+8)",
            local(opens),
            local(closes)
        ),
    )
}

impl From<TermRow> for TermView {
    fn from(t: TermRow) -> Self {
        TermView {
            id: t.id,
            estate_id: t.estate_id,
            name: t.name,
            starts_on: t.starts_on,
            ends_on: t.ends_on,
            seats: t.seats,
            phone: t.phone,
        }
    }
}

impl CandidateView {
    /// A candidate as `staff` (or an owner) sees it; the units are added by the caller.
    fn shown(c: CandidateRow, staff: bool) -> Self {
        CandidateView {
            id: c.id,
            owner_id: staff.then_some(c.owner_id),
            name: c.name,
            intro: c.intro,
            status: crate::stored::parse(&c.status, super::ReviewStatus::Pending),
            reason: c.reason,
            elected: c.elected,
            signature_attachment_id: if staff { c.signature_id } else { None },
            units: None,
        }
    }
}

fn term_not_found() -> ApiError {
    ApiError::not_found("term.not_found", "选届不存在", "Term not found")
}

fn wrong_state(zh: &str, en: &str) -> ApiError {
    ApiError::conflict("election.wrong_state", zh.to_string(), en.to_string())
}

async fn staff_round(conn: &TenantConn, principal: &Principal, id: Uuid) -> ApiResult<Round> {
    let scope = Jurisdiction::of(principal)?;
    let r = rounds::load(conn, id).await?;
    scope
        .check_estate(conn, r.estate_id)
        .await
        .map_err(|_| rounds::not_found())?;
    Ok(r)
}

pub async fn election_view(
    conn: &TenantConn,
    id: Uuid,
    principal: &Principal,
) -> ApiResult<ElectionView> {
    let r = rounds::load(conn, id).await?;
    let m = service::open_if_due(conn, r.matter_id).await?;
    let staff = matches!(principal, Principal::Staff { .. });
    let candidates = store::candidates_of(conn, id, staff)
        .await?
        .into_iter()
        .map(|c| CandidateView::shown(c, staff))
        .collect::<Vec<_>>();
    let mut candidates = candidates;
    if staff {
        for c in &mut candidates {
            c.units = Some(
                super::holdings::held_units(conn, c.owner_id.unwrap_or_default(), r.estate_id)
                    .await?,
            );
        }
    }
    let now = Utc::now();
    let status = if m.status == "cancelled" {
        RoundStatus::Cancelled
    } else if r.result.is_some() {
        RoundStatus::Counted
    } else if now < r.signup_closes_at {
        RoundStatus::Signup
    } else if now < m.opens_at {
        RoundStatus::AwaitingVote
    } else if now < m.closes_at {
        RoundStatus::Voting
    } else {
        RoundStatus::Counting
    };
    let names = store::matter_names(conn, r.matter_id).await?;
    let result = match r.result {
        Some(_) => Some(result_view(conn, &r).await?),
        None => None,
    };
    Ok(ElectionView {
        id,
        estate_id: r.estate_id,
        estate_name: names.estate_name,
        title: names.title,
        term_id: r.term_id,
        prep_group_id: r.prep_group_id,
        round: r.round,
        seats: r.seats,
        signup_opens_at: r.signup_opens_at,
        signup_closes_at: r.signup_closes_at,
        opens_at: m.opens_at,
        closes_at: m.closes_at,
        status,
        cancel_reason: names.cancel_reason,
        verification_mode: r.verification_mode,
        rule_set: m.rule_set.id.clone(),
        matter_id: r.matter_id,
        candidates,
        result,
    })
}

async fn result_view(conn: &TenantConn, r: &Round) -> ApiResult<ElectionResultView> {
    let declared = store::declared(conn, r.matter_id).await?;
    // Only a counted round has a result: nothing is sealed any more, whoever reads it.
    Ok(ElectionResultView {
        tally: tally_view(conn, r, &Principal::Anonymous).await?,
        ledger_root: declared.ledger_root,
        closed_at: declared.closed_at,
    })
}

/// Turnout and standings of a round (after its count, with who was elected).
async fn tally_view(
    conn: &TenantConn,
    r: &Round,
    principal: &Principal,
) -> ApiResult<ElectionTallyView> {
    let m = service::open_if_due(conn, r.matter_id).await?;
    let sealed = crate::voting::ballots_api::choices_sealed_for(principal, &m);
    let tallies = service::live_candidate_tallies(conn, &m).await?;
    let names: std::collections::BTreeMap<String, (String, bool)> =
        store::candidate_names(conn, r.id)
            .await?
            .into_iter()
            .map(|c| (c.id, (c.name, c.elected)))
            .collect();
    // Turnout is the same for every candidate; with none approved, from a plain tally.
    let base = match tallies.first() {
        Some((_, t)) => t.clone(),
        None => service::live_tally(conn, &m).await?,
    };
    let outcome = rounds::outcome(r);
    let participation = base.participation.as_ref();
    Ok(ElectionTallyView {
        totals: counts(base.totals),
        participants: counts(base.participants),
        participation_passed: participation.is_none_or(|p| p.passed),
        participation_shortfall_heads: participation.and_then(|p| p.shortfall_heads),
        participation_shortfall_area: participation
            .and_then(|p| p.shortfall_area_centi)
            .map(area::format),
        candidates: tallies
            .iter()
            .map(|(c, t)| StandingView {
                candidate_id: Uuid::parse_str(c).unwrap_or_default(),
                name: names.get(c).map(|n| n.0.clone()).unwrap_or_default(),
                votes: (!sealed).then(|| counts(t.agree)),
                passed: (!sealed).then_some(t.passed),
                elected: names.get(c).is_some_and(|n| n.1),
            })
            .collect(),
        unfilled: outcome.as_ref().map(|o| o.unfilled as i32),
        lots: outcome
            .map(|o| {
                o.lots
                    .iter()
                    .map(|g| g.iter().filter_map(|c| Uuid::parse_str(c).ok()).collect())
                    .collect()
            })
            .unwrap_or_default(),
        choices_sealed: sealed,
    })
}

#[derive(Default)]
pub struct ElectionsApi;

#[OpenApi(tag = "ApiTags::Elections")]
impl ElectionsApi {
    /// 新建选届 / Create a term of the owners' committee (estate, name, period, seats, phone).
    #[oai(
        path = "/api/estates/:id/terms",
        method = "post",
        operation_id = "term_create"
    )]
    async fn create_term(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        body: Json<TermInput>,
    ) -> ApiResult<TermCreated> {
        let (conn, _) =
            Jurisdiction::begin_for_estate(&state.pool, &tenant, &principal, id.0).await?;
        super::lifecycle::may_create_term(&conn, id.0).await?;
        let e = store::locality_figures(&conn, id.0).await?;
        let p = locality::presets(&e.locality_rule, e.total_households, e.total_area_centi);
        let mut issues = Vec::new();
        required(&mut issues, "name", &body.name);
        if body.seats % 2 == 0
            || body.seats < p.committee_min_seats
            || body.seats > p.committee_max_seats
        {
            issues.push(FieldIssue::new(
                "seats",
                "term.seats",
                format!(
                    "业委会委员人数须为 {}–{} 之间的单数",
                    p.committee_min_seats, p.committee_max_seats
                ),
                format!(
                    "seats must be odd, {}–{}",
                    p.committee_min_seats, p.committee_max_seats
                ),
            ));
        }
        // 29 February plus n years falls on 28 February where that year has none.
        let years = |d: NaiveDate, n: i32| {
            d.with_year(d.year() + n)
                .or_else(|| (d - chrono::Duration::days(1)).with_year(d.year() + n))
                .unwrap_or(d)
        };
        if body.ends_on <= body.starts_on
            || body.ends_on > years(body.starts_on, p.term_max_years)
            || body.ends_on < years(body.starts_on, p.term_min_years)
        {
            issues.push(FieldIssue::new(
                "ends_on",
                "term.period",
                format!("任期须为 {}–{} 年", p.term_min_years, p.term_max_years),
                format!(
                    "the term lasts {}–{} years",
                    p.term_min_years, p.term_max_years
                ),
            ));
        }
        if !issues.is_empty() {
            return Err(ApiError::validation(issues));
        }
        let (_, staff) = principal.actor();
        let tid = Uuid::new_v4();
        let term = store::NewTerm {
            id: tid,
            estate_id: id.0,
            name: body.name.trim(),
            starts_on: body.starts_on,
            ends_on: body.ends_on,
            seats: body.seats,
            phone: body.phone.trim(),
            created_by: staff,
        };
        store::insert_term(&conn, &term).await?;
        audit::record(&conn, &principal, "term", &tid.to_string()).await?;
        conn.commit().await?;
        Ok(TermCreated::Created(Json(TermView {
            id: tid,
            estate_id: id.0,
            name: body.name.trim().into(),
            starts_on: body.starts_on,
            ends_on: body.ends_on,
            seats: body.seats,
            phone: body.phone.trim().into(),
        })))
    }

    /// 选届列表 / An estate's terms.
    #[oai(
        path = "/api/estates/:id/terms",
        method = "get",
        operation_id = "term_list"
    )]
    async fn terms(
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
    ) -> ApiResult<Json<TermPage>> {
        let paging = Paging::new(page.0, page_size.0)?;
        let (conn, _) =
            Jurisdiction::begin_for_estate(&state.pool, &tenant, &principal, id.0).await?;
        let rows = store::terms_of_estate(&conn, id.0).await?;
        conn.commit().await?;
        Ok(Json(TermPage::cut(
            rows.into_iter().map(TermView::from).collect(),
            paging,
        )))
    }

    /// 新建选举 / Open the first round of a term's election: sign-up window, voting window,
    /// rules and verification mode.
    #[oai(
        path = "/api/terms/:id/elections",
        method = "post",
        operation_id = "election_create"
    )]
    async fn create(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        body: Json<ElectionInput>,
    ) -> ApiResult<ElectionCreated> {
        let scope = Jurisdiction::of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let term = store::term_head(&conn, id.0)
            .await?
            .ok_or_else(term_not_found)?;
        let estate = term.estate_id;
        scope
            .check_estate(&conn, estate)
            .await
            .map_err(|_| term_not_found())?;
        let mut issues = Vec::new();
        if body.signup_closes_at <= body.signup_opens_at
            || body.signup_closes_at > body.voting.opens_at
        {
            issues.push(FieldIssue::new(
                "signup_closes_at",
                "election.signup_window",
                "报名须在投票开始前结束",
                "sign-up must end before voting opens",
            ));
        }
        let rules = rounds::choose_rules(&body.voting, &mut issues);
        let Some(rules) = rules.filter(|_| issues.is_empty()) else {
            return Err(ApiError::validation(issues));
        };
        let live = store::term_has_live_election(&conn, id.0).await?;
        if live {
            return Err(wrong_state(
                "该选届已有选举，请发起下一轮（或先撤销原选举）",
                "This term already has an election; start a next round or cancel it",
            ));
        }
        // After a cancelled election the numbering goes on.
        let round = store::next_round_number(&conn, id.0).await?;
        let title = format!("{}选举 第{round}轮", term.name);
        let new = NewRound {
            estate_id: estate,
            term_id: Some(id.0),
            prep_group_id: None,
            round,
            title,
            seats: term.seats,
            signup_opens_at: body.signup_opens_at,
            signup_closes_at: body.signup_closes_at,
            verification: body.verification_mode,
            voting: &body.voting,
            rules,
        };
        let eid = rounds::create(&conn, &principal, new).await?;
        audit::record(&conn, &principal, "election", &eid.to_string()).await?;
        let v = election_view(&conn, eid, &principal).await?;
        conn.commit().await?;
        Ok(ElectionCreated::Created(Json(v)))
    }

    /// 选举详情 / Estate, term, round, seats, windows, status and candidates.
    #[oai(
        path = "/api/elections/:id",
        method = "get",
        operation_id = "election_get"
    )]
    async fn get(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<ElectionView>> {
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let r = rounds::load(&conn, id.0).await?;
        rounds::check_visible(&conn, &principal, r.estate_id).await?;
        let v = election_view(&conn, id.0, &principal).await?;
        conn.commit().await?;
        Ok(Json(v))
    }

    /// 候选人报名 / Sign up as a candidate (form and signature), within the sign-up window.
    #[oai(
        path = "/api/elections/:id/candidates",
        method = "post",
        operation_id = "candidate_signup"
    )]
    async fn sign_up(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        body: Json<SignupInput>,
    ) -> ApiResult<SignedUp> {
        let owner = owner_of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let r = rounds::load(&conn, id.0).await?;
        if !holds_unit(&conn, owner, r.estate_id).await? {
            return Err(rounds::not_found());
        }
        if r.prep_group_id.is_some() {
            return Err(wrong_state(
                "筹备组的候选人来自筹备组报名，请在筹备组报名",
                "Sign up through the preparatory group",
            ));
        }
        let now = Utc::now();
        if now < r.signup_opens_at || now >= r.signup_closes_at {
            return Err(signup_closed(r.signup_opens_at, r.signup_closes_at));
        }
        casting::check_signature(&conn, owner, Some(body.signature_attachment_id)).await?;
        crate::attachments::bind_to_estate(&conn, r.estate_id, &[body.signature_attachment_id])
            .await?;
        let name = store::owner_real_name(&conn, owner).await?;
        let cid = Uuid::new_v4();
        let candidate = store::NewCandidate {
            id: cid,
            election_id: id.0,
            owner_id: owner,
            name: &name,
            intro: body.intro.trim(),
            signature_id: body.signature_attachment_id,
        };
        store::insert_candidate(&conn, &candidate)
            .await
            .map_err(|e| {
                if e.code == "conflict.duplicate" {
                    ApiError::conflict(
                        "candidate.duplicate",
                        "您已报名本轮选举",
                        "You have already signed up",
                    )
                } else {
                    e
                }
            })?;
        audit::record(&conn, &principal, "candidate", &cid.to_string()).await?;
        conn.commit().await?;
        Ok(SignedUp::Created(Json(CandidateView {
            id: cid,
            owner_id: Some(owner),
            name,
            intro: body.intro.trim().into(),
            status: super::ReviewStatus::Pending,
            reason: None,
            elected: false,
            signature_attachment_id: Some(body.signature_attachment_id),
            units: None,
        })))
    }

    /// 审核候选人 / Approve or reject a candidate (a reason is required to reject), before voting opens.
    #[oai(
        path = "/api/candidates/:id/review",
        method = "post",
        operation_id = "candidate_review"
    )]
    async fn review(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        body: Json<ReviewInput>,
    ) -> ApiResult<Json<CandidateView>> {
        let (status, reason) = body.decision()?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let election = store::candidate_election(&conn, id.0)
            .await?
            .ok_or_else(|| {
                ApiError::not_found("candidate.not_found", "候选人不存在", "Candidate not found")
            })?;
        let r = staff_round(&conn, &principal, election).await?;
        service::lock_matter(&conn, r.matter_id, true).await?;
        service::open_if_due(&conn, r.matter_id).await?;
        // Under the row lock: opening (which freezes the candidates) cannot happen meanwhile.
        let m = service::load(&conn, r.matter_id, "FOR UPDATE").await?;
        if m.status != "approved" || Utc::now() >= m.opens_at {
            return Err(wrong_state(
                "投票已开始，候选人名单不能再改",
                "Voting has begun; the candidate list is fixed",
            ));
        }
        let (_, staff) = principal.actor();
        let row = store::review_candidate(&conn, id.0, status, reason, staff).await?;
        audit::record(&conn, &principal, "candidate", &id.0.to_string()).await?;
        let units = super::holdings::held_units(&conn, row.owner_id, r.estate_id).await?;
        conn.commit().await?;
        Ok(Json(CandidateView {
            units: Some(units),
            ..CandidateView::shown(row, true)
        }))
    }

    /// 选举投票 / Cast my ballot: up to as many candidates as there are seats this round.
    #[oai(
        path = "/api/elections/:id/ballots",
        method = "post",
        operation_id = "election_ballot_cast"
    )]
    async fn cast(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        body: Json<PicksInput>,
        /// Retrying with the same key returns the first answer; the same key with another
        /// body answers 422 `idempotency.mismatch`.
        #[oai(name = "Idempotency-Key", validator(max_length = 100))]
        idempotency_key: Header<Option<String>>,
    ) -> ApiResult<Cast> {
        let owner = owner_of(&principal)?;
        let key = crate::idempotency::required(
            idempotency_key.0.as_deref(),
            body.idempotency_key.as_deref(),
        )?;
        let key = key.as_str();
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let r = rounds::load(&conn, id.0).await?;
        if !holds_unit(&conn, owner, r.estate_id).await? {
            return Err(rounds::not_found());
        }
        let ballot = OnlineBallot {
            owner,
            key,
            choice: Choice::Agree,
            picks: Some(body.picks.clone()),
            signature: body.signature_attachment_id,
        };
        let conn = match casting::retried(conn, r.matter_id, &ballot).await? {
            Ok(first) => return Ok(first.into()),
            Err(conn) => conn,
        };
        let m = casting::open_matter(&conn, r.matter_id).await?;
        if body.picks.len() > r.seats as usize {
            return Err(ApiError::field(
                "picks",
                "election.too_many_picks",
                format!("本轮应选 {} 人，最多只能选 {} 人", r.seats, r.seats),
                format!(
                    "This round fills {} seats: pick at most {}",
                    r.seats, r.seats
                ),
            ));
        }
        if let Some((zh, en)) = spoiled(&conn, &r, &body.picks).await? {
            return Err(ApiError::field(
                "picks",
                "election.pick_invalid",
                format!("{zh}：请只选本轮候选人，每人一次"),
                format!("{en}: pick only this round's candidates, each once"),
            ));
        }
        if r.verification_mode == "signature_face" {
            let verified = store::face_passed(&conn, r.id, owner).await?;
            if !verified {
                return Err(ApiError::forbidden(
                    "election.face_required",
                    "本次选举须先完成人脸核身（或由工作人员现场核验）",
                    "Face verification (or an in-person check) is required first",
                ));
            }
        }
        casting::cast_online(conn, &m, ballot).await.map(Cast::from)
    }

    /// 录入纸质选票 / Enter a paper or on-site ballot with its scan; more picks than seats is
    /// recorded, and voided with that reason.
    #[oai(
        path = "/api/elections/:id/paper-ballots",
        method = "post",
        operation_id = "election_ballot_enter_paper"
    )]
    async fn paper(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        body: Json<PaperPicksInput>,
        /// Retrying with the same key returns the first answer; the same key with another
        /// body answers 422 `idempotency.mismatch`.
        #[oai(name = "Idempotency-Key", validator(max_length = 100))]
        idempotency_key: Header<Option<String>>,
    ) -> ApiResult<Cast> {
        let paper_key = crate::idempotency::key(
            idempotency_key.0.as_deref(),
            body.idempotency_key.as_deref(),
        )?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let r = staff_round(&conn, &principal, id.0).await?;
        let m = casting::open_matter(&conn, r.matter_id).await?;
        // Entered as marked: a spoiled paper ballot is kept, void, with the reason (the clerk's,
        // or too many picks).
        let void_reason = match casting::void_reason_input(body.void_reason.as_deref())? {
            Some(reason) => Some(reason),
            None => spoiled(&conn, &r, &body.picks).await?.map(|(zh, _)| zh),
        };
        let request_hash = casting::request_hash(&serde_json::json!({
            "unit_id": body.unit_id, "picks": body.picks, "channel": ballots_api::paper_channel(body.channel),
            "scan_attachment_id": body.scan_attachment_id, "signed_at": body.signed_at, "signed_by_owner_id": body.signed_by_owner_id,
            "void_reason": body.void_reason,
        }));
        let paper = PaperBallot {
            unit: body.unit_id,
            channel: ballots_api::paper_channel(body.channel),
            choice: Choice::Agree,
            picks: Some(&body.picks),
            void_reason,
            scan: body.scan_attachment_id,
            signed_at: body.signed_at,
            signed_by: body.signed_by_owner_id,
            idempotency_key: paper_key.as_deref(),
            request_hash,
        };
        casting::enter_paper(conn, &state, &principal, &m, paper)
            .await
            .map(Cast::from)
    }

    /// 选举统计 / Turnout (heads and area) and each candidate's votes and whether they pass;
    /// after the count, who was elected.
    #[oai(
        path = "/api/elections/:id/tally",
        method = "get",
        operation_id = "election_tally"
    )]
    async fn tally(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<ElectionTallyView>> {
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let r = rounds::load(&conn, id.0).await?;
        rounds::check_visible(&conn, &principal, r.estate_id).await?;
        let v = tally_view(&conn, &r, &principal).await?;
        conn.commit().await?;
        Ok(Json(v))
    }

    /// 计票 / Close the round after its deadline: count, fill the seats in order of votes (ties by
    /// area, then by a lot recorded in the audit log) and keep the result.
    #[oai(
        path = "/api/elections/:id/close",
        method = "post",
        operation_id = "election_close"
    )]
    async fn close(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<ElectionTallyView>> {
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let r = staff_round(&conn, &principal, id.0).await?;
        service::lock_matter(&conn, r.matter_id, true).await?;
        service::open_if_due(&conn, r.matter_id).await?;
        let m = service::load(&conn, r.matter_id, "FOR UPDATE").await?;
        if m.status != "open" || Utc::now() < m.closes_at || r.result.is_some() {
            return Err(wrong_state(
                "只有已到投票截止时间、尚未计票的选举才能计票",
                "Only a round past its deadline and not yet counted can be closed",
            ));
        }
        let tallies = service::live_candidate_tallies(&conn, &m).await?;
        let mut lots_drawn = Vec::new();
        let outcome = count::fill(&count::standings(&tallies), r.seats as usize, |group| {
            // The lot: a fresh random key per candidate (v4 UUIDs come from the OS's CSPRNG).
            let mut drawn = group.to_vec();
            drawn.sort_by_cached_key(|_| Uuid::new_v4());
            lots_drawn.push(drawn.clone());
            drawn
        });
        service::checkpoint(&conn, m.id).await?;
        let filling = service::Filling {
            seats: r.seats,
            outcome: &outcome,
        };
        let service::Closing {
            root,
            declared,
            closed_at,
        } = service::declare(&conn, &m, None, &tallies, Some(filling)).await?;
        let result =
            serde_json::json!({"tallies": tallies, "ledger_root": root, "declared": declared});
        steps::keep_count(&conn, &r, m.id, &result, &closed_at, &outcome).await?;
        let detail = (!lots_drawn.is_empty())
            .then(|| serde_json::json!({"lots": lots_drawn, "elected": outcome.elected}));
        audit::record_with(&conn, &principal, "election", &r.id.to_string(), detail).await?;
        let r = rounds::load(&conn, r.id).await?;
        let v = tally_view(&conn, &r, &principal).await?;
        conn.commit().await?;
        Ok(Json(v))
    }

    /// 下一轮 / Start the next round for the seats left empty, with the remaining candidates.
    #[oai(
        path = "/api/elections/:id/next-round",
        method = "post",
        operation_id = "election_next_round"
    )]
    async fn next_round(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        body: Json<NextRoundInput>,
    ) -> ApiResult<ElectionCreated> {
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let r = staff_round(&conn, &principal, id.0).await?;
        let Some(outcome) = rounds::outcome(&r) else {
            return Err(wrong_state(
                "本轮尚未计票",
                "This round has not been counted",
            ));
        };
        if outcome.unfilled == 0 {
            return Err(wrong_state(
                "本轮已选满，无需下一轮",
                "Every seat was filled",
            ));
        }
        let later = store::later_round_exists(&conn, r.term_id, r.prep_group_id, r.round).await?;
        if later {
            return Err(wrong_state(
                "下一轮已经发起",
                "The next round already exists",
            ));
        }
        let remaining = store::remaining_candidates(&conn, r.id).await?;
        if remaining.is_empty() {
            return Err(wrong_state(
                "没有剩余的候选人，请重新组织报名",
                "No candidates remain",
            ));
        }
        let mut issues = Vec::new();
        let rules = rounds::choose_rules(&body.voting, &mut issues);
        let Some(rules) = rules.filter(|_| issues.is_empty()) else {
            return Err(ApiError::validation(issues));
        };
        let title = store::matter_title(&conn, r.matter_id).await?;
        let base_title = title
            .rsplit_once(" 第")
            .map(|(t, _)| t.to_string())
            .unwrap_or(title);
        let now = Utc::now();
        let new = NewRound {
            estate_id: r.estate_id,
            term_id: r.term_id,
            prep_group_id: r.prep_group_id,
            round: r.round + 1,
            title: format!("{base_title} 第{}轮", r.round + 1),
            seats: outcome.unfilled as i32,
            // No new sign-up: the remaining candidates stand again.
            signup_opens_at: now,
            signup_closes_at: now,
            verification: if r.verification_mode == "signature_face" {
                VerificationMode::SignatureFace
            } else {
                VerificationMode::Signature
            },
            voting: &body.voting,
            rules,
        };
        let eid = rounds::create(&conn, &principal, new).await?;
        rounds::stand(&conn, eid, principal.actor().1, &remaining).await?;
        audit::record(&conn, &principal, "election", &eid.to_string()).await?;
        let v = election_view(&conn, eid, &principal).await?;
        conn.commit().await?;
        Ok(ElectionCreated::Created(Json(v)))
    }

    /// 选举列表 / An estate's election rounds, newest first (staff of its jurisdiction, its owners).
    #[oai(
        path = "/api/estates/:id/elections",
        method = "get",
        operation_id = "election_list"
    )]
    #[allow(clippy::too_many_arguments)] // one extractor per parameter, as poem-openapi wants them
    async fn list(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        /// Rounds at this stage only.
        status: Query<Option<RoundStatus>>,
        /// Page number, from 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
        page: Query<Option<i64>>,
        /// Items per page, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        page_size: Query<Option<i64>>,
    ) -> ApiResult<Json<ElectionPage>> {
        let paging = Paging::new(page.0, page_size.0)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        rounds::check_visible(&conn, &principal, id.0)
            .await
            .map_err(|_| crate::authz::jurisdiction::estate_not_found())?;
        let ids = store::election_ids_of_estate(&conn, id.0).await?;
        let mut out = Vec::new();
        for e in ids {
            let view = election_view(&conn, e, &principal).await?;
            // The stage is the view's (derived from the round and its clock), so it filters here.
            if status.0.is_none_or(|s| s == view.status) {
                out.push(view);
            }
        }
        conn.commit().await?;
        Ok(Json(ElectionPage::cut(out, paging)))
    }

    /// 撤销选举 / Cancel a round that has not been counted, with the reason (its ballots are
    /// kept); the term may then hold a new election.
    #[oai(
        path = "/api/elections/:id/cancel",
        method = "post",
        operation_id = "election_cancel"
    )]
    async fn cancel(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        body: Json<CancelInput>,
    ) -> ApiResult<Json<ElectionView>> {
        if body.reason.trim().is_empty() {
            return Err(ApiError::field(
                "reason",
                "required",
                "请填写撤销原因",
                "A reason is required",
            ));
        }
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let r = staff_round(&conn, &principal, id.0).await?;
        service::lock_matter(&conn, r.matter_id, true).await?;
        let m = service::load(&conn, r.matter_id, "FOR UPDATE").await?;
        if r.result.is_some() || matches!(m.status.as_str(), "closed" | "cancelled") {
            return Err(wrong_state(
                "已计票或已撤销的选举不能撤销",
                "A counted or cancelled round cannot be cancelled",
            ));
        }
        crate::voting::matter_store::cancel_matter(&conn, m.id, body.reason.trim()).await?;
        service::checkpoint(&conn, m.id).await?;
        audit::record(&conn, &principal, "election", &r.id.to_string()).await?;
        let v = election_view(&conn, r.id, &principal).await?;
        conn.commit().await?;
        Ok(Json(v))
    }

    /// 设为业委会委员 / Grant the owners'-committee role to everyone elected in the term's
    /// rounds, and end the previous term's grants when this term starts.
    #[oai(
        path = "/api/terms/:id/committee",
        method = "post",
        operation_id = "term_committee_appoint"
    )]
    async fn appoint(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<CommitteeView>> {
        let scope = Jurisdiction::of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let term = store::term_period_for_update(&conn, id.0)
            .await?
            .ok_or_else(term_not_found)?;
        let estate = term.estate_id;
        scope
            .check_estate(&conn, estate)
            .await
            .map_err(|_| term_not_found())?;
        let elected = store::term_elected_owners(&conn, id.0).await?;
        if elected.is_empty() {
            return Err(wrong_state(
                "本届尚无当选人",
                "Nobody has been elected in this term yet",
            ));
        }
        // Grants run from the term's first day to its last, in Beijing time.
        let beijing_midnight = |d: NaiveDate| {
            d.and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc() - chrono::Duration::hours(8))
                .unwrap_or_else(Utc::now)
        };
        let from = beijing_midnight(term.starts_on).max(Utc::now());
        let until = beijing_midnight(term.ends_on + chrono::Duration::days(1));
        let (_, staff) = principal.actor();
        // The grants of earlier terms (and ones given by hand) end as this term starts.
        let appointment = steps::Appointment {
            estate_id: estate,
            term_id: id.0,
            starts_on: term.starts_on,
            from,
            until,
            elected: &elected,
            staff,
        };
        steps::appoint_committee(&conn, &appointment).await?;
        audit::record(&conn, &principal, "term", &id.0.to_string()).await?;
        conn.commit().await?;
        Ok(Json(CommitteeView {
            term_id: id.0,
            members: elected,
            effective_from: from,
        }))
    }
}
