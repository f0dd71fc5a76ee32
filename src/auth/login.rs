//! Password checks with lockout: 5 failures in a row lock the account for 15 minutes.
//! Shared by owners, street staff and platform staff (their tables differ, the rule does not).

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::password;
use crate::{
    db::Db,
    error::{ApiError, ApiResult},
};

pub const MAX_FAILURES: i32 = 5;
pub const LOCK_MINUTES: i64 = 15;

/// The table holding accounts: `owners`, `staff` (tenant) or `platform.staff`.
#[derive(Clone, Copy)]
pub struct AccountTable(pub &'static str);

pub fn invalid_credentials() -> ApiError {
    ApiError::unauthorized("auth.invalid_credentials", "账号或密码错误", "Wrong account or password")
}

fn locked(until: DateTime<Utc>) -> ApiError {
    let minutes = ((until - Utc::now()).num_seconds() + 59) / 60;
    ApiError::forbidden(
        "auth.account_locked",
        format!("密码连续输错 {MAX_FAILURES} 次，账号已锁定，请 {minutes} 分钟后再试"),
        format!("Too many failed logins; account locked for {minutes} more minute(s)"),
    )
}

/// Checks `password` for the account whose `key_column` equals `key`. The outer result is a
/// database failure; the inner one is the verdict, returned *after* the failure counter was
/// written so the caller can commit it before reporting a refusal.
pub async fn check_password(db: &dyn Db, table: AccountTable, key_column: &str, key: &str, password_text: String) -> ApiResult<Result<Uuid, ApiError>> {
    let row = db.query_opt(&format!("SELECT id, password_hash, locked_until FROM {} WHERE {key_column} = $1 FOR UPDATE", table.0), &[&key]).await?;
    let Some(row) = row else {
        password::verify(password_text, None).await?;
        return Ok(Err(invalid_credentials()));
    };
    let id: Uuid = row.get(0);
    if let Some(until) = row.get::<_, Option<DateTime<Utc>>>(2).filter(|u| *u > Utc::now()) {
        return Ok(Err(locked(until)));
    }
    if password::verify(password_text, Some(row.get(1))).await? {
        db.execute(&format!("UPDATE {} SET failed_logins = 0, locked_until = NULL WHERE id = $1", table.0), &[&id]).await?;
        return Ok(Ok(id));
    }
    record_failure(db, table, id).await
}

async fn record_failure(db: &dyn Db, table: AccountTable, id: Uuid) -> ApiResult<Result<Uuid, ApiError>> {
    let lock_until = Utc::now() + Duration::minutes(LOCK_MINUTES);
    let row = db
        .query_opt(
            &format!(
                "UPDATE {} SET failed_logins = CASE WHEN failed_logins + 1 >= $2 THEN 0 ELSE failed_logins + 1 END,
                               locked_until  = CASE WHEN failed_logins + 1 >= $2 THEN $3::timestamptz ELSE NULL END
                 WHERE id = $1 RETURNING locked_until",
                table.0
            ),
            &[&id, &MAX_FAILURES, &lock_until],
        )
        .await?;
    Ok(Err(match row.and_then(|r| r.get::<_, Option<DateTime<Utc>>>(0)) {
        Some(until) => locked(until),
        None => invalid_credentials(),
    }))
}

/// On a password change, a wrong current password is a field error, not "logged out".
pub fn old_password_refusal(refusal: ApiError) -> ApiError {
    if refusal.code == "auth.invalid_credentials" {
        ApiError::field("old_password", "password.old_wrong", "原密码错误", "The current password is wrong")
    } else {
        refusal
    }
}

/// Refuses while the account is locked (SMS-code login honours the lock too).
pub async fn ensure_unlocked(db: &dyn Db, table: AccountTable, id: Uuid) -> ApiResult<Result<(), ApiError>> {
    let row = db.query_opt(&format!("SELECT locked_until FROM {} WHERE id = $1", table.0), &[&id]).await?;
    Ok(match row.and_then(|r| r.get::<_, Option<DateTime<Utc>>>(0)).filter(|u| *u > Utc::now()) {
        Some(until) => Err(locked(until)),
        None => Ok(()),
    })
}
