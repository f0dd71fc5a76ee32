//! Residents' committees: street staff create and edit them; committee staff see their own.

use poem::web::Data;
use poem_openapi::{param::Path, payload::Json, ApiResponse, Object, OpenApi};
use uuid::Uuid;

use crate::{
    audit,
    auth::{principal::Principal, required, BearerAuth},
    authz::jurisdiction::Jurisdiction,
    error::{ApiError, ApiResult, FieldIssue},
    state::AppState,
    tags::ApiTags,
    tenancy::{conn::TenantConn, Tenant},
};

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

const SELECT: &str = "SELECT rc.id, rc.name, (SELECT count(*) FROM estates e WHERE e.rc_id = rc.id), rc.contact, rc.phone, rc.address
                        FROM residents_committees rc";

fn view(r: &tokio_postgres::Row) -> RcView {
    RcView {
        id: r.get(0),
        name: r.get(1),
        estate_count: r.get(2),
        contact: r.get(3),
        phone: r.get(4),
        address: r.get(5),
    }
}

async fn one(conn: &TenantConn, id: Uuid) -> ApiResult<RcView> {
    let row = conn
        .query_opt(&format!("{SELECT} WHERE rc.id = $1"), &[&id])
        .await?;
    row.as_ref().map(view).ok_or_else(|| {
        ApiError::not_found(
            "rc.not_found",
            "居委会不存在",
            "Residents' committee not found",
        )
    })
}

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
        _auth: BearerAuth,
    ) -> ApiResult<Json<Vec<RcView>>> {
        let scope = Jurisdiction::of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let rows = conn
            .query(
                &format!("{SELECT} WHERE $1::uuid IS NULL OR rc.id = $1 ORDER BY rc.name"),
                &[&scope.rc_id],
            )
            .await?;
        conn.commit().await?;
        Ok(Json(rows.iter().map(view).collect()))
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
        _auth: BearerAuth,
    ) -> ApiResult<Created> {
        validate(&body)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let id = Uuid::new_v4();
        conn.execute(
            "INSERT INTO residents_committees (id, name, contact, phone, address) VALUES ($1, $2, $3, $4, $5)",
            &[&id, &body.name.trim(), &body.contact.trim(), &body.phone.trim(), &body.address.trim()],
        )
        .await?;
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
        _auth: BearerAuth,
    ) -> ApiResult<Json<RcView>> {
        validate(&body)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let n = conn
            .execute(
                "UPDATE residents_committees SET name = $2, contact = $3, phone = $4, address = $5 WHERE id = $1",
                &[&id.0, &body.name.trim(), &body.contact.trim(), &body.phone.trim(), &body.address.trim()],
            )
            .await?;
        if n == 0 {
            return Err(ApiError::not_found(
                "rc.not_found",
                "居委会不存在",
                "Residents' committee not found",
            ));
        }
        audit::record(&conn, &principal, "residents_committee", &id.0.to_string()).await?;
        let rc = one(&conn, id.0).await?;
        conn.commit().await?;
        Ok(Json(rc))
    }
}
