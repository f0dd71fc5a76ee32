//! Onboarding a street office: registry row, schema, migrations and the first street-staff
//! admin, all in one transaction.

use diesel::{dsl::now, prelude::*};
use uuid::Uuid;

use super::{conn::TenantConn, valid_slug, Tenant, TenantStatus};
use crate::{
    audit,
    auth::principal::Principal,
    auth::staff_api::{create_staff, StaffCreateRequest, StaffCreated, StaffRoleName},
    db::{Conn, Pool},
    error::{ApiError, ApiResult, FieldIssue},
    migrate,
    schema::platform::tenants,
};

pub fn validate(slug: &str, name: &str) -> ApiResult<()> {
    let mut issues = Vec::new();
    if !valid_slug(slug) {
        issues.push(FieldIssue::new(
            "slug",
            "tenant.slug_invalid",
            "标识须为 2–31 位小写字母、数字或下划线，并以字母开头",
            "slug: 2–31 lower-case letters, digits or underscores, starting with a letter",
        ));
    }
    if name.trim().is_empty() || name.chars().count() > 100 {
        issues.push(FieldIssue::new(
            "name",
            "tenant.name_invalid",
            "街道名称须为 1–100 个字",
            "name must be 1–100 characters",
        ));
    }
    if issues.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(issues))
    }
}

/// Creates the tenant and returns it with its first admin (whose password is shown once).
/// `actor` (platform staff through the API) is audited in the same transaction.
pub async fn create(
    pool: &Pool,
    slug: &str,
    name: &str,
    admin_username: &str,
    actor: Option<&Principal>,
) -> ApiResult<(Tenant, StaffCreated)> {
    validate(slug, name)?;
    let tenant = Tenant {
        id: Uuid::new_v4(),
        slug: slug.to_string(),
        name: name.trim().to_string(),
        schema: format!("t_{slug}"),
        status: TenantStatus::Active,
    };
    let conn = TenantConn::begin(pool, &tenant).await?;
    conn.execute(diesel::insert_into(tenants::table).values((
        tenants::id.eq(tenant.id),
        tenants::slug.eq(&tenant.slug),
        tenants::name.eq(&tenant.name),
        tenants::schema_name.eq(&tenant.schema),
    )))
    .await?;
    migrate::create_tenant_schema(&conn, &tenant)
        .await
        .map_err(ApiError::internal)?;
    let admin = create_staff(
        &conn,
        &StaffCreateRequest {
            username: admin_username.to_string(),
            display_name: "街道管理员".to_string(),
            phone: None,
            role: StaffRoleName::StreetStaff,
            rc_id: None,
        },
    )
    .await?;
    if let Some(actor) = actor {
        audit::record_platform(&conn, actor, "tenant", &tenant.slug).await?;
    }
    conn.commit().await?;
    tracing::info!(tenant = %tenant.slug, "tenant created");
    Ok((tenant, admin))
}

/// Suspends or reactivates a tenant on behalf of `actor`, whose audit entry commits with the
/// change.
pub async fn set_status(
    pool: &Pool,
    slug: &str,
    status: TenantStatus,
    actor: &crate::auth::principal::Principal,
) -> ApiResult<Tenant> {
    let tenant = super::find_by_slug(pool, slug)
        .await?
        .ok_or_else(|| super::not_found(slug))?;
    if status == TenantStatus::Suspended {
        // Tokens issued before the suspension stay dead after a reactivation: everyone logs in
        // anew. Revoked first: should the suspension then fail, a fresh login is all it costs.
        let conn = super::conn::TenantConn::begin(pool, &tenant).await?;
        use crate::schema::tenant::sessions as s;
        conn.execute(
            diesel::update(s::table)
                .filter(s::revoked_at.is_null())
                .set(s::revoked_at.eq(now)),
        )
        .await?;
        conn.commit().await?;
    }
    let tx = Conn::begin(pool).await?;
    let text = if status == TenantStatus::Suspended {
        "suspended"
    } else {
        "active"
    };
    tx.execute(
        diesel::update(tenants::table)
            .filter(tenants::slug.eq(slug))
            .set((tenants::status.eq(text), tenants::updated_at.eq(now))),
    )
    .await?;
    crate::audit::record_platform(&tx, actor, "tenant", slug).await?;
    tx.commit().await?;
    super::find_by_slug(pool, slug)
        .await?
        .ok_or_else(|| super::not_found(slug))
}
