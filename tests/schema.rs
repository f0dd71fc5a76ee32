//! The typed schema is generated: `src/schema/` must be exactly what the migrations give, as
//! `zmg print-schema` reads it from the catalog, so no query compiles against a column the
//! database does not have.

mod common;

use zhimaguan::schema_print::{print, Which};

#[tokio::test]
async fn the_committed_schema_is_what_the_migrations_give() {
    let config = common::test_config();
    let pool = zhimaguan::db::connect(&config.database_url, 2)
        .await
        .unwrap();
    for (which, file) in [(Which::Platform, "platform"), (Which::Tenant, "tenant")] {
        let generated = print(&pool, which).await.unwrap();
        let path = format!("{}/src/schema/{file}.rs", env!("CARGO_MANIFEST_DIR"));
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            generated == committed,
            "src/schema/{file}.rs is stale; refresh it with:\n\n    cargo run -q -- print-schema {file} > src/schema/{file}.rs\n"
        );
    }
}

#[tokio::test]
async fn printing_a_tenant_schema_leaves_nothing_behind() {
    let config = common::test_config();
    let pool = zhimaguan::db::connect(&config.database_url, 2)
        .await
        .unwrap();
    let printed = print(&pool, Which::Tenant).await.unwrap();
    assert!(printed.contains("    ballots (id) {"), "{printed}");
    let client = common::sql::raw_pool(&config.database_url)
        .get()
        .await
        .unwrap();
    let scratch: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'zmg_print_schema'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(scratch, 0, "the scratch schema was rolled back");
}
