//! Login throttling, counted in PostgreSQL so every replica shares the numbers. Three rules,
//! each answering 429 with `Retry-After` *before* the password is hashed:
//!
//! - one account from one address: the first [`PAIR_FREE`] failures in [`WINDOW_MINUTES`] cost
//!   nothing; after that each attempt waits 2, 4, 8 … seconds (at most [`PAIR_MAX_DELAY`]) after
//!   the previous failure;
//! - one address over all accounts: at most [`ADDRESS_FAILURES_PER_HOUR`] failures an hour, which
//!   stops an address trying account after account;
//! - one account from every address: after [`ACCOUNT_FREE`] failures in the window, an address
//!   that has itself failed for the account waits up to [`ACCOUNT_MAX_DELAY`] seconds per attempt,
//!   which slows a guessing botnet to one guess per address.
//!
//! Nobody is kept out by a stranger: a first attempt from an address is never held up by
//! failures from elsewhere, and an address the account logged in from in the last
//! [`KNOWN_DAYS`] days is spared the per-address and account-wide rules (only its own failures
//! slow it down). IPv6 clients are counted per /64, the block one subscriber gets.
//!
//! Accounts are keyed by what was typed, so unknown accounts are throttled exactly like real
//! ones and the answers tell an attacker nothing about who exists.

use diesel::{prelude::*, sql_query, sql_types as sql, upsert::excluded};
use sha2::{Digest, Sha256};

use crate::{
    db::{Conn, Pool},
    error::{ApiError, ApiResult},
    schema::platform::{login_failures as failures, login_known_addresses as known},
};

pub const WINDOW_MINUTES: i32 = 15;
pub const PAIR_FREE: i64 = 3;
pub const PAIR_MAX_DELAY: i64 = 15 * 60;
pub const ADDRESS_FAILURES_PER_HOUR: i64 = 30;
pub const ACCOUNT_FREE: i64 = 10;
pub const ACCOUNT_MAX_DELAY: i64 = 60;
/// How long a successful login keeps an address "known" to the account.
pub const KNOWN_DAYS: i32 = 30;

/// One login attempt: which account (as typed) from which address.
pub struct Attempt {
    account: String,
    client_ip: String,
}

impl Attempt {
    /// `scope` is the tenant's schema (or `platform`), `kind` the table and column looked up.
    pub fn new(scope: &str, kind: &str, typed: &str, client_ip: &str) -> Self {
        let digest = Sha256::digest(format!("{scope}\u{0}{kind}\u{0}{typed}").as_bytes());
        Self {
            account: hex::encode(digest),
            client_ip: address_block(client_ip),
        }
    }
}

/// The unit addresses are counted in: an IPv4 address, or the /64 of an IPv6 one (a subscriber
/// gets a whole /64, so counting single IPv6 addresses would give an attacker endless fresh ones).
pub fn address_block(client_ip: &str) -> String {
    match client_ip
        .parse::<std::net::IpAddr>()
        .map(|ip| ip.to_canonical())
    {
        Ok(std::net::IpAddr::V6(v6)) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            format!("{}/64", std::net::Ipv6Addr::from(prefix))
        }
        Ok(ip) => ip.to_string(),
        Err(_) => client_ip.to_string(),
    }
}

/// Seconds to wait after the latest failure once `free` failures were spent: 2, 4, 8 … capped.
pub fn delay(failures: i64, free: i64, cap: i64) -> i64 {
    if failures < free {
        return 0;
    }
    let doublings = (failures - free + 1).min(20) as u32;
    (1i64 << doublings).min(cap)
}

/// Admits the attempt or refuses it with 429. An admitted attempt is recorded as a failure at
/// once, in its own short transaction, so parallel guesses see each other; [`succeeded`] takes
/// it back, and [`withdraw`] when no verdict was reached. Returns the recorded row.
/// What the rules need to know of recent failures (seconds are since the latest failure).
#[derive(QueryableByName)]
struct Recent {
    #[diesel(sql_type = sql::BigInt)]
    pair_failures: i64,
    #[diesel(sql_type = sql::Nullable<sql::Double>)]
    pair_since: Option<f64>,
    #[diesel(sql_type = sql::BigInt)]
    address_failures: i64,
    #[diesel(sql_type = sql::Nullable<sql::Double>)]
    address_reset_in: Option<f64>,
    #[diesel(sql_type = sql::BigInt)]
    account_failures: i64,
    #[diesel(sql_type = sql::Nullable<sql::Double>)]
    account_since: Option<f64>,
    #[diesel(sql_type = sql::Bool)]
    known: bool,
}

const RECENT: &str = "WITH recent AS (
         SELECT account, client_ip, failed_at FROM platform.login_failures
          WHERE (account = $1 OR client_ip = $2) AND failed_at > now() - interval '1 hour')
     SELECT
         (SELECT count(*) FROM recent WHERE account = $1 AND client_ip = $2 AND failed_at > now() - make_interval(mins => $3)) AS pair_failures,
         (SELECT extract(epoch FROM clock_timestamp() - max(failed_at))::float8 FROM recent WHERE account = $1 AND client_ip = $2) AS pair_since,
         (SELECT count(*) FROM recent WHERE client_ip = $2) AS address_failures,
         (SELECT extract(epoch FROM min(failed_at) + interval '1 hour' - clock_timestamp())::float8 FROM recent WHERE client_ip = $2) AS address_reset_in,
         (SELECT count(*) FROM recent WHERE account = $1 AND failed_at > now() - make_interval(mins => $3)) AS account_failures,
         (SELECT extract(epoch FROM clock_timestamp() - max(failed_at))::float8 FROM recent WHERE account = $1) AS account_since,
         EXISTS (SELECT 1 FROM platform.login_known_addresses
                  WHERE account = $1 AND client_ip = $2 AND last_success_at > now() - make_interval(days => $4)) AS known";

pub async fn admit(pool: &Pool, attempt: &Attempt) -> ApiResult<i64> {
    let tx = Conn::begin(pool).await?;
    // Always address first, then account: two attempts never wait on each other crosswise.
    tx.execute(
        sql_query("SELECT pg_advisory_xact_lock(hashtext('login-ip:' || $1))")
            .bind::<sql::Text, _>(&attempt.client_ip),
    )
    .await?;
    tx.execute(
        sql_query("SELECT pg_advisory_xact_lock(hashtext('login-account:' || $1))")
            .bind::<sql::Text, _>(&attempt.account),
    )
    .await?;
    let row: Recent = tx
        .first(
            sql_query(RECENT)
                .bind::<sql::Text, _>(&attempt.account)
                .bind::<sql::Text, _>(&attempt.client_ip)
                .bind::<sql::Integer, _>(WINDOW_MINUTES)
                .bind::<sql::Integer, _>(KNOWN_DAYS),
        )
        .await?;
    let since = |s: Option<f64>| s.unwrap_or(f64::MAX);
    let pair_wait =
        delay(row.pair_failures, PAIR_FREE, PAIR_MAX_DELAY) as f64 - since(row.pair_since);
    if pair_wait > 0.0 {
        return Err(too_many(pair_wait));
    }
    if !row.known && row.address_failures >= ADDRESS_FAILURES_PER_HOUR {
        return Err(ApiError::too_many(
            "auth.address_throttled",
            "当前网络登录失败次数过多，请稍后再试",
            "Too many failed logins from this network; try again later",
        )
        .retry_after(row.address_reset_in.unwrap_or(0.0).ceil() as i64));
    }
    let account_wait = delay(row.account_failures, ACCOUNT_FREE, ACCOUNT_MAX_DELAY) as f64
        - since(row.account_since);
    if !row.known && row.pair_failures > 0 && account_wait > 0.0 {
        return Err(too_many(account_wait));
    }
    let id: i64 = tx
        .first(
            diesel::insert_into(failures::table)
                .values((
                    failures::account.eq(&attempt.account),
                    failures::client_ip.eq(&attempt.client_ip),
                ))
                .returning(failures::id),
        )
        .await?;
    // Rows older than any rule looks at go a hundred at a time, oldest first, with each write:
    // the table holds about a day of failures without a sweeper.
    tx.execute(sql_query(
        "DELETE FROM platform.login_failures
          WHERE id IN (SELECT id FROM platform.login_failures ORDER BY id LIMIT 100) AND failed_at < now() - interval '1 day'",
    ))
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Takes back an admitted attempt that reached no verdict (the hasher was busy, the database
/// failed): only wrong passwords count against anyone.
pub async fn withdraw(pool: &Pool, failure: i64) {
    let result = async {
        Conn::get(pool)
            .await?
            .execute(diesel::delete(
                failures::table.filter(failures::id.eq(failure)),
            ))
            .await
            .map_err(ApiError::from)
    };
    if let Err(e) = result.await {
        tracing::warn!(error = %e, "could not take back a login attempt that reached no verdict");
    }
}

fn too_many(wait: f64) -> ApiError {
    let seconds = (wait.ceil() as i64).max(1);
    ApiError::too_many(
        "auth.too_many_attempts",
        format!("登录失败次数过多，请 {seconds} 秒后再试（业主也可使用短信验证码登录）"),
        format!(
            "Too many failed logins; try again in {seconds} s (owners may log in with an SMS code)"
        ),
    )
    .retry_after(seconds)
}

/// The password was right: this address's failures for the account are forgiven and the address
/// becomes known to the account. Written in the login's own transaction.
pub async fn succeeded(db: &Conn, attempt: &Attempt) -> ApiResult<()> {
    db.execute(diesel::delete(
        failures::table
            .filter(failures::account.eq(&attempt.account))
            .filter(failures::client_ip.eq(&attempt.client_ip)),
    ))
    .await?;
    db.execute(
        diesel::insert_into(known::table)
            .values((
                known::account.eq(&attempt.account),
                known::client_ip.eq(&attempt.client_ip),
                known::last_success_at.eq(diesel::dsl::now),
            ))
            .on_conflict((known::account, known::client_ip))
            .do_update()
            .set(known::last_success_at.eq(excluded(known::last_success_at))),
    )
    .await?;
    db.execute(
        sql_query(
            "DELETE FROM platform.login_known_addresses WHERE (account, client_ip) IN (
                 SELECT account, client_ip FROM platform.login_known_addresses
                  WHERE last_success_at < now() - make_interval(days => $1) ORDER BY last_success_at LIMIT 100)",
        )
        .bind::<sql::Integer, _>(KNOWN_DAYS),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{address_block, delay};

    #[test]
    fn ipv6_clients_count_per_64_and_ipv4_ones_per_address() {
        assert_eq!(
            address_block("2001:db8:1:2:aaaa::1"),
            address_block("2001:db8:1:2:ffff::9")
        );
        assert_eq!(address_block("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_ne!(
            address_block("2001:db8:1:3::1"),
            address_block("2001:db8:1:2::1")
        );
        assert_eq!(address_block("::ffff:198.18.0.7"), "198.18.0.7");
        assert_eq!(address_block("198.18.0.7"), "198.18.0.7");
    }

    #[test]
    fn delays_double_after_the_free_failures_and_stop_at_the_cap() {
        assert_eq!(
            (1..=8).map(|n| delay(n, 3, 900)).collect::<Vec<_>>(),
            [0, 0, 2, 4, 8, 16, 32, 64]
        );
        assert_eq!(delay(40, 3, 900), 900);
        assert_eq!(delay(12, 10, 60), 8);
        assert_eq!(delay(17, 10, 60), 60);
    }
}
