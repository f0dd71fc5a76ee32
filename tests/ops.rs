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
    assert_eq!(
        spec,
        zhimaguan::openapi::spec_yaml(),
        "the served spec is the generated one"
    );
    let docs = get("/docs").await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(
        docs.text().await.unwrap().contains("swagger"),
        "interactive docs"
    );
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_unreachable() {
    let mut config = common::test_config();
    config.database_url = "postgres://postgres@127.0.0.1:1/zhimaguan_test".into();
    let pool = zhimaguan::db::build_pool(&config.database_url, 1, None).unwrap();
    let state = zhimaguan::state::AppState::with_pool(config, pool)
        .await
        .unwrap();
    let running = zhimaguan::app::spawn(state, "127.0.0.1:0").await.unwrap();
    let resp = reqwest::get(format!("http://{}/readyz", running.addr))
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(
        resp.headers()["retry-after"],
        "5",
        "probes and clients back off"
    );
    let resp = reqwest::get(format!("http://{}/healthz", running.addr))
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        200,
        "liveness does not depend on the database"
    );
}

#[tokio::test]
async fn every_response_carries_a_request_id_that_errors_quote() {
    let app = TestApp::start().await;
    let resp = app
        .request(Method::GET, "/api/estates", Some("nosuch"), None)
        .header("x-request-id", "trace-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "trace-abc-123");
    let (_, body) = common::read(resp).await;
    assert_eq!(body["request_id"], "trace-abc-123");

    let resp = app
        .request(Method::GET, "/no/such/route", None, None)
        .send()
        .await
        .unwrap();
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    let (s, body) = common::read(resp).await;
    assert_eq!((s, body["code"].as_str()), (404, Some("route.not_found")));
    assert_eq!(body["request_id"], id.as_str());
}

/// What a client developer meets when they get a call wrong: RFC 9457 problems with a Chinese
/// detail, even for a body that is not JSON, and 405 naming the methods that work.
#[tokio::test]
async fn errors_are_problems_a_client_can_act_on() {
    let app = TestApp::start().await;
    let t = app.tenant().await;
    let resp = app
        .request(
            Method::POST,
            "/api/auth/staff/login",
            Some(&t.tenant.slug),
            None,
        )
        .header("content-type", "application/json")
        .body("{\"username\": \"admin\", ")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["content-type"],
        "application/problem+json",
        "RFC 9457 media type"
    );
    let (s, body) = common::read(resp).await;
    assert_eq!(s, 400);
    assert_eq!(body["status"], 400);
    assert_eq!(body["type"], "urn:zhimaguan:problem:request.invalid_json");
    assert_eq!(body["instance"], "/api/auth/staff/login");
    assert_eq!(body["title"], "请求格式错误");
    let detail = body["detail"].as_str().unwrap();
    assert_eq!(detail, "请求体不是有效的 JSON：第 1 行第 22 列附近有误");
    assert_eq!(
        body["message"], body["detail"],
        "the old field still carries the text"
    );

    let resp = app
        .request(
            Method::DELETE,
            "/api/estates",
            Some(&t.tenant.slug),
            Some(&t.admin_token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["allow"], "GET, HEAD, POST");
    let (s, body) = common::read(resp).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (405, Some("route.method_not_allowed"))
    );
    assert!(body["detail"].as_str().unwrap().contains("GET, HEAD, POST"));

    let resp = app
        .request(
            Method::GET,
            "/api/auth/staff/login",
            Some(&t.tenant.slug),
            None,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405, "a path that only takes POST");
    assert_eq!(resp.headers()["allow"], "POST");

    // A bound the spec declares is named with its value.
    let (s, body) = app
        .call(
            Method::GET,
            "/api/estates?page_size=1000",
            Some(&t.tenant.slug),
            Some(&t.admin_token),
            None,
        )
        .await;
    assert_eq!(s, 422, "{body}");
    assert_eq!(body["fields"][0]["field"], "page_size");
    assert_eq!(body["fields"][0]["message"], "字段 page_size 最大为 100");
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let app = TestApp::start().await;
    let t = app.tenant().await;
    let conn = app.conn(&t.tenant).await;
    conn.execute(
        "UPDATE sessions SET expires_at = now() - interval '1 second'",
        &[],
    )
    .await
    .unwrap();
    conn.commit().await.unwrap();
    let (s, b) = app
        .call(
            Method::GET,
            "/api/staff/me",
            Some(&t.tenant.slug),
            Some(&t.admin_token),
            None,
        )
        .await;
    assert_eq!((s, b["code"].as_str()), (401, Some("auth.invalid_token")));
}

#[tokio::test]
async fn metrics_count_requests_by_operation_and_status_with_latency() {
    let app = TestApp::start().await;
    let t = app.tenant().await;
    let slug = Some(t.tenant.slug.as_str());
    for _ in 0..3 {
        let (s, _) = app
            .call(
                Method::GET,
                "/api/estates",
                slug,
                Some(&t.admin_token),
                None,
            )
            .await;
        assert_eq!(s, 200);
    }
    let (s, _) = app
        .call(Method::GET, "/api/estates", slug, None, None)
        .await;
    assert_eq!(s, 401);
    app.call(Method::GET, "/api/no/such/thing", slug, None, None)
        .await;

    let text = app
        .request(Method::GET, "/metrics", None, None)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
            .unwrap_or_else(|| panic!("{series} missing in:\n{text}"))
    };
    assert_eq!(
        value("zmg_http_requests_total{operation=\"estate_list\",status=\"200\"}"),
        3.0
    );
    assert_eq!(
        value("zmg_http_requests_total{operation=\"estate_list\",status=\"401\"}"),
        1.0
    );
    assert_eq!(
        value("zmg_http_requests_total{operation=\"unmatched\",status=\"404\"}"),
        1.0,
        "unknown paths share one label"
    );
    assert_eq!(
        value("zmg_http_request_duration_seconds_count{operation=\"estate_list\"}"),
        4.0
    );
    assert_eq!(
        value("zmg_http_request_duration_seconds_bucket{operation=\"estate_list\",le=\"+Inf\"}"),
        4.0
    );
    assert!(value("zmg_http_request_duration_seconds_sum{operation=\"estate_list\"}") > 0.0);
    // The pool's states add up to what is open; the maximum is its own series.
    assert_eq!(value("zmg_db_pool_max_connections"), 8.0);
    assert!(
        !text.contains("state=\"max\""),
        "the maximum is not a state"
    );
    let open = value("zmg_db_pool_connections{state=\"open\"}");
    assert!(open >= 1.0);
    assert_eq!(
        value("zmg_db_pool_connections{state=\"idle\"}")
            + value("zmg_db_pool_connections{state=\"in_use\"}"),
        open
    );
    assert!(value("zmg_tenants{status=\"active\"}") >= 1.0);
    // Present even when no street office is suspended (the shared test database may have some).
    assert!(value("zmg_tenants{status=\"suspended\"}") >= 0.0);
    assert!(text.contains("# TYPE zmg_ballots_cast_total counter"));
    assert_eq!(value("zmg_ballots_cast_total{channel=\"paper\"}"), 0.0);
    let build = format!(
        "zmg_build_info{{version=\"{}\"}}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(value(&build), 1.0);
    // The process, as client_golang reports it.
    assert!(value("process_resident_memory_bytes") > 1e6);
    assert!(value("process_open_fds") > 3.0);
    assert!(value("process_start_time_seconds") > 1.7e9);
    assert!(text.contains("# TYPE process_cpu_seconds_total counter"));

    // With a token configured, anonymous scrapes are refused.
    let mut config = common::test_config();
    config.metrics_token = Some(zhimaguan::config::Secret::from("scrape-secret"));
    let guarded = TestApp::start_with(config).await;
    assert_eq!(
        guarded
            .request(Method::GET, "/metrics", None, None)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let ok = guarded
        .request(Method::GET, "/metrics", None, Some("scrape-secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

/// `zmg serve` as operators run it: SIGTERM stops new connections but lets a request that is
/// still sending its body finish.
#[tokio::test]
async fn sigterm_lets_requests_in_flight_finish() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::start().await;
    let t = app.tenant().await;
    let storage =
        std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(common::unique("graceful-"));
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_zmg"))
        .arg("serve")
        .env("ZMG_DATABASE_URL", common::database_url())
        .env("ZMG_LISTEN", "127.0.0.1:0")
        .env("ZMG_STORAGE_DIR", &storage)
        .env("ZMG_SHUTDOWN_GRACE_SECONDS", "20")
        .env("ZMG_METRICS_TOKEN", "graceful-test")
        .env(
            "ZMG_SIGNING_SECRET",
            "graceful-test-signing-secret-of-32-chars",
        )
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // The address is printed once the server listens.
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(
            tokio::io::AsyncBufReadExt::read_line(&mut stdout, &mut line)
                .await
                .unwrap()
                > 0,
            "server exited early"
        );
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    tokio::spawn(async move {
        while tokio::io::AsyncBufReadExt::read_line(&mut stdout, &mut String::new())
            .await
            .is_ok_and(|n| n > 0)
        {}
    });

    // An upload whose body is only half sent when the signal arrives.
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\x0f\0\0\x01\x01\0\x05\x18\xd8N\0\0\0\0IEND\xaeB`\x82";
    let mut body = Vec::new();
    body.extend_from_slice(
        b"--B\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\ndocument\r\n",
    );
    body.extend_from_slice(b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n");
    body.extend_from_slice(png);
    body.extend_from_slice(b"\r\n--B--\r\n");
    let head = format!(
        "POST /api/attachments HTTP/1.1\r\nHost: {addr}\r\nX-Tenant: {}\r\nAuthorization: Bearer {}\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        t.tenant.slug,
        t.admin_token,
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..40]).await.unwrap();
    // Signalled once the server is answering the upload (the scrape itself is the other one),
    // and polled until new connections are refused: no fixed waits.
    let http = reqwest::Client::new();
    let in_flight = || async {
        let text = http
            .get(format!("http://{addr}/metrics"))
            .bearer_auth("graceful-test")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("zmg_http_requests_in_flight "))
            .and_then(|n| n.parse::<i64>().ok())
            .unwrap()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while in_flight().await < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the upload never reached the server"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    while tokio::net::TcpStream::connect(&addr).await.is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "new connections still accepted after SIGTERM"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    stream.write_all(&body[40..]).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 201"),
        "the request in flight completed: {answer}"
    );
    let status = tokio::time::timeout(std::time::Duration::from_secs(10), child.wait())
        .await
        .expect("exits after the last request")
        .unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn text_the_database_cannot_store_is_a_clear_422_not_a_server_error() {
    let app = TestApp::start().await;
    let t = app.tenant().await;
    let body = serde_json::json!({"name": "第一\u{0}居委会"});
    let (s, b) = app
        .call(
            Method::POST,
            "/api/residents-committees",
            Some(&t.tenant.slug),
            Some(&t.admin_token),
            Some(body),
        )
        .await;
    // Refused at the gate, naming the field, before PostgreSQL could refuse it.
    assert_eq!(
        (
            s,
            b["fields"][0]["field"].as_str(),
            b["fields"][0]["code"].as_str()
        ),
        (422, Some("name"), Some("text.invalid_character")),
        "{b}"
    );
    assert!(b["fields"][0]["message"]
        .as_str()
        .unwrap()
        .contains("控制字符"));
}
