//! Estates: list with computed verification figures, create, read and edit their settings.

use poem::web::Data;
use poem_openapi::{
    param::{Path, Query},
    payload::Json,
    ApiResponse, Enum, Object, OpenApi,
};
use uuid::Uuid;

use crate::{
    audit,
    auth::{principal::Principal, required},
    authz::jurisdiction::{estate_not_found, Jurisdiction},
    error::{ApiError, ApiResult, FieldIssue},
    estates::{
        service,
        store::{self, EstateFields, EstateFilter, EstateRow},
    },
    housing::area,
    paging::Paging,
    state::AppState,
    tags::ApiTags,
    tenancy::{conn::TenantConn, Tenant},
};

/// Which local regulation presets the participation and pass rules of later votes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum LocalityRule {
    /// 民法典（全国）
    National,
    Beijing,
    Shanghai,
    Shandong,
    Qingdao,
    Hangzhou,
}

impl LocalityRule {
    fn as_str(self) -> &'static str {
        match self {
            LocalityRule::National => "national",
            LocalityRule::Beijing => "beijing",
            LocalityRule::Shanghai => "shanghai",
            LocalityRule::Shandong => "shandong",
            LocalityRule::Qingdao => "qingdao",
            LocalityRule::Hangzhou => "hangzhou",
        }
    }
    fn parse(s: &str) -> Self {
        [
            Self::Beijing,
            Self::Shanghai,
            Self::Shandong,
            Self::Qingdao,
            Self::Hangzhou,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
        .unwrap_or(Self::National)
    }
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct EstateInput {
    pub rc_id: Uuid,
    #[oai(validator(max_length = 100))]
    pub name: String,
    #[oai(validator(max_length = 200), default)]
    pub address: String,
    #[oai(validator(max_length = 20), default)]
    pub phone: String,
    /// 总户数
    #[oai(default, validator(minimum(value = "0"), maximum(value = "1000000")))]
    pub total_households: i32,
    /// 总建筑面积 (m², at most two decimals), as text to stay exact: "12345.67"; empty when
    /// unknown.
    #[oai(
        validator(max_length = 20, pattern = r"^([0-9]{1,9}(\.[0-9]{1,2})?)?$"),
        default
    )]
    pub total_area: String,
    #[oai(default)]
    pub has_owners_committee: bool,
    /// 是否开启共有人认证
    #[oai(default)]
    pub co_owner_verification: bool,
    /// 议事是否需要街道/居委会审核
    #[oai(default)]
    pub deliberation_needs_approval: bool,
    /// 车位面积是否计入表决面积
    #[oai(default)]
    pub parking_counts: bool,
    /// 储藏室面积是否计入表决面积
    #[oai(default)]
    pub storage_counts: bool,
    pub locality_rule: Option<LocalityRule>,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct EstateView {
    pub id: Uuid,
    pub rc_id: Uuid,
    pub rc_name: String,
    pub name: String,
    pub address: String,
    pub phone: String,
    pub total_households: i32,
    #[oai(validator(pattern = r"^[0-9]+\.[0-9]{2}$"))]
    pub total_area: String,
    pub has_owners_committee: bool,
    pub co_owner_verification: bool,
    pub deliberation_needs_approval: bool,
    pub parking_counts: bool,
    pub storage_counts: bool,
    pub locality_rule: LocalityRule,
    /// Units imported from the roll.
    pub unit_count: i64,
    /// 已认证户数: homes and shops with a verified owner (computed; parking and storage are not households).
    pub verified_households: i64,
    /// 已认证面积 (computed, m²): parking and storage only where the estate counts them.
    #[oai(validator(pattern = r"^[0-9]+\.[0-9]{2}$"))]
    pub verified_area: String,
    /// 业委会成员: the real names of the members serving now (no phones), as posted in the estate.
    pub committee_members: Vec<String>,
}

crate::page_of!(EstatePage, EstateView);

#[derive(ApiResponse)]
pub enum Created {
    #[oai(status = 201)]
    Created(Json<EstateView>),
}

impl From<EstateRow> for EstateView {
    /// The stored estate as the API shows it: areas as exact text, the rule as its enum.
    fn from(r: EstateRow) -> Self {
        EstateView {
            id: r.id,
            rc_id: r.rc_id,
            rc_name: r.rc_name,
            name: r.name,
            address: r.address,
            phone: r.phone,
            total_households: r.total_households,
            total_area: area::format(r.total_area_centi),
            has_owners_committee: r.has_owners_committee,
            co_owner_verification: r.co_owner_verification,
            deliberation_needs_approval: r.deliberation_needs_approval,
            parking_counts: r.parking_counts,
            storage_counts: r.storage_counts,
            locality_rule: LocalityRule::parse(&r.locality_rule),
            unit_count: r.unit_count,
            verified_households: r.verified_households,
            verified_area: area::format(r.verified_area_centi),
            committee_members: r.committee_members,
        }
    }
}

/// The estate `id` as `scope` sees it: outside the jurisdiction it is "not found", so its
/// existence is not revealed.
async fn one(conn: &TenantConn, scope: Jurisdiction, id: Uuid) -> ApiResult<EstateView> {
    store::estate(conn, scope.rc_id, id)
        .await?
        .map(EstateView::from)
        .ok_or_else(estate_not_found)
}

/// Checks the input and returns the exact total area.
fn validate(input: &EstateInput) -> ApiResult<i64> {
    let mut issues: Vec<FieldIssue> = Vec::new();
    required(&mut issues, "name", &input.name);
    if input.total_households < 0 {
        issues.push(FieldIssue::new(
            "total_households",
            "negative",
            "总户数不能为负数",
            "must not be negative",
        ));
    }
    let total_area = if input.total_area.trim().is_empty() {
        0
    } else {
        area::parse_text(&input.total_area).unwrap_or_else(|_| {
            issues.push(FieldIssue::new(
                "total_area",
                "area.invalid",
                "总建筑面积须为大于 0 的数字，最多两位小数",
                "a positive number with at most two decimals",
            ));
            0
        })
    };
    if issues.is_empty() {
        Ok(total_area)
    } else {
        Err(ApiError::validation(issues))
    }
}

/// The input as the store writes it: text trimmed, the locality rule national unless chosen.
fn fields(body: &EstateInput, total_area_centi: i64) -> EstateFields<'_> {
    EstateFields {
        rc_id: body.rc_id,
        name: body.name.trim(),
        address: body.address.trim(),
        phone: body.phone.trim(),
        total_households: body.total_households,
        total_area_centi,
        has_owners_committee: body.has_owners_committee,
        co_owner_verification: body.co_owner_verification,
        deliberation_needs_approval: body.deliberation_needs_approval,
        parking_counts: body.parking_counts,
        storage_counts: body.storage_counts,
        locality_rule: body
            .locality_rule
            .unwrap_or(LocalityRule::National)
            .as_str(),
    }
}

#[derive(Default)]
pub struct EstatesApi;

#[OpenApi(tag = "ApiTags::Estates")]
impl EstatesApi {
    /// 小区列表 / Estates within my jurisdiction, with verified households and area.
    #[oai(path = "/api/estates", method = "get", operation_id = "estate_list")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        /// Part of the name.
        #[oai(validator(max_length = 100))]
        name: Query<Option<String>>,
        #[oai(validator(max_length = 20))] phone: Query<Option<String>>,
        has_owners_committee: Query<Option<bool>>,
        rc_id: Query<Option<Uuid>>,
        /// At least this many verified households.
        min_verified_households: Query<Option<i64>>,
        /// At least this verified area (m², e.g. "1000.5").
        #[oai(validator(max_length = 20, pattern = r"^([0-9]{1,9}(\.[0-9]{1,2})?)?$"))]
        min_verified_area: Query<Option<String>>,
        /// Page number, from 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
        page: Query<Option<i64>>,
        /// Items per page, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        page_size: Query<Option<i64>>,
    ) -> ApiResult<Json<EstatePage>> {
        let scope = Jurisdiction::of(&principal)?;
        let paging = Paging::new(page.0, page_size.0)?;
        let min_area = match min_verified_area
            .0
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            None => None,
            Some(text) => Some(area::parse_text(text).map_err(|_| {
                ApiError::field(
                    "min_verified_area",
                    "area.invalid",
                    "面积须为大于 0 的数字，最多两位小数",
                    "a positive number with at most two decimals",
                )
            })?),
        };
        let filter = EstateFilter {
            rc_scope: scope.rc_id,
            name_pattern: crate::paging::contains(name.0.as_deref()),
            phone: phone.0,
            has_owners_committee: has_owners_committee.0,
            rc_id: rc_id.0,
            min_verified_households: min_verified_households.0,
            min_verified_area_centi: min_area,
        };
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let (rows, total) = service::estate_page(&conn, &filter, &paging).await?;
        conn.commit().await?;
        Ok(Json(EstatePage::new(
            rows.into_iter().map(EstateView::from).collect(),
            total,
            paging,
        )))
    }

    /// 小区详情 / One estate: staff of its jurisdiction, and owners holding a unit in it (小区信息).
    #[oai(path = "/api/estates/:id", method = "get", operation_id = "estate_get")]
    async fn get(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
    ) -> ApiResult<Json<EstateView>> {
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let scope = match &*principal {
            // An owner reads their own estate as the whole street office would; any other is "not found".
            Principal::Owner { id: owner }
                if crate::housing::store::holds_unit(&conn, *owner, id.0).await? =>
            {
                Jurisdiction { rc_id: None }
            }
            Principal::Owner { .. } => return Err(estate_not_found()),
            _ => Jurisdiction::of(&principal)?,
        };
        let estate = one(&conn, scope, id.0).await?;
        conn.commit().await?;
        Ok(Json(estate))
    }

    /// 新建小区 / Create an estate (committee staff: in their own committee).
    #[oai(path = "/api/estates", method = "post", operation_id = "estate_create")]
    async fn create(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        body: Json<EstateInput>,
    ) -> ApiResult<Created> {
        let scope = Jurisdiction::of(&principal)?;
        let total_area = validate(&body)?;
        scope.check_rc(body.rc_id)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let id = Uuid::new_v4();
        service::save_estate(&conn, id, &fields(&body, total_area)).await?;
        audit::record(&conn, &principal, "estate", &id.to_string()).await?;
        let estate = one(&conn, scope, id).await?;
        conn.commit().await?;
        Ok(Created::Created(Json(estate)))
    }

    /// 编辑小区 / Edit an estate's details and settings.
    #[oai(
        path = "/api/estates/:id",
        method = "put",
        operation_id = "estate_update"
    )]
    async fn update(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        body: Json<EstateInput>,
    ) -> ApiResult<Json<EstateView>> {
        let scope = Jurisdiction::of(&principal)?;
        let total_area = validate(&body)?;
        scope.check_rc(body.rc_id)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        scope.check_estate(&conn, id.0).await?;
        service::save_estate(&conn, id.0, &fields(&body, total_area)).await?;
        audit::record(&conn, &principal, "estate", &id.0.to_string()).await?;
        let estate = one(&conn, scope, id.0).await?;
        conn.commit().await?;
        Ok(Json(estate))
    }
}
