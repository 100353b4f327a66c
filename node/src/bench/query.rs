//! `ossa bench query`: capability queries on an in-process agent directory of real records.

use std::time::Instant;

use prost::Message;
use rand::{Rng, SeedableRng};

use super::{report, BenchReport};
use crate::agents::directory::{Directory, Query};
use crate::agents::record::VerifiedRecord;
use crate::wire::pb;

/// Capability vocabulary size: 1000 distinct capabilities, each agent has 3, so a query
/// matches about 0.3% of the directory (300 agents of 100k), a realistic "who can do X?".
const VOCABULARY: usize = 1000;
/// Capabilities of each agent (see [`VOCABULARY`]).
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
