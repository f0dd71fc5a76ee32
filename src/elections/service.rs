//! The elections domain's rules and the steps that take more than one statement: what spoils a
//! ballot's picks, keeping a count, appointing a term's committee, and who sits on a
//! preparatory group.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::{count::Outcome, prep_store, rounds::Round, store};
use crate::{error::ApiResult, tenancy::conn::TenantConn};

/// What is wrong with the picks, if anything (in Chinese, as kept with a spoiled ballot, and in
/// English): more than the seats, someone who is not an approved candidate of this round, or the
/// same person twice.
pub async fn spoiled(
    conn: &TenantConn,
    r: &Round,
    picks: &[Uuid],
) -> ApiResult<Option<(String, String)>> {
    if picks.len() > r.seats as usize {
        return Ok(Some((
            format!("所选 {} 人，超过应选 {} 人", picks.len(), r.seats),
            format!("{} picked, more than the {} seats", picks.len(), r.seats),
        )));
    }
    let mut distinct = picks.to_vec();
    distinct.sort();
    distinct.dedup();
    if distinct.len() != picks.len() {
        return Ok(Some((
            "同一候选人被选了多次".into(),
            "the same candidate picked more than once".into(),
        )));
    }
    let known = store::approved_among(conn, r.id, &distinct).await?;
    Ok((known as usize != picks.len()).then(|| {
        (
            "所选的人中有非本轮候选人".to_string(),
            "someone picked is not a candidate of this round".to_string(),
        )
    }))
}

/// Keeps a round's count: closes its matter with the result, keeps the outcome on the round and
/// marks the elected candidates.
pub async fn keep_count(
    conn: &TenantConn,
    r: &Round,
    matter: Uuid,
    result: &serde_json::Value,
    closed_at: &DateTime<Utc>,
    outcome: &Outcome,
) -> ApiResult<()> {
    crate::voting::matter_store::close_matter(conn, matter, result, closed_at).await?;
    store::keep_round_result(conn, r.id, &serde_json::json!({"outcome": outcome})).await?;
    let elected: Vec<Uuid> = outcome
        .elected
        .iter()
        .filter_map(|c| Uuid::parse_str(c).ok())
        .collect();
    store::mark_elected(conn, r.id, &elected).await
}

/// A term's committee as appointed: who, from when until when, granted by whom.
pub struct Appointment<'a> {
    pub estate_id: Uuid,
    pub term_id: Uuid,
    pub starts_on: NaiveDate,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub elected: &'a [Uuid],
    pub staff: Option<Uuid>,
}

/// Ends the grants of earlier terms (and ones given by hand) as this term starts, grants the
/// role to everyone elected, and flags the estate as having a committee.
pub async fn appoint_committee(conn: &TenantConn, a: &Appointment<'_>) -> ApiResult<()> {
    store::end_earlier_grants(conn, a.estate_id, a.from, a.term_id, a.starts_on).await?;
    for owner in a.elected {
        let grant = store::TermGrant {
            estate_id: a.estate_id,
            owner_id: *owner,
            granted_by: a.staff,
            granted_at: a.from,
            revoked_at: a.until,
            term_id: a.term_id,
        };
        store::grant_term_seat(conn, &grant).await?;
    }
    store::flag_owners_committee(conn, a.estate_id).await
}

/// The owners who sit on a preparatory group: those elected where owners voted, else the
/// approved sign-ups; and whether owners voted.
pub async fn prep_owner_members(conn: &TenantConn, group: Uuid) -> ApiResult<(Vec<Uuid>, bool)> {
    let voted = prep_store::group_has_election(conn, group).await?;
    let owners = if voted {
        prep_store::elected_owners(conn, group).await?
    } else {
        prep_store::approved_owners(conn, group).await?
    };
    Ok((owners, voted))
}
