//! Password checks, throttled (see [`super::throttle`]) rather than locked: a stranger's guesses
//! slow the stranger down and never lock the owner out. Shared by owners, street staff and
//! platform staff (their tables differ, the rule does not).

use diesel::{sql_query, sql_types as sql, QueryableByName};
use uuid::Uuid;

use super::{password, throttle};
use crate::{
    db::{Conn, Pool},
    error::{ApiError, ApiResult},
};

/// The table holding accounts: `owners`, `staff` (tenant) or `platform.staff`.
#[derive(Clone, Copy)]
pub struct AccountTable(pub &'static str);

/// An account's id and password hash, whatever its table.
#[derive(QueryableByName)]
struct Account {
    #[diesel(sql_type = sql::Uuid)]
    id: Uuid,
    #[diesel(sql_type = sql::Text)]
    password_hash: String,
}

/// Where a login comes from: the pool the throttle counts in, the tenant's schema (or
/// `platform`) and the client's address.
pub struct Origin<'a> {
    pub pool: &'a Pool,
    pub scope: &'a str,
    pub client_ip: &'a str,
}

pub fn invalid_credentials() -> ApiError {
    ApiError::unauthorized(
        "auth.invalid_credentials",
        "账号或密码错误",
        "Wrong account or password",
    )
}

/// A login admitted by the throttle, to be checked against the account whose `key_column`
/// equals `key`.
pub struct Admitted<'a> {
    table: AccountTable,
    key_column: &'a str,
    key: &'a str,
    attempt: throttle::Attempt,
    pool: Pool,
    /// The failure recorded on admission, taken back if no verdict is reached.
    failure: i64,
}

/// Admits a login attempt (429 when throttled). Called before the login's own transaction
/// begins: the throttle uses a connection of its own, and holding one while waiting for
/// another could exhaust the pool under a flood of guesses.
pub async fn admit<'a>(
    origin: &Origin<'_>,
    table: AccountTable,
    key_column: &'a str,
    key: &'a str,
) -> ApiResult<Admitted<'a>> {
    let attempt = throttle::Attempt::new(
        origin.scope,
        &format!("{}.{key_column}", table.0),
        key,
        origin.client_ip,
    );
    let failure = throttle::admit(origin.pool, &attempt).await?;
    Ok(Admitted {
        table,
        key_column,
        key,
        attempt,
        pool: origin.pool.clone(),
        failure,
    })
}

impl Admitted<'_> {
    /// The account's id, or 401 when the account is unknown or the password wrong (alike).
    pub async fn check_password(&self, db: &Conn, password_text: String) -> ApiResult<Uuid> {
        let verdict = self.verdict(db, password_text).await;
        if verdict
            .as_ref()
            .is_err_and(|e| e.code != "auth.invalid_credentials")
        {
            throttle::withdraw(&self.pool, self.failure).await;
        }
        verdict
    }

    async fn verdict(&self, db: &Conn, password_text: String) -> ApiResult<Uuid> {
        // Table and key column are the service's constants (AccountTable, the callers' columns).
        let row: Option<Account> = db
            .optional(
                sql_query(format!(
                    "SELECT id, password_hash FROM {} WHERE {} = $1",
                    self.table.0, self.key_column
                ))
                .bind::<sql::Text, _>(self.key),
            )
            .await?;
        let Some(row) = row else {
            // Unknown accounts cost the same hash as known ones: timing tells nothing either.
            password::verify(password_text, None).await?;
            return Err(invalid_credentials());
        };
        if !password::verify(password_text, Some(row.password_hash)).await? {
            return Err(invalid_credentials());
        }
        throttle::succeeded(db, &self.attempt).await?;
        Ok(row.id)
    }
}

/// On a password change, a wrong current password is a field error, not "logged out".
pub fn old_password_refusal(refusal: ApiError) -> ApiError {
    if refusal.code == "auth.invalid_credentials" {
        ApiError::field(
            "old_password",
            "password.old_wrong",
            "原密码错误",
            "The current password is wrong",
        )
    } else {
        refusal
    }
}
