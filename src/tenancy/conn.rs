//! `TenantConn`: the only way to reach tenant data. It is one transaction on one pooled
//! connection whose search_path is set *locally* (SET LOCAL semantics) to the tenant's schema,
//! so nothing tenant-specific survives the transaction on the pooled connection.

use deadpool_postgres::{Object, Pool};
use tokio_postgres::{types::ToSql, Row};

use super::Tenant;

pub struct TenantConn {
    client: Option<Object>,
    finished: bool,
}

impl TenantConn {
    /// Opens a transaction and scopes it to `tenant`'s schema (taken from the registry).
    pub async fn begin(pool: &Pool, tenant: &Tenant) -> Result<Self, crate::error::ApiError> {
        let client = pool.get().await?;
        // From here on, dropping `conn` before commit/rollback discards the connection.
        let conn = TenantConn { client: Some(client), finished: false };
        conn.batch_execute("BEGIN").await?;
        conn.query_one("SELECT set_config('search_path', $1, true)", &[&tenant.schema]).await?;
        Ok(conn)
    }

    fn client(&self) -> &Object {
        self.client.as_ref().expect("TenantConn used after it finished")
    }

    pub async fn commit(mut self) -> Result<(), tokio_postgres::Error> {
        self.client().batch_execute("COMMIT").await?;
        self.finished = true;
        Ok(())
    }

    pub async fn rollback(mut self) -> Result<(), tokio_postgres::Error> {
        self.client().batch_execute("ROLLBACK").await?;
        self.finished = true;
        Ok(())
    }

    pub async fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, tokio_postgres::Error> {
        self.client().query(sql, params).await
    }
    pub async fn query_one(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, tokio_postgres::Error> {
        self.client().query_one(sql, params).await
    }
    pub async fn query_opt(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>, tokio_postgres::Error> {
        self.client().query_opt(sql, params).await
    }
    pub async fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, tokio_postgres::Error> {
        self.client().execute(sql, params).await
    }
    pub async fn batch_execute(&self, sql: &str) -> Result<(), tokio_postgres::Error> {
        self.client().batch_execute(sql).await
    }
}

impl Drop for TenantConn {
    fn drop(&mut self) {
        if !self.finished {
            // Dropped mid-transaction (error path or a cancelled request). Rather than hand a
            // connection with an open transaction back to the pool, detach and close it: the
            // server rolls the transaction back and no tenant setting can leak to the next user.
            if let Some(client) = self.client.take() {
                drop(Object::take(client));
            }
        }
    }
}
