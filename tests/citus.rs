//! The service on Citus with schema-based sharding: street offices onboarded through the
//! platform each live whole on one worker while the platform stays the coordinator's own; a
//! street office that predates the cluster, distributed later, keeps working; a street office
//! moved to the other worker in the middle of a vote loses and doubles no ballot.
//!
//! Run by scripts/citus-test.sh only, against the coordinator of the cluster it starts (it
//! exports the workers' ports and the demo street office's admin password); the ordinary suite
//! leaves this binary out (.config/nextest.toml).

mod common;

use std::collections::BTreeSet;

use chrono::{Duration, Utc};
use common::{estate::Estate, unique, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

const GET: Method = Method::GET;
const POST: Method = Method::POST;

/// The workers' ports, as scripts/citus-test.sh exports them.
fn workers() -> Vec<i32> {
    std::env::var("ZMG_TEST_CITUS_WORKERS")
        .expect("ZMG_TEST_CITUS_WORKERS is not set: scripts/citus-test.sh runs these tests")
        .split(',')
        .map(|p| p.parse().expect("a worker's port"))
        .collect()
}

/// The ports of the nodes holding the schema's tables (none while it is not distributed).
async fn placement(app: &TestApp, schema: &str) -> Vec<i32> {
    let client = app.raw.get().await.unwrap();
    client
        .query(
            "SELECT DISTINCT nodeport FROM citus_shards
              WHERE split_part(table_name::text, '.', 1) = $1 ORDER BY 1",
            &[&schema],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The one worker that holds the whole schema.
async fn worker_of(app: &TestApp, schema: &str) -> i32 {
    let ports = placement(app, schema).await;
    assert_eq!(
        ports.len(),
        1,
        "{schema} lives whole on one node: {ports:?}"
    );
    assert!(
        workers().contains(&ports[0]),
        "{schema} lives on a worker, not the coordinator: {ports:?}"
    );
    ports[0]
}

#[tokio::test]
async fn street_offices_onboarded_through_the_platform_each_live_whole_on_one_worker() {
    let app = TestApp::start().await;
    let platform = app.platform_token().await;
    let mut used = BTreeSet::new();
    for _ in 0..4 {
        let slug = unique("c");
        let (s, b) = app
            .call(
                POST,
                "/api/platform/tenants",
                None,
                Some(&platform),
                Some(json!({"slug": slug, "name": "分片街道"})),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        let password = b["admin"]["initial_password"].as_str().unwrap();
        app.staff_login(&slug, "admin", password).await;
        used.insert(worker_of(&app, &format!("t_{slug}")).await);
    }
    assert_eq!(used.len(), 2, "new street offices spread over both workers");

    let client = app.raw.get().await.unwrap();
    let platform_distributed: i64 = client
        .query_one(
            "SELECT (SELECT count(*) FROM citus_schemas WHERE schema_name::text = 'platform')
                  + (SELECT count(*) FROM pg_dist_partition WHERE logicalrelid::text LIKE 'platform.%')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        platform_distributed, 0,
        "the platform stays an ordinary schema of the coordinator"
    );
}

#[tokio::test]
async fn the_street_office_that_predates_the_cluster_votes_after_its_distribution() {
    let app = TestApp::start().await;
    worker_of(&app, "t_demo").await;
    let password = std::env::var("ZMG_TEST_CITUS_DEMO_ADMIN")
        .expect("scripts/citus-test.sh exports the demo admin's password");
    let admin = app.staff_login("demo", "admin", &password).await;
    let slug = Some("demo");
    let (_, estates) = app
        .call(GET, "/api/estates", slug, Some(&admin), None)
        .await;
    // 芝麻花园, whose roll the demo generated with its first 40 owners verified.
    let estate = estates["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "芝麻花园")
        .unwrap_or_else(|| panic!("the demo estate: {estates}"))["id"]
        .clone();
    let body = json!({
        "estate_id": estate, "type_name": "公共收益", "title": "是否粉刷楼道", "content": "详见公告",
        "importance": "important", "law_item": 4,
        "opens_at": Utc::now() - Duration::seconds(1), "closes_at": Utc::now() + Duration::days(7)
    });
    let (s, m) = app
        .call(POST, "/api/matters", slug, Some(&admin), Some(body))
        .await;
    assert_eq!((s, m["status"].as_str()), (201, Some("open")), "{m}");
    let matter = m["id"].as_str().unwrap();
    // The demo's owners, imported and verified before the distribution, vote with their units.
    for (i, choice) in [(1, "agree"), (2, "disagree")] {
        let (s, b) = app
            .call(
                POST,
                "/api/auth/owner/login",
                slug,
                None,
                Some(json!({"phone": format!("137{i:08}"), "password": "Demo1234", "accept_agreement": true})),
            )
            .await;
        assert_eq!(s, 200, "{b}");
        let (s, b) = app
            .call(
                POST,
                &format!("/api/matters/{matter}/ballots"),
                slug,
                b["token"].as_str(),
                Some(json!({"choice": choice, "idempotency_key": "demo"})),
            )
            .await;
        assert_eq!(s, 201, "{b}");
    }
    let (_, tally) = app
        .call(
            GET,
            &format!("/api/matters/{matter}/tally"),
            slug,
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(tally["participants"]["heads"], 2, "{tally}");
}

/// The operator's procedure for a street office that was onboarded before sharding was on
/// (docs/operations.md): its rows are copied as they are, its triggers not fired again.
async fn distribute(app: &TestApp, schema: &str) {
    let mut client = app.raw.get().await.unwrap();
    let tx = client.transaction().await.unwrap();
    tx.batch_execute(
        "SET LOCAL citus.propagate_set_commands TO 'local';
         SET LOCAL session_replication_role TO replica;
         SET LOCAL citus.enable_unsafe_triggers TO on",
    )
    .await
    .unwrap();
    tx.execute(
        "SELECT citus_schema_distribute($1::text::regnamespace)",
        &[&schema],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn a_street_office_distributed_in_the_middle_of_a_vote_keeps_its_ledger() {
    let e = Estate::new(3, false).await;
    let schema = e.t.tenant.schema.clone();
    let client = e.app.raw.get().await.unwrap();
    client
        .execute(
            "SELECT citus_schema_undistribute($1::text::regnamespace)",
            &[&schema],
        )
        .await
        .unwrap();
    assert!(placement(&e.app, &schema).await.is_empty());

    // On the coordinator, as before the cluster: a vote opens (its roll frozen under the
    // guards), one owner votes and a checkpoint seals the ledger so far.
    let (a, b) = (e.owner(0).await, e.owner(1).await);
    let (_, m) = e.matter(&e.t.admin_token, 4).await;
    let matter = m["id"].as_str().unwrap().to_string();
    assert_eq!(e.cast(&a, &matter, "agree", "a").await.0, 201);
    zhimaguan::voting::checkpointer::seal_tenant(&e.app.state, &e.t.tenant)
        .await
        .unwrap();

    distribute(&e.app, &schema).await;
    worker_of(&e.app, &schema).await;
    assert_eq!(e.cast(&b, &matter, "disagree", "b").await.0, 201);
    close_and_verify(&e, &matter, 2).await;
}

#[tokio::test]
async fn a_street_office_moved_to_the_other_worker_mid_vote_keeps_every_ballot_exactly_once() {
    const OWNERS: usize = 24;
    let e = Estate::new(OWNERS, false).await;
    let mut owners = Vec::new();
    for i in 0..OWNERS {
        owners.push(e.owner(i).await);
    }
    let (_, m) = e.matter(&e.t.admin_token, 4).await;
    let matter = m["id"].as_str().unwrap().to_string();
    for (i, owner) in owners.iter().enumerate().take(4) {
        assert_eq!(
            e.cast(owner, &matter, "agree", &format!("k{i}")).await.0,
            201
        );
    }
    let from = worker_of(&e.app, &e.t.tenant.schema).await;
    let to = workers().into_iter().find(|w| *w != from).unwrap();

    // The move and a burst of ballots at once: every other owner votes, each ballot sent twice
    // at the same moment under one key (a phone retrying), and again while an answer is a
    // failure the owner would retry (the service unavailable for a moment).
    let schema = e.t.tenant.schema.clone();
    let mover = {
        let app = e.app.clone();
        tokio::spawn(async move {
            let client = app.raw.get().await.unwrap();
            client
                .execute(
                    "SELECT citus_schema_move($1::text::regnamespace, '127.0.0.1'::text, $2::int)",
                    &[&schema, &to],
                )
                .await
                .unwrap();
        })
    };
    let burst = owners.iter().enumerate().skip(4).map(|(i, owner)| {
        let (e, matter, mover) = (&e, &matter, &mover);
        let choice = if i % 3 == 0 { "disagree" } else { "agree" };
        async move {
            let key = format!("k{i}");
            loop {
                let (first, second) = tokio::join!(
                    e.cast(owner, matter, choice, &key),
                    e.cast(owner, matter, choice, &key)
                );
                let answered: Vec<&(u16, Value)> = [&first, &second]
                    .into_iter()
                    .filter(|(s, _)| *s == 200 || *s == 201)
                    .collect();
                if answered.len() == 2 {
                    assert_eq!(
                        first.1["ballot_id"], second.1["ballot_id"],
                        "one ballot for one key"
                    );
                }
                if let Some((_, receipt)) = answered.first() {
                    let id = receipt["ballot_id"].as_str().unwrap().to_string();
                    return (id, !mover.is_finished());
                }
                assert!(
                    first.0 >= 500 && second.0 >= 500,
                    "only a failure is retried: {first:?} {second:?}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    });
    let answers = futures_util::future::join_all(burst).await;
    let during_the_move = answers.iter().filter(|(_, moving)| *moving).count();
    assert!(
        during_the_move > 0,
        "some ballots were acknowledged while the street office was moving"
    );
    let acknowledged: BTreeSet<String> = answers.into_iter().map(|(id, _)| id).collect();
    mover.await.unwrap();
    assert_eq!(worker_of(&e.app, &e.t.tenant.schema).await, to, "moved");
    assert_eq!(acknowledged.len(), OWNERS - 4);

    let conn = e.app.conn(&e.t.tenant).await;
    let matter_id = Uuid::parse_str(&matter).unwrap();
    let stored = conn
        .query(
            "SELECT id::text FROM ballots WHERE matter_id = $1",
            &[&matter_id],
        )
        .await
        .unwrap();
    let stored: Vec<String> = stored.iter().map(|r| r.get(0)).collect();
    assert_eq!(stored.len(), OWNERS, "one ballot per owner, none lost");
    assert!(
        acknowledged.iter().all(|id| stored.contains(id)),
        "every acknowledged ballot is stored"
    );
    drop(conn);
    close_and_verify(&e, &matter, OWNERS).await;
}

/// Closes the matter once its window has passed, and checks that its ledger verifies online
/// and offline with `heads` ballots counted.
async fn close_and_verify(e: &Estate, matter: &str, heads: usize) {
    e.end_window(matter).await;
    let (s, closed) = e.close(matter).await;
    assert_eq!(
        (s, closed["status"].as_str()),
        (200, Some("closed")),
        "{closed}"
    );
    assert_eq!(e.tally(matter).await["participants"]["heads"], heads);
    let v = e.verification(matter).await;
    assert_eq!(
        (
            v["root_matches"].as_bool(),
            v["tally_matches"].as_bool(),
            v["intact"].as_bool()
        ),
        (Some(true), Some(true), Some(true)),
        "{v}"
    );
    let ledger = e.ledger(matter).await;
    let (ok, report) = e.verify_offline(&ledger).await;
    assert!(ok, "{report}");
}
