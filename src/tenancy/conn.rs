//! `TenantConn`: the only way to reach tenant data. It is one transaction on one pooled
//! connection whose search_path is set *locally* (SET LOCAL semantics) to the tenant's schema,
//! so nothing tenant-specific survives the transaction on the pooled connection.

use std::ops::Deref;

use diesel::{sql_types::Text, QueryResult};

use super::Tenant;
use crate::db::{Conn, Pool};

pub struct TenantConn {
    conn: Conn,
    tenant: Tenant,
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
        // From here on, dropping `conn` before commit/rollback rolls back (see Conn's Drop).
        let conn = Conn::begin_as(pool, begin).await?;
        conn.execute(
            diesel::sql_query("SELECT set_config('search_path', $1, true)")
                .bind::<Text, _>(&tenant.schema),
        )
        .await?;
        Ok(TenantConn {
            conn,
            tenant: tenant.clone(),
        })
    }

    /// The tenant this transaction is scoped to.
    pub fn tenant(&self) -> &Tenant {
        &self.tenant
    }

    pub async fn commit(self) -> QueryResult<()> {
        self.conn.commit().await
    }

    pub async fn rollback(self) -> QueryResult<()> {
        self.conn.rollback().await
    }
}

/// Statements run on the transaction: `conn.load(...)`, `conn.execute(...)`, and a `&TenantConn`
/// goes wherever shared code takes a `&Conn`.
impl Deref for TenantConn {
    type Target = Conn;

    fn deref(&self) -> &Conn {
        &self.conn
    }
}
