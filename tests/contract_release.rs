//! The contract (output schema and tools) as a release sees it, through the real binary:
//! diffs judged for compatibility, `ci` and releases refusing breaking changes until they
//! are approved, every serving route carrying the contract, and the rollout signal.

mod common;

use common::example::{edit, example, json_of};

use common::TestRepo;
use serde_json::{Value, json};

#[test]
fn diff_shows_a_breaking_schema_change_in_its_own_section() {
    let repo = example();
    edit(
        &repo,
        "prompts/schemas/triage.json",
        "\"technical\", \"shipping\"]",
        "\"technical\", \"shipping\", \"sales\"]",
    );
    let diff = json_of(&repo.run(&["diff", "HEAD", "--json"]).expect(0));
    let prompt = &diff["prompts"][0];
    assert_eq!(prompt["compatibility"], "forward");
    assert_eq!(
        prompt["contract"],
        json!([{"path": "output.schema#/properties/queue/enum", "kind": "enum-extended", "detail": "added \"sales\"", "direction": "widens", "breaking": true}])
    );
    let human = repo.run(&["diff", "HEAD", "--exit-code"]).expect(1).stdout;
    assert!(
        human.contains("contract (compatibility: forward)"),
        "{human}"
    );
    assert!(
        human.contains("1 contract change that would break a service:"),
        "{human}"
    );
    assert!(human.contains("support/triage  output.schema#/properties/queue/enum: added \"sales\" (enum-extended under `forward`)"), "{human}");
    // The same change is compatible for a service that reads what the model used to write.
    edit(
        &repo,
        "prompts/support/triage.toml",
        "compatibility = \"forward\"",
        "compatibility = \"backward\"",
    );
    let human = repo.run(&["diff", "HEAD"]).expect(0).stdout;
    assert!(!human.contains("would break"), "{human}");
}

#[test]
fn a_schema_file_rewritten_in_another_layout_is_the_same_version() {
    let repo = example();
    let path = repo.path().join("prompts/schemas/triage.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    std::fs::write(&path, schema.to_string()).unwrap();
    let diff = json_of(&repo.run(&["diff", "HEAD", "--json"]).expect(0));
    assert_eq!(diff["prompts"], json!([]), "{diff}");
    edit(
        &repo,
        "prompts/support/triage.toml",
        "Look up an order by its id",
        "Look up one order by its id",
    );
    let diff = json_of(&repo.run(&["diff", "HEAD", "--json"]).expect(0));
    assert_eq!(
        diff["prompts"][0]["contract"][0]["kind"],
        "annotation-changed"
    );
    assert_eq!(diff["prompts"][0]["contract"][0]["breaking"], false);
}

/// The example published, then its queue list widened (breaking under `forward`) and
/// committed with `message`.
fn widened(message: &str) -> (TestRepo, String) {
    let repo = example();
    let base = repo.commit("base");
    repo.run(&["publish"]).expect(0);
    edit(
        &repo,
        "prompts/schemas/triage.json",
        "\"technical\", \"shipping\"]",
        "\"technical\", \"shipping\", \"sales\"]",
    );
    repo.commit(message);
    (repo, base)
}

#[test]
fn publish_and_canary_refuse_a_breaking_change_without_allow_breaking() {
    let (repo, _) = widened("Add a sales queue");
    let refused = repo.run(&["publish"]);
    assert_ne!(refused.code, 0);
    assert!(
        refused
            .stderr
            .contains("would break a service reading the active one"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("support/triage: output.schema#/properties/queue/enum: added \"sales\" (enum-extended under `forward`)"), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("--allow-breaking"),
        "{}",
        refused.stderr
    );
    let refused = repo.run(&["canary", "10%"]);
    assert_ne!(refused.code, 0, "{}", refused.stdout);
    repo.run(&["canary", "10%", "--allow-breaking"]).expect(0);
    repo.run(&["canary", "support/triage", "20%"]).expect(0);
}

#[test]
fn ci_fails_on_a_breaking_change_until_it_is_approved() {
    let (repo, base) = widened("Add a sales queue");
    let run = repo.run(&["ci", "--base", &base, "--json"]).expect(1);
    let report = json_of(&run);
    assert_eq!(report["breaking"][0]["prompt"], "support/triage");
    assert_eq!(report["breaking"][0]["approved_by"], Value::Null);
    let annotation = report["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["title"] == "promptctl ci: breaking contract change")
        .expect("an annotation for the breaking change");
    assert_eq!(annotation["file"], "prompts/support/triage.toml");
    let human = repo.run(&["ci", "--base", &base]).expect(1).stdout;
    assert!(
        human.contains("1 breaking contract change not approved"),
        "{human}"
    );
    let markdown_path = repo.path().join("ci.md");
    repo.run(&[
        "ci",
        "--base",
        &base,
        "--markdown",
        markdown_path.to_str().unwrap(),
    ])
    .expect(1);
    let markdown = std::fs::read_to_string(&markdown_path).unwrap();
    assert!(
        markdown.contains("### Breaking contract changes"),
        "{markdown}"
    );
    let run = repo
        .run(&["ci", "--base", &base, "--allow-breaking", "--json"])
        .expect(0);
    assert_eq!(
        json_of(&run)["breaking"][0]["approved_by"],
        "--allow-breaking"
    );

    let (repo, base) = widened(
        "Add a sales queue\n\nThe service reads `sales` since v2.3.\n\nAllow-Breaking: support/triage\n",
    );
    let run = repo.run(&["ci", "--base", &base, "--json"]).expect(0);
    let approved = json_of(&run)["breaking"][0]["approved_by"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        approved.starts_with("an `Allow-Breaking` trailer on "),
        "{approved}"
    );
}

#[test]
fn every_route_serves_the_contract_and_the_same_request_body() {
    let repo = example();
    repo.run(&["publish"]).expect(0);
    let server = common::server::Server::start(&repo, &[], &[]);
    let (status, resolved) = server.get("/v1/prompts/support/triage?key=user-1");
    assert_eq!(status, 200, "{resolved}");
    assert_eq!(resolved["output"]["schema"]["required"][0], "queue");
    assert_eq!(resolved["tools"][0]["name"], "lookup_order");
    assert_eq!(resolved["tools"][1]["parameters"]["required"][0], "email");
    let (status, _, flag) = common::server::http(
        server.port,
        "POST",
        "/ofrep/v1/evaluate/flags/support%2Ftriage",
        &[("Content-Type", "application/json")],
        &json!({"context": {"targetingKey": "user-1"}}).to_string(),
    );
    assert_eq!(status, 200, "{flag}");
    let flag: Value = serde_json::from_str(&flag).unwrap();
    assert_eq!(flag["value"]["output"], resolved["output"]);
    assert_eq!(flag["value"]["tools"], resolved["tools"]);

    let ticket = "Where is my parcel?";
    let client = promptctl::client::Client::from_repo(repo.path())
        .build()
        .unwrap();
    let vars = [("ticket".to_string(), json!(ticket))]
        .into_iter()
        .collect();
    for api in ["openai", "anthropic"] {
        let (status, rendered) = server.post(
            "/v1/render",
            &json!({"name": "support/triage", "key": "user-1", "vars": {"ticket": ticket}, "request": api}),
        );
        assert_eq!(status, 200, "{rendered}");
        assert_eq!(rendered["tools"], resolved["tools"]);
        let cli = repo
            .run(&[
                "render",
                "support/triage",
                "--at",
                "active",
                "--var",
                &format!("ticket={ticket}"),
                "--request",
                api,
            ])
            .expect(0);
        let cli: Value = serde_json::from_str(&cli.stdout).unwrap();
        let rust = client
            .request_body(
                "support/triage",
                Some("user-1"),
                &[],
                &vars,
                promptctl::prompt::request::Api::parse(api).unwrap(),
            )
            .unwrap();
        assert_eq!(rendered["request"], cli, "{api}: HTTP and the command line");
        assert_eq!(
            Value::Object(rust),
            cli,
            "{api}: the Rust client and the command line"
        );
    }
    let (status, refused) = server.post(
        "/v1/render",
        &json!({"name": "support/triage", "vars": {"ticket": "x"}, "request": "gemini"}),
    );
    assert!((400..500).contains(&status), "{refused}");
}

#[test]
fn replies_the_service_cannot_parse_revert_the_canary_and_are_counted() {
    let repo = example();
    repo.run(&["publish"]).expect(0);
    edit(
        &repo,
        "prompts/support/triage.toml",
        "You triage support tickets for Acme.",
        "You triage support tickets for Acme Inc.",
    );
    repo.commit("Name the company in full");
    let args = [
        "canary",
        "support/triage",
        "10%",
        "--ramp",
        "50,100",
        "--every",
        "1h",
        "--min-samples",
        "20",
        "--max-error-rate",
        "50%",
        "--max-invalid-output-rate",
        "2%",
        "--max-tool-error-rate",
        "50%",
    ];
    repo.run(&args).expect(0);
    let state = repo.run(&["status", "--json"]).expect(0).stdout;
    assert!(state.contains("\"max_tool_error_rate\": 50.0"), "{state}");
    let server = common::server::Server::start(
        &repo,
        &["--controller", "--controller-interval", "500ms"],
        &[],
    );
    let (_, list) = server.get("/v1/prompts");
    let prompt = &list["prompts"][0];
    let (active, canary) = (
        prompt["active"].as_str().unwrap().to_owned(),
        prompt["canary"].as_str().unwrap().to_owned(),
    );
    let feed = |version: &str, n: usize, invalid: usize| {
        for i in 0..n {
            let (status, body) = server.post(
                "/v1/feedback",
                &json!({"name": "support/triage", "version": version, "outcome": "success", "output_valid": i >= invalid, "tool_error": false}),
            );
            assert_eq!(status, 202, "{body}");
        }
    };
    feed(&active, 60, 0);
    feed(&canary, 60, 20);
    let metrics = common::server::http(server.port, "GET", "/metrics", &[], "").2;
    assert!(metrics.contains(&format!("promptctl_feedback_outputs_total{{prompt=\"support/triage\",version=\"{canary}\",track=\"canary\",valid=\"false\"}} 20")), "{metrics}");
    assert!(metrics.contains(&format!("promptctl_feedback_tool_calls_total{{prompt=\"support/triage\",version=\"{canary}\",track=\"canary\",result=\"ok\"}} 60")), "{metrics}");
    let started = std::time::Instant::now();
    loop {
        let (_, list) = server.get("/v1/prompts");
        if list["prompts"][0]["canary"].is_null() {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "the canary was not reverted"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let log = repo.run(&["log", "-n", "1"]).expect(0).stdout;
    assert!(log.contains("revert support/triage: drop canary"), "{log}");
    assert!(
        log.contains("invalid-output rate 33.3% vs active 0.0%"),
        "{log}"
    );
    let (status, refused) = server.post("/v1/feedback", &json!({"name": "support/triage", "version": active, "outcome": "success", "output_valid": "no"}));
    assert!((400..500).contains(&status), "{refused}");
}

#[test]
fn diff_reads_the_schema_files_a_changed_prompt_names_even_written_with_escapes() {
    let repo = example();
    edit(
        &repo,
        "prompts/support/triage.toml",
        "schema_file = \"schemas/triage.json\"",
        "schema_file = \"schemas/triage\\u002ejson\"",
    );
    edit(
        &repo,
        "prompts/support/triage.toml",
        "You triage",
        "You route",
    );
    let diff = json_of(&repo.run(&["diff", "HEAD", "--json"]).expect(0));
    assert_eq!(diff["broken"], json!([]), "{diff}");
    assert_eq!(diff["prompts"][0]["name"], "support/triage", "{diff}");
    assert!(diff["prompts"][0].get("contract").is_none(), "{diff}");
}
