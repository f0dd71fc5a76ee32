//! The housing domain's steps that take more than one statement or apply a rule: the roll
//! import (all rows or none), the search with its total, a change of owner, owner
//! verification, unbinding a unit, and the co-owner applications' life. Handlers call these
//! inside their `TenantConn` transaction, after checking the jurisdiction, and record the
//! audit entry themselves.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    sheet::{self, RowError, UnitKey},
    store::{
        self, ApplicationFilter, ApplicationRow, TransferRow, TransferUnitRow, UnitFilter, UnitRow,
    },
};
use crate::{
    error::{ApiError, ApiResult, FieldIssue},
    paging::Paging,
    tenancy::conn::TenantConn,
};

// The roll import.

/// What an import created.
pub struct ImportedRoll {
    pub import_id: Uuid,
    pub unit_count: usize,
}

/// Puts a parsed roll on the estate's roll, all rows or none (callers check the jurisdiction
/// first). The estate stays locked until commit, so "already imported" cannot change under
/// the check; any error in any row refuses the whole file, listing every row at fault.
pub async fn import_roll(
    conn: &TenantConn,
    estate: Uuid,
    file_name: &str,
    parsed: sheet::Parsed,
    staff_id: Option<Uuid>,
) -> ApiResult<ImportedRoll> {
    store::lock_estate(conn, estate).await?;
    let sheet::Parsed {
        rows,
        mut errors,
        keys,
    } = parsed;
    errors.extend(already_imported(conn, estate, &keys).await?);
    if !errors.is_empty() {
        errors.sort_by_key(|e| (e.row, e.column));
        return Err(row_issues(&errors));
    }
    let import_id = Uuid::new_v4();
    store::insert_import(
        conn,
        import_id,
        estate,
        file_name,
        rows.len() as i32,
        staff_id,
    )
    .await?;
    store::insert_units(conn, estate, import_id, &rows).await?;
    Ok(ImportedRoll {
        import_id,
        unit_count: rows.len(),
    })
}

/// Rows naming a unit already on the roll of `estate_id`, as errors: a unit is imported once
/// and changes only by a change of owner.
async fn already_imported(
    conn: &TenantConn,
    estate_id: Uuid,
    keys: &[(u32, UnitKey)],
) -> ApiResult<Vec<RowError>> {
    let existing = store::unit_keys(conn, estate_id).await?;
    Ok(keys
        .iter()
        .filter(|(_, key)| existing.contains(key))
        .map(|(row, _)| {
            RowError::new(
                *row,
                Some(2),
                "该房屋已导入，不能重复导入（房屋信息导入后不可修改，如已出售请办理过户）",
                "this unit is already on the roll",
            )
        })
        .collect())
}

/// The refusal of a roll with errors: one field issue per error, in the order given.
fn row_issues(errors: &[RowError]) -> ApiError {
    ApiError::validation(
        errors
            .iter()
            .map(|e| {
                FieldIssue::new(
                    e.field(),
                    "housing.row_invalid",
                    e.message_zh(),
                    e.message_en(),
                )
            })
            .collect(),
    )
}

// Searching the roll.

/// The export's bound: a street office's whole roll, not more.
const EXPORT_LIMIT: i64 = 200_000;

/// One page of the units passing `filter` (without `paging`: the whole export, bounded too),
/// with the total over every page.
pub async fn search_units(
    conn: &TenantConn,
    filter: &UnitFilter,
    paging: Option<Paging>,
) -> ApiResult<(Vec<UnitRow>, i64)> {
    let total = store::count_units(conn, filter).await?;
    let (limit, offset) = paging
        .map(|p| (p.limit(), p.offset()))
        .unwrap_or((EXPORT_LIMIT, 0));
    let rows = store::units_page(conn, filter, limit, offset).await?;
    Ok((rows, total))
}

// Changes of owner.

/// The new owner and the documents staff present for a change of owner.
pub struct NewOwner<'a> {
    /// Already trimmed.
    pub name: &'a str,
    pub phone: &'a str,
    pub id_card_id: Uuid,
    pub deed_id: Uuid,
}

/// Hands the unit (locked and in scope: `store::lock_unit_for_transfer`) to a new owner after
/// a sale. `issues` are the input's faults found so far; the documents are bound to the estate
/// only when there are none, and any fault refuses the change. The unit's verification,
/// co-owners and open applications end, and owners'-committee members who held nothing else
/// in the estate leave the committee.
pub async fn transfer_unit(
    conn: &TenantConn,
    unit_id: Uuid,
    unit: &TransferUnitRow,
    new_owner: &NewOwner<'_>,
    staff_id: Uuid,
    mut issues: Vec<FieldIssue>,
) -> ApiResult<TransferRow> {
    // The documents now belong to this estate: only its staff may read them.
    let docs = [new_owner.id_card_id, new_owner.deed_id];
    if issues.is_empty()
        && !store::bind_proofs(conn, unit.estate_id, &docs, "staff", staff_id).await?
    {
        issues.push(FieldIssue::new(
            "id_card_attachment_id",
            "attachment.invalid",
            "请先由您本人上传证件图片（用途 proof），且每张图片只能使用一次",
            "upload the proof images yourself first; each image is used once",
        ));
    }
    if !issues.is_empty() {
        return Err(ApiError::validation(issues));
    }
    store::end_oc_grants_of_transferred_unit(conn, unit_id, unit.estate_id).await?;
    store::end_holdings_as_transferred(conn, unit_id).await?;
    store::delete_open_applications(conn, unit_id).await?;
    store::set_registered_owner(conn, unit_id, new_owner.name, new_owner.phone).await?;
    let (id, created_at) = record_transfer(conn, unit_id, unit, new_owner, staff_id).await?;
    Ok(TransferRow {
        id,
        unit_id,
        old_owner_name: unit.owner_name.clone(),
        new_owner_name: new_owner.name.to_string(),
        new_owner_phone: new_owner.phone.to_string(),
        id_card_id: new_owner.id_card_id,
        deed_id: new_owner.deed_id,
        created_at,
    })
}

/// Writes the change into the unit's history: its id and time.
async fn record_transfer(
    conn: &TenantConn,
    unit_id: Uuid,
    unit: &TransferUnitRow,
    new_owner: &NewOwner<'_>,
    staff_id: Uuid,
) -> ApiResult<(Uuid, DateTime<Utc>)> {
    let id = Uuid::new_v4();
    let created_at = store::insert_transfer(
        conn,
        &store::NewTransfer {
            id,
            unit_id,
            old_owner_name: &unit.owner_name,
            old_owner_phone: &unit.owner_phone,
            new_owner_name: new_owner.name,
            new_owner_phone: new_owner.phone,
            id_card_id: new_owner.id_card_id,
            deed_id: new_owner.deed_id,
            staff_id,
            old_developer_unsold: unit.developer_unsold,
        },
    )
    .await?;
    Ok((id, created_at))
}

// Owner verification.

/// The owner side's answer for a unit that does not exist (staff are told about their
/// jurisdiction too: `staff_api::unit_not_found`).
pub fn no_such_unit() -> ApiError {
    ApiError::not_found("unit.not_found", "房屋不存在", "Unit not found")
}

/// Names match when equal ignoring spaces (the roll is typed by hand).
fn same_name(a: &str, b: &str) -> bool {
    let strip = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    strip(a) == strip(b)
}

/// The unit's registered phone, whether the caller's real name matches the roll, and the
/// refusals that apply before any code is sent. A name that does not match is told only once
/// the code is proven ([`become_owner`]): telling it at the request would confirm the roll's
/// owner name to whoever typed one.
pub struct Candidate {
    pub phone: String,
    name_matches: bool,
}

/// The caller as a candidate owner of the unit: refused when they or someone else has
/// verified it already.
pub async fn candidate(conn: &TenantConn, owner: Uuid, unit: Uuid) -> ApiResult<Candidate> {
    let row = store::verification_candidate(conn, unit, owner)
        .await?
        .ok_or_else(no_such_unit)?;
    if row.mine {
        return Err(ApiError::conflict(
            "verification.already_mine",
            "您已认证过这套房屋",
            "You have already verified this unit",
        ));
    }
    if row.taken {
        return Err(ApiError::conflict(
            "verification.taken",
            "这套房屋已有业主认证。如您是新业主，请联系居委会办理过户",
            "Another owner has verified this unit; contact the residents' committee",
        ));
    }
    Ok(Candidate {
        name_matches: same_name(&row.roll_owner_name, &row.real_name),
        phone: row.roll_owner_phone,
    })
}

/// [`candidate`] under the unit's lock, held until commit: verifications of one unit are
/// serialised, so it has at most one verified owner.
pub async fn locked_candidate(conn: &TenantConn, owner: Uuid, unit: Uuid) -> ApiResult<Candidate> {
    store::lock_unit(conn, unit).await?;
    candidate(conn, owner, unit).await
}

/// Makes the caller the unit's verified owner once the code sent to the registered phone is
/// proven; only now is a name that does not match the roll told.
pub async fn become_owner(
    conn: &TenantConn,
    owner: Uuid,
    unit: Uuid,
    c: &Candidate,
) -> ApiResult<()> {
    if !c.name_matches {
        // The code proves the caller holds the roll's phone; only now is the mismatch told.
        return Err(ApiError::forbidden(
            "verification.name_mismatch",
            "您的实名与房屋登记的业主姓名不一致，无法认证。请联系居委会核实房屋信息",
            "Your real name does not match the registered owner; contact the residents' committee",
        ));
    }
    store::insert_owner_holding(conn, unit, owner).await
}

/// Ends the owner's holding of a unit they sold (its history is kept). An owner's unbinding
/// ends the unit's co-owners and open applications with it; an owners'-committee member who
/// holds nothing else in the estate leaves the committee.
pub async fn unbind(conn: &TenantConn, owner: Uuid, unit: Uuid) -> ApiResult<()> {
    let held = store::end_holding_as_unbound(conn, unit, owner)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                "property.not_found",
                "您没有绑定这套房屋",
                "You hold no such unit",
            )
        })?;
    if held.role == "owner" {
        // A sold unit: its co-owners and open applications end with the owner's holding.
        store::end_co_owner_holdings_as_unbound(conn, unit).await?;
        store::delete_open_applications(conn, unit).await?;
    }
    store::end_oc_grants_without_unit(conn, held.estate_id, owner).await
}

// Co-owner applications.

/// The answer for an application that does not exist or lies outside the jurisdiction.
pub fn application_not_found() -> ApiError {
    ApiError::not_found(
        "co_owner.application_not_found",
        "共有人申请不存在",
        "Co-owner application not found",
    )
}

/// The answer for reviewing an application that was reviewed already.
fn not_pending() -> ApiError {
    ApiError::conflict(
        "co_owner.not_pending",
        "该申请已处理，不能重复审核",
        "This application was already reviewed",
    )
}

/// Files the owner's application for a co-owner of `unit` and returns its id. `issues` are the
/// input's faults found so far; they are told after the refusals that are not about a field
/// (not the unit's owner, co-owners disabled, a duplicate). The proofs become personal
/// documents of the estate (only its staff may read them), undone with the rest on refusal.
pub async fn apply_for_co_owner(
    conn: &TenantConn,
    owner: Uuid,
    unit: Uuid,
    application: &store::NewApplication<'_>,
    mut issues: Vec<FieldIssue>,
) -> ApiResult<Uuid> {
    let own = store::lock_own_unit(conn, unit, owner)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                "property.not_found",
                "您不是这套房屋的认证业主",
                "You are not this unit's verified owner",
            )
        })?;
    if !own.co_owner_verification {
        return Err(ApiError::forbidden(
            "co_owner.disabled",
            "本小区未开启共有人认证，请联系居委会",
            "This estate does not accept co-owners",
        ));
    }
    if own.owner_phone == application.phone {
        issues.push(FieldIssue::new(
            "phone",
            "co_owner.self",
            "共有人不能是您本人",
            "the co-owner cannot be yourself",
        ));
    }
    if !store::bind_proofs(conn, own.estate_id, application.proof_ids, "owner", owner).await? {
        issues.push(FieldIssue::new(
            "proof_attachment_ids",
            "proof.invalid",
            "证明材料须是您本人上传的图片（用途 proof），且未被使用过",
            "proofs must be your own unused proof uploads",
        ));
    }
    if store::open_application_exists(conn, unit, application.phone).await? {
        return Err(ApiError::conflict(
            "co_owner.duplicate",
            "已为此手机号提交过申请或已是共有人",
            "An application for this phone is pending or approved",
        ));
    }
    if !issues.is_empty() {
        return Err(ApiError::validation(issues));
    }
    let id = Uuid::new_v4();
    store::insert_application(conn, id, unit, owner, application).await?;
    Ok(id)
}

/// One page of the applications passing `filter`, with the total over every page.
pub async fn application_page(
    conn: &TenantConn,
    filter: &ApplicationFilter<'_>,
    paging: &Paging,
) -> ApiResult<(Vec<ApplicationRow>, i64)> {
    let total = store::count_applications(conn, filter).await?;
    let rows = store::applications_page(conn, filter, paging.limit(), paging.offset()).await?;
    Ok((rows, total))
}

/// An application under review, with its unit, locked.
struct UnderReview {
    unit: Uuid,
    state: store::ApplicationStateRow,
}

/// The application, if it lies within the jurisdiction `rc_scope`, locked in the order a
/// change of owner locks (unit, then application) and under its phone's lock (see
/// [`link_approved_co_owner`]), so review, transfer and registration never interleave.
async fn application_in_scope(
    conn: &TenantConn,
    rc_scope: Option<Uuid>,
    id: Uuid,
) -> ApiResult<UnderReview> {
    let unit = store::application_unit_in_scope(conn, rc_scope, id)
        .await?
        .ok_or_else(application_not_found)?;
    store::lock_unit(conn, unit).await?;
    let state = store::lock_application(conn, id).await?;
    store::lock_co_owner_phone(conn, &state.phone).await?;
    Ok(UnderReview { unit, state })
}

/// Links a newly registered account to every unit whose co-owner application for its phone
/// staff approved before it existed. Under the same lock as reviewing an application for that
/// phone, so no race between the two loses a link.
pub async fn link_approved_co_owner(conn: &TenantConn, phone: &str) -> ApiResult<()> {
    store::lock_co_owner_phone(conn, phone).await?;
    for unit in store::units_approved_for_phone(conn, phone).await? {
        store::link_co_owner(conn, unit, phone).await?;
    }
    Ok(())
}

/// Approves a pending application by `staff`: refused once the applicant no longer holds the
/// unit. The co-owner is linked now when they hold an account, or when they register.
pub async fn approve_application(
    conn: &TenantConn,
    rc_scope: Option<Uuid>,
    id: Uuid,
    staff: Option<Uuid>,
) -> ApiResult<()> {
    let review = application_in_scope(conn, rc_scope, id).await?;
    if review.state.status != "pending" {
        return Err(not_pending());
    }
    if !store::holds_as_owner(conn, review.unit, review.state.applicant_id).await? {
        return Err(ApiError::conflict(
            "co_owner.applicant_gone",
            "申请人已不是这套房屋的认证业主，不能通过",
            "The applicant no longer holds the unit",
        ));
    }
    store::mark_approved(conn, id, staff).await?;
    store::link_co_owner(conn, review.unit, &review.state.phone).await
}

/// Rejects a pending application by `staff` with the reason (already trimmed) the owner will
/// see.
pub async fn reject_application(
    conn: &TenantConn,
    rc_scope: Option<Uuid>,
    id: Uuid,
    reason: &str,
    staff: Option<Uuid>,
) -> ApiResult<()> {
    let review = application_in_scope(conn, rc_scope, id).await?;
    if review.state.status != "pending" {
        return Err(not_pending());
    }
    store::mark_rejected(conn, id, reason, staff).await
}

/// Deletes an application (once: a deleted one is not found); an approved co-owner stops
/// holding the unit.
pub async fn delete_application(
    conn: &TenantConn,
    rc_scope: Option<Uuid>,
    id: Uuid,
) -> ApiResult<()> {
    let review = application_in_scope(conn, rc_scope, id).await?;
    if review.state.status == "deleted" {
        return Err(application_not_found());
    }
    store::mark_deleted(conn, id).await?;
    store::end_co_owner_holding(conn, review.unit, &review.state.phone).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_match_ignoring_spaces_only() {
        assert!(super::same_name("张三", " 张 三 "));
        assert!(!super::same_name("张三", "张山"));
    }
}
