//! Attachments on the local store and on the real S3-compatible server.

mod common;

use common::{phone, test_config, TestApp};
use reqwest::{multipart, Method};
use sha2::{Digest, Sha256};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\x0f\0\0\x01\x01\0\x05\x18\xd8N\0\0\0\0IEND\xaeB`\x82";

fn pdf() -> Vec<u8> {
    let mut v = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n".to_vec();
    v.extend(std::iter::repeat_n(b'x', 3000));
    v.extend(b"\n%%EOF\n");
    v
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn form(purpose: &str, name: &str, bytes: Vec<u8>) -> multipart::Form {
    multipart::Form::new()
        .text("purpose", purpose.to_string())
        .part(
            "file",
            multipart::Part::bytes(bytes).file_name(name.to_string()),
        )
}

async fn upload(
    app: &TestApp,
    slug: &str,
    token: &str,
    form: multipart::Form,
) -> (u16, serde_json::Value) {
    let resp = app
        .request(Method::POST, "/api/attachments", Some(slug), Some(token))
        .multipart(form)
        .send()
        .await
        .unwrap();
    common::read(resp).await
}

async fn count_rows(app: &TestApp, t: &zhimaguan::tenancy::Tenant) -> i64 {
    let conn = app.conn(t).await;
    let n = conn
        .query_one("SELECT count(*) FROM attachments", &[])
        .await
        .unwrap()
        .get(0);
    conn.commit().await.unwrap();
    n
}

#[tokio::test]
async fn round_trip_on_the_local_store_with_access_checks() {
    let app = TestApp::start().await;
    let t = app.tenant().await;
    let slug = t.tenant.slug.as_str();
    let owner = app.owner(&t.tenant, &phone(), "Passw0rd").await;
    let (s, b) = upload(
        &app,
        slug,
        &owner,
        form("proof", "房产证.png", PNG.to_vec()),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["content_type"], "image/png");
    assert_eq!(b["file_name"], "房产证.png");
    assert_eq!(b["size_bytes"], PNG.len());
    assert_eq!(b["sha256"], hex::encode(Sha256::digest(PNG)));
    let id = b["id"].as_str().unwrap();

    let resp = app
        .request(
            Method::GET,
            &format!("/api/attachments/{id}/content"),
            Some(slug),
            Some(&owner),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/png");
    assert!(
        resp.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("%E6%88%BF"),
        "Chinese file name kept"
    );
    assert_eq!(sha(&resp.bytes().await.unwrap()), sha(PNG));

    let (s, link) = app
        .call(
            Method::GET,
            &format!("/api/attachments/{id}/link"),
            Some(slug),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(
        (s, link["url"].as_str()),
        (200, Some(format!("/api/attachments/{id}/content").as_str()))
    );

    // An unused proof stays with its uploader, even from staff, until it is tied to an estate
    // (see tests/housing.rs); another owner may not even learn it exists.
    let (s, _) = app
        .call(
            Method::GET,
            &format!("/api/attachments/{id}"),
            Some(slug),
            Some(&t.admin_token),
            None,
        )
        .await;
    assert_eq!(s, 404);
    let (s, doc) = upload(&app, slug, &owner, form("document", "说明.pdf", pdf())).await;
    assert_eq!(s, 201);
    let (s, _) = app
        .call(
            Method::GET,
            &format!("/api/attachments/{}", doc["id"].as_str().unwrap()),
            Some(slug),
            Some(&t.admin_token),
            None,
        )
        .await;
    assert_eq!(
        s, 404,
        "nothing uses the document yet: it is its uploader's alone"
    );
    let stranger = app.owner(&t.tenant, &phone(), "Passw0rd").await;
    let (s, b) = app
        .call(
            Method::GET,
            &format!("/api/attachments/{id}/content"),
            Some(slug),
            Some(&stranger),
            None,
        )
        .await;
    assert_eq!((s, b["code"].as_str()), (404, Some("attachment.not_found")));
}

#[tokio::test]
async fn round_trip_on_s3_with_a_signed_url() {
    let mut config = test_config();
    config.s3 = Some(common::s3_config());
    let app = TestApp::start_with(config).await;
    let t = app.tenant().await;
    let slug = t.tenant.slug.as_str();
    let bytes = pdf();
    let (s, b) = upload(
        &app,
        slug,
        &t.admin_token,
        form("document", "维修合同.pdf", bytes.clone()),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["content_type"], "application/pdf");
    let id = b["id"].as_str().unwrap();

    let resp = app
        .request(
            Method::GET,
            &format!("/api/attachments/{id}/content"),
            Some(slug),
            Some(&t.admin_token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        sha(&resp.bytes().await.unwrap()),
        sha(&bytes),
        "downloaded through the API"
    );

    let (s, link) = app
        .call(
            Method::GET,
            &format!("/api/attachments/{id}/link"),
            Some(slug),
            Some(&t.admin_token),
            None,
        )
        .await;
    assert_eq!(s, 200, "{link}");
    let url = link["url"].as_str().unwrap();
    assert!(
        url.contains(&format!("/{slug}/attachments/{id}")),
        "key under the tenant's prefix: {url}"
    );
    assert!(url.contains("X-Amz-Signature="), "a signed URL: {url}");
    assert!(link["expires_at"].is_string());
    let fetched = reqwest::get(url).await.unwrap();
    assert_eq!(fetched.status(), 200, "the S3 server accepts the signature");
    assert_eq!(
        sha(&fetched.bytes().await.unwrap()),
        sha(&bytes),
        "downloaded from S3"
    );

    let at = url.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let tampered = format!("{}{}{}", &url[..at], "0".repeat(64), &url[at + 64..]);
    assert_eq!(
        reqwest::get(tampered).await.unwrap().status(),
        403,
        "the S3 server checks signatures"
    );

    // Short-lived: valid for the configured five minutes, then refused.
    assert!(url.contains("X-Amz-Expires=300"), "{url}");
    let expires =
        chrono::DateTime::parse_from_rfc3339(link["expires_at"].as_str().unwrap()).unwrap();
    let left = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds();
    assert!(
        (290..=300).contains(&left),
        "expires_at says five minutes from now: {left} s"
    );
    let mut config = test_config();
    config.s3 = Some(common::s3_config());
    // Five seconds: long enough that a busy machine still fetches within it (the signing date
    // is truncated to the second), short enough to wait out; the wait runs to the link's own
    // `expires_at`, not to a fixed guess.
    config.signed_url_seconds = 5;
    let brief = TestApp::start_with(config).await;
    let (_, link) = brief
        .call(
            Method::GET,
            &format!("/api/attachments/{id}/link"),
            Some(slug),
            Some(&t.admin_token),
            None,
        )
        .await;
    let url = link["url"].as_str().unwrap();
    assert_eq!(
        reqwest::get(url).await.unwrap().status(),
        200,
        "good while it lasts"
    );
    let expires = chrono::DateTime::parse_from_rfc3339(link["expires_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    let until_past = (expires - chrono::Utc::now()).to_std().unwrap_or_default()
        + std::time::Duration::from_millis(1500);
    tokio::time::sleep(until_past).await;
    assert_eq!(
        reqwest::get(url).await.unwrap().status(),
        403,
        "an expired link is refused by the store"
    );
}

#[tokio::test]
async fn too_large_wrong_type_and_missing_file_are_refused() {
    let mut config = test_config();
    config.upload_limit_bytes = 2048;
    let app = TestApp::start_with(config).await;
    let t = app.tenant().await;
    let slug = t.tenant.slug.as_str();

    let (s, b) = upload(
        &app,
        slug,
        &t.admin_token,
        form("document", "big.pdf", pdf()),
    )
    .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (413, Some("upload.too_large")),
        "{b}"
    );

    let (s, b) = upload(
        &app,
        slug,
        &t.admin_token,
        form("proof", "a.pdf", pdf()[..1000].to_vec()),
    )
    .await;
    assert_eq!(
        (s, b["fields"][0]["code"].as_str()),
        (422, Some("attachment.type_not_allowed")),
        "a pdf is not a proof image"
    );

    let (s, b) = upload(
        &app,
        slug,
        &t.admin_token,
        form("document", "notes.txt", b"plain words".to_vec()),
    )
    .await;
    assert_eq!(
        (s, b["fields"][0]["code"].as_str()),
        (422, Some("attachment.type_not_allowed"))
    );

    let (s, b) = upload(
        &app,
        slug,
        &t.admin_token,
        form("selfie", "a.png", PNG.to_vec()),
    )
    .await;
    assert_eq!(
        (s, b["fields"][0]["field"].as_str()),
        (422, Some("purpose"))
    );

    let (s, b) = upload(
        &app,
        slug,
        &t.admin_token,
        multipart::Form::new().text("purpose", "proof"),
    )
    .await;
    assert_eq!(
        (s, b["fields"][0]["code"].as_str()),
        (422, Some("upload.file_missing"))
    );
    assert_eq!(count_rows(&app, &t.tenant).await, 0);

    // Any other body past the limit (plus form overhead) is refused before it is read.
    let huge = serde_json::json!({"nickname": "长".repeat(40_000)});
    let (s, b) = common::read(
        app.request(Method::PATCH, "/api/me", Some(slug), None)
            .json(&huge)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, b["code"].as_str()), (413, Some("upload.too_large")));
}

#[tokio::test]
async fn store_down_gives_503_and_leaves_no_row() {
    let mut config = test_config();
    let mut s3 = common::s3_config();
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    s3.endpoint = format!("http://{closed}");
    config.s3 = Some(s3);
    let app = TestApp::start_with(config).await;
    let t = app.tenant().await;
    let (s, b) = upload(
        &app,
        &t.tenant.slug,
        &t.admin_token,
        form("proof", "id.png", PNG.to_vec()),
    )
    .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (503, Some("storage.unavailable")),
        "{b}"
    );
    assert_eq!(
        count_rows(&app, &t.tenant).await,
        0,
        "no metadata row without its object"
    );
}
