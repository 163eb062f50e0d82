//! The real OpenFeature SDKs against a live `promptctl serve`: Python's `openfeature-sdk`
//! with `openfeature-provider-ofrep` (PyPI) and Node's `@openfeature/server-sdk` with
//! `@openfeature/ofrep-provider` (npm) resolve 1,000 keys and agree with `promptctl
//! resolve` on every one; and the served payload rendered with Python's `minijinja` and
//! `minijinja-js` gives the bytes `/v1/render` gives, for every eval case of this
//! repository's prompts.
//!
//! `.ci/run` installs the packages and names them: `PROMPTCTL_SDK_PYTHON` (a Python with
//! the PyPI packages) and `PROMPTCTL_SDK_NODE_PATH` (a `node_modules` folder). Without
//! them the tests are skipped, unless `PROMPTCTL_REQUIRE_SDKS=1`.

mod common;

use std::path::Path;

use common::sdks::{run_json, sdks};
use common::server::{Server, http};
use common::{TestRepo, canary_with_cohort};
use serde_json::{Value, json};

const NAME: &str = "support/triage";

#[test]
fn the_python_and_node_sdks_agree_with_promptctl_resolve_on_1000_keys() {
    let Some(sdks) = sdks() else { return };
    let repo = canary_with_cohort();
    let keys: Vec<String> = (0..1000).map(|i| format!("user-{i}")).collect();
    repo.write("keys.txt", &keys.join("\n"));
    let keys_file = repo.path().join("keys.txt");
    let keys_file = keys_file.to_str().unwrap();
    let expected: Vec<Value> = repo
        .run(&["resolve", NAME, "--keys-file", "keys.txt", "--json"])
        .expect(0)
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let server = Server::start(&repo, &[], &[]);
    let url = format!("http://127.0.0.1:{}", server.port);
    for (interpreter, name) in [("python", "ofrep_python.py"), ("node", "ofrep_node.mjs")] {
        let got = run_json(&sdks, interpreter, name, &[&url, NAME, keys_file]);
        let mut disagreements = Vec::new();
        let mut on_canary = 0;
        for (key, want) in keys.iter().zip(&expected) {
            let details = &got["keys"][key];
            if details["value_version"] != want["version"] {
                disagreements.push(format!("{key}: {details} vs {want}"));
            }
            on_canary += usize::from(details["reason"] == "SPLIT" && want["track"] == "canary");
        }
        assert!(disagreements.is_empty(), "{name}: {disagreements:?}");
        assert!(
            (60..=140).contains(&on_canary),
            "{name}: {on_canary} of 1000 on a 10% canary"
        );
        assert_eq!(
            got["cohort"]["reason"], "TARGETING_MATCH",
            "{name}: {}",
            got["cohort"]
        );
        assert_eq!(
            got["missing"]["error"], "FLAG_NOT_FOUND",
            "{name}: {}",
            got["missing"]
        );
        assert_eq!(got["missing"]["is_default"], true, "{name}");
    }
    // A server that went away leaves the SDKs on the caller's default, without an
    // exception (the scripts exit 0).
    drop(server);
    repo.write("one.txt", "user-1\n");
    let one = repo.path().join("one.txt");
    for (interpreter, name) in [("python", "ofrep_python.py"), ("node", "ofrep_node.mjs")] {
        let got = run_json(
            &sdks,
            interpreter,
            name,
            &[&url, NAME, one.to_str().unwrap()],
        );
        let details = &got["keys"]["user-1"];
        assert_eq!(details["is_default"], true, "{name}: {details}");
        assert_eq!(details["error"], "GENERAL", "{name}: {details}");
    }
}

#[test]
fn the_sdks_agree_with_promptctl_resolve_on_every_key_and_context_of_a_targeted_canary() {
    let Some(sdks) = sdks() else { return };
    let repo = common::released("");
    repo.run(&[
        "canary",
        NAME,
        "50%",
        "--where",
        "plan in [\"enterprise\", \"pro\"] and seats >= 50 and beta = true",
    ])
    .expect(0);
    let keys: Vec<String> = (0..300).map(|i| format!("user-{i}")).collect();
    repo.write("keys.txt", &keys.join("\n"));
    // Typed for the SDKs; the same values as text for `resolve --attr`, as a query string
    // carries them.
    let contexts = json!({
        "inside": {"plan": "enterprise", "seats": 120, "beta": true},
        "few_seats": {"plan": "pro", "seats": 49, "beta": true},
        "outside": {"plan": "free", "seats": 500, "beta": true},
        "no_beta": {"plan": "pro", "seats": 500},
        "wrong_type": {"plan": "pro", "seats": "many", "beta": true},
    });
    repo.write("contexts.json", &contexts.to_string());
    let server = Server::start(&repo, &[], &[]);
    let url = format!("http://127.0.0.1:{}", server.port);
    let keys_file = repo.path().join("keys.txt");
    let contexts_file = repo.path().join("contexts.json");
    let mut on_canary = 0;
    for (interpreter, script) in [("python", "ofrep_python.py"), ("node", "ofrep_node.mjs")] {
        let got = run_json(
            &sdks,
            interpreter,
            script,
            &[
                &url,
                NAME,
                keys_file.to_str().unwrap(),
                contexts_file.to_str().unwrap(),
            ],
        );
        for (context, attributes) in contexts.as_object().unwrap() {
            let mut args = vec![
                "resolve".to_owned(),
                NAME.to_owned(),
                "--keys-file".to_owned(),
                "keys.txt".to_owned(),
                "--json".to_owned(),
            ];
            for (name, value) in attributes.as_object().unwrap() {
                let text = value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_owned);
                args.extend(["--attr".to_owned(), format!("{name}={text}")]);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let expected = repo.run(&args).expect(0).stdout;
            for (key, want) in keys.iter().zip(expected.lines()) {
                let want: Value = serde_json::from_str(want).unwrap();
                let details = &got["contexts"][context][key];
                assert_eq!(
                    details["value_version"], want["version"],
                    "{script} {context} {key}: {details} vs {want}"
                );
                on_canary += usize::from(want["track"] == "canary");
            }
        }
        let reason = |context: &str| got["contexts"][context][&keys[0]]["reason"].clone();
        assert_eq!(reason("outside"), "TARGETING_MATCH", "{script}");
        assert_eq!(reason("no_beta"), "DEFAULT", "{script}");
        assert_eq!(reason("wrong_type"), "DEFAULT", "{script}");
    }
    // Only the `inside` context reaches the canary: about half its keys, in both runs.
    assert!((2 * 100..=2 * 200).contains(&on_canary), "{on_canary}");
}

#[test]
fn the_sdks_agree_with_promptctl_resolve_on_the_arm_of_every_key_and_context() {
    let Some(sdks) = sdks() else { return };
    let repo = common::released("");
    repo.run(&[
        "experiment",
        "start",
        "tone",
        "--prompt",
        NAME,
        "--arm",
        "a=active",
        "--arm",
        "b=HEAD",
        "--arm",
        "c=HEAD",
        "--split",
        "20,30,50",
        "--where",
        "seats >= 10",
    ])
    .expect(0);
    let keys: Vec<String> = (0..300).map(|i| format!("user-{i}")).collect();
    repo.write("keys.txt", &keys.join("\n"));
    let contexts = json!({
        "inside": {"seats": 12},
        "outside": {"seats": 3},
        "wrong_type": {"seats": "many"},
    });
    repo.write("contexts.json", &contexts.to_string());
    let server = Server::start(&repo, &[], &[]);
    let url = format!("http://127.0.0.1:{}", server.port);
    let keys_file = repo.path().join("keys.txt");
    let contexts_file = repo.path().join("contexts.json");
    let mut arms = std::collections::BTreeMap::<String, usize>::new();
    for (interpreter, script) in [("python", "ofrep_python.py"), ("node", "ofrep_node.mjs")] {
        let got = run_json(
            &sdks,
            interpreter,
            script,
            &[
                &url,
                NAME,
                keys_file.to_str().unwrap(),
                contexts_file.to_str().unwrap(),
            ],
        );
        for (context, attributes) in contexts.as_object().unwrap() {
            let seats = attributes["seats"]
                .as_str()
                .map_or_else(|| attributes["seats"].to_string(), str::to_owned);
            let expected = repo
                .run(&[
                    "resolve",
                    NAME,
                    "--keys-file",
                    "keys.txt",
                    "--json",
                    "--attr",
                    &format!("seats={seats}"),
                ])
                .expect(0)
                .stdout;
            for (key, want) in keys.iter().zip(expected.lines()) {
                let want: Value = serde_json::from_str(want).unwrap();
                let details = &got["contexts"][context][key];
                assert_eq!(
                    details["value_version"], want["version"],
                    "{script} {context} {key}: {details} vs {want}"
                );
                assert_eq!(
                    details["value_arm"],
                    want.get("arm").cloned().unwrap_or(Value::Null),
                    "{script} {context} {key}"
                );
                if let Some(arm) = want["arm"].as_str() {
                    *arms.entry(arm.to_owned()).or_default() += 1;
                }
            }
        }
        let reason = |context: &str| got["contexts"][context][&keys[0]]["reason"].clone();
        assert_eq!(reason("inside"), "SPLIT", "{script}");
        assert_eq!(reason("outside"), "TARGETING_MATCH", "{script}");
        assert_eq!(reason("wrong_type"), "DEFAULT", "{script}");
    }
    // Only `inside` takes part: 300 keys in each run, split about 20/30/50.
    assert_eq!(arms.values().sum::<usize>(), 600, "{arms:?}");
    assert!(
        (80..=160).contains(&arms["a"]) && (240..=360).contains(&arms["c"]),
        "{arms:?}"
    );
}

/// A repository holding this project's own prompts and suites, published.
fn this_projects_prompts() -> TestRepo {
    let repo = common::TestRepo::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for folder in ["prompts", "evals"] {
        copy_tree(&root.join(folder), &repo.path().join(folder));
    }
    std::fs::copy(
        root.join("promptctl.toml"),
        repo.path().join("promptctl.toml"),
    )
    .unwrap();
    repo.commit("the project's prompts");
    repo.run(&["publish"]).expect(0);
    repo
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn the_served_payload_renders_byte_for_byte_in_python_and_javascript() {
    let Some(sdks) = sdks() else { return };
    let repo = this_projects_prompts();
    let server = Server::start(&repo, &[], &[]);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (suites, errors) = promptctl::eval::load_suites(&root.join("evals"), "evals");
    assert!(errors.is_empty(), "{errors:?}");
    let (mut jobs, mut expected, mut labels) = (Vec::new(), Vec::new(), Vec::new());
    for suite in &suites {
        let (_, payload) = server.get(&format!("/v1/prompts/{}?key=parity", suite.prompt));
        for (index, case) in suite.cases.iter().enumerate() {
            let vars = suite.case_vars(index, &Default::default()).unwrap();
            let body = json!({"name": suite.prompt, "key": "parity", "vars": vars});
            let (status, _, text) = http(
                server.port,
                "POST",
                "/v1/render",
                &[("Content-Type", "application/json")],
                &body.to_string(),
            );
            assert_eq!(status, 200, "{}: {text}", case.name);
            let rendered: Value = serde_json::from_str(&text).unwrap();
            let contents: Vec<Value> = rendered["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["content"].clone())
                .collect();
            jobs.push(json!({"payload": payload, "vars": vars}));
            expected.push(Value::Array(contents));
            labels.push(format!("{} / {}", suite.prompt, case.name));
        }
    }
    assert!(jobs.len() >= 8, "{} eval cases", jobs.len());
    repo.write("jobs.json", &Value::Array(jobs).to_string());
    let jobs_file = repo.path().join("jobs.json");
    for (interpreter, name) in [("python", "render_python.py"), ("node", "render_js.mjs")] {
        let got = run_json(&sdks, interpreter, name, &[jobs_file.to_str().unwrap()]);
        let differences: Vec<String> = labels
            .iter()
            .zip(&expected)
            .zip(got.as_array().unwrap())
            .filter(|((_, want), got)| want != got)
            .map(|((label, want), got)| format!("{label}:\n  server {want}\n  {name} {got}"))
            .collect();
        assert!(differences.is_empty(), "{}", differences.join("\n"));
    }
}
