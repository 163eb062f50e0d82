//! Which minijinja bindings render a served payload byte for byte as the server does.
//!
//! A corpus (`tests/sdk/render_corpus.json`) prints booleans, `none`, maps in the order they
//! were given, lists, floats and big integers, and uses `round`, `title`, `tojson` and the
//! other filters prompts use. Each entry is published as a prompt and rendered by
//! `/v1/render`, by Python's `minijinja` and by `minijinja-js` from the served payload. The
//! table of what each binding renders differently is in docs/serve.md, between the
//! `bindings` markers: this test fails when it goes stale, and prints the table that holds
//! (`BINDINGS_UPDATE=1` writes it).

mod common;

use std::path::Path;

use common::TestRepo;
use common::sdks::{Sdks, run_json, sdks};
use common::server::Server;
use serde::Deserialize;
use serde_json::{Value, json};

const DOC: &str = "docs/serve.md";
const START: &str = "<!-- bindings:start -->\n";
const END: &str = "<!-- bindings:end -->";

#[derive(Deserialize)]
struct Entry {
    name: String,
    template: String,
    vars: serde_json::Map<String, Value>,
}

fn corpus() -> Vec<Entry> {
    serde_json::from_str(include_str!("sdk/render_corpus.json")).unwrap()
}

/// A prompt file whose one message is the entry's template, each variable of its value's
/// type (`publish` renders with a sample of that type first).
fn prompt_file(entry: &Entry) -> String {
    assert!(!entry.template.contains("'''"), "{}", entry.name);
    let mut text = format!("description = \"render corpus: {}\"\n", entry.name);
    for (name, value) in &entry.vars {
        let ty = match value {
            Value::Object(_) => "object",
            Value::Array(_) => "array",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Null => "any",
        };
        text.push_str(&format!("\n[variables.{name}]\ntype = \"{ty}\"\n"));
    }
    text.push_str(&format!(
        "\n[[messages]]\nrole = \"user\"\ncontent = '''{}'''\n",
        entry.template
    ));
    text
}

/// One rendered text, or that the renderer refused: two refusals agree whatever they say.
fn outcome(value: &Value) -> Result<&str, ()> {
    match value {
        Value::Array(texts) if texts.len() == 1 => texts[0].as_str().ok_or(()),
        _ => Err(()),
    }
}

fn binding_versions(sdks: &Sdks) -> (String, String) {
    let output = std::process::Command::new(&sdks.python)
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('minijinja'))",
        ])
        .output()
        .unwrap();
    let python = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    let package = std::fs::read_to_string(sdks.node_path.join("minijinja-js/package.json"));
    let package: Value = serde_json::from_str(&package.unwrap()).unwrap();
    (python, package["version"].as_str().unwrap().to_owned())
}

fn table(rows: &[(&str, &str, Vec<&str>)]) -> String {
    let mut text = String::from(
        "| binding | version | renders the corpus as the server does |\n|---|---|---|\n",
    );
    for (binding, version, differing) in rows {
        let verdict = if differing.is_empty() {
            "byte for byte, every entry".to_owned()
        } else {
            format!("differs on: {}", differing.join(", "))
        };
        text.push_str(&format!("| {binding} | {version} | {verdict} |\n"));
    }
    text
}

#[test]
fn the_documented_binding_table_is_what_each_binding_renders_of_the_corpus() {
    let Some(sdks) = sdks() else { return };
    let corpus = corpus();
    let repo = TestRepo::new();
    for entry in &corpus {
        repo.write(
            &format!("prompts/corpus/{}.toml", entry.name),
            &prompt_file(entry),
        );
    }
    repo.commit("the render corpus");
    repo.run(&["publish"]).expect(0);
    let server = Server::start(&repo, &[], &[]);
    let (mut jobs, mut served) = (Vec::new(), Vec::new());
    for entry in &corpus {
        let name = format!("corpus/{}", entry.name);
        let (status, payload) = server.get(&format!("/v1/prompts/{name}?key=k"));
        assert_eq!(status, 200, "{name}: {payload}");
        let (status, rendered) = server.post(
            "/v1/render",
            &json!({"name": name, "key": "k", "vars": entry.vars}),
        );
        assert_eq!(status, 200, "the server renders {name}: {rendered}");
        served.push(
            rendered["messages"][0]["content"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        jobs.push(json!({"payload": payload, "vars": entry.vars}));
    }
    repo.write("jobs.json", &Value::Array(jobs).to_string());
    let jobs_file = repo.path().join("jobs.json");
    let jobs_file = jobs_file.to_str().unwrap();
    let (python_version, js_version) = binding_versions(&sdks);
    let mut rows = Vec::new();
    let mut details = Vec::new();
    for (binding, version, interpreter, script) in [
        (
            "Python `minijinja`",
            &python_version,
            "python",
            "render_python.py",
        ),
        ("`minijinja-js`", &js_version, "node", "render_js.mjs"),
    ] {
        let got = run_json(&sdks, interpreter, script, &[jobs_file]);
        let got = got.as_array().unwrap();
        assert_eq!(got.len(), corpus.len(), "{script}");
        let mut differing = Vec::new();
        for ((entry, want), got) in corpus.iter().zip(&served).zip(got) {
            if outcome(got) != Ok(want.as_str()) {
                differing.push(entry.name.as_str());
                details.push(format!(
                    "{script} {}: server {want:?}, got {got}",
                    entry.name
                ));
            }
        }
        rows.push((binding, version.as_str(), differing));
    }
    let want = table(&rows);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DOC);
    let doc = std::fs::read_to_string(&path).unwrap();
    let start = doc
        .find(START)
        .expect("docs/serve.md has the bindings markers")
        + START.len();
    let end = start + doc[start..].find(END).unwrap();
    if std::env::var("BINDINGS_UPDATE").as_deref() == Ok("1") {
        std::fs::write(&path, format!("{}{want}{}", &doc[..start], &doc[end..])).unwrap();
        return;
    }
    assert_eq!(
        &doc[start..end],
        want,
        "docs/serve.md's binding table is stale (BINDINGS_UPDATE=1 writes it):\n{}",
        details.join("\n")
    );
}

#[test]
fn maps_render_in_the_order_they_were_given() {
    let repo = TestRepo::new();
    let entry = Entry {
        name: "map".into(),
        template: "{{ m }} {% for k in m %}{{ k }}{% endfor %}".into(),
        vars: serde_json::from_str(r#"{"m": {"zebra": 1, "apple": 2, "mango": 3}}"#).unwrap(),
    };
    repo.write("prompts/corpus/map.toml", &prompt_file(&entry));
    repo.commit("a map");
    repo.run(&["publish"]).expect(0);
    let server = Server::start(&repo, &[], &[]);
    let body = r#"{"name": "corpus/map", "key": "k", "vars": {"m": {"zebra": 1, "apple": 2, "mango": 3}}}"#;
    let (status, _, text) = common::server::http(
        server.port,
        "POST",
        "/v1/render",
        &[("Content-Type", "application/json")],
        body,
    );
    assert_eq!(status, 200, "{text}");
    let rendered: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        rendered["messages"][0]["content"],
        "{'zebra': 1, 'apple': 2, 'mango': 3} zebraapplemango"
    );
    let run = repo
        .run(&[
            "render",
            "corpus/map",
            "--var",
            r#"m={"zebra": 1, "apple": 2, "mango": 3}"#,
        ])
        .expect(0);
    assert!(
        run.stdout
            .contains("{'zebra': 1, 'apple': 2, 'mango': 3} zebraapplemango"),
        "{}",
        run.stdout
    );
}
