//! Street offices sign their ledgers' checkpoints (Ed25519), so that someone who can write the
//! database still cannot rewrite a sealed ledger and re-hash it: the signatures would not match
//! the keys the platform publishes.
//!
//! Each tenant's key is derived from one platform secret (`ZMG_SIGNING_SECRET`, from the
//! deployment's Secret, never stored in the database or logged) and the key id
//! (`ZMG_SIGNING_KEY_ID`): HMAC-SHA256(secret, "zmg-signing-key-v1" ‖ 0 ‖ slug ‖ 0 ‖ key id) is
//! the Ed25519 seed. Rotating means a new key id (and, if the secret leaked, a new secret): new
//! checkpoints are signed with the new key, and the old public keys stay in
//! `platform.signing_keys`, so old signatures keep verifying. Only public keys are stored.
//!
//! What a checkpoint signature covers, byte by byte: the UTF-8 parts `zmg-checkpoint-v1`, the
//! tenant's slug, the matter id, the ledger version (decimal), the number of entries covered
//! (decimal) and the root (lowercase hex), each followed by one zero byte. The version is in it,
//! so a signed ledger cannot be passed off as an older, unsigned format.

use secrecy::ExposeSecret;
use std::sync::OnceLock;

use diesel::{prelude::*, sql_types as sql};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::{
    config::Secret,
    error::{ApiError, ApiResult},
    schema::platform::{signing_keys, tenants},
    tenancy::conn::TenantConn,
};

/// The secret used when development mode runs without one: development signatures prove
/// nothing, and the key id says so.
const DEVELOPMENT_SECRET: &str = "zhimaguan-development-signing-secret-not-for-production";

/// How development keys' ids end: `zmg verify-matter` refuses anything they signed.
pub const DEVELOPMENT_SUFFIX: &str = "-development";

/// The platform's signing secret and current key id.
pub struct Keyring {
    secret: Secret,
    key_id: String,
}

static KEYRING: OnceLock<Keyring> = OnceLock::new();

/// A public key as the platform publishes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedKey {
    pub tenant: String,
    pub key_id: String,
    /// The 32-byte Ed25519 public key, lowercase hex.
    pub public_key: String,
}

/// A checkpoint's signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed {
    pub key_id: String,
    /// 64 bytes, lowercase hex.
    pub signature: String,
}

impl Keyring {
    /// From configuration: the secret is required outside development mode.
    pub fn from_config(
        secret: Option<&Secret>,
        key_id: &str,
        dev_mode: bool,
    ) -> anyhow::Result<Keyring> {
        // Key ids appear in signed and logged text: plain names only.
        let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if key_id.is_empty() || key_id.len() > 64 || !key_id.chars().all(plain) {
            anyhow::bail!("ZMG_SIGNING_KEY_ID must be 1 to 64 letters, digits, '.', '_' or '-', got {key_id:?}");
        }
        if key_id.ends_with(DEVELOPMENT_SUFFIX) {
            anyhow::bail!("ZMG_SIGNING_KEY_ID must not end in {DEVELOPMENT_SUFFIX:?}: verifiers refuse keys so named");
        }
        match secret {
            Some(s) if s.expose_secret().len() >= 32 => Ok(Keyring { secret: s.clone(), key_id: key_id.to_string() }),
            Some(_) => anyhow::bail!("ZMG_SIGNING_SECRET must be at least 32 characters (e.g. `openssl rand -hex 32`)"),
            None if dev_mode => Ok(Keyring { secret: Secret::from(DEVELOPMENT_SECRET), key_id: format!("{key_id}{DEVELOPMENT_SUFFIX}") }),
            None => anyhow::bail!("ZMG_SIGNING_SECRET is required: street offices sign their ballot ledgers with keys derived from it"),
        }
    }

    /// Makes this the process's keyring (the first one installed stays: every app in a process
    /// reads the same configuration).
    pub fn install(self) {
        let _ = KEYRING.set(self);
    }

    fn key(&self, tenant: &str) -> SigningKey {
        self.key_with_id(tenant, &self.key_id)
    }

    fn key_with_id(&self, tenant: &str, key_id: &str) -> SigningKey {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.secret.expose_secret().as_bytes())
            .expect("HMAC takes any key length");
        for part in ["zmg-signing-key-v1", tenant, key_id] {
            mac.update(part.as_bytes());
            mac.update(&[0]);
        }
        SigningKey::from_bytes(&mac.finalize().into_bytes().into())
    }

    /// `tenant`'s signature of `message` with the current key.
    pub fn sign(&self, tenant: &str, message: &[u8]) -> Signed {
        Signed {
            key_id: self.key_id.clone(),
            signature: hex::encode(self.key(tenant).sign(message).to_bytes()),
        }
    }

    pub fn public_key(&self, tenant: &str) -> PublishedKey {
        PublishedKey {
            tenant: tenant.to_string(),
            key_id: self.key_id.clone(),
            public_key: hex::encode(self.key(tenant).verifying_key().as_bytes()),
        }
    }
}

fn keyring() -> ApiResult<&'static Keyring> {
    KEYRING
        .get()
        .ok_or_else(|| ApiError::internal("no signing keyring installed"))
}

/// A signature by the street office's current key.
pub fn sign_with(tenant: &str, message: &[u8]) -> ApiResult<Signed> {
    Ok(keyring()?.sign(tenant, message))
}

/// The transparency log's key: its own label and a fixed id, so rotating the street offices'
/// keys (a new key id) leaves it alone. It changes only with the secret.
pub const LOG_TENANT: &str = "@transparency-log";
pub const LOG_KEY_ID: &str = "log-v1";

impl Keyring {
    /// The log key's id: `log-v1`, marked as a development key where the street offices' are.
    fn log_key_id(&self) -> String {
        match self.key_id.ends_with(DEVELOPMENT_SUFFIX) {
            true => format!("{LOG_KEY_ID}{DEVELOPMENT_SUFFIX}"),
            false => LOG_KEY_ID.into(),
        }
    }

    fn log_signing_key(&self) -> SigningKey {
        self.key_with_id(LOG_TENANT, &self.log_key_id())
    }
}

pub fn sign_for_log(message: &[u8]) -> ApiResult<Signed> {
    let keyring = keyring()?;
    let signature = keyring.log_signing_key().sign(message).to_bytes();
    Ok(Signed {
        key_id: keyring.log_key_id(),
        signature: hex::encode(signature),
    })
}

/// The log's public key, as this service derives it (hex).
pub fn log_public_key() -> ApiResult<String> {
    Ok(hex::encode(
        keyring()?.log_signing_key().verifying_key().as_bytes(),
    ))
}

/// The log's key as published beside the street offices' (its `tenant` is `@transparency-log`).
pub fn log_key() -> ApiResult<PublishedKey> {
    Ok(PublishedKey {
        tenant: LOG_TENANT.into(),
        key_id: keyring()?.log_key_id(),
        public_key: log_public_key()?,
    })
}

/// Whether `key` is what this service derives for its street office and key id: a key someone
/// added to the database by hand is not.
pub fn derives(key: &PublishedKey) -> bool {
    keyring().is_ok_and(|k| {
        hex::encode(
            k.key_with_id(&key.tenant, &key.key_id)
                .verifying_key()
                .as_bytes(),
        ) == key.public_key
    })
}

/// The bytes a checkpoint signature covers.
pub fn checkpoint_message(
    tenant: &str,
    matter_id: &str,
    version: u8,
    entries: i64,
    root: &str,
) -> Vec<u8> {
    let mut message = Vec::new();
    for part in [
        "zmg-checkpoint-v1",
        tenant,
        matter_id,
        &version.to_string(),
        &entries.to_string(),
        root,
    ] {
        message.extend_from_slice(part.as_bytes());
        message.push(0);
    }
    message
}

/// Signs a checkpoint of `tenant`'s ledger, first recording the key's public half (in the same
/// transaction) so that the signature is never published before its key.
pub async fn sign_checkpoint(
    conn: &TenantConn,
    tenant_id: uuid::Uuid,
    tenant: &str,
    matter_id: &str,
    version: u8,
    entries: i64,
    root: &str,
) -> ApiResult<Signed> {
    let keyring = keyring()?;
    let public = keyring.public_key(tenant);
    conn.execute(
        diesel::insert_into(signing_keys::table)
            .values((
                signing_keys::tenant_id.eq(tenant_id),
                signing_keys::key_id.eq(&public.key_id),
                signing_keys::public_key.eq(&public.public_key),
            ))
            .on_conflict((signing_keys::tenant_id, signing_keys::key_id))
            .do_nothing(),
    )
    .await?;
    // A statement of its own: it sees a key another transaction recorded meanwhile.
    let stored: String = conn
        .first(
            signing_keys::table
                .filter(signing_keys::tenant_id.eq(tenant_id))
                .filter(signing_keys::key_id.eq(&public.key_id))
                .select(signing_keys::public_key),
        )
        .await?;
    if stored != public.public_key {
        // The secret changed under an old key id: signing now would strand every signature made
        // with the recorded key. Rotation needs a new key id.
        return Err(ApiError::internal(format!("signing key {} of {tenant} differs from the recorded one; set a new ZMG_SIGNING_KEY_ID", public.key_id)));
    }
    Ok(keyring.sign(
        tenant,
        &checkpoint_message(tenant, matter_id, version, entries, root),
    ))
}

/// A published key as stored, with when it was recorded (its street office's slug beside it).
#[derive(Queryable, Selectable)]
#[diesel(table_name = signing_keys, check_for_backend(diesel::pg::Pg))]
struct PublishedKeyRow {
    key_id: String,
    public_key: String,
    recorded_at: chrono::DateTime<chrono::Utc>,
}

/// The published keys of one street office (`Some(slug)`) or of all, oldest first.
pub async fn published_keys(
    db: &crate::db::Conn,
    tenant: Option<&str>,
) -> ApiResult<Vec<(PublishedKey, chrono::DateTime<chrono::Utc>)>> {
    let rows: Vec<(String, PublishedKeyRow)> = db
        .load(
            signing_keys::table
                .inner_join(tenants::table)
                .filter(
                    tenant
                        .into_sql::<sql::Nullable<sql::Text>>()
                        .is_null()
                        .or(tenants::slug.nullable().eq(tenant)),
                )
                .order((
                    tenants::slug,
                    signing_keys::recorded_at,
                    signing_keys::key_id,
                ))
                .select((tenants::slug, PublishedKeyRow::as_select())),
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|(slug, r)| {
            (
                PublishedKey {
                    tenant: slug,
                    key_id: r.key_id,
                    public_key: r.public_key,
                },
                r.recorded_at,
            )
        })
        .collect())
}

/// Whether `signature` (hex) is `key`'s signature of `message`.
pub fn verifies(key: &PublishedKey, message: &[u8], signature: &str) -> bool {
    let parse = || -> Option<(VerifyingKey, Signature)> {
        let key =
            VerifyingKey::from_bytes(&hex::decode(&key.public_key).ok()?.try_into().ok()?).ok()?;
        let signature = Signature::from_bytes(&hex::decode(signature).ok()?.try_into().ok()?);
        Some((key, signature))
    };
    parse().is_some_and(|(key, signature)| key.verify_strict(message, &signature).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring(secret: &str, key_id: &str) -> Keyring {
        Keyring::from_config(Some(&Secret::from(secret)), key_id, false).unwrap()
    }

    #[test]
    fn a_signature_verifies_under_its_tenants_key_only_and_only_for_its_message() {
        let k = keyring(&"s".repeat(32), "k1");
        let message = checkpoint_message("jd", "m1", 5, 3, "ab");
        let signature = k.sign("jd", &message).signature;
        assert!(verifies(&k.public_key("jd"), &message, &signature));
        assert!(
            !verifies(&k.public_key("other"), &message, &signature),
            "each tenant its own key"
        );
        assert!(
            !verifies(
                &k.public_key("jd"),
                &checkpoint_message("jd", "m1", 4, 3, "ab"),
                &signature
            ),
            "the version is signed"
        );
        assert!(
            !verifies(
                &k.public_key("jd"),
                &checkpoint_message("jd", "m1", 5, 2, "ab"),
                &signature
            ),
            "so is the count"
        );
        assert!(
            !verifies(&k.public_key("jd"), &message, "00"),
            "garbage is no signature"
        );
    }

    #[test]
    fn keys_follow_the_secret_and_the_key_id() {
        let a = keyring(&"s".repeat(32), "k1").public_key("jd");
        assert_eq!(
            a,
            keyring(&"s".repeat(32), "k1").public_key("jd"),
            "derived, not random: every replica signs alike"
        );
        assert_ne!(
            a.public_key,
            keyring(&"s".repeat(32), "k2").public_key("jd").public_key,
            "rotation gives a new key"
        );
        assert_ne!(
            a.public_key,
            keyring(&"t".repeat(32), "k1").public_key("jd").public_key
        );
    }

    #[test]
    fn production_needs_a_real_secret_and_development_says_its_key_is_not_one() {
        assert!(Keyring::from_config(None, "k1", false).is_err());
        assert!(Keyring::from_config(Some(&Secret::from("short")), "k1", false).is_err());
        assert_eq!(
            Keyring::from_config(None, "k1", true)
                .unwrap()
                .public_key("jd")
                .key_id,
            "k1-development"
        );
        // A real key may not pass for a development one (verifiers refuse those).
        assert!(
            Keyring::from_config(Some(&Secret::from("s".repeat(32))), "k2-development", false)
                .is_err()
        );
    }
}
