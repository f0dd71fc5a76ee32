//! An election round in the database: created on top of a matter of kind `election` (so the
//! voting machinery freezes its roll, takes its ballots and keeps its ledger), loaded with its
//! estate and window, and counted into candidate standings.

use chrono::{DateTime, Utc};
use diesel::{dsl::now, prelude::*};
use poem_openapi::{Enum, Object};
use uuid::Uuid;

use super::{count::Outcome, store::StandingRow};
use crate::{
    auth::principal::Principal,
    error::{ApiError, ApiResult, FieldIssue},
    schema::tenant::{candidates, elections, estates, matters},
    tenancy::conn::TenantConn,
    voting::{
        rules::RuleSet,
        service::MatterSettings,
        tally::{ChannelRule, Settings},
    },
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum VerificationMode {
    /// Handwritten signature.
    Signature,
    /// Signature plus face verification (or an in-person check recorded by staff).
    SignatureFace,
}

impl VerificationMode {
    pub fn as_str(self) -> &'static str {
        match self {
            VerificationMode::Signature => "signature",
            VerificationMode::SignatureFace => "signature_face",
        }
    }
}

/// Voting window and rules of a round, as staff enter them.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct VotingInput {
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
    /// Another named rule set (default: the Civil Code's for electing a committee, art. 278 item 3).
    #[oai(validator(max_length = 50))]
    pub rule_set_id: Option<String>,
    /// Required whenever the preset is changed.
    #[oai(validator(max_length = 500))]
    pub rule_change_reason: Option<String>,
}

/// The rule set for an election, with the reason when it is not the preset.
pub fn choose_rules(input: &VotingInput, issues: &mut Vec<FieldIssue>) -> Option<RuleSet> {
    let preset = RuleSet::for_matter_item(3)?;
    let chosen = match &input.rule_set_id {
        Some(id) => RuleSet::by_id(id).or_else(|| {
            issues.push(FieldIssue::new(
                "rule_set_id",
                "matter.rule_set_unknown",
                "没有这个表决规则",
                "unknown rule set",
            ));
            None
        })?,
        None => preset.clone(),
    };
    if chosen != preset
        && input
            .rule_change_reason
            .as_deref()
            .unwrap_or("")
            .trim()
            .is_empty()
    {
        issues.push(FieldIssue::new(
            "rule_change_reason",
            "required",
            "修改表决规则须填写原因",
            "give the reason for changing the rules",
        ));
    }
    if input.closes_at <= input.opens_at {
        issues.push(FieldIssue::new(
            "closes_at",
            "matter.window",
            "投票截止时间须晚于开始时间",
            "closes_at must follow opens_at",
        ));
    }
    Some(chosen)
}

pub struct NewRound<'a> {
    pub estate_id: Uuid,
    pub term_id: Option<Uuid>,
    pub prep_group_id: Option<Uuid>,
    pub round: i32,
    pub title: String,
    pub seats: i32,
    pub signup_opens_at: DateTime<Utc>,
    pub signup_closes_at: DateTime<Utc>,
    pub verification: VerificationMode,
    pub voting: &'a VotingInput,
    pub rules: RuleSet,
}

/// Creates the round and the matter it votes through; returns the election id.
pub async fn create(conn: &TenantConn, principal: &Principal, r: NewRound<'_>) -> ApiResult<Uuid> {
    let estate: EstateCounting = conn
        .first(
            estates::table
                .find(r.estate_id)
                .select(EstateCounting::as_select()),
        )
        .await?;
    let settings = MatterSettings {
        engine: Settings {
            parking_counts: estate.parking_counts,
            storage_counts: estate.storage_counts,
            ..Settings::defaults()
        },
        channel_rule: ChannelRule::OnlineWins,
        allow_vote_change: false,
    };
    let (kind, creator) = principal.actor();
    let matter = Uuid::new_v4();
    conn.execute(diesel::insert_into(matters::table).values((
        (
            matters::id.eq(matter),
            matters::estate_id.eq(r.estate_id),
            matters::type_name.eq("选举"),
            matters::title.eq(&r.title),
            matters::content.eq(""),
            matters::importance.eq("important"),
            matters::opens_at.eq(r.voting.opens_at),
            matters::closes_at.eq(r.voting.closes_at),
            matters::signature_required.eq(true),
        ),
        (
            matters::law_item.eq(3i16),
            matters::rule_set.eq(serde_json::to_value(&r.rules).map_err(ApiError::internal)?),
            matters::rule_change_reason.eq(r.voting.rule_change_reason.as_deref()),
            matters::settings.eq(serde_json::to_value(settings).map_err(ApiError::internal)?),
            matters::ledger_salt.eq(Uuid::new_v4().simple().to_string()),
            matters::status.eq("approved"),
            matters::created_by_kind.eq(kind),
            creator.map(|by| matters::created_by.eq(by)),
            matters::kind.eq("election"),
        ),
    )))
    .await?;
    let id = Uuid::new_v4();
    conn.execute(diesel::insert_into(elections::table).values((
        elections::id.eq(id),
        elections::term_id.eq(r.term_id),
        elections::prep_group_id.eq(r.prep_group_id),
        elections::round.eq(r.round),
        elections::matter_id.eq(matter),
        elections::seats.eq(r.seats),
        elections::signup_opens_at.eq(r.signup_opens_at),
        elections::signup_closes_at.eq(r.signup_closes_at),
        elections::verification_mode.eq(r.verification.as_str()),
    )))
    .await?;
    Ok(id)
}

/// Whether parking spaces and storage rooms count in the estate's votes.
#[derive(Queryable, Selectable)]
#[diesel(table_name = estates, check_for_backend(diesel::pg::Pg))]
struct EstateCounting {
    parking_counts: bool,
    storage_counts: bool,
}

/// Seats already reviewed people as approved candidates of a new round: the remaining
/// candidates of the previous round, or a preparatory group's approved owner sign-ups.
pub async fn stand(
    conn: &TenantConn,
    election: Uuid,
    staff: Option<Uuid>,
    rows: &[StandingRow],
) -> ApiResult<()> {
    for c in rows {
        conn.execute(diesel::insert_into(candidates::table).values((
            candidates::id.eq(Uuid::new_v4()),
            candidates::election_id.eq(election),
            candidates::owner_id.eq(c.owner_id),
            candidates::name.eq(&c.name),
            candidates::intro.eq(&c.intro),
            candidates::signature_id.eq(c.signature_id),
            candidates::status.eq("approved"),
            candidates::reviewed_by.eq(staff),
            candidates::reviewed_at.eq(now),
        )))
        .await?;
    }
    Ok(())
}

/// A round with its matter's estate and the estate's residents' committee.
#[derive(Queryable, Selectable)]
#[diesel(table_name = elections, check_for_backend(diesel::pg::Pg))]
pub struct Round {
    pub id: Uuid,
    pub term_id: Option<Uuid>,
    pub prep_group_id: Option<Uuid>,
    pub round: i32,
    pub matter_id: Uuid,
    pub seats: i32,
    pub signup_opens_at: DateTime<Utc>,
    pub signup_closes_at: DateTime<Utc>,
    pub verification_mode: String,
    pub result: Option<serde_json::Value>,
    #[diesel(select_expression = matters::estate_id)]
    pub estate_id: Uuid,
    #[diesel(select_expression = estates::rc_id)]
    pub rc_id: Uuid,
}

pub fn not_found() -> ApiError {
    ApiError::not_found("election.not_found", "选举不存在", "Election not found")
}

pub async fn load(conn: &TenantConn, id: Uuid) -> ApiResult<Round> {
    conn.optional(
        elections::table
            .inner_join(matters::table.inner_join(estates::table))
            .filter(elections::id.eq(id))
            .select(Round::as_select()),
    )
    .await?
    .ok_or_else(not_found)
}

/// Staff of the estate's jurisdiction, or an owner holding a unit in it; others get 404.
pub async fn check_visible(
    conn: &TenantConn,
    principal: &Principal,
    estate_id: Uuid,
) -> ApiResult<()> {
    crate::voting::service::visible_to(conn, principal, estate_id, "approved")
        .await
        .map_err(|_| not_found())
}

/// The outcome kept with a counted round.
pub fn outcome(round: &Round) -> Option<Outcome> {
    round
        .result
        .as_ref()
        .and_then(|r| serde_json::from_value(r.get("outcome")?.clone()).ok())
}
