//! Every owner-facing operation, walked by owners of different shapes: one flat, two flats, a
//! flat and a parking space, a flat inside a matter's scope and one outside it, a co-owner and
//! the main owner of the co-owned flat. The walk collects every broken (shape, operation) pair
//! and fails once at the end with the whole list.
//!
//! The rules the expectations come from: one ballot per person; a person is every unit of one
//! owner (all carried by that one ballot); a co-owner and the owner share their unit's one vote;
//! a matter's scope limits the area a ballot carries.
//!
//! Small tests at the end pin known bugs, each asserting the correct behaviour.

mod common;

use std::fmt::Display;

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
const DELETE: Method = Method::DELETE;

// --- Findings -----------------------------------------------------------------------------------

/// Failures found so far, each naming the shape and the operation.
#[derive(Default)]
struct Findings(Vec<String>);

impl Findings {
    fn fail(&mut self, shape: &str, op: &str, what: impl Display) {
        self.0.push(format!("[{shape}] {op}: {what}"));
    }

    /// Whether the answer has the status wanted; a failure is recorded otherwise.
    fn status(&mut self, shape: &str, op: &str, got: &(u16, Value), want: u16) -> bool {
        if got.0 == want {
            return true;
        }
        self.fail(
            shape,
            op,
            format!("expected {want}, got {} {}", got.0, got.1),
        );
        false
    }

    /// Whether the answer is the refusal wanted (status and error code).
    fn refusal(
        &mut self,
        shape: &str,
        op: &str,
        got: &(u16, Value),
        want: u16,
        code: &str,
    ) -> bool {
        if got.0 == want && got.1["code"] == code {
            return true;
        }
        self.fail(
            shape,
            op,
            format!("expected {want} {code}, got {} {}", got.0, got.1),
        );
        false
    }

    fn check(&mut self, shape: &str, op: &str, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.fail(shape, op, what());
        }
    }

    fn assert_none(self, what: &str) {
        assert!(
            self.0.is_empty(),
            "{what}: {} failure(s)\n{}",
            self.0.len(),
            self.0.join("\n")
        );
    }
}

// --- Helpers ------------------------------------------------------------------------------------

/// An exact area ("150.00", "12.5") in hundredths of a m².
fn centi(v: &Value) -> Option<i64> {
    let s = v.as_str()?;
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 2 {
        return None;
    }
    Some(int.parse::<i64>().ok()? * 100 + format!("{frac:0<2}").parse::<i64>().ok()?)
}

fn area(c: i64) -> String {
    format!("{}.{:02}", c / 100, c % 100)
}

/// "1-1-102,1-1-103" as a sorted list (the order of codes depends on the collation).
fn codes(v: &Value) -> Vec<String> {
    let mut c: Vec<String> = v
        .as_str()
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    c.sort();
    c
}

fn mask(phone: &str) -> String {
    format!("{}****{}", &phone[..3], &phone[7..])
}

/// The ids of a page's items.
fn ids(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["id"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
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

async fn upload(e: &Estate, token: &str, purpose: &str, file_name: &str) -> (u16, Value) {
    let form = multipart::Form::new()
        .text("purpose", purpose.to_string())
        .part(
            "file",
            multipart::Part::bytes(PNG.to_vec()).file_name(file_name.to_string()),
        );
    common::read(
        e.app
            .request(POST, "/api/attachments", e.slug(), Some(token))
            .multipart(form)
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn sql(e: &Estate, statement: &str, id: &str) {
    let conn = e.app.conn(&e.t.tenant).await;
    conn.execute(statement, &[&Uuid::parse_str(id).unwrap()])
        .await
        .unwrap();
    conn.commit().await.unwrap();
}

/// Registers an owner account (the code goes to the login phone); returns the token.
/// A preparatory group formed earlier, so the estate's first term may be created (§3.7 说明(1)).
/// tests/elections.rs forms one through the API; here the walk needs a group still taking
/// sign-ups and a term at once, which the estate's life never has, so the formed one is written.
async fn formed_group(e: &Estate) {
    let conn = e.app.conn(&e.t.tenant).await;
    conn.execute(
        "INSERT INTO prep_groups (id, estate_id, name, seats, leader_phone, leader_phone_public, signup_opens_at, signup_closes_at, work_days, status, formed_at, created_by)
         SELECT gen_random_uuid(), $1, '上一届筹备组', 7, '13900000000', false, now() - interval '30 days', now() - interval '20 days', 90, 'formed', now(), id
           FROM staff ORDER BY created_at LIMIT 1",
        &[&e.id],
    )
    .await
    .unwrap();
    conn.commit().await.unwrap();
}

async fn register(e: &Estate, name: &str, login_phone: &str) -> String {
    let (s, b) = e
        .app
        .call(
            POST,
            "/api/auth/sms-codes",
            e.slug(),
            None,
            Some(json!({"phone": login_phone, "purpose": "register"})),
        )
        .await;
    assert_eq!(s, 202, "register code for {name}: {b}");
    let code = e.app.last_code(&e.t.tenant, login_phone).await;
    let body = json!({"real_name": name, "phone": login_phone, "sms_code": code, "password": "Passw0rd", "accept_agreement": true});
    let (s, b) = e
        .app
        .call(POST, "/api/owners/register", e.slug(), None, Some(body))
        .await;
    assert_eq!(s, 201, "register {name}: {b}");
    b["token"].as_str().unwrap().to_string()
}

/// Verifies roll row `i` for `token` with the code sent to the row's registered phone. A 429
/// (the resend wait) is recorded as a finding, then worked around by ageing the phone's sends.
async fn verify(e: &Estate, f: &mut Findings, shape: &str, token: &str, i: usize) {
    let (unit, _, registered) = &e.units[i];
    let path = format!("/api/verification/units/{unit}/sms-code");
    let resp = e
        .app
        .request(POST, &path, e.slug(), Some(token))
        .send()
        .await
        .unwrap();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap_or("?").to_string());
    let (s, b) = common::read(resp).await;
    if s == 429 {
        f.fail(
            shape,
            "verify_unit_send_code (another unit under the same registered phone)",
            format!(
                "expected 202, got 429 {b} (Retry-After: {})",
                retry_after.as_deref().unwrap_or("absent")
            ),
        );
        e.app.age_sms_sends(registered, 120).await;
        let (s, b) = call(e, POST, &path, token, None).await;
        assert_eq!(s, 202, "{shape}: the code once the wait has passed: {b}");
    } else {
        assert_eq!(s, 202, "{shape}: verification code for row {i}: {b}");
    }
    let code = e.app.last_code(&e.t.tenant, registered).await;
    let (s, b) = call(
        e,
        POST,
        &format!("/api/verification/units/{unit}"),
        token,
        Some(json!({"sms_code": code})),
    )
    .await;
    assert_eq!(s, 201, "{shape}: verify row {i}: {b}");
}

// --- The estate and its owners ------------------------------------------------------------------

/// What a shape's ballot must carry in one vote.
#[derive(Clone, Debug)]
enum Vote {
    /// One ballot with exactly these units and their area.
    Carries { codes: Vec<String>, area: i64 },
    /// The vote is shared with someone who cast it already: 409 `ballot.already_cast`.
    AlreadyCast,
}

struct Shape {
    label: &'static str,
    /// Short, for idempotency keys.
    key: &'static str,
    name: String,
    token: String,
    owner_id: String,
    /// Rows of the roll this person holds.
    rows: Vec<usize>,
    /// `owner` or `co_owner`.
    role: &'static str,
    /// The whole-estate matter (cast in walk order).
    whole: Vote,
    /// The building-1 matter (cast in reverse walk order: the main owner before the co-owner).
    building_one: Vote,
    /// The election round (walk order).
    election: Vote,
}

struct World {
    e: Estate,
    rows: Vec<RollRow>,
    shapes: Vec<Shape>,
    /// Whole estate; carries a staff document.
    whole: String,
    /// Scoped to building 1.
    building_one: String,
    document: String,
    group: String,
    election: String,
}

const ONE: usize = 0;
const TWO: [usize; 2] = [1, 2];
const WITH_PARKING: [usize; 2] = [3, 4];
const SPLIT: [usize; 2] = [5, 6];
const CO_OWNED: usize = 7;
const FILLERS: [usize; 4] = [8, 9, 10, 11];

fn roll() -> Vec<RollRow> {
    let (p1, p2, p3, p4, p5) = (phone(), phone(), phone(), phone(), phone());
    vec![
        RollRow::flat("1", "101", "90", "张一", &p1),
        // One person, two flats: the same name and registered phone on two rows.
        RollRow::flat("1", "102", "80", "李二", &p2),
        RollRow::flat("1", "103", "70", "李二", &p2),
        RollRow::flat("1", "104", "100", "王三", &p3),
        RollRow::new("1", "车位-001", "车位", "12.5", "王三", &p3),
        // Building 1 is inside the scoped matter, building 2 outside.
        RollRow::flat("1", "105", "95", "赵四", &p4),
        RollRow::flat("2", "201", "60", "赵四", &p4),
        RollRow::flat("1", "106", "110", "陈五", &p5),
        RollRow::flat("1", "107", "90", "邻居甲", &phone()),
        RollRow::flat("1", "108", "90", "邻居乙", &phone()),
        RollRow::flat("1", "109", "90", "邻居丙", &phone()),
        RollRow::flat("2", "202", "60", "邻居丁", &phone()),
    ]
}

fn carries(rows: &[RollRow], held: &[usize], in_scope: impl Fn(&RollRow) -> bool) -> Vote {
    let held: Vec<&RollRow> = held
        .iter()
        .map(|&i| &rows[i])
        .filter(|r| in_scope(r))
        .collect();
    let mut codes: Vec<String> = held.iter().map(|r| r.code()).collect();
    codes.sort();
    Vote::Carries {
        codes,
        area: held.iter().map(|r| centi(&json!(r.area)).unwrap()).sum(),
    }
}

async fn world(f: &mut Findings) -> World {
    let rows = roll();
    // Parking counts toward the vote in this estate, so the parking space's area is carried.
    let e = Estate::with_roll(&rows, false, true).await;
    let all = |_: &RollRow| true;
    let b1 = |r: &RollRow| r.building == "1";
    let mut shapes = Vec::new();
    let mut add = |label,
                   key,
                   name: &str,
                   token,
                   rows_held: &[usize],
                   role,
                   whole,
                   building_one,
                   election| {
        shapes.push(Shape {
            label,
            key,
            name: name.into(),
            token,
            owner_id: String::new(),
            rows: rows_held.to_vec(),
            role,
            whole,
            building_one,
            election,
        })
    };

    let t = register(&e, "张一", &phone()).await;
    verify(&e, f, "one flat", &t, ONE).await;
    add(
        "one flat",
        "s1",
        "张一",
        t,
        &[ONE],
        "owner",
        carries(&rows, &[ONE], all),
        carries(&rows, &[ONE], b1),
        carries(&rows, &[ONE], all),
    );

    let t = register(&e, "李二", &phone()).await;
    for i in TWO {
        verify(&e, f, "two flats", &t, i).await;
    }
    add(
        "two flats",
        "s2",
        "李二",
        t,
        &TWO,
        "owner",
        carries(&rows, &TWO, all),
        carries(&rows, &TWO, b1),
        carries(&rows, &TWO, all),
    );

    let t = register(&e, "王三", &phone()).await;
    for i in WITH_PARKING {
        verify(&e, f, "flat + parking", &t, i).await;
    }
    add(
        "flat + parking",
        "s3",
        "王三",
        t,
        &WITH_PARKING,
        "owner",
        carries(&rows, &WITH_PARKING, all),
        carries(&rows, &WITH_PARKING, b1),
        carries(&rows, &WITH_PARKING, all),
    );

    let t = register(&e, "赵四", &phone()).await;
    for i in SPLIT {
        verify(&e, f, "flat in scope + flat outside", &t, i).await;
    }
    add(
        "flat in scope + flat outside",
        "s4",
        "赵四",
        t,
        &SPLIT,
        "owner",
        carries(&rows, &SPLIT, all),
        carries(&rows, &SPLIT, b1),
        carries(&rows, &SPLIT, all),
    );

    // The main owner verifies and applies for a co-owner; staff approve; the co-owner registers.
    let main = register(&e, "陈五", &phone()).await;
    verify(&e, f, "main owner", &main, CO_OWNED).await;
    let (s, proof) = upload(&e, &main, "proof", "结婚证.png").await;
    assert_eq!(s, 201, "{proof}");
    let spouse_phone = phone();
    let apply =
        json!({"name": "刘六", "phone": spouse_phone, "proof_attachment_ids": [proof["id"]]});
    let (s, application) = call(
        &e,
        POST,
        &format!("/api/me/properties/{}/co-owners", e.units[CO_OWNED].0),
        &main,
        Some(apply),
    )
    .await;
    assert_eq!(s, 201, "co-owner application: {application}");
    let (s, b) = call(
        &e,
        POST,
        &format!(
            "/api/co-owner-applications/{}/approve",
            application["id"].as_str().unwrap()
        ),
        &e.t.admin_token,
        None,
    )
    .await;
    assert_eq!(s, 200, "approve the co-owner: {b}");
    let spouse = register(&e, "刘六", &spouse_phone).await;
    // Walk order: the co-owner votes first in the estate-wide matter and the election; in the
    // building-1 matter (walked in reverse) the main owner does.
    add(
        "co-owner",
        "s5",
        "刘六",
        spouse,
        &[CO_OWNED],
        "co_owner",
        carries(&rows, &[CO_OWNED], all),
        Vote::AlreadyCast,
        carries(&rows, &[CO_OWNED], all),
    );
    add(
        "main owner of the co-owned flat",
        "s6",
        "陈五",
        main,
        &[CO_OWNED],
        "owner",
        Vote::AlreadyCast,
        carries(&rows, &[CO_OWNED], b1),
        Vote::AlreadyCast,
    );

    // Neighbours who hold one flat each: turnout and the rest of the roll.
    for i in FILLERS {
        let t = register(&e, &rows[i].name, &phone()).await;
        verify(&e, f, "neighbour", &t, i).await;
    }
    for s in shapes.iter_mut() {
        let (st, me) = call(&e, GET, "/api/me", &s.token, None).await;
        assert_eq!(st, 200, "{me}");
        s.owner_id = me["id"].as_str().unwrap().to_string();
    }

    // Staff: a document, a whole-estate matter carrying it, a building-1 matter, a preparatory
    // group open for sign-up, and a committee election open for candidates.
    let admin = e.t.admin_token.clone();
    let (s, doc) = upload(&e, &admin, "document", "电梯更换方案.png").await;
    assert_eq!(s, 201, "{doc}");
    let document = doc["id"].as_str().unwrap().to_string();
    let matter = |title: &str, scope: Option<Vec<&str>>, attachments: Vec<&str>| {
        json!({
            "estate_id": e.id, "type_name": "公共收益", "title": title, "content": "详见附件", "importance": "important",
            "scope_buildings": scope, "attachment_ids": attachments, "law_item": 4,
            "opens_at": Utc::now() - Duration::seconds(1), "closes_at": Utc::now() + Duration::days(7)
        })
    };
    let (s, m) = call(
        &e,
        POST,
        "/api/matters",
        &admin,
        Some(matter("是否更换电梯", None, vec![&document])),
    )
    .await;
    assert_eq!(s, 201, "{m}");
    let whole = m["id"].as_str().unwrap().to_string();
    let (s, m) = call(
        &e,
        POST,
        "/api/matters",
        &admin,
        Some(matter("1号楼外墙维修", Some(vec!["1"]), vec![])),
    )
    .await;
    assert_eq!(s, 201, "{m}");
    let building_one = m["id"].as_str().unwrap().to_string();

    let soon = Utc::now() + Duration::hours(1);
    let body = json!({
        "name": "议事花园筹备组", "seats": 7, "leader_phone": "13900000000", "leader_phone_public": false,
        "signup_opens_at": Utc::now() - Duration::seconds(5), "signup_closes_at": soon
    });
    let (s, g) = call(
        &e,
        POST,
        &format!("/api/estates/{}/prep-groups", e.id),
        &admin,
        Some(body),
    )
    .await;
    assert_eq!(s, 201, "{g}");
    let group = g["id"].as_str().unwrap().to_string();

    formed_group(&e).await;
    let today = Utc::now().date_naive();
    let term = json!({"name": "第一届业主委员会", "starts_on": today, "ends_on": today + Duration::days(3 * 365), "seats": 5});
    let (s, term) = call(
        &e,
        POST,
        &format!("/api/estates/{}/terms", e.id),
        &admin,
        Some(term),
    )
    .await;
    assert_eq!(s, 201, "{term}");
    let body = json!({
        "signup_opens_at": Utc::now() - Duration::seconds(5), "signup_closes_at": soon,
        "voting": {"opens_at": soon, "closes_at": soon + Duration::days(3)}, "verification_mode": "signature_face"
    });
    let (s, el) = call(
        &e,
        POST,
        &format!("/api/terms/{}/elections", term["id"].as_str().unwrap()),
        &admin,
        Some(body),
    )
    .await;
    assert_eq!(s, 201, "{el}");
    let election = el["id"].as_str().unwrap().to_string();

    World {
        e,
        rows,
        shapes,
        whole,
        building_one,
        document,
        group,
        election,
    }
}

// --- The walk -----------------------------------------------------------------------------------

/// My account, my properties and the verification pickers.
async fn walk_profile_and_housing(w: &World, s: &Shape, f: &mut Findings) {
    let (e, l) = (&w.e, s.label);
    let r = call(e, GET, "/api/me", &s.token, None).await;
    if f.status(l, "owner_profile_get", &r, 200) {
        f.check(
            l,
            "owner_profile_get",
            r.1["real_name"] == s.name.as_str(),
            || format!("real_name: {}", r.1),
        );
    }

    let r = call(e, GET, "/api/me/properties", &s.token, None).await;
    if f.status(l, "my_property_list", &r, 200) {
        let list = r.1["items"].as_array().cloned().unwrap_or_default();
        let mut got: Vec<String> = list
            .iter()
            .filter_map(|p| p["unit_id"].as_str().map(String::from))
            .collect();
        let mut want: Vec<String> = s.rows.iter().map(|&i| e.units[i].0.to_string()).collect();
        got.sort();
        want.sort();
        f.check(l, "my_property_list", got == want, || {
            format!("units {got:?}, expected {want:?}: {}", r.1)
        });
        for &i in &s.rows {
            let Some(p) = list
                .iter()
                .find(|p| p["unit_id"] == e.units[i].0.to_string().as_str())
            else {
                continue;
            };
            let row = &w.rows[i];
            let kind = if row.kind == "车位" {
                "parking"
            } else {
                "residential"
            };
            let ok = p["role"] == s.role
                && centi(&p["area"]) == centi(&json!(row.area))
                && p["kind"] == kind
                && p["estate_id"] == e.id.to_string().as_str();
            f.check(l, "my_property_list", ok, || {
                format!(
                    "unit {}: expected role {}, area {}, kind {kind}; got {p}",
                    row.code(),
                    s.role,
                    row.area
                )
            });
        }
    }

    let r = call(e, GET, "/api/verification/estates", &s.token, None).await;
    if f.status(l, "verify_estate_list", &r, 200) {
        f.check(
            l,
            "verify_estate_list",
            ids(&r.1).contains(&e.id.to_string()),
            || format!("the estate is missing: {}", r.1),
        );
    }
    let r = call(
        e,
        GET,
        &format!("/api/verification/estates/{}/buildings", e.id),
        &s.token,
        None,
    )
    .await;
    if f.status(l, "verify_building_list", &r, 200) {
        f.check(
            l,
            "verify_building_list",
            r.1["items"] == json!(["1", "2"]),
            || format!("{}", r.1),
        );
    }
    for building in ["1", "2"] {
        let r = call(
            e,
            GET,
            &format!(
                "/api/verification/estates/{}/entrances?building={building}",
                e.id
            ),
            &s.token,
            None,
        )
        .await;
        if f.status(l, "verify_entrance_list", &r, 200) {
            f.check(
                l,
                "verify_entrance_list",
                r.1["items"] == json!(["1"]),
                || format!("building {building}: {}", r.1),
            );
        }
    }
    for &i in &s.rows {
        let row = &w.rows[i];
        let path = format!(
            "/api/verification/estates/{}/rooms?building={}&entrance={}",
            e.id, row.building, row.entrance
        );
        let r = call(e, GET, &path, &s.token, None).await;
        if f.status(l, "verify_room_list", &r, 200) {
            let found = r.1["items"].as_array().is_some_and(|a| {
                a.iter().any(|x| {
                    x["unit_id"] == e.units[i].0.to_string().as_str()
                        && x["room"] == row.room.as_str()
                })
            });
            f.check(l, "verify_room_list", found, || {
                format!("{} missing: {}", row.code(), r.1)
            });
        }
        let r = call(
            e,
            GET,
            &format!("/api/verification/units/{}", e.units[i].0),
            &s.token,
            None,
        )
        .await;
        if f.status(l, "verify_unit_get", &r, 200) {
            let ok = r.1["already_verified"] == true
                && r.1["masked_phone"] == mask(&row.phone)
                && r.1["room"] == row.room.as_str();
            f.check(l, "verify_unit_get", ok, || {
                format!("{}: {}", row.code(), r.1)
            });
        }
    }
    if s.role == "owner" && s.label.starts_with("main owner") {
        let r = call(e, GET, "/api/me/co-owner-applications", &s.token, None).await;
        if f.status(l, "my_co_owner_application_list", &r, 200) {
            let ok = r.1["items"]
                .as_array()
                .is_some_and(|a| a.len() == 1 && a[0]["status"] == "approved");
            f.check(l, "my_co_owner_application_list", ok, || {
                format!("one approved application expected: {}", r.1)
            });
        }
    }
}

/// Matters as an owner reads them, and the staff document attached to one.
async fn walk_matter_reading(w: &World, s: &Shape, f: &mut Findings) {
    let (e, l) = (&w.e, s.label);
    let r = call(e, GET, "/api/me/matters", &s.token, None).await;
    if f.status(l, "my_matter_list", &r, 200) {
        let listed = ids(&r.1);
        f.check(
            l,
            "my_matter_list",
            listed.contains(&w.whole) && listed.contains(&w.building_one),
            || format!("both matters expected: {}", r.1),
        );
    }
    for (matter, scope) in [(&w.whole, Value::Null), (&w.building_one, json!(["1"]))] {
        let r = call(e, GET, &format!("/api/matters/{matter}"), &s.token, None).await;
        if f.status(l, "matter_get", &r, 200) {
            let ok = r.1["id"] == matter.as_str()
                && r.1["status"] == "open"
                && r.1["scope_buildings"] == scope;
            f.check(l, "matter_get", ok, || {
                format!("open, scope {scope}: {}", r.1)
            });
        }
    }
    let r = call(e, GET, "/api/matters/rule-sets", &s.token, None).await;
    if f.status(l, "matter_rule_set_list", &r, 200) {
        f.check(
            l,
            "matter_rule_set_list",
            ids(&r.1).iter().any(|i| i == "civil_code_2021_ordinary"),
            || format!("{}", r.1),
        );
    }
    let r = call(
        e,
        GET,
        &format!("/api/estates/{}/matter-types", e.id),
        &s.token,
        None,
    )
    .await;
    if f.status(l, "matter_type_list", &r, 200) {
        f.check(
            l,
            "matter_type_list",
            r.1["items"]
                .as_array()
                .is_some_and(|a| a.contains(&json!("公共收益"))),
            || format!("{}", r.1),
        );
    }

    // The document attached to a matter the owner can see.
    let r = call(e, GET, &format!("/api/matters/{}", w.whole), &s.token, None).await;
    f.check(
        l,
        "matter_get (attachment_ids)",
        r.1["attachment_ids"] == json!([w.document]),
        || format!("{}", r.1),
    );
    let r = call(
        e,
        GET,
        &format!("/api/attachments/{}", w.document),
        &s.token,
        None,
    )
    .await;
    if f.status(l, "attachment_get (matter document)", &r, 200) {
        f.check(
            l,
            "attachment_get (matter document)",
            r.1["file_name"] == "电梯更换方案.png",
            || format!("{}", r.1),
        );
    }
    let resp = e
        .app
        .request(
            GET,
            &format!("/api/attachments/{}/content", w.document),
            e.slug(),
            Some(&s.token),
        )
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap_or_default();
    if status == 200 {
        f.check(
            l,
            "attachment_download (matter document)",
            bytes.as_ref() == PNG,
            || format!("{} bytes, not the uploaded file", bytes.len()),
        );
    } else {
        f.fail(
            l,
            "attachment_download (matter document)",
            format!(
                "expected 200, got {status} {}",
                String::from_utf8_lossy(&bytes)
            ),
        );
    }
    let r = call(
        e,
        GET,
        &format!("/api/attachments/{}/link", w.document),
        &s.token,
        None,
    )
    .await;
    if f.status(l, "attachment_link (matter document)", &r, 200) {
        f.check(
            l,
            "attachment_link (matter document)",
            r.1["url"].as_str().is_some_and(|u| u.contains(&w.document)),
            || format!("{}", r.1),
        );
    }
}

/// Preparatory group and election, before voting: lists, details, sign-ups.
async fn walk_signups(w: &World, s: &Shape, f: &mut Findings) {
    let (e, l) = (&w.e, s.label);
    let r = call(
        e,
        GET,
        &format!("/api/estates/{}/prep-groups", e.id),
        &s.token,
        None,
    )
    .await;
    if f.status(l, "prep_group_list", &r, 200) {
        f.check(
            l,
            "prep_group_list",
            ids(&r.1).contains(&w.group) && ids(&r.1).len() == 2,
            || format!("{}", r.1),
        );
    }
    let r = call(
        e,
        GET,
        &format!("/api/prep-groups/{}", w.group),
        &s.token,
        None,
    )
    .await;
    if f.status(l, "prep_group_get", &r, 200) {
        let ok = r.1["id"] == w.group.as_str()
            && r.1["status"] == "forming"
            && r.1.get("leader_phone").is_none_or(Value::is_null);
        f.check(l, "prep_group_get", ok, || {
            format!("forming, no private leader phone: {}", r.1)
        });
    }
    let (st, sig) = upload(e, &s.token, "signature", "签名.png").await;
    f.check(l, "attachment_upload (signature)", st == 201, || {
        format!("{st} {sig}")
    });
    let r = call(
        e,
        POST,
        &format!("/api/prep-groups/{}/signups", w.group),
        &s.token,
        Some(json!({"intro": "愿意服务", "signature_attachment_id": sig["id"]})),
    )
    .await;
    if f.status(l, "prep_signup_create", &r, 201) {
        let ok = r.1["status"] == "pending"
            && r.1["name"] == s.name.as_str()
            && r.1["owner_id"] == s.owner_id.as_str();
        f.check(l, "prep_signup_create", ok, || format!("{}", r.1));
    }
    let r = call(
        e,
        POST,
        &format!("/api/prep-groups/{}/signups", w.group),
        &s.token,
        Some(json!({"intro": "再报一次", "signature_attachment_id": sig["id"]})),
    )
    .await;
    f.refusal(l, "prep_signup_create (twice)", &r, 409, "prep.duplicate");

    let r = call(
        e,
        GET,
        &format!("/api/estates/{}/elections", e.id),
        &s.token,
        None,
    )
    .await;
    if f.status(l, "election_list", &r, 200) {
        f.check(
            l,
            "election_list",
            ids(&r.1) == [w.election.clone()],
            || format!("{}", r.1),
        );
    }
    let r = call(
        e,
        GET,
        &format!("/api/elections/{}", w.election),
        &s.token,
        None,
    )
    .await;
    if f.status(l, "election_get", &r, 200) {
        f.check(
            l,
            "election_get",
            r.1["status"] == "signup" && r.1["seats"] == 5,
            || format!("{}", r.1),
        );
    }
    let r = call(
        e,
        POST,
        &format!("/api/elections/{}/candidates", w.election),
        &s.token,
        Some(json!({"intro": "候选人", "signature_attachment_id": sig["id"]})),
    )
    .await;
    if f.status(l, "candidate_signup", &r, 201) {
        f.check(
            l,
            "candidate_signup",
            r.1["status"] == "pending" && r.1["name"] == s.name.as_str(),
            || format!("{}", r.1),
        );
    }
}

/// The staff tally's participants: (heads, area in hundredths).
async fn participants(e: &Estate, path: &str) -> (i64, i64) {
    let (s, t) = call(e, GET, path, &e.t.admin_token, None).await;
    assert_eq!(s, 200, "staff tally {path}: {t}");
    (
        t["participants"]["heads"].as_i64().unwrap(),
        centi(&t["participants"]["area"]).unwrap(),
    )
}

/// A cast in a matter: the receipt, the tally's change, one ballot per person, the owner's
/// tally, ledger and ledger verification.
async fn walk_matter_vote(
    w: &World,
    s: &Shape,
    f: &mut Findings,
    matter: &str,
    which: &str,
    expect: &Vote,
) {
    let (e, l) = (&w.e, s.label);
    let op = format!("ballot_cast ({which})");
    let tally_path = format!("/api/matters/{matter}/tally");
    let before = participants(e, &tally_path).await;
    let key = format!("{}-{which}", s.key);
    let r = e.cast(&s.token, matter, "agree", &key).await;
    let mut receipt = None;
    match expect {
        Vote::Carries {
            codes: want,
            area: a,
        } => {
            if f.status(l, &op, &r, 201) {
                let ok = codes(&r.1["unit_codes"]) == *want && r.1["area"] == area(*a);
                f.check(l, &op, ok, || {
                    format!(
                        "one ballot carrying {want:?} with {} m² expected: {}",
                        area(*a),
                        r.1
                    )
                });
                receipt = Some(r.1.clone());
                let again = e.cast(&s.token, matter, "agree", &key).await;
                f.check(
                    l,
                    &format!("{op} retried with the same key"),
                    again.0 == 200 && again.1["ballot_id"] == r.1["ballot_id"],
                    || format!("{} {}", again.0, again.1),
                );
                let second = e
                    .cast(&s.token, matter, "disagree", &format!("{key}-2"))
                    .await;
                f.refusal(
                    l,
                    &format!("{op} (a second ballot)"),
                    &second,
                    409,
                    "ballot.already_cast",
                );
            }
        }
        Vote::AlreadyCast => {
            f.refusal(l, &op, &r, 409, "ballot.already_cast");
        }
    }
    let after = participants(e, &tally_path).await;
    let want = match expect {
        Vote::Carries { area, .. } if receipt.is_some() => (before.0 + 1, before.1 + area),
        _ => before,
    };
    f.check(
        l,
        &format!("matter_tally ({which}) participants"),
        after == want,
        || {
            format!(
                "heads/area {} / {} after the cast, expected {} / {}",
                after.0,
                area(after.1),
                want.0,
                area(want.1)
            )
        },
    );

    let r = call(e, GET, &tally_path, &s.token, None).await;
    if f.status(l, &format!("matter_tally ({which})"), &r, 200) {
        let seen = (
            r.1["participants"]["heads"].as_i64().unwrap_or(-1),
            centi(&r.1["participants"]["area"]).unwrap_or(-1),
        );
        f.check(l, &format!("matter_tally ({which})"), seen == after, || {
            format!("the owner's tally differs from staff's: {}", r.1)
        });
    }
    let r = call(
        e,
        GET,
        &format!("/api/matters/{matter}/ledger"),
        &s.token,
        None,
    )
    .await;
    if f.status(l, &format!("matter_ledger ({which})"), &r, 200) {
        let text = r.1.to_string();
        let row = &w.rows[s.rows[0]];
        f.check(
            l,
            &format!("matter_ledger ({which})"),
            !text.contains(&s.name) && !text.contains(&row.phone),
            || "names or phones in the published ledger".into(),
        );
        if let (
            Some(rc),
            Vote::Carries {
                codes: want,
                area: a,
            },
        ) = (&receipt, expect)
        {
            let entry = r.1["entries"]
                .as_array()
                .and_then(|x| x.iter().find(|x| x["hash"] == rc["entry_hash"]).cloned());
            match entry {
                Some(x) => {
                    let ok = codes(&x["unit_codes"]) == *want
                        && x["area_centi"] == *a
                        && x["kind"] == "cast";
                    f.check(l, &format!("matter_ledger ({which})"), ok, || {
                        format!("the receipt's entry: {x}")
                    });
                }
                None => f.fail(
                    l,
                    &format!("matter_ledger ({which})"),
                    "the receipt's entry hash is not in the ledger",
                ),
            }
        }
    }
    let r = call(
        e,
        GET,
        &format!("/api/matters/{matter}/ledger/verification"),
        &s.token,
        None,
    )
    .await;
    if f.status(l, &format!("matter_ledger_verify ({which})"), &r, 200) {
        let ok = r.1["root_matches"] == true
            && r.1["tally_matches"] == true
            && r.1["opening_matches"] == true
            && r.1["altered_entries"] == json!([]);
        f.check(l, &format!("matter_ledger_verify ({which})"), ok, || {
            format!("{}", r.1)
        });
    }
}

/// Face check and election ballot. Where the face check fails, staff record an in-person
/// check instead (a finding all the same), so the ballot is still tried.
async fn walk_election_vote(w: &World, s: &Shape, f: &mut Findings, pick: &str) {
    let (e, l) = (&w.e, s.label);
    let mut passed = false;
    let started = call(
        e,
        POST,
        &format!("/api/elections/{}/face-checks", w.election),
        &s.token,
        None,
    )
    .await;
    if f.status(l, "face_check_start", &started, 201) {
        let done = call(
            e,
            POST,
            &format!(
                "/api/face-checks/{}/confirm",
                started.1["id"].as_str().unwrap_or_default()
            ),
            &s.token,
            None,
        )
        .await;
        if f.status(l, "face_check_confirm", &done, 200) {
            passed = done.1["status"] == "passed";
            f.check(l, "face_check_confirm", passed, || format!("{}", done.1));
        }
    }
    if !passed {
        let body = json!({"owner_id": s.owner_id});
        let r = call(
            e,
            POST,
            &format!("/api/elections/{}/in-person-checks", w.election),
            &e.t.admin_token,
            Some(body),
        )
        .await;
        f.status(
            l,
            "face_check_in_person (staff, standing in for the face check)",
            &r,
            201,
        );
    }
    let tally_path = format!("/api/elections/{}/tally", w.election);
    let before = participants(e, &tally_path).await;
    let (_, sig) = upload(e, &s.token, "signature", "签名.png").await;
    let body = json!({"picks": [pick], "idempotency_key": format!("{}-election", s.key), "signature_attachment_id": sig["id"]});
    let r = call(
        e,
        POST,
        &format!("/api/elections/{}/ballots", w.election),
        &s.token,
        Some(body),
    )
    .await;
    let mut counted = false;
    match &s.election {
        Vote::Carries {
            codes: want,
            area: a,
        } => {
            if f.status(l, "election_ballot_cast", &r, 201) {
                counted = true;
                let ok = codes(&r.1["unit_codes"]) == *want
                    && r.1["area"] == area(*a)
                    && r.1["picks"] == json!([pick]);
                f.check(l, "election_ballot_cast", ok, || {
                    format!(
                        "one ballot carrying {want:?} with {} m² expected: {}",
                        area(*a),
                        r.1
                    )
                });
            }
        }
        Vote::AlreadyCast => {
            f.refusal(l, "election_ballot_cast", &r, 409, "ballot.already_cast");
        }
    }
    let after = participants(e, &tally_path).await;
    let want = match &s.election {
        Vote::Carries { area, .. } if counted => (before.0 + 1, before.1 + area),
        _ => before,
    };
    f.check(l, "election_tally participants", after == want, || {
        format!(
            "heads/area {} / {}, expected {} / {}",
            after.0,
            area(after.1),
            want.0,
            area(want.1)
        )
    });
    let r = call(e, GET, &tally_path, &s.token, None).await;
    if f.status(l, "election_tally", &r, 200) {
        let seen = (
            r.1["participants"]["heads"].as_i64().unwrap_or(-1),
            centi(&r.1["participants"]["area"]).unwrap_or(-1),
        );
        f.check(
            l,
            "election_tally",
            seen == after && r.1["candidates"].as_array().is_some_and(|c| !c.is_empty()),
            || format!("{}", r.1),
        );
    }
}

/// Staff grant the owners'-committee role (the owner may then start a matter), then revoke it.
async fn walk_committee_role(w: &World, s: &Shape, f: &mut Findings) {
    let (e, l) = (&w.e, s.label);
    let admin = &e.t.admin_token;
    let path = format!("/api/estates/{}/oc-members", e.id);
    let r = call(e, POST, &path, admin, Some(json!({"owner_id": s.owner_id}))).await;
    if !f.status(l, "oc_member_grant", &r, 201) {
        return;
    }
    f.check(
        l,
        "oc_member_grant",
        r.1["owner_id"] == s.owner_id.as_str() && r.1["real_name"] == s.name.as_str(),
        || format!("{}", r.1),
    );
    let (_, list) = call(e, GET, &path, admin, None).await;
    f.check(
        l,
        "oc_member_list",
        list["items"]
            .as_array()
            .is_some_and(|a| a.iter().any(|m| m["owner_id"] == s.owner_id.as_str())),
        || format!("{list}"),
    );
    let r = e.matter(&s.token, 4).await;
    if f.status(l, "matter_create (as committee member)", &r, 201) {
        f.check(
            l,
            "matter_create (as committee member)",
            r.1["status"] == "open",
            || format!("{}", r.1),
        );
    }
    let r = call(e, DELETE, &format!("{path}/{}", s.owner_id), admin, None).await;
    f.status(l, "oc_member_revoke", &r, 204);
    let r = e.matter(&s.token, 4).await;
    f.refusal(
        l,
        "matter_create (after revocation)",
        &r,
        403,
        "matter.not_oc_member",
    );
}

#[tokio::test]
async fn every_owner_shape_walks_every_owner_operation() {
    let mut f = Findings::default();
    let w = world(&mut f).await;
    let e = &w.e;

    // The frozen rolls: one person per owner, whatever their units; scope limits the roll.
    // Whole estate: 9 persons, 947.50 m² (parking counts here); building 1: 8 persons, 827.50 m².
    let persons = |held: &[usize], scope: &dyn Fn(&RollRow) -> bool| {
        held.iter()
            .map(|&i| &w.rows[i])
            .filter(|r| scope(r))
            .map(|r| centi(&json!(r.area)).unwrap())
            .sum::<i64>()
    };
    let all_rows: Vec<usize> = (0..w.rows.len()).collect();
    for (matter, which, heads, scope) in [
        (
            &w.whole,
            "whole estate",
            9,
            &(|_: &RollRow| true) as &dyn Fn(&RollRow) -> bool,
        ),
        (&w.building_one, "building 1", 8, &|r: &RollRow| {
            r.building == "1"
        }),
    ] {
        let (s, t) = call(
            e,
            GET,
            &format!("/api/matters/{matter}/tally"),
            &e.t.admin_token,
            None,
        )
        .await;
        let want = (Some(heads), Some(area(persons(&all_rows, scope))));
        let got = (
            t["totals"]["heads"].as_i64(),
            t["totals"]["area"].as_str().map(String::from),
        );
        f.check(
            "roll",
            &format!("matter_tally totals ({which})"),
            s == 200 && got == want,
            || format!("expected {want:?}: {s} {t}"),
        );
    }

    for s in &w.shapes {
        walk_profile_and_housing(&w, s, &mut f).await;
        walk_matter_reading(&w, s, &mut f).await;
        walk_signups(&w, s, &mut f).await;
    }

    // Staff approve every candidate; sign-up ends and voting opens.
    let admin = e.t.admin_token.clone();
    let (_, staff_view) = call(
        e,
        GET,
        &format!("/api/elections/{}", w.election),
        &admin,
        None,
    )
    .await;
    for c in staff_view["candidates"].as_array().unwrap() {
        let (s, b) = call(
            e,
            POST,
            &format!("/api/candidates/{}/review", c["id"].as_str().unwrap()),
            &admin,
            Some(json!({"approve": true})),
        )
        .await;
        assert_eq!(s, 200, "{b}");
    }
    sql(
        e,
        "UPDATE elections SET signup_closes_at = now() - interval '2 seconds' WHERE id = $1",
        &w.election,
    )
    .await;
    sql(
        e,
        "UPDATE matters SET opens_at = now() - interval '1 second' WHERE id = $1",
        staff_view["matter_id"].as_str().unwrap(),
    )
    .await;
    let (_, t) = call(
        e,
        GET,
        &format!("/api/elections/{}/tally", w.election),
        &admin,
        None,
    )
    .await;
    let whole_area = area(persons(&all_rows, &|_| true));
    f.check(
        "roll",
        "election_tally totals",
        t["totals"]["heads"] == 9 && t["totals"]["area"] == whole_area.as_str(),
        || format!("9 persons, {whole_area} m² expected: {t}"),
    );

    for s in &w.shapes {
        walk_matter_vote(&w, s, &mut f, &w.whole, "whole estate", &s.whole).await;
    }
    for s in w.shapes.iter().rev() {
        walk_matter_vote(
            &w,
            s,
            &mut f,
            &w.building_one,
            "building 1",
            &s.building_one,
        )
        .await;
    }
    let pick = staff_view["candidates"][0]["id"].as_str().unwrap();
    for s in &w.shapes {
        walk_election_vote(&w, s, &mut f, pick).await;
    }
    for s in &w.shapes {
        walk_committee_role(&w, s, &mut f).await;
    }

    // Five persons voted in each: 617.50 m² estate-wide, 557.50 m² in building 1 (赵四's
    // building-2 flat is outside it).
    for (matter, which, want) in [
        (&w.whole, "whole estate", (5, 61_750)),
        (&w.building_one, "building 1", (5, 55_750)),
    ] {
        let got = participants(e, &format!("/api/matters/{matter}/tally")).await;
        f.check(
            "all shapes",
            &format!("matter_tally ({which}) at the end"),
            got == want,
            || {
                format!(
                    "participants {} / {}, expected {} / {}",
                    got.0,
                    area(got.1),
                    want.0,
                    area(want.1)
                )
            },
        );
    }
    let got = participants(e, &format!("/api/elections/{}/tally", w.election)).await;
    f.check(
        "all shapes",
        "election_tally at the end",
        got == (5, 61_750),
        || {
            format!(
                "participants {} / {}, expected 5 / 617.50",
                got.0,
                area(got.1)
            )
        },
    );

    f.assert_none("owner shapes");
}

// --- Known bugs, each asserting the correct behaviour --------------------------------------------

/// The owner's uploaded signature image.
async fn signature(e: &Estate, token: &str) -> Value {
    let (s, b) = upload(e, token, "signature", "签名.png").await;
    assert_eq!(s, 201, "{b}");
    b["id"].clone()
}

async fn prep_vote(
    e: &Estate,
    election: &str,
    owner: &str,
    picks: &[&Value],
    key: &str,
) -> (u16, Value) {
    let body = json!({"picks": picks, "idempotency_key": key, "signature_attachment_id": signature(e, owner).await});
    call(
        e,
        POST,
        &format!("/api/elections/{election}/ballots"),
        owner,
        Some(body),
    )
    .await
}

/// Closes a round whose deadline is moved to the past; returns its counted tally.
async fn count(e: &Estate, election: &str) -> Value {
    let (_, view) = call(
        e,
        GET,
        &format!("/api/elections/{election}"),
        &e.t.admin_token,
        None,
    )
    .await;
    sql(
        e,
        "UPDATE matters SET closes_at = now() - interval '1 second' WHERE id = $1",
        view["matter_id"].as_str().unwrap(),
    )
    .await;
    let (s, t) = call(
        e,
        POST,
        &format!("/api/elections/{election}/close"),
        &e.t.admin_token,
        None,
    )
    .await;
    assert_eq!(s, 200, "{t}");
    t
}

/// Candidate ids of a round by name (staff view).
async fn candidates_by_name(
    e: &Estate,
    election: &str,
) -> std::collections::BTreeMap<String, Value> {
    let (_, v) = call(
        e,
        GET,
        &format!("/api/elections/{election}"),
        &e.t.admin_token,
        None,
    )
    .await;
    v["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_string(), c["id"].clone()))
        .collect()
}

#[tokio::test]
async fn a_preparatory_group_whose_owner_seats_took_a_second_round_can_be_read_and_confirmed() {
    let e = Estate::new(9, false).await;
    let admin = e.t.admin_token.clone();
    let mut owners = Vec::new();
    for i in 0..9 {
        owners.push(e.owner(i).await);
    }
    // Five seats, two of them the street's and the committee's: three owner seats, five owners.
    let gid = e.prep_group("议事花园筹备组").await;
    for owner in &owners[..5] {
        let (s, m) = call(
            &e,
            POST,
            &format!("/api/prep-groups/{gid}/signups"),
            owner,
            Some(
                json!({"intro": "愿意服务", "signature_attachment_id": signature(&e, owner).await}),
            ),
        )
        .await;
        assert_eq!(s, 201, "{m}");
        let (s, b) = call(
            &e,
            POST,
            &format!("/api/prep-members/{}/review", m["id"].as_str().unwrap()),
            &admin,
            Some(json!({"approve": true})),
        )
        .await;
        assert_eq!(s, 200, "{b}");
    }
    sql(
        &e,
        "UPDATE prep_groups SET signup_closes_at = now() - interval '2 seconds' WHERE id = $1",
        &gid,
    )
    .await;
    let voting = json!({"opens_at": Utc::now() - Duration::seconds(1), "closes_at": Utc::now() + Duration::days(3)});
    let (s, r1) = call(
        &e,
        POST,
        &format!("/api/prep-groups/{gid}/election"),
        &admin,
        Some(json!({"voting": voting})),
    )
    .await;
    assert_eq!((s, r1["seats"].as_i64()), (201, Some(3)), "{r1}");
    let r1id = r1["id"].as_str().unwrap().to_string();
    let c = candidates_by_name(&e, &r1id).await;
    let (a, b, cc, d, x) = (
        &c["业主0"],
        &c["业主1"],
        &c["业主2"],
        &c["业主3"],
        &c["业主4"],
    );

    // Round 1, seven of nine vote: 业主0 and 业主1 on every ballot; nobody else reaches more
    // than half of the participants, so one owner seat stays empty.
    for (i, owner) in owners[..7].iter().enumerate() {
        let third = match i {
            0..=2 => cc,
            3..=5 => d,
            _ => x,
        };
        let (s, r) = prep_vote(&e, &r1id, owner, &[a, b, third], &format!("r1-{i}")).await;
        assert_eq!(s, 201, "{r}");
    }
    let t = count(&e, &r1id).await;
    assert_eq!(t["unfilled"], 1, "{t}");

    let voting = json!({"opens_at": Utc::now() - Duration::seconds(1), "closes_at": Utc::now() + Duration::days(3)});
    let (s, r2) = call(
        &e,
        POST,
        &format!("/api/elections/{r1id}/next-round"),
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
        (201, Some(2), Some(1), Some(3)),
        "{r2}"
    );
    let r2id = r2["id"].as_str().unwrap().to_string();
    let c2 = candidates_by_name(&e, &r2id).await;
    for (i, owner) in owners[..7].iter().enumerate() {
        let (s, r) = prep_vote(&e, &r2id, owner, &[&c2["业主2"]], &format!("r2-{i}")).await;
        assert_eq!(s, 201, "{r}");
    }
    let t = count(&e, &r2id).await;
    assert_eq!(t["unfilled"], 0, "{t}");

    // Every failure is collected: reading (owner, staff) and confirming.
    let mut f = Findings::default();
    let owner_members = |g: &Value| {
        let mut names: Vec<String> = g["members"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["kind"] == "owner" && m["member"] == true)
            .filter_map(|m| m["name"].as_str().map(String::from))
            .collect();
        names.sort();
        names
    };
    let elected = vec!["业主0".to_string(), "业主1".into(), "业主2".into()];
    for (who, token) in [("owner", &owners[8]), ("staff", &admin)] {
        let r = call(&e, GET, &format!("/api/prep-groups/{gid}"), token, None).await;
        if f.status(who, "prep_group_get after round 2", &r, 200) {
            let ok = owner_members(&r.1) == elected && r.1["election_id"] == r2id.as_str();
            f.check(who, "prep_group_get after round 2", ok, || {
                format!(
                    "owner members {:?} (expected {elected:?}), latest round {}: {}",
                    owner_members(&r.1),
                    r.1["election_id"],
                    r.1
                )
            });
        }
        let r = call(
            &e,
            GET,
            &format!("/api/estates/{}/prep-groups", e.id),
            token,
            None,
        )
        .await;
        f.status(who, "prep_group_list after round 2", &r, 200);
    }
    let r = call(
        &e,
        POST,
        &format!("/api/prep-groups/{gid}/confirm"),
        &admin,
        None,
    )
    .await;
    if f.status("staff", "prep_group_confirm after round 2", &r, 200) {
        f.check(
            "staff",
            "prep_group_confirm after round 2",
            r.1["status"] == "formed" && owner_members(&r.1) == elected,
            || format!("{}", r.1),
        );
    }
    f.assert_none("preparatory group after a second round");
}

/// Status, body and the `Retry-After` header in seconds, if there is one.
async fn with_retry_after(resp: reqwest::Response) -> (u16, Value, Option<i64>) {
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let (s, b) = common::read(resp).await;
    (s, b, retry_after)
}

async fn send_verify_code(e: &Estate, token: &str, unit: Uuid) -> (u16, Value, Option<i64>) {
    with_retry_after(
        e.app
            .request(
                POST,
                &format!("/api/verification/units/{unit}/sms-code"),
                e.slug(),
                Some(token),
            )
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// Any 429 must say when to retry.
fn check_retry_after(
    f: &mut Findings,
    who: &str,
    op: &str,
    s: u16,
    b: &Value,
    retry_after: Option<i64>,
) {
    if s == 429 {
        f.check(
            who,
            op,
            retry_after.is_some_and(|r| (1..=60).contains(&r)),
            || format!("429 without a Retry-After of 1–60 s (got {retry_after:?}): {b}"),
        );
    }
}

#[tokio::test]
async fn the_sms_resend_wait_is_per_phone_and_purpose_and_every_429_says_when_to_retry() {
    // The owner's login phone is also the phone registered for their flat (the usual case).
    let own = phone();
    let e = Estate::with_roll(
        &[RollRow::flat("1", "101", "90", "钱七", &own)],
        false,
        false,
    )
    .await;
    let token = register(&e, "钱七", &own).await;
    let mut f = Findings::default();
    let unit = e.units[0].0;
    // Right after the register code: another purpose, so no wait.
    let (s, b, retry_after) = send_verify_code(&e, &token, unit).await;
    f.check(
        "owner",
        "verify_unit_send_code right after registering",
        s == 202,
        || format!("expected 202, got {s} {b}"),
    );
    check_retry_after(
        &mut f,
        "owner",
        "verify_unit_send_code right after registering",
        s,
        &b,
        retry_after,
    );
    if s == 429 {
        e.app.age_sms_sends(&own, 120).await;
        let (s, b, _) = send_verify_code(&e, &token, unit).await;
        assert_eq!(s, 202, "once the wait has passed: {b}");
    }
    // The same purpose again at once: a wait, and the answer says how long.
    let (s, b, retry_after) = send_verify_code(&e, &token, unit).await;
    f.check(
        "owner",
        "verify_unit_send_code again at once",
        s == 429 && b["code"] == "sms.too_soon",
        || format!("expected 429 sms.too_soon, got {s} {b}"),
    );
    check_retry_after(
        &mut f,
        "owner",
        "verify_unit_send_code again at once",
        s,
        &b,
        retry_after,
    );

    // The public register code too.
    let fresh = phone();
    for attempt in ["first", "again at once"] {
        let resp = e
            .app
            .request(POST, "/api/auth/sms-codes", e.slug(), None)
            .json(&json!({"phone": fresh, "purpose": "register"}))
            .send()
            .await
            .unwrap();
        let (s, b, retry_after) = with_retry_after(resp).await;
        let want = if attempt == "first" { 202 } else { 429 };
        f.check(
            "anonymous",
            &format!("sms_code_send {attempt}"),
            s == want,
            || format!("expected {want}, got {s} {b}"),
        );
        check_retry_after(
            &mut f,
            "anonymous",
            &format!("sms_code_send {attempt}"),
            s,
            &b,
            retry_after,
        );
    }
    f.assert_none("SMS resend wait");
}

#[tokio::test]
async fn owners_read_their_estates_information() {
    let e = Estate::new(2, false).await;
    let owner = e.owner(0).await;
    let (s, b) = call(&e, GET, &format!("/api/estates/{}", e.id), &owner, None).await;
    assert_eq!(s, 200, "an owner reads the estate they hold a flat in: {b}");
    assert_eq!(
        (b["id"].as_str(), b["name"].as_str()),
        (Some(e.id.to_string().as_str()), Some("议事花园")),
        "{b}"
    );
    assert_eq!(
        (
            b["unit_count"].as_i64(),
            b["verified_households"].as_i64(),
            b["verified_area"].as_str()
        ),
        (Some(2), Some(1), Some("90.00")),
        "{b}"
    );
    // Someone holding nothing there does not.
    let stranger = e.app.owner(&e.t.tenant, &phone(), "Passw0rd").await;
    let (s, b) = call(&e, GET, &format!("/api/estates/{}", e.id), &stranger, None).await;
    assert!(
        s == 403 || s == 404,
        "an owner of no unit in the estate: {s} {b}"
    );
}

#[tokio::test]
async fn an_owner_who_passed_the_face_check_twice_still_votes() {
    let e = Estate::new(3, false).await;
    let admin = e.t.admin_token.clone();
    let owner = e.owner(0).await;
    formed_group(&e).await;
    let today = Utc::now().date_naive();
    let term = json!({"name": "第一届业主委员会", "starts_on": today, "ends_on": today + Duration::days(3 * 365), "seats": 5});
    let (s, term) = call(
        &e,
        POST,
        &format!("/api/estates/{}/terms", e.id),
        &admin,
        Some(term),
    )
    .await;
    assert_eq!(s, 201, "{term}");
    let soon = Utc::now() + Duration::hours(1);
    let body = json!({
        "signup_opens_at": Utc::now() - Duration::seconds(5), "signup_closes_at": soon,
        "voting": {"opens_at": soon, "closes_at": soon + Duration::days(3)}, "verification_mode": "signature_face"
    });
    let (s, el) = call(
        &e,
        POST,
        &format!("/api/terms/{}/elections", term["id"].as_str().unwrap()),
        &admin,
        Some(body),
    )
    .await;
    assert_eq!(s, 201, "{el}");
    let election = el["id"].as_str().unwrap().to_string();
    let (s, c) = call(
        &e,
        POST,
        &format!("/api/elections/{election}/candidates"),
        &owner,
        Some(json!({"intro": "候选人", "signature_attachment_id": signature(&e, &owner).await})),
    )
    .await;
    assert_eq!(s, 201, "{c}");
    let (s, b) = call(
        &e,
        POST,
        &format!("/api/candidates/{}/review", c["id"].as_str().unwrap()),
        &admin,
        Some(json!({"approve": true})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    sql(
        &e,
        "UPDATE elections SET signup_closes_at = now() - interval '2 seconds' WHERE id = $1",
        &election,
    )
    .await;
    sql(
        &e,
        "UPDATE matters SET opens_at = now() - interval '1 second' WHERE id = $1",
        el["matter_id"].as_str().unwrap(),
    )
    .await;

    // The mini-program retried: two checks, both passed.
    for _ in 0..2 {
        let (s, started) = call(
            &e,
            POST,
            &format!("/api/elections/{election}/face-checks"),
            &owner,
            None,
        )
        .await;
        assert_eq!(s, 201, "{started}");
        let (s, done) = call(
            &e,
            POST,
            &format!(
                "/api/face-checks/{}/confirm",
                started["id"].as_str().unwrap()
            ),
            &owner,
            None,
        )
        .await;
        assert_eq!(
            (s, done["status"].as_str()),
            (200, Some("passed")),
            "{done}"
        );
    }
    let body = json!({"picks": [c["id"]], "idempotency_key": "twice", "signature_attachment_id": signature(&e, &owner).await});
    let (s, r) = call(
        &e,
        POST,
        &format!("/api/elections/{election}/ballots"),
        &owner,
        Some(body),
    )
    .await;
    assert_eq!((s, r["area"].as_str()), (201, Some("90.00")), "{r}");
}

#[tokio::test]
async fn an_owner_verifies_two_units_listed_under_one_phone_with_a_code_for_each() {
    let registered = phone();
    let rows = [
        RollRow::flat("1", "101", "90", "双套业主", &registered),
        RollRow::flat("1", "102", "80", "双套业主", &registered),
    ];
    let e = Estate::with_roll(&rows, false, false).await;
    let token = register(&e, "双套业主", &phone()).await;
    let (a, b) = (e.units[0].0, e.units[1].0);
    let (e, token) = (&e, &token);
    let send = |unit: Uuid| async move {
        e.app
            .call(
                POST,
                &format!("/api/verification/units/{unit}/sms-code"),
                e.slug(),
                Some(token),
                None,
            )
            .await
    };
    assert_eq!(send(a).await.0, 202);
    let code_a = e.app.last_code(&e.t.tenant, &registered).await;
    assert_eq!(
        send(b).await.0,
        202,
        "another unit under the same phone: no wait"
    );
    let code_b = e.app.last_code(&e.t.tenant, &registered).await;
    let confirm = |unit: Uuid, code: String| async move {
        e.app
            .call(
                POST,
                &format!("/api/verification/units/{unit}"),
                e.slug(),
                Some(token),
                Some(json!({"sms_code": code})),
            )
            .await
    };
    if code_a != code_b {
        let (s, body) = confirm(b, code_a.clone()).await;
        assert_eq!(s, 422, "unit A's code does not verify unit B: {body}");
    }
    let (s, body) = confirm(a, code_a).await;
    assert_eq!(
        s, 201,
        "unit A's code is still alive after B's was sent: {body}"
    );
    let (s, body) = confirm(b, code_b).await;
    assert_eq!(s, 201, "{body}");
}
