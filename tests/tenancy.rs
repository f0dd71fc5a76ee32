//! Tenant isolation: TenantConn on a shared pool, tenant resolution, cross-tenant tokens.

mod common;

use std::time::Duration;

use common::{phone, unique, TestApp};
use diesel::{sql_query, sql_types as sql, QueryableByName};
use reqwest::Method;
use serde_json::json;
use zhimaguan::{
    authz::operations::Scope,
    db::{self, Conn},
    tenancy::conn::TenantConn,
};

#[derive(QueryableByName)]
struct Pid {
    #[diesel(sql_type = sql::Integer)]
    pid: i32,
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = sql::Text)]
    name: String,
}

#[derive(QueryableByName)]
struct SearchPath {
    #[diesel(sql_type = sql::Text)]
    search_path: String,
}

#[derive(QueryableByName)]
struct Xid {
    #[diesel(sql_type = sql::Nullable<sql::Text>)]
    xid: Option<String>,
}

/// The server process behind the connection.
async fn backend_pid(conn: &Conn) -> i32 {
    conn.first::<_, Pid>(sql_query("SELECT pg_backend_pid() AS pid"))
        .await
        .unwrap()
        .pid
}

async fn search_path(conn: &Conn) -> String {
    conn.first::<_, SearchPath>(sql_query(
        "SELECT current_setting('search_path') AS search_path",
    ))
    .await
    .unwrap()
    .search_path
}

/// The transaction id the connection's open transaction holds, if any.
async fn open_xid(conn: &Conn) -> Option<String> {
    conn.first::<_, Xid>(sql_query(
        "SELECT pg_current_xact_id_if_assigned()::text AS xid",
    ))
    .await
    .unwrap()
    .xid
}

async fn committee_names(conn: &Conn) -> Vec<String> {
    conn.load::<_, Name>(sql_query("SELECT name FROM residents_committees"))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect()
}

async fn insert_committee(conn: &Conn, name: &str) {
    conn.execute(
        sql_query("INSERT INTO residents_committees (id, name) VALUES (gen_random_uuid(), $1)")
            .bind::<sql::Text, _>(name),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn one_pooled_connection_serves_tenant_a_then_b_with_only_bs_rows() {
    let app = TestApp::start().await;
    let (a, b) = (app.tenant().await, app.tenant().await);
    app.add_rc_with_estate(&a.tenant, "甲").await;
    app.add_rc_with_estate(&b.tenant, "乙").await;
    // A pool of exactly one connection: both transactions must run on it.
    let pool = db::connect(&common::database_url(), 1).await.unwrap();

    let conn = TenantConn::begin(&pool, &a.tenant).await.unwrap();
    let pid_a = backend_pid(&conn).await;
    let names_a = committee_names(&conn).await;
    conn.commit().await.unwrap();

    let conn = TenantConn::begin(&pool, &b.tenant).await.unwrap();
    let pid_b = backend_pid(&conn).await;
    let names_b = committee_names(&conn).await;
    conn.commit().await.unwrap();

    assert_eq!(
        pid_a, pid_b,
        "the same pooled connection served both tenants"
    );
    assert_eq!(names_a, vec!["甲居委会".to_string()]);
    assert_eq!(names_b, vec!["乙居委会".to_string()]);

    // After commit the connection carries no tenant setting.
    let client = Conn::get(&pool).await.unwrap();
    let path = search_path(&client).await;
    assert!(
        !path.contains(&b.tenant.schema),
        "search_path leaked: {path}"
    );
}

#[tokio::test]
async fn a_cancelled_transaction_leaves_no_tenant_setting_or_write_behind() {
    let app = TestApp::start().await;
    let a = app.tenant().await;
    let pool = db::connect(&common::database_url(), 1).await.unwrap();
    let marker = unique("取消");
    let work = async {
        let conn = TenantConn::begin(&pool, &a.tenant).await.unwrap();
        insert_committee(&conn, &marker).await;
        conn.batch_execute("SELECT pg_sleep(10)").await.unwrap();
        conn.commit().await.unwrap();
    };
    // The request is cancelled mid-transaction (client gone, timeout): the future is dropped.
    assert!(tokio::time::timeout(Duration::from_millis(300), work)
        .await
        .is_err());

    let client = Conn::get(&pool).await.unwrap();
    let path = search_path(&client).await;
    assert!(
        !path.contains(&a.tenant.schema),
        "search_path leaked onto the pool: {path}"
    );
    // The cancelled transaction had written a row, so it held a transaction id; none may remain.
    let xid = open_xid(&client).await;
    assert_eq!(
        xid, None,
        "the cancelled transaction is still open on the pooled connection"
    );
    drop(client);
    let conn = app.conn(&a.tenant).await;
    let n: i64 = conn
        .query_one(
            "SELECT count(*) FROM residents_committees WHERE name = $1",
            &[&marker],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0, "the cancelled write must not be committed");
}

#[tokio::test]
async fn unknown_and_suspended_tenants_are_refused_clearly() {
    let app = TestApp::start().await;
    let (s, b) = app
        .call(
            Method::GET,
            "/api/estates",
            Some("nosuchtenant"),
            None,
            None,
        )
        .await;
    assert_eq!((s, b["code"].as_str()), (404, Some("tenant.not_found")));
    assert!(b["message"].as_str().unwrap().contains("nosuchtenant"));

    let (s, b) = app
        .call(Method::GET, "/api/estates", None, None, None)
        .await;
    assert_eq!((s, b["code"].as_str()), (400, Some("tenant.missing")));

    let t = app.tenant().await;
    let platform = app.platform_token().await;
    let path = format!("/api/platform/tenants/{}/suspend", t.tenant.slug);
    let (s, b) = app
        .call(Method::POST, &path, None, Some(&platform), None)
        .await;
    assert_eq!((s, b["status"].as_str()), (200, Some("suspended")), "{b}");
    let (s, b) = app
        .call(
            Method::GET,
            "/api/estates",
            Some(&t.tenant.slug),
            Some(&t.admin_token),
            None,
        )
        .await;
    assert_eq!((s, b["code"].as_str()), (403, Some("tenant.suspended")));
    let (s, b) = app
        .request(
            Method::GET,
            "/api/estates",
            Some(&t.tenant.slug),
            Some(&t.admin_token),
        )
        .header("Accept-Language", "en")
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .unwrap();
    let body: serde_json::Value = b.json().await.unwrap();
    assert_eq!(s, 403);
    assert!(
        body["message"].as_str().unwrap().contains("suspended"),
        "English message: {body}"
    );

    let path = format!("/api/platform/tenants/{}/activate", t.tenant.slug);
    let (s, _) = app
        .call(Method::POST, &path, None, Some(&platform), None)
        .await;
    assert_eq!(s, 200);
    // Tokens from before the suspension stay dead; a fresh login works.
    let (s, _) = app
        .call(
            Method::GET,
            "/api/estates",
            Some(&t.tenant.slug),
            Some(&t.admin_token),
            None,
        )
        .await;
    assert_eq!(s, 401);
    let fresh = app
        .staff_login(&t.tenant.slug, "admin", &t.admin_password)
        .await;
    let (s, _) = app
        .call(
            Method::GET,
            "/api/estates",
            Some(&t.tenant.slug),
            Some(&fresh),
            None,
        )
        .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn the_host_subdomain_names_the_tenant() {
    let app = TestApp::start().await;
    let t = app.tenant().await;
    app.add_rc_with_estate(&t.tenant, "域名").await;
    let resp = app
        .http
        .get(format!("{}/api/estates", app.base))
        .header("Host", format!("{}.zmg.test", t.tenant.slug))
        .bearer_auth(&t.admin_token)
        .send()
        .await
        .unwrap();
    let (s, b) = common::read(resp).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["items"][0]["name"], "域名小区");
}

#[tokio::test]
async fn tokens_from_tenant_b_are_refused_by_every_operation_of_tenant_a() {
    let app = TestApp::start().await;
    let (a, b) = (app.tenant().await, app.tenant().await);
    let b_owner = app.owner(&b.tenant, &phone(), "Passw0rd!").await;
    let mut leaks = Vec::new();
    for op in app
        .state
        .ops
        .operations
        .iter()
        .filter(|o| o.scope == Scope::Tenant)
    {
        let path = op
            .path
            .split('/')
            .map(|s| {
                if s.starts_with('{') {
                    "0b7f4c8e-0000-4000-8000-000000000000"
                } else {
                    s
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for token in [&b.admin_token, &b_owner] {
            let mut rb = app.request(op.method.clone(), &path, Some(&a.tenant.slug), Some(token));
            if op.method != Method::GET {
                rb = rb.json(&json!({}));
            }
            let (s, body) = common::read(rb.send().await.unwrap()).await;
            if (s, body["code"].as_str()) != (403, Some("auth.wrong_tenant")) {
                leaks.push(format!("{} answered {s} {body}", op.id));
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "tenant B's tokens got into tenant A:\n{}",
        leaks.join("\n")
    );
}

#[tokio::test]
async fn lists_never_show_another_tenants_rows() {
    let app = TestApp::start().await;
    let (a, b) = (app.tenant().await, app.tenant().await);
    let (rc_a, _) = app.add_rc_with_estate(&a.tenant, "甲方").await;
    app.add_rc_with_estate(&b.tenant, "乙方").await;
    app.staff(&a, "rc_staff", Some(rc_a)).await; // an audited write in A

    let (_, estates) = app
        .call(
            Method::GET,
            "/api/estates",
            Some(&b.tenant.slug),
            Some(&b.admin_token),
            None,
        )
        .await;
    let names: Vec<&str> = estates["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["乙方小区"]);

    let (_, staff) = app
        .call(
            Method::GET,
            "/api/staff",
            Some(&b.tenant.slug),
            Some(&b.admin_token),
            None,
        )
        .await;
    assert_eq!(staff["total"], 1, "only B's admin: {staff}");

    let (_, audit_b) = app
        .call(
            Method::GET,
            "/api/audit-log",
            Some(&b.tenant.slug),
            Some(&b.admin_token),
            None,
        )
        .await;
    assert_eq!(audit_b["total"], 0, "{audit_b}");
    let (_, audit_a) = app
        .call(
            Method::GET,
            "/api/audit-log",
            Some(&a.tenant.slug),
            Some(&a.admin_token),
            None,
        )
        .await;
    assert_eq!(audit_a["total"], 1, "{audit_a}");
    assert_eq!(audit_a["items"][0]["operation"], "staff_create");
}

#[tokio::test]
async fn an_abandoned_transaction_is_rolled_back_and_its_connection_reused_clean() {
    let app = TestApp::start().await;
    let a = app.tenant().await;
    let pool = db::connect(&common::database_url(), 1).await.unwrap();
    let marker = unique("放弃");
    let pid: i32 = {
        let conn = TenantConn::begin(&pool, &a.tenant).await.unwrap();
        insert_committee(&conn, &marker).await;
        // A handler returning an error with `?` drops its TenantConn like this.
        backend_pid(&conn).await
    };
    let client = Conn::get(&pool).await.unwrap();
    let again = backend_pid(&client).await;
    assert_eq!(pid, again, "the connection went back to the pool");
    let path = search_path(&client).await;
    assert!(
        !path.contains(&a.tenant.schema),
        "search_path leaked onto the pool: {path}"
    );
    let xid = open_xid(&client).await;
    assert_eq!(xid, None, "no transaction left open");
    drop(client);
    let conn = app.conn(&a.tenant).await;
    let n: i64 = conn
        .query_one(
            "SELECT count(*) FROM residents_committees WHERE name = $1",
            &[&marker],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0, "the abandoned write was rolled back");
}

#[tokio::test]
async fn another_tenants_attachment_ids_lead_nowhere() {
    let app = TestApp::start().await;
    let (a, b) = (app.tenant().await, app.tenant().await);
    let png =
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89".to_vec();
    let form = reqwest::multipart::Form::new()
        .text("purpose", "proof")
        .part(
            "file",
            reqwest::multipart::Part::bytes(png).file_name("b.png"),
        );
    let resp = app
        .request(
            Method::POST,
            "/api/attachments",
            Some(&b.tenant.slug),
            Some(&b.admin_token),
        )
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (s, uploaded) = common::read(resp).await;
    assert_eq!(s, 201);
    let id = uploaded["id"].as_str().unwrap();
    for suffix in ["", "/content", "/link"] {
        let (s, body) = app
            .call(
                Method::GET,
                &format!("/api/attachments/{id}{suffix}"),
                Some(&a.tenant.slug),
                Some(&a.admin_token),
                None,
            )
            .await;
        assert_eq!(
            (s, body["code"].as_str()),
            (404, Some("attachment.not_found")),
            "B's attachment through A ({suffix})"
        );
    }
}

#[tokio::test]
async fn the_demo_estates_figures_agree_with_their_roll() {
    let app = TestApp::start().await;
    let slug = unique("demo");
    let text = include_str!("../tenants/demo.toml")
        .replace("slug = \"demo\"", &format!("slug = \"{slug}\""));
    let manifest = zhimaguan::tenancy::manifest::parse(&text).unwrap();
    let applied = zhimaguan::tenancy::manifest::apply(&app.state.pool, &manifest)
        .await
        .unwrap();
    let conn = app.conn(&applied.tenant).await;
    let rows = conn
        .query(
            "SELECT e.name, e.total_households, e.total_area_centi, count(u.id)::int, coalesce(sum(u.area_centi), 0)::bigint
               FROM estates e JOIN units u ON u.estate_id = e.id GROUP BY e.id",
            &[],
        )
        .await
        .unwrap();
    conn.commit().await.unwrap();
    assert!(!rows.is_empty(), "the demo seeds a roll");
    for r in rows {
        let name: String = r.get(0);
        assert_eq!(
            (r.get::<_, i32>(1), r.get::<_, i64>(2)),
            (r.get::<_, i32>(3), r.get::<_, i64>(4)),
            "{name}: households and area as on its roll"
        );
    }
}

#[tokio::test]
async fn a_suspended_street_office_answers_403_to_every_operation_and_every_role() {
    let app = TestApp::start().await;
    let t = app.tenant().await;
    let tokens = app.role_tokens(&t).await;
    let conn = app.conn(&t.tenant).await;
    let audited: i64 = conn
        .query_one("SELECT count(*) FROM audit_log", &[])
        .await
        .unwrap()
        .get(0);
    conn.commit().await.unwrap();
    let platform = tokens["platform_staff"].clone().unwrap();
    let response = app
        .request(
            Method::POST,
            &format!("/api/platform/tenants/{}/suspend", t.tenant.slug),
            None,
            Some(&platform),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let client = app.raw.get().await.unwrap();
    let entries: i64 = client
        .query_one(
            "SELECT count(*) FROM platform.audit_log WHERE request_id = $1 AND operation = 'tenant_suspend' AND object_id = $2",
            &[&request_id, &t.tenant.slug],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(entries, 1, "the suspension is audited once");

    let mut answered = Vec::new();
    for op in app
        .state
        .ops
        .operations
        .iter()
        .filter(|o| o.scope == zhimaguan::authz::operations::Scope::Tenant)
    {
        let path = op
            .path
            .split('/')
            .map(|s| {
                if s.starts_with('{') {
                    "0b7f4c8e-0000-4000-8000-000000000000"
                } else {
                    s
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for (role, token) in &tokens {
            let mut rb = app.request(
                op.method.clone(),
                &path,
                Some(&t.tenant.slug),
                token.as_deref(),
            );
            if op.method != Method::GET {
                rb = rb.json(&serde_json::json!({}));
            }
            let (s, b) = common::read(rb.send().await.unwrap()).await;
            if (s, b["code"].as_str()) != (403, Some("tenant.suspended")) {
                answered.push(format!("{} as {role}: {s} {b}", op.id));
            }
        }
    }
    assert!(
        answered.is_empty(),
        "answered while suspended:\n{}",
        answered.join("\n")
    );
    let conn = app.conn(&t.tenant).await;
    let after: i64 = conn
        .query_one("SELECT count(*) FROM audit_log", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(after, audited, "nothing was done");
}

#[tokio::test]
async fn work_lent_to_a_blocking_thread_and_abandoned_closes_its_connection() {
    let pool = db::connect(&common::database_url(), 2).await.unwrap();
    let key = i64::from(rand::random::<u32>() >> 1);
    let conn = Conn::begin(&pool).await.unwrap();
    conn.execute(sql_query("SELECT pg_advisory_xact_lock($1)").bind::<sql::BigInt, _>(key))
        .await
        .unwrap();
    // The migration harness runs like this; the request waiting on it goes away midway.
    let slow = conn.run_blocking(|c| {
        use diesel::connection::SimpleConnection;
        c.batch_execute("SELECT pg_sleep(0.5)")
    });
    assert!(tokio::time::timeout(Duration::from_millis(100), slow)
        .await
        .is_err());
    drop(conn);
    // Seen from outside the pool, which nobody asks for a connection: the transaction (and
    // its lock) must end when the blocking work does, not wait in the pool for a next user.
    let outside = common::sql::raw_pool(&common::database_url())
        .get()
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let held: i64 = outside
            .query_one(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 0 AND objid::bigint = $1 AND objsubid = 1",
                &[&key],
            )
            .await
            .unwrap()
            .get(0);
        if held == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the abandoned transaction still holds its lock"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
