//! Every statement on ballots, the frozen roll as casting reads and regroups it, deliveries, and
//! the ballot lists and export. Ordinary reads and writes are written with diesel's query
//! builder over the typed schema. The locks, the sales and splits, the statements with
//! subqueries or aggregates over the roll, the ballot insert, the lists and the export are
//! `sql_query`, their rows read by column name into `QueryableByName` structs (each selected
//! expression named as its field). The locks are statements too: callers take them in the order
//! `casting.rs` documents.

use chrono::{DateTime, Utc};
use diesel::{dsl::now, prelude::*, sql_query, sql_types as sql};
use uuid::Uuid;

use super::service::SET_ASIDE;
use crate::{
    error::ApiResult,
    schema::tenant::{
        attachments, ballots, candidates, elections, ledger_entries, matter_deliveries,
        matter_roll, owners, unit_holders,
    },
    tenancy::conn::TenantConn,
};

// Single values.

/// `count(*) AS n`.
#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = sql::BigInt)]
    n: i64,
}

/// `SELECT EXISTS (...) AS found`.
#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = sql::Bool)]
    found: bool,
}

/// `SELECT 1 AS one ...`: a row found.
#[derive(QueryableByName)]
struct One {
    #[diesel(sql_type = sql::Integer)]
    #[allow(dead_code)]
    one: i32,
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = sql::Uuid)]
    id: Uuid,
}

#[derive(QueryableByName)]
struct UnitId {
    #[diesel(sql_type = sql::Uuid)]
    unit_id: Uuid,
}

/// A unit and the person (holder key) it votes for.
#[derive(QueryableByName)]
struct UnitHolder {
    #[diesel(sql_type = sql::Uuid)]
    unit_id: Uuid,
    #[diesel(sql_type = sql::Text)]
    holder_key: String,
}

// Receipts.

/// A ballot with its cast entry in the ledger: what a receipt shows.
pub struct CastRow {
    pub ballot_id: Uuid,
    pub matter_id: Uuid,
    pub ledger_seq: i64,
    pub entry_hash: String,
    pub unit_codes: String,
    pub area_centi: i64,
    pub choice: String,
    pub cast_at: DateTime<Utc>,
    pub picks: Option<Vec<Uuid>>,
    pub commitment: Option<String>,
    pub salt: Option<String>,
}

/// The ballot's side of a [`CastRow`].
#[derive(Queryable, Selectable)]
#[diesel(table_name = ballots, check_for_backend(diesel::pg::Pg))]
struct CastBallot {
    id: Uuid,
    matter_id: Uuid,
    choice: String,
    cast_at: DateTime<Utc>,
    picks: Option<Vec<Uuid>>,
}

/// The cast entry's side of a [`CastRow`].
#[derive(Queryable, Selectable)]
#[diesel(table_name = ledger_entries, check_for_backend(diesel::pg::Pg))]
struct CastEntry {
    seq: i64,
    hash: String,
    unit_codes: String,
    area_centi: i64,
    commitment: Option<String>,
    salt: Option<String>,
}

/// A ballot and its cast entry (the ballot must exist).
pub async fn cast_row(conn: &TenantConn, ballot: Uuid) -> ApiResult<CastRow> {
    let (b, l): (CastBallot, CastEntry) = conn
        .first(
            ballots::table
                .inner_join(
                    ledger_entries::table.on(ledger_entries::ballot_id
                        .eq(ballots::id.nullable())
                        .and(ledger_entries::kind.eq("cast"))),
                )
                .filter(ballots::id.eq(ballot))
                .select((CastBallot::as_select(), CastEntry::as_select())),
        )
        .await?;
    Ok(CastRow {
        ballot_id: b.id,
        matter_id: b.matter_id,
        ledger_seq: l.seq,
        entry_hash: l.hash,
        unit_codes: l.unit_codes,
        area_centi: l.area_centi,
        choice: b.choice,
        cast_at: b.cast_at,
        picks: b.picks,
        commitment: l.commitment,
        salt: l.salt,
    })
}

// Locks.

/// Locks a person (holder key) of a matter for the rest of the transaction.
pub async fn lock_person(conn: &TenantConn, matter: Uuid, holder_key: &str) -> ApiResult<()> {
    conn.execute(
        sql_query(
            "SELECT pg_advisory_xact_lock(hashtext('person:' || $1::uuid::text || ':' || $2))",
        )
        .bind::<sql::Uuid, _>(matter)
        .bind::<sql::Text, _>(holder_key),
    )
    .await?;
    Ok(())
}

/// Locks a clerk's idempotency key for paper entry in a matter.
pub async fn lock_paper_key(
    conn: &TenantConn,
    matter: Uuid,
    staff: Uuid,
    key: &str,
) -> ApiResult<()> {
    conn.execute(
        sql_query("SELECT pg_advisory_xact_lock(hashtext('paper:' || $1::uuid::text || ':' || $2::uuid::text || ':' || $3))")
            .bind::<sql::Uuid, _>(matter)
            .bind::<sql::Uuid, _>(staff)
            .bind::<sql::Text, _>(key),
    )
    .await?;
    Ok(())
}

/// Locks an owner's online casting in a matter.
pub async fn lock_online(conn: &TenantConn, matter: Uuid, owner: Uuid) -> ApiResult<()> {
    conn.execute(
        sql_query("SELECT pg_advisory_xact_lock(hashtext('ballot:' || $1::uuid::text || ':' || $2::uuid::text))")
            .bind::<sql::Uuid, _>(matter)
            .bind::<sql::Uuid, _>(owner),
    )
    .await?;
    Ok(())
}

// Idempotency.

/// A ballot found under an idempotency key, with the hash of the body that stored it.
#[derive(Queryable, Selectable)]
#[diesel(table_name = ballots, check_for_backend(diesel::pg::Pg))]
pub struct KeyedRow {
    pub id: Uuid,
    pub request_hash: Option<String>,
}

/// The ballot a clerk entered under `key`, if any.
pub async fn paper_by_key(
    conn: &TenantConn,
    matter: Uuid,
    staff: Uuid,
    key: &str,
) -> ApiResult<Option<KeyedRow>> {
    Ok(conn
        .optional(
            ballots::table
                .filter(ballots::matter_id.eq(matter))
                .filter(ballots::entered_by.eq(staff))
                .filter(ballots::idempotency_key.eq(key))
                .select(KeyedRow::as_select()),
        )
        .await?)
}

/// The online ballot an owner cast under `key`, if any.
pub async fn online_by_key(
    conn: &TenantConn,
    matter: Uuid,
    owner: Uuid,
    key: &str,
) -> ApiResult<Option<KeyedRow>> {
    Ok(conn
        .optional(
            ballots::table
                .filter(ballots::matter_id.eq(matter))
                .filter(ballots::voter_owner_id.eq(owner))
                .filter(ballots::idempotency_key.eq(key))
                .select(KeyedRow::as_select()),
        )
        .await?)
}

// The frozen roll, as casting reads and regroups it.

/// The persons (holder keys) the units vote for, sorted.
pub async fn holders_of(conn: &TenantConn, matter: Uuid, units: &[Uuid]) -> ApiResult<Vec<String>> {
    Ok(conn
        .load(
            matter_roll::table
                .filter(matter_roll::matter_id.eq(matter))
                .filter(matter_roll::unit_id.eq_any(units))
                .select(matter_roll::holder_key)
                .distinct()
                .order(matter_roll::holder_key),
        )
        .await?)
}

/// Units of the persons `units` vote for that were sold after voting opened and by `as_of`,
/// with the person (holder key) each votes for now.
pub async fn sold_units(
    conn: &TenantConn,
    matter: Uuid,
    units: &[Uuid],
    as_of: DateTime<Utc>,
) -> ApiResult<Vec<(Uuid, String)>> {
    Ok(conn
        .load::<_, UnitHolder>(
            sql_query(
                "SELECT DISTINCT r.unit_id, r.holder_key FROM matter_roll r JOIN matters m ON m.id = r.matter_id
               JOIN unit_transfers t ON t.unit_id = r.unit_id AND t.created_at > m.opened_at AND t.created_at <= $3
              WHERE r.matter_id = $1 AND r.holder_key NOT LIKE 'unit:%'
                AND r.holder_key IN (SELECT p.holder_key FROM matter_roll p WHERE p.matter_id = $1 AND p.unit_id = ANY($2))",
            )
            .bind::<sql::Uuid, _>(matter)
            .bind::<sql::Array<sql::Uuid>, _>(units)
            .bind::<sql::Timestamptz, _>(as_of),
        )
        .await?
        .into_iter()
        .map(|r| (r.unit_id, r.holder_key))
        .collect())
}

/// Splits off, each to vote on its own, the sold `units` whose seller had not voted before the
/// sale; returns the units split.
pub async fn split_units(
    conn: &TenantConn,
    matter: Uuid,
    units: &[Uuid],
    as_of: DateTime<Utc>,
) -> ApiResult<Vec<Uuid>> {
    Ok(conn
        .load::<_, UnitId>(
            sql_query(
                "UPDATE matter_roll r SET holder_key = 'unit:' || r.unit_id
               FROM matters m, unit_transfers t
              WHERE r.matter_id = $1 AND r.unit_id = ANY($2) AND r.holder_key NOT LIKE 'unit:%'
                AND m.id = $1 AND t.unit_id = r.unit_id AND t.created_at > m.opened_at AND t.created_at <= $3
                AND NOT EXISTS (SELECT 1 FROM ballots b WHERE b.matter_id = $1 AND b.holder_key = r.holder_key AND b.cast_at < t.created_at)
          RETURNING r.unit_id",
            )
            .bind::<sql::Uuid, _>(matter)
            .bind::<sql::Array<sql::Uuid>, _>(units)
            .bind::<sql::Timestamptz, _>(as_of),
        )
        .await?
        .into_iter()
        .map(|r| r.unit_id)
        .collect())
}

/// When a unit split off: its first sale after the roll was frozen.
const FIRST_SALE: &str =
    "(SELECT min(t.created_at) FROM unit_transfers t JOIN matters mm ON mm.id = r.matter_id
                                WHERE t.unit_id = r.unit_id AND t.created_at > mm.opened_at)";

/// A unit's person on the roll now, as frozen, and whether it split off by a sale after `as_of`.
#[derive(QueryableByName)]
pub struct SigningHolderRow {
    #[diesel(sql_type = sql::Text)]
    pub holder_key: String,
    #[diesel(sql_type = sql::Text)]
    pub frozen_holder_key: String,
    #[diesel(sql_type = sql::Bool)]
    pub split_after: bool,
}

/// The unit's row on the roll, if it is in scope.
pub async fn signing_holder(
    conn: &TenantConn,
    matter: Uuid,
    unit: Uuid,
    as_of: DateTime<Utc>,
) -> ApiResult<Option<SigningHolderRow>> {
    Ok(conn
        .optional(
            sql_query(format!("SELECT r.holder_key, r.frozen_holder_key, r.holder_key = 'unit:' || r.unit_id AND coalesce({FIRST_SALE} > $3, false) AS split_after FROM matter_roll r WHERE r.matter_id = $1 AND r.unit_id = $2"))
                .bind::<sql::Uuid, _>(matter)
                .bind::<sql::Uuid, _>(unit)
                .bind::<sql::Timestamptz, _>(as_of),
        )
        .await?)
}

/// The units frozen with `holder` that split off by a sale after `as_of`, with the person each
/// votes for now, by unit code.
pub async fn split_after(
    conn: &TenantConn,
    matter: Uuid,
    holder: &str,
    as_of: DateTime<Utc>,
) -> ApiResult<Vec<(Uuid, String)>> {
    Ok(conn
        .load::<_, UnitHolder>(
            sql_query(format!(
                "SELECT r.unit_id, r.holder_key FROM matter_roll r
                      WHERE r.matter_id = $1 AND r.frozen_holder_key = $2 AND r.holder_key = 'unit:' || r.unit_id AND r.holder_key <> $2 AND {FIRST_SALE} > $3
                      ORDER BY r.unit_code"
            ))
            .bind::<sql::Uuid, _>(matter)
            .bind::<sql::Text, _>(holder)
            .bind::<sql::Timestamptz, _>(as_of),
        )
        .await?
        .into_iter()
        .map(|r| (r.unit_id, r.holder_key))
        .collect())
}

/// Gives a unit to the person `holder`.
pub async fn regroup_unit(
    conn: &TenantConn,
    matter: Uuid,
    unit: Uuid,
    holder: &str,
) -> ApiResult<()> {
    conn.execute(
        diesel::update(matter_roll::table)
            .filter(matter_roll::matter_id.eq(matter))
            .filter(matter_roll::unit_id.eq(unit))
            .set(matter_roll::holder_key.eq(holder)),
    )
    .await?;
    Ok(())
}

#[derive(QueryableByName)]
struct UnitCodes {
    #[diesel(sql_type = sql::Text)]
    unit_codes: String,
}

/// The units' codes on the roll, comma-separated.
pub async fn unit_codes(conn: &TenantConn, matter: Uuid, units: &[Uuid]) -> ApiResult<String> {
    Ok(conn
        .first::<_, UnitCodes>(
            sql_query("SELECT coalesce(string_agg(unit_code, ',' ORDER BY unit_code), '') AS unit_codes FROM matter_roll WHERE matter_id = $1 AND unit_id = ANY($2)")
                .bind::<sql::Uuid, _>(matter)
                .bind::<sql::Array<sql::Uuid>, _>(units),
        )
        .await?
        .unit_codes)
}

/// The units in the matter's roll that `owner` holds now.
pub async fn owner_units(conn: &TenantConn, matter: Uuid, owner: Uuid) -> ApiResult<Vec<Uuid>> {
    Ok(conn
        .load(
            unit_holders::table
                .inner_join(
                    matter_roll::table.on(matter_roll::matter_id
                        .eq(matter)
                        .and(matter_roll::unit_id.eq(unit_holders::unit_id))),
                )
                .filter(unit_holders::owner_id.eq(owner))
                .filter(unit_holders::ended_at.is_null())
                .select(unit_holders::unit_id),
        )
        .await?)
}

/// Whether the unit is on the matter's roll (read as a row, as deliveries always did).
pub async fn roll_has_unit(conn: &TenantConn, matter: Uuid, unit: Uuid) -> ApiResult<bool> {
    Ok(conn
        .optional::<_, Uuid>(
            matter_roll::table
                .filter(matter_roll::matter_id.eq(matter))
                .filter(matter_roll::unit_id.eq(unit))
                .select(matter_roll::unit_id),
        )
        .await?
        .is_some())
}

// Holders.

/// Owners `a` and `b` both hold one unit now.
pub async fn co_holders(conn: &TenantConn, a: Uuid, b: Uuid) -> ApiResult<bool> {
    Ok(conn
        .first::<_, Found>(
            sql_query(
                "SELECT EXISTS (SELECT 1 FROM unit_holders x JOIN unit_holders y ON y.unit_id = x.unit_id
              WHERE x.owner_id = $1 AND y.owner_id = $2 AND x.ended_at IS NULL AND y.ended_at IS NULL) AS found",
            )
            .bind::<sql::Uuid, _>(a)
            .bind::<sql::Uuid, _>(b),
        )
        .await?
        .found)
}

/// Whether `signer` held one of the person's units when signing at `as_of`: not a seller after
/// the sale, not a buyer before it.
pub async fn signer_held(
    conn: &TenantConn,
    matter: Uuid,
    holder: &str,
    signer: Uuid,
    as_of: DateTime<Utc>,
) -> ApiResult<bool> {
    Ok(conn
        .first::<_, Found>(
            sql_query(
                "SELECT EXISTS (SELECT 1 FROM unit_holders h JOIN matter_roll r ON r.unit_id = h.unit_id AND r.matter_id = $1 JOIN matters mm ON mm.id = $1
                  WHERE h.owner_id = $3 AND r.holder_key = $2 AND (h.ended_at IS NULL OR h.ended_at > $4)
                    AND (h.since <= $4 OR NOT EXISTS (SELECT 1 FROM unit_transfers t WHERE t.unit_id = h.unit_id AND t.created_at > mm.opened_at
                                                                                     AND t.created_at > $4 AND t.created_at <= h.since))) AS found",
            )
            .bind::<sql::Uuid, _>(matter)
            .bind::<sql::Text, _>(holder)
            .bind::<sql::Uuid, _>(signer)
            .bind::<sql::Timestamptz, _>(as_of),
        )
        .await?
        .found)
}

/// How many owners hold the person's units now.
pub async fn holder_count(conn: &TenantConn, matter: Uuid, holder: &str) -> ApiResult<i64> {
    Ok(conn
        .first(
            unit_holders::table
                .inner_join(
                    matter_roll::table.on(matter_roll::unit_id
                        .eq(unit_holders::unit_id)
                        .and(matter_roll::matter_id.eq(matter))),
                )
                .filter(matter_roll::holder_key.eq(holder))
                .filter(unit_holders::ended_at.is_null())
                .select(diesel::dsl::count(unit_holders::owner_id).aggregate_distinct()),
        )
        .await?)
}

/// Whether owners other than `owner` hold the person's units now.
pub async fn other_holders(
    conn: &TenantConn,
    matter: Uuid,
    holder: &str,
    owner: Uuid,
) -> ApiResult<bool> {
    Ok(conn
        .first(diesel::select(diesel::dsl::exists(
            unit_holders::table
                .inner_join(
                    matter_roll::table.on(matter_roll::unit_id
                        .eq(unit_holders::unit_id)
                        .and(matter_roll::matter_id.eq(matter))),
                )
                .filter(matter_roll::holder_key.eq(holder))
                .filter(unit_holders::ended_at.is_null())
                .filter(unit_holders::owner_id.ne(owner)),
        )))
        .await?)
}

/// An owner's phone, if the owner is on file.
pub async fn owner_phone(conn: &TenantConn, owner: Uuid) -> ApiResult<Option<String>> {
    Ok(conn
        .optional(owners::table.find(owner).select(owners::phone))
        .await?)
}

// Attachments a ballot rests on.

/// Staff uploaded the attachment.
const STAFF_UPLOAD: &str =
    "SELECT 1 AS one FROM attachments WHERE id = $1 AND uploader_kind = 'staff'";

/// Whether staff uploaded the attachment (as paper entry asks it).
pub async fn staff_upload_exists(conn: &TenantConn, attachment: Uuid) -> ApiResult<bool> {
    Ok(conn
        .first::<_, Found>(
            sql_query(format!("SELECT EXISTS ({STAFF_UPLOAD}) AS found"))
                .bind::<sql::Uuid, _>(attachment),
        )
        .await?
        .found)
}

/// Whether staff uploaded the attachment (read as a row, as deliveries always did).
pub async fn staff_upload_found(conn: &TenantConn, attachment: Uuid) -> ApiResult<bool> {
    Ok(conn
        .optional::<_, One>(sql_query(STAFF_UPLOAD).bind::<sql::Uuid, _>(attachment))
        .await?
        .is_some())
}

/// Whether a ballot already rests on the scan.
pub async fn scan_used(conn: &TenantConn, scan: Uuid) -> ApiResult<bool> {
    Ok(conn
        .first(diesel::select(diesel::dsl::exists(
            ballots::table.filter(ballots::scan_id.eq(scan)),
        )))
        .await?)
}

/// Whether the signature image is the owner's own upload.
pub async fn owner_signature(conn: &TenantConn, signature: Uuid, owner: Uuid) -> ApiResult<bool> {
    Ok(conn
        .first(diesel::select(diesel::dsl::exists(
            attachments::table
                .filter(attachments::id.eq(signature))
                .filter(attachments::purpose.eq("signature"))
                .filter(attachments::uploader_kind.eq("owner"))
                .filter(attachments::uploader_id.eq(owner)),
        )))
        .await?)
}

// Ballots.

/// A ballot of a person that still stands (not replaced by a change of vote).
#[derive(QueryableByName)]
pub struct Standing {
    #[diesel(sql_type = sql::Uuid)]
    pub id: Uuid,
    #[diesel(sql_type = sql::Text)]
    pub channel: String,
    /// Who cast it (online), or who signed it (paper, where staff recorded it).
    #[diesel(sql_type = sql::Nullable<sql::Uuid>)]
    pub voter: Option<Uuid>,
    #[diesel(sql_type = sql::Nullable<sql::Text>)]
    pub voter_name: Option<String>,
    /// When it was cast (a paper ballot: signed).
    #[diesel(sql_type = sql::Timestamptz)]
    pub cast_at: DateTime<Utc>,
    /// Who entered a paper ballot, and when.
    #[diesel(sql_type = sql::Nullable<sql::Text>)]
    pub entered_by: Option<String>,
    #[diesel(sql_type = sql::Nullable<sql::Timestamptz>)]
    pub entered_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = sql::Bool)]
    pub voided: bool,
    /// One of the units at hand, or of the person's units, was sold after this ballot was cast
    /// and before `as_of`: the ballot is a previous owner's, and it stands (VOTING-RULES §2) for
    /// every unit it carried; nobody (the buyer, nor the seller changing their mind) votes again.
    #[diesel(sql_type = sql::Bool)]
    pub sold_since: bool,
}

/// The person's standing ballots, in ballot order.
pub async fn standing(
    conn: &TenantConn,
    matter: Uuid,
    holder: &str,
    units: &[Uuid],
    as_of: DateTime<Utc>,
) -> ApiResult<Vec<Standing>> {
    Ok(conn
        .load(
            sql_query(
                "SELECT b.id, b.channel, coalesce(b.voter_owner_id, b.signed_by_owner_id) AS voter, o.real_name AS voter_name, b.cast_at, s.display_name AS entered_by,
                    (SELECT min(l.at) FROM ledger_entries l WHERE l.ballot_id = b.id AND l.kind = 'cast') AS entered_at, b.voided_at IS NOT NULL AS voided,
                    EXISTS (SELECT 1 FROM unit_transfers t JOIN matters mm ON mm.id = b.matter_id
                             WHERE (t.unit_id = ANY($3) OR t.unit_id IN (SELECT p.unit_id FROM matter_roll p WHERE p.matter_id = $1 AND p.holder_key = $2))
                               AND t.created_at > mm.opened_at AND t.created_at > b.cast_at AND t.created_at <= $4) AS sold_since
               FROM ballots b LEFT JOIN owners o ON o.id = coalesce(b.voter_owner_id, b.signed_by_owner_id) LEFT JOIN staff s ON s.id = b.entered_by
              WHERE b.matter_id = $1 AND b.holder_key = $2 AND b.replaced_at IS NULL ORDER BY b.seq",
            )
            .bind::<sql::Uuid, _>(matter)
            .bind::<sql::Text, _>(holder)
            .bind::<sql::Array<sql::Uuid>, _>(units)
            .bind::<sql::Timestamptz, _>(as_of),
        )
        .await?)
}

/// Whether the person has already changed an online vote once.
pub async fn vote_changed(conn: &TenantConn, matter: Uuid, holder: &str) -> ApiResult<bool> {
    Ok(conn
        .first(diesel::select(diesel::dsl::exists(
            ballots::table
                .filter(ballots::matter_id.eq(matter))
                .filter(ballots::holder_key.eq(holder))
                .filter(ballots::channel.eq("online"))
                .filter(ballots::replaced_at.is_not_null()),
        )))
        .await?)
}

/// Marks a ballot replaced by a change of vote.
pub async fn mark_replaced(conn: &TenantConn, ballot: Uuid) -> ApiResult<()> {
    conn.execute(diesel::update(ballots::table.find(ballot)).set(ballots::replaced_at.eq(now)))
        .await?;
    Ok(())
}

/// Voids a ballot not void yet; returns how many were voided (0 or 1).
pub async fn void(conn: &TenantConn, ballot: Uuid, reason: &str) -> ApiResult<u64> {
    let n = conn
        .execute(
            diesel::update(ballots::table.find(ballot))
                .filter(ballots::voided_at.is_null())
                .set((ballots::voided_at.eq(now), ballots::void_reason.eq(reason))),
        )
        .await?;
    Ok(n as u64)
}

/// A ballot as it is to be stored.
pub struct NewBallot<'a> {
    pub channel: &'a str,
    /// The choice as stored (`agree`, `disagree`, `abstain`).
    pub choice: &'a str,
    /// An election ballot's picks.
    pub picks: Option<&'a [Uuid]>,
    pub voter: Option<Uuid>,
    /// The owner on the roll who signed a paper ballot, where recorded.
    pub signed_by: Option<Uuid>,
    pub entered_by: Option<Uuid>,
    pub signature: Option<Uuid>,
    pub scan: Option<Uuid>,
    pub idempotency_key: Option<&'a str>,
    pub request_hash: &'a str,
    /// When a paper ballot was signed; `None`: now (the database's clock).
    pub cast_at: Option<DateTime<Utc>>,
    /// A spoiled paper ballot: kept as marked, void from the start, with this reason.
    pub void_reason: Option<&'a str>,
}

/// Stores a ballot, unless the person no longer holds any unit of the roll; returns how many
/// were stored (0 or 1).
pub async fn insert_ballot(
    conn: &TenantConn,
    id: Uuid,
    matter: Uuid,
    holder_key: &str,
    b: &NewBallot<'_>,
) -> ApiResult<u64> {
    let numbered = super::matter_store::next_seq(conn).await?;
    let n = conn
        .execute(
            // Never a ballot for a person who no longer holds any unit of the roll.
            sql_query(
                "INSERT INTO ballots (id, matter_id, seq, holder_key, channel, choice, voter_owner_id, entered_by, signature_id, scan_id, idempotency_key,
                                  picks, cast_at, voided_at, void_reason, signed_by_owner_id, request_hash)
             SELECT $1, $2, $16, $3, $4, $5, $6, $7, $8, $9, $10, $11, coalesce($12, $17), CASE WHEN $13::text IS NULL THEN NULL ELSE $17 END, $13, $14, $15
              WHERE EXISTS (SELECT 1 FROM matter_roll WHERE matter_id = $2 AND holder_key = $3)",
            )
            .bind::<sql::Uuid, _>(id)
            .bind::<sql::Uuid, _>(matter)
            .bind::<sql::Text, _>(holder_key)
            .bind::<sql::Text, _>(b.channel)
            .bind::<sql::Text, _>(b.choice)
            .bind::<sql::Nullable<sql::Uuid>, _>(b.voter)
            .bind::<sql::Nullable<sql::Uuid>, _>(b.entered_by)
            .bind::<sql::Nullable<sql::Uuid>, _>(b.signature)
            .bind::<sql::Nullable<sql::Uuid>, _>(b.scan)
            .bind::<sql::Nullable<sql::Text>, _>(b.idempotency_key)
            .bind::<sql::Nullable<sql::Array<sql::Uuid>>, _>(b.picks)
            .bind::<sql::Nullable<sql::Timestamptz>, _>(b.cast_at)
            .bind::<sql::Nullable<sql::Text>, _>(b.void_reason)
            .bind::<sql::Nullable<sql::Uuid>, _>(b.signed_by)
            .bind::<sql::Text, _>(b.request_hash)
            .bind::<sql::BigInt, _>(numbered.seq)
            .bind::<sql::Timestamptz, _>(numbered.at),
        )
        .await?;
    Ok(n as u64)
}

/// The matter a ballot belongs to, if the ballot exists.
pub async fn ballot_matter(conn: &TenantConn, ballot: Uuid) -> ApiResult<Option<Uuid>> {
    Ok(conn
        .optional(ballots::table.find(ballot).select(ballots::matter_id))
        .await?)
}

/// The person a ballot was cast for (the ballot must exist).
pub async fn ballot_holder(conn: &TenantConn, ballot: Uuid) -> ApiResult<String> {
    Ok(conn
        .first(ballots::table.find(ballot).select(ballots::holder_key))
        .await?)
}

// Deliveries.

/// Records a delivery unless one is recorded; returns how many were recorded (0 or 1).
pub async fn insert_delivery(
    conn: &TenantConn,
    matter: Uuid,
    unit: Uuid,
    proof: Uuid,
    staff: Option<Uuid>,
) -> ApiResult<u64> {
    let n = conn
        .execute(
            diesel::insert_into(matter_deliveries::table)
                .values((
                    matter_deliveries::matter_id.eq(matter),
                    matter_deliveries::unit_id.eq(unit),
                    matter_deliveries::proof_id.eq(proof),
                    // Without a staff member, DEFAULT: the column has none and takes no NULL,
                    // so it fails.
                    staff.map(|s| matter_deliveries::staff_id.eq(s)),
                ))
                .on_conflict((matter_deliveries::matter_id, matter_deliveries::unit_id))
                .do_nothing(),
        )
        .await?;
    Ok(n as u64)
}

// Lists and exports.

/// Units whose person has not voted, in one building.
#[derive(QueryableByName)]
pub struct BuildingRow {
    #[diesel(sql_type = sql::Text)]
    pub building: String,
    #[diesel(sql_type = sql::Array<sql::Text>)]
    pub unit_codes: Vec<String>,
}

/// The units not voted yet, by building.
pub async fn not_voted(conn: &TenantConn, matter: Uuid) -> ApiResult<Vec<BuildingRow>> {
    Ok(conn
        .load(
            sql_query(
                "SELECT r.building, array_agg(r.unit_code ORDER BY length(r.unit_code), r.unit_code) AS unit_codes FROM matter_roll r
                  WHERE r.matter_id = $1 AND NOT EXISTS (SELECT 1 FROM ballots b WHERE b.matter_id = r.matter_id AND b.holder_key = r.holder_key)
                  GROUP BY r.building ORDER BY length(r.building), r.building",
            )
            .bind::<sql::Uuid, _>(matter),
        )
        .await?)
}

/// A ballot as the export lists it.
#[derive(QueryableByName)]
pub struct ExportRow {
    #[diesel(sql_type = sql::Uuid)]
    pub id: Uuid,
    #[diesel(sql_type = sql::BigInt)]
    pub seq: i64,
    #[diesel(sql_type = sql::Nullable<sql::Text>)]
    pub unit_codes: Option<String>,
    #[diesel(sql_type = sql::BigInt)]
    pub area_centi: i64,
    #[diesel(sql_type = sql::Nullable<sql::Text>)]
    pub voter_name: Option<String>,
    #[diesel(sql_type = sql::Text)]
    pub channel: String,
    #[diesel(sql_type = sql::Text)]
    pub choice: String,
    #[diesel(sql_type = sql::Nullable<sql::Timestamptz>)]
    pub voided_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = sql::Nullable<sql::Text>)]
    pub void_reason: Option<String>,
    #[diesel(sql_type = sql::Timestamptz)]
    pub cast_at: DateTime<Utc>,
    #[diesel(sql_type = sql::Nullable<sql::Array<sql::Uuid>>)]
    pub picks: Option<Vec<Uuid>>,
}

/// Every ballot of the matter, in ballot order, for the export.
pub async fn export_rows(conn: &TenantConn, matter: Uuid) -> ApiResult<Vec<ExportRow>> {
    Ok(conn
        .load(
            sql_query(
                "SELECT b.id, b.seq,
                        (SELECT string_agg(r.unit_code, ',' ORDER BY r.unit_code) FROM matter_roll r WHERE r.matter_id = b.matter_id AND r.holder_key = b.holder_key) AS unit_codes,
                        (SELECT coalesce(sum(r.area_centi), 0)::bigint FROM matter_roll r WHERE r.matter_id = b.matter_id AND r.holder_key = b.holder_key) AS area_centi,
                        o.real_name AS voter_name, b.channel, b.choice, b.voided_at, b.void_reason, b.cast_at, b.picks
                   FROM ballots b LEFT JOIN owners o ON o.id = coalesce(b.voter_owner_id, b.signed_by_owner_id)
                  WHERE b.matter_id = $1 ORDER BY b.seq",
            )
            .bind::<sql::Uuid, _>(matter),
        )
        .await?)
}

/// The matter's ballots set aside now.
pub async fn set_aside_ids(
    conn: &TenantConn,
    matter: Uuid,
) -> ApiResult<std::collections::BTreeSet<Uuid>> {
    Ok(conn
        .load::<_, Id>(
            sql_query(format!(
                "SELECT b.id FROM ballots b WHERE b.matter_id = $1 AND {SET_ASIDE}"
            ))
            .bind::<sql::Uuid, _>(matter),
        )
        .await?
        .into_iter()
        .map(|r| r.id)
        .collect())
}

/// The names of an election round's candidates, by id.
pub async fn candidate_names(
    conn: &TenantConn,
    matter: Uuid,
) -> ApiResult<std::collections::BTreeMap<Uuid, String>> {
    Ok(conn
        .load::<_, (Uuid, String)>(
            candidates::table
                .inner_join(elections::table)
                .filter(elections::matter_id.eq(matter))
                .select((candidates::id, candidates::name)),
        )
        .await?
        .into_iter()
        .collect())
}

/// What the ballot list filters on: the matter, and what staff look a ballot up by.
pub struct BallotFilter<'a> {
    pub matter: Uuid,
    /// The stored channel (`online`, `paper`, `on_site`).
    pub channel: Option<&'a str>,
    pub voided: Option<bool>,
    /// A unit code (`1-2-301`), matched whole…
    pub q: Option<&'a str>,
    /// …or part of the voter's name, as an escaped `LIKE` pattern.
    pub q_pattern: Option<&'a str>,
}

impl BallotFilter<'_> {
    /// The filter over ballots `b` and their voter `o`, binding `$1`…`$5`.
    const SQL: &'static str = "b.matter_id = $1 AND ($2::text IS NULL OR b.channel = $2)
        AND ($3::bool IS NULL OR (b.voided_at IS NOT NULL) = $3)
        AND ($4::text IS NULL OR o.real_name LIKE $5 OR EXISTS (SELECT 1 FROM matter_roll r
             WHERE r.matter_id = b.matter_id AND r.holder_key = b.holder_key AND r.unit_code = $4))";

    fn bind<'q>(
        &'q self,
        query: diesel::query_builder::BoxedSqlQuery<
            'q,
            diesel::pg::Pg,
            diesel::query_builder::SqlQuery,
        >,
    ) -> diesel::query_builder::BoxedSqlQuery<'q, diesel::pg::Pg, diesel::query_builder::SqlQuery>
    {
        query
            .bind::<sql::Uuid, _>(self.matter)
            .bind::<sql::Nullable<sql::Text>, _>(self.channel)
            .bind::<sql::Nullable<sql::Bool>, _>(self.voided)
            .bind::<sql::Nullable<sql::Text>, _>(self.q)
            .bind::<sql::Nullable<sql::Text>, _>(self.q_pattern)
    }
}

/// How many ballots pass `filter` (the list's total).
pub async fn ballot_count(conn: &TenantConn, filter: &BallotFilter<'_>) -> ApiResult<i64> {
    let query = sql_query(format!(
        "SELECT count(*) AS n FROM ballots b
           LEFT JOIN owners o ON o.id = coalesce(b.voter_owner_id, b.signed_by_owner_id)
          WHERE {}",
        BallotFilter::SQL
    ))
    .into_boxed();
    Ok(conn.first::<_, Count>(filter.bind(query)).await?.n)
}

/// A ballot as staff inspect it in the list.
#[derive(QueryableByName)]
pub struct BallotRow {
    #[diesel(sql_type = sql::Uuid)]
    pub id: Uuid,
    #[diesel(sql_type = sql::BigInt)]
    pub seq: i64,
    #[diesel(sql_type = sql::Text)]
    pub channel: String,
    #[diesel(sql_type = sql::Text)]
    pub choice: String,
    #[diesel(sql_type = sql::Nullable<sql::Array<sql::Uuid>>)]
    pub picks: Option<Vec<Uuid>>,
    #[diesel(sql_type = sql::Array<sql::Text>)]
    pub unit_codes: Vec<String>,
    #[diesel(sql_type = sql::BigInt)]
    pub area_centi: i64,
    #[diesel(sql_type = sql::Nullable<sql::Text>)]
    pub voter_name: Option<String>,
    #[diesel(sql_type = sql::Nullable<sql::Uuid>)]
    pub voter_owner_id: Option<Uuid>,
    #[diesel(sql_type = sql::Nullable<sql::Text>)]
    pub entered_by: Option<String>,
    #[diesel(sql_type = sql::Timestamptz)]
    pub cast_at: DateTime<Utc>,
    #[diesel(sql_type = sql::Nullable<sql::Timestamptz>)]
    pub entered_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = sql::Bool)]
    pub voided: bool,
    #[diesel(sql_type = sql::Nullable<sql::Text>)]
    pub void_reason: Option<String>,
    #[diesel(sql_type = sql::Bool)]
    pub superseded: bool,
    #[diesel(sql_type = sql::Bool)]
    pub replaced: bool,
    #[diesel(sql_type = sql::Nullable<sql::Uuid>)]
    pub scan_id: Option<Uuid>,
}

/// One page of the matter's ballots, in ballot order.
pub async fn ballot_page(
    conn: &TenantConn,
    filter: &BallotFilter<'_>,
    limit: i64,
    offset: i64,
) -> ApiResult<Vec<BallotRow>> {
    let query = sql_query(format!(
        "SELECT b.id, b.seq, b.channel, b.choice, b.picks,
                    coalesce((SELECT array_agg(r.unit_code ORDER BY r.unit_code) FROM matter_roll r WHERE r.matter_id = b.matter_id AND r.holder_key = b.holder_key), '{{}}') AS unit_codes,
                    (SELECT coalesce(sum(r.area_centi), 0)::bigint FROM matter_roll r WHERE r.matter_id = b.matter_id AND r.holder_key = b.holder_key) AS area_centi,
                    o.real_name AS voter_name, o.id AS voter_owner_id, s.display_name AS entered_by, b.cast_at,
                    (SELECT min(l.at) FROM ledger_entries l WHERE l.ballot_id = b.id AND l.kind = 'cast') AS entered_at,
                    b.voided_at IS NOT NULL AS voided, b.void_reason, {} AS superseded, b.replaced_at IS NOT NULL AS replaced, b.scan_id
               FROM ballots b LEFT JOIN owners o ON o.id = coalesce(b.voter_owner_id, b.signed_by_owner_id) LEFT JOIN staff s ON s.id = b.entered_by
              WHERE {} ORDER BY b.seq LIMIT $6 OFFSET $7",
        SET_ASIDE,
        BallotFilter::SQL
    ))
    .into_boxed();
    Ok(conn
        .load(
            filter
                .bind(query)
                .bind::<sql::BigInt, _>(limit)
                .bind::<sql::BigInt, _>(offset),
        )
        .await?)
}
