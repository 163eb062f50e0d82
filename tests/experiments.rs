//! Experiments on a real release: `experiment start` writes a release commit; every route
//! (the CLI, `/v1/prompts`, `/v1/render`, OFREP, the Rust client) gives each caller the same
//! arm; `/v1/feedback` carries the arm into `/v1/experiments` and `/metrics`; `status` and
//! `conclude` judge on the servers' figures; `revert` undoes a conclusion; a controller
//! concludes on its own when asked and stops an experiment at its limits.

mod common;

use common::server::{Server, http};
use common::{TestRepo, released};
use serde_json::{Value, json};

const NAME: &str = "support/triage";

fn start(repo: &TestRepo, extra: &[&str]) -> String {
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
        // The server judges on the real clock, long after the tests' fixed one.
        "--max-duration",
        "365d",
    ];
    args.extend_from_slice(extra);
    repo.run(&args).expect(0).stdout
}

fn versions(repo: &TestRepo) -> (String, String) {
    let status: Value =
        serde_json::from_str(&repo.run(&["status", "--json"]).expect(0).stdout).unwrap();
    let triage = status["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == NAME)
        .unwrap()
        .clone();
    let arms = triage["experiment"]["arms"].as_array().unwrap();
    (
        arms[0]["version"].as_str().unwrap().to_owned(),
        arms[1]["version"].as_str().unwrap().to_owned(),
    )
}

fn triage(status: &Value) -> &Value {
    status["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == NAME)
        .unwrap()
}

fn state_toml(repo: &TestRepo) -> String {
    let git = git2::Repository::open(repo.path()).unwrap();
    let tip = git
        .find_reference("refs/heads/promptctl/production")
        .unwrap();
    let tree = tip.peel_to_tree().unwrap();
    let blob = tree
        .get_name("state.toml")
        .unwrap()
        .to_object(&git)
        .unwrap();
    String::from_utf8(blob.as_blob().unwrap().content().to_vec()).unwrap()
}

fn ofrep(server: &Server, context: &Value) -> Value {
    let (_, _, body) = http(
        server.port,
        "POST",
        &format!("/ofrep/v1/evaluate/flags/{NAME}"),
        &[("Content-Type", "application/json")],
        &json!({ "context": context }).to_string(),
    );
    serde_json::from_str(&body).unwrap()
}

#[test]
fn every_route_gives_each_caller_the_same_arm() {
    let repo = released("");
    let said = start(&repo, &["--where", "plan = \"pro\"", "--split", "30,70"]);
    assert!(
        said.contains("experiment tone on support/triage: old (30%)"),
        "{said}"
    );
    let state = state_toml(&repo);
    assert!(state.starts_with("format = 4\n"), "{state}");
    assert!(
        state.contains("[prompts.\"support/triage\".experiment]\nname = \"tone\"\n"),
        "{state}"
    );
    assert!(
        state.contains("split = [30.0, 70.0]\nwhere = \"plan = \\\"pro\\\"\"\n"),
        "{state}"
    );
    let (old, new) = versions(&repo);
    let server = Server::start(&repo, &[], &[]);
    let client = promptctl::client::Client::from_repo(repo.path())
        .build()
        .unwrap();
    let split = promptctl::store::Split::parse("30,70").unwrap();
    let keys: Vec<String> = (0..150).map(|i| format!("user-{i}")).collect();
    repo.write("keys.txt", &keys.join("\n"));
    let cli: Vec<Value> = repo
        .run(&[
            "resolve",
            NAME,
            "--keys-file",
            "keys.txt",
            "--attr",
            "plan=pro",
            "--json",
        ])
        .expect(0)
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut on_new = 0;
    for (key, row) in keys.iter().zip(&cli) {
        // The arm is the normative assignment of docs/bucketing.md.
        let arm = ["old", "new"][split.arm("tone", key)];
        let version = if arm == "old" { &old } else { &new };
        on_new += usize::from(arm == "new");
        assert_eq!(row["arm"], arm, "{row}");
        assert_eq!(row["track"], "experiment");
        assert_eq!(row["version"], version.as_str());
        let (_, resolved) = server.get(&format!("/v1/prompts/{NAME}?key={key}&attr.plan=pro"));
        assert_eq!(resolved["arm"], arm, "{resolved}");
        assert_eq!(resolved["experiment"], "tone");
        assert_eq!(resolved["version"], version.as_str());
        let flag = ofrep(&server, &json!({"targetingKey": key, "plan": "pro"}));
        assert_eq!(flag["metadata"]["arm"], arm, "{flag}");
        assert_eq!(flag["metadata"]["version"], version.as_str());
        assert_eq!(flag["reason"], "SPLIT");
        let (_, rendered) = server.post(
            "/v1/render",
            &json!({"name": NAME, "key": key, "vars": {"ticket": "t"}, "attrs": {"plan": "pro"}}),
        );
        assert_eq!(rendered["version"], version.as_str(), "{rendered}");
        let native = client
            .resolve_with(NAME, Some(key), &[("plan", "pro")])
            .unwrap();
        assert_eq!(native.version.to_string(), *version);
        assert_eq!(native.arm, Some(("tone".to_owned(), arm.to_owned())));
    }
    assert!(
        (25..=70).contains(&(150 - on_new)),
        "{on_new} of 150 on new at 70%"
    );
    // Outside the segment: active, decided by the rule; without the attribute: active,
    // counted, never an error.
    let outside = ofrep(&server, &json!({"targetingKey": "user-1", "plan": "free"}));
    assert_eq!(outside["reason"], "TARGETING_MATCH", "{outside}");
    assert_eq!(outside["metadata"]["track"], "active");
    assert!(outside["metadata"].get("arm").is_none());
    let unknown = ofrep(&server, &json!({"targetingKey": "user-1"}));
    assert_eq!(unknown["reason"], "DEFAULT", "{unknown}");
    assert_eq!(unknown["metadata"]["version"], old.as_str());
    let (_, _, metrics) = http(server.port, "GET", "/metrics", &[], "");
    assert!(
        metrics.contains("promptctl_targeting_fallbacks_total{prompt=\"support/triage\""),
        "{metrics}"
    );
    assert!(metrics.contains(&format!(
        "promptctl_resolves_total{{prompt=\"support/triage\",version=\"{new}\",track=\"experiment\"}}"
    )));
}

/// Sends `n` reports for an arm: `ones` of them with score 1, the rest 0.
fn feed(server: &Server, version: &str, arm: Option<&str>, n: usize, ones: usize) {
    for i in 0..n {
        let mut report = json!({
            "name": NAME, "version": version, "outcome": "success",
            "score": if i < ones { 1.0 } else { 0.0 },
        });
        if let Some(arm) = arm {
            report["arm"] = json!(arm);
        }
        let (status, body) = server.post("/v1/feedback", &report);
        assert_eq!(status, 202, "{body}");
    }
}

#[test]
fn feedback_judges_the_arms_and_conclude_makes_the_winner_active() {
    let repo = released("");
    start(&repo, &[]);
    let (old, new) = versions(&repo);
    let server = Server::start(&repo, &[], &[]);
    let url = format!("http://127.0.0.1:{}", server.port);
    // Refused before anything is counted.
    for (report, says) in [
        (
            json!({"name": NAME, "version": new, "outcome": "success", "arm": "nope"}),
            "not an arm",
        ),
        (
            json!({"name": NAME, "version": new, "outcome": "success", "arm": "old"}),
            "serves",
        ),
        (
            json!({"name": NAME, "version": new, "outcome": "success",
                   "metrics": (0..17).map(|i| (format!("m{i}"), json!(1.0))).collect::<serde_json::Map<_, _>>()}),
            "at most 16",
        ),
    ] {
        let (status, body) = server.post("/v1/feedback", &report);
        assert_eq!(status, 422, "{body}");
        assert!(body.to_string().contains(says), "{body}");
    }
    // Nothing read yet: the experiment runs, said with why.
    let status = repo
        .run(&["experiment", "status", "--from", &url])
        .expect(0);
    assert!(
        status.stdout.contains("every arm needs 30 reports"),
        "{}",
        status.stdout
    );
    feed(&server, &old, None, 300, 150);
    feed(&server, &new, Some("new"), 300, 270);
    let (_, body) = server.get("/v1/experiments");
    let view = &body["experiments"][0];
    assert_eq!(view["figures"]["arms"]["old"]["values"], 300, "{view}");
    assert_eq!(view["figures"]["arms"]["new"]["sum"], 270.0);
    assert_eq!(view["analysis"]["verdict"], "winner");
    assert_eq!(view["analysis"]["arm"], "new");
    let (_, _, metrics) = http(server.port, "GET", "/metrics", &[], "");
    assert!(metrics.contains("promptctl_experiment_reports_total{prompt=\"support/triage\",experiment=\"tone\",arm=\"new\",outcome=\"success\"} 300"), "{metrics}");
    assert!(metrics.contains("promptctl_experiment_value_sum_total{prompt=\"support/triage\",experiment=\"tone\",arm=\"old\",sign=\"positive\"} 150"));
    let status = repo
        .run(&["experiment", "status", "--from", &url])
        .expect(0);
    assert!(
        status.stdout.contains("new is better than every other arm"),
        "{}",
        status.stdout
    );
    assert!(status.stdout.contains("0.9000 ±"), "{}", status.stdout);
    // One answer from every route: the CLI's analysis of the server's figures is the
    // server's, and the dashboard says the verdict in the same words.
    let cli: Value = serde_json::from_str(
        &repo
            .run(&["experiment", "status", "--from", &url, "--json"])
            .expect(0)
            .stdout,
    )
    .unwrap();
    let (_, body) = server.get("/v1/experiments");
    assert_eq!(cli[0]["analysis"], body["experiments"][0]["analysis"]);
    let (_, _, page) = http(server.port, "GET", "/", &[], "");
    assert!(page.contains("experiment tone"), "{page}");
    assert!(
        page.contains("new is better than every other arm"),
        "{page}"
    );
    assert!(
        page.contains("promptctl experiment conclude tone (arm new)"),
        "{page}"
    );
    let concluded = repo
        .run(&["experiment", "conclude", "tone", "--from", &url])
        .expect(0);
    assert!(
        concluded
            .stdout
            .contains("conclude tone on support/triage: arm new"),
        "{}",
        concluded.stdout
    );
    let status: Value =
        serde_json::from_str(&repo.run(&["status", "--json"]).expect(0).stdout).unwrap();
    assert_eq!(triage(&status)["active"], new.as_str(), "{status}");
    assert!(triage(&status).get("experiment").is_none());
    let log = repo.run(&["log", "--json"]).expect(0).stdout;
    let log: Value = serde_json::from_str(&log).unwrap();
    let reason = log[0]["reason"].as_str().unwrap_or_default().to_owned();
    assert!(
        reason.contains("score old 0.5000"),
        "the figures are recorded: {log}"
    );
    assert_eq!(log[0]["action"], "conclude");
    repo.run(&["revert", NAME]).expect(0);
    let status: Value =
        serde_json::from_str(&repo.run(&["status", "--json"]).expect(0).stdout).unwrap();
    assert_eq!(triage(&status)["active"], old.as_str());
}

#[test]
fn bad_experiments_are_refused_and_a_prompt_runs_one_thing_at_a_time() {
    let repo = released("");
    let refused = |args: &[&str], says: &str| {
        let mut all = vec!["experiment", "start", "tone", "--prompt", NAME];
        all.extend_from_slice(args);
        let run = repo.run(&all);
        assert_ne!(run.code, 0, "{all:?}");
        assert!(run.stderr.contains(says), "{all:?}: {}", run.stderr);
    };
    refused(&["--arm", "a=HEAD"], "2 to 8 arms");
    refused(
        &[
            "--arm", "a=HEAD", "--arm", "b=active", "--split", "50,25,25",
        ],
        "3 shares for 2 arms",
    );
    refused(
        &["--arm", "a=HEAD", "--arm", "a=active"],
        "two arms are named `a`",
    );
    refused(&["--arm", "A=HEAD", "--arm", "b=active"], "not an arm name");
    refused(
        &["--arm", "a=HEAD", "--arm", "b=active", "--alpha", "30%"],
        "more than 20%",
    );
    refused(
        &[
            "--arm",
            "a=HEAD",
            "--arm",
            "b=active",
            "--max-duration",
            "10m",
        ],
        "max-duration",
    );
    refused(
        &["--arm", "a=HEAD", "--arm", "b=active", "--metric", "clicks"],
        "not a metric",
    );
    refused(
        &["--arm", "a=HEAD", "--arm", "b=active", "--where", "plan ="],
        "--where",
    );
    repo.run(&["canary", NAME, "10%"]).expect(0);
    refused(&["--arm", "a=HEAD", "--arm", "b=active"], "canary");
    repo.run(&["revert", NAME]).expect(0);
    start(&repo, &[]);
    let canary = repo.run(&["canary", NAME, "10%"]);
    assert!(
        canary.stderr.contains("runs experiment `tone`"),
        "{}",
        canary.stderr
    );
    let again = repo.run(&[
        "experiment",
        "start",
        "other",
        "--prompt",
        NAME,
        "--arm",
        "a=HEAD",
        "--arm",
        "b=active",
    ]);
    assert!(
        again.stderr.contains("already runs experiment `tone`"),
        "{}",
        again.stderr
    );
    // Concluding needs a winner or an arm; without feedback there is none.
    let blind = repo.run(&["experiment", "conclude", "tone"]);
    assert!(
        blind.stderr.contains("no feedback was named"),
        "{}",
        blind.stderr
    );
    let wrong = repo.run(&["experiment", "conclude", "tone", "--arm", "nope"]);
    assert!(
        wrong.stderr.contains("its arms: old, new"),
        "{}",
        wrong.stderr
    );
    let (old, _) = versions(&repo);
    let stopped = repo
        .run(&["experiment", "stop", "tone", "--reason", "wrong metric"])
        .expect(0);
    assert!(
        stopped
            .stdout
            .contains("stop tone on support/triage: active stays"),
        "{}",
        stopped.stdout
    );
    let status: Value =
        serde_json::from_str(&repo.run(&["status", "--json"]).expect(0).stdout).unwrap();
    assert_eq!(triage(&status)["active"], old.as_str());
    let missing = repo.run(&["experiment", "stop", "tone"]);
    assert!(
        missing.stderr.contains("no experiment `tone` runs"),
        "{}",
        missing.stderr
    );
    // With the experiment over, the state needs no newer format.
    assert!(state_toml(&repo).starts_with("format = 1\n"));
}

#[test]
fn a_controller_concludes_when_asked_and_stops_at_the_limits() {
    let repo = released("");
    start(&repo, &["--auto-conclude"]);
    let (old, new) = versions(&repo);
    let server = Server::start(&repo, &["--controller", "--controller-interval", "1s"], &[]);
    feed(&server, &old, None, 200, 60);
    feed(&server, &new, None, 200, 180);
    let started = std::time::Instant::now();
    loop {
        let log = repo.run(&["log", "--json"]).expect(0).stdout;
        let log: Value = serde_json::from_str(&log).unwrap();
        if log[0]["action"] == "conclude" {
            let reason = log[0]["reason"].as_str().unwrap();
            assert!(
                reason.starts_with("experiment controller: score"),
                "{reason}"
            );
            break;
        }
        assert!(started.elapsed().as_secs() < 30, "no conclusion: {log}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    drop(server);
    // A second experiment with a sample limit and two equal arms: `step` stops it.
    repo.run(&[
        "experiment",
        "start",
        "again",
        "--prompt",
        NAME,
        "--arm",
        "a=active",
        "--arm",
        "b=HEAD~1",
        "--max-samples",
        "100",
        "--max-duration",
        "365d",
    ])
    .expect(0);
    let server = Server::start(&repo, &[], &[]);
    let url = format!("http://127.0.0.1:{}", server.port);
    let (_, body) = server.get("/v1/experiments");
    let arms = &body["experiments"][0]["experiment"]["arms"];
    let (a, b) = (
        arms[0]["version"].as_str().unwrap(),
        arms[1]["version"].as_str().unwrap(),
    );
    feed(&server, a, Some("a"), 60, 30);
    feed(&server, b, Some("b"), 60, 30);
    let stepped = repo.run(&["experiment", "step", "--from", &url]).expect(0);
    assert!(
        stepped
            .stdout
            .contains("inconclusive: no arm won in the maximum of 100 reports (120 received)"),
        "{}",
        stepped.stdout
    );
    assert!(
        stepped.stdout.contains("stop again on support/triage"),
        "{}",
        stepped.stdout
    );
}
