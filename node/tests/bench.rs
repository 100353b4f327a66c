//! `ossa bench commit` end to end, briefly: it starts its own testnet, commits writes, prints
//! one JSON line per client count on stdout and stops its nodes. No timing is asserted: the
//! figures are a benchmark's business, not a test's.

use std::process::Command;

#[test]
fn bench_commit_prints_one_json_line_per_client_count() {
    let output = Command::new(env!("CARGO_BIN_EXE_ossa"))
        .args(["bench", "commit", "--clients", "2", "--seconds", "1", "--json"])
        .output()
        .expect("run ossa bench commit");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "progress belongs on stderr; stdout:\n{stdout}");
    let report: serde_json::Value = serde_json::from_str(lines[0]).expect("a JSON line");
    assert_eq!(report["bench"], "commit");
    assert_eq!(report["clients"], 2);
    for field in ["rate_per_s", "p50_us", "p99_us", "max_us"] {
        assert!(report[field].is_number(), "{field} missing: {report}");
    }
    assert!(report["errors"].is_u64(), "{report}");
    assert!(report["rate_per_s"].as_f64().is_some_and(|rate| rate > 0.0), "nothing committed: {report}");
    assert!(report["p50_us"].as_f64() <= report["p99_us"].as_f64(), "{report}");
}
