//! Chaos against a real testnet: seeded kills and pauses while clients write, then the
//! checker's verdict. The CI run is short (a few faults); the soak run is behind
//! `cargo test -p ossa-node --test chaos -- --ignored`.

use std::process::Command;

use ossa_testnet::Federation;
use serde_json::Value;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs `ossa testnet chaos` on a fresh 3-steward testnet and returns its JSON report.
async fn chaos_run(seed: u64, faults: usize, seconds: u64) -> Value {
    let _serial = SERIAL.lock().await;
    let net = Federation::up(env!("CARGO_BIN_EXE_ossa"), 3, 3).expect("testnet up");
    let output = Command::new(env!("CARGO_BIN_EXE_ossa"))
        .args(["testnet", "chaos", "--json", "--seed", &seed.to_string()])
        .args(["--faults", &faults.to_string(), "--seconds", &seconds.to_string(), "--dir"])
        .arg(net.testnet_dir())
        .output()
        .expect("run ossa testnet chaos");
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
    assert!(output.status.success(), "violations: {}", report["verdict"]);

    // `testnet check` on the healed testnet agrees with the run's own verdict.
    let check = Command::new(env!("CARGO_BIN_EXE_ossa"))
        .args(["testnet", "check", "--json", "--dir"])
        .arg(net.testnet_dir())
        .output()
        .expect("run ossa testnet check");
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
    report
}

#[tokio::test(flavor = "multi_thread")]
async fn a_short_seeded_chaos_run_loses_no_acknowledged_write() {
    let report = chaos_run(11, 3, 12).await;
    assert_eq!(report["faults"].as_array().map(Vec::len), Some(3));
    let acknowledged = report["history"]["acknowledged"].as_array().map(Vec::len).unwrap_or(0);
    assert!(acknowledged > 10, "the clients got writes through: {acknowledged}");
    assert_eq!(report["verdict"]["violations"], serde_json::json!([]));
    assert_eq!(report["verdict"]["acknowledged"].as_u64(), Some(acknowledged as u64));
    assert_every_fault_healed_by_itself(&report);
}

/// Every fault's node was ready and caught up again with nothing done but ending the fault.
fn assert_every_fault_healed_by_itself(report: &Value) {
    for fault in report["faults"].as_array().expect("faults") {
        assert!(fault["recovered_after_ms"].is_u64(), "did not recover by itself: {fault}");
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "soak: minutes of faults; run with --ignored"]
async fn a_long_soak_loses_no_acknowledged_write() {
    let report = chaos_run(2026, 30, 300).await;
    assert_eq!(report["verdict"]["violations"], serde_json::json!([]));
    assert_every_fault_healed_by_itself(&report);
}
