//! Deliberation matters end to end: creation and review, the frozen roll, online and paper
//! ballots, one ballot per person, idempotent retries, the live tally and the ledger.

mod common;

use chrono::{Duration, Utc};
use common::{
    estate::{Estate, RollRow, PNG},
    phone,
};
use reqwest::{multipart, Method};
use serde_json::{json, Value};
use uuid::Uuid;

const GET: Method = Method::GET;
const POST: Method = Method::POST;

#[tokio::test]
async fn a_matter_is_voted_online_and_on_paper_tallied_and_its_ledger_verifies() {
    let e = Estate::new(3, false).await;
    let (a, b) = (e.owner(0).await, e.owner(1).await);
    let (s, m) = e.matter(&e.t.admin_token, 4).await;
    assert_eq!(
        (s, m["status"].as_str(), m["rule_set"]["id"].as_str()),
        (201, Some("open"), Some("civil_code_2021_ordinary")),
        "{m}"
    );
    let matter = m["id"].as_str().unwrap().to_string();

    let (s, receipt) = e.cast(&a, &matter, "agree", "a-1").await;
    assert_eq!(s, 201, "{receipt}");
    assert_eq!(
        (receipt["unit_codes"].as_str(), receipt["area"].as_str()),
        (Some("1-1-101"), Some("90.00"))
    );
    let (s, again) = e.cast(&a, &matter, "agree", "a-1").await;
    assert_eq!(
        (s, &again["ballot_id"]),
        (200, &receipt["ballot_id"]),
        "a retry returns the same receipt"
    );
    let (s, twice) = e.cast(&a, &matter, "disagree", "a-2").await;
    assert_eq!(
        (s, twice["code"].as_str()),
        (409, Some("ballot.already_cast"))
    );

    let t = e.tally(&matter).await;
    assert_eq!(
        (
            t["participants"]["heads"].as_i64(),
            t["participation"]["passed"].as_bool()
        ),
        (Some(1), Some(false))
    );
    assert_eq!(
        t["participation"]["shortfall_heads"], 1,
        "one more owner must take part"
    );

    let (s, _) = e.cast(&b, &matter, "disagree", "b-1").await;
    assert_eq!(s, 201);
    let t = e.tally(&matter).await;
    assert_eq!(
        t["participation"]["passed"], true,
        "2 of 3 is exactly two thirds"
    );
    assert_eq!(
        t["approval"]["passed"], false,
        "1 of 2 is exactly half: not 过半数"
    );

    let (_, not_voted) = e
        .app
        .call(
            GET,
            &format!("/api/matters/{matter}/not-voted"),
            e.slug(),
            Some(&e.t.admin_token),
            None,
        )
        .await;
    assert_eq!(
        not_voted["items"],
        json!([{"building": "1", "unit_codes": ["1-1-103"]}])
    );

    // The third owner votes on paper; staff enter it with the scan.
    let paper = json!({"unit_id": e.units[2].0, "choice": "agree", "channel": "paper", "scan_attachment_id": e.scan().await});
    let (s, p) = e
        .app
        .call(
            POST,
            &format!("/api/matters/{matter}/paper-ballots"),
            e.slug(),
            Some(&e.t.admin_token),
            Some(paper),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    let t = e.tally(&matter).await;
    assert_eq!(
        (t["agree"]["heads"].as_i64(), t["passed"].as_bool()),
        (Some(2), Some(true))
    );

    // Voiding a ballot keeps it, as invalid: 1 agree of 3 participants.
    let (s, _) = e
        .app
        .call(
            POST,
            &format!(
                "/api/ballots/{}/void",
                receipt["ballot_id"].as_str().unwrap()
            ),
            e.slug(),
            Some(&e.t.admin_token),
            Some(json!({"reason": "签名不符"})),
        )
        .await;
    assert_eq!(s, 200);
    let t = e.tally(&matter).await;
    assert_eq!(
        (
            t["invalid"]["heads"].as_i64(),
            t["participants"]["heads"].as_i64(),
            t["passed"].as_bool()
        ),
        (Some(1), Some(3), Some(false))
    );

    // The published ledger names no one and recomputes to the same result.
    let (_, ledger) = e
        .app
        .call(
            GET,
            &format!("/api/matters/{matter}/ledger"),
            e.slug(),
            Some(&a),
            None,
        )
        .await;
    let text = ledger.to_string();
    assert!(
        !text.contains("业主0") && !text.contains(&e.units[0].2),
        "no names or phones in the ledger"
    );
    assert_eq!(
        ledger["entries"].as_array().unwrap().len(),
        4,
        "three casts and a void"
    );
    assert!(
        ledger["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["hash"] == receipt["entry_hash"]),
        "the receipt finds its entry"
    );
    let (_, v) = e
        .app
        .call(
            GET,
            &format!("/api/matters/{matter}/ledger/verification"),
            e.slug(),
            Some(&b),
            None,
        )
        .await;
    assert_eq!(
        (
            v["root_matches"].as_bool(),
            v["tally_matches"].as_bool(),
            v["altered_entries"].as_array().map(Vec::len),
            v["intact"].as_bool()
        ),
        (Some(true), Some(true), Some(0), Some(true)),
        "{v}"
    );

    // Anyone can check the published ledger offline with `zmg verify-matter`.
    let (ok, report) = e.verify_offline(&ledger).await;
    assert!(ok, "{report}");
    let mut tampered = ledger.clone();
    tampered["entries"][1]["choice"] = json!("agree");
    assert!(
        !e.verify_offline(&tampered).await.0,
        "a changed entry is detected"
    );

    // Staff export every ballot (an audited inspection).
    let resp = e
        .app
        .request(
            GET,
            &format!("/api/matters/{matter}/ballots/export"),
            e.slug(),
            Some(&e.t.admin_token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let bytes = resp.bytes().await.unwrap();
    let mut wb: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
    use calamine::Reader;
    let sheet = wb.worksheet_range_at(0).unwrap().unwrap();
    let statuses: Vec<String> = sheet.rows().skip(1).map(|r| r[6].to_string()).collect();
    assert_eq!(statuses, ["作废", "有效", "有效"]);
    let (_, audit) = e
        .app
        .call(
            GET,
            "/api/audit-log?operation=ballot_export",
            e.slug(),
            Some(&e.t.admin_token),
            None,
        )
        .await;
    assert_eq!(audit["total"], 1);

    // Entries cannot be changed afterwards.
    let conn = e.app.conn(&e.t.tenant).await;
    let err = conn
        .execute("UPDATE ledger_entries SET choice = 'agree'", &[])
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("append-only"));
}

#[tokio::test]
async fn co_owners_share_their_units_single_ballot() {
    let e = Estate::new(2, false).await;
    let owner = e.owner(0).await;
    // The spouse becomes an approved co-owner.
    let slug = e.slug();
    let spouse_phone = phone();
    let form = multipart::Form::new().text("purpose", "proof").part(
        "file",
        multipart::Part::bytes(PNG.to_vec()).file_name("结婚证.png"),
    );
    let (_, proof) = common::read(
        e.app
            .request(POST, "/api/attachments", slug, Some(&owner))
            .multipart(form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let (_, application) = e
        .app
        .call(
            POST,
            &format!("/api/me/properties/{}/co-owners", e.units[0].0),
            slug,
            Some(&owner),
            Some(json!({"name": "配偶", "phone": spouse_phone, "proof_attachment_ids": [proof["id"]]})),
        )
        .await;
    e.app
        .call(
            POST,
            &format!(
                "/api/co-owner-applications/{}/approve",
                application["id"].as_str().unwrap()
            ),
            slug,
            Some(&e.t.admin_token),
            None,
        )
        .await;
    let (s, _) = e
        .app
        .call(
            POST,
            "/api/auth/sms-codes",
            slug,
            None,
            Some(json!({"phone": spouse_phone, "purpose": "register"})),
        )
        .await;
    assert_eq!(s, 202);
    let code = e.app.last_code(&e.t.tenant, &spouse_phone).await;
    let (_, b) = e
        .app
        .call(
            POST,
            "/api/owners/register",
            slug,
            None,
            Some(json!({"real_name": "配偶", "phone": spouse_phone, "sms_code": code, "password": "Passw0rd", "accept_agreement": true})),
        )
        .await;
    let spouse = b["token"].as_str().unwrap().to_string();

    let (_, m) = e.matter(&e.t.admin_token, 1).await;
    let matter = m["id"].as_str().unwrap();
    let (s, _) = e.cast(&spouse, matter, "agree", "spouse").await;
    assert_eq!(s, 201, "an approved co-owner may vote for the unit");
    let (s, b) = e.cast(&owner, matter, "disagree", "owner").await;
    assert_eq!((s, b["code"].as_str()), (409, Some("ballot.already_cast")));
    assert!(
        b["message"].as_str().unwrap().contains("配偶"),
        "the refusal names who voted: {b}"
    );
    let t = e.tally(matter).await;
    assert_eq!(
        (
            t["participants"]["heads"].as_i64(),
            t["totals"]["heads"].as_i64()
        ),
        (Some(1), Some(2)),
        "the unit counts once"
    );
}

#[tokio::test]
async fn concurrent_duplicates_count_once() {
    let e = Estate::new(2, false).await;
    let owner = e.owner(0).await;
    let (_, m) = e.matter(&e.t.admin_token, 2).await;
    let matter = m["id"].as_str().unwrap().to_string();
    let (first, second) = tokio::join!(
        e.cast(&owner, &matter, "agree", "same"),
        e.cast(&owner, &matter, "agree", "same")
    );
    let mut statuses = [first.0, second.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [200, 201],
        "the same key twice at once: one ballot, the same receipt"
    );
    assert_eq!(first.1["ballot_id"], second.1["ballot_id"]);
    let (third, fourth) = tokio::join!(
        e.cast(&owner, &matter, "agree", "k3"),
        e.cast(&owner, &matter, "disagree", "k4")
    );
    assert_eq!(
        (third.0, fourth.0),
        (409, 409),
        "no second ballot under another key"
    );
    assert_eq!(e.tally(&matter).await["participants"]["heads"], 1);
}

#[tokio::test]
async fn voiding_the_ballot_that_set_a_paper_ballot_aside_makes_the_paper_ballot_count_and_says_so_everywhere(
) {
    let e = Estate::new(2, false).await;
    let owner = e.owner(0).await;
    let admin = e.t.admin_token.clone();
    let (_, m) = e.matter(&admin, 4).await;
    let matter = m["id"].as_str().unwrap().to_string();
    // The owner signs a paper ballot against, then votes online for: online wins.
    let paper = json!({"unit_id": e.units[0].0, "choice": "disagree", "channel": "paper", "scan_attachment_id": e.scan().await});
    let (s, paper) = e
        .app
        .call(
            POST,
            &format!("/api/matters/{matter}/paper-ballots"),
            e.slug(),
            Some(&admin),
            Some(paper),
        )
        .await;
    assert_eq!(s, 201, "{paper}");
    let (s, online) = e.cast(&owner, &matter, "agree", "online").await;
    assert_eq!(s, 201, "{online}");
    let listed = |list: &Value, id: &Value| {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["id"] == *id)
            .cloned()
            .unwrap()
    };
    let (_, list) = e
        .app
        .call(
            GET,
            &format!("/api/matters/{matter}/ballots"),
            e.slug(),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        listed(&list, &paper["ballot_id"])["superseded"],
        true,
        "{list}"
    );

    // Staff void the online ballot (entered in error): the paper ballot counts again.
    let (s, b) = e
        .app
        .call(
            POST,
            &format!(
                "/api/ballots/{}/void",
                online["ballot_id"].as_str().unwrap()
            ),
            e.slug(),
            Some(&admin),
            Some(json!({"reason": "误操作"})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let t = e.tally(&matter).await;
    assert_eq!(
        (
            t["agree"]["heads"].as_i64(),
            t["disagree"]["heads"].as_i64()
        ),
        (Some(0), Some(1)),
        "{t}"
    );
    // The list, the ledger and the export say so.
    let (_, list) = e
        .app
        .call(
            GET,
            &format!("/api/matters/{matter}/ballots"),
            e.slug(),
            Some(&admin),
            None,
        )
        .await;
    let (p, o) = (
        listed(&list, &paper["ballot_id"]),
        listed(&list, &online["ballot_id"]),
    );
    assert_eq!(
        (p["superseded"].as_bool(), o["voided"].as_bool()),
        (Some(false), Some(true)),
        "{list}"
    );
    // Staff look a ballot up by channel, by whether it was voided, by unit or by voter.
    let found = |query: String| {
        let (e, admin, matter) = (&e, &admin, &matter);
        async move {
            let (s, list) = e
                .app
                .call(
                    GET,
                    &format!("/api/matters/{matter}/ballots?{query}"),
                    e.slug(),
                    Some(admin),
                    None,
                )
                .await;
            assert_eq!(s, 200, "{query}: {list}");
            let ids: Vec<Value> = list["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b["id"].clone())
                .collect();
            assert_eq!(
                list["total"].as_u64(),
                Some(ids.len() as u64),
                "{query}: {list}"
            );
            ids
        }
    };
    assert_eq!(
        found("voided=true".into()).await,
        [online["ballot_id"].clone()]
    );
    assert_eq!(
        found("voided=false".into()).await,
        [paper["ballot_id"].clone()]
    );
    assert_eq!(
        found("channel=paper".into()).await,
        [paper["ballot_id"].clone()]
    );
    let unit = p["unit_codes"][0].as_str().unwrap().to_string();
    assert_eq!(
        found(format!("q={unit}&channel=online")).await,
        [online["ballot_id"].clone()]
    );
    assert_eq!(found("q=9-9-999".into()).await, Vec::<Value>::new());
    let ledger = e.ledger(&matter).await;
    let kinds: Vec<(&str, &str)> = ledger["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["kind"].as_str().unwrap(),
                x["ballot_id"].as_str().unwrap(),
            )
        })
        .collect();
    let (pid, oid) = (
        paper["ballot_id"].as_str().unwrap(),
        online["ballot_id"].as_str().unwrap(),
    );
    assert_eq!(
        kinds,
        [
            ("cast", pid),
            ("cast", oid),
            ("superseded", pid),
            ("void", oid),
            ("reinstated", pid)
        ],
        "{ledger}"
    );
    let v = e.verification(&matter).await;
    assert_eq!(v["inconsistent_marks"], json!([]), "{v}");
    let resp = e
        .app
        .request(
            GET,
            &format!("/api/matters/{matter}/ballots/export"),
            e.slug(),
            Some(&admin),
        )
        .send()
        .await
        .unwrap();
    let mut wb: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(resp.bytes().await.unwrap().to_vec()))
            .unwrap();
    let sheet = calamine::Reader::worksheet_range_at(&mut wb, 0)
        .unwrap()
        .unwrap();
    let rows: Vec<Vec<String>> = sheet
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    let status = rows[0]
        .iter()
        .position(|h| h == "状态")
        .expect("a status column");
    let channel = rows[0]
        .iter()
        .position(|h| h == "渠道")
        .expect("a channel column");
    let paper_row = rows
        .iter()
        .find(|r| r[channel] == "纸质票")
        .expect("the paper ballot's row");
    assert_eq!(paper_row[status], "有效", "{rows:?}");
}

#[tokio::test]
async fn a_paper_ballot_for_a_unit_that_voted_online_is_kept_but_superseded() {
    let e = Estate::new(2, false).await;
    let owner = e.owner(0).await;
    let (_, m) = e.matter(&e.t.admin_token, 4).await;
    let matter = m["id"].as_str().unwrap().to_string();
    assert_eq!(e.cast(&owner, &matter, "agree", "online").await.0, 201);
    let scan = e.scan().await;
    let paper = json!({"unit_id": e.units[0].0, "choice": "disagree", "channel": "paper", "scan_attachment_id": scan});
    let (s, _) = e
        .app
        .call(
            POST,
            &format!("/api/matters/{matter}/paper-ballots"),
            e.slug(),
            Some(&e.t.admin_token),
            Some(paper),
        )
        .await;
    assert_eq!(s, 201);
    let t = e.tally(&matter).await;
    assert_eq!(
        (
            t["agree"]["heads"].as_i64(),
            t["disagree"]["heads"].as_i64()
        ),
        (Some(1), Some(0)),
        "online wins by default"
    );
    let (_, ledger) = e
        .app
        .call(
            GET,
            &format!("/api/matters/{matter}/ledger"),
            e.slug(),
            Some(&e.t.admin_token),
            None,
        )
        .await;
    let kinds: Vec<&str> = ledger["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["cast", "cast", "superseded"]);
    let (_, v) = e
        .app
        .call(
            GET,
            &format!("/api/matters/{matter}/ledger/verification"),
            e.slug(),
            Some(&e.t.admin_token),
            None,
        )
        .await;
    assert_eq!(
        (v["tally_matches"].as_bool(), v["intact"].as_bool()),
        (Some(true), Some(true)),
        "{v}"
    );

    // A matter whose procedural rules let the signed paper ballot win.
    let body = json!({
        "estate_id": e.id, "type_name": "公共收益", "title": "纸质优先", "content": "", "importance": "normal",
        "opens_at": Utc::now() - Duration::seconds(1), "closes_at": Utc::now() + Duration::days(7), "law_item": 4, "channel_rule": "in_person_wins"
    });
    let (_, m2) = e
        .app
        .call(
            POST,
            "/api/matters",
            e.slug(),
            Some(&e.t.admin_token),
            Some(body),
        )
        .await;
    let second = m2["id"].as_str().unwrap().to_string();
    assert_eq!(e.cast(&owner, &second, "agree", "online-2").await.0, 201);
    // Its own scan: one scan backs one paper ballot.
    let paper = json!({"unit_id": e.units[0].0, "choice": "disagree", "channel": "paper", "scan_attachment_id": e.scan().await});
    e.app
        .call(
            POST,
            &format!("/api/matters/{second}/paper-ballots"),
            e.slug(),
            Some(&e.t.admin_token),
            Some(paper),
        )
        .await;
    let t = e.tally(&second).await;
    assert_eq!(
        (
            t["agree"]["heads"].as_i64(),
            t["disagree"]["heads"].as_i64()
        ),
        (Some(0), Some(1)),
        "the paper ballot wins here"
    );
}

#[tokio::test]
async fn committee_matters_wait_for_approval_and_rules_changes_need_a_reason() {
    let e = Estate::new(2, true).await;
    let member = e.owner(0).await;
    let neighbour = e.owner(1).await;
    let (s, b) = e.matter(&member, 1).await;
    assert_eq!((s, b["code"].as_str()), (403, Some("matter.not_oc_member")));
    let conn = e.app.conn(&e.t.tenant).await;
    let member_id: Uuid = conn
        .query_one(
            "SELECT owner_id FROM unit_holders WHERE unit_id = $1",
            &[&e.units[0].0],
        )
        .await
        .unwrap()
        .get(0);
    conn.commit().await.unwrap();
    let (s, _) = e
        .app
        .call(
            POST,
            &format!("/api/estates/{}/oc-members", e.id),
            e.slug(),
            Some(&e.t.admin_token),
            Some(json!({"owner_id": member_id})),
        )
        .await;
    assert_eq!(s, 201);
    let (s, m) = e.matter(&member, 6).await;
    assert_eq!(
        (s, m["status"].as_str(), m["rule_set"]["id"].as_str()),
        (
            201,
            Some("pending_approval"),
            Some("civil_code_2021_special")
        )
    );
    let matter = m["id"].as_str().unwrap();
    let (_, visible) = e
        .app
        .call(GET, "/api/me/matters", e.slug(), Some(&neighbour), None)
        .await;
    assert_eq!(
        visible["items"].as_array().unwrap().len(),
        0,
        "owners do not see it before approval"
    );
    let (s, b) = e.cast(&neighbour, matter, "agree", "early").await;
    assert_eq!((s, b["code"].as_str()), (409, Some("ballot.not_open")));
    let (s, _) = e
        .app
        .call(
            POST,
            &format!("/api/matters/{matter}/approve"),
            e.slug(),
            Some(&e.t.admin_token),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let (_, visible) = e
        .app
        .call(GET, "/api/me/matters", e.slug(), Some(&neighbour), None)
        .await;
    assert_eq!(visible["items"].as_array().unwrap().len(), 1);

    // The estate's matter types grow as matters use them; staff edit the list.
    let types_path = format!("/api/estates/{}/matter-types", e.id);
    let (_, types) = e
        .app
        .call(GET, &types_path, e.slug(), Some(&e.t.admin_token), None)
        .await;
    assert_eq!(types["items"], json!(["公共收益"]));
    let (_, types) = e
        .app
        .call(
            POST,
            &types_path,
            e.slug(),
            Some(&e.t.admin_token),
            Some(json!({"name": "维修改造"})),
        )
        .await;
    assert_eq!(types["items"], json!(["公共收益", "维修改造"]));
    let (s, _) = e
        .app
        .call(
            Method::DELETE,
            &format!("{types_path}/{}", "%E7%BB%B4%E4%BF%AE%E6%94%B9%E9%80%A0"),
            e.slug(),
            Some(&e.t.admin_token),
            None,
        )
        .await;
    assert_eq!(s, 204);

    // Changing the preset rules needs a reason.
    let body = json!({
        "estate_id": e.id, "type_name": "其他", "title": "规则", "content": "", "importance": "normal",
        "opens_at": Utc::now() + Duration::days(1), "closes_at": Utc::now() + Duration::days(8), "law_item": 9, "rule_set_id": "civil_code_2021_special"
    });
    let (s, b) = e
        .app
        .call(
            POST,
            "/api/matters",
            e.slug(),
            Some(&e.t.admin_token),
            Some(body.clone()),
        )
        .await;
    assert_eq!(
        (s, b["fields"][0]["field"].as_str()),
        (422, Some("rule_change_reason"))
    );
    let mut with_reason = body;
    with_reason["rule_change_reason"] = json!("业主大会议事规则第十条");
    let (s, later) = e
        .app
        .call(
            POST,
            "/api/matters",
            e.slug(),
            Some(&e.t.admin_token),
            Some(with_reason),
        )
        .await;
    assert_eq!(s, 201);
    let later = later["id"].as_str().unwrap();
    let (s, _) = e
        .app
        .call(
            POST,
            &format!("/api/matters/{later}/close"),
            e.slug(),
            Some(&e.t.admin_token),
            None,
        )
        .await;
    assert_eq!(s, 409, "not before its deadline");
    let (s, _) = e
        .app
        .call(
            Method::DELETE,
            &format!("/api/matters/{later}"),
            e.slug(),
            Some(&e.t.admin_token),
            None,
        )
        .await;
    assert_eq!(s, 204, "deleted before voting opens");
}

#[tokio::test]
async fn a_unit_sold_mid_vote_votes_once_old_owner_first_else_new_owner() {
    let e = Estate::new(3, false).await;
    let (first_seller, second_seller) = (e.owner(0).await, e.owner(1).await);
    let (_, m) = e.matter(&e.t.admin_token, 4).await;
    let matter = m["id"].as_str().unwrap().to_string();
    e.tally(&matter).await; // voting opens, the roll is frozen
    assert_eq!(
        e.cast(&first_seller, &matter, "agree", "before-sale")
            .await
            .0,
        201
    );

    // Both units are sold; the buyers verify against the new registration.
    let slug = e.slug();
    let mut buyers = Vec::new();
    for (i, unit) in [(0usize, e.units[0].0), (1, e.units[1].0)] {
        buyers.push(e.sell(unit, &format!("买家{i}")).await);
    }
    let (s, b) = e.cast(&buyers[0], &matter, "disagree", "after-sale").await;
    assert_eq!(
        (s, b["code"].as_str()),
        (409, Some("ballot.already_cast")),
        "the seller's ballot before the sale stands"
    );
    let (s, b) = e.cast(&second_seller, &matter, "agree", "too-late").await;
    assert_eq!(
        (s, b["code"].as_str()),
        (403, Some("ballot.not_a_voter")),
        "a seller who had not voted no longer may"
    );
    // A paper ballot for the sold unit is the buyer's, for that unit alone.
    let paper = json!({"unit_id": e.units[1].0, "choice": "agree", "channel": "paper", "scan_attachment_id": e.scan().await});
    let (s, p) = e
        .app
        .call(
            POST,
            &format!("/api/matters/{matter}/paper-ballots"),
            slug,
            Some(&e.t.admin_token),
            Some(paper),
        )
        .await;
    assert_eq!((s, p["unit_codes"].as_str()), (201, Some("1-1-102")), "{p}");
    assert_eq!(
        e.cast(&buyers[1], &matter, "disagree", "buyer").await.0,
        201,
        "the buyer votes online too: online wins"
    );
    let t = e.tally(&matter).await;
    assert_eq!(
        (
            t["agree"]["heads"].as_i64(),
            t["disagree"]["heads"].as_i64(),
            t["totals"]["heads"].as_i64()
        ),
        (Some(1), Some(1), Some(3))
    );
    let ledger = e.ledger(&matter).await;
    let regroups: Vec<&Value> = ledger["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["kind"] == "regroup")
        .collect();
    assert_eq!(
        regroups.len(),
        1,
        "only the unit whose seller had not voted splits off: {regroups:?}"
    );
    assert_eq!(regroups[0]["unit_codes"], "1-1-102");
    let v = e.verification(&matter).await;
    assert_eq!(
        (
            v["tally_matches"].as_bool(),
            v["root_matches"].as_bool(),
            v["opening_matches"].as_bool()
        ),
        (Some(true), Some(true), Some(true)),
        "{v}"
    );
}

#[tokio::test]
async fn where_allowed_a_voter_changes_their_vote_once() {
    let e = Estate::new(2, false).await;
    let owner = e.owner(0).await;
    let body = json!({
        "estate_id": e.id, "type_name": "公共收益", "title": "可改票", "content": "", "importance": "normal",
        "opens_at": Utc::now() - Duration::seconds(1), "closes_at": Utc::now() + Duration::days(7), "law_item": 4, "allow_vote_change": true
    });
    let (_, m) = e
        .app
        .call(
            POST,
            "/api/matters",
            e.slug(),
            Some(&e.t.admin_token),
            Some(body),
        )
        .await;
    let matter = m["id"].as_str().unwrap().to_string();
    assert_eq!(e.cast(&owner, &matter, "disagree", "first").await.0, 201);
    assert_eq!(
        e.cast(&owner, &matter, "agree", "second").await.0,
        201,
        "one change"
    );
    let (s, b) = e.cast(&owner, &matter, "disagree", "third").await;
    assert_eq!((s, b["code"].as_str()), (409, Some("ballot.already_cast")));
    assert!(b["message"].as_str().unwrap().contains("改过一次"));
    let t = e.tally(&matter).await;
    assert_eq!(
        (
            t["agree"]["heads"].as_i64(),
            t["disagree"]["heads"].as_i64()
        ),
        (Some(1), Some(0)),
        "the changed vote counts"
    );
    let (_, v) = e
        .app
        .call(
            GET,
            &format!("/api/matters/{matter}/ledger/verification"),
            e.slug(),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(
        (
            v["tally_matches"].as_bool(),
            v["root_matches"].as_bool(),
            v["intact"].as_bool()
        ),
        (Some(true), Some(true), Some(true)),
        "{v}"
    );
    // By default there is no change of vote.
    let (_, plain) = e.matter(&e.t.admin_token, 4).await;
    let plain = plain["id"].as_str().unwrap().to_string();
    assert_eq!(e.cast(&owner, &plain, "disagree", "p1").await.0, 201);
    assert_eq!(e.cast(&owner, &plain, "agree", "p2").await.0, 409);
}

#[tokio::test]
async fn a_signature_is_required_where_the_matter_says_so() {
    let e = Estate::new(1, false).await;
    let owner = e.owner(0).await;
    let body = json!({
        "estate_id": e.id, "type_name": "公共收益", "title": "需签名", "content": "", "importance": "normal",
        "opens_at": Utc::now() - Duration::seconds(1), "closes_at": Utc::now() + Duration::days(7), "law_item": 4, "signature_required": true
    });
    let (_, m) = e
        .app
        .call(
            POST,
            "/api/matters",
            e.slug(),
            Some(&e.t.admin_token),
            Some(body),
        )
        .await;
    let matter = m["id"].as_str().unwrap().to_string();
    let (s, b) = e.cast(&owner, &matter, "agree", "unsigned").await;
    assert_eq!(
        (s, b["fields"][0]["code"].as_str()),
        (422, Some("ballot.signature_required"))
    );
    let form = multipart::Form::new().text("purpose", "signature").part(
        "file",
        multipart::Part::bytes(PNG.to_vec()).file_name("签名.png"),
    );
    let (_, sig) = common::read(
        e.app
            .request(POST, "/api/attachments", e.slug(), Some(&owner))
            .multipart(form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let (s, _) = e
        .app
        .call(
            POST,
            &format!("/api/matters/{matter}/ballots"),
            e.slug(),
            Some(&owner),
            Some(json!({"choice": "agree", "idempotency_key": "signed", "signature_attachment_id": sig["id"]})),
        )
        .await;
    assert_eq!(s, 201);
}

#[tokio::test]
async fn delivered_non_voters_follow_the_majority_where_the_covenant_says_so() {
    let e = Estate::new(4, false).await;
    let (a, b, c) = (e.owner(0).await, e.owner(1).await, e.owner(2).await);
    let body = json!({
        "estate_id": e.id, "type_name": "公共收益", "title": "从众", "content": "", "importance": "normal",
        "opens_at": Utc::now() - Duration::seconds(1), "closes_at": Utc::now() + Duration::days(7), "law_item": 4, "non_voters_follow_majority": true
    });
    let (_, m) = e
        .app
        .call(
            POST,
            "/api/matters",
            e.slug(),
            Some(&e.t.admin_token),
            Some(body),
        )
        .await;
    let matter = m["id"].as_str().unwrap().to_string();
    for (token, choice, key) in [
        (&a, "agree", "a"),
        (&b, "agree", "b"),
        (&c, "disagree", "c"),
    ] {
        assert_eq!(e.cast(token, &matter, choice, key).await.0, 201);
    }
    let form = multipart::Form::new().text("purpose", "proof").part(
        "file",
        multipart::Part::bytes(PNG.to_vec()).file_name("送达.png"),
    );
    let (_, proof) = common::read(
        e.app
            .request(POST, "/api/attachments", e.slug(), Some(&e.t.admin_token))
            .multipart(form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let (s, _) = e
        .app
        .call(
            POST,
            &format!("/api/matters/{matter}/deliveries"),
            e.slug(),
            Some(&e.t.admin_token),
            Some(json!({"unit_id": e.units[3].0, "proof_attachment_id": proof["id"]})),
        )
        .await;
    assert_eq!(s, 204);
    let t = e.tally(&matter).await;
    assert_eq!(
        (
            t["followers"]["heads"].as_i64(),
            t["agree"]["heads"].as_i64(),
            t["participants"]["heads"].as_i64()
        ),
        (Some(1), Some(3), Some(4))
    );
    let (_, v) = e
        .app
        .call(
            GET,
            &format!("/api/matters/{matter}/ledger/verification"),
            e.slug(),
            Some(&e.t.admin_token),
            None,
        )
        .await;
    assert_eq!(
        (v["tally_matches"].as_bool(), v["intact"].as_bool()),
        (Some(true), Some(true)),
        "the published ledger carries the deliveries: {v}"
    );
}

#[tokio::test]
async fn a_buyer_of_one_unit_votes_with_that_unit_only() {
    let e = Estate::new(2, false).await;
    let slug = e.slug();
    // Owner 0 also holds a second unit under the same registration: one person, two units.
    let (name, registered) = (e.units[0].1.clone(), e.units[0].2.clone());
    let (s, b) = e
        .import(&[RollRow::flat("2", "201", "60", &name, &registered)])
        .await;
    assert_eq!(s, 200, "{b}");
    let (_, found) = e
        .app
        .call(
            GET,
            "/api/units?building=2&room=201",
            slug,
            Some(&e.t.admin_token),
            None,
        )
        .await;
    let second = found["items"][0]["id"].as_str().unwrap().to_string();
    let seller = e.owner(0).await;
    e.app.age_sms_sends(&registered, 61).await;
    e.app
        .call(
            POST,
            &format!("/api/verification/units/{second}/sms-code"),
            slug,
            Some(&seller),
            None,
        )
        .await;
    let code = e.app.last_code(&e.t.tenant, &registered).await;
    let (s, _) = e
        .app
        .call(
            POST,
            &format!("/api/verification/units/{second}"),
            slug,
            Some(&seller),
            Some(json!({"sms_code": code})),
        )
        .await;
    assert_eq!(s, 201);

    let (_, m) = e.matter(&e.t.admin_token, 4).await;
    let matter = m["id"].as_str().unwrap().to_string();
    let t = e.tally(&matter).await;
    assert_eq!(
        (t["totals"]["heads"].as_i64(), t["totals"]["area"].as_str()),
        (Some(2), Some("240.00")),
        "three units, two persons"
    );

    // The second unit is sold before its seller votes; the buyer verifies and votes.
    let proof = |file: &'static str| {
        let form = multipart::Form::new()
            .text("purpose", "proof")
            .part("file", multipart::Part::bytes(PNG.to_vec()).file_name(file));
        e.app
            .request(POST, "/api/attachments", slug, Some(&e.t.admin_token))
            .multipart(form)
            .send()
    };
    let (_, id_card) = common::read(proof("身份证.png").await.unwrap()).await;
    let (_, deed) = common::read(proof("房产证.png").await.unwrap()).await;
    let buyer_phone = phone();
    let body = json!({"new_owner_name": "买家", "new_owner_phone": buyer_phone, "id_card_attachment_id": id_card["id"], "deed_attachment_id": deed["id"]});
    assert_eq!(
        e.app
            .call(
                POST,
                &format!("/api/units/{second}/transfer"),
                slug,
                Some(&e.t.admin_token),
                Some(body)
            )
            .await
            .0,
        200
    );
    let own = phone();
    e.app
        .call(
            POST,
            "/api/auth/sms-codes",
            slug,
            None,
            Some(json!({"phone": own, "purpose": "register"})),
        )
        .await;
    let code = e.app.last_code(&e.t.tenant, &own).await;
    let (_, b) = e
        .app
        .call(
            POST,
            "/api/owners/register",
            slug,
            None,
            Some(json!({"real_name": "买家", "phone": own, "sms_code": code, "password": "Passw0rd", "accept_agreement": true})),
        )
        .await;
    let buyer = b["token"].as_str().unwrap().to_string();
    e.app
        .call(
            POST,
            &format!("/api/verification/units/{second}/sms-code"),
            slug,
            Some(&buyer),
            None,
        )
        .await;
    let code = e.app.last_code(&e.t.tenant, &buyer_phone).await;
    assert_eq!(
        e.app
            .call(
                POST,
                &format!("/api/verification/units/{second}"),
                slug,
                Some(&buyer),
                Some(json!({"sms_code": code}))
            )
            .await
            .0,
        201
    );

    let (s, receipt) = e.cast(&buyer, &matter, "disagree", "buyer").await;
    assert_eq!(
        (s, receipt["area"].as_str()),
        (201, Some("60.00")),
        "the buyer carries only the bought unit: {receipt}"
    );
    let (s, receipt) = e.cast(&seller, &matter, "agree", "seller").await;
    assert_eq!(
        (s, receipt["area"].as_str()),
        (201, Some("90.00")),
        "the seller still votes with the unit kept"
    );
    let t = e.tally(&matter).await;
    assert_eq!(
        (
            t["totals"]["heads"].as_i64(),
            t["agree"]["area"].as_str(),
            t["disagree"]["area"].as_str()
        ),
        (Some(3), Some("90.00"), Some("60.00"))
    );
}

#[tokio::test]
async fn a_closed_matter_keeps_its_result_and_root_and_later_entries_are_detected() {
    let e = Estate::new(2, false).await;
    let (a, b) = (e.owner(0).await, e.owner(1).await);
    let (_, m) = e.matter(&e.t.admin_token, 4).await;
    let matter = m["id"].as_str().unwrap().to_string();
    assert_eq!(e.cast(&a, &matter, "agree", "a").await.0, 201);
    assert_eq!(e.cast(&b, &matter, "agree", "b").await.0, 201);
    e.end_window(&matter).await;
    let (s, b2) = e.cast(&b, &matter, "disagree", "late").await;
    assert_eq!(
        (s, b2["code"].as_str()),
        (409, Some("ballot.not_open")),
        "no ballots after the deadline"
    );
    let (s, closed) = e.close(&matter).await;
    assert_eq!((s, closed["status"].as_str()), (200, Some("closed")));
    let (_, v) = e
        .app
        .call(
            GET,
            &format!("/api/matters/{matter}/ledger/verification"),
            e.slug(),
            Some(&a),
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

    // An entry slipped in after the close no longer matches the root declared with the result.
    let conn = e.app.conn(&e.t.tenant).await;
    conn.execute(
        "INSERT INTO ledger_entries (seq, matter_id, ballot_id, kind, person_code, unit_codes, area_centi, channel, choice, at, hash)
         SELECT nextval('ballot_seq'), matter_id, ballot_id, 'void', person_code, unit_codes, area_centi, channel, choice, at, hash
           FROM ledger_entries WHERE matter_id = $1 LIMIT 1",
        &[&Uuid::parse_str(&matter).unwrap()],
    )
    .await
    .unwrap();
    conn.commit().await.unwrap();
    let (_, v) = e
        .app
        .call(
            GET,
            &format!("/api/matters/{matter}/ledger/verification"),
            e.slug(),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(
        (v["root_matches"].as_bool(), v["intact"].as_bool()),
        (Some(false), Some(false)),
        "{v}"
    );
}

#[tokio::test]
async fn one_owner_whose_units_are_registered_differently_votes_once_for_all_of_them() {
    let e = Estate::new(3, false).await;
    // Units 0 and 1 belong to the same person, registered with two phones.
    let conn = e.app.conn(&e.t.tenant).await;
    conn.execute(
        "UPDATE units SET owner_name = $2 WHERE id = $1",
        &[&e.units[1].0, &e.units[0].1],
    )
    .await
    .unwrap();
    conn.commit().await.unwrap();
    let owner = e.owner(0).await;
    e.verify(&owner, 1).await;
    let (_, m) = e.matter(&e.t.admin_token, 4).await;
    let matter = m["id"].as_str().unwrap().to_string();
    assert_eq!(
        e.tally(&matter).await["totals"]["heads"],
        2,
        "the frozen roll counts them as one person"
    );

    let (s, r) = e.cast(&owner, &matter, "agree", "both").await;
    assert_eq!(
        (s, r["unit_codes"].as_str(), r["area"].as_str()),
        (201, Some("1-1-101,1-1-102"), Some("180.00")),
        "{r}"
    );
    let t = e.tally(&matter).await;
    assert_eq!(
        (
            t["totals"]["heads"].as_i64(),
            t["agree"]["heads"].as_i64(),
            t["agree"]["area"].as_str()
        ),
        (Some(2), Some(1), Some("180.00"))
    );
    let (s, b) = e.cast(&owner, &matter, "agree", "again").await;
    assert_eq!(
        (s, b["code"].as_str()),
        (409, Some("ballot.already_cast")),
        "one ballot for both units"
    );
    let v = e.verification(&matter).await;
    assert_eq!(
        (v["tally_matches"].as_bool(), v["root_matches"].as_bool()),
        (Some(true), Some(true)),
        "{v}"
    );
}

#[tokio::test]
async fn checkpoints_seal_entries_as_they_commit_and_the_roll_and_ballots_cannot_be_rewritten() {
    let e = Estate::new(3, false).await;
    let (a, b, c) = (e.owner(0).await, e.owner(1).await, e.owner(2).await);
    let (_, m) = e.matter(&e.t.admin_token, 4).await;
    let matter = m["id"].as_str().unwrap().to_string();
    let id = Uuid::parse_str(&matter).unwrap();
    assert_eq!(e.cast(&a, &matter, "agree", "a").await.0, 201);
    assert_eq!(e.cast(&b, &matter, "agree", "b").await.0, 201);
    let sealed = zhimaguan::voting::checkpointer::seal_tenant(&e.app.state, &e.t.tenant)
        .await
        .unwrap();
    assert_eq!(sealed, 1);
    assert_eq!(
        zhimaguan::voting::checkpointer::seal_tenant(&e.app.state, &e.t.tenant)
            .await
            .unwrap(),
        0,
        "nothing new, nothing sealed"
    );
    assert_eq!(e.cast(&c, &matter, "disagree", "c").await.0, 201);

    let ledger = e.ledger(&matter).await;
    let counts: Vec<i64> = ledger["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["entries"].as_i64().unwrap())
        .collect();
    assert_eq!(counts, [0, 2], "the opening, then the first two ballots");
    let positions: Vec<Value> = ledger["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["position"].clone())
        .collect();
    assert_eq!(
        positions,
        [json!(1), json!(2), Value::Null],
        "the third awaits the next checkpoint"
    );
    let v = e.verification(&matter).await;
    assert_eq!(
        (
            v["opening_matches"].as_bool(),
            v["broken_checkpoints"].as_array().map(Vec::len),
            v["tally_matches"].as_bool()
        ),
        (Some(true), Some(0), Some(true)),
        "{v}"
    );

    // The frozen roll and the ballots refuse to be rewritten.
    let conn = e.app.conn(&e.t.tenant).await;
    let err = conn
        .execute(
            "UPDATE matter_roll SET area_centi = area_centi + 100 WHERE matter_id = $1",
            &[&id],
        )
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("frozen roll"), "{err:?}");
    drop(conn);
    let conn = e.app.conn(&e.t.tenant).await;
    let err = conn
        .execute(
            "UPDATE ballots SET choice = 'agree' WHERE matter_id = $1 AND choice = 'disagree'",
            &[&id],
        )
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("cannot be changed"), "{err:?}");
    drop(conn);
    let conn = e.app.conn(&e.t.tenant).await;
    let err = conn
        .execute("DELETE FROM ballots WHERE matter_id = $1", &[&id])
        .await
        .unwrap_err();
    assert!(
        format!("{err:?}").contains("cannot be changed"),
        "the guard refuses, not a reference: {err:?}"
    );
    drop(conn);
    // Nor can a unit be slipped into the roll of an open matter.
    let conn = e.app.conn(&e.t.tenant).await;
    let err = conn
        .execute(
            "INSERT INTO matter_roll (matter_id, unit_id, unit_code, building, area_centi, class, holder_key, frozen_holder_key)
             SELECT matter_id, unit_id, unit_code || 'x', building, area_centi, class, 'roll:intruder', 'roll:intruder' FROM matter_roll WHERE matter_id = $1 LIMIT 1",
            &[&id],
        )
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("frozen roll"), "{err:?}");
    drop(conn);
    // A ballot is voided once, and replaced once: never again, never undone.
    let ballot: uuid::Uuid = e
        .app
        .conn(&e.t.tenant)
        .await
        .query_one(
            "SELECT id FROM ballots WHERE matter_id = $1 LIMIT 1",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    let conn = e.app.conn(&e.t.tenant).await;
    conn.execute(
        "UPDATE ballots SET voided_at = now(), void_reason = '签名不符' WHERE id = $1",
        &[&ballot],
    )
    .await
    .unwrap();
    conn.execute(
        "UPDATE ballots SET replaced_at = now() WHERE id = $1",
        &[&ballot],
    )
    .await
    .unwrap();
    for again in [
        "UPDATE ballots SET void_reason = '另一个原因' WHERE id = $1",
        "UPDATE ballots SET voided_at = NULL, void_reason = NULL WHERE id = $1",
        "UPDATE ballots SET replaced_at = now() + interval '1 second' WHERE id = $1",
        "UPDATE ballots SET replaced_at = NULL WHERE id = $1",
    ] {
        conn.execute("SAVEPOINT again", &[]).await.unwrap();
        let err = conn.execute(again, &[&ballot]).await.unwrap_err();
        assert!(
            format!("{err:?}").contains("only voided or replaced once"),
            "{again}: {err:?}"
        );
        conn.execute("ROLLBACK TO SAVEPOINT again", &[])
            .await
            .unwrap();
    }
    drop(conn); // rolled back: the ballot stays as it was

    // Closing seals the rest; the declared root is the last checkpoint's.
    e.end_window(&matter).await;
    let (s, closed) = e.close(&matter).await;
    assert_eq!(s, 200, "{closed}");
    let ledger = e.ledger(&matter).await;
    let last = ledger["checkpoints"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (last["entries"].as_i64(), &last["root"]),
        (Some(3), &ledger["root"])
    );

    // Offline, the same checks; a roll changed in the published file breaks the opening.
    let (ok, report) = e.verify_offline(&ledger).await;
    assert!(ok, "{report}");
    let mut tampered = ledger.clone();
    tampered["roll"][0]["area_centi"] = json!(18000);
    let (ok, report) = e.verify_offline(&tampered).await;
    assert!(
        !ok && report.contains("opening (roll, rules, settings): MISMATCH"),
        "{report}"
    );
}

#[tokio::test]
async fn staff_extend_cancel_and_delete_matters_and_every_write_is_audited_once() {
    let e = Estate::new(3, false).await;
    let a = e.owner(0).await;
    let admin = e.t.admin_token.clone();
    let (_, m) = e.matter(&admin, 4).await;
    let matter = m["id"].as_str().unwrap().to_string();
    assert_eq!(e.cast(&a, &matter, "agree", "a").await.0, 201);

    // The deadline only moves later.
    let deadline = format!("/api/matters/{matter}/deadline");
    let closes: chrono::DateTime<Utc> = m["closes_at"].as_str().unwrap().parse().unwrap();
    let (s, b) = e
        .app
        .call(
            POST,
            &deadline,
            e.slug(),
            Some(&admin),
            Some(json!({"closes_at": closes - Duration::hours(1)})),
        )
        .await;
    assert_eq!(
        (s, b["fields"][0]["code"].as_str()),
        (422, Some("matter.deadline_not_later")),
        "{b}"
    );
    let later = closes + Duration::days(3);
    let (s, b) = e
        .app
        .call(
            POST,
            &deadline,
            e.slug(),
            Some(&admin),
            Some(json!({"closes_at": later})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b["closes_at"]
            .as_str()
            .unwrap()
            .parse::<chrono::DateTime<Utc>>()
            .unwrap(),
        later
    );

    // Cancelled with a reason; the ballot cast is kept, no more come in, and it stays cancelled.
    let cancel = format!("/api/matters/{matter}/cancel");
    let (s, b) = e
        .app
        .call(
            POST,
            &cancel,
            e.slug(),
            Some(&admin),
            Some(json!({"reason": "  "})),
        )
        .await;
    assert_eq!(
        (s, b["fields"][0]["field"].as_str()),
        (422, Some("reason")),
        "{b}"
    );
    let (s, b) = e
        .app
        .call(
            POST,
            &cancel,
            e.slug(),
            Some(&admin),
            Some(json!({"reason": "业主大会决定暂缓"})),
        )
        .await;
    assert_eq!((s, b["status"].as_str()), (200, Some("cancelled")), "{b}");
    let b_owner = e.owner(1).await;
    assert_eq!(
        e.cast(&b_owner, &matter, "agree", "b").await.0,
        409,
        "no ballots after a cancellation"
    );
    assert_eq!(
        e.app
            .call(
                POST,
                &cancel,
                e.slug(),
                Some(&admin),
                Some(json!({"reason": "再次撤销"}))
            )
            .await
            .0,
        409
    );
    assert_eq!(
        e.app
            .call(
                POST,
                &deadline,
                e.slug(),
                Some(&admin),
                Some(json!({"closes_at": later + Duration::days(1)}))
            )
            .await
            .0,
        409
    );
    assert_eq!(
        e.app
            .call(
                Method::DELETE,
                &format!("/api/matters/{matter}"),
                e.slug(),
                Some(&admin),
                None
            )
            .await
            .0,
        409,
        "opened: cancel, never delete"
    );
    let (_, ballots) = e
        .app
        .call(
            GET,
            &format!("/api/matters/{matter}/ballots"),
            e.slug(),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(ballots["total"], 1, "the ballot cast is kept: {ballots}");

    // A matter that has not opened yet can be deleted outright.
    let body = json!({
        "estate_id": e.id, "type_name": "公共收益", "title": "下月表决", "content": "详见附件", "importance": "normal",
        "opens_at": Utc::now() + Duration::days(1), "closes_at": Utc::now() + Duration::days(8), "law_item": 4
    });
    let (s, later_matter) = e
        .app
        .call(POST, "/api/matters", e.slug(), Some(&admin), Some(body))
        .await;
    assert_eq!(s, 201, "{later_matter}");
    let path = format!("/api/matters/{}", later_matter["id"].as_str().unwrap());
    let (s, _) = e
        .app
        .call(Method::DELETE, &path, e.slug(), Some(&admin), None)
        .await;
    assert!((200..300).contains(&s), "{s}");
    assert_eq!(
        e.app.call(GET, &path, e.slug(), Some(&admin), None).await.0,
        404
    );

    // The estate's list of matter types.
    let types = format!("/api/estates/{}/matter-types", e.id);
    let (s, b) = e
        .app
        .call(
            POST,
            &types,
            e.slug(),
            Some(&admin),
            Some(json!({"name": "停车管理"})),
        )
        .await;
    assert!((200..300).contains(&s), "{s} {b}");
    let (s, _) = e
        .app
        .call(
            Method::DELETE,
            &format!("{types}/停车管理"),
            e.slug(),
            Some(&admin),
            None,
        )
        .await;
    assert!((200..300).contains(&s), "{s}");
    assert_eq!(
        e.app
            .call(
                Method::DELETE,
                &format!("{types}/停车管理"),
                e.slug(),
                Some(&admin),
                None
            )
            .await
            .0,
        404
    );

    // Each of those staff writes left exactly one audit entry, under its own request id.
    let (gaps, seen) = e.app.unaudited_writes().await;
    assert!(gaps.is_empty(), "unaudited: {gaps:?}");
    for op in [
        "matter_create",
        "matter_deadline_extend",
        "matter_cancel",
        "matter_delete",
        "matter_type_create",
        "matter_type_delete",
    ] {
        assert!(seen.contains(op), "{op} not exercised: {seen:?}");
    }
}

/// A signature sent with an online ballot where none is required must still be the voter's
/// own: another owner's upload is refused, and stays unbound to the estate.
#[tokio::test]
async fn a_ballot_cannot_carry_another_owners_upload_as_its_signature() {
    let e = Estate::new(2, false).await;
    let (voter, neighbour) = (e.owner(0).await, e.owner(1).await);
    let (_, m) = e.matter(&e.t.admin_token, 2).await;
    let matter = m["id"].as_str().unwrap().to_string();
    let theirs = e.upload(&neighbour, "signature", "签名.png").await;
    let mine = e.upload(&voter, "signature", "签名.png").await;
    let path = format!("/api/matters/{matter}/ballots");
    let cast = |signature: &Value, key: &str| {
        let body = json!({"choice": "agree", "idempotency_key": key, "signature_attachment_id": signature});
        e.app.call(POST, &path, e.slug(), Some(&voter), Some(body))
    };
    let (s, b) = cast(&theirs, "a").await;
    assert_eq!(
        (s, b["fields"][0]["field"].as_str()),
        (422, Some("signature_attachment_id")),
        "{b}"
    );
    let conn = e.app.conn(&e.t.tenant).await;
    let id = Uuid::parse_str(theirs.as_str().unwrap()).unwrap();
    let bound: Option<Uuid> = conn
        .query_one("SELECT estate_id FROM attachments WHERE id = $1", &[&id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(bound, None, "the neighbour's upload stays theirs alone");
    let (s, b) = cast(&mine, "b").await;
    assert_eq!(s, 201, "the voter's own signature is taken: {b}");
}
