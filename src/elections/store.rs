//! Every statement of the elections domain on terms, rounds' matters, candidates and face checks
//! (rounds themselves are created and loaded in `rounds.rs`, preparatory groups in
//! `prep_store.rs`). Rows are read by position here and nowhere else, one reading function per
//! query shape, so the move to diesel touches the store files only.

use chrono::{DateTime, NaiveDate, Utc};
use tokio_postgres::Row;
use uuid::Uuid;

use crate::{error::ApiResult, tenancy::conn::TenantConn};

// Estates and owners, as elections read them.

/// The figures the locality presets depend on.
pub struct LocalityRow {
    pub locality_rule: String,
    pub total_households: i32,
    pub total_area_centi: i64,
}

/// An estate's locality rule, households and area (for its presets).
pub async fn locality_figures(conn: &TenantConn, estate: Uuid) -> ApiResult<LocalityRow> {
    let e = conn
        .query_one(
            "SELECT locality_rule, total_households, total_area_centi FROM estates WHERE id = $1",
            &[&estate],
        )
        .await?;
    Ok(LocalityRow {
        locality_rule: e.get(0),
        total_households: e.get(1),
        total_area_centi: e.get(2),
    })
}

/// An owner's verified real name (a candidate stands, and a face check runs, under it).
pub async fn owner_real_name(conn: &TenantConn, owner: Uuid) -> ApiResult<String> {
    Ok(conn
        .query_one("SELECT real_name FROM owners WHERE id = $1", &[&owner])
        .await?
        .get(0))
}

// Terms.

/// A term as stored.
pub struct TermRow {
    pub id: Uuid,
    pub estate_id: Uuid,
    pub name: String,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub seats: i32,
    pub phone: String,
}

/// What staff enter for a new term, already trimmed by the caller.
pub struct NewTerm<'a> {
    pub id: Uuid,
    pub estate_id: Uuid,
    pub name: &'a str,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub seats: i32,
    pub phone: &'a str,
    pub created_by: Option<Uuid>,
}

/// Creates a term.
pub async fn insert_term(conn: &TenantConn, t: &NewTerm<'_>) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO terms (id, estate_id, name, starts_on, ends_on, seats, phone, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[&t.id, &t.estate_id, &t.name, &t.starts_on, &t.ends_on, &t.seats, &t.phone, &t.created_by],
    )
    .await?;
    Ok(())
}

/// An estate's terms, latest start first.
pub async fn terms_of_estate(conn: &TenantConn, estate: Uuid) -> ApiResult<Vec<TermRow>> {
    let rows = conn
        .query("SELECT id, estate_id, name, starts_on, ends_on, seats, phone FROM terms WHERE estate_id = $1 ORDER BY starts_on DESC", &[&estate])
        .await?;
    Ok(rows
        .iter()
        .map(|r| TermRow {
            id: r.get(0),
            estate_id: r.get(1),
            name: r.get(2),
            starts_on: r.get(3),
            ends_on: r.get(4),
            seats: r.get(5),
            phone: r.get(6),
        })
        .collect())
}

/// What opening a term's election needs of the term.
pub struct TermHeadRow {
    pub estate_id: Uuid,
    pub seats: i32,
    pub name: String,
}

/// A term's estate, seats and name, or `None` when there is no such term.
pub async fn term_head(conn: &TenantConn, term: Uuid) -> ApiResult<Option<TermHeadRow>> {
    let row = conn
        .query_opt(
            "SELECT estate_id, seats, name FROM terms WHERE id = $1",
            &[&term],
        )
        .await?;
    Ok(row.map(|t| TermHeadRow {
        estate_id: t.get(0),
        seats: t.get(1),
        name: t.get(2),
    }))
}

/// A term's estate and period, as appointing its committee reads them.
pub struct TermPeriodRow {
    pub estate_id: Uuid,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
}

/// A term's estate and period, locked (one appointment at a time), or `None`.
pub async fn term_period_for_update(
    conn: &TenantConn,
    term: Uuid,
) -> ApiResult<Option<TermPeriodRow>> {
    let row = conn
        .query_opt(
            "SELECT estate_id, starts_on, ends_on FROM terms WHERE id = $1 FOR UPDATE",
            &[&term],
        )
        .await?;
    Ok(row.map(|t| TermPeriodRow {
        estate_id: t.get(0),
        starts_on: t.get(1),
        ends_on: t.get(2),
    }))
}

/// Whether the term has an election that was not cancelled.
pub async fn term_has_live_election(conn: &TenantConn, term: Uuid) -> ApiResult<bool> {
    Ok(conn.exists("SELECT 1 FROM elections el JOIN matters m ON m.id = el.matter_id WHERE el.term_id = $1 AND m.status <> 'cancelled'", &[&term]).await?)
}

/// The number of the term's next round (after a cancelled election the numbering goes on).
pub async fn next_round_number(conn: &TenantConn, term: Uuid) -> ApiResult<i32> {
    Ok(conn
        .query_one(
            "SELECT coalesce(max(round), 0) + 1 FROM elections WHERE term_id = $1",
            &[&term],
        )
        .await?
        .get(0))
}

/// The owners elected in any of the term's rounds.
pub async fn term_elected_owners(conn: &TenantConn, term: Uuid) -> ApiResult<Vec<Uuid>> {
    Ok(conn
        .query("SELECT DISTINCT c.owner_id FROM candidates c JOIN elections e ON e.id = c.election_id WHERE e.term_id = $1 AND c.elected", &[&term])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// Ends, at `from`, the grants of earlier terms (and ones given by hand) of the estate.
pub async fn end_earlier_grants(
    conn: &TenantConn,
    estate: Uuid,
    from: DateTime<Utc>,
    term: Uuid,
    starts_on: NaiveDate,
) -> ApiResult<()> {
    conn.execute(
        "UPDATE oc_members m SET revoked_at = $2, end_reason = 'term_replaced'
              WHERE m.estate_id = $1 AND (m.revoked_at IS NULL OR m.revoked_at > $2) AND m.term_id IS DISTINCT FROM $3
                AND (m.term_id IS NULL OR (SELECT t.starts_on FROM terms t WHERE t.id = m.term_id) < $4)",
        &[&estate, &from, &term, &starts_on],
    )
    .await?;
    Ok(())
}

/// A term's grant of the owners'-committee role to one owner.
pub struct TermGrant {
    pub estate_id: Uuid,
    pub owner_id: Uuid,
    pub granted_by: Option<Uuid>,
    pub granted_at: DateTime<Utc>,
    pub revoked_at: DateTime<Utc>,
    pub term_id: Uuid,
}

/// Grants the role for the term, unless the owner already holds the term's grant.
pub async fn grant_term_seat(conn: &TenantConn, g: &TermGrant) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO oc_members (id, estate_id, owner_id, granted_by, granted_at, revoked_at, term_id)
                 SELECT $1, $2, $3, $4, $5, $6, $7 WHERE NOT EXISTS (SELECT 1 FROM oc_members WHERE term_id = $7 AND owner_id = $3)",
        &[&Uuid::new_v4(), &g.estate_id, &g.owner_id, &g.granted_by, &g.granted_at, &g.revoked_at, &g.term_id],
    )
    .await?;
    Ok(())
}

/// Flags the estate as having an owners' committee.
pub async fn flag_owners_committee(conn: &TenantConn, estate: Uuid) -> ApiResult<()> {
    conn.execute(
        "UPDATE estates SET has_owners_committee = true, updated_at = now() WHERE id = $1",
        &[&estate],
    )
    .await?;
    Ok(())
}

// Rounds and the matters they vote through.

/// The estate's name and the matter's title and cancel reason, for a round's view.
pub struct MatterNamesRow {
    pub estate_name: String,
    pub title: String,
    pub cancel_reason: Option<String>,
}

/// The names a round's view shows, from its matter.
pub async fn matter_names(conn: &TenantConn, matter: Uuid) -> ApiResult<MatterNamesRow> {
    let names =
        conn.query_one("SELECT e.name, m.title, m.cancel_reason FROM matters m JOIN estates e ON e.id = m.estate_id WHERE m.id = $1", &[&matter]).await?;
    Ok(MatterNamesRow {
        estate_name: names.get(0),
        title: names.get(1),
        cancel_reason: names.get(2),
    })
}

/// What a counted round declared: the ledger's root and when it closed.
pub struct DeclaredRow {
    pub ledger_root: String,
    pub closed_at: Option<DateTime<Utc>>,
}

/// The declared root and closing time of a round's matter.
pub async fn declared(conn: &TenantConn, matter: Uuid) -> ApiResult<DeclaredRow> {
    let declared = conn
        .query_one(
            "SELECT coalesce(result->>'ledger_root', ''), closed_at FROM matters WHERE id = $1",
            &[&matter],
        )
        .await?;
    Ok(DeclaredRow {
        ledger_root: declared.get(0),
        closed_at: declared.get(1),
    })
}

/// A matter's title.
pub async fn matter_title(conn: &TenantConn, matter: Uuid) -> ApiResult<String> {
    Ok(conn
        .query_one("SELECT title FROM matters WHERE id = $1", &[&matter])
        .await?
        .get(0))
}

/// Closes a round's matter with its result.
pub async fn close_matter(
    conn: &TenantConn,
    matter: Uuid,
    result: &serde_json::Value,
    closed_at: &DateTime<Utc>,
) -> ApiResult<()> {
    conn.execute("UPDATE matters SET status = 'closed', result = $2, closed_at = $3, updated_at = now() WHERE id = $1", &[&matter, result, closed_at])
        .await?;
    Ok(())
}

/// Cancels a round's matter with the reason.
pub async fn cancel_matter(conn: &TenantConn, matter: Uuid, reason: &str) -> ApiResult<()> {
    conn.execute("UPDATE matters SET status = 'cancelled', cancel_reason = $2, updated_at = now() WHERE id = $1", &[&matter, &reason]).await?;
    Ok(())
}

/// Keeps a counted round's result on the round.
pub async fn keep_round_result(
    conn: &TenantConn,
    election: Uuid,
    result: &serde_json::Value,
) -> ApiResult<()> {
    conn.execute(
        "UPDATE elections SET result = $2 WHERE id = $1",
        &[&election, result],
    )
    .await?;
    Ok(())
}

/// Whether a round after `round` exists for the same term or preparatory group.
pub async fn later_round_exists(
    conn: &TenantConn,
    term: Option<Uuid>,
    prep_group: Option<Uuid>,
    round: i32,
) -> ApiResult<bool> {
    Ok(conn
        .exists(
            "SELECT 1 FROM elections WHERE (term_id = $1 OR prep_group_id = $2) AND round > $3",
            &[&term, &prep_group, &round],
        )
        .await?)
}

/// An estate's rounds, newest first.
pub async fn election_ids_of_estate(conn: &TenantConn, estate: Uuid) -> ApiResult<Vec<Uuid>> {
    Ok(conn
        .query("SELECT el.id FROM elections el JOIN matters m ON m.id = el.matter_id WHERE m.estate_id = $1 ORDER BY el.created_at DESC", &[&estate])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

// Candidates.

/// A candidate as stored (the columns of the views' read and of the review's `RETURNING`).
pub struct CandidateRow {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub name: String,
    pub intro: String,
    pub status: String,
    pub reason: Option<String>,
    pub elected: bool,
    pub signature_id: Option<Uuid>,
}

/// The one place a candidate row is read by position.
fn candidate_row(c: &Row) -> CandidateRow {
    CandidateRow {
        id: c.get(0),
        owner_id: c.get(1),
        name: c.get(2),
        intro: c.get(3),
        status: c.get(4),
        reason: c.get(5),
        elected: c.get(6),
        signature_id: c.get(7),
    }
}

/// A round's candidates in sign-up order: all for staff, the approved ones otherwise.
pub async fn candidates_of(
    conn: &TenantConn,
    election: Uuid,
    all: bool,
) -> ApiResult<Vec<CandidateRow>> {
    Ok(conn
        .query(
            "SELECT id, owner_id, name, intro, status, reason, elected, signature_id FROM candidates WHERE election_id = $1 AND ($2 OR status = 'approved')
              ORDER BY created_at, id",
            &[&election, &all],
        )
        .await?
        .iter()
        .map(candidate_row)
        .collect())
}

/// How many of `ids` are approved candidates of the round.
pub async fn approved_among(conn: &TenantConn, election: Uuid, ids: &[Uuid]) -> ApiResult<i64> {
    Ok(conn.query_one("SELECT count(*) FROM candidates WHERE election_id = $1 AND status = 'approved' AND id = ANY($2)", &[&election, &ids]).await?.get(0))
}

/// A candidate's id (as text, the tally's key), name and whether elected.
pub struct CandidateNameRow {
    pub id: String,
    pub name: String,
    pub elected: bool,
}

/// Every candidate of a round, by id as text.
pub async fn candidate_names(
    conn: &TenantConn,
    election: Uuid,
) -> ApiResult<Vec<CandidateNameRow>> {
    Ok(conn
        .query(
            "SELECT id::text, name, elected FROM candidates WHERE election_id = $1",
            &[&election],
        )
        .await?
        .iter()
        .map(|c| CandidateNameRow {
            id: c.get(0),
            name: c.get(1),
            elected: c.get(2),
        })
        .collect())
}

/// An owner's sign-up as a candidate, already trimmed by the caller.
pub struct NewCandidate<'a> {
    pub id: Uuid,
    pub election_id: Uuid,
    pub owner_id: Uuid,
    pub name: &'a str,
    pub intro: &'a str,
    pub signature_id: Uuid,
}

/// Records a pending sign-up (a second one of the owner violates a unique key).
pub async fn insert_candidate(conn: &TenantConn, c: &NewCandidate<'_>) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO candidates (id, election_id, owner_id, name, intro, signature_id, status) VALUES ($1, $2, $3, $4, $5, $6, 'pending')",
        &[&c.id, &c.election_id, &c.owner_id, &c.name, &c.intro, &c.signature_id],
    )
    .await?;
    Ok(())
}

/// The round a candidate stands in, or `None` when there is no such candidate.
pub async fn candidate_election(conn: &TenantConn, id: Uuid) -> ApiResult<Option<Uuid>> {
    Ok(conn
        .query_opt("SELECT election_id FROM candidates WHERE id = $1", &[&id])
        .await?
        .map(|r| r.get(0)))
}

/// Records staff's decision on a candidate; returns the candidate.
pub async fn review_candidate(
    conn: &TenantConn,
    id: Uuid,
    status: &str,
    reason: Option<&str>,
    staff: Option<Uuid>,
) -> ApiResult<CandidateRow> {
    let row = conn
        .query_one(
            "UPDATE candidates SET status = $2, reason = $3, reviewed_by = $4, reviewed_at = now() WHERE id = $1
                 RETURNING id, owner_id, name, intro, status, reason, elected, signature_id",
            &[&id, &status, &reason, &staff],
        )
        .await?;
    Ok(candidate_row(&row))
}

/// Someone standing again, or a preparatory group's sign-up, as a new round seats them.
pub struct StandingRow {
    pub owner_id: Uuid,
    pub name: String,
    pub intro: String,
    pub signature_id: Option<Uuid>,
}

/// The one place a standing row is read by position (owner_id, name, intro, signature_id).
pub fn standing_row(c: &Row) -> StandingRow {
    StandingRow {
        owner_id: c.get(0),
        name: c.get(1),
        intro: c.get(2),
        signature_id: c.get(3),
    }
}

/// A round's approved candidates not elected, in sign-up order.
pub async fn remaining_candidates(
    conn: &TenantConn,
    election: Uuid,
) -> ApiResult<Vec<StandingRow>> {
    Ok(conn
        .query("SELECT owner_id, name, intro, signature_id FROM candidates WHERE election_id = $1 AND status = 'approved' AND NOT elected ORDER BY created_at, id", &[&election])
        .await?
        .iter()
        .map(standing_row)
        .collect())
}

/// Marks the round's candidates `ids` elected.
pub async fn mark_elected(conn: &TenantConn, election: Uuid, ids: &[Uuid]) -> ApiResult<()> {
    conn.execute(
        "UPDATE candidates SET elected = true WHERE election_id = $1 AND id = ANY($2)",
        &[&election, &ids],
    )
    .await?;
    Ok(())
}

// Face checks.

/// Whether the owner passed a face (or in-person) check for the round.
pub async fn face_passed(conn: &TenantConn, election: Uuid, owner: Uuid) -> ApiResult<bool> {
    Ok(conn.exists("SELECT 1 FROM face_checks WHERE election_id = $1 AND owner_id = $2 AND status = 'passed'", &[&election, &owner]).await?)
}

/// Records a check started with the provider.
pub async fn insert_face_check(
    conn: &TenantConn,
    id: Uuid,
    election: Uuid,
    owner: Uuid,
    provider: &str,
    biz_token: &str,
) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO face_checks (id, election_id, owner_id, provider, biz_token, status) VALUES ($1, $2, $3, $4, $5, 'pending')",
        &[&id, &election, &owner, &provider, &biz_token],
    )
    .await?;
    Ok(())
}

/// A started check's provider token and status.
pub struct FaceTokenRow {
    pub biz_token: String,
    pub status: String,
}

/// The owner's own started check, locked, or `None`.
pub async fn face_token_for_update(
    conn: &TenantConn,
    id: Uuid,
    owner: Uuid,
) -> ApiResult<Option<FaceTokenRow>> {
    Ok(conn
        .query_opt("SELECT biz_token, status FROM face_checks WHERE id = $1 AND owner_id = $2 AND biz_token IS NOT NULL FOR UPDATE", &[&id, &owner])
        .await?
        .map(|row| FaceTokenRow {
            biz_token: row.get(0),
            status: row.get(1),
        }))
}

/// Records the provider's decision on a check.
pub async fn decide_face_check(
    conn: &TenantConn,
    id: Uuid,
    status: &str,
    reference: &str,
    detail: Option<&str>,
) -> ApiResult<()> {
    conn.execute(
        "UPDATE face_checks SET status = $2, reference = $3, detail = $4, decided_at = now() WHERE id = $1",
        &[&id, &status, &reference, &detail],
    )
    .await?;
    Ok(())
}

/// Records a passed in-person check by staff.
pub async fn insert_in_person_check(
    conn: &TenantConn,
    id: Uuid,
    election: Uuid,
    owner: Uuid,
    reference: &str,
    staff: Option<Uuid>,
) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO face_checks (id, election_id, owner_id, provider, status, reference, staff_id, decided_at)
             VALUES ($1, $2, $3, 'in_person', 'passed', $4, $5, now())",
        &[&id, &election, &owner, &reference, &staff],
    )
    .await?;
    Ok(())
}
