//! The Tencent Cloud FaceID client against a local fake of the service. The fake verifies the
//! TC3-HMAC-SHA256 signature independently (tests/common/tencent_fake.rs), checks the action,
//! version and body fields, and answers DetectAuth and GetDetectInfoEnhanced as Tencent does.

mod common;

use std::sync::{Arc, Mutex};

use common::tencent_fake::{check_signed, error, serve};
use poem::{handler, http::HeaderMap, web::Data, EndpointExt, Route};
use serde_json::{json, Value};
use zhimaguan::{
    config::{Secret, TencentFaceConfig},
    elections::face::{FaceStart, FaceVerifier, TencentFaceId},
};

const SECRET_ID: &str = "AKIDfakefaceid";
const SECRET_KEY: &str = "fake-face-secret-key";
const RULE_ID: &str = "1";
const ID_NUMBER: &str = "11010119900307777X";

/// Tokens the fake hands out / knows the outcome of.
const TOKEN_NEW: &str = "CE661F1A-0F1E-45BD-BE13-34C05CEA7681";
const TOKEN_PASSED: &str = "PASSED-0F1E-45BD-BE13-34C05CEA7681";
const TOKEN_FAILED: &str = "FAILED-0F1E-45BD-BE13-34C05CEA7681";
const TOKEN_EXPIRED: &str = "EXPIRED-0F1E-45BD-BE13-34C05CEA7681";

/// One accepted request: its action, its `X-TC-Region` (if sent) and its body.
#[derive(Clone, Debug)]
struct Request {
    action: String,
    region: Option<String>,
    body: Value,
}

#[derive(Default)]
struct Received(Mutex<Vec<Request>>);

/// The text part of a GetDetectInfoEnhanced reply, as Tencent fills it (name and ID number
/// included, which the client must drop).
fn text(err_code: i64, err_msg: &str) -> Value {
    json!({
        "ErrCode": err_code, "ErrMsg": err_msg, "IdCard": ID_NUMBER, "Name": "王五",
        "OcrNation": null, "OcrAddress": null, "LiveStatus": err_code, "LiveMsg": err_msg,
        "Comparestatus": err_code, "Comparemsg": err_msg, "Sim": "76.52", "Extra": "", "LivenessDetail": []
    })
}

/// Checks what the real service checks, then answers like it.
#[handler]
fn fake_faceid(
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
    let action = h("x-tc-action");
    if !matches!(action.as_str(), "DetectAuth" | "GetDetectInfoEnhanced") {
        return poem::web::Json(error("InvalidAction", "action"));
    }
    if h("x-tc-version") != "2018-03-01" {
        return poem::web::Json(error("NoSuchVersion", "version"));
    }
    if let Err(refused) = check_signed(headers, &body, SECRET_ID, SECRET_KEY, "faceid") {
        return poem::web::Json(refused);
    }
    let payload: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    if payload["RuleId"] != RULE_ID {
        return poem::web::Json(error("InvalidParameterValue.RuleIdNotExist", "RuleId"));
    }
    let region = headers
        .get("x-tc-region")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    received.0 .0.lock().unwrap().push(Request {
        action: action.clone(),
        region,
        body: payload.clone(),
    });
    if action == "DetectAuth" {
        let name_ok = payload["Name"]
            .as_str()
            .is_some_and(|n| !n.is_empty() && n.chars().count() <= 32);
        let id_ok = payload
            .get("IdCard")
            .is_none_or(|v| v.as_str().is_some_and(|s| s.len() == 18));
        let url_ok = payload
            .get("RedirectUrl")
            .is_none_or(|v| v.as_str().is_some_and(|s| s.starts_with("https://")));
        if !(name_ok && id_ok && url_ok) {
            return poem::web::Json(error(
                "InvalidParameterValue",
                "Name, IdCard or RedirectUrl",
            ));
        }
        return poem::web::Json(json!({"Response": {
            "Url": format!("https://kyc.qcloud.com/s/web/h5/#/entry?token={TOKEN_NEW}"),
            "BizToken": TOKEN_NEW,
            "RequestId": "fake-detect-auth"
        }}));
    }
    if payload["InfoType"] != "1" {
        return poem::web::Json(error("InvalidParameterValue", "InfoType"));
    }
    let reply = match payload["BizToken"].as_str().unwrap_or("") {
        TOKEN_PASSED => {
            json!({"Text": text(0, "成功"), "IdCardData": null, "BestFrame": null, "VideoData": null, "RequestId": "fake-result-passed"})
        }
        TOKEN_FAILED => {
            json!({"Text": text(1001, "人脸比对不通过"), "IdCardData": null, "BestFrame": null, "VideoData": null, "RequestId": "fake-result-failed"})
        }
        TOKEN_NEW => {
            json!({"Text": {"ErrCode": null, "ErrMsg": null}, "IdCardData": null, "BestFrame": null, "VideoData": null, "RequestId": "fake-result-pending"})
        }
        TOKEN_EXPIRED => {
            return poem::web::Json(error(
                "InvalidParameterValue.BizTokenExpired",
                "BizToken过期。",
            ))
        }
        _ => {
            return poem::web::Json(error(
                "InvalidParameterValue.BizTokenIllegal",
                "BizToken不合法。",
            ))
        }
    };
    poem::web::Json(json!({"Response": reply}))
}

async fn start_fake() -> (String, Arc<Received>) {
    let received = Arc::new(Received::default());
    (
        serve(
            Route::new()
                .at("/", poem::post(fake_faceid))
                .data(received.clone()),
        )
        .await,
        received,
    )
}

fn config(endpoint: &str, secret_key: &str) -> TencentFaceConfig {
    TencentFaceConfig {
        endpoint: endpoint.to_string(),
        region: "ap-guangzhou".into(),
        secret_id: Secret::from(SECRET_ID),
        secret_key: Secret::from(secret_key),
        rule_id: RULE_ID.into(),
    }
}

fn received(r: &Received) -> Vec<Request> {
    r.0.lock().unwrap().clone()
}

#[tokio::test]
async fn start_returns_the_providers_token_and_url() {
    let (endpoint, got) = start_fake().await;
    let face = TencentFaceId::new(config(&endpoint, SECRET_KEY));
    assert_eq!(face.name(), "tencent");
    let started = face
        .start("王五", Some(ID_NUMBER), "https://zmg.example.cn/face/done")
        .await
        .unwrap();
    assert_eq!(
        started,
        FaceStart {
            biz_token: TOKEN_NEW.into(),
            url: format!("https://kyc.qcloud.com/s/web/h5/#/entry?token={TOKEN_NEW}")
        }
    );
    let got = received(&got);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].action, "DetectAuth");
    assert_eq!(got[0].region.as_deref(), Some("ap-guangzhou"));
    assert_eq!(
        got[0].body,
        json!({"RuleId": RULE_ID, "Name": "王五", "IdCard": ID_NUMBER, "RedirectUrl": "https://zmg.example.cn/face/done"})
    );
}

#[tokio::test]
async fn start_without_id_number_redirect_or_region_leaves_them_out() {
    let (endpoint, got) = start_fake().await;
    let mut cfg = config(&endpoint, SECRET_KEY);
    cfg.region = String::new();
    let started = TencentFaceId::new(cfg)
        .start("王五", None, "")
        .await
        .unwrap();
    assert_eq!(started.biz_token, TOKEN_NEW);
    let got = received(&got);
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].region, None,
        "no X-TC-Region header when none is configured"
    );
    assert_eq!(got[0].body, json!({"RuleId": RULE_ID, "Name": "王五"}));
}

#[tokio::test]
async fn a_passed_verification_gives_the_tencent_reference() {
    let (endpoint, got) = start_fake().await;
    let result = TencentFaceId::new(config(&endpoint, SECRET_KEY))
        .result(TOKEN_PASSED)
        .await
        .unwrap();
    assert!(result.passed, "{result:?}");
    assert_eq!(
        result.reference,
        format!("tencent:{TOKEN_PASSED}:fake-result-passed")
    );
    assert_eq!(result.detail, "");
    assert_eq!(
        result.verified_name.as_deref(),
        Some("王五"),
        "the verified name, to compare with the account's"
    );
    let got = received(&got);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].action, "GetDetectInfoEnhanced");
    assert_eq!(
        got[0].body,
        json!({"BizToken": TOKEN_PASSED, "RuleId": RULE_ID, "InfoType": "1"})
    );
    // Nothing Tencent echoed about the person ends up in what is kept.
    assert!(!format!("{result:?}").contains(ID_NUMBER));
}

#[tokio::test]
async fn a_failed_verification_is_not_passed_and_says_why() {
    let (endpoint, _) = start_fake().await;
    let result = TencentFaceId::new(config(&endpoint, SECRET_KEY))
        .result(TOKEN_FAILED)
        .await
        .unwrap();
    assert!(!result.passed, "{result:?}");
    assert_eq!(
        result.reference,
        format!("tencent:{TOKEN_FAILED}:fake-result-failed")
    );
    assert_eq!(result.detail, "人脸比对不通过");
}

#[tokio::test]
async fn an_unfinished_verification_is_an_error_not_a_failure() {
    let (endpoint, _) = start_fake().await;
    let err = TencentFaceId::new(config(&endpoint, SECRET_KEY))
        .result(TOKEN_NEW)
        .await
        .unwrap_err();
    assert!(err.0.contains("no outcome yet"), "{err}");
}

#[tokio::test]
async fn a_provider_error_is_an_error() {
    let (endpoint, _) = start_fake().await;
    let err = TencentFaceId::new(config(&endpoint, SECRET_KEY))
        .result(TOKEN_EXPIRED)
        .await
        .unwrap_err();
    assert!(
        err.0.contains("InvalidParameterValue.BizTokenExpired"),
        "{err}"
    );
    assert!(err.0.contains("BizToken过期"), "{err}");
}

#[tokio::test]
async fn a_wrong_secret_is_rejected_by_the_signature_check() {
    let (endpoint, got) = start_fake().await;
    let face = TencentFaceId::new(config(&endpoint, "wrong-key"));
    let err = face.start("王五", Some(ID_NUMBER), "").await.unwrap_err();
    assert!(err.0.contains("AuthFailure.SignatureFailure"), "{err}");
    assert!(
        !err.0.contains(ID_NUMBER) && !err.0.contains("wrong-key"),
        "{err}"
    );
    let err = face.result(TOKEN_PASSED).await.unwrap_err();
    assert!(err.0.contains("AuthFailure.SignatureFailure"), "{err}");
    assert!(received(&got).is_empty(), "nothing was accepted");
}

#[tokio::test]
async fn an_unreachable_provider_is_an_error() {
    // Bind then drop a listener so the port is (almost certainly) closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = TencentFaceId::new(config(&format!("http://127.0.0.1:{port}"), SECRET_KEY))
        .start("王五", None, "")
        .await
        .unwrap_err();
    assert!(err.0.contains("unreachable"), "{err}");
}
