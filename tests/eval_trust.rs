//! Verdicts that are never green by accident: broken assertions and judges, failing
//! providers, floors, secrets in error bodies, bounded replies, colour in files, and a cache
//! the user controls. Each test drives the real binary against a real temporary repository
//! and, where a model is needed, a real HTTP server on 127.0.0.1.

mod common;

use common::TestRepo;
use common::mock_llm::{MockConfig, MockLlm};
use serde_json::Value;

const KEY: &str = common::MOCK_KEY;
const ROUTE: &str = common::ROUTE_PROMPT;

/// A committed repository whose prompt talks to `url` through provider `mock`, with
/// `extra` appended to its `[providers.mock]` table and `suite` as evals/route.toml.
fn repo_with(url: &str, extra: &str, suite: &str) -> TestRepo {
    let repo = TestRepo::new();
    repo.write(
        "promptctl.toml",
        &format!(
            "[defaults]\nmodel = \"test-model\"\n\n[providers.mock]\nkind = \"openai\"\nbase_url = \"{url}\"\napi_key_env = \"MOCK_API_KEY\"\n{extra}\n"
        ),
    )
    .write("prompts/support/route.toml", ROUTE)
    .write(
        "evals/route.toml",
        &format!("prompt = \"support/route\"\n\n{suite}"),
    );
    repo.commit("route");
    repo
}

fn case(name: &str, assertions: &str) -> String {
    format!(
        "[[cases]]\nname = \"{name}\"\nvars = {{ ticket = \"{name} ticket\" }}\nassert = [{assertions}]\n\n"
    )
}

fn with_key(repo: &TestRepo, args: &[&str]) -> common::Run {
    repo.run_with(repo.path(), args, &[("MOCK_API_KEY", KEY)])
}

fn json(run: &common::Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

#[test]
fn broken_assertions_are_errors_of_check_at_their_lines_and_eval_refuses_them() {
    let repo = common::sample_repo();
    repo.write(
        "evals/triage.toml",
        r#"prompt = "support/triage"

[[cases]]
name = "broken"
vars = { ticket = "x" }
assert = [
  { type = "regex", value = "([unclosed" },
  { type = "json_schema", value = { type = "objekt" } },
  { type = "similar", value = "x", threshold = 1.5 },
  { type = "containz", value = "x" },
]

[[cases]]
name = "judged"
vars = { ticket = "y" }
assert = [{ type = "llm_judge", rubric = "Be polite" }, { type = "exec", command = "nosuchcmd-xyz --check" }]
"#,
    );
    repo.commit("broken suite");
    let run = repo.run(&["check"]).expect(1);
    for expected in [
        "evals/triage.toml:7: `cases[0].assert[0].value`: is not a valid regular expression",
        "evals/triage.toml:8: `cases[0].assert[1].value`: is not a valid JSON schema",
        "evals/triage.toml:9: `cases[0].assert[2].threshold`: must be a ratio from 0 to 1, not 1.5",
        "evals/triage.toml:10: `cases[0].assert[3]",
        "did you mean `contains`?",
    ] {
        assert!(run.stdout.contains(expected), "{expected}\n{}", run.stdout);
    }
    // The suite does not parse, so its other problems show once it does.
    let run = repo.run(&["eval"]).expect(2);
    assert!(run.stderr.contains("evals/triage.toml:7"), "{}", run.stderr);
    repo.write(
        "evals/triage.toml",
        "prompt = \"support/triage\"\nprovider = \"openia\"\n\n[[cases]]\nname = \"a\"\nvars = { ticket = \"x\" }\nassert = [{ type = \"contains\", value = \"x\" }]\n",
    );
    let run = repo.run(&["check"]).expect(1);
    assert!(
        run.stdout.contains("unknown provider `openia`")
            && run.stdout.contains("did you mean `openai`?"),
        "{}",
        run.stdout
    );
    repo.run(&["eval"]).expect(2);

    repo.write(
        "evals/triage.toml",
        r#"prompt = "support/triage"

[[cases]]
name = "judged"
vars = { ticket = "y" }
assert = [{ type = "llm_judge", rubric = "Be polite" }, { type = "exec", command = "nosuchcmd-xyz --check" }]
"#,
    );
    let run = repo.run(&["check"]).expect(1);
    assert!(
        run.stdout.contains("evals/triage.toml:6: `cases[0].assert[0].rubric`: the offline judge grades phrases in double quotes"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("warning[exec-not-found]: evals/triage.toml:6: `cases[0].assert[1].command`: `nosuchcmd-xyz` is not on PATH here"),
        "{}",
        run.stdout
    );
}

#[test]
fn an_assertion_that_cannot_run_is_an_error_in_every_format_and_fails_the_gate() {
    let repo = common::sample_repo();
    repo.write(
        "evals/triage.toml",
        r#"prompt = "support/triage"

[[cases]]
name = "checked"
vars = { ticket = "money back" }
assert = [{ type = "exec", command = "nosuchcmd-xyz --check" }]

[[cases]]
name = "fine"
vars = { ticket = "hello" }
assert = [{ type = "contains", value = "hello" }]
"#,
    );
    repo.commit("suite");
    let run = repo.run(&["eval"]).expect(1);
    assert!(
        run.stdout
            .contains("error  checked  exec (error): `nosuchcmd-xyz --check`: command not found"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("errors          1 not evaluated"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("gate failed: 1 sample of the new version could not be evaluated"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout
            .contains("fails on the new version as on the old")
    );
    let report = json(&repo.run(&["eval", "--format", "json"]).expect(1));
    let suite = &report["suites"][0];
    assert_eq!(suite["head"]["errors"], 1);
    assert_eq!(suite["head"]["failed"], 0);
    assert_eq!(suite["head"]["passed"], 1);
    assert_eq!(suite["cases"][0]["change"], "error");
    assert_eq!(suite["cases"][0]["head"]["outcome"], "error");
    assert_eq!(
        suite["cases"][0]["head"]["assertions"][0]["outcome"],
        "error"
    );
    assert_eq!(suite["comparison"]["cases"], 1, "errors are left out");
    let junit = repo.run(&["eval", "--format", "junit"]).expect(1).stdout;
    let doc = roxmltree::Document::parse(&junit).unwrap();
    let errors: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("error"))
        .collect();
    assert_eq!(errors.len(), 2, "one per version: {junit}");
    assert!(
        errors[0]
            .attribute("message")
            .unwrap()
            .contains("command not found")
    );
    assert!(junit.contains("failures=\"0\" errors=\"1\""), "{junit}");
    let markdown = repo.run(&["eval", "--format", "markdown"]).expect(1).stdout;
    assert!(
        markdown.contains("**Could not be evaluated:**\n\n- `checked` — exec (error)"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| errors | 1 sample | 1 sample |"),
        "{markdown}"
    );
    // The pre-merge check says the same.
    std::fs::write(
        repo.path().join("prompts/support/triage.toml"),
        std::fs::read_to_string(repo.path().join("prompts/support/triage.toml"))
            .unwrap()
            .replace("Triage the ticket.", "Triage this ticket."),
    )
    .unwrap();
    let run = repo
        .run(&[
            "ci",
            "--base",
            "HEAD",
            "--junit",
            "ci.xml",
            "--markdown",
            "ci.md",
        ])
        .expect(1);
    assert!(run.stdout.contains("exec (error)"), "{}", run.stdout);
    let junit = std::fs::read_to_string(repo.path().join("ci.xml")).unwrap();
    assert!(junit.contains("<error message="), "{junit}");
    let markdown = std::fs::read_to_string(repo.path().join("ci.md")).unwrap();
    assert!(
        markdown.contains("Could not be evaluated:\n\n- `checked` — exec (error)"),
        "{markdown}"
    );
    let run = repo
        .run_with(
            repo.path(),
            &["ci", "--base", "HEAD"],
            &[("GITHUB_ACTIONS", "true")],
        )
        .expect(1);
    assert!(
        run.stdout.contains("; could not be evaluated: checked"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_judge_without_a_verdict_or_whose_provider_fails_is_an_error() {
    // The judge's model answers in prose, never with {"pass": ...}.
    let prose = MockLlm::start(MockConfig {
        text: Some("I think it is fine.".into()),
        ..MockConfig::default()
    });
    let judged = "[[cases]]\nname = \"polite\"\nvars = { ticket = \"hi\" }\nassert = [{ type = \"llm_judge\", rubric = \"Is polite\", provider = \"judge\" }]\n";
    let repo = repo_with(
        &prose.url,
        &format!(
            "\n[providers.judge]\nkind = \"openai\"\nbase_url = \"{}\"\n",
            prose.url
        ),
        judged,
    );
    let run = with_key(&repo, &["eval", "--format", "json"]).expect(1);
    let report = json(&run);
    let assertion = &report["suites"][0]["cases"][0]["head"]["assertions"][0];
    assert_eq!(assertion["outcome"], "error", "{report}");
    assert!(
        assertion["reason"]
            .as_str()
            .unwrap()
            .contains("no {\"pass\": ...} verdict")
    );
    assert_eq!(report["passed"], false);

    // The judge's provider is down for good: a closed port, no retries.
    let repo = repo_with(
        &prose.url,
        "\n[providers.judge]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmax_retries = 0\n",
        judged,
    );
    let run = with_key(&repo, &["eval"]).expect(1);
    assert!(
        run.stdout
            .contains("llm_judge (error): the judge failed: provider `judge`: could not connect"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("requests that failed:\n  1 × provider `judge`: could not connect"),
        "{}",
        run.stdout
    );
    assert!(run.stderr.is_empty() || !run.stderr.contains("eval ok"));
}

#[test]
fn suites_failing_alike_on_both_versions_are_held_to_a_floor() {
    let mock = MockLlm::start(MockConfig::default());
    // 0 of 2 on both versions.
    let zero = format!(
        "{}{}",
        case("a", "{ type = \"contains\", value = \"refund\" }"),
        case("b", "{ type = \"contains\", value = \"refund\" }")
    );
    let repo = repo_with(&mock.url, "", &zero);
    let run = with_key(&repo, &["eval"]).expect(1);
    assert!(
        run.stdout
            .contains("gate failed: pass rate 0.0% (0/2) is below the floor of 100%"),
        "{}",
        run.stdout
    );
    // 1 of 4 on both versions; a floor of 25% lets it through, 30% does not.
    let quarter = format!(
        "{}{}{}{}",
        case("a", "{ type = \"contains\", value = \"billing\" }"),
        case("b", "{ type = \"contains\", value = \"refund\" }"),
        case("c", "{ type = \"contains\", value = \"refund\" }"),
        case("d", "{ type = \"contains\", value = \"refund\" }")
    );
    let repo = repo_with(&mock.url, "", &quarter);
    with_key(&repo, &["eval"]).expect(1);
    with_key(&repo, &["eval", "--min-pass-rate", "25"]).expect(0);
    let run = with_key(&repo, &["eval", "--min-pass-rate", "30"]).expect(1);
    assert!(
        run.stdout.contains("below the floor of 30%"),
        "{}",
        run.stdout
    );
    repo.write(
        "evals/route.toml",
        &format!("prompt = \"support/route\"\n\n{quarter}[gate]\nmin_pass_rate = 25\n"),
    );
    with_key(&repo, &["eval"]).expect(0);
    with_key(&repo, &["eval", "--min-pass-rate", "101"]).expect(2);
}

#[test]
fn provider_failures_are_grouped_by_cause_and_counted_as_sent() {
    let mock = MockLlm::start(MockConfig {
        fail_with: Some((
            500,
            r#"{"error": {"message": "the model fell over", "type": "server_error"}}"#.into(),
        )),
        ..MockConfig::default()
    });
    let two = format!(
        "{}{}",
        case("a", "{ type = \"contains\", value = \"billing\" }"),
        case("b", "{ type = \"contains\", value = \"billing\" }")
    );
    let repo = repo_with(&mock.url, "max_retries = 1", &two);
    let run = with_key(&repo, &["eval"]).expect(1);
    assert!(
        run.stdout.contains(
            "requests that failed:\n  2 × provider `mock`: HTTP 500 server_error: the model fell over (after 2 attempts)"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("requests: 2 distinct, 0 cached, 2 sent, 2 retried, 2 failed"),
        "{}",
        run.stdout
    );
    assert_eq!(
        mock.requests(),
        4,
        "each request and its one retry reached the server"
    );

    // A server that never answers in time: the cause is the timeout.
    let slow = MockLlm::start(MockConfig {
        latency: std::time::Duration::from_secs(3),
        ..MockConfig::default()
    });
    let one = case("a", "{ type = \"contains\", value = \"billing\" }");
    let repo = repo_with(&slow.url, "max_retries = 0\ntimeout = 0.5", &one);
    let run = with_key(&repo, &["eval"]).expect(1);
    assert!(
        run.stdout.contains("1 × provider `mock`: timed out"),
        "{}",
        run.stdout
    );

    // A command that exits 3 says why on stderr, and the report shows it.
    let repo = common::sample_repo();
    repo.write(
        "promptctl.toml",
        "[defaults]\nmodel = \"m\"\nprovider = \"local\"\n\n[providers.local]\nkind = \"exec\"\ncommand = [\"sh\", \"-c\", \"echo 'quota exhausted for project p-1' >&2; exit 3\"]\n",
    );
    repo.commit("exec");
    let run = repo.run(&["eval"]).expect(1);
    assert!(
        run.stdout
            .contains("1 × provider `local`: `sh` exited with 3: quota exhausted for project p-1"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("1 sent"), "{}", run.stdout);
}

#[test]
fn a_refused_key_stops_the_run_with_a_hint_and_no_retries() {
    let mock = MockLlm::start(MockConfig {
        fail_with: Some((
            401,
            r#"{"error": {"message": "Incorrect API key provided: {KEY}", "type": "invalid_request_error", "code": "invalid_api_key"}}"#.into(),
        )),
        ..MockConfig::default()
    });
    let many: String = (0..20)
        .map(|i| {
            case(
                &format!("c{i}"),
                "{ type = \"contains\", value = \"billing\" }",
            )
        })
        .collect();
    let repo = repo_with(&mock.url, "max_retries = 5\nconcurrency = 1", &many);
    let run = with_key(&repo, &["eval", "--concurrency", "1"]).expect(2);
    assert!(
        run.stderr.contains(
            "provider `mock` refused the credentials: HTTP 401 invalid_api_key: Incorrect API key provided: ***"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint: check the key in MOCK_API_KEY"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(KEY) && !run.stdout.contains(KEY));
    assert!(
        mock.requests() <= 2,
        "stopped at the first refusal: {} requests",
        mock.requests()
    );
}

#[test]
fn a_key_echoed_in_error_bodies_never_reaches_a_report_or_the_cache() {
    let mock = MockLlm::start(MockConfig {
        fail_with: Some((
            500,
            r#"{"error": {"message": "upstream rejected Authorization: Bearer {KEY} for org-secret-99"}}"#
                .into(),
        )),
        ..MockConfig::default()
    });
    let suite = case("a", "{ type = \"contains\", value = \"billing\" }");
    let repo = repo_with(
        &mock.url,
        "max_retries = 0\nheaders = { \"OpenAI-Organization\" = \"org-secret-99\" }",
        &suite,
    );
    let mut seen = Vec::new();
    for format in ["table", "json", "junit", "markdown"] {
        let run = with_key(&repo, &["eval", "--format", format]).expect(1);
        seen.push(run.stdout.clone());
        seen.push(run.stderr);
        let file = format!("report.{format}");
        with_key(&repo, &["eval", "--format", format, "--output", &file]).expect(1);
        seen.push(std::fs::read_to_string(repo.path().join(&file)).unwrap());
    }
    std::fs::write(
        repo.path().join("prompts/support/route.toml"),
        ROUTE.replace("Route the ticket.", "Route this ticket."),
    )
    .unwrap();
    let run = with_key(
        &repo,
        &[
            "ci",
            "--base",
            "HEAD",
            "--junit",
            "ci.xml",
            "--markdown",
            "ci.md",
        ],
    )
    .expect(1);
    seen.push(run.stdout);
    seen.push(std::fs::read_to_string(repo.path().join("ci.xml")).unwrap());
    seen.push(std::fs::read_to_string(repo.path().join("ci.md")).unwrap());
    assert!(
        seen.iter().any(|text| text.contains("Bearer *** for ***")),
        "the message is shown, masked: {seen:#?}"
    );
    for text in &seen {
        assert!(!text.contains(KEY), "{text}");
        assert!(!text.contains("org-secret-99"), "{text}");
    }
    let cache = repo.path().join(".promptctl");
    if cache.exists() {
        let listing = std::process::Command::new("grep")
            .args(["-r", KEY])
            .arg(&cache)
            .output()
            .unwrap();
        assert!(listing.stdout.is_empty());
    }
}

#[test]
fn a_reply_larger_than_the_limit_fails_its_sample_without_being_read_whole() {
    let mock = MockLlm::start(MockConfig {
        pad_reply: 20_000,
        ..MockConfig::default()
    });
    let suite = case("a", "{ type = \"contains\", value = \"billing\" }");
    let repo = repo_with(
        &mock.url,
        "max_reply_bytes = 10000\nmax_retries = 0",
        &suite,
    );
    let run = with_key(&repo, &["eval"]).expect(1);
    assert!(
        run.stdout.contains(
            "provider `mock`: reply too large: the reply is larger than 10000 bytes (the provider's `max_reply_bytes`)"
        ),
        "{}",
        run.stdout
    );
    // The default limit is 8 MiB: a 9 MB reply is refused too.
    let big = MockLlm::start(MockConfig {
        pad_reply: 9_000_000,
        ..MockConfig::default()
    });
    let repo = repo_with(&big.url, "max_retries = 0", &suite);
    let run = with_key(&repo, &["eval"]).expect(1);
    assert!(
        run.stdout.contains("larger than 8388608 bytes"),
        "{}",
        run.stdout
    );
    // And a command that prints too much is stopped.
    let repo = common::sample_repo();
    repo.write(
        "promptctl.toml",
        "[defaults]\nmodel = \"m\"\nprovider = \"local\"\n\n[providers.local]\nkind = \"exec\"\nmax_reply_bytes = 1000\ncommand = [\"sh\", \"-c\", \"yes | head -c 100000\"]\n",
    );
    repo.commit("exec");
    let run = repo.run(&["eval"]).expect(1);
    assert!(
        run.stdout.contains("larger than 1000 bytes"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_report_written_to_a_file_has_no_colour_codes() {
    let repo = common::sample_repo();
    repo.commit("prompts");
    std::fs::write(
        repo.path().join("prompts/partials/tone.j2"),
        "{% if tone == \"formal\" %}Be formal.{% else %}Be kind.{% endif %}",
    )
    .unwrap();
    repo.run(&[
        "eval",
        "--color",
        "always",
        "--format",
        "table",
        "--output",
        "out/e.txt",
    ])
    .expect(1);
    let text = std::fs::read_to_string(repo.path().join("out/e.txt")).unwrap();
    assert!(text.contains("support/triage"), "{text}");
    assert!(!text.contains('\x1b'), "{text:?}");
    // A folder that cannot be made fails before anything is sent.
    repo.write("blocked", "a file, not a folder");
    let run = repo.run(&["eval", "--output", "blocked/e.json"]).expect(2);
    assert!(run.stderr.contains("nothing was sent"), "{}", run.stderr);
}

#[test]
fn the_cache_can_be_bypassed_refreshed_and_follows_the_endpoint_and_the_script() {
    let mock = MockLlm::start(MockConfig::default());
    let suite = case("a", "{ type = \"contains\", value = \"billing\" }");
    let repo = repo_with(&mock.url, "", &suite);
    with_key(&repo, &["eval", "--no-cache"]).expect(0);
    assert!(
        !repo.path().join(".promptctl/cache").exists(),
        "--no-cache writes nothing"
    );
    let report = json(&with_key(&repo, &["eval", "--format", "json"]).expect(0));
    assert_eq!(report["requests"]["sent"], 1);
    let report = json(&with_key(&repo, &["eval", "--format", "json"]).expect(0));
    assert_eq!(report["requests"]["cached"], 1);
    let report = json(&with_key(&repo, &["eval", "--format", "json", "--refresh"]).expect(0));
    assert_eq!(
        (
            report["requests"]["cached"].as_u64(),
            report["requests"]["sent"].as_u64()
        ),
        (Some(0), Some(1)),
        "--refresh sends again"
    );
    assert_eq!(mock.requests(), 3);
    with_key(&repo, &["eval", "--no-cache", "--refresh"]).expect(2);

    // Another server at another URL is another model.
    let other = MockLlm::start(MockConfig::default());
    let text = std::fs::read_to_string(repo.path().join("promptctl.toml")).unwrap();
    std::fs::write(
        repo.path().join("promptctl.toml"),
        text.replace(&mock.url, &other.url),
    )
    .unwrap();
    let report = json(&with_key(&repo, &["eval", "--format", "json"]).expect(0));
    assert_eq!(report["requests"]["sent"], 1, "{report}");
    assert_eq!(other.requests(), 1);

    // An exec provider's script, edited, is another model.
    let repo = common::sample_repo();
    repo.write(
        "promptctl.toml",
        "[defaults]\nmodel = \"m\"\nprovider = \"local\"\n\n[providers.local]\nkind = \"exec\"\ncommand = [\"sh\", \"model.sh\"]\ninputs = [\"model.sh\"]\n",
    )
    .write("model.sh", "cat >/dev/null; echo '{\"text\": \"billing one\"}'\n");
    repo.commit("exec");
    repo.run(&["eval", "--min-pass-rate", "0"]).expect(0);
    repo.write(
        "model.sh",
        "cat >/dev/null; echo '{\"text\": \"billing two\"}'\n",
    );
    let report = json(
        &repo
            .run(&["eval", "--format", "json", "--min-pass-rate", "0"])
            .expect(0),
    );
    assert_eq!(report["requests"]["cached"], 0, "{report}");
    assert_eq!(
        report["suites"][0]["cases"][0]["head"]["output"],
        "billing two"
    );

    // Stats and pruning.
    let run = repo.run(&["cache", "stats"]).expect(0);
    assert!(run.stdout.contains("2 replies"), "{}", run.stdout);
    let run = repo
        .run(&["cache", "prune", "--older-than", "30d"])
        .expect(0);
    assert!(run.stdout.contains("removed 0 replies"), "{}", run.stdout);
    let run = repo
        .run(&["cache", "prune", "--older-than", "0s"])
        .expect(0);
    assert!(run.stdout.contains("removed 2 replies"), "{}", run.stdout);
    repo.run(&["cache", "prune", "--older-than", "soon"])
        .expect(2);
}

#[test]
fn cases_from_json_lines_and_csv_files_run_and_are_checked_row_by_row() {
    let repo = common::sample_repo();
    repo.write(
        "evals/triage.toml",
        r#"prompt = "support/triage"
cases = ["cases/triage.jsonl", "cases/more.csv", { name = "inline", vars = { ticket = "inline ticket" } }]
assert = [{ type = "contains", value = "Triage the ticket." }]
"#,
    )
    .write(
        "evals/cases/triage.jsonl",
        "{\"name\": \"refund\", \"vars\": {\"ticket\": \"money back\"}, \"assert\": [{\"type\": \"contains\", \"value\": \"money back\"}]}\n{\"vars\": {\"ticket\": \"hello\", \"tone\": \"formal\"}}\n",
    )
    .write(
        "evals/cases/more.csv",
        "name,ticket,tone\ncsv-one,\"a, b\",friendly\n,second,formal\n",
    );
    repo.commit("case files");
    let run = repo.run(&["check"]).expect(0);
    assert!(run.stderr.contains("check ok"), "{}", run.stderr);
    let report = json(&repo.run(&["eval", "--format", "json"]).expect(0));
    let names: Vec<&str> = report["suites"][0]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "refund",
            "triage.jsonl:2",
            "csv-one",
            "more.csv:3",
            "inline"
        ]
    );
    let refund = &report["suites"][0]["cases"][0]["head"]["assertions"];
    assert_eq!(
        refund.as_array().unwrap().len(),
        2,
        "suite-wide, then its own"
    );

    // A row the prompt cannot render is an error of check at the case; a broken row is an
    // error at its line of the case file.
    repo.write(
        "evals/cases/more.csv",
        "name,ticket,tone\ncsv-one,\"a, b\",shouting\n",
    )
    .write(
        "evals/cases/triage.jsonl",
        "{\"vars\": {\"ticket\": \"x\"}}\n{\"vars\": {\"ticket\": \"x\"}, \"assert\": [{\"type\": \"regex\", \"value\": \"(\"}]}\n{\"varz\": 1}\n",
    );
    let run = repo.run(&["check"]).expect(1);
    assert!(
        run.stdout
            .contains("evals/cases/triage.jsonl:3: not a case: unknown field `varz`"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "evals/cases/triage.jsonl:2: `assert[0].value`: is not a valid regular expression"
        ),
        "{}",
        run.stdout
    );
    repo.write(
        "evals/cases/triage.jsonl",
        "{\"vars\": {\"ticket\": \"x\"}}\n",
    );
    let run = repo.run(&["check"]).expect(1);
    assert!(
        run.stdout.contains("case `csv-one` does not render"),
        "{}",
        run.stdout
    );
    // A case file outside the suite's folder is refused.
    repo.write(
        "evals/triage.toml",
        "prompt = \"support/triage\"\ncases = \"../promptctl.toml.csv\"\n",
    );
    let run = repo.run(&["check"]).expect(1);
    assert!(
        run.stdout
            .contains("must be a path inside the suite's folder"),
        "{}",
        run.stdout
    );
}
