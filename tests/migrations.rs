//! Migrations through diesel_migrations: each schema keeps its own record, a run applies only
//! what is pending, and a schema migrated by a release before diesel moves its record over
//! without re-running anything.

mod common;

use common::TestApp;

/// The versions `migrations/tenant/` holds (each folder's number), in order.
fn shipped_versions() -> Vec<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/tenant");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

async fn recorded(app: &TestApp, schema: &str) -> Vec<String> {
    let client = app.raw.get().await.unwrap();
    client
        .query(
            &format!("SELECT version::text FROM \"{schema}\".__diesel_schema_migrations ORDER BY version"),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test]
async fn a_new_street_office_records_every_migration_in_its_own_schema() {
    let app = TestApp::start().await;
    let t = app.tenant().await;
    let versions: Vec<String> = shipped_versions()
        .iter()
        .map(|n| n.split('_').next().unwrap().to_string())
        .collect();
    assert_eq!(recorded(&app, &t.tenant.schema).await, versions);
    // Running again applies nothing and changes nothing.
    zhimaguan::migrate::migrate_tenant(&app.state.pool, &t.tenant)
        .await
        .unwrap();
    assert_eq!(recorded(&app, &t.tenant.schema).await, versions);
    assert!(recorded(&app, "platform").await.len() >= 9);
}

#[tokio::test]
async fn a_schema_migrated_before_diesel_keeps_its_history_and_reruns_nothing() {
    let app = TestApp::start().await;
    let t = app.tenant().await;
    let schema = &t.tenant.schema;
    let client = app.raw.get().await.unwrap();
    // What a release before diesel left behind: its own record of every migration by name.
    client
        .batch_execute(&format!(
            "CREATE TABLE \"{schema}\".schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());
             DROP TABLE \"{schema}\".__diesel_schema_migrations"
        ))
        .await
        .unwrap();
    for name in shipped_versions() {
        client
            .execute(
                &format!("INSERT INTO \"{schema}\".schema_migrations (version, applied_at) VALUES ($1, '2026-01-02 03:04:05+08')"),
                &[&name],
            )
            .await
            .unwrap();
    }

    // Every migration's first statement creates something that exists: re-running one fails.
    zhimaguan::migrate::migrate_tenant(&app.state.pool, &t.tenant)
        .await
        .expect("the old record is adopted and nothing re-runs");

    let versions: Vec<String> = shipped_versions()
        .iter()
        .map(|n| n.split('_').next().unwrap().to_string())
        .collect();
    assert_eq!(recorded(&app, schema).await, versions);
    // The old record stays as it was, so the release before can still start on this schema.
    let old: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM \"{schema}\".schema_migrations"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(old, shipped_versions().len() as i64);
    let run_on: String = client
        .query_one(
            &format!("SELECT min(run_on)::text FROM \"{schema}\".__diesel_schema_migrations"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        run_on.starts_with("2026-01-0"),
        "when each ran is kept: {run_on}"
    );
    // The street office still works: its admin logs in.
    let (status, _) = app
        .call(
            reqwest::Method::POST,
            "/api/auth/staff/login",
            Some(&t.tenant.slug),
            None,
            Some(serde_json::json!({"username": "admin", "password": t.admin_password})),
        )
        .await;
    assert_eq!(status, 200);
}
