//! Matters in the database: opening (the roll snapshot), the ledger, and tallying through the
//! pure engine. Handlers call these inside their `TenantConn` transaction.

use chrono::{DateTime, Utc};
use diesel::{prelude::*, sql_query, sql_types as sql};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    ledger::{self, Checkpoint, Entry, EntryKind, PublishedLedger, PublishedUnit},
    rules::RuleSet,
    signing,
    tally::{
        cap_shortfalls, option_tallies, resolve, snapshot, tally, Cast, Channel, ChannelRule,
        Choice, Holder, RollUnit, Settings, Tally, UnitClass,
    },
};
use crate::{
    auth::principal::Principal,
    authz::jurisdiction::Jurisdiction,
    error::{ApiError, ApiResult},
    schema::tenant::{
        elections, ledger_checkpoints, ledger_entries, ledger_positions, matter_deliveries,
        matter_roll, matters,
    },
    tenancy::conn::TenantConn,
    transparency::{
        self,
        proof::{Leaf, LeafKind},
    },
};

/// What a matter stores besides its rule set: the engine settings and the channel rule.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct MatterSettings {
    pub engine: Settings,
    pub channel_rule: ChannelRule,
    /// One change of vote before close (Wuhan); default not allowed (Beijing).
    #[serde(default)]
    pub allow_vote_change: bool,
}

pub struct Matter {
    pub id: Uuid,
    pub estate_id: Uuid,
    /// `matter`, or `election` (a round of an election votes through a matter).
    pub kind: String,
    /// The ledger's format (see `PublishedLedger::version`).
    pub ledger_version: i16,
    pub status: String,
    pub opens_at: DateTime<Utc>,
    /// The opening as frozen (`greatest(opens_at, created_at)`); absent until it opens.
    pub opened_at: Option<DateTime<Utc>>,
    pub closes_at: DateTime<Utc>,
    pub signature_required: bool,
    pub rule_set: RuleSet,
    pub settings: MatterSettings,
    pub salt: String,
}

// Rows of `sql_query` statements, read by column name: each selected expression is named as its
// field. Rows of the query builder's statements are `Selectable` over their table.

/// `SELECT EXISTS (...) AS found`.
#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = sql::Bool)]
    found: bool,
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = sql::Uuid)]
    id: Uuid,
}

/// A matter as [`load`] reads it.
#[derive(QueryableByName)]
struct MatterLoadRow {
    #[diesel(sql_type = sql::Uuid)]
    id: Uuid,
    #[diesel(sql_type = sql::Uuid)]
    estate_id: Uuid,
    #[diesel(sql_type = sql::Text)]
    status: String,
    #[diesel(sql_type = sql::Timestamptz)]
    opens_at: DateTime<Utc>,
    #[diesel(sql_type = sql::Timestamptz)]
    closes_at: DateTime<Utc>,
    #[diesel(sql_type = sql::Bool)]
    signature_required: bool,
    #[diesel(sql_type = sql::Jsonb)]
    rule_set: serde_json::Value,
    #[diesel(sql_type = sql::Jsonb)]
    settings: serde_json::Value,
    #[diesel(sql_type = sql::Text)]
    ledger_salt: String,
    #[diesel(sql_type = sql::Text)]
    kind: String,
    #[diesel(sql_type = sql::SmallInt)]
    ledger_version: i16,
    #[diesel(sql_type = sql::Nullable<sql::Timestamptz>)]
    opened_at: Option<DateTime<Utc>>,
}

pub fn not_found() -> ApiError {
    ApiError::not_found("matter.not_found", "议事事项不存在", "Matter not found")
}

fn parse_channel(s: &str) -> Channel {
    match s {
        "paper" => Channel::Paper,
        "on_site" => Channel::OnSite,
        _ => Channel::Online,
    }
}

pub fn channel_str(c: Channel) -> &'static str {
    match c {
        Channel::Online => "online",
        Channel::Paper => "paper",
        Channel::OnSite => "on_site",
    }
}

pub fn parse_choice(s: &str) -> Choice {
    match s {
        "agree" => Choice::Agree,
        "disagree" => Choice::Disagree,
        _ => Choice::Abstain,
    }
}

pub fn choice_str(c: Choice) -> &'static str {
    match c {
        Choice::Agree => "agree",
        Choice::Disagree => "disagree",
        Choice::Abstain => "abstain",
    }
}

fn class_of(kind: &str) -> UnitClass {
    match kind {
        "commercial" => UnitClass::Commercial,
        "parking" => UnitClass::Parking,
        "storage" => UnitClass::Storage,
        _ => UnitClass::Residential,
    }
}

/// Loads the matter; `lock` takes a share lock (casting) or an update lock (state changes).
pub async fn load(conn: &TenantConn, id: Uuid, lock: &str) -> ApiResult<Matter> {
    let row: MatterLoadRow = conn
        .optional(
            sql_query(format!(
                "SELECT id, estate_id, status, opens_at, closes_at, signature_required, rule_set, settings, ledger_salt, kind, ledger_version, opened_at
                   FROM matters WHERE id = $1 {lock}"
            ))
            .bind::<sql::Uuid, _>(id),
        )
        .await?
        .ok_or_else(not_found)?;
    Ok(Matter {
        id: row.id,
        estate_id: row.estate_id,
        status: row.status,
        opens_at: row.opens_at,
        closes_at: row.closes_at,
        signature_required: row.signature_required,
        rule_set: serde_json::from_value(row.rule_set).map_err(ApiError::internal)?,
        settings: serde_json::from_value(row.settings).map_err(ApiError::internal)?,
        salt: row.ledger_salt,
        kind: row.kind,
        ledger_version: row.ledger_version,
        opened_at: row.opened_at,
    })
}

/// The ledger format matters open with: choices sealed until the close, set-aside marks kept
/// true (see `ledger`).
const LEDGER_VERSION: i16 = ledger::NEWEST_VERSION as i16;

/// Opens an approved matter whose voting window has begun: freezes the roll (VOTING-RULES §2)
/// once, under the matter's row lock. Returns the matter as it now stands.
pub async fn open_if_due(conn: &TenantConn, id: Uuid) -> ApiResult<Matter> {
    let m = load(conn, id, "").await?;
    if m.status != "approved" || Utc::now() < m.opens_at {
        return Ok(m);
    }
    let m = load(conn, id, "FOR UPDATE").await?;
    if m.status != "approved" {
        return Ok(m);
    }
    // The roll as it stood at the opening time, whenever the freeze runs (the due-work sweep
    // runs it within seconds; a read or a cast may run it first): units imported later stay out,
    // and a unit sold since the opening time is frozen under its seller's registration, so the
    // sale counts as a mid-vote sale (`split_sold_units`).
    //
    // Who each unit's vote belongs to (VOTING-RULES §2): the developer's unsold units are one
    // person; otherwise the registration (name and phone), and registrations whose units one
    // verified owner holds as registered owner are that one person (verification matched the
    // real name, so they are the same person under another phone).
    conn.execute(
        sql_query(
        "INSERT INTO matter_roll (matter_id, unit_id, unit_code, building, area_centi, class, holder_key, frozen_holder_key)
         SELECT $1, id, code, building, area_centi, kind, key, key FROM (
             SELECT r.*, coalesce('owner:' || min(h.owner_id::text) FILTER (WHERE r.rkey <> 'developer') OVER (PARTITION BY r.rkey), r.rkey) AS key
               FROM (SELECT u.id, u.building || '-' || u.entrance || '-' || u.room AS code, u.building, u.area_centi, u.kind, greatest(m.opens_at, m.created_at) AS opens_at,
                            CASE WHEN coalesce(t.old_developer_unsold, u.developer_unsold) THEN 'developer'
                                 ELSE 'roll:' || regexp_replace(coalesce(t.old_owner_name, u.owner_name), '\\s', '', 'g') || '|' || coalesce(t.old_owner_phone, u.owner_phone) END AS rkey,
                            coalesce(t.created_at, 'infinity') AS sold_at
                       FROM matters m JOIN units u ON u.estate_id = m.estate_id
                       -- The first sale after the opening time, if any: the registration before it.
                       LEFT JOIN LATERAL (SELECT old_owner_name, old_owner_phone, old_developer_unsold, created_at FROM unit_transfers
                                           WHERE unit_id = u.id AND created_at > greatest(m.opens_at, m.created_at) ORDER BY seq LIMIT 1) t ON true
                      WHERE m.id = $1 AND u.created_at <= greatest(m.opens_at, m.created_at)
                        AND (m.scope_buildings IS NULL OR u.building = ANY(m.scope_buildings))
                        -- Parking and storage vote only where the estate counts them (VOTING-RULES §2).
                        AND (u.kind IN ('residential', 'commercial') OR (u.kind = 'parking' AND $2) OR (u.kind = 'storage' AND $3))) r
               -- The verified owner of that registration: holding since before any later sale and
               -- not ended by the opening time (at most one at a time, unit_holders_one_owner).
               LEFT JOIN LATERAL (SELECT owner_id FROM unit_holders h
                                   WHERE h.unit_id = r.id AND h.role = 'owner' AND h.since < r.sold_at AND (h.ended_at IS NULL OR h.ended_at > r.opens_at)
                                   ORDER BY h.since LIMIT 1) h ON true) keyed",
        )
        .bind::<sql::Uuid, _>(id)
        .bind::<sql::Bool, _>(m.settings.engine.parking_counts)
        .bind::<sql::Bool, _>(m.settings.engine.storage_counts),
    )
    .await?;
    // Opened as of its opening time (a matter created with a past opening time opens as
    // created): sales after it are mid-vote sales.
    // Opened in the newest ledger format by this code, which writes it (commitments, reinstated
    // marks); replicas of an older release opening matters during a rolling upgrade write the
    // version they know.
    conn.execute(
        sql_query("UPDATE matters SET status = 'open', opened_at = greatest(opens_at, created_at), ledger_version = $2, updated_at = now() WHERE id = $1")
            .bind::<sql::Uuid, _>(id)
            .bind::<sql::SmallInt, _>(LEDGER_VERSION),
    )
    .await?;
    // The opening checkpoint commits to the roll, rules, settings and facts before any ballot.
    let candidates = candidates(conn, id).await?;
    let facts = opening_facts(conn, id).await?;
    conn.execute(
        diesel::update(matters::table.find(id)).set(
            matters::opening_facts.eq(serde_json::to_value(&facts).map_err(ApiError::internal)?),
        ),
    )
    .await?;
    let opening = ledger::opening_hash_with(
        LEDGER_VERSION as u8,
        &id.to_string(),
        &m.rule_set,
        &m.settings.engine,
        m.settings.channel_rule,
        &frozen_roll(conn, &m).await?,
        &candidates,
        Some(&facts),
    );
    insert_checkpoint(conn, id, LEDGER_VERSION as u8, 0, &opening).await?;
    tracing::info!(matter = %id, "voting opened; roll frozen");
    load(conn, id, "").await
}

/// The matter and estate as [`opening_facts`] reads them.
#[derive(QueryableByName)]
struct OpeningFactsRow {
    #[diesel(sql_type = sql::Text)]
    kind: String,
    #[diesel(sql_type = sql::Text)]
    title: String,
    #[diesel(sql_type = sql::SmallInt)]
    law_item: i16,
    #[diesel(sql_type = sql::Nullable<sql::Array<sql::Text>>)]
    scope_buildings: Option<Vec<String>>,
    #[diesel(sql_type = sql::Nullable<sql::Text>)]
    rule_change_reason: Option<String>,
    #[diesel(sql_type = sql::Timestamptz)]
    opens_at: DateTime<Utc>,
    #[diesel(sql_type = sql::Timestamptz)]
    closes_at: DateTime<Utc>,
    #[diesel(sql_type = sql::BigInt)]
    registered_households: i64,
    #[diesel(sql_type = sql::BigInt)]
    registered_area_centi: i64,
    #[diesel(sql_type = sql::Nullable<sql::BigInt>)]
    seats: Option<i64>,
}

/// What the matter is as voting opens (see `ledger::OpeningFacts`).
async fn opening_facts(conn: &TenantConn, id: Uuid) -> ApiResult<ledger::OpeningFacts> {
    let r: OpeningFactsRow = conn
        .first(
            sql_query(
                "SELECT m.kind, m.title, m.law_item, m.scope_buildings, m.rule_change_reason, m.opens_at, m.closes_at,
                    e.total_households::bigint AS registered_households, e.total_area_centi AS registered_area_centi,
                    (SELECT el.seats::bigint FROM elections el WHERE el.matter_id = m.id) AS seats
               FROM matters m JOIN estates e ON e.id = m.estate_id WHERE m.id = $1",
            )
            .bind::<sql::Uuid, _>(id),
        )
        .await?;
    let millis = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    Ok(ledger::OpeningFacts {
        kind: r.kind,
        title: r.title,
        law_item: r.law_item,
        scope_buildings: r.scope_buildings,
        rule_change_reason: r.rule_change_reason,
        opens_at: millis(r.opens_at),
        closes_at: millis(r.closes_at),
        registered_households: r.registered_households,
        registered_area_centi: r.registered_area_centi,
        seats: r.seats,
    })
}

/// Casting, entering and voiding hold the matter's lock shared; closing and cancelling take it
/// exclusively, so they wait for every ballot in flight (no row lock on the matter is taken by
/// ballots: shared row locks on one hot row are costly in PostgreSQL).
pub async fn lock_matter(conn: &TenantConn, id: Uuid, exclusive: bool) -> ApiResult<()> {
    let sql = if exclusive {
        "SELECT pg_advisory_xact_lock(hashtext('zmg-matter'), hashtext($1::uuid::text))"
    } else {
        "SELECT pg_advisory_xact_lock_shared(hashtext('zmg-matter'), hashtext($1::uuid::text))"
    };
    conn.execute(sql_query(sql).bind::<sql::Uuid, _>(id))
        .await?;
    Ok(())
}

/// An election matter's approved candidates (fixed once voting opens), their ids as text
/// (lowercase, hyphenated, as PostgreSQL writes a uuid); empty for a matter.
pub async fn candidates(conn: &TenantConn, matter: Uuid) -> ApiResult<Vec<String>> {
    use crate::schema::tenant::candidates as c;
    Ok(conn
        .load::<_, Uuid>(
            c::table
                .inner_join(elections::table)
                .filter(elections::matter_id.eq(matter))
                .filter(c::status.eq("approved"))
                .order((c::created_at, c::id))
                .select(c::id),
        )
        .await?
        .into_iter()
        .map(|id| id.hyphenated().to_string())
        .collect())
}

/// A unit of the roll as frozen.
#[derive(Queryable, Selectable)]
#[diesel(table_name = matter_roll, check_for_backend(diesel::pg::Pg))]
struct FrozenUnitRow {
    unit_code: String,
    area_centi: i64,
    class: String,
    frozen_holder_key: String,
}

/// The roll as frozen when voting opened, with pseudonymous persons.
async fn frozen_roll(conn: &TenantConn, m: &Matter) -> ApiResult<Vec<PublishedUnit>> {
    Ok(conn
        .load(
            matter_roll::table
                .filter(matter_roll::matter_id.eq(m.id))
                .order(matter_roll::unit_code)
                .select(FrozenUnitRow::as_select()),
        )
        .await?
        .into_iter()
        .map(|r| PublishedUnit {
            unit_code: r.unit_code,
            area_centi: r.area_centi,
            class: class_of(&r.class),
            person_code: ledger::person_code(&m.salt, &r.frozen_holder_key),
        })
        .collect())
}

/// A ballot as [`append`] reads it, with the entry's sequence number and time.
#[derive(QueryableByName)]
struct BallotEntryRow {
    #[diesel(sql_type = sql::Text)]
    holder_key: String,
    #[diesel(sql_type = sql::Text)]
    channel: String,
    #[diesel(sql_type = sql::Text)]
    choice: String,
    #[diesel(sql_type = sql::Nullable<sql::Text>)]
    unit_codes: Option<String>,
    #[diesel(sql_type = sql::BigInt)]
    area_centi: i64,
    #[diesel(sql_type = sql::BigInt)]
    seq: i64,
    #[diesel(sql_type = sql::Timestamptz)]
    at: DateTime<Utc>,
    #[diesel(sql_type = sql::Nullable<sql::Text>)]
    picks: Option<String>,
    #[diesel(sql_type = sql::Timestamptz)]
    cast_at: DateTime<Utc>,
}

/// Appends a ledger entry for a ballot and returns it.
pub async fn append(
    conn: &TenantConn,
    m: &Matter,
    ballot: Uuid,
    kind: EntryKind,
) -> ApiResult<Entry> {
    // A cast keeps its ballot's sequence number, so the ledger orders ballots exactly as the
    // live tally does; voids and supersessions get their own.
    let own_seq = match kind {
        EntryKind::Cast => None,
        _ => Some(super::matter_store::next_seq(conn).await?.seq),
    };
    let b: BallotEntryRow = conn
        .first(
            sql_query(
                "SELECT b.holder_key, b.channel, b.choice,
                    (SELECT string_agg(r.unit_code, ',' ORDER BY r.unit_code) FROM matter_roll r WHERE r.matter_id = b.matter_id AND r.holder_key = b.holder_key) AS unit_codes,
                    (SELECT coalesce(sum(r.area_centi), 0)::bigint FROM matter_roll r WHERE r.matter_id = b.matter_id AND r.holder_key = b.holder_key) AS area_centi,
                    coalesce($2, b.seq) AS seq, date_trunc('milliseconds', now()) AS at,
                    array_to_string(b.picks, ',') AS picks, date_trunc('milliseconds', b.cast_at) AS cast_at
               FROM ballots b WHERE b.id = $1",
            )
            .bind::<sql::Uuid, _>(ballot)
            .bind::<sql::Nullable<sql::BigInt>, _>(own_seq),
        )
        .await?;
    let entry = Entry {
        seq: b.seq,
        position: None,
        kind,
        ballot_id: ballot.to_string(),
        person_code: ledger::person_code(&m.salt, &b.holder_key),
        unit_codes: b.unit_codes.unwrap_or_default(),
        area_centi: b.area_centi,
        channel: Some(parse_channel(&b.channel)),
        choice: Some(parse_choice(&b.choice)),
        picks: b.picks,
        commitment: None,
        salt: None,
        // The casting time matters to the count (`first_wins`), so sealed ledgers record it.
        cast_at: (m.ledger_version >= 3 && kind == EntryKind::Cast).then(|| {
            b.cast_at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        }),
        at: String::new(),
        hash: String::new(),
    };
    insert_entry(conn, m, entry, b.at).await
}

/// A unit of the roll as [`append_unit_event`] reads it, with the entry's sequence number and
/// time.
#[derive(QueryableByName)]
struct UnitEntryRow {
    #[diesel(sql_type = sql::Text)]
    holder_key: String,
    #[diesel(sql_type = sql::Text)]
    unit_code: String,
    #[diesel(sql_type = sql::BigInt)]
    area_centi: i64,
    #[diesel(sql_type = sql::BigInt)]
    seq: i64,
    #[diesel(sql_type = sql::Timestamptz)]
    at: DateTime<Utc>,
}

/// Appends a unit's roll event: a regroup (to its current person) or a delivery.
pub async fn append_unit_event(
    conn: &TenantConn,
    m: &Matter,
    unit: Uuid,
    kind: EntryKind,
) -> ApiResult<Entry> {
    let seq = super::matter_store::next_seq(conn).await?.seq;
    let r: UnitEntryRow = conn
        .first(
            sql_query(
                "SELECT holder_key, unit_code, area_centi, $3 AS seq, date_trunc('milliseconds', now()) AS at
               FROM matter_roll WHERE matter_id = $1 AND unit_id = $2",
            )
            .bind::<sql::Uuid, _>(m.id)
            .bind::<sql::Uuid, _>(unit)
            .bind::<sql::BigInt, _>(seq),
        )
        .await?;
    let entry = Entry {
        seq: r.seq,
        position: None,
        kind,
        ballot_id: String::new(),
        person_code: ledger::person_code(&m.salt, &r.holder_key),
        unit_codes: r.unit_code,
        area_centi: r.area_centi,
        channel: None,
        choice: None,
        picks: None,
        commitment: None,
        salt: None,
        cast_at: None,
        at: String::new(),
        hash: String::new(),
    };
    insert_entry(conn, m, entry, r.at).await
}

fn kind_str(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Cast => "cast",
        EntryKind::Void => "void",
        EntryKind::Superseded => "superseded",
        EntryKind::Regroup => "regroup",
        EntryKind::Delivery => "delivery",
        EntryKind::Reinstated => "reinstated",
    }
}

fn parse_kind(s: &str) -> EntryKind {
    match s {
        "void" => EntryKind::Void,
        "superseded" => EntryKind::Superseded,
        "regroup" => EntryKind::Regroup,
        "delivery" => EntryKind::Delivery,
        "reinstated" => EntryKind::Reinstated,
        _ => EntryKind::Cast,
    }
}

async fn insert_entry(
    conn: &TenantConn,
    m: &Matter,
    mut entry: Entry,
    at: DateTime<Utc>,
) -> ApiResult<Entry> {
    entry.at = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    if let (3.., Some(choice)) = (m.ledger_version, entry.choice) {
        // A fresh secret salt per entry: the commitment alone cannot be matched to a choice.
        let salt = hex::encode(rand::random::<[u8; 16]>());
        entry.commitment = Some(ledger::commitment(
            &m.id.to_string(),
            entry.seq,
            choice,
            entry.picks.as_deref(),
            &salt,
        ));
        entry.salt = Some(salt);
    }
    entry.hash = ledger::entry_hash(&m.id.to_string(), &entry);
    let ballot = Uuid::parse_str(&entry.ballot_id).ok();
    conn.execute(
        sql_query(
            "INSERT INTO ledger_entries (seq, matter_id, ballot_id, kind, person_code, unit_codes, area_centi, channel, choice, at, hash, picks, commitment, salt, cast_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15::text::timestamptz)",
        )
        .bind::<sql::BigInt, _>(entry.seq)
        .bind::<sql::Uuid, _>(m.id)
        .bind::<sql::Nullable<sql::Uuid>, _>(ballot)
        .bind::<sql::Text, _>(kind_str(entry.kind))
        .bind::<sql::Text, _>(&entry.person_code)
        .bind::<sql::Text, _>(&entry.unit_codes)
        .bind::<sql::BigInt, _>(entry.area_centi)
        .bind::<sql::Nullable<sql::Text>, _>(entry.channel.map(channel_str))
        .bind::<sql::Nullable<sql::Text>, _>(entry.choice.map(choice_str))
        .bind::<sql::Timestamptz, _>(at)
        .bind::<sql::Text, _>(&entry.hash)
        .bind::<sql::Nullable<sql::Text>, _>(&entry.picks)
        .bind::<sql::Nullable<sql::Text>, _>(&entry.commitment)
        .bind::<sql::Nullable<sql::Text>, _>(&entry.salt)
        .bind::<sql::Nullable<sql::Text>, _>(&entry.cast_at),
    )
    .await?;
    Ok(entry)
}

/// Seals the matter's ledger so far: gives every committed entry without a position the next
/// one (in sequence order), and records the root over the positioned prefix. Checkpointers of
/// one matter take turns; casting never waits for them. Returns the new checkpoint, if any
/// entry was added since the last.
pub async fn checkpoint(conn: &TenantConn, matter: Uuid) -> ApiResult<Option<Checkpoint>> {
    // The row first, as closing takes it: the same order everywhere, so no deadlock.
    let version: i16 = conn
        .first(
            matters::table
                .find(matter)
                .select(matters::ledger_version)
                .for_key_share(),
        )
        .await?;
    if version < 2 {
        return Ok(None);
    }
    conn.execute(
        sql_query(
            "SELECT pg_advisory_xact_lock(hashtext('zmg-checkpoint'), hashtext($1::uuid::text))",
        )
        .bind::<sql::Uuid, _>(matter),
    )
    .await?;
    let added = conn
        .execute(
            sql_query(
                "INSERT INTO ledger_positions (matter_id, position, seq)
             SELECT $1, coalesce((SELECT max(position) FROM ledger_positions WHERE matter_id = $1), 0) + row_number() OVER (ORDER BY e.seq), e.seq
               FROM ledger_entries e
              WHERE e.matter_id = $1 AND NOT EXISTS (SELECT 1 FROM ledger_positions p WHERE p.seq = e.seq)",
            )
            .bind::<sql::Uuid, _>(matter),
        )
        .await?;
    if added == 0 {
        return Ok(None);
    }
    let opening: String = conn
        .first(
            ledger_checkpoints::table
                .filter(ledger_checkpoints::matter_id.eq(matter))
                .filter(ledger_checkpoints::entries.eq(0))
                .select(ledger_checkpoints::root),
        )
        .await?;
    let hashes: Vec<String> = conn
        .load(
            ledger_positions::table
                .inner_join(ledger_entries::table.on(ledger_entries::seq.eq(ledger_positions::seq)))
                .filter(ledger_positions::matter_id.eq(matter))
                .order(ledger_positions::position)
                .select(ledger_entries::hash),
        )
        .await?;
    let leaves: Vec<String> = std::iter::once(opening).chain(hashes).collect();
    let root = ledger::merkle_root(&leaves);
    let entries = leaves.len() as i64 - 1;
    Ok(Some(
        insert_checkpoint(conn, matter, version as u8, entries, &root).await?,
    ))
}

/// Records a checkpoint, signed by the street office from version 5 on.
async fn insert_checkpoint(
    conn: &TenantConn,
    matter: Uuid,
    version: u8,
    entries: i64,
    root: &str,
) -> ApiResult<Checkpoint> {
    let signed = match version {
        5.. => {
            let tenant = conn.tenant();
            let signed = signing::sign_checkpoint(
                conn,
                tenant.id,
                &tenant.slug,
                &matter.to_string(),
                version,
                entries,
                root,
            )
            .await?;
            // Into the transparency log with the checkpoint, or neither.
            let matter_id = &matter.to_string();
            let (key_id, signature) = (&signed.key_id, &signed.signature);
            let leaf = Leaf {
                kind: LeafKind::Checkpoint,
                tenant: &tenant.slug,
                matter_id,
                version,
                entries,
                root,
                key_id,
                signature,
            };
            transparency::store::queue(conn, tenant.id, matter, &leaf).await?;
            Some(signed)
        }
        _ => None,
    };
    let (key_id, signature) = (
        signed.as_ref().map(|s| &s.key_id),
        signed.as_ref().map(|s| &s.signature),
    );
    let at: DateTime<Utc> = conn
        .first(
            diesel::insert_into(ledger_checkpoints::table)
                .values((
                    ledger_checkpoints::matter_id.eq(matter),
                    ledger_checkpoints::entries.eq(entries),
                    ledger_checkpoints::root.eq(root),
                    ledger_checkpoints::key_id.eq(key_id),
                    ledger_checkpoints::signature.eq(signature),
                ))
                .returning(ledger_checkpoints::at),
        )
        .await?;
    Ok(Checkpoint {
        entries,
        root: root.to_string(),
        at: at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        key_id: key_id.cloned(),
        signature: signature.cloned(),
    })
}

/// After a new cast for `holder_key`, records which of that person's ballots the channel rule
/// now sets aside (each only once).
pub async fn mark_superseded(conn: &TenantConn, m: &Matter, holder_key: &str) -> ApiResult<()> {
    if m.ledger_version >= 4 {
        return refresh_marks(conn, m, holder_key).await;
    }
    let ballots = person_ballots(conn, m, holder_key, "EXISTS (SELECT 1 FROM ledger_entries l WHERE l.ballot_id = b.id AND l.kind = 'superseded')").await?;
    let already: Vec<String> = ballots
        .iter()
        .filter(|(_, marked)| *marked)
        .map(|(c, _)| c.id.clone())
        .collect();
    let casts: Vec<Cast> = ballots.into_iter().map(|(c, _)| c).collect();
    for loser in resolve(&casts, m.settings.channel_rule).superseded {
        if !already.contains(&loser.id) {
            append(
                conn,
                m,
                Uuid::parse_str(&loser.id).map_err(ApiError::internal)?,
                EntryKind::Superseded,
            )
            .await?;
        }
    }
    Ok(())
}

/// Marks the ballots of a person left holding no unit (a unit sold during the vote that went
/// back to its seller, whose ballot was signed before the sale) as superseded, each once. Such
/// ballots are kept and never counted (see `counted` and the ledger's replay).
pub async fn mark_orphaned(conn: &TenantConn, m: &Matter, holder_key: &str) -> ApiResult<()> {
    if m.ledger_version >= 4 {
        return refresh_marks(conn, m, holder_key).await;
    }
    if conn
        .first(diesel::select(diesel::dsl::exists(
            matter_roll::table
                .filter(matter_roll::matter_id.eq(m.id))
                .filter(matter_roll::holder_key.eq(holder_key)),
        )))
        .await?
    {
        return Ok(());
    }
    let ballots: Vec<Id> = conn
        .load(
            sql_query(
                "SELECT b.id FROM ballots b WHERE b.matter_id = $1 AND b.holder_key = $2
                AND NOT EXISTS (SELECT 1 FROM ledger_entries l WHERE l.ballot_id = b.id AND l.kind = 'superseded')
              ORDER BY b.seq",
            )
            .bind::<sql::Uuid, _>(m.id)
            .bind::<sql::Text, _>(holder_key),
        )
        .await?;
    for b in ballots {
        append(conn, m, b.id, EntryKind::Superseded).await?;
    }
    Ok(())
}

/// Version 4: brings a person's set-aside marks up to date after anything that may change which
/// of their ballots counts (a cast, a void, a unit moving to or from them). A valid ballot the
/// channel rule passes over, or of a person left holding no unit, is marked superseded; a marked
/// one that counts again gets a reinstated entry. Voided ballots keep their void entry alone.
/// Older ledgers are left as their format wrote them.
pub async fn refresh_marks(conn: &TenantConn, m: &Matter, holder_key: &str) -> ApiResult<()> {
    if m.ledger_version < 4 {
        return Ok(());
    }
    let holds: bool = conn
        .first(diesel::select(diesel::dsl::exists(
            matter_roll::table
                .filter(matter_roll::matter_id.eq(m.id))
                .filter(matter_roll::holder_key.eq(holder_key)),
        )))
        .await?;
    let ballots = person_ballots(conn, m, holder_key, SET_ASIDE).await?;
    let casts: Vec<Cast> = ballots.iter().map(|(c, _)| c.clone()).collect();
    let passed_over: Vec<String> = resolve(&casts, m.settings.channel_rule)
        .superseded
        .into_iter()
        .map(|c| c.id)
        .collect();
    for (cast, marked) in &ballots {
        let set_aside = !cast.voided && (!holds || passed_over.contains(&cast.id));
        let id = Uuid::parse_str(&cast.id).map_err(ApiError::internal)?;
        if set_aside && !marked {
            append(conn, m, id, EntryKind::Superseded).await?;
        } else if !set_aside && *marked && !cast.voided {
            append(conn, m, id, EntryKind::Reinstated).await?;
        }
    }
    Ok(())
}

/// A ballot as [`person_ballots`] reads it.
#[derive(QueryableByName)]
struct PersonBallotRow {
    #[diesel(sql_type = sql::Uuid)]
    id: Uuid,
    #[diesel(sql_type = sql::Text)]
    channel: String,
    #[diesel(sql_type = sql::Text)]
    choice: String,
    #[diesel(sql_type = sql::Bool)]
    voided: bool,
    /// Its cast entry's sequence number, if it has one.
    #[diesel(sql_type = sql::Nullable<sql::BigInt>)]
    seq: Option<i64>,
    #[diesel(sql_type = sql::Bool)]
    marked: bool,
    #[diesel(sql_type = sql::Timestamptz)]
    cast_at: DateTime<Utc>,
}

/// A person's ballots as the channel rule sees them, each with `marked` (an SQL expression
/// over ballot `b`: whether it carries a set-aside mark).
async fn person_ballots(
    conn: &TenantConn,
    m: &Matter,
    holder_key: &str,
    marked: &str,
) -> ApiResult<Vec<(Cast, bool)>> {
    let rows: Vec<PersonBallotRow> = conn
        .load(
            sql_query(format!(
                "SELECT b.id, b.channel, b.choice, b.voided_at IS NOT NULL AS voided,
                        (SELECT min(l.seq) FROM ledger_entries l WHERE l.ballot_id = b.id AND l.kind = 'cast') AS seq,
                        {marked} AS marked, date_trunc('milliseconds', b.cast_at) AS cast_at
                   FROM ballots b WHERE b.matter_id = $1 AND b.holder_key = $2"
            ))
            .bind::<sql::Uuid, _>(m.id)
            .bind::<sql::Text, _>(holder_key),
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let seq = r.seq.unwrap_or(i64::MAX);
            let cast = Cast {
                id: r.id.to_string(),
                holder: Holder::Owner(holder_key.to_string()),
                channel: parse_channel(&r.channel),
                seq,
                cast_ms: cast_ms(m, seq, r.cast_at),
                choice: parse_choice(&r.choice),
                voided: r.voided,
            };
            (cast, r.marked)
        })
        .collect())
}

/// SQL for ballot `b`: whether its latest set-aside mark (by sequence, as verifiers read them) is
/// `superseded`.
pub const SET_ASIDE: &str = "coalesce((SELECT l.kind = 'superseded' FROM ledger_entries l
                                        WHERE l.ballot_id = b.id AND l.kind IN ('superseded', 'reinstated') ORDER BY l.seq DESC LIMIT 1), false)";

/// The published ledger of a matter (frozen roll, entries, checkpoints, root): no names, no
/// phones, and in a version 3 ledger no choices, picks or salts until the vote is closed.
pub async fn published(conn: &TenantConn, m: &Matter) -> ApiResult<PublishedLedger> {
    let whole = whole_ledger(conn, m).await?;
    let mut published = if seals_choices(m) {
        whole.sealed()
    } else {
        whole
    };
    published.log = log_inclusion(conn, m).await?;
    Ok(published)
}

/// That the last checkpoint the transparency log holds of the matter's ledger is in it.
pub async fn log_inclusion(
    conn: &TenantConn,
    m: &Matter,
) -> ApiResult<Option<crate::transparency::proof::LogInclusion>> {
    transparency::store::ledger_inclusion(conn, conn.tenant().id, m.id, None).await
}

/// Whether the matter's published ledger withholds choices: version 3, until the close.
pub fn seals_choices(m: &Matter) -> bool {
    m.ledger_version >= 3 && m.status != "closed"
}

/// A checkpoint as stored.
#[derive(Queryable, Selectable)]
#[diesel(table_name = ledger_checkpoints, check_for_backend(diesel::pg::Pg))]
struct CheckpointRow {
    entries: i64,
    root: String,
    at: DateTime<Utc>,
    key_id: Option<String>,
    signature: Option<String>,
}

/// A ledger entry as stored (its position, if it has one, is read beside it).
#[derive(Queryable, Selectable)]
#[diesel(table_name = ledger_entries, check_for_backend(diesel::pg::Pg))]
struct EntryRow {
    seq: i64,
    kind: String,
    ballot_id: Option<Uuid>,
    person_code: String,
    unit_codes: String,
    area_centi: i64,
    channel: Option<String>,
    choice: Option<String>,
    at: DateTime<Utc>,
    hash: String,
    picks: Option<String>,
    commitment: Option<String>,
    salt: Option<String>,
    cast_at: Option<DateTime<Utc>>,
}

/// What a matter stores of its close and opening, as the ledger reads it.
#[derive(QueryableByName)]
struct StoredResultRow {
    #[diesel(sql_type = sql::Nullable<sql::Text>)]
    ledger_root: Option<String>,
    #[diesel(sql_type = sql::Nullable<sql::Jsonb>)]
    declared: Option<serde_json::Value>,
    #[diesel(sql_type = sql::Nullable<sql::Jsonb>)]
    opening_facts: Option<serde_json::Value>,
}

/// The ledger with every choice shown. While voting is open it is for the server's own checks
/// only (see [`published`]), never for publication.
pub async fn whole_ledger(conn: &TenantConn, m: &Matter) -> ApiResult<PublishedLedger> {
    let roll = frozen_roll(conn, m).await?;
    // Checkpoints before entries: every entry a checkpoint covers is then read too.
    let checkpoints: Vec<Checkpoint> = conn
        .load(
            ledger_checkpoints::table
                .filter(ledger_checkpoints::matter_id.eq(m.id))
                .order(ledger_checkpoints::entries)
                .select(CheckpointRow::as_select()),
        )
        .await?
        .into_iter()
        .map(|r: CheckpointRow| Checkpoint {
            entries: r.entries,
            root: r.root,
            at: r.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            key_id: r.key_id,
            signature: r.signature,
        })
        .collect();
    let entries: Vec<Entry> = conn
        .load::<_, (EntryRow, Option<i64>)>(
            ledger_entries::table
                .left_join(
                    ledger_positions::table.on(ledger_positions::seq.eq(ledger_entries::seq)),
                )
                .filter(ledger_entries::matter_id.eq(m.id))
                .order((
                    ledger_positions::position.nullable().asc().nulls_last(),
                    ledger_entries::seq,
                ))
                .select((EntryRow::as_select(), ledger_positions::position.nullable())),
        )
        .await?
        .into_iter()
        .map(|(r, position)| Entry {
            seq: r.seq,
            position,
            kind: parse_kind(&r.kind),
            ballot_id: r.ballot_id.map(|b| b.to_string()).unwrap_or_default(),
            person_code: r.person_code,
            unit_codes: r.unit_codes,
            area_centi: r.area_centi,
            channel: r.channel.as_deref().map(parse_channel),
            choice: r.choice.as_deref().map(parse_choice),
            picks: r.picks,
            commitment: r.commitment,
            cast_at: r
                .cast_at
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            salt: r.salt,
            at: r.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            hash: r.hash,
        })
        .collect();
    let opening_hash = checkpoints
        .first()
        .filter(|c| c.entries == 0)
        .map(|c| c.root.clone())
        .unwrap_or_default();
    // Once closed, the root declared with the result is what the ledger must match; while
    // voting runs, the root over every entry so far (owners check theirs by receipt hash).
    let stored: StoredResultRow = conn
        .first(
            sql_query("SELECT result->>'ledger_root' AS ledger_root, result->'declared' AS declared, opening_facts FROM matters WHERE id = $1")
                .bind::<sql::Uuid, _>(m.id),
        )
        .await?;
    let facts: Option<ledger::OpeningFacts> = stored
        .opening_facts
        .map(serde_json::from_value)
        .transpose()
        .map_err(ApiError::internal)?;
    let declared: Option<ledger::Declared> = stored
        .declared
        .filter(|v| !v.is_null())
        .map(serde_json::from_value)
        .transpose()
        .map_err(ApiError::internal)?;
    let root = stored.ledger_root.unwrap_or_else(|| {
        if m.ledger_version < 2 {
            ledger::merkle_root(&entries.iter().map(|e| e.hash.clone()).collect::<Vec<_>>())
        } else {
            ledger::merkle_root(&ledger::leaves(&opening_hash, &entries))
        }
    });
    Ok(PublishedLedger {
        version: m.ledger_version as u8,
        tenant: conn.tenant().slug.clone(),
        matter_id: m.id.to_string(),
        rule_set: m.rule_set.clone(),
        settings: m.settings.engine,
        channel_rule: m.settings.channel_rule,
        roll,
        candidates: candidates(conn, m.id).await?,
        opening_hash,
        entries,
        checkpoints,
        root,
        sealed: false,
        facts,
        declared,
        log: None,
    })
}

/// What a close declares besides the figures: the election's seats, filling and lots.
pub struct Filling<'a> {
    pub seats: i32,
    pub outcome: &'a crate::elections::count::Outcome,
}

/// What a close records: the ledger root it declares, the result declared (version 5: signed by
/// the street office), to be stored under `result.declared`, and the closing time it names.
pub struct Closing {
    pub root: String,
    pub declared: Option<serde_json::Value>,
    pub closed_at: DateTime<Utc>,
}

/// The [`Closing`] of a matter or round, from one read of its ledger. Call after the final
/// checkpoint.
pub async fn declare(
    conn: &TenantConn,
    m: &Matter,
    tally: Option<&Tally>,
    candidates: &[(String, Tally)],
    filling: Option<Filling<'_>>,
) -> ApiResult<Closing> {
    // Millisecond precision, as declared and as stored.
    let closed_at =
        DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap_or_else(Utc::now);
    let whole = whole_ledger(conn, m).await?;
    if m.ledger_version < 5 {
        return Ok(Closing {
            root: whole.root,
            declared: None,
            closed_at,
        });
    }
    let millis = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let result = ledger::DeclaredResult {
        closed_at: millis(closed_at),
        closes_at: millis(m.closes_at),
        entries: whole.entries.len() as i64,
        root: whole.root.clone(),
        tally: tally.map(ledger::DeclaredTally::of),
        candidates: candidates
            .iter()
            .map(|(id, t)| ledger::DeclaredCandidate {
                id: id.clone(),
                votes: t.agree,
                passed: t.passed,
            })
            .collect(),
        seats: filling.as_ref().map(|f| f.seats as i64),
        elected: filling
            .as_ref()
            .map(|f| f.outcome.elected.clone())
            .unwrap_or_default(),
        lots: filling
            .as_ref()
            .map(|f| f.outcome.lots.clone())
            .unwrap_or_default(),
    };
    let tenant = conn.tenant();
    let signed = signing::sign_with(
        &tenant.slug,
        &ledger::result_message(
            &tenant.slug,
            &m.id.to_string(),
            m.ledger_version as u8,
            &result,
        ),
    )?;
    // Into the transparency log with the close, or neither.
    let matter_id = &m.id.to_string();
    let leaf = Leaf {
        kind: LeafKind::Result,
        tenant: &tenant.slug,
        matter_id,
        version: m.ledger_version as u8,
        entries: result.entries,
        root: &result.root,
        key_id: &signed.key_id,
        signature: &signed.signature,
    };
    transparency::store::queue(conn, tenant.id, m.id, &leaf).await?;
    let declared = ledger::Declared {
        result,
        key_id: signed.key_id,
        signature: signed.signature,
    };
    Ok(Closing {
        root: whole.root,
        declared: Some(serde_json::to_value(declared).map_err(ApiError::internal)?),
        closed_at,
    })
}

/// What the live tallies count: the roll's persons, each person's effective ballot (channel rule
/// applied) with its picks, and the delivered persons. From the ballots table, not the ledger.
struct Counted {
    units: Vec<RollUnit>,
    effective: Vec<(Cast, Vec<String>)>,
    delivered: std::collections::BTreeSet<Holder>,
}

/// A unit of the roll as the count reads it.
#[derive(Queryable, Selectable)]
#[diesel(table_name = matter_roll, check_for_backend(diesel::pg::Pg))]
struct CountedUnitRow {
    area_centi: i64,
    class: String,
    holder_key: String,
}

/// A ballot as the count reads it (picks only for an election).
#[derive(QueryableByName)]
struct CountedBallotRow {
    #[diesel(sql_type = sql::BigInt)]
    seq: i64,
    #[diesel(sql_type = sql::Text)]
    holder_key: String,
    #[diesel(sql_type = sql::Text)]
    channel: String,
    #[diesel(sql_type = sql::Text)]
    choice: String,
    #[diesel(sql_type = sql::Bool)]
    voided: bool,
    #[diesel(sql_type = sql::Nullable<sql::Array<sql::Text>>)]
    picks: Option<Vec<String>>,
    #[diesel(sql_type = sql::Timestamptz)]
    cast_at: DateTime<Utc>,
}

async fn counted(conn: &TenantConn, m: &Matter) -> ApiResult<Counted> {
    // Only what the engine reads: no unit codes, and picks only for an election.
    let units: Vec<RollUnit> = conn
        .load(
            matter_roll::table
                .filter(matter_roll::matter_id.eq(m.id))
                .select(CountedUnitRow::as_select()),
        )
        .await?
        .into_iter()
        .map(|r: CountedUnitRow| RollUnit {
            unit: String::new(),
            area_centi: r.area_centi,
            class: class_of(&r.class),
            holder: holder(&r.holder_key),
        })
        .collect();
    let election = m.kind == "election";
    let rows: Vec<CountedBallotRow> = conn
        .load(
            sql_query(
                "SELECT seq, holder_key, channel, choice, voided_at IS NOT NULL AS voided, CASE WHEN $2 THEN coalesce(picks::text[], '{}') END AS picks,
                    date_trunc('milliseconds', cast_at) AS cast_at
               FROM ballots WHERE matter_id = $1",
            )
            .bind::<sql::Uuid, _>(m.id)
            .bind::<sql::Bool, _>(election),
        )
        .await?;
    let mut picks = std::collections::BTreeMap::new();
    // A person who holds no unit any more (their unit went back to its seller) counts nothing.
    let on_roll: std::collections::BTreeSet<&Holder> = units.iter().map(|u| &u.holder).collect();
    let casts: Vec<Cast> = rows
        .into_iter()
        .filter(|r| on_roll.contains(&holder(&r.holder_key)))
        .map(|r| {
            // The sequence number identifies the ballot here (unique, cheaper than its uuid).
            let seq: i64 = r.seq;
            if election {
                picks.insert(seq, r.picks.unwrap_or_default());
            }
            Cast {
                id: seq.to_string(),
                holder: holder(&r.holder_key),
                channel: parse_channel(&r.channel),
                seq,
                cast_ms: cast_ms(m, seq, r.cast_at),
                choice: parse_choice(&r.choice),
                voided: r.voided,
            }
        })
        .collect();
    let effective = resolve(&casts, m.settings.channel_rule)
        .effective
        .into_iter()
        .map(|c| {
            let p = picks.remove(&c.seq).unwrap_or_default();
            (c, p)
        });
    let delivered = delivered_keys(conn, m)
        .await?
        .iter()
        .map(|k| holder(k))
        .collect();
    Ok(Counted {
        units,
        effective: effective.collect(),
        delivered,
    })
}

/// When a ballot was cast, as the count compares it (`first_wins`): the casting time in a sealed
/// ledger, which records it; the order of recording in older ledgers, which do not, so their
/// live count and their published recount always agree.
fn cast_ms(m: &Matter, seq: i64, cast_at: DateTime<Utc>) -> i64 {
    if m.ledger_version >= 3 {
        cast_at.timestamp_millis()
    } else {
        seq
    }
}

/// The live tally of a matter, with shortfalls nobody left could make up marked unreachable.
pub async fn live_tally(conn: &TenantConn, m: &Matter) -> ApiResult<Tally> {
    let c = counted(conn, m).await?;
    let effective: Vec<_> = c.effective.iter().map(|(cast, _)| cast.ballot()).collect();
    let snap = snapshot(&c.units, &m.settings.engine);
    let mut t = tally(
        &snap,
        &m.rule_set,
        &effective,
        &m.settings.engine,
        &c.delivered,
    )
    .map_err(|e| ApiError::internal(format!("tally: {e:?}")))?;
    if m.status == "open" {
        // Who can still change the result: non-voters, and voters whose ballot may yet be
        // replaced (a change of vote, or a ballot on the channel that wins).
        let settled = |cast: &Cast| {
            !cast.voided
                && !m.settings.allow_vote_change
                && match m.settings.channel_rule {
                    // A paper ballot signed before an online one may still be entered.
                    ChannelRule::FirstWins => cast.channel != Channel::Online,
                    ChannelRule::OnlineWins => cast.channel == Channel::Online,
                    ChannelRule::InPersonWins => cast.channel != Channel::Online,
                }
        };
        let mut remaining = snap.totals;
        for w in c
            .effective
            .iter()
            .filter(|(cast, _)| settled(cast))
            .filter_map(|(cast, _)| snap.persons.get(&cast.holder))
        {
            remaining.heads -= w.heads;
            remaining.area_centi -= w.area_centi;
        }
        remaining.heads -= t.followers.heads;
        remaining.area_centi -= t.followers.area_centi;
        cap_shortfalls(&mut t, remaining);
    }
    Ok(t)
}

/// The live tally of an election: one per approved candidate, in candidate order.
pub async fn live_candidate_tallies(
    conn: &TenantConn,
    m: &Matter,
) -> ApiResult<Vec<(String, Tally)>> {
    let c = counted(conn, m).await?;
    let ballots: Vec<_> = c
        .effective
        .iter()
        .map(|(cast, picks)| (cast.ballot(), picks.clone()))
        .collect();
    option_tallies(
        &snapshot(&c.units, &m.settings.engine),
        &m.rule_set,
        &ballots,
        &m.settings.engine,
        &candidates(conn, m.id).await?,
    )
    .map_err(|e| ApiError::internal(format!("tally: {e:?}")))
}

/// Holder keys of the units whose ballot delivery was recorded.
async fn delivered_keys(conn: &TenantConn, m: &Matter) -> ApiResult<Vec<String>> {
    Ok(conn
        .load(
            matter_deliveries::table
                .inner_join(
                    matter_roll::table.on(matter_roll::matter_id
                        .eq(matter_deliveries::matter_id)
                        .and(matter_roll::unit_id.eq(matter_deliveries::unit_id))),
                )
                .filter(matter_deliveries::matter_id.eq(m.id))
                .select(matter_roll::holder_key)
                .distinct(),
        )
        .await?)
}

fn holder(key: &str) -> Holder {
    if key == "developer" {
        Holder::Developer
    } else {
        Holder::Owner(key.to_string())
    }
}

/// Staff of the jurisdiction see every matter; owners see approved (or later) matters of the
/// estates they hold a unit in.
pub async fn visible_to(
    conn: &TenantConn,
    principal: &Principal,
    estate: Uuid,
    status: &str,
) -> ApiResult<()> {
    match principal {
        Principal::Staff { rc_id, .. } => Jurisdiction { rc_id: *rc_id }
            .check_estate(conn, estate)
            .await
            .map_err(|_| not_found()),
        Principal::Owner { id } => {
            let holds = crate::housing::store::holds_unit(conn, *id, estate).await?;
            let member = crate::estates::store::serving_member(conn, estate, *id).await?;
            if (holds && !matches!(status, "pending_approval" | "rejected")) || member {
                Ok(())
            } else {
                Err(not_found())
            }
        }
        _ => Err(not_found()),
    }
}

/// Whether `attachment` is a document of a matter (or election round) the owner may see, by the
/// same rule as [`visible_to`].
pub async fn document_visible_to_owner(
    conn: &TenantConn,
    owner: Uuid,
    attachment: Uuid,
) -> ApiResult<bool> {
    Ok(conn
        .first::<_, Found>(
            sql_query(format!(
                "SELECT EXISTS (SELECT 1 FROM matters m WHERE $2 = ANY (m.attachment_ids) AND (
                   (m.status NOT IN ('pending_approval', 'rejected')
                    AND EXISTS (SELECT 1 FROM unit_holders h JOIN units u ON u.id = h.unit_id WHERE h.owner_id = $1 AND u.estate_id = m.estate_id AND h.ended_at IS NULL))
                   OR EXISTS (SELECT 1 FROM oc_members c WHERE c.estate_id = m.estate_id AND c.owner_id = $1 AND {}))) AS found",
                crate::estates::store::SERVING
            ))
            .bind::<sql::Uuid, _>(owner)
            .bind::<sql::Uuid, _>(attachment),
        )
        .await?
        .found)
}
