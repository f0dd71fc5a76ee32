//! Every statement on ballots, the frozen roll as casting reads and regroups it, deliveries, and
//! the ballot lists and export. Rows are read by position here and nowhere else, one reading
//! function per query shape, so the move to diesel touches the store files only. The locks are
//! statements too: callers take them in the order `casting.rs` documents.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use uuid::Uuid;

use super::service::SET_ASIDE;
use crate::{error::ApiResult, tenancy::conn::TenantConn};

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

/// A ballot and its cast entry (the ballot must exist).
pub async fn cast_row(conn: &TenantConn, ballot: Uuid) -> ApiResult<CastRow> {
    let r = conn
        .query_one(
            "SELECT b.id, b.matter_id, l.seq, l.hash, l.unit_codes, l.area_centi, b.choice, b.cast_at, b.picks, l.commitment, l.salt
               FROM ballots b JOIN ledger_entries l ON l.ballot_id = b.id AND l.kind = 'cast' WHERE b.id = $1",
            &[&ballot],
        )
        .await?;
    Ok(CastRow {
        ballot_id: r.get(0),
        matter_id: r.get(1),
        ledger_seq: r.get(2),
        entry_hash: r.get(3),
        unit_codes: r.get(4),
        area_centi: r.get(5),
        choice: r.get(6),
        cast_at: r.get(7),
        picks: r.get(8),
        commitment: r.get(9),
        salt: r.get(10),
    })
}

// Locks.

/// Locks a person (holder key) of a matter for the rest of the transaction.
pub async fn lock_person(conn: &TenantConn, matter: Uuid, holder_key: &str) -> ApiResult<()> {
    conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('person:' || $1::uuid::text || ':' || $2))",
        &[&matter, &holder_key],
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
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('paper:' || $1::uuid::text || ':' || $2::uuid::text || ':' || $3))", &[&matter, &staff, &key])
            .await?;
    Ok(())
}

/// Locks an owner's online casting in a matter.
pub async fn lock_online(conn: &TenantConn, matter: Uuid, owner: Uuid) -> ApiResult<()> {
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('ballot:' || $1::uuid::text || ':' || $2::uuid::text))", &[&matter, &owner]).await?;
    Ok(())
}

// Idempotency.

/// A ballot found under an idempotency key, with the hash of the body that stored it.
pub struct KeyedRow {
    pub id: Uuid,
    pub request_hash: Option<String>,
}

fn keyed_row(r: &Row) -> KeyedRow {
    KeyedRow {
        id: r.get(0),
        request_hash: r.get(1),
    }
}

/// The ballot a clerk entered under `key`, if any.
pub async fn paper_by_key(
    conn: &TenantConn,
    matter: Uuid,
    staff: Uuid,
    key: &str,
) -> ApiResult<Option<KeyedRow>> {
    Ok(conn
            .query_opt("SELECT id, request_hash FROM ballots WHERE matter_id = $1 AND entered_by = $2 AND idempotency_key = $3", &[&matter, &staff, &key])
            .await?
            .as_ref()
            .map(keyed_row))
}

/// The online ballot an owner cast under `key`, if any.
pub async fn online_by_key(
    conn: &TenantConn,
    matter: Uuid,
    owner: Uuid,
    key: &str,
) -> ApiResult<Option<KeyedRow>> {
    Ok(conn
        .query_opt("SELECT id, request_hash FROM ballots WHERE matter_id = $1 AND voter_owner_id = $2 AND idempotency_key = $3", &[&matter, &owner, &key])
        .await?
        .as_ref()
        .map(keyed_row))
}

// The frozen roll, as casting reads and regroups it.

/// The persons (holder keys) the units vote for, sorted.
pub async fn holders_of(conn: &TenantConn, matter: Uuid, units: &[Uuid]) -> ApiResult<Vec<String>> {
    Ok(conn
        .query("SELECT DISTINCT holder_key FROM matter_roll WHERE matter_id = $1 AND unit_id = ANY($2) ORDER BY 1", &[&matter, &units])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
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
        .query(
            "SELECT DISTINCT r.unit_id, r.holder_key FROM matter_roll r JOIN matters m ON m.id = r.matter_id
               JOIN unit_transfers t ON t.unit_id = r.unit_id AND t.created_at > m.opened_at AND t.created_at <= $3
              WHERE r.matter_id = $1 AND r.holder_key NOT LIKE 'unit:%'
                AND r.holder_key IN (SELECT p.holder_key FROM matter_roll p WHERE p.matter_id = $1 AND p.unit_id = ANY($2))",
            &[&matter, &units, &as_of],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
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
        .query(
            "UPDATE matter_roll r SET holder_key = 'unit:' || r.unit_id
               FROM matters m, unit_transfers t
              WHERE r.matter_id = $1 AND r.unit_id = ANY($2) AND r.holder_key NOT LIKE 'unit:%'
                AND m.id = $1 AND t.unit_id = r.unit_id AND t.created_at > m.opened_at AND t.created_at <= $3
                AND NOT EXISTS (SELECT 1 FROM ballots b WHERE b.matter_id = $1 AND b.holder_key = r.holder_key AND b.cast_at < t.created_at)
          RETURNING r.unit_id",
            &[&matter, &units, &as_of],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// When a unit split off: its first sale after the roll was frozen.
const FIRST_SALE: &str =
    "(SELECT min(t.created_at) FROM unit_transfers t JOIN matters mm ON mm.id = r.matter_id
                                WHERE t.unit_id = r.unit_id AND t.created_at > mm.opened_at)";

/// A unit's person on the roll now, as frozen, and whether it split off by a sale after `as_of`.
pub struct SigningHolderRow {
    pub holder_key: String,
    pub frozen_holder_key: String,
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
            .query_opt(
                &format!("SELECT r.holder_key, r.frozen_holder_key, r.holder_key = 'unit:' || r.unit_id AND coalesce({FIRST_SALE} > $3, false) FROM matter_roll r WHERE r.matter_id = $1 AND r.unit_id = $2"),
                &[&matter, &unit, &as_of],
            )
            .await?
            .map(|row| SigningHolderRow {
                holder_key: row.get(0),
                frozen_holder_key: row.get(1),
                split_after: row.get(2),
            }))
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
            .query(
                &format!(
                    "SELECT r.unit_id, r.holder_key FROM matter_roll r
                      WHERE r.matter_id = $1 AND r.frozen_holder_key = $2 AND r.holder_key = 'unit:' || r.unit_id AND r.holder_key <> $2 AND {FIRST_SALE} > $3
                      ORDER BY r.unit_code"
                ),
                &[&matter, &holder, &as_of],
            )
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
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
        "UPDATE matter_roll SET holder_key = $3 WHERE matter_id = $1 AND unit_id = $2",
        &[&matter, &unit, &holder],
    )
    .await?;
    Ok(())
}

/// The units' codes on the roll, comma-separated.
pub async fn unit_codes(conn: &TenantConn, matter: Uuid, units: &[Uuid]) -> ApiResult<String> {
    Ok(conn
        .query_one(
            "SELECT coalesce(string_agg(unit_code, ',' ORDER BY unit_code), '') FROM matter_roll WHERE matter_id = $1 AND unit_id = ANY($2)",
            &[&matter, &units],
        )
        .await?
        .get(0))
}

/// The units in the matter's roll that `owner` holds now.
pub async fn owner_units(conn: &TenantConn, matter: Uuid, owner: Uuid) -> ApiResult<Vec<Uuid>> {
    Ok(conn
        .query(
            "SELECT h.unit_id FROM unit_holders h JOIN matter_roll r ON r.matter_id = $1 AND r.unit_id = h.unit_id
              WHERE h.owner_id = $2 AND h.ended_at IS NULL",
            &[&matter, &owner],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// Whether the unit is on the matter's roll (read as a row, as deliveries always did).
pub async fn roll_has_unit(conn: &TenantConn, matter: Uuid, unit: Uuid) -> ApiResult<bool> {
    Ok(conn
        .query_opt(
            "SELECT 1 FROM matter_roll WHERE matter_id = $1 AND unit_id = $2",
            &[&matter, &unit],
        )
        .await?
        .is_some())
}

// Holders.

/// Owners `a` and `b` both hold one unit now.
pub async fn co_holders(conn: &TenantConn, a: Uuid, b: Uuid) -> ApiResult<bool> {
    Ok(conn
        .exists(
            "SELECT 1 FROM unit_holders x JOIN unit_holders y ON y.unit_id = x.unit_id
              WHERE x.owner_id = $1 AND y.owner_id = $2 AND x.ended_at IS NULL AND y.ended_at IS NULL",
            &[&a, &b],
        )
        .await?)
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
            .exists(
                "SELECT 1 FROM unit_holders h JOIN matter_roll r ON r.unit_id = h.unit_id AND r.matter_id = $1 JOIN matters mm ON mm.id = $1
                  WHERE h.owner_id = $3 AND r.holder_key = $2 AND (h.ended_at IS NULL OR h.ended_at > $4)
                    AND (h.since <= $4 OR NOT EXISTS (SELECT 1 FROM unit_transfers t WHERE t.unit_id = h.unit_id AND t.created_at > mm.opened_at
                                                                                     AND t.created_at > $4 AND t.created_at <= h.since))",
                &[&matter, &holder, &signer, &as_of],
            )
            .await?)
}

/// How many owners hold the person's units now.
pub async fn holder_count(conn: &TenantConn, matter: Uuid, holder: &str) -> ApiResult<i64> {
    Ok(conn
            .query_one(
                "SELECT count(DISTINCT h.owner_id) FROM unit_holders h JOIN matter_roll r ON r.unit_id = h.unit_id AND r.matter_id = $1
                  WHERE r.holder_key = $2 AND h.ended_at IS NULL",
                &[&matter, &holder],
            )
            .await?
            .get(0))
}

/// Whether owners other than `owner` hold the person's units now.
pub async fn other_holders(
    conn: &TenantConn,
    matter: Uuid,
    holder: &str,
    owner: Uuid,
) -> ApiResult<bool> {
    Ok(conn
                    .exists(
                        "SELECT 1 FROM unit_holders h JOIN matter_roll r ON r.unit_id = h.unit_id AND r.matter_id = $1
                          WHERE r.holder_key = $2 AND h.ended_at IS NULL AND h.owner_id <> $3",
                        &[&matter, &holder, &owner],
                    )
                    .await?)
}

/// An owner's phone, if the owner is on file.
pub async fn owner_phone(conn: &TenantConn, owner: Uuid) -> ApiResult<Option<String>> {
    Ok(conn
        .query_opt("SELECT phone FROM owners WHERE id = $1", &[&owner])
        .await?
        .map(|r| r.get::<_, String>(0)))
}

// Attachments a ballot rests on.

/// Staff uploaded the attachment.
const STAFF_UPLOAD: &str = "SELECT 1 FROM attachments WHERE id = $1 AND uploader_kind = 'staff'";

/// Whether staff uploaded the attachment (as paper entry asks it).
pub async fn staff_upload_exists(conn: &TenantConn, attachment: Uuid) -> ApiResult<bool> {
    Ok(conn.exists(STAFF_UPLOAD, &[&attachment]).await?)
}

/// Whether staff uploaded the attachment (read as a row, as deliveries always did).
pub async fn staff_upload_found(conn: &TenantConn, attachment: Uuid) -> ApiResult<bool> {
    Ok(conn
        .query_opt(STAFF_UPLOAD, &[&attachment])
        .await?
        .is_some())
}

/// Whether a ballot already rests on the scan.
pub async fn scan_used(conn: &TenantConn, scan: Uuid) -> ApiResult<bool> {
    Ok(conn
        .exists("SELECT 1 FROM ballots WHERE scan_id = $1", &[&scan])
        .await?)
}

/// Whether the signature image is the owner's own upload.
pub async fn owner_signature(conn: &TenantConn, signature: Uuid, owner: Uuid) -> ApiResult<bool> {
    Ok(conn.exists("SELECT 1 FROM attachments WHERE id = $1 AND purpose = 'signature' AND uploader_kind = 'owner' AND uploader_id = $2", &[&signature, &owner])
                .await?)
}

// Ballots.

/// A ballot of a person that still stands (not replaced by a change of vote).
pub struct Standing {
    pub id: Uuid,
    pub channel: String,
    /// Who cast it (online), or who signed it (paper, where staff recorded it).
    pub voter: Option<Uuid>,
    pub voter_name: Option<String>,
    /// When it was cast (a paper ballot: signed).
    pub cast_at: DateTime<Utc>,
    /// Who entered a paper ballot, and when.
    pub entered_by: Option<String>,
    pub entered_at: Option<DateTime<Utc>>,
    pub voided: bool,
    /// One of the units at hand, or of the person's units, was sold after this ballot was cast
    /// and before `as_of`: the ballot is a previous owner's, and it stands (VOTING-RULES §2) for
    /// every unit it carried; nobody (the buyer, nor the seller changing their mind) votes again.
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
        .query(
            "SELECT b.id, b.channel, coalesce(b.voter_owner_id, b.signed_by_owner_id), o.real_name, b.cast_at, s.display_name,
                    (SELECT min(l.at) FROM ledger_entries l WHERE l.ballot_id = b.id AND l.kind = 'cast'), b.voided_at IS NOT NULL,
                    EXISTS (SELECT 1 FROM unit_transfers t JOIN matters mm ON mm.id = b.matter_id
                             WHERE (t.unit_id = ANY($3) OR t.unit_id IN (SELECT p.unit_id FROM matter_roll p WHERE p.matter_id = $1 AND p.holder_key = $2))
                               AND t.created_at > mm.opened_at AND t.created_at > b.cast_at AND t.created_at <= $4)
               FROM ballots b LEFT JOIN owners o ON o.id = coalesce(b.voter_owner_id, b.signed_by_owner_id) LEFT JOIN staff s ON s.id = b.entered_by
              WHERE b.matter_id = $1 AND b.holder_key = $2 AND b.replaced_at IS NULL ORDER BY b.seq",
            &[&matter, &holder, &units, &as_of],
        )
        .await?
        .iter()
        .map(|r| Standing {
            id: r.get(0),
            channel: r.get(1),
            voter: r.get(2),
            voter_name: r.get(3),
            cast_at: r.get(4),
            entered_by: r.get(5),
            entered_at: r.get(6),
            voided: r.get(7),
            sold_since: r.get(8),
        })
        .collect())
}

/// Whether the person has already changed an online vote once.
pub async fn vote_changed(conn: &TenantConn, matter: Uuid, holder: &str) -> ApiResult<bool> {
    Ok(conn
                    .exists(
                        "SELECT 1 FROM ballots WHERE matter_id = $1 AND holder_key = $2 AND channel = 'online' AND replaced_at IS NOT NULL",
                        &[&matter, &holder],
                    )
                    .await?)
}

/// Marks a ballot replaced by a change of vote.
pub async fn mark_replaced(conn: &TenantConn, ballot: Uuid) -> ApiResult<()> {
    conn.execute(
        "UPDATE ballots SET replaced_at = now() WHERE id = $1",
        &[&ballot],
    )
    .await?;
    Ok(())
}

/// Voids a ballot not void yet; returns how many were voided (0 or 1).
pub async fn void(conn: &TenantConn, ballot: Uuid, reason: &str) -> ApiResult<u64> {
    Ok(conn.execute("UPDATE ballots SET voided_at = now(), void_reason = $2 WHERE id = $1 AND voided_at IS NULL", &[&ballot, &reason]).await?)
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
    Ok(conn
        .execute(
            // Never a ballot for a person who no longer holds any unit of the roll.
            "INSERT INTO ballots (id, matter_id, seq, holder_key, channel, choice, voter_owner_id, entered_by, signature_id, scan_id, idempotency_key,
                                  picks, cast_at, voided_at, void_reason, signed_by_owner_id, request_hash)
             SELECT $1, $2, nextval('ballot_seq'), $3, $4, $5, $6, $7, $8, $9, $10, $11, coalesce($12, now()), CASE WHEN $13::text IS NULL THEN NULL ELSE now() END, $13, $14, $15
              WHERE EXISTS (SELECT 1 FROM matter_roll WHERE matter_id = $2 AND holder_key = $3)",
            &[
                &id,
                &matter,
                &holder_key,
                &b.channel,
                &b.choice,
                &b.voter,
                &b.entered_by,
                &b.signature,
                &b.scan,
                &b.idempotency_key,
                &b.picks,
                &b.cast_at,
                &b.void_reason,
                &b.signed_by,
                &b.request_hash,
            ],
        )
        .await?)
}

/// The matter a ballot belongs to, if the ballot exists.
pub async fn ballot_matter(conn: &TenantConn, ballot: Uuid) -> ApiResult<Option<Uuid>> {
    Ok(conn
        .query_opt("SELECT matter_id FROM ballots WHERE id = $1", &[&ballot])
        .await?
        .map(|r| r.get(0)))
}

/// The person a ballot was cast for (the ballot must exist).
pub async fn ballot_holder(conn: &TenantConn, ballot: Uuid) -> ApiResult<String> {
    Ok(conn
        .query_one("SELECT holder_key FROM ballots WHERE id = $1", &[&ballot])
        .await?
        .get(0))
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
    Ok(conn
            .execute(
                "INSERT INTO matter_deliveries (matter_id, unit_id, proof_id, staff_id) VALUES ($1, $2, $3, $4) ON CONFLICT (matter_id, unit_id) DO NOTHING",
                &[&matter, &unit, &proof, &staff],
            )
            .await?)
}

// Lists and exports.

/// Units whose person has not voted, in one building.
pub struct BuildingRow {
    pub building: String,
    pub unit_codes: Vec<String>,
}

/// The units not voted yet, by building.
pub async fn not_voted(conn: &TenantConn, matter: Uuid) -> ApiResult<Vec<BuildingRow>> {
    Ok(conn
            .query(
                "SELECT r.building, array_agg(r.unit_code ORDER BY length(r.unit_code), r.unit_code) FROM matter_roll r
                  WHERE r.matter_id = $1 AND NOT EXISTS (SELECT 1 FROM ballots b WHERE b.matter_id = r.matter_id AND b.holder_key = r.holder_key)
                  GROUP BY r.building ORDER BY length(r.building), r.building",
                &[&matter],
            )
            .await?
            .iter()
            .map(|r| BuildingRow {
                building: r.get(0),
                unit_codes: r.get(1),
            })
            .collect())
}

/// A ballot as the export lists it.
pub struct ExportRow {
    pub id: Uuid,
    pub seq: i64,
    pub unit_codes: Option<String>,
    pub area_centi: i64,
    pub voter_name: Option<String>,
    pub channel: String,
    pub choice: String,
    pub voided_at: Option<DateTime<Utc>>,
    pub void_reason: Option<String>,
    pub cast_at: DateTime<Utc>,
    pub picks: Option<Vec<Uuid>>,
}

/// Every ballot of the matter, in ballot order, for the export.
pub async fn export_rows(conn: &TenantConn, matter: Uuid) -> ApiResult<Vec<ExportRow>> {
    Ok(conn
            .query(
                "SELECT b.id, b.seq,
                        (SELECT string_agg(r.unit_code, ',' ORDER BY r.unit_code) FROM matter_roll r WHERE r.matter_id = b.matter_id AND r.holder_key = b.holder_key),
                        (SELECT coalesce(sum(r.area_centi), 0)::bigint FROM matter_roll r WHERE r.matter_id = b.matter_id AND r.holder_key = b.holder_key),
                        o.real_name, b.channel, b.choice, b.voided_at, b.void_reason, b.cast_at, b.picks
                   FROM ballots b LEFT JOIN owners o ON o.id = coalesce(b.voter_owner_id, b.signed_by_owner_id)
                  WHERE b.matter_id = $1 ORDER BY b.seq",
                &[&matter],
            )
            .await?
            .iter()
            .map(|r| ExportRow {
                id: r.get(0),
                seq: r.get(1),
                unit_codes: r.get(2),
                area_centi: r.get(3),
                voter_name: r.get(4),
                channel: r.get(5),
                choice: r.get(6),
                voided_at: r.get(7),
                void_reason: r.get(8),
                cast_at: r.get(9),
                picks: r.get(10),
            })
            .collect())
}

/// The matter's ballots set aside now.
pub async fn set_aside_ids(
    conn: &TenantConn,
    matter: Uuid,
) -> ApiResult<std::collections::BTreeSet<Uuid>> {
    Ok(conn
        .query(
            &format!("SELECT b.id FROM ballots b WHERE b.matter_id = $1 AND {SET_ASIDE}"),
            &[&matter],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// The names of an election round's candidates, by id.
pub async fn candidate_names(
    conn: &TenantConn,
    matter: Uuid,
) -> ApiResult<std::collections::BTreeMap<Uuid, String>> {
    Ok(conn
            .query("SELECT c.id, c.name FROM candidates c JOIN elections e ON e.id = c.election_id WHERE e.matter_id = $1", &[&matter])
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
}

/// How many ballots the matter has.
pub async fn ballot_count(conn: &TenantConn, matter: Uuid) -> ApiResult<i64> {
    Ok(conn
        .query_one(
            "SELECT count(*) FROM ballots WHERE matter_id = $1",
            &[&matter],
        )
        .await?
        .get(0))
}

/// A ballot as staff inspect it in the list.
pub struct BallotRow {
    pub id: Uuid,
    pub seq: i64,
    pub channel: String,
    pub choice: String,
    pub picks: Option<Vec<Uuid>>,
    pub unit_codes: Vec<String>,
    pub area_centi: i64,
    pub voter_name: Option<String>,
    pub voter_owner_id: Option<Uuid>,
    pub entered_by: Option<String>,
    pub cast_at: DateTime<Utc>,
    pub entered_at: Option<DateTime<Utc>>,
    pub voided: bool,
    pub void_reason: Option<String>,
    pub superseded: bool,
    pub replaced: bool,
    pub scan_id: Option<Uuid>,
}

/// One page of the matter's ballots, in ballot order.
pub async fn ballot_page(
    conn: &TenantConn,
    matter: Uuid,
    limit: i64,
    offset: i64,
) -> ApiResult<Vec<BallotRow>> {
    Ok(conn
            .query(
                &format!(
                    "SELECT b.id, b.seq, b.channel, b.choice, b.picks,
                            coalesce((SELECT array_agg(r.unit_code ORDER BY r.unit_code) FROM matter_roll r WHERE r.matter_id = b.matter_id AND r.holder_key = b.holder_key), '{{}}'),
                            (SELECT coalesce(sum(r.area_centi), 0)::bigint FROM matter_roll r WHERE r.matter_id = b.matter_id AND r.holder_key = b.holder_key),
                            o.real_name, o.id, s.display_name, b.cast_at,
                            (SELECT min(l.at) FROM ledger_entries l WHERE l.ballot_id = b.id AND l.kind = 'cast'),
                            b.voided_at IS NOT NULL, b.void_reason, {}, b.replaced_at IS NOT NULL, b.scan_id
                       FROM ballots b LEFT JOIN owners o ON o.id = coalesce(b.voter_owner_id, b.signed_by_owner_id) LEFT JOIN staff s ON s.id = b.entered_by
                      WHERE b.matter_id = $1 ORDER BY b.seq LIMIT $2 OFFSET $3",
                    SET_ASIDE
                ),
                &[&matter, &limit, &offset],
            )
            .await?
            .iter()
            .map(|r| BallotRow {
                id: r.get(0),
                seq: r.get(1),
                channel: r.get(2),
                choice: r.get(3),
                picks: r.get(4),
                unit_codes: r.get(5),
                area_centi: r.get(6),
                voter_name: r.get(7),
                voter_owner_id: r.get(8),
                entered_by: r.get(9),
                cast_at: r.get(10),
                entered_at: r.get(11),
                voided: r.get(12),
                void_reason: r.get(13),
                superseded: r.get(14),
                replaced: r.get(15),
                scan_id: r.get(16),
            })
            .collect())
}
