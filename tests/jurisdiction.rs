//! Jurisdiction with real objects. One estate is given one of everything staff and owners act on
//! (units, a matter with online and paper ballots, a co-owner application, a preparatory group
//! with a sign-up, a term with an election round, a candidate and a face check, files bound to
//! it). Then residents'-committee staff of another committee, and a verified owner of another
//! estate, try every operation their role may call on those objects, as a curious or hostile
//! colleague or neighbour would. (tests/access.rs checks the policy with ids that exist nowhere;
//! here the ids are real, so only the jurisdiction check stands in the way.) A control, the
//! estate's own staff or owner, reads every object the intruder was refused.

mod common;

use std::collections::BTreeMap;

use calamine::Reader;
use chrono::{Duration, Utc};
use common::{estate::Estate, spec::sample};
use reqwest::{multipart, Method};
use serde_json::{json, Value};
use uuid::Uuid;

const POST: Method = Method::POST;

/// The estate and its objects.
struct World {
    e: Estate,
    spec: Value,
    /// Path prefix → the id of the estate's object of that kind.
    objects: BTreeMap<&'static str, String>,
    /// Query or body field naming an object → the estate's object.
    fields: BTreeMap<&'static str, String>,
    /// The estate's own residents'-committee staff.
    own_staff: String,
    /// A verified owner of the estate (not on its committee).
    own_owner: String,
    /// A document attached to a matter: a file the estate's owners read (the paper ballot's
    /// scan is for staff).
    document: String,
    /// The names on the estate's roll, which its spreadsheets show.
    names: Vec<String>,
}

impl World {
    async fn build() -> World {
        let e = Estate::new(4, false).await;
        let admin = e.t.admin_token.clone();
        let call = |method: Method, path: String, token: String, body: Option<Value>| {
            let e = &e;
            async move {
                let (s, b) = e
                    .app
                    .call(method, &path, e.slug(), Some(&token), body)
                    .await;
                assert!((200..300).contains(&s), "{path}: {s} {b}");
                b
            }
        };
        let estate = call(
            Method::GET,
            format!("/api/estates/{}", e.id),
            admin.clone(),
            None,
        )
        .await;
        let rc = estate["rc_id"].as_str().unwrap().to_string();
        let own_staff = e
            .app
            .staff(&e.t, "rc_staff", Some(Uuid::parse_str(&rc).unwrap()))
            .await;
        let owners = [
            e.owner(0).await,
            e.owner(1).await,
            e.owner(2).await,
            e.owner(3).await,
        ];
        let me = call(Method::GET, "/api/me".into(), owners[0].clone(), None).await;
        let member = me["id"].as_str().unwrap().to_string();

        // A matter with an online ballot and a paper one whose scan is bound to the estate.
        let (_, m) = e.matter(&admin, 4).await;
        let matter = m["id"].as_str().unwrap().to_string();
        let (_, receipt) = e.cast(&owners[0], &matter, "agree", "own").await;
        let scan = e.scan().await;
        let paper = json!({"unit_id": e.units[3].0, "choice": "disagree", "channel": "paper", "scan_attachment_id": scan});
        call(
            POST,
            format!("/api/matters/{matter}/paper-ballots"),
            admin.clone(),
            Some(paper),
        )
        .await;

        // A matter document, which owners read.
        let document = e.upload(&admin, "document", "维修方案.png").await;
        let mut body = json!({
            "estate_id": e.id, "type_name": "公共收益", "title": "是否维修外墙", "content": "详见附件", "importance": "important",
            "opens_at": Utc::now() - Duration::seconds(1), "closes_at": Utc::now() + Duration::days(7), "law_item": 4
        });
        body["attachment_ids"] = json!([document]);
        call(POST, "/api/matters".into(), admin.clone(), Some(body)).await;

        // A co-owner application with its proof.
        let proof = e.upload(&owners[1], "proof", "证件.png").await;
        let apply =
            json!({"name": "共有人", "phone": common::phone(), "proof_attachment_ids": [proof]});
        let application = call(
            POST,
            format!("/api/me/properties/{}/co-owners", e.units[1].0),
            owners[1].clone(),
            Some(apply),
        )
        .await;

        // A preparatory group with an owner's sign-up; then (so that a term may be created) a
        // serving committee member, a term, its first round open for sign-up with face checks,
        // a candidate and a started face check.
        let group = e.prep_group("筹备组").await;
        let signature = e.upload(&owners[2], "signature", "签名.png").await;
        let signup = json!({"intro": "愿意服务", "signature_attachment_id": signature});
        let prep_member = call(
            POST,
            format!("/api/prep-groups/{group}/signups"),
            owners[2].clone(),
            Some(signup),
        )
        .await;
        call(
            POST,
            format!("/api/estates/{}/oc-members", e.id),
            admin.clone(),
            Some(json!({"owner_id": member})),
        )
        .await;
        let today = Utc::now().date_naive();
        let term_body = json!({"name": "第二届业主委员会", "starts_on": today, "ends_on": today + Duration::days(3 * 365), "seats": 5});
        let term = call(
            POST,
            format!("/api/estates/{}/terms", e.id),
            admin.clone(),
            Some(term_body),
        )
        .await;
        let soon = Utc::now() + Duration::hours(1);
        let round = json!({
            "signup_opens_at": Utc::now() - Duration::seconds(5), "signup_closes_at": soon,
            "voting": {"opens_at": soon, "closes_at": soon + Duration::days(3)}, "verification_mode": "signature_face"
        });
        let election = call(
            POST,
            format!("/api/terms/{}/elections", term["id"].as_str().unwrap()),
            admin.clone(),
            Some(round),
        )
        .await;
        let election = election["id"].as_str().unwrap().to_string();
        let signature = e.upload(&owners[2], "signature", "签名.png").await;
        let candidacy = json!({"intro": "候选人", "signature_attachment_id": signature});
        let candidate = call(
            POST,
            format!("/api/elections/{election}/candidates"),
            owners[2].clone(),
            Some(candidacy),
        )
        .await;
        let face = call(
            POST,
            format!("/api/elections/{election}/face-checks"),
            owners[2].clone(),
            None,
        )
        .await;

        let id = |v: &Value| v["id"].as_str().unwrap().to_string();
        let objects = BTreeMap::from([
            ("/api/residents-committees/{id}", rc.clone()),
            ("/api/estates/{id}", e.id.to_string()),
            ("/api/units/{id}", e.units[0].0.to_string()),
            ("/api/me/properties/{unit_id}", e.units[1].0.to_string()),
            ("/api/co-owner-applications/{id}", id(&application)),
            ("/api/matters/{id}", matter),
            (
                "/api/ballots/{id}",
                receipt["ballot_id"].as_str().unwrap().to_string(),
            ),
            ("/api/attachments/{id}", scan.as_str().unwrap().to_string()),
            ("/api/prep-groups/{id}", group),
            ("/api/prep-members/{id}", id(&prep_member)),
            ("/api/terms/{id}", id(&term)),
            ("/api/elections/{id}", election),
            ("/api/candidates/{id}", id(&candidate)),
            ("/api/face-checks/{id}", id(&face)),
        ]);
        let fields = BTreeMap::from([
            ("estate_id", e.id.to_string()),
            ("rc_id", rc),
            ("unit_id", e.units[2].0.to_string()),
            ("owner_id", member),
            ("scan_attachment_id", scan.as_str().unwrap().to_string()),
        ]);
        let spec = zhimaguan::openapi::document();
        let own_owner = owners[3].clone();
        let document = document.as_str().unwrap().to_string();
        let names = e.units.iter().map(|u| u.1.clone()).collect();
        World {
            e,
            spec,
            objects,
            fields,
            own_staff,
            own_owner,
            document,
            names,
        }
    }

    /// Every operation `role` may call that names one of the estate's objects (in its path, its
    /// query or its body), sent with `intruder`'s token. Returns how many were walked, and each
    /// one that got through: anything but 403 or 404, or a 2xx that shows one of the estate's
    /// ids. Each read is also sent with `control`'s token, which must succeed.
    async fn walk(
        &self,
        role: &str,
        intruder: &str,
        control: &str,
        by_design: &[&str],
    ) -> (usize, Vec<String>) {
        let e = &self.e;
        let access = common::expected_access();
        let mut objects = self.objects.clone();
        if role == "owner" {
            objects.insert("/api/attachments/{id}", self.document.clone());
        }
        let (mut walked, mut reached) = (0, Vec::new());
        for (template, item) in self.spec["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let op_id = op["operationId"].as_str().unwrap();
                if !access[op_id][role] || by_design.contains(&op_id) {
                    continue;
                }
                let Some(Aimed { path, query, body }) = self.request_for(&objects, template, op)
                else {
                    continue;
                };
                walked += 1;
                let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let send = |token: &str| {
                    let mut rb = e
                        .app
                        .request(method.clone(), &path, e.slug(), Some(token))
                        .query(&query);
                    if op["requestBody"]["content"]
                        .get("multipart/form-data")
                        .is_some()
                    {
                        let form = multipart::Form::new().text("purpose", "document").part(
                            "file",
                            multipart::Part::bytes(b"x".to_vec()).file_name("x.xlsx"),
                        );
                        rb = rb.multipart(form);
                    } else if let Some(body) = &body {
                        rb = rb.json(body);
                    }
                    async move { answer(rb.send().await.unwrap()).await }
                };
                let (status, answer) = send(intruder).await;
                let shows = self.shows_estate(&answer);
                if !(matches!(status, 403 | 404)
                    || ((200..300).contains(&status) && method == Method::GET && !shows))
                {
                    reached.push(format!("{op_id} {path} {query:?}: {status} {answer}"));
                }
                if method == Method::GET {
                    let (status, answer) = send(control).await;
                    // A filtered list must be filtered, not empty for everyone.
                    let listed = !query.is_empty() && !self.shows_estate(&answer);
                    if !(200..300).contains(&status) || listed {
                        reached.push(format!("control: {op_id} {path} {query:?} for the estate's own {role}: {status} {answer}"));
                    }
                }
            }
        }
        (walked, reached)
    }

    /// The request for an operation aimed at the estate's objects, or `None` if the operation
    /// names none of them.
    fn request_for(
        &self,
        objects: &BTreeMap<&str, String>,
        template: &str,
        op: &Value,
    ) -> Option<Aimed> {
        let mut path = template.to_string();
        let mut aimed = false;
        if let Some((prefix, id)) = objects.iter().find(|(p, _)| template.starts_with(**p)) {
            path = path.replacen(
                prefix,
                &prefix.replace("{id}", id).replace("{unit_id}", id),
                1,
            );
            aimed = true;
        }
        path = path
            .replace("{owner_id}", &self.fields["owner_id"])
            .replace("{name}", "公共收益");
        let mut query = Vec::new();
        for parameter in op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "query")
        {
            if let Some(id) = self.fields.get(parameter["name"].as_str().unwrap()) {
                query.push((parameter["name"].as_str().unwrap().to_string(), id.clone()));
                aimed = true;
            }
        }
        let body = op["requestBody"]["content"]
            .get("application/json")
            .map(|c| sample(&self.spec, &c["schema"]));
        let body = body.map(|mut body| {
            for (field, value) in body.as_object_mut().into_iter().flatten() {
                if let Some(id) = self.fields.get(field.as_str()) {
                    *value = json!(id);
                    aimed = true;
                }
                // Values checked before anything else, made valid so the request reaches the
                // jurisdiction check.
                match field.as_str() {
                    "total_area" => *value = json!("1000.00"),
                    "phone" => *value = json!("13800138000"),
                    "opens_at" => *value = json!(Utc::now() - Duration::seconds(1)),
                    "closes_at" => *value = json!(Utc::now() + Duration::days(7)),
                    _ => {}
                }
            }
            body
        });
        aimed.then_some(Aimed { path, query, body })
    }

    /// Whether an answer shows any of the estate's ids or the names on its roll.
    fn shows_estate(&self, answer: &Value) -> bool {
        let text = answer.to_string();
        self.objects
            .values()
            .chain(self.fields.values())
            .chain([&self.document])
            .chain(&self.names)
            .any(|mark| text.contains(mark.as_str()))
    }
}

/// A request aimed at the estate's objects.
struct Aimed {
    path: String,
    query: Vec<(String, String)>,
    body: Option<Value>,
}

/// The status and body of an answer: JSON as it is, a spreadsheet as the text of its cells.
async fn answer(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap();
    if let Ok(json) = serde_json::from_slice(&bytes) {
        return (status, json);
    }
    match calamine::open_workbook_from_rs::<calamine::Xlsx<_>, _>(std::io::Cursor::new(
        bytes.to_vec(),
    )) {
        Ok(mut book) => {
            let sheet = book.worksheet_range_at(0).unwrap().unwrap();
            (
                status,
                json!(sheet
                    .rows()
                    .flatten()
                    .map(|cell| cell.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")),
            )
        }
        Err(_) => (status, json!(String::from_utf8_lossy(&bytes))),
    }
}

#[tokio::test]
async fn committee_staff_reach_nothing_of_another_committees_estate_through_any_operation() {
    let w = World::build().await;
    let (other_rc, _) = w.e.app.add_rc_with_estate(&w.e.t.tenant, "别处").await;
    let other = w.e.app.staff(&w.e.t, "rc_staff", Some(other_rc)).await;
    let (_, other_me) =
        w.e.app
            .call(Method::GET, "/api/staff/me", w.e.slug(), Some(&other), None)
            .await;

    let (walked, reached) = w.walk("rc_staff", &other, &w.own_staff, &[]).await;
    assert!(walked >= 60, "only {walked} operations walked");
    assert!(
        reached.is_empty(),
        "another committee's staff got through (or the control failed):\n{}",
        reached.join("\n")
    );
    // Nothing of theirs was written or read: every audit entry in their name would be a leak.
    let conn = w.e.app.conn(&w.e.t.tenant).await;
    let other_id = Uuid::parse_str(other_me["id"].as_str().unwrap()).unwrap();
    let theirs: i64 = conn
        .query_one(
            "SELECT count(*) FROM audit_log WHERE actor_id = $1",
            &[&other_id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(theirs, 0);
}

#[tokio::test]
async fn an_owner_of_another_estate_reaches_nothing_of_this_one_through_any_operation() {
    let w = World::build().await;
    let (_, neighbours) = w.e.app.add_rc_with_estate(&w.e.t.tenant, "隔壁").await;
    let neighbour = w.e.neighbour_owner(neighbours).await;
    // Finding one's own flat walks any estate's buildings and rooms, and a code goes to the
    // unit's registered phone, never to the asker: verification is open by design.
    let by_design = [
        "verify_building_list",
        "verify_entrance_list",
        "verify_room_list",
        "verify_unit_get",
        "verify_unit_send_code",
        "verify_unit_confirm",
    ];
    let (walked, reached) = w.walk("owner", &neighbour, &w.own_owner, &by_design).await;
    assert!(walked >= 23, "only {walked} operations walked");
    assert!(
        reached.is_empty(),
        "an owner of another estate got through (or the control failed):\n{}",
        reached.join("\n")
    );
}
