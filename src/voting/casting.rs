//! Casting and entering ballots: the steps that take more than one statement, with their locks
//! in one order (the matter, then each person, sorted), so a ballot is never lost, doubled or
//! given to the wrong person. Online ballots (owners, for matters and election rounds), paper and
//! on-site ballots (staff), a unit sold during the vote (VOTING-RULES §2), the idempotency keys.
//! The statements are in `ballot_store.rs`; the HTTP types in `ballots_api.rs`.

use chrono::{DateTime, Utc};
use poem::http::StatusCode;
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{
    ballot_store::{self as store, CastRow, NewBallot, Standing},
    ledger::EntryKind,
    service::{self, choice_str, Matter},
    tally::Choice,
};
use crate::{
    audit,
    auth::principal::Principal,
    error::{ApiError, ApiResult, FieldIssue},
    state::AppState,
    tenancy::{conn::TenantConn, Tenant},
};

/// What casting or entering a ballot answers: the new ballot's receipt, or, for a retry under a
/// key already used, the first one's.
pub(crate) enum Outcome {
    Created {
        receipt: CastRow,
        /// A paper ballot whose receipt was texted: the signer's phone, masked.
        sent_to: Option<String>,
    },
    Repeated(CastRow),
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

/// Locks a person of the matter: their ballots are cast, entered and voided one at a time.
pub(crate) async fn lock_person(conn: &TenantConn, m: &Matter, holder_key: &str) -> ApiResult<()> {
    store::lock_person(conn, m.id, holder_key).await
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
    let due = store::sold_units(conn, m.id, units, as_of).await?;
    let sellers: Vec<String> = due.iter().map(|d| d.1.clone()).collect();
    lock_persons(conn, m, &sellers).await?;
    let sold: Vec<Uuid> = due.iter().map(|d| d.0).collect();
    let split = store::split_units(conn, m.id, &sold, as_of).await?;
    for unit in split {
        service::append_unit_event(conn, m, unit, EntryKind::Regroup).await?;
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
    let read = || async {
        let row = store::signing_holder(conn, m.id, unit, as_of)
            .await?
            .ok_or_else(not_in_scope)?;
        let holder: String = if row.split_after {
            row.frozen_holder_key
        } else {
            row.holder_key
        };
        let back = store::split_after(conn, m.id, &holder, as_of).await?;
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
        store::regroup_unit(conn, m.id, *unit, holder).await?;
        service::append_unit_event(conn, m, *unit, EntryKind::Regroup).await?;
    }
    for (_, buyer) in back {
        service::mark_orphaned(conn, m, buyer).await?;
    }
    service::refresh_marks(conn, m, holder).await?;
    Ok(())
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
) -> ApiResult<Outcome> {
    // Ballots cast before bodies were hashed answer as they always did.
    if stored_hash.is_some_and(|stored| stored != hash) {
        return Err(idempotency_mismatch());
    }
    let r = store::cast_row(&conn, ballot).await?;
    conn.commit().await?;
    Ok(Outcome::Repeated(r))
}

/// Stores a ballot for the person `holder_key` with its cast entry (and, for a spoiled paper
/// ballot, its void entry), then brings the person's marks up to date.
pub(crate) async fn insert_ballot(
    conn: &TenantConn,
    m: &Matter,
    holder_key: &str,
    b: NewBallot<'_>,
) -> ApiResult<Uuid> {
    let id = Uuid::new_v4();
    let inserted = store::insert_ballot(conn, id, m.id, holder_key, &b).await?;
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
    /// `paper` or `on_site`.
    pub channel: &'static str,
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
    let standing = store::standing(conn, m.id, holder, &[unit], as_of).await?;
    if standing.is_empty() {
        return Ok(Vec::new());
    }
    let codes = store::unit_codes(conn, m.id, &[unit]).await?;
    if let Some(b) = standing.iter().find(|b| b.channel == channel) {
        return Err(already_entered(b, &codes, channel));
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

/// A second ballot on the same channel: who entered the first, and when.
fn already_entered(b: &Standing, codes: &str, channel: &str) -> ApiError {
    let (who_zh, who_en) = b
        .entered_by
        .as_deref()
        .map_or(("工作人员".to_string(), "staff".to_string()), |n| {
            (n.to_string(), n.to_string())
        });
    let when = beijing(b.entered_at.unwrap_or(b.cast_at));
    ApiError::conflict(
        "ballot.already_entered",
        format!(
            "房屋 {codes} 的投票人已有{}，由 {who_zh} 于 {when} 录入",
            channel_zh(channel)
        ),
        format!(
            "A {} ballot for the voter of unit {codes} was already entered by {who_en} at {when} (UTC+8)",
            channel_en(channel)
        ),
    )
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
) -> ApiResult<Outcome> {
    let (_, staff) = principal.actor();
    let key = match p.idempotency_key.map(str::trim) {
        Some(k) if k.is_empty() || k.len() > 100 => return Err(key_invalid()),
        other => other,
    };
    if let (Some(key), Some(staff)) = (key, staff) {
        // A retry waits for the first attempt (same clerk, same key), then finds its receipt.
        store::lock_paper_key(&conn, m.id, staff, key).await?;
        if let Some(row) = store::paper_by_key(&conn, m.id, staff, key).await? {
            return repeated(conn, row.id, row.request_hash, &p.request_hash).await;
        }
    }
    let signed_at = check_signed_at(m, p.signed_at)?;
    let as_of = signed_at.unwrap_or_else(Utc::now);
    check_scan(&conn, p.scan).await?;
    split_sold_units(&conn, m, &[p.unit], as_of).await?;
    let (holder, back) = lock_signing_holder(&conn, m, p.unit, as_of).await?;
    rejoin_units(&conn, m, &holder, &back).await?;
    check_signer(&conn, m, &holder, p.signed_by, as_of).await?;
    let channel = p.channel;
    let set_aside = check_paper(&conn, m, &holder, p.unit, p.signed_by, channel, as_of).await?;
    // A spoiled ballot is kept, and never sets a valid one aside.
    for id in set_aside.into_iter().filter(|_| p.void_reason.is_none()) {
        store::void(&conn, id, SIGNED_FIRST).await?;
        service::append(&conn, m, id, EntryKind::Void).await?;
    }
    let new = NewBallot {
        channel,
        choice: choice_str(p.choice),
        picks: p.picks,
        voter: None,
        signed_by: p.signed_by,
        entered_by: staff,
        signature: None,
        scan: Some(p.scan),
        idempotency_key: key,
        request_hash: &p.request_hash,
        cast_at: signed_at,
        void_reason: p.void_reason.as_deref(),
    };
    let ballot = insert_ballot(&conn, m, &holder, new)
        .await
        .map_err(paper_duplicate)?;
    audit::record(&conn, principal, "ballot", &ballot.to_string()).await?;
    // A scan shows how someone voted: only the estate's jurisdiction reads it.
    crate::attachments::bind_to_estate(&conn, m.estate_id, &[p.scan]).await?;
    let r = store::cast_row(&conn, ballot).await?;
    let tenant = conn.tenant().clone();
    conn.commit().await?;
    // Only once the ballot is stored, so no text names a ballot that is not.
    let sent_to = text_receipt(
        state,
        &tenant,
        p.signed_by,
        &super::receipts_api::receipt_code(&r.entry_hash),
    )
    .await;
    crate::metrics::ballot_cast(channel);
    Ok(Outcome::Created {
        receipt: r,
        sent_to,
    })
}

/// The scan is a staff upload that backs no other ballot.
async fn check_scan(conn: &TenantConn, scan: Uuid) -> ApiResult<()> {
    if !store::staff_upload_exists(conn, scan).await? {
        return Err(ApiError::field(
            "scan_attachment_id",
            "ballot.scan_required",
            "请先上传纸质选票的扫描件",
            "Upload the scanned ballot first",
        ));
    }
    if store::scan_used(conn, scan).await? {
        return Err(scan_used());
    }
    Ok(())
}

/// The recorded signer held one of the voter's units when signing; where none is recorded, the
/// voter's units have one holder only.
async fn check_signer(
    conn: &TenantConn,
    m: &Matter,
    holder: &str,
    signed_by: Option<Uuid>,
    as_of: DateTime<Utc>,
) -> ApiResult<()> {
    if let Some(signer) = signed_by {
        // A holder of one of the voter's units when signing: not a seller after the sale, not
        // a buyer before it.
        let holds = store::signer_held(conn, m.id, holder, signer, as_of).await?;
        if !holds {
            return Err(ApiError::field(
                "signed_by_owner_id",
                "ballot.signer_not_holder",
                "签署人须为签署时该投票人房屋的业主或共有人",
                "The signer must have been an owner or co-owner of the voter's units when signing",
            ));
        }
    }
    if signed_by.is_none() {
        // Among co-owners the first to vote decides: with several holders on the platform, who
        // signed is what decides, so it must be recorded.
        let holders = store::holder_count(conn, m.id, holder).await?;
        if holders > 1 {
            return Err(ApiError::field(
                "signed_by_owner_id",
                "ballot.signer_required",
                "该房屋有多位已认证的业主或共有人，请注明选票由谁签署",
                "Several verified owners or co-owners hold this voter's units: record who signed the ballot",
            ));
        }
    }
    Ok(())
}

/// A paper ballot that met another at a unique index: which one it met.
fn paper_duplicate(e: ApiError) -> ApiError {
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
    let Some(phone) = store::owner_phone(&conn, signer).await? else {
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
        Some(sig) => store::owner_signature(conn, sig, owner).await?,
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
    let standing = store::standing(conn, m.id, holder, units, Utc::now()).await?;
    if standing.is_empty() {
        return Ok(None);
    }
    let codes = store::unit_codes(conn, m.id, units).await?;
    if standing.iter().any(|b| b.sold_since) {
        return Err(voted_before_transfer(&codes));
    }
    let mut replaces = None;
    for b in &standing {
        let told = match b.voter {
            Some(voter) if voter == owner || store::co_holders(conn, owner, voter).await? => {
                b.voter_name.as_deref()
            }
            _ => None,
        };
        match (b.channel == "online", b.voter) {
            (true, Some(voter)) if voter == owner => {
                let changed = store::vote_changed(conn, m.id, holder).await?;
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
                let others = store::other_holders(conn, m.id, holder, owner).await?;
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
) -> ApiResult<Result<Outcome, TenantConn>> {
    // A retry waits for the first attempt (same owner), then finds its receipt.
    store::lock_online(&conn, matter, c.owner).await?;
    match store::online_by_key(&conn, matter, c.owner, c.key).await? {
        Some(row) => Ok(Ok(repeated(
            conn,
            row.id,
            row.request_hash,
            &online_hash(c),
        )
        .await?)),
        None => Ok(Err(conn)),
    }
}

/// The one person (holder key) the owner's units vote for, locked: co-owners and a paper entry
/// for the same person wait for each other. Read again once locked, in case a unit moved to
/// another person meanwhile.
async fn lock_owner_person(conn: &TenantConn, m: &Matter, units: &[Uuid]) -> ApiResult<String> {
    let mut tries = 0;
    loop {
        let holders = store::holders_of(conn, m.id, units).await?;
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
        lock_person(conn, m, holder).await?;
        if store::holders_of(conn, m.id, units).await? == holders {
            return Ok(holder.clone());
        }
        tries += 1;
        if tries >= 3 {
            return Err(retry());
        }
    }
}

/// Casts an online ballot in the open matter (or election round) `m`, one per person, and
/// commits. Callers have checked what is particular to them, and `retried` first.
pub(crate) async fn cast_online(
    conn: TenantConn,
    m: &Matter,
    c: OnlineBallot<'_>,
) -> ApiResult<Outcome> {
    let hash = online_hash(&c);
    let units = store::owner_units(&conn, m.id, c.owner).await?;
    split_sold_units(&conn, m, &units, Utc::now()).await?;
    let holder = lock_owner_person(&conn, m, &units).await?;
    let holder = &holder;
    let replaces = check_online(&conn, m, holder, c.owner, &units).await?;
    if let Some(old) = replaces {
        store::mark_replaced(&conn, old).await?;
    }
    // A signature sent where none is required must still be the voter's own upload: binding
    // it to the estate would otherwise show someone else's file to the estate's staff.
    if m.signature_required || c.signature.is_some() {
        check_signature(&conn, c.owner, c.signature).await?;
    }
    if let Some(signature) = c.signature {
        crate::attachments::bind_to_estate(&conn, m.estate_id, &[signature]).await?;
    }
    let new = NewBallot {
        channel: "online",
        choice: choice_str(c.choice),
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
    let r = store::cast_row(&conn, ballot).await?;
    conn.commit().await?;
    crate::metrics::ballot_cast("online");
    Ok(Outcome::Created {
        receipt: r,
        sent_to: None,
    })
}
