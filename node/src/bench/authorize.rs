//! `ossa bench authorize`: Cedar authorization decisions of the node's [`ossa_policy::Authorizer`]
//! loaded with many tenant policy sets.
//!
//! The workload is [`ossa_policy::authorize_workload`] (also behind `ossa-policy`'s
//! `authorize_latency` example): a federation set and `--tenants` tenant sets of
//! [`ossa_policy::POLICIES_PER_TENANT`] policies, each validated strictly against the schema
//! and installed as the node installs them. Each timed call is one
//! [`ossa_policy::Authorizer::authorize`]: checking the request, building the Cedar request
//! and the entity store (six entities), and evaluating the federation and the tenant set.
//! Building the request's data is not timed.

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use ossa_policy::{authorize_workload, POLICIES_PER_TENANT};

use super::{blocking_until_interrupted, check_stop, report, BenchReport};

/// Requests between two looks at the stop flag.
const STOP_CHECK_EVERY: usize = 1024;

/// Options of `ossa bench authorize`.
#[derive(Debug, Clone)]
pub struct AuthorizeOptions {
    /// Tenant policy sets installed.
    pub tenants: usize,
    /// Decisions timed.
    pub requests: usize,
}

/// `ossa bench authorize`: decisions per second of time spent deciding, and their latency.
pub async fn authorize(options: AuthorizeOptions) -> anyhow::Result<BenchReport> {
    blocking_until_interrupted(move |stop| run(&options, stop)).await
}

fn run(options: &AuthorizeOptions, stop: &AtomicBool) -> anyhow::Result<BenchReport> {
    eprintln!("authorize: validating and installing {} tenant policy sets ...", options.tenants);
    let started = Instant::now();
    let workload = authorize_workload(options.tenants)?;
    let install = started.elapsed();
    for n in 0..options.requests / 10 {
        if n % STOP_CHECK_EVERY == 0 {
            check_stop(stop)?;
        }
        let (request, entities) = workload.request(n);
        std::hint::black_box(workload.authorizer.authorize(&request, &entities)?);
    }
    eprintln!("authorize: timing {} decisions ...", options.requests);
    let mut latencies = Vec::with_capacity(options.requests);
    let mut allowed = 0usize;
    for n in 0..options.requests {
        if n % STOP_CHECK_EVERY == 0 {
            check_stop(stop)?;
        }
        let (request, entities) = workload.request(n);
        let t = Instant::now();
        let decision = std::hint::black_box(workload.authorizer.authorize(&request, &entities)?);
        latencies.push(t.elapsed());
        allowed += usize::from(decision.allowed);
    }
    let busy: Duration = latencies.iter().sum();
    let setup = format!(
        "{} tenant sets x {POLICIES_PER_TENANT} policies and a {}-policy federation set (validated and installed \
         in {install:.2?}); invoke requests with 6 entities, {allowed} of {} allowed; the rate is per second spent \
         in Authorizer::authorize",
        workload.tenants,
        workload.authorizer.federation_set().map_or(0, |set| set.len()),
        options.requests
    );
    Ok(report("authorize", setup, "p99 < 100 us with 1000 tenant policy sets", latencies, busy))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorize_bench_decides_against_real_policy_sets() {
        let options = AuthorizeOptions { tenants: 20, requests: 300 };
        let report = run(&options, &AtomicBool::new(false)).expect("bench");
        assert_eq!((report.bench.as_str(), report.operations), ("authorize", 300));
        assert!(report.setup.starts_with("20 tenant sets x 10 policies"), "{}", report.setup);
        assert!(!report.setup.contains(" 0 of 300 allowed"), "some requests are allowed: {}", report.setup);
        assert!(report.rate_per_s > 0.0 && report.p50_us <= report.p99_us && report.p99_us <= report.max_us);
    }
}
