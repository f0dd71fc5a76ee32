//! The connection pool, the one connection type every statement runs on ([`Conn`]), and
//! creating the database on first start. PostgreSQL is reached through diesel-async only.

use std::{
    future::Future,
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use diesel::{
    result::{DatabaseErrorKind, Error as DieselError},
    sql_types, OptionalExtension, QueryResult, QueryableByName,
};
use diesel_async::{
    methods::{ExecuteDsl, LoadQuery},
    pooled_connection::{
        deadpool::{Object, Pool as DeadPool, PoolError},
        AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
    },
    AnsiTransactionManager, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection,
    TransactionManager,
};
use futures_util::future::BoxFuture;
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

/// A pooled connection seen as a synchronous diesel connection, for [`Conn::run_blocking`].
pub type Blocking =
    diesel_async::async_connection_wrapper::AsyncConnectionWrapper<Object<AsyncPgConnection>>;

use crate::error::ApiError;

pub type Pool = DeadPool<AsyncPgConnection>;

/// How often PostgreSQL checks, during a long statement, that the client is still there: a
/// request cancelled mid-statement closes its connection, and the server then stops the
/// statement (and frees its locks) within this time instead of running it to the end.
const CLIENT_CHECK_MS: u64 = 1000;

mod tls;

pub use tls::{Connector, SslMode};

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
    let (url, connector) = Connector::from_url(&parse(url)?)?;
    ensure_database(&url, &connector).await?;
    pool_for(&url, connector, max_size, statement_timeout_ms)
}

/// The pool alone: connections are opened when first needed (nothing is checked yet).
pub fn build_pool(
    url: &str,
    max_size: usize,
    statement_timeout_ms: Option<u64>,
) -> anyhow::Result<Pool> {
    let (url, connector) = Connector::from_url(&parse(url)?)?;
    pool_for(&url, connector, max_size, statement_timeout_ms)
}

fn pool_for(
    url: &url::Url,
    connector: Connector,
    max_size: usize,
    statement_timeout_ms: Option<u64>,
) -> anyhow::Result<Pool> {
    let url = with_session_settings(url.clone(), statement_timeout_ms);
    let mut config = ManagerConfig::default();
    // A connection comes back from a transaction that committed or rolled back (Conn's Drop);
    // one left inside a transaction is refused by the manager's own check and closed.
    config.recycling_method = RecyclingMethod::Fast;
    // Every connection, TLS or not, is opened by the connector (see db::tls).
    config.custom_setup = Box::new(move |url| {
        let connector = connector.clone();
        Box::pin(async move { connector.connect(url).await })
    });
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
    // Waiting for a connection is bounded: a saturated pool answers 503 instead of hanging.
    Ok(DeadPool::builder(manager)
        .max_size(max_size)
        .runtime(deadpool::Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(5)))
        .create_timeout(Some(Duration::from_secs(5)))
        .build()?)
}

/// `url` with the session settings every pooled connection starts with, added to any
/// `options` the operator gave.
fn with_session_settings(mut url: url::Url, statement_timeout_ms: Option<u64>) -> String {
    let mut options: Vec<String> = url
        .query_pairs()
        .filter(|(k, _)| k == "options")
        .map(|(_, v)| v.into_owned())
        .collect();
    options.push(format!(
        "-c client_connection_check_interval={CLIENT_CHECK_MS}"
    ));
    if let Some(ms) = statement_timeout_ms {
        options.push(format!("-c statement_timeout={ms}"));
    }
    let others: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "options")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(others)
        .append_pair("options", &options.join(" "));
    // The form encoding writes a space as `+` (a real `+` as `%2B`); the PostgreSQL URL reader
    // only decodes `%20`.
    let query = url.query().map(|q| q.replace('+', "%20"));
    url.set_query(query.as_deref());
    url.into()
}

fn parse(url: &str) -> anyhow::Result<url::Url> {
    let parsed = url::Url::parse(url)
        .map_err(|e| anyhow::anyhow!("ZMG_DATABASE_URL must be a postgres:// URL: {e}"))?;
    anyhow::ensure!(
        matches!(parsed.scheme(), "postgres" | "postgresql"),
        "ZMG_DATABASE_URL must be a postgres:// URL"
    );
    Ok(parsed)
}

#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = sql_types::Bool)]
    found: bool,
}

/// Creates the configured database if it does not exist, connecting to `postgres` to do so.
async fn ensure_database(target: &url::Url, connector: &Connector) -> anyhow::Result<()> {
    let name = target.path().trim_start_matches('/').to_string();
    if name.is_empty() {
        return Ok(());
    }
    let name = percent_decode(&name);
    let mut admin = target.clone();
    admin.set_path("/postgres");
    let mut conn = connector
        .connect(admin.as_str())
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach PostgreSQL: {e}"))?;
    let exists =
        diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS found")
            .bind::<sql_types::Text, _>(&name)
            .get_result::<Found>(&mut conn)
            .await?
            .found;
    if !exists {
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        match conn
            .batch_execute(&format!("CREATE DATABASE {quoted}"))
            .await
        {
            Ok(()) => tracing::info!(database = %name, "created database"),
            // Another process created it between our check and our create.
            Err(DieselError::DatabaseError(kind, info))
                if kind == DatabaseErrorKind::UniqueViolation
                    || info.message().ends_with("already exists") => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("n={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// A connection lent to a blocking thread: closed, not pooled, unless it is handed back.
struct Lent(Option<Blocking>);

impl Drop for Lent {
    fn drop(&mut self) {
        if let Some(blocking) = self.0.take() {
            drop(Object::take(blocking.into_inner()));
        }
    }
}

/// One pooled connection, in a transaction ([`Conn::begin`]) or not ([`Conn::get`]). Every
/// statement of the service runs through one: `load`, `first`, `optional` and `execute` take a
/// diesel query (the query builder or `diesel::sql_query` with typed binds).
///
/// It is shared by reference (`&Conn`) the way handlers pass it down, so the connection sits
/// behind an async mutex; statements on one `Conn` run one after another.
///
/// Dropped before `commit`/`rollback` (an error path, or the request was cancelled), it rolls
/// back; dropped mid-statement, the connection's state is unknown, so it is closed instead of
/// returned to the pool (PostgreSQL then stops the statement, see [`CLIENT_CHECK_MS`]).
pub struct Conn {
    /// `None` once finished, or while [`Conn::run_blocking`] has the connection on its thread.
    object: Mutex<Option<Object<AsyncPgConnection>>>,
    transaction: bool,
    finished: bool,
    /// A statement has been sent and its answer not yet read.
    in_flight: AtomicBool,
}

impl Conn {
    /// A connection outside any transaction: each statement commits on its own.
    pub async fn get(pool: &Pool) -> Result<Self, ApiError> {
        let object = pool.get().await?;
        Ok(Conn {
            object: Mutex::new(Some(object)),
            transaction: false,
            finished: false,
            in_flight: AtomicBool::new(false),
        })
    }

    /// A connection inside a transaction opened with `BEGIN`.
    pub async fn begin(pool: &Pool) -> Result<Self, ApiError> {
        Self::begin_as(pool, "BEGIN").await
    }

    /// A transaction opened with `begin` (for example a read-only snapshot).
    pub async fn begin_as(pool: &Pool, begin: &'static str) -> Result<Self, ApiError> {
        let mut conn = Self::get(pool).await?;
        // From here on, dropping `conn` before commit/rollback rolls back (see Drop).
        conn.transaction = true;
        {
            let mut c = conn.lock().await;
            conn.tracked(AnsiTransactionManager::begin_transaction_sql(
                &mut **c, begin,
            ))
            .await?;
        }
        Ok(conn)
    }

    async fn lock(&self) -> MappedMutexGuard<'_, Object<AsyncPgConnection>> {
        MutexGuard::map(self.object.lock().await, |object| {
            object.as_mut().expect("Conn used after it finished")
        })
    }

    /// Runs `work` on a blocking thread with this connection, inside its transaction, as a
    /// synchronous diesel connection: diesel_migrations' harness is synchronous, and a
    /// migration must run in the transaction that records it (and, for a new tenant, in the
    /// one that registers it). If `work` panics, or this call is cancelled while `work` runs,
    /// the connection is closed on that thread rather than returned to the pool inside its
    /// transaction (holding its locks until someone next took it).
    pub async fn run_blocking<R, F>(&self, work: F) -> R
    where
        F: FnOnce(&mut Blocking) -> R + Send + 'static,
        R: Send + 'static,
    {
        let mut slot = self.object.lock().await;
        let object = slot.take().expect("Conn used after it finished");
        // Made here, on the runtime, so the wrapper waits on this runtime's handle.
        let mut lent = Lent(Some(Blocking::from(object)));
        let (back, returned) = tokio::sync::oneshot::channel();
        let out = self
            .tracked(tokio::task::spawn_blocking(move || {
                let out = work(lent.0.as_mut().expect("lent connection"));
                if let Err(unclaimed) = back.send(lent.0.take().expect("lent connection")) {
                    drop(Object::take(unclaimed.into_inner()));
                }
                out
            }))
            .await
            .expect("blocking database work panicked");
        let blocking = returned
            .await
            .expect("the connection comes back with the result");
        *slot = Some(blocking.into_inner());
        out
    }

    async fn tracked<T>(&self, fut: impl Future<Output = T>) -> T {
        self.in_flight.store(true, Ordering::Release);
        let out = fut.await;
        self.in_flight.store(false, Ordering::Release);
        out
    }

    pub async fn commit(mut self) -> QueryResult<()> {
        if self.transaction {
            let mut c = self.lock().await;
            self.tracked(<AnsiTransactionManager as TransactionManager<
                AsyncPgConnection,
            >>::commit_transaction(&mut **c))
                .await?;
        }
        self.finished = true;
        Ok(())
    }

    pub async fn rollback(mut self) -> QueryResult<()> {
        if self.transaction {
            let mut c = self.lock().await;
            self.tracked(<AnsiTransactionManager as TransactionManager<
                AsyncPgConnection,
            >>::rollback_transaction(&mut **c))
                .await?;
        }
        self.finished = true;
        Ok(())
    }

    // The statement methods return boxed futures: written as `async fn`s, their futures carry
    // the query's lifetimes in a form the compiler cannot prove `Send` for in the handlers
    // (rust-lang/rust#102211); a box proves it here, once, for a small allocation per statement.

    /// Every row `query` returns.
    pub fn load<'a, 'q, Q, U>(&'a self, query: Q) -> BoxFuture<'a, QueryResult<Vec<U>>>
    where
        Q: LoadQuery<'q, AsyncPgConnection, U> + Send + 'q,
        U: Send + 'q,
        'q: 'a,
    {
        Box::pin(async move {
            let mut c = self.lock().await;
            self.tracked(query.load(&mut **c)).await
        })
    }

    /// The one row `query` returns: `NotFound` when there is none, an error when there are
    /// several (a query that looked unique and is not is a bug to hear about, and every row is
    /// read, so an error after the first one is not lost).
    pub fn first<'a, 'q, Q, U>(&'a self, query: Q) -> BoxFuture<'a, QueryResult<U>>
    where
        Q: LoadQuery<'q, AsyncPgConnection, U> + Send + 'q,
        U: Send + 'q,
        'q: 'a,
    {
        Box::pin(async move {
            let mut rows = self.load(query).await?.into_iter();
            match (rows.next(), rows.next()) {
                (Some(row), None) => Ok(row),
                (None, _) => Err(DieselError::NotFound),
                (Some(_), Some(_)) => Err(DieselError::QueryBuilderError(
                    "a query expected to return one row returned several".into(),
                )),
            }
        })
    }

    /// The row `query` returns, if any; an error when there are several.
    pub fn optional<'a, 'q, Q, U>(&'a self, query: Q) -> BoxFuture<'a, QueryResult<Option<U>>>
    where
        Q: LoadQuery<'q, AsyncPgConnection, U> + Send + 'q,
        U: Send + 'q,
        'q: 'a,
    {
        Box::pin(async move { self.first(query).await.optional() })
    }

    /// Runs a statement; the number of rows it touched.
    pub fn execute<'a, Q>(&'a self, query: Q) -> BoxFuture<'a, QueryResult<usize>>
    where
        Q: ExecuteDsl<AsyncPgConnection> + Send + 'a,
    {
        Box::pin(async move {
            let mut c = self.lock().await;
            self.tracked(query.execute(&mut **c)).await
        })
    }

    /// The transaction's time, `now()`, asked in a statement that reads no table. An
    /// `INSERT … SELECT` binds it rather than calling `now()` (or leaning on a column's
    /// `DEFAULT now()`): Citus 13 evaluates such calls on the coordinator and then rebuilds
    /// the worker's statement wrongly for a street office's tables (`… AND ( IS NOT NULL)`).
    pub async fn now(&self) -> QueryResult<chrono::DateTime<chrono::Utc>> {
        #[derive(QueryableByName)]
        struct Now {
            #[diesel(sql_type = diesel::sql_types::Timestamptz)]
            now: chrono::DateTime<chrono::Utc>,
        }
        let row: Now = self.first(diesel::sql_query("SELECT now() AS now")).await?;
        Ok(row.now)
    }

    /// Runs SQL text without binds (schema set-up and migrations).
    pub async fn batch_execute(&self, sql: &str) -> QueryResult<()> {
        let mut c = self.lock().await;
        self.tracked(c.batch_execute(sql)).await
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let Some(object) = self.object.get_mut().take() else {
            return;
        };
        let in_flight = AtomicBool::load(&self.in_flight, Ordering::Acquire);
        match tokio::runtime::Handle::try_current() {
            // Between statements and outside a transaction: the connection is clean.
            Ok(_) if !in_flight && !self.transaction => drop(object),
            // An error path left the transaction open between statements: roll it back, then
            // the connection returns to the pool clean (search_path was local to the
            // transaction). A failed rollback leaves the transaction manager broken, and the
            // pool closes the connection instead of reusing it.
            Ok(handle) if !in_flight => {
                handle.spawn(async move {
                    let mut object = object;
                    let _ = <AnsiTransactionManager as TransactionManager<AsyncPgConnection>>::rollback_transaction(
                        &mut *object,
                    )
                    .await;
                });
            }
            // Cancelled mid-statement, or no runtime to roll back on: closed, never reused.
            _ => drop(Object::take(object)),
        }
    }
}

/// A pool error is the database being unreachable or saturated: 503, never a client fault.
impl From<PoolError> for ApiError {
    fn from(err: PoolError) -> Self {
        tracing::warn!(error = %err, "database pool error");
        ApiError::unavailable(
            "db.unavailable",
            "数据库暂不可用，请稍后重试",
            "Database unavailable",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{parse, with_session_settings};

    #[test]
    fn session_settings_join_the_operators_options_with_spaces_postgres_reads() {
        let url = with_session_settings(
            parse("postgres://u@h:5432/db?sslmode=disable&options=-c%20work_mem%3D8MB").unwrap(),
            Some(5000),
        );
        assert_eq!(
            url,
            "postgres://u@h:5432/db?sslmode=disable&options=-c%20work_mem%3D8MB%20-c%20client_connection_check_interval%3D1000%20-c%20statement_timeout%3D5000"
        );
    }
}
