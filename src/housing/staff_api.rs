//! Staff side of the housing roll: template, import, search, export, change of owner.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{
    param::{Path, Query},
    payload::Json,
    Enum, Object, OpenApi,
};
use uuid::Uuid;

use super::{
    area,
    service::{self, NewOwner},
    sheet,
    store::{self, CoOwnerState, TransferRow, UnitFilter, UnitRow},
    UnitKind,
};
use crate::{
    attachments::upload::{FileForm, StreamedUpload},
    audit,
    auth::{phone, principal::Principal, required},
    authz::jurisdiction::Jurisdiction,
    error::{ApiError, ApiResult, FieldIssue},
    paging::{self, Paging},
    state::AppState,
    tags::ApiTags,
    tenancy::{conn::TenantConn, Tenant},
    xlsx::{self, XlsxFile},
};

crate::page_of!(TransferPage, TransferView);

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ImportResult {
    pub import_id: Uuid,
    pub unit_count: i64,
    /// Where to page through the units this import created, with their ids and codes
    /// (`unit_search` filtered by `import_id`).
    pub units_path: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum CoOwnerStatus {
    /// No co-owner and no pending application.
    None,
    /// An application awaits review.
    Pending,
    /// At least one approved co-owner.
    Approved,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct UnitView {
    pub id: Uuid,
    pub estate_id: Uuid,
    pub estate_name: String,
    pub building: String,
    pub entrance: String,
    pub room: String,
    pub kind: UnitKind,
    /// m², exact.
    #[oai(validator(pattern = r"^[0-9]+\.[0-9]{2}$"))]
    pub area: String,
    pub owner_name: String,
    /// Masked (138****8888).
    pub owner_phone: String,
    pub developer_unsold: bool,
    pub verified: bool,
    pub verified_owner_name: Option<String>,
    pub co_owner_count: i64,
    pub pending_co_owner_applications: i64,
}

crate::page_of!(UnitPage, UnitView);

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TransferRequest {
    #[oai(validator(max_length = 50))]
    pub new_owner_name: String,
    #[oai(validator(max_length = 20))]
    pub new_owner_phone: String,
    /// An uploaded `proof` attachment: the new owner's ID card.
    pub id_card_attachment_id: Uuid,
    /// An uploaded `proof` attachment: the title deed.
    pub deed_attachment_id: Uuid,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TransferView {
    pub id: Uuid,
    pub unit_id: Uuid,
    pub old_owner_name: String,
    pub new_owner_name: String,
    /// Masked.
    pub new_owner_phone: String,
    pub id_card_attachment_id: Uuid,
    pub deed_attachment_id: Uuid,
    pub created_at: DateTime<Utc>,
}

/// The search filters, shared by the list and the export.
struct Filters {
    rc_id: Option<Uuid>,
    estate_id: Option<Uuid>,
    kind: Option<UnitKind>,
    building: Option<String>,
    entrance: Option<String>,
    room: Option<String>,
    owner_name: Option<String>,
    phone: Option<String>,
    phone_tail: Option<String>,
    verified: Option<bool>,
    co_owner_status: Option<CoOwnerStatus>,
    import_id: Option<Uuid>,
}

impl Filters {
    /// The filters as the store applies them within the jurisdiction `rc_scope`: the kind as
    /// its stored text, the owner's name as an escaped `LIKE` pattern.
    fn into_store(self, rc_scope: Option<Uuid>) -> UnitFilter {
        UnitFilter {
            rc_scope,
            committee: self.rc_id,
            estate_id: self.estate_id,
            kind: self.kind.map(UnitKind::as_str),
            building: self.building,
            entrance: self.entrance,
            room: self.room,
            owner_name_pattern: paging::contains(self.owner_name.as_deref()),
            phone: self.phone,
            phone_tail: self.phone_tail,
            verified: self.verified,
            co_owner: self.co_owner_status.map(CoOwnerState::from),
            import_id: self.import_id,
        }
    }
}

impl From<CoOwnerStatus> for CoOwnerState {
    /// The API's co-owner filter as the store's (the same three cases).
    fn from(s: CoOwnerStatus) -> Self {
        match s {
            CoOwnerStatus::None => CoOwnerState::None,
            CoOwnerStatus::Pending => CoOwnerState::Pending,
            CoOwnerStatus::Approved => CoOwnerState::Approved,
        }
    }
}

impl From<UnitRow> for UnitView {
    /// The stored unit as staff see it: the area as exact text, the phone masked, the kind as
    /// its enum, verified when someone holds it as owner.
    fn from(r: UnitRow) -> Self {
        UnitView {
            id: r.id,
            estate_id: r.estate_id,
            estate_name: r.estate_name,
            building: r.building,
            entrance: r.entrance,
            room: r.room,
            kind: UnitKind::parse(&r.kind).unwrap_or(UnitKind::Residential),
            area: area::format(r.area_centi),
            owner_name: r.owner_name,
            owner_phone: phone::mask(&r.owner_phone),
            developer_unsold: r.developer_unsold,
            verified: r.verified_owner_name.is_some(),
            verified_owner_name: r.verified_owner_name,
            co_owner_count: r.co_owner_count,
            pending_co_owner_applications: r.pending_co_owner_applications,
        }
    }
}

impl From<TransferRow> for TransferView {
    /// A recorded change of owner as staff see it: the new owner's phone masked.
    fn from(r: TransferRow) -> Self {
        TransferView {
            id: r.id,
            unit_id: r.unit_id,
            old_owner_name: r.old_owner_name,
            new_owner_name: r.new_owner_name,
            new_owner_phone: phone::mask(&r.new_owner_phone),
            id_card_attachment_id: r.id_card_id,
            deed_attachment_id: r.deed_id,
            created_at: r.created_at,
        }
    }
}

/// The faults of a change of owner that need no database: a name, a valid phone and two
/// different documents.
fn transfer_issues(body: &TransferRequest) -> Vec<FieldIssue> {
    let mut issues = Vec::new();
    required(&mut issues, "new_owner_name", &body.new_owner_name);
    issues.extend(phone::issue("new_owner_phone", &body.new_owner_phone));
    if body.id_card_attachment_id == body.deed_attachment_id {
        issues.push(FieldIssue::new(
            "deed_attachment_id",
            "attachment.same",
            "身份证和房产证须为两张不同的图片",
            "two different images are needed",
        ));
    }
    issues
}

/// The staff member acting: only staff hand a unit to a new owner.
fn staff_only(principal: &Principal) -> ApiResult<Uuid> {
    let (_, staff_id) = principal.actor();
    staff_id
        .ok_or_else(|| ApiError::forbidden("authz.forbidden", "仅工作人员可以操作", "Staff only"))
}

/// The export as an xlsx workbook: the search's columns with the phones masked, areas as
/// numbers (an estate's total is a SUM away).
fn export_workbook(units: &[(i64, UnitView)]) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use xlsx::{Column, Kind, Value};
    let columns = [
        Column::new("小区", 16.0, Kind::Text),
        Column::new("楼号", 8.0, Kind::Text),
        Column::new("单元号", 8.0, Kind::Text),
        Column::new("户号", 8.0, Kind::Text),
        Column::new("房产类型", 10.0, Kind::Text),
        Column::new("建筑面积（㎡）", 12.0, Kind::Area),
        Column::new("业主姓名", 12.0, Kind::Text),
        Column::new("手机号", 14.0, Kind::Text),
        Column::new("是否开发商未售", 10.0, Kind::Text),
        Column::new("是否已认证", 10.0, Kind::Text),
        Column::new("认证业主", 12.0, Kind::Text),
        Column::new("共有人数", 8.0, Kind::Count),
    ];
    let yes_no = |b: bool| Value::Text(if b { "是" } else { "否" }.into());
    let rows = units.iter().map(|(area_centi, u)| {
        vec![
            Value::Text(u.estate_name.clone()),
            Value::Text(u.building.clone()),
            Value::Text(u.entrance.clone()),
            Value::Text(u.room.clone()),
            Value::Text(u.kind.label().into()),
            Value::Centi(*area_centi),
            Value::Text(u.owner_name.clone()),
            Value::Text(u.owner_phone.clone()),
            yes_no(u.developer_unsold),
            yes_no(u.verified),
            Value::Text(u.verified_owner_name.clone().unwrap_or_default()),
            Value::Count(u.co_owner_count),
        ]
    });
    let mut wb = rust_xlsxwriter::Workbook::new();
    xlsx::export_sheet(&mut wb, "房屋信息", &columns, rows)?;
    wb.save_to_buffer()
}

#[derive(Default)]
pub struct HousingStaffApi;

#[OpenApi(tag = "ApiTags::Housing")]
impl HousingStaffApi {
    /// 下载房屋导入模板 / The housing roll template (xlsx with instructions).
    #[oai(
        path = "/api/housing/template",
        method = "get",
        operation_id = "housing_template_download"
    )]
    async fn template(&self) -> ApiResult<XlsxFile> {
        Ok(xlsx::file(
            sheet::template().map_err(ApiError::internal)?,
            "房屋信息导入模板.xlsx",
            "housing-template.xlsx",
        ))
    }

    /// 导入房屋信息 / Import an estate's housing roll (multipart `file`): all rows or none.
    #[oai(
        path = "/api/estates/:id/units/import",
        method = "post",
        operation_id = "housing_import"
    )]
    async fn import(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        body: StreamedUpload<FileForm>,
    ) -> ApiResult<Json<ImportResult>> {
        // Nobody outside the estate's jurisdiction gets as far as having a file read.
        let (conn, scope) =
            Jurisdiction::begin_for_estate(&state.pool, &tenant, &principal, id.0).await?;
        conn.commit().await?;
        let file = body.receive(state.config.upload_limit_bytes).await?;
        let file_name = file
            .file_name
            .clone()
            .unwrap_or_else(|| "房屋信息.xlsx".into());
        let parsed = tokio::task::spawn_blocking(move || sheet::read(&file.bytes))
            .await
            .map_err(ApiError::internal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        scope.check_estate(&conn, id.0).await?;
        let (_, staff_id) = principal.actor();
        let imported = service::import_roll(&conn, id.0, &file_name, parsed, staff_id).await?;
        let import_id = imported.import_id;
        audit::record(&conn, &principal, "housing_import", &import_id.to_string()).await?;
        conn.commit().await?;
        Ok(Json(ImportResult {
            import_id,
            unit_count: imported.unit_count as i64,
            units_path: format!("/api/units?import_id={import_id}"),
        }))
    }

    /// 房屋查询 / Search units in my jurisdiction (phones masked).
    #[oai(path = "/api/units", method = "get", operation_id = "unit_search")]
    #[allow(clippy::too_many_arguments)]
    async fn search(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        /// Only this residents' committee's estates (street staff narrowing their view).
        rc_id: Query<Option<Uuid>>,
        estate_id: Query<Option<Uuid>>,
        kind: Query<Option<UnitKind>>,
        #[oai(validator(max_length = 30))] building: Query<Option<String>>,
        #[oai(validator(max_length = 30))] entrance: Query<Option<String>>,
        #[oai(validator(max_length = 30))] room: Query<Option<String>>,
        /// Part of the registered owner's name.
        #[oai(validator(max_length = 50))]
        owner_name: Query<Option<String>>,
        /// The registered phone, whole.
        #[oai(validator(max_length = 20))]
        phone: Query<Option<String>>,
        /// The registered phone's last four digits (lists show phones masked, 138****8888).
        #[oai(validator(max_length = 4, pattern = r"^[0-9]{4}$"))]
        phone_tail: Query<Option<String>>,
        verified: Query<Option<bool>>,
        co_owner_status: Query<Option<CoOwnerStatus>>,
        /// The units one import created (its answer's `units_path`).
        import_id: Query<Option<Uuid>>,
        /// Page number, from 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
        page: Query<Option<i64>>,
        /// Items per page, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        page_size: Query<Option<i64>>,
    ) -> ApiResult<Json<UnitPage>> {
        let scope = Jurisdiction::of(&principal)?;
        let paging = Paging::new(page.0, page_size.0)?;
        let filters = Filters {
            rc_id: rc_id.0,
            estate_id: estate_id.0,
            kind: kind.0,
            building: building.0,
            entrance: entrance.0,
            room: room.0,
            owner_name: owner_name.0,
            phone: phone.0,
            phone_tail: phone_tail.0,
            verified: verified.0,
            co_owner_status: co_owner_status.0,
            import_id: import_id.0,
        };
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let (rows, total) =
            service::search_units(&conn, &filters.into_store(scope.rc_id), Some(paging)).await?;
        conn.commit().await?;
        Ok(Json(UnitPage::new(
            rows.into_iter().map(UnitView::from).collect(),
            total,
            paging,
        )))
    }

    /// 导出房屋 / Export the searched units as xlsx (phones masked).
    #[oai(
        path = "/api/units/export",
        method = "get",
        operation_id = "unit_export"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn export(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        rc_id: Query<Option<Uuid>>,
        estate_id: Query<Option<Uuid>>,
        kind: Query<Option<UnitKind>>,
        #[oai(validator(max_length = 30))] building: Query<Option<String>>,
        #[oai(validator(max_length = 30))] entrance: Query<Option<String>>,
        #[oai(validator(max_length = 30))] room: Query<Option<String>>,
        #[oai(validator(max_length = 50))] owner_name: Query<Option<String>>,
        #[oai(validator(max_length = 20))] phone: Query<Option<String>>,
        #[oai(validator(max_length = 4, pattern = r"^[0-9]{4}$"))] phone_tail: Query<
            Option<String>,
        >,
        verified: Query<Option<bool>>,
        co_owner_status: Query<Option<CoOwnerStatus>>,
    ) -> ApiResult<XlsxFile> {
        let scope = Jurisdiction::of(&principal)?;
        let filters = Filters {
            rc_id: rc_id.0,
            estate_id: estate_id.0,
            kind: kind.0,
            building: building.0,
            entrance: entrance.0,
            room: room.0,
            owner_name: owner_name.0,
            phone: phone.0,
            phone_tail: phone_tail.0,
            verified: verified.0,
            co_owner_status: co_owner_status.0,
            import_id: None,
        };
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let (rows, _) =
            service::search_units(&conn, &filters.into_store(scope.rc_id), None).await?;
        conn.commit().await?;
        let units: Vec<(i64, UnitView)> = rows
            .into_iter()
            .map(|r| (r.area_centi, UnitView::from(r)))
            .collect();
        let bytes = tokio::task::spawn_blocking(move || export_workbook(&units))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?;
        Ok(xlsx::file(bytes, "房屋信息导出.xlsx", "units.xlsx"))
    }

    /// 过户 / Change of owner after a sale: the unit's verification and co-owners end.
    #[oai(
        path = "/api/units/:id/transfer",
        method = "post",
        operation_id = "unit_transfer"
    )]
    async fn transfer(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        body: Json<TransferRequest>,
    ) -> ApiResult<Json<TransferView>> {
        let scope = Jurisdiction::of(&principal)?;
        let issues = transfer_issues(&body);
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let unit = store::lock_unit_for_transfer(&conn, scope.rc_id, id.0)
            .await?
            .ok_or_else(unit_not_found)?;
        let staff_id = staff_only(&principal)?;
        let new_owner = NewOwner {
            name: body.new_owner_name.trim(),
            phone: &body.new_owner_phone,
            id_card_id: body.id_card_attachment_id,
            deed_id: body.deed_attachment_id,
        };
        let transfer =
            service::transfer_unit(&conn, id.0, &unit, &new_owner, staff_id, issues).await?;
        audit::record(&conn, &principal, "unit", &id.0.to_string()).await?;
        conn.commit().await?;
        Ok(Json(TransferView::from(transfer)))
    }

    /// 过户记录 / Changes of owner of a unit, newest first.
    #[oai(
        path = "/api/units/:id/transfers",
        method = "get",
        operation_id = "unit_transfer_list"
    )]
    async fn transfers(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        /// Page number, from 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
        page: Query<Option<i64>>,
        /// Items per page, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        page_size: Query<Option<i64>>,
    ) -> ApiResult<Json<TransferPage>> {
        let paging = Paging::new(page.0, page_size.0)?;
        let scope = Jurisdiction::of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        if !store::unit_in_scope(&conn, scope.rc_id, id.0).await? {
            return Err(unit_not_found());
        }
        let rows = store::transfers_of_unit(&conn, scope.rc_id, id.0).await?;
        conn.commit().await?;
        Ok(Json(TransferPage::cut(
            rows.into_iter().map(TransferView::from).collect(),
            paging,
        )))
    }
}

/// The staff side's answer for a unit that does not exist or lies outside the jurisdiction,
/// the same for both so its existence is not revealed.
pub fn unit_not_found() -> ApiError {
    ApiError::not_found(
        "unit.not_found",
        "房屋不存在或不在您的管辖范围内",
        "Unit not found or outside your jurisdiction",
    )
}
