//! `diff` driven through the binary against real git repositories.

mod common;

use common::{TestRepo, sample_repo};
use serde_json::{Value, json};

/// The sample repository, committed.
fn committed() -> TestRepo {
    let repo = sample_repo();
    repo.commit("prompts");
    repo
}

fn diff_json(repo: &TestRepo, args: &[&str]) -> Value {
    let mut full = vec!["diff", "--json"];
    full.extend_from_slice(args);
    let run = repo.run(&full).expect(0);
    serde_json::from_str(&run.stdout).unwrap()
}

fn names(diff: &Value) -> Vec<(String, String)> {
    diff["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn edit(repo: &TestRepo, relative: &str, from: &str, to: &str) {
    let path = repo.path().join(relative);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{relative} does not contain {from:?}");
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn nothing_changed_prints_nothing_and_exits_zero_even_with_exit_code() {
    let repo = committed();
    let run = repo.run(&["diff", "--exit-code"]).expect(0);
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr, "");
}

#[test]
fn description_and_formatting_edits_are_not_changes() {
    let repo = committed();
    edit(
        &repo,
        "prompts/support/triage.toml",
        "description = \"Route a support ticket\"",
        "# a comment\ndescription   =   \"Route tickets\"",
    );
    let run = repo.run(&["diff", "--exit-code"]).expect(0);
    assert_eq!(run.stdout, "");
}

#[test]
fn field_changes_are_listed_one_per_line() {
    let repo = committed();
    repo.write(
        "prompts/support/triage.toml",
        r#"description = "Route a support ticket"
model = "bigger-model"

[params]
temperature = 0.2
max_tokens = 100

[variables.ticket]
type = "string"
required = true

[variables.tone]
type = "string"
required = true
enum = ["friendly", "formal", "terse"]

[variables.lang]
type = "string"
default = "en"

[[messages]]
role = "system"
content = """
Triage the ticket. {% include "partials/tone.j2" %}
"""

[[messages]]
role = "user"
content = "{{ ticket }}"
"#,
    );
    let run = repo.run(&["diff", "--exit-code"]).expect(1);
    insta::assert_snapshot!(run.stdout);
    let diff = diff_json(&repo, &[]);
    let fields: Vec<&str> = diff["prompts"][0]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "model",
            "params.max_tokens",
            "params.temperature",
            "variables.lang",
            "variables.tone.default",
            "variables.tone.enum",
            "variables.tone.required",
        ]
    );
    assert!(
        diff["prompts"][0]["messages"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_variable_type_change_and_a_removed_variable_are_shown() {
    let repo = committed();
    edit(
        &repo,
        "prompts/docs/count.toml",
        "type = \"integer\"",
        "type = \"number\"",
    );
    edit(
        &repo,
        "prompts/support/reply.toml",
        "[variables.tone]\ntype = \"string\"\ndefault = \"formal\"\n",
        "",
    );
    let diff = diff_json(&repo, &[]);
    let count = &diff["prompts"][0];
    assert_eq!(count["name"], "docs/count");
    assert_eq!(
        count["fields"],
        json!([{"field": "variables.n.type", "old": "integer", "new": "number"}])
    );
    let reply = &diff["prompts"][1];
    assert_eq!(
        reply["fields"],
        json!([{"field": "variables.tone", "old": {"type": "string", "required": false, "default": "formal"}, "new": null}])
    );
}

#[test]
fn a_template_change_is_a_unified_diff_of_that_message() {
    let repo = committed();
    edit(
        &repo,
        "prompts/support/triage.toml",
        "Triage the ticket. ",
        "Read the ticket.\nTriage the ticket carefully. ",
    );
    let run = repo.run(&["diff"]).expect(0);
    insta::assert_snapshot!(run.stdout);
}

#[test]
fn changed_words_are_highlighted_only_with_colour() {
    let repo = committed();
    edit(
        &repo,
        "prompts/support/triage.toml",
        "Triage the ticket.",
        "Triage the ticket quickly.",
    );
    let plain = repo.run(&["diff"]).expect(0);
    assert!(!plain.stdout.contains('\x1b'), "NO_COLOR is honoured");
    let coloured = repo.run(&["diff", "--color", "always"]).expect(0);
    // The inserted word is shown in inverse video inside the green line; the red line has
    // nothing removed from it, so nothing in it is highlighted.
    assert!(
        coloured
            .stdout
            .contains("\x1b[32m+Triage the ticket\x1b[0m\x1b[1m\x1b[7m\x1b[32m quickly\x1b[0m"),
        "{:?}",
        coloured.stdout
    );
    assert!(
        coloured
            .stdout
            .contains("\x1b[31m-Triage the ticket. {% include \"partials/tone.j2\" %}\x1b[0m"),
        "{:?}",
        coloured.stdout
    );
    let never = repo.run(&["diff", "--color", "never"]).expect(0);
    assert_eq!(never.stdout, plain.stdout);
}

#[test]
fn a_partial_change_is_shown_under_every_prompt_that_reaches_it_and_no_other() {
    let repo = committed();
    edit(
        &repo,
        "prompts/partials/tone.j2",
        "Be warm.",
        "Be warm and kind.",
    );
    let run = repo.run(&["diff"]).expect(0);
    insta::assert_snapshot!(run.stdout);
    let diff = diff_json(&repo, &[]);
    assert_eq!(
        names(&diff),
        [
            ("support/reply".to_owned(), "changed".to_owned()),
            ("support/triage".to_owned(), "changed".to_owned())
        ]
    );
    for prompt in diff["prompts"].as_array().unwrap() {
        assert!(prompt["messages"].as_array().unwrap().is_empty());
        assert_eq!(prompt["partials"][0]["name"], "partials/tone.j2");
        assert_eq!(prompt["partials"][0]["status"], "changed");
    }
}

#[test]
fn a_partial_reached_through_another_partial_changes_its_prompts_between_commits() {
    let repo = committed();
    repo.write("prompts/partials/sign.j2", "-- The team");
    edit(
        &repo,
        "prompts/partials/tone.j2",
        "{% endif %}",
        "{% endif %} {% include \"partials/sign.j2\" %}",
    );
    repo.commit("sign");
    repo.write("prompts/partials/sign.j2", "-- The support team");
    let head = repo.commit("sign better");
    let diff = diff_json(&repo, &["HEAD~1", &head]);
    assert_eq!(diff["from"]["spec"], "HEAD~1");
    assert_eq!(diff["to"]["commit"], json!(head));
    assert_eq!(
        names(&diff),
        [
            ("support/reply".to_owned(), "changed".to_owned()),
            ("support/triage".to_owned(), "changed".to_owned())
        ]
    );
    assert_eq!(
        diff["prompts"][0]["partials"][0]["name"],
        "partials/sign.j2"
    );
}

#[test]
fn renamed_files_are_renames_not_an_add_and_a_remove() {
    let repo = committed();
    let text = std::fs::read_to_string(repo.path().join("prompts/docs/count.toml")).unwrap();
    repo.remove("prompts/docs/count.toml");
    repo.write("prompts/docs/counting.toml", &text);
    let text = std::fs::read_to_string(repo.path().join("prompts/support/reply.toml")).unwrap();
    repo.remove("prompts/support/reply.toml");
    repo.write(
        "prompts/support/answer.toml",
        &text.replace("Reply.", "Reply politely."),
    );
    let run = repo.run(&["diff", "--stat"]).expect(0);
    insta::assert_snapshot!(run.stdout);
    let diff = diff_json(&repo, &[]);
    let counting = &diff["prompts"][0];
    assert_eq!(counting["name"], "docs/counting");
    assert_eq!(counting["renamed_from"], "docs/count");
    assert_eq!(counting["old_version"], counting["new_version"]);
    let answer = &diff["prompts"][1];
    assert_eq!(answer["status"], "renamed");
    assert_eq!(answer["renamed_from"], "support/reply");
    assert_eq!(answer["messages"][0]["text"]["added"], 1);
}

#[test]
fn added_and_removed_prompts_show_what_they_hold() {
    let repo = committed();
    repo.remove("prompts/docs/count.toml");
    repo.write(
        "prompts/sales/pitch.toml",
        "[[messages]]\nrole = \"user\"\ncontent = \"Pitch {{ product }}.\"\n\n[variables.product]\ntype = \"string\"\nrequired = true\n",
    );
    let run = repo.run(&["diff"]).expect(0);
    insta::assert_snapshot!(run.stdout);
    let names_only = repo.run(&["diff", "--name-only"]).expect(0);
    assert_eq!(names_only.stdout, "docs/count\nsales/pitch\n");
}

#[test]
fn inserting_a_message_shows_one_added_message() {
    let repo = committed();
    edit(
        &repo,
        "prompts/support/triage.toml",
        "[[messages]]\nrole = \"system\"",
        "[[messages]]\nrole = \"system\"\ncontent = \"You work for Acme.\"\n\n[[messages]]\nrole = \"system\"",
    );
    let diff = diff_json(&repo, &[]);
    let messages = diff["prompts"][0]["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{messages:#?}");
    assert_eq!(messages[0]["old_index"], Value::Null);
    assert_eq!(messages[0]["new_index"], 0);
}

#[test]
fn a_role_change_is_shown_on_the_message() {
    let repo = committed();
    edit(
        &repo,
        "prompts/docs/count.toml",
        "role = \"user\"",
        "role = \"assistant\"",
    );
    let run = repo.run(&["diff"]).expect(0);
    assert!(
        run.stdout.contains("messages[0] (user → assistant)"),
        "{}",
        run.stdout
    );
}

#[test]
fn render_diffs_what_the_model_receives_for_each_eval_case() {
    let repo = committed();
    edit(
        &repo,
        "prompts/partials/tone.j2",
        "Be warm.",
        "Be warm and kind.",
    );
    let run = repo
        .run(&["diff", "--render", "--", "support/triage"])
        .expect(0);
    insta::assert_snapshot!(run.stdout);
    let diff = diff_json(&repo, &["--render", "--", "support/triage"]);
    let rendered = &diff["prompts"][0]["rendered"];
    assert_eq!(rendered[0]["sample"], "triage:refund");
    let line = &rendered[0]["messages"][0]["text"]["hunks"][0]["lines"];
    assert_eq!(line[0]["op"], "delete");
    assert_eq!(line[0]["text"], "Triage the ticket. Be warm.");
    assert_eq!(line[1]["text"], "Triage the ticket. Be warm and kind.");
}

#[test]
fn render_with_given_values_converts_them_per_side_and_shows_failures() {
    let repo = committed();
    edit(
        &repo,
        "prompts/docs/count.toml",
        "Count to {{ n }}:",
        "Count slowly to {{ n }}:",
    );
    let run = repo
        .run(&["diff", "--var", "n=3", "--", "docs/count"])
        .expect(0);
    assert!(run.stdout.contains("rendered with given values"));
    assert!(
        run.stdout.contains("+Count slowly to 3: 1 2 3 "),
        "{}",
        run.stdout
    );
    // A new required variable: the new version cannot render the old values.
    edit(
        &repo,
        "prompts/docs/count.toml",
        "required = true\n",
        "required = true\n\n[variables.unit]\ntype = \"string\"\nrequired = true\n",
    );
    let diff = diff_json(&repo, &["--var", "n=3", "--", "docs/count"]);
    let rendered = &diff["prompts"][0]["rendered"][0];
    assert!(rendered.get("old_error").is_none());
    assert!(
        rendered["new_error"]
            .as_str()
            .unwrap()
            .contains("missing variable `unit`"),
        "{rendered}"
    );
}

#[test]
fn render_with_one_case_and_a_values_file() {
    let repo = committed();
    edit(
        &repo,
        "prompts/partials/tone.j2",
        "Be formal.",
        "Be very formal.",
    );
    repo.write("values.json", r#"{"ticket": "hello", "tone": "formal"}"#);
    let diff = diff_json(
        &repo,
        &["--vars-file", "values.json", "--", "support/triage"],
    );
    let rendered = &diff["prompts"][0]["rendered"][0];
    assert_eq!(rendered["sample"], "given values");
    assert_eq!(rendered["messages"].as_array().unwrap().len(), 1);
    // The refund case uses the default (friendly) tone: the formal branch is not rendered.
    let diff = diff_json(&repo, &["--case", "triage:refund", "--", "support/triage"]);
    assert_eq!(diff["prompts"][0]["rendered"][0]["sample"], "triage:refund");
    assert_eq!(
        diff["prompts"][0]["rendered"][0]["messages"],
        json!([]),
        "the same rendered messages"
    );
    let run = repo.run(&["diff", "--case", "triage:nope"]).expect(2);
    assert!(run.stderr.contains("no case `nope`"), "{}", run.stderr);
    assert!(run.stderr.contains("its cases: refund"), "{}", run.stderr);
}

#[test]
fn one_revision_is_compared_with_the_working_tree_and_two_with_each_other() {
    let repo = committed();
    edit(&repo, "prompts/docs/count.toml", "Count to", "Count up to");
    repo.commit("count up");
    edit(&repo, "prompts/support/reply.toml", "Reply.", "Reply now.");
    let against_worktree = diff_json(&repo, &["HEAD~1"]);
    assert_eq!(against_worktree["to"]["spec"], "worktree");
    assert_eq!(names(&against_worktree).len(), 2);
    let commits = diff_json(&repo, &["HEAD~1", "HEAD"]);
    assert_eq!(
        names(&commits),
        [("docs/count".to_owned(), "changed".to_owned())]
    );
    let default = diff_json(&repo, &[]);
    assert_eq!(default["from"]["spec"], "HEAD", "nothing is published yet");
    assert_eq!(
        names(&default),
        [("support/reply".to_owned(), "changed".to_owned())]
    );
    let backwards = diff_json(&repo, &["HEAD", "HEAD~1"]);
    assert_eq!(
        backwards["prompts"][0]["new_version"],
        commits["prompts"][0]["old_version"]
    );
}

#[test]
fn names_after_the_separator_limit_the_comparison() {
    let repo = committed();
    edit(&repo, "prompts/docs/count.toml", "Count to", "Count up to");
    edit(&repo, "prompts/support/reply.toml", "Reply.", "Reply now.");
    let diff = diff_json(&repo, &["HEAD", "--", "support/reply"]);
    assert_eq!(
        names(&diff),
        [("support/reply".to_owned(), "changed".to_owned())]
    );
    // An unchanged prompt asked for by name is valid and shows nothing.
    let run = repo.run(&["diff", "--", "support/triage"]).expect(0);
    assert_eq!(run.stdout, "");
}

#[test]
fn unknown_revisions_and_prompts_exit_2_naming_them() {
    let repo = committed();
    let run = repo.run(&["diff", "no-such-branch"]).expect(2);
    assert!(
        run.stderr.contains("unknown revision `no-such-branch`"),
        "{}",
        run.stderr
    );
    let run = repo.run(&["diff", "HEAD", "HEAD~5"]).expect(2);
    assert!(run.stderr.contains("`HEAD~5`"), "{}", run.stderr);
    let run = repo.run(&["diff", "--", "support/triag"]).expect(2);
    assert!(
        run.stderr
            .contains("no prompt `support/triag` at `HEAD` or at `worktree`"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("did you mean `support/triage`?"));
    let run = repo.run(&["diff", "active"]).expect(2);
    assert!(
        run.stderr.contains("nothing has been published"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_repository_without_commits_says_so() {
    let repo = sample_repo();
    let run = repo.run(&["diff"]).expect(2);
    assert!(
        run.stderr
            .contains("unknown revision `HEAD`: the repository has no commit yet"),
        "{}",
        run.stderr
    );
    // The hint comes from the error's kind, not from searching its text.
    assert!(
        run.stderr.contains("commit the prompts first"),
        "{}",
        run.stderr
    );
    // The working tree can still be compared with itself, or read without git.
    repo.run(&["diff", "worktree", "worktree", "--exit-code"])
        .expect(0);
}

#[test]
fn a_broken_prompt_is_reported_with_its_file_and_the_rest_is_still_shown() {
    let repo = committed();
    edit(&repo, "prompts/docs/count.toml", "Count to", "Count up to");
    repo.write(
        "prompts/support/triage.toml",
        "[[messages]]\nrole = \"system\"\ncontent = \"Hi\"\ntemperature = \n",
    );
    let run = repo.run(&["diff", "--name-only"]).expect(2);
    assert_eq!(run.stdout, "docs/count\n");
    assert!(
        run.stderr.contains("prompts/support/triage.toml:4"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("(at `worktree`)"), "{}", run.stderr);
}

#[test]
fn new_project_defaults_change_every_prompt_that_relies_on_them() {
    let repo = committed();
    repo.write("promptctl.toml", "[defaults]\nmodel = \"newer-model\"\n");
    let diff = diff_json(&repo, &[]);
    // `support/reply` names its own model, so only the other two change.
    assert_eq!(
        names(&diff),
        [
            ("docs/count".to_owned(), "changed".to_owned()),
            ("support/triage".to_owned(), "changed".to_owned())
        ]
    );
    assert_eq!(
        diff["prompts"][0]["fields"],
        json!([{"field": "model", "old": "test-model", "new": "newer-model"}])
    );
}

#[test]
fn the_json_shape_is_stable() {
    let repo = committed();
    edit(&repo, "prompts/docs/count.toml", "Count to", "Count up to");
    let diff = diff_json(&repo, &[]);
    let keys = |v: &Value| -> Vec<String> {
        let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    // The set of keys is the contract; they are printed in the order the fields are
    // declared.
    assert_eq!(keys(&diff), ["broken", "from", "prompts", "to"]);
    let prompt = &diff["prompts"][0];
    assert_eq!(
        keys(prompt),
        [
            "fields",
            "messages",
            "name",
            "new_version",
            "old_version",
            "partials",
            "status"
        ]
    );
    assert_eq!(
        keys(&prompt["messages"][0]),
        ["new_index", "new_role", "old_index", "old_role", "text"]
    );
    assert_eq!(
        keys(&prompt["messages"][0]["text"]),
        ["added", "hunks", "removed"]
    );
}

/// The names `diff` reports between two commits are exactly the prompts whose version, as
/// `list` computes it from a full parse, differs: the tree shortcut never misses a change.
#[test]
fn diff_between_commits_agrees_with_full_listings() {
    let repo = committed();
    repo.write(
        "prompts/team/a.toml",
        "[[messages]]\nrole = \"user\"\ncontent = 'A {% include \"partials/deep/x.j2\" %}'\n",
    )
    .write(
        "prompts/team/b.toml",
        "[[messages]]\nrole = \"user\"\ncontent = \"B\"\n",
    )
    .write(
        "prompts/other/c.toml",
        "[[messages]]\nrole = \"user\"\ncontent = 'C {% include \"partials/deep/y.j2\" %}'\n",
    )
    .write(
        "prompts/partials/deep/x.j2",
        "x {% include \"partials/deep/y.j2\" %}",
    )
    .write("prompts/partials/deep/y.j2", "y");
    repo.commit("more");
    let steps: [&dyn Fn(&TestRepo); 4] = [
        &|r| {
            r.write("prompts/partials/deep/y.j2", "y2");
        },
        &|r| {
            r.write(
                "prompts/team/b.toml",
                "[[messages]]\nrole = \"user\"\ncontent = \"B2\"\n",
            );
            r.remove("prompts/other/c.toml");
        },
        &|r| {
            r.write("promptctl.toml", "[defaults]\nmodel = \"other\"\n");
        },
        &|r| {
            r.write("prompts/partials/deep/x.j2", "x only");
            r.write(
                "prompts/new/d.toml",
                "[[messages]]\nrole = \"user\"\ncontent = \"D\"\n",
            );
        },
    ];
    for step in steps {
        step(&repo);
        repo.commit("step");
        let listed = |at: &str| -> std::collections::BTreeMap<String, Value> {
            let run = repo.run(&["list", "--json", "--at", at]).expect(0);
            let list: Vec<Value> = serde_json::from_str(&run.stdout).unwrap();
            list.into_iter()
                .map(|e| (e["name"].as_str().unwrap().to_owned(), e["version"].clone()))
                .collect()
        };
        let (before, after) = (listed("HEAD~1"), listed("HEAD"));
        let mut expected: Vec<String> = before
            .keys()
            .chain(after.keys())
            .filter(|name| before.get(*name) != after.get(*name))
            .cloned()
            .collect();
        expected.sort();
        expected.dedup();
        let run = repo
            .run(&["diff", "HEAD~1", "HEAD", "--name-only"])
            .expect(0);
        let reported: Vec<&str> = run.stdout.lines().collect();
        assert_eq!(reported, expected, "after a step");
        assert!(!expected.is_empty());
    }
}

/// When both versions failed to render a case, `diff --case` said "rendered differently
/// for 0 of 1 sample", as if the case were fine. It says that both versions fail, and why.
#[test]
fn a_case_both_versions_fail_to_render_is_said_not_hidden() {
    let repo = committed();
    repo.write(
        "evals/triage.toml",
        "prompt = \"support/triage\"\n\n[[cases]]\nname = \"bad\"\nvars = { ticket = \"x\", tone = \"shouting\" }\nassert = [{ type = \"icontains\", value = \"x\" }]\n",
    );
    edit(
        &repo,
        "prompts/support/triage.toml",
        "Triage the ticket.",
        "Triage the ticket now.",
    );
    let run = repo
        .run(&["diff", "HEAD", "--case", "triage:bad"])
        .expect(0);
    assert!(
        run.stdout
            .contains("both versions fail: prompt `support/triage`: variable `tone`"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("both versions fail 1 sample"),
        "{}",
        run.stdout
    );
}

/// A prompt whose only message includes `partial`.
fn including(partial: &str) -> String {
    format!(
        "[[messages]]\nrole = \"system\"\ncontent = \"Hi. {{% include \\\"{partial}\\\" %}}\"\n"
    )
}

fn changed_names(repo: &TestRepo, from: &str, to: &str) -> Vec<String> {
    let run = repo.run(&["diff", from, to, "--name-only"]).expect(0);
    run.stdout.lines().map(str::to_owned).collect()
}

#[test]
fn what_is_kept_of_the_prompts_texts_never_hides_one_that_reaches_a_changed_partial() {
    let repo = committed();
    repo.write("prompts/partials/x.j2", "x1")
        .write("prompts/partials/y.j2", "y1")
        .write("prompts/team/a.toml", &including("partials/x.j2"))
        .write("prompts/team/b.toml", &including("partials/tone.j2"))
        .write("prompts/other/c.toml", &including("partials/y.j2"))
        .write(
            "prompts/other/d.toml",
            "# partials/x.j2 in a comment\n[[messages]]\nrole = \"user\"\ncontent = \"Hi.\"\n",
        );
    repo.commit("prompts in two folders");
    repo.write("prompts/partials/x.j2", "x2")
        .write("prompts/partials/y.j2", "y2");
    repo.commit("both partials change; the prompt folders are the same trees");
    let cache = repo.path().join(".git/promptctl-mentions");
    assert!(!cache.exists());
    // A name in a comment costs a parse, never a missed change: d is read, and unchanged.
    let expected = ["other/c", "team/a"];
    assert_eq!(
        changed_names(&repo, "HEAD~1", "HEAD"),
        expected,
        "read from the blobs"
    );
    assert!(cache.exists());
    assert_eq!(
        changed_names(&repo, "HEAD~1", "HEAD"),
        expected,
        "from the cache"
    );
    // The file's own first line (this build's), then lines that are not the cache's.
    let header = std::fs::read_to_string(&cache).unwrap();
    let header = header.lines().next().unwrap().to_owned();
    std::fs::write(&cache, format!("{header}\nnot a line\n\tpartials/x.j2\n")).unwrap();
    assert_eq!(
        changed_names(&repo, "HEAD~1", "HEAD"),
        expected,
        "a damaged cache"
    );
    // A prompt listed on its own (its folder changed too) is found the same way.
    repo.write(
        "prompts/team/b.toml",
        &including("partials/x.j2").replace("Hi.", "Hello."),
    );
    repo.commit("b changes, and now includes x");
    assert_eq!(
        changed_names(&repo, "HEAD~2", "HEAD"),
        ["other/c", "team/a", "team/b"]
    );
    repo.write("prompts/partials/x.j2", "x3");
    let run = repo.run(&["diff", "HEAD", "--name-only"]).expect(0);
    assert_eq!(run.stdout.lines().collect::<Vec<_>>(), ["team/a", "team/b"]);
    // A partial whose name the cache cannot answer for (it is refused, but still a file
    // prompts can name) is searched for in the prompts' text.
    repo.write("prompts/partials/x.j2", "x2")
        .write("prompts/partials/odd name.j2", "o1")
        .write("prompts/other/c.toml", &including("partials/odd name.j2"));
    repo.commit("an odd name");
    repo.write("prompts/partials/odd name.j2", "o2");
    repo.commit("it changes");
    let run = repo
        .run(&["diff", "HEAD~1", "HEAD", "--name-only"])
        .expect(2);
    assert!(run.stderr.contains("invalid name `partials/odd name.j2`"));
    // c was found and read: its include is refused on both sides.
    assert_eq!(
        run.stderr.matches("prompts/other/c.toml:3:").count(),
        2,
        "{}",
        run.stderr
    );
}

#[test]
fn a_prompt_that_does_not_parse_is_broken_on_each_side_that_has_it() {
    let repo = committed();
    repo.write("prompts/partials/x.j2", "x1").write(
        "prompts/team/a.toml",
        &(including("partials/x.j2") + "oops = 1\n"),
    );
    repo.commit("a broken prompt");
    repo.write("prompts/partials/x.j2", "x2");
    repo.commit("its partial changes");
    let run = repo.run(&["diff", "HEAD~1", "HEAD"]).expect(2);
    assert_eq!(
        run.stderr.matches("unknown field `oops`").count(),
        2,
        "{}",
        run.stderr
    );
}
