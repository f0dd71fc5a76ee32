//! Shared test harness: the real app on port 0, against the real PostgreSQL (and, where a test
//! asks for it, the real S3-compatible server started by scripts/test.sh). Every test makes its
//! own tenants with unique slugs, so tests run in parallel without seeing each other.
#![allow(dead_code)]

pub mod estate;
pub mod spec;
pub mod sql;
pub mod tencent_fake;

use std::{collections::BTreeMap, path::PathBuf};

use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};
use uuid::Uuid;
use zhimaguan::{
    app,
    config::{Config, S3Config, Secret},
    db, migrate, platform,
    state::AppState,
    tenancy::{provision, Tenant},
};

use sql::TenantSql;

pub fn database_url() -> String {
    std::env::var("ZMG_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/zhimaguan_test".into())
}

/// The S3 server scripts/test.sh starts. Tests that need it fail loudly without it.
pub fn s3_config() -> S3Config {
    let get = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!(
                "{name} is not set: run the tests with scripts/test.sh, which starts the S3 server"
            )
        })
    };
    S3Config {
        endpoint: get("ZMG_TEST_S3_ENDPOINT"),
        bucket: get("ZMG_TEST_S3_BUCKET"),
        region: "us-east-1".into(),
        access_key: Secret::from(get("ZMG_TEST_S3_ACCESS_KEY")),
        secret_key: Secret::from(get("ZMG_TEST_S3_SECRET_KEY")),
        path_style: true,
    }
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}", &Uuid::new_v4().simple().to_string()[..12])
}

// One setting a line, each with its reason, reads better than one struct literal.
#[allow(clippy::field_reassign_with_default)]
pub fn test_config() -> Config {
    let mut config = Config::default();
    config.database_url = database_url();
    config.database_pool_size = 8;
    config.dev_mode = true;
    config.signing_secret = Some(zhimaguan::config::Secret::from(
        "zhimaguan-test-signing-secret-0123456789",
    ));
    config.base_domain = Some("zmg.test".into());
    config.storage_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(unique("objects-"));
    // Every test connects from 127.0.0.1 and the per-address cap counts across runs, so tests
    // that exercise it name their own address through the (trusted) local proxy header.
    config.trusted_proxies = vec!["127.0.0.1".into()];
    config.sms.daily_limit_per_ip = 1_000_000;
    // Tests seal ledgers themselves: a background round would touch other tests' tenants.
    config.ledger_checkpoint_seconds = 86_400;
    // Likewise due matters: tests open theirs with `voting::due::open_due` on their own tenant.
    config.due_sweep_seconds = 86_400;
    config
}

#[derive(Clone)]
pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub state: AppState,
    /// Plain SQL connections of the test's own (see [`sql`]).
    pub raw: deadpool_postgres::Pool,
    /// The client address the service sees for this app's requests (`X-Forwarded-For`).
    pub address: String,
    /// Every write made through [`TestApp::call`] by street or platform staff, for
    /// [`TestApp::unaudited_writes`].
    pub journal: std::sync::Arc<std::sync::Mutex<Vec<StaffWrite>>>,
    /// Check each successful staff write's audit entry as the write returns (see
    /// [`StaffWrite::audit_problem`]); off by default, since it reads every table each time.
    pub audit_each_write: bool,
}

/// A write by staff as the journal keeps it.
#[derive(Clone, Debug)]
pub struct StaffWrite {
    pub operation: String,
    pub tenant: Option<String>,
    pub request_id: String,
    pub status: u16,
    /// With [`TestApp::audit_each_write`]: what is wrong with the write's audit entry (not
    /// exactly one, or written by another transaction than any row of the change), checked
    /// before any later request can rewrite those rows.
    pub audit_problem: Option<String>,
}

/// Operations whose only change is a deletion: no row is left to carry their transaction id.
const DELETE_ONLY: [&str; 2] = ["matter_type_delete", "matter_delete"];

/// An address in 2001:db8::/32 (set aside for documentation), different for every call and, in
/// its /64 (how logins are counted), for every run: limits that persist in the test database
/// across runs never meet an address twice.
pub fn random_address() -> String {
    let b = Uuid::new_v4();
    let w: Vec<String> = b
        .as_bytes()
        .chunks(2)
        .take(6)
        .map(|p| format!("{:x}", u16::from_be_bytes([p[0], p[1]])))
        .collect();
    format!("2001:db8:{}", w.join(":"))
}

#[derive(Clone)]
pub struct TestTenant {
    pub tenant: Tenant,
    pub admin_password: String,
    pub admin_token: String,
}

impl TestApp {
    pub async fn start() -> Self {
        Self::start_with(test_config()).await
    }

    pub async fn start_with(config: Config) -> Self {
        // `RUST_LOG=warn cargo nextest run … --no-capture` shows the server's logs.
        if std::env::var_os("RUST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .with_test_writer()
                .try_init();
        }
        let pool = db::connect(&config.database_url, config.database_pool_size)
            .await
            .expect("database");
        migrate::migrate_platform(&pool)
            .await
            .expect("platform migrations");
        let raw = sql::raw_pool(&config.database_url);
        let state = AppState::with_pool(config, pool).await.expect("app state");
        let running = app::spawn(state, "127.0.0.1:0").await.expect("server");
        // Each app is its own client address (a random one behind the trusted local proxy): the
        // per-address login and SMS limits count across tests and runs, and must not add up.
        let address = random_address();
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-forwarded-for", address.parse().expect("address header"));
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .expect("http client");
        TestApp {
            base: format!("http://{}", running.addr),
            http,
            state: running.state,
            raw,
            address,
            journal: Default::default(),
            audit_each_write: false,
        }
    }

    pub fn request(
        &self,
        method: Method,
        path: &str,
        tenant: Option<&str>,
        token: Option<&str>,
    ) -> RequestBuilder {
        let mut rb = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = tenant {
            rb = rb.header("X-Tenant", t);
        }
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        rb
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        tenant: Option<&str>,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut rb = self.request(method.clone(), path, tenant, token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        self.send(method, path, tenant, token, rb).await
    }

    /// A multipart request (an upload or an import), kept in the journal like [`TestApp::call`].
    pub async fn call_form(
        &self,
        path: &str,
        tenant: Option<&str>,
        token: Option<&str>,
        form: reqwest::multipart::Form,
    ) -> (u16, Value) {
        let rb = self
            .request(Method::POST, path, tenant, token)
            .multipart(form);
        self.send(Method::POST, path, tenant, token, rb).await
    }

    /// Sends a request built for `method` and `path`, journalling it if staff wrote.
    async fn send(
        &self,
        method: Method,
        path: &str,
        tenant: Option<&str>,
        token: Option<&str>,
        rb: RequestBuilder,
    ) -> (u16, Value) {
        let by_staff = match token {
            Some(t) if method != Method::GET => self.is_staff(tenant, t).await,
            _ => false,
        };
        let operation = self
            .state
            .ops
            .find(&method, path.split('?').next().unwrap_or(path))
            .map(|o| o.id.clone());
        let response = rb.send().await.expect("request");
        let request_id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let (status, body) = read(response).await;
        if let (true, Some(operation)) = (by_staff, operation) {
            let audit_problem = match self.audit_each_write && (200..300).contains(&status) {
                true => self.audit_problem(&operation, tenant, &request_id).await,
                false => None,
            };
            self.journal.lock().unwrap().push(StaffWrite {
                operation,
                tenant: tenant.map(str::to_owned),
                request_id,
                status,
                audit_problem,
            });
        }
        (status, body)
    }

    /// What is wrong with a staff write's audit entry: there must be exactly one under its
    /// request id (in the tenant's log, or the platform's for platform staff), and its
    /// transaction must have written a row of the tenant's or the platform's tables.
    async fn audit_problem(
        &self,
        operation: &str,
        tenant: Option<&str>,
        request_id: &str,
    ) -> Option<String> {
        let client = self.raw.get().await.unwrap();
        let mut schemas = vec!["platform".to_string()];
        if let Some(slug) = tenant {
            schemas.push(
                zhimaguan::tenancy::find_by_slug(&self.state.pool, slug)
                    .await
                    .unwrap()
                    .unwrap()
                    .schema,
            );
        }
        let log = format!("\"{}\".audit_log", schemas.last().unwrap());
        let entries: Vec<String> = client
            .query(
                &format!("SELECT xmin::text FROM {log} WHERE request_id = $1"),
                &[&request_id],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        let [xmin] = entries.as_slice() else {
            return Some(format!("{operation}: {} audit entries", entries.len()));
        };
        if DELETE_ONLY.contains(&operation) {
            return None;
        }
        let tables = client
            .query("SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema = ANY($1) AND table_type = 'BASE TABLE'", &[&schemas])
            .await
            .unwrap();
        for t in &tables {
            let (schema, table): (String, String) = (t.get(0), t.get(1));
            let found = client
                .query_opt(
                    &format!(
                        "SELECT 1 FROM \"{schema}\".\"{table}\" WHERE xmin::text = $1 LIMIT 1"
                    ),
                    &[xmin],
                )
                .await
                .unwrap();
            if table != "audit_log" && found.is_some() {
                return None;
            }
        }
        Some(format!(
            "{operation}: its audit entry was written by another transaction than its change"
        ))
    }

    /// Whether `token` is a street or platform staff session (still valid).
    async fn is_staff(&self, tenant: Option<&str>, token: &str) -> bool {
        let tenant = match tenant {
            Some(slug) => zhimaguan::tenancy::find_by_slug(&self.state.pool, slug)
                .await
                .ok()
                .flatten(),
            None => None,
        };
        matches!(
            zhimaguan::auth::sessions::authenticate(&self.state.pool, tenant.as_ref(), token).await,
            Ok((
                zhimaguan::auth::principal::Principal::Staff { .. }
                    | zhimaguan::auth::principal::Principal::Platform { .. },
                _
            ))
        )
    }

    /// Staff writes made through [`TestApp::call`] that succeeded without exactly one audit
    /// entry under their request id (street staff in the tenant's log, platform staff in the
    /// platform's), and the operations the journal saw.
    pub async fn unaudited_writes(&self) -> (Vec<String>, std::collections::BTreeSet<String>) {
        let writes = self.journal.lock().unwrap().clone();
        let mut gaps = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        let client = self.raw.get().await.unwrap();
        for w in writes.iter().filter(|w| (200..300).contains(&w.status)) {
            seen.insert(w.operation.clone());
            let table = match &w.tenant {
                Some(slug) => {
                    let t = zhimaguan::tenancy::find_by_slug(&self.state.pool, slug)
                        .await
                        .unwrap()
                        .unwrap();
                    format!("{}.audit_log", t.schema)
                }
                None => "platform.audit_log".to_string(),
            };
            let n: i64 = client
                .query_one(
                    &format!("SELECT count(*) FROM {table} WHERE request_id = $1"),
                    &[&w.request_id],
                )
                .await
                .unwrap()
                .get(0);
            if n != 1 {
                gaps.push(format!("{} ({}): {n} audit entries", w.operation, w.status));
            }
        }
        (gaps, seen)
    }

    pub async fn tenant(&self) -> TestTenant {
        let slug = unique("t");
        let (tenant, admin) =
            provision::create(&self.state.pool, &slug, "测试街道办事处", "admin", None)
                .await
                .expect("provision");
        let admin_token = self
            .staff_login(&slug, "admin", &admin.initial_password)
            .await;
        TestTenant {
            tenant,
            admin_password: admin.initial_password,
            admin_token,
        }
    }

    pub async fn staff_login(&self, slug: &str, username: &str, password: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/auth/staff/login",
                Some(slug),
                None,
                Some(json!({"username": username, "password": password})),
            )
            .await;
        assert_eq!(status, 200, "staff login: {body}");
        body["token"].as_str().unwrap().to_string()
    }

    /// A plain-SQL transaction in `tenant`'s schema, for setting up and inspecting rows.
    pub async fn conn(&self, tenant: &Tenant) -> TenantSql {
        TenantSql::begin(&self.raw, tenant).await
    }

    /// Adds a residents' committee with one estate; returns (rc_id, estate_id).
    pub async fn add_rc_with_estate(&self, tenant: &Tenant, name: &str) -> (Uuid, Uuid) {
        let conn = self.conn(tenant).await;
        let (rc, estate) = (Uuid::new_v4(), Uuid::new_v4());
        conn.execute(
            "INSERT INTO residents_committees (id, name) VALUES ($1, $2)",
            &[&rc, &format!("{name}居委会")],
        )
        .await
        .unwrap();
        conn.execute(
            "INSERT INTO estates (id, rc_id, name) VALUES ($1, $2, $3)",
            &[&estate, &rc, &format!("{name}小区")],
        )
        .await
        .unwrap();
        conn.commit().await.unwrap();
        (rc, estate)
    }

    /// Creates a staff account through the API and logs it in.
    pub async fn staff(&self, t: &TestTenant, role: &str, rc_id: Option<Uuid>) -> String {
        let username = unique("u");
        let (status, body) = self
            .call(
                Method::POST,
                "/api/staff",
                Some(&t.tenant.slug),
                Some(&t.admin_token),
                Some(json!({"username": username, "display_name": "测试人员", "role": role, "rc_id": rc_id})),
            )
            .await;
        assert_eq!(status, 201, "create staff: {body}");
        self.staff_login(
            &t.tenant.slug,
            &username,
            body["initial_password"].as_str().unwrap(),
        )
        .await
    }

    /// The last code the development outbox holds for `phone`.
    pub async fn last_code(&self, tenant: &Tenant, phone: &str) -> String {
        let conn = self.conn(tenant).await;
        let row = conn
            .query_one(
                "SELECT content FROM sms_outbox WHERE phone = $1 ORDER BY id DESC LIMIT 1",
                &[&phone],
            )
            .await
            .expect("an SMS in the outbox");
        conn.commit().await.unwrap();
        let content: String = row.get(0);
        let after = content
            .split("验证码为 ")
            .nth(1)
            .expect("the code in the message");
        after.chars().take_while(char::is_ascii_digit).collect()
    }

    /// Moves `phone`'s last sends `seconds` into the past (the resend interval counts from them).
    pub async fn age_sms_sends(&self, phone: &str, seconds: i32) {
        let client = self.raw.get().await.unwrap();
        client
            .execute("UPDATE platform.sms_sends SET created_at = now() - make_interval(secs => $2) WHERE phone = $1", &[&phone, &(seconds as f64)])
            .await
            .unwrap();
    }

    /// Registers an owner through the API (SMS code from the outbox); returns the token.
    pub async fn owner(&self, tenant: &Tenant, phone: &str, password: &str) -> String {
        let slug = Some(tenant.slug.as_str());
        let (s, b) = self
            .call(
                Method::POST,
                "/api/auth/sms-codes",
                slug,
                None,
                Some(json!({"phone": phone, "purpose": "register"})),
            )
            .await;
        assert_eq!(s, 202, "send code: {b}");
        let code = self.last_code(tenant, phone).await;
        let (s, b) = self
            .call(
                Method::POST,
                "/api/owners/register",
                slug,
                None,
                Some(json!({"real_name": "张三", "phone": phone, "sms_code": code, "password": password, "accept_agreement": true})),
            )
            .await;
        assert_eq!(s, 201, "register: {b}");
        b["token"].as_str().unwrap().to_string()
    }

    /// A platform-staff account created the way the CLI does it, logged in.
    pub async fn platform_token(&self) -> String {
        let username = unique("p");
        let password = platform::create_staff(&self.state.pool, &username, "平台测试")
            .await
            .expect("platform staff");
        let (s, b) = self
            .call(
                Method::POST,
                "/api/platform/auth/login",
                None,
                None,
                Some(json!({"username": username, "password": password})),
            )
            .await;
        assert_eq!(s, 200, "platform login: {b}");
        b["token"].as_str().unwrap().to_string()
    }
}

pub async fn read(resp: Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// A unique mainland mobile number.
pub fn phone() -> String {
    let n = u32::from_le_bytes(Uuid::new_v4().as_bytes()[..4].try_into().unwrap());
    format!("139{:08}", n % 100_000_000)
}

/// tests/expected_access.csv, the reviewed statement of who may do what: operation → role → may.
pub fn expected_access() -> BTreeMap<String, BTreeMap<String, bool>> {
    let text = include_str!("../expected_access.csv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(
        &header[1..],
        zhimaguan::auth::principal::ROLES,
        "table columns must be exactly the roles"
    );
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            let row = header[1..]
                .iter()
                .zip(&cells[1..])
                .map(|(role, c)| (role.to_string(), *c == "Y"))
                .collect();
            (cells[0].to_string(), row)
        })
        .collect()
}

impl TestApp {
    /// A token for every role (none for `anonymous`), the residents' committee one with an estate.
    pub async fn role_tokens(&self, t: &TestTenant) -> BTreeMap<&'static str, Option<String>> {
        let (rc, _) = self.add_rc_with_estate(&t.tenant, "权限").await;
        let owner = self.owner(&t.tenant, &phone(), "Passw0rd!").await;
        let rc_staff = self.staff(t, "rc_staff", Some(rc)).await;
        let platform = self.platform_token().await;
        BTreeMap::from([
            ("anonymous", None),
            ("owner", Some(owner)),
            ("street_staff", Some(t.admin_token.clone())),
            ("rc_staff", Some(rc_staff)),
            ("platform_staff", Some(platform)),
        ])
    }
}
