//! Face verification (人脸核身) of a voter before an owners'-committee election ballot, behind one
//! trait: a development provider and Tencent Cloud FaceID. (The in-person check recorded by staff,
//! which the law also allows, lives elsewhere.)
//!
//! Only the provider's result reference is kept; face images never reach this service: the
//! result is fetched as text only (`InfoType` "1"). Names, ID numbers and secrets are never
//! logged, and the errors built here do not contain them.

use secrecy::ExposeSecret;
use std::sync::Arc;

use crate::{
    config::TencentFaceConfig,
    tencent_cloud::{self, Call, CallError},
};

pub const SERVICE: &str = "faceid";
pub const VERSION: &str = "2018-03-01";
pub const START_ACTION: &str = "DetectAuth";
pub const RESULT_ACTION: &str = "GetDetectInfoEnhanced";
/// `InfoType` of GetDetectInfoEnhanced: "1" is the text results only. ("0" would also return the
/// ID-card photos, the best video frame and the video, which this service must not receive.)
pub const RESULT_INFO_TYPE: &str = "1";

#[derive(Clone, Debug, PartialEq)]
pub struct FaceError(pub String);

impl std::fmt::Display for FaceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FaceError {}

/// A verification under way.
#[derive(Clone, Debug, PartialEq)]
pub struct FaceStart {
    /// The provider's handle of this verification; `result` takes it.
    pub biz_token: String,
    /// Where the mini-program/H5 runs the check (empty when the provider gives none, as Tencent
    /// does outside the WeChat H5 flow); for the development provider a fake URL.
    pub url: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FaceResult {
    pub passed: bool,
    /// provider's reference for the audit trail (e.g. "tencent:<BizToken>:<RequestId>")
    pub reference: String,
    /// provider's short reason when not passed
    pub detail: String,
    /// The name the provider verified (compared with the account's real name, then dropped;
    /// `None` where the provider does not say, as the development provider).
    pub verified_name: Option<String>,
}

#[async_trait::async_trait]
pub trait FaceVerifier: Send + Sync {
    /// Starts a verification of the person named `real_name` (with their ID number when known);
    /// `redirect_url` is where the H5 flow returns when done (may be empty).
    async fn start(
        &self,
        real_name: &str,
        id_number: Option<&str>,
        redirect_url: &str,
    ) -> Result<FaceStart, FaceError>;
    /// The outcome of a finished verification. An error means no outcome (unreachable provider,
    /// provider error, or the person has not finished yet), not a failed check.
    async fn result(&self, biz_token: &str) -> Result<FaceResult, FaceError>;
    fn name(&self) -> &'static str;
}

/// Development provider: every verification it starts passes, except a token ending in `-fail`
/// (tests make one to simulate a failed check).
pub struct DevFaceVerifier;

#[async_trait::async_trait]
impl FaceVerifier for DevFaceVerifier {
    async fn start(
        &self,
        _real_name: &str,
        _id_number: Option<&str>,
        _redirect_url: &str,
    ) -> Result<FaceStart, FaceError> {
        let biz_token = format!("dev-{}", uuid::Uuid::new_v4());
        let url = format!("https://face.dev.invalid/{biz_token}");
        Ok(FaceStart { biz_token, url })
    }

    async fn result(&self, biz_token: &str) -> Result<FaceResult, FaceError> {
        let ours = biz_token.starts_with("dev-");
        let passed = ours && !biz_token.ends_with("-fail");
        let detail = if passed {
            String::new()
        } else if ours {
            "simulated failure".to_string()
        } else {
            "not a development token".to_string()
        };
        Ok(FaceResult {
            passed,
            reference: format!("dev:{biz_token}"),
            detail,
            verified_name: None,
        })
    }

    fn name(&self) -> &'static str {
        "dev"
    }
}

/// Tencent Cloud FaceID (人脸核身, API 3.0, version 2018-03-01): DetectAuth starts a verification,
/// GetDetectInfoEnhanced reads its outcome.
pub struct TencentFaceId {
    config: TencentFaceConfig,
    http: reqwest::Client,
}

impl TencentFaceId {
    pub fn new(config: TencentFaceConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .expect("http client");
        Self { config, http }
    }

    /// Calls `action` and returns the reply's `Response`.
    async fn post(
        &self,
        action: &str,
        payload: serde_json::Value,
    ) -> Result<serde_json::Value, FaceError> {
        let call = Call {
            endpoint: &self.config.endpoint,
            region: Some(self.config.region.as_str()).filter(|r| !r.is_empty()),
            secret_id: self.config.secret_id.expose_secret(),
            secret_key: self.config.secret_key.expose_secret(),
            service: SERVICE,
            action,
            version: VERSION,
        };
        tencent_cloud::post(&self.http, &call, payload.to_string())
            .await
            .map_err(|e| match e {
                CallError::Unreachable(e) => FaceError(format!("tencent faceid unreachable: {e}")),
                CallError::BadReply(e) => FaceError(format!("tencent faceid reply: {e}")),
                CallError::Api(e) => FaceError(format!(
                    "tencent faceid error {}: {} (request {})",
                    e.code, e.message, e.request_id
                )),
            })
    }
}

#[async_trait::async_trait]
impl FaceVerifier for TencentFaceId {
    async fn start(
        &self,
        real_name: &str,
        id_number: Option<&str>,
        redirect_url: &str,
    ) -> Result<FaceStart, FaceError> {
        let mut payload = serde_json::json!({
            "RuleId": self.config.rule_id,
            "Name": real_name,
        });
        if let Some(id_number) = id_number.filter(|s| !s.is_empty()) {
            payload["IdCard"] = serde_json::Value::from(id_number);
        }
        if !redirect_url.is_empty() {
            payload["RedirectUrl"] = serde_json::Value::from(redirect_url);
        }
        let response = self.post(START_ACTION, payload).await?;
        let biz_token = match response["BizToken"].as_str() {
            Some(token) if !token.is_empty() => token.to_string(),
            _ => {
                return Err(FaceError(format!(
                    "tencent faceid: {START_ACTION} reply has no BizToken"
                )))
            }
        };
        let url = response["Url"].as_str().unwrap_or_default().to_string();
        Ok(FaceStart { biz_token, url })
    }

    async fn result(&self, biz_token: &str) -> Result<FaceResult, FaceError> {
        let payload = serde_json::json!({
            "BizToken": biz_token,
            "RuleId": self.config.rule_id,
            "InfoType": RESULT_INFO_TYPE,
        });
        let response = self.post(RESULT_ACTION, payload).await?;
        let request_id = response["RequestId"].as_str().unwrap_or_default();
        let reference = format!("tencent:{biz_token}:{request_id}");
        // ErrCode/ErrMsg and the verified name are read (the name only to compare it with the
        // account's); the ID number Tencent echoes in `Text` is dropped.
        let text = &response["Text"];
        let message = text["ErrMsg"].as_str().unwrap_or_default();
        let verified_name = text["Name"]
            .as_str()
            .filter(|n| !n.is_empty())
            .map(str::to_owned);
        match text["ErrCode"].as_i64() {
            Some(0) => Ok(FaceResult {
                passed: true,
                reference,
                detail: String::new(),
                verified_name,
            }),
            Some(code) => {
                let detail = if message.is_empty() {
                    format!("error code {code}")
                } else {
                    message.to_string()
                };
                Ok(FaceResult {
                    passed: false,
                    reference,
                    detail,
                    verified_name,
                })
            }
            None => Err(FaceError(format!(
                "tencent faceid: no outcome yet for this verification (request {request_id})"
            ))),
        }
    }

    fn name(&self) -> &'static str {
        "tencent"
    }
}

/// `tencent` → Tencent Cloud FaceID; anything else → the development provider.
pub fn from_config(provider: &str, tencent: &TencentFaceConfig) -> Arc<dyn FaceVerifier> {
    match provider {
        "tencent" => Arc::new(TencentFaceId::new(tencent.clone())),
        _ => Arc::new(DevFaceVerifier),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_dev_provider_starts_with_a_dev_token_and_a_fake_url() {
        let started = DevFaceVerifier
            .start(
                "王五",
                Some("110101199003077777"),
                "https://example.invalid/back",
            )
            .await
            .unwrap();
        assert!(started.biz_token.starts_with("dev-"), "{started:?}");
        assert_eq!(
            started.url,
            format!("https://face.dev.invalid/{}", started.biz_token)
        );
        let again = DevFaceVerifier.start("王五", None, "").await.unwrap();
        assert_ne!(
            again.biz_token, started.biz_token,
            "every verification gets its own token"
        );
    }

    #[tokio::test]
    async fn the_dev_provider_passes_its_own_tokens() {
        let started = DevFaceVerifier.start("王五", None, "").await.unwrap();
        let result = DevFaceVerifier.result(&started.biz_token).await.unwrap();
        assert_eq!(
            result,
            FaceResult {
                passed: true,
                reference: format!("dev:{}", started.biz_token),
                detail: String::new(),
                verified_name: None
            }
        );
    }

    #[tokio::test]
    async fn the_dev_provider_fails_a_fail_token_and_a_foreign_one() {
        let failed = DevFaceVerifier.result("dev-1234-fail").await.unwrap();
        assert!(!failed.passed);
        assert_eq!(failed.reference, "dev:dev-1234-fail");
        assert!(!failed.detail.is_empty());

        let foreign = DevFaceVerifier.result("tencent-token").await.unwrap();
        assert!(!foreign.passed);
        assert_eq!(foreign.reference, "dev:tencent-token");
    }

    #[test]
    fn the_provider_follows_the_config() {
        let tencent = TencentFaceConfig::default();
        assert_eq!(from_config("tencent", &tencent).name(), "tencent");
        assert_eq!(from_config("dev", &tencent).name(), "dev");
        assert_eq!(from_config("", &tencent).name(), "dev");
    }
}
