//! Prometheus metrics at `/metrics`: requests by operation and status with latency histograms,
//! requests in flight, the database pool, ballots cast, tenants, the build, and the process
//! (CPU, memory, file descriptors, threads).
//!
//! Counting goes through the `metrics` facade, so any layer counts without plumbing; the
//! Prometheus text is `metrics-exporter-prometheus`'s and the process figures are
//! `metrics-process`'s (as client_golang reports them). One recorder per process, installed on
//! first use.

use std::sync::OnceLock;

use diesel::prelude::*;
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::{
    db::{Conn, Pool},
    schema::platform::tenants,
};

/// Upper bounds in seconds: from a cached read to a slow export.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

const REQUESTS: &str = "zmg_http_requests_total";
const DURATION: &str = "zmg_http_request_duration_seconds";
const IN_FLIGHT: &str = "zmg_http_requests_in_flight";
const BALLOTS: &str = "zmg_ballots_cast_total";
const POOL: &str = "zmg_db_pool_connections";
const POOL_MAX: &str = "zmg_db_pool_max_connections";
const POOL_WAITING: &str = "zmg_db_pool_waiting";
const TENANTS: &str = "zmg_tenants";
const BUILD: &str = "zmg_build_info";

/// The channels ballots arrive by, and the statuses a tenant can have: their series exist from
/// the start at 0, so a rate or an alert sees them before the first event.
const CHANNELS: [&str; 3] = ["online", "paper", "on_site"];
const TENANT_STATUSES: [&str; 2] = ["active", "suspended"];

struct Exporter {
    handle: PrometheusHandle,
    process: metrics_process::Collector,
}

static EXPORTER: OnceLock<Exporter> = OnceLock::new();

/// The process's recorder, installed on first use. Another recorder installed first (a test
/// harness, say) leaves this one unused: the scrape then shows no series but stays valid.
fn exporter() -> &'static Exporter {
    EXPORTER.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(DURATION.into()), &BUCKETS)
            .expect("fixed, non-empty buckets")
            .build_recorder();
        let handle = recorder.handle();
        let _ = metrics::set_global_recorder(recorder);
        describe();
        let process = metrics_process::Collector::default();
        process.describe();
        Exporter { handle, process }
    })
}

fn describe() {
    describe_counter!(REQUESTS, "Requests answered, by operation and status.");
    describe_histogram!(
        DURATION,
        metrics::Unit::Seconds,
        "Time to answer, by operation."
    );
    describe_gauge!(IN_FLIGHT, "Requests being answered, this scrape included.");
    describe_counter!(BALLOTS, "Ballots accepted, by channel.");
    describe_gauge!(POOL, "Database connections by state (open, idle, in use).");
    describe_gauge!(POOL_MAX, "The most connections the pool may open.");
    describe_gauge!(POOL_WAITING, "Requests waiting for a database connection.");
    describe_gauge!(
        TENANTS,
        "Tenants (street offices) in the registry, by status."
    );
    describe_gauge!(
        BUILD,
        "The running build: always 1, its version as a label."
    );
    for channel in CHANNELS {
        counter!(BALLOTS, "channel" => channel).absolute(0);
    }
    gauge!(BUILD, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
}

/// Drains the recorded histogram samples into their buckets every few seconds, whether or not
/// anyone scrapes: without it they pile up in memory until the next scrape, which never comes
/// where `/metrics` is off (no token outside development mode).
pub fn spawn_upkeep() {
    let handle = exporter().handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            every.tick().await;
            handle.run_upkeep();
        }
    });
}

/// Counts a request as in flight until dropped: how an operator sees what a shutdown or a
/// slow database is holding up.
pub struct InFlight(());

impl InFlight {
    pub fn enter() -> Self {
        exporter();
        gauge!(IN_FLIGHT).increment(1.0);
        InFlight(())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        gauge!(IN_FLIGHT).decrement(1.0);
    }
}

/// One finished request. `operation` is the spec's operation id, or a fixed name for the few
/// routes outside the API (so labels stay bounded whatever paths clients send).
pub fn observe_request(operation: &str, status: u16, seconds: f64) {
    exporter();
    counter!(REQUESTS, "operation" => operation.to_string(), "status" => status.to_string())
        .increment(1);
    histogram!(DURATION, "operation" => operation.to_string()).record(seconds);
}

/// A ballot accepted and committed, by channel (online, paper, on_site).
pub fn ballot_cast(channel: &'static str) {
    exporter();
    counter!(BALLOTS, "channel" => channel).increment(1);
}

/// The exposition text. The pool, the tenants and the process are read at scrape time; if the
/// database is down the tenant counts keep their last values.
pub async fn render(pool: &Pool) -> String {
    let exporter = exporter();
    let counted: Option<Vec<(String, i64)>> = match Conn::get(pool).await {
        Ok(conn) => conn
            .load(
                tenants::table
                    .group_by(tenants::status)
                    .select((tenants::status, diesel::dsl::count_star())),
            )
            .await
            .ok(),
        Err(_) => None,
    };
    if let Some(counted) = counted {
        for status in TENANT_STATUSES {
            let n = counted
                .iter()
                .find(|(s, _)| s == status)
                .map_or(0, |(_, n)| *n);
            gauge!(TENANTS, "status" => status).set(n as f64);
        }
    }
    let s = pool.status();
    let in_use = s.size.saturating_sub(s.available);
    gauge!(POOL, "state" => "open").set(s.size as f64);
    gauge!(POOL, "state" => "idle").set(s.available as f64);
    gauge!(POOL, "state" => "in_use").set(in_use as f64);
    gauge!(POOL_MAX).set(s.max_size as f64);
    gauge!(POOL_WAITING).set(s.waiting as f64);
    exporter.process.collect();
    exporter.handle.render()
}
