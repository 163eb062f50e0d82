//! The contract (output schema and tools) through the real binary: the example project's
//! suite on the offline model, request bodies held by a server that checks them as the APIs
//! document them, replies checked against the schema, and diffs judged for compatibility.

mod common;

use std::path::Path;

use common::TestRepo;
use common::mock_llm::{MockConfig, MockLlm};
use serde_json::{Value, json};

const KEY: &str = "sk-test-contract-4242";

/// A repository holding the example project of examples/support-triage, committed.
fn example() -> TestRepo {
    let repo = TestRepo::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/support-triage");
    for relative in [
        "promptctl.toml",
        "prompts/support/triage.toml",
        "prompts/schemas/triage.json",
        "prompts/schemas/lookup_customer.json",
        "evals/triage.toml",
    ] {
        repo.write(
            relative,
            &std::fs::read_to_string(root.join(relative)).unwrap(),
        );
    }
    repo.commit("support triage");
    repo
}

fn edit(repo: &TestRepo, relative: &str, from: &str, to: &str) {
    let path = repo.path().join(relative);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{relative} does not contain {from:?}");
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

fn json_of(run: &common::Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

#[test]
fn the_example_suite_passes_offline_with_its_tool_calls_and_checks() {
    let repo = example();
    repo.run(&["check"]).expect(0);
    let report = json_of(&repo.run(&["eval", "--format", "json"]).expect(0));
    let cases = report["suites"][0]["cases"].as_array().unwrap();
    assert_eq!(report["suites"][0]["head"]["passed"], 4, "{report}");
    let late = cases.iter().find(|c| c["name"] == "late-order").unwrap();
    assert_eq!(late["head"]["tool_calls"][0]["name"], "lookup_order");
    let kinds: Vec<&str> = late["head"]["assertions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["output_schema", "tool_arguments", "tool_call", "json_field"]
    );
    let answer: Value = serde_json::from_str(late["head"]["output"].as_str().unwrap()).unwrap();
    assert_eq!(
        answer["queue"], "shipping",
        "the canned result was fed back"
    );
}

#[test]
fn a_reply_that_breaks_the_schema_fails_with_its_pointer() {
    let mock = MockLlm::start(MockConfig {
        text: Some(
            r#"{"queue": "sales", "priority": "normal", "reason": "late", "needs_human": false}"#
                .into(),
        ),
        ..MockConfig::default()
    });
    let repo = on_mock("openai", &mock);
    let args = ["eval", "--format", "json", "--no-cache"];
    let run = repo
        .run_with(repo.path(), &args, &[("MOCK_API_KEY", KEY)])
        .expect(1);
    let report = json_of(&run);
    let late = report["suites"][0]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "late-order")
        .unwrap()
        .clone();
    let schema = late["head"]["assertions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["type"] == "output_schema")
        .unwrap()
        .clone();
    assert_eq!(schema["outcome"], "fail");
    assert!(
        schema["reason"].as_str().unwrap().contains("at `/queue`"),
        "{schema}"
    );
    let markdown = with_key(&repo, &["eval", "--format", "markdown"], 1);
    assert!(
        markdown.contains("**Answers that break the contract (head):**"),
        "{markdown}"
    );
    assert!(
        markdown
            .contains("- `late-order` — output_schema: the reply breaks the schema at `/queue`"),
        "{markdown}"
    );
    let junit = with_key(&repo, &["eval", "--format", "junit"], 1);
    assert!(
        junit.contains("output_schema: the reply breaks the schema at `/queue`"),
        "{junit}"
    );
}

/// Runs `promptctl ARGS` with the mock's key, expecting `code`; gives stdout.
fn with_key(repo: &TestRepo, args: &[&str], code: i32) -> String {
    repo.run_with(repo.path(), args, &[("MOCK_API_KEY", KEY)])
        .expect(code)
        .stdout
}

/// The example's prompt on a mock provider of `kind`, whose model calls `lookup_order`.
fn on_mock(kind: &str, mock: &MockLlm) -> TestRepo {
    let repo = example();
    let base = match kind {
        "anthropic" => mock.url.trim_end_matches("/v1").to_owned(),
        _ => mock.url.clone(),
    };
    repo.write(
        "promptctl.toml",
        &format!("[defaults]\nprovider = \"mock\"\nmodel = \"m\"\n\n[providers.mock]\nkind = \"{kind}\"\nbase_url = \"{base}\"\napi_key_env = \"MOCK_API_KEY\"\nmax_retries = 0\n"),
    );
    repo.write(
        "evals/triage.toml",
        r#"prompt = "support/triage"

[[cases]]
name = "late-order"
vars = { ticket = "Where is my package?", order_id = "A-1042" }
tool_results = { lookup_order = { status = "held at the depot" } }
assert = [{ type = "tool_call", name = "lookup_order", arguments = { order_id = "A-1042" } }]
"#,
    );
    repo.commit("mock");
    repo
}

fn mock_calling_lookup() -> MockLlm {
    MockLlm::start(MockConfig {
        tool_call: Some(("lookup_order".into(), json!({"order_id": "A-1042"}))),
        text: Some(r#"{"queue": "shipping", "priority": "normal", "reason": "late", "needs_human": false}"#.into()),
        ..MockConfig::default()
    })
}

/// The example's suite on a mock of `kind` whose model calls `lookup_order`: it passes, the
/// mock refused no body, and these are the bodies it got.
fn bodies_of_a_tool_round(kind: &str) -> Vec<Value> {
    let mock = mock_calling_lookup();
    let repo = on_mock(kind, &mock);
    let report: Value = serde_json::from_str(&with_key(
        &repo,
        &["eval", "--format", "json", "--no-cache"],
        0,
    ))
    .unwrap();
    assert_eq!(report["suites"][0]["head"]["passed"], 1, "{report}");
    let refused = mock.limited.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(refused, 0, "the mock refused a body");
    mock.bodies.lock().unwrap().clone()
}

#[test]
fn openai_gets_response_format_tools_and_the_tool_round_as_documented() {
    let bodies = bodies_of_a_tool_round("openai");

    let first = &bodies[0];
    assert_eq!(first["response_format"]["type"], "json_schema");
    assert_eq!(first["response_format"]["json_schema"]["name"], "triage");
    assert_eq!(first["response_format"]["json_schema"]["strict"], true);
    assert_eq!(
        first["response_format"]["json_schema"]["schema"]["required"][0],
        "queue"
    );
    assert_eq!(
        first["tools"][0],
        json!({"type": "function", "function": {"name": "lookup_order", "description": "Look up an order by its id: its status and where it is.", "parameters": first["tools"][0]["function"]["parameters"], "strict": true}})
    );
    assert_eq!(
        first["tools"][1]["function"]["parameters"]["required"][0], "email",
        "read from its schema file"
    );
    let second = bodies
        .iter()
        .find(|b| b["messages"].as_array().unwrap().len() > 2)
        .expect("a second round");
    let messages = second["messages"].as_array().unwrap();
    assert_eq!(
        messages[2]["tool_calls"][0]["function"]["arguments"],
        r#"{"order_id":"A-1042"}"#
    );
    assert_eq!(
        messages[3],
        json!({"role": "tool", "tool_call_id": "call_1", "content": r#"{"status":"held at the depot"}"#})
    );
}

#[test]
fn anthropic_gets_output_config_tools_and_the_tool_round_as_documented() {
    let bodies = bodies_of_a_tool_round("anthropic");

    let first = &bodies[0];
    assert_eq!(first["output_config"]["format"]["type"], "json_schema");
    assert_eq!(first["tools"][0]["name"], "lookup_order");
    assert_eq!(first["tools"][0]["input_schema"]["required"][0], "order_id");
    assert!(first["system"].as_str().unwrap().starts_with("You triage"));
    let second = &bodies[1];
    let messages = second["messages"].as_array().unwrap();
    assert_eq!(
        messages[1]["content"][0],
        json!({"type": "tool_use", "id": "toolu_1", "name": "lookup_order", "input": {"order_id": "A-1042"}})
    );
    assert_eq!(messages[2]["content"][0]["type"], "tool_result");
    assert_eq!(messages[2]["content"][0]["tool_use_id"], "toolu_1");
}

#[test]
fn the_checking_server_refuses_bodies_the_apis_refuse() {
    let mock = MockLlm::start(MockConfig::default());
    let port: u16 = mock
        .url
        .trim_end_matches("/v1")
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    for (path, body) in [
        (
            "/v1/chat/completions",
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function", "function": {"name": "bad name"}}]}),
        ),
        (
            "/v1/chat/completions",
            json!({"model": "m", "messages": [{"role": "tool", "content": "x"}]}),
        ),
        (
            "/v1/chat/completions",
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "response_format": {"type": "json_schema", "json_schema": {"schema": {}}}}),
        ),
        (
            "/v1/messages",
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
        ),
        (
            "/v1/messages",
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}], "tool_choice": {"type": "required"}, "tools": []}),
        ),
    ] {
        assert_eq!(status_of(port, path, &body), 400, "{body}");
    }
}

/// The status a POST of `body` gets, read from the status line alone (the mock keeps
/// connections open).
fn status_of(port: u16, path: &str, body: &Value) -> u16 {
    use std::io::{BufRead, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let body = body.to_string();
    write!(stream, "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
    let mut line = String::new();
    std::io::BufReader::new(stream)
        .read_line(&mut line)
        .unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

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
    ];
    repo.run(&args).expect(0);
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
fn check_names_each_schema_problem_at_its_file_line_and_field() {
    let repo = example();
    edit(
        &repo,
        "prompts/support/triage.toml",
        "order_id = { type = \"string\", description",
        "order_id = { type = \"strng\", description",
    );
    edit(
        &repo,
        "prompts/schemas/lookup_customer.json",
        "\"required\": [\"email\"]",
        "\"required\": [\"email\", \"plan\"], \"minProperties\": -1",
    );
    let run = repo.run(&["check"]).expect(1);
    assert!(
        run.stdout.contains(
            "prompts/support/triage.toml:23: `tools[0].parameters#/properties/order_id/type`"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("prompts/schemas/lookup_customer.json: `#/minProperties`"),
        "{}",
        run.stdout
    );
    repo.commit("broken schemas");
    let refused = repo.run(&["publish"]);
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("cannot be released"),
        "{}",
        refused.stderr
    );
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
