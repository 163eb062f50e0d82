//! A fleet judged through Prometheus: three `promptctl serve` replicas on loopback, a real
//! Prometheus (Debian's package) scraping them every second, feedback spread across the
//! replicas, and a controller that reads the fleet's series instead of one server's memory.

mod common;

use std::time::{Duration, Instant};

use common::prometheus::{Prometheus, binary, run_now, text};
use common::server::{Server, free_port};
use common::{TestRepo, released};
use serde_json::{Value, json};

const NAME: &str = "support/triage";

/// Starts a canary with a plan, on the real clock.
fn start_plan(repo: &TestRepo, min_samples: &str) {
    let out = run_now(
        repo,
        &[
            "canary",
            NAME,
            "10%",
            "--ramp",
            "50,100",
            "--every",
            "1s",
            "--max-error-rate",
            "5%",
            "--min-samples",
            min_samples,
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
}

fn versions(server: &Server) -> (String, String) {
    let (_, list) = server.get("/v1/prompts");
    let prompt = list["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == NAME)
        .unwrap()
        .clone();
    let canary = prompt["canary"].as_str().expect("a canary").to_owned();
    (prompt["active"].as_str().unwrap().to_owned(), canary)
}

/// Posts `n` reports for `version` to a replica, the first `errors` of them failed.
fn feed(server: &Server, version: &str, n: usize, errors: usize) {
    for i in 0..n {
        let outcome = if i < errors { "error" } else { "success" };
        let (status, body) = server.post(
            "/v1/feedback",
            &json!({"name": NAME, "version": version, "outcome": outcome,
                    "latency_ms": 80.0 + i as f64, "cost_usd": 0.001, "score": 0.8}),
        );
        assert_eq!(status, 202, "{body}");
    }
}

fn actions(repo: &TestRepo) -> Vec<String> {
    let out = repo.run(&["log", "--json", "-n", "50"]).expect(0);
    let entries: Vec<Value> = serde_json::from_str(&out.stdout).unwrap();
    entries
        .iter()
        .rev()
        .map(|e| e["action"].as_str().unwrap_or("").to_owned())
        .collect()
}

fn replicas(repo: &TestRepo, ports: &[u16]) -> Vec<Server> {
    ports
        .iter()
        .map(|port| Server::start_on(repo, *port, &[], &[]))
        .collect()
}

/// The canary's reports Prometheus holds across the fleet (raw counters, summed).
fn canary_reports(version: &str) -> String {
    format!(
        "sum(promptctl_feedback_total{{prompt=\"{NAME}\",version=\"{version}\",track=\"canary\"}})"
    )
}

#[test]
fn a_bad_canary_is_reverted_through_prometheus_with_one_replica_down() {
    let Some(binary) = binary() else { return };
    let repo = released("");
    start_plan(&repo, "30");
    let ports = [free_port(), free_port(), free_port()];
    let mut fleet = replicas(&repo, &ports);
    let prometheus = Prometheus::start(&binary, &ports);
    prometheus.wait_for("count(up == 1)", 3.0);
    let (active, canary) = versions(&fleet[0]);
    // 30% errors on the canary against none on active, spread over the three replicas.
    for server in &fleet {
        feed(server, &active, 40, 0);
        feed(server, &canary, 20, 6);
    }
    prometheus.wait_for(&canary_reports(&canary), 60.0);
    // One replica goes away; its series stop, and what it reported still counts.
    drop(fleet.pop());
    let url = prometheus.url();
    let out = run_now(&repo, &["rollout", "status", "--prometheus", &url]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("error_rate breach"), "{}", text(&out));
    let out = run_now(&repo, &["rollout", "step", "--prometheus", &url]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("revert"), "{}", text(&out));
    assert_eq!(actions(&repo).last().map(String::as_str), Some("revert"));
}

#[test]
fn a_healthy_canary_is_promoted_by_a_controller_reading_prometheus_across_restarts() {
    let Some(binary) = binary() else { return };
    let repo = released("");
    start_plan(&repo, "20");
    let ports = [free_port(), free_port(), free_port()];
    let mut fleet = replicas(&repo, &ports);
    let prometheus = Prometheus::start(&binary, &ports);
    prometheus.wait_for("count(up == 1)", 3.0);
    let url = prometheus.url();
    // The controller runs in a fourth server that receives no feedback at all: it sees
    // the fleet only through Prometheus.
    let controller_args = [
        "--controller",
        "--controller-interval",
        "1s",
        "--prometheus",
        &url,
    ];
    let mut controller = Server::start(&repo, &controller_args, &[]);
    let (active, canary) = versions(&fleet[0]);
    let started = Instant::now();
    let mut restarted = false;
    while !actions(&repo).iter().any(|a| a == "promote") {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not promoted: {:?}",
            actions(&repo)
        );
        for server in &fleet {
            feed(server, &active, 10, 0);
            feed(server, &canary, 5, 0);
        }
        // A replica restarts in the middle: its counters start again from zero, which
        // `increase()` reads as a reset, not as reports lost. The controller restarts
        // too: the evidence is in Prometheus, not in its memory.
        if !restarted && actions(&repo).iter().any(|a| a == "advance") {
            // Seen: the controller's /v1/rollouts showed its own (empty) feedback, "0 of
            // 100 canary reports", beside a decision made on the fleet's. Its figures come
            // from the source its decision read.
            let (_, rollouts) = controller.get("/v1/rollouts");
            for view in rollouts["rollouts"].as_array().unwrap() {
                if view["last_decision"].is_object() {
                    assert_eq!(view["figures_from"], "controller", "{view}");
                    assert!(
                        view["summary"]["canary"]["reports"].as_u64().unwrap_or(0) > 0,
                        "{view}"
                    );
                }
            }
            drop(fleet.remove(1));
            fleet.insert(1, Server::start_on(&repo, ports[1], &[], &[]));
            drop(controller);
            controller = Server::start(&repo, &controller_args, &[]);
            restarted = true;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(restarted, "promoted without a restart in the middle");
    drop(controller);
    let actions = actions(&repo);
    assert!(!actions.iter().any(|a| a == "revert"), "{actions:?}");
    assert!(actions.iter().any(|a| a == "advance"), "{actions:?}");
}

#[test]
fn a_query_error_holds_the_step_and_says_why() {
    let Some(binary) = binary() else { return };
    let repo = released(
        "\n[rollout.metrics.thumbs_down]\nquery = 'sum(rate(app_thumbs_down_total{prompt=\"{{ prompt }}\"}[{{ window }}]) '\nmax = 0.1\n",
    );
    start_plan(&repo, "5");
    let port = free_port();
    let server = Server::start_on(&repo, port, &[], &[]);
    let prometheus = Prometheus::start(&binary, &[port]);
    prometheus.wait_for("count(up == 1)", 1.0);
    let (active, canary) = versions(&server);
    feed(&server, &active, 20, 0);
    feed(&server, &canary, 20, 0);
    prometheus.wait_for(&canary_reports(&canary), 20.0);
    let url = prometheus.url();
    std::thread::sleep(Duration::from_millis(1100));
    let out = run_now(&repo, &["rollout", "step", "--prometheus", &url]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    // The custom gate's query does not parse: the step holds, never advances.
    assert!(said.contains("hold"), "{said}");
    assert!(
        said.contains("thumbs_down: the query failed (400 Bad Request)"),
        "{said}"
    );
    assert!(!actions(&repo).iter().any(|a| a == "advance"), "{said}");
    // Prometheus gone: the built-in gates cannot be read either, and say so.
    drop(prometheus);
    let out = run_now(&repo, &["rollout", "status", "--prometheus", &url]);
    let said = text(&out);
    assert!(
        said.contains("error_rate inconclusive: the metric source could not be read"),
        "{said}"
    );
    assert!(said.contains("now      hold"), "{said}");
    assert!(!said.contains("canary   0 reports"), "{said}");
    // Seen: `rollout step` held quietly and exited 0 with Prometheus stopped.
    let out = run_now(&repo, &["rollout", "step", "--prometheus", &url]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("the metric source could not be read, so its steps held"),
        "{}",
        text(&out)
    );
}

/// Waits until the controller's dashboard says `words`.
fn await_dashboard(controller: &Server, words: &str) {
    let started = Instant::now();
    loop {
        let (status, _, page) = common::server::http(controller.port, "GET", "/", &[], "");
        if status == 200 && page.contains(words) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the dashboard never said {words:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn after_a_gap_the_controller_waits_for_prometheus_to_catch_up_before_judging() {
    let Some(binary) = binary() else { return };
    let repo = released("");
    start_plan(&repo, "30");
    let port = free_port();
    let server = Server::start_on(&repo, port, &[], &[]);
    let mut prometheus = Prometheus::start(&binary, &[port]);
    prometheus.wait_for("count(up == 1)", 1.0);
    let (active, canary) = versions(&server);
    // Before the gap: a healthy canary with just enough reports to be judged.
    feed(&server, &active, 30, 0);
    feed(&server, &canary, 30, 0);
    prometheus.wait_for(&canary_reports(&canary), 30.0);
    prometheus.stop();
    let url = prometheus.url();
    let controller = Server::start(
        &repo,
        &[
            "--controller",
            "--controller-interval",
            "1s",
            "--prometheus",
            &url,
        ],
        &[],
    );
    await_dashboard(&controller, "did not answer");
    // During the gap the canary fails a third of its requests.
    feed(&server, &canary, 30, 20);
    // Seen: the first decision after Prometheus returned was made on the counts from
    // before the gap (152 of about 400 canary reports). Prometheus now scrapes every 15 s,
    // so its first scrape comes well after the controller's first look.
    prometheus.restart(&binary, "15s");
    await_dashboard(
        &controller,
        "has not yet scraped every replica since the gap",
    );
    assert!(
        !actions(&repo)
            .iter()
            .any(|a| a == "advance" || a == "promote"),
        "judged on the counts from before the gap: {:?}",
        actions(&repo)
    );
    let started = Instant::now();
    while !actions(&repo).iter().any(|a| a == "revert") {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not reverted: {:?}",
            actions(&repo)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let actions = actions(&repo);
    assert!(
        !actions.iter().any(|a| a == "advance" || a == "promote"),
        "{actions:?}"
    );
}

#[test]
fn replies_the_service_cannot_parse_revert_the_canary_through_prometheus() {
    let Some(binary) = binary() else { return };
    let repo = released("");
    let out = run_now(
        &repo,
        &[
            "canary",
            NAME,
            "10%",
            "--ramp",
            "50,100",
            "--every",
            "1s",
            "--max-error-rate",
            "50%",
            "--max-invalid-output-rate",
            "2%",
            "--min-samples",
            "30",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let ports = [free_port(), free_port()];
    let fleet = replicas(&repo, &ports);
    let prometheus = Prometheus::start(&binary, &ports);
    prometheus.wait_for("count(up == 1)", 2.0);
    let (active, canary) = versions(&fleet[0]);
    // Every request succeeds, and a third of the canary's replies cannot be parsed.
    for server in &fleet {
        for (version, n, invalid) in [(&active, 40, 0), (&canary, 30, 10)] {
            for i in 0..n {
                let (status, body) = server.post(
                    "/v1/feedback",
                    &json!({"name": NAME, "version": version, "outcome": "success", "output_valid": i >= invalid}),
                );
                assert_eq!(status, 202, "{body}");
            }
        }
    }
    prometheus.wait_for(
        &format!("sum(promptctl_feedback_outputs_total{{prompt=\"{NAME}\",version=\"{canary}\",track=\"canary\",valid=\"false\"}})"),
        20.0,
    );
    let url = prometheus.url();
    let out = run_now(&repo, &["rollout", "status", "--prometheus", &url]);
    assert!(
        text(&out).contains("invalid_output breach"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("vs active 0.0% (at most +2 points;"),
        "{}",
        text(&out)
    );
    let out = run_now(&repo, &["rollout", "step", "--prometheus", &url]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(actions(&repo).last().map(String::as_str), Some("revert"));
}
