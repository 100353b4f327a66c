//! `ossa bench commit`: committed registry writes per second, and their latency, with 1, 64
//! and 256 concurrent clients.
//!
//! A fresh 3-steward loopback testnet ([`BenchNet`], fsync on as always) is started. For each
//! client count, that many tasks, each with its own keep-alive HTTP/1.1 connection (one
//! `reqwest::Client` each), `POST /v1/tenants` with unique names in a loop: every request is a
//! Raft write committed by a quorum before the 201. The requests go to the leader's API, as
//! etcd's benchmark writes to its leader: through a follower a write takes one more hop (the
//! forward to the leader over libp2p). After a warm-up of a fifth of the timed run, each
//! request's latency is measured from sending it to having read the whole answer; only 201s
//! count, anything else is an error. The clients run in this process, on the same machine as
//! the nodes, so they share its CPU with them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use reqwest::StatusCode;
use tokio::task::JoinSet;

use super::{report, until_interrupted, BenchNet, BenchReport, STEWARDS};

/// Most concurrent clients: each holds a connection, a file descriptor in this process and one
/// in the leader, and the usual soft limit is 1024 open files per process; 512 is twice the
/// design's largest figure.
pub const MAX_CLIENTS: usize = 512;
/// The timed run is preceded by a warm-up of `1 / WARMUP_DIVISOR` of it (connections open,
/// nodes' caches and sled's files warm).
const WARMUP_DIVISOR: u32 = 5;
/// Deadline of one write: a commit takes milliseconds; one that takes this long is an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause of a client after an error, so a node that refuses fast is not flooded.
const ERROR_PAUSE: Duration = Duration::from_millis(10);

/// Options of `ossa bench commit`.
#[derive(Debug, Clone)]
pub struct CommitOptions {
    /// Client counts to measure, in order.
    pub clients: Vec<usize>,
    /// Length of each timed run.
    pub seconds: u64,
}

/// Parses one client count of `--clients`: a number from 1 to [`MAX_CLIENTS`].
pub fn parse_client_count(text: &str) -> Result<usize, String> {
    let count: usize = text.trim().parse().map_err(|_| format!("{text:?} is not a number of clients"))?;
    if !(1..=MAX_CLIENTS).contains(&count) {
        return Err(format!("client counts go from 1 to {MAX_CLIENTS}, not {count}"));
    }
    Ok(count)
}

/// The design's goal for `clients` concurrent clients (DESIGN.md, Performance).
fn goal_for(clients: usize) -> &'static str {
    match clients {
        1 => "p50 < 1000 us, p99 < 5000 us (etcd: 1.6 ms average)",
        64 => "p99 < 20000 us (Consul: p99 48.9 ms)",
        256 => ">= 20000/s, >= 2x etcd (7.5-9k/s on this machine)",
        _ => "goals are set for 1, 64 and 256 clients",
    }
}

/// Committed writes and errors of some clients.
#[derive(Debug, Default)]
struct Tally {
    /// Latency of each committed write.
    latencies: Vec<Duration>,
    /// Requests not answered 201.
    errors: u64,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
    }
}

/// Where and how the clients write.
#[derive(Debug, Clone)]
struct Target {
    url: Arc<str>,
    token: Arc<str>,
    /// Source of unique tenant names.
    names: Arc<AtomicU64>,
}

/// `ossa bench commit`: one report per client count.
pub async fn commit(options: CommitOptions) -> anyhow::Result<Vec<BenchReport>> {
    until_interrupted(run(options)).await
}

async fn run(options: CommitOptions) -> anyhow::Result<Vec<BenchReport>> {
    if options.clients.is_empty() {
        bail!("no client counts given");
    }
    if options.seconds == 0 {
        bail!("--seconds must be at least 1");
    }
    let net = BenchNet::start().await?;
    let leader = net.leader().await?;
    let node = &net.nodes()[leader];
    let target = Target {
        url: format!("{}/v1/tenants", node.api).into(),
        token: net.token(leader).into(),
        names: Arc::new(AtomicU64::new(0)),
    };
    eprintln!("writing to the leader, {} ({})", node.org, node.api);
    let timed = Duration::from_secs(options.seconds);
    let warmup = timed / WARMUP_DIVISOR;
    let mut reports = Vec::with_capacity(options.clients.len());
    for &count in &options.clients {
        let clients = (0..count)
            .map(|_| {
                reqwest::Client::builder().timeout(REQUEST_TIMEOUT).tcp_nodelay(true).pool_max_idle_per_host(1).build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        eprintln!("{count} clients: warming up for {warmup:?}, then timing {timed:?}");
        run_clients(&clients, &target, warmup).await?;
        let (tally, elapsed) = run_clients(&clients, &target, timed).await?;
        let setup = format!(
            "{STEWARDS} stewards on loopback, fsync on; {count} clients (a keep-alive connection each, in this \
             process) creating tenants through the leader's API ({}); {} errors",
            node.org, tally.errors
        );
        let mut report = report("commit", setup, goal_for(count), tally.latencies, elapsed);
        report.clients = Some(count);
        report.errors = Some(tally.errors);
        eprintln!(
            "  {count} clients: {:.0} commits/s, p50 {:.0} us, p99 {:.0} us, {} errors",
            report.rate_per_s, report.p50_us, report.p99_us, tally.errors
        );
        reports.push(report);
    }
    net.finish();
    Ok(reports)
}

/// Runs one client per connection in `clients` for `duration`; returns their tally and the
/// time until the last one finished.
async fn run_clients(
    clients: &[reqwest::Client],
    target: &Target,
    duration: Duration,
) -> anyhow::Result<(Tally, Duration)> {
    let started = Instant::now();
    let until = started + duration;
    let mut tasks = JoinSet::new();
    for http in clients {
        tasks.spawn(client(http.clone(), target.clone(), until));
    }
    let mut total = Tally::default();
    while let Some(tally) = tasks.join_next().await {
        total.merge(tally?);
    }
    Ok((total, started.elapsed()))
}

/// One client: creates tenants one after the other until `until`.
async fn client(http: reqwest::Client, target: Target, until: Instant) -> Tally {
    let mut tally = Tally::default();
    while Instant::now() < until {
        let name = format!("bench-{}", target.names.fetch_add(1, Ordering::Relaxed));
        let started = Instant::now();
        let sent =
            http.post(&*target.url).bearer_auth(&*target.token).json(&serde_json::json!({ "name": name })).send().await;
        let committed = match sent {
            // Reading the body lets the connection be reused.
            Ok(response) => response.status() == StatusCode::CREATED && response.bytes().await.is_ok(),
            Err(_) => false,
        };
        if committed {
            tally.latencies.push(started.elapsed());
        } else {
            tally.errors += 1;
            tokio::time::sleep(ERROR_PAUSE).await;
        }
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_counts_are_numbers_within_the_limit() {
        assert_eq!(parse_client_count("64"), Ok(64));
        assert_eq!(parse_client_count(" 1 "), Ok(1));
        assert_eq!(parse_client_count(&MAX_CLIENTS.to_string()), Ok(MAX_CLIENTS));
        for bad in ["0", "-1", "x", "", "1.5", &(MAX_CLIENTS + 1).to_string()] {
            assert!(parse_client_count(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn each_design_figure_has_its_goal() {
        assert!(goal_for(1).contains("p50 < 1000 us"));
        assert!(goal_for(64).contains("p99 < 20000 us"));
        assert!(goal_for(256).contains(">= 20000/s"));
        assert!(goal_for(2).contains("1, 64 and 256"));
    }

    #[test]
    fn tallies_add_up() {
        let mut total = Tally::default();
        total.merge(Tally { latencies: vec![Duration::from_micros(1)], errors: 2 });
        total.merge(Tally { latencies: vec![Duration::from_micros(2), Duration::from_micros(3)], errors: 1 });
        assert_eq!((total.latencies.len(), total.errors), (3, 3));
    }
}
