//! Every statement of the elections domain on terms, rounds' matters, candidates and face checks
//! (rounds themselves are created and loaded in `rounds.rs`, preparatory groups in
//! `prep_store.rs`). Statements are sent with diesel's `sql_query` and typed binds; rows are
//! read by column name into the `QueryableByName` row structs below.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::{sql_query, sql_types as sql, QueryableByName};
use uuid::Uuid;

use crate::{error::ApiResult, tenancy::conn::TenantConn};

/// Whether a statement found anything (`SELECT EXISTS (...) AS found`).
#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = sql::Bool)]
    found: bool,
}

/// One bigint (`count(*) AS n`).
#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = sql::BigInt)]
    n: i64,
}

/// One integer (`... AS n`).
#[derive(QueryableByName)]
struct Number {
    #[diesel(sql_type = sql::Integer)]
    n: i32,
}

/// An id (`... id`).
#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = sql::Uuid)]
    id: Uuid,
}

/// An owner's id (`... owner_id`).
#[derive(QueryableByName)]
struct OwnerId {
    #[diesel(sql_type = sql::Uuid)]
    owner_id: Uuid,
}

// Estates and owners, as elections read them.

/// The figures the locality presets depend on.
#[derive(QueryableByName)]
pub struct LocalityRow {
    #[diesel(sql_type = sql::Text)]
    pub locality_rule: String,
    #[diesel(sql_type = sql::Integer)]
    pub total_households: i32,
    #[diesel(sql_type = sql::BigInt)]
    pub total_area_centi: i64,
}

/// An estate's locality rule, households and area (for its presets).
pub async fn locality_figures(conn: &TenantConn, estate: Uuid) -> ApiResult<LocalityRow> {
    Ok(conn
        .first(
            sql_query(
                "SELECT locality_rule, total_households, total_area_centi FROM estates WHERE id = $1",
            )
            .bind::<sql::Uuid, _>(estate),
        )
        .await?)
}

/// An owner's verified real name (a candidate stands, and a face check runs, under it).
pub async fn owner_real_name(conn: &TenantConn, owner: Uuid) -> ApiResult<String> {
    Ok(conn
        .first::<_, RealName>(
            sql_query("SELECT real_name FROM owners WHERE id = $1").bind::<sql::Uuid, _>(owner),
        )
        .await?
        .real_name)
}

#[derive(QueryableByName)]
struct RealName {
    #[diesel(sql_type = sql::Text)]
    real_name: String,
}

// Terms.

/// A term as stored.
#[derive(QueryableByName)]
pub struct TermRow {
    #[diesel(sql_type = sql::Uuid)]
    pub id: Uuid,
    #[diesel(sql_type = sql::Uuid)]
    pub estate_id: Uuid,
    #[diesel(sql_type = sql::Text)]
    pub name: String,
    #[diesel(sql_type = sql::Date)]
    pub starts_on: NaiveDate,
    #[diesel(sql_type = sql::Date)]
    pub ends_on: NaiveDate,
    #[diesel(sql_type = sql::Integer)]
    pub seats: i32,
    #[diesel(sql_type = sql::Text)]
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
        sql_query("INSERT INTO terms (id, estate_id, name, starts_on, ends_on, seats, phone, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind::<sql::Uuid, _>(t.id)
            .bind::<sql::Uuid, _>(t.estate_id)
            .bind::<sql::Text, _>(t.name)
            .bind::<sql::Date, _>(t.starts_on)
            .bind::<sql::Date, _>(t.ends_on)
            .bind::<sql::Integer, _>(t.seats)
            .bind::<sql::Text, _>(t.phone)
            .bind::<sql::Nullable<sql::Uuid>, _>(t.created_by),
    )
    .await?;
    Ok(())
}

/// An estate's terms, latest start first.
pub async fn terms_of_estate(conn: &TenantConn, estate: Uuid) -> ApiResult<Vec<TermRow>> {
    Ok(conn
        .load(
            sql_query("SELECT id, estate_id, name, starts_on, ends_on, seats, phone FROM terms WHERE estate_id = $1 ORDER BY starts_on DESC")
                .bind::<sql::Uuid, _>(estate),
        )
        .await?)
}

/// What opening a term's election needs of the term.
#[derive(QueryableByName)]
pub struct TermHeadRow {
    #[diesel(sql_type = sql::Uuid)]
    pub estate_id: Uuid,
    #[diesel(sql_type = sql::Integer)]
    pub seats: i32,
    #[diesel(sql_type = sql::Text)]
    pub name: String,
}

/// A term's estate, seats and name, or `None` when there is no such term.
pub async fn term_head(conn: &TenantConn, term: Uuid) -> ApiResult<Option<TermHeadRow>> {
    Ok(conn
        .optional(
            sql_query("SELECT estate_id, seats, name FROM terms WHERE id = $1")
                .bind::<sql::Uuid, _>(term),
        )
        .await?)
}

/// A term's estate and period, as appointing its committee reads them.
#[derive(QueryableByName)]
pub struct TermPeriodRow {
    #[diesel(sql_type = sql::Uuid)]
    pub estate_id: Uuid,
    #[diesel(sql_type = sql::Date)]
    pub starts_on: NaiveDate,
    #[diesel(sql_type = sql::Date)]
    pub ends_on: NaiveDate,
}

/// A term's estate and period, locked (one appointment at a time), or `None`.
pub async fn term_period_for_update(
    conn: &TenantConn,
    term: Uuid,
) -> ApiResult<Option<TermPeriodRow>> {
    Ok(conn
        .optional(
            sql_query("SELECT estate_id, starts_on, ends_on FROM terms WHERE id = $1 FOR UPDATE")
                .bind::<sql::Uuid, _>(term),
        )
        .await?)
}

/// Whether the term has an election that was not cancelled.
pub async fn term_has_live_election(conn: &TenantConn, term: Uuid) -> ApiResult<bool> {
    Ok(conn
        .first::<_, Found>(
            sql_query("SELECT EXISTS (SELECT 1 FROM elections el JOIN matters m ON m.id = el.matter_id WHERE el.term_id = $1 AND m.status <> 'cancelled') AS found")
                .bind::<sql::Uuid, _>(term),
        )
        .await?
        .found)
}

/// The number of the term's next round (after a cancelled election the numbering goes on).
pub async fn next_round_number(conn: &TenantConn, term: Uuid) -> ApiResult<i32> {
    Ok(conn
        .first::<_, Number>(
            sql_query("SELECT coalesce(max(round), 0) + 1 AS n FROM elections WHERE term_id = $1")
                .bind::<sql::Uuid, _>(term),
        )
        .await?
        .n)
}

/// The owners elected in any of the term's rounds.
pub async fn term_elected_owners(conn: &TenantConn, term: Uuid) -> ApiResult<Vec<Uuid>> {
    Ok(conn
        .load::<_, OwnerId>(
            sql_query("SELECT DISTINCT c.owner_id FROM candidates c JOIN elections e ON e.id = c.election_id WHERE e.term_id = $1 AND c.elected")
                .bind::<sql::Uuid, _>(term),
        )
        .await?
        .into_iter()
        .map(|r| r.owner_id)
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
        sql_query(
            "UPDATE oc_members m SET revoked_at = $2, end_reason = 'term_replaced'
              WHERE m.estate_id = $1 AND (m.revoked_at IS NULL OR m.revoked_at > $2) AND m.term_id IS DISTINCT FROM $3
                AND (m.term_id IS NULL OR (SELECT t.starts_on FROM terms t WHERE t.id = m.term_id) < $4)",
        )
        .bind::<sql::Uuid, _>(estate)
        .bind::<sql::Timestamptz, _>(from)
        .bind::<sql::Uuid, _>(term)
        .bind::<sql::Date, _>(starts_on),
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
        sql_query(
            "INSERT INTO oc_members (id, estate_id, owner_id, granted_by, granted_at, revoked_at, term_id)
                 SELECT $1, $2, $3, $4, $5, $6, $7 WHERE NOT EXISTS (SELECT 1 FROM oc_members WHERE term_id = $7 AND owner_id = $3)",
        )
        .bind::<sql::Uuid, _>(Uuid::new_v4())
        .bind::<sql::Uuid, _>(g.estate_id)
        .bind::<sql::Uuid, _>(g.owner_id)
        .bind::<sql::Nullable<sql::Uuid>, _>(g.granted_by)
        .bind::<sql::Timestamptz, _>(g.granted_at)
        .bind::<sql::Timestamptz, _>(g.revoked_at)
        .bind::<sql::Uuid, _>(g.term_id),
    )
    .await?;
    Ok(())
}

/// Flags the estate as having an owners' committee.
pub async fn flag_owners_committee(conn: &TenantConn, estate: Uuid) -> ApiResult<()> {
    conn.execute(
        sql_query(
            "UPDATE estates SET has_owners_committee = true, updated_at = now() WHERE id = $1",
        )
        .bind::<sql::Uuid, _>(estate),
    )
    .await?;
    Ok(())
}

// Rounds and the matters they vote through.

/// The estate's name and the matter's title and cancel reason, for a round's view.
#[derive(QueryableByName)]
pub struct MatterNamesRow {
    #[diesel(sql_type = sql::Text)]
    pub estate_name: String,
    #[diesel(sql_type = sql::Text)]
    pub title: String,
    #[diesel(sql_type = sql::Nullable<sql::Text>)]
    pub cancel_reason: Option<String>,
}

/// The names a round's view shows, from its matter.
pub async fn matter_names(conn: &TenantConn, matter: Uuid) -> ApiResult<MatterNamesRow> {
    Ok(conn
        .first(
            sql_query("SELECT e.name AS estate_name, m.title, m.cancel_reason FROM matters m JOIN estates e ON e.id = m.estate_id WHERE m.id = $1")
                .bind::<sql::Uuid, _>(matter),
        )
        .await?)
}

/// What a counted round declared: the ledger's root and when it closed.
#[derive(QueryableByName)]
pub struct DeclaredRow {
    #[diesel(sql_type = sql::Text)]
    pub ledger_root: String,
    #[diesel(sql_type = sql::Nullable<sql::Timestamptz>)]
    pub closed_at: Option<DateTime<Utc>>,
}

/// The declared root and closing time of a round's matter.
pub async fn declared(conn: &TenantConn, matter: Uuid) -> ApiResult<DeclaredRow> {
    Ok(conn
        .first(
            sql_query("SELECT coalesce(result->>'ledger_root', '') AS ledger_root, closed_at FROM matters WHERE id = $1")
                .bind::<sql::Uuid, _>(matter),
        )
        .await?)
}

/// A matter's title.
pub async fn matter_title(conn: &TenantConn, matter: Uuid) -> ApiResult<String> {
    Ok(conn
        .first::<_, Title>(
            sql_query("SELECT title FROM matters WHERE id = $1").bind::<sql::Uuid, _>(matter),
        )
        .await?
        .title)
}

#[derive(QueryableByName)]
struct Title {
    #[diesel(sql_type = sql::Text)]
    title: String,
}

/// Closes a round's matter with its result.
pub async fn close_matter(
    conn: &TenantConn,
    matter: Uuid,
    result: &serde_json::Value,
    closed_at: &DateTime<Utc>,
) -> ApiResult<()> {
    conn.execute(
        sql_query("UPDATE matters SET status = 'closed', result = $2, closed_at = $3, updated_at = now() WHERE id = $1")
            .bind::<sql::Uuid, _>(matter)
            .bind::<sql::Jsonb, _>(result)
            .bind::<sql::Timestamptz, _>(closed_at),
    )
    .await?;
    Ok(())
}

/// Cancels a round's matter with the reason.
pub async fn cancel_matter(conn: &TenantConn, matter: Uuid, reason: &str) -> ApiResult<()> {
    conn.execute(
        sql_query("UPDATE matters SET status = 'cancelled', cancel_reason = $2, updated_at = now() WHERE id = $1")
            .bind::<sql::Uuid, _>(matter)
            .bind::<sql::Text, _>(reason),
    )
    .await?;
    Ok(())
}

/// Keeps a counted round's result on the round.
pub async fn keep_round_result(
    conn: &TenantConn,
    election: Uuid,
    result: &serde_json::Value,
) -> ApiResult<()> {
    conn.execute(
        sql_query("UPDATE elections SET result = $2 WHERE id = $1")
            .bind::<sql::Uuid, _>(election)
            .bind::<sql::Jsonb, _>(result),
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
        .first::<_, Found>(
            sql_query("SELECT EXISTS (SELECT 1 FROM elections WHERE (term_id = $1 OR prep_group_id = $2) AND round > $3) AS found")
                .bind::<sql::Nullable<sql::Uuid>, _>(term)
                .bind::<sql::Nullable<sql::Uuid>, _>(prep_group)
                .bind::<sql::Integer, _>(round),
        )
        .await?
        .found)
}

/// An estate's rounds, newest first.
pub async fn election_ids_of_estate(conn: &TenantConn, estate: Uuid) -> ApiResult<Vec<Uuid>> {
    Ok(conn
        .load::<_, Id>(
            sql_query("SELECT el.id FROM elections el JOIN matters m ON m.id = el.matter_id WHERE m.estate_id = $1 ORDER BY el.created_at DESC")
                .bind::<sql::Uuid, _>(estate),
        )
        .await?
        .into_iter()
        .map(|r| r.id)
        .collect())
}

// Candidates.

/// A candidate as stored (the columns of the views' read and of the review's `RETURNING`).
#[derive(QueryableByName)]
pub struct CandidateRow {
    #[diesel(sql_type = sql::Uuid)]
    pub id: Uuid,
    #[diesel(sql_type = sql::Uuid)]
    pub owner_id: Uuid,
    #[diesel(sql_type = sql::Text)]
    pub name: String,
    #[diesel(sql_type = sql::Text)]
    pub intro: String,
    #[diesel(sql_type = sql::Text)]
    pub status: String,
    #[diesel(sql_type = sql::Nullable<sql::Text>)]
    pub reason: Option<String>,
    #[diesel(sql_type = sql::Bool)]
    pub elected: bool,
    #[diesel(sql_type = sql::Nullable<sql::Uuid>)]
    pub signature_id: Option<Uuid>,
}

/// A round's candidates in sign-up order: all for staff, the approved ones otherwise.
pub async fn candidates_of(
    conn: &TenantConn,
    election: Uuid,
    all: bool,
) -> ApiResult<Vec<CandidateRow>> {
    Ok(conn
        .load(
            sql_query(
                "SELECT id, owner_id, name, intro, status, reason, elected, signature_id FROM candidates WHERE election_id = $1 AND ($2 OR status = 'approved')
              ORDER BY created_at, id",
            )
            .bind::<sql::Uuid, _>(election)
            .bind::<sql::Bool, _>(all),
        )
        .await?)
}

/// How many of `ids` are approved candidates of the round.
pub async fn approved_among(conn: &TenantConn, election: Uuid, ids: &[Uuid]) -> ApiResult<i64> {
    Ok(conn
        .first::<_, Count>(
            sql_query("SELECT count(*) AS n FROM candidates WHERE election_id = $1 AND status = 'approved' AND id = ANY($2)")
                .bind::<sql::Uuid, _>(election)
                .bind::<sql::Array<sql::Uuid>, _>(ids),
        )
        .await?
        .n)
}

/// A candidate's id (as text, the tally's key), name and whether elected.
#[derive(QueryableByName)]
pub struct CandidateNameRow {
    #[diesel(sql_type = sql::Text)]
    pub id: String,
    #[diesel(sql_type = sql::Text)]
    pub name: String,
    #[diesel(sql_type = sql::Bool)]
    pub elected: bool,
}

/// Every candidate of a round, by id as text.
pub async fn candidate_names(
    conn: &TenantConn,
    election: Uuid,
) -> ApiResult<Vec<CandidateNameRow>> {
    Ok(conn
        .load(
            sql_query(
                "SELECT id::text AS id, name, elected FROM candidates WHERE election_id = $1",
            )
            .bind::<sql::Uuid, _>(election),
        )
        .await?)
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
        sql_query("INSERT INTO candidates (id, election_id, owner_id, name, intro, signature_id, status) VALUES ($1, $2, $3, $4, $5, $6, 'pending')")
            .bind::<sql::Uuid, _>(c.id)
            .bind::<sql::Uuid, _>(c.election_id)
            .bind::<sql::Uuid, _>(c.owner_id)
            .bind::<sql::Text, _>(c.name)
            .bind::<sql::Text, _>(c.intro)
            .bind::<sql::Uuid, _>(c.signature_id),
    )
    .await?;
    Ok(())
}

/// The round a candidate stands in, or `None` when there is no such candidate.
pub async fn candidate_election(conn: &TenantConn, id: Uuid) -> ApiResult<Option<Uuid>> {
    Ok(conn
        .optional::<_, ElectionId>(
            sql_query("SELECT election_id FROM candidates WHERE id = $1").bind::<sql::Uuid, _>(id),
        )
        .await?
        .map(|r| r.election_id))
}

#[derive(QueryableByName)]
struct ElectionId {
    #[diesel(sql_type = sql::Uuid)]
    election_id: Uuid,
}

/// Records staff's decision on a candidate; returns the candidate.
pub async fn review_candidate(
    conn: &TenantConn,
    id: Uuid,
    status: &str,
    reason: Option<&str>,
    staff: Option<Uuid>,
) -> ApiResult<CandidateRow> {
    Ok(conn
        .first(
            sql_query(
                "UPDATE candidates SET status = $2, reason = $3, reviewed_by = $4, reviewed_at = now() WHERE id = $1
                 RETURNING id, owner_id, name, intro, status, reason, elected, signature_id",
            )
            .bind::<sql::Uuid, _>(id)
            .bind::<sql::Text, _>(status)
            .bind::<sql::Nullable<sql::Text>, _>(reason)
            .bind::<sql::Nullable<sql::Uuid>, _>(staff),
        )
        .await?)
}

/// Someone standing again, or a preparatory group's sign-up, as a new round seats them (read
/// from the columns owner_id, name, intro, signature_id).
#[derive(QueryableByName)]
pub struct StandingRow {
    #[diesel(sql_type = sql::Uuid)]
    pub owner_id: Uuid,
    #[diesel(sql_type = sql::Text)]
    pub name: String,
    #[diesel(sql_type = sql::Text)]
    pub intro: String,
    #[diesel(sql_type = sql::Nullable<sql::Uuid>)]
    pub signature_id: Option<Uuid>,
}

/// A round's approved candidates not elected, in sign-up order.
pub async fn remaining_candidates(
    conn: &TenantConn,
    election: Uuid,
) -> ApiResult<Vec<StandingRow>> {
    Ok(conn
        .load(
            sql_query("SELECT owner_id, name, intro, signature_id FROM candidates WHERE election_id = $1 AND status = 'approved' AND NOT elected ORDER BY created_at, id")
                .bind::<sql::Uuid, _>(election),
        )
        .await?)
}

/// Marks the round's candidates `ids` elected.
pub async fn mark_elected(conn: &TenantConn, election: Uuid, ids: &[Uuid]) -> ApiResult<()> {
    conn.execute(
        sql_query("UPDATE candidates SET elected = true WHERE election_id = $1 AND id = ANY($2)")
            .bind::<sql::Uuid, _>(election)
            .bind::<sql::Array<sql::Uuid>, _>(ids),
    )
    .await?;
    Ok(())
}

// Face checks.

/// Whether the owner passed a face (or in-person) check for the round.
pub async fn face_passed(conn: &TenantConn, election: Uuid, owner: Uuid) -> ApiResult<bool> {
    Ok(conn
        .first::<_, Found>(
            sql_query("SELECT EXISTS (SELECT 1 FROM face_checks WHERE election_id = $1 AND owner_id = $2 AND status = 'passed') AS found")
                .bind::<sql::Uuid, _>(election)
                .bind::<sql::Uuid, _>(owner),
        )
        .await?
        .found)
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
        sql_query("INSERT INTO face_checks (id, election_id, owner_id, provider, biz_token, status) VALUES ($1, $2, $3, $4, $5, 'pending')")
            .bind::<sql::Uuid, _>(id)
            .bind::<sql::Uuid, _>(election)
            .bind::<sql::Uuid, _>(owner)
            .bind::<sql::Text, _>(provider)
            .bind::<sql::Text, _>(biz_token),
    )
    .await?;
    Ok(())
}

/// A started check's provider token and status.
#[derive(QueryableByName)]
pub struct FaceTokenRow {
    /// Read only where it is not null.
    #[diesel(sql_type = sql::Text)]
    pub biz_token: String,
    #[diesel(sql_type = sql::Text)]
    pub status: String,
}

/// The owner's own started check, locked, or `None`.
pub async fn face_token_for_update(
    conn: &TenantConn,
    id: Uuid,
    owner: Uuid,
) -> ApiResult<Option<FaceTokenRow>> {
    Ok(conn
        .optional(
            sql_query("SELECT biz_token, status FROM face_checks WHERE id = $1 AND owner_id = $2 AND biz_token IS NOT NULL FOR UPDATE")
                .bind::<sql::Uuid, _>(id)
                .bind::<sql::Uuid, _>(owner),
        )
        .await?)
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
        sql_query("UPDATE face_checks SET status = $2, reference = $3, detail = $4, decided_at = now() WHERE id = $1")
            .bind::<sql::Uuid, _>(id)
            .bind::<sql::Text, _>(status)
            .bind::<sql::Text, _>(reference)
            .bind::<sql::Nullable<sql::Text>, _>(detail),
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
        sql_query(
            "INSERT INTO face_checks (id, election_id, owner_id, provider, status, reference, staff_id, decided_at)
             VALUES ($1, $2, $3, 'in_person', 'passed', $4, $5, now())",
        )
        .bind::<sql::Uuid, _>(id)
        .bind::<sql::Uuid, _>(election)
        .bind::<sql::Uuid, _>(owner)
        .bind::<sql::Text, _>(reference)
        .bind::<sql::Nullable<sql::Uuid>, _>(staff),
    )
    .await?;
    Ok(())
}
