//! Platform staff onboard and manage street offices.

use crate::paging::Paging;
use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{
    param::{Path, Query},
    payload::Json,
    ApiResponse, Object, OpenApi,
};
use uuid::Uuid;

use super::{find_by_slug, not_found, provision, Tenant, TenantStatus};
use crate::{auth::principal::Principal, error::ApiResult, state::AppState, tags::ApiTags};

crate::page_of!(SigningKeyPage, SigningKeyView);
crate::page_of!(TenantPage, TenantView);

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TenantCreateRequest {
    /// Short identifier used in `X-Tenant` and the subdomain: 2–31 of a–z, 0–9, _.
    #[oai(validator(max_length = 31))]
    pub slug: String,
    /// 街道办事处名称.
    #[oai(validator(max_length = 100))]
    pub name: String,
    /// Login name of the first street-staff admin (default `admin`).
    #[oai(validator(max_length = 32))]
    pub admin_username: Option<String>,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TenantView {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub status: TenantStatus,
    /// The street office's ledger signing keys, oldest first (list and detail only).
    pub signing_keys: Option<Vec<SigningKeyView>>,
}

/// A street office's public ledger signing key: checkpoints of its ballot ledgers carry
/// signatures anyone verifies with it.
#[derive(Object)]
pub struct SigningKeyView {
    /// The street office (tenant slug) the key signs for.
    pub tenant: String,
    pub key_id: String,
    /// Ed25519 public key, 32 bytes as lowercase hex.
    pub public_key: String,
    /// When the key was first used.
    pub recorded_at: DateTime<Utc>,
}

async fn signing_keys(state: &AppState, tenant: Option<&str>) -> ApiResult<Vec<SigningKeyView>> {
    let tx = crate::db::Conn::begin(&state.pool).await?;
    let keys = crate::voting::signing::published_keys(&tx, tenant).await?;
    tx.commit().await?;
    // Only keys this service derives: one added to the database by hand is not published.
    Ok(keys
        .into_iter()
        .filter(|(k, _)| crate::voting::signing::derives(k))
        .map(|(k, at)| SigningKeyView {
            tenant: k.tenant,
            key_id: k.key_id,
            public_key: k.public_key,
            recorded_at: at,
        })
        .collect())
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct InitialAdmin {
    pub username: String,
    /// Shown once only.
    pub initial_password: String,
}

#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TenantCreated {
    pub tenant: TenantView,
    pub admin: InitialAdmin,
    pub created_at: DateTime<Utc>,
}

#[derive(ApiResponse)]
pub enum Created {
    #[oai(status = 201)]
    Created(Json<TenantCreated>),
}

impl From<Tenant> for TenantView {
    fn from(t: Tenant) -> Self {
        TenantView {
            id: t.id,
            slug: t.slug,
            name: t.name,
            status: t.status,
            signing_keys: None,
        }
    }
}

#[derive(Default)]
pub struct TenantsApi;

#[OpenApi(tag = "ApiTags::Platform")]
impl TenantsApi {
    /// 开通街道 / Onboard a street office (tenant) with its first admin.
    #[oai(
        path = "/api/platform/tenants",
        method = "post",
        operation_id = "tenant_create"
    )]
    async fn create(
        &self,
        state: Data<&AppState>,
        principal: Data<&Principal>,
        body: Json<TenantCreateRequest>,
    ) -> ApiResult<Created> {
        let admin_username = body
            .admin_username
            .clone()
            .unwrap_or_else(|| "admin".into());
        let (tenant, admin) = provision::create(
            &state.pool,
            &body.slug,
            &body.name,
            &admin_username,
            Some(&principal),
        )
        .await?;
        Ok(Created::Created(Json(TenantCreated {
            tenant: tenant.into(),
            admin: InitialAdmin {
                username: admin.staff.username,
                initial_password: admin.initial_password,
            },
            created_at: Utc::now(),
        })))
    }

    /// 街道列表 / Street offices, by slug; `q` finds one by part of its slug or name.
    #[oai(
        path = "/api/platform/tenants",
        method = "get",
        operation_id = "tenant_list"
    )]
    async fn list(
        &self,
        state: Data<&AppState>,
        /// Part of the slug or the name.
        #[oai(validator(max_length = 50))]
        q: Query<Option<String>>,
        /// Page number, from 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
        page: Query<Option<i64>>,
        /// Items per page, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        page_size: Query<Option<i64>>,
    ) -> ApiResult<Json<TenantPage>> {
        let paging = Paging::new(page.0, page_size.0)?;
        let wanted =
            q.0.as_deref()
                .map(str::trim)
                .unwrap_or_default()
                .to_lowercase();
        let mut keys = signing_keys(&state, None).await?;
        let mut views: Vec<TenantView> = super::list(&state.pool)
            .await?
            .into_iter()
            .map(TenantView::from)
            .filter(|t| t.slug.contains(&wanted) || t.name.to_lowercase().contains(&wanted))
            .collect();
        for v in &mut views {
            let (theirs, rest) = keys.into_iter().partition(|k| k.tenant == v.slug);
            (v.signing_keys, keys) = (Some(theirs), rest);
        }
        Ok(Json(TenantPage::cut(views, paging)))
    }

    /// 账本签名公钥 / The street offices' public ledger signing keys, for anyone who checks a
    /// ballot ledger (`zmg verify-matter --keys`), and the transparency log's key (tenant
    /// `@transparency-log`). Old keys stay listed after rotation.
    #[oai(
        path = "/api/platform/signing-keys",
        method = "get",
        operation_id = "signing_key_list"
    )]
    async fn keys(
        &self,
        state: Data<&AppState>,
        #[oai(validator(max_length = 31))] tenant: Query<Option<String>>,
        /// Page number, from 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
        page: Query<Option<i64>>,
        /// Items per page, 1–100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        page_size: Query<Option<i64>>,
    ) -> ApiResult<Json<SigningKeyPage>> {
        let paging = Paging::new(page.0, page_size.0)?;
        let mut keys = signing_keys(&state, tenant.0.as_deref()).await?;
        // The log's key, from its first signed head on: it signs the tree heads that ledgers and
        // receipts carry.
        let tx = crate::db::Conn::begin(&state.pool).await?;
        let since = crate::transparency::store::head_since(&tx).await?;
        tx.commit().await?;
        if let Some(first) = since {
            let log = crate::voting::signing::log_key()?;
            keys.push(SigningKeyView {
                tenant: log.tenant,
                key_id: log.key_id,
                public_key: log.public_key,
                recorded_at: first,
            });
        }
        Ok(Json(SigningKeyPage::cut(keys, paging)))
    }

    /// 街道详情 / One street office.
    #[oai(
        path = "/api/platform/tenants/:slug",
        method = "get",
        operation_id = "tenant_get"
    )]
    async fn get(
        &self,
        state: Data<&AppState>,
        #[oai(validator(max_length = 31))] slug: Path<String>,
    ) -> ApiResult<Json<TenantView>> {
        let tenant = find_by_slug(&state.pool, &slug)
            .await?
            .ok_or_else(|| not_found(&slug))?;
        let keys = signing_keys(&state, Some(&tenant.slug)).await?;
        Ok(Json(TenantView {
            signing_keys: Some(keys),
            ..tenant.into()
        }))
    }

    /// 停用街道 / Suspend a street office: every request to it is refused until reactivated.
    #[oai(
        path = "/api/platform/tenants/:slug/suspend",
        method = "post",
        operation_id = "tenant_suspend"
    )]
    async fn suspend(
        &self,
        state: Data<&AppState>,
        principal: Data<&Principal>,
        #[oai(validator(max_length = 31))] slug: Path<String>,
    ) -> ApiResult<Json<TenantView>> {
        set_status(&state, &principal, &slug, TenantStatus::Suspended).await
    }

    /// 恢复街道 / Reactivate a suspended street office.
    #[oai(
        path = "/api/platform/tenants/:slug/activate",
        method = "post",
        operation_id = "tenant_activate"
    )]
    async fn activate(
        &self,
        state: Data<&AppState>,
        principal: Data<&Principal>,
        #[oai(validator(max_length = 31))] slug: Path<String>,
    ) -> ApiResult<Json<TenantView>> {
        set_status(&state, &principal, &slug, TenantStatus::Active).await
    }
}

async fn set_status(
    state: &AppState,
    principal: &Principal,
    slug: &str,
    status: TenantStatus,
) -> ApiResult<Json<TenantView>> {
    let tenant = provision::set_status(&state.pool, slug, status, principal).await?;
    Ok(Json(tenant.into()))
}
