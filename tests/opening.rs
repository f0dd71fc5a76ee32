//! Voting opens on schedule: a due matter is opened by the due-work sweep (not by the first
//! reader), its roll frozen as it stood at the opening time, exactly once however many replicas
//! sweep at the same moment; readers see the true status meanwhile.

mod common;

use chrono::{Duration, Utc};
use common::estate::{Estate, RollRow};
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;
use zhimaguan::voting::due;

const GET: Method = Method::GET;
const POST: Method = Method::POST;

#[tokio::test]
async fn a_due_matter_opens_on_schedule_once_with_the_roll_as_it_stood_at_its_opening_time() {
    let e = Estate::new(3, false).await;
    e.owner(0).await;
    let body = json!({
        "estate_id": e.id, "type_name": "公共收益", "title": "是否更换电梯", "content": "", "importance": "normal",
        "opens_at": Utc::now() + Duration::days(1), "closes_at": Utc::now() + Duration::days(8), "law_item": 4
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
    assert_eq!((s, m["status"].as_str()), (201, Some("approved")), "{m}");
    let id = Uuid::parse_str(m["id"].as_str().unwrap()).unwrap();
    assert_eq!(
        due::open_due(&e.app.state, &e.t.tenant).await.unwrap(),
        0,
        "nothing is due yet"
    );

    // Now the voting window begins; a unit is imported and one is sold right after.
    let conn = e.app.conn(&e.t.tenant).await;
    conn.execute("UPDATE matters SET opens_at = now() WHERE id = $1", &[&id])
        .await
        .unwrap();
    conn.commit().await.unwrap();
    let (s, b) = e
        .import(&[RollRow::flat(
            "1",
            "201",
            "120",
            "后来的业主",
            &common::phone(),
        )])
        .await;
    assert_eq!(s, 200, "{b}");
    // The import's answer says where its units are: this import's one unit, not the roll's four.
    let (_, created) = e
        .app
        .call(
            GET,
            b["units_path"].as_str().unwrap(),
            e.slug(),
            Some(&e.t.admin_token),
            None,
        )
        .await;
    assert_eq!(
        (
            created["total"].as_i64(),
            created["items"][0]["room"].as_str()
        ),
        (Some(1), Some("201")),
        "{created}"
    );
    e.transfer(e.units[2].0, "新业主").await;

    // Before any sweep, readers already see it open.
    let (_, list) = e
        .app
        .call(
            GET,
            "/api/matters?status=open",
            e.slug(),
            Some(&e.t.admin_token),
            None,
        )
        .await;
    assert_eq!(
        list["items"]
            .as_array()
            .map(|i| i.iter().map(|m| m["id"].clone()).collect::<Vec<_>>()),
        Some(vec![json!(id)]),
        "{list}"
    );
    let (_, approved) = e
        .app
        .call(
            GET,
            "/api/matters?status=approved",
            e.slug(),
            Some(&e.t.admin_token),
            None,
        )
        .await;
    assert_eq!(
        approved["total"], 0,
        "no longer listed as approved: {approved}"
    );

    // Two replicas sweep at once: the matter is opened once.
    let (a, b) = tokio::join!(
        due::open_due(&e.app.state, &e.t.tenant),
        due::open_due(&e.app.state, &e.t.tenant)
    );
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    assert_eq!(
        due::open_due(&e.app.state, &e.t.tenant).await.unwrap(),
        0,
        "nothing left to open"
    );

    let conn = e.app.conn(&e.t.tenant).await;
    let row = conn
        .query_one(
            "SELECT status, opened_at = opens_at, (SELECT count(*) FROM ledger_checkpoints WHERE matter_id = m.id AND entries = 0),
                    (SELECT count(*) FROM matter_roll WHERE matter_id = m.id),
                    (SELECT holder_key FROM matter_roll WHERE matter_id = m.id AND unit_id = $2)
               FROM matters m WHERE id = $1",
            &[&id, &e.units[2].0],
        )
        .await
        .unwrap();
    conn.commit().await.unwrap();
    assert_eq!(
        row.get::<_, String>(0),
        "open",
        "opened by the sweep, before anyone read it"
    );
    assert!(
        row.get::<_, bool>(1),
        "opened as of its opening time, not when the sweep ran"
    );
    assert_eq!(row.get::<_, i64>(2), 1, "one opening checkpoint");
    assert_eq!(
        row.get::<_, i64>(3),
        3,
        "the unit imported after the opening time is not on the roll"
    );
    assert_eq!(
        row.get::<_, String>(4),
        format!("roll:业主2|{}", e.units[2].2),
        "the unit sold after the opening time is frozen as its seller's"
    );
    let t = e.tally(m["id"].as_str().unwrap()).await;
    assert_eq!(
        (t["totals"]["heads"].as_i64(), t["totals"]["area"].as_str()),
        (Some(3), Some("270.00")),
        "{t}"
    );
    let v = e.verification(m["id"].as_str().unwrap()).await;
    assert_eq!(v["opening_matches"].as_bool(), Some(true), "{v}");
}

#[tokio::test]
async fn a_developer_unit_sold_after_the_opening_time_is_frozen_as_the_developers() {
    let developer = common::phone();
    let rows = [
        RollRow::unsold("1", "101", "90", "开发商", &developer),
        RollRow::unsold("1", "102", "90", "开发商", &developer),
        RollRow::flat("1", "103", "90", "业主", &common::phone()),
    ];
    let e = Estate::with_roll(&rows, false, false).await;
    let body = json!({
        "estate_id": e.id, "type_name": "公共收益", "title": "是否更换电梯", "content": "", "importance": "normal",
        "opens_at": Utc::now() + Duration::days(1), "closes_at": Utc::now() + Duration::days(8), "law_item": 4
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
    let id = Uuid::parse_str(m["id"].as_str().unwrap()).unwrap();
    let conn = e.app.conn(&e.t.tenant).await;
    conn.execute("UPDATE matters SET opens_at = now() WHERE id = $1", &[&id])
        .await
        .unwrap();
    conn.commit().await.unwrap();
    // Sold from the developer's stock right after the opening time, before the sweep runs.
    e.transfer(e.units[0].0, "首位买家").await;
    assert_eq!(due::open_due(&e.app.state, &e.t.tenant).await.unwrap(), 1);
    let t = e.tally(m["id"].as_str().unwrap()).await;
    assert_eq!(
        (t["totals"]["heads"].as_i64(), t["totals"]["area"].as_str()),
        (Some(2), Some("270.00")),
        "the developer's two units are one person: {t}"
    );
}

#[tokio::test]
async fn a_closed_matter_carries_its_result_and_every_setting_its_count_depends_on() {
    let e = Estate::new(2, false).await;
    let owner = e.owner(0).await;
    let body = json!({
        "estate_id": e.id, "type_name": "公共收益", "title": "是否更换电梯", "content": "", "importance": "normal",
        "opens_at": Utc::now() - Duration::seconds(1), "closes_at": Utc::now() + Duration::days(8), "law_item": 4,
        "channel_rule": "first_wins", "allow_vote_change": true, "invalid_ballots_participate": false
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
    let settings = &m["settings"];
    assert_eq!(
        (
            settings["channel_rule"].as_str(),
            settings["allow_vote_change"].as_bool(),
            settings["invalid_ballots_participate"].as_bool(),
            settings["parking_counts"].as_bool()
        ),
        (Some("first_wins"), Some(true), Some(false), Some(false)),
        "{m}"
    );
    assert!(m["result"].is_null(), "no result before close: {m}");
    let matter = m["id"].as_str().unwrap().to_string();
    assert_eq!(e.cast(&owner, &matter, "agree", "k").await.0, 201);
    let conn = e.app.conn(&e.t.tenant).await;
    conn.execute(
        "UPDATE matters SET closes_at = now() - interval '1 second' WHERE id = $1",
        &[&Uuid::parse_str(&matter).unwrap()],
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
    let (s, seen) = e
        .app
        .call(
            GET,
            &format!("/api/matters/{matter}"),
            e.slug(),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(s, 200, "{seen}");
    let result = &seen["result"];
    assert_eq!(
        (
            result["tally"]["participants"]["heads"].as_i64(),
            result["tally"]["agree"]["area"].as_str()
        ),
        (Some(1), Some("90.00")),
        "{seen}"
    );
    assert_eq!(
        result["tally"]["participation"]["passed"].as_bool(),
        Some(false),
        "one of two owners took part: {seen}"
    );
    assert_eq!(
        result["ledger_root"],
        e.ledger(&matter).await["root"],
        "the declared root is the ledger's"
    );
    assert!(result["closed_at"].is_string(), "{seen}");
}

#[tokio::test]
async fn the_matter_list_searches_titles_and_refuses_filters_it_does_not_have() {
    let e = Estate::new(1, false).await;
    // Created in this order; each closes on a different day and has its own importance.
    for (title, importance, closes_in) in [
        ("更换电梯", "urgent", 9),
        ("外墙维修", "normal", 3),
        ("100%_满意度", "important", 6),
    ] {
        let body = json!({
            "estate_id": e.id, "type_name": "公共收益", "title": title, "content": "", "importance": importance,
            "opens_at": Utc::now() + Duration::days(1), "closes_at": Utc::now() + Duration::days(closes_in), "law_item": 4
        });
        assert_eq!(
            e.app
                .call(
                    POST,
                    "/api/matters",
                    e.slug(),
                    Some(&e.t.admin_token),
                    Some(body)
                )
                .await
                .0,
            201
        );
    }
    let titles = |list: &serde_json::Value| {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["title"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let (s, list) = e
        .app
        .call(
            GET,
            "/api/matters?title=%E7%94%B5%E6%A2%AF",
            e.slug(),
            Some(&e.t.admin_token),
            None,
        )
        .await;
    assert_eq!(
        (s, titles(&list), list["total"].as_i64()),
        (200, vec!["更换电梯".to_string()], Some(1)),
        "{list}"
    );
    let (_, list) = e
        .app
        .call(
            GET,
            "/api/matters?title=%25_",
            e.slug(),
            Some(&e.t.admin_token),
            None,
        )
        .await;
    assert_eq!(
        titles(&list),
        vec!["100%_满意度".to_string()],
        "% and _ are matched as typed"
    );
    // The console's filters and orders: importance, committee, status, deadline.
    let listed = |query: &'static str| {
        let e = &e;
        async move {
            let (s, list) = e
                .app
                .call(
                    GET,
                    &format!("/api/matters?{query}"),
                    e.slug(),
                    Some(&e.t.admin_token),
                    None,
                )
                .await;
            assert_eq!(s, 200, "{query}: {list}");
            titles(&list)
        }
    };
    assert_eq!(listed("importance=urgent").await, ["更换电梯"]);
    assert_eq!(
        listed("sort=closes_asc").await,
        ["外墙维修", "100%_满意度", "更换电梯"]
    );
    assert_eq!(
        listed("sort=closes_desc").await,
        ["更换电梯", "100%_满意度", "外墙维修"]
    );
    assert_eq!(
        listed("").await,
        ["100%_满意度", "外墙维修", "更换电梯"],
        "newest first by default"
    );
    assert_eq!(
        listed("status=approved&sort=closes_asc&page_size=1").await,
        ["外墙维修"]
    );
    assert!(listed("status=closed").await.is_empty());
    let (_, estate) = e
        .app
        .call(
            GET,
            &format!("/api/estates/{}", e.id),
            e.slug(),
            Some(&e.t.admin_token),
            None,
        )
        .await;
    let own = estate["rc_id"].as_str().unwrap().to_string();
    let (_, other) = e
        .app
        .call(
            POST,
            "/api/residents-committees",
            e.slug(),
            Some(&e.t.admin_token),
            Some(json!({"name": "另一个居委会"})),
        )
        .await;
    for (rc, expected) in [(own, 3), (other["id"].as_str().unwrap().to_string(), 0)] {
        let (s, list) = e
            .app
            .call(
                GET,
                &format!("/api/matters?rc_id={rc}"),
                e.slug(),
                Some(&e.t.admin_token),
                None,
            )
            .await;
        assert_eq!((s, list["total"].as_i64()), (200, Some(expected)), "{list}");
    }
    let (s, b) = e
        .app
        .call(
            GET,
            "/api/matters?status=opened",
            e.slug(),
            Some(&e.t.admin_token),
            None,
        )
        .await;
    assert!(
        (400..500).contains(&s) && b["fields"][0]["field"] == "status",
        "a status the spec does not list is refused, naming the field: {s} {b}"
    );
    let (s, b) = e
        .app
        .call(
            GET,
            "/api/matters?keyword=%E7%94%B5%E6%A2%AF",
            e.slug(),
            Some(&e.t.admin_token),
            None,
        )
        .await;
    assert_eq!(
        (s, b["code"].as_str(), b["fields"][0]["field"].as_str()),
        (422, Some("request.validation_failed"), Some("keyword")),
        "{b}"
    );
}
