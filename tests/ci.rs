//! `promptctl ci` end to end: real repositories with a `main` branch and a change on a
//! feature branch, the offline provider, and GitHub Actions' environment where it matters.

mod common;

use common::{Run, TestRepo};

const TRIAGE: &str = r#"description = "Route a support ticket"

[variables.ticket]
type = "string"
required = true

[[messages]]
role = "system"
content = """
Answer with one queue: billing, bug or other.
{% include "partials/style.j2" %}
"""

[[messages]]
role = "user"
content = "{{ ticket }}"
"#;

const SUITE: &str = r#"prompt = "support/triage"

[[cases]]
name = "refund"
vars = { ticket = "I was charged twice" }
assert = [{ type = "icontains", value = "billing" }]

[[cases]]
name = "crash"
vars = { ticket = "The app crashes" }
assert = [{ type = "icontains", value = "bug" }]
"#;

/// A repository whose `main` holds a triage prompt with its suite, checked out on a new
/// branch `feature`.
fn project() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("prompts/support/triage.toml", TRIAGE)
        .write("prompts/partials/style.j2", "Be brief.")
        .write(
            "prompts/support/greet.toml",
            "[[messages]]\nrole = \"user\"\ncontent = \"Say hello.\"\n",
        )
        .write("evals/triage.toml", SUITE);
    repo.commit("prompts");
    branch_off(&repo, "main", "feature");
    repo
}

fn branch_off(repo: &TestRepo, base: &str, new: &str) {
    let git = git2::Repository::open(repo.path()).unwrap();
    let head = git.head().unwrap().peel_to_commit().unwrap();
    git.branch(base, &head, true).unwrap();
    git.branch(new, &head, true).unwrap();
    git.set_head(&format!("refs/heads/{new}")).unwrap();
}

/// Moves `main` to the feature branch's commit, as if it had been merged.
fn main_here(repo: &TestRepo) {
    let git = git2::Repository::open(repo.path()).unwrap();
    let head = git.head().unwrap().peel_to_commit().unwrap();
    git.branch("main", &head, true).unwrap();
}

fn switch(repo: &TestRepo, branch: &str) {
    let git = git2::Repository::open(repo.path()).unwrap();
    git.set_head(&format!("refs/heads/{branch}")).unwrap();
    git.checkout_head(Some(git2::build::CheckoutBuilder::new().force()))
        .unwrap();
}

fn edit(repo: &TestRepo, relative: &str, from: &str, to: &str) {
    let path = repo.path().join(relative);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{relative} has no `{from}`");
    std::fs::write(path, text.replace(from, to)).unwrap();
}

fn on_github(repo: &TestRepo, args: &[&str], summary: &std::path::Path) -> Run {
    repo.run_with(
        repo.path(),
        args,
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ],
    )
}

/// Workflow-command lines of a GitHub run.
fn commands(stdout: &str) -> Vec<&str> {
    stdout.lines().filter(|l| l.starts_with("::")).collect()
}

#[test]
fn a_harmless_change_passes_and_says_what_changed() {
    let repo = project();
    edit(
        &repo,
        "prompts/support/triage.toml",
        "Answer with one queue",
        "Reply with exactly one queue",
    );
    repo.commit("reword");
    let run = repo.run(&["ci"]).expect(0);
    assert!(
        run.stdout.starts_with("base main at "),
        "the base is the default branch: {}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("check ok: 2 prompts and 1 suite checked"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("changed support/triage  "),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("+Reply with exactly one queue: billing, bug or other."),
        "the diff is shown: {}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("pass rate       2/2 (100.0%)            2/2 (100.0%)")
    );
    assert!(run.stdout.contains("gate ok"), "{}", run.stdout);
    assert!(
        !run.stdout.contains("greet"),
        "unchanged prompts are not listed"
    );
    assert_eq!(
        run.stderr,
        "ci ok: check passed; 1 prompt changed; 1 suite run, every gate held\n"
    );

    let summary = repo.path().join("summary.md");
    std::fs::write(&summary, "## an earlier step\n\n").unwrap();
    let run = on_github(&repo, &["ci"], &summary).expect(0);
    let lines = commands(&run.stdout);
    assert_eq!(lines.len(), 2, "only the stop-commands pair: {lines:?}");
    assert!(lines[0].starts_with("::stop-commands::promptctl-"));
    assert_eq!(
        lines[1],
        format!("::{}::", lines[0].trim_start_matches("::stop-commands::"))
    );
    let text = std::fs::read_to_string(&summary).unwrap();
    assert!(
        text.starts_with("## an earlier step\n\n## promptctl ci: ✅ passed"),
        "appended, not overwritten: {text}"
    );
}

#[test]
fn a_change_that_breaks_assertions_fails_with_an_error_annotation() {
    let repo = project();
    edit(
        &repo,
        "prompts/support/triage.toml",
        "billing, bug or other",
        "the queue's name",
    );
    let summary = repo.path().join("summary.md");
    let run = on_github(&repo, &["ci"], &summary).expect(1);
    let lines = commands(&run.stdout);
    let errors: Vec<&&str> = lines.iter().filter(|l| l.starts_with("::error")).collect();
    assert_eq!(errors.len(), 1, "{lines:?}");
    assert_eq!(
        *errors[0],
        "::error file=evals/triage.toml,title=eval gate failed%3A support/triage (triage)::pass rate dropped 100.0 points (100.0%25 → 0.0%25), more than 0; regressed: refund, crash"
    );
    assert!(
        run.stdout.contains("regressed  refund  icontains"),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.stderr,
        "ci failed: check passed; 1 prompt changed; 1 suite run, 1 gate failed\n"
    );
    let text = std::fs::read_to_string(&summary).unwrap();
    assert!(text.starts_with("## promptctl ci: ❌ failed"), "{text}");
    assert!(
        text.contains("| `triage` | `support/triage` | 2/2 (100.0%) → 0/2 (0.0%) | -100.0 pts |"),
        "{text}"
    );
    assert!(
        text.contains("- `refund` — icontains: output does not contain \"billing\""),
        "{text}"
    );
}

#[test]
fn a_broken_template_is_annotated_at_its_file_and_line() {
    let repo = project();
    edit(
        &repo,
        "prompts/support/triage.toml",
        "content = \"{{ ticket }}\"",
        "content = \"{{ ticket \"",
    );
    let line = TRIAGE
        .lines()
        .position(|l| l.contains("{{ ticket }}"))
        .unwrap()
        + 1;
    let summary = repo.path().join("summary.md");
    let run = on_github(&repo, &["ci"], &summary).expect(1);
    let errors: Vec<&str> = commands(&run.stdout)
        .into_iter()
        .filter(|l| l.starts_with("::error"))
        .collect();
    assert_eq!(
        errors.len(),
        1,
        "one error, not repeated by the eval: {errors:?}"
    );
    assert!(
        errors[0].starts_with(&format!(
            "::error file=prompts/support/triage.toml,line={line},title=promptctl check%3A template::`messages[1].content`: template error: syntax error"
        )),
        "{}",
        errors[0]
    );
    assert!(run.stderr.starts_with("ci failed: check found 1 error"));
    let text = std::fs::read_to_string(&summary).unwrap();
    assert!(
        text.contains(&format!(
            "- ❌ `prompts/support/triage.toml:{line}` `messages[1].content` template: template error: syntax error"
        )),
        "{text}"
    );
}

#[test]
fn the_summary_and_junit_files_are_written_and_well_formed() {
    let repo = project();
    edit(
        &repo,
        "prompts/support/triage.toml",
        "billing, bug or other",
        "billing or other",
    );
    repo.write(
        "prompts/support/new.toml",
        "[[messages]]\nrole = \"user\"\ncontent = \"Say | `hi`.\"\n",
    );
    let run = repo
        .run(&[
            "ci",
            "--junit",
            "out/ci.xml",
            "--markdown",
            "out/ci.md",
            "--html",
            "out/ci.html",
        ])
        .expect(1);
    assert!(
        run.stdout
            .contains("warning: no eval suite covers support/new: not evaluated"),
        "{}",
        run.stdout
    );
    let html = std::fs::read_to_string(repo.path().join("out/ci.html")).unwrap();
    // minijinja escapes `/` in HTML too.
    assert!(html.contains("support&#x2f;triage (triage)"), "{html}");
    assert!(html.contains("data-change="), "{html}");

    let xml = std::fs::read_to_string(repo.path().join("out/ci.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suites: Vec<_> = root.children().filter(|n| n.is_element()).collect();
    let names: Vec<&str> = suites
        .iter()
        .map(|s| s.attribute("name").unwrap())
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
    assert_eq!(&names[..2], ["check", "gates"]);
    for suite in &suites {
        assert_eq!(suite.tag_name().name(), "testsuite");
        let cases: Vec<_> = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        let failures = cases
            .iter()
            .filter(|c| c.children().any(|f| f.has_tag_name("failure")))
            .count();
        assert_eq!(suite.attribute("tests").unwrap(), cases.len().to_string());
        assert_eq!(suite.attribute("failures").unwrap(), failures.to_string());
    }
    let gate = suites[1]
        .children()
        .find(|n| n.has_tag_name("testcase"))
        .unwrap();
    let failure = gate.children().find(|n| n.has_tag_name("failure")).unwrap();
    assert!(
        failure
            .attribute("message")
            .unwrap()
            .starts_with("pass rate dropped 50.0 points"),
        "{xml}"
    );

    let markdown = std::fs::read_to_string(repo.path().join("out/ci.md")).unwrap();
    assert_tables_well_formed(&markdown);
    assert_eq!(
        markdown.matches("<details>").count(),
        markdown.matches("</details>").count()
    );
    assert_eq!(markdown.matches("```").count() % 2, 0, "fences are closed");
    let commit = git2::Repository::open(repo.path())
        .unwrap()
        .revparse_single("main")
        .unwrap()
        .id()
        .to_string();
    insta::assert_snapshot!(markdown.replace(&commit[..12], "[BASE]"));
}

/// Every table row has as many cells as its header.
fn assert_tables_well_formed(markdown: &str) {
    let cells = |row: &str| row.replace("\\|", "").matches('|').count();
    let mut header = None;
    for line in markdown.lines() {
        if line.starts_with('|') {
            let n = cells(line);
            match header {
                None => header = Some(n),
                Some(h) => assert_eq!(n, h, "row `{line}` in\n{markdown}"),
            }
        } else {
            header = None;
        }
    }
}

#[test]
fn the_base_is_the_merge_base_so_later_changes_to_main_do_not_show() {
    let repo = project();
    edit(
        &repo,
        "prompts/support/triage.toml",
        "Answer with",
        "Reply with",
    );
    repo.commit("feature work");
    // main moves on: greet changes there, after the branch forked.
    switch(&repo, "main");
    edit(&repo, "prompts/support/greet.toml", "Say hello.", "Say hi.");
    repo.commit("main moves on");
    switch(&repo, "feature");

    let run = repo.run(&["ci", "--base", "main"]).expect(0);
    assert!(
        run.stdout
            .contains("(given with --base, through its merge base with HEAD)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("changed support/triage"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("greet"), "{}", run.stdout);

    // A pull request's target comes from $GITHUB_BASE_REF, through origin when fetched.
    let _remote = repo.add_bare_remote();
    let git = git2::Repository::open(repo.path()).unwrap();
    git.find_remote("origin")
        .unwrap()
        .push(&["refs/heads/main:refs/heads/main"], None)
        .unwrap();
    git.find_remote("origin")
        .unwrap()
        .fetch(&["main"], None, None)
        .unwrap();
    let run = repo
        .run_with(
            repo.path(),
            &["ci", "--json"],
            &[("GITHUB_BASE_REF", "main")],
        )
        .expect(0);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["base"]["revision"], "origin/main");
    assert_eq!(report["diff"]["prompts"][0]["name"], "support/triage");
    assert_eq!(report["diff"]["prompts"].as_array().unwrap().len(), 1);
    assert_eq!(report["passed"], true);
    assert_eq!(report["annotations"], serde_json::json!([]));
    assert_eq!(report["eval"]["suites"][0]["gate"]["passed"], true);

    let run = repo
        .run_with(repo.path(), &["ci"], &[("GITHUB_BASE_REF", "release")])
        .expect(2);
    assert!(
        run.stderr.contains(
            "the pull request's target branch `release` ($GITHUB_BASE_REF) is not in this clone"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint: fetch it first"),
        "{}",
        run.stderr
    );
}

#[test]
fn bad_bases_exit_2_with_a_hint() {
    let repo = TestRepo::new();
    repo.write(
        "prompts/a.toml",
        "[[messages]]\nrole = \"user\"\ncontent = \"hi\"\n",
    );
    let run = repo.run(&["ci"]).expect(2);
    assert!(run.stderr.contains("no commit yet"), "{}", run.stderr);
    repo.commit("first");
    let git = git2::Repository::open(repo.path()).unwrap();
    let head = git.head().unwrap().peel_to_commit().unwrap();
    git.branch("topic", &head, true).unwrap();
    git.set_head("refs/heads/topic").unwrap();
    // Only `topic` and whatever git named the first branch: rename that out of the way.
    for name in ["master", "main"] {
        if let Ok(mut branch) = git.find_branch(name, git2::BranchType::Local) {
            branch.delete().unwrap();
        }
    }
    let run = repo.run(&["ci"]).expect(2);
    assert!(
        run.stderr
            .contains("cannot tell which branch this change merges into"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint: name the branch"),
        "{}",
        run.stderr
    );
    let run = repo.run(&["ci", "--base", "nope"]).expect(2);
    assert!(
        run.stderr.contains("unknown base revision `nope`"),
        "{}",
        run.stderr
    );
    let run = repo.run(&["ci", "--base", ""]).expect(2);
    assert!(run.stderr.contains("invalid revision"), "{}", run.stderr);
    repo.run(&["ci", "--base", "topic"]).expect(0);
}

#[test]
fn alert_only_gates_warn_without_failing() {
    let repo = project();
    repo.write(
        "promptctl.toml",
        "[defaults]\nmodel = \"test-model\"\n\n[prices.test-model]\ninput = 1000.0\noutput = 1000.0\n",
    );
    repo.write(
        "evals/triage.toml",
        &format!(
            "{SUITE}\n[gate]\nmax_cost_increase = 5.0\nalert_only = [\"max_cost_increase\"]\n"
        ),
    );
    repo.commit("prices and an alert-only cost gate");
    main_here(&repo);
    edit(
        &repo,
        "prompts/partials/style.j2",
        "Be brief.",
        "Be brief, and explain the queue you chose in two full sentences.",
    );
    let summary = repo.path().join("summary.md");
    let run = on_github(&repo, &["ci"], &summary).expect(0);
    let lines = commands(&run.stdout);
    let warnings: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with("::warning"))
        .collect();
    assert_eq!(warnings.len(), 1, "{lines:?}");
    assert!(
        warnings[0].starts_with("::warning file=evals/triage.toml,title=eval gate alert%3A support/triage (triage)::cost rose "),
        "{}",
        warnings[0]
    );
    assert!(!lines.iter().any(|l| l.starts_with("::error")), "{lines:?}");
    assert!(
        run.stderr.contains("1 gate warning (alert only)"),
        "{}",
        run.stderr
    );
    let text = std::fs::read_to_string(&summary).unwrap();
    assert!(text.contains("⚠️ alert"), "{text}");

    // A limit that is not a gate limit is refused where it is written.
    repo.write(
        "evals/triage.toml",
        &format!("{SUITE}\n[gate]\nalert_only = [\"max_cost\"]\n"),
    );
    let run = on_github(&repo, &["ci"], &summary).expect(1);
    assert!(
        run.stdout.contains("::error file=evals/triage.toml,line=14,title=promptctl check%3A suite::`gate.alert_only[0]`: `max_cost` is not a gate limit"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_changed_suite_runs_and_a_new_prompt_must_pass_its_own_suite() {
    let repo = project();
    // Only the suite changes: a new case, which the prompt, unchanged, fails on both
    // versions alike. The suite runs; a case failing on both sides is not a regression, but
    // it is below the default floor of 100%.
    let failing_case = "\n[[cases]]\nname = \"account\"\nvars = { ticket = \"I cannot log in\" }\nassert = [{ type = \"icontains\", value = \"account\" }]\n";
    repo.write("evals/triage.toml", &format!("{SUITE}{failing_case}"));
    let run = repo.run(&["ci"]).expect(1);
    assert!(
        run.stdout
            .contains("gate failed: pass rate 66.7% (2/3) is below the floor of 100%"),
        "{}",
        run.stdout
    );
    repo.write(
        "evals/triage.toml",
        &format!("{SUITE}{failing_case}\n[gate]\nmin_pass_rate = 60\n"),
    );
    let run = repo.run(&["ci", "--json"]).expect(0);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["suites_changed"], serde_json::json!(["triage"]));
    assert_eq!(report["diff"]["prompts"], serde_json::json!([]));
    let suite = &report["eval"]["suites"][0];
    assert_eq!(suite["head"]["samples"], 3);
    assert_eq!(suite["head"]["failed"], 1);
    assert_eq!(suite["cases"][2]["change"], "same");
    assert_eq!(suite["gate"]["passed"], true, "{suite}");
    repo.remove("evals/triage.toml")
        .write("evals/triage.toml", SUITE);

    // A prompt new on this branch has no old version: its suite must pass outright.
    repo.write(
        "prompts/support/summarize.toml",
        "[variables.text]\ntype = \"string\"\nrequired = true\n\n[[messages]]\nrole = \"user\"\ncontent = \"Summarize: {{ text }}\"\n",
    )
    .write(
        "evals/summarize.toml",
        "prompt = \"support/summarize\"\n\n[[cases]]\nname = \"short\"\nvars = { text = \"a long story\" }\nassert = [{ type = \"contains\", value = \"TL;DR\" }]\n",
    );
    let run = repo.run(&["ci"]).expect(1);
    assert!(
        run.stdout.contains(
            "gate failed: pass rate 0.0% (0/1) is below the floor of 100%, with no old version to compare with"
        ),
        "{}",
        run.stdout
    );
    repo.write(
        "evals/summarize.toml",
        "prompt = \"support/summarize\"\n\n[[cases]]\nname = \"short\"\nvars = { text = \"a long story\" }\nassert = [{ type = \"contains\", value = \"Summarize\" }]\n",
    );
    let run = repo.run(&["ci"]).expect(0);
    assert!(
        run.stdout.contains("added   support/summarize"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_failing_provider_fails_the_gate_not_the_process() {
    let repo = project();
    repo.write(
        "promptctl.toml",
        "[defaults]\nmodel = \"test-model\"\n\n[providers.down]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmax_retries = 0\ntimeout = 2\n",
    )
    .write("evals/triage.toml", &format!("provider = \"down\"\n{SUITE}"));
    repo.commit("a provider that is down");
    main_here(&repo);
    edit(
        &repo,
        "prompts/support/triage.toml",
        "Answer with",
        "Reply with",
    );
    let summary = repo.path().join("summary.md");
    let run = on_github(&repo, &["ci", "--junit", "ci.xml"], &summary).expect(1);
    assert!(
        run.stdout
            .contains("of the new version could not be evaluated (see the errors); the comparison is incomplete"),
        "{}",
        run.stdout
    );
    assert!(
        commands(&run.stdout)
            .iter()
            .any(|l| l.starts_with("::error file=evals/triage.toml")),
        "{}",
        run.stdout
    );
    roxmltree::Document::parse(&std::fs::read_to_string(repo.path().join("ci.xml")).unwrap())
        .expect("the JUnit file is written even so");
}

/// A local fake of GitHub's issue-comment API: it keeps the comments of one pull request,
/// records every request, and can refuse writes with 403 as for a forked pull request.
struct FakeGithub {
    url: String,
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    comments: std::sync::Arc<std::sync::Mutex<Vec<(u64, String)>>>,
}

impl FakeGithub {
    fn start(refuse_writes: bool) -> FakeGithub {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let comments = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(u64, String)>::new()));
        let (seen, kept) = (requests.clone(), comments.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let (mut length, mut auth) = (0, String::new());
                loop {
                    let mut header = String::new();
                    reader.read_line(&mut header).unwrap();
                    let lower = header.to_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                    if lower.starts_with("authorization:") {
                        auth = header.trim().to_owned();
                    }
                    if header == "\r\n" || header.is_empty() {
                        break;
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let request: Vec<&str> = line.split_whitespace().collect();
                let (method, path) = (request[0].to_owned(), request[1].to_owned());
                seen.lock().unwrap().push(format!("{method} {path} {auth}"));
                let text: String = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["body"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                let (status, answer) = {
                    let mut all = kept.lock().unwrap();
                    match method.as_str() {
                        "GET" => {
                            let list: Vec<serde_json::Value> = all
                                .iter()
                                .map(|(id, b)| serde_json::json!({"id": id, "body": b}))
                                .collect();
                            ("200 OK", serde_json::Value::Array(list).to_string())
                        }
                        _ if refuse_writes => (
                            "403 Forbidden",
                            r#"{"message":"Resource not accessible by integration"}"#.to_owned(),
                        ),
                        "POST" => {
                            let id = 100 + all.len() as u64;
                            all.push((id, text));
                            ("201 Created", format!(r#"{{"id":{id}}}"#))
                        }
                        _ => {
                            let id: u64 = path.rsplit('/').next().unwrap().parse().unwrap();
                            for comment in all.iter_mut().filter(|c| c.0 == id) {
                                comment.1 = text.clone();
                            }
                            ("200 OK", format!(r#"{{"id":{id}}}"#))
                        }
                    }
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
            }
        });
        FakeGithub {
            url,
            requests,
            comments,
        }
    }
}

fn ci_commenting(repo: &TestRepo, github: &FakeGithub, event: &std::path::Path) -> Run {
    repo.run_with(
        repo.path(),
        &["ci", "--comment"],
        &[
            ("GITHUB_API_URL", github.url.as_str()),
            ("GITHUB_TOKEN", "ghs_test"),
            ("GITHUB_REPOSITORY", "acme/prompts"),
            ("GITHUB_EVENT_PATH", event.to_str().unwrap()),
        ],
    )
}

/// A reworded prompt on a branch, with the event file of pull request `number`.
fn pull_request(number: u64) -> (TestRepo, std::path::PathBuf) {
    let repo = project();
    edit(
        &repo,
        "prompts/support/triage.toml",
        "Answer with one queue",
        "Reply with one queue",
    );
    repo.commit("reword");
    let event = repo.path().join("event.json");
    let text = format!(r#"{{"pull_request": {{"number": {number}}}}}"#);
    std::fs::write(&event, text).unwrap();
    (repo, event)
}

#[test]
fn ci_comment_creates_one_comment_and_edits_it_on_every_rerun() {
    let (repo, event) = pull_request(7);
    let github = FakeGithub::start(false);
    let first = ci_commenting(&repo, &github, &event).expect(0);
    assert!(
        first.stderr.contains("commented on pull request #7"),
        "{}",
        first.stderr
    );
    edit(
        &repo,
        "prompts/support/triage.toml",
        "Reply with one queue",
        "Reply with a queue",
    );
    let second = ci_commenting(&repo, &github, &event).expect(0);
    assert!(
        second
            .stderr
            .contains("updated the comment on pull request #7"),
        "{}",
        second.stderr
    );
    let comments = github.comments.lock().unwrap().clone();
    assert_eq!(comments.len(), 1, "one comment, edited: {comments:?}");
    let body = &comments[0].1;
    assert!(body.starts_with("<!-- promptctl-ci -->"), "{body}");
    assert!(body.contains("support/triage"), "{body}");
    assert!(
        body.contains("Reply with a queue"),
        "the latest run's diff: {body}"
    );
    let requests = github.requests.lock().unwrap().clone();
    assert!(
        requests.iter().all(|r| r.ends_with("Bearer ghs_test")),
        "{requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("PATCH /repos/acme/prompts/issues/comments/100"))
    );
}

#[test]
fn a_forked_pull_requests_read_only_token_does_not_fail_the_check() {
    let (repo, event) = pull_request(9);
    let github = FakeGithub::start(true);
    let run = ci_commenting(&repo, &github, &event).expect(0);
    assert!(
        run.stderr
            .contains("may not comment on pull request #9 (GitHub answered 403"),
        "{}",
        run.stderr
    );
    assert!(github.comments.lock().unwrap().is_empty());
}
