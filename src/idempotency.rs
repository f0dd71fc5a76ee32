//! The key that makes a write happen once: sent in the `Idempotency-Key` header (the IETF
//! httpapi draft of that name), or, deprecated, in the body's `idempotency_key`.

use crate::error::{ApiError, ApiResult};

pub const HEADER: &str = "Idempotency-Key";
pub const MAX_LEN: usize = 100;

/// The key from the header or the body (trimmed); both given must agree.
pub fn key(header: Option<&str>, body: Option<&str>) -> ApiResult<Option<String>> {
    let clean = |v: Option<&str>| {
        v.map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let (header, body) = (clean(header), clean(body));
    if let (Some(h), Some(b)) = (&header, &body) {
        if h != b {
            return Err(ApiError::field(
                HEADER,
                "idempotency.conflict",
                "请求头 Idempotency-Key 与请求体中的 idempotency_key 不一致，请只用请求头",
                "The Idempotency-Key header and the body's idempotency_key differ; send the header only",
            ));
        }
    }
    let key = header.or(body);
    if key.as_ref().is_some_and(|k| k.chars().count() > MAX_LEN) {
        return Err(ApiError::field(
            HEADER,
            "idempotency.key_invalid",
            format!("Idempotency-Key 最多 {MAX_LEN} 个字符"),
            format!("Idempotency-Key takes at most {MAX_LEN} characters"),
        ));
    }
    Ok(key)
}

/// The key a ballot must carry: without one a retry could not be told from a second ballot.
pub fn required(header: Option<&str>, body: Option<&str>) -> ApiResult<String> {
    key(header, body)?.ok_or_else(|| {
        ApiError::field(
            HEADER,
            "ballot.key_invalid",
            "请在请求头 Idempotency-Key 中提供 1–100 个字符的请求标识，重试时使用同一标识",
            "Send an Idempotency-Key header of 1–100 characters, the same one on every retry",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_or_body_and_never_two_different_keys() {
        assert_eq!(key(Some(" k1 "), None).unwrap().as_deref(), Some("k1"));
        assert_eq!(key(None, Some("k2")).unwrap().as_deref(), Some("k2"));
        assert_eq!(key(Some("k"), Some("k")).unwrap().as_deref(), Some("k"));
        assert_eq!(key(Some(" "), None).unwrap(), None);
        assert_eq!(
            key(Some("a"), Some("b")).unwrap_err().code,
            "request.validation_failed"
        );
        assert!(key(Some(&"键".repeat(101)), None).is_err());
        assert!(required(None, Some("")).is_err());
    }
}
