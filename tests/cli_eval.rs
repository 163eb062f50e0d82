//! `eval` driven through the binary: against a real HTTP server speaking the OpenAI API
//! (started here, with latency and 429s), against the offline provider, and a local command.

mod common;

use std::time::Duration;

use common::TestRepo;
use common::mock_llm::{MockConfig, MockLlm};
use serde_json::Value;

const KEY: &str = common::MOCK_KEY;
const ROUTE: &str = common::ROUTE_PROMPT;

/// A repository whose prompt talks to the mock, with a suite of four cases whose answers
/// are known: the mock answers "<last system line> | <ticket>".
fn mock_repo(mock: &MockLlm, cases: &str) -> TestRepo {
    let repo = TestRepo::new();
    repo.write(
        "promptctl.toml",
        &format!(
            "[defaults]\nmodel = \"test-model\"\n\n[providers.mock]\nkind = \"openai\"\nbase_url = \"{}\"\napi_key_env = \"MOCK_API_KEY\"\nmax_retries = 8\n\n[prices.test-model]\ninput = 1000.0\noutput = 2000.0\n",
            mock.url
        ),
    )
    .write("prompts/support/route.toml", ROUTE)
    .write(
        "evals/route.toml",
        &format!("prompt = \"support/route\"\n\n{cases}\n[gate]\nmax_pass_rate_drop = 0.0\n# `crash` fails on every version: the mock always answers billing.\nmin_pass_rate = 50\n"),
    );
    repo.commit("route");
    repo
}

const FOUR_CASES: &str = r#"
[[cases]]
name = "charged-twice"
vars = { ticket = "I was charged twice" }
assert = [{ type = "contains", value = "billing" }]

[[cases]]
name = "crash"
vars = { ticket = "The app crashes" }
assert = [{ type = "contains", value = "bug" }]

[[cases]]
name = "answers"
vars = { ticket = "Hello" }
assert = [{ type = "starts_with", value = "Answer:" }]

[[cases]]
name = "refund"
vars = { ticket = "Refund please" }
assert = [{ type = "icontains", value = "BILLING" }, { type = "max_chars", value = 200 }]
"#;

fn eval(repo: &TestRepo, args: &[&str], code: i32) -> (Value, common::Run) {
    let mut full = vec!["eval", "--format", "json"];
    full.extend_from_slice(args);
    let run = repo
        .run_with(repo.path(), &full, &[("MOCK_API_KEY", KEY)])
        .expect(code);
    let report =
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout));
    (report, run)
}

fn changes(report: &Value) -> Vec<(String, String)> {
    report["suites"][0]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["change"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn switch_answer(repo: &TestRepo) {
    repo.write(
        "prompts/support/route.toml",
        &ROUTE.replace("Answer: billing", "Answer: bug"),
    );
}

#[test]
fn a_regressing_change_is_counted_case_by_case_and_fails_the_gate() {
    let mock = MockLlm::start(MockConfig::default());
    let repo = mock_repo(&mock, FOUR_CASES);
    switch_answer(&repo);
    let (report, _) = eval(&repo, &[], 1);
    let suite = &report["suites"][0];
    assert_eq!(suite["base"]["spec"], "HEAD");
    assert_eq!(suite["head"]["spec"], "worktree");
    assert_eq!(
        (
            suite["base"]["passed"].as_u64(),
            suite["base"]["failed"].as_u64()
        ),
        (Some(3), Some(1))
    );
    assert_eq!(
        (
            suite["head"]["passed"].as_u64(),
            suite["head"]["failed"].as_u64()
        ),
        (Some(2), Some(2))
    );
    assert_eq!(suite["head"]["pass_rate"], 0.5);
    assert_eq!(
        changes(&report),
        [
            ("charged-twice".into(), "regressed".into()),
            ("crash".into(), "fixed".into()),
            ("answers".into(), "same".into()),
            ("refund".into(), "regressed".into()),
        ]
    );
    let regressed = &suite["cases"][0]["head"];
    assert_eq!(regressed["output"], "Answer: bug | I was charged twice");
    assert_eq!(
        regressed["assertions"][0]["reason"],
        "output does not contain \"billing\""
    );
    assert_eq!(suite["gate"]["passed"], false);
    assert!(
        suite["gate"]["reasons"][0]
            .as_str()
            .unwrap()
            .starts_with("pass rate dropped 25.0 points")
    );
    // Tokens from the response's usage (the mock counts 10 per message and the words of the
    // answer), cost from [prices] at $1000 and $2000 per million.
    assert_eq!(suite["base"]["input_tokens"], 80);
    assert_eq!(suite["base"]["output_tokens"], 22);
    let cost = suite["base"]["cost_usd"].as_f64().unwrap();
    assert!(
        (cost - (80.0 * 1000.0 + 22.0 * 2000.0) / 1e6).abs() < 1e-9,
        "{cost}"
    );
    assert_eq!(mock.answered.load(std::sync::atomic::Ordering::SeqCst), 8);
    assert_eq!(report["requests"]["sent"], 8);
    // A looser limit on the command line lets it pass.
    let (report, _) = eval(&repo, &["--max-pass-rate-drop", "30"], 0);
    assert_eq!(report["passed"], true);
}

#[test]
fn a_warm_rerun_sends_nothing_and_identical_requests_are_sent_once() {
    let mock = MockLlm::start(MockConfig::default());
    let cases = format!(
        "{FOUR_CASES}\n[[cases]]\nname = \"charged-twice-again\"\nvars = {{ ticket = \"I was charged twice\" }}\nassert = [{{ type = \"min_chars\", value = 5 }}]\n"
    );
    let repo = mock_repo(&mock, &cases);
    let (report, _) = eval(&repo, &[], 0);
    // Base and head are the same version and two cases ask the same: 4 distinct requests.
    assert_eq!(report["requests"]["distinct"], 4);
    assert_eq!(mock.requests(), 4);
    let (again, _) = eval(&repo, &[], 0);
    assert_eq!(mock.requests(), 4, "the warm rerun sent nothing");
    assert_eq!(again["requests"]["cached"], 4);
    assert_eq!(again["requests"]["sent"], 0);
    assert_eq!(
        again["suites"][0]["head"]["passed"],
        report["suites"][0]["head"]["passed"]
    );
    eval(&repo, &["--no-cache"], 0);
    assert_eq!(mock.requests(), 8, "--no-cache asks again");
}

#[test]
fn ten_percent_429s_are_retried_until_every_case_completes() {
    let mock = MockLlm::start(MockConfig {
        latency: Duration::from_millis(5),
        rate_limit_every: Some(10),
        ..MockConfig::default()
    });
    let mut cases = String::new();
    for i in 0..30 {
        cases.push_str(&format!(
            "[[cases]]\nname = \"case-{i}\"\nvars = {{ ticket = \"ticket {i}\" }}\nassert = [{{ type = \"contains\", value = \"ticket {i}\" }}]\n\n"
        ));
    }
    let repo = mock_repo(&mock, &cases);
    switch_answer(&repo);
    let (report, _) = eval(&repo, &["--concurrency", "16"], 0);
    assert!(mock.limited.load(std::sync::atomic::Ordering::SeqCst) >= 6);
    assert_eq!(report["requests"]["failed"], 0);
    assert!(report["requests"]["retries"].as_u64().unwrap() >= 6);
    assert_eq!(report["suites"][0]["base"]["passed"], 30);
    assert_eq!(report["suites"][0]["head"]["passed"], 30);
}

#[test]
fn the_key_is_sent_but_never_written_or_printed() {
    let mock = MockLlm::start(MockConfig::default());
    let repo = mock_repo(&mock, FOUR_CASES);
    switch_answer(&repo);
    for format in ["json", "table", "junit", "markdown"] {
        let run = repo.run_with(
            repo.path(),
            &["eval", "--format", format],
            &[("MOCK_API_KEY", KEY)],
        );
        assert!(
            !run.stdout.contains(KEY) && !run.stderr.contains(KEY),
            "{format}"
        );
    }
    let auths = mock.authorizations.lock().unwrap().clone();
    assert!(!auths.is_empty() && auths.iter().all(|a| a == &format!("Bearer {KEY}")));
    let mut files = vec![repo.path().to_path_buf()];
    let mut scanned = 0;
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !String::from_utf8_lossy(&bytes).contains(KEY),
                "{}",
                path.display()
            );
            scanned += 1;
        }
    }
    assert!(repo.path().join(".promptctl/cache").is_dir());
    assert!(scanned > 8, "the cache and the repository were scanned");
    // Without the key, nothing is sent and the error names the variable.
    let before = mock.requests();
    let run = repo.run(&["eval", "--no-cache"]).expect(2);
    assert!(run.stderr.contains("`MOCK_API_KEY`"), "{}", run.stderr);
    assert!(
        run.stderr.contains("hint: export MOCK_API_KEY"),
        "{}",
        run.stderr
    );
    assert_eq!(mock.requests(), before);
}

#[test]
fn a_killed_run_resumes_from_the_cache() {
    let mock = MockLlm::start(MockConfig {
        latency: Duration::from_millis(150),
        rate_limit_every: None,
        ..MockConfig::default()
    });
    let mut cases = String::new();
    for i in 0..12 {
        cases.push_str(&format!(
            "[[cases]]\nname = \"case-{i}\"\nvars = {{ ticket = \"ticket {i}\" }}\nassert = [{{ type = \"contains\", value = \"ticket\" }}]\n\n"
        ));
    }
    let repo = mock_repo(&mock, &cases);
    switch_answer(&repo);
    let mut child = repo
        .command(repo.path(), &["eval", "--concurrency", "2"])
        .env("MOCK_API_KEY", KEY)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once a few answers are in, however slow the machine is.
    let started = std::time::Instant::now();
    while mock.answered.load(std::sync::atomic::Ordering::SeqCst) < 4 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the run never got going"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let answered_before = mock.answered.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        answered_before > 0 && answered_before < 24,
        "{answered_before}"
    );
    let (report, _) = eval(&repo, &["--concurrency", "8"], 0);
    let cached = report["requests"]["cached"].as_u64().unwrap() as usize;
    let sent = report["requests"]["sent"].as_u64().unwrap() as usize;
    assert!(cached > 0, "the killed run's answers were kept");
    assert!(
        cached + 2 >= answered_before,
        "at most the requests in flight were lost"
    );
    assert_eq!(cached + sent, 24);
    assert_eq!(report["suites"][0]["head"]["passed"], 12);
}

#[test]
fn offline_runs_write_junit_and_markdown_reports() {
    let repo = common::sample_repo();
    repo.write(
        "evals/triage.toml",
        r#"prompt = "support/triage"

[[cases]]
name = "refund"
vars = { ticket = "money back please" }
assert = [{ type = "contains", value = "money back please" }, { type = "contains", value = "Be warm." }]

[[cases]]
name = "formal"
vars = { ticket = "hello", tone = "formal" }
assert = [{ type = "contains", value = "Be formal." }, { type = "llm_judge", rubric = "Says \"Triage the ticket\"" }]
"#,
    );
    repo.commit("suite");
    std::fs::write(
        repo.path().join("prompts/partials/tone.j2"),
        "{% if tone == \"formal\" %}Be formal.{% else %}Be kind.{% endif %}",
    )
    .unwrap();
    let run = repo
        .run(&["eval", "--format", "junit", "--output", "report.xml"])
        .expect(1);
    assert!(
        run.stderr.contains("eval failed: 1 suite, 1 gate failed"),
        "{}",
        run.stderr
    );
    let junit = std::fs::read_to_string(repo.path().join("report.xml")).unwrap();
    assert_eq!(junit.matches("<testcase ").count(), 4, "{junit}");
    assert_eq!(junit.matches("<failure ").count(), 1, "{junit}");
    assert!(
        junit.contains("contains: output does not contain &quot;Be warm.&quot;"),
        "{junit}"
    );
    assert!(junit.starts_with("<?xml") && junit.trim_end().ends_with("</testsuites>"));
    let run = repo.run(&["eval", "--format", "markdown"]).expect(1);
    assert!(
        run.stdout
            .contains("| pass rate | 2/2 (100.0%) | 1/2 (50.0%) |"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("**Regressed:**\n\n- `refund`"),
        "{}",
        run.stdout
    );
    let run = repo.run(&["eval"]).expect(1);
    assert!(run.stdout.contains("regressed  refund"), "{}", run.stdout);
    // A JSON report written to a file is streamed there: the same bytes as on stdout,
    // with the summary line on stderr.
    let printed = repo.run(&["eval", "--format", "json"]).expect(1);
    let run = repo
        .run(&["eval", "--format", "json", "--output", "report.json"])
        .expect(1);
    let written = std::fs::read_to_string(repo.path().join("report.json")).unwrap();
    assert_eq!(written, printed.stdout);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr.contains("eval failed: 1 suite, 1 gate failed"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_exec_provider_gets_json_and_answers_json() {
    let repo = common::sample_repo();
    repo.write(
        "promptctl.toml",
        "[defaults]\nmodel = \"test-model\"\nprovider = \"local\"\n\n[providers.local]\nkind = \"exec\"\ncommand = [\"sh\", \"-c\", \"grep -q money && echo '{\\\"text\\\": \\\"billing\\\", \\\"output_tokens\\\": 1}' || echo '{\\\"text\\\": \\\"other\\\"}'\"]\n",
    );
    repo.write(
        "evals/triage.toml",
        "prompt = \"support/triage\"\n\n[[cases]]\nname = \"refund\"\nvars = { ticket = \"money back\" }\nassert = [{ type = \"equals\", value = \"billing\" }]\n\n[[cases]]\nname = \"hello\"\nvars = { ticket = \"hello\" }\nassert = [{ type = \"equals\", value = \"other\" }]\n",
    );
    repo.commit("exec");
    let run = repo.run(&["eval", "--format", "json"]).expect(0);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["suites"][0]["head"]["passed"], 2, "{}", report);
    assert_eq!(report["suites"][0]["head"]["output_tokens"], 1);
}

#[test]
fn an_anthropic_provider_speaks_the_messages_api() {
    let mock = MockLlm::start(MockConfig::default());
    let repo = mock_repo(&mock, FOUR_CASES);
    let root = mock.url.trim_end_matches("/v1");
    repo.write(
        "promptctl.toml",
        &format!(
            "[defaults]\nmodel = \"claude-test\"\n\n[providers.mock]\nkind = \"anthropic\"\nbase_url = \"{root}\"\napi_key_env = \"MOCK_API_KEY\"\n"
        ),
    );
    let (report, _) = eval(&repo, &["--no-cache"], 0);
    let head = &report["suites"][0]["head"];
    assert_eq!(head["passed"], 3, "{report}");
    assert_eq!(
        head["input_tokens"], 40,
        "one user message each; the system prompt is apart"
    );
    assert_eq!(
        report["suites"][0]["cases"][0]["head"]["output"],
        "Answer: billing | I was charged twice"
    );
    let auths = mock.authorizations.lock().unwrap().clone();
    assert!(auths.iter().all(|a| a == KEY), "sent as x-api-key");
}

#[test]
fn unknown_suites_and_providers_exit_2() {
    let repo = common::sample_repo();
    repo.commit("prompts");
    let run = repo.run(&["eval", "nope"]).expect(2);
    assert!(
        run.stderr.contains("no eval suite `nope`"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("suites: triage"), "{}", run.stderr);
    repo.write(
        "evals/triage.toml",
        "prompt = \"support/triage\"\nprovider = \"mystery\"\n\n[[cases]]\nname = \"a\"\nvars = { ticket = \"x\" }\n",
    );
    let run = repo.run(&["eval"]).expect(2);
    assert!(
        run.stderr.contains("unknown provider `mystery`"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_table_report_reads_well() {
    let repo = common::sample_repo();
    repo.write(
        "evals/triage.toml",
        r#"prompt = "support/triage"

[[cases]]
name = "warm"
vars = { ticket = "money back please" }
assert = [{ type = "contains", value = "Be warm." }]

[[cases]]
name = "formal"
vars = { ticket = "hello", tone = "formal" }
assert = [{ type = "contains", value = "Be formal." }, { type = "max_chars", value = 10 }]

[gate]
max_pass_rate_drop = 10.0
"#,
    );
    repo.commit("suite");
    std::fs::write(
        repo.path().join("prompts/partials/tone.j2"),
        "{% if tone == \"formal\" %}Be formal.{% else %}Be kind.{% endif %}",
    )
    .unwrap();
    let run = repo.run(&["eval"]).expect(1);
    insta::assert_snapshot!(run.stdout);
}

/// `eval --changed` runs the suites of the prompts whose version differs from the base, and
/// suites whose own file changed; with nothing changed it says so and sends nothing.
#[test]
fn eval_changed_runs_only_the_suites_of_changed_prompts_and_changed_suites() {
    let repo = common::sample_repo();
    repo.write(
        "evals/count.toml",
        "prompt = \"docs/count\"\n\n[[cases]]\nname = \"two\"\nvars = { n = 2 }\nassert = [{ type = \"min_chars\", value = 1 }]\n",
    );
    repo.commit("v1");
    let evaluated = |repo: &TestRepo| -> Vec<String> {
        let run = repo.run(&["eval", "--changed", "--base", "HEAD", "--format", "json"]);
        assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
        let report: Value = serde_json::from_str(&run.stdout).unwrap_or(Value::Null);
        report["suites"]
            .as_array()
            .map(|s| {
                s.iter()
                    .map(|s| s["prompt"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let run = repo.run(&["eval", "--changed", "--base", "HEAD"]).expect(0);
    assert!(run.stderr.contains("nothing to evaluate"), "{}", run.stderr);
    let triage = repo.path().join("prompts/support/triage.toml");
    let text = std::fs::read_to_string(&triage).unwrap();
    std::fs::write(
        &triage,
        text.replace("Triage the ticket.", "Triage the ticket now."),
    )
    .unwrap();
    assert_eq!(evaluated(&repo), vec!["support/triage"]);
    // A suite edited on its own runs too, though its prompt is the same.
    let count = repo.path().join("evals/count.toml");
    let text = std::fs::read_to_string(&count).unwrap();
    std::fs::write(&count, text.replace("value = 1 }", "value = 2 }")).unwrap();
    assert_eq!(evaluated(&repo), vec!["docs/count", "support/triage"]);
}

#[test]
fn the_json_report_on_stdout_keeps_every_character_of_a_reply() {
    // Seen: JSON on stdout went through the terminal-style stripper, which scanned every
    // byte and dropped DEL (U+007F), a character JSON leaves unescaped, from replies.
    let repo = common::sample_repo();
    repo.write(
        "evals/triage.toml",
        "prompt = \"support/triage\"\n\n[[cases]]\nname = \"rubout\"\nvars = { ticket = \"rub\\u007Fout\" }\nassert = [{ type = \"contains\", value = \"rub\\u007Fout\" }]\n",
    );
    repo.commit("suite");
    let run = repo.run(&["eval", "--format", "json"]).expect(0);
    assert!(run.stdout.contains("rub\u{7f}out"), "{}", run.stdout);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    let case = &report["suites"][0]["cases"][0]["head"];
    assert_eq!(case["pass"], true, "{report}");
    assert!(
        case["output"].as_str().unwrap().ends_with("rub\u{7f}out"),
        "{report}"
    );
}
