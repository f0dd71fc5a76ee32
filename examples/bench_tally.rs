//! Times the live tally of the busiest matter in the benchmark database in-process (database
//! reads and the engine, no HTTP), to work on its cost between full runs of
//! scripts/bench-votes.sh. Environment: ZMG_DATABASE_URL (default: the zhimaguan_bench database).

use std::time::Instant;

use diesel::{sql_query, sql_types as sql, QueryableByName};
use zhimaguan::{
    tenancy::{self, conn::TenantConn},
    voting::service,
};

/// The matter with the most ballots.
#[derive(QueryableByName)]
struct Busiest {
    #[diesel(sql_type = sql::Uuid)]
    matter_id: uuid::Uuid,
    #[diesel(sql_type = sql::BigInt)]
    ballots: i64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("ZMG_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/zhimaguan_bench".into());
    let pool = zhimaguan::db::connect(&url, 2).await?;
    let tenants = tenancy::list(&pool)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let tenant = tenants
        .iter()
        .filter(|t| t.slug.starts_with("vote_"))
        .max_by_key(|t| t.slug.clone())
        .ok_or_else(|| anyhow::anyhow!("run scripts/bench-votes.sh first"))?;
    let conn = TenantConn::begin(&pool, tenant).await?;
    let Busiest {
        matter_id: matter,
        ballots,
    } = conn
        .first(sql_query(
            "SELECT matter_id, count(*) AS ballots FROM ballots GROUP BY 1 ORDER BY 2 DESC LIMIT 1",
        ))
        .await?;
    conn.commit().await?;
    let mut runs = Vec::new();
    for _ in 0..21 {
        let started = Instant::now();
        let conn = TenantConn::begin(&pool, tenant).await?;
        let m = service::load(&conn, matter, "").await?;
        let t = service::live_tally(&conn, &m).await?;
        conn.commit().await?;
        runs.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(t.participants.heads, ballots);
    }
    runs.sort_by(f64::total_cmp);
    println!(
        "live tally of {ballots} ballots, in process: median {:.1} ms (min {:.1})",
        runs[10], runs[0]
    );
    Ok(())
}
