//! The audit trail is complete. Street staff and platform staff drive every write operation the
//! policy gives staff, each once to success, in the order an estate lives through them: accounts,
//! committees and estates, the housing roll, co-owners, a preparatory group voted in, a term's
//! election over two rounds, matters with paper ballots, voids and deliveries, approval of owners'
//! matters, and the platform's tenant lifecycle. As each write returns it must have left exactly
//! one audit entry under its request id, written by the same transaction as its change (a row of
//! the change carries the audit entry's transaction id; see `TestApp::audit_each_write`). At the
//! end every staff write operation in the policy must have been driven: a new one fails this test
//! until it is added here.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, Utc};
use common::{estate::Estate, unique};
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

const GET: Method = Method::GET;
const POST: Method = Method::POST;

struct Trail {
    e: Estate,
}

impl Trail {
    /// A call that must succeed.
    async fn ok(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Value {
        let (s, b) = self
            .e
            .app
            .call(method, path, self.e.slug(), Some(token), body)
            .await;
        assert!((200..300).contains(&s), "{path}: {s} {b}");
        b
    }

    async fn sql(&self, statement: &str, id: &Value) {
        let conn = self.e.app.conn(&self.e.t.tenant).await;
        conn.execute(
            statement,
            &[&Uuid::parse_str(id.as_str().unwrap()).unwrap()],
        )
        .await
        .unwrap();
        conn.commit().await.unwrap();
    }
}

#[tokio::test]
async fn every_staff_write_operation_leaves_one_audit_entry_in_the_transaction_of_its_change() {
    let mut e = Estate::new(6, false).await;
    e.app.audit_each_write = true;
    let admin = e.t.admin_token.clone();
    let w = Trail { e };
    let estate = w.e.id;
    let units: Vec<Uuid> = w.e.units.iter().map(|u| u.0).collect();

    // Accounts: a new colleague changes the password and logs out.
    let username = unique("u");
    let created = w
        .ok(
            POST,
            "/api/staff",
            &admin,
            Some(json!({"username": username, "display_name": "审计员", "role": "street_staff"})),
        )
        .await;
    let colleague =
        w.e.app
            .staff_login(
                &w.e.t.tenant.slug,
                &username,
                created["initial_password"].as_str().unwrap(),
            )
            .await;
    let change =
        json!({"old_password": created["initial_password"], "new_password": "Audit-Trail-2026"});
    w.ok(POST, "/api/staff/me/password", &colleague, Some(change))
        .await;
    let colleague =
        w.e.app
            .staff_login(&w.e.t.tenant.slug, &username, "Audit-Trail-2026")
            .await;
    w.ok(POST, "/api/auth/logout", &colleague, None).await;

    // Committees and estates, a neighbouring estate's roll, a sale.
    let rc = w
        .ok(
            POST,
            "/api/residents-committees",
            &admin,
            Some(json!({"name": "审计居委会"})),
        )
        .await;
    w.ok(
        Method::PUT,
        &format!("/api/residents-committees/{}", rc["id"].as_str().unwrap()),
        &admin,
        Some(json!({"name": "审计社区居委会"})),
    )
    .await;
    let neighbours = w
        .ok(
            POST,
            "/api/estates",
            &admin,
            Some(json!({"rc_id": rc["id"], "name": "审计小区", "co_owner_verification": true})),
        )
        .await;
    w.e.neighbour_owner(Uuid::parse_str(neighbours["id"].as_str().unwrap()).unwrap())
        .await;
    w.e.transfer(units[5], "买家").await;

    // Co-owner applications: one approved, one rejected, one deleted.
    let mut owners = Vec::new();
    for i in 0..5 {
        owners.push(w.e.owner(i).await);
    }
    let mut applications = Vec::new();
    for i in 0..3 {
        let proof = w.e.upload(&owners[i], "proof", "证件.png").await;
        let apply = json!({"name": format!("共有人{i}"), "phone": common::phone(), "proof_attachment_ids": [proof]});
        let application = w
            .ok(
                POST,
                &format!("/api/me/properties/{}/co-owners", units[i]),
                &owners[i],
                Some(apply),
            )
            .await;
        applications.push(application["id"].as_str().unwrap().to_string());
    }
    w.ok(
        POST,
        &format!("/api/co-owner-applications/{}/approve", applications[0]),
        &admin,
        None,
    )
    .await;
    w.ok(
        POST,
        &format!("/api/co-owner-applications/{}/reject", applications[1]),
        &admin,
        Some(json!({"reason": "材料不全"})),
    )
    .await;
    w.ok(
        Method::DELETE,
        &format!("/api/co-owner-applications/{}", applications[2]),
        &admin,
        None,
    )
    .await;

    // A preparatory group: four owners for three seats, voted on paper.
    let group = w.e.prep_group("审计筹备组").await;
    for owner in &owners[..4] {
        let signature = w.e.upload(owner, "signature", "签名.png").await;
        let member = w
            .ok(
                POST,
                &format!("/api/prep-groups/{group}/signups"),
                owner,
                Some(json!({"intro": "愿意服务", "signature_attachment_id": signature})),
            )
            .await;
        w.ok(
            POST,
            &format!(
                "/api/prep-members/{}/review",
                member["id"].as_str().unwrap()
            ),
            &admin,
            Some(json!({"approve": true})),
        )
        .await;
    }
    w.sql(
        "UPDATE prep_groups SET signup_closes_at = now() - interval '2 seconds' WHERE id = $1",
        &json!(group),
    )
    .await;
    let voting = || json!({"opens_at": Utc::now() - Duration::seconds(1), "closes_at": Utc::now() + Duration::days(3)});
    let prep_round = w
        .ok(
            POST,
            &format!("/api/prep-groups/{group}/election"),
            &admin,
            Some(json!({"voting": voting()})),
        )
        .await;
    let picks: Vec<Value> = prep_round["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .take(3)
        .map(|c| c["id"].clone())
        .collect();
    count_on_paper(&w, &prep_round, &picks).await;
    w.ok(
        POST,
        &format!("/api/prep-groups/{group}/confirm"),
        &admin,
        None,
    )
    .await;

    // The first term's election: five candidates for five seats, three elected in round one; the
    // second round is called off; the elected take office.
    let today = Utc::now().date_naive();
    let term = w
        .ok(
            POST,
            &format!("/api/estates/{estate}/terms"),
            &admin,
            Some(json!({"name": "第一届业主委员会", "starts_on": today, "ends_on": today + Duration::days(3 * 365), "seats": 5})),
        )
        .await;
    let term = term["id"].as_str().unwrap().to_string();
    let soon = Utc::now() + Duration::hours(1);
    let round = json!({
        "signup_opens_at": Utc::now() - Duration::seconds(5), "signup_closes_at": soon,
        "voting": {"opens_at": soon, "closes_at": soon + Duration::days(3)}, "verification_mode": "signature_face"
    });
    let first = w
        .ok(
            POST,
            &format!("/api/terms/{term}/elections"),
            &admin,
            Some(round),
        )
        .await;
    let first_id = first["id"].as_str().unwrap().to_string();
    let mut candidates = Vec::new();
    for owner in &owners {
        let signature = w.e.upload(owner, "signature", "签名.png").await;
        let c = w
            .ok(
                POST,
                &format!("/api/elections/{first_id}/candidates"),
                owner,
                Some(json!({"intro": "候选人", "signature_attachment_id": signature})),
            )
            .await;
        w.ok(
            POST,
            &format!("/api/candidates/{}/review", c["id"].as_str().unwrap()),
            &admin,
            Some(json!({"approve": true})),
        )
        .await;
        candidates.push(c["id"].clone());
    }
    w.sql(
        "UPDATE elections SET signup_closes_at = now() - interval '2 seconds' WHERE id = $1",
        &first["id"],
    )
    .await;
    w.sql(
        "UPDATE matters SET opens_at = now() - interval '1 second' WHERE id = $1",
        &first["matter_id"],
    )
    .await;
    let (_, me) =
        w.e.app
            .call(GET, "/api/me", w.e.slug(), Some(&owners[4]), None)
            .await;
    w.ok(
        POST,
        &format!("/api/elections/{first_id}/in-person-checks"),
        &admin,
        Some(json!({"owner_id": me["id"]})),
    )
    .await;
    count_on_paper(&w, &first, &candidates[..3]).await;
    let second = w
        .ok(
            POST,
            &format!("/api/elections/{first_id}/next-round"),
            &admin,
            Some(json!({"voting": voting()})),
        )
        .await;
    w.ok(
        POST,
        &format!("/api/elections/{}/cancel", second["id"].as_str().unwrap()),
        &admin,
        Some(json!({"reason": "另行组织"})),
    )
    .await;
    w.ok(POST, &format!("/api/terms/{term}/committee"), &admin, None)
        .await;

    // Matter types; a matter with a paper ballot voided, a deadline moved, then called off; one
    // deleted before it opens; one where a delivered non-voter follows the majority, closed.
    let types = format!("/api/estates/{estate}/matter-types");
    w.ok(POST, &types, &admin, Some(json!({"name": "停车管理"})))
        .await;
    w.ok(Method::DELETE, &format!("{types}/停车管理"), &admin, None)
        .await;
    let (s, matter) = w.e.matter(&admin, 4).await;
    assert_eq!(s, 201, "{matter}");
    let matter = matter["id"].as_str().unwrap().to_string();
    let paper = json!({"unit_id": units[3], "choice": "agree", "channel": "paper", "scan_attachment_id": w.e.scan().await});
    let ballot = w
        .ok(
            POST,
            &format!("/api/matters/{matter}/paper-ballots"),
            &admin,
            Some(paper),
        )
        .await;
    w.ok(
        POST,
        &format!(
            "/api/ballots/{}/void",
            ballot["ballot_id"].as_str().unwrap()
        ),
        &admin,
        Some(json!({"reason": "登记有误"})),
    )
    .await;
    w.ok(
        POST,
        &format!("/api/matters/{matter}/deadline"),
        &admin,
        Some(json!({"closes_at": Utc::now() + Duration::days(10)})),
    )
    .await;
    w.ok(
        POST,
        &format!("/api/matters/{matter}/cancel"),
        &admin,
        Some(json!({"reason": "议题撤回"})),
    )
    .await;
    let later = matter_body(estate, Utc::now() + Duration::days(1), false);
    let later = w.ok(POST, "/api/matters", &admin, Some(later)).await;
    w.ok(
        Method::DELETE,
        &format!("/api/matters/{}", later["id"].as_str().unwrap()),
        &admin,
        None,
    )
    .await;
    let follow = w
        .ok(
            POST,
            "/api/matters",
            &admin,
            Some(matter_body(estate, Utc::now() - Duration::seconds(1), true)),
        )
        .await;
    let follow = follow["id"].as_str().unwrap().to_string();
    assert_eq!(w.e.cast(&owners[0], &follow, "agree", "a").await.0, 201);
    let proof = w.e.upload(&admin, "proof", "送达.png").await;
    w.ok(
        POST,
        &format!("/api/matters/{follow}/deliveries"),
        &admin,
        Some(json!({"unit_id": units[4], "proof_attachment_id": proof})),
    )
    .await;
    w.sql(
        "UPDATE matters SET closes_at = now() - interval '1 second' WHERE id = $1",
        &json!(follow),
    )
    .await;
    w.ok(POST, &format!("/api/matters/{follow}/close"), &admin, None)
        .await;

    // Owners' matters wait for approval: staff turn that on, grant a caretaker member the role,
    // approve one of the member's matters and reject another, then end the grant.
    let (_, view) =
        w.e.app
            .call(
                GET,
                &format!("/api/estates/{estate}"),
                w.e.slug(),
                Some(&admin),
                None,
            )
            .await;
    let update = json!({"rc_id": view["rc_id"], "name": view["name"], "co_owner_verification": true, "deliberation_needs_approval": true});
    w.ok(
        Method::PUT,
        &format!("/api/estates/{estate}"),
        &admin,
        Some(update),
    )
    .await;
    let (_, caretaker) =
        w.e.app
            .call(GET, "/api/me", w.e.slug(), Some(&owners[3]), None)
            .await;
    w.ok(
        POST,
        &format!("/api/estates/{estate}/oc-members"),
        &admin,
        Some(json!({"owner_id": caretaker["id"]})),
    )
    .await;
    for (decision, body) in [
        ("approve", None),
        ("reject", Some(json!({"reason": "不属于业主大会事项"}))),
    ] {
        let (s, m) = w.e.matter(&owners[3], 4).await;
        assert_eq!(
            (s, m["status"].as_str()),
            (201, Some("pending_approval")),
            "{m}"
        );
        w.ok(
            POST,
            &format!("/api/matters/{}/{decision}", m["id"].as_str().unwrap()),
            &admin,
            body,
        )
        .await;
    }
    w.ok(
        Method::DELETE,
        &format!(
            "/api/estates/{estate}/oc-members/{}",
            caretaker["id"].as_str().unwrap()
        ),
        &admin,
        None,
    )
    .await;

    // The platform: a street office onboarded, suspended and activated again; a password change.
    let platform_user = unique("p");
    let password =
        zhimaguan::platform::create_staff(&w.e.app.state.pool, &platform_user, "平台审计")
            .await
            .unwrap();
    let (_, login) =
        w.e.app
            .call(
                POST,
                "/api/platform/auth/login",
                None,
                None,
                Some(json!({"username": platform_user, "password": password})),
            )
            .await;
    let platform = login["token"].as_str().unwrap().to_string();
    let platform_call = |method: Method, path: String, body: Option<Value>| {
        let (app, platform) = (&w.e.app, &platform);
        async move {
            let (s, b) = app.call(method, &path, None, Some(platform), body).await;
            assert!((200..300).contains(&s), "{path}: {s} {b}");
            b
        }
    };
    let slug = unique("t");
    platform_call(
        POST,
        "/api/platform/tenants".into(),
        Some(json!({"slug": slug, "name": "审计街道办事处"})),
    )
    .await;
    platform_call(POST, format!("/api/platform/tenants/{slug}/suspend"), None).await;
    platform_call(POST, format!("/api/platform/tenants/{slug}/activate"), None).await;
    platform_call(
        POST,
        "/api/platform/me/password".into(),
        Some(json!({"old_password": password, "new_password": "Platform-Audit-2026"})),
    )
    .await;
    let (_, login) =
        w.e.app
            .call(
                POST,
                "/api/platform/auth/login",
                None,
                None,
                Some(json!({"username": platform_user, "password": "Platform-Audit-2026"})),
            )
            .await;
    let (s, _) =
        w.e.app
            .call(
                POST,
                "/api/platform/auth/logout",
                None,
                login["token"].as_str(),
                None,
            )
            .await;
    assert_eq!(s, 204);

    let journal = w.e.app.journal.lock().unwrap().clone();
    let problems: Vec<&String> = journal
        .iter()
        .filter_map(|j| j.audit_problem.as_ref())
        .collect();
    assert!(problems.is_empty(), "audit trail gaps: {problems:#?}");
    let driven: BTreeSet<String> = journal
        .iter()
        .filter(|j| (200..300).contains(&j.status))
        .map(|j| j.operation.clone())
        .collect();
    let missing: Vec<String> = staff_write_operations()
        .into_iter()
        .filter(|op| !driven.contains(op))
        .collect();
    assert!(
        missing.is_empty(),
        "staff write operations this test does not drive yet: {missing:?}"
    );
}

/// Staff enter one paper ballot for each of the first five units picking `picks`, and the round
/// is closed past its deadline.
async fn count_on_paper(w: &Trail, round: &Value, picks: &[Value]) {
    let admin = w.e.t.admin_token.clone();
    let id = round["id"].as_str().unwrap();
    for unit in 0..5 {
        let body = json!({"unit_id": w.e.units[unit].0, "picks": picks, "channel": "paper", "scan_attachment_id": w.e.scan().await});
        w.ok(
            POST,
            &format!("/api/elections/{id}/paper-ballots"),
            &admin,
            Some(body),
        )
        .await;
    }
    w.sql(
        "UPDATE matters SET closes_at = now() - interval '1 second' WHERE id = $1",
        &round["matter_id"],
    )
    .await;
    let counted = w
        .ok(POST, &format!("/api/elections/{id}/close"), &admin, None)
        .await;
    assert_eq!(
        counted["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["elected"] == true)
            .count(),
        picks.len(),
        "{counted}"
    );
}

fn matter_body(estate: Uuid, opens_at: chrono::DateTime<Utc>, follow: bool) -> Value {
    json!({
        "estate_id": estate, "type_name": "公共收益", "title": "审计", "content": "", "importance": "normal",
        "opens_at": opens_at, "closes_at": opens_at + Duration::days(7), "law_item": 4, "non_voters_follow_majority": follow
    })
}

/// Every operation the policy lets street, committee or platform staff call that is not a read.
fn staff_write_operations() -> Vec<String> {
    let spec: Value = zhimaguan::openapi::document();
    let access = common::expected_access();
    let mut writes = Vec::new();
    for item in spec["paths"].as_object().unwrap().values() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap();
            let roles: &BTreeMap<String, bool> = &access[id];
            if method != "get"
                && ["street_staff", "rc_staff", "platform_staff"]
                    .iter()
                    .any(|r| roles[*r])
            {
                writes.push(id.to_string());
            }
        }
    }
    writes
}
