//! Progressive rollout end to end: the real server with its controller, synthetic traffic
//! posted as feedback, and the release history the decisions leave.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use common::server::Server;
use common::{TestRepo, released};
use serde_json::{Value, json};

const NAME: &str = "support/triage";

/// The served pointers of support/triage: (active, canary).
fn pointers(server: &Server) -> (String, Option<String>) {
    let (_, list) = server.get("/v1/prompts");
    let prompt = list["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == NAME)
        .unwrap()
        .clone();
    (
        prompt["active"].as_str().unwrap().to_owned(),
        prompt["canary"].as_str().map(str::to_owned),
    )
}

/// Posts `n` feedback reports for a version, the first `errors` of them failed.
fn feed(server: &Server, version: &str, n: usize, errors: usize, cost: f64) {
    for i in 0..n {
        let outcome = if i < errors { "error" } else { "success" };
        let (status, body) = server.post(
            "/v1/feedback",
            &json!({"name": NAME, "version": version, "outcome": outcome,
                    "latency_ms": 120.0, "cost_usd": cost, "score": 0.9}),
        );
        assert_eq!(status, 202, "{body}");
    }
}

/// Waits until `done` holds, feeding traffic with `each` in between.
fn until(what: &str, limit: Duration, mut each: impl FnMut() -> bool) {
    let started = Instant::now();
    while !each() {
        assert!(started.elapsed() < limit, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn controller(repo: &TestRepo, interval: &str) -> Server {
    Server::start(
        repo,
        &["--controller", "--controller-interval", interval],
        &[],
    )
}

/// Release commits, oldest first: (action, summary, reason).
fn history(repo: &TestRepo) -> Vec<(String, String, String)> {
    let run = repo.run(&["log", "--json", "-n", "100"]).expect(0);
    let entries: Vec<Value> = serde_json::from_str(&run.stdout).unwrap();
    entries
        .iter()
        .rev()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or("").to_owned(),
                e["summary"].as_str().unwrap_or("").to_owned(),
                e["reason"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_healthy_canary_ramps_through_every_step_and_is_promoted() {
    let repo = released("");
    let v2 = {
        let run = repo.run(&["show", NAME, "--json"]).expect(0);
        serde_json::from_str::<Value>(&run.stdout).unwrap()["version"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    repo.run(&[
        "canary",
        NAME,
        "5%",
        "--ramp",
        "25,50,100",
        "--every",
        "1s",
        "--min-samples",
        "20",
        "--max-error-rate",
        "5%",
        "--max-latency-increase",
        "50%",
    ])
    .expect(0);
    let server = controller(&repo, "200ms");
    until("the canary to be promoted", Duration::from_secs(90), || {
        let (active, canary) = pointers(&server);
        match canary {
            Some(canary) => {
                feed(&server, &canary, 10, 0, 0.001);
                feed(&server, &active, 10, 0, 0.001);
                false
            }
            None => active == v2,
        }
    });
    let decisions: Vec<(String, String, String)> = history(&repo)
        .into_iter()
        .filter(|(_, _, reason)| reason.starts_with("rollout controller"))
        .collect();
    let summaries: Vec<&str> = decisions.iter().map(|(_, s, _)| s.as_str()).collect();
    assert_eq!(
        summaries.len(),
        3,
        "two advances and a promote, each once: {summaries:?}"
    );
    assert!(summaries[0].starts_with("advance support/triage to 25% (stage 2 of 4)"));
    assert!(summaries[1].starts_with("advance support/triage to 50% (stage 3 of 4)"));
    assert!(summaries[2].starts_with("promote support/triage"));
    assert!(decisions[2].2.contains("error rate 0.0%"), "{decisions:?}");
    let status = repo.run(&["rollout", "status"]).expect(0);
    assert!(
        status.stdout.contains("no rollout in flight"),
        "{}",
        status.stdout
    );
}

#[test]
fn a_canary_with_40_percent_errors_is_reverted_within_one_interval() {
    let repo = released("");
    repo.run(&[
        "canary",
        NAME,
        "10%",
        "--ramp",
        "50,100",
        "--every",
        "1h",
        "--min-samples",
        "20",
    ])
    .expect(0);
    let server = controller(&repo, "500ms");
    let (active, canary) = pointers(&server);
    let canary = canary.unwrap();
    feed(&server, &active, 50, 0, 0.001);
    feed(&server, &canary, 50, 20, 0.001);
    let breached = Instant::now();
    until("the canary to be reverted", Duration::from_secs(20), || {
        pointers(&server).1.is_none()
    });
    // One interval, plus a poll to serve it, plus slack for a loaded machine.
    assert!(
        breached.elapsed() < Duration::from_secs(5),
        "took {:?}",
        breached.elapsed()
    );
    let log = repo.run(&["log", "-n", "1"]).expect(0);
    assert!(
        log.stdout.contains("revert support/triage: drop canary"),
        "{}",
        log.stdout
    );
    assert!(
        log.stdout
            .contains("error rate 40.0% vs active 0.0% (at most +5 points; +40.0 ± "),
        "{}",
        log.stdout
    );
    let status = repo.run(&["status", "--json"]).expect(0);
    assert!(
        status.stdout.contains("\"rollout\": null"),
        "every key is kept, with null: {}",
        status.stdout
    );
}

#[test]
fn a_low_traffic_canary_holds_instead_of_advancing_or_failing() {
    let repo = released("");
    repo.run(&[
        "canary",
        NAME,
        "5%",
        "--ramp",
        "100",
        "--every",
        "1s",
        "--min-samples",
        "50",
    ])
    .expect(0);
    let tip = repo.run(&["log", "-n", "1", "--json"]).expect(0).stdout;
    let server = controller(&repo, "200ms");
    let (active, canary) = pointers(&server);
    let canary = canary.unwrap();
    // Few reports, all failed: not enough to judge either way.
    feed(&server, &canary, 5, 5, 0.001);
    feed(&server, &active, 100, 0, 0.001);
    // Judged after the reports arrived: a decision newer than the feed.
    until(
        "a judgement with the reports",
        Duration::from_secs(15),
        || {
            let (_, body) = server.get("/v1/rollouts");
            let last = &body["rollouts"][0]["last_decision"]["evaluation"]["decision"];
            last["reason"]
                .as_str()
                .is_some_and(|r| r.contains("5 of 50"))
        },
    );
    assert_eq!(pointers(&server).1.as_deref(), Some(canary.as_str()));
    assert_eq!(
        repo.run(&["log", "-n", "1", "--json"]).expect(0).stdout,
        tip
    );
    let (_, body) = server.get("/v1/rollouts");
    let last = &body["rollouts"][0]["last_decision"]["evaluation"]["decision"];
    assert_eq!(last["decision"], "hold", "{body}");
    assert!(
        last["reason"]
            .as_str()
            .unwrap()
            .contains("5 of 50 canary reports"),
        "{last}"
    );
    let url = format!("http://127.0.0.1:{}", server.port);
    // Past the one-second step, `rollout status` judges it as the controller did.
    repo.advance(2);
    let status = repo.run(&["rollout", "status", "--from", &url]).expect(0);
    assert!(
        status
            .stdout
            .contains("hold: inconclusive: 5 of 50 canary reports"),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains("canary   5 reports, 100.0% errors"),
        "{}",
        status.stdout
    );
}

#[test]
fn a_freeze_window_stops_advancing_but_never_a_revert() {
    let repo = released(
        "\n[[rollout.freeze]]\ndays = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]\nreason = \"release freeze\"\n",
    );
    repo.run(&[
        "canary",
        NAME,
        "5%",
        "--ramp",
        "50,100",
        "--every",
        "1s",
        "--min-samples",
        "20",
    ])
    .expect(0);
    let server = controller(&repo, "200ms");
    let (active, canary) = pointers(&server);
    let canary = canary.unwrap();
    feed(&server, &active, 40, 0, 0.001);
    feed(&server, &canary, 40, 0, 0.001);
    until(
        "a judgement with the reports",
        Duration::from_secs(15),
        || {
            let (_, body) = server.get("/v1/rollouts");
            body["rollouts"][0]["last_decision"]["evaluation"]["decision"]["decision"] == "frozen"
        },
    );
    let (_, body) = server.get("/v1/rollouts");
    let rollout = &body["rollouts"][0];
    assert_eq!(rollout["plan"]["step"], 0, "{body}");
    assert_eq!(
        rollout["last_decision"]["evaluation"]["decision"]["decision"], "frozen",
        "{body}"
    );
    assert!(
        rollout["route"] == "5%",
        "the freeze kept the canary at its stage: {body}"
    );
    feed(&server, &canary, 40, 40, 0.001);
    until("the breach to revert", Duration::from_secs(20), || {
        pointers(&server).1.is_none()
    });
}

#[test]
fn a_cohort_stage_routes_exactly_that_cohort() {
    let repo = released("");
    repo.run(&[
        "canary",
        NAME,
        "--stage",
        "cohort=internal",
        "--stage",
        "cohort=beta",
        "--ramp",
        "50,100",
        "--every",
        "1h",
    ])
    .expect(0);
    let state = repo.run(&["status", "--json"]).expect(0).stdout;
    assert!(
        state.contains("\"canary_route\": \"cohort internal\""),
        "{state}"
    );
    let human = repo.run(&["status"]).expect(0).stdout;
    assert!(human.contains("cohort internal (stage 1/4)"), "{human}");
    let server = Server::start(&repo, &[], &[]);
    let (active, canary) = pointers(&server);
    let canary = canary.unwrap();
    for i in 0..200 {
        for (cohort, expected) in [
            (Some("internal"), &canary),
            (Some("beta"), &active),
            (Some("Internal"), &active),
            (None, &active),
        ] {
            let path = match cohort {
                Some(c) => format!("/v1/prompts/{NAME}?key=user-{i}&attr.cohort={c}"),
                None => format!("/v1/prompts/{NAME}?key=user-{i}"),
            };
            let (_, body) = server.get(&path);
            assert_eq!(&body["version"], expected.as_str(), "{path}");
        }
    }
    let run = repo
        .run(&[
            "resolve", NAME, "--key", "u1", "--cohort", "internal", "--json",
        ])
        .expect(0);
    assert!(
        run.stdout.contains("\"track\":\"canary\""),
        "{}",
        run.stdout
    );
    let (_, rendered) = server.post(
        "/v1/render",
        &json!({"name": NAME, "key": "u1", "attrs": {"cohort": "internal"},
                "vars": {"ticket": "help"}}),
    );
    assert_eq!(rendered["track"], "canary", "{rendered}");
    // The client library routes cohorts in process, the same way.
    let client = promptctl::client::Client::from_repo(repo.path())
        .build()
        .unwrap();
    for key in ["u1", "u2", "u3"] {
        let inside = client
            .resolve_with(NAME, Some(key), &[("cohort", "internal")])
            .unwrap();
        assert_eq!(inside.version.to_string(), canary);
        let outside = client
            .resolve_with(NAME, Some(key), &[("region", "internal")])
            .unwrap();
        assert_eq!(outside.version.to_string(), active);
    }
}

#[test]
fn two_controllers_running_at_once_make_each_decision_once() {
    let repo = released("");
    repo.run(&[
        "canary",
        NAME,
        "10%",
        "--ramp",
        "30,100",
        "--every",
        "1s",
        "--min-samples",
        "10",
    ])
    .expect(0);
    let first = controller(&repo, "100ms");
    let second = controller(&repo, "100ms");
    until("the canary to be promoted", Duration::from_secs(90), || {
        let (active, canary) = pointers(&first);
        match canary {
            Some(canary) => {
                for server in [&first, &second] {
                    feed(server, &canary, 10, 0, 0.001);
                    feed(server, &active, 10, 0, 0.001);
                }
                false
            }
            None => true,
        }
    });
    // Let the slower controller catch up with what the faster one did.
    std::thread::sleep(Duration::from_millis(500));
    let actions: Vec<String> = history(&repo)
        .into_iter()
        .filter(|(_, _, reason)| reason.starts_with("rollout controller"))
        .map(|(action, _, _)| action)
        .collect();
    assert_eq!(actions, ["advance", "promote"]);
}

/// A canary at 5% of a plan `50,100` every hour whose cost is an alert-only gate, breached
/// by twice the active cost over 20 reports each; the webhook is `url`. Returns the
/// repository, its server and the server's URL.
fn cost_alert_canary(url: &str) -> (TestRepo, Server, String) {
    let repo = released(&format!(
        "\n[rollout]\nalert_only = [\"cost\"]\nwebhook = \"{url}\"\n"
    ));
    repo.run(&[
        "canary",
        NAME,
        "5%",
        "--ramp",
        "50,100",
        "--every",
        "1h",
        "--min-samples",
        "10",
        "--max-cost-increase",
        "10%",
    ])
    .expect(0);
    let server = Server::start(&repo, &[], &[]);
    let from = format!("http://127.0.0.1:{}", server.port);
    let (active, canary) = pointers(&server);
    feed(&server, &active, 80, 0, 0.001);
    feed(&server, &canary.unwrap(), 80, 0, 0.002);
    (repo, server, from)
}

/// A one-shot webhook receiver: the body of every POST it gets, until dropped.
fn webhook() -> (String, mpsc::Receiver<Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/hooks/SECRET-PATH",
        listener.local_addr().unwrap()
    );
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
            if let Ok(value) = serde_json::from_slice(&body)
                && send.send(value).is_err()
            {
                return;
            }
        }
    });
    (url, receive)
}

#[test]
fn rollout_step_from_cron_alerts_once_on_an_alert_only_gate_and_steers_plans() {
    let (url, alerts) = webhook();
    let (repo, server, from) = cost_alert_canary(&url);
    let canary = pointers(&server).1.unwrap();
    let step = repo.run(&["rollout", "step", "--from", &from]).expect(0);
    assert!(
        step.stdout
            .contains("alert support/triage: cost (alert only)"),
        "{}",
        step.stdout
    );
    let alert = alerts.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(alert["type"], "promptctl.alert");
    assert_eq!(alert["prompt"], NAME);
    assert_eq!(alert["gates"], json!(["cost"]));
    assert!(
        alert["message"].as_str().unwrap().contains("+100.0%"),
        "{alert}"
    );
    // Once delivered and recorded, the same breach does not alert again, nor revert.
    std::thread::sleep(Duration::from_millis(300));
    let again = repo.run(&["rollout", "step", "--from", &from]).expect(0);
    assert!(again.stdout.contains("waiting until"), "{}", again.stdout);
    assert!(alerts.recv_timeout(Duration::from_millis(500)).is_err());
    assert_eq!(pointers(&server).1.as_deref(), Some(canary.as_str()));

    repo.run(&["rollout", "pause", "--reason", "looking into cost"])
        .expect(0);
    let status = repo.run(&["rollout", "status", "--json"]).expect(0);
    assert!(
        status.stdout.contains("\"paused\": true"),
        "{}",
        status.stdout
    );
    repo.run(&["rollout", "resume"]).expect(0);
    repo.run(&["rollout", "abort", NAME]).expect(0);
    let log = repo.run(&["log", "-n", "3"]).expect(0);
    assert!(
        log.stdout.contains("abort the rollout of support/triage"),
        "{}",
        log.stdout
    );
    assert!(log.stdout.contains("looking into cost"), "{}", log.stdout);
    let none = repo.run(&["rollout", "pause"]).expect(2);
    assert!(
        none.stderr.contains("no rollout is in flight"),
        "{}",
        none.stderr
    );
}

#[test]
fn an_unreachable_webhook_is_retried_and_never_leaks_its_url() {
    let dead = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks/SECRET-PATH", dead.local_addr().unwrap());
    drop(dead);
    let repo = released(&format!(
        "\n[rollout]\nalert_only = [\"error_rate\"]\nwebhook = \"{url}\"\n"
    ));
    repo.run(&["canary", NAME, "5%", "--ramp", "100", "--min-samples", "5"])
        .expect(0);
    let tip = repo.run(&["log", "-n", "1", "--json"]).expect(0).stdout;
    let server = Server::start(&repo, &[], &[]);
    let (_, canary) = pointers(&server);
    feed(&server, &canary.unwrap(), 10, 10, 0.001);
    let from = format!("http://127.0.0.1:{}", server.port);
    let step = repo.run(&["rollout", "step", "--from", &from]).expect(1);
    assert!(
        step.stdout.contains("failed: cannot post to the webhook"),
        "{}",
        step.stdout
    );
    assert!(!step.stdout.contains("SECRET") && !step.stderr.contains("SECRET"));
    assert_eq!(
        repo.run(&["log", "-n", "1", "--json"]).expect(0).stdout,
        tip
    );
    let unreachable = repo
        .run(&["rollout", "step", "--from", "http://127.0.0.1:1"])
        .expect(2);
    assert!(
        unreachable.stderr.contains("cannot read feedback"),
        "{}",
        unreachable.stderr
    );
}

#[test]
fn plans_and_policies_refuse_bad_input_with_a_hint() {
    let repo = released("\n[rollout]\nmax_canaries = 1\n");
    for (args, message) in [
        (
            &["canary", NAME, "50%", "--ramp", "25,100"][..],
            "does not rise",
        ),
        (&["canary", NAME, "--stage", "region=eu"], "only attribute"),
        (&["canary", NAME, "5%", "--every", "soon"], "not a duration"),
        (
            &["canary", NAME, "5%", "--max-error-rate", "lots"],
            "not a percentage",
        ),
        (
            &["canary", NAME, "5%", "--stage", "25%"],
            "give percentages with PERCENT",
        ),
        (
            &["canary", NAME, "5%", "--max-score-drop=-0.5"],
            "--max-score-drop: `max_score_drop` cannot be negative",
        ),
        (
            &["canary", NAME, "5%", "--min-score", "nan"],
            "--min-score: `min_score` must be a finite number",
        ),
    ] {
        let run = repo.run(args).expect(2);
        assert!(run.stderr.contains(message), "{args:?}: {}", run.stderr);
    }
    repo.run(&["canary", NAME, "5%"]).expect(0);
    repo.write(
        "prompts/support/reply.toml",
        &std::fs::read_to_string(repo.path().join("prompts/support/reply.toml"))
            .unwrap()
            .replace("reply", "answer"),
    );
    repo.commit("reply v2");
    let run = repo.run(&["canary", "support/reply", "5%"]).expect(2);
    assert!(
        run.stderr.contains("allows 1 canary in flight") && run.stderr.contains(NAME),
        "{}",
        run.stderr
    );
    // Re-weighting the canary in flight is not a new canary.
    repo.run(&["canary", NAME, "10%"]).expect(0);
    repo.write("promptctl.toml", "[rollout]\nmax_canaries = 0\n");
    let run = repo.run(&["status"]).expect(2);
    assert!(
        run.stderr.contains("rollout.max_canaries"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_human_output_of_a_rollout() {
    let repo = released("");
    let mut transcript = String::new();
    let mut run = |args: &[&str], code: i32| {
        let run = repo.run(args).expect(code);
        transcript.push_str(&format!("$ promptctl {}\n{}", args.join(" "), run.stdout));
    };
    run(
        &[
            "canary",
            NAME,
            "--stage",
            "cohort=internal",
            "--ramp",
            "5,100",
            "--every",
            "1h",
            "--min-samples",
            "10",
            "--max-latency-increase",
            "20%",
        ],
        0,
    );
    run(&["status", NAME], 0);
    let server = Server::start(&repo, &[], &[]);
    let (active, canary) = pointers(&server);
    feed(&server, &active, 30, 1, 0.001);
    feed(&server, &canary.unwrap(), 12, 0, 0.001);
    let from = format!("http://127.0.0.1:{}", server.port);
    run(&["rollout", "status", "--from", &from], 0);
    run(&["rollout", "step", "--from", &from], 0);
    run(&["rollout", "pause", NAME, "--reason", "a closer look"], 0);
    run(&["rollout", "abort"], 0);
    // Commands run at a fixed time (`PROMPTCTL_NOW`), so times and release commits are
    // stable; only the server's port changes.
    insta::with_settings!({filters => vec![(r"127\.0\.0\.1:\d+", "127.0.0.1:<port>")]}, {
        insta::assert_snapshot!(transcript);
    });
}

#[test]
fn rollout_step_with_push_shares_its_decision_through_a_bare_remote() {
    let repo = released("");
    let bare = repo.add_bare_remote();
    repo.run(&[
        "canary",
        NAME,
        "5%",
        "--ramp",
        "50,100",
        "--every",
        "1s",
        "--min-samples",
        "5",
        "--push",
    ])
    .expect(0);
    let server = Server::start(&repo, &[], &[]);
    let (active, canary) = pointers(&server);
    // Enough reports for the error-rate gate to show the canary within its limit.
    feed(&server, &active, 80, 0, 0.001);
    feed(&server, &canary.unwrap(), 80, 0, 0.001);
    // The step of one second is over when `rollout step` judges it.
    repo.advance(2);
    let from = format!("http://127.0.0.1:{}", server.port);
    let step = repo
        .run(&["rollout", "step", "--from", &from, "--push", "--json"])
        .expect(0);
    let reports: Value = serde_json::from_str(&step.stdout).unwrap();
    assert_eq!(reports[0]["applied"]["result"], "committed", "{reports}");
    // The remote's release branch holds the decision.
    let remote = git2::Repository::open_bare(bare.path()).unwrap();
    let tip = remote
        .find_reference("refs/heads/promptctl/production")
        .unwrap()
        .peel_to_commit()
        .unwrap();
    let summary = String::from_utf8_lossy(tip.summary_bytes().unwrap()).into_owned();
    assert!(
        summary.starts_with("advance support/triage to 50%"),
        "{summary}"
    );
    let entry = tip.tree().unwrap().get_name("state.toml").unwrap().id();
    let state = String::from_utf8(remote.find_blob(entry).unwrap().content().to_vec()).unwrap();
    assert!(
        state.contains("canary_weight = 50.0\n") && state.contains("step = 1\n"),
        "{state}"
    );
    // With the remote gone, the step fails cleanly and the local branch is untouched.
    let tip = repo.run(&["log", "-n", "1", "--json"]).expect(0).stdout;
    drop(bare);
    let gone = repo.run(&["rollout", "step", "--from", &from, "--push"]);
    assert_eq!(gone.code, 2, "{}", gone.stderr);
    assert_eq!(
        repo.run(&["log", "-n", "1", "--json"]).expect(0).stdout,
        tip
    );
}

/// Re-weighting a canary that has cohorts by hand dropped the cohorts: the internal keys on
/// the canary fell from 200/200 to about the new weight. The cohorts now stay, and the
/// command says so.
#[test]
fn reweighting_a_cohort_canary_keeps_its_cohorts() {
    let repo = released("");
    repo.run(&[
        "canary",
        NAME,
        "--stage",
        "cohort=internal",
        "--ramp",
        "50,100",
        "--every",
        "1h",
    ])
    .expect(0);
    let keys: String = (0..200).map(|i| format!("user-{i}\n")).collect();
    repo.write("keys.txt", &keys);
    let on_canary = |repo: &common::TestRepo| {
        let run = repo
            .run(&[
                "resolve",
                NAME,
                "--keys-file",
                "keys.txt",
                "--cohort",
                "internal",
                "--json",
            ])
            .expect(0);
        run.stdout.matches("\"track\":\"canary\"").count()
    };
    assert_eq!(on_canary(&repo), 200);
    let run = repo.run(&["canary", NAME, "75%"]).expect(0);
    assert!(
        run.stdout
            .contains("the cohorts internal stay on the canary"),
        "{}",
        run.stdout
    );
    assert_eq!(
        on_canary(&repo),
        200,
        "every internal key stays on the canary"
    );
}

/// A webhook that answers 500 to everything, counting the posts.
fn failing_webhook() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks/x", listener.local_addr().unwrap());
    let posts = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&posts);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut request = [0u8; 8192];
            let _ = stream.read(&mut request);
            counted.fetch_add(1, Ordering::SeqCst);
            let _ = stream.write_all(
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    (url, posts)
}

/// With its webhook answering 500, an alert-only gate held a healthy canary at its stage
/// for 13 controller passes, although an alert-only gate does not stop advancing. The
/// alert fails (and is tried again), and the step advances in the same pass.
#[test]
fn a_failing_webhook_does_not_hold_a_rollout_back() {
    let (url, posts) = failing_webhook();
    let (repo, _server, from) = cost_alert_canary(&url);
    repo.advance(3601);
    let step = repo.run(&["rollout", "step", "--from", &from]).expect(1);
    assert!(step.stdout.contains("answered 500"), "{}", step.stdout);
    assert!(step.stdout.contains("advance to 50%"), "{}", step.stdout);
    assert!(posts.load(Ordering::SeqCst) >= 1);
    let status = repo.run(&["status", "--json"]).expect(0).stdout;
    assert!(status.contains("\"canary_weight\": 50.0"), "{status}");
}

/// A webhook value that is not http(s) was printed in full in the config error, secret
/// path included. Only its scheme and host are shown, as everywhere else.
#[test]
fn a_bad_webhook_url_is_refused_without_showing_its_secret() {
    let repo = common::sample_repo();
    let path = repo.path().join("promptctl.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(
        "\n[rollout]\nalert_only = [\"cost\"]\nwebhook = \"ftp://user:pw@hooks.example.com/T0/SECRET-PATH\"\n",
    );
    std::fs::write(&path, text).unwrap();
    let run = repo.run(&["list"]).expect(2);
    assert!(
        run.stderr.contains("ftp://hooks.example.com/…"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("SECRET") && !run.stderr.contains("pw@"),
        "{}",
        run.stderr
    );
}

/// With one of its replicas down, `rollout step --from …` exited 2 on every pass and
/// reverted nothing while the canary failed 29% of requests. It now judges on the replicas
/// it can read, says which it could not, and a breach seen on part of the fleet reverts.
#[test]
fn a_replica_down_does_not_silence_the_controller() {
    let repo = released("");
    repo.run(&[
        "canary",
        NAME,
        "10%",
        "--ramp",
        "50,100",
        "--min-samples",
        "10",
    ])
    .expect(0);
    let server = Server::start(&repo, &[], &[]);
    let (active, canary) = pointers(&server);
    feed(&server, &active, 60, 0, 0.001);
    feed(&server, &canary.unwrap(), 60, 24, 0.001);
    let down = TcpListener::bind("127.0.0.1:0").unwrap();
    let down_url = format!("http://{}", down.local_addr().unwrap());
    drop(down);
    let up = format!("http://127.0.0.1:{}", server.port);
    let step = repo
        .run(&["rollout", "step", "--from", &up, "--from", &down_url])
        .expect(0);
    assert!(
        step.stderr.contains("judging without one replica"),
        "{}",
        step.stderr
    );
    assert!(step.stderr.contains(&down_url), "{}", step.stderr);
    assert!(step.stdout.contains("revert"), "{}", step.stdout);
    let status = repo.run(&["status", "--json"]).expect(0).stdout;
    assert!(!status.contains("canary_weight\": 10"), "{status}");
}

/// The controller judged only on its fixed tick, so a step of `--every 2s` waited for the
/// next 30 s pass. It now wakes when a step falls due and when feedback arrives: with a
/// 30 s interval, a 2 s step advances within a few seconds.
#[test]
fn the_controller_wakes_when_a_step_is_due_not_only_on_its_tick() {
    let repo = released("");
    let real_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let status = repo
        .command(
            repo.path(),
            &[
                "canary",
                NAME,
                "10%",
                "--ramp",
                "50,100",
                "--every",
                "2s",
                "--min-samples",
                "10",
            ],
        )
        .env("PROMPTCTL_NOW", &real_now)
        .status()
        .unwrap();
    assert!(status.success());
    let server = controller(&repo, "30s");
    let (active, canary) = pointers(&server);
    let canary = canary.unwrap();
    feed(&server, &active, 80, 0, 0.001);
    feed(&server, &canary, 80, 0, 0.001);
    // Well before the 30 s tick.
    until("the 2 s step to advance", Duration::from_secs(15), || {
        history(&repo)
            .iter()
            .any(|(action, _, _)| action == "advance")
    });
}
