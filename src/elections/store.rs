//! Every statement of the elections domain on terms, rounds' matters, candidates and face checks
//! (rounds themselves are created and loaded in `rounds.rs`, preparatory groups in
//! `prep_store.rs`). Ordinary reads and writes use diesel's query builder over the typed schema;
//! the statements clearer as SQL (a correlated subquery, an `INSERT … SELECT`, a JSON field) are
//! sent with `sql_query` and typed binds.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::{
    dsl::{exists, max, not, now},
    prelude::*,
    sql_query, sql_types as sql,
};
use uuid::Uuid;

use crate::{
    error::ApiResult,
    schema::tenant::{candidates, elections, estates, face_checks, matters, owners, terms},
    tenancy::conn::TenantConn,
};

// Estates and owners, as elections read them.

/// The figures the locality presets depend on.
#[derive(Queryable, Selectable)]
#[diesel(table_name = estates, check_for_backend(diesel::pg::Pg))]
pub struct LocalityRow {
    pub locality_rule: String,
    pub total_households: i32,
    pub total_area_centi: i64,
}

/// An estate's locality rule, households and area (for its presets).
pub async fn locality_figures(conn: &TenantConn, estate: Uuid) -> ApiResult<LocalityRow> {
    Ok(conn
        .first(estates::table.find(estate).select(LocalityRow::as_select()))
        .await?)
}

/// An owner's verified real name (a candidate stands, and a face check runs, under it).
pub async fn owner_real_name(conn: &TenantConn, owner: Uuid) -> ApiResult<String> {
    Ok(conn
        .first(owners::table.find(owner).select(owners::real_name))
        .await?)
}

// Terms.

/// A term as stored.
#[derive(Queryable, Selectable)]
#[diesel(table_name = terms, check_for_backend(diesel::pg::Pg))]
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
    conn.execute(diesel::insert_into(terms::table).values((
        terms::id.eq(t.id),
        terms::estate_id.eq(t.estate_id),
        terms::name.eq(t.name),
        terms::starts_on.eq(t.starts_on),
        terms::ends_on.eq(t.ends_on),
        terms::seats.eq(t.seats),
        terms::phone.eq(t.phone),
        t.created_by.map(|by| terms::created_by.eq(by)),
    )))
    .await?;
    Ok(())
}

/// An estate's terms, latest start first.
pub async fn terms_of_estate(conn: &TenantConn, estate: Uuid) -> ApiResult<Vec<TermRow>> {
    Ok(conn
        .load(
            terms::table
                .filter(terms::estate_id.eq(estate))
                .order(terms::starts_on.desc())
                .select(TermRow::as_select()),
        )
        .await?)
}

/// What opening a term's election needs of the term.
#[derive(Queryable, Selectable)]
#[diesel(table_name = terms, check_for_backend(diesel::pg::Pg))]
pub struct TermHeadRow {
    pub estate_id: Uuid,
    pub seats: i32,
    pub name: String,
}

/// A term's estate, seats and name, or `None` when there is no such term.
pub async fn term_head(conn: &TenantConn, term: Uuid) -> ApiResult<Option<TermHeadRow>> {
    Ok(conn
        .optional(terms::table.find(term).select(TermHeadRow::as_select()))
        .await?)
}

/// A term's estate and period, as appointing its committee reads them.
#[derive(Queryable, Selectable)]
#[diesel(table_name = terms, check_for_backend(diesel::pg::Pg))]
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
    Ok(conn
        .optional(
            terms::table
                .find(term)
                .select(TermPeriodRow::as_select())
                .for_update(),
        )
        .await?)
}

/// Whether the term has an election that was not cancelled.
pub async fn term_has_live_election(conn: &TenantConn, term: Uuid) -> ApiResult<bool> {
    Ok(conn
        .first(diesel::select(exists(
            elections::table
                .inner_join(matters::table)
                .filter(elections::term_id.eq(term))
                .filter(matters::status.ne("cancelled")),
        )))
        .await?)
}

/// The number of the term's next round (after a cancelled election the numbering goes on).
pub async fn next_round_number(conn: &TenantConn, term: Uuid) -> ApiResult<i32> {
    let last: Option<i32> = conn
        .first(
            elections::table
                .filter(elections::term_id.eq(term))
                .select(max(elections::round)),
        )
        .await?;
    Ok(last.unwrap_or(0) + 1)
}

/// The owners elected in any of the term's rounds.
pub async fn term_elected_owners(conn: &TenantConn, term: Uuid) -> ApiResult<Vec<Uuid>> {
    Ok(conn
        .load(
            candidates::table
                .inner_join(elections::table)
                .filter(elections::term_id.eq(term))
                .filter(candidates::elected)
                .select(candidates::owner_id)
                .distinct(),
        )
        .await?)
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
    conn.execute(diesel::update(estates::table.find(estate)).set((
        estates::has_owners_committee.eq(true),
        estates::updated_at.eq(now),
    )))
    .await?;
    Ok(())
}

// Rounds and the matters they vote through.

/// The estate's name and the matter's title and cancel reason, for a round's view.
#[derive(Queryable, Selectable)]
#[diesel(table_name = matters, check_for_backend(diesel::pg::Pg))]
pub struct MatterNamesRow {
    #[diesel(select_expression = estates::name)]
    pub estate_name: String,
    pub title: String,
    pub cancel_reason: Option<String>,
}

/// The names a round's view shows, from its matter.
pub async fn matter_names(conn: &TenantConn, matter: Uuid) -> ApiResult<MatterNamesRow> {
    Ok(conn
        .first(
            matters::table
                .inner_join(estates::table)
                .filter(matters::id.eq(matter))
                .select(MatterNamesRow::as_select()),
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
        .first(matters::table.find(matter).select(matters::title))
        .await?)
}

/// Keeps a counted round's result on the round.
pub async fn keep_round_result(
    conn: &TenantConn,
    election: Uuid,
    result: &serde_json::Value,
) -> ApiResult<()> {
    conn.execute(diesel::update(elections::table.find(election)).set(elections::result.eq(result)))
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
        .first(diesel::select(exists(
            elections::table
                .filter(
                    elections::term_id
                        .eq(term)
                        .or(elections::prep_group_id.eq(prep_group)),
                )
                .filter(elections::round.gt(round)),
        )))
        .await?)
}

/// An estate's rounds, newest first.
pub async fn election_ids_of_estate(conn: &TenantConn, estate: Uuid) -> ApiResult<Vec<Uuid>> {
    Ok(conn
        .load(
            elections::table
                .inner_join(matters::table)
                .filter(matters::estate_id.eq(estate))
                .order(elections::created_at.desc())
                .select(elections::id),
        )
        .await?)
}

// Candidates.

/// A candidate as stored (the columns of the views' read and of the review's `RETURNING`).
#[derive(Queryable, Selectable)]
#[diesel(table_name = candidates, check_for_backend(diesel::pg::Pg))]
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

/// A round's candidates in sign-up order: all for staff, the approved ones otherwise.
pub async fn candidates_of(
    conn: &TenantConn,
    election: Uuid,
    all: bool,
) -> ApiResult<Vec<CandidateRow>> {
    Ok(conn
        .load(
            candidates::table
                .filter(candidates::election_id.eq(election))
                .filter(
                    all.into_sql::<sql::Bool>()
                        .or(candidates::status.eq("approved")),
                )
                .order((candidates::created_at, candidates::id))
                .select(CandidateRow::as_select()),
        )
        .await?)
}

/// How many of `ids` are approved candidates of the round.
pub async fn approved_among(conn: &TenantConn, election: Uuid, ids: &[Uuid]) -> ApiResult<i64> {
    Ok(conn
        .first(
            candidates::table
                .filter(candidates::election_id.eq(election))
                .filter(candidates::status.eq("approved"))
                .filter(candidates::id.eq_any(ids))
                .count(),
        )
        .await?)
}

/// A candidate's id (as text, the tally's key), name and whether elected.
#[derive(Queryable, Selectable)]
#[diesel(table_name = candidates, check_for_backend(diesel::pg::Pg))]
pub struct CandidateNameRow {
    #[diesel(select_expression = candidates::id.cast::<sql::Text>())]
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
        .load(
            candidates::table
                .filter(candidates::election_id.eq(election))
                .select(CandidateNameRow::as_select()),
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
    conn.execute(diesel::insert_into(candidates::table).values((
        candidates::id.eq(c.id),
        candidates::election_id.eq(c.election_id),
        candidates::owner_id.eq(c.owner_id),
        candidates::name.eq(c.name),
        candidates::intro.eq(c.intro),
        candidates::signature_id.eq(c.signature_id),
        candidates::status.eq("pending"),
    )))
    .await?;
    Ok(())
}

/// The round a candidate stands in, or `None` when there is no such candidate.
pub async fn candidate_election(conn: &TenantConn, id: Uuid) -> ApiResult<Option<Uuid>> {
    Ok(conn
        .optional(candidates::table.find(id).select(candidates::election_id))
        .await?)
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
            diesel::update(candidates::table.find(id))
                .set((
                    candidates::status.eq(status),
                    candidates::reason.eq(reason),
                    candidates::reviewed_by.eq(staff),
                    candidates::reviewed_at.eq(now),
                ))
                .returning(CandidateRow::as_returning()),
        )
        .await?)
}

/// Someone standing again, or a preparatory group's sign-up, as a new round seats them (the
/// columns owner_id, name, intro, signature_id of `candidates`, or of `prep_members`, read in
/// this order).
#[derive(Queryable, Selectable)]
#[diesel(table_name = candidates, check_for_backend(diesel::pg::Pg))]
pub struct StandingRow {
    pub owner_id: Uuid,
    pub name: String,
    pub intro: String,
    pub signature_id: Option<Uuid>,
}

/// A round's approved candidates not elected, in sign-up order.
pub async fn remaining_candidates(
    conn: &TenantConn,
    election: Uuid,
) -> ApiResult<Vec<StandingRow>> {
    Ok(conn
        .load(
            candidates::table
                .filter(candidates::election_id.eq(election))
                .filter(candidates::status.eq("approved"))
                .filter(not(candidates::elected))
                .order((candidates::created_at, candidates::id))
                .select(StandingRow::as_select()),
        )
        .await?)
}

/// Marks the round's candidates `ids` elected.
pub async fn mark_elected(conn: &TenantConn, election: Uuid, ids: &[Uuid]) -> ApiResult<()> {
    conn.execute(
        diesel::update(candidates::table)
            .filter(candidates::election_id.eq(election))
            .filter(candidates::id.eq_any(ids))
            .set(candidates::elected.eq(true)),
    )
    .await?;
    Ok(())
}

// Face checks.

/// Whether the owner passed a face (or in-person) check for the round.
pub async fn face_passed(conn: &TenantConn, election: Uuid, owner: Uuid) -> ApiResult<bool> {
    Ok(conn
        .first(diesel::select(exists(
            face_checks::table
                .filter(face_checks::election_id.eq(election))
                .filter(face_checks::owner_id.eq(owner))
                .filter(face_checks::status.eq("passed")),
        )))
        .await?)
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
    conn.execute(diesel::insert_into(face_checks::table).values((
        face_checks::id.eq(id),
        face_checks::election_id.eq(election),
        face_checks::owner_id.eq(owner),
        face_checks::provider.eq(provider),
        face_checks::biz_token.eq(biz_token),
        face_checks::status.eq("pending"),
    )))
    .await?;
    Ok(())
}

/// A started check's provider token and status.
#[derive(Queryable, Selectable)]
#[diesel(table_name = face_checks, check_for_backend(diesel::pg::Pg))]
pub struct FaceTokenRow {
    /// Read only where it is not null.
    #[diesel(select_expression = face_checks::biz_token.assume_not_null())]
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
        .optional(
            face_checks::table
                .filter(face_checks::id.eq(id))
                .filter(face_checks::owner_id.eq(owner))
                .filter(face_checks::biz_token.is_not_null())
                .select(FaceTokenRow::as_select())
                .for_update(),
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
    conn.execute(diesel::update(face_checks::table.find(id)).set((
        face_checks::status.eq(status),
        face_checks::reference.eq(reference),
        face_checks::detail.eq(detail),
        face_checks::decided_at.eq(now),
    )))
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
    conn.execute(diesel::insert_into(face_checks::table).values((
        face_checks::id.eq(id),
        face_checks::election_id.eq(election),
        face_checks::owner_id.eq(owner),
        face_checks::provider.eq("in_person"),
        face_checks::status.eq("passed"),
        face_checks::reference.eq(reference),
        face_checks::staff_id.eq(staff),
        face_checks::decided_at.eq(now),
    )))
    .await?;
    Ok(())
}
