//! Issuing, resolving and revoking bearer tokens.

use chrono::{Duration, Utc};
use diesel::{dsl::now, prelude::*};
use uuid::Uuid;

use super::{
    principal::{Principal, SessionToken, StaffRole},
    token::{self, Issuer},
};
use crate::{
    db::{Conn, Pool},
    error::{ApiError, ApiResult},
    schema::{platform, tenant},
    tenancy::{conn::TenantConn, Tenant},
};

pub async fn issue_tenant(
    conn: &TenantConn,
    tenant: &Tenant,
    kind: &str,
    subject: Uuid,
    hours: i64,
) -> ApiResult<String> {
    let token = token::new_tenant_token(tenant.id);
    let expires = Utc::now() + Duration::hours(hours);
    use tenant::sessions as s;
    conn.execute(diesel::insert_into(s::table).values((
        s::token_hash.eq(token::hash(&token)),
        s::subject_kind.eq(kind),
        s::subject_id.eq(subject),
        s::expires_at.eq(expires),
    )))
    .await?;
    Ok(token)
}

pub async fn issue_platform(db: &Conn, staff: Uuid, hours: i64) -> ApiResult<String> {
    let token = token::new_platform_token();
    let expires = Utc::now() + Duration::hours(hours);
    use platform::sessions as s;
    db.execute(diesel::insert_into(s::table).values((
        s::token_hash.eq(token::hash(&token)),
        s::staff_id.eq(staff),
        s::expires_at.eq(expires),
    )))
    .await?;
    Ok(token)
}

pub async fn revoke_tenant_token(conn: &TenantConn, token: &SessionToken) -> ApiResult<()> {
    use tenant::sessions as s;
    conn.execute(
        diesel::update(s::table)
            .filter(s::token_hash.eq(&token.0).and(s::revoked_at.is_null()))
            .set(s::revoked_at.eq(now)),
    )
    .await?;
    Ok(())
}

pub async fn revoke_all_tenant(conn: &TenantConn, kind: &str, subject: Uuid) -> ApiResult<()> {
    use tenant::sessions as s;
    conn.execute(
        diesel::update(s::table)
            .filter(s::subject_kind.eq(kind))
            .filter(s::subject_id.eq(subject))
            .filter(s::revoked_at.is_null())
            .set(s::revoked_at.eq(now)),
    )
    .await?;
    Ok(())
}

/// Ends the platform session of `token` (platform staff logging out).
pub async fn revoke_platform_token(db: &Conn, token: &SessionToken) -> ApiResult<()> {
    use platform::sessions as s;
    db.execute(
        diesel::update(s::table)
            .filter(s::token_hash.eq(&token.0).and(s::revoked_at.is_null()))
            .set(s::revoked_at.eq(now)),
    )
    .await?;
    Ok(())
}

/// Ends every platform session of `staff` (after a password change).
pub async fn revoke_all_platform(db: &Conn, staff: Uuid) -> ApiResult<()> {
    use platform::sessions as s;
    db.execute(
        diesel::update(s::table)
            .filter(s::staff_id.eq(staff).and(s::revoked_at.is_null()))
            .set(s::revoked_at.eq(now)),
    )
    .await?;
    Ok(())
}

fn invalid_token() -> ApiError {
    ApiError::unauthorized(
        "auth.invalid_token",
        "登录已失效，请重新登录",
        "Token is invalid or expired",
    )
}

/// Resolves a bearer token for a request addressed to `tenant` (None: a platform request).
pub async fn authenticate(
    pool: &Pool,
    tenant: Option<&Tenant>,
    bearer: &str,
) -> ApiResult<(Principal, SessionToken)> {
    let hash = SessionToken(token::hash(bearer));
    match (token::issuer(bearer), tenant) {
        (None, _) => Err(invalid_token()),
        (Some(Issuer::Tenant(id)), Some(t)) if id != t.id => Err(ApiError::forbidden(
            "auth.wrong_tenant",
            "此登录凭证属于其他街道，不能访问本街道的数据",
            "This token belongs to another tenant",
        )),
        (Some(Issuer::Tenant(_)), None) => Err(ApiError::forbidden(
            "auth.wrong_tenant",
            "街道账号不能访问平台管理接口",
            "Tenant tokens cannot be used on platform operations",
        )),
        (Some(Issuer::Tenant(_)), Some(t)) => {
            use tenant::{sessions as s, staff as st};
            let conn = TenantConn::begin(pool, t).await?;
            let row: Option<(String, Uuid, Option<String>, Option<Uuid>)> = conn
                .optional(
                    s::table
                        .left_join(
                            st::table.on(s::subject_kind.eq("staff").and(st::id.eq(s::subject_id))),
                        )
                        .filter(s::token_hash.eq(&hash.0))
                        .filter(s::revoked_at.is_null())
                        .filter(s::expires_at.gt(now))
                        .select((
                            s::subject_kind,
                            s::subject_id,
                            st::role.nullable(),
                            st::rc_id.nullable(),
                        )),
                )
                .await?;
            conn.commit().await?;
            let (kind, id, role, rc_id) = row.ok_or_else(invalid_token)?;
            let principal = match kind.as_str() {
                "owner" => Principal::Owner { id },
                _ => {
                    let role = role
                        .as_deref()
                        .and_then(StaffRole::parse)
                        .ok_or_else(invalid_token)?;
                    Principal::Staff { id, role, rc_id }
                }
            };
            Ok((principal, hash))
        }
        // Platform tokens authenticate anywhere; policy decides what platform staff may do.
        (Some(Issuer::Platform), _) => {
            use platform::sessions as s;
            let id: Uuid = Conn::get(pool)
                .await?
                .optional(
                    s::table
                        .filter(s::token_hash.eq(&hash.0))
                        .filter(s::revoked_at.is_null())
                        .filter(s::expires_at.gt(now))
                        .select(s::staff_id),
                )
                .await?
                .ok_or_else(invalid_token)?;
            Ok((Principal::Platform { id }, hash))
        }
    }
}
