//! Accounts: owners, staff and platform staff; SMS code rules, lockout, token revocation.

mod common;

use common::{phone, unique, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

const POST: Method = Method::POST;
const GET: Method = Method::GET;

fn codes(body: &Value) -> Vec<(String, String)> {
    body["fields"]
        .as_array()
        .map(|f| {
            f.iter()
                .map(|x| {
                    (
                        x["field"].as_str().unwrap().to_string(),
                        x["code"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn owner_registers_then_logs_in_by_password_and_by_sms() {
    let app = TestApp::start().await;
    let t = app.tenant().await;
    let slug = Some(t.tenant.slug.as_str());
    let p = phone();
    let token = app.owner(&t.tenant, &p, "Passw0rd").await;

    let (s, me) = app.call(GET, "/api/me", slug, Some(&token), None).await;
    assert_eq!(s, 200);
    assert_eq!(me["real_name"], "张三");
    assert_eq!(
        me["phone"],
        format!("{}****{}", &p[..3], &p[7..]),
        "phones are masked"
    );

    let (s, b) = app
        .call(
            POST,
            "/api/auth/owner/login",
            slug,
            None,
            Some(json!({"phone": p, "password": "Passw0rd", "accept_agreement": true})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert!(b["token"].as_str().unwrap().starts_with("t1."));

    let (s, b) = app
        .call(
            POST,
            "/api/auth/owner/login",
            slug,
            None,
            Some(json!({"phone": p, "password": "Passw0rd", "accept_agreement": false})),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(
        codes(&b),
        vec![(
            "accept_agreement".to_string(),
            "agreement.required".to_string()
        )]
    );

    // SMS login: the code from the outbox, once.
    app.age_sms_sends(&p, 61).await;
    let (s, _) = app
        .call(
            POST,
            "/api/auth/sms-codes",
            slug,
            None,
            Some(json!({"phone": p, "purpose": "login"})),
        )
        .await;
    assert_eq!(s, 202);
    let code = app.last_code(&t.tenant, &p).await;
    let login = json!({"phone": p, "sms_code": code, "accept_agreement": true});
    let (s, b) = app
        .call(
            POST,
            "/api/auth/owner/login",
            slug,
            None,
            Some(login.clone()),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = app
        .call(POST, "/api/auth/owner/login", slug, None, Some(login))
        .await;
    assert_eq!(
        (s, b["fields"][0]["code"].as_str()),
        (422, Some("sms.code_invalid")),
        "codes are single use"
    );

    // Asking twice for a login code answers alike for a registered phone and for one with no
    // account: 202, then 429 with the same code and wait, so the limit reveals no account.
    app.age_sms_sends(&p, 61).await;
    let unregistered = common::phone();
    let mut answers = Vec::new();
    for who in [&p, &unregistered] {
        let mut pair = Vec::new();
        for _ in 0..2 {
            let (s, b) = app
                .call(
                    POST,
                    "/api/auth/sms-codes",
                    slug,
                    None,
                    Some(json!({"phone": who, "purpose": "login"})),
                )
                .await;
            pair.push((s, b["code"].as_str().map(str::to_owned)));
        }
        answers.push(pair);
    }
    assert_eq!(answers[0], answers[1], "registered vs not: {answers:?}");
    assert_eq!(answers[0][1], (429, Some("sms.too_soon".to_string())));
    let none: i64 = app
        .conn(&t.tenant)
        .await
        .query_one(
            "SELECT count(*) FROM sms_codes WHERE phone = $1",
            &[&unregistered],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(none, 0, "no code exists for a phone without an account");

    // Asking for a registration code tells nobody the phone is registered; the phone's owner
    // learns it once the code is proven.
    app.age_sms_sends(&p, 61).await;
    let (s, _) = app
        .call(
            POST,
            "/api/auth/sms-codes",
            slug,
            None,
            Some(json!({"phone": p, "purpose": "register"})),
        )
        .await;
    assert_eq!(s, 202);
    let code = app.last_code(&t.tenant, &p).await;
    let again = json!({"real_name": "王五", "phone": p, "sms_code": code, "password": "Passw0rd2", "accept_agreement": true});
    let (s, b) = app
        .call(POST, "/api/owners/register", slug, None, Some(again))
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (409, Some("owner.phone_taken")),
        "{b}"
    );
}

#[tokio::test]
async fn registration_reports_every_bad_field_in_chinese_or_english() {
    let app = TestApp::start().await;
    let t = app.tenant().await;
    let body = json!({"real_name": " ", "phone": "12345", "sms_code": "", "password": "short", "accept_agreement": false});
    let (s, b) = app
        .call(
            POST,
            "/api/owners/register",
            Some(&t.tenant.slug),
            None,
            Some(body.clone()),
        )
        .await;
    assert_eq!(s, 422);
    let fields: Vec<String> = codes(&b).into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        fields,
        [
            "real_name",
            "phone",
            "sms_code",
            "password",
            "accept_agreement"
        ]
    );
    assert!(b["fields"][3]["message"]
        .as_str()
        .unwrap()
        .contains("大写字母"));

    let resp = app
        .request(POST, "/api/owners/register", Some(&t.tenant.slug), None)
        .header("Accept-Language", "en-US,en;q=0.9")
        .json(&body)
        .send()
        .await
        .unwrap();
    let (_, b) = common::read(resp).await;
    assert!(
        b["fields"][3]["message"]
            .as_str()
            .unwrap()
            .contains("upper case"),
        "{b}"
    );

    // A body that is not even the right shape still gets our error format.
    let (s, b) = app
        .call(
            POST,
            "/api/owners/register",
            Some(&t.tenant.slug),
            None,
            Some(json!({"phone": 5})),
        )
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (400, Some("request.invalid")),
        "{b}"
    );
    assert!(b["message"].as_str().unwrap().contains("请求格式不正确"));
}

#[tokio::test]
async fn sms_codes_expire_allow_five_wrong_tries_and_wait_before_resending() {
    let app = TestApp::start().await;
    let t = app.tenant().await;
    // Made before any code is sent: provisioning takes seconds under load, and the assertions
    // on the resend wait below must not depend on how long.
    let other = app.tenant().await;
    let slug = Some(t.tenant.slug.as_str());
    let p = phone();
    let send = json!({"phone": p, "purpose": "register"});
    let (s, _) = app
        .call(POST, "/api/auth/sms-codes", slug, None, Some(send.clone()))
        .await;
    assert_eq!(s, 202);
    let code = app.last_code(&t.tenant, &p).await;
    assert_eq!(code.len(), 6);
    let conn = app.conn(&t.tenant).await;
    let validity: f64 =
        conn.query_one("SELECT extract(epoch FROM expires_at - created_at)::float8 FROM sms_codes WHERE phone = $1", &[&p]).await.unwrap().get(0);
    conn.commit().await.unwrap();
    assert!(
        (validity - 300.0).abs() < 1.0,
        "valid 5 minutes, got {validity} s"
    );

    let (s, b) = app
        .call(POST, "/api/auth/sms-codes", slug, None, Some(send.clone()))
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (429, Some("sms.too_soon")),
        "resend at once"
    );
    app.age_sms_sends(&p, 50).await;
    let resp = app
        .request(POST, "/api/auth/sms-codes", slug, None)
        .json(&send)
        .send()
        .await
        .unwrap();
    let retry_after: Option<i64> = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let (s, b) = common::read(resp).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (429, Some("sms.too_soon")),
        "resend after 50 s"
    );
    // At most 10 s are left however slowly this machine ran since the send was aged.
    let wait = retry_after.expect("429 carries Retry-After");
    assert!((1..=10).contains(&wait), "Retry-After {wait}");
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains(&format!("{wait} 秒")),
        "the message names the same wait: {b}"
    );
    // Another street office is no way around the interval.
    app.age_sms_sends(&p, 30).await;
    let (s, _) = app
        .call(
            POST,
            "/api/auth/sms-codes",
            Some(&other.tenant.slug),
            None,
            Some(send.clone()),
        )
        .await;
    assert_eq!(s, 429, "limits hold across tenants");

    let wrong = if code == "000000" { "111111" } else { "000000" };
    let register = |c: &str| json!({"real_name": "李四", "phone": p, "sms_code": c, "password": "Passw0rd", "accept_agreement": true});
    for _ in 0..5 {
        let (s, b) = app
            .call(
                POST,
                "/api/owners/register",
                slug,
                None,
                Some(register(wrong)),
            )
            .await;
        assert_eq!(
            (s, b["fields"][0]["code"].as_str()),
            (422, Some("sms.code_invalid"))
        );
    }
    let (s, b) = app
        .call(
            POST,
            "/api/owners/register",
            slug,
            None,
            Some(register(&code)),
        )
        .await;
    assert_eq!(
        (s, b["fields"][0]["code"].as_str()),
        (422, Some("sms.too_many_tries")),
        "the right code after 5 wrong tries"
    );

    // A fresh code (after the resend interval) that has expired is refused too.
    app.age_sms_sends(&p, 61).await;
    let (s, _) = app
        .call(POST, "/api/auth/sms-codes", slug, None, Some(send.clone()))
        .await;
    assert_eq!(s, 202);
    let code = app.last_code(&t.tenant, &p).await;
    let conn = app.conn(&t.tenant).await;
    conn.execute(
        "UPDATE sms_codes SET expires_at = now() - interval '1 second' WHERE phone = $1",
        &[&p],
    )
    .await
    .unwrap();
    conn.commit().await.unwrap();
    let (s, b) = app
        .call(
            POST,
            "/api/owners/register",
            slug,
            None,
            Some(register(&code)),
        )
        .await;
    assert_eq!(
        (s, b["fields"][0]["code"].as_str()),
        (422, Some("sms.code_invalid")),
        "expired"
    );
}

#[tokio::test]
async fn sms_daily_caps_per_phone_and_per_ip() {
    let mut config = common::test_config();
    config.sms.daily_limit_per_ip = 3;
    let app = TestApp::start_with(config).await;
    let t = app.tenant().await;
    let slug = Some(t.tenant.slug.as_str());
    let limits = &app.state.config.sms;
    let p = phone();
    // Earlier today's sends, old enough not to trip the resend interval.
    let client = app.raw.get().await.unwrap();
    client
        .execute(
            "INSERT INTO platform.sms_sends (phone, client_ip, created_at)
             SELECT $1, '10.0.0.1', now() - interval '1 hour' FROM generate_series(1, $2)",
            &[&p, &(limits.daily_limit_per_phone as i32)],
        )
        .await
        .unwrap();
    let (s, b) = app
        .call(
            POST,
            "/api/auth/sms-codes",
            slug,
            None,
            Some(json!({"phone": p, "purpose": "register"})),
        )
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (429, Some("sms.daily_limit_phone"))
    );

    // A client behind the (trusted) ingress is known by its forwarded address.
    let address = common::random_address();
    let send = |ph: String| {
        app.request(POST, "/api/auth/sms-codes", slug, None)
            .header("X-Forwarded-For", format!("203.0.113.9, {address}"))
            .json(&json!({"phone": ph, "purpose": "register"}))
            .send()
    };
    for _ in 0..3 {
        let (s, b) = common::read(send(phone()).await.unwrap()).await;
        assert_eq!(s, 202, "{b}");
    }
    let (s, b) = common::read(send(phone()).await.unwrap()).await;
    assert_eq!((s, b["code"].as_str()), (429, Some("sms.daily_limit_ip")));
    let n: i64 = client
        .query_one(
            "SELECT count(*) FROM platform.sms_sends WHERE client_ip = $1",
            &[&address],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 3, "the forwarded address, not the proxy's, was counted");
}

/// An owner's password login from `address` (through the trusted local proxy).
async fn owner_login_from(
    app: &TestApp,
    slug: &str,
    address: &str,
    phone: &str,
    password: &str,
) -> (u16, Value, Option<i64>) {
    let response = app
        .request(POST, "/api/auth/owner/login", Some(slug), None)
        .header("X-Forwarded-For", address)
        .json(&json!({"phone": phone, "password": password, "accept_agreement": true}))
        .send()
        .await
        .unwrap();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let (s, b) = common::read(response).await;
    (s, b, retry_after)
}

/// Moves every failure counted against `address` `seconds` into the past, as if time passed.
async fn age_failures(app: &TestApp, address: &str, seconds: i32) {
    let client = app.raw.get().await.unwrap();
    client
        .execute(
            "UPDATE platform.login_failures SET failed_at = failed_at - make_interval(secs => $2) WHERE client_ip = $1",
            &[&zhimaguan::auth::throttle::address_block(address), &f64::from(seconds)],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_guessing_address_is_slowed_down_and_the_owner_elsewhere_is_not_kept_out() {
    let app = TestApp::start().await;
    let t = app.tenant().await;
    let slug = t.tenant.slug.as_str();
    let (owner, stranger) = (common::random_address(), common::random_address());
    let p = phone();
    app.owner(&t.tenant, &p, "Passw0rd").await;
    let unknown = phone();
    for account in [&p, &unknown] {
        for i in 1..=3 {
            let (s, b, _) = owner_login_from(&app, slug, &stranger, account, "Wrong000").await;
            assert_eq!(
                (s, b["code"].as_str()),
                (401, Some("auth.invalid_credentials")),
                "free attempt {i}"
            );
        }
        // The fourth waits: the same answer for a real account and an unknown one.
        let (s, b, retry) = owner_login_from(&app, slug, &stranger, account, "Wrong000").await;
        assert_eq!(
            (s, b["code"].as_str()),
            (429, Some("auth.too_many_attempts")),
            "{b}"
        );
        assert_eq!(retry, Some(2), "the first delay is two seconds");
        assert!(b["message"].as_str().unwrap().contains("秒后再试"), "{b}");
    }
    // Even the right password waits at the stranger's address, and it is not checked at all.
    let (s, _, _) = owner_login_from(&app, slug, &stranger, &p, "Passw0rd").await;
    assert_eq!(s, 429);
    // The owner at their own address is not held up by the stranger.
    let (s, b, _) = owner_login_from(&app, slug, &owner, &p, "Passw0rd").await;
    assert_eq!(s, 200, "{b}");

    // Delays grow: after the wait the next failure doubles it.
    age_failures(&app, &stranger, 3).await;
    let (s, _, _) = owner_login_from(&app, slug, &stranger, &p, "Wrong000").await;
    assert_eq!(s, 401, "allowed again once the delay passed");
    let (s, _, retry) = owner_login_from(&app, slug, &stranger, &p, "Wrong000").await;
    assert_eq!((s, retry), (429, Some(4)));
    // A success forgives that address's failures.
    age_failures(&app, &stranger, 5).await;
    let (s, _, _) = owner_login_from(&app, slug, &stranger, &p, "Passw0rd").await;
    assert_eq!(s, 200);
    for _ in 0..3 {
        assert_eq!(
            owner_login_from(&app, slug, &stranger, &p, "Wrong000")
                .await
                .0,
            401,
            "the free failures are back"
        );
    }
}

#[tokio::test]
async fn parallel_guesses_get_no_more_tries_than_sequential_ones() {
    let app = TestApp::start().await;
    let t = app.tenant().await;
    let slug = t.tenant.slug.as_str();
    let address = common::random_address();
    let p = phone();
    app.owner(&t.tenant, &p, "Passw0rd").await;
    let guesses = (0..12).map(|i| {
        let (app, address, p) = (&app, &address, &p);
        async move {
            owner_login_from(app, slug, address, p, &format!("Wrong{i:03}"))
                .await
                .0
        }
    });
    let mut statuses = futures_util::future::join_all(guesses).await;
    statuses.sort();
    assert_eq!(
        statuses,
        [vec![401; 3], vec![429; 9]].concat(),
        "three passwords checked, the rest refused unhashed"
    );
}

#[tokio::test]
async fn an_address_trying_account_after_account_is_stopped() {
    let app = TestApp::start().await;
    let t = app.tenant().await;
    let slug = t.tenant.slug.as_str();
    let address = common::random_address();
    // An owner who logged in from this address before (a shared office or carrier network).
    let neighbour = phone();
    app.owner(&t.tenant, &neighbour, "Passw0rd").await;
    assert_eq!(
        owner_login_from(&app, slug, &address, &neighbour, "Passw0rd")
            .await
            .0,
        200
    );
    for i in 0..30 {
        let (s, b, _) = owner_login_from(&app, slug, &address, &phone(), "Passw0rd").await;
        assert_eq!(s, 401, "account {i}: {b}");
    }
    let (s, b, retry) = owner_login_from(&app, slug, &address, &phone(), "Passw0rd").await;
    assert_eq!(
        (s, b["code"].as_str()),
        (429, Some("auth.address_throttled")),
        "{b}"
    );
    assert!(
        retry.is_some_and(|r| r > 3000 && r <= 3600),
        "until the oldest failure is an hour old: {retry:?}"
    );
    assert_eq!(
        owner_login_from(&app, slug, &address, &neighbour, "Passw0rd")
            .await
            .0,
        200,
        "an account that knows the address is not held up"
    );
    // Staff logins from that address count the same failures.
    let (s, _) = common::read(
        app.request(POST, "/api/auth/staff/login", Some(slug), None)
            .header("X-Forwarded-For", &address)
            .json(&json!({"username": "admin", "password": t.admin_password}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 429);
    let (s, _, _) =
        owner_login_from(&app, slug, &common::random_address(), &phone(), "Passw0rd").await;
    assert_eq!(s, 401, "other addresses are unaffected");
}

#[tokio::test]
async fn many_addresses_slow_one_account_but_never_its_owner() {
    let app = TestApp::start().await;
    let t = app.tenant().await;
    let slug = t.tenant.slug.as_str();
    let home = common::random_address();
    let p = phone();
    app.owner(&t.tenant, &p, "Passw0rd").await;
    assert_eq!(
        owner_login_from(&app, slug, &home, &p, "Passw0rd").await.0,
        200,
        "the owner's usual address"
    );
    // A botnet: ten addresses, one guess each.
    let bots: Vec<String> = (0..10).map(|_| common::random_address()).collect();
    for bot in &bots {
        assert_eq!(
            owner_login_from(&app, slug, bot, &p, "Wrong000").await.0,
            401
        );
    }
    // Now each bot gets no second guess soon, though each is far below the per-address limits.
    let (s, b, retry) = owner_login_from(&app, slug, &bots[0], &p, "Wrong001").await;
    assert_eq!(
        (s, b["code"].as_str(), retry),
        (429, Some("auth.too_many_attempts"), Some(2)),
        "{b}"
    );
    assert_eq!(
        owner_login_from(&app, slug, &home, &p, "Passw0rd").await.0,
        200,
        "the owner's known address never waits"
    );
    assert_eq!(
        owner_login_from(&app, slug, &common::random_address(), &p, "Passw0rd")
            .await
            .0,
        200,
        "nor does a first try from a new one"
    );
    // And an owner on a new phone logs in with an SMS code.
    app.age_sms_sends(&p, 61).await;
    let (s, _) = app
        .call(
            POST,
            "/api/auth/sms-codes",
            Some(slug),
            None,
            Some(json!({"phone": p, "purpose": "login"})),
        )
        .await;
    assert_eq!(s, 202);
    let code = app.last_code(&t.tenant, &p).await;
    let (s, b) = app
        .call(
            POST,
            "/api/auth/owner/login",
            Some(slug),
            None,
            Some(json!({"phone": p, "sms_code": code, "accept_agreement": true})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
}

#[tokio::test]
async fn an_ipv6_subscriber_counts_as_one_address_whatever_address_of_its_block_it_uses() {
    let app = TestApp::start().await;
    let t = app.tenant().await;
    let slug = t.tenant.slug.as_str();
    let b = uuid::Uuid::new_v4();
    let block = format!(
        "2001:db8:{:x}:{:x}",
        u16::from_be_bytes([b.as_bytes()[0], b.as_bytes()[1]]),
        u16::from_be_bytes([b.as_bytes()[2], b.as_bytes()[3]])
    );
    let p = phone();
    for host in 1..=3 {
        assert_eq!(
            owner_login_from(&app, slug, &format!("{block}::{host}"), &p, "Wrong000")
                .await
                .0,
            401
        );
    }
    assert_eq!(
        owner_login_from(&app, slug, &format!("{block}:ffff::4"), &p, "Wrong000")
            .await
            .0,
        429,
        "a fresh address of the same /64 waits too"
    );
}

#[tokio::test]
async fn the_platform_admin_cannot_be_locked_out_by_strangers() {
    let app = TestApp::start().await;
    let username = common::unique("ops");
    let password = zhimaguan::platform::create_staff(&app.state.pool, &username, "运维")
        .await
        .unwrap();
    let login = |address: String, pw: String| {
        let body = json!({"username": username, "password": pw});
        let rb = app
            .request(POST, "/api/platform/auth/login", None, None)
            .header("X-Forwarded-For", address)
            .json(&body);
        async move { common::read(rb.send().await.unwrap()).await.0 }
    };
    let stranger = common::random_address();
    for _ in 0..8 {
        login(stranger.clone(), "Wrong000".into()).await;
    }
    assert_eq!(
        login(stranger.clone(), password.clone()).await,
        429,
        "the stranger waits"
    );
    assert_eq!(
        login(common::random_address(), password).await,
        200,
        "the admin elsewhere does not"
    );
}

#[tokio::test]
async fn logout_and_password_change_revoke_tokens() {
    let app = TestApp::start().await;
    let t = app.tenant().await;
    let slug = Some(t.tenant.slug.as_str());
    let p = phone();
    let first = app.owner(&t.tenant, &p, "Passw0rd").await;
    let (_, b) = app
        .call(
            POST,
            "/api/auth/owner/login",
            slug,
            None,
            Some(json!({"phone": p, "password": "Passw0rd", "accept_agreement": true})),
        )
        .await;
    let second = b["token"].as_str().unwrap().to_string();

    let (s, _) = app
        .call(POST, "/api/auth/logout", slug, Some(&first), None)
        .await;
    assert_eq!(s, 204);
    let (s, b) = app.call(GET, "/api/me", slug, Some(&first), None).await;
    assert_eq!((s, b["code"].as_str()), (401, Some("auth.invalid_token")));
    let (s, _) = app.call(GET, "/api/me", slug, Some(&second), None).await;
    assert_eq!(s, 200, "other sessions survive a logout");

    let change = |old: &str, new: &str| json!({"old_password": old, "new_password": new});
    let (s, b) = app
        .call(
            POST,
            "/api/me/password",
            slug,
            Some(&second),
            Some(change("Nope1234", "NewPassw0rd")),
        )
        .await;
    assert_eq!(
        (s, b["fields"][0]["code"].as_str()),
        (422, Some("password.old_wrong"))
    );
    let (s, b) = app
        .call(
            POST,
            "/api/me/password",
            slug,
            Some(&second),
            Some(change("Passw0rd", "weak")),
        )
        .await;
    assert_eq!(
        (s, b["fields"][0]["code"].as_str()),
        (422, Some("password.weak"))
    );
    let (s, _) = app
        .call(
            POST,
            "/api/me/password",
            slug,
            Some(&second),
            Some(change("Passw0rd", "NewPassw0rd")),
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = app.call(GET, "/api/me", slug, Some(&second), None).await;
    assert_eq!(s, 401, "password change ends every session");
    let (s, _) = app
        .call(
            POST,
            "/api/auth/owner/login",
            slug,
            None,
            Some(json!({"phone": p, "password": "Passw0rd", "accept_agreement": true})),
        )
        .await;
    assert_eq!(s, 401);
    let (s, b) = app
        .call(
            POST,
            "/api/auth/owner/login",
            slug,
            None,
            Some(json!({"phone": p, "password": "NewPassw0rd", "accept_agreement": true})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let token = b["token"].as_str().unwrap();
    let (s, me) = app
        .call(
            Method::PATCH,
            "/api/me",
            slug,
            Some(token),
            Some(json!({"nickname": "老张"})),
        )
        .await;
    assert_eq!((s, me["nickname"].as_str()), (200, Some("老张")));
}

#[tokio::test]
async fn staff_accounts_have_roles_and_jurisdictions() {
    let app = TestApp::start().await;
    let t = app.tenant().await;
    let slug = Some(t.tenant.slug.as_str());
    let (rc_east, _) = app.add_rc_with_estate(&t.tenant, "东区").await;
    app.add_rc_with_estate(&t.tenant, "西区").await;
    let rc_token = app.staff(&t, "rc_staff", Some(rc_east)).await;

    let (_, all) = app
        .call(GET, "/api/estates", slug, Some(&t.admin_token), None)
        .await;
    assert_eq!(
        all["items"].as_array().unwrap().len(),
        2,
        "street staff see the whole street"
    );
    let (_, mine) = app
        .call(GET, "/api/estates", slug, Some(&rc_token), None)
        .await;
    let names: Vec<&str> = mine["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["东区小区"],
        "committee staff see only their committee's estates"
    );

    let (s, me) = app
        .call(GET, "/api/staff/me", slug, Some(&rc_token), None)
        .await;
    assert_eq!(
        (s, me["role"].as_str(), me["rc_id"].as_str()),
        (200, Some("rc_staff"), Some(rc_east.to_string().as_str()))
    );

    let dup = json!({"username": "admin", "display_name": "重复", "role": "street_staff"});
    let (s, b) = app
        .call(POST, "/api/staff", slug, Some(&t.admin_token), Some(dup))
        .await;
    assert_eq!(
        (s, b["code"].as_str(), b["fields"][0]["field"].as_str()),
        (409, Some("conflict.duplicate"), Some("username"))
    );

    let bad = json!({"username": unique("u"), "display_name": "无居委会", "role": "rc_staff", "rc_id": uuid::Uuid::new_v4()});
    let (s, b) = app
        .call(POST, "/api/staff", slug, Some(&t.admin_token), Some(bad))
        .await;
    assert_eq!(
        (s, b["fields"][0]["code"].as_str()),
        (422, Some("rc.not_found"))
    );

    let (s, b) = app
        .call(
            POST,
            "/api/staff/me/password",
            slug,
            Some(&rc_token),
            Some(json!({"old_password": "x", "new_password": "Another1pass"})),
        )
        .await;
    assert_eq!(
        (s, b["fields"][0]["code"].as_str()),
        (422, Some("password.old_wrong"))
    );

    let change = json!({"old_password": t.admin_password, "new_password": "Street2Admin"});
    let (s, _) = app
        .call(
            POST,
            "/api/staff/me/password",
            slug,
            Some(&t.admin_token),
            Some(change),
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = app
        .call(GET, "/api/staff", slug, Some(&t.admin_token), None)
        .await;
    assert_eq!(s, 401, "the old token ended with the password");
    let admin = app
        .staff_login(&t.tenant.slug, "admin", "Street2Admin")
        .await;
    let (_, audit) = app
        .call(
            GET,
            "/api/audit-log?operation=staff_password_change",
            slug,
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(audit["total"], 1, "staff writes are audited: {audit}");
    assert!(audit["items"][0]["request_id"]
        .as_str()
        .is_some_and(|r| !r.is_empty()));
}

#[tokio::test]
async fn platform_staff_onboard_a_tenant_whose_admin_can_log_in() {
    let app = TestApp::start().await;
    let platform = app.platform_token().await;
    let slug = unique("n");
    let (s, b) = app
        .call(
            POST,
            "/api/platform/tenants",
            None,
            Some(&platform),
            Some(json!({"slug": slug, "name": "新开街道"})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let password = b["admin"]["initial_password"].as_str().unwrap();
    app.staff_login(&slug, "admin", password).await;

    let (s, b) = app
        .call(
            POST,
            "/api/platform/tenants",
            None,
            Some(&platform),
            Some(json!({"slug": slug, "name": "重复"})),
        )
        .await;
    assert_eq!((s, b["fields"][0]["field"].as_str()), (409, Some("slug")));
    let (s, b) = app
        .call(
            POST,
            "/api/platform/tenants",
            None,
            Some(&platform),
            Some(json!({"slug": "Bad-Slug", "name": ""})),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(codes(&b).len(), 2, "{b}");

    let (s, b) = app
        .call(
            GET,
            &format!("/api/platform/tenants/{slug}"),
            None,
            Some(&platform),
            None,
        )
        .await;
    assert_eq!(
        (s, b["name"].as_str(), b["status"].as_str()),
        (200, Some("新开街道"), Some("active"))
    );
    let (_, list) = app
        .call(
            GET,
            &format!("/api/platform/tenants?q={slug}"),
            None,
            Some(&platform),
            None,
        )
        .await;
    assert_eq!(list["total"], 1, "{list}");
    assert!(list["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["slug"] == slug.as_str()));

    let client = app.raw.get().await.unwrap();
    let n: i64 =
        client.query_one("SELECT count(*) FROM platform.audit_log WHERE operation = 'tenant_create' AND object_id = $1", &[&slug]).await.unwrap().get(0);
    assert_eq!(n, 1, "platform writes are audited");
    let err = client
        .execute(
            "DELETE FROM platform.audit_log WHERE object_id = $1",
            &[&slug],
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("append-only") || format!("{err:?}").contains("append-only"));
}

#[tokio::test]
async fn platform_staff_change_their_password_and_the_change_is_audited() {
    let app = TestApp::start().await;
    let username = common::unique("ops");
    let password = zhimaguan::platform::create_staff(&app.state.pool, &username, "运维")
        .await
        .unwrap();
    let (_, b) = app
        .call(
            POST,
            "/api/platform/auth/login",
            None,
            None,
            Some(json!({"username": username, "password": password})),
        )
        .await;
    let token = b["token"].as_str().unwrap().to_string();

    let (s, b) = app
        .call(
            POST,
            "/api/platform/me/password",
            None,
            Some(&token),
            Some(json!({"old_password": "Wrong000", "new_password": "NewPassw0rd"})),
        )
        .await;
    assert_eq!(
        (s, b["fields"][0]["code"].as_str()),
        (422, Some("password.old_wrong")),
        "{b}"
    );
    let response = app
        .request(POST, "/api/platform/me/password", None, Some(&token))
        .json(&json!({"old_password": password, "new_password": "NewPassw0rd"}))
        .send()
        .await
        .unwrap();
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(response.status(), 204);
    let (s, _) = app
        .call(POST, "/api/platform/auth/logout", None, Some(&token), None)
        .await;
    assert_eq!(s, 401, "every session of theirs ended");
    let (s, _) = app
        .call(
            POST,
            "/api/platform/auth/login",
            None,
            None,
            Some(json!({"username": username, "password": "NewPassw0rd"})),
        )
        .await;
    assert_eq!(s, 200);

    let client = app.raw.get().await.unwrap();
    let rows: i64 = client
        .query_one("SELECT count(*) FROM platform.audit_log WHERE request_id = $1 AND operation = 'platform_password_change'", &[&request_id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        rows, 1,
        "one audit entry for the change, none for the refused attempt"
    );
}
