//! Tencent Cloud SMS (API 3.0, action SendSms, version 2021-01-11), signed with TC3-HMAC-SHA256
//! by the shared [`crate::tencent_cloud`] client.

use super::{SmsError, SmsSender};
use crate::{
    config::TencentSmsConfig,
    tenancy::conn::TenantConn,
    tencent_cloud::{self, Call, CallError},
};
use secrecy::ExposeSecret;

pub const SERVICE: &str = "sms";
pub const ACTION: &str = "SendSms";
pub const VERSION: &str = "2021-01-11";

pub struct TencentSms {
    config: TencentSmsConfig,
    http: reqwest::Client,
}

impl TencentSms {
    pub fn new(config: TencentSmsConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .expect("http client");
        Self { config, http }
    }

    /// A verification code (the code template: the code and its minutes of validity).
    pub async fn send(&self, phone: &str, code: &str) -> Result<(), SmsError> {
        self.send_template(phone, &self.config.template_id, &[code, "5"])
            .await
    }

    /// A paper ballot's receipt code (the receipt template: the code).
    pub async fn send_receipt_code(&self, phone: &str, receipt_code: &str) -> Result<(), SmsError> {
        self.send_template(phone, &self.config.receipt_template_id, &[receipt_code])
            .await
    }

    async fn send_template(
        &self,
        phone: &str,
        template_id: &str,
        params: &[&str],
    ) -> Result<(), SmsError> {
        let payload = serde_json::json!({
            "PhoneNumberSet": [format!("+86{phone}")],
            "SmsSdkAppId": self.config.sdk_app_id,
            "SignName": self.config.sign_name,
            "TemplateId": template_id,
            "TemplateParamSet": params,
        })
        .to_string();
        let call = Call {
            endpoint: &self.config.endpoint,
            region: Some(self.config.region.as_str()),
            secret_id: self.config.secret_id.expose_secret(),
            secret_key: self.config.secret_key.expose_secret(),
            service: SERVICE,
            action: ACTION,
            version: VERSION,
        };
        let response = match tencent_cloud::post(&self.http, &call, payload).await {
            Ok(response) => response,
            Err(CallError::Unreachable(e)) => {
                return Err(SmsError(format!("tencent sms unreachable: {e}")))
            }
            Err(CallError::BadReply(e)) => return Err(SmsError(format!("tencent sms reply: {e}"))),
            Err(CallError::Api(err)) => {
                let (code, message) = (
                    serde_json::Value::from(err.code),
                    serde_json::Value::from(err.message),
                );
                return Err(SmsError(format!("tencent sms error {code}: {message}")));
            }
        };
        match response["SendStatusSet"][0]["Code"].as_str() {
            Some("Ok") => Ok(()),
            other => Err(SmsError(format!("tencent sms refused: {other:?}"))),
        }
    }
}

#[async_trait::async_trait]
impl SmsSender for TencentSms {
    async fn send_code(&self, _conn: &TenantConn, phone: &str, code: &str) -> Result<(), SmsError> {
        self.send(phone, code).await
    }

    async fn send_receipt(
        &self,
        _conn: &TenantConn,
        phone: &str,
        receipt_code: &str,
    ) -> Result<(), SmsError> {
        self.send_receipt_code(phone, receipt_code).await
    }
}
