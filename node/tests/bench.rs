//! `ossa bench` end to end through the binary, briefly: `commit` starts its own testnet,
//! commits writes, prints one JSON line per client count on stdout and stops its nodes; `audit`,
//! `trust`, `authorize` and `gossip` run their in-process measurements on tiny sizes and print one JSON
//! line per report. No timing is asserted: the figures are a benchmark's business, not a
//! test's.

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

/// Runs `ossa bench ARGS --json` and returns its JSON lines, checking that it succeeded and
/// that every line is a report with sane figures.
fn bench_json(args: &[&str]) -> Vec<serde_json::Value> {
    let output = Command::new(env!("CARGO_BIN_EXE_ossa"))
        .arg("bench")
        .args(args)
        .arg("--json")
        .output()
        .expect("run ossa bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let reports: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}")))
        .collect();
    for report in &reports {
        for field in ["rate_per_s", "p50_us", "p99_us", "max_us"] {
            assert!(report[field].is_number(), "{field} missing: {report}");
        }
        for field in ["bench", "setup", "goal"] {
            assert!(report[field].is_string(), "{field} missing: {report}");
        }
        assert!(report["rate_per_s"].as_f64().is_some_and(|rate| rate > 0.0), "no rate: {report}");
        assert!(report["p50_us"].as_f64() <= report["p99_us"].as_f64(), "{report}");
        assert!(report["p99_us"].as_f64() <= report["max_us"].as_f64(), "{report}");
    }
    reports
}

#[test]
fn bench_audit_reports_single_and_batched_appends_and_verification() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let dir = scratch.path().to_str().expect("utf-8 path");
    let args = ["audit", "--entries", "300", "--batch", "64", "--checkpoint-entries", "100"];
    let reports = bench_json(&[&args[..], &["--verify-entries", "500", "--verify-runs", "2", "--dir", dir]].concat());
    let names: Vec<&str> = reports.iter().filter_map(|r| r["bench"].as_str()).collect();
    assert_eq!(
        names,
        ["audit-append", "audit-append-concurrent", "audit-append-batch", "audit-verify"],
        "one JSON line per report"
    );
    assert_eq!(reports[0]["operations"], 300);
    assert_eq!(reports[1]["operations"], 300, "the concurrent writers share --entries");
    assert_eq!(reports[2]["operations"], 300);
    assert_eq!(reports[2]["batch"], 64);
    assert_eq!(reports[3]["operations"], 500, "the batched log is extended to --verify-entries");
    assert_eq!(reports[3]["trials"], 2);
    assert!(reports[0]["setup"].as_str().is_some_and(|s| s.contains("fsync")), "durability is stated");
    assert_eq!(std::fs::read_dir(scratch.path()).expect("read dir").count(), 0, "scratch data removed");
}

#[test]
fn bench_trust_reports_ingest_and_recompute() {
    let reports = bench_json(&["trust", "--orgs", "40", "--observations", "800", "--runs", "3"]);
    let names: Vec<&str> = reports.iter().filter_map(|r| r["bench"].as_str()).collect();
    assert_eq!(names, ["trust-ingest", "trust-recompute"]);
    assert_eq!(reports[0]["operations"], 800, "every observation ingested");
    assert_eq!(reports[0]["trials"], 3);
    assert_eq!(reports[1]["operations"], 3, "one recomputation per run");
}

#[test]
fn bench_authorize_reports_decisions() {
    let reports = bench_json(&["authorize", "--tenants", "20", "--requests", "200"]);
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0]["bench"], "authorize");
    assert_eq!(reports[0]["operations"], 200);
    assert!(reports[0]["setup"].as_str().is_some_and(|s| s.starts_with("20 tenant sets")), "{}", reports[0]);
}

#[test]
fn bench_gossip_reports_both_figures_per_size() {
    let reports = bench_json(&["gossip", "--nodes", "4,6", "--trials", "2"]);
    let names: Vec<(&str, u64)> =
        reports.iter().filter_map(|r| Some((r["bench"].as_str()?, r["nodes"].as_u64()?))).collect();
    assert_eq!(names, [("gossip", 4), ("gossip-all", 4), ("gossip", 6), ("gossip-all", 6)]);
    for report in &reports {
        assert_eq!(report["operations"], 2, "every record reached every node: {report}");
        assert_eq!(report["errors"], 0, "{report}");
        assert_eq!(report["trials"], 2, "{report}");
    }
}
