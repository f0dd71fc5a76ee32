//! Plain SQL for tests, beside the service's own diesel connections: tests set up rows the API
//! has no way to make (an old ledger, a clock moved back) and read or forge rows the way an
//! auditor or an attacker with database rights would, so they use a client of their own.

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio_postgres::{types::ToSql, Error, NoTls, Row};
use zhimaguan::tenancy::Tenant;

/// A small pool of plain tokio-postgres connections to the test database. Plaintext only: the
/// TLS settings tokio-postgres cannot read are dropped (tests/db_tls.rs makes no use of it).
pub fn raw_pool(url: &str) -> Pool {
    let mut url = url::Url::parse(url).expect("database url");
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "sslmode" && k != "sslrootcert")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut().clear().extend_pairs(kept);
    let config: tokio_postgres::Config = url.as_str().parse().expect("database url");
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(4)
        .build()
        .expect("test pool")
}

/// A transaction scoped to one tenant's schema, as the service's `TenantConn` is.
pub struct TenantSql {
    client: Option<Object>,
}

impl TenantSql {
    pub async fn begin(pool: &Pool, tenant: &Tenant) -> Self {
        let client = pool.get().await.expect("test connection");
        client.batch_execute("BEGIN").await.expect("begin");
        client
            .query_one(
                "SELECT set_config('search_path', $1, true)",
                &[&tenant.schema],
            )
            .await
            .expect("search path");
        TenantSql {
            client: Some(client),
        }
    }

    fn client(&self) -> &Object {
        self.client.as_ref().expect("used after commit")
    }

    pub async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error> {
        self.client().query(sql, params).await
    }

    pub async fn query_one(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, Error> {
        self.client().query_one(sql, params).await
    }

    pub async fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, Error> {
        self.client().query_opt(sql, params).await
    }

    pub async fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, Error> {
        self.client().execute(sql, params).await
    }

    pub async fn batch_execute(&self, sql: &str) -> Result<(), Error> {
        self.client().batch_execute(sql).await
    }

    pub async fn commit(mut self) -> Result<(), Error> {
        let client = self.client.take().expect("committed twice");
        client.batch_execute("COMMIT").await
    }
}

impl Drop for TenantSql {
    /// Not committed: the connection is closed rather than returned inside its transaction.
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            drop(Object::take(client));
        }
    }
}
