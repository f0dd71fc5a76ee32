//! The Tencent Cloud SMS client against a local fake of the service. The fake verifies the
//! TC3-HMAC-SHA256 signature with its own implementation of Tencent's documented algorithm
//! (tests/common/tencent_fake.rs), checked here against the published worked example, and
//! answers as Tencent does.

mod common;

use std::sync::{Arc, Mutex};

use common::tencent_fake::{check_signed, error, serve, tc3_signature};
use poem::{handler, http::HeaderMap, web::Data, EndpointExt, Route};
use reqwest::Method;
use serde_json::{json, Value};
use zhimaguan::{
    auth::sms::tencent::TencentSms,
    config::{Secret, TencentSmsConfig},
};

const SECRET_ID: &str = "AKIDfaketestid";
const SECRET_KEY: &str = "fake-test-secret-key";

#[test]
fn the_fakes_verifier_reproduces_the_published_example() {
    let payload =
        r#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
    let sig = tc3_signature(
        "Gu5t9xGARNpq86cd98joQYCN3*******",
        "cvm",
        1551113065,
        "content-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n",
        "content-type;host",
        payload,
    );
    assert_eq!(
        sig,
        "2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"
    );
}

#[derive(Default)]
struct Received(Mutex<Vec<Value>>);

/// Checks what the real service checks, then answers like it.
#[handler]
fn fake_tencent(
    headers: &HeaderMap,
    body: String,
    received: Data<&Arc<Received>>,
) -> poem::web::Json<Value> {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    if h("x-tc-action") != "SendSms"
        || h("x-tc-version") != "2021-01-11"
        || h("x-tc-region").is_empty()
    {
        return poem::web::Json(error("InvalidParameter", "action, version or region"));
    }
    if let Err(refused) = check_signed(headers, &body, SECRET_ID, SECRET_KEY, "sms") {
        return poem::web::Json(refused);
    }
    let payload: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let phone = payload["PhoneNumberSet"][0]
        .as_str()
        .unwrap_or("")
        .to_string();
    // The code template takes the code and its minutes; the receipt template the receipt code.
    let params = payload["TemplateParamSet"].as_array().map_or(0, Vec::len);
    let template_fits = matches!(
        (payload["TemplateId"].as_str(), params),
        (Some("100001"), 2) | (Some("100002"), 1)
    );
    if !phone.starts_with("+86")
        || payload["SmsSdkAppId"] != "1400000000"
        || !template_fits
        || payload["SignName"] != "芝麻官"
    {
        return poem::web::Json(error("InvalidParameterValue", "payload"));
    }
    received.0 .0.lock().unwrap().push(payload);
    poem::web::Json(json!({"Response": {
        "SendStatusSet": [{"SerialNo": "5000:1", "PhoneNumber": phone, "Fee": 1, "SessionContext": "", "Code": "Ok", "Message": "send success", "IsoCode": "CN"}],
        "RequestId": "fake"
    }}))
}

async fn start_fake() -> (String, Arc<Received>) {
    let received = Arc::new(Received::default());
    (
        serve(
            Route::new()
                .at("/", poem::post(fake_tencent))
                .data(received.clone()),
        )
        .await,
        received,
    )
}

fn config(endpoint: &str, secret_key: &str) -> TencentSmsConfig {
    TencentSmsConfig {
        endpoint: endpoint.to_string(),
        region: "ap-guangzhou".into(),
        secret_id: Secret::from(SECRET_ID),
        secret_key: Secret::from(secret_key),
        sdk_app_id: "1400000000".into(),
        sign_name: "芝麻官".into(),
        template_id: "100001".into(),
        receipt_template_id: "100002".into(),
    }
}

#[tokio::test]
async fn a_correctly_signed_request_is_accepted_and_a_wrong_key_is_not() {
    let (endpoint, received) = start_fake().await;
    TencentSms::new(config(&endpoint, SECRET_KEY))
        .send("13812345678", "123456")
        .await
        .unwrap();
    let got = received.0.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["PhoneNumberSet"][0], "+8613812345678");
    assert_eq!(got[0]["TemplateParamSet"][0], "123456");

    let err = TencentSms::new(config(&endpoint, "wrong-key"))
        .send("13812345678", "123456")
        .await
        .unwrap_err();
    assert!(err.0.contains("AuthFailure.SignatureFailure"), "{err}");
}

#[tokio::test]
async fn the_app_sends_verification_codes_through_tencent_when_configured() {
    let (endpoint, received) = start_fake().await;
    let mut cfg = common::test_config();
    cfg.sms.provider = "tencent".into();
    cfg.sms.tencent = config(&endpoint, SECRET_KEY);
    let app = common::TestApp::start_with(cfg).await;
    let t = app.tenant().await;
    let phone = common::phone();
    let (s, b) = app
        .call(
            Method::POST,
            "/api/auth/sms-codes",
            Some(&t.tenant.slug),
            None,
            Some(json!({"phone": phone, "purpose": "register"})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let got = received.0.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let code = got[0]["TemplateParamSet"][0].as_str().unwrap().to_string();
    assert_eq!(code.len(), 6);
    // The code Tencent delivered registers the owner; nothing went to the development outbox.
    let (s, b) = app
        .call(
            Method::POST,
            "/api/owners/register",
            Some(&t.tenant.slug),
            None,
            Some(json!({"real_name": "王五", "phone": phone, "sms_code": code, "password": "Passw0rd", "accept_agreement": true})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let conn = app.conn(&t.tenant).await;
    let n: i64 = conn
        .query_one("SELECT count(*) FROM sms_outbox", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
}

#[tokio::test]
async fn a_receipt_code_goes_through_the_receipt_template() {
    let (endpoint, received) = start_fake().await;
    TencentSms::new(config(&endpoint, SECRET_KEY))
        .send_receipt_code("13812345678", "ab12-cd34-ef56-7890")
        .await
        .unwrap();
    let got = received.0.lock().unwrap().clone();
    assert_eq!(
        (
            got.len(),
            &got[0]["TemplateId"],
            &got[0]["TemplateParamSet"]
        ),
        (1, &json!("100002"), &json!(["ab12-cd34-ef56-7890"]))
    );
}

#[tokio::test]
async fn a_provider_failure_is_a_503_and_no_code_is_kept() {
    let (endpoint, _) = start_fake().await;
    let mut cfg = common::test_config();
    cfg.sms.provider = "tencent".into();
    cfg.sms.tencent = config(&endpoint, "wrong-key");
    let app = common::TestApp::start_with(cfg).await;
    let t = app.tenant().await;
    let phone = common::phone();
    let (s, b) = app
        .call(
            Method::POST,
            "/api/auth/sms-codes",
            Some(&t.tenant.slug),
            None,
            Some(json!({"phone": phone, "purpose": "register"})),
        )
        .await;
    assert_eq!((s, b["code"].as_str()), (503, Some("sms.unavailable")));
    let conn = app.conn(&t.tenant).await;
    let n: i64 = conn
        .query_one("SELECT count(*) FROM sms_codes WHERE phone = $1", &[&phone])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        n, 0,
        "a code nobody received must not block the resend interval"
    );
}
