//! Hostile and careless input, tried as an attacker would: every answer stays a clear 4xx, and
//! nothing is served or kept that should not be.

mod common;

use common::{
    estate::{Estate, RollRow},
    phone, test_config, TestApp,
};
use reqwest::Method;
use serde_json::json;

const GET: Method = Method::GET;
const POST: Method = Method::POST;

#[tokio::test]
async fn searches_match_percent_and_underscore_literally() {
    let rows = [
        RollRow::flat("1", "101", "90", "张%三", &phone()),
        RollRow::flat("1", "102", "90", "李_四", &phone()),
        RollRow::flat("1", "103", "90", "王五", &phone()),
    ];
    let e = Estate::with_roll(&rows, false, false).await;
    let names = |v: &serde_json::Value| {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["owner_name"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let (_, percent) = e
        .app
        .call(
            GET,
            "/api/units?owner_name=%25",
            e.slug(),
            Some(&e.t.admin_token),
            None,
        )
        .await;
    assert_eq!(names(&percent), ["张%三"], "{percent}");
    let (_, underscore) = e
        .app
        .call(
            GET,
            "/api/units?owner_name=_",
            e.slug(),
            Some(&e.t.admin_token),
            None,
        )
        .await;
    assert_eq!(names(&underscore), ["李_四"], "{underscore}");
    let (_, estates) = e
        .app
        .call(
            GET,
            "/api/estates?name=%25",
            e.slug(),
            Some(&e.t.admin_token),
            None,
        )
        .await;
    assert_eq!(estates["total"], 0, "no estate name holds a %: {estates}");
}

#[tokio::test]
async fn exported_cells_never_run_as_formulas_and_downloads_are_not_sniffed() {
    let rows = [RollRow::flat(
        "1",
        "101",
        "90",
        "=HYPERLINK(\"http://evil\",\"点此\")",
        &phone(),
    )];
    let e = Estate::with_roll(&rows, false, false).await;
    let resp = e
        .app
        .request(GET, "/api/units/export", e.slug(), Some(&e.t.admin_token))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()
            .get("x-content-type-options")
            .and_then(|v| v.to_str().ok()),
        Some("nosniff")
    );
    let bytes = resp.bytes().await.unwrap().to_vec();
    let mut wb: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
    let sheet = calamine::Reader::worksheet_range_at(&mut wb, 0)
        .unwrap()
        .unwrap();
    let names: Vec<String> = sheet.rows().skip(1).map(|r| r[6].to_string()).collect();
    assert_eq!(names, ["'=HYPERLINK(\"http://evil\",\"点此\")"]);
}

#[tokio::test]
async fn tokens_issued_before_a_suspension_stay_dead_after_reactivation() {
    let app = TestApp::start().await;
    let t = app.tenant().await;
    let platform = app.platform_token().await;
    let slug = t.tenant.slug.clone();
    let (s, _) = app
        .call(
            GET,
            "/api/staff/me",
            Some(&slug),
            Some(&t.admin_token),
            None,
        )
        .await;
    assert_eq!(s, 200);
    for action in ["suspend", "activate"] {
        let (s, b) = app
            .call(
                POST,
                &format!("/api/platform/tenants/{slug}/{action}"),
                None,
                Some(&platform),
                None,
            )
            .await;
        assert_eq!(s, 200, "{action}: {b}");
    }
    let (s, b) = app
        .call(
            GET,
            "/api/staff/me",
            Some(&slug),
            Some(&t.admin_token),
            None,
        )
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (401, Some("auth.invalid_token")),
        "{b}"
    );
    app.staff_login(&slug, "admin", &t.admin_password).await;
}

#[tokio::test]
async fn malformed_requests_get_a_chinese_answer_naming_the_field_without_parser_internals() {
    let e = Estate::new(1, false).await;
    let resp = e
        .app
        .request(POST, "/api/matters", e.slug(), Some(&e.t.admin_token))
        .header("content-type", "application/json")
        .body("{\"title\": 5")
        .send()
        .await
        .unwrap();
    let (s, b) = common::read(resp).await;
    assert_eq!(s, 400, "{b}");
    let (s, b) = e
        .app
        .call(
            POST,
            "/api/matters",
            e.slug(),
            Some(&e.t.admin_token),
            Some(json!({"estate_id": e.id, "title": 5})),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    let (s, page) = e
        .app
        .call(
            GET,
            "/api/units?page=abc",
            e.slug(),
            Some(&e.t.admin_token),
            None,
        )
        .await;
    assert_eq!(
        (s, page["fields"][0]["field"].as_str()),
        (400, Some("page")),
        "{page}"
    );
    for body in [&b, &page] {
        let text = body.to_string();
        for internal in ["Type", "serde", "::", "integer(", "parse"] {
            assert!(
                !text.contains(internal),
                "no parser internals ({internal}) in {text}"
            );
        }
        assert!(
            body["fields"][0]["message"]
                .as_str()
                .unwrap()
                .contains("格式不正确")
                || body["fields"][0]["message"]
                    .as_str()
                    .unwrap()
                    .contains("无法解析"),
            "{body}"
        );
    }
    // An address too long for any operation: our own 414, in Chinese, before any routing.
    let long = format!("/api/units?building={}", "1".repeat(9_000));
    let (s, b) = e
        .app
        .call(GET, &long, e.slug(), Some(&e.t.admin_token), None)
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (414, Some("request.uri_too_long")),
        "{b}"
    );
    assert!(
        b["message"].as_str().unwrap().contains("请求地址过长"),
        "{b}"
    );
}

#[tokio::test]
async fn metrics_are_not_served_on_the_api_port_without_a_token_outside_development() {
    let mut config = test_config();
    config.dev_mode = false;
    let app = TestApp::start_with(config).await;
    let (s, _) = app.call(GET, "/metrics", None, None, None).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn concurrent_changes_of_owner_leave_an_unbroken_history_ending_with_the_current_owner() {
    let e = Estate::new(1, false).await;
    let unit = e.units[0].0;
    let mut proofs = Vec::new();
    for _ in 0..20 {
        let form = reqwest::multipart::Form::new()
            .text("purpose", "proof")
            .part(
                "file",
                reqwest::multipart::Part::bytes(common::estate::PNG.to_vec()).file_name("证件.png"),
            );
        let (_, b) = common::read(
            e.app
                .request(POST, "/api/attachments", e.slug(), Some(&e.t.admin_token))
                .multipart(form)
                .send()
                .await
                .unwrap(),
        )
        .await;
        proofs.push(b["id"].clone());
    }
    let (e, proofs, path) = (&e, &proofs, format!("/api/units/{unit}/transfer"));
    let path = &path;
    let sales = (0..10).map(|i| async move {
        let body = json!({"new_owner_name": format!("买家{i}"), "new_owner_phone": phone(), "id_card_attachment_id": proofs[2 * i], "deed_attachment_id": proofs[2 * i + 1]});
        e.app.call(POST, path, e.slug(), Some(&e.t.admin_token), Some(body)).await
    });
    for (s, b) in futures_util::future::join_all(sales).await {
        assert_eq!(s, 200, "{b}");
    }
    let (_, history) = e
        .app
        .call(
            GET,
            &format!("/api/units/{unit}/transfers"),
            e.slug(),
            Some(&e.t.admin_token),
            None,
        )
        .await;
    let history = history["items"].as_array().unwrap();
    assert_eq!(history.len(), 10);
    let (_, units) = e
        .app
        .call(GET, "/api/units", e.slug(), Some(&e.t.admin_token), None)
        .await;
    assert_eq!(
        history[0]["new_owner_name"], units["items"][0]["owner_name"],
        "the newest entry names the current owner"
    );
    for pair in history.windows(2) {
        assert_eq!(
            pair[0]["old_owner_name"], pair[1]["new_owner_name"],
            "each change starts from the one before: {history:?}"
        );
    }
    assert_eq!(
        history[9]["old_owner_name"],
        e.units[0].1.as_str(),
        "the chain starts from the imported owner"
    );
}

#[tokio::test]
async fn registration_checks_the_code_before_hashing_and_a_busy_hasher_answers_503_with_retry_after(
) {
    let app = TestApp::start().await;
    let t = app.tenant().await;
    let slug = Some(t.tenant.slug.as_str());
    let p = phone();
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
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let register = |c: &str| json!({"real_name": "李四", "phone": p, "sms_code": c, "password": "Passw0rd", "accept_agreement": true});
    // Every hashing slot is taken: as under a burst of registrations.
    let slots = zhimaguan::auth::password::slots();
    let held = slots
        .acquire_many(slots.available_permits() as u32)
        .await
        .unwrap();
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
        (422, Some("sms.code_invalid")),
        "a wrong code is refused without waiting for a hash: {b}"
    );
    let resp = app
        .request(POST, "/api/owners/register", slug, None)
        .json(&register(&code))
        .send()
        .await
        .unwrap();
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (s, b) = common::read(resp).await;
    assert_eq!(
        (s, b["code"].as_str(), retry.as_deref()),
        (503, Some("auth.busy"), Some("2")),
        "{b}"
    );
    drop(held);
    // The retry the 503 asks for succeeds with the same code.
    let (s, b) = app
        .call(
            POST,
            "/api/owners/register",
            slug,
            None,
            Some(register(&code)),
        )
        .await;
    assert_eq!(s, 201, "{b}");
}

#[tokio::test]
async fn one_street_office_cannot_use_up_a_phones_sms_allowance_in_another() {
    let mut config = test_config();
    config.sms.daily_limit_per_phone_per_tenant = 2;
    config.sms.daily_limit_per_phone = 3;
    let app = TestApp::start_with(config).await;
    let (a, b) = (app.tenant().await, app.tenant().await);
    let p = phone();
    let send = |slug: String| {
        let app = &app;
        let p = p.clone();
        async move {
            app.call(
                POST,
                "/api/auth/sms-codes",
                Some(&slug),
                None,
                Some(json!({"phone": p, "purpose": "register"})),
            )
            .await
        }
    };
    for _ in 0..2 {
        assert_eq!(send(a.tenant.slug.clone()).await.0, 202);
        app.age_sms_sends(&p, 61).await;
    }
    let (s, body) = send(a.tenant.slug.clone()).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (429, Some("sms.daily_limit_tenant")),
        "{body}"
    );
    assert_eq!(
        send(b.tenant.slug.clone()).await.0,
        202,
        "the other office still has its allowance"
    );
    app.age_sms_sends(&p, 61).await;
    let (s, body) = send(b.tenant.slug.clone()).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (429, Some("sms.daily_limit_phone")),
        "the global cap against SMS bombing holds: {body}"
    );
}

#[tokio::test]
async fn code_requests_answer_alike_whether_or_not_a_phone_or_a_name_is_on_file() {
    let e = Estate::new(2, false).await;
    let (slug, app) = (e.slug(), &e.app);
    // A registered phone and a fresh one: the same answer to a registration-code request.
    let registered = phone();
    app.owner(&e.t.tenant, &registered, "Passw0rd").await;
    app.age_sms_sends(&registered, 61).await;
    let fresh = phone();
    let strip = |mut b: serde_json::Value| {
        b.as_object_mut().map(|o| o.remove("request_id"));
        b
    };
    let (s1, b1) = app
        .call(
            POST,
            "/api/auth/sms-codes",
            slug,
            None,
            Some(json!({"phone": registered, "purpose": "register"})),
        )
        .await;
    let (s2, b2) = app
        .call(
            POST,
            "/api/auth/sms-codes",
            slug,
            None,
            Some(json!({"phone": fresh, "purpose": "register"})),
        )
        .await;
    assert_eq!(
        (s1, strip(b1)),
        (s2, strip(b2)),
        "registered or not, the same answer"
    );

    // Guessing the roll owner's name: the code request answers the same for a wrong name; only
    // the holder of the roll's phone, with the code, learns that the name does not match.
    let guesser = app.owner(&e.t.tenant, &phone(), "Passw0rd").await; // registered as 张三
    let (unit, _, roll_phone) = &e.units[0];
    let (s, b) = app
        .call(
            POST,
            &format!("/api/verification/units/{unit}/sms-code"),
            slug,
            Some(&guesser),
            None,
        )
        .await;
    assert_eq!(s, 202, "no name is confirmed to the requester: {b}");
    let code = app.last_code(&e.t.tenant, roll_phone).await;
    let (s, b) = app
        .call(
            POST,
            &format!("/api/verification/units/{unit}"),
            slug,
            Some(&guesser),
            Some(json!({"sms_code": code})),
        )
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (403, Some("verification.name_mismatch")),
        "{b}"
    );
}

#[tokio::test]
async fn ballot_scans_and_signatures_are_read_only_within_the_estates_jurisdiction() {
    let e = Estate::new(2, false).await;
    let slug = e.slug();
    let owner = e.owner(0).await;
    let (s, m) = e.matter(&e.t.admin_token, 4).await;
    assert_eq!(s, 201, "{m}");
    let matter = m["id"].as_str().unwrap();
    let scan = e.scan().await;
    let (s, b) = e
        .app
        .call(
            POST,
            &format!("/api/matters/{matter}/paper-ballots"),
            slug,
            Some(&e.t.admin_token),
            Some(json!({"unit_id": e.units[1].0, "choice": "agree", "channel": "paper", "scan_attachment_id": scan})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let form = reqwest::multipart::Form::new()
        .text("purpose", "signature")
        .part(
            "file",
            reqwest::multipart::Part::bytes(common::estate::PNG.to_vec()).file_name("签名.png"),
        );
    let (_, signature) = common::read(
        e.app
            .request(POST, "/api/attachments", slug, Some(&owner))
            .multipart(form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let (s, b) = e
        .app
        .call(
            POST,
            &format!("/api/matters/{matter}/ballots"),
            slug,
            Some(&owner),
            Some(json!({"choice": "agree", "idempotency_key": "k", "signature_attachment_id": signature["id"]})),
        )
        .await;
    assert_eq!(s, 201, "{b}");

    // The estate's residents' committee reads them; another committee's staff do not.
    let (_, estate) = e
        .app
        .call(
            GET,
            &format!("/api/estates/{}", e.id),
            slug,
            Some(&e.t.admin_token),
            None,
        )
        .await;
    let own_rc = uuid::Uuid::parse_str(estate["rc_id"].as_str().unwrap()).unwrap();
    let (_, other_rc) = e
        .app
        .call(
            POST,
            "/api/residents-committees",
            slug,
            Some(&e.t.admin_token),
            Some(json!({"name": "别的居委会"})),
        )
        .await;
    let insider = e.app.staff(&e.t, "rc_staff", Some(own_rc)).await;
    let outsider = e
        .app
        .staff(
            &e.t,
            "rc_staff",
            Some(uuid::Uuid::parse_str(other_rc["id"].as_str().unwrap()).unwrap()),
        )
        .await;
    for file in [&scan, &signature["id"]] {
        let path = format!("/api/attachments/{}/content", file.as_str().unwrap());
        assert_eq!(
            e.app
                .request(GET, &path, slug, Some(&insider))
                .send()
                .await
                .unwrap()
                .status(),
            200,
            "{file}"
        );
        assert_eq!(
            e.app
                .request(GET, &path, slug, Some(&outsider))
                .send()
                .await
                .unwrap()
                .status(),
            404,
            "{file}"
        );
    }
    // Every read is audited.
    let conn = e.app.conn(&e.t.tenant).await;
    let reads: i64 = conn
        .query_one(
            "SELECT count(*) FROM audit_log WHERE object_type = 'attachment'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    conn.commit().await.unwrap();
    assert!(reads >= 2, "{reads} audited reads");
}

/// What a voter computes from their receipt to find their sealed choice in the ledger: written
/// here from the receipt's documentation, not from the service's code.
fn commitment_of(matter: &str, seq: i64, choice: &str, picks: &str, salt: &str) -> String {
    let mut h = <sha2::Sha256 as sha2::Digest>::new();
    for part in [
        "zmg-commit-v1",
        matter,
        &seq.to_string(),
        choice,
        picks,
        salt,
    ] {
        sha2::Digest::update(&mut h, part.as_bytes());
        sha2::Digest::update(&mut h, [0u8]);
    }
    hex::encode(sha2::Digest::finalize(h))
}

#[tokio::test]
async fn while_voting_is_open_the_ledger_shows_commitments_not_choices_and_the_close_reveals_them_checkably(
) {
    let e = Estate::new(3, false).await;
    let owners = [e.owner(0).await, e.owner(1).await, e.owner(2).await];
    let (_, m) = e.matter(&e.t.admin_token, 4).await;
    let matter = m["id"].as_str().unwrap().to_string();
    let mut receipts = Vec::new();
    for (token, choice) in owners.iter().zip(["agree", "disagree", "agree"]) {
        let (s, r) = e.cast(token, &matter, choice, choice).await;
        assert_eq!(s, 201, "{r}");
        receipts.push(r);
    }
    // A curious neighbour reads the ledger during the vote: who voted, but not how.
    let (s, ledger) = e
        .app
        .call(
            GET,
            &format!("/api/matters/{matter}/ledger"),
            e.slug(),
            Some(&owners[1]),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let entries = ledger["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    for entry in entries {
        assert!(
            entry["choice"].is_null() && entry["salt"].is_null(),
            "sealed while open: {entry}"
        );
        assert_eq!(
            entry["commitment"].as_str().map(str::len),
            Some(64),
            "{entry}"
        );
    }
    assert!(
        !entries.iter().any(|x| x.to_string().contains("agree")),
        "no choice anywhere in the entries"
    );
    // Each voter finds their own entry and checks the commitment with the salt on the receipt.
    for (receipt, choice) in receipts.iter().zip(["agree", "disagree", "agree"]) {
        let entry = entries
            .iter()
            .find(|x| x["hash"] == receipt["entry_hash"])
            .expect("the receipt's entry");
        let salt = receipt["salt"]
            .as_str()
            .expect("the receipt carries the salt");
        let expected = commitment_of(
            &matter,
            receipt["ledger_seq"].as_i64().unwrap(),
            choice,
            "",
            salt,
        );
        assert_eq!(
            entry["commitment"].as_str(),
            Some(expected.as_str()),
            "the voter's own check"
        );
        assert_ne!(
            commitment_of(
                &matter,
                receipt["ledger_seq"].as_i64().unwrap(),
                "abstain",
                "",
                salt
            ),
            expected
        );
    }
    // Nor can the neighbour diff the live counts between two looks: owners see turnout only.
    let (_, t) = e
        .app
        .call(
            GET,
            &format!("/api/matters/{matter}/tally"),
            e.slug(),
            Some(&owners[1]),
            None,
        )
        .await;
    assert_eq!(
        (
            t["choices_sealed"].as_bool(),
            t["participants"]["heads"].as_i64()
        ),
        (Some(true), Some(3)),
        "{t}"
    );
    for hidden in [
        "agree",
        "disagree",
        "abstain",
        "invalid",
        "followers",
        "approval",
        "passed",
    ] {
        assert!(
            t.get(hidden).is_none(),
            "{hidden} withheld from owners while open: {t}"
        );
    }
    let t = e.tally(&matter).await;
    assert_eq!(
        (t["choices_sealed"].as_bool(), t["agree"]["heads"].as_i64()),
        (Some(false), Some(2)),
        "staff running the vote see the split: {t}"
    );
    let v = e.verification(&matter).await;
    assert_eq!(
        (
            v["sealed"].as_bool(),
            v["root_matches"].as_bool(),
            v["tally_matches"].as_bool()
        ),
        (Some(true), Some(true), Some(true)),
        "{v}"
    );
    assert!(
        v.get("recomputed").is_none(),
        "no recount from sealed choices: {v}"
    );
    let sealed_root = ledger["root"].clone();

    // The close reveals every choice and salt; the hashes and root are those published before.
    let conn = e.app.conn(&e.t.tenant).await;
    conn.execute(
        "UPDATE matters SET closes_at = now() - interval '1 second' WHERE id = $1",
        &[&uuid::Uuid::parse_str(&matter).unwrap()],
    )
    .await
    .unwrap();
    conn.commit().await.unwrap();
    let (s, closed) = e
        .app
        .call(
            POST,
            &format!("/api/matters/{matter}/close"),
            e.slug(),
            Some(&e.t.admin_token),
            None,
        )
        .await;
    assert_eq!(s, 200, "{closed}");
    let (_, revealed) = e
        .app
        .call(
            GET,
            &format!("/api/matters/{matter}/ledger"),
            e.slug(),
            Some(&owners[1]),
            None,
        )
        .await;
    assert_eq!(
        revealed["root"], sealed_root,
        "the close declares the root the sealed ledger already had"
    );
    for entry in revealed["entries"].as_array().unwrap() {
        let expected = commitment_of(
            &matter,
            entry["seq"].as_i64().unwrap(),
            entry["choice"].as_str().unwrap(),
            "",
            entry["salt"].as_str().unwrap(),
        );
        assert_eq!(
            entry["commitment"].as_str(),
            Some(expected.as_str()),
            "anyone checks the reveal: {entry}"
        );
    }
    let v = e.verification(&matter).await;
    assert_eq!(
        (
            v["sealed"].as_bool(),
            v["tally_matches"].as_bool(),
            v["recomputed"]["agree"]["heads"].as_i64()
        ),
        (Some(false), Some(true), Some(2)),
        "{v}"
    );
    let (_, t) = e
        .app
        .call(
            GET,
            &format!("/api/matters/{matter}/tally"),
            e.slug(),
            Some(&owners[1]),
            None,
        )
        .await;
    assert_eq!(
        (
            t["choices_sealed"].as_bool(),
            t["agree"]["heads"].as_i64(),
            t["passed"].as_bool()
        ),
        (Some(false), Some(2), Some(true)),
        "{t}"
    );

    // `zmg verify-matter` checks the reveal offline: a choice changed after the close is caught
    // although every hash and the root still match.
    let (ok, report) = e.verify_offline(&revealed).await;
    assert!(ok, "{report}");
    let mut tampered = revealed.clone();
    let flipped = if tampered["entries"][1]["choice"] == "agree" {
        "disagree"
    } else {
        "agree"
    };
    tampered["entries"][1]["choice"] = json!(flipped);
    let (ok, report) = e.verify_offline(&tampered).await;
    assert!(
        !ok && report.contains("root: published") && report.contains("break their commitment [2]"),
        "{report}"
    );
}
