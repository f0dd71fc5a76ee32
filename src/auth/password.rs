//! Passwords: argon2id with explicit parameters, always hashed off the async runtime, and never
//! more hashes at once than the machine has cores: each takes 19 MiB and a core for tens of
//! milliseconds, so unbounded concurrency (a burst of bogus registrations or logins) would turn
//! into memory and queueing for everyone. A request that waits too long for a slot gets 503
//! with `Retry-After`.

use std::{sync::OnceLock, time::Duration};

use tokio::sync::{Semaphore, SemaphorePermit};

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Algorithm, Argon2, Params, Version,
};
use rand::Rng;

use crate::error::{ApiError, ApiResult, FieldIssue};

/// OWASP's argon2id baseline: 19 MiB memory, 2 passes, 1 lane.
fn argon2() -> Argon2<'static> {
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(19 * 1024, 2, 1, None).expect("valid argon2 params"),
    )
}

/// How long a request waits for a hashing slot before it is told to come back.
const SLOT_WAIT: Duration = Duration::from_secs(5);

/// The hashing slots (public so a test can hold them all).
pub fn slots() -> &'static Semaphore {
    static SLOTS: OnceLock<Semaphore> = OnceLock::new();
    SLOTS
        .get_or_init(|| Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())))
}

/// A hashing slot, or 503 once `SLOT_WAIT` has passed.
pub async fn slot() -> ApiResult<SemaphorePermit<'static>> {
    match tokio::time::timeout(SLOT_WAIT, slots().acquire()).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(ApiError::unavailable(
            "auth.busy",
            "当前登录和注册的人较多，请稍后重试",
            "Too many logins and registrations at once; try again shortly",
        )
        .retry_after(2)),
    }
}

pub async fn hash(password: String) -> ApiResult<String> {
    let _slot = slot().await?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)
}

/// Verifies `password` against `stored`; with no stored hash (unknown account) it verifies
/// against a dummy hash anyway so the response time does not reveal who exists.
pub async fn verify(password: String, stored: Option<String>) -> ApiResult<bool> {
    let _slot = slot().await?;
    Ok(tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| dummy_hash().to_string());
        let ok = PasswordHash::new(&stored)
            .map(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
            .unwrap_or(false);
        known && ok
    })
    .await
    .unwrap_or(false))
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        argon2()
            .hash_password(b"not-a-real-password", &salt)
            .expect("hash dummy")
            .to_string()
    })
}

/// At least 8 characters with an upper-case letter, a lower-case letter and a digit.
pub fn strength_issue(field: &str, password: &str) -> Option<FieldIssue> {
    let strong = password.chars().count() >= 8
        && password.chars().any(|c| c.is_ascii_uppercase())
        && password.chars().any(|c| c.is_ascii_lowercase())
        && password.chars().any(|c| c.is_ascii_digit());
    (!strong).then(|| {
        FieldIssue::new(
            field,
            "password.weak",
            "密码至少 8 位，且须同时包含大写字母、小写字母和数字",
            "Password needs at least 8 characters with upper case, lower case and a digit",
        )
    })
}

/// An initial password for a new staff account, shown once; it satisfies `strength_issue`.
pub fn generate() -> String {
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const LOWER: &[u8] = b"abcdefghijkmnpqrstuvwxyz";
    const DIGIT: &[u8] = b"23456789";
    let mut rng = rand::thread_rng();
    let mut pick = |set: &[u8]| set[rng.gen_range(0..set.len())] as char;
    let mut s: String = (0..4).map(|_| pick(UPPER)).collect();
    s.extend((0..4).map(|_| pick(LOWER)));
    s.extend((0..4).map(|_| pick(DIGIT)));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strength_rule_matches_the_manual() {
        assert!(strength_issue("p", "Abcdefg1").is_none());
        assert!(strength_issue("p", "abcdefg1").is_some(), "no upper case");
        assert!(strength_issue("p", "ABCDEFG1").is_some(), "no lower case");
        assert!(strength_issue("p", "Abcdefgh").is_some(), "no digit");
        assert!(strength_issue("p", "Abcde1").is_some(), "too short");
        assert!(strength_issue("p", &generate()).is_none());
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let h = hash("Secret123".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify("Secret123".into(), Some(h.clone())).await.unwrap());
        assert!(!verify("Secret124".into(), Some(h)).await.unwrap());
        assert!(!verify("Secret123".into(), None).await.unwrap());
    }
}
