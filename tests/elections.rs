//! Elections end to end: one estate from its housing import through a preparatory group (with
//! an owners' vote for its owner seats) to a two-round owners'-committee election with online
//! and paper ballots and face checks, ending with the elected holding the committee role.

mod common;

use chrono::{Duration, Utc};
use common::estate::Estate;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

const GET: Method = Method::GET;
const POST: Method = Method::POST;

/// The owner's uploaded signature image.
async fn signature(e: &Estate, token: &str) -> Value {
    e.upload(token, "signature", "签名.png").await
}

async fn sql(e: &Estate, statement: &str, id: &Value) {
    let conn = e.app.conn(&e.t.tenant).await;
    let id = Uuid::parse_str(id.as_str().unwrap()).unwrap();
    conn.execute(statement, &[&id]).await.unwrap();
    conn.commit().await.unwrap();
}

async fn call(
    e: &Estate,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    e.app.call(method, path, e.slug(), Some(token), body).await
}

/// Casts picks online (each voter passing a face check first where the round asks for one).
async fn vote(
    e: &Estate,
    election: &Value,
    owner: &str,
    picks: &[&Value],
    key: &str,
) -> (u16, Value) {
    let body = json!({"picks": picks, "idempotency_key": key, "signature_attachment_id": signature(e, owner).await});
    call(
        e,
        POST,
        &format!("/api/elections/{}/ballots", election.as_str().unwrap()),
        owner,
        Some(body),
    )
    .await
}

async fn face_check(e: &Estate, election: &Value, owner: &str) {
    let (s, started) = call(
        e,
        POST,
        &format!("/api/elections/{}/face-checks", election.as_str().unwrap()),
        owner,
        None,
    )
    .await;
    assert_eq!(s, 201, "{started}");
    let (s, done) = call(
        e,
        POST,
        &format!(
            "/api/face-checks/{}/confirm",
            started["id"].as_str().unwrap()
        ),
        owner,
        None,
    )
    .await;
    assert_eq!(
        (s, done["status"].as_str()),
        (200, Some("passed")),
        "{done}"
    );
}

async fn paper(e: &Estate, election: &Value, unit: usize, picks: &[&Value]) -> (u16, Value) {
    let body = json!({"unit_id": e.units[unit].0, "picks": picks, "channel": "paper", "scan_attachment_id": e.scan().await});
    call(
        e,
        POST,
        &format!(
            "/api/elections/{}/paper-ballots",
            election.as_str().unwrap()
        ),
        &e.t.admin_token,
        Some(body),
    )
    .await
}

/// Closes a round whose deadline is moved to the past, and returns its counted tally.
async fn count(e: &Estate, election: &Value) -> Value {
    let (_, view) = call(
        e,
        GET,
        &format!("/api/elections/{}", election.as_str().unwrap()),
        &e.t.admin_token,
        None,
    )
    .await;
    sql(
        e,
        "UPDATE matters SET closes_at = now() - interval '1 second' WHERE id = $1",
        &view["matter_id"],
    )
    .await;
    let (s, t) = call(
        e,
        POST,
        &format!("/api/elections/{}/close", election.as_str().unwrap()),
        &e.t.admin_token,
        None,
    )
    .await;
    assert_eq!(s, 200, "{t}");
    t
}

/// (votes in heads, passed, elected) of each candidate, in candidate order.
fn standings(t: &Value) -> Vec<(i64, bool, bool)> {
    t["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["votes"]["heads"].as_i64().unwrap(),
                c["passed"].as_bool().unwrap(),
                c["elected"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn an_estate_goes_from_its_housing_roll_through_a_preparatory_group_to_an_elected_committee()
{
    let e = Estate::new(9, false).await;
    let admin = e.t.admin_token.clone();
    let soon = Utc::now() + Duration::hours(1);
    let group_body = json!({
        "name": "议事花园筹备组", "seats": 5, "leader_phone": "13900000000", "leader_phone_public": false,
        "signup_opens_at": Utc::now() - Duration::seconds(5), "signup_closes_at": soon
    });
    let groups = format!("/api/estates/{}/prep-groups", e.id);

    // Housing is imported, but nobody has verified a unit yet.
    let (s, b) = call(&e, POST, &groups, &admin, Some(group_body.clone())).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (409, Some("prep.no_verified_owners")),
        "{b}"
    );
    let mut owners = Vec::new();
    for i in 0..9 {
        owners.push(e.owner(i).await);
    }
    let mut even = group_body.clone();
    even["seats"] = json!(4);
    let (s, b) = call(&e, POST, &groups, &admin, Some(even)).await;
    assert_eq!(s, 422, "an even group is refused: {b}");

    // --- The preparatory group ---------------------------------------------------------------
    let (s, group) = call(&e, POST, &groups, &admin, Some(group_body)).await;
    assert_eq!(s, 201, "{group}");
    let gid = group["id"].as_str().unwrap().to_string();
    assert_eq!(group["work_days"], 90, "the national preset");
    for (kind, name) in [("street", "街道代表"), ("rc", "居委会代表")] {
        let (s, _) = call(
            &e,
            POST,
            &format!("/api/prep-groups/{gid}/representatives"),
            &admin,
            Some(json!({"kind": kind, "name": name, "phone": "13900000001"})),
        )
        .await;
        assert_eq!(s, 201);
    }
    let mut signups = Vec::new();
    for owner in &owners[..5] {
        let body = json!({"intro": "愿意为小区服务", "signature_attachment_id": signature(&e, owner).await});
        let (s, m) = call(
            &e,
            POST,
            &format!("/api/prep-groups/{gid}/signups"),
            owner,
            Some(body),
        )
        .await;
        assert_eq!(s, 201, "{m}");
        signups.push(m["id"].as_str().unwrap().to_string());
    }
    for id in &signups[..4] {
        let (s, _) = call(
            &e,
            POST,
            &format!("/api/prep-members/{id}/review"),
            &admin,
            Some(json!({"approve": true})),
        )
        .await;
        assert_eq!(s, 200);
    }
    let (s, b) = call(
        &e,
        POST,
        &format!("/api/prep-members/{}/review", signups[4]),
        &admin,
        Some(json!({"approve": false})),
    )
    .await;
    assert_eq!(
        (s, b["fields"][0]["field"].as_str()),
        (422, Some("reason")),
        "a rejection needs its reason"
    );
    call(
        &e,
        POST,
        &format!("/api/prep-members/{}/review", signups[4]),
        &admin,
        Some(json!({"approve": false, "reason": "非本小区常住"})),
    )
    .await;
    let (_, g) = call(
        &e,
        GET,
        &format!("/api/prep-groups/{gid}"),
        &owners[8],
        None,
    )
    .await;
    assert_eq!(
        (g["owner_seats"].as_i64(), g["leader_phone"].as_str()),
        (Some(3), None),
        "owners see no private leader phone"
    );
    assert!(
        g["members"][0]["units"].is_null() && g["members"][0]["signature_attachment_id"].is_null(),
        "owners see no holdings: {g}"
    );
    // Staff reviewing sign-ups compare the signature, the units held and the roll's names (§3.6).
    let (_, g) = call(&e, GET, &format!("/api/prep-groups/{gid}"), &admin, None).await;
    let first = g["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["kind"] == "owner")
        .unwrap();
    assert_eq!(
        (
            first["units"][0]["code"].as_str(),
            first["units"][0]["name_matches_roll"].as_bool()
        ),
        (Some("1-1-101"), Some(true)),
        "{first}"
    );
    assert!(first["signature_attachment_id"].is_string(), "{first}");
    let (s, b) = call(
        &e,
        POST,
        &format!("/api/prep-groups/{gid}/confirm"),
        &admin,
        None,
    )
    .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (409, Some("prep.wrong_state")),
        "four owners for three seats must be voted on: {b}"
    );

    // Four approved owners for three owner seats: the owners vote.
    sql(
        &e,
        "UPDATE prep_groups SET signup_closes_at = now() - interval '2 seconds' WHERE id = $1",
        &json!(gid),
    )
    .await;
    let voting = json!({"opens_at": Utc::now() - Duration::seconds(1), "closes_at": Utc::now() + Duration::days(3)});
    let (s, prep_election) = call(
        &e,
        POST,
        &format!("/api/prep-groups/{gid}/election"),
        &admin,
        Some(json!({"voting": voting})),
    )
    .await;
    assert_eq!(
        (s, prep_election["seats"].as_i64()),
        (201, Some(3)),
        "{prep_election}"
    );
    let pe = prep_election["id"].clone();
    let c: Vec<Value> = prep_election["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].clone())
        .collect();
    assert_eq!(c.len(), 4);
    for (i, owner) in owners[..6].iter().enumerate() {
        assert_eq!(
            vote(&e, &pe, owner, &[&c[0], &c[1], &c[2]], &format!("p{i}"))
                .await
                .0,
            201
        );
    }
    assert_eq!(vote(&e, &pe, &owners[6], &[&c[3]], "p6").await.0, 201);
    // A paper ballot naming four people for three seats is kept, void.
    let (s, void) = paper(&e, &pe, 7, &[&c[0], &c[1], &c[2], &c[3]]).await;
    assert_eq!(s, 201, "{void}");
    let t = count(&e, &pe).await;
    assert_eq!(
        (
            t["participants"]["heads"].as_i64(),
            t["participants"]["area"].as_str()
        ),
        (Some(8), Some("720.00")),
        "{t}"
    );
    assert_eq!(
        standings(&t),
        [
            (6, true, true),
            (6, true, true),
            (6, true, true),
            (1, false, false)
        ]
    );
    let (s, formed) = call(
        &e,
        POST,
        &format!("/api/prep-groups/{gid}/confirm"),
        &admin,
        None,
    )
    .await;
    assert_eq!(
        (s, formed["status"].as_str()),
        (200, Some("formed")),
        "{formed}"
    );
    assert!(formed["deadline"].is_string() && formed["days_left"].as_i64().unwrap() >= 89);

    // --- The owners' committee: term, round 1 ------------------------------------------------
    let today = Utc::now().date_naive();
    let (s, b) = call(
        &e,
        POST,
        &format!("/api/estates/{}/terms", e.id),
        &admin,
        Some(json!({"name": "第一届业主委员会", "starts_on": today, "ends_on": today + Duration::days(6 * 366), "seats": 5})),
    )
    .await;
    assert_eq!(
        (s, b["fields"][0]["field"].as_str()),
        (422, Some("ends_on")),
        "a term of more than five years: {b}"
    );
    let (s, term) = call(
        &e,
        POST,
        &format!("/api/estates/{}/terms", e.id),
        &admin,
        Some(json!({"name": "第一届业主委员会", "starts_on": today, "ends_on": today + Duration::days(3 * 365), "seats": 5})),
    )
    .await;
    assert_eq!(s, 201, "{term}");
    let tid = term["id"].as_str().unwrap().to_string();
    let body = json!({
        "signup_opens_at": Utc::now() - Duration::seconds(5), "signup_closes_at": soon,
        "voting": {"opens_at": soon, "closes_at": soon + Duration::days(3)}, "verification_mode": "signature_face"
    });
    let (s, r1) = call(
        &e,
        POST,
        &format!("/api/terms/{tid}/elections"),
        &admin,
        Some(body),
    )
    .await;
    assert_eq!(
        (s, r1["round"].as_i64(), r1["status"].as_str()),
        (201, Some(1), Some("signup")),
        "{r1}"
    );
    let r1id = r1["id"].clone();
    let mut cands = Vec::new();
    for owner in &owners[..6] {
        let body =
            json!({"intro": "候选人", "signature_attachment_id": signature(&e, owner).await});
        let (s, c) = call(
            &e,
            POST,
            &format!("/api/elections/{}/candidates", r1id.as_str().unwrap()),
            owner,
            Some(body),
        )
        .await;
        assert_eq!(s, 201, "{c}");
        cands.push(c["id"].clone());
    }
    for c in &cands[..5] {
        assert_eq!(
            call(
                &e,
                POST,
                &format!("/api/candidates/{}/review", c.as_str().unwrap()),
                &admin,
                Some(json!({"approve": true}))
            )
            .await
            .0,
            200
        );
    }
    call(
        &e,
        POST,
        &format!("/api/candidates/{}/review", cands[5].as_str().unwrap()),
        &admin,
        Some(json!({"approve": false, "reason": "材料不全"})),
    )
    .await;
    // Voting opens once sign-up has ended.
    sql(
        &e,
        "UPDATE elections SET signup_closes_at = now() - interval '2 seconds' WHERE id = $1",
        &r1id,
    )
    .await;
    sql(
        &e,
        "UPDATE matters SET opens_at = now() - interval '1 second' WHERE id = $1",
        &r1["matter_id"],
    )
    .await;
    let (_, seen) = call(
        &e,
        GET,
        &format!("/api/elections/{}", r1id.as_str().unwrap()),
        &owners[8],
        None,
    )
    .await;
    assert_eq!(
        (
            seen["status"].as_str(),
            seen["candidates"].as_array().map(Vec::len)
        ),
        (Some("voting"), Some(5)),
        "owners see approved candidates only"
    );
    let (s, b) = call(
        &e,
        POST,
        &format!("/api/candidates/{}/review", cands[5].as_str().unwrap()),
        &admin,
        Some(json!({"approve": true})),
    )
    .await;
    assert_eq!(s, 409, "the candidate list is fixed once voting opens: {b}");

    let (s, b) = vote(&e, &r1id, &owners[0], &[&cands[0]], "no-face").await;
    assert_eq!(
        (s, b["code"].as_str()),
        (403, Some("election.face_required"))
    );
    for owner in &owners[..6] {
        face_check(&e, &r1id, owner).await;
    }
    // Owner 7 is checked in person by staff instead.
    let owner7: Value = {
        let (_, me) = call(&e, GET, "/api/me", &owners[7], None).await;
        me["id"].clone()
    };
    let (s, _) = call(
        &e,
        POST,
        &format!("/api/elections/{}/in-person-checks", r1id.as_str().unwrap()),
        &admin,
        Some(json!({"owner_id": owner7})),
    )
    .await;
    assert_eq!(s, 201);
    for (i, owner) in owners[..6].iter().enumerate() {
        let (s, r) = vote(
            &e,
            &r1id,
            owner,
            &[&cands[0], &cands[1], &cands[2]],
            &format!("r1-{i}"),
        )
        .await;
        assert_eq!(s, 201, "{r}");
    }
    let (s, again) = vote(
        &e,
        &r1id,
        &owners[0],
        &[&cands[0], &cands[1], &cands[2]],
        "r1-0",
    )
    .await;
    assert_eq!(
        s, 200,
        "a retry with the same key returns the receipt: {again}"
    );
    let (s, b) = vote(
        &e,
        &r1id,
        &owners[7],
        &[
            &cands[0], &cands[1], &cands[2], &cands[3], &cands[4], &cands[5],
        ],
        "too-many",
    )
    .await;
    assert_eq!(s, 422, "six picks for five seats, one not a candidate: {b}");
    assert_eq!(
        vote(&e, &r1id, &owners[7], &[&cands[3], &cands[4]], "r1-7")
            .await
            .0,
        201
    );
    assert_eq!(
        paper(&e, &r1id, 6, &[&cands[0], &cands[1], &cands[2], &cands[3]])
            .await
            .0,
        201
    );
    // While the round is open owners see turnout, not who is ahead; the round's sealed ledger
    // shows commitments, not picks.
    let (_, live) = call(
        &e,
        GET,
        &format!("/api/elections/{}/tally", r1id.as_str().unwrap()),
        &owners[8],
        None,
    )
    .await;
    assert_eq!(
        (
            live["choices_sealed"].as_bool(),
            live["participants"]["heads"].as_i64()
        ),
        (Some(true), Some(8)),
        "{live}"
    );
    assert!(
        live["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c.get("votes").is_none() && c.get("passed").is_none()),
        "{live}"
    );
    let sealed = e.ledger(r1["matter_id"].as_str().unwrap()).await;
    assert!(
        sealed["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x.get("picks").is_none() && x["commitment"].is_string()),
        "{sealed}"
    );
    let t = count(&e, &r1id).await;
    assert_eq!(
        (
            t["participants"]["heads"].as_i64(),
            t["participation_passed"].as_bool(),
            t["unfilled"].as_i64()
        ),
        (Some(8), Some(true), Some(2)),
        "{t}"
    );
    assert_eq!(
        standings(&t),
        [
            (7, true, true),
            (7, true, true),
            (7, true, true),
            (2, false, false),
            (1, false, false)
        ]
    );
    // The counted round carries its result for every reader; staff also see what review compares.
    let (_, seen) = call(
        &e,
        GET,
        &format!("/api/elections/{}", r1id.as_str().unwrap()),
        &owners[8],
        None,
    )
    .await;
    assert_eq!(
        (
            seen["status"].as_str(),
            seen["result"]["tally"]["participants"]["heads"].as_i64()
        ),
        (Some("counted"), Some(8)),
        "{seen}"
    );
    assert_eq!(
        seen["result"]["ledger_root"],
        e.ledger(r1["matter_id"].as_str().unwrap()).await["root"]
    );
    assert!(
        seen["result"]["closed_at"].is_string() && seen["candidates"][0]["units"].is_null(),
        "owners see no holdings: {seen}"
    );
    let (_, reviewed) = call(
        &e,
        GET,
        &format!("/api/elections/{}", r1id.as_str().unwrap()),
        &admin,
        None,
    )
    .await;
    let first = &reviewed["candidates"][0];
    assert_eq!(
        (
            first["units"][0]["code"].as_str(),
            first["units"][0]["registered_name"].as_str(),
            first["units"][0]["name_matches_roll"].as_bool()
        ),
        (Some("1-1-101"), Some("业主0"), Some(true)),
        "{first}"
    );
    assert!(first["signature_attachment_id"].is_string(), "{first}");

    // The round's ledger verifies, and its export names the picks.
    let (_, v) = call(
        &e,
        GET,
        &format!(
            "/api/matters/{}/ledger/verification",
            r1["matter_id"].as_str().unwrap()
        ),
        &owners[8],
        None,
    )
    .await;
    assert_eq!(
        (
            v["root_matches"].as_bool(),
            v["tally_matches"].as_bool(),
            v["intact"].as_bool()
        ),
        (Some(true), Some(true), Some(true)),
        "{v}"
    );
    let resp = e
        .app
        .request(
            GET,
            &format!(
                "/api/matters/{}/ballots/export",
                r1["matter_id"].as_str().unwrap()
            ),
            e.slug(),
            Some(&admin),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut wb: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(resp.bytes().await.unwrap().to_vec()))
            .unwrap();
    let sheet = calamine::Reader::worksheet_range_at(&mut wb, 0)
        .unwrap()
        .unwrap();
    let choices: Vec<String> = sheet.rows().skip(1).map(|r| r[5].to_string()).collect();
    assert_eq!(
        choices
            .iter()
            .filter(|c| c.as_str() == "业主0、业主1、业主2")
            .count(),
        6,
        "{choices:?}"
    );
    // Picks, like every other part of a ballot, cannot be rewritten.
    let conn = e.app.conn(&e.t.tenant).await;
    let matter = Uuid::parse_str(r1["matter_id"].as_str().unwrap()).unwrap();
    let err = conn
        .execute(
            "UPDATE ballots SET picks = '{}' WHERE matter_id = $1",
            &[&matter],
        )
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("cannot be changed"), "{err:?}");
    drop(conn);

    // --- Round 2: the two seats left, the two remaining candidates -----------------------------
    let voting = json!({"opens_at": Utc::now() - Duration::seconds(1), "closes_at": Utc::now() + Duration::days(3)});
    let (s, r2) = call(
        &e,
        POST,
        &format!("/api/elections/{}/next-round", r1id.as_str().unwrap()),
        &admin,
        Some(json!({"voting": voting})),
    )
    .await;
    assert_eq!(
        (
            s,
            r2["round"].as_i64(),
            r2["seats"].as_i64(),
            r2["candidates"].as_array().map(Vec::len)
        ),
        (201, Some(2), Some(2), Some(2)),
        "{r2}"
    );
    let r2id = r2["id"].clone();
    let c2: Vec<Value> = r2["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].clone())
        .collect();
    for (i, owner) in owners[..6].iter().enumerate() {
        face_check(&e, &r2id, owner).await;
        assert_eq!(
            vote(&e, &r2id, owner, &[&c2[0], &c2[1]], &format!("r2-{i}"))
                .await
                .0,
            201
        );
    }
    assert_eq!(paper(&e, &r2id, 8, &[&c2[0]]).await.0, 201);
    let t = count(&e, &r2id).await;
    assert_eq!(
        (t["participants"]["heads"].as_i64(), t["unfilled"].as_i64()),
        (Some(7), Some(0)),
        "{t}"
    );
    assert_eq!(standings(&t), [(7, true, true), (6, true, true)]);

    // --- The elected take office --------------------------------------------------------------
    // Until then, staff had given owner 8 the role by hand (a caretaker member).
    let (_, me8) = call(&e, GET, "/api/me", &owners[8], None).await;
    let (s, b) = call(
        &e,
        POST,
        &format!("/api/estates/{}/oc-members", e.id),
        &admin,
        Some(json!({"owner_id": me8["id"]})),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let (s, committee) = call(
        &e,
        POST,
        &format!("/api/terms/{tid}/committee"),
        &admin,
        None,
    )
    .await;
    assert_eq!(
        (s, committee["members"].as_array().map(Vec::len)),
        (200, Some(5)),
        "{committee}"
    );
    let (_, members) = call(
        &e,
        GET,
        &format!("/api/estates/{}/oc-members", e.id),
        &admin,
        None,
    )
    .await;
    assert_eq!(
        members["items"].as_array().unwrap().len(),
        5,
        "the elected, and no one else: {members}"
    );
    // The caretaker's grant ended as the term began, and the history says why.
    let (_, history) = call(
        &e,
        GET,
        &format!("/api/estates/{}/oc-members?history=true", e.id),
        &admin,
        None,
    )
    .await;
    let caretaker = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["owner_id"] == me8["id"])
        .expect("the hand grant is kept");
    assert_eq!(caretaker["end_reason"], "term_replaced", "{caretaker}");
    // A member may now start a matter; an owner who was not elected may not.
    assert_eq!(e.matter(&owners[4], 4).await.0, 201);
    let (s, b) = e.matter(&owners[8], 4).await;
    assert_eq!((s, b["code"].as_str()), (403, Some("matter.not_oc_member")));

    // Every staff write along the way left exactly one audit entry.
    let (gaps, seen) = e.app.unaudited_writes().await;
    assert!(gaps.is_empty(), "unaudited: {gaps:?}");
    assert!(seen.len() >= 12, "{seen:?}");
}

#[tokio::test]
async fn a_tie_at_the_last_seat_is_decided_by_a_lot_kept_in_the_audit_log() {
    // Nine owners of 90.00 m² each; four stand for the three owner seats of a preparatory group.
    let e = Estate::new(9, false).await;
    let admin = e.t.admin_token.clone();
    let mut owners = Vec::new();
    for i in 0..9 {
        owners.push(e.owner(i).await);
    }
    let gid = e.prep_group("抽签筹备组").await;
    for owner in &owners[..4] {
        let body = json!({"intro": "愿意为小区服务", "signature_attachment_id": signature(&e, owner).await});
        let (s, m) = call(
            &e,
            POST,
            &format!("/api/prep-groups/{gid}/signups"),
            owner,
            Some(body),
        )
        .await;
        assert_eq!(s, 201, "{m}");
        let (s, _) = call(
            &e,
            POST,
            &format!("/api/prep-members/{}/review", m["id"].as_str().unwrap()),
            &admin,
            Some(json!({"approve": true})),
        )
        .await;
        assert_eq!(s, 200);
    }
    sql(
        &e,
        "UPDATE prep_groups SET signup_closes_at = now() - interval '2 seconds' WHERE id = $1",
        &json!(gid),
    )
    .await;
    let voting = json!({"opens_at": Utc::now() - Duration::seconds(1), "closes_at": Utc::now() + Duration::days(3)});
    let (s, election) = call(
        &e,
        POST,
        &format!("/api/prep-groups/{gid}/election"),
        &admin,
        Some(json!({"voting": voting})),
    )
    .await;
    assert_eq!(
        (s, election["seats"].as_i64()),
        (201, Some(3)),
        "{election}"
    );
    let id = election["id"].clone();
    let c: Vec<Value> = election["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].clone())
        .collect();
    // Eight voters: c0 and c1 get 7 votes each, c2 and c3 get 5 each (more than half of 8, so
    // both pass), by persons and by area alike: the third seat is a full tie.
    let picks: [[usize; 3]; 8] = [
        [0, 1, 2],
        [0, 1, 2],
        [0, 1, 2],
        [0, 1, 3],
        [0, 1, 3],
        [0, 1, 3],
        [0, 2, 3],
        [1, 2, 3],
    ];
    for (i, ballot) in picks.iter().enumerate() {
        let chosen: Vec<&Value> = ballot.iter().map(|k| &c[*k]).collect();
        assert_eq!(
            vote(&e, &id, &owners[i], &chosen, &format!("tie-{i}"))
                .await
                .0,
            201
        );
    }
    let t = count(&e, &id).await;
    assert_eq!(
        standings(&t)[..2],
        [(7, true, true), (7, true, true)],
        "{t}"
    );
    let tied: Vec<(i64, bool, bool)> = standings(&t)[2..].to_vec();
    assert_eq!(
        (tied[0].0, tied[1].0, tied[0].1 && tied[1].1),
        (5, 5, true),
        "{t}"
    );
    assert_eq!(
        tied.iter().filter(|s| s.2).count(),
        1,
        "exactly one of the two takes the last seat: {t}"
    );
    // The lot as drawn: the two tied candidates, the winner first.
    let lots = t["lots"].as_array().unwrap();
    assert_eq!(lots.len(), 1, "{t}");
    let drawn: Vec<&Value> = lots[0].as_array().unwrap().iter().collect();
    let mut tied_ids = vec![c[2].as_str().unwrap(), c[3].as_str().unwrap()];
    let mut drawn_ids: Vec<&str> = drawn.iter().map(|v| v.as_str().unwrap()).collect();
    let winner = drawn_ids[0];
    let elected = t["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["candidate_id"] == winner)
        .unwrap();
    assert_eq!(elected["elected"], true, "the first drawn is elected");
    tied_ids.sort();
    drawn_ids.sort();
    assert_eq!(drawn_ids, tied_ids);
    // The same draw is in the audit log, with the count that made it.
    let conn = e.app.conn(&e.t.tenant).await;
    let row = conn
        .query_one(
            "SELECT detail FROM audit_log WHERE operation = 'election_close' AND object_id = $1",
            &[&id.as_str().unwrap()],
        )
        .await
        .unwrap();
    let detail: Value = row.get(0);
    assert_eq!(detail["lots"], t["lots"], "{detail}");
}

#[tokio::test]
async fn a_preparatory_group_is_confirmed_only_with_a_leader_and_a_lawful_make_up() {
    let e = Estate::new(5, false).await;
    let admin = e.t.admin_token.clone();
    let mut owners = Vec::new();
    for i in 0..3 {
        owners.push(e.owner(i).await);
    }
    let body = json!({
        "name": "组成筹备组", "seats": 5, "leader_phone": "13900000000", "leader_phone_public": false,
        "signup_opens_at": Utc::now() - Duration::seconds(5), "signup_closes_at": Utc::now() + Duration::hours(1)
    });
    let (s, group) = call(
        &e,
        POST,
        &format!("/api/estates/{}/prep-groups", e.id),
        &admin,
        Some(body),
    )
    .await;
    assert_eq!(s, 201, "{group}");
    let gid = group["id"].as_str().unwrap().to_string();
    let confirm_path = format!("/api/prep-groups/{gid}/confirm");
    let confirm = || call(&e, POST, &confirm_path, &admin, None);
    let mut signups = Vec::new();
    for owner in &owners {
        let body = json!({"intro": "愿意为小区服务", "signature_attachment_id": signature(&e, owner).await});
        let (s, m) = call(
            &e,
            POST,
            &format!("/api/prep-groups/{gid}/signups"),
            owner,
            Some(body),
        )
        .await;
        assert_eq!(s, 201, "{m}");
        signups.push(m["id"].as_str().unwrap().to_string());
    }
    for id in &signups[..2] {
        call(
            &e,
            POST,
            &format!("/api/prep-members/{id}/review"),
            &admin,
            Some(json!({"approve": true})),
        )
        .await;
    }
    // Two owners and no representative of the street office or the residents' committee.
    let (s, b) = confirm().await;
    assert_eq!(
        (s, b["code"].as_str()),
        (409, Some("prep.no_leader")),
        "{b}"
    );
    for (kind, name) in [("street", "街道代表"), ("rc", "居委会代表")] {
        call(
            &e,
            POST,
            &format!("/api/prep-groups/{gid}/representatives"),
            &admin,
            Some(json!({"kind": kind, "name": name, "phone": "13900000001"})),
        )
        .await;
    }
    // Four members for five seats: an even group, short of its size.
    let (s, b) = confirm().await;
    assert_eq!(
        (s, b["code"].as_str()),
        (409, Some("prep.composition")),
        "{b}"
    );
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("现有 4 人（业主代表 2 人），应为 5 人"),
        "{b}"
    );
    // The third owner approved: five members, three of them owners.
    call(
        &e,
        POST,
        &format!("/api/prep-members/{}/review", signups[2]),
        &admin,
        Some(json!({"approve": true})),
    )
    .await;
    let (s, formed) = confirm().await;
    assert_eq!(
        (s, formed["status"].as_str()),
        (200, Some("formed")),
        "{formed}"
    );
    let (s, b) = confirm().await;
    assert_eq!(
        (s, b["code"].as_str()),
        (409, Some("prep.wrong_state")),
        "confirmed once: {b}"
    );
}

#[tokio::test]
async fn a_round_called_off_takes_no_more_ballots_keeps_those_cast_and_the_term_starts_again_numbered_on(
) {
    let e = Estate::new(3, false).await;
    let admin = e.t.admin_token.clone();
    let owners = [e.owner(0).await, e.owner(1).await];
    // A caretaker member serves, so the term may be created without a preparatory group.
    let (_, me) = call(&e, GET, "/api/me", &owners[0], None).await;
    assert_eq!(
        call(
            &e,
            POST,
            &format!("/api/estates/{}/oc-members", e.id),
            &admin,
            Some(json!({"owner_id": me["id"]}))
        )
        .await
        .0,
        201
    );
    let today = Utc::now().date_naive();
    let term = json!({"name": "第二届业主委员会", "starts_on": today, "ends_on": today + Duration::days(3 * 365), "seats": 5});
    let (s, term) = call(
        &e,
        POST,
        &format!("/api/estates/{}/terms", e.id),
        &admin,
        Some(term),
    )
    .await;
    assert_eq!(s, 201, "{term}");
    let elections = format!("/api/terms/{}/elections", term["id"].as_str().unwrap());
    let soon = Utc::now() + Duration::hours(1);
    let round = json!({
        "signup_opens_at": Utc::now() - Duration::seconds(5), "signup_closes_at": soon,
        "voting": {"opens_at": soon, "closes_at": soon + Duration::days(3)}, "verification_mode": "signature"
    });
    let (s, r1) = call(&e, POST, &elections, &admin, Some(round.clone())).await;
    assert_eq!(s, 201, "{r1}");
    let id = r1["id"].as_str().unwrap().to_string();
    let body =
        json!({"intro": "候选人", "signature_attachment_id": signature(&e, &owners[0]).await});
    let (_, candidate) = call(
        &e,
        POST,
        &format!("/api/elections/{id}/candidates"),
        &owners[0],
        Some(body),
    )
    .await;
    call(
        &e,
        POST,
        &format!(
            "/api/candidates/{}/review",
            candidate["id"].as_str().unwrap()
        ),
        &admin,
        Some(json!({"approve": true})),
    )
    .await;
    sql(
        &e,
        "UPDATE elections SET signup_closes_at = now() - interval '2 seconds' WHERE id = $1",
        &r1["id"],
    )
    .await;
    sql(
        &e,
        "UPDATE matters SET opens_at = now() - interval '1 second' WHERE id = $1",
        &r1["matter_id"],
    )
    .await;
    assert_eq!(
        vote(&e, &r1["id"], &owners[0], &[&candidate["id"]], "before")
            .await
            .0,
        201
    );

    // Only staff call a round off, and only with a reason.
    let cancel = format!("/api/elections/{id}/cancel");
    let (s, b) = call(
        &e,
        POST,
        &cancel,
        &owners[0],
        Some(json!({"reason": "自行撤销"})),
    )
    .await;
    assert_eq!(s, 403, "{b}");
    let (s, b) = call(&e, POST, &cancel, &admin, Some(json!({"reason": "  "}))).await;
    assert_eq!(
        (s, b["fields"][0]["field"].as_str()),
        (422, Some("reason")),
        "{b}"
    );
    let (s, cancelled) = call(
        &e,
        POST,
        &cancel,
        &admin,
        Some(json!({"reason": "候选人不足，另行组织"})),
    )
    .await;
    assert_eq!(
        (
            s,
            cancelled["status"].as_str(),
            cancelled["cancel_reason"].as_str()
        ),
        (200, Some("cancelled"), Some("候选人不足，另行组织")),
        "{cancelled}"
    );

    // Owners see it called off and why; no ballot is taken any more, and it cannot be counted or
    // called off twice.
    let (_, seen) = call(&e, GET, &format!("/api/elections/{id}"), &owners[1], None).await;
    assert_eq!(
        (seen["status"].as_str(), seen["cancel_reason"].as_str()),
        (Some("cancelled"), Some("候选人不足，另行组织")),
        "{seen}"
    );
    let (s, b) = vote(&e, &r1["id"], &owners[1], &[&candidate["id"]], "after").await;
    assert_eq!(
        (s, b["code"].as_str()),
        (409, Some("ballot.not_open")),
        "{b}"
    );
    let (s, b) = call(
        &e,
        POST,
        &cancel,
        &admin,
        Some(json!({"reason": "再次撤销"})),
    )
    .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (409, Some("election.wrong_state")),
        "{b}"
    );
    sql(
        &e,
        "UPDATE matters SET closes_at = now() - interval '1 second' WHERE id = $1",
        &r1["matter_id"],
    )
    .await;
    let (s, b) = call(
        &e,
        POST,
        &format!("/api/elections/{id}/close"),
        &admin,
        None,
    )
    .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (409, Some("election.wrong_state")),
        "{b}"
    );

    // The ballot cast before stays in the round's ledger, which still verifies.
    let ledger = e.ledger(r1["matter_id"].as_str().unwrap()).await;
    assert_eq!(
        ledger["entries"].as_array().map(Vec::len),
        Some(1),
        "{ledger}"
    );
    let v = e.verification(r1["matter_id"].as_str().unwrap()).await;
    assert_eq!(v["root_matches"], true, "{v}");

    // The term starts again; the numbering goes on from the round called off.
    let (s, r2) = call(&e, POST, &elections, &admin, Some(round)).await;
    assert_eq!(
        (s, r2["round"].as_i64(), r2["status"].as_str()),
        (201, Some(2), Some("signup")),
        "{r2}"
    );
}
