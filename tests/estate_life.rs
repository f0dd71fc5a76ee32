//! The estate's life as staff run it and owners see it: committee members marked and removed
//! one at a time with their whole history, the preparatory group before the first committee,
//! and the documents owners vote on.

mod common;

use chrono::{Duration, Utc};
use common::estate::{Estate, PNG};
use reqwest::{multipart, Method};
use serde_json::{json, Value};
use uuid::Uuid;

const GET: Method = Method::GET;
const POST: Method = Method::POST;
const DELETE: Method = Method::DELETE;

async fn owner_id(e: &Estate, token: &str) -> Value {
    let (_, me) = e
        .app
        .call(GET, "/api/me", e.slug(), Some(token), None)
        .await;
    me["id"].clone()
}

async fn members(e: &Estate, query: &str) -> Vec<Value> {
    let (s, list) = e
        .app
        .call(
            GET,
            &format!("/api/estates/{}/oc-members{query}", e.id),
            e.slug(),
            Some(&e.t.admin_token),
            None,
        )
        .await;
    assert_eq!(s, 200, "{list}");
    list["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn staff_mark_and_remove_committee_members_one_at_a_time_and_every_grant_stays_on_record() {
    let e = Estate::new(3, false).await;
    let (a, b) = (e.owner(0).await, e.owner(1).await);
    let (a_id, b_id) = (owner_id(&e, &a).await, owner_id(&e, &b).await);
    let grants = format!("/api/estates/{}/oc-members", e.id);
    let (s, granted) = e
        .app
        .call(
            POST,
            &grants,
            e.slug(),
            Some(&e.t.admin_token),
            Some(json!({"owner_id": a_id})),
        )
        .await;
    assert_eq!((s, granted["term_id"].as_str()), (201, None), "{granted}");
    let (s, again) = e
        .app
        .call(
            POST,
            &grants,
            e.slug(),
            Some(&e.t.admin_token),
            Some(json!({"owner_id": a_id})),
        )
        .await;
    assert_eq!(
        (s, again["code"].as_str()),
        (409, Some("oc.already_member"))
    );

    // B was elected: a term's grant runs to the term's last day. (Written as the term
    // appointment writes it; tests/elections.rs drives the appointment itself.)
    let conn = e.app.conn(&e.t.tenant).await;
    let staff: Uuid = conn
        .query_one("SELECT id FROM staff LIMIT 1", &[])
        .await
        .unwrap()
        .get(0);
    let b_uuid = Uuid::parse_str(b_id.as_str().unwrap()).unwrap();
    conn.execute(
        "INSERT INTO oc_members (id, estate_id, owner_id, granted_by, granted_at, revoked_at) VALUES ($1, $2, $3, $4, now() - interval '1 day', now() + interval '3 years')",
        &[&Uuid::new_v4(), &e.id, &b_uuid, &staff],
    )
    .await
    .unwrap();
    conn.commit().await.unwrap();
    assert_eq!(members(&e, "").await.len(), 2);
    // An elected member who already serves is not granted twice.
    let (s, _) = e
        .app
        .call(
            POST,
            &grants,
            e.slug(),
            Some(&e.t.admin_token),
            Some(json!({"owner_id": b_id})),
        )
        .await;
    assert_eq!(s, 409, "B already serves by election");

    // Removing the elected member works like removing a marked one.
    let (s, body) = e
        .app
        .call(
            DELETE,
            &format!("{grants}/{}", b_id.as_str().unwrap()),
            e.slug(),
            Some(&e.t.admin_token),
            None,
        )
        .await;
    assert_eq!(s, 204, "{body}");
    let serving: Vec<Value> = members(&e, "")
        .await
        .iter()
        .map(|m| m["owner_id"].clone())
        .collect();
    assert_eq!(serving, vec![a_id.clone()], "only A serves now");
    // Owners read who serves in their estate's information (names only).
    let (s, estate) = e
        .app
        .call(
            GET,
            &format!("/api/estates/{}", e.id),
            e.slug(),
            Some(&b),
            None,
        )
        .await;
    assert_eq!(
        (s, estate["committee_members"].clone()),
        (200, json!(["业主0"])),
        "{estate}"
    );
    let (s, b_matter) = e.matter(&b, 1).await;
    assert_eq!(
        (s, b_matter["code"].as_str()),
        (403, Some("matter.not_oc_member")),
        "B's role has ended"
    );
    let (s, body) = e
        .app
        .call(
            DELETE,
            &format!("{grants}/{}", b_id.as_str().unwrap()),
            e.slug(),
            Some(&e.t.admin_token),
            None,
        )
        .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (404, Some("oc.not_member")),
        "removing twice"
    );

    // The history keeps both grants, the ended one with its end and reason.
    let history = members(&e, "?history=true").await;
    assert_eq!(history.len(), 2, "{history:?}");
    let ended = history.iter().find(|m| m["owner_id"] == b_id).unwrap();
    assert_eq!(ended["end_reason"], "removed");
    let ends = chrono::DateTime::parse_from_rfc3339(ended["ends_at"].as_str().unwrap()).unwrap();
    assert!(
        ends <= Utc::now() + Duration::seconds(1),
        "ended now, not after three years: {ended}"
    );
    // Marked again later: a new grant, the old one stays.
    let (s, _) = e
        .app
        .call(
            POST,
            &grants,
            e.slug(),
            Some(&e.t.admin_token),
            Some(json!({"owner_id": b_id})),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(members(&e, "?history=true").await.len(), 3);
    assert_eq!(members(&e, "").await.len(), 2);
}

#[tokio::test]
async fn a_first_committee_needs_a_formed_preparatory_group_and_a_serving_committee_needs_none() {
    let e = Estate::new(3, false).await;
    let a = e.owner(0).await;
    let today = Utc::now().date_naive();
    let term = json!({"name": "第一届业主委员会", "starts_on": today, "ends_on": today + Duration::days(3 * 365), "seats": 5});
    let terms = format!("/api/estates/{}/terms", e.id);
    let (s, b) = e
        .app
        .call(
            POST,
            &terms,
            e.slug(),
            Some(&e.t.admin_token),
            Some(term.clone()),
        )
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (409, Some("term.needs_prep_group")),
        "no group formed yet: {b}"
    );

    let group = json!({
        "name": "筹备组", "seats": 5, "leader_phone": "13900000000", "leader_phone_public": false,
        "signup_opens_at": Utc::now() - Duration::seconds(5), "signup_closes_at": Utc::now() + Duration::hours(1)
    });
    let groups = format!("/api/estates/{}/prep-groups", e.id);
    let (s, g) = e
        .app
        .call(
            POST,
            &groups,
            e.slug(),
            Some(&e.t.admin_token),
            Some(group.clone()),
        )
        .await;
    assert_eq!(s, 201, "{g}");
    let (s, b) = e
        .app
        .call(
            POST,
            &groups,
            e.slug(),
            Some(&e.t.admin_token),
            Some(group.clone()),
        )
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (409, Some("prep.group_forming")),
        "a second group while one forms: {b}"
    );
    let (s, b) = e
        .app
        .call(
            POST,
            &terms,
            e.slug(),
            Some(&e.t.admin_token),
            Some(term.clone()),
        )
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (409, Some("term.needs_prep_group")),
        "the group is not formed yet: {b}"
    );

    // Another estate whose committee serves: no group, and its re-election needs none.
    let e2 = Estate::new(2, false).await;
    let member = e2.owner(0).await;
    let member_id = owner_id(&e2, &member).await;
    let (s, _) = e2
        .app
        .call(
            POST,
            &format!("/api/estates/{}/oc-members", e2.id),
            e2.slug(),
            Some(&e2.t.admin_token),
            Some(json!({"owner_id": member_id})),
        )
        .await;
    assert_eq!(s, 201);
    let (s, b) = e2
        .app
        .call(
            POST,
            &format!("/api/estates/{}/prep-groups", e2.id),
            e2.slug(),
            Some(&e2.t.admin_token),
            Some(group),
        )
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (409, Some("prep.committee_serving")),
        "{b}"
    );
    let (s, b) = e2
        .app
        .call(
            POST,
            &format!("/api/estates/{}/terms", e2.id),
            e2.slug(),
            Some(&e2.t.admin_token),
            Some(term),
        )
        .await;
    assert_eq!(
        s, 201,
        "a serving committee's estate re-elects without a group: {b}"
    );
    drop(a);
}

async fn upload(e: &Estate, token: &str, name: &str) -> Value {
    let form = multipart::Form::new().text("purpose", "document").part(
        "file",
        multipart::Part::bytes(PNG.to_vec()).file_name(name.to_string()),
    );
    let (s, b) = common::read(
        e.app
            .request(POST, "/api/attachments", e.slug(), Some(token))
            .multipart(form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    b["id"].clone()
}

async fn download(e: &Estate, token: &str, attachment: &Value) -> u16 {
    let resp = e
        .app
        .request(
            GET,
            &format!("/api/attachments/{}/content", attachment.as_str().unwrap()),
            e.slug(),
            Some(token),
        )
        .send()
        .await
        .unwrap();
    resp.status().as_u16()
}

#[tokio::test]
async fn owners_read_the_documents_of_the_matters_they_may_see_and_nothing_else() {
    let e = Estate::new(2, true).await;
    let (holder, member) = (e.owner(0).await, e.owner(1).await);
    let member_id = owner_id(&e, &member).await;
    e.app
        .call(
            POST,
            &format!("/api/estates/{}/oc-members", e.id),
            e.slug(),
            Some(&e.t.admin_token),
            Some(json!({"owner_id": member_id})),
        )
        .await;
    // An owner of another estate of the same street office.
    let other = Estate::new(1, false).await;
    let outsider_in_other_tenant = other.owner(0).await;
    let outsider = e.app.owner(&e.t.tenant, &common::phone(), "Passw0rd").await;

    let plan = upload(&e, &e.t.admin_token, "维修方案.png").await;
    let draft = upload(&e, &member, "草案.png").await;
    let unused = upload(&e, &e.t.admin_token, "内部.png").await;
    let matter = |attachment: &Value| {
        json!({
            "estate_id": e.id, "type_name": "公共收益", "title": "电梯维修", "content": "详见附件", "importance": "important",
            "opens_at": Utc::now() + Duration::days(1), "closes_at": Utc::now() + Duration::days(8), "law_item": 5, "attachment_ids": [attachment]
        })
    };
    let (s, m) = e
        .app
        .call(
            POST,
            "/api/matters",
            e.slug(),
            Some(&e.t.admin_token),
            Some(matter(&plan)),
        )
        .await;
    assert_eq!(s, 201, "{m}");
    // The committee member's matter waits for approval: only the member sees it yet.
    let (s, pending) = e
        .app
        .call(
            POST,
            "/api/matters",
            e.slug(),
            Some(&member),
            Some(matter(&draft)),
        )
        .await;
    assert_eq!(
        (s, pending["status"].as_str()),
        (201, Some("pending_approval")),
        "{pending}"
    );

    // A committee member cannot publish someone else's file to the whole estate by naming its id.
    let private = upload(&e, &holder, "私人文件.png").await;
    let (s, b) = e
        .app
        .call(
            POST,
            "/api/matters",
            e.slug(),
            Some(&member),
            Some(matter(&private)),
        )
        .await;
    assert_eq!(
        (s, b["fields"][0]["field"].as_str()),
        (422, Some("attachment_ids")),
        "{b}"
    );
    assert_eq!(download(&e, &member, &private).await, 404);
    assert_eq!(
        download(&e, &holder, &plan).await,
        200,
        "an owner of the estate reads the matter's document"
    );
    assert_eq!(download(&e, &member, &plan).await, 200);
    assert_eq!(
        download(&e, &outsider, &plan).await,
        404,
        "an owner with no unit in the estate"
    );
    assert_eq!(
        download(&other, &outsider_in_other_tenant, &plan).await,
        404,
        "another street office"
    );
    assert_eq!(
        download(&e, &holder, &draft).await,
        404,
        "not before approval"
    );
    assert_eq!(
        download(&e, &member, &draft).await,
        200,
        "the member who uploaded it"
    );
    assert_eq!(
        download(&e, &holder, &unused).await,
        404,
        "a staff document no matter uses"
    );
    let (s, _) = e
        .app
        .call(
            POST,
            &format!("/api/matters/{}/approve", pending["id"].as_str().unwrap()),
            e.slug(),
            Some(&e.t.admin_token),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        download(&e, &holder, &draft).await,
        200,
        "approved: every owner of the estate"
    );
}
