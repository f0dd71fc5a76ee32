//! What every fake Tencent Cloud API needs: its own TC3-HMAC-SHA256 check, written from
//! Tencent's documentation and not with the crate's signer (tests/sms_tencent.rs checks it
//! against the published worked example), Tencent's error shape, and a server on a free port.

use chrono::{TimeZone, Utc};
use hmac::{Hmac, Mac};
use poem::{http::HeaderMap, listener::TcpListener, Endpoint, IntoEndpoint};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

fn hmac256(key: &[u8], msg: &str) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(msg.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// Tencent's documented signature for a POST with the given signed headers.
pub fn tc3_signature(
    secret_key: &str,
    service: &str,
    timestamp: i64,
    canonical_headers: &str,
    signed_headers: &str,
    payload: &str,
) -> String {
    let date = Utc
        .timestamp_opt(timestamp, 0)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string();
    let canonical = format!(
        "POST\n/\n\n{canonical_headers}\n{signed_headers}\n{}",
        hex::encode(Sha256::digest(payload))
    );
    let to_sign = format!(
        "TC3-HMAC-SHA256\n{timestamp}\n{date}/{service}/tc3_request\n{}",
        hex::encode(Sha256::digest(&canonical))
    );
    let k = hmac256(
        &hmac256(
            &hmac256(format!("TC3{secret_key}").as_bytes(), &date),
            service,
        ),
        "tc3_request",
    );
    hex::encode(hmac256(&k, &to_sign))
}

/// Tencent's reply to a refused request.
pub fn error(code: &str, message: &str) -> Value {
    json!({"Response": {"Error": {"Code": code, "Message": message}, "RequestId": "fake-error-request"}})
}

/// Checks a request's timestamp and TC3 `Authorization` as Tencent does; `Err` is the reply.
pub fn check_signed(
    headers: &HeaderMap,
    body: &str,
    secret_id: &str,
    secret_key: &str,
    service: &str,
) -> Result<(), Value> {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let Ok(timestamp) = h("x-tc-timestamp").parse::<i64>() else {
        return Err(error("MissingParameter", "X-TC-Timestamp"));
    };
    let date = Utc
        .timestamp_opt(timestamp, 0)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string();
    let prefix = format!("TC3-HMAC-SHA256 Credential={secret_id}/{date}/{service}/tc3_request, SignedHeaders=content-type;host, Signature=");
    let canonical_headers = format!("content-type:{}\nhost:{}\n", h("content-type"), h("host"));
    let expected = tc3_signature(
        secret_key,
        service,
        timestamp,
        &canonical_headers,
        "content-type;host",
        body,
    );
    if h("authorization") != format!("{prefix}{expected}") {
        return Err(error(
            "AuthFailure.SignatureFailure",
            "The provided credentials could not be validated.",
        ));
    }
    Ok(())
}

/// Serves `app` on 127.0.0.1 at a free port; returns its base URL.
pub async fn serve(
    app: impl IntoEndpoint<Endpoint: Endpoint + 'static> + Send + 'static,
) -> String {
    let acceptor = poem::listener::Listener::into_acceptor(TcpListener::bind("127.0.0.1:0"))
        .await
        .unwrap();
    let addr = poem::listener::Acceptor::local_addr(&acceptor)[0]
        .as_socket_addr()
        .copied()
        .unwrap();
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    format!("http://{addr}")
}
