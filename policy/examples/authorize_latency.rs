//! Rough authorization latency: 1000 tenants x 10 policies, plus a federation set.
//!
//! Not a benchmark harness (that is `ossa bench authorize`); a quick measurement to run as
//! `cargo run --release -p ossa-policy --example authorize_latency [tenants] [requests]`.
//! The workload is [`ossa_policy::authorize_workload`], the same as the benchmark's. Each
//! timed call includes what a real call pays: checking the request, building the Cedar
//! request and the entity store (six entities), and evaluating both sets.

use std::time::Instant;

use ossa_policy::{authorize_workload, PolicyError};

fn main() -> Result<(), PolicyError> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>().unwrap_or(0));
    let tenants = args.next().filter(|n| *n > 0).unwrap_or(1000);
    let requests = args.next().filter(|n| *n > 0).unwrap_or(100_000);

    let started = Instant::now();
    let workload = authorize_workload(tenants)?;
    println!("validated and installed {tenants} tenant sets in {:?}", started.elapsed());

    let mut samples = Vec::with_capacity(requests);
    let mut allowed = 0usize;
    for n in 0..requests {
        let (request, entities) = workload.request(n);
        let start = Instant::now();
        let decision = workload.authorizer.authorize(&request, &entities)?;
        samples.push(start.elapsed());
        allowed += usize::from(decision.allowed);
    }
    samples.sort();
    let pick = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!(
        "{requests} decisions ({allowed} allowed): p50 {:?}  p90 {:?}  p99 {:?}  max {:?}",
        pick(0.50),
        pick(0.90),
        pick(0.99),
        pick(1.0)
    );
    Ok(())
}
