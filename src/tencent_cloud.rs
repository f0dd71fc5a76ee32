//! Tencent Cloud API 3.0, shared by the SMS and FaceID clients: TC3-HMAC-SHA256 signing as
//! documented at https://cloud.tencent.com/document/api/382/52072 (签名方法 v3), and one signed
//! JSON POST to a service endpoint.
//!
//! Only the public request headers and the signature leave this module; the secret key and the
//! payload (which may hold names and ID numbers) are never logged.

use chrono::{TimeZone, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

pub const CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// What is signed: the parts of one POST request.
pub struct SignInput<'a> {
    pub secret_id: &'a str,
    pub secret_key: &'a str,
    pub service: &'a str,
    pub host: &'a str,
    pub timestamp: i64,
    pub payload: &'a str,
}

fn hmac(key: &[u8], msg: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("hmac accepts any key length");
    mac.update(msg.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// The `Authorization` header value for a POST / with JSON body, signing content-type and host.
pub fn authorization(input: &SignInput) -> String {
    let date = Utc
        .timestamp_opt(input.timestamp, 0)
        .single()
        .expect("valid timestamp")
        .format("%Y-%m-%d")
        .to_string();
    let signed_headers = "content-type;host";
    let canonical_request = format!(
        "POST\n/\n\ncontent-type:{CONTENT_TYPE}\nhost:{}\n\n{signed_headers}\n{}",
        input.host,
        sha256_hex(input.payload)
    );
    let scope = format!("{date}/{}/tc3_request", input.service);
    let string_to_sign = format!(
        "TC3-HMAC-SHA256\n{}\n{scope}\n{}",
        input.timestamp,
        sha256_hex(&canonical_request)
    );
    let k_date = hmac(format!("TC3{}", input.secret_key).as_bytes(), &date);
    let k_service = hmac(&k_date, input.service);
    let k_signing = hmac(&k_service, "tc3_request");
    let signature = hex::encode(hmac(&k_signing, &string_to_sign));
    format!("TC3-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}", input.secret_id)
}

/// The `Host` an endpoint URL names (`https://sms.tencentcloudapi.com/` → `sms.tencentcloudapi.com`).
pub fn host_of(endpoint: &str) -> String {
    let without_scheme = endpoint.split("://").nth(1).unwrap_or(endpoint);
    without_scheme.trim_end_matches('/').to_string()
}

/// One API action of one service, with the credentials to call it.
pub struct Call<'a> {
    /// e.g. `https://faceid.tencentcloudapi.com`; the signed host is taken from it.
    pub endpoint: &'a str,
    /// Sent as `X-TC-Region` when given (some actions, e.g. FaceID's, take none).
    pub region: Option<&'a str>,
    pub secret_id: &'a str,
    pub secret_key: &'a str,
    /// e.g. `sms`, `faceid`: part of the credential scope.
    pub service: &'a str,
    pub action: &'a str,
    pub version: &'a str,
}

/// `Response.Error` of a reply.
#[derive(Clone, Debug, PartialEq)]
pub struct ResponseError {
    pub code: String,
    pub message: String,
    pub request_id: String,
}

#[derive(Debug)]
pub enum CallError {
    /// The endpoint could not be reached (connection, TLS, timeout).
    Unreachable(reqwest::Error),
    /// The reply was not JSON.
    BadReply(reqwest::Error),
    /// Tencent answered with `Response.Error`.
    Api(ResponseError),
}

/// POSTs `payload` (a JSON document) signed with TC3-HMAC-SHA256 and returns the reply's
/// `Response` object (`Null` if the reply had none), or its `Response.Error`.
pub async fn post(
    http: &reqwest::Client,
    call: &Call<'_>,
    payload: String,
) -> Result<serde_json::Value, CallError> {
    let timestamp = Utc::now().timestamp();
    let host = host_of(call.endpoint);
    let auth = authorization(&SignInput {
        secret_id: call.secret_id,
        secret_key: call.secret_key,
        service: call.service,
        host: &host,
        timestamp,
        payload: &payload,
    });
    let mut request = http
        .post(call.endpoint)
        .header("Authorization", auth)
        .header("Content-Type", CONTENT_TYPE)
        .header("Host", &host)
        .header("X-TC-Action", call.action)
        .header("X-TC-Version", call.version)
        .header("X-TC-Timestamp", timestamp.to_string());
    if let Some(region) = call.region {
        request = request.header("X-TC-Region", region);
    }
    let response = request
        .body(payload)
        .send()
        .await
        .map_err(CallError::Unreachable)?;
    let mut body: serde_json::Value = response.json().await.map_err(CallError::BadReply)?;
    let response = body
        .get_mut("Response")
        .map(serde_json::Value::take)
        .unwrap_or(serde_json::Value::Null);
    if let Some(err) = response.get("Error") {
        let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
        return Err(CallError::Api(ResponseError {
            code: text(&err["Code"]),
            message: text(&err["Message"]),
            request_id: text(&response["RequestId"]),
        }));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example from Tencent Cloud's "签名方法 v3" page (CVM DescribeInstances, with
    /// the page's masked example key), whose published signature is 2230eefd…652c.
    #[test]
    fn signs_the_published_example() {
        let payload = r#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
        let auth = authorization(&SignInput {
            secret_id: "AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******",
            secret_key: "Gu5t9xGARNpq86cd98joQYCN3*******",
            service: "cvm",
            host: "cvm.tencentcloudapi.com",
            timestamp: 1551113065,
            payload,
        });
        assert_eq!(
            auth,
            "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/cvm/tc3_request, \
             SignedHeaders=content-type;host, \
             Signature=2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"
        );
    }

    #[test]
    fn the_host_is_the_endpoint_without_scheme_or_trailing_slash() {
        assert_eq!(
            host_of("https://faceid.tencentcloudapi.com/"),
            "faceid.tencentcloudapi.com"
        );
        assert_eq!(host_of("http://127.0.0.1:8080"), "127.0.0.1:8080");
        assert_eq!(
            host_of("sms.tencentcloudapi.com"),
            "sms.tencentcloudapi.com"
        );
    }
}
