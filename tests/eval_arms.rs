//! N-way comparisons (`eval --arm`, `eval --matrix`): two arms give exactly today's
//! base-against-head figures, Holm's adjustment over several arms, the pick and its one
//! step, the budget, the bounds said before anything is sent, and every format. Each test
//! drives the real binary on the offline model against a real temporary repository.

mod common;

use common::TestRepo;
use serde_json::Value;

fn json(run: &common::Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr))
}

/// The prompt of the 200-case workload benches/eval-mock.sh writes, answering `word`.
fn route(word: &str) -> String {
    format!(
        "[variables.ticket]\ntype = \"string\"\nrequired = true\n\n[[messages]]\nrole = \"system\"\ncontent = \"\"\"\nRoute the ticket.\nAnswer: {word}\n\"\"\"\n\n[[messages]]\nrole = \"user\"\ncontent = \"{{{{ ticket }}}}\"\n"
    )
}

/// The workload's 200 cases (promptfoo-shaped: a variable and assertions per case); every
/// third also asserts the answer is `billing`, so the answer decides a third of them.
fn suite(cases: usize, extra: &str) -> String {
    let mut body = format!("prompt = \"support/route\"\n{extra}\n[gate]\nmin_pass_rate = 0\n\n");
    for i in 0..cases {
        let billing = if i % 3 == 0 {
            ", { type = \"contains\", value = \"billing\" }"
        } else {
            ""
        };
        body.push_str(&format!(
            "[[cases]]\nname = \"case-{i}\"\nvars = {{ ticket = \"ticket number {i}\" }}\nassert = [{{ type = \"contains\", value = \"number {i}\" }}, {{ type = \"max_chars\", value = 200 }}{billing}]\n\n"
        ));
    }
    body
}

/// A repository whose HEAD answers `bug` and whose branch `feature/billing` answers
/// `billing` (fixing a third of the cases).
fn workload(cases: usize, config: &str, extra: &str) -> TestRepo {
    let repo = TestRepo::new();
    repo.write(
        "promptctl.toml",
        &format!("[defaults]\nmodel = \"big\"\n{config}"),
    )
    .write("prompts/support/route.toml", &route("bug"))
    .write("evals/route.toml", &suite(cases, extra));
    let base = repo.commit("route: bug");
    repo.write("prompts/support/route.toml", &route("billing"));
    let better = repo.commit("route: billing");
    let git = git2::Repository::open(repo.path()).unwrap();
    let commit = git
        .find_commit(git2::Oid::from_str(&better).unwrap())
        .unwrap();
    git.branch("feature/billing", &commit, false).unwrap();
    let base = git
        .find_commit(git2::Oid::from_str(&base).unwrap())
        .unwrap();
    git.reset(base.as_object(), git2::ResetType::Hard, None)
        .unwrap();
    repo
}

#[test]
fn two_arms_give_every_figure_of_the_base_against_head_comparison() {
    let repo = workload(200, "", "");
    let two_way = json(&repo.run(&[
        "eval",
        "--base",
        "HEAD",
        "--head",
        "feature/billing",
        "--format",
        "json",
    ]));
    let arms = json(
        &repo
            .run(&[
                "eval",
                "--arm",
                "base=HEAD",
                "--arm",
                "head=feature/billing",
                "--format",
                "json",
            ])
            .expect(0),
    );
    let suite = &two_way["suites"][0];
    let rows = &arms["suites"][0]["arms"];
    for (side, row) in [(&suite["base"], &rows[0]), (&suite["head"], &rows[1])] {
        for figure in [
            "spec",
            "version",
            "samples",
            "passed",
            "failed",
            "errors",
            "pass_rate",
            "pass_all",
            "mean_latency_ms",
            "p95_latency_ms",
            "input_tokens",
            "output_tokens",
            "cost_usd",
        ] {
            assert_eq!(side[figure], row[figure], "{figure}");
        }
    }
    let (two, nway) = (&suite["comparison"], &rows[1]["comparison"]);
    for figure in [
        "test",
        "cases",
        "regressed",
        "fixed",
        "delta_points",
        "interval_points",
        "confidence",
        "p_value",
        "level",
        "verdict",
        "more_cases_needed",
        "figures",
    ] {
        assert_eq!(two[figure], nway[figure], "{figure}");
    }
    assert_eq!(two["verdict"], "improved");
    assert_eq!(rows[1]["verdict"], "better");
    assert_eq!(
        rows[1]["adjusted_p"], two["p_value"],
        "one comparison: nothing to adjust"
    );
    assert_eq!(suite["base"]["passed"], 133);
    assert_eq!(suite["head"]["passed"], 200);
}

#[test]
fn several_arms_are_adjusted_by_holm_and_said_in_words() {
    let repo = workload(60, "", "");
    let run = repo
        .run(&[
            "eval",
            "--arm",
            "base=HEAD",
            "--arm",
            "better=feature/billing",
            "--arm",
            "same=HEAD:temperature=0.5",
            "--arm",
            "alike=feature/billing:temperature=0.2",
            "--format",
            "json",
        ])
        .expect(0);
    let report = json(&run);
    let suite = &report["suites"][0];
    assert_eq!(suite["comparisons"], 3);
    let rows = suite["arms"].as_array().unwrap();
    let p: Vec<f64> = rows[1..]
        .iter()
        .map(|r| r["comparison"]["p_value"].as_f64().unwrap())
        .collect();
    let adjusted: Vec<f64> = rows[1..]
        .iter()
        .map(|r| r["adjusted_p"].as_f64().unwrap())
        .collect();
    // Holm by hand: sorted ascending, the k-th (from 0) times (m − k), running maximum, at most 1.
    let mut order: Vec<usize> = (0..3).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut running = 0.0f64;
    for (k, &i) in order.iter().enumerate() {
        running = running.max((p[i] * (3 - k) as f64).min(1.0));
        assert!(
            (adjusted[i] - running).abs() < 1e-12,
            "arm {i}: {} against {running}",
            adjusted[i]
        );
    }
    assert!(
        rows[1]["words"]
            .as_str()
            .unwrap()
            .starts_with("better than `base` (p = ")
    );
    assert!(rows[1]["words"].as_str().unwrap().contains(", adjusted "));
    // The same answers on 60 cases: too few to say "no difference" at a 3-point margin.
    assert_eq!(rows[2]["verdict"], "inconclusive", "{}", rows[2]["words"]);
    assert!(
        rows[2]["words"]
            .as_str()
            .unwrap()
            .contains("more cases would decide")
    );
    // Intervals are at the level each of three comparisons gets: 1 − 0.05 / 3.
    assert!(
        (rows[1]["comparison"]["confidence"].as_f64().unwrap() - (1.0 - 0.05 / 3.0)).abs() < 1e-12
    );
    let table = repo
        .run(&[
            "eval",
            "--arm",
            "base=HEAD",
            "--arm",
            "better=feature/billing",
            "--arm",
            "same=HEAD:temperature=0.5",
        ])
        .expect(0)
        .stdout;
    assert!(
        table.contains(
            "2 comparisons, family-wise level 0.05 held by Holm's method; intervals at 97.5%"
        ),
        "{table}"
    );
    assert!(table.contains("better: better than `base`"), "{table}");
}

#[test]
fn pick_names_the_winner_and_the_one_step_to_make_it_the_head() {
    let repo = workload(200, "", "");
    let run = repo
        .run(&[
            "eval",
            "--arm",
            "base=HEAD",
            "--arm",
            "billing=feature/billing",
            "--pick",
        ])
        .expect(0);
    assert!(run.stdout.contains("pick `billing`"), "{}", run.stdout);
    assert!(
        run.stdout.contains("Next: git merge feature/billing"),
        "{}",
        run.stdout
    );
    // The same models at other prices: the cheaper arm does as well, so it is picked, and
    // its step is the edit to the prompt file; a budget under every arm picks nothing.
    let priced = workload(
        200,
        "\n[prices.big]\ninput = 10.0\noutput = 10.0\n\n[prices.small]\ninput = 1.0\noutput = 1.0\n",
        "",
    );
    let args = [
        "eval",
        "--arm",
        "big=HEAD",
        "--arm",
        "small=HEAD:model=small",
        "--pick",
        "--format",
        "json",
    ];
    let report = json(&priced.run(&args).expect(0));
    let suite = &report["suites"][0];
    assert_eq!(
        suite["arms"][0]["pareto"], false,
        "the dearer arm with the same answers is dominated"
    );
    assert_eq!(suite["arms"][1]["pareto"], true);
    assert_eq!(suite["pick"]["arm"], "small");
    assert_eq!(
        suite["pick"]["step"],
        "edit prompts/support/route.toml (as it is at `HEAD`): set `model = \"small\"`"
    );
    let cost = suite["arms"][1]["cost_per_case"].as_f64().unwrap() * 1000.0;
    let budget = format!("{}", cost / 2.0);
    let mut tight = args.to_vec();
    tight.extend(["--budget", &budget]);
    let report = json(&priced.run(&tight).expect(0));
    assert!(report["suites"][0]["pick"].is_null());
    assert!(
        report["suites"][0]["no_pick"]
            .as_str()
            .unwrap()
            .contains("within $")
    );
    assert_eq!(report["suites"][0]["arms"][1]["within_budget"], false);
}

#[test]
fn a_suite_matrix_is_every_combination_on_the_head() {
    let repo = workload(
        10,
        "",
        "\n[matrix]\nmodel = [\"big\", \"small\"]\ntemperature = [0.0, 0.5]\n",
    );
    let report = json(
        &repo
            .run(&["eval", "--matrix", "--format", "json"])
            .expect(0),
    );
    let names: Vec<&str> = report["suites"][0]["arms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "model=big,temperature=0.0",
            "model=big,temperature=0.5",
            "model=small,temperature=0.0",
            "model=small,temperature=0.5"
        ]
    );
    assert_eq!(report["suites"][0]["arms"][3]["model"], "small");
    assert_eq!(
        report["suites"][0]["arms"][3]["overrides"]["params"]["temperature"],
        0.5
    );
}

#[test]
fn past_a_bound_the_run_stops_before_anything_is_sent() {
    let repo = workload(4, "", "");
    let mut args = vec!["eval".to_owned()];
    for i in 0..17 {
        args.extend(["--arm".to_owned(), format!("a{i}=HEAD:temperature=0.{i}")]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = repo.run(&args).expect(2);
    assert!(
        run.stderr.contains("17 arms: a run compares at most 16"),
        "{}",
        run.stderr
    );
    assert!(
        !repo.path().join(".promptctl/cache").exists(),
        "nothing was sent or cached"
    );
    let one = repo.run(&["eval", "--arm", "only=HEAD"]).expect(2);
    assert!(one.stderr.contains("at least two"), "{}", one.stderr);
    let unknown = repo
        .run(&[
            "eval",
            "--arm",
            "a=HEAD",
            "--arm",
            "b=HEAD:model=x",
            "--reference",
            "c",
        ])
        .expect(2);
    assert!(
        unknown.stderr.contains("has no arm `c`"),
        "{}",
        unknown.stderr
    );
    let stray = repo.run(&["eval", "--pick"]).expect(2);
    assert!(
        stray.stderr.contains("--pick needs arms"),
        "{}",
        stray.stderr
    );
    let big = workload(
        4,
        "",
        "\n[matrix]\nmodel = [\"a\", \"b\", \"c\", \"d\", \"e\"]\ntop_p = [0.1, 0.2, 0.3, 0.4]\n",
    );
    let run = big.run(&["check"]).expect(1);
    assert!(run.stdout.contains("makes 20 arms"), "{}", run.stdout);
}

#[test]
fn every_format_says_the_same_verdicts() {
    let repo = workload(30, "", "");
    let args = [
        "eval",
        "--arm",
        "base=HEAD",
        "--arm",
        "billing=feature/billing",
        "--arm",
        "warm=HEAD:temperature=0.7",
        "--pick",
    ];
    let with = |format: &str| {
        let mut all = args.to_vec();
        all.extend(["--format", format]);
        repo.run(&all).expect(0).stdout
    };
    let report = json(
        &repo
            .run(&[&args[..], &["--format", "json"]].concat())
            .expect(0),
    );
    let words: Vec<String> = report["suites"][0]["arms"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .map(|a| a["words"].as_str().unwrap().to_owned())
        .collect();
    let (table, markdown, html, junit) =
        (with("table"), with("markdown"), with("html"), with("junit"));
    for word in &words {
        assert!(table.contains(word.as_str()), "table: {word}");
        assert!(markdown.contains(word.as_str()), "markdown: {word}");
        assert!(
            html.contains(&word.replace('`', "&#96;")) || html.contains(word.as_str()),
            "html: {word}"
        );
    }
    assert!(
        html.contains("<svg") && html.contains("<circle"),
        "the chart is drawn"
    );
    assert!(markdown.contains("pick `billing`"), "{markdown}");
    assert!(
        junit.contains("<testcase") && junit.contains("name=\"billing\""),
        "{junit}"
    );
    assert!(
        !junit.contains("<failure"),
        "no arm is worse than the reference: {junit}"
    );
}

#[test]
fn ci_runs_the_matrix_of_a_changed_prompt_and_puts_it_in_the_summary() {
    let repo = TestRepo::new();
    repo.write("promptctl.toml", "[defaults]\nmodel = \"big\"\n")
        .write("prompts/support/route.toml", &route("bug"))
        .write(
            "evals/route.toml",
            &suite(6, "\n[matrix]\ntemperature = [0.0, 0.5]\n"),
        );
    let head = repo.commit("route");
    let git = git2::Repository::open(repo.path()).unwrap();
    let commit = git
        .find_commit(git2::Oid::from_str(&head).unwrap())
        .unwrap();
    git.branch("main", &commit, true).unwrap();
    repo.write("prompts/support/route.toml", &route("billing"));
    let summary = repo.path().join("ci.md");
    let run = repo.run(&[
        "ci",
        "--base",
        "main",
        "--matrix",
        "--markdown",
        summary.to_str().unwrap(),
    ]);
    let run = run.expect(0);
    assert!(run.stdout.contains("matrix:"), "{}", run.stdout);
    assert!(run.stdout.contains("temperature=0.5"), "{}", run.stdout);
    let markdown = std::fs::read_to_string(&summary).unwrap();
    assert!(markdown.contains("### Matrix"), "{markdown}");
    assert!(markdown.contains("`temperature=0.5`"), "{markdown}");
    let json = json(
        &repo
            .run(&["ci", "--base", "main", "--matrix", "--json"])
            .expect(0),
    );
    assert_eq!(
        json["matrix"]["suites"][0]["arms"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let plain = json_of_ci(&repo);
    assert!(plain.get("matrix").is_none(), "no matrix unless asked");
}

fn json_of_ci(repo: &TestRepo) -> Value {
    json(&repo.run(&["ci", "--base", "main", "--json"]).expect(0))
}

#[test]
fn the_arms_table_reads_well() {
    let repo = workload(
        12,
        "\n[prices.big]\ninput = 10.0\noutput = 10.0\n\n[prices.small]\ninput = 1.0\noutput = 1.0\n",
        "",
    );
    let run = repo
        .run(&[
            "eval",
            "--arm",
            "base=HEAD",
            "--arm",
            "billing=feature/billing",
            "--arm",
            "small=feature/billing:model=small",
            "--pick",
        ])
        .expect(0);
    // The offline model's latencies are measured, a millisecond or none: not part of the look.
    let steady: Vec<String> = run
        .stdout
        .lines()
        .map(|line| {
            let cells: Vec<&str> = line.split("  ").filter(|c| !c.is_empty()).collect();
            if cells.len() >= 9 && !line.contains("mean ms") {
                let mut cells: Vec<String> = cells.iter().map(|c| c.trim().to_owned()).collect();
                cells[5] = "·".into();
                cells[6] = "·".into();
                format!("  {}", cells.join("  "))
            } else {
                line.to_owned()
            }
        })
        .collect();
    insta::assert_snapshot!(steady.join("\n"));
}
