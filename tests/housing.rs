//! The housing roll end to end: estates, strict all-or-nothing imports of real xlsx files,
//! search and export, jurisdiction, owner verification, co-owners and changes of owner.

mod common;

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use common::{phone, TestApp, TestTenant};
use reqwest::{multipart, Method};
use rust_xlsxwriter::Workbook;
use serde_json::{json, Value};
use uuid::Uuid;

const GET: Method = Method::GET;
const POST: Method = Method::POST;
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\x0f\0\0\x01\x01\0\x05\x18\xd8N\0\0\0\0IEND\xaeB`\x82";
const HEADER: [&str; 8] = [
    "楼号",
    "单元号",
    "户号",
    "房产类型",
    "建筑面积",
    "业主姓名",
    "手机号",
    "是否开发商未售",
];

/// A roll written the way staff fill the template.
fn roll(rows: &[[&str; 8]]) -> Vec<u8> {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in HEADER.iter().enumerate() {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            if !v.is_empty() {
                ws.write_string(r as u32 + 1, c as u16, *v).unwrap();
            }
        }
    }
    wb.save_to_buffer().unwrap()
}

/// One part of an xlsx package, as text: what calamine does not read (layout, validations).
fn sheet_xml(bytes: &[u8], part: &str) -> String {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes.to_vec())).unwrap();
    std::io::read_to_string(zip.by_name(part).unwrap()).unwrap()
}

fn sheet_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    let mut wb: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes.to_vec())).unwrap();
    let range = wb.worksheet_range_at(0).unwrap().unwrap();
    range
        .rows()
        .map(|r| {
            r.iter()
                .map(|c| {
                    if let Data::Empty = c {
                        String::new()
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        })
        .collect()
}

struct World {
    app: TestApp,
    t: TestTenant,
    rc: Uuid,
    estate: Uuid,
}

impl World {
    async fn new(co_owners: bool) -> Self {
        let app = TestApp::start().await;
        let t = app.tenant().await;
        let slug = t.tenant.slug.clone();
        let (s, rc) = app
            .call(
                POST,
                "/api/residents-committees",
                Some(&slug),
                Some(&t.admin_token),
                Some(json!({"name": "东风社区居委会", "phone": "010-12345678"})),
            )
            .await;
        assert_eq!(s, 201, "{rc}");
        let rc = Uuid::parse_str(rc["id"].as_str().unwrap()).unwrap();
        let estate = json!({"rc_id": rc, "name": "东风花园", "total_households": 300, "total_area": "30000.50", "co_owner_verification": co_owners});
        let (s, e) = app
            .call(
                POST,
                "/api/estates",
                Some(&slug),
                Some(&t.admin_token),
                Some(estate),
            )
            .await;
        assert_eq!(s, 201, "{e}");
        assert_eq!(e["total_area"], "30000.50");
        let estate = Uuid::parse_str(e["id"].as_str().unwrap()).unwrap();
        World { app, t, rc, estate }
    }

    fn slug(&self) -> Option<&str> {
        Some(self.t.tenant.slug.as_str())
    }

    async fn import(&self, token: &str, estate: Uuid, bytes: Vec<u8>) -> (u16, Value) {
        let form = multipart::Form::new()
            .part("file", multipart::Part::bytes(bytes).file_name("房屋.xlsx"));
        let resp = self
            .app
            .request(
                POST,
                &format!("/api/estates/{estate}/units/import"),
                self.slug(),
                Some(token),
            )
            .multipart(form)
            .send()
            .await
            .unwrap();
        common::read(resp).await
    }

    async fn unit_id(&self, building: &str, room: &str) -> Uuid {
        let (_, b) = self
            .app
            .call(
                GET,
                &format!("/api/units?building={}&room={room}", urlencode(building)),
                self.slug(),
                Some(&self.t.admin_token),
                None,
            )
            .await;
        Uuid::parse_str(
            b["items"][0]["id"]
                .as_str()
                .unwrap_or_else(|| panic!("unit {building} {room}: {b}")),
        )
        .unwrap()
    }

    /// An owner account with the given real name.
    async fn owner_named(&self, name: &str, phone_number: &str) -> String {
        let slug = self.slug();
        let (s, _) = self
            .app
            .call(
                POST,
                "/api/auth/sms-codes",
                slug,
                None,
                Some(json!({"phone": phone_number, "purpose": "register"})),
            )
            .await;
        assert_eq!(s, 202);
        let code = self.app.last_code(&self.t.tenant, phone_number).await;
        let body = json!({"real_name": name, "phone": phone_number, "sms_code": code, "password": "Passw0rd", "accept_agreement": true});
        let (s, b) = self
            .app
            .call(POST, "/api/owners/register", slug, None, Some(body))
            .await;
        assert_eq!(s, 201, "{b}");
        b["token"].as_str().unwrap().to_string()
    }

    /// Sends the verification code to the unit's registered phone and confirms it.
    async fn verify(&self, token: &str, unit: Uuid, registered_phone: &str) -> (u16, Value) {
        let (s, b) = self
            .app
            .call(
                POST,
                &format!("/api/verification/units/{unit}/sms-code"),
                self.slug(),
                Some(token),
                None,
            )
            .await;
        if s != 202 {
            return (s, b);
        }
        let code = self.app.last_code(&self.t.tenant, registered_phone).await;
        self.app
            .call(
                POST,
                &format!("/api/verification/units/{unit}"),
                self.slug(),
                Some(token),
                Some(json!({"sms_code": code})),
            )
            .await
    }

    async fn upload_proof(&self, token: &str) -> String {
        let form = multipart::Form::new().text("purpose", "proof").part(
            "file",
            multipart::Part::bytes(PNG.to_vec()).file_name("证件.png"),
        );
        let resp = self
            .app
            .request(POST, "/api/attachments", self.slug(), Some(token))
            .multipart(form)
            .send()
            .await
            .unwrap();
        let (s, b) = common::read(resp).await;
        assert_eq!(s, 201, "{b}");
        b["id"].as_str().unwrap().to_string()
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn a_real_roll_imports_whole_and_can_be_searched_and_exported() {
    let w = World::new(false).await;
    let (s, b) = w
        .import(
            &w.t.admin_token,
            w.estate,
            include_bytes!("fixtures/roll_good.xlsx").to_vec(),
        )
        .await;
    assert_eq!((s, b["unit_count"].as_i64()), (200, Some(6)), "{b}");

    let (_, page) = w
        .app
        .call(
            GET,
            "/api/units?page_size=2",
            w.slug(),
            Some(&w.t.admin_token),
            None,
        )
        .await;
    assert_eq!(page["total"], 6);
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let (_, building_one) = w
        .app
        .call(
            GET,
            &format!("/api/units?building={}", urlencode("1号楼")),
            w.slug(),
            Some(&w.t.admin_token),
            None,
        )
        .await;
    let first = &building_one["items"][0];
    assert_eq!(
        (
            first["building"].as_str(),
            first["room"].as_str(),
            first["area"].as_str()
        ),
        (Some("1号楼"), Some("101"), Some("89.55"))
    );
    assert_eq!(
        first["owner_phone"], "138****8001",
        "phones are masked in lists"
    );

    let (_, parking) = w
        .app
        .call(
            GET,
            "/api/units?kind=parking",
            w.slug(),
            Some(&w.t.admin_token),
            None,
        )
        .await;
    assert_eq!(parking["items"][0]["room"], "车位-018");
    let (_, by_name) = w
        .app
        .call(
            GET,
            &format!("/api/units?owner_name={}", urlencode("开发")),
            w.slug(),
            Some(&w.t.admin_token),
            None,
        )
        .await;
    assert_eq!(by_name["items"][0]["developer_unsold"], true);
    let (_, room_as_number) = w
        .app
        .call(
            GET,
            "/api/units?room=201",
            w.slug(),
            Some(&w.t.admin_token),
            None,
        )
        .await;
    assert_eq!(
        room_as_number["total"], 1,
        "a room typed as a number reads as its text"
    );

    let (_, estate) = w
        .app
        .call(
            GET,
            &format!("/api/estates/{}", w.estate),
            w.slug(),
            Some(&w.t.admin_token),
            None,
        )
        .await;
    assert_eq!(
        (
            estate["unit_count"].as_i64(),
            estate["verified_households"].as_i64(),
            estate["verified_area"].as_str()
        ),
        (Some(6), Some(0), Some("0.00"))
    );

    let resp = w
        .app
        .request(
            GET,
            "/api/units/export?kind=residential",
            w.slug(),
            Some(&w.t.admin_token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"units.xlsx\"; filename*=UTF-8''"),
        "an ASCII name for old clients beside the Chinese one"
    );
    let bytes = resp.bytes().await.unwrap();
    let mut wb: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes.to_vec())).unwrap();
    let range = wb.worksheet_range_at(0).unwrap().unwrap();
    for row in range.rows().skip(1) {
        assert!(
            matches!(row[5], Data::Float(_)),
            "areas are numbers a SUM adds up: {:?}",
            row[5]
        );
    }
    let layout = sheet_xml(&bytes, "xl/worksheets/sheet1.xml");
    assert!(layout.contains("state=\"frozen\""), "frozen header");
    assert!(
        layout.contains("<autoFilter ref=\"A1:L5\""),
        "filter over the header and rows"
    );
    assert!(
        sheet_xml(&bytes, "xl/workbook.xml").contains("_xlnm.Print_Titles"),
        "the header repeats on every printed page"
    );
    let rows = sheet_rows(&bytes);
    assert_eq!(rows[0][..4], ["小区", "楼号", "单元号", "户号"]);
    assert_eq!(rows.len(), 1 + 4, "header and the four residential units");
    assert!(
        rows.iter().skip(1).all(|r| r[7].contains("****")),
        "exported phones are masked too"
    );

    let resp = w
        .app
        .request(
            GET,
            "/api/housing/template",
            w.slug(),
            Some(&w.t.admin_token),
        )
        .send()
        .await
        .unwrap();
    assert!(resp.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("UTF-8''"));
    let bytes = resp.bytes().await.unwrap();
    let template = sheet_rows(&bytes);
    assert_eq!(template[0][0], "楼号");
    assert_eq!(template[0][4], "建筑面积（㎡）");
    let sheet = sheet_xml(&bytes, "xl/worksheets/sheet1.xml");
    assert!(sheet.contains("state=\"frozen\""), "frozen header");
    assert!(
        sheet.contains("<formula1>\"住宅,商业,车位,储藏室\"</formula1>")
            && sheet.contains("<formula1>\"是,否\"</formula1>"),
        "dropdowns for the unit type and the yes/no column"
    );
    assert!(
        sheet_xml(&bytes, "xl/styles.xml").contains("formatCode=\"@\""),
        "identifiers and phones are text columns"
    );
    assert!(
        sheet_xml(&bytes, "xl/workbook.xml").contains("填写说明"),
        "the instructions sheet is kept"
    );
}

/// An area typed with three decimals, a thousands separator or a space is refused by the
/// declared pattern with the area parser's own code and words, before anything is stored.
#[tokio::test]
async fn an_area_with_more_than_two_decimals_or_a_separator_is_refused_naming_the_field() {
    let w = World::new(false).await;
    for bad in ["30000.555", "30,000", " 300", "-5", "1e3"] {
        let estate = json!({"rc_id": w.rc, "name": "西风花园", "total_area": bad});
        let (s, b) = w
            .app
            .call(
                POST,
                "/api/estates",
                w.slug(),
                Some(&w.t.admin_token),
                Some(estate),
            )
            .await;
        assert_eq!(s, 422, "{bad}: {b}");
        assert_eq!(b["fields"][0]["field"], "total_area", "{bad}: {b}");
        assert_eq!(b["fields"][0]["code"], "area.invalid", "{bad}: {b}");
        let message = b["fields"][0]["message"].as_str().unwrap();
        assert!(message.contains("最多两位小数"), "{b}");
    }
    for good in ["", "300", "300.5"] {
        let estate = json!({"rc_id": w.rc, "name": format!("南风花园{good}"), "total_area": good});
        let (s, b) = w
            .app
            .call(
                POST,
                "/api/estates",
                w.slug(),
                Some(&w.t.admin_token),
                Some(estate),
            )
            .await;
        assert_eq!(s, 201, "{good:?}: {b}");
    }
    let (s, b) = w
        .app
        .call(
            GET,
            "/api/estates?min_verified_area=1.234",
            w.slug(),
            Some(&w.t.admin_token),
            None,
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(b["fields"][0]["field"], "min_verified_area", "{b}");
    assert_eq!(b["fields"][0]["code"], "area.invalid", "{b}");
}

#[tokio::test]
async fn one_bad_row_imports_nothing_and_every_error_is_named() {
    let w = World::new(false).await;
    let (s, b) = w
        .import(
            &w.t.admin_token,
            w.estate,
            include_bytes!("fixtures/roll_bad.xlsx").to_vec(),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    let fields: Vec<&str> = b["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "rows.3.room",
            "rows.4.area",
            "rows.5.kind",
            "rows.5.owner_phone"
        ]
    );
    assert_eq!(
        b["fields"][1]["message"],
        "第 4 行「建筑面积」（E 列）：面积须为数字，例如 89.55"
    );
    let (_, units) = w
        .app
        .call(GET, "/api/units", w.slug(), Some(&w.t.admin_token), None)
        .await;
    assert_eq!(units["total"], 0, "nothing was imported");

    let (s, b) = w
        .import(
            &w.t.admin_token,
            w.estate,
            include_bytes!("fixtures/roll_wrong_headers.xlsx").to_vec(),
        )
        .await;
    assert_eq!(s, 422);
    assert!(
        b["fields"][0]["message"]
            .as_str()
            .unwrap()
            .contains("表头不正确"),
        "{b}"
    );

    let (s, b) = w
        .import(
            &w.t.admin_token,
            w.estate,
            b"PK\x03\x04 not really a workbook".to_vec(),
        )
        .await;
    assert_eq!((s, b["fields"][0]["field"].as_str()), (422, Some("rows.1")));

    // Importing again: units already on the roll are refused; only new units may be added.
    let first = roll(&[
        ["1", "1", "101", "住宅", "80", "甲", "13900000001", ""],
        ["1", "1", "102", "住宅", "80", "乙", "13900000002", ""],
    ]);
    assert_eq!(
        w.import(&w.t.admin_token, w.estate, first.clone()).await.0,
        200
    );
    let (s, b) = w.import(&w.t.admin_token, w.estate, first).await;
    assert_eq!((s, b["fields"].as_array().unwrap().len()), (422, 2), "{b}");
    assert!(b["fields"][0]["message"]
        .as_str()
        .unwrap()
        .contains("已导入"));
    let more = roll(&[["1", "1", "103", "住宅", "80", "丙", "13900000003", ""]]);
    assert_eq!(w.import(&w.t.admin_token, w.estate, more).await.0, 200);
    let (_, units) = w
        .app
        .call(GET, "/api/units", w.slug(), Some(&w.t.admin_token), None)
        .await;
    assert_eq!(units["total"], 3);
}

#[tokio::test]
async fn committee_staff_reach_nothing_of_another_committee() {
    let w = World::new(true).await;
    let slug = w.slug();
    let admin = w.t.admin_token.as_str();
    // Committee Y with its own estate and unit.
    let (_, y) = w
        .app
        .call(
            POST,
            "/api/residents-committees",
            slug,
            Some(admin),
            Some(json!({"name": "西山社区居委会"})),
        )
        .await;
    let y = y["id"].as_str().unwrap().to_string();
    let (_, ye) = w
        .app
        .call(
            POST,
            "/api/estates",
            slug,
            Some(admin),
            Some(json!({"rc_id": y, "name": "西山苑", "co_owner_verification": true})),
        )
        .await;
    let y_estate = Uuid::parse_str(ye["id"].as_str().unwrap()).unwrap();
    let y_phone = phone();
    assert_eq!(
        w.import(
            admin,
            y_estate,
            roll(&[["9", "1", "901", "住宅", "70", "周九", &y_phone, ""]])
        )
        .await
        .0,
        200
    );
    let y_unit = w.unit_id("9", "901").await;
    // Y's owner, with a co-owner application and a seat on Y's owners' committee.
    let zhou = w.owner_named("周九", &phone()).await;
    assert_eq!(w.verify(&zhou, y_unit, &y_phone).await.0, 201);
    let proof = w.upload_proof(&zhou).await;
    let (_, y_app) = w
        .app
        .call(
            POST,
            &format!("/api/me/properties/{y_unit}/co-owners"),
            slug,
            Some(&zhou),
            Some(json!({"name": "周妻", "phone": phone(), "proof_attachment_ids": [proof]})),
        )
        .await;
    let y_app = y_app["id"].as_str().unwrap().to_string();
    let conn = w.app.conn(&w.t.tenant).await;
    let zhou_id: Uuid = conn
        .query_one(
            "SELECT owner_id FROM unit_holders WHERE unit_id = $1",
            &[&y_unit],
        )
        .await
        .unwrap()
        .get(0);
    conn.commit().await.unwrap();

    let x_staff = w.app.staff(&w.t, "rc_staff", Some(w.rc)).await;
    let x = Some(x_staff.as_str());
    let (_, rcs) = w
        .app
        .call(GET, "/api/residents-committees", slug, x, None)
        .await;
    assert_eq!(
        rcs["items"].as_array().unwrap().len(),
        1,
        "only their own committee: {rcs}"
    );
    let (_, estates) = w.app.call(GET, "/api/estates", slug, x, None).await;
    assert_eq!(estates["total"], 1);
    let refusals = [
        w.app
            .call(GET, &format!("/api/estates/{y_estate}"), slug, x, None)
            .await,
        w.app
            .call(
                Method::PUT,
                &format!("/api/estates/{y_estate}"),
                slug,
                x,
                Some(json!({"rc_id": y, "name": "改名"})),
            )
            .await,
        w.app
            .call(
                Method::PUT,
                &format!("/api/estates/{}", w.estate),
                slug,
                x,
                Some(json!({"rc_id": y, "name": "搬走"})),
            )
            .await,
        w.app
            .call(
                POST,
                "/api/estates",
                slug,
                x,
                Some(json!({"rc_id": y, "name": "新建"})),
            )
            .await,
        w.import(
            &x_staff,
            y_estate,
            roll(&[["9", "1", "902", "住宅", "70", "吴十", "13900000010", ""]]),
        )
        .await,
        w.app
            .call(
                GET,
                &format!("/api/units/{y_unit}/transfers"),
                slug,
                x,
                None,
            )
            .await,
        w.app
            .call(
                GET,
                &format!("/api/estates/{y_estate}/oc-members"),
                slug,
                x,
                None,
            )
            .await,
        w.app
            .call(
                POST,
                &format!("/api/estates/{y_estate}/oc-members"),
                slug,
                x,
                Some(json!({"owner_id": zhou_id})),
            )
            .await,
        w.app
            .call(
                POST,
                &format!("/api/co-owner-applications/{y_app}/approve"),
                slug,
                x,
                None,
            )
            .await,
        w.app
            .call(
                POST,
                &format!("/api/co-owner-applications/{y_app}/reject"),
                slug,
                x,
                Some(json!({"reason": "越权"})),
            )
            .await,
        w.app
            .call(
                Method::DELETE,
                &format!("/api/co-owner-applications/{y_app}"),
                slug,
                x,
                None,
            )
            .await,
        w.app
            .call(GET, &format!("/api/attachments/{proof}"), slug, x, None)
            .await,
    ];
    for (i, (s, b)) in refusals.iter().enumerate() {
        assert_eq!(*s, 404, "attempt {i} reached committee Y: {b}");
    }
    let (_, units) = w
        .app
        .call(
            GET,
            &format!("/api/units?estate_id={y_estate}"),
            slug,
            x,
            None,
        )
        .await;
    assert_eq!(units["total"], 0, "Y's units never appear");
    let (_, units) = w.app.call(GET, "/api/units", slug, x, None).await;
    assert_eq!(units["total"], 0);

    // Transfers and co-owner reviews of Y's units are out of reach too.
    let proof_a = w.upload_proof(&x_staff).await;
    let proof_b = w.upload_proof(&x_staff).await;
    let transfer = json!({"new_owner_name": "郑十一", "new_owner_phone": "13900000011", "id_card_attachment_id": proof_a, "deed_attachment_id": proof_b});
    let (s, _) = w
        .app
        .call(
            POST,
            &format!("/api/units/{y_unit}/transfer"),
            slug,
            x,
            Some(transfer),
        )
        .await;
    assert_eq!(s, 404);
    let (_, apps) = w
        .app
        .call(GET, "/api/co-owner-applications", slug, x, None)
        .await;
    assert_eq!(apps["total"], 0, "Y's pending application is not listed");
    let (_, all_apps) = w
        .app
        .call(GET, "/api/co-owner-applications", slug, Some(admin), None)
        .await;
    assert_eq!(all_apps["total"], 1, "street staff do see it");
    let resp = w
        .app
        .request(
            GET,
            &format!("/api/units/export?estate_id={y_estate}"),
            slug,
            x,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        sheet_rows(&resp.bytes().await.unwrap()).len(),
        1,
        "the export holds only the header"
    );
}

#[tokio::test]
async fn owners_verify_with_the_code_sent_to_the_registered_phone() {
    let w = World::new(false).await;
    let rows = [
        ["1", "1", "101", "住宅", "89.55", "张 伟", "13900001001", ""],
        ["1", "1", "102", "住宅", "100", "王芳", "13900001002", ""],
    ];
    // Phones unique to this test run: the resend interval is per phone across tenants.
    let (p1, p2) = (phone(), phone());
    let rows = rows.map(|mut r| {
        r[6] = if r[2] == "101" {
            p1.as_str()
        } else {
            p2.as_str()
        };
        r
    });
    assert_eq!(
        w.import(&w.t.admin_token, w.estate, roll(&rows)).await.0,
        200
    );
    let (u101, u102) = (w.unit_id("1", "101").await, w.unit_id("1", "102").await);

    let zhang = w.owner_named("张伟", &phone()).await;
    let slug = w.slug();
    // The cascading pickers.
    let (_, estates) = w
        .app
        .call(GET, "/api/verification/estates", slug, Some(&zhang), None)
        .await;
    assert!(estates["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["name"] == "东风花园"));
    let (_, buildings) = w
        .app
        .call(
            GET,
            &format!("/api/verification/estates/{}/buildings", w.estate),
            slug,
            Some(&zhang),
            None,
        )
        .await;
    assert_eq!(buildings["items"], json!(["1"]));
    let (_, entrances) = w
        .app
        .call(
            GET,
            &format!(
                "/api/verification/estates/{}/entrances?building=1",
                w.estate
            ),
            slug,
            Some(&zhang),
            None,
        )
        .await;
    assert_eq!(entrances["items"], json!(["1"]));
    let (_, rooms) = w
        .app
        .call(
            GET,
            &format!(
                "/api/verification/estates/{}/rooms?building=1&entrance=1",
                w.estate
            ),
            slug,
            Some(&zhang),
            None,
        )
        .await;
    assert_eq!(rooms["items"].as_array().unwrap().len(), 2);
    let (_, unit) = w
        .app
        .call(
            GET,
            &format!("/api/verification/units/{u101}"),
            slug,
            Some(&zhang),
            None,
        )
        .await;
    assert_eq!(
        unit["masked_phone"],
        format!("{}****{}", &p1[..3], &p1[7..])
    );

    // A wrong code, then an expired one, then the right one.
    let (s, _) = w
        .app
        .call(
            POST,
            &format!("/api/verification/units/{u101}/sms-code"),
            slug,
            Some(&zhang),
            None,
        )
        .await;
    assert_eq!(s, 202);
    let (s, b) = w
        .app
        .call(
            POST,
            &format!("/api/verification/units/{u101}"),
            slug,
            Some(&zhang),
            Some(json!({"sms_code": "000000x"})),
        )
        .await;
    assert_eq!(
        (s, b["fields"][0]["code"].as_str()),
        (422, Some("sms.code_invalid"))
    );
    let code = w.app.last_code(&w.t.tenant, &p1).await;
    let conn = w.app.conn(&w.t.tenant).await;
    conn.execute(
        "UPDATE sms_codes SET expires_at = now() - interval '1 second' WHERE phone = $1",
        &[&p1],
    )
    .await
    .unwrap();
    conn.commit().await.unwrap();
    let (s, _) = w
        .app
        .call(
            POST,
            &format!("/api/verification/units/{u101}"),
            slug,
            Some(&zhang),
            Some(json!({"sms_code": code})),
        )
        .await;
    assert_eq!(s, 422, "expired code");
    w.app.age_sms_sends(&p1, 61).await;
    let (s, b) = w.verify(&zhang, u101, &p1).await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(
        (b["area"].as_str(), b["role"].as_str()),
        (Some("89.55"), Some("owner"))
    );

    let (_, mine) = w
        .app
        .call(GET, "/api/me/properties", slug, Some(&zhang), None)
        .await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    let (_, estate) = w
        .app
        .call(
            GET,
            &format!("/api/estates/{}", w.estate),
            slug,
            Some(&w.t.admin_token),
            None,
        )
        .await;
    assert_eq!(
        (
            estate["verified_households"].as_i64(),
            estate["verified_area"].as_str()
        ),
        (Some(1), Some("89.55"))
    );
    let (_, found) = w
        .app
        .call(
            GET,
            "/api/estates?min_verified_households=1&min_verified_area=89.55",
            slug,
            Some(&w.t.admin_token),
            None,
        )
        .await;
    assert_eq!(found["total"], 1);
    let (_, none) = w
        .app
        .call(
            GET,
            "/api/estates?min_verified_area=89.56",
            slug,
            Some(&w.t.admin_token),
            None,
        )
        .await;
    assert_eq!(none["total"], 0, "filters on the computed verified area");

    // Someone else cannot verify the same unit; a name that does not match is refused clearly.
    let other = w.owner_named("张伟", &phone()).await;
    let (s, b) = w.verify(&other, u101, &p1).await;
    assert_eq!((s, b["code"].as_str()), (409, Some("verification.taken")));
    let (s, b) = w.verify(&zhang, u102, &p2).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (403, Some("verification.name_mismatch"))
    );
    assert!(b["message"].as_str().unwrap().contains("居委会"));

    // Unbinding a sold unit ends the holding and keeps its history.
    let (s, _) = w
        .app
        .call(
            Method::DELETE,
            &format!("/api/me/properties/{u101}"),
            slug,
            Some(&zhang),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (_, mine) = w
        .app
        .call(GET, "/api/me/properties", slug, Some(&zhang), None)
        .await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 0);
    let conn = w.app.conn(&w.t.tenant).await;
    let ended: i64 = conn
        .query_one(
            "SELECT count(*) FROM unit_holders WHERE unit_id = $1 AND end_reason = 'unbound'",
            &[&u101],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(ended, 1);
}

#[tokio::test]
async fn co_owners_are_approved_or_rejected_by_staff() {
    let w = World::new(true).await;
    let p = phone();
    assert_eq!(
        w.import(
            &w.t.admin_token,
            w.estate,
            roll(&[["5", "1", "501", "住宅", "120", "刘洋", &p, ""]])
        )
        .await
        .0,
        200
    );
    let unit = w.unit_id("5", "501").await;
    let liu = w.owner_named("刘洋", &phone()).await;
    assert_eq!(w.verify(&liu, unit, &p).await.0, 201);
    let slug = w.slug();

    let spouse = phone();
    let proof = w.upload_proof(&liu).await;
    let apply = json!({"name": "何静", "phone": spouse, "proof_attachment_ids": [proof]});
    let (s, app_a) = w
        .app
        .call(
            POST,
            &format!("/api/me/properties/{unit}/co-owners"),
            slug,
            Some(&liu),
            Some(apply.clone()),
        )
        .await;
    assert_eq!(s, 201, "{app_a}");
    let (s, _) = w
        .app
        .call(
            POST,
            &format!("/api/me/properties/{unit}/co-owners"),
            slug,
            Some(&liu),
            Some(apply),
        )
        .await;
    assert_eq!(s, 409, "one open application per phone");
    let (_, pending) = w
        .app
        .call(
            GET,
            "/api/units?co_owner_status=pending",
            slug,
            Some(&w.t.admin_token),
            None,
        )
        .await;
    assert_eq!(pending["total"], 1);

    // The reviewer finds the application by what they see or are told: the applicant's name
    // (part of it), the whole phone, or the room; and the unit by its masked phone's tail.
    let listed = |query: String| {
        let w = &w;
        async move {
            let (s, b) = w
                .app
                .call(GET, &query, slug, Some(&w.t.admin_token), None)
                .await;
            assert_eq!(s, 200, "{query}: {b}");
            b["total"].as_i64().unwrap()
        }
    };
    let applications = |q: &str| format!("/api/co-owner-applications?q={}", urlencode(q));
    assert_eq!(listed(applications("何")).await, 1);
    assert_eq!(listed(applications(&spouse)).await, 1);
    assert_eq!(listed(applications("501")).await, 1);
    assert_eq!(listed(applications("王")).await, 0);
    assert_eq!(
        listed(applications(&spouse[..7])).await,
        0,
        "a phone is matched whole"
    );
    assert_eq!(
        listed(format!("/api/units?phone_tail={}", &p[7..])).await,
        1
    );
    assert_eq!(listed(format!("/api/units?rc_id={}", w.rc)).await, 1);
    let (_, other) = w
        .app
        .call(
            POST,
            "/api/residents-committees",
            slug,
            Some(&w.t.admin_token),
            Some(json!({"name": "另一个居委会"})),
        )
        .await;
    let other = other["id"].as_str().unwrap();
    assert_eq!(listed(format!("/api/units?rc_id={other}")).await, 0);
    assert_eq!(
        listed(format!("/api/co-owner-applications?rc_id={other}")).await,
        0
    );
    let (_, committees) = w
        .app
        .call(
            GET,
            &format!("/api/residents-committees?name={}", urlencode("另一")),
            slug,
            Some(&w.t.admin_token),
            None,
        )
        .await;
    assert_eq!(committees["items"][0]["id"], other, "{committees}");
    assert_eq!(committees["total"], 1);
    let (s, b) = w
        .app
        .call(
            GET,
            "/api/units?phone_tail=12",
            slug,
            Some(&w.t.admin_token),
            None,
        )
        .await;
    assert_eq!(
        (s, b["fields"][0]["field"].as_str()),
        (422, Some("phone_tail")),
        "{b}"
    );

    let id = app_a["id"].as_str().unwrap();
    let (s, b) = w
        .app
        .call(
            POST,
            &format!("/api/co-owner-applications/{id}/approve"),
            slug,
            Some(&w.t.admin_token),
            None,
        )
        .await;
    assert_eq!(
        (s, b["status"].as_str(), b["linked"].as_bool()),
        (200, Some("approved"), Some(false))
    );
    let (s, _) = w
        .app
        .call(
            POST,
            &format!("/api/co-owner-applications/{id}/reject"),
            slug,
            Some(&w.t.admin_token),
            Some(json!({"reason": "晚了"})),
        )
        .await;
    assert_eq!(s, 409, "already reviewed");

    // The co-owner registers later and is linked to the unit at once.
    let he = w.owner_named("何静", &spouse).await;
    let (_, theirs) = w
        .app
        .call(GET, "/api/me/properties", slug, Some(&he), None)
        .await;
    assert_eq!(
        (
            theirs["items"][0]["unit_id"].as_str(),
            theirs["items"][0]["role"].as_str()
        ),
        (Some(unit.to_string().as_str()), Some("co_owner"))
    );

    // A second application is rejected with a reason the owner sees.
    let proof = w.upload_proof(&liu).await;
    let (_, app_b) = w
        .app
        .call(
            POST,
            &format!("/api/me/properties/{unit}/co-owners"),
            slug,
            Some(&liu),
            Some(json!({"name": "刘父", "phone": phone(), "proof_attachment_ids": [proof]})),
        )
        .await;
    let id_b = app_b["id"].as_str().unwrap();
    let (s, b) = w
        .app
        .call(
            POST,
            &format!("/api/co-owner-applications/{id_b}/reject"),
            slug,
            Some(&w.t.admin_token),
            Some(json!({"reason": " "})),
        )
        .await;
    assert_eq!((s, b["fields"][0]["field"].as_str()), (422, Some("reason")));
    let (s, _) = w
        .app
        .call(
            POST,
            &format!("/api/co-owner-applications/{id_b}/reject"),
            slug,
            Some(&w.t.admin_token),
            Some(json!({"reason": "证明材料不清晰"})),
        )
        .await;
    assert_eq!(s, 200);
    let (_, mine) = w
        .app
        .call(GET, "/api/me/co-owner-applications", slug, Some(&liu), None)
        .await;
    let rejected = mine["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id_b)
        .unwrap();
    assert_eq!(
        (
            rejected["status"].as_str(),
            rejected["reject_reason"].as_str()
        ),
        (Some("rejected"), Some("证明材料不清晰"))
    );

    // A co-owner who already has an account is linked the moment staff approve.
    let registered = phone();
    let existing = w.owner_named("刘母", &registered).await;
    let proof = w.upload_proof(&liu).await;
    let (_, app_c) = w
        .app
        .call(
            POST,
            &format!("/api/me/properties/{unit}/co-owners"),
            slug,
            Some(&liu),
            Some(json!({"name": "刘母", "phone": registered, "proof_attachment_ids": [proof]})),
        )
        .await;
    let (s, b) = w
        .app
        .call(
            POST,
            &format!(
                "/api/co-owner-applications/{}/approve",
                app_c["id"].as_str().unwrap()
            ),
            slug,
            Some(&w.t.admin_token),
            None,
        )
        .await;
    assert_eq!((s, b["linked"].as_bool()), (200, Some(true)));
    let (_, hers) = w
        .app
        .call(GET, "/api/me/properties", slug, Some(&existing), None)
        .await;
    assert_eq!(hers["items"][0]["role"], "co_owner");

    // Deleting the approved application ends the co-owner's holding.
    let (s, _) = w
        .app
        .call(
            Method::DELETE,
            &format!("/api/co-owner-applications/{id}"),
            slug,
            Some(&w.t.admin_token),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (_, theirs) = w
        .app
        .call(GET, "/api/me/properties", slug, Some(&he), None)
        .await;
    assert_eq!(theirs["items"].as_array().unwrap().len(), 0);

    // The owner unbinds the sold unit: the remaining co-owner's holding ends with it.
    let (s, _) = w
        .app
        .call(
            Method::DELETE,
            &format!("/api/me/properties/{unit}"),
            slug,
            Some(&liu),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (_, hers) = w
        .app
        .call(GET, "/api/me/properties", slug, Some(&existing), None)
        .await;
    assert_eq!(hers["items"].as_array().unwrap().len(), 0);

    // Each staff write above left exactly one audit entry.
    let (gaps, seen) = w.app.unaudited_writes().await;
    assert!(gaps.is_empty(), "unaudited: {gaps:?}");
    assert!(seen.contains("co_owner_approve"), "{seen:?}");
    assert!(seen.contains("co_owner_reject"), "{seen:?}");
}

#[tokio::test]
async fn two_owners_confirming_one_unit_at_once_yield_one_verified_owner() {
    let w = World::new(false).await;
    let p = phone();
    assert_eq!(
        w.import(
            &w.t.admin_token,
            w.estate,
            roll(&[["6", "1", "601", "住宅", "88", "同名", &p, ""]])
        )
        .await
        .0,
        200
    );
    let unit = w.unit_id("6", "601").await;
    let (a, b) = (
        w.owner_named("同名", &phone()).await,
        w.owner_named("同名", &phone()).await,
    );
    let (s, _) = w
        .app
        .call(
            POST,
            &format!("/api/verification/units/{unit}/sms-code"),
            w.slug(),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(s, 202);
    let code = w.app.last_code(&w.t.tenant, &p).await;
    let path = format!("/api/verification/units/{unit}");
    let body = json!({"sms_code": code});
    let ((sa, _), (sb, _)) = tokio::join!(
        w.app
            .call(POST, &path, w.slug(), Some(&a), Some(body.clone())),
        w.app
            .call(POST, &path, w.slug(), Some(&b), Some(body.clone()))
    );
    let mut statuses = [sa, sb];
    statuses.sort();
    assert_eq!(statuses[0], 201, "one of them verifies");
    assert!(
        matches!(statuses[1], 409 | 422),
        "the other is refused: {statuses:?}"
    );
    let conn = w.app.conn(&w.t.tenant).await;
    let n: i64 = conn
        .query_one(
            "SELECT count(*) FROM unit_holders WHERE unit_id = $1 AND ended_at IS NULL",
            &[&unit],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
}

#[tokio::test]
async fn two_imports_at_once_never_add_a_unit_twice() {
    let w = World::new(false).await;
    let file = roll(&[
        ["1", "1", "101", "住宅", "80", "甲", "13900000001", ""],
        ["1", "1", "102", "住宅", "80", "乙", "13900000002", ""],
    ]);
    let ((sa, _), (sb, _)) = tokio::join!(
        w.import(&w.t.admin_token, w.estate, file.clone()),
        w.import(&w.t.admin_token, w.estate, file.clone())
    );
    let mut statuses = [sa, sb];
    statuses.sort();
    assert_eq!(statuses, [200, 422]);
    let (_, units) = w
        .app
        .call(GET, "/api/units", w.slug(), Some(&w.t.admin_token), None)
        .await;
    assert_eq!(units["total"], 2);
}

#[tokio::test]
async fn co_owners_need_the_estate_to_allow_them() {
    let w = World::new(false).await;
    let p = phone();
    assert_eq!(
        w.import(
            &w.t.admin_token,
            w.estate,
            roll(&[["5", "1", "502", "住宅", "120", "马六", &p, ""]])
        )
        .await
        .0,
        200
    );
    let unit = w.unit_id("5", "502").await;
    let ma = w.owner_named("马六", &phone()).await;
    assert_eq!(w.verify(&ma, unit, &p).await.0, 201);
    let proof = w.upload_proof(&ma).await;
    let (s, b) = w
        .app
        .call(
            POST,
            &format!("/api/me/properties/{unit}/co-owners"),
            w.slug(),
            Some(&ma),
            Some(json!({"name": "马妻", "phone": phone(), "proof_attachment_ids": [proof]})),
        )
        .await;
    assert_eq!((s, b["code"].as_str()), (403, Some("co_owner.disabled")));
}

#[tokio::test]
async fn a_change_of_owner_ends_verification_and_guards_the_documents() {
    let w = World::new(true).await;
    let p = phone();
    assert_eq!(
        w.import(
            &w.t.admin_token,
            w.estate,
            roll(&[["7", "2", "702", "住宅", "66.6", "旧业主", &p, ""]])
        )
        .await
        .0,
        200
    );
    let unit = w.unit_id("7", "702").await;
    let old = w.owner_named("旧业主", &phone()).await;
    assert_eq!(w.verify(&old, unit, &p).await.0, 201);
    let slug = w.slug();

    // The old household has an approved co-owner.
    let spouse = phone();
    let proof = w.upload_proof(&old).await;
    let (_, application) = w
        .app
        .call(
            POST,
            &format!("/api/me/properties/{unit}/co-owners"),
            slug,
            Some(&old),
            Some(json!({"name": "旧配偶", "phone": spouse, "proof_attachment_ids": [proof]})),
        )
        .await;
    let (s, _) = w
        .app
        .call(
            POST,
            &format!(
                "/api/co-owner-applications/{}/approve",
                application["id"].as_str().unwrap()
            ),
            slug,
            Some(&w.t.admin_token),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let spouse_token = w.owner_named("旧配偶", &spouse).await;

    let id_card = w.upload_proof(&w.t.admin_token).await;
    let deed = w.upload_proof(&w.t.admin_token).await;
    let colleague = w.app.staff(&w.t, "street_staff", None).await;
    let (s, _) = w
        .app
        .call(
            GET,
            &format!("/api/attachments/{id_card}"),
            slug,
            Some(&colleague),
            None,
        )
        .await;
    assert_eq!(
        s, 404,
        "an unused ID card stays with the staff member who uploaded it"
    );
    let new_phone = phone();
    let body = json!({"new_owner_name": "新业主", "new_owner_phone": new_phone, "id_card_attachment_id": id_card, "deed_attachment_id": deed});
    let (s, b) = w
        .app
        .call(
            POST,
            &format!("/api/units/{unit}/transfer"),
            slug,
            Some(&w.t.admin_token),
            Some(body.clone()),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, _) = w
        .app
        .call(
            POST,
            &format!("/api/units/{unit}/transfer"),
            slug,
            Some(&w.t.admin_token),
            Some(body),
        )
        .await;
    assert_eq!(s, 422, "each document is used once");

    let (_, mine) = w
        .app
        .call(GET, "/api/me/properties", slug, Some(&old), None)
        .await;
    assert_eq!(
        mine["items"].as_array().unwrap().len(),
        0,
        "the old owner's verification ended"
    );
    let (_, theirs) = w
        .app
        .call(GET, "/api/me/properties", slug, Some(&spouse_token), None)
        .await;
    assert_eq!(
        theirs["items"].as_array().unwrap().len(),
        0,
        "and so did the co-owner's"
    );
    let conn = w.app.conn(&w.t.tenant).await;
    let kept: i64 = conn
        .query_one(
            "SELECT count(*) FROM unit_holders WHERE unit_id = $1 AND end_reason = 'transferred'",
            &[&unit],
        )
        .await
        .unwrap()
        .get(0);
    conn.commit().await.unwrap();
    assert_eq!(kept, 2, "both holdings are kept as history");
    let (_, units) = w
        .app
        .call(
            GET,
            "/api/units?room=702",
            slug,
            Some(&w.t.admin_token),
            None,
        )
        .await;
    assert_eq!(
        (
            units["items"][0]["owner_name"].as_str(),
            units["items"][0]["verified"].as_bool()
        ),
        (Some("新业主"), Some(false))
    );
    let (_, history) = w
        .app
        .call(
            GET,
            &format!("/api/units/{unit}/transfers"),
            slug,
            Some(&w.t.admin_token),
            None,
        )
        .await;
    assert_eq!(history["items"][0]["old_owner_name"], "旧业主");

    // The new owner verifies again, against the new name and phone.
    let new = w.owner_named("新业主", &phone()).await;
    w.app.age_sms_sends(&new_phone, 61).await;
    assert_eq!(w.verify(&new, unit, &new_phone).await.0, 201);

    // ID card and deed: the estate's staff only, every read audited.
    let (s, _) = w
        .app
        .call(
            GET,
            &format!("/api/attachments/{id_card}"),
            slug,
            Some(&new),
            None,
        )
        .await;
    assert_eq!(s, 404, "owners do not see others' ID cards");
    let (_, other_rc) = w
        .app
        .call(
            POST,
            "/api/residents-committees",
            slug,
            Some(&w.t.admin_token),
            Some(json!({"name": "别处居委会"})),
        )
        .await;
    let stranger = w
        .app
        .staff(
            &w.t,
            "rc_staff",
            Some(Uuid::parse_str(other_rc["id"].as_str().unwrap()).unwrap()),
        )
        .await;
    let (s, _) = w
        .app
        .call(
            GET,
            &format!("/api/attachments/{id_card}/content"),
            slug,
            Some(&stranger),
            None,
        )
        .await;
    assert_eq!(s, 404, "staff of another committee");
    let own = w.app.staff(&w.t, "rc_staff", Some(w.rc)).await;
    let resp = w
        .app
        .request(
            GET,
            &format!("/api/attachments/{id_card}/content"),
            slug,
            Some(&own),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (_, audit) = w
        .app
        .call(
            GET,
            "/api/audit-log?operation=attachment_download",
            slug,
            Some(&w.t.admin_token),
            None,
        )
        .await;
    assert_eq!(audit["total"], 1, "{audit}");
    assert_eq!(audit["items"][0]["object_id"], id_card.as_str());

    // Each staff write above left exactly one audit entry.
    let (gaps, seen) = w.app.unaudited_writes().await;
    assert!(gaps.is_empty(), "unaudited: {gaps:?}");
    assert!(seen.contains("unit_transfer"), "{seen:?}");
}

#[tokio::test]
async fn staff_grant_and_revoke_the_owners_committee_role() {
    let w = World::new(false).await;
    let p = phone();
    assert_eq!(
        w.import(
            &w.t.admin_token,
            w.estate,
            roll(&[["8", "1", "801", "住宅", "90", "钱八", &p, ""]])
        )
        .await
        .0,
        200
    );
    let unit = w.unit_id("8", "801").await;
    let qian = w.owner_named("钱八", &phone()).await;
    assert_eq!(w.verify(&qian, unit, &p).await.0, 201);
    let conn = w.app.conn(&w.t.tenant).await;
    let owner_id: Uuid = conn
        .query_one(
            "SELECT owner_id FROM unit_holders WHERE unit_id = $1",
            &[&unit],
        )
        .await
        .unwrap()
        .get(0);
    conn.commit().await.unwrap();
    let slug = w.slug();
    let path = format!("/api/estates/{}/oc-members", w.estate);
    let (s, b) = w
        .app
        .call(
            POST,
            &path,
            slug,
            Some(&w.t.admin_token),
            Some(json!({"owner_id": Uuid::new_v4()})),
        )
        .await;
    assert_eq!(
        (s, b["fields"][0]["code"].as_str()),
        (422, Some("oc.not_an_owner"))
    );
    let (s, b) = w
        .app
        .call(
            POST,
            &path,
            slug,
            Some(&w.t.admin_token),
            Some(json!({"owner_id": owner_id})),
        )
        .await;
    assert_eq!((s, b["real_name"].as_str()), (201, Some("钱八")));
    let (_, list) = w
        .app
        .call(GET, &path, slug, Some(&w.t.admin_token), None)
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let (s, _) = w
        .app
        .call(
            Method::DELETE,
            &format!("{path}/{owner_id}"),
            slug,
            Some(&w.t.admin_token),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (_, list) = w
        .app
        .call(GET, &path, slug, Some(&w.t.admin_token), None)
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0);

    // Each staff write above left exactly one audit entry.
    let (gaps, seen) = w.app.unaudited_writes().await;
    assert!(gaps.is_empty(), "unaudited: {gaps:?}");
    assert!(seen.contains("oc_member_grant"), "{seen:?}");
    assert!(seen.contains("oc_member_revoke"), "{seen:?}");
}

/// The template's header, then whatever `fill` writes.
fn hostile(fill: impl FnOnce(&mut rust_xlsxwriter::Worksheet)) -> Vec<u8> {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in HEADER.iter().enumerate() {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    fill(ws);
    wb.save_to_buffer().unwrap()
}

#[tokio::test]
async fn hostile_spreadsheets_are_refused_with_their_limit_and_import_nothing() {
    let w = World::new(false).await;
    let admin = w.t.admin_token.clone();
    let refused = |b: &Value| {
        b["fields"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };

    // Two cells, A1 and XFD1048576: a 2 KB file that once asked for 512 GiB.
    let grid = hostile(|ws| {
        ws.write_string(1_048_575, 16_383, "x").unwrap();
    });
    assert!(grid.len() < 10_000, "{} bytes", grid.len());
    let (s, b) = w.import(&admin, w.estate, grid).await;
    assert_eq!(s, 422, "{b}");
    assert!(refused(&b).contains("最多 50001 行"), "{b}");
    let wide = hostile(|ws| {
        ws.write_string(500, 16_383, "x").unwrap();
    });
    let (s, b) = w.import(&admin, w.estate, wide).await;
    assert!(s == 422 && refused(&b).contains("最多 26 列"), "{s} {b}");
    // More rows than any estate has.
    let long = hostile(|ws| {
        for r in 1..=50_001u32 {
            ws.write_string(r, 0, "1").unwrap();
        }
    });
    let (s, b) = w.import(&admin, w.estate, long).await;
    assert!(s == 422 && refused(&b).contains("最多 50001 行"), "{s} {b}");
    // Shared strings that inflate to more than 32 MiB from a small file.
    let inflating = hostile(|ws| {
        for r in 0..1_200u32 {
            ws.write_string(r + 1, 9, format!("{r}{}", "长".repeat(10_000)))
                .unwrap();
        }
    });
    assert!(
        inflating.len() < 2 * 1024 * 1024,
        "{} bytes",
        inflating.len()
    );
    let (s, b) = w.import(&admin, w.estate, inflating).await;
    assert!(
        s == 422 && refused(&b).contains("解压后超过 32 MB"),
        "{s} {b}"
    );
    // 400,000 rows without cells hold nothing: read as a header without data, not a crash.
    let bare = hostile(|ws| {
        for r in 1..400_000u32 {
            ws.set_row_height(r, 20).unwrap();
        }
    });
    let (s, b) = w.import(&admin, w.estate, bare).await;
    assert!(s < 500, "{s} {b}");

    // Staff outside the estate's jurisdiction never have their file read.
    let (_, other_rc) = w
        .app
        .call(
            POST,
            "/api/residents-committees",
            w.slug(),
            Some(&admin),
            Some(json!({"name": "别的居委会"})),
        )
        .await;
    let outsider = w
        .app
        .staff(
            &w.t,
            "rc_staff",
            Some(Uuid::parse_str(other_rc["id"].as_str().unwrap()).unwrap()),
        )
        .await;
    let (s, b) = w
        .import(&outsider, w.estate, b"not even a zip".to_vec())
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (404, Some("estate.not_found")),
        "{b}"
    );

    let (_, units) = w
        .app
        .call(GET, "/api/units", w.slug(), Some(&admin), None)
        .await;
    assert_eq!(units["total"], 0, "nothing was imported");
    let (s, _) = w
        .app
        .call(GET, "/api/units", w.slug(), Some(&admin), None)
        .await;
    assert_eq!(s, 200, "the service is still up");
}
