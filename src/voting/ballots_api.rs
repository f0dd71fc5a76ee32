//! Ballots: cast online (owners), entered from paper (staff), voided; the live tally, the
//! units yet to vote, and the public, verifiable ledger.

use chrono::{DateTime, Utc};
use poem::{http::StatusCode, web::Data};
use poem_openapi::{
    param::{Path, Query},
    payload::Json,
    ApiResponse, Enum, Object, OpenApi,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{
    ledger::{self, EntryKind},
    service::{self, choice_str, Matter},
    signing,
    tally::{Check, Choice, Counts, Tally},
};
use crate::{
    audit,
    auth::{principal::Principal, BearerAuth},
    authz::jurisdiction::Jurisdiction,
    error::{ApiError, ApiResult, FieldIssue},
    housing::area,
    paging::Paging,
    state::AppState,
    tags::ApiTags,
    tenancy::{conn::TenantConn, Tenant},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ChoiceInput {
    /// 同意
    Agree,
    /// 反对
    Disagree,
    /// 弃权
    Abstain,
}

impl From<ChoiceInput> for Choice {
    fn from(c: ChoiceInput) -> Self {
        match c {
            ChoiceInput::Agree => Choice::Agree,
            ChoiceInput::Disagree => Choice::Disagree,
            ChoiceInput::Abstain => Choice::Abstain,
        }
    }
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CastInput {
    pub choice: ChoiceInput,
    /// An uploaded `signature` image, where the matter requires a signature.
    pub signature_attachment_id: Option<Uuid>,
    /// Client-chosen key: retrying with it returns the same receipt instead of a second ballot;
    /// the same key with another choice answers 422 `idempotency.mismatch`.
    #[oai(validator(max_length = 100))]
    pub idempotency_key: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum PaperChannel {
    Paper,
    OnSite,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PaperInput {
    /// Any unit of the voter (the ballot carries all the voter's units).
    pub unit_id: Uuid,
    pub choice: ChoiceInput,
    pub channel: PaperChannel,
    /// The scanned paper ballot (an uploaded `document` or image).
    pub scan_attachment_id: Uuid,
    /// When the voter signed it (default: now). Decides, for a unit sold during the vote,
    /// whether the ballot is the seller's or the buyer's.
    pub signed_at: Option<DateTime<Utc>>,
    /// The owner on the roll who signed it (a holder of one of the voter's units): among
    /// co-owners the first to vote decides, and the export names the signer.
    pub signed_by_owner_id: Option<Uuid>,
    /// A spoiled ballot (废票): entered as marked, void from the start, with this reason.
    #[oai(validator(max_length = 200))]
    pub void_reason: Option<String>,
    /// Clerk-chosen key: retrying with it returns the same receipt instead of a second entry;
    /// the same key with a different body answers 422 `idempotency.mismatch`.
    #[oai(validator(max_length = 100))]
    pub idempotency_key: Option<String>,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DeliveryInput {
    pub unit_id: Uuid,
    /// Proof of delivery (a photo or signed receipt), uploaded by staff.
    pub proof_attachment_id: Uuid,
}

#[derive(ApiResponse)]
pub enum Recorded {
    #[oai(status = 204)]
    Recorded,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct VoidInput {
    #[oai(validator(max_length = 200))]
    pub reason: String,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Receipt {
    pub ballot_id: Uuid,
    pub matter_id: Uuid,
    /// The ledger entry that records this ballot: find it in the published ledger.
    pub ledger_seq: i64,
    pub entry_hash: String,
    /// The entry hash's first 16 hex digits in groups of four: short enough to print on a paper
    /// ballot's entry slip or to read out, and looked up like the hash
    /// (`GET /api/receipts/{code}`).
    pub receipt_code: String,
    pub unit_codes: String,
    /// m², exact.
    pub area: String,
    pub choice: ChoiceInput,
    /// An election ballot's picks (candidate ids).
    pub picks: Option<Vec<Uuid>>,
    pub cast_at: DateTime<Utc>,
    /// While voting is open the published ledger shows this commitment instead of the choice:
    /// hex SHA-256 of `zmg-commit-v1`, matter id, `ledger_seq`, choice, picks (comma-separated
    /// candidate ids, empty on a matter) and `salt`, each followed by a zero byte. Keep the salt
    /// to check it; it is published with the choice once the vote closes. Absent on ledgers
    /// opened before choices were sealed.
    pub commitment: Option<String>,
    pub salt: Option<String>,
    /// A paper ballot, where the service is configured to text receipts: the signer's phone
    /// (masked) that the receipt code was sent to.
    pub receipt_sent_to: Option<String>,
}

#[derive(ApiResponse)]
pub enum Cast {
    #[oai(status = 201)]
    Created(Json<Receipt>),
    /// The same idempotency key again: the original receipt.
    #[oai(status = 200)]
    Repeated(Json<Receipt>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum BallotChannel {
    Online,
    Paper,
    OnSite,
}

/// One ballot as staff inspect it.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct BallotView {
    pub id: Uuid,
    /// The ballot's sequence number: its cast entry in the ledger.
    pub seq: i64,
    pub channel: BallotChannel,
    /// A matter's choice (absent on an election ballot).
    pub choice: Option<ChoiceInput>,
    /// An election ballot's picks (candidate ids).
    pub picks: Option<Vec<Uuid>>,
    /// The units the ballot votes for now (none for a ballot set aside because its unit went
    /// back to a seller who voted before the sale).
    pub unit_codes: Vec<String>,
    /// m², exact.
    pub area: String,
    /// Who cast it online, or signed it on paper where staff recorded the signer.
    pub voter_name: Option<String>,
    pub voter_owner_id: Option<Uuid>,
    /// The clerk who entered a paper or on-site ballot.
    pub entered_by: Option<String>,
    /// When it was cast (a paper ballot: when it was signed).
    pub cast_at: DateTime<Utc>,
    /// A paper or on-site ballot's signing time.
    pub signed_at: Option<DateTime<Utc>>,
    /// When a paper or on-site ballot was entered.
    pub entered_at: Option<DateTime<Utc>>,
    pub voided: bool,
    pub void_reason: Option<String>,
    /// Set aside: by the channel rule, or because its unit went back to the seller.
    pub superseded: bool,
    /// Replaced by the voter's one permitted change of vote.
    pub replaced: bool,
    pub scan_attachment_id: Option<Uuid>,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct BallotPage {
    pub items: Vec<BallotView>,
    pub total: i64,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CountsView {
    pub heads: i64,
    /// m², exact.
    pub area: String,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CheckView {
    pub passed: bool,
    pub value: CountsView,
    pub base: CountsView,
    pub required: CountsView,
    /// More persons needed (for approval: more agreeing voters); absent when unreachable.
    pub shortfall_heads: Option<i64>,
    pub shortfall_area: Option<String>,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TallyView {
    pub rule_set: String,
    pub totals: CountsView,
    pub participants: CountsView,
    /// The split by choice (`agree` … `followers`, `approval`, `passed`) is absent for owners
    /// while voting is open (`choices_sealed`): with it and the ledger's list of who voted, a
    /// neighbour could tell from two looks how each unit voted. Staff always see it.
    pub agree: Option<CountsView>,
    pub disagree: Option<CountsView>,
    pub abstain: Option<CountsView>,
    pub invalid: Option<CountsView>,
    /// Delivered non-voters counted with the majority (从众), where the matter allows it.
    pub followers: Option<CountsView>,
    pub participation: Option<CheckView>,
    pub approval: Option<CheckView>,
    pub passed: Option<bool>,
    /// The split by choice is withheld until the close (see above).
    pub choices_sealed: bool,
    pub status: String,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct BuildingToVisit {
    pub building: String,
    /// Units whose owner has not voted (for door-to-door visits).
    pub unit_codes: Vec<String>,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct LedgerVerification {
    /// Sequence numbers of entries whose content no longer matches their hash.
    pub altered_entries: Vec<i64>,
    /// The frozen roll, rule set and settings still hash to the opening checkpoint.
    pub opening_matches: bool,
    /// Checkpoints (by number of entries covered) the published entries no longer reproduce.
    pub broken_checkpoints: Vec<i64>,
    pub root_matches: bool,
    pub recomputed_root: String,
    /// Whether choices are still sealed (voting open): entries show commitments only, and no
    /// tally can be recomputed from the ledger until the close reveals them.
    pub sealed: bool,
    /// Entries whose revealed choice is not the one committed to while voting was open.
    pub broken_commitments: Vec<i64>,
    /// The tally recomputed from the ledger alone equals the live tally. While the choices are
    /// sealed the server checks this with the choices the close will reveal; afterwards anyone
    /// can recompute it from the published ledger.
    pub tally_matches: bool,
    pub recomputed: Option<TallyView>,
    /// The entries are published in the ledger's order (by position, then pending ones by
    /// sequence number).
    pub order_matches: bool,
    /// Entries naming a unit not on the frozen roll, or an area other than their units' area.
    pub units_mismatched: Vec<i64>,
    /// The rule set's fractions are those its name stands for.
    pub rules_match_preset: bool,
    /// Nothing in the ledger belongs to a later format than its version declares.
    pub version_consistent: bool,
    /// Version 4: ballots whose superseded mark disagrees with the recount.
    pub inconsistent_marks: Vec<String>,
    /// Version 5: checkpoints (by entries covered) without the street office's signature.
    pub unsigned_checkpoints: Vec<i64>,
    /// Checkpoints whose signature fails against the street office's published keys
    /// (`GET /api/platform/signing-keys`).
    pub bad_signatures: Vec<i64>,
    /// Version 5, closed: the last signed checkpoint covers every entry and the declared root.
    pub root_signed: bool,
    /// Checkpoints (by entries covered) the transparency log holds for this ledger that the
    /// published ledger lacks or shows otherwise (root, signature, version), and the declared
    /// result (by its entries) when the log holds another than the ledger shows.
    pub log_mismatches: Vec<i64>,
    /// The published ledger's proof that its declared result, or before the close its last
    /// logged checkpoint, is in the transparency log verifies (absent: the log holds nothing of
    /// it yet).
    pub log_included: Option<bool>,
    /// Every check above passed (and the tally matches): the ledger verifies.
    pub intact: bool,
}

pub fn counts(c: Counts) -> CountsView {
    CountsView {
        heads: c.heads,
        area: area::format(c.area_centi),
    }
}

fn check(c: &Check) -> CheckView {
    CheckView {
        passed: c.passed,
        value: counts(c.value),
        base: counts(c.base),
        required: counts(c.required),
        shortfall_heads: c.shortfall_heads,
        shortfall_area: c.shortfall_area_centi.map(area::format),
    }
}

/// Whether `principal` is kept from a matter's split by choice: owners, while a ledger that
/// seals choices (version 3) is not closed (a cancelled vote stays sealed).
pub(crate) fn choices_sealed_for(principal: &Principal, m: &service::Matter) -> bool {
    matches!(principal, Principal::Owner { .. }) && m.status != "closed" && m.ledger_version >= 3
}

pub(crate) fn tally_view(t: &Tally, status: &str, sealed: bool) -> TallyView {
    let shown = |c: Counts| (!sealed).then(|| counts(c));
    TallyView {
        rule_set: t.rule_set.clone(),
        totals: counts(t.totals),
        participants: counts(t.participants),
        agree: shown(t.agree),
        disagree: shown(t.disagree),
        abstain: shown(t.abstain),
        invalid: shown(t.invalid),
        followers: shown(t.followers),
        participation: t.participation.as_ref().map(check),
        approval: (!sealed).then(|| check(&t.approval)),
        passed: (!sealed).then_some(t.passed),
        choices_sealed: sealed,
        status: status.to_string(),
    }
}

fn choice_input(s: &str) -> ChoiceInput {
    match s {
        "agree" => ChoiceInput::Agree,
        "disagree" => ChoiceInput::Disagree,
        _ => ChoiceInput::Abstain,
    }
}

pub(crate) async fn receipt(conn: &TenantConn, ballot: Uuid) -> ApiResult<Receipt> {
    let r = conn
        .query_one(
            "SELECT b.id, b.matter_id, l.seq, l.hash, l.unit_codes, l.area_centi, b.choice, b.cast_at, b.picks, l.commitment, l.salt
               FROM ballots b JOIN ledger_entries l ON l.ballot_id = b.id AND l.kind = 'cast' WHERE b.id = $1",
            &[&ballot],
        )
        .await?;
    Ok(Receipt {
        ballot_id: r.get(0),
        matter_id: r.get(1),
        ledger_seq: r.get(2),
        receipt_code: crate::voting::receipts_api::receipt_code(r.get(3)),
        entry_hash: r.get(3),
        unit_codes: r.get(4),
        area: area::format(r.get(5)),
        choice: choice_input(r.get(6)),
        picks: r.get(8),
        cast_at: r.get(7),
        commitment: r.get(9),
        salt: r.get(10),
        receipt_sent_to: None,
    })
}

fn not_open() -> ApiError {
    ApiError::conflict(
        "ballot.not_open",
        "当前不在投票时间内",
        "Voting is not open",
    )
}

/// The matter, opened if due, locked shared so it cannot close or be cancelled mid-cast.
pub(crate) async fn open_matter(conn: &TenantConn, id: Uuid) -> ApiResult<Matter> {
    // The matter lock before the row lock, in the order closing takes them.
    service::lock_matter(conn, id, false).await?;
    service::open_if_due(conn, id).await?;
    let m = service::load(conn, id, "").await?;
    let now = Utc::now();
    if m.status != "open" || now < m.opens_at || now >= m.closes_at {
        return Err(not_open());
    }
    Ok(m)
}

/// A paper ballot's signing time lies within the voting window (from the opening as frozen: a
/// matter created with a past opening time opened when created) and not in the future.
pub(crate) fn check_signed_at(
    m: &Matter,
    signed_at: Option<DateTime<Utc>>,
) -> ApiResult<Option<DateTime<Utc>>> {
    match signed_at {
        Some(t) if t < m.opened_at.unwrap_or(m.opens_at) || t > Utc::now() => Err(ApiError::field(
            "signed_at",
            "ballot.signed_at",
            "签署时间须在投票开始之后、当前时间之前",
            "signed_at must lie between the opening and now",
        )),
        other => Ok(other),
    }
}

pub(crate) async fn lock_person(conn: &TenantConn, m: &Matter, holder_key: &str) -> ApiResult<()> {
    conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('person:' || $1::uuid::text || ':' || $2))",
        &[&m.id, &holder_key],
    )
    .await?;
    Ok(())
}

/// Locks several persons, always in the same (sorted) order.
async fn lock_persons(conn: &TenantConn, m: &Matter, keys: &[String]) -> ApiResult<()> {
    let mut keys: Vec<&String> = keys.iter().collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        lock_person(conn, m, key).await?;
    }
    Ok(())
}

fn retry() -> ApiError {
    ApiError::conflict(
        "ballot.retry",
        "房屋信息正在变更，请稍后重试",
        "The roll is changing; try again",
    )
}

fn not_in_scope() -> ApiError {
    ApiError::field(
        "unit_id",
        "ballot.unit_not_in_scope",
        "该房屋不在本次投票范围内",
        "The unit is not in this vote's scope",
    )
}

async fn holders_of(conn: &TenantConn, m: &Matter, units: &[Uuid]) -> ApiResult<Vec<String>> {
    Ok(conn
        .query("SELECT DISTINCT holder_key FROM matter_roll WHERE matter_id = $1 AND unit_id = ANY($2) ORDER BY 1", &[&m.id, &units])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// A unit sold after voting opened whose seller had not voted before the sale votes on its
/// own, for its new owner, with its own area only (VOTING-RULES §2, Beijing). `units`: the units
/// a ballot is cast for; every unit of the persons they vote for is checked, so a seller's
/// ballot carries only what the seller still holds, whoever casts first. `as_of`: when the
/// ballot at hand was cast (a paper ballot: when it was signed); only sales before then split.
/// The seller's person is locked first, so no ballot of theirs is being cast meanwhile. Each
/// split is a regroup entry in the ledger.
pub(crate) async fn split_sold_units(
    conn: &TenantConn,
    m: &Matter,
    units: &[Uuid],
    as_of: DateTime<Utc>,
) -> ApiResult<()> {
    let due: Vec<(Uuid, String)> = conn
        .query(
            "SELECT DISTINCT r.unit_id, r.holder_key FROM matter_roll r JOIN matters m ON m.id = r.matter_id
               JOIN unit_transfers t ON t.unit_id = r.unit_id AND t.created_at > m.opened_at AND t.created_at <= $3
              WHERE r.matter_id = $1 AND r.holder_key NOT LIKE 'unit:%'
                AND r.holder_key IN (SELECT p.holder_key FROM matter_roll p WHERE p.matter_id = $1 AND p.unit_id = ANY($2))",
            &[&m.id, &units, &as_of],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let sellers: Vec<String> = due.iter().map(|d| d.1.clone()).collect();
    lock_persons(conn, m, &sellers).await?;
    let split = conn
        .query(
            "UPDATE matter_roll r SET holder_key = 'unit:' || r.unit_id
               FROM matters m, unit_transfers t
              WHERE r.matter_id = $1 AND r.unit_id = ANY($2) AND r.holder_key NOT LIKE 'unit:%'
                AND m.id = $1 AND t.unit_id = r.unit_id AND t.created_at > m.opened_at AND t.created_at <= $3
                AND NOT EXISTS (SELECT 1 FROM ballots b WHERE b.matter_id = $1 AND b.holder_key = r.holder_key AND b.cast_at < t.created_at)
          RETURNING r.unit_id",
            &[&m.id, &due.iter().map(|d| d.0).collect::<Vec<_>>(), &as_of],
        )
        .await?;
    for row in split {
        service::append_unit_event(conn, m, row.get(0), EntryKind::Regroup).await?;
    }
    // A seller whose ballot was cast after the sale may be left holding nothing.
    for seller in &sellers {
        service::refresh_marks(conn, m, seller).await?;
    }
    Ok(())
}

/// The person a paper ballot signed at `as_of` for `unit` belongs to: the unit's person at that
/// time. A unit split off to its buyer by a sale after the signing was still the seller's then,
/// so the ballot is the seller's; and since the ballot cast (signed) before the transfer stands
/// (VOTING-RULES §2), every unit of the seller's split off by a sale after the signing goes back
/// to the seller. Returns the person and those units (with the person each votes for now), all
/// persons locked.
async fn lock_signing_holder(
    conn: &TenantConn,
    m: &Matter,
    unit: Uuid,
    as_of: DateTime<Utc>,
) -> ApiResult<(String, Vec<(Uuid, String)>)> {
    // When a unit split off: its first sale after the roll was frozen.
    const FIRST_SALE: &str =
        "(SELECT min(t.created_at) FROM unit_transfers t JOIN matters mm ON mm.id = r.matter_id
                                WHERE t.unit_id = r.unit_id AND t.created_at > mm.opened_at)";
    let read = || async {
        let row = conn
            .query_opt(
                &format!("SELECT r.holder_key, r.frozen_holder_key, r.holder_key = 'unit:' || r.unit_id AND coalesce({FIRST_SALE} > $3, false) FROM matter_roll r WHERE r.matter_id = $1 AND r.unit_id = $2"),
                &[&m.id, &unit, &as_of],
            )
            .await?
            .ok_or_else(not_in_scope)?;
        let holder: String = if row.get::<_, bool>(2) {
            row.get(1)
        } else {
            row.get(0)
        };
        let back: Vec<(Uuid, String)> = conn
            .query(
                &format!(
                    "SELECT r.unit_id, r.holder_key FROM matter_roll r
                      WHERE r.matter_id = $1 AND r.frozen_holder_key = $2 AND r.holder_key = 'unit:' || r.unit_id AND r.holder_key <> $2 AND {FIRST_SALE} > $3
                      ORDER BY r.unit_code"
                ),
                &[&m.id, &holder, &as_of],
            )
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        Ok::<_, ApiError>((holder, back))
    };
    for _ in 0..3 {
        let (holder, back) = read().await?;
        let mut keys: Vec<String> = back.iter().map(|b| b.1.clone()).collect();
        keys.push(holder.clone());
        lock_persons(conn, m, &keys).await?;
        if read().await? == (holder.clone(), back.clone()) {
            return Ok((holder, back));
        }
    }
    Err(retry())
}

/// Gives units back to the seller whose ballot was signed before their sale (see
/// `lock_signing_holder`), each a regroup entry. A buyer's ballot that thereby carries no unit
/// any more is kept, marked superseded, and never counted: the unit counts once, for the seller.
async fn rejoin_units(
    conn: &TenantConn,
    m: &Matter,
    holder: &str,
    back: &[(Uuid, String)],
) -> ApiResult<()> {
    for (unit, _) in back {
        conn.execute(
            "UPDATE matter_roll SET holder_key = $3 WHERE matter_id = $1 AND unit_id = $2",
            &[&m.id, unit, &holder],
        )
        .await?;
        service::append_unit_event(conn, m, *unit, EntryKind::Regroup).await?;
    }
    for (_, buyer) in back {
        service::mark_orphaned(conn, m, buyer).await?;
    }
    service::refresh_marks(conn, m, holder).await?;
    Ok(())
}

/// A ballot of a person that still stands (not replaced by a change of vote).
struct Standing {
    id: Uuid,
    channel: String,
    /// Who cast it (online), or who signed it (paper, where staff recorded it).
    voter: Option<Uuid>,
    voter_name: Option<String>,
    /// When it was cast (a paper ballot: signed).
    cast_at: DateTime<Utc>,
    /// Who entered a paper ballot, and when.
    entered_by: Option<String>,
    entered_at: Option<DateTime<Utc>>,
    voided: bool,
    /// One of the units at hand, or of the person's units, was sold after this ballot was cast
    /// and before `as_of`: the ballot is a previous owner's, and it stands (VOTING-RULES §2) for
    /// every unit it carried; nobody (the buyer, nor the seller changing their mind) votes again.
    sold_since: bool,
}

async fn standing(
    conn: &TenantConn,
    m: &Matter,
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
            &[&m.id, &holder, &units, &as_of],
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

async fn unit_codes(conn: &TenantConn, m: &Matter, units: &[Uuid]) -> ApiResult<String> {
    Ok(conn
        .query_one(
            "SELECT coalesce(string_agg(unit_code, ',' ORDER BY unit_code), '') FROM matter_roll WHERE matter_id = $1 AND unit_id = ANY($2)",
            &[&m.id, &units],
        )
        .await?
        .get(0))
}

/// Beijing time, as staff and owners read it.
fn beijing(t: DateTime<Utc>) -> String {
    t.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8"))
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

fn channel_zh(channel: &str) -> &'static str {
    match channel {
        "paper" => "纸质票",
        "on_site" => "现场投票",
        _ => "线上投票",
    }
}

fn channel_en(channel: &str) -> &'static str {
    match channel {
        "paper" => "paper",
        "on_site" => "on-site",
        _ => "online",
    }
}

/// Owners `a` and `b` both hold one unit now (co-owners may be told each other's names).
async fn co_holders(conn: &TenantConn, a: Uuid, b: Uuid) -> ApiResult<bool> {
    Ok(conn
        .exists(
            "SELECT 1 FROM unit_holders x JOIN unit_holders y ON y.unit_id = x.unit_id
              WHERE x.owner_id = $1 AND y.owner_id = $2 AND x.ended_at IS NULL AND y.ended_at IS NULL",
            &[&a, &b],
        )
        .await?)
}

fn already_voted(codes: &str, who: Option<&str>) -> ApiError {
    match who {
        Some(name) => ApiError::conflict(
            "ballot.already_cast",
            format!("房屋 {codes} 已由 {name} 投票，每套房屋只能投一票"),
            format!("Unit {codes} has already been voted for by {name}; each unit votes once"),
        ),
        None => ApiError::conflict(
            "ballot.already_cast",
            format!("房屋 {codes} 已投票，每套房屋只能投一票"),
            format!("Unit {codes} has already voted; each unit votes once"),
        ),
    }
}

fn voted_before_transfer(codes: &str) -> ApiError {
    ApiError::conflict(
        "ballot.already_cast",
        format!("房屋 {codes} 在过户前已由原业主投票，该票有效，本次表决中该房屋不能再投票"),
        format!("Unit {codes} was voted for by its previous owner before the transfer; that ballot stands, so the unit cannot vote again in this vote"),
    )
}

fn paper_signed_by(codes: &str, who: Option<&str>) -> ApiError {
    match who {
        Some(name) => ApiError::conflict(
            "ballot.already_cast",
            format!("房屋 {codes} 已录入 {name} 签署的纸质票（共有人中先投票者为准），每套房屋只能投一票"),
            format!(
                "A paper ballot signed by {name} has already been entered for unit {codes} (among co-owners the first to vote decides); each unit votes once"
            ),
        ),
        None => ApiError::conflict(
            "ballot.already_cast",
            format!("房屋 {codes} 已录入纸质票（共有人中先投票者为准），每套房屋只能投一票"),
            format!("A paper ballot has already been entered for unit {codes} (among co-owners the first to vote decides); each unit votes once"),
        ),
    }
}

fn paper_signer_unknown(codes: &str) -> ApiError {
    ApiError::conflict(
        "ballot.already_cast",
        format!("房屋 {codes} 已录入一张未登记签署人的纸质票；共有人中先投票者为准，如该票系您本人签署，请联系居委会"),
        format!("A paper ballot whose signer was not recorded has already been entered for unit {codes}; among co-owners the first to vote decides. If you signed it, contact the residents' committee"),
    )
}

fn idempotency_mismatch() -> ApiError {
    let (zh, en) = (
        "该请求标识已用于内容不同的另一次提交，请使用新的请求标识",
        "This idempotency key was already used with a different request body; use a new key",
    );
    let mut e = ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency.mismatch",
        zh,
        en,
    );
    e.fields.push(FieldIssue::new(
        "idempotency_key",
        "idempotency.mismatch",
        zh,
        en,
    ));
    e
}

fn key_invalid() -> ApiError {
    ApiError::field(
        "idempotency_key",
        "ballot.key_invalid",
        "请提供 1–100 个字符的请求标识",
        "idempotency_key must have 1–100 characters",
    )
}

/// The hash stored with a ballot of the request body that cast or entered it.
pub(crate) fn request_hash(body: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(body.to_string().as_bytes()))
}

/// A retry under an idempotency key already used: the first receipt, if the body is the same.
async fn repeated(
    conn: TenantConn,
    ballot: Uuid,
    stored_hash: Option<String>,
    hash: &str,
) -> ApiResult<Cast> {
    // Ballots cast before bodies were hashed answer as they always did.
    if stored_hash.is_some_and(|stored| stored != hash) {
        return Err(idempotency_mismatch());
    }
    let r = receipt(&conn, ballot).await?;
    conn.commit().await?;
    Ok(Cast::Repeated(Json(r)))
}

/// A ballot as it is to be stored.
pub(crate) struct NewBallot<'a> {
    pub channel: &'a str,
    pub choice: Choice,
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
    pub void_reason: Option<String>,
}

pub(crate) async fn insert_ballot(
    conn: &TenantConn,
    m: &Matter,
    holder_key: &str,
    b: NewBallot<'_>,
) -> ApiResult<Uuid> {
    let id = Uuid::new_v4();
    let inserted = conn
        .execute(
            // Never a ballot for a person who no longer holds any unit of the roll.
            "INSERT INTO ballots (id, matter_id, seq, holder_key, channel, choice, voter_owner_id, entered_by, signature_id, scan_id, idempotency_key,
                                  picks, cast_at, voided_at, void_reason, signed_by_owner_id, request_hash)
             SELECT $1, $2, nextval('ballot_seq'), $3, $4, $5, $6, $7, $8, $9, $10, $11, coalesce($12, now()), CASE WHEN $13::text IS NULL THEN NULL ELSE now() END, $13, $14, $15
              WHERE EXISTS (SELECT 1 FROM matter_roll WHERE matter_id = $2 AND holder_key = $3)",
            &[
                &id,
                &m.id,
                &holder_key,
                &b.channel,
                &choice_str(b.choice),
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
        .await?;
    if inserted != 1 {
        return Err(retry());
    }
    service::append(conn, m, id, EntryKind::Cast).await?;
    if b.void_reason.is_some() {
        service::append(conn, m, id, EntryKind::Void).await?;
    }
    // After the void: a spoiled ballot never sets a valid one aside.
    service::mark_superseded(conn, m, holder_key).await?;
    Ok(id)
}

/// A paper or on-site ballot as staff enter it.
pub(crate) struct PaperBallot<'a> {
    pub unit: Uuid,
    pub channel: PaperChannel,
    pub choice: Choice,
    pub picks: Option<&'a [Uuid]>,
    /// A spoiled ballot: kept as marked, void, with this reason.
    pub void_reason: Option<String>,
    pub scan: Uuid,
    pub signed_at: Option<DateTime<Utc>>,
    /// The owner on the roll who signed it.
    pub signed_by: Option<Uuid>,
    pub idempotency_key: Option<&'a str>,
    /// The hash of the request body (see `request_hash`).
    pub request_hash: String,
}

pub(crate) fn paper_channel(c: PaperChannel) -> &'static str {
    match c {
        PaperChannel::Paper => "paper",
        PaperChannel::OnSite => "on_site",
    }
}

/// A spoiled ballot's reason as entered: 1–200 characters.
pub(crate) fn void_reason_input(reason: Option<&str>) -> ApiResult<Option<String>> {
    match reason.map(str::trim) {
        None => Ok(None),
        Some(r) if r.is_empty() || r.chars().count() > 200 => Err(ApiError::field(
            "void_reason",
            "ballot.void_reason_invalid",
            "废票原因须为 1–200 个字",
            "void_reason must have 1–200 characters",
        )),
        Some(r) => Ok(Some(r.to_string())),
    }
}

fn scan_used() -> ApiError {
    ApiError::conflict(
        "ballot.scan_used",
        "该扫描件已用于另一张纸质票，每张扫描件只能对应一张选票",
        "This scan already backs another paper ballot; each scan backs one ballot",
    )
}

/// What a new paper ballot (signed at `as_of` for `unit`, by `signer` where recorded) meets among
/// the person's standing ballots. Refused: a second ballot on the same channel; a ballot signed
/// after a sale of the unit whose previous owner had voted before it; a co-owner's ballot signed
/// after another co-owner had voted (the first to vote decides). Returned: the co-owners' ballots
/// cast after this one was signed, which it sets aside (voided, with the reason). Otherwise both
/// stand and the channel rule decides (the same voter on two channels).
async fn check_paper(
    conn: &TenantConn,
    m: &Matter,
    holder: &str,
    unit: Uuid,
    signer: Option<Uuid>,
    channel: &str,
    as_of: DateTime<Utc>,
) -> ApiResult<Vec<Uuid>> {
    let standing = standing(conn, m, holder, &[unit], as_of).await?;
    if standing.is_empty() {
        return Ok(Vec::new());
    }
    let codes = unit_codes(conn, m, &[unit]).await?;
    if let Some(b) = standing.iter().find(|b| b.channel == channel) {
        let (who_zh, who_en) = b
            .entered_by
            .as_deref()
            .map_or(("工作人员".to_string(), "staff".to_string()), |n| {
                (n.to_string(), n.to_string())
            });
        let when = beijing(b.entered_at.unwrap_or(b.cast_at));
        return Err(ApiError::conflict(
            "ballot.already_entered",
            format!("房屋 {codes} 的投票人已有{}，由 {who_zh} 于 {when} 录入", channel_zh(channel)),
            format!("A {} ballot for the voter of unit {codes} was already entered by {who_en} at {when} (UTC+8)", channel_en(channel)),
        ));
    }
    let mut set_aside = Vec::new();
    for b in &standing {
        if b.sold_since {
            return Err(voted_before_transfer(&codes));
        }
        let (Some(voter), Some(signer)) = (b.voter, signer) else {
            continue;
        };
        if voter == signer {
            continue;
        }
        if b.cast_at <= as_of {
            let name = b.voter_name.clone().unwrap_or_default();
            let when = beijing(b.cast_at);
            return Err(ApiError::conflict(
                "ballot.already_cast",
                format!("房屋 {codes} 已由共有人 {name} 于 {when} {}（共有人中先投票者为准），此后签署的选票不能计入", if b.channel == "online" { "线上投票" } else { "签署选票" }),
                format!("Co-owner {name} already voted ({}) for unit {codes} at {when} (UTC+8); among co-owners the first to vote decides, so a ballot signed later cannot count", channel_en(&b.channel)),
            ));
        }
        if !b.voided {
            set_aside.push(b.id);
        }
    }
    Ok(set_aside)
}

/// Why a co-owner's ballot was set aside by a paper ballot signed before it.
const SIGNED_FIRST: &str = "同一房屋的共有人已先于此票签署纸质票（共有人中先投票者为准）";

/// Enters a paper or on-site ballot for the person the unit voted for when it was signed (a unit
/// sold before the signing is the buyer's; one sold after it, the seller's), with its scan,
/// audited, and commits. Idempotent per clerk and key.
pub(crate) async fn enter_paper(
    conn: TenantConn,
    state: &AppState,
    principal: &Principal,
    m: &Matter,
    p: PaperBallot<'_>,
) -> ApiResult<Cast> {
    let (_, staff) = principal.actor();
    let key = match p.idempotency_key.map(str::trim) {
        Some(k) if k.is_empty() || k.len() > 100 => return Err(key_invalid()),
        other => other,
    };
    if let (Some(key), Some(staff)) = (key, staff) {
        // A retry waits for the first attempt (same clerk, same key), then finds its receipt.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('paper:' || $1::uuid::text || ':' || $2::uuid::text || ':' || $3))", &[&m.id, &staff, &key])
            .await?;
        if let Some(row) = conn
            .query_opt("SELECT id, request_hash FROM ballots WHERE matter_id = $1 AND entered_by = $2 AND idempotency_key = $3", &[&m.id, &staff, &key])
            .await?
        {
            return repeated(conn, row.get(0), row.get(1), &p.request_hash).await;
        }
    }
    let signed_at = check_signed_at(m, p.signed_at)?;
    let as_of = signed_at.unwrap_or_else(Utc::now);
    if !conn
        .exists(
            "SELECT 1 FROM attachments WHERE id = $1 AND uploader_kind = 'staff'",
            &[&p.scan],
        )
        .await?
    {
        return Err(ApiError::field(
            "scan_attachment_id",
            "ballot.scan_required",
            "请先上传纸质选票的扫描件",
            "Upload the scanned ballot first",
        ));
    }
    if conn
        .exists("SELECT 1 FROM ballots WHERE scan_id = $1", &[&p.scan])
        .await?
    {
        return Err(scan_used());
    }
    split_sold_units(&conn, m, &[p.unit], as_of).await?;
    let (holder, back) = lock_signing_holder(&conn, m, p.unit, as_of).await?;
    rejoin_units(&conn, m, &holder, &back).await?;
    if let Some(signer) = p.signed_by {
        // A holder of one of the voter's units when signing: not a seller after the sale, not
        // a buyer before it.
        let holds = conn
            .exists(
                "SELECT 1 FROM unit_holders h JOIN matter_roll r ON r.unit_id = h.unit_id AND r.matter_id = $1 JOIN matters mm ON mm.id = $1
                  WHERE h.owner_id = $3 AND r.holder_key = $2 AND (h.ended_at IS NULL OR h.ended_at > $4)
                    AND (h.since <= $4 OR NOT EXISTS (SELECT 1 FROM unit_transfers t WHERE t.unit_id = h.unit_id AND t.created_at > mm.opened_at
                                                                                     AND t.created_at > $4 AND t.created_at <= h.since))",
                &[&m.id, &holder, &signer, &as_of],
            )
            .await?;
        if !holds {
            return Err(ApiError::field(
                "signed_by_owner_id",
                "ballot.signer_not_holder",
                "签署人须为签署时该投票人房屋的业主或共有人",
                "The signer must have been an owner or co-owner of the voter's units when signing",
            ));
        }
    }
    if p.signed_by.is_none() {
        // Among co-owners the first to vote decides: with several holders on the platform, who
        // signed is what decides, so it must be recorded.
        let holders: i64 = conn
            .query_one(
                "SELECT count(DISTINCT h.owner_id) FROM unit_holders h JOIN matter_roll r ON r.unit_id = h.unit_id AND r.matter_id = $1
                  WHERE r.holder_key = $2 AND h.ended_at IS NULL",
                &[&m.id, &holder],
            )
            .await?
            .get(0);
        if holders > 1 {
            return Err(ApiError::field(
                "signed_by_owner_id",
                "ballot.signer_required",
                "该房屋有多位已认证的业主或共有人，请注明选票由谁签署",
                "Several verified owners or co-owners hold this voter's units: record who signed the ballot",
            ));
        }
    }
    let channel = paper_channel(p.channel);
    let set_aside = check_paper(&conn, m, &holder, p.unit, p.signed_by, channel, as_of).await?;
    // A spoiled ballot is kept, and never sets a valid one aside.
    for id in set_aside.into_iter().filter(|_| p.void_reason.is_none()) {
        conn.execute("UPDATE ballots SET voided_at = now(), void_reason = $2 WHERE id = $1 AND voided_at IS NULL", &[&id, &SIGNED_FIRST]).await?;
        service::append(&conn, m, id, EntryKind::Void).await?;
    }
    let new = NewBallot {
        channel,
        choice: p.choice,
        picks: p.picks,
        voter: None,
        signed_by: p.signed_by,
        entered_by: staff,
        signature: None,
        scan: Some(p.scan),
        idempotency_key: key,
        request_hash: &p.request_hash,
        cast_at: signed_at,
        void_reason: p.void_reason,
    };
    let ballot = insert_ballot(&conn, m, &holder, new).await.map_err(|e| {
        if e.code != "conflict.duplicate" {
            return e;
        }
        match e.fields.first().map(|f| f.field.as_str()) {
            Some("one_per_scan") => scan_used(),
            Some("paper") => retry(),
            _ => ApiError::conflict(
                "ballot.already_entered",
                "该投票人的此类选票已录入",
                "A ballot of this channel was already entered for this voter",
            ),
        }
    })?;
    audit::record(&conn, principal, "ballot", &ballot.to_string()).await?;
    // A scan shows how someone voted: only the estate's jurisdiction reads it.
    crate::attachments::bind_to_estate(&conn, m.estate_id, &[p.scan]).await?;
    let r = receipt(&conn, ballot).await?;
    let tenant = conn.tenant().clone();
    conn.commit().await?;
    // Only once the ballot is stored, so no text names a ballot that is not.
    let r = Receipt {
        receipt_sent_to: text_receipt(state, &tenant, p.signed_by, &r.receipt_code).await,
        ..r
    };
    crate::metrics::ballot_cast(channel);
    Ok(Cast::Created(Json(r)))
}

/// Texts the signer of an entered paper ballot its receipt code, where configured; returns the
/// masked phone it went to. A failed text is logged and changes nothing: the ballot is stored
/// and the entry slip carries the same code.
async fn text_receipt(
    state: &AppState,
    tenant: &Tenant,
    signer: Option<Uuid>,
    code: &str,
) -> Option<String> {
    let signer = signer.filter(|_| state.config.sms.paper_receipts)?;
    match send_receipt_text(state, tenant, signer, code).await {
        Ok(sent_to) => sent_to,
        Err(e) => {
            tracing::warn!(error = ?e, "paper ballot receipt text not sent");
            None
        }
    }
}

/// Sends the text, in a transaction of its own (the development outbox stores it there);
/// `None` when the signer is not on file.
async fn send_receipt_text(
    state: &AppState,
    tenant: &Tenant,
    signer: Uuid,
    code: &str,
) -> ApiResult<Option<String>> {
    let conn = TenantConn::begin(&state.pool, tenant).await?;
    let row = conn
        .query_opt("SELECT phone FROM owners WHERE id = $1", &[&signer])
        .await?;
    let Some(phone) = row.map(|r| r.get::<_, String>(0)) else {
        return Ok(None);
    };
    state
        .sms
        .send_receipt(&conn, &phone, code)
        .await
        .map_err(ApiError::internal)?;
    conn.commit().await?;
    Ok(Some(crate::auth::phone::mask(&phone)))
}

/// The owner's own uploaded signature image, where one is required.
pub(crate) async fn check_signature(
    conn: &TenantConn,
    owner: Uuid,
    signature: Option<Uuid>,
) -> ApiResult<()> {
    let ok = match signature {
        Some(sig) => {
            conn.exists("SELECT 1 FROM attachments WHERE id = $1 AND purpose = 'signature' AND uploader_kind = 'owner' AND uploader_id = $2", &[&sig, &owner])
                .await?
        }
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::field(
            "signature_attachment_id",
            "ballot.signature_required",
            "需要手写签名，请先上传签名图片",
            "A signature image is required",
        ))
    }
}

/// An owner's online ballot.
pub(crate) struct OnlineBallot<'a> {
    pub owner: Uuid,
    pub key: &'a str,
    pub choice: Choice,
    pub picks: Option<Vec<Uuid>>,
    pub signature: Option<Uuid>,
}

/// Whether `owner` may add an online ballot for the person `holder` (voting with `units`), and
/// which earlier online ballot of theirs it replaces (a permitted change of vote). Refused: a
/// previous owner's ballot cast before the unit was sold to them (it stands, VOTING-RULES §2);
/// another co-owner's ballot on any channel (the first to vote decides), or a paper ballot whose
/// signer was not recorded where the units have other holders. The same voter's paper ballot
/// stands beside it, and the channel rule decides. Names are told only to a co-owner of the
/// same unit.
async fn check_online(
    conn: &TenantConn,
    m: &Matter,
    holder: &str,
    owner: Uuid,
    units: &[Uuid],
) -> ApiResult<Option<Uuid>> {
    let standing = standing(conn, m, holder, units, Utc::now()).await?;
    if standing.is_empty() {
        return Ok(None);
    }
    let codes = unit_codes(conn, m, units).await?;
    if standing.iter().any(|b| b.sold_since) {
        return Err(voted_before_transfer(&codes));
    }
    let mut replaces = None;
    for b in &standing {
        let told = match b.voter {
            Some(voter) if voter == owner || co_holders(conn, owner, voter).await? => {
                b.voter_name.as_deref()
            }
            _ => None,
        };
        match (b.channel == "online", b.voter) {
            (true, Some(voter)) if voter == owner => {
                let changed = conn
                    .exists(
                        "SELECT 1 FROM ballots WHERE matter_id = $1 AND holder_key = $2 AND channel = 'online' AND replaced_at IS NOT NULL",
                        &[&m.id, &holder],
                    )
                    .await?;
                if !m.settings.allow_vote_change {
                    return Err(already_voted(&codes, told));
                }
                if changed {
                    return Err(ApiError::conflict(
                        "ballot.already_cast",
                        "您已改过一次票，不能再改",
                        "You have already changed your vote once",
                    ));
                }
                replaces = Some(b.id);
            }
            (true, _) => return Err(already_voted(&codes, told)),
            (false, Some(voter)) if voter == owner => {}
            (false, Some(_)) => return Err(paper_signed_by(&codes, told)),
            (false, None) => {
                let others = conn
                    .exists(
                        "SELECT 1 FROM unit_holders h JOIN matter_roll r ON r.unit_id = h.unit_id AND r.matter_id = $1
                          WHERE r.holder_key = $2 AND h.ended_at IS NULL AND h.owner_id <> $3",
                        &[&m.id, &holder, &owner],
                    )
                    .await?;
                if others {
                    return Err(paper_signer_unknown(&codes));
                }
            }
        }
    }
    Ok(replaces)
}

/// What an online ballot decided, hashed: a retry may carry a signature image uploaded again,
/// never another choice or other picks.
fn online_hash(c: &OnlineBallot<'_>) -> String {
    request_hash(&json!({"choice": choice_str(c.choice), "picks": c.picks}))
}

/// A retry of an online ballot already cast under this key answers with its receipt, even once
/// voting has closed (the first answer may have been lost on the way): `Err(conn)` hands the
/// connection back when there is none.
pub(crate) async fn retried(
    conn: TenantConn,
    matter: Uuid,
    c: &OnlineBallot<'_>,
) -> ApiResult<Result<Cast, TenantConn>> {
    // A retry waits for the first attempt (same owner), then finds its receipt.
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('ballot:' || $1::uuid::text || ':' || $2::uuid::text))", &[&matter, &c.owner]).await?;
    match conn
        .query_opt("SELECT id, request_hash FROM ballots WHERE matter_id = $1 AND voter_owner_id = $2 AND idempotency_key = $3", &[&matter, &c.owner, &c.key])
        .await?
    {
        Some(row) => Ok(Ok(repeated(conn, row.get(0), row.get(1), &online_hash(c)).await?)),
        None => Ok(Err(conn)),
    }
}

/// Casts an online ballot in the open matter (or election round) `m`, one per person, and
/// commits. Callers have checked what is particular to them, and `retried` first.
pub(crate) async fn cast_online(
    conn: TenantConn,
    m: &Matter,
    c: OnlineBallot<'_>,
) -> ApiResult<Cast> {
    let hash = online_hash(&c);
    let units: Vec<Uuid> = conn
        .query(
            "SELECT h.unit_id FROM unit_holders h JOIN matter_roll r ON r.matter_id = $1 AND r.unit_id = h.unit_id
              WHERE h.owner_id = $2 AND h.ended_at IS NULL",
            &[&m.id, &c.owner],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    split_sold_units(&conn, m, &units, Utc::now()).await?;
    // The person (holder key) of the units I hold, within the frozen roll, locked: co-owners
    // and a paper entry for the same person wait for each other. Read again once locked, in
    // case a unit moved to another person meanwhile.
    let mut tries = 0;
    let holder = loop {
        let holders = holders_of(&conn, m, &units).await?;
        let [holder] = holders.as_slice() else {
            return Err(if holders.is_empty() {
                ApiError::forbidden(
                    "ballot.not_a_voter",
                    "您在本次表决范围内没有已认证的房屋",
                    "You hold no verified unit in this vote's scope",
                )
            } else {
                ApiError::conflict(
                    "ballot.several_persons",
                    "您名下的房屋在本次表决中分属不同的投票人（例如您是他人房屋的共有人），请联系居委会现场核实后投票",
                    "Your units belong to different voters in this vote (e.g. you co-own someone else's unit); contact the residents' committee to vote in person after a check",
                )
            });
        };
        lock_person(&conn, m, holder).await?;
        if holders_of(&conn, m, &units).await? == holders {
            break holder.clone();
        }
        tries += 1;
        if tries >= 3 {
            return Err(retry());
        }
    };
    let holder = &holder;
    let replaces = check_online(&conn, m, holder, c.owner, &units).await?;
    if let Some(old) = replaces {
        conn.execute(
            "UPDATE ballots SET replaced_at = now() WHERE id = $1",
            &[&old],
        )
        .await?;
    }
    if m.signature_required {
        check_signature(&conn, c.owner, c.signature).await?;
    }
    if let Some(signature) = c.signature {
        crate::attachments::bind_to_estate(&conn, m.estate_id, &[signature]).await?;
    }
    let new = NewBallot {
        channel: "online",
        choice: c.choice,
        picks: c.picks.as_deref(),
        voter: Some(c.owner),
        signed_by: None,
        entered_by: None,
        signature: c.signature,
        scan: None,
        idempotency_key: Some(c.key),
        request_hash: &hash,
        cast_at: None,
        void_reason: None,
    };
    // The person lock makes this rare; should two casts for one person still meet at the index,
    // the later one is told what it is.
    let ballot = insert_ballot(&conn, m, holder, new).await.map_err(|e| {
        if e.code == "conflict.duplicate" {
            ApiError::conflict(
                "ballot.already_cast",
                "您的房屋已有一张线上选票，每套房屋只能投一票",
                "An online ballot for your units already exists; each unit votes once",
            )
        } else {
            e
        }
    })?;
    let r = receipt(&conn, ballot).await?;
    conn.commit().await?;
    crate::metrics::ballot_cast("online");
    Ok(Cast::Created(Json(r)))
}

pub struct BallotsApi;

#[OpenApi(tag = "ApiTags::Matters")]
impl BallotsApi {
    /// 投票 / Cast my ballot: one per person per matter, carrying all my units in scope.
    #[oai(
        path = "/api/matters/:id/ballots",
        method = "post",
        operation_id = "ballot_cast"
    )]
    async fn cast(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        body: Json<CastInput>,
        _auth: BearerAuth,
    ) -> ApiResult<Cast> {
        let Principal::Owner { id: owner } = *principal else {
            return Err(ApiError::forbidden(
                "authz.forbidden",
                "仅业主可以投票",
                "Owners only",
            ));
        };
        let owner: Uuid = *owner;
        let key = body.idempotency_key.trim();
        if key.is_empty() || key.len() > 100 {
            return Err(ApiError::field(
                "idempotency_key",
                "ballot.key_invalid",
                "请提供 1–100 个字符的请求标识",
                "idempotency_key must have 1–100 characters",
            ));
        }
        let ballot = OnlineBallot {
            owner,
            key,
            choice: body.choice.into(),
            picks: None,
            signature: body.signature_attachment_id,
        };
        let conn = match retried(
            TenantConn::begin(&state.pool, &tenant).await?,
            id.0,
            &ballot,
        )
        .await?
        {
            Ok(first) => return Ok(first),
            Err(conn) => conn,
        };
        let m = open_matter(&conn, id.0).await?;
        if m.kind != "matter" {
            return Err(ApiError::conflict(
                "ballot.use_election",
                "选举请通过选举投票",
                "Vote in an election through the election",
            ));
        }
        cast_online(conn, &m, ballot).await
    }

    /// 录入纸质票 / Enter a paper or on-site ballot with its scan (the channel rule decides).
    #[oai(
        path = "/api/matters/:id/paper-ballots",
        method = "post",
        operation_id = "ballot_enter_paper"
    )]
    async fn paper(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        body: Json<PaperInput>,
        _auth: BearerAuth,
    ) -> ApiResult<Cast> {
        let scope = Jurisdiction::of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let m = open_matter(&conn, id.0).await?;
        scope
            .check_estate(&conn, m.estate_id)
            .await
            .map_err(|_| service::not_found())?;
        if m.kind != "matter" {
            return Err(ApiError::conflict(
                "ballot.use_election",
                "选举的纸质票请在选举中录入",
                "Enter an election's paper ballots through the election",
            ));
        }
        let request_hash = request_hash(&json!({
            "unit_id": body.unit_id, "choice": choice_str(body.choice.into()), "channel": paper_channel(body.channel),
            "scan_attachment_id": body.scan_attachment_id, "signed_at": body.signed_at, "signed_by_owner_id": body.signed_by_owner_id,
            "void_reason": body.void_reason,
        }));
        let paper = PaperBallot {
            unit: body.unit_id,
            channel: body.channel,
            choice: body.choice.into(),
            picks: None,
            void_reason: void_reason_input(body.void_reason.as_deref())?,
            scan: body.scan_attachment_id,
            signed_at: body.signed_at,
            signed_by: body.signed_by_owner_id,
            idempotency_key: body.idempotency_key.as_deref(),
            request_hash,
        };
        enter_paper(conn, &state, &principal, &m, paper).await
    }

    /// 作废选票 / Void a ballot with a reason (kept, counted as invalid).
    #[oai(
        path = "/api/ballots/:id/void",
        method = "post",
        operation_id = "ballot_void"
    )]
    async fn void(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        body: Json<VoidInput>,
        _auth: BearerAuth,
    ) -> ApiResult<Json<Receipt>> {
        let scope = Jurisdiction::of(&principal)?;
        if body.reason.trim().is_empty() {
            return Err(ApiError::field(
                "reason",
                "required",
                "请填写作废原因",
                "A reason is required",
            ));
        }
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let matter: Uuid = conn
            .query_opt("SELECT matter_id FROM ballots WHERE id = $1", &[&id.0])
            .await?
            .ok_or_else(|| {
                ApiError::not_found("ballot.not_found", "选票不存在", "Ballot not found")
            })?
            .get(0);
        let m = open_matter(&conn, matter).await?;
        scope.check_estate(&conn, m.estate_id).await.map_err(|_| {
            ApiError::not_found("ballot.not_found", "选票不存在", "Ballot not found")
        })?;
        // The person's lock first, as casting takes it: a ballot cast meanwhile and this void
        // then see each other when they bring the person's marks up to date.
        let holder: String = conn
            .query_one("SELECT holder_key FROM ballots WHERE id = $1", &[&id.0])
            .await?
            .get(0);
        lock_person(&conn, &m, &holder).await?;
        let n =
            conn.execute("UPDATE ballots SET voided_at = now(), void_reason = $2 WHERE id = $1 AND voided_at IS NULL", &[&id.0, &body.reason.trim()]).await?;
        if n == 0 {
            return Err(ApiError::conflict(
                "ballot.already_void",
                "该选票已作废",
                "This ballot is already voided",
            ));
        }
        service::append(&conn, &m, id.0, EntryKind::Void).await?;
        // The ballot this one had set aside may count again.
        service::refresh_marks(&conn, &m, &holder).await?;
        audit::record(&conn, &principal, "ballot", &id.0.to_string()).await?;
        let r = receipt(&conn, id.0).await?;
        conn.commit().await?;
        Ok(Json(r))
    }

    /// 送达记录 / Record that a unit's ballot was delivered (for the 从众 clause).
    #[oai(
        path = "/api/matters/:id/deliveries",
        method = "post",
        operation_id = "matter_delivery_record"
    )]
    async fn delivery(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        body: Json<DeliveryInput>,
        _auth: BearerAuth,
    ) -> ApiResult<Recorded> {
        let scope = Jurisdiction::of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let m = open_matter(&conn, id.0).await?;
        scope
            .check_estate(&conn, m.estate_id)
            .await
            .map_err(|_| service::not_found())?;
        if conn
            .query_opt(
                "SELECT 1 FROM matter_roll WHERE matter_id = $1 AND unit_id = $2",
                &[&m.id, &body.unit_id],
            )
            .await?
            .is_none()
        {
            return Err(ApiError::field(
                "unit_id",
                "ballot.unit_not_in_scope",
                "该房屋不在本次表决范围内",
                "The unit is not in this vote's scope",
            ));
        }
        if conn
            .query_opt(
                "SELECT 1 FROM attachments WHERE id = $1 AND uploader_kind = 'staff'",
                &[&body.proof_attachment_id],
            )
            .await?
            .is_none()
        {
            return Err(ApiError::field(
                "proof_attachment_id",
                "delivery.proof_required",
                "请先上传送达凭证",
                "Upload the proof of delivery first",
            ));
        }
        let (_, staff) = principal.actor();
        let recorded = conn
            .execute(
                "INSERT INTO matter_deliveries (matter_id, unit_id, proof_id, staff_id) VALUES ($1, $2, $3, $4) ON CONFLICT (matter_id, unit_id) DO NOTHING",
                &[&m.id, &body.unit_id, &body.proof_attachment_id, &staff],
            )
            .await?;
        if recorded == 1 {
            service::append_unit_event(&conn, &m, body.unit_id, EntryKind::Delivery).await?;
        }
        crate::attachments::bind_to_estate(&conn, m.estate_id, &[body.proof_attachment_id]).await?;
        audit::record(&conn, &principal, "matter", &m.id.to_string()).await?;
        conn.commit().await?;
        Ok(Recorded::Recorded)
    }

    /// 实时统计 / Live tally (after close: the result).
    #[oai(
        path = "/api/matters/:id/tally",
        method = "get",
        operation_id = "matter_tally"
    )]
    async fn tally(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        _auth: BearerAuth,
    ) -> ApiResult<Json<TallyView>> {
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let m = service::open_if_due(&conn, id.0).await?;
        service::visible_to(&conn, &principal, m.estate_id, &m.status).await?;
        if m.kind != "matter" {
            return Err(ApiError::conflict(
                "matter.is_election",
                "这是选举的投票，请查看选举统计",
                "This is an election's vote: see the election tally",
            ));
        }
        let t = service::live_tally(&conn, &m).await?;
        conn.commit().await?;
        Ok(Json(tally_view(
            &t,
            &m.status,
            choices_sealed_for(&principal, &m),
        )))
    }

    /// 未投票房屋 / Units not yet voted, by building (staff, for door-to-door visits).
    #[oai(
        path = "/api/matters/:id/not-voted",
        method = "get",
        operation_id = "matter_not_voted"
    )]
    async fn not_voted(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        _auth: BearerAuth,
    ) -> ApiResult<Json<Vec<BuildingToVisit>>> {
        let scope = Jurisdiction::of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let m = service::open_if_due(&conn, id.0).await?;
        scope
            .check_estate(&conn, m.estate_id)
            .await
            .map_err(|_| service::not_found())?;
        let rows = conn
            .query(
                "SELECT r.building, array_agg(r.unit_code ORDER BY length(r.unit_code), r.unit_code) FROM matter_roll r
                  WHERE r.matter_id = $1 AND NOT EXISTS (SELECT 1 FROM ballots b WHERE b.matter_id = r.matter_id AND b.holder_key = r.holder_key)
                  GROUP BY r.building ORDER BY length(r.building), r.building",
                &[&m.id],
            )
            .await?;
        conn.commit().await?;
        Ok(Json(
            rows.iter()
                .map(|r| BuildingToVisit {
                    building: r.get(0),
                    unit_codes: r.get(1),
                })
                .collect(),
        ))
    }

    /// 导出选票 / Every ballot with voter, channel, choice and status as xlsx (staff; audited).
    #[oai(
        path = "/api/matters/:id/ballots/export",
        method = "get",
        operation_id = "ballot_export"
    )]
    async fn export(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        _auth: BearerAuth,
    ) -> ApiResult<crate::xlsx::XlsxFile> {
        let scope = Jurisdiction::of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let m = service::open_if_due(&conn, id.0).await?;
        scope
            .check_estate(&conn, m.estate_id)
            .await
            .map_err(|_| service::not_found())?;
        let rows = conn
            .query(
                "SELECT b.id, b.seq,
                        (SELECT string_agg(r.unit_code, ',' ORDER BY r.unit_code) FROM matter_roll r WHERE r.matter_id = b.matter_id AND r.holder_key = b.holder_key),
                        (SELECT coalesce(sum(r.area_centi), 0)::bigint FROM matter_roll r WHERE r.matter_id = b.matter_id AND r.holder_key = b.holder_key),
                        o.real_name, b.channel, b.choice, b.voided_at, b.void_reason, b.cast_at, b.picks
                   FROM ballots b LEFT JOIN owners o ON o.id = coalesce(b.voter_owner_id, b.signed_by_owner_id)
                  WHERE b.matter_id = $1 ORDER BY b.seq",
                &[&m.id],
            )
            .await?;
        let superseded: std::collections::BTreeSet<Uuid> = conn
            .query(
                &format!(
                    "SELECT b.id FROM ballots b WHERE b.matter_id = $1 AND {}",
                    service::SET_ASIDE
                ),
                &[&m.id],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        // An election's ballots show the names picked.
        let names: std::collections::BTreeMap<Uuid, String> = conn
            .query("SELECT c.id, c.name FROM candidates c JOIN elections e ON e.id = c.election_id WHERE e.matter_id = $1", &[&m.id])
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        audit::record(&conn, &principal, "matter", &m.id.to_string()).await?;
        conn.commit().await?;
        let bytes =
            tokio::task::spawn_blocking(move || ballots_workbook(&rows, &superseded, &names))
                .await
                .map_err(ApiError::internal)?
                .map_err(ApiError::internal)?;
        Ok(crate::xlsx::file(bytes, "选票明细.xlsx"))
    }

    /// 选票列表 / Every ballot of a matter or election round, page by page, in ballot order
    /// (staff of its jurisdiction; names included, so audited).
    #[oai(
        path = "/api/matters/:id/ballots",
        method = "get",
        operation_id = "ballot_list"
    )]
    #[allow(clippy::too_many_arguments)] // one extractor per parameter, as poem-openapi wants them
    async fn list(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        page: Query<Option<i64>>,
        page_size: Query<Option<i64>>,
        _auth: BearerAuth,
    ) -> ApiResult<Json<BallotPage>> {
        let scope = Jurisdiction::of(&principal)?;
        let paging = Paging::new(page.0, page_size.0)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let m = service::open_if_due(&conn, id.0).await?;
        scope
            .check_estate(&conn, m.estate_id)
            .await
            .map_err(|_| service::not_found())?;
        let total: i64 = conn
            .query_one(
                "SELECT count(*) FROM ballots WHERE matter_id = $1",
                &[&m.id],
            )
            .await?
            .get(0);
        let rows = conn
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
                    service::SET_ASIDE
                ),
                &[&m.id, &paging.limit(), &paging.offset()],
            )
            .await?;
        audit::record(&conn, &principal, "matter", &m.id.to_string()).await?;
        conn.commit().await?;
        let election = m.kind == "election";
        let items = rows
            .iter()
            .map(|r| {
                let channel = match r.get::<_, &str>(2) {
                    "paper" => BallotChannel::Paper,
                    "on_site" => BallotChannel::OnSite,
                    _ => BallotChannel::Online,
                };
                let in_person = channel != BallotChannel::Online;
                BallotView {
                    id: r.get(0),
                    seq: r.get(1),
                    channel,
                    choice: (!election).then(|| choice_input(r.get(3))),
                    picks: r.get(4),
                    unit_codes: r.get(5),
                    area: area::format(r.get(6)),
                    voter_name: r.get(7),
                    voter_owner_id: r.get(8),
                    entered_by: r.get(9),
                    cast_at: r.get(10),
                    signed_at: in_person.then(|| r.get(10)),
                    entered_at: if in_person { r.get(11) } else { None },
                    voided: r.get(12),
                    void_reason: r.get(13),
                    superseded: r.get(14),
                    replaced: r.get(15),
                    scan_attachment_id: r.get(16),
                }
            })
            .collect();
        Ok(Json(BallotPage { items, total }))
    }

    /// 公开账本 / The published ledger: roll (unit, area), entries (unit, area, choice,
    /// hashes) and the Merkle root. No names or phones.
    #[oai(
        path = "/api/matters/:id/ledger",
        method = "get",
        operation_id = "matter_ledger"
    )]
    async fn ledger(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        _auth: BearerAuth,
    ) -> ApiResult<Json<serde_json::Value>> {
        let (conn, m) = ledger_snapshot(&state, &tenant, &principal, id.0).await?;
        let published = service::published(&conn, &m).await?;
        conn.commit().await?;
        Ok(Json(
            serde_json::to_value(published).map_err(ApiError::internal)?,
        ))
    }

    /// 验证账本 / Recompute every hash, the root and the tally from the published ledger alone.
    #[oai(
        path = "/api/matters/:id/ledger/verification",
        method = "get",
        operation_id = "matter_ledger_verify"
    )]
    async fn verify(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        _auth: BearerAuth,
    ) -> ApiResult<Json<LedgerVerification>> {
        let (conn, m) = ledger_snapshot(&state, &tenant, &principal, id.0).await?;
        // What the transparency log holds of this ledger must be in it, as logged: a ledger
        // stripped of its signatures and relabelled as older is caught here.
        let logged = crate::transparency::store::logged_checkpoints(&conn, tenant.id, m.id).await?;
        let logged_result =
            crate::transparency::store::logged_result(&conn, tenant.id, m.id).await?;
        // One read: the whole ledger for the server's recount, sealed in memory for the public
        // checks while voting is open. The close will reveal exactly what the recount uses.
        let whole = service::whole_ledger(&conn, &m).await?;
        let sealed = service::seals_choices(&m);
        let sealed_recount = sealed.then(|| ledger::verify(&whole));
        let mut published = if sealed { whole.sealed() } else { whole };
        published.log = service::log_inclusion(&conn, &m).await?;
        // Only keys this service derives: one added to the database by hand vouches for nothing.
        let mut keys: Vec<_> = signing::published_keys(&conn, Some(&tenant.slug))
            .await?
            .into_iter()
            .map(|(k, _)| k)
            .filter(signing::derives)
            .collect();
        keys.push(signing::log_key()?);
        let v = ledger::verify_with_keys(&published, &keys);
        let log_mismatches = crate::transparency::store::log_mismatches(
            &published,
            &logged,
            logged_result.as_deref(),
        );
        let recount = sealed_recount.as_ref().unwrap_or(&v);
        // The ledger alone must give the same figures as the ballots table.
        let tally_matches = if published.candidates.is_empty() {
            let live = service::live_tally(&conn, &m).await?;
            recount
                .tally
                .as_ref()
                .is_some_and(|t| same_result(t, &live))
        } else {
            let live = service::live_candidate_tallies(&conn, &m).await?;
            recount.candidates.len() == live.len()
                && recount
                    .candidates
                    .iter()
                    .zip(&live)
                    .all(|((a, x), (b, y))| a == b && same_result(x, y))
        };
        conn.commit().await?;
        Ok(Json(LedgerVerification {
            intact: v.intact() && tally_matches && log_mismatches.is_empty(),
            log_mismatches,
            tally_matches,
            altered_entries: v.altered_entries,
            opening_matches: v.opening_matches,
            broken_checkpoints: v.broken_checkpoints,
            root_matches: v.root_matches,
            recomputed_root: v.recomputed_root,
            sealed,
            broken_commitments: v.broken_commitments,
            recomputed: v.tally.as_ref().map(|t| tally_view(t, &m.status, false)),
            order_matches: v.order_matches,
            units_mismatched: v.units_mismatched,
            rules_match_preset: v.rules_match_preset,
            version_consistent: v.version_consistent,
            inconsistent_marks: v.inconsistent_marks,
            unsigned_checkpoints: v.unsigned_checkpoints,
            bad_signatures: v.bad_signatures,
            root_signed: v.root_signed,
            log_included: v.log_included,
        }))
    }
}

/// The matter (opened first if due) in a snapshot transaction, once `principal` may see it: the
/// ledger, its log proof and the live tally are then read as of one moment.
async fn ledger_snapshot(
    state: &AppState,
    tenant: &Tenant,
    principal: &Principal,
    id: Uuid,
) -> ApiResult<(TenantConn, Matter)> {
    let conn = TenantConn::begin(&state.pool, tenant).await?;
    let m = service::open_if_due(&conn, id).await?;
    service::visible_to(&conn, principal, m.estate_id, &m.status).await?;
    conn.commit().await?;
    let snapshot = TenantConn::begin_snapshot(&state.pool, tenant).await?;
    let m = service::load(&snapshot, id, "").await?;
    Ok((snapshot, m))
}

/// Every ballot of the matter as an xlsx sheet (names included: an inspection, audited).
fn ballots_workbook(
    rows: &[tokio_postgres::Row],
    superseded: &std::collections::BTreeSet<Uuid>,
    names: &std::collections::BTreeMap<Uuid, String>,
) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("选票明细")?;
    let bold = rust_xlsxwriter::Format::new().set_bold();
    let headers = [
        "序号",
        "房屋",
        "面积（㎡）",
        "投票人",
        "渠道",
        "选择",
        "状态",
        "作废原因",
        "投票时间",
    ];
    for (c, h) in headers.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, *h, &bold)?;
        ws.set_column_width(c as u16, 16)?;
    }
    for (i, r) in rows.iter().enumerate() {
        let id: Uuid = r.get(0);
        let voided: Option<DateTime<Utc>> = r.get(7);
        let status = if voided.is_some() {
            "作废"
        } else if superseded.contains(&id) {
            "被取代"
        } else {
            "有效"
        };
        let channel = match r.get::<_, &str>(5) {
            "paper" => "纸质票",
            "on_site" => "现场投票",
            _ => "线上",
        };
        let choice = match (r.get::<_, Option<Vec<Uuid>>>(10), r.get::<_, &str>(6)) {
            (Some(picks), _) if picks.is_empty() => "（未选任何人）".to_string(),
            (Some(picks), _) => picks
                .iter()
                .map(|p| names.get(p).map(String::as_str).unwrap_or("?"))
                .collect::<Vec<_>>()
                .join("、"),
            (None, "agree") => "同意".into(),
            (None, "disagree") => "反对".into(),
            (None, _) => "弃权".into(),
        };
        let cells = [
            r.get::<_, i64>(1).to_string(),
            r.get::<_, Option<String>>(2).unwrap_or_default(),
            area::format(r.get(3)),
            r.get::<_, Option<String>>(4)
                .unwrap_or_else(|| "（工作人员录入）".into()),
            channel.into(),
            choice,
            status.into(),
            r.get::<_, Option<String>>(8).unwrap_or_default(),
            r.get::<_, DateTime<Utc>>(9)
                .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8"))
                .format("%Y-%m-%d %H:%M:%S")
                .to_string(),
        ];
        for (c, v) in cells.iter().enumerate() {
            ws.write_string(i as u32 + 1, c as u16, crate::xlsx::cell_text(v))?;
        }
    }
    wb.save_to_buffer()
}

/// The ledger groups persons by pseudonymous codes, so compare the figures, not the keys.
fn same_result(a: &Tally, b: &Tally) -> bool {
    (
        a.totals,
        a.participants,
        a.agree,
        a.disagree,
        a.abstain,
        a.invalid,
        a.passed,
    ) == (
        b.totals,
        b.participants,
        b.agree,
        b.disagree,
        b.abstain,
        b.invalid,
        b.passed,
    )
}
