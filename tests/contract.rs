//! The contract (output schema and tools) through the real binary: the example project's
//! suite on the offline model, request bodies held by a server that checks them as the APIs
//! document them, replies checked against the schema, and diffs judged for compatibility.

mod common;

use common::example::{edit, example, json_of};

use common::TestRepo;
use common::mock_llm::{MockConfig, MockLlm};
use serde_json::{Value, json};

const KEY: &str = "sk-test-contract-4242";

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
    let html = repo.run(&["eval", "--format", "html"]).expect(0).stdout;
    assert!(
        html.contains("→ called lookup_order({\"order_id\":"),
        "the HTML report shows the calls"
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
    edit(
        &repo,
        "prompts/support/triage.toml",
        "[variables.order_id]",
        "[params]\ntools = []\n\n[variables.order_id]",
    );
    let run = repo.run(&["check"]).expect(1);
    assert!(
        run.stdout.contains("warning[param-overwritten]: prompts/support/triage.toml: `params.tools`: `tools` is written from [[tools]]"),
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
