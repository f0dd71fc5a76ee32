//! An election round in the database: created on top of a matter of kind `election` (so the
//! voting machinery freezes its roll, takes its ballots and keeps its ledger), loaded with its
//! estate and window, and counted into candidate standings.

use chrono::{DateTime, Utc};
use diesel::{sql_query, sql_types as sql, QueryableByName};
use poem_openapi::{Enum, Object};
use uuid::Uuid;

use super::{count::Outcome, store::StandingRow};
use crate::{
    auth::principal::Principal,
    error::{ApiError, ApiResult, FieldIssue},
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
            sql_query("SELECT parking_counts, storage_counts FROM estates WHERE id = $1")
                .bind::<sql::Uuid, _>(r.estate_id),
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
    conn.execute(
        sql_query(
            "INSERT INTO matters (id, estate_id, type_name, title, content, importance, opens_at, closes_at, signature_required,
                              law_item, rule_set, rule_change_reason, settings, ledger_salt, status, created_by_kind, created_by, kind)
         VALUES ($1, $2, '选举', $3, '', 'important', $4, $5, true, 3, $6, $7, $8, $9, 'approved', $10, $11, 'election')",
        )
        .bind::<sql::Uuid, _>(matter)
        .bind::<sql::Uuid, _>(r.estate_id)
        .bind::<sql::Text, _>(&r.title)
        .bind::<sql::Timestamptz, _>(r.voting.opens_at)
        .bind::<sql::Timestamptz, _>(r.voting.closes_at)
        .bind::<sql::Jsonb, _>(serde_json::to_value(&r.rules).map_err(ApiError::internal)?)
        .bind::<sql::Nullable<sql::Text>, _>(&r.voting.rule_change_reason)
        .bind::<sql::Jsonb, _>(serde_json::to_value(settings).map_err(ApiError::internal)?)
        .bind::<sql::Text, _>(Uuid::new_v4().simple().to_string())
        .bind::<sql::Text, _>(kind)
        .bind::<sql::Nullable<sql::Uuid>, _>(creator),
    )
    .await?;
    let id = Uuid::new_v4();
    conn.execute(
        sql_query(
            "INSERT INTO elections (id, term_id, prep_group_id, round, matter_id, seats, signup_opens_at, signup_closes_at, verification_mode)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind::<sql::Uuid, _>(id)
        .bind::<sql::Nullable<sql::Uuid>, _>(r.term_id)
        .bind::<sql::Nullable<sql::Uuid>, _>(r.prep_group_id)
        .bind::<sql::Integer, _>(r.round)
        .bind::<sql::Uuid, _>(matter)
        .bind::<sql::Integer, _>(r.seats)
        .bind::<sql::Timestamptz, _>(r.signup_opens_at)
        .bind::<sql::Timestamptz, _>(r.signup_closes_at)
        .bind::<sql::Text, _>(r.verification.as_str()),
    )
    .await?;
    Ok(id)
}

/// Whether parking spaces and storage rooms count in the estate's votes.
#[derive(QueryableByName)]
struct EstateCounting {
    #[diesel(sql_type = sql::Bool)]
    parking_counts: bool,
    #[diesel(sql_type = sql::Bool)]
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
        conn.execute(
            sql_query(
                "INSERT INTO candidates (id, election_id, owner_id, name, intro, signature_id, status, reviewed_by, reviewed_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'approved', $7, now())",
            )
            .bind::<sql::Uuid, _>(Uuid::new_v4())
            .bind::<sql::Uuid, _>(election)
            .bind::<sql::Uuid, _>(c.owner_id)
            .bind::<sql::Text, _>(&c.name)
            .bind::<sql::Text, _>(&c.intro)
            .bind::<sql::Nullable<sql::Uuid>, _>(c.signature_id)
            .bind::<sql::Nullable<sql::Uuid>, _>(staff),
        )
        .await?;
    }
    Ok(())
}

#[derive(QueryableByName)]
pub struct Round {
    #[diesel(sql_type = sql::Uuid)]
    pub id: Uuid,
    #[diesel(sql_type = sql::Nullable<sql::Uuid>)]
    pub term_id: Option<Uuid>,
    #[diesel(sql_type = sql::Nullable<sql::Uuid>)]
    pub prep_group_id: Option<Uuid>,
    #[diesel(sql_type = sql::Integer)]
    pub round: i32,
    #[diesel(sql_type = sql::Uuid)]
    pub matter_id: Uuid,
    #[diesel(sql_type = sql::Integer)]
    pub seats: i32,
    #[diesel(sql_type = sql::Timestamptz)]
    pub signup_opens_at: DateTime<Utc>,
    #[diesel(sql_type = sql::Timestamptz)]
    pub signup_closes_at: DateTime<Utc>,
    #[diesel(sql_type = sql::Text)]
    pub verification_mode: String,
    #[diesel(sql_type = sql::Nullable<sql::Jsonb>)]
    pub result: Option<serde_json::Value>,
    #[diesel(sql_type = sql::Uuid)]
    pub estate_id: Uuid,
    #[diesel(sql_type = sql::Uuid)]
    pub rc_id: Uuid,
}

pub fn not_found() -> ApiError {
    ApiError::not_found("election.not_found", "选举不存在", "Election not found")
}

pub async fn load(conn: &TenantConn, id: Uuid) -> ApiResult<Round> {
    conn.optional(
        sql_query(
            "SELECT el.id, el.term_id, el.prep_group_id, el.round, el.matter_id, el.seats, el.signup_opens_at, el.signup_closes_at,
                    el.verification_mode, el.result, m.estate_id, e.rc_id
               FROM elections el JOIN matters m ON m.id = el.matter_id JOIN estates e ON e.id = m.estate_id WHERE el.id = $1",
        )
        .bind::<sql::Uuid, _>(id),
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
