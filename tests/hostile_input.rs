//! Input that tries to reach outside what it names, or to pass for something it is not:
//! case files linked out of the project, metric answers that are not counts, and the
//! smaller edges of the last attack. Each test drives the real binary.

mod common;

#[test]
fn a_case_file_linked_out_of_the_project_is_refused_at_its_line() {
    // Seen: `cases/out.csv` linking to a file outside the project was read by check and
    // eval, and its rows reached every report.
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.csv");
    std::fs::write(&secret, "name,ticket\nleak,top secret row\n").unwrap();
    let repo = common::sample_repo();
    repo.write(
        "evals/triage.toml",
        "prompt = \"support/triage\"\ncases = \"cases/out.csv\"\n",
    );
    std::fs::create_dir_all(repo.path().join("evals/cases")).unwrap();
    std::os::unix::fs::symlink(&secret, repo.path().join("evals/cases/out.csv")).unwrap();
    repo.commit("a linked case file");
    let run = repo.run(&["check"]).expect(1);
    assert!(
        run.stdout.contains("evals/triage.toml:2") && run.stdout.contains("outside the project"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("top secret row"), "{}", run.stdout);
    let run = repo.run(&["eval", "--format", "json"]).expect(2);
    assert!(!run.stdout.contains("top secret row"), "{}", run.stdout);
    assert!(run.stderr.contains("outside the project"), "{}", run.stderr);
    // A link that stays inside the project is read.
    std::fs::create_dir_all(repo.path().join("data")).unwrap();
    std::fs::write(repo.path().join("data/rows.csv"), "name,ticket\nok,fine\n").unwrap();
    std::fs::remove_file(repo.path().join("evals/cases/out.csv")).unwrap();
    std::os::unix::fs::symlink(
        repo.path().join("data/rows.csv"),
        repo.path().join("evals/cases/out.csv"),
    )
    .unwrap();
    let run = repo.run(&["check"]);
    assert!(
        !run.stdout.contains("outside the project"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_git_timeout_that_is_not_a_deadline_is_an_error_not_the_default() {
    // Seen: `PROMPTCTL_GIT_TIMEOUT=0` or `=abc` was silently ignored; `=1e300` panicked.
    let repo = common::sample_repo();
    repo.commit("prompts");
    repo.run(&["publish"]).expect(0);
    let _bare = repo.add_bare_remote();
    for value in ["0", "abc", "1e300", "3d"] {
        let run = repo
            .run_with(
                repo.path(),
                &["push", "origin"],
                &[("PROMPTCTL_GIT_TIMEOUT", value)],
            )
            .expect(2);
        assert!(
            run.stderr
                .contains(&format!("PROMPTCTL_GIT_TIMEOUT={value}: ")),
            "{}",
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
    repo.run_with(
        repo.path(),
        &["push", "origin"],
        &[("PROMPTCTL_GIT_TIMEOUT", "30s")],
    )
    .expect(0);
}

#[test]
fn revert_refuses_another_prompts_version() {
    // Seen: `revert A --to sha256:<B's version>` put B's text under A's name.
    let repo = common::sample_repo();
    repo.commit("prompts");
    repo.run(&["publish"]).expect(0);
    let list: serde_json::Value =
        serde_json::from_str(&repo.run(&["list", "--json"]).expect(0).stdout).unwrap();
    let version_of = |name: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["version"].as_str().unwrap().to_owned())
            .unwrap()
    };
    let reply = version_of("support/reply");
    let run = repo
        .run(&["revert", "support/triage", "--to", &reply])
        .expect(2);
    assert!(
        run.stderr
            .contains("was never a version of `support/triage`"),
        "{}",
        run.stderr
    );
    // Its own version is fine.
    let triage = version_of("support/triage");
    repo.run(&["revert", "support/triage", "--to", &triage])
        .expect(0);
}

#[test]
fn an_unwritable_state_folder_is_refused_at_the_start() {
    // Seen: an unwritable `--state-dir` was only a log line while /healthz said ok.
    let repo = common::sample_repo();
    repo.commit("prompts");
    repo.run(&["publish"]).expect(0);
    let file = repo.path().join("not-a-folder");
    std::fs::write(&file, "x").unwrap();
    let run = repo
        .run(&[
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--state-dir",
            file.to_str().unwrap(),
        ])
        .expect(2);
    assert!(
        run.stderr.contains("cannot write the state folder"),
        "{}",
        run.stderr
    );
}

#[test]
fn thousands_of_alike_warnings_are_counted_not_listed() {
    // Seen: a 255,750-case file printed 255,750 warnings.
    let repo = common::sample_repo();
    let mut rows = String::from("name,ticket\n");
    for i in 0..500 {
        rows.push_str(&format!("case-{i},ticket {i}\n"));
    }
    repo.write(
        "evals/triage.toml",
        "prompt = \"support/triage\"\ncases = \"rows.csv\"\n",
    )
    .write("evals/rows.csv", &rows);
    let run = repo.run(&["check"]).expect(0);
    let listed = run.stdout.matches("has no assertion").count();
    assert_eq!(listed, 10, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("and 490 more warnings like these in this file"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("0 errors, 502 warnings"),
        "{}",
        run.stderr
    );
}

/// A repository whose prompt is answered by the mock at `url`, with `extra` in its
/// provider table.
fn mock_repo(url: &str, extra: &str) -> common::TestRepo {
    let repo = common::TestRepo::new();
    repo.write(
        "promptctl.toml",
        &format!(
            "[defaults]\nmodel = \"m\"\nprovider = \"mock\"\n\n[providers.mock]\nkind = \"openai\"\nbase_url = \"{url}\"\napi_key_env = \"MOCK_API_KEY\"\n{extra}\n"
        ),
    )
    .write("prompts/support/route.toml", common::ROUTE_PROMPT)
    .write(
        "evals/route.toml",
        "prompt = \"support/route\"\n\n[gate]\nmin_pass_rate = 0\n\n[[cases]]\nname = \"a\"\nvars = { ticket = \"a\" }\nassert = [{ type = \"contains\", value = \"a\" }]\n\n[[cases]]\nname = \"b\"\nvars = { ticket = \"b\" }\nassert = [{ type = \"contains\", value = \"b\" }]\n",
    );
    repo.commit("route");
    repo
}

#[test]
fn seconds_past_their_bound_are_errors_not_panics() {
    use common::mock_llm::{MockConfig, MockLlm};
    // Seen: a provider `timeout = 1e300` passed check and eval exited 101.
    let mock = MockLlm::start(MockConfig::default());
    let repo = mock_repo(&mock.url, "timeout = 1e300");
    let key = [("MOCK_API_KEY", common::MOCK_KEY)];
    let run = repo.run_with(repo.path(), &["check"], &key);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("timeout"), "{}", run.stderr);
    let run = repo.run_with(repo.path(), &["eval"], &key).expect(2);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    // Seen: a provider answering `Retry-After: 1e300` panicked the request tasks.
    let mock = MockLlm::start(MockConfig {
        rate_limit_every: Some(1),
        retry_after: Some("1e300".into()),
        ..MockConfig::default()
    });
    let repo = mock_repo(&mock.url, "");
    let run = repo
        .run_with(repo.path(), &["eval", "--no-cache"], &key)
        .expect(1);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert!(
        run.stdout.contains("Retry-After is not a wait to honour"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_metric_source_that_cannot_be_read_is_a_failed_step_not_a_quiet_hold() {
    // Seen: `rollout step --prometheus URL` with Prometheus stopped printed `hold` and
    // exited 0.
    let repo = common::released("");
    repo.run(&[
        "canary",
        "support/triage",
        "10%",
        "--ramp",
        "50,100",
        "--every",
        "1s",
        "--max-error-rate",
        "5%",
    ])
    .expect(0);
    repo.advance(5);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let run = repo
        .run(&["rollout", "step", "--prometheus", &url])
        .expect(2);
    assert!(
        run.stderr
            .contains("the metric source could not be read, so its steps held"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("hold"), "{}", run.stdout);
}

#[test]
fn revert_help_names_only_flags_revert_takes() {
    // Seen: `revert --help` described --allow-dirty by a `--version` flag revert does not take.
    let repo = common::sample_repo();
    let help = repo.run(&["revert", "--help"]).expect(0).stdout;
    assert!(!help.contains("--version worktree"), "{help}");
    assert!(help.contains("--to worktree"), "{help}");
    repo.commit("prompts");
    repo.run(&["publish"]).expect(0);
    let run = repo
        .run(&["revert", "support/triage", "--to", "worktree"])
        .expect(2);
    assert!(
        run.stderr.contains("`--to worktree` would revert"),
        "{}",
        run.stderr
    );
}

#[test]
fn git_configuration_is_read_as_git_reads_it() {
    // Seen: with GIT_CONFIG_GLOBAL naming a file, `git log` showed its user while promptctl
    // used ~/.gitconfig's (or found no identity), and `init` made `master` despite its
    // `init.defaultBranch = main`.
    let config = tempfile::tempdir().unwrap();
    let file = config.path().join("my-gitconfig");
    std::fs::write(
        &file,
        "[user]\n\tname = New User\n\temail = new@example.com\n[init]\n\tdefaultBranch = trunk\n",
    )
    .unwrap();
    let global = [("GIT_CONFIG_GLOBAL", file.to_str().unwrap())];
    let repo = common::TestRepo::bare_folder();
    repo.run_with(repo.path(), &["init"], &global).expect(0);
    let git = git2::Repository::open(repo.path()).unwrap();
    let head = git.find_reference("HEAD").unwrap();
    assert_eq!(head.symbolic_target().unwrap(), Some("refs/heads/trunk"));
    repo.commit("init");
    repo.run_with(repo.path(), &["publish"], &global).expect(0);
    let log = repo
        .run_with(repo.path(), &["log", "-n", "1", "--json"], &global)
        .expect(0);
    assert!(log.stdout.contains("New User"), "{}", log.stdout);
    // Without it (and with an empty HOME) there is no identity, as for git.
    let run = repo.run(&["publish", "--reason", "again"]);
    assert_ne!(run.code, 0, "{}", run.stdout);
    assert!(run.stderr.contains("no identity"), "{}", run.stderr);
    // includeIf follows where git looks too.
    let included = config.path().join("work-gitconfig");
    std::fs::write(
        &included,
        "[user]\n\tname = Work User\n\temail = work@example.com\n",
    )
    .unwrap();
    std::fs::write(
        &file,
        format!(
            "[includeIf \"gitdir:{}/\"]\n\tpath = {}\n",
            std::fs::canonicalize(repo.path()).unwrap().display(),
            included.display()
        ),
    )
    .unwrap();
    repo.write(
        "prompts/extra.toml",
        "model = \"m\"\n[[messages]]\nrole = \"user\"\ncontent = \"Hello\"\n",
    );
    repo.commit("v2");
    repo.run_with(repo.path(), &["publish"], &global).expect(0);
    let log = repo
        .run_with(repo.path(), &["log", "-n", "1", "--json"], &global)
        .expect(0);
    assert!(log.stdout.contains("Work User"), "{}", log.stdout);
}

#[test]
fn one_rule_for_a_url_and_a_percent_on_flags_and_files() {
    // Seen: `rollout status --prometheus notaurl` exited 0 with "builder error" while the
    // same URL in `[rollout] prometheus` was refused; `canary --max-cost-increase 20%` was
    // accepted and `eval --max-cost-increase 20%` was a usage error.
    let repo = common::released("");
    let run = repo
        .run(&["rollout", "status", "--prometheus", "notaurl"])
        .expect(2);
    assert!(
        run.stderr.contains("is not an http(s) URL"),
        "{}",
        run.stderr
    );
    let run = repo.run(&["eval", "--max-cost-increase", "20%", "--min-pass-rate", "0"]);
    assert_ne!(run.code, 2, "{}", run.stderr);
    let run = repo.run(&["eval", "--min-pass-rate", "120%"]).expect(2);
    assert!(run.stderr.contains("more than 100%"), "{}", run.stderr);
}

#[test]
fn a_cohort_the_canary_does_not_route_is_said() {
    // Seen: unknown cohort names were ignored without a word.
    let repo = common::canary_with_cohort();
    let run = repo
        .run(&[
            "resolve",
            "support/triage",
            "--key",
            "k",
            "--cohort",
            "internel",
        ])
        .expect(0);
    assert!(
        run.stderr.contains(
            "warning: cohort `internel` changes nothing for `support/triage`: its canary routes internal; did you mean `internal`?"
        ),
        "{}",
        run.stderr
    );
    let run = repo
        .run(&[
            "resolve",
            "support/triage",
            "--key",
            "k",
            "--cohort",
            "internal",
        ])
        .expect(0);
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    assert!(run.stdout.contains("canary"), "{}", run.stdout);
}

#[test]
fn one_duration_grammar_on_flags_files_the_environment_and_the_network() {
    // Seen: durations had four grammars: files took bare seconds (`timeout = "1m"` was a
    // type error), flags took spans, `/v1/state?wait=` took `30` or `30s` but not `1m`.
    let repo = common::released(
        "\n[providers.slow]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9\"\ntimeout = \"1m30s\"\n",
    );
    repo.write(
        "promptctl.toml",
        &format!(
            "{}\n[rollout]\nprometheus_timeout = \"1m\"\n",
            std::fs::read_to_string(repo.path().join("promptctl.toml")).unwrap()
        ),
    );
    repo.commit("durations as spans");
    let run = repo.run(&["check"]);
    assert!(run.code <= 1, "{}{}", run.stdout, run.stderr);
    assert!(
        !run.stdout.contains("timeout") && !run.stderr.contains("timeout"),
        "{}{}",
        run.stdout,
        run.stderr
    );
    // The same spans past their bounds say the bound, on each route.
    repo.write(
        "promptctl.toml",
        &std::fs::read_to_string(repo.path().join("promptctl.toml"))
            .unwrap()
            .replace(
                "prometheus_timeout = \"1m\"",
                "prometheus_timeout = \"10m\"",
            ),
    );
    let run = repo.run(&["check"]);
    assert!(
        run.stderr.contains("10m is not more than 0, at most 5m"),
        "{}",
        run.stderr
    );
    repo.write(
        "promptctl.toml",
        &std::fs::read_to_string(repo.path().join("promptctl.toml"))
            .unwrap()
            .replace("\"10m\"", "\"1m\""),
    );
    let _bare = repo.add_bare_remote();
    let run = repo
        .run_with(
            repo.path(),
            &["push", "origin"],
            &[("PROMPTCTL_GIT_TIMEOUT", "2d")],
        )
        .expect(2);
    assert!(
        run.stderr.contains("2d is not more than 0, at most 1d"),
        "{}",
        run.stderr
    );
    let run = repo.run(&["canary", "support/triage", "10%", "--every", "500ms"]);
    assert!(
        run.stderr.contains("--every: 500ms is not 1s to 365d"),
        "{}",
        run.stderr
    );
    let server = common::server::Server::start(&repo, &[], &[]);
    let (status, body) = server.get("/v1/state?wait=0s");
    assert_eq!(status, 200, "{body}");
    let (status, body) = server.get("/v1/state?wait=2m");
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("2m is not 0 to 1m"),
        "{body}"
    );
}

#[test]
fn an_amount_of_money_has_one_rule_in_files_and_on_the_network() {
    // Seen: `cost_usd: 1e300` was accepted as feedback (two such made the cost sum
    // infinite), prices took any non-negative number, and `max_cost` had a third check.
    let repo = common::sample_repo();
    let config = std::fs::read_to_string(repo.path().join("promptctl.toml")).unwrap();
    repo.write(
        "promptctl.toml",
        &format!("{config}\n[prices.test-model]\ninput = 1e300\noutput = 1\n"),
    );
    let run = repo.run(&["check"]);
    assert!(
        run.stderr.contains("prices.test-model.input")
            && run.stderr.contains("is not an amount of US dollars"),
        "{}",
        run.stderr
    );
    let repo = common::released("");
    let server = common::server::Server::start(&repo, &[], &[]);
    let (_, list) = server.get("/v1/prompts");
    let version = list["prompts"][0]["active"].as_str().unwrap().to_owned();
    let name = list["prompts"][0]["name"].as_str().unwrap().to_owned();
    for (cost, status) in [(0.002, 202), (1e300, 422)] {
        let (got, body) = server.post(
            "/v1/feedback",
            &serde_json::json!({"name": name, "version": version, "outcome": "success", "cost_usd": cost}),
        );
        assert_eq!(got, status, "{cost}: {body}");
    }
}
