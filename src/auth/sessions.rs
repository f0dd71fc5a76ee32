//! Issuing, resolving and revoking bearer tokens.

use chrono::{Duration, Utc};
use deadpool_postgres::Pool;
use uuid::Uuid;

use super::{
    principal::{Principal, SessionToken, StaffRole},
    token::{self, Issuer},
};
use crate::{
    db::Db,
    error::{ApiError, ApiResult},
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
    conn.execute(
        "INSERT INTO sessions (token_hash, subject_kind, subject_id, expires_at) VALUES ($1, $2, $3, $4)",
        &[&token::hash(&token), &kind, &subject, &expires],
    )
    .await?;
    Ok(token)
}

pub async fn issue_platform(db: &dyn Db, staff: Uuid, hours: i64) -> ApiResult<String> {
    let token = token::new_platform_token();
    let expires = Utc::now() + Duration::hours(hours);
    db.execute(
        "INSERT INTO platform.sessions (token_hash, staff_id, expires_at) VALUES ($1, $2, $3)",
        &[&token::hash(&token), &staff, &expires],
    )
    .await?;
    Ok(token)
}

pub async fn revoke_tenant_token(conn: &TenantConn, token: &SessionToken) -> ApiResult<()> {
    conn.execute(
        "UPDATE sessions SET revoked_at = now() WHERE token_hash = $1 AND revoked_at IS NULL",
        &[&token.0],
    )
    .await?;
    Ok(())
}

pub async fn revoke_all_tenant(conn: &TenantConn, kind: &str, subject: Uuid) -> ApiResult<()> {
    conn.execute("UPDATE sessions SET revoked_at = now() WHERE subject_kind = $1 AND subject_id = $2 AND revoked_at IS NULL", &[&kind, &subject]).await?;
    Ok(())
}

/// Ends the platform session of `token` (platform staff logging out).
pub async fn revoke_platform_token(db: &dyn Db, token: &SessionToken) -> ApiResult<()> {
    db.execute("UPDATE platform.sessions SET revoked_at = now() WHERE token_hash = $1 AND revoked_at IS NULL", &[&token.0]).await?;
    Ok(())
}

/// Ends every platform session of `staff` (after a password change).
pub async fn revoke_all_platform(db: &dyn Db, staff: Uuid) -> ApiResult<()> {
    db.execute("UPDATE platform.sessions SET revoked_at = now() WHERE staff_id = $1 AND revoked_at IS NULL", &[&staff]).await?;
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
            let conn = TenantConn::begin(pool, t).await?;
            let row = conn
                .query_opt(
                    "SELECT s.subject_kind, s.subject_id, st.role, st.rc_id
                       FROM sessions s LEFT JOIN staff st ON s.subject_kind = 'staff' AND st.id = s.subject_id
                      WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now()",
                    &[&hash.0],
                )
                .await?;
            conn.commit().await?;
            let row = row.ok_or_else(invalid_token)?;
            let id: Uuid = row.get(1);
            let principal = match row.get::<_, &str>(0) {
                "owner" => Principal::Owner { id },
                _ => {
                    let role = row
                        .get::<_, Option<&str>>(2)
                        .and_then(StaffRole::parse)
                        .ok_or_else(invalid_token)?;
                    Principal::Staff {
                        id,
                        role,
                        rc_id: row.get(3),
                    }
                }
            };
            Ok((principal, hash))
        }
        // Platform tokens authenticate anywhere; policy decides what platform staff may do.
        (Some(Issuer::Platform), _) => {
            let client = pool.get().await?;
            let row = client
                .query_opt("SELECT staff_id FROM platform.sessions WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()", &[&hash.0])
                .await?
                .ok_or_else(invalid_token)?;
            Ok((Principal::Platform { id: row.get(0) }, hash))
        }
    }
}
