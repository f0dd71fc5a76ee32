use poem::web::Data;
use poem_openapi::{payload::Json, Object, OpenApi};
use uuid::Uuid;

use crate::{
    app::AppState,
    auth::{principal::Principal, BearerAuth},
    authz::jurisdiction::{Jurisdiction, ESTATE_IN_SCOPE},
    error::ApiResult,
    openapi::ApiTags,
    tenancy::{conn::TenantConn, Tenant},
};

#[derive(Object)]
pub struct EstateView {
    pub id: Uuid,
    pub rc_id: Uuid,
    pub rc_name: String,
    pub name: String,
    pub address: String,
}

pub struct EstatesApi;

#[OpenApi(tag = "ApiTags::Estates")]
impl EstatesApi {
    /// 小区列表 / Estates within my jurisdiction.
    #[oai(path = "/api/estates", method = "get", operation_id = "estate_list")]
    async fn list(&self, state: Data<&AppState>, tenant: Data<&Tenant>, principal: Data<&Principal>, _auth: BearerAuth) -> ApiResult<Json<Vec<EstateView>>> {
        let scope = Jurisdiction::of(&principal)?;
        let conn = TenantConn::begin(&state.pool, &tenant).await?;
        let rows = conn
            .query(
                &format!(
                    "SELECT e.id, e.rc_id, rc.name, e.name, e.address
                       FROM estates e JOIN residents_committees rc ON rc.id = e.rc_id
                      WHERE {ESTATE_IN_SCOPE} ORDER BY rc.name, e.name"
                ),
                &[&scope.rc_id],
            )
            .await?;
        conn.commit().await?;
        Ok(Json(
            rows.iter()
                .map(|r| EstateView { id: r.get(0), rc_id: r.get(1), rc_name: r.get(2), name: r.get(3), address: r.get(4) })
                .collect(),
        ))
    }
}
