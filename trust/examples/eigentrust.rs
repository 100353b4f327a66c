//! Benchmark of the trust score: ingest and recomputation for a synthetic federation.
//!
//! `cargo run -p ossa-trust --release --example eigentrust [ORGS] [OBSERVATIONS] [RUNS] [SEED]`
//! (defaults 1000 orgs, 100000 observations, 5 runs, seed 42). Generates the workload with
//! [`ossa_trust::bench_workload`], then times, over RUNS runs, recording every observation into a
//! fresh ledger and computing all org and agent scores; prints min and median of each.

use std::error::Error;
use std::time::{Duration, Instant};

use ossa_trust::{bench_workload, CircuitBreaker, TrustConfig};

fn arg<T: std::str::FromStr>(index: usize, default: T) -> Result<T, Box<dyn Error>>
where
    T::Err: Error + 'static,
{
    match std::env::args().nth(index) {
        Some(text) => Ok(text.parse()?),
        None => Ok(default),
    }
}

fn min_median(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    (samples.first().copied().unwrap_or_default(), samples.get(samples.len() / 2).copied().unwrap_or_default())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() -> Result<(), Box<dyn Error>> {
    let orgs: usize = arg(1, 1000)?;
    let observations: usize = arg(2, 100_000)?;
    let runs: usize = arg(3, 5)?.max(1);
    let seed: u64 = arg(4, 42)?;
    let config = TrustConfig::default();

    let started = Instant::now();
    let workload = bench_workload(orgs, observations, seed);
    println!(
        "workload: {} orgs ({} stewards), {} observations, seed {seed}, generated in {:.1} ms",
        workload.members.len(),
        workload.stewards.len(),
        workload.observations.len(),
        ms(started.elapsed())
    );

    let mut ingest = Vec::with_capacity(runs);
    let mut compute = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let started = Instant::now();
        let (ledger, refused) = workload.ingest(&config)?;
        ingest.push(started.elapsed());
        if refused != 0 {
            return Err(format!("{refused} generated observations were refused").into());
        }
        let started = Instant::now();
        let scores = ledger.compute(&workload.members, &workload.stewards, workload.now_ms);
        compute.push(started.elapsed());
        if last.as_ref().is_some_and(|(_, previous)| *previous != scores) {
            return Err("two runs computed different scores".into());
        }
        last = Some((ledger.stats(), scores));
    }
    let (stats, scores) = last.ok_or("no run")?;
    println!("ledger: {} observers, {} org pairs, {} agent pairs", stats.observers, stats.org_pairs, stats.agent_pairs);

    let (ingest_min, ingest_median) = min_median(ingest);
    let (compute_min, compute_median) = min_median(compute);
    let per_observation = ingest_median.as_nanos() / (workload.observations.len().max(1) as u128);
    println!(
        "ingest:     min {:8.1} ms  median {:8.1} ms  ({per_observation} ns per observation)",
        ms(ingest_min),
        ms(ingest_median)
    );
    println!(
        "recompute:  min {:8.1} ms  median {:8.1} ms  ({} rounds, converged: {}, {} orgs, {} agents)",
        ms(compute_min),
        ms(compute_median),
        scores.iterations,
        scores.converged,
        scores.orgs.len(),
        scores.agents.len()
    );

    let mut breaker = CircuitBreaker::new(config.breaker.clone())?;
    let quarantined = breaker.update(&scores).len();
    let mut by_score: Vec<u16> = scores.orgs.iter().map(|o| o.score).collect();
    by_score.sort_unstable();
    let pick = |q: usize| by_score.get((by_score.len().saturating_sub(1)) * q / 100).copied().unwrap_or(0);
    println!(
        "org scores: p10 {}  p50 {}  p90 {}  max {};  quarantined: {quarantined} orgs and agents",
        pick(10),
        pick(50),
        pick(90),
        pick(100)
    );
    Ok(())
}
