//! `ossa bench`: the performance goals of the design, measured on this machine.
//!
//! Each benchmark builds what it measures from the real components (no mocks), runs a warm-up,
//! then times many operations and reports the rate and latency percentiles in microseconds
//! (`--json` for `{"bench", "rate_per_s", "p50_us", "p99_us", ...}`).

use std::time::{Duration, Instant};

use prost::Message;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::agents::directory::{Directory, Query};
use crate::agents::record::VerifiedRecord;
use crate::wire::pb;

/// Result of one benchmark.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Benchmark name.
    pub bench: String,
    /// What was measured, in words.
    pub setup: String,
    /// Operations timed.
    pub operations: usize,
    /// Operations per second.
    pub rate_per_s: f64,
    /// Median latency.
    pub p50_us: f64,
    /// 99th percentile latency.
    pub p99_us: f64,
    /// Worst latency.
    pub max_us: f64,
    /// The design's goal for this benchmark.
    pub goal: String,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)].as_secs_f64() * 1e6
}

/// Builds a report from individual latencies measured over `elapsed`.
fn report(bench: &str, setup: String, goal: &str, mut latencies: Vec<Duration>, elapsed: Duration) -> BenchReport {
    latencies.sort_unstable();
    BenchReport {
        bench: bench.to_owned(),
        setup,
        operations: latencies.len(),
        rate_per_s: latencies.len() as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
        p50_us: percentile(&latencies, 0.50),
        p99_us: percentile(&latencies, 0.99),
        max_us: percentile(&latencies, 1.0),
        goal: goal.to_owned(),
    }
}

/// Capability vocabulary size: 1000 distinct capabilities, each agent has 3, so a query
/// matches about 0.3% of the directory (300 agents of 100k), a realistic "who can do X?".
const VOCABULARY: usize = 1000;
const CAPABILITIES_PER_AGENT: usize = 3;

/// `ossa bench query`: capability queries on a directory of `records` agents.
pub fn query(records: usize, queries: usize) -> anyhow::Result<BenchReport> {
    let db = sled::Config::new().temporary(true).open()?;
    let directory = Directory::open(&db)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for i in 0..records {
        let capabilities =
            (0..CAPABILITIES_PER_AGENT).map(|_| format!("cap-{}", rng.gen_range(0..VOCABULARY))).collect();
        let record = pb::AgentRecord {
            org: format!("org{}", i % 100),
            tenant: format!("tenant-{}", i % 1000),
            agent_id: format!("agent-{i}"),
            name: format!("Agent {i}"),
            capabilities,
            sequence: 1,
            expires_at_ms: u64::MAX,
            ..Default::default()
        };
        let raw = pb::SignedRecord { payload: record.encode_to_vec(), signer: vec![0; 32], signature: vec![0; 64] }
            .encode_to_vec();
        directory.insert(VerifiedRecord { record, raw })?;
    }
    let query_for = |rng: &mut rand::rngs::StdRng| Query {
        capability: Some(format!("cap-{}", rng.gen_range(0..VOCABULARY))),
        ..Default::default()
    };
    for _ in 0..queries / 10 {
        std::hint::black_box(directory.find(&query_for(&mut rng), 0));
    }
    let mut latencies = Vec::with_capacity(queries);
    let started = Instant::now();
    let mut matches = 0;
    for _ in 0..queries {
        let query = query_for(&mut rng);
        let t = Instant::now();
        matches += std::hint::black_box(directory.find(&query, 0)).len();
        latencies.push(t.elapsed());
    }
    let elapsed = started.elapsed();
    let setup = format!(
        "{records} agents, {VOCABULARY} capabilities, {CAPABILITIES_PER_AGENT} per agent; {:.0} matches per query",
        matches as f64 / queries.max(1) as f64
    );
    Ok(report("query", setup, "p99 < 1000 us on 100k agents", latencies, elapsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_sorted_latencies() {
        let latencies = (1..=100).rev().map(Duration::from_micros).collect();
        let report = report("x", String::new(), "", latencies, Duration::from_millis(10));
        assert_eq!(report.operations, 100);
        assert_eq!(report.p50_us.round(), 51.0);
        assert_eq!(report.p99_us.round(), 99.0);
        assert_eq!(report.max_us.round(), 100.0);
        assert_eq!(report.rate_per_s.round(), 10_000.0);
    }

    #[test]
    fn query_bench_finds_agents_in_a_real_directory() {
        let report = query(2_000, 50).expect("bench");
        assert_eq!(report.operations, 50);
        // 2000 agents x 3 capabilities over 1000 capabilities: about 6 matches per query.
        let matches: f64 = report
            .setup
            .split("; ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .and_then(|n| n.parse().ok())
            .expect("matches");
        assert!((2.0..=12.0).contains(&matches), "{}", report.setup);
        assert!(report.p50_us <= report.p99_us && report.p99_us <= report.max_us);
    }
}
