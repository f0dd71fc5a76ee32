//! Staff side of the housing roll: template, import, search, export, change of owner.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{
    param::{Path, Query},
    payload::Json,
    Enum, Object, OpenApi,
};
use uuid::Uuid;

use super::{area, co_owners, sheet, store, UnitKind};
use crate::{
    attachments::upload::StreamedUpload,
    audit,
    auth::{phone, principal::Principal, required, BearerAuth},
    authz::jurisdiction::{estate_in_scope, Jurisdiction},
    error::{ApiError, ApiResult, FieldIssue},
    estates::store::{END_NOW, NOT_ENDED},
    paging::Paging,
    state::AppState,
    tags::ApiTags,
    tenancy::{conn::TenantConn, Tenant},
    xlsx::{self, XlsxFile},
};

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

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct UnitPage {
    pub items: Vec<UnitView>,
    pub total: i64,
}

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
    estate_id: Option<Uuid>,
    kind: Option<UnitKind>,
    building: Option<String>,
    entrance: Option<String>,
    room: Option<String>,
    owner_name: Option<String>,
    phone: Option<String>,
    verified: Option<bool>,
    co_owner_status: Option<CoOwnerStatus>,
    import_id: Option<Uuid>,
}

const UNIT_SELECT: &str = "
    SELECT u.id, u.estate_id, e.name, u.building, u.entrance, u.room, u.kind, u.area_centi, u.owner_name, u.owner_phone,
           u.developer_unsold, o.real_name,
           (SELECT count(*) FROM unit_holders c WHERE c.unit_id = u.id AND c.role = 'co_owner' AND c.ended_at IS NULL) AS co_owners,
           (SELECT count(*) FROM co_owner_applications a WHERE a.unit_id = u.id AND a.status = 'pending') AS pending
      FROM units u
      JOIN estates e ON e.id = u.estate_id
      LEFT JOIN unit_holders h ON h.unit_id = u.id AND h.role = 'owner' AND h.ended_at IS NULL
      LEFT JOIN owners o ON o.id = h.owner_id";

fn where_clause() -> String {
    format!(
        "WHERE {} AND ($2::uuid IS NULL OR u.estate_id = $2) AND ($3::text IS NULL OR u.kind = $3)
           AND ($4::text IS NULL OR u.building = $4) AND ($5::text IS NULL OR u.entrance = $5) AND ($6::text IS NULL OR u.room = $6)
           AND ($7::text IS NULL OR u.owner_name LIKE $7) AND ($8::text IS NULL OR u.owner_phone = $8)
           AND ($9::bool IS NULL OR (h.id IS NOT NULL) = $9) AND ($10::uuid IS NULL OR u.import_id = $10)",
        estate_in_scope(1)
    )
}

fn co_owner_clause(status: Option<CoOwnerStatus>) -> &'static str {
    match status {
        None => "",
        Some(CoOwnerStatus::None) => {
            " AND NOT EXISTS (SELECT 1 FROM unit_holders c WHERE c.unit_id = u.id AND c.role = 'co_owner' AND c.ended_at IS NULL)
                                       AND NOT EXISTS (SELECT 1 FROM co_owner_applications a WHERE a.unit_id = u.id AND a.status = 'pending')"
        }
        Some(CoOwnerStatus::Pending) => " AND EXISTS (SELECT 1 FROM co_owner_applications a WHERE a.unit_id = u.id AND a.status = 'pending')",
        Some(CoOwnerStatus::Approved) => " AND EXISTS (SELECT 1 FROM unit_holders c WHERE c.unit_id = u.id AND c.role = 'co_owner' AND c.ended_at IS NULL)",
    }
}

/// Natural order for building/entrance/room numbers: "2" before "10".
const ORDER: &str = "ORDER BY e.name, length(u.building), u.building, length(u.entrance), u.entrance, length(u.room), u.room";

fn unit_view(r: &tokio_postgres::Row) -> UnitView {
    let verified_owner_name: Option<String> = r.get(11);
    UnitView {
        id: r.get(0),
        estate_id: r.get(1),
        estate_name: r.get(2),
        building: r.get(3),
        entrance: r.get(4),
        room: r.get(5),
        kind: UnitKind::parse(r.get(6)).unwrap_or(UnitKind::Residential),
        area: area::format(r.get(7)),
        owner_name: r.get(8),
        owner_phone: phone::mask(r.get(9)),
        developer_unsold: r.get(10),
        verified: verified_owner_name.is_some(),
        verified_owner_name,
        co_owner_count: r.get(12),
        pending_co_owner_applications: r.get(13),
    }
}

async fn search(
    conn: &TenantConn,
    scope: Jurisdiction,
    f: &Filters,
    paging: Option<Paging>,
) -> ApiResult<(Vec<UnitView>, i64)> {
    let kind = f.kind.map(UnitKind::as_str);
    let owner_name = crate::paging::contains(f.owner_name.as_deref());
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 10] = [
        &scope.rc_id,
        &f.estate_id,
        &kind,
        &f.building,
        &f.entrance,
        &f.room,
        &owner_name,
        &f.phone,
        &f.verified,
        &f.import_id,
    ];
    let filter = format!("{}{}", where_clause(), co_owner_clause(f.co_owner_status));
    let total: i64 = conn
        .query_one(
            &format!(
                "SELECT count(*) FROM units u JOIN estates e ON e.id = u.estate_id
                   LEFT JOIN unit_holders h ON h.unit_id = u.id AND h.role = 'owner' AND h.ended_at IS NULL {filter}"
            ),
            &params,
        )
        .await?
        .get(0);
    // The export is bounded too: a street office's whole roll, not more.
    let (limit, offset) = paging
        .map(|p| (p.limit(), p.offset()))
        .unwrap_or((200_000, 0));
    let mut all: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params.to_vec();
    all.push(&limit);
    all.push(&offset);
    let rows = conn
        .query(
            &format!("{UNIT_SELECT} {filter} {ORDER} LIMIT $11 OFFSET $12"),
            &all,
        )
        .await?;
    Ok((rows.iter().map(unit_view).collect(), total))
}

fn export_workbook(units: &[UnitView]) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("房屋信息")?;
    let bold = rust_xlsxwriter::Format::new().set_bold();
    let headers = [
        "小区",
        "楼号",
        "单元号",
        "户号",
        "房产类型",
        "建筑面积（㎡）",
        "业主姓名",
        "手机号",
        "是否开发商未售",
        "是否已认证",
        "认证业主",
        "共有人数",
    ];
    for (c, h) in headers.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, *h, &bold)?;
        ws.set_column_width(c as u16, 14)?;
    }
    for (i, u) in units.iter().enumerate() {
        let r = i as u32 + 1;
        let cells = [
            u.estate_name.as_str(),
            &u.building,
            &u.entrance,
            &u.room,
            u.kind.label(),
            &u.area,
            &u.owner_name,
            &u.owner_phone,
            if u.developer_unsold { "是" } else { "否" },
            if u.verified { "是" } else { "否" },
            u.verified_owner_name.as_deref().unwrap_or(""),
        ];
        for (c, v) in cells.iter().enumerate() {
            ws.write_string(r, c as u16, crate::xlsx::cell_text(v))?;
        }
        ws.write_number(r, 11, u.co_owner_count as f64)?;
    }
    wb.save_to_buffer()
}

pub struct HousingStaffApi;

#[OpenApi(tag = "ApiTags::Housing")]
impl HousingStaffApi {
    /// 下载房屋导入模板 / The housing roll template (xlsx with instructions).
    #[oai(
        path = "/api/housing/template",
        method = "get",
        operation_id = "housing_template_download"
    )]
    async fn template(&self, _auth: BearerAuth) -> ApiResult<XlsxFile> {
        Ok(xlsx::file(
            sheet::template().map_err(ApiError::internal)?,
            "房屋信息导入模板.xlsx",
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
        body: StreamedUpload,
        _auth: BearerAuth,
    ) -> ApiResult<Json<ImportResult>> {
        let scope = Jurisdiction::of(&principal)?;
        // Nobody outside the estate's jurisdiction gets as far as having a file read.
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        scope.check_estate(&conn, id.0).await?;
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
        // One import per estate at a time, so "already imported" stays true until commit.
        conn.execute("SELECT 1 FROM estates WHERE id = $1 FOR UPDATE", &[&id.0])
            .await?;
        let sheet::Parsed {
            rows,
            mut errors,
            keys,
        } = parsed;
        errors.extend(store::already_imported(&conn, id.0, &keys).await?);
        if !errors.is_empty() {
            errors.sort_by_key(|e| (e.row, e.column));
            return Err(ApiError::validation(
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
            ));
        }
        let import_id = Uuid::new_v4();
        let (_, staff_id) = principal.actor();
        conn.execute(
            "INSERT INTO housing_imports (id, estate_id, file_name, unit_count, staff_id) VALUES ($1, $2, $3, $4, $5)",
            &[&import_id, &id.0, &file_name, &(rows.len() as i32), &staff_id],
        )
        .await?;
        store::insert_units(&conn, id.0, import_id, &rows).await?;
        audit::record(&conn, &principal, "housing_import", &import_id.to_string()).await?;
        conn.commit().await?;
        Ok(Json(ImportResult {
            import_id,
            unit_count: rows.len() as i64,
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
        verified: Query<Option<bool>>,
        co_owner_status: Query<Option<CoOwnerStatus>>,
        /// The units one import created (its answer's `units_path`).
        import_id: Query<Option<Uuid>>,
        page: Query<Option<i64>>,
        page_size: Query<Option<i64>>,
        _auth: BearerAuth,
    ) -> ApiResult<Json<UnitPage>> {
        let scope = Jurisdiction::of(&principal)?;
        let paging = Paging::new(page.0, page_size.0)?;
        let filters = Filters {
            estate_id: estate_id.0,
            kind: kind.0,
            building: building.0,
            entrance: entrance.0,
            room: room.0,
            owner_name: owner_name.0,
            phone: phone.0,
            verified: verified.0,
            co_owner_status: co_owner_status.0,
            import_id: import_id.0,
        };
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let (items, total) = search(&conn, scope, &filters, Some(paging)).await?;
        conn.commit().await?;
        Ok(Json(UnitPage { items, total }))
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
        estate_id: Query<Option<Uuid>>,
        kind: Query<Option<UnitKind>>,
        #[oai(validator(max_length = 30))] building: Query<Option<String>>,
        #[oai(validator(max_length = 30))] entrance: Query<Option<String>>,
        #[oai(validator(max_length = 30))] room: Query<Option<String>>,
        #[oai(validator(max_length = 50))] owner_name: Query<Option<String>>,
        #[oai(validator(max_length = 20))] phone: Query<Option<String>>,
        verified: Query<Option<bool>>,
        co_owner_status: Query<Option<CoOwnerStatus>>,
        _auth: BearerAuth,
    ) -> ApiResult<XlsxFile> {
        let scope = Jurisdiction::of(&principal)?;
        let filters = Filters {
            estate_id: estate_id.0,
            kind: kind.0,
            building: building.0,
            entrance: entrance.0,
            room: room.0,
            owner_name: owner_name.0,
            phone: phone.0,
            verified: verified.0,
            co_owner_status: co_owner_status.0,
            import_id: None,
        };
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let (units, _) = search(&conn, scope, &filters, None).await?;
        conn.commit().await?;
        let bytes = tokio::task::spawn_blocking(move || export_workbook(&units))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?;
        Ok(xlsx::file(bytes, "房屋信息导出.xlsx"))
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
        _auth: BearerAuth,
    ) -> ApiResult<Json<TransferView>> {
        let scope = Jurisdiction::of(&principal)?;
        let mut issues = Vec::new();
        required(&mut issues, "new_owner_name", &body.new_owner_name);
        issues.extend(phone::issue("new_owner_phone", &body.new_owner_phone));
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let unit = conn
            .query_opt(
                &format!("SELECT u.estate_id, u.owner_name, u.owner_phone, u.developer_unsold FROM units u JOIN estates e ON e.id = u.estate_id WHERE u.id = $2 AND {} FOR UPDATE OF u", estate_in_scope(1)),
                &[&scope.rc_id, &id.0],
            )
            .await?
            .ok_or_else(unit_not_found)?;
        let estate_id: Uuid = unit.get(0);
        if body.id_card_attachment_id == body.deed_attachment_id {
            issues.push(FieldIssue::new(
                "deed_attachment_id",
                "attachment.same",
                "身份证和房产证须为两张不同的图片",
                "two different images are needed",
            ));
        }
        // The documents now belong to this estate: only its staff may read them.
        let (_, staff_id) = principal.actor();
        let staff_id = staff_id.ok_or_else(|| {
            ApiError::forbidden("authz.forbidden", "仅工作人员可以操作", "Staff only")
        })?;
        let docs = [body.id_card_attachment_id, body.deed_attachment_id];
        if issues.is_empty()
            && !co_owners::bind_proofs(&conn, estate_id, &docs, "staff", staff_id).await?
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
        // Owners'-committee members who held nothing else in the estate leave the committee.
        conn.execute(
            &format!(
                "UPDATE oc_members m SET {}, end_reason = 'no_longer_owner'
              WHERE m.estate_id = $2 AND {}
                AND m.owner_id IN (SELECT owner_id FROM unit_holders WHERE unit_id = $1 AND ended_at IS NULL)
                AND NOT EXISTS (SELECT 1 FROM unit_holders h JOIN units u ON u.id = h.unit_id
                                 WHERE h.owner_id = m.owner_id AND u.estate_id = $2 AND h.ended_at IS NULL AND h.unit_id <> $1)",
                END_NOW,
                NOT_ENDED
            ),
            &[&id.0, &estate_id],
        )
        .await?;
        conn.execute("UPDATE unit_holders SET ended_at = now(), end_reason = 'transferred' WHERE unit_id = $1 AND ended_at IS NULL", &[&id.0]).await?;
        conn.execute("UPDATE co_owner_applications SET status = 'deleted' WHERE unit_id = $1 AND status IN ('pending', 'approved')", &[&id.0]).await?;
        conn.execute(
            "UPDATE units SET owner_name = $2, owner_phone = $3, developer_unsold = false, updated_at = now() WHERE id = $1",
            &[&id.0, &body.new_owner_name.trim(), &body.new_owner_phone],
        )
        .await?;
        let transfer_id = Uuid::new_v4();
        let row = conn
            .query_one(
                // Under the unit's lock: the sequence number and the clock time are this change's
                // place in the unit's history (the transaction's start time is not).
                "INSERT INTO unit_transfers (id, unit_id, old_owner_name, old_owner_phone, new_owner_name, new_owner_phone, id_card_id, deed_id, staff_id, old_developer_unsold, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, clock_timestamp()) RETURNING created_at",
                &[
                    &transfer_id,
                    &id.0,
                    &unit.get::<_, String>(1),
                    &unit.get::<_, String>(2),
                    &body.new_owner_name.trim(),
                    &body.new_owner_phone,
                    &body.id_card_attachment_id,
                    &body.deed_attachment_id,
                    &staff_id,
                    &unit.get::<_, bool>(3),
                ],
            )
            .await?;
        audit::record(&conn, &principal, "unit", &id.0.to_string()).await?;
        conn.commit().await?;
        Ok(Json(TransferView {
            id: transfer_id,
            unit_id: id.0,
            old_owner_name: unit.get(1),
            new_owner_name: body.new_owner_name.trim().to_string(),
            new_owner_phone: phone::mask(&body.new_owner_phone),
            id_card_attachment_id: body.id_card_attachment_id,
            deed_attachment_id: body.deed_attachment_id,
            created_at: row.get(0),
        }))
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
        _auth: BearerAuth,
    ) -> ApiResult<Json<Vec<TransferView>>> {
        let scope = Jurisdiction::of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let in_scope = conn
            .query_opt(
                &format!("SELECT 1 FROM units u JOIN estates e ON e.id = u.estate_id WHERE u.id = $2 AND {}", estate_in_scope(1)),
                &[&scope.rc_id, &id.0],
            )
            .await?;
        if in_scope.is_none() {
            return Err(unit_not_found());
        }
        let rows = conn
            .query(
                &format!(
                    "SELECT t.id, t.unit_id, t.old_owner_name, t.new_owner_name, t.new_owner_phone, t.id_card_id, t.deed_id, t.created_at
                       FROM unit_transfers t JOIN units u ON u.id = t.unit_id JOIN estates e ON e.id = u.estate_id
                      WHERE t.unit_id = $2 AND {} ORDER BY t.seq DESC",
                    estate_in_scope(1)
                ),
                &[&scope.rc_id, &id.0],
            )
            .await?;
        conn.commit().await?;
        Ok(Json(
            rows.iter()
                .map(|r| TransferView {
                    id: r.get(0),
                    unit_id: r.get(1),
                    old_owner_name: r.get(2),
                    new_owner_name: r.get(3),
                    new_owner_phone: phone::mask(r.get(4)),
                    id_card_attachment_id: r.get(5),
                    deed_attachment_id: r.get(6),
                    created_at: r.get(7),
                })
                .collect(),
        ))
    }
}

pub fn unit_not_found() -> ApiError {
    ApiError::not_found(
        "unit.not_found",
        "房屋不存在或不在您的管辖范围内",
        "Unit not found or outside your jurisdiction",
    )
}
