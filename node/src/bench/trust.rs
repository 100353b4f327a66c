//! `ossa bench trust`: ingest and EigenTrust recomputation of the trust scores of a synthetic
//! federation ([`ossa_trust::score::bench_workload`]), with the library the node runs.
//!
//! The workload (orgs with hidden reliabilities, sparse partnerships, observations over four
//! weeks) is generated once from a seed. Each run then records every observation into a fresh
//! ledger ([`ossa_trust::score::TrustWorkload::ingest`], timed as a whole) and computes every
//! org's and agent's score ([`ossa_trust::score::TrustLedger::compute`], timed). Every run
//! must compute the same scores.

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use ossa_trust::score::{bench_workload, TrustConfig};

use super::{blocking_until_interrupted, check_stop, report, BenchReport};
use crate::trust_scores::SCORING_PERIOD;

/// Options of `ossa bench trust`.
#[derive(Debug, Clone)]
pub struct TrustOptions {
    /// Member orgs of the synthetic federation (the first five are stewards).
    pub orgs: usize,
    /// Observations generated.
    pub observations: usize,
    /// Ingest + recompute runs timed (at least 1).
    pub runs: usize,
    /// Seed of the workload.
    pub seed: u64,
}

/// `ossa bench trust`: two reports, `trust-ingest` (observations recorded per second; the
/// latencies are whole ingests) and `trust-recompute` (one latency per recomputation).
pub async fn trust(options: TrustOptions) -> anyhow::Result<Vec<BenchReport>> {
    blocking_until_interrupted(move |stop| run(&options, stop)).await
}

fn run(options: &TrustOptions, stop: &AtomicBool) -> anyhow::Result<Vec<BenchReport>> {
    ensure!(options.runs > 0, "--runs must be at least 1");
    eprintln!(
        "trust: generating {} orgs and {} observations (seed {}) ...",
        options.orgs, options.observations, options.seed
    );
    let workload = bench_workload(options.orgs, options.observations, options.seed);
    let config = TrustConfig::default();
    let observations = workload.observations.len();
    let mut ingests = Vec::with_capacity(options.runs);
    let mut computes = Vec::with_capacity(options.runs);
    let mut first = None;
    for run in 1..=options.runs {
        check_stop(stop)?;
        let t = Instant::now();
        let (ledger, refused) = workload.ingest(&config)?;
        let ingest = t.elapsed();
        if refused != 0 {
            bail!("{refused} generated observations were refused");
        }
        check_stop(stop)?;
        let t = Instant::now();
        let scores = ledger.compute(&workload.members, &workload.stewards, workload.now_ms);
        let compute = t.elapsed();
        eprintln!("trust: run {run}/{}: ingest {ingest:.2?}, recompute {compute:.2?}", options.runs);
        ingests.push(ingest);
        computes.push(compute);
        match &first {
            None => first = Some((ledger.stats(), scores)),
            Some((_, scores_before)) => ensure!(*scores_before == scores, "two runs computed different scores"),
        }
    }
    let Some((stats, scores)) = first else { bail!("no run") };
    let federation = format!(
        "{} orgs ({} stewards), {observations} observations (seed {}): {} observers, {} org pairs, {} agent pairs",
        workload.members.len(),
        workload.stewards.len(),
        options.seed,
        stats.observers,
        stats.org_pairs,
        stats.agent_pairs
    );
    let busy: Duration = ingests.iter().sum();
    let mut ingest = report(
        "trust-ingest",
        format!("{federation}; each run records every observation into a fresh ledger; latencies are per whole ingest"),
        &format!(
            "none in the design; above the node's cap of 20 accepted observations/s per observer org ({}/s here)",
            20 * workload.members.len()
        ),
        ingests,
        busy,
    );
    ingest.operations = observations;
    ingest.trials = Some(options.runs);
    ingest.rate_per_s = (observations * options.runs) as f64 / busy.as_secs_f64().max(f64::EPSILON);
    let busy: Duration = computes.iter().sum();
    let recompute = report(
        "trust-recompute",
        format!(
            "{federation}; TrustLedger::compute of every org and agent score: {} rounds (converged: {}), {} orgs \
             and {} agents scored",
            scores.iterations,
            scores.converged,
            scores.orgs.len(),
            scores.agents.len()
        ),
        &format!("none in the design; well under the node's recompute period of {SCORING_PERIOD:?}"),
        computes,
        busy,
    );
    Ok(vec![ingest, recompute])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_bench_ingests_and_recomputes_a_real_ledger() {
        let options = TrustOptions { orgs: 30, observations: 500, runs: 3, seed: 7 };
        let reports = run(&options, &AtomicBool::new(false)).expect("bench");
        let [ingest, recompute] = &reports[..] else { panic!("two reports") };
        assert_eq!((ingest.bench.as_str(), ingest.operations, ingest.trials), ("trust-ingest", 500, Some(3)));
        assert_eq!((recompute.bench.as_str(), recompute.operations), ("trust-recompute", 3));
        assert!(recompute.setup.contains("30 orgs and"), "{}", recompute.setup);
        for r in &reports {
            assert!(r.rate_per_s > 0.0 && r.p50_us <= r.p99_us && r.p99_us <= r.max_us, "{r:?}");
        }
    }
}
