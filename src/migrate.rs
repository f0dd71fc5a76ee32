//! Schema migrations: the shared `platform` schema and every tenant schema. Migrations are
//! embedded in the binary, applied in order, once, each in its own transaction.

use diesel::{sql_query, sql_types as sql, QueryableByName};

use crate::{
    db::{Conn, Pool},
    tenancy::{conn::TenantConn, Tenant},
};

pub struct Migration {
    pub version: &'static str,
    pub sql: &'static str,
}

macro_rules! migrations {
    ($dir:literal: $($name:literal),* $(,)?) => {
        &[$(Migration { version: $name, sql: include_str!(concat!("../migrations/", $dir, "/", $name, ".sql")) }),*]
    };
}

pub const PLATFORM: &[Migration] = migrations!("platform": "0001_init", "0002_sms_sends", "0003_sms_send_purpose", "0004_sms_send_tenant", "0005_login_throttle", "0006_signing_keys", "0007_transparency_log", "0008_log_nodes", "0009_log_results");
pub const TENANT: &[Migration] = migrations!("tenant": "0001_init", "0002_housing", "0003_voting", "0004_ledger_checkpoints", "0005_elections", "0006_owners_and_rounds", "0007_ballot_entry", "0008_sealed_ledger", "0009_frozen_roll_inserts", "0010_reinstated_marks", "0011_signed_checkpoints");

/// Serialises concurrent migrators (several app instances or test processes) across the cluster.
const MIGRATION_LOCK: i64 = 0x5a4d_4701;

#[derive(QueryableByName)]
struct Applied {
    #[diesel(sql_type = sql::Bool)]
    applied: bool,
}

/// Whether `version` is recorded in `table` (`platform.schema_migrations`, or a tenant's own).
async fn applied(conn: &Conn, table: &str, version: &str) -> anyhow::Result<bool> {
    let row: Applied = conn
        .first(
            sql_query(format!(
                "SELECT EXISTS (SELECT 1 FROM {table} WHERE version = $1) AS applied"
            ))
            .bind::<sql::Text, _>(version),
        )
        .await?;
    Ok(row.applied)
}

async fn record(conn: &Conn, table: &str, version: &str) -> anyhow::Result<()> {
    conn.execute(
        sql_query(format!("INSERT INTO {table} (version) VALUES ($1)"))
            .bind::<sql::Text, _>(version),
    )
    .await?;
    Ok(())
}

async fn lock(conn: &Conn) -> anyhow::Result<()> {
    conn.execute(
        sql_query("SELECT pg_advisory_xact_lock($1)").bind::<sql::BigInt, _>(MIGRATION_LOCK),
    )
    .await?;
    Ok(())
}

/// Runs every tenant migration's SQL, without bookkeeping, in the schema `conn`'s search path
/// names (the schema printer's scratch schema).
pub async fn run_tenant_sql(conn: &Conn) -> anyhow::Result<()> {
    for m in TENANT {
        conn.batch_execute(m.sql).await?;
    }
    Ok(())
}

pub async fn migrate_platform(pool: &Pool) -> anyhow::Result<()> {
    let tx = Conn::begin(pool)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    lock(&tx).await?;
    tx.batch_execute(
        "CREATE SCHEMA IF NOT EXISTS platform;
         CREATE TABLE IF NOT EXISTS platform.schema_migrations (
             version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await?;
    for m in PLATFORM {
        if !applied(&tx, "platform.schema_migrations", m.version).await? {
            tx.batch_execute(m.sql)
                .await
                .map_err(|e| anyhow::anyhow!("platform migration {}: {e}", m.version))?;
            record(&tx, "platform.schema_migrations", m.version).await?;
            tracing::info!(version = m.version, "applied platform migration");
        }
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

/// Applies pending tenant migrations inside the caller's transaction (provisioning creates the
/// schema and migrates it in one transaction, so a failed onboarding leaves nothing behind).
pub async fn apply_tenant(conn: &TenantConn, tenant: &Tenant) -> anyhow::Result<()> {
    lock(conn).await?;
    conn.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await?;
    for m in TENANT {
        if !applied(conn, "schema_migrations", m.version).await? {
            conn.batch_execute(m.sql).await.map_err(|e| {
                anyhow::anyhow!("tenant {} migration {}: {e}", tenant.slug, m.version)
            })?;
            record(conn, "schema_migrations", m.version).await?;
            tracing::info!(tenant = %tenant.slug, version = m.version, "applied tenant migration");
        }
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
    use super::*;

    #[test]
    fn tenant_migrations_never_qualify_or_switch_schemas() {
        for m in TENANT {
            let sql: String = m
                .sql
                .lines()
                .map(|l| l.split("--").next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n")
                .to_lowercase();
            assert!(
                !sql.contains("search_path"),
                "{} sets search_path",
                m.version
            );
            assert!(
                !sql.contains("platform."),
                "{} reaches into platform",
                m.version
            );
            assert!(
                !sql.contains("create type"),
                "{} creates a type (diesel caches OIDs)",
                m.version
            );
        }
    }
}
