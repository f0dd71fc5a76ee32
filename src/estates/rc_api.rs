//! Residents' committees: street staff create and edit them; committee staff see their own.

use crate::paging::Paging;
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::{param::Path, payload::Json, ApiResponse, Object, OpenApi};
use uuid::Uuid;

use crate::{
    audit,
    auth::{principal::Principal, required},
    authz::jurisdiction::Jurisdiction,
    error::{ApiError, ApiResult, FieldIssue},
    estates::store::{self, RcFields, RcRow},
    state::AppState,
    tags::ApiTags,
    tenancy::{conn::TenantConn, Tenant},
};

crate::page_of!(RcPage, RcView);

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RcInput {
    #[oai(validator(max_length = 100))]
    pub name: String,
    #[oai(validator(max_length = 50), default)]
    pub contact: String,
    #[oai(validator(max_length = 20), default)]
    pub phone: String,
    #[oai(validator(max_length = 200), default)]
    pub address: String,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RcView {
    pub id: Uuid,
    pub name: String,
    pub estate_count: i64,
    pub contact: String,
    /// The committee's public office phone (not personal data, shown whole).
    pub phone: String,
    pub address: String,
}

#[derive(ApiResponse)]
pub enum Created {
    #[oai(status = 201)]
    Created(Json<RcView>),
}

/// Refuses a blank name or one over 100 characters, naming the field at fault.
fn validate(input: &RcInput) -> ApiResult<()> {
    let mut issues: Vec<FieldIssue> = Vec::new();
    required(&mut issues, "name", &input.name);
    if input.name.chars().count() > 100 {
        issues.push(FieldIssue::new(
            "name",
            "too_long",
            "名称不能超过 100 个字",
            "at most 100 characters",
        ));
    }
    if issues.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(issues))
    }
}

impl From<RcRow> for RcView {
    /// The stored committee as the API shows it (the same fields).
    fn from(r: RcRow) -> Self {
        RcView {
            id: r.id,
            name: r.name,
            estate_count: r.estate_count,
            contact: r.contact,
            phone: r.phone,
            address: r.address,
        }
    }
}

/// The input as the store writes it, trimmed.
fn fields(body: &RcInput) -> RcFields<'_> {
    RcFields {
        name: body.name.trim(),
        contact: body.contact.trim(),
        phone: body.phone.trim(),
        address: body.address.trim(),
    }
}

/// The answer for a committee that does not exist, the same for reads and edits.
fn rc_not_found() -> ApiError {
    ApiError::not_found(
        "rc.not_found",
        "居委会不存在",
        "Residents' committee not found",
    )
}

/// The committee `id`, as written just now in this transaction.
async fn one(conn: &TenantConn, id: Uuid) -> ApiResult<RcView> {
    store::rc(conn, id)
        .await?
        .map(RcView::from)
        .ok_or_else(rc_not_found)
}

#[derive(Default)]
pub struct RcApi;

#[OpenApi(tag = "ApiTags::Estates")]
impl RcApi {
    /// 居委会列表 / Residents' committees in my jurisdiction.
    #[oai(
        path = "/api/residents-committees",
        method = "get",
        operation_id = "rc_list"
    )]
    async fn list(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        /// Part of the committee's name.
        #[oai(validator(max_length = 50))]
        name: Query<Option<String>>,
        /// Page number, from 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
        page: Query<Option<i64>>,
        /// Items per page, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        page_size: Query<Option<i64>>,
    ) -> ApiResult<Json<RcPage>> {
        let paging = Paging::new(page.0, page_size.0)?;
        let scope = Jurisdiction::of(&principal)?;
        let name = crate::paging::contains(name.0.as_deref());
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let rows = store::rcs_in_scope(&conn, scope.rc_id, name.as_deref()).await?;
        conn.commit().await?;
        Ok(Json(RcPage::cut(
            rows.into_iter().map(RcView::from).collect(),
            paging,
        )))
    }

    /// 新建居委会 / Create a residents' committee.
    #[oai(
        path = "/api/residents-committees",
        method = "post",
        operation_id = "rc_create"
    )]
    async fn create(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        body: Json<RcInput>,
    ) -> ApiResult<Created> {
        validate(&body)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let id = Uuid::new_v4();
        store::insert_rc(&conn, id, &fields(&body)).await?;
        audit::record(&conn, &principal, "residents_committee", &id.to_string()).await?;
        let rc = one(&conn, id).await?;
        conn.commit().await?;
        Ok(Created::Created(Json(rc)))
    }

    /// 编辑居委会 / Edit a residents' committee.
    #[oai(
        path = "/api/residents-committees/:id",
        method = "put",
        operation_id = "rc_update"
    )]
    async fn update(
        &self,
        state: Data<&AppState>,
        tenant: Data<&Tenant>,
        principal: Data<&Principal>,
        id: Path<Uuid>,
        body: Json<RcInput>,
    ) -> ApiResult<Json<RcView>> {
        validate(&body)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        if !store::update_rc(&conn, id.0, &fields(&body)).await? {
            return Err(rc_not_found());
        }
        audit::record(&conn, &principal, "residents_committee", &id.0.to_string()).await?;
        let rc = one(&conn, id.0).await?;
        conn.commit().await?;
        Ok(Json(rc))
    }
}
