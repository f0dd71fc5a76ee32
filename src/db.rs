//! The connection pool, and creating the database on first start.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

pub async fn connect(url: &str, max_size: usize) -> anyhow::Result<Pool> {
    connect_with(url, max_size, None).await
}

/// The service's pool: every statement is cancelled by PostgreSQL after `statement_timeout_ms`
/// (0: no limit), so a stuck query frees its connection instead of holding it forever.
pub async fn connect_with(
    url: &str,
    max_size: usize,
    statement_timeout_ms: Option<u64>,
) -> anyhow::Result<Pool> {
    ensure_database(url).await?;
    let mut pg: tokio_postgres::Config = url.parse()?;
    if let Some(ms) = statement_timeout_ms {
        let options = format!(
            "{} -c statement_timeout={ms}",
            pg.get_options().unwrap_or_default()
        );
        pg.options(options.trim());
    }
    let manager = Manager::from_config(
        pg,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    // Waiting for a connection is bounded: a saturated pool answers 503 instead of hanging.
    Ok(Pool::builder(manager)
        .max_size(max_size)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .wait_timeout(Some(std::time::Duration::from_secs(5)))
        .create_timeout(Some(std::time::Duration::from_secs(5)))
        .build()?)
}

/// Creates the configured database if it does not exist, connecting to `postgres` to do so.
async fn ensure_database(url: &str) -> anyhow::Result<()> {
    let target: tokio_postgres::Config = url.parse()?;
    let Some(name) = target.get_dbname().map(str::to_owned) else {
        return Ok(());
    };
    let mut admin = target.clone();
    admin.dbname("postgres");
    let (client, conn) = admin
        .connect(NoTls)
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach PostgreSQL: {e}"))?;
    let task = tokio::spawn(conn);
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await?
        .is_some();
    if !exists {
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        match client
            .batch_execute(&format!("CREATE DATABASE {quoted}"))
            .await
        {
            Ok(()) => tracing::info!(database = %name, "created database"),
            // Another process created it between our check and our create.
            Err(e)
                if e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE)
                    || e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {}
            Err(e) => return Err(e.into()),
        }
    }
    drop(client);
    let _ = task.await;
    Ok(())
}

/// The few query methods shared code needs, over a tenant transaction or a platform one.
#[async_trait::async_trait]
pub trait Db: Send + Sync {
    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error>;
    async fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Option<tokio_postgres::Row>, tokio_postgres::Error>;
    async fn execute(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<u64, tokio_postgres::Error>;
}

#[async_trait::async_trait]
impl Db for crate::tenancy::conn::TenantConn {
    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
        crate::tenancy::conn::TenantConn::query(self, sql, params).await
    }
    async fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Option<tokio_postgres::Row>, tokio_postgres::Error> {
        crate::tenancy::conn::TenantConn::query_opt(self, sql, params).await
    }
    async fn execute(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<u64, tokio_postgres::Error> {
        crate::tenancy::conn::TenantConn::execute(self, sql, params).await
    }
}

#[async_trait::async_trait]
impl Db for deadpool_postgres::Transaction<'_> {
    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
        tokio_postgres::Transaction::query(self, sql, params).await
    }
    async fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Option<tokio_postgres::Row>, tokio_postgres::Error> {
        tokio_postgres::Transaction::query_opt(self, sql, params).await
    }
    async fn execute(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<u64, tokio_postgres::Error> {
        tokio_postgres::Transaction::execute(self, sql, params).await
    }
}
