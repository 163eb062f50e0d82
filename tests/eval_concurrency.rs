//! `eval` finds a provider's concurrency as it runs: with no `--concurrency` it climbs from
//! 16 to the ceiling of 64 against a provider that keeps up (seen: a fixed 8 made the run
//! wait on itself, 2.48 s where 64 in flight took 0.37 s), stays low against one that
//! refuses a third of what it is sent, and loses no request either way. Each test drives the
//! real binary against a real HTTP server on 127.0.0.1.

mod common;

use std::time::Duration;

use common::TestRepo;
use common::mock_llm::{MockConfig, MockLlm};
use serde_json::Value;

/// A committed repository whose one suite has `cases` cases on the mock at `url`, the
/// working tree's prompt changed so both versions are sent: 2 × `cases` requests.
fn repo(url: &str, cases: usize, provider: &str) -> TestRepo {
    let repo = TestRepo::new();
    let mut suite = String::from("prompt = \"support/route\"\n\n[gate]\nmin_pass_rate = 0\n\n");
    for i in 0..cases {
        suite.push_str(&format!(
            "[[cases]]\nname = \"case-{i}\"\nvars = {{ ticket = \"ticket {i}\" }}\n\n"
        ));
    }
    repo.write(
        "promptctl.toml",
        &format!(
            "[defaults]\nmodel = \"test-model\"\n\n[providers.mock]\nkind = \"openai\"\nbase_url = \"{url}\"\napi_key_env = \"MOCK_API_KEY\"\n{provider}"
        ),
    )
    .write("prompts/support/route.toml", common::ROUTE_PROMPT)
    .write("evals/route.toml", &suite);
    repo.commit("route");
    let path = repo.path().join("prompts/support/route.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replacen(
            "[[messages]]",
            "[params]\ntemperature = 0.5\n\n[[messages]]",
            1,
        ),
    )
    .unwrap();
    repo
}

fn requests(repo: &TestRepo, args: &[&str]) -> Value {
    let mut all = vec!["eval", "--no-cache", "--format", "json"];
    all.extend_from_slice(args);
    let run = repo.run_with(repo.path(), &all, &[("MOCK_API_KEY", common::MOCK_KEY)]);
    let report: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {} {}", run.stdout, run.stderr));
    report["requests"].clone()
}

#[test]
fn with_no_flag_the_run_climbs_to_the_ceiling_and_a_flag_caps_it() {
    let mock = MockLlm::start(MockConfig {
        latency: Duration::from_millis(10),
        ..MockConfig::default()
    });
    let repo = repo(&mock.url, 100, "");
    let found = requests(&repo, &[]);
    assert_eq!(found["sent"], 200, "{found}");
    assert_eq!(found["failed"], 0, "{found}");
    assert_eq!(found["in_flight"], 64, "from 16, doubled twice: {found}");
    let capped = requests(&repo, &["--concurrency", "8"]);
    assert_eq!(capped["in_flight"], 8, "{capped}");
    assert_eq!(capped["sent"], 200, "{capped}");
}

#[test]
fn a_provider_refusing_a_third_keeps_the_level_down_and_loses_nothing() {
    let mock = MockLlm::start(MockConfig {
        latency: Duration::from_millis(10),
        rate_limit_every: Some(3),
        ..MockConfig::default()
    });
    // Enough retries that no request runs out of them by chance.
    let repo = repo(&mock.url, 100, "max_retries = 30\n");
    let refused = requests(&repo, &[]);
    assert_eq!(
        refused["failed"], 0,
        "every request retried until answered: {refused}"
    );
    assert_eq!(refused["sent"], 200, "{refused}");
    assert!(refused["retries"].as_u64().unwrap() >= 60, "{refused}");
    // About a third of each round trip refused: halved, so it never climbs to the ceiling
    // it reaches against a provider that keeps up.
    let level = refused["in_flight"].as_u64().unwrap();
    assert!(level <= 32, "{refused}");
}
