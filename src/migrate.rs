//! Schema migrations: the shared `platform` schema and every tenant schema, with
//! diesel_migrations' harness. Both sets are embedded in the binary by `build.rs`
//! (`migrations/platform/`, `migrations/tenant/`, one folder per migration holding its
//! `up.sql`, the folder's number its version); each schema records what it has applied in its
//! own `__diesel_schema_migrations`, and a run applies what is pending in one transaction, under
//! one advisory lock for the whole cluster. A migration is sent one statement at a time (Citus
//! refuses a string of several DDL statements).

use std::fmt;

use diesel::{
    connection::BoxableConnection,
    migration::{
        self, Migration, MigrationMetadata, MigrationName, MigrationSource, MigrationVersion,
    },
    pg::Pg,
    sql_query, sql_types as sql, QueryableByName,
};
use diesel_migrations::MigrationHarness;

use crate::{
    db::{Conn, Pool},
    tenancy::{conn::TenantConn, Tenant},
};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/migrations.rs"));
}

/// Every platform migration: its folder's name and its SQL, in order.
pub const PLATFORM_SQL: &[(&str, &str)] = embedded::PLATFORM;
/// Every tenant migration: its folder's name and its SQL, in order.
pub const TENANT_SQL: &[(&str, &str)] = embedded::TENANT;

/// One embedded set, as diesel_migrations' harness reads it.
#[derive(Clone, Copy)]
pub struct Set(&'static [(&'static str, &'static str)]);

pub const PLATFORM: Set = Set(PLATFORM_SQL);
pub const TENANT: Set = Set(TENANT_SQL);

impl MigrationSource<Pg> for Set {
    fn migrations(&self) -> migration::Result<Vec<Box<dyn Migration<Pg>>>> {
        Ok(self
            .0
            .iter()
            .map(|&(name, up)| {
                Box::new(Step {
                    name: Name(name),
                    up,
                }) as Box<dyn Migration<Pg>>
            })
            .collect())
    }
}

/// A migration folder's name (`0003_voting`); its version is the number before the first `_`.
struct Name(&'static str);

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl MigrationName for Name {
    fn version(&self) -> MigrationVersion<'_> {
        self.0.split('_').next().unwrap_or(self.0).into()
    }
}

struct Step {
    name: Name,
    up: &'static str,
}

/// Every migration runs in the harness's transaction (a savepoint in the caller's).
struct InTransaction;

impl MigrationMetadata for InTransaction {}

impl Migration<Pg> for Step {
    fn run(&self, conn: &mut dyn BoxableConnection<Pg>) -> migration::Result<()> {
        for statement in crate::sql_statements::statements(self.up) {
            conn.batch_execute(statement)
                .map_err(|e| format!("{}: {e}\n{statement}", self.name))?;
        }
        Ok(())
    }

    fn revert(&self, _: &mut dyn BoxableConnection<Pg>) -> migration::Result<()> {
        Err(format!(
            "{} has no down migration: schemas only move forward",
            self.name
        )
        .into())
    }

    fn metadata(&self) -> &dyn MigrationMetadata {
        &InTransaction
    }

    fn name(&self) -> &dyn MigrationName {
        &self.name
    }
}

/// Serialises concurrent migrators (several app instances or test processes) across the cluster.
const MIGRATION_LOCK: i64 = 0x5a4d_4701;

async fn lock(conn: &Conn) -> anyhow::Result<()> {
    conn.execute(
        sql_query("SELECT pg_advisory_xact_lock($1)").bind::<sql::BigInt, _>(MIGRATION_LOCK),
    )
    .await?;
    Ok(())
}

#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = sql::Bool)]
    found: bool,
}

/// Schemas migrated before diesel_migrations kept their record in `schema_migrations`
/// (`0003_voting`, with `applied_at`). On the first run, that record is copied into diesel's
/// table (version `0003`, `run_on`), in the schema the search path names, so nothing is
/// applied twice. The old table stays as it was: a release from before can still start on the
/// schema (it finds its own record) should an upgrade be rolled back.
async fn adopt_old_record(conn: &Conn) -> anyhow::Result<()> {
    let first_run: Found = conn
        .first(sql_query(
            "SELECT to_regclass('schema_migrations') IS NOT NULL
                AND to_regclass('__diesel_schema_migrations') IS NULL AS found",
        ))
        .await?;
    if first_run.found {
        conn.batch_execute(diesel::migration::CREATE_MIGRATIONS_TABLE)
            .await?;
        conn.batch_execute(
            "INSERT INTO __diesel_schema_migrations (version, run_on)
                  SELECT split_part(version, '_', 1), applied_at FROM schema_migrations",
        )
        .await?;
    }
    Ok(())
}

/// Applies what is pending of `set` in the schema `conn`'s search path names, inside `conn`'s
/// transaction (each migration under a savepoint); the versions applied.
async fn run(conn: &Conn, set: Set) -> anyhow::Result<Vec<String>> {
    adopt_old_record(conn).await?;
    conn.run_blocking(move |c| {
        c.run_pending_migrations(set)
            .map(|done| done.iter().map(ToString::to_string).collect())
            .map_err(|e| anyhow::anyhow!("{e}"))
    })
    .await
}

/// Every tenant migration, recorded, in the schema `conn`'s search path names (a tenant's, or
/// the schema printer's scratch schema).
pub async fn run_tenant_migrations(conn: &Conn) -> anyhow::Result<Vec<String>> {
    run(conn, TENANT).await
}

pub async fn migrate_platform(pool: &Pool) -> anyhow::Result<()> {
    let tx = Conn::begin(pool)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    lock(&tx).await?;
    // The platform's migrations name their schema; its record lives there too. On Citus with
    // schema-based sharding on, a schema created (or even re-declared with IF NOT EXISTS) is
    // distributed as a tenant would be: the platform stays an ordinary schema of the
    // coordinator, so sharding is switched off for this transaction (a harmless placeholder
    // setting on PostgreSQL without Citus).
    tx.batch_execute("SET LOCAL citus.enable_schema_based_sharding TO off")
        .await?;
    tx.batch_execute("CREATE SCHEMA IF NOT EXISTS platform")
        .await?;
    tx.batch_execute("SET LOCAL search_path TO platform")
        .await?;
    for version in run(&tx, PLATFORM)
        .await
        .map_err(|e| anyhow::anyhow!("platform migrations: {e}"))?
    {
        tracing::info!(%version, "applied platform migration");
    }
    tx.commit().await?;
    Ok(())
}

/// Brings one existing tenant schema to the current version.
pub async fn migrate_tenant(pool: &Pool, tenant: &Tenant) -> anyhow::Result<()> {
    let conn = TenantConn::begin(pool, tenant).await?;
    apply_tenant(&conn, tenant).await?;
    conn.commit().await?;
    Ok(())
}

/// Creates the tenant's schema and migrates it, inside the caller's transaction. The migration
/// lock comes first: on Citus, creating a schema takes locks on the workers, and two street
/// offices onboarded at once would each hold those while waiting on the other's lock (a
/// distributed deadlock Citus ends by cancelling one).
pub async fn create_tenant_schema(conn: &TenantConn, tenant: &Tenant) -> anyhow::Result<()> {
    lock(conn).await?;
    // The name passed the registry's CHECK (`^t_[a-z][a-z0-9_]+$`), so quoting it is safe.
    conn.batch_execute(&format!("CREATE SCHEMA \"{}\"", tenant.schema))
        .await?;
    apply_tenant(conn, tenant).await
}

/// Applies pending tenant migrations inside the caller's transaction (provisioning creates the
/// schema and migrates it in one transaction, so a failed onboarding leaves nothing behind).
pub async fn apply_tenant(conn: &TenantConn, tenant: &Tenant) -> anyhow::Result<()> {
    lock(conn).await?;
    // On Citus a tenant schema lives whole on one worker, so its triggers (append-only logs,
    // the frozen roll, signed checkpoints) fire beside every row they read: what Citus calls
    // unsafe (a trigger reaching another shard) cannot happen. Citus checks this only when a
    // trigger is created; on PostgreSQL without Citus this is a placeholder setting.
    conn.batch_execute("SET LOCAL citus.enable_unsafe_triggers TO on")
        .await?;
    for version in run(conn, TENANT)
        .await
        .map_err(|e| anyhow::anyhow!("tenant {} migrations: {e}", tenant.slug))?
    {
        tracing::info!(tenant = %tenant.slug, %version, "applied tenant migration");
    }
    Ok(())
}

/// Every tenant in the registry, one after another.
pub async fn migrate_all(pool: &Pool) -> anyhow::Result<usize> {
    migrate_platform(pool).await?;
    let tenants = crate::tenancy::list(pool)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for t in &tenants {
        migrate_tenant(pool, t).await?;
    }
    Ok(tenants.len())
}

#[cfg(test)]
mod tests {
    #[test]
    fn tenant_migrations_never_qualify_or_switch_schemas() {
        let mut seen = 0;
        for (version, up) in super::TENANT_SQL {
            seen += 1;
            let sql: String = up
                .lines()
                .map(|l| l.split("--").next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n")
                .to_lowercase();
            assert!(!sql.contains("search_path"), "{} sets search_path", version);
            assert!(
                !sql.contains("platform."),
                "{} reaches into platform",
                version
            );
            assert!(
                !sql.contains("create type"),
                "{} creates a type (diesel caches OIDs)",
                version
            );
        }
        assert!(seen >= 11, "every migration is embedded ({seen})");
    }
}
