//! Operability: health, readiness, request ids, the served spec and docs.

mod common;

use common::TestApp;
use reqwest::Method;

#[tokio::test]
async fn health_readiness_spec_and_docs_are_served() {
    let app = TestApp::start().await;
    let get = |path: &str| app.http.get(format!("{}{path}", app.base)).send();
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    assert_eq!(get("/readyz").await.unwrap().text().await.unwrap(), "ready");
    let spec = get("/openapi.yaml").await.unwrap().text().await.unwrap();
    assert_eq!(spec, zhimaguan::openapi::spec_yaml(), "the served spec is the generated one");
    let docs = get("/docs").await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("swagger"), "interactive docs");
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_unreachable() {
    let mut config = common::test_config();
    config.database_url = "postgres://postgres@127.0.0.1:1/zhimaguan_test".into();
    let pool = deadpool_postgres::Pool::builder(deadpool_postgres::Manager::new(
        config.database_url.parse().unwrap(),
        tokio_postgres::NoTls,
    ))
    .max_size(1)
    .build()
    .unwrap();
    let state = zhimaguan::app::AppState::with_pool(config, pool).await.unwrap();
    let running = zhimaguan::app::spawn(state, "127.0.0.1:0").await.unwrap();
    let resp = reqwest::get(format!("http://{}/readyz", running.addr)).await.unwrap();
    assert_eq!(resp.status(), 503);
    let resp = reqwest::get(format!("http://{}/healthz", running.addr)).await.unwrap();
    assert_eq!(resp.status(), 200, "liveness does not depend on the database");
}

#[tokio::test]
async fn every_response_carries_a_request_id_that_errors_quote() {
    let app = TestApp::start().await;
    let resp = app.request(Method::GET, "/api/estates", Some("nosuch"), None).header("x-request-id", "trace-abc-123").send().await.unwrap();
    assert_eq!(resp.headers()["x-request-id"], "trace-abc-123");
    let (_, body) = common::read(resp).await;
    assert_eq!(body["request_id"], "trace-abc-123");

    let resp = app.request(Method::GET, "/no/such/route", None, None).send().await.unwrap();
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    let (s, body) = common::read(resp).await;
    assert_eq!((s, body["code"].as_str()), (404, Some("route.not_found")));
    assert_eq!(body["request_id"], id.as_str());
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let app = TestApp::start().await;
    let t = app.tenant().await;
    let conn = app.conn(&t.tenant).await;
    conn.execute("UPDATE sessions SET expires_at = now() - interval '1 second'", &[]).await.unwrap();
    conn.commit().await.unwrap();
    let (s, b) = app.call(Method::GET, "/api/staff/me", Some(&t.tenant.slug), Some(&t.admin_token), None).await;
    assert_eq!((s, b["code"].as_str()), (401, Some("auth.invalid_token")));
}
