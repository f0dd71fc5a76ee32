//! The rules that decide whose ballot a unit's vote is, as owners and clerks meet them: a unit
//! sold during the vote (the ballot cast or signed before the transfer stands, on any channel),
//! an owner selling one of two units, co-owners (the first to vote decides, on any channel), and
//! paper entry as clerks do it (spoiled ballots in one step, idempotent retries, one ballot per
//! scan, the per-ballot list). Every test ends with the ledger still verifying.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::{
    estate::{Estate, RollRow, PNG},
    phone,
};
use reqwest::{multipart, Method};
use serde_json::{json, Value};
use uuid::Uuid;

const GET: Method = Method::GET;
const POST: Method = Method::POST;

async fn paper(e: &Estate, matter: &str, body: Value) -> (u16, Value) {
    e.app
        .call(
            POST,
            &format!("/api/matters/{matter}/paper-ballots"),
            e.slug(),
            Some(&e.t.admin_token),
            Some(body),
        )
        .await
}

/// The same call in English (`Accept-Language: en`).
async fn cast_en(e: &Estate, token: &str, matter: &str, choice: &str, key: &str) -> (u16, Value) {
    let rb = e
        .app
        .request(
            POST,
            &format!("/api/matters/{matter}/ballots"),
            e.slug(),
            Some(token),
        )
        .header("Accept-Language", "en")
        .json(&json!({"choice": choice, "idempotency_key": key}));
    common::read(rb.send().await.unwrap()).await
}

async fn open(e: &Estate) -> String {
    let (s, m) = e.matter(&e.t.admin_token, 4).await;
    assert_eq!(s, 201, "{m}");
    let matter = m["id"].as_str().unwrap().to_string();
    e.tally(&matter).await; // voting opens, the roll is frozen
    matter
}

async fn assert_verifies(e: &Estate, matter: &str) {
    let v = e.verification(matter).await;
    assert_eq!(
        (
            v["root_matches"].as_bool(),
            v["tally_matches"].as_bool(),
            v["opening_matches"].as_bool()
        ),
        (Some(true), Some(true), Some(true)),
        "{v}"
    );
}

async fn me(e: &Estate, token: &str) -> Value {
    let (s, me) = e
        .app
        .call(GET, "/api/me", e.slug(), Some(token), None)
        .await;
    assert_eq!(s, 200, "{me}");
    me["id"].clone()
}

/// Unit 0's owner adds an approved co-owner ("配偶"), who registers; returns the co-owner's token.
async fn co_owner(e: &Estate, owner: &str) -> String {
    let slug = e.slug();
    let spouse_phone = phone();
    let form = multipart::Form::new().text("purpose", "proof").part(
        "file",
        multipart::Part::bytes(PNG.to_vec()).file_name("结婚证.png"),
    );
    let (_, proof) = common::read(
        e.app
            .request(POST, "/api/attachments", slug, Some(owner))
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
            Some(owner),
            Some(json!({"name": "配偶", "phone": spouse_phone, "proof_attachment_ids": [proof["id"]]})),
        )
        .await;
    let (s, _) = e
        .app
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
    assert_eq!(s, 200);
    e.app
        .call(
            POST,
            "/api/auth/sms-codes",
            slug,
            None,
            Some(json!({"phone": spouse_phone, "purpose": "register"})),
        )
        .await;
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
    b["token"].as_str().unwrap().to_string()
}

/// Every ballot of the matter, as staff list them.
async fn ballots(e: &Estate, matter: &str) -> Vec<Value> {
    let (s, page) = e
        .app
        .call(
            GET,
            &format!("/api/matters/{matter}/ballots?page_size=100"),
            e.slug(),
            Some(&e.t.admin_token),
            None,
        )
        .await;
    assert_eq!(s, 200, "{page}");
    page["items"].as_array().unwrap().clone()
}

fn kinds(ledger: &Value) -> Vec<String> {
    ledger["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["kind"].as_str().unwrap().to_string())
        .collect()
}

async fn pause() {
    // Transfers, signatures and casts are ordered by their timestamps.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
}

#[tokio::test]
async fn a_sellers_paper_ballot_signed_before_the_sale_stands_and_the_buyer_is_refused_without_the_sellers_name(
) {
    let e = Estate::new(2, false).await;
    let _seller = e.owner(0).await;
    let matter = open(&e).await;
    let signed: DateTime<Utc> = Utc::now();
    let (s, p) =
        paper(&e, &matter, json!({"unit_id": e.units[0].0, "choice": "agree", "channel": "paper", "scan_attachment_id": e.scan().await, "signed_at": signed}))
            .await;
    assert_eq!((s, p["unit_codes"].as_str()), (201, Some("1-1-101")), "{p}");
    pause().await;
    let buyer = e.sell(e.units[0].0, "买家甲").await;

    let (s, b) = e.cast(&buyer, &matter, "disagree", "buyer").await;
    assert_eq!(
        (s, b["code"].as_str()),
        (409, Some("ballot.already_cast")),
        "the ballot signed before the transfer stands: {b}"
    );
    let message = b["message"].as_str().unwrap();
    assert!(
        message.contains("1-1-101") && message.contains("过户"),
        "{message}"
    );
    assert!(
        !message.contains(&e.units[0].1),
        "the buyer is not told the seller's name: {message}"
    );
    let (s, b) = cast_en(&e, &buyer, &matter, "disagree", "buyer-en").await;
    let message = b["message"].as_str().unwrap();
    assert_eq!(s, 409);
    assert!(
        message.contains("1-1-101")
            && message.contains("transfer")
            && !message.contains(&e.units[0].1),
        "the same facts in English: {message}"
    );

    let t = e.tally(&matter).await;
    assert_eq!(
        (
            t["agree"]["heads"].as_i64(),
            t["disagree"]["heads"].as_i64(),
            t["participants"]["heads"].as_i64()
        ),
        (Some(1), Some(0), Some(1)),
        "{t}"
    );
    assert!(
        !kinds(&e.ledger(&matter).await).contains(&"superseded".to_string()),
        "nothing is set aside"
    );
    assert_verifies(&e, &matter).await;
}

#[tokio::test]
async fn a_sellers_paper_ballot_signed_before_the_sale_takes_the_unit_back_from_the_buyers_later_online_ballot(
) {
    let e = Estate::new(2, false).await;
    let _seller = e.owner(0).await;
    let matter = open(&e).await;
    let signed: DateTime<Utc> = Utc::now();
    pause().await;
    let buyer = e.sell(e.units[0].0, "买家乙").await;
    let (s, online) = e.cast(&buyer, &matter, "disagree", "buyer").await;
    assert_eq!(
        (s, online["unit_codes"].as_str()),
        (201, Some("1-1-101")),
        "nothing was known of the seller's ballot yet: {online}"
    );

    // The seller's paper ballot, signed before the sale, is entered afterwards: it is the
    // seller's, it stands, and the unit counts once, for it.
    let (s, p) =
        paper(&e, &matter, json!({"unit_id": e.units[0].0, "choice": "agree", "channel": "paper", "scan_attachment_id": e.scan().await, "signed_at": signed}))
            .await;
    assert_eq!(
        (s, p["unit_codes"].as_str(), p["area"].as_str()),
        (201, Some("1-1-101"), Some("90.00")),
        "{p}"
    );
    let t = e.tally(&matter).await;
    assert_eq!(
        (
            t["agree"]["heads"].as_i64(),
            t["agree"]["area"].as_str(),
            t["disagree"]["heads"].as_i64(),
            t["participants"]["heads"].as_i64(),
            t["totals"]["heads"].as_i64()
        ),
        (Some(1), Some("90.00"), Some(0), Some(1), Some(2)),
        "the unit is counted exactly once, with the seller's choice: {t}"
    );
    let list = ballots(&e, &matter).await;
    let buyers = list
        .iter()
        .find(|b| b["id"] == online["ballot_id"])
        .unwrap();
    assert_eq!(
        (
            buyers["superseded"].as_bool(),
            buyers["unit_codes"].as_array().map(Vec::len)
        ),
        (Some(true), Some(0)),
        "kept, set aside, carrying no unit: {buyers}"
    );
    let sellers = list.iter().find(|b| b["id"] == p["ballot_id"]).unwrap();
    assert_eq!(
        (sellers["superseded"].as_bool(), sellers["voided"].as_bool()),
        (Some(false), Some(false)),
        "{sellers}"
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
        json!([{"building": "1", "unit_codes": ["1-1-102"]}])
    );
    let (s, b) = e.cast(&buyer, &matter, "disagree", "buyer-again").await;
    assert_eq!(
        (s, b["code"].as_str()),
        (409, Some("ballot.already_cast")),
        "{b}"
    );
    assert!(
        !b["message"].as_str().unwrap().contains(&e.units[0].1),
        "{b}"
    );
    let k = kinds(&e.ledger(&matter).await);
    assert_eq!(
        k.iter().filter(|k| *k == "regroup").count(),
        2,
        "split off to the buyer, then back to the seller: {k:?}"
    );
    assert_eq!(k.iter().filter(|k| *k == "superseded").count(), 1, "{k:?}");
    assert_verifies(&e, &matter).await;
}

/// Owner 0 also holds unit 2-1-201 (60 m²), verified: one person, two units. Returns
/// (owner 0's token, the second unit's id).
async fn second_unit(e: &Estate) -> (String, Uuid) {
    let slug = e.slug();
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
    let second = Uuid::parse_str(found["items"][0]["id"].as_str().unwrap()).unwrap();
    let owner = e.owner(0).await;
    e.app.age_sms_sends(&registered, 61).await;
    e.app
        .call(
            POST,
            &format!("/api/verification/units/{second}/sms-code"),
            slug,
            Some(&owner),
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
            Some(&owner),
            Some(json!({"sms_code": code})),
        )
        .await;
    assert_eq!(s, 201);
    (owner, second)
}

#[tokio::test]
async fn a_seller_of_one_of_two_units_votes_with_the_unit_kept_and_the_sold_unit_awaits_its_buyer()
{
    let e = Estate::new(2, false).await;
    let (seller, second) = second_unit(&e).await;
    let matter = open(&e).await;
    pause().await;
    let _buyer = e.sell(second, "买家丙").await; // the buyer never votes

    let (s, r) = e.cast(&seller, &matter, "agree", "seller").await;
    assert_eq!(
        (s, r["unit_codes"].as_str(), r["area"].as_str()),
        (201, Some("1-1-101"), Some("90.00")),
        "only what the seller still holds: {r}"
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
        json!([{"building": "1", "unit_codes": ["1-1-102"]}, {"building": "2", "unit_codes": ["2-1-201"]}]),
        "the sold unit has not voted"
    );
    let t = e.tally(&matter).await;
    assert_eq!(
        (
            t["totals"]["heads"].as_i64(),
            t["agree"]["heads"].as_i64(),
            t["agree"]["area"].as_str()
        ),
        (Some(3), Some(1), Some("90.00")),
        "{t}"
    );
    assert_verifies(&e, &matter).await;
}

#[tokio::test]
async fn among_co_owners_the_first_to_vote_decides_on_any_channel_and_the_paper_ballot_names_its_signer(
) {
    let e = Estate::new(2, false).await;
    let owner = e.owner(0).await;
    let spouse = co_owner(&e, &owner).await;
    let spouse_id = me(&e, &spouse).await;
    let matter = open(&e).await;

    // The signer must hold a unit of the ballot's voter.
    let (s, b) = paper(
        &e,
        &matter,
        json!({"unit_id": e.units[1].0, "choice": "agree", "channel": "paper", "scan_attachment_id": e.scan().await, "signed_by_owner_id": spouse_id}),
    )
    .await;
    assert_eq!(
        (s, b["fields"][0]["field"].as_str()),
        (422, Some("signed_by_owner_id")),
        "{b}"
    );

    let (s, p) = paper(
        &e,
        &matter,
        json!({"unit_id": e.units[0].0, "choice": "agree", "channel": "paper", "scan_attachment_id": e.scan().await, "signed_by_owner_id": spouse_id}),
    )
    .await;
    assert_eq!(s, 201, "{p}");
    let (s, b) = e.cast(&owner, &matter, "disagree", "owner").await;
    assert_eq!(
        (s, b["code"].as_str()),
        (409, Some("ballot.already_cast")),
        "the co-owner who signed first decides: {b}"
    );
    assert!(
        b["message"].as_str().unwrap().contains("配偶"),
        "a co-owner of the same unit may be told who: {b}"
    );
    let t = e.tally(&matter).await;
    assert_eq!(
        (
            t["agree"]["heads"].as_i64(),
            t["disagree"]["heads"].as_i64(),
            t["participants"]["heads"].as_i64()
        ),
        (Some(1), Some(0), Some(1)),
        "{t}"
    );

    let list = ballots(&e, &matter).await;
    assert_eq!(
        (
            list.len(),
            list[0]["voter_name"].as_str(),
            list[0]["channel"].as_str()
        ),
        (1, Some("配偶"), Some("paper")),
        "{list:?}"
    );
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
    let mut wb: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(resp.bytes().await.unwrap().to_vec()))
            .unwrap();
    let sheet = calamine::Reader::worksheet_range_at(&mut wb, 0)
        .unwrap()
        .unwrap();
    let voters: Vec<String> = sheet.rows().skip(1).map(|r| r[3].to_string()).collect();
    assert_eq!(
        voters,
        ["配偶"],
        "the export names the signer, not \"entered by staff\""
    );
    assert_verifies(&e, &matter).await;

    // The other way round: the first co-owner votes online; a paper ballot signed later by the
    // other co-owner is refused.
    let second = open(&e).await;
    assert_eq!(e.cast(&owner, &second, "disagree", "owner-2").await.0, 201);
    pause().await;
    let (s, b) = paper(
        &e,
        &second,
        json!({"unit_id": e.units[0].0, "choice": "agree", "channel": "paper", "scan_attachment_id": e.scan().await, "signed_by_owner_id": spouse_id}),
    )
    .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (409, Some("ballot.already_cast")),
        "{b}"
    );
    assert_verifies(&e, &second).await;
}

#[tokio::test]
async fn a_spoiled_paper_ballot_is_entered_in_one_step_with_its_reason() {
    let e = Estate::new(2, false).await;
    let matter = open(&e).await;
    let (s, p) = paper(
        &e,
        &matter,
        json!({"unit_id": e.units[0].0, "choice": "agree", "channel": "paper", "scan_attachment_id": e.scan().await, "void_reason": "同意与反对均勾选"}),
    )
    .await;
    assert_eq!(s, 201, "{p}");
    let t = e.tally(&matter).await;
    assert_eq!(
        (t["invalid"]["heads"].as_i64(), t["agree"]["heads"].as_i64()),
        (Some(1), Some(0)),
        "{t}"
    );
    let list = ballots(&e, &matter).await;
    assert_eq!(
        (list[0]["voided"].as_bool(), list[0]["void_reason"].as_str()),
        (Some(true), Some("同意与反对均勾选")),
        "{list:?}"
    );
    assert_eq!(kinds(&e.ledger(&matter).await), ["cast", "void"]);
    assert_verifies(&e, &matter).await;
}

#[tokio::test]
async fn paper_entry_is_idempotent_and_a_second_entry_says_who_entered_the_first_and_when() {
    let e = Estate::new(2, false).await;
    let matter = open(&e).await;
    let body = json!({"unit_id": e.units[0].0, "choice": "agree", "channel": "paper", "scan_attachment_id": e.scan().await, "idempotency_key": "clerk-1"});
    let (s, first) = paper(&e, &matter, body.clone()).await;
    assert_eq!(s, 201, "{first}");
    let (s, again) = paper(&e, &matter, body.clone()).await;
    assert_eq!(
        (s, &again["ballot_id"]),
        (200, &first["ballot_id"]),
        "a retry returns the first receipt: {again}"
    );
    let mut changed = body.clone();
    changed["choice"] = json!("disagree");
    let (s, b) = paper(&e, &matter, changed).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (422, Some("idempotency.mismatch")),
        "never the earlier receipt for another body: {b}"
    );

    let other = json!({"unit_id": e.units[0].0, "choice": "disagree", "channel": "paper", "scan_attachment_id": e.scan().await, "idempotency_key": "clerk-2"});
    let (s, b) = paper(&e, &matter, other).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (409, Some("ballot.already_entered")),
        "{b}"
    );
    let conn = e.app.conn(&e.t.tenant).await;
    let clerk: String = conn
        .query_one(
            "SELECT display_name FROM staff WHERE username = 'admin'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    conn.commit().await.unwrap();
    let message = b["message"].as_str().unwrap();
    let today = (Utc::now() + Duration::hours(8))
        .format("%Y-%m-%d")
        .to_string();
    assert!(
        message.contains(&clerk) && message.contains(&today),
        "who entered it and when: {message}"
    );
    let t = e.tally(&matter).await;
    assert_eq!(
        (
            t["agree"]["heads"].as_i64(),
            t["participants"]["heads"].as_i64()
        ),
        (Some(1), Some(1))
    );
    assert_verifies(&e, &matter).await;
}

#[tokio::test]
async fn an_idempotency_key_reused_with_another_body_is_refused_when_casting_online() {
    let e = Estate::new(2, false).await;
    let owner = e.owner(0).await;
    let matter = open(&e).await;
    let (s, first) = e.cast(&owner, &matter, "agree", "k").await;
    assert_eq!(s, 201, "{first}");
    let (s, b) = e.cast(&owner, &matter, "disagree", "k").await;
    assert_eq!(
        (s, b["code"].as_str()),
        (422, Some("idempotency.mismatch")),
        "{b}"
    );
    let (s, again) = e.cast(&owner, &matter, "agree", "k").await;
    assert_eq!((s, &again["ballot_id"]), (200, &first["ballot_id"]));
    let t = e.tally(&matter).await;
    assert_eq!(
        (
            t["agree"]["heads"].as_i64(),
            t["disagree"]["heads"].as_i64()
        ),
        (Some(1), Some(0))
    );
    assert_verifies(&e, &matter).await;
}

#[tokio::test]
async fn an_idempotency_key_reused_with_other_picks_is_refused_in_an_election() {
    let e = Estate::new(5, false).await;
    let mut owners = Vec::new();
    for i in 0..5 {
        owners.push(e.owner(i).await);
    }
    let admin = e.t.admin_token.clone();
    let signature = |token: String| {
        let form = multipart::Form::new().text("purpose", "signature").part(
            "file",
            multipart::Part::bytes(PNG.to_vec()).file_name("签名.png"),
        );
        let rb = e
            .app
            .request(POST, "/api/attachments", e.slug(), Some(&token))
            .multipart(form);
        async move { common::read(rb.send().await.unwrap()).await.1["id"].clone() }
    };
    let body = json!({
        "name": "筹备组", "seats": 3, "leader_phone": "13900000000", "leader_phone_public": false,
        "signup_opens_at": Utc::now() - Duration::seconds(5), "signup_closes_at": Utc::now() + Duration::hours(1)
    });
    let (s, group) = e
        .app
        .call(
            POST,
            &format!("/api/estates/{}/prep-groups", e.id),
            e.slug(),
            Some(&admin),
            Some(body),
        )
        .await;
    assert_eq!(s, 201, "{group}");
    let gid = group["id"].as_str().unwrap().to_string();
    for owner in &owners[..4] {
        let body =
            json!({"intro": "愿意服务", "signature_attachment_id": signature(owner.clone()).await});
        let (s, m) = e
            .app
            .call(
                POST,
                &format!("/api/prep-groups/{gid}/signups"),
                e.slug(),
                Some(owner),
                Some(body),
            )
            .await;
        assert_eq!(s, 201, "{m}");
        let (s, _) = e
            .app
            .call(
                POST,
                &format!("/api/prep-members/{}/review", m["id"].as_str().unwrap()),
                e.slug(),
                Some(&admin),
                Some(json!({"approve": true})),
            )
            .await;
        assert_eq!(s, 200);
    }
    let conn = e.app.conn(&e.t.tenant).await;
    conn.execute(
        "UPDATE prep_groups SET signup_closes_at = now() - interval '2 seconds' WHERE id = $1",
        &[&Uuid::parse_str(&gid).unwrap()],
    )
    .await
    .unwrap();
    conn.commit().await.unwrap();
    let voting = json!({"opens_at": Utc::now() - Duration::seconds(1), "closes_at": Utc::now() + Duration::days(3)});
    let (s, election) = e
        .app
        .call(
            POST,
            &format!("/api/prep-groups/{gid}/election"),
            e.slug(),
            Some(&admin),
            Some(json!({"voting": voting})),
        )
        .await;
    assert_eq!(s, 201, "{election}");
    let c: Vec<Value> = election["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].clone())
        .collect();
    let path = format!(
        "/api/elections/{}/ballots",
        election["id"].as_str().unwrap()
    );
    let sig = signature(owners[4].clone()).await;
    let (s, first) = e
        .app
        .call(
            POST,
            &path,
            e.slug(),
            Some(&owners[4]),
            Some(json!({"picks": [c[0]], "idempotency_key": "e", "signature_attachment_id": sig})),
        )
        .await;
    assert_eq!(s, 201, "{first}");
    let (s, b) = e
        .app
        .call(
            POST,
            &path,
            e.slug(),
            Some(&owners[4]),
            Some(json!({"picks": [c[1]], "idempotency_key": "e", "signature_attachment_id": sig})),
        )
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (422, Some("idempotency.mismatch")),
        "{b}"
    );
    let (s, again) = e
        .app
        .call(
            POST,
            &path,
            e.slug(),
            Some(&owners[4]),
            Some(json!({"picks": [c[0]], "idempotency_key": "e", "signature_attachment_id": sig})),
        )
        .await;
    assert_eq!(
        (s, &again["ballot_id"]),
        (200, &first["ballot_id"]),
        "{again}"
    );
    assert_verifies(&e, election["matter_id"].as_str().unwrap()).await;
}

#[tokio::test]
async fn one_scan_backs_one_paper_ballot() {
    let e = Estate::new(2, false).await;
    let matter = open(&e).await;
    let scan = e.scan().await;
    let (s, _) = paper(&e, &matter, json!({"unit_id": e.units[0].0, "choice": "agree", "channel": "paper", "scan_attachment_id": scan})).await;
    assert_eq!(s, 201);
    let (s, b) = paper(&e, &matter, json!({"unit_id": e.units[1].0, "choice": "agree", "channel": "paper", "scan_attachment_id": scan})).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (409, Some("ballot.scan_used")),
        "{b}"
    );
    // The database refuses it too.
    let conn = e.app.conn(&e.t.tenant).await;
    let err = conn
        .execute(
            "INSERT INTO ballots (id, matter_id, seq, holder_key, channel, choice, scan_id)
             SELECT gen_random_uuid(), matter_id, nextval('ballot_seq'), 'x', 'on_site', 'agree', scan_id FROM ballots WHERE scan_id IS NOT NULL",
            &[],
        )
        .await
        .unwrap_err();
    assert!(
        format!("{err:?}").contains("ballots_one_per_scan"),
        "{err:?}"
    );
    drop(conn);
    assert_verifies(&e, &matter).await;
}

#[tokio::test]
async fn staff_list_every_ballot_of_a_matter_page_by_page() {
    let e = Estate::new(3, false).await;
    let owner = e.owner(0).await;
    let matter = open(&e).await;
    let (_, online) = e.cast(&owner, &matter, "agree", "o").await;
    let signed = Utc::now();
    let (s, p) = paper(
        &e,
        &matter,
        json!({"unit_id": e.units[1].0, "choice": "disagree", "channel": "on_site", "scan_attachment_id": e.scan().await, "signed_at": signed}),
    )
    .await;
    assert_eq!(s, 201, "{p}");

    let path = format!("/api/matters/{matter}/ballots");
    let (s, page) = e
        .app
        .call(
            GET,
            &format!("{path}?page_size=1"),
            e.slug(),
            Some(&e.t.admin_token),
            None,
        )
        .await;
    assert_eq!(
        (
            s,
            page["total"].as_i64(),
            page["items"].as_array().map(Vec::len)
        ),
        (200, Some(2), Some(1)),
        "{page}"
    );
    let first = &page["items"][0];
    assert_eq!(first["id"], online["ballot_id"]);
    assert_eq!(
        (
            first["channel"].as_str(),
            first["choice"].as_str(),
            first["voter_name"].as_str(),
            first["area"].as_str(),
            first["unit_codes"].clone()
        ),
        (
            Some("online"),
            Some("agree"),
            Some(e.units[0].1.as_str()),
            Some("90.00"),
            json!(["1-1-101"])
        )
    );
    assert!(
        first["seq"].is_i64() && first["cast_at"].is_string() && first["entered_by"].is_null(),
        "{first}"
    );
    let (_, page) = e
        .app
        .call(
            GET,
            &format!("{path}?page_size=1&page=2"),
            e.slug(),
            Some(&e.t.admin_token),
            None,
        )
        .await;
    let second = &page["items"][0];
    assert_eq!(
        (
            second["id"].clone(),
            second["channel"].as_str(),
            second["choice"].as_str()
        ),
        (p["ballot_id"].clone(), Some("on_site"), Some("disagree"))
    );
    assert!(
        second["entered_by"].is_string() && second["signed_at"].is_string(),
        "{second}"
    );
    assert_eq!(
        (
            second["voided"].as_bool(),
            second["superseded"].as_bool(),
            second["replaced"].as_bool()
        ),
        (Some(false), Some(false), Some(false))
    );

    // Staff only, and only their own jurisdiction's.
    let (s, _) = e.app.call(GET, &path, e.slug(), Some(&owner), None).await;
    assert_eq!(s, 403);
    let (rc, _) = e.app.add_rc_with_estate(&e.t.tenant, "别处").await;
    let elsewhere = e.app.staff(&e.t, "rc_staff", Some(rc)).await;
    let (s, _) = e
        .app
        .call(GET, &path, e.slug(), Some(&elsewhere), None)
        .await;
    assert_eq!(s, 404);
    assert_verifies(&e, &matter).await;
}

#[tokio::test]
async fn a_seller_who_voted_before_selling_one_of_two_units_cannot_change_the_vote_afterwards() {
    let e = Estate::new(2, false).await;
    let (seller, second) = second_unit(&e).await;
    let body = json!({
        "estate_id": e.id, "type_name": "公共收益", "title": "可改票", "content": "", "importance": "normal",
        "opens_at": chrono::Utc::now() - chrono::Duration::seconds(1), "closes_at": chrono::Utc::now() + chrono::Duration::days(7),
        "law_item": 4, "allow_vote_change": true
    });
    let (s, m) = e
        .app
        .call(
            POST,
            "/api/matters",
            e.slug(),
            Some(&e.t.admin_token),
            Some(body),
        )
        .await;
    assert_eq!(s, 201, "{m}");
    let matter = m["id"].as_str().unwrap().to_string();
    let (s, r) = e.cast(&seller, &matter, "agree", "before").await;
    assert_eq!(
        (s, r["area"].as_str()),
        (201, Some("150.00")),
        "both units: {r}"
    );
    pause().await;
    let _buyer = e.sell(second, "买家丁").await;
    // The ballot cast before the sale stands for the sold unit: the seller may no longer change it.
    let (s, b) = e.cast(&seller, &matter, "disagree", "after").await;
    assert_eq!(
        (s, b["code"].as_str()),
        (409, Some("ballot.already_cast")),
        "{b}"
    );
    let t = e.tally(&matter).await;
    assert_eq!(
        (t["agree"]["area"].as_str(), t["disagree"]["heads"].as_i64()),
        (Some("150.00"), Some(0)),
        "{t}"
    );
    assert_verifies(&e, &matter).await;
}

#[tokio::test]
async fn a_paper_ballot_cannot_be_signed_before_its_matter_existed() {
    let e = Estate::new(1, false).await;
    // Created now with an opening time a day ago: it opens as created.
    let body = json!({
        "estate_id": e.id, "type_name": "公共收益", "title": "补录", "content": "", "importance": "normal",
        "opens_at": chrono::Utc::now() - chrono::Duration::days(1), "closes_at": chrono::Utc::now() + chrono::Duration::days(7), "law_item": 4
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
    e.tally(&matter).await;
    let signed = chrono::Utc::now() - chrono::Duration::hours(12);
    let (s, b) =
        paper(&e, &matter, json!({"unit_id": e.units[0].0, "choice": "agree", "channel": "paper", "scan_attachment_id": e.scan().await, "signed_at": signed}))
            .await;
    assert_eq!(
        (s, b["fields"][0]["field"].as_str()),
        (422, Some("signed_at")),
        "{b}"
    );
}

#[tokio::test]
async fn a_spoiled_paper_ballot_signed_first_never_sets_a_co_owners_valid_ballot_aside() {
    let e = Estate::new(2, false).await;
    let owner = e.owner(0).await;
    let spouse = co_owner(&e, &owner).await;
    let owner_id = me(&e, &owner).await;
    let matter = open(&e).await;
    let signed = chrono::Utc::now();
    pause().await;
    assert_eq!(e.cast(&spouse, &matter, "agree", "spouse").await.0, 201);
    // The owner's paper ballot, signed before the spouse voted, was spoiled.
    let (s, p) = paper(
        &e,
        &matter,
        json!({"unit_id": e.units[0].0, "choice": "disagree", "channel": "paper", "scan_attachment_id": e.scan().await, "signed_by_owner_id": owner_id, "signed_at": signed, "void_reason": "字迹无法辨认"}),
    )
    .await;
    assert_eq!(s, 201, "{p}");
    let list = ballots(&e, &matter).await;
    let online = list.iter().find(|b| b["channel"] == "online").unwrap();
    assert_eq!(
        online["voided"].as_bool(),
        Some(false),
        "the spouse's valid ballot stands: {list:?}"
    );
    assert_verifies(&e, &matter).await;
}

#[tokio::test]
async fn a_retry_after_voting_closed_still_gets_its_receipt() {
    let e = Estate::new(2, false).await;
    let owner = e.owner(0).await;
    let matter = open(&e).await;
    let (s, first) = e.cast(&owner, &matter, "agree", "lost-answer").await;
    assert_eq!(s, 201, "{first}");
    let conn = e.app.conn(&e.t.tenant).await;
    conn.execute(
        "UPDATE matters SET closes_at = now() - interval '1 second' WHERE id = $1",
        &[&Uuid::parse_str(&matter).unwrap()],
    )
    .await
    .unwrap();
    conn.commit().await.unwrap();
    let (s, again) = e.cast(&owner, &matter, "agree", "lost-answer").await;
    assert_eq!(
        (s, again["ballot_id"].clone()),
        (200, first["ballot_id"].clone()),
        "{again}"
    );
    let (s, b) = e.cast(&owner, &matter, "agree", "new-key").await;
    assert_eq!(
        (s, b["code"].as_str()),
        (409, Some("ballot.not_open")),
        "a new ballot after the close is refused: {b}"
    );
}

#[tokio::test]
async fn a_paper_ballot_for_co_owned_units_names_who_signed_it() {
    let e = Estate::new(2, false).await;
    let owner = e.owner(0).await;
    co_owner(&e, &owner).await;
    let matter = open(&e).await;
    let (s, b) = paper(&e, &matter, json!({"unit_id": e.units[0].0, "choice": "agree", "channel": "paper", "scan_attachment_id": e.scan().await})).await;
    assert_eq!(
        (s, b["fields"][0]["field"].as_str()),
        (422, Some("signed_by_owner_id")),
        "{b}"
    );
    // A unit with one holder needs no signer named.
    let (s, b) = paper(&e, &matter, json!({"unit_id": e.units[1].0, "choice": "agree", "channel": "paper", "scan_attachment_id": e.scan().await})).await;
    assert_eq!(s, 201, "{b}");
}

#[tokio::test]
async fn under_first_wins_the_ballot_cast_first_counts_a_paper_one_by_when_it_was_signed() {
    let e = Estate::new(3, false).await;
    let (a, b) = (e.owner(0).await, e.owner(1).await);
    let body = json!({
        "estate_id": e.id, "type_name": "公共收益", "title": "先投为准", "content": "详见附件", "importance": "important",
        "opens_at": Utc::now() - Duration::hours(2), "closes_at": Utc::now() + Duration::days(7), "law_item": 4, "channel_rule": "first_wins"
    });
    let (s, m) = e
        .app
        .call(
            POST,
            "/api/matters",
            e.slug(),
            Some(&e.t.admin_token),
            Some(body),
        )
        .await;
    assert_eq!(
        (s, m["settings"]["channel_rule"].as_str()),
        (201, Some("first_wins")),
        "{m}"
    );
    let matter = m["id"].as_str().unwrap().to_string();
    e.tally(&matter).await;
    // As if the matter had opened two hours ago (paper ballots are signed from the opening on).
    let conn = e.app.conn(&e.t.tenant).await;
    conn.execute(
        "UPDATE matters SET opened_at = now() - interval '2 hours' WHERE id = $1",
        &[&Uuid::parse_str(&matter).unwrap()],
    )
    .await
    .unwrap();
    conn.commit().await.unwrap();

    // Owner 0 votes online now, but signed a paper ballot an hour ago that the clerk enters later:
    // the paper ballot was cast first and counts.
    assert_eq!(e.cast(&a, &matter, "agree", "a").await.0, 201);
    let signed = Utc::now() - Duration::hours(1);
    let (s, p) = paper(
        &e,
        &matter,
        json!({"unit_id": e.units[0].0, "choice": "disagree", "channel": "paper", "scan_attachment_id": e.scan().await, "signed_at": signed}),
    )
    .await;
    assert_eq!(s, 201, "{p}");
    // Owner 1 votes online first; a paper ballot signed afterwards does not displace it.
    assert_eq!(e.cast(&b, &matter, "agree", "b").await.0, 201);
    let (s, p) = paper(&e, &matter, json!({"unit_id": e.units[1].0, "choice": "disagree", "channel": "paper", "scan_attachment_id": e.scan().await})).await;
    assert_eq!(s, 201, "{p}");

    // By hand: owner 0 disagrees (paper), owner 1 agrees (online); owner 2 did not vote.
    let t = e.tally(&matter).await;
    assert_eq!(
        (
            t["agree"]["heads"].as_i64(),
            t["disagree"]["heads"].as_i64(),
            t["participants"]["heads"].as_i64()
        ),
        (Some(1), Some(1), Some(2)),
        "{t}"
    );
    // The published ledger records when each ballot was cast, so its recount agrees.
    assert_verifies(&e, &matter).await;
}
