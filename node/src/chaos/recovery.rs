//! Self-healing: whether a node comes back by itself once its fault ends.
//!
//! Right after a fault's end action (the killed node restarted, the paused one resumed, the
//! cut one's links unblocked), [`watch`] reads the highest Raft index the other nodes have
//! applied, then polls the fault's node's `/v1/status` until it answers ready and has applied
//! at least that index: it rejoined the federation and caught up on what it missed, with
//! nothing done but ending the fault. The time that took, or `None` past [`RECOVERY_TIMEOUT`],
//! goes into the fault's `recovered_after_ms`; [`summary`] tells it per fault class.

use std::time::{Duration, Instant};

use super::faults::{Fault, FaultKind};
use crate::api::Status;
use crate::launch::TestnetManifest;

/// How long a node may take to come back before it counts as not recovered by itself.
pub const RECOVERY_TIMEOUT: Duration = Duration::from_secs(60);

/// Between two status polls of the recovering node.
const POLL: Duration = Duration::from_millis(100);

/// Watches node `node` of `manifest` recover (see the module docs), in the background.
pub fn watch(manifest: &TestnetManifest, node: usize) -> tokio::task::JoinHandle<Option<u64>> {
    let apis: Vec<String> = manifest.nodes.iter().map(|n| n.api.clone()).collect();
    tokio::spawn(async move {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().ok()?;
        let started = Instant::now();
        let mut target = 0;
        for (i, api) in apis.iter().enumerate() {
            if i != node {
                target = target.max(status(&client, api).await.and_then(|s| s.last_applied).unwrap_or(0));
            }
        }
        while started.elapsed() < RECOVERY_TIMEOUT {
            let status = status(&client, &apis[node]).await;
            if status.is_some_and(|s| s.ready && s.last_applied.unwrap_or(0) >= target) {
                return Some(started.elapsed().as_millis() as u64);
            }
            tokio::time::sleep(POLL).await;
        }
        None
    })
}

/// A node's `/v1/status`, or `None` while it does not answer.
async fn status(client: &reqwest::Client, api: &str) -> Option<Status> {
    client.get(format!("{api}/v1/status")).send().await.ok()?.json().await.ok()
}

/// One line per fault class that occurred: how many of its faults recovered by themselves, and
/// the slowest recovery.
pub fn summary(faults: &[Fault]) -> Vec<String> {
    [FaultKind::Kill, FaultKind::Pause, FaultKind::Partition]
        .into_iter()
        .filter_map(|kind| {
            let of_kind: Vec<&Fault> = faults.iter().filter(|f| f.kind == kind).collect();
            if of_kind.is_empty() {
                return None;
            }
            let times: Vec<u64> = of_kind.iter().filter_map(|f| f.recovered_after_ms).collect();
            let slowest = times.iter().max().map_or(String::new(), |ms| format!(", slowest in {ms} ms"));
            Some(format!("{kind:?}: {} of {} recovered by themselves{slowest}", times.len(), of_kind.len()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(kind: FaultKind, recovered_after_ms: Option<u64>) -> Fault {
        Fault { at_ms: 0, for_ms: 1, node: 0, kind, recovered_after_ms }
    }

    #[test]
    fn the_summary_counts_recoveries_per_fault_class() {
        let faults = [
            fault(FaultKind::Kill, Some(1200)),
            fault(FaultKind::Kill, None),
            fault(FaultKind::Partition, Some(300)),
            fault(FaultKind::Partition, Some(800)),
        ];
        assert_eq!(
            summary(&faults),
            vec![
                "Kill: 1 of 2 recovered by themselves, slowest in 1200 ms".to_owned(),
                "Partition: 2 of 2 recovered by themselves, slowest in 800 ms".to_owned(),
            ]
        );
    }
}
