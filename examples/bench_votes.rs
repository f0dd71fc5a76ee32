//! Voting benchmark driver, run by scripts/bench-votes.sh against a release server: casts one
//! ballot per voter through the HTTP API at a given concurrency and prints ballots/s and
//! latency percentiles; times the full tally (endpoint and pure engine) for 10,000 ballots.
//! Environment: BENCH_BASE, BENCH_TENANT, BENCH_ADMIN_PASSWORD, ZMG_DATABASE_URL.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio_postgres::NoTls;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is required"))
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let base = env("BENCH_BASE");
    let slug = env("BENCH_TENANT");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(512)
        .build()?;
    let (db, conn) = tokio_postgres::connect(&env("ZMG_DATABASE_URL"), NoTls).await?;
    tokio::spawn(conn);
    let tenant = db
        .query_one(
            "SELECT id, schema_name FROM platform.tenants WHERE slug = $1",
            &[&slug],
        )
        .await?;
    let (tenant_id, schema): (uuid::Uuid, String) = (tenant.get(0), tenant.get(1));
    db.batch_execute(&format!("SET search_path = \"{schema}\""))
        .await?;

    // Voter sessions, written straight into the tenant (logging 10,000 owners in through
    // argon2 would measure password hashing, not voting).
    let owners: Vec<uuid::Uuid> = db
        .query(
            "SELECT DISTINCT owner_id FROM unit_holders WHERE ended_at IS NULL ORDER BY owner_id",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut tokens = Vec::with_capacity(owners.len());
    let mut hashes = Vec::with_capacity(owners.len());
    for _ in &owners {
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let token = format!("t1.{}.{}", tenant_id.simple(), hex::encode(secret));
        hashes.push(Sha256::digest(token.as_bytes()).to_vec());
        tokens.push(token);
    }
    db.execute(
        "INSERT INTO sessions (token_hash, subject_kind, subject_id, expires_at) SELECT h, 'owner', o, now() + interval '1 day' FROM unnest($1::bytea[], $2::uuid[]) AS t(h, o)",
        &[&hashes, &owners],
    )
    .await?;
    let tokens = Arc::new(tokens);

    let admin: serde_json::Value = http
        .post(format!("{base}/api/auth/staff/login"))
        .header("X-Tenant", &slug)
        .json(&serde_json::json!({"username": "admin", "password": env("BENCH_ADMIN_PASSWORD")}))
        .send()
        .await?
        .json()
        .await?;
    let admin = admin["token"].as_str().expect("admin token").to_string();
    let estate: serde_json::Value = http
        .get(format!("{base}/api/estates"))
        .header("X-Tenant", &slug)
        .bearer_auth(&admin)
        .send()
        .await?
        .json()
        .await?;
    let estate = estate["items"][0]["id"]
        .as_str()
        .expect("estate")
        .to_string();
    println!("voters: {}", tokens.len());

    let mut pgbench_matters = Vec::new();
    for concurrency in [64usize, 256, 0, 0] {
        let now = chrono::Utc::now();
        let matter: serde_json::Value = http
            .post(format!("{base}/api/matters"))
            .header("X-Tenant", &slug)
            .bearer_auth(&admin)
            .json(&serde_json::json!({
                "estate_id": estate, "type_name": "压测", "title": format!("压测 {concurrency}"), "content": "", "importance": "normal",
                "opens_at": now - chrono::Duration::seconds(1), "closes_at": now + chrono::Duration::days(1), "law_item": 4
            }))
            .send()
            .await?
            .json()
            .await?;
        let matter = matter["id"].as_str().expect("matter").to_string();
        // Opening freezes the roll (10,000 units).
        let opened = Instant::now();
        http.get(format!("{base}/api/matters/{matter}/tally"))
            .header("X-Tenant", &slug)
            .bearer_auth(&admin)
            .send()
            .await?
            .error_for_status()?;
        if concurrency == 0 {
            pgbench_matters.push(matter);
            continue;
        }
        println!(
            "matter for {concurrency} voters opened in {:.0} ms",
            opened.elapsed().as_secs_f64() * 1000.0
        );
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let mut workers = Vec::new();
        for _ in 0..concurrency {
            let (http, base, slug, matter, tokens, next) = (
                http.clone(),
                base.clone(),
                slug.clone(),
                matter.clone(),
                tokens.clone(),
                next.clone(),
            );
            workers.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut failures = 0usize;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= tokens.len() {
                        break;
                    }
                    let t = Instant::now();
                    let resp = http
                        .post(format!("{base}/api/matters/{matter}/ballots"))
                        .header("X-Tenant", &slug)
                        .bearer_auth(&tokens[i])
                        .json(&serde_json::json!({"choice": if i % 3 == 0 { "disagree" } else { "agree" }, "idempotency_key": format!("bench-{i}")}))
                        .send()
                        .await;
                    latencies.push(t.elapsed());
                    if !matches!(resp.map(|r| r.status().as_u16()), Ok(201)) {
                        failures += 1;
                    }
                }
                (latencies, failures)
            }));
        }
        let mut latencies = Vec::new();
        let mut failures = 0;
        for w in workers {
            let (l, f) = w.await?;
            latencies.extend(l);
            failures += f;
        }
        let elapsed = started.elapsed().as_secs_f64();
        latencies.sort();
        println!(
            "HTTP casting, {concurrency} concurrent voters: {} ballots in {elapsed:.2} s = {:.0} ballots/s; p50 {:.1} ms, p99 {:.1} ms; failures {failures}",
            latencies.len(),
            latencies.len() as f64 / elapsed,
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99)
        );
        println!(
            "RESULT http_{concurrency}_rate {:.1}",
            latencies.len() as f64 / elapsed
        );
        let mut tally_ms = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            http.get(format!("{base}/api/matters/{matter}/tally"))
                .header("X-Tenant", &slug)
                .bearer_auth(&admin)
                .send()
                .await?
                .error_for_status()?;
            tally_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        tally_ms.sort_by(f64::total_cmp);
        println!(
            "tally endpoint with {} ballots: median {:.1} ms (min {:.1})",
            latencies.len(),
            tally_ms[2],
            tally_ms[0]
        );
    }

    // The pure engine on the same size.
    use zhimaguan::voting::{rules::RuleSet, tally::*};
    let units: Vec<RollUnit> = (0..10_000)
        .map(|i| RollUnit {
            unit: format!("u{i}"),
            area_centi: 8000 + i % 5000,
            class: UnitClass::Residential,
            holder: Holder::Owner(format!("o{i}")),
        })
        .collect();
    let ballots: Vec<Ballot> = (0..10_000)
        .map(|i| Ballot {
            holder: Holder::Owner(format!("o{i}")),
            choice: if i % 3 == 0 {
                Choice::Disagree
            } else {
                Choice::Agree
            },
            valid: true,
        })
        .collect();
    let settings = Settings::defaults();
    let mut runs = Vec::new();
    for _ in 0..21 {
        let t = Instant::now();
        let snap = snapshot(&units, &settings);
        let result = tally(
            &snap,
            &RuleSet::civil_code_ordinary(),
            &ballots,
            &settings,
            &Default::default(),
        )
        .expect("tally");
        runs.push(t.elapsed());
        assert!(result.passed);
    }
    runs.sort();
    println!(
        "pure engine, 10,000 units and ballots: median {:.2} ms",
        runs[10].as_secs_f64() * 1000.0
    );

    // Helper data for pgbench: voter n → owner and holder key, for the two spare matters. One
    // statement at a time: Citus refuses several DDL statements in one string.
    for statement in [
        "DROP TABLE IF EXISTS bench_voters",
        "DROP SEQUENCE IF EXISTS bench_n",
        "CREATE SEQUENCE bench_n",
        "CREATE TABLE bench_voters AS
           SELECT row_number() OVER (ORDER BY h.owner_id) AS n, h.owner_id, min(r.holder_key) AS holder_key
             FROM unit_holders h JOIN matter_roll r ON r.unit_id = h.unit_id
            WHERE h.ended_at IS NULL AND r.matter_id = (SELECT id FROM matters ORDER BY created_at LIMIT 1)
            GROUP BY h.owner_id",
        "CREATE UNIQUE INDEX ON bench_voters (n)",
    ] {
        db.batch_execute(statement).await?;
    }
    println!(
        "PGBENCH schema={schema} matter_a={} matter_b={}",
        pgbench_matters[0], pgbench_matters[1]
    );
    Ok(())
}
