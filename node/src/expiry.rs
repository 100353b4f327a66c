//! Certificate expiry: an operator hears about it before peers start refusing the node.
//!
//! Peers check validity dates at admission (`ossa_trust::verify_org_cert`), so an expired
//! certificate is refused with the reason `expired`, which the refused node logs. Before that,
//! this task warns in the log once a day from [`WARN_BEFORE`] ahead, `/metrics` exports
//! `ossa_cert_expiry_timestamp_seconds`, and `ossa status` shows the date and a warning.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::now_ms;
use crate::daemon::NodeContext;

/// How long before expiry the warnings start: a month leaves time to have the federation admin
/// issue a new certificate.
pub const WARN_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);

/// How often the warning repeats.
const WARN_PERIOD: Duration = Duration::from_secs(24 * 3600);

/// Seconds until `expires_at` (Unix seconds), negative once past.
pub fn seconds_left(expires_at: u64, now_secs: u64) -> i64 {
    i64::try_from(expires_at).unwrap_or(i64::MAX).saturating_sub(i64::try_from(now_secs).unwrap_or(i64::MAX))
}

/// Whether a certificate expiring at `expires_at` deserves a warning at `now_secs`.
pub fn needs_warning(expires_at: u64, now_secs: u64) -> bool {
    seconds_left(expires_at, now_secs) < WARN_BEFORE.as_secs() as i64
}

/// Warns about the node's own certificate, for as long as the node runs.
pub async fn run_expiry_warnings(node: Arc<NodeContext>) {
    let mut tick = tokio::time::interval(WARN_PERIOD);
    loop {
        tick.tick().await;
        let left = seconds_left(node.cert_expires_at, now_ms() / 1000);
        if left <= 0 {
            tracing::error!(
                "the org certificate has expired: peers refuse this node; ask the federation admin for a new one"
            );
        } else if needs_warning(node.cert_expires_at, now_ms() / 1000) {
            tracing::warn!(
                days_left = left / 86_400,
                "the org certificate expires soon; ask the federation admin for a new one"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_within_a_month_and_after_expiry() {
        let day = 86_400;
        assert!(!needs_warning(100 * day, 60 * day));
        assert!(needs_warning(100 * day, 71 * day));
        assert!(needs_warning(100 * day, 101 * day));
        assert_eq!(seconds_left(10, 20), -10);
    }
}
