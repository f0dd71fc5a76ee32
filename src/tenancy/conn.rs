//! `TenantConn`: the only way to reach tenant data. It is one transaction on one pooled
//! connection whose search_path is set *locally* (SET LOCAL semantics) to the tenant's schema,
//! so nothing tenant-specific survives the transaction on the pooled connection.

use std::{
    future::Future,
    sync::atomic::{AtomicBool, Ordering},
};

use deadpool_postgres::{Object, Pool};
use tokio_postgres::{types::ToSql, Row};

use super::Tenant;

pub struct TenantConn {
    client: Option<Object>,
    tenant: Tenant,
    finished: bool,
    /// A statement has been sent and its answer not yet read: if we are dropped now (the
    /// request was cancelled), the connection's state is unknown.
    in_flight: AtomicBool,
}

impl TenantConn {
    /// Opens a transaction and scopes it to `tenant`'s schema (taken from the registry).
    pub async fn begin(pool: &Pool, tenant: &Tenant) -> Result<Self, crate::error::ApiError> {
        Self::begin_as(pool, tenant, "BEGIN").await
    }

    /// A read-only transaction whose every statement sees the same snapshot: for reads that
    /// must agree with each other (a ledger, its log proof and the live tally) while ballots,
    /// checkpoints and the log's sequencer commit around them.
    pub async fn begin_snapshot(
        pool: &Pool,
        tenant: &Tenant,
    ) -> Result<Self, crate::error::ApiError> {
        Self::begin_as(
            pool,
            tenant,
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        )
        .await
    }

    async fn begin_as(
        pool: &Pool,
        tenant: &Tenant,
        begin: &'static str,
    ) -> Result<Self, crate::error::ApiError> {
        let client = pool.get().await?;
        // From here on, dropping `conn` before commit/rollback rolls back (see Drop).
        let conn = TenantConn {
            client: Some(client),
            tenant: tenant.clone(),
            finished: false,
            in_flight: AtomicBool::new(false),
        };
        conn.batch_execute(begin).await?;
        conn.query_one(
            "SELECT set_config('search_path', $1, true)",
            &[&tenant.schema],
        )
        .await?;
        Ok(conn)
    }

    /// The tenant this transaction is scoped to.
    pub fn tenant(&self) -> &Tenant {
        &self.tenant
    }

    fn client(&self) -> &Object {
        self.client
            .as_ref()
            .expect("TenantConn used after it finished")
    }

    async fn tracked<T>(&self, fut: impl Future<Output = T>) -> T {
        self.in_flight.store(true, Ordering::Release);
        let out = fut.await;
        self.in_flight.store(false, Ordering::Release);
        out
    }

    pub async fn commit(mut self) -> Result<(), tokio_postgres::Error> {
        self.tracked(self.client().batch_execute("COMMIT")).await?;
        self.finished = true;
        Ok(())
    }

    pub async fn rollback(mut self) -> Result<(), tokio_postgres::Error> {
        self.tracked(self.client().batch_execute("ROLLBACK"))
            .await?;
        self.finished = true;
        Ok(())
    }

    pub async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        self.tracked(self.client().query(sql, params)).await
    }
    pub async fn query_one(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, tokio_postgres::Error> {
        self.tracked(self.client().query_one(sql, params)).await
    }
    pub async fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, tokio_postgres::Error> {
        self.tracked(self.client().query_opt(sql, params)).await
    }
    /// Whether `sql` returns any row. Use it for every "is there one?" question: `query_opt`
    /// fails when a query that looked unique (one holding per owner and estate, one round per
    /// group) returns several rows.
    pub async fn exists(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<bool, tokio_postgres::Error> {
        Ok(self
            .query_one(&format!("SELECT EXISTS ({sql})"), params)
            .await?
            .get(0))
    }
    pub async fn execute(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, tokio_postgres::Error> {
        self.tracked(self.client().execute(sql, params)).await
    }
    pub async fn batch_execute(&self, sql: &str) -> Result<(), tokio_postgres::Error> {
        self.tracked(self.client().batch_execute(sql)).await
    }
}

impl Drop for TenantConn {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let Some(client) = self.client.take() else {
            return;
        };
        let runtime = tokio::runtime::Handle::try_current();
        match runtime {
            // An error path left the transaction open between statements: roll it back, then
            // the connection returns to the pool clean (search_path was local to the transaction).
            Ok(handle) if !self.in_flight.load(Ordering::Acquire) => {
                handle.spawn(async move {
                    if client.batch_execute("ROLLBACK").await.is_err() {
                        drop(Object::take(client));
                    }
                });
            }
            // Cancelled mid-statement: the connection's state is unknown, so it is closed
            // instead of reused, after asking the server to stop the statement (it would
            // otherwise run on, holding its locks, until it next talks to the socket).
            Ok(handle) => {
                let cancel = client.cancel_token();
                let connection = Object::take(client);
                handle.spawn(async move {
                    let _ = cancel.cancel_query(tokio_postgres::NoTls).await;
                    drop(connection);
                });
            }
            Err(_) => drop(Object::take(client)),
        }
    }
}
