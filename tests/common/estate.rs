//! An estate with an imported roll of verified-ready owners, for voting and election tests.

use chrono::{Duration, Utc};
use reqwest::{multipart, Method};
use rust_xlsxwriter::Workbook;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{phone, TestApp, TestTenant};

const GET: Method = Method::GET;
const POST: Method = Method::POST;
pub const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\x0f\0\0\x01\x01\0\x05\x18\xd8N\0\0\0\0IEND\xaeB`\x82";

/// One row of a housing roll, as staff type it into the template.
#[derive(Clone, Debug)]
pub struct RollRow {
    pub building: String,
    pub entrance: String,
    pub room: String,
    /// 住宅, 商业, 车位 or 储藏室.
    pub kind: String,
    /// m², as typed: "89.55".
    pub area: String,
    pub name: String,
    pub phone: String,
    /// 是否开发商未售: one of the developer's unsold units.
    pub developer_unsold: bool,
}

impl RollRow {
    /// A unit in entrance 1 of `building`.
    pub fn new(
        building: &str,
        room: &str,
        kind: &str,
        area: &str,
        name: &str,
        phone: &str,
    ) -> Self {
        RollRow {
            building: building.into(),
            entrance: "1".into(),
            room: room.into(),
            kind: kind.into(),
            area: area.into(),
            name: name.into(),
            phone: phone.into(),
            developer_unsold: false,
        }
    }

    /// One of the developer's unsold homes.
    pub fn unsold(building: &str, room: &str, area: &str, developer: &str, phone: &str) -> Self {
        RollRow {
            developer_unsold: true,
            ..Self::flat(building, room, area, developer, phone)
        }
    }

    /// A home (住宅) in entrance 1 of `building`.
    pub fn flat(building: &str, room: &str, area: &str, name: &str, phone: &str) -> Self {
        Self::new(building, room, "住宅", area, name, phone)
    }

    /// The unit's code in ballots and ledgers: building-entrance-room.
    pub fn code(&self) -> String {
        format!("{}-{}-{}", self.building, self.entrance, self.room)
    }
}

pub struct Estate {
    pub app: TestApp,
    pub t: TestTenant,
    pub id: Uuid,
    /// (unit id, registered name, registered phone)
    pub units: Vec<(Uuid, String, String)>,
}

impl Estate {
    /// An estate of `n` units of 90.00 m², one registered owner each.
    pub async fn new(n: usize, needs_approval: bool) -> Self {
        let rows: Vec<RollRow> = (0..n)
            .map(|i| {
                RollRow::flat(
                    "1",
                    &format!("{}", 101 + i),
                    "90",
                    &format!("业主{i}"),
                    &phone(),
                )
            })
            .collect();
        Self::with_roll(&rows, needs_approval, false).await
    }

    /// An estate (co-owner verification on) whose roll holds `rows`, imported as staff fill
    /// the template; `units` follows the order of `rows`.
    pub async fn with_roll(rows: &[RollRow], needs_approval: bool, parking_counts: bool) -> Self {
        Self::with_roll_on(TestApp::start().await, rows, needs_approval, parking_counts).await
    }

    /// An estate of `n` units as [`Estate::new`], on an app started with its own configuration.
    pub async fn on(app: TestApp, n: usize) -> Self {
        let rows: Vec<RollRow> = (0..n)
            .map(|i| {
                RollRow::flat(
                    "1",
                    &format!("{}", 101 + i),
                    "90",
                    &format!("业主{i}"),
                    &phone(),
                )
            })
            .collect();
        Self::with_roll_on(app, &rows, false, false).await
    }

    async fn with_roll_on(
        app: TestApp,
        rows: &[RollRow],
        needs_approval: bool,
        parking_counts: bool,
    ) -> Self {
        let t = app.tenant().await;
        let slug = Some(t.tenant.slug.as_str());
        let (_, rc) = app
            .call(
                POST,
                "/api/residents-committees",
                slug,
                Some(&t.admin_token),
                Some(json!({"name": "议事居委会"})),
            )
            .await;
        let body = json!({
            "rc_id": rc["id"], "name": "议事花园", "co_owner_verification": true,
            "deliberation_needs_approval": needs_approval, "parking_counts": parking_counts
        });
        let (s, e) = app
            .call(POST, "/api/estates", slug, Some(&t.admin_token), Some(body))
            .await;
        assert_eq!(s, 201, "{e}");
        let id = Uuid::parse_str(e["id"].as_str().unwrap()).unwrap();
        let (s, b) = import_roll(&app, &t, id, rows).await;
        assert_eq!(s, 200, "{b}");
        let (_, units) = app
            .call(
                GET,
                "/api/units?page_size=100",
                slug,
                Some(&t.admin_token),
                None,
            )
            .await;
        let units = rows
            .iter()
            .map(|r| {
                let u = units["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|u| {
                        u["building"] == r.building.as_str()
                            && u["entrance"] == r.entrance.as_str()
                            && u["room"] == r.room.as_str()
                    })
                    .unwrap_or_else(|| panic!("unit {} on the roll: {units}", r.code()));
                (
                    Uuid::parse_str(u["id"].as_str().unwrap()).unwrap(),
                    r.name.clone(),
                    r.phone.clone(),
                )
            })
            .collect();
        Estate { app, t, id, units }
    }

    /// Imports more units into this estate's roll, as staff upload a further template.
    pub async fn import(&self, rows: &[RollRow]) -> (u16, Value) {
        import_roll(&self.app, &self.t, self.id, rows).await
    }

    pub fn slug(&self) -> Option<&str> {
        Some(self.t.tenant.slug.as_str())
    }

    /// Registers and verifies the registered owner of unit `i`.
    pub async fn owner(&self, i: usize) -> String {
        let token = self.register(&self.units[i].1).await;
        self.verify(&token, i).await;
        token
    }

    /// Registers an owner account under `real_name` with a fresh phone; returns its token.
    pub async fn register(&self, real_name: &str) -> String {
        let slug = self.slug();
        let own_phone = phone();
        let (s, _) = self
            .app
            .call(
                POST,
                "/api/auth/sms-codes",
                slug,
                None,
                Some(json!({"phone": own_phone, "purpose": "register"})),
            )
            .await;
        assert_eq!(s, 202);
        let code = self.app.last_code(&self.t.tenant, &own_phone).await;
        let body = json!({"real_name": real_name, "phone": own_phone, "sms_code": code, "password": "Passw0rd", "accept_agreement": true});
        let (s, b) = self
            .app
            .call(POST, "/api/owners/register", slug, None, Some(body))
            .await;
        assert_eq!(s, 201, "{b}");
        b["token"].as_str().unwrap().to_string()
    }

    /// A verified owner of a flat in `estate`, another estate of this street office whose roll
    /// is empty: imports the flat and returns its owner's token.
    pub async fn neighbour_owner(&self, estate: Uuid) -> String {
        let row = RollRow::flat("9", "901", "70", "邻居", &phone());
        let (s, b) = import_roll(&self.app, &self.t, estate, std::slice::from_ref(&row)).await;
        assert_eq!(s, 200, "{b}");
        let (_, units) = self
            .app
            .call(
                GET,
                &format!("/api/units?estate_id={estate}"),
                self.slug(),
                Some(&self.t.admin_token),
                None,
            )
            .await;
        let unit = Uuid::parse_str(units["items"][0]["id"].as_str().unwrap()).unwrap();
        let neighbour = Estate {
            app: self.app.clone(),
            t: self.t.clone(),
            id: estate,
            units: vec![(unit, row.name.clone(), row.phone.clone())],
        };
        neighbour.owner(0).await
    }

    /// An upload by the holder of `token`; returns the attachment's id.
    pub async fn upload(&self, token: &str, purpose: &str, file_name: &str) -> Value {
        let form = multipart::Form::new()
            .text("purpose", purpose.to_string())
            .part(
                "file",
                multipart::Part::bytes(PNG.to_vec()).file_name(file_name.to_string()),
            );
        let (s, b) = self
            .app
            .call_form("/api/attachments", self.slug(), Some(token), form)
            .await;
        assert_eq!(s, 201, "{b}");
        b["id"].clone()
    }

    /// Verifies unit `i` for the owner holding `token` (an SMS to the unit's registered phone).
    pub async fn verify(&self, token: &str, i: usize) {
        let (unit, _, registered) = &self.units[i];
        let slug = self.slug();
        let (s, _) = self
            .app
            .call(
                POST,
                &format!("/api/verification/units/{unit}/sms-code"),
                slug,
                Some(token),
                None,
            )
            .await;
        assert_eq!(s, 202);
        let code = self.app.last_code(&self.t.tenant, registered).await;
        let (s, b) = self
            .app
            .call(
                POST,
                &format!("/api/verification/units/{unit}"),
                slug,
                Some(token),
                Some(json!({"sms_code": code})),
            )
            .await;
        assert_eq!(s, 201, "{b}");
    }

    /// Staff record the sale of `unit` to `buyer_name` (ID card and deed uploaded first); returns
    /// the new registered phone.
    pub async fn transfer(&self, unit: Uuid, buyer_name: &str) -> String {
        let mut proofs = Vec::new();
        for name in ["身份证.png", "房产证.png"] {
            let form = multipart::Form::new()
                .text("purpose", "proof")
                .part("file", multipart::Part::bytes(PNG.to_vec()).file_name(name));
            let (_, b) = self
                .app
                .call_form(
                    "/api/attachments",
                    self.slug(),
                    Some(&self.t.admin_token),
                    form,
                )
                .await;
            proofs.push(b["id"].clone());
        }
        let new_phone = phone();
        let body = json!({"new_owner_name": buyer_name, "new_owner_phone": new_phone, "id_card_attachment_id": proofs[0], "deed_attachment_id": proofs[1]});
        let (s, b) = self
            .app
            .call(
                POST,
                &format!("/api/units/{unit}/transfer"),
                self.slug(),
                Some(&self.t.admin_token),
                Some(body),
            )
            .await;
        assert_eq!(s, 200, "{b}");
        new_phone
    }

    /// Staff record the sale of `unit`; the buyer registers and verifies it against the new
    /// registration. Returns the buyer's token.
    pub async fn sell(&self, unit: Uuid, buyer_name: &str) -> String {
        let new_phone = self.transfer(unit, buyer_name).await;
        let own = phone();
        self.app
            .call(
                POST,
                "/api/auth/sms-codes",
                self.slug(),
                None,
                Some(json!({"phone": own, "purpose": "register"})),
            )
            .await;
        let code = self.app.last_code(&self.t.tenant, &own).await;
        let body = json!({"real_name": buyer_name, "phone": own, "sms_code": code, "password": "Passw0rd", "accept_agreement": true});
        let (s, b) = self
            .app
            .call(POST, "/api/owners/register", self.slug(), None, Some(body))
            .await;
        assert_eq!(s, 201, "{b}");
        let buyer = b["token"].as_str().unwrap().to_string();
        self.app
            .call(
                POST,
                &format!("/api/verification/units/{unit}/sms-code"),
                self.slug(),
                Some(&buyer),
                None,
            )
            .await;
        let code = self.app.last_code(&self.t.tenant, &new_phone).await;
        let (s, b) = self
            .app
            .call(
                POST,
                &format!("/api/verification/units/{unit}"),
                self.slug(),
                Some(&buyer),
                Some(json!({"sms_code": code})),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        buyer
    }

    /// A staff upload of a scanned paper ballot.
    pub async fn scan(&self) -> Value {
        let form = multipart::Form::new().text("purpose", "document").part(
            "file",
            multipart::Part::bytes(PNG.to_vec()).file_name("选票.png"),
        );
        let (_, scan) = self
            .app
            .call_form(
                "/api/attachments",
                self.slug(),
                Some(&self.t.admin_token),
                form,
            )
            .await;
        scan["id"].clone()
    }

    /// A preparatory group of five seats open for sign-up, with the street office's and the
    /// residents' committee's representatives: three owner seats. Returns its id.
    pub async fn prep_group(&self, name: &str) -> String {
        let body = json!({
            "name": name, "seats": 5, "leader_phone": "13900000000", "leader_phone_public": false,
            "signup_opens_at": Utc::now() - Duration::seconds(5), "signup_closes_at": Utc::now() + Duration::hours(1)
        });
        let admin = Some(self.t.admin_token.as_str());
        let (s, g) = self
            .app
            .call(
                POST,
                &format!("/api/estates/{}/prep-groups", self.id),
                self.slug(),
                admin,
                Some(body),
            )
            .await;
        assert_eq!(s, 201, "{g}");
        let gid = g["id"].as_str().unwrap().to_string();
        for (kind, who) in [("street", "街道代表"), ("rc", "居委会代表")] {
            let rep = json!({"kind": kind, "name": who, "phone": "13900000001"});
            let (s, b) = self
                .app
                .call(
                    POST,
                    &format!("/api/prep-groups/{gid}/representatives"),
                    self.slug(),
                    admin,
                    Some(rep),
                )
                .await;
            assert_eq!(s, 201, "{b}");
        }
        gid
    }

    /// Moves the matter's voting window into the past (opened a day ago, closed a second ago),
    /// as if its deadline had come.
    pub async fn end_window(&self, matter: &str) {
        let conn = self.app.conn(&self.t.tenant).await;
        conn.execute(
            "UPDATE matters SET closes_at = now() - interval '1 second', opens_at = now() - interval '1 day' WHERE id = $1",
            &[&Uuid::parse_str(matter).unwrap()],
        )
        .await
        .unwrap();
        conn.commit().await.unwrap();
    }

    /// Street staff close the matter; the answer.
    pub async fn close(&self, matter: &str) -> (u16, Value) {
        self.app
            .call(
                POST,
                &format!("/api/matters/{matter}/close"),
                self.slug(),
                Some(&self.t.admin_token),
                None,
            )
            .await
    }

    pub async fn ledger(&self, matter: &str) -> Value {
        let (s, l) = self
            .app
            .call(
                GET,
                &format!("/api/matters/{matter}/ledger"),
                self.slug(),
                Some(&self.t.admin_token),
                None,
            )
            .await;
        assert_eq!(s, 200, "{l}");
        l
    }

    pub async fn verification(&self, matter: &str) -> Value {
        let (s, v) = self
            .app
            .call(
                GET,
                &format!("/api/matters/{matter}/ledger/verification"),
                self.slug(),
                Some(&self.t.admin_token),
                None,
            )
            .await;
        assert_eq!((s, v["intact"].as_bool()), (200, Some(true)), "{v}");
        v
    }

    /// `zmg verify-matter` run on `ledger` as an auditor runs it, with the street office's public
    /// keys fetched anonymously from the platform. Returns whether it verified, and its report.
    pub async fn verify_offline(&self, ledger: &Value) -> (bool, String) {
        self.verify_offline_since(ledger, None).await
    }

    /// [`Estate::verify_offline`] with an earlier copy of the ledger (`--earlier`).
    pub async fn verify_offline_since(
        &self,
        ledger: &Value,
        earlier: Option<&Value>,
    ) -> (bool, String) {
        self.verify_offline_with(ledger, earlier, &[]).await
    }

    /// [`Estate::verify_offline_since`] with more options (`--require-log`, or `--no-keys` to
    /// leave the keys out).
    pub async fn verify_offline_with(
        &self,
        ledger: &Value,
        earlier: Option<&Value>,
        options: &[&str],
    ) -> (bool, String) {
        let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let name = super::unique("ledger");
        let (file, keys_file, earlier_file) = (
            dir.join(format!("{name}.json")),
            dir.join(format!("{name}-keys.json")),
            dir.join(format!("{name}-earlier.json")),
        );
        let (s, keys) = self
            .app
            .call(
                GET,
                &format!("/api/platform/signing-keys?tenant={}", self.t.tenant.slug),
                None,
                None,
                None,
            )
            .await;
        assert_eq!(s, 200, "{keys}");
        std::fs::write(&file, ledger.to_string()).unwrap();
        std::fs::write(&keys_file, keys.to_string()).unwrap();
        let mut args = vec!["verify-matter".to_string(), file.display().to_string()];
        // `--no-keys`: run as an auditor who has not fetched the keys.
        if !options.contains(&"--no-keys") {
            args.extend(["--keys".into(), keys_file.display().to_string()]);
        }
        if let Some(earlier) = earlier {
            std::fs::write(&earlier_file, earlier.to_string()).unwrap();
            args.extend(["--earlier".to_string(), earlier_file.display().to_string()]);
        }
        args.extend(
            options
                .iter()
                .filter(|o| **o != "--no-keys")
                .map(|o| o.to_string()),
        );
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_zmg"))
            .args(&args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    /// A matter whose voting window is open now.
    pub async fn matter(&self, token: &str, law_item: u8) -> (u16, Value) {
        let body = json!({
            "estate_id": self.id, "type_name": "公共收益", "title": "是否更换电梯", "content": "详见附件", "importance": "important",
            "opens_at": Utc::now() - Duration::seconds(1), "closes_at": Utc::now() + Duration::days(7), "law_item": law_item
        });
        self.app
            .call(POST, "/api/matters", self.slug(), Some(token), Some(body))
            .await
    }

    pub async fn cast(&self, token: &str, matter: &str, choice: &str, key: &str) -> (u16, Value) {
        self.app
            .call(
                POST,
                &format!("/api/matters/{matter}/ballots"),
                self.slug(),
                Some(token),
                Some(json!({"choice": choice, "idempotency_key": key})),
            )
            .await
    }

    pub async fn tally(&self, matter: &str) -> Value {
        let (s, t) = self
            .app
            .call(
                GET,
                &format!("/api/matters/{matter}/tally"),
                self.slug(),
                Some(&self.t.admin_token),
                None,
            )
            .await;
        assert_eq!(s, 200, "{t}");
        t
    }
}

/// Uploads `rows` as a filled-in housing template for `estate`.
async fn import_roll(
    app: &TestApp,
    t: &TestTenant,
    estate: Uuid,
    rows: &[RollRow],
) -> (u16, Value) {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in [
        "楼号",
        "单元号",
        "户号",
        "房产类型",
        "建筑面积",
        "业主姓名",
        "手机号",
        "是否开发商未售",
    ]
    .iter()
    .enumerate()
    {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    for (i, r) in rows.iter().enumerate() {
        for (c, v) in [
            r.building.as_str(),
            r.entrance.as_str(),
            r.room.as_str(),
            r.kind.as_str(),
            r.area.as_str(),
            r.name.as_str(),
            r.phone.as_str(),
            if r.developer_unsold { "是" } else { "否" },
        ]
        .iter()
        .enumerate()
        {
            ws.write_string(i as u32 + 1, c as u16, *v).unwrap();
        }
    }
    let form = multipart::Form::new().part(
        "file",
        multipart::Part::bytes(wb.save_to_buffer().unwrap()).file_name("roll.xlsx"),
    );
    app.call_form(
        &format!("/api/estates/{estate}/units/import"),
        Some(&t.tenant.slug),
        Some(&t.admin_token),
        form,
    )
    .await
}
