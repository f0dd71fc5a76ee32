//! Opaque bearer tokens. The token names its issuer (a tenant id or the platform) so a token
//! shown to another tenant is refused outright; only its SHA-256 is stored.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

#[derive(Debug, PartialEq, Eq)]
pub enum Issuer {
    Tenant(Uuid),
    Platform,
}

pub fn new_tenant_token(tenant: Uuid) -> String {
    format!("t1.{}.{}", tenant.simple(), secret())
}

pub fn new_platform_token() -> String {
    format!("p1.{}", secret())
}

fn secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

pub fn issuer(token: &str) -> Option<Issuer> {
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("t1"), Some(tenant), Some(s), None) if !s.is_empty() => {
            Uuid::parse_str(tenant).ok().map(Issuer::Tenant)
        }
        (Some("p1"), Some(s), None, None) if !s.is_empty() => Some(Issuer::Platform),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_their_issuer() {
        let t = Uuid::new_v4();
        assert_eq!(issuer(&new_tenant_token(t)), Some(Issuer::Tenant(t)));
        assert_eq!(issuer(&new_platform_token()), Some(Issuer::Platform));
        assert_eq!(issuer("garbage"), None);
        assert_eq!(issuer("t1.notauuid.x"), None);
        assert_ne!(new_platform_token(), new_platform_token());
        assert_eq!(hash("a").len(), 32);
    }
}
