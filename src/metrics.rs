//! Prometheus metrics at `/metrics`, in the text exposition format: requests by operation and
//! status with latency histograms, the database pool, ballots cast and tenants. Kept in one
//! process-wide registry, like Prometheus clients do, so any layer can count without plumbing.

use std::{
    collections::BTreeMap,
    fmt::Write,
    sync::{
        atomic::{AtomicI64, Ordering},
        LazyLock, Mutex,
    },
};

use diesel::prelude::*;

use crate::{
    db::{Conn, Pool},
    schema::platform::tenants,
};

/// Upper bounds in seconds: from a cached read to a slow export.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Default)]
struct Histogram {
    /// Cumulative counts are computed when rendering; these are per bucket.
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Registry {
    requests: BTreeMap<(String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    ballots: BTreeMap<&'static str, u64>,
}

static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(Default::default);

/// Requests being answered right now (a scrape counts itself).
static IN_FLIGHT: AtomicI64 = AtomicI64::new(0);

/// Counts a request as in flight until dropped: how an operator sees what a shutdown or a
/// slow database is holding up.
pub struct InFlight(());

impl InFlight {
    pub fn enter() -> Self {
        IN_FLIGHT.fetch_add(1, Ordering::Relaxed);
        InFlight(())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::Relaxed);
    }
}

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    // A panic while holding the lock leaves plain counters behind: still usable.
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// One finished request. `operation` is the spec's operation id, or a fixed name for the few
/// routes outside the API (so labels stay bounded whatever paths clients send).
pub fn observe_request(operation: &str, status: u16, seconds: f64) {
    let mut r = registry();
    *r.requests
        .entry((operation.to_string(), status))
        .or_default() += 1;
    let h = r.latency.entry(operation.to_string()).or_default();
    if let Some(i) = BUCKETS.iter().position(|b| seconds <= *b) {
        h.counts[i] += 1;
    }
    h.sum += seconds;
    h.count += 1;
}

/// A ballot accepted and committed, by channel (online, paper, on_site).
pub fn ballot_cast(channel: &'static str) {
    *registry().ballots.entry(channel).or_default() += 1;
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The exposition text. Tenants are counted from the registry at scrape time; if the database
/// is down that family is left out rather than failing the scrape.
pub async fn render(pool: &Pool) -> String {
    let tenants: Option<Vec<(String, i64)>> = match Conn::get(pool).await {
        Ok(conn) => conn
            .load(
                tenants::table
                    .group_by(tenants::status)
                    .order(tenants::status)
                    .select((tenants::status, diesel::dsl::count_star())),
            )
            .await
            .ok(),
        Err(_) => None,
    };
    let mut out = String::new();
    {
        let r = registry();
        out.push_str("# HELP zmg_http_requests_total Requests answered, by operation and status.\n# TYPE zmg_http_requests_total counter\n");
        for ((op, status), n) in &r.requests {
            let _ = writeln!(
                out,
                "zmg_http_requests_total{{operation=\"{}\",status=\"{status}\"}} {n}",
                escape(op)
            );
        }
        out.push_str("# HELP zmg_http_request_duration_seconds Time to answer, by operation.\n# TYPE zmg_http_request_duration_seconds histogram\n");
        for (op, h) in &r.latency {
            let op = escape(op);
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(h.counts) {
                cumulative += n;
                let _ = writeln!(out, "zmg_http_request_duration_seconds_bucket{{operation=\"{op}\",le=\"{bound}\"}} {cumulative}");
            }
            let _ = writeln!(
                out,
                "zmg_http_request_duration_seconds_bucket{{operation=\"{op}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "zmg_http_request_duration_seconds_sum{{operation=\"{op}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "zmg_http_request_duration_seconds_count{{operation=\"{op}\"}} {}",
                h.count
            );
        }
        out.push_str("# HELP zmg_http_requests_in_flight Requests being answered, this scrape included.\n# TYPE zmg_http_requests_in_flight gauge\n");
        let _ = writeln!(
            out,
            "zmg_http_requests_in_flight {}",
            IN_FLIGHT.load(Ordering::Relaxed)
        );
        out.push_str("# HELP zmg_ballots_cast_total Ballots accepted, by channel.\n# TYPE zmg_ballots_cast_total counter\n");
        for (channel, n) in &r.ballots {
            let _ = writeln!(out, "zmg_ballots_cast_total{{channel=\"{channel}\"}} {n}");
        }
    }
    let s = pool.status();
    out.push_str("# HELP zmg_db_pool_connections Database connections by state.\n# TYPE zmg_db_pool_connections gauge\n");
    let _ = writeln!(
        out,
        "zmg_db_pool_connections{{state=\"max\"}} {}",
        s.max_size
    );
    let _ = writeln!(out, "zmg_db_pool_connections{{state=\"open\"}} {}", s.size);
    let _ = writeln!(
        out,
        "zmg_db_pool_connections{{state=\"idle\"}} {}",
        s.available
    );
    let _ = writeln!(
        out,
        "zmg_db_pool_connections{{state=\"in_use\"}} {}",
        s.size.saturating_sub(s.available)
    );
    out.push_str("# HELP zmg_db_pool_waiting Requests waiting for a database connection.\n# TYPE zmg_db_pool_waiting gauge\n");
    let _ = writeln!(out, "zmg_db_pool_waiting {}", s.waiting);
    if let Some(tenants) = tenants {
        out.push_str("# HELP zmg_tenants Tenants (street offices) in the registry, by status.\n# TYPE zmg_tenants gauge\n");
        for (status, n) in tenants {
            let _ = writeln!(out, "zmg_tenants{{status=\"{}\"}} {n}", escape(&status));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
