//! `check` and `init` driven through the binary.

mod common;

use common::{TestRepo, sample_repo};

#[test]
fn a_clean_repo_checks_ok() {
    let repo = sample_repo();
    repo.write(
        "evals/count.toml",
        "prompt = \"docs/count\"\n[[cases]]\nname = \"two\"\nvars = { n = 2 }\nassert = [{ type = \"contains\", value = \"2\" }]\n",
    )
    .write(
        "evals/reply.toml",
        "prompt = \"support/reply\"\n[[cases]]\nname = \"hi\"\nvars = { ticket = \"hi\" }\nassert = [{ type = \"min_chars\", value = 1 }]\n",
    );
    let run = repo.run(&["check"]).expect(0);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr
            .contains("check ok: 3 prompts and 3 suites checked, 0 errors, 0 warnings"),
        "{}",
        run.stderr
    );
}

/// A prompt that no suite covers passes `check` with a warning naming it and a file to add:
/// `ci` could not tell whether a change to it regresses anything.
#[test]
fn a_prompt_without_a_suite_is_warned_about() {
    let repo = sample_repo();
    let run = repo.run(&["check"]).expect(0);
    let said = format!("{}{}", run.stdout, run.stderr);
    for (file, name, suggested) in [
        ("prompts/docs/count.toml", "docs/count", "evals/count.toml"),
        (
            "prompts/support/reply.toml",
            "support/reply",
            "evals/reply.toml",
        ),
    ] {
        let line = format!(
            "warning[no-suite]: {file}: no eval suite covers `{name}`: `promptctl ci` cannot tell whether a change to it regresses; add one, like {suggested}"
        );
        assert!(said.contains(&line), "{said}");
    }
    assert!(!said.contains("covers `support/triage`"), "{said}");
    assert!(said.contains("0 errors, 2 warnings"), "{said}");
}

/// One repository with one instance of every problem `check` must find.
fn broken_repo() -> TestRepo {
    let repo = sample_repo();
    repo.write("prompts/bad/malformed.toml", "model = \"m\"\n[[messages]]\nrole = \"user\"\ncontent = \"unclosed\n")
        .write("prompts/bad/Upper.toml", "[[messages]]\nrole = \"user\"\ncontent = \"x\"\n")
        .write(
            "prompts/bad/unknown-type.toml",
            "[variables.x]\ntype = \"text\"\n[[messages]]\nrole = \"user\"\ncontent = \"{{ x }}\"\n",
        )
        .write(
            "prompts/bad/escape.toml",
            "[[messages]]\nrole = \"user\"\ncontent = \"\"\"\nSecrets:\n{% include \"../../etc/passwd.j2\" %}\n\"\"\"\n",
        )
        .write(
            "prompts/bad/absolute.toml",
            "[[messages]]\nrole = \"user\"\ncontent = \"{% include '/etc/passwd' %}\"\n",
        )
        .write(
            "prompts/bad/cycle.toml",
            "[[messages]]\nrole = \"user\"\ncontent = \"{% include 'cycle/a.j2' %}\"\n",
        )
        .write("prompts/cycle/a.j2", "A {% include 'cycle/b.j2' %}")
        .write("prompts/cycle/b.j2", "B\n{% include 'cycle/a.j2' %}")
        .write(
            "prompts/bad/undeclared.toml",
            "[[messages]]\nrole = \"user\"\ncontent = \"Hi {{ name }}\"\n",
        )
        .write(
            "prompts/bad/syntax.toml",
            "[[messages]]\nrole = \"user\"\ncontent = \"\"\"\nline one\n{% if x %}never closed\n\"\"\"\n[variables.x]\ntype = \"boolean\"\n",
        )
        .write("prompts/partials/unused.j2", "nobody includes me")
        .write(
            "evals/triage.toml",
            r#"prompt = "support/triage"

[[cases]]
name = "missing-ticket"
vars = { tone = "formal", mood = "grumpy" }

[[cases]]
name = "bad-enum"
vars = { ticket = "x", tone = "rude" }
"#,
        )
        .write("evals/ghost.toml", "prompt = \"does/not-exist\"\n")
        .write("evals/broken.toml", "prompt = \"support/triage\"\nrepeat = 0\n");
    repo
}

#[test]
fn every_problem_is_reported_with_file_line_and_field() {
    let repo = broken_repo();
    let run = repo.run(&["check"]).expect(1);
    insta::assert_snapshot!(run.stdout);
    assert!(run.stderr.contains("check failed"), "{}", run.stderr);
}

#[test]
fn check_json_lists_diagnostics_with_codes() {
    let repo = broken_repo();
    let run = repo.run(&["check", "--json"]).expect(1);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let codes: Vec<&str> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    for code in [
        "syntax",
        "invalid-name",
        "include",
        "include-cycle",
        "undeclared-variable",
        "template",
        "missing-variable",
        "not-in-enum",
        "unknown-prompt",
        "suite",
        "unused-partial",
        "undeclared-value",
    ] {
        assert!(codes.contains(&code), "{code} missing from {codes:?}");
    }
    let first = &report["diagnostics"][0];
    assert!(first["location"]["path"].is_string());
    assert!(first["severity"] == "error" || first["severity"] == "warning");
}

#[test]
fn check_of_named_prompts_looks_only_at_them() {
    let repo = broken_repo();
    let run = repo.run(&["check", "docs/count"]).expect(0);
    assert!(
        run.stderr.contains("1 prompt and 0 suites"),
        "{}",
        run.stderr
    );
    let run = repo.run(&["check", "bad/undeclared"]).expect(1);
    assert!(
        run.stdout.contains("template uses `name`"),
        "{}",
        run.stdout
    );
    let run = repo.run(&["check", "no/such"]).expect(2);
    assert!(run.stderr.contains("no prompt `no/such`"), "{}", run.stderr);
}

#[test]
fn a_suite_of_a_broken_prompt_is_not_called_unknown() {
    let repo = sample_repo();
    repo.write(
        "prompts/support/triage.toml",
        "[[messages]]\nrole = \"user\"\ncontent = \"{{ x \"\n",
    );
    let run = repo.run(&["check"]).expect(1);
    assert!(!run.stdout.contains("unknown-prompt"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("error[template]: prompts/support/triage.toml:3"),
        "{}",
        run.stdout
    );
}

#[test]
fn symbolic_links_are_not_followed() {
    let repo = sample_repo();
    let secret = repo.path().join("secret.j2");
    std::fs::write(&secret, "top secret").unwrap();
    std::os::unix::fs::symlink(&secret, repo.path().join("prompts/partials/link.j2")).unwrap();
    let run = repo.run(&["check"]).expect(1);
    assert!(
        run.stdout
            .contains("prompts/partials/link.j2: symbolic links are not followed"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_bad_promptctl_toml_exits_2_with_line_and_field() {
    let repo = sample_repo();
    repo.write("promptctl.toml", "[defaults]\nmodle = \"x\"\n");
    let run = repo.run(&["check"]).expect(2);
    assert!(
        run.stderr
            .contains("promptctl.toml:2: `defaults.modle`: unknown field `modle`"),
        "{}",
        run.stderr
    );
}

#[test]
fn init_creates_a_project_that_checks_and_renders() {
    let folder = TestRepo::bare_folder();
    let run = folder.run(&["init", "demo"]).expect(0);
    insta::assert_snapshot!(run.stdout);
    let demo = folder.path().join("demo");
    assert!(demo.join(".git").is_dir(), "a git repository is created");
    let gitignore = std::fs::read_to_string(demo.join(".gitignore")).unwrap();
    assert!(gitignore.lines().any(|l| l == ".promptctl/"));

    let demo_arg = demo.to_str().unwrap();
    folder.run(&["check", "--repo", demo_arg]).expect(0);
    let run = folder
        .run(&[
            "render",
            "--repo",
            demo_arg,
            "support/triage",
            "--var",
            "product=Acme",
            "--var",
            "ticket=hi",
        ])
        .expect(0);
    assert!(run.stdout.contains("Acme"), "{}", run.stdout);

    let again = folder.run(&["init", "demo"]).expect(2);
    assert!(
        again.stderr.contains("already a promptctl project"),
        "{}",
        again.stderr
    );
}

#[test]
fn init_keeps_existing_files() {
    let repo = TestRepo::bare_folder();
    repo.write("prompts/support/triage.toml", "mine")
        .write(".gitignore", "target/");
    repo.run(&["init"]).expect(0);
    assert_eq!(
        std::fs::read_to_string(repo.path().join("prompts/support/triage.toml")).unwrap(),
        "mine"
    );
    assert_eq!(
        std::fs::read_to_string(repo.path().join(".gitignore")).unwrap(),
        "target/\n.promptctl/\n"
    );
}

#[test]
fn unknown_providers_are_errors_with_their_file_and_field() {
    let repo = common::sample_repo();
    repo.write(
        "prompts/docs/count.toml",
        "provider = \"opnai\"\n\n[variables.n]\ntype = \"integer\"\nrequired = true\n\n[[messages]]\nrole = \"user\"\ncontent = \"Count to {{ n }}\"\n",
    );
    repo.write(
        "evals/triage.toml",
        "prompt = \"support/triage\"\nprovider = \"mystery\"\n\n[[cases]]\nname = \"a\"\nvars = { ticket = \"x\" }\nassert = [{ type = \"llm_judge\", rubric = \"r\", provider = \"judge\" }]\n",
    );
    let run = repo.run(&["check", "--json"]).expect(1);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let found: Vec<(String, String)> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == "unknown-provider")
        .map(|d| {
            (
                d["location"]["path"].as_str().unwrap().to_owned(),
                d["location"]["field"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("evals/triage.toml".to_owned(), "provider".to_owned()),
            (
                "evals/triage.toml".to_owned(),
                "cases[0].assert[0].provider".to_owned()
            ),
            ("prompts/docs/count.toml".to_owned(), "provider".to_owned()),
        ]
    );
}

/// A prompt whose one expression chains 8,000 terms overflowed the stack of whatever
/// parsed it (`check`, `render`, and a server at its next poll, exit 134). It is refused
/// with its file and line by every command, and nothing aborts.
#[test]
fn an_expression_too_long_to_parse_safely_is_refused_not_a_crash() {
    let repo = sample_repo();
    let chain = " +1".repeat(8_000);
    repo.write(
        "prompts/long.toml",
        &format!("[[messages]]\nrole = \"user\"\ncontent = \"{{{{ 1{chain} }}}}\"\n"),
    );
    let check = repo.run(&["check"]).expect(1);
    assert!(
        check.stdout.contains("prompts/long.toml:3")
            && check.stdout.contains("longer than 500 tokens"),
        "{}",
        check.stdout
    );
    let render = repo.run(&["render", "long"]).expect(2);
    assert!(
        render.stderr.contains("longer than 500 tokens"),
        "{}",
        render.stderr
    );
    repo.commit("a long expression");
    let publish = repo.run(&["publish", "long"]).expect(2);
    assert!(
        publish.stderr.contains("longer than 500 tokens"),
        "{}",
        publish.stderr
    );
}

/// A prompts folder that is a symbolic link to somewhere outside the project is refused,
/// as links inside the folder are: templates only ever read the project's own files.
#[test]
fn a_prompts_folder_linked_outside_the_project_is_refused() {
    let repo = sample_repo();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(
        outside.path().join("secret.toml"),
        "[[messages]]\nrole = \"user\"\ncontent = \"secret\"\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(outside.path(), repo.path().join("lnk")).unwrap();
    let config = std::fs::read_to_string(repo.path().join("promptctl.toml")).unwrap();
    repo.write(
        "promptctl.toml",
        &format!("[project]\nprompts = \"lnk\"\n\n{config}"),
    );
    for args in [&["list"][..], &["check"], &["render", "secret"]] {
        let run = repo.run(args).expect(2);
        assert!(
            run.stderr.contains("leads outside the project"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(!run.stdout.contains("secret"), "{args:?}: {}", run.stdout);
    }
}

/// A missing prompts folder gave `check ok: 0 prompts`. It is an error, with a hint.
#[test]
fn a_missing_prompts_folder_is_an_error_with_a_hint() {
    let repo = sample_repo();
    std::fs::rename(repo.path().join("prompts"), repo.path().join("elsewhere")).unwrap();
    let run = repo.run(&["check"]).expect(2);
    assert!(
        run.stderr.contains("there is no prompts folder `prompts/`"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("hint: create it"), "{}", run.stderr);
}

/// `check` rendered only prompts with eval cases, so a macro that recursed for ever passed
/// it (and then stalled whatever rendered it). A prompt no suite covers is rendered with its
/// defaults and sample values: the runaway is an error naming the prompt.
#[test]
fn a_prompt_without_cases_is_rendered_and_a_runaway_macro_fails_check() {
    let repo = sample_repo();
    repo.write(
        "prompts/loop.toml",
        "[variables.topic]\ntype = \"string\"\nrequired = true\n\n[[messages]]\nrole = \"user\"\ncontent = \"{% macro m(n) %}{{ m(n + 1) }}{% endmacro %}{{ topic }} {{ m(0) }}\"\n",
    );
    let run = repo.run(&["check"]).expect(1);
    assert!(
        run.stdout.contains("prompts/loop.toml")
            && run.stdout.contains("with its defaults and sample values")
            && run.stdout.contains("rendering stopped"),
        "{}",
        run.stdout
    );
    // A prompt that renders with sample values passes, as before.
    repo.write(
        "prompts/loop.toml",
        "[variables.topic]\ntype = \"string\"\nrequired = true\n\n[[messages]]\nrole = \"user\"\ncontent = \"About {{ topic }}\"\n",
    );
    repo.run(&["check"]).expect(0);
}

#[test]
fn a_template_that_cannot_render_fails_check_publish_and_canary() {
    // Seen: an unknown filter was a warning, check exited 0 and publish released it, though
    // an eval suite covered the prompt.
    let repo = sample_repo();
    repo.write(
        "prompts/support/triage.toml",
        "[variables.ticket]\ntype = \"string\"\nrequired = true\n\n[[messages]]\nrole = \"user\"\ncontent = \"{{ ticket | to_json }}\"\n",
    );
    let run = repo.run(&["check"]).expect(1);
    assert!(
        run.stdout.contains("error[")
            && run.stdout.contains("prompts/support/triage.toml")
            && run
                .stdout
                .contains("with its defaults and sample values, it does not render"),
        "{}",
        run.stdout
    );
    repo.commit("to_json");
    let publish = repo.run(&["publish", "support/triage"]).expect(2);
    assert!(publish.stderr.contains("to_json"), "{}", publish.stderr);
    let canary = repo.run(&["canary", "support/triage", "10%"]).expect(2);
    assert!(canary.stderr.contains("to_json"), "{}", canary.stderr);
}

#[test]
fn params_are_checked_against_what_the_provider_kind_takes() {
    // Seen: `temprature = 0.3` in `[params]` passed check and was sent to the provider.
    let repo = sample_repo();
    repo.write(
        "promptctl.toml",
        "[defaults]\nprovider = \"openai\"\nmodel = \"gpt-4o-mini\"\n",
    );
    let text = std::fs::read_to_string(repo.path().join("prompts/support/triage.toml")).unwrap();
    repo.write(
        "prompts/support/triage.toml",
        &text.replace(
            "temperature = 0.0",
            "temprature = 0.3\nfrobnicate = 1\ntop_p = 0.9",
        ),
    );
    let run = repo.run(&["check"]).expect(1);
    assert!(
        run.stdout.contains("error[unknown-param]: prompts/support/triage.toml: `params.temprature`: `temprature` is not a parameter of the openai API; did you mean `temperature`?"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("warning[unknown-param]: prompts/support/triage.toml: `params.frobnicate`"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("params.top_p"), "{}", run.stdout);
}
