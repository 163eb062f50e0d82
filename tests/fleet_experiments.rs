//! An experiment judged through Prometheus: three `promptctl serve` replicas, a real
//! Prometheus (Debian's package) scraping them every second, feedback spread across the
//! replicas with one restarting in the middle (its counters start again from zero), and
//! `experiment status` and `conclude` reading the fleet's `promptctl_experiment_*` series.

mod common;

use common::prometheus::{Prometheus, binary, run_now, text};
use common::released;
use common::server::{Server, free_port};
use serde_json::{Value, json};

const NAME: &str = "support/triage";

/// Posts `n` reports for an arm's version, `ones` of them with score 1 and the rest 0, and
/// as many `metrics.delta` values of -1 (a custom figure below zero is counted exactly).
fn feed(server: &Server, version: &str, n: usize, ones: usize) {
    for i in 0..n {
        let (status, body) = server.post(
            "/v1/feedback",
            &json!({"name": NAME, "version": version, "outcome": "success",
                    "score": if i < ones { 1.0 } else { 0.0 }, "metrics": {"delta": -1.0}}),
        );
        assert_eq!(status, 202, "{body}");
    }
}

fn reports(arm: &str) -> String {
    format!(
        "sum(increase(promptctl_experiment_reports_total{{prompt=\"{NAME}\",experiment=\"tone\",arm=\"{arm}\"}}[1h]))"
    )
}

/// The counters as the replicas hold them now, summed: not extrapolated, so a wait on it
/// ends only once every report was scraped.
fn raw(arm: &str) -> String {
    format!(
        "sum(promptctl_experiment_reports_total{{prompt=\"{NAME}\",experiment=\"tone\",arm=\"{arm}\"}})"
    )
}

/// A release of support/triage with experiment `tone` (old = active, new = HEAD) started
/// on the real clock, with `extra` flags.
fn started(extra: &[&str]) -> common::TestRepo {
    let repo = released("");
    let mut args = vec![
        "experiment",
        "start",
        "tone",
        "--prompt",
        NAME,
        "--arm",
        "old=active",
        "--arm",
        "new=HEAD",
    ];
    args.extend_from_slice(extra);
    let out = run_now(&repo, &args);
    assert!(out.status.success(), "{}", text(&out));
    repo
}

#[test]
fn an_experiment_is_judged_and_concluded_on_the_fleets_series() {
    let Some(binary) = binary() else { return };
    let repo = started(&[]);
    let ports = [free_port(), free_port(), free_port()];
    let mut fleet: Vec<Server> = ports
        .iter()
        .map(|port| Server::start_on(&repo, *port, &[], &[]))
        .collect();
    let prometheus = Prometheus::start(&binary, &ports);
    prometheus.wait_for("count(up == 1)", 3.0);
    let (_, body) = fleet[0].get("/v1/experiments");
    let arms = body["experiments"][0]["experiment"]["arms"].clone();
    let (old, new) = (
        arms[0]["version"].as_str().unwrap(),
        arms[1]["version"].as_str().unwrap(),
    );
    // The zero series are scraped before the first report, so `increase()` counts it.
    prometheus.wait_for(
        "count(promptctl_experiment_reports_total{experiment=\"tone\"})",
        12.0,
    );
    for server in &fleet {
        feed(server, old, 20, 10);
        feed(server, new, 20, 18);
    }
    prometheus.wait_for(&raw("new"), 60.0);
    prometheus.wait_for(&raw("old"), 60.0);
    // A replica restarts: its counters go back to zero, which `increase()` reads as a
    // reset, not as reports lost.
    drop(fleet.remove(1));
    fleet.insert(1, Server::start_on(&repo, ports[1], &[], &[]));
    // Prometheus sees the counter back at 0 before new reports, so it sees the reset:
    // reports a replica gets before its first scrape after a restart could not be told
    // from the old count (docs/experiments.md).
    prometheus.wait_for(
        &format!(
            "sum(promptctl_experiment_reports_total{{experiment=\"tone\",instance=\"127.0.0.1:{}\"}}) == bool 0",
            ports[1]
        ),
        1.0,
    );
    for server in &fleet {
        feed(server, old, 20, 10);
        feed(server, new, 20, 18);
    }
    // The restarted replica holds only its second 20 of each arm.
    prometheus.wait_for(&raw("new"), 100.0);
    prometheus.wait_for(&raw("old"), 100.0);
    let url = prometheus.url();
    let out = run_now(
        &repo,
        &["experiment", "status", "--prometheus", &url, "--json"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let judged: Value = serde_json::from_slice(&out.stdout).unwrap();
    let analysis = &judged[0]["analysis"];
    assert_eq!(analysis["verdict"], "winner", "{analysis}");
    assert_eq!(analysis["arm"], "new", "{analysis}");
    for (i, want) in [(0, 0.5), (1, 0.9)] {
        let mean = analysis["arms"][i]["mean"].as_f64().unwrap();
        assert!(
            (mean - want).abs() < 0.01,
            "{i}: {mean} vs {want}: {analysis}"
        );
        let n = analysis["arms"][i]["n"].as_u64().unwrap();
        // Each replica read at its latest scrape: exactly what was sent, the restart
        // included.
        assert_eq!(n, 120, "{i}");
    }
    let out = run_now(
        &repo,
        &["experiment", "conclude", "tone", "--prometheus", &url],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("arm new"), "{}", text(&out));
    let log: Value =
        serde_json::from_str(&repo.run(&["log", "--json", "-n", "1"]).expect(0).stdout).unwrap();
    assert_eq!(log[0]["action"], "conclude");
    assert!(
        log[0]["reason"].as_str().unwrap().contains("new is better"),
        "{log}"
    );
}

#[test]
fn a_custom_metric_below_zero_and_an_unreadable_source_are_said_as_such() {
    let Some(binary) = binary() else { return };
    let repo = started(&["--metric", "custom:delta:lower"]);
    let ports = [free_port()];
    let server = Server::start_on(&repo, ports[0], &[], &[]);
    let prometheus = Prometheus::start(&binary, &ports);
    prometheus.wait_for("count(up == 1)", 1.0);
    prometheus.wait_for(
        "count(promptctl_experiment_reports_total{experiment=\"tone\"})",
        4.0,
    );
    let (_, body) = server.get("/v1/experiments");
    let arms = body["experiments"][0]["experiment"]["arms"].clone();
    feed(&server, arms[0]["version"].as_str().unwrap(), 40, 0);
    prometheus.wait_for(&reports("old"), 39.5);
    let out = run_now(
        &repo,
        &[
            "experiment",
            "status",
            "--prometheus",
            &prometheus.url(),
            "--json",
        ],
    );
    let judged: Value = serde_json::from_slice(&out.stdout).unwrap();
    let old = &judged[0]["analysis"]["arms"][0];
    // Forty values of -1: a sum below zero, read back exactly (never as a counter reset).
    assert!((old["mean"].as_f64().unwrap() + 1.0).abs() < 1e-9, "{old}");
    assert_eq!(judged[0]["analysis"]["verdict"], "running", "{judged}");
    // Prometheus gone: the figures are unread, said so, and the command fails.
    drop(prometheus);
    let out = run_now(
        &repo,
        &[
            "experiment",
            "status",
            "--prometheus",
            &format!("http://127.0.0.1:{}", free_port()),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("figures unread, nothing decided"),
        "{}",
        text(&out)
    );
}
