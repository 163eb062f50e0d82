//! `list`, `show` and `render` driven through the binary against real git repositories.

mod common;

use common::{TestRepo, sample_repo};
use sha2::{Digest, Sha256};

fn versions(repo: &TestRepo, at: &str) -> serde_json::Value {
    let run = repo.run(&["list", "--json", "--at", at]).expect(0);
    let list: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).unwrap();
    list.into_iter()
        .map(|e| (e["name"].as_str().unwrap().to_owned(), e["version"].clone()))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

#[test]
fn list_shows_every_prompt_with_its_short_version() {
    let repo = sample_repo();
    let run = repo.run(&["list"]).expect(0);
    insta::assert_snapshot!(run.stdout);
}

#[test]
fn list_json_gives_names_and_full_versions() {
    let repo = sample_repo();
    let run = repo.run(&["list", "--json"]).expect(0);
    let list: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(list.len(), 3);
    for entry in &list {
        let version = entry["version"].as_str().unwrap();
        assert!(
            version.starts_with("sha256:") && version.len() == 71,
            "{version}"
        );
        assert!(entry["name"].is_string());
    }
    assert_eq!(list[2]["name"], "support/triage");
    assert_eq!(list[2]["partials"], serde_json::json!(["partials/tone.j2"]));
    assert_eq!(
        list[2]["model"], "test-model",
        "the project default applies"
    );
}

#[test]
fn show_prints_the_prompt_for_people() {
    let repo = sample_repo();
    let run = repo.run(&["show", "support/triage"]).expect(0);
    insta::assert_snapshot!(run.stdout);
}

#[test]
fn show_canonical_is_exactly_the_hashed_bytes() {
    let repo = sample_repo();
    let canonical = repo
        .run(&["show", "support/triage", "--canonical"])
        .expect(0)
        .stdout;
    let json = repo
        .run(&["show", "support/triage", "--json"])
        .expect(0)
        .stdout;
    let shown: serde_json::Value = serde_json::from_str(&json).unwrap();
    let digest = format!("sha256:{}", hex(&Sha256::digest(canonical.as_bytes())));
    assert_eq!(shown["version"], digest.as_str());
    assert!(!canonical.ends_with('\n'));
    // Canonical JSON parses and re-serialises to itself with sorted keys.
    let reparsed: serde_json::Value = serde_json::from_str(&canonical).unwrap();
    assert_eq!(reparsed["format"], 1);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn reformatting_a_prompt_file_keeps_its_version() {
    let repo = sample_repo();
    let before = versions(&repo, "worktree");
    repo.write(
        "prompts/docs/count.toml",
        r#"# A comment, a description, and keys in another order.
description = "new description"

[[messages]]
content = "Count to {{ n }}: {% for i in range(n) %}{{ i + 1 }} {% endfor %}"
role    = "user"

[variables.n]
required = true
type = "integer"
"#,
    );
    assert_eq!(versions(&repo, "worktree"), before);
}

#[test]
fn editing_a_partial_changes_exactly_the_prompts_that_include_it() {
    let repo = sample_repo();
    repo.commit("prompts");
    repo.write(
        "prompts/partials/tone.j2",
        "{% if tone == \"formal\" %}Be formal!{% else %}Be warm.{% endif %}",
    );
    let old = versions(&repo, "HEAD");
    let new = versions(&repo, "worktree");
    assert_ne!(old["support/triage"], new["support/triage"]);
    assert_ne!(old["support/reply"], new["support/reply"]);
    assert_eq!(old["docs/count"], new["docs/count"]);
}

#[test]
fn a_git_revision_is_read_without_touching_the_working_tree() {
    let repo = sample_repo();
    let first = repo.commit("first");
    repo.write(
        "prompts/docs/count.toml",
        &std::fs::read_to_string(repo.path().join("prompts/docs/count.toml"))
            .unwrap()
            .replace("Count to", "Count up to"),
    );
    repo.commit("second");
    repo.write(
        "prompts/docs/new.toml",
        "[[messages]]\nrole = \"user\"\ncontent = \"hi\"\n",
    );

    let at_first = versions(&repo, &first);
    let at_parent = versions(&repo, "HEAD~1");
    let at_head = versions(&repo, "HEAD");
    let worktree = versions(&repo, "worktree");
    assert_eq!(at_first, at_parent);
    assert_ne!(at_first["docs/count"], at_head["docs/count"]);
    assert!(at_head.get("docs/new").is_none());
    assert!(worktree.get("docs/new").is_some());

    let old = repo
        .run(&["show", "docs/count", "--at", "HEAD~1"])
        .expect(0)
        .stdout;
    assert!(old.contains("Count to"), "{old}");
    let on_disk = std::fs::read_to_string(repo.path().join("prompts/docs/count.toml")).unwrap();
    assert!(on_disk.contains("Count up to"), "the checkout is untouched");
}

#[test]
fn a_project_in_a_subfolder_of_the_repository_reads_revisions() {
    let repo = TestRepo::new();
    repo.write("ai/promptctl.toml", "[defaults]\nmodel = \"m\"\n")
        .write(
            "ai/prompts/hello.toml",
            "[[messages]]\nrole = \"user\"\ncontent = \"hello\"\n",
        );
    repo.commit("nested project");
    let run = repo
        .run_in(&repo.path().join("ai"), &["list", "--at", "HEAD"])
        .expect(0);
    assert!(run.stdout.contains("hello"), "{}", run.stdout);
}

#[test]
fn render_coerces_values_to_declared_types() {
    let repo = sample_repo();
    let run = repo
        .run(&["render", "docs/count", "--var", "n=3"])
        .expect(0);
    insta::assert_snapshot!(run.stdout, @r"
    [user]
    Count to 3: 1 2 3
    ");
}

#[test]
fn render_json_and_vars_files() {
    let repo = sample_repo();
    repo.write(
        "vars.json",
        r#"{"ticket": "from the file", "tone": "formal"}"#,
    );
    let run = repo
        .run(&[
            "render",
            "support/triage",
            "--vars-file",
            "vars.json",
            "--var",
            "ticket=from the flag",
            "--json",
        ])
        .expect(0);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        json["messages"][0]["content"],
        "Triage the ticket. Be formal."
    );
    assert_eq!(json["messages"][1]["content"], "from the flag");
    assert_eq!(json["messages"][1]["role"], "user");
}

#[test]
fn render_warns_about_values_the_prompt_does_not_declare() {
    let repo = sample_repo();
    let run = repo
        .run(&["render", "docs/count", "--var", "n=1", "--var", "extra=x"])
        .expect(0);
    assert!(
        run.stderr.contains("`docs/count` does not declare `extra`"),
        "{}",
        run.stderr
    );
}

#[test]
fn bad_values_exit_2_with_the_variable_named() {
    let repo = sample_repo();
    let cases: [(&[&str], &str); 4] = [
        (&["render", "docs/count"], "missing variable `n`"),
        (
            &["render", "docs/count", "--var", "n=three"],
            "variable `n` must be an integer, got `three`",
        ),
        (
            &[
                "render",
                "support/triage",
                "--var",
                "ticket=x",
                "--var",
                "tone=rude",
            ],
            "variable `tone` is `\"rude\"`, which is not one of `\"friendly\"`, `\"formal\"`",
        ),
        (
            &["render", "docs/count", "--var", "novalue"],
            "`novalue` is not NAME=VALUE",
        ),
    ];
    for (args, message) in cases {
        let run = repo.run(args).expect(2);
        assert!(run.stderr.contains(message), "{args:?}: {}", run.stderr);
    }
}

#[test]
fn a_runaway_template_fails_fast_with_exit_2() {
    let repo = sample_repo();
    repo.write(
        "prompts/loop.toml",
        "[[messages]]\nrole = \"user\"\ncontent = \"{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}\"\n",
    );
    let run = repo.run(&["render", "loop"]).expect(2);
    assert!(run.stderr.contains("prompts/loop.toml:3"), "{}", run.stderr);
    assert!(
        run.stderr.contains("loop that never ends"),
        "{}",
        run.stderr
    );
}

#[test]
fn unknown_names_and_revisions_exit_2_naming_them() {
    let repo = sample_repo();
    repo.commit("c");
    let run = repo.run(&["show", "triage"]).expect(2);
    insta::assert_snapshot!(run.stderr, @r"
    error: no prompt `triage` at `worktree`
    hint: did you mean `support/triage`?
    ");
    let run = repo.run(&["list", "--at", "no-such-branch"]).expect(2);
    assert!(
        run.stderr.contains("unknown revision `no-such-branch`"),
        "{}",
        run.stderr
    );
    let run = repo.run(&["list", "--at", "active"]).expect(2);
    assert!(
        run.stderr
            .contains("nothing has been published to `production`"),
        "{}",
        run.stderr
    );
    let run = repo.run(&["list", "--at", "sha256:12"]).expect(2);
    assert!(
        run.stderr.contains("invalid revision `sha256:12`"),
        "{}",
        run.stderr
    );
    let run = repo.run(&["show", "Bad Name"]).expect(2);
    assert!(
        run.stderr.contains("invalid name `Bad Name`"),
        "{}",
        run.stderr
    );
}

#[test]
fn commands_outside_a_project_say_how_to_start_one() {
    let folder = TestRepo::bare_folder();
    let run = folder.run(&["list"]).expect(2);
    assert!(run.stderr.contains("no `promptctl.toml`"), "{}", run.stderr);
    assert!(run.stderr.contains("promptctl init"), "{}", run.stderr);
}

#[test]
fn list_refuses_a_broken_prompt_with_its_location() {
    let repo = sample_repo();
    repo.write(
        "prompts/broken.toml",
        "[[messages]]\nrole = \"user\"\ncontent = \n",
    );
    let run = repo.run(&["list"]).expect(2);
    assert!(
        run.stderr.starts_with("error: prompts/broken.toml:3:"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("promptctl check"), "{}", run.stderr);
}

#[test]
fn colour_only_when_asked_or_on_a_terminal() {
    let repo = sample_repo();
    let plain = repo.run(&["list"]).expect(0);
    assert!(!plain.stdout.contains('\u{1b}'));
    let coloured = repo.run(&["list", "--color", "always"]).expect(0);
    assert!(coloured.stdout.contains('\u{1b}'));
}

/// One file with a bad name does not hide the good prompts: they are listed, the bad file
/// is reported on stderr, and the exit says something is wrong.
#[test]
fn list_shows_the_good_prompts_beside_a_bad_file() {
    let repo = sample_repo();
    repo.write(
        "prompts/bad/ünïcode.toml",
        "[[messages]]\nrole = \"user\"\ncontent = \"hi\"\n",
    );
    let run = repo.run(&["list"]).expect(2);
    for name in ["support/triage", "support/reply", "docs/count"] {
        assert!(run.stdout.contains(name), "{name}: {}", run.stdout);
    }
    assert!(run.stderr.contains("ünïcode"), "{}", run.stderr);
    assert!(run.stderr.contains("ASCII"), "{}", run.stderr);
    let run = repo.run(&["list", "--json"]).expect(2);
    let entries: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(entries.as_array().unwrap().len(), 3);
}

/// `list` keeps what it learned of each prompt beside the repository, keyed by what a
/// version is made of: a second listing parses nothing, an edited prompt is parsed alone, an
/// edited partial or project default reaches every prompt again, and a damaged cache is
/// ignored. What is listed is the same as a full parse every time.
#[test]
fn listing_parses_only_what_changed_since_the_last_listing() {
    use promptctl::source::{RevisionSpec, summaries};
    let repo = sample_repo();
    repo.commit("prompts");
    // Opened afresh each time, as each command does, so edits to promptctl.toml are seen.
    let project = || promptctl::project::Project::discover(repo.path()).unwrap();
    let full = |spec: &RevisionSpec| {
        let set = promptctl::source::load(&project(), spec).unwrap();
        set.prompts()
            .map(|p| (p.name.to_string(), p.version))
            .collect::<Vec<_>>()
    };
    let listed = |spec: &RevisionSpec| {
        let s = summaries(&project(), spec).unwrap();
        let pairs: Vec<_> = s
            .prompts
            .iter()
            .map(|p| (p.name.to_string(), p.version))
            .collect();
        assert_eq!(pairs, full(spec), "a listing differs from a full parse");
        s.parsed
    };
    for spec in [RevisionSpec::Worktree, RevisionSpec::Git("HEAD".into())] {
        let count = full(&spec).len();
        let first = listed(&spec);
        assert!(first == count || first == 0, "{first}");
        assert_eq!(listed(&spec), 0, "a second listing parses nothing");
    }
    repo.write(
        "prompts/docs/count.toml",
        &std::fs::read_to_string(repo.path().join("prompts/docs/count.toml"))
            .unwrap()
            .replace("Count", "Count slowly"),
    );
    assert_eq!(listed(&RevisionSpec::Worktree), 1, "only the edited prompt");
    repo.write("prompts/partials/tone.j2", "Be kind.");
    assert_eq!(
        listed(&RevisionSpec::Worktree),
        3,
        "a partial reaches every prompt"
    );
    let config = std::fs::read_to_string(repo.path().join("promptctl.toml")).unwrap();
    repo.write(
        "promptctl.toml",
        &config.replace("test-model", "other-model"),
    );
    assert_eq!(
        listed(&RevisionSpec::Worktree),
        3,
        "a new default reaches every prompt"
    );
    let git_dir = repo.path().join(".git");
    std::fs::write(git_dir.join(promptctl::source::SUMMARY_CACHE), "{not json").unwrap();
    assert_eq!(
        listed(&RevisionSpec::Worktree),
        3,
        "a damaged cache is no cache"
    );
    assert_eq!(listed(&RevisionSpec::Worktree), 0);
}

/// The working tree is read like `git status` reads it: a file whose size, times and inode
/// match the git index is the blob the index names. A file rewritten to the same size and
/// given back its old modification time is still read again: its change time moved.
#[test]
fn a_rewritten_file_with_its_old_mtime_is_still_read_again() {
    let repo = sample_repo();
    let path = repo.path().join("prompts/docs/count.toml");
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let set_mtime = |when| {
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(when)
            .unwrap();
    };
    set_mtime(old);
    repo.commit("prompts");
    let version = |repo: &TestRepo| {
        let out = repo.run(&["list", "--json"]).expect(0).stdout;
        let list: serde_json::Value = serde_json::from_str(&out).unwrap();
        list.as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "docs/count")
            .unwrap()["version"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let before = version(&repo);
    let text = std::fs::read_to_string(&path).unwrap();
    let same_size = text.replacen("Count", "Cnt!!", 1);
    assert_eq!(same_size.len(), text.len());
    std::fs::write(&path, &same_size).unwrap();
    set_mtime(old);
    let after = version(&repo);
    assert_ne!(after, before, "the rewritten file was taken from the index");
    repo.commit("rewritten");
    assert_eq!(version(&repo), after);
}

/// Outside a git repository the hint said "read the files on disk with `--at worktree`",
/// which `diff` refuses. The hint now names commands that work, and each of them does.
#[test]
fn the_hint_outside_git_names_commands_that_work_as_written() {
    let repo = sample_repo();
    std::fs::remove_dir_all(repo.path().join(".git")).unwrap();
    let run = repo.run(&["diff"]).expect(2);
    let hint = run
        .stderr
        .lines()
        .find(|l| l.starts_with("hint:"))
        .unwrap_or_else(|| panic!("{}", run.stderr))
        .to_owned();
    assert!(!hint.contains("--at worktree"), "{hint}");
    for command in ["list", "show", "render", "check"] {
        assert!(hint.contains(&format!("`{command}`")), "{hint}");
    }
    repo.run(&["list"]).expect(0);
    repo.run(&["show", "support/triage"]).expect(0);
    repo.run(&["render", "docs/count", "--var", "n=3"])
        .expect(0);
    repo.run(&["check"]).expect(0);
}

/// A checkout with CRLF line endings (what `core.autocrlf=true` gives on Windows) changed
/// every version, and `diff` showed lines removed and added again with the same text.
/// Line endings are not part of a version: the same prompts have the same versions, and
/// `diff` finds nothing.
#[test]
fn crlf_line_endings_do_not_change_versions() {
    let repo = sample_repo();
    repo.commit("prompts");
    let versions = |repo: &common::TestRepo| repo.run(&["list", "--json"]).expect(0).stdout;
    let before = versions(&repo);
    for relative in [
        "prompts/support/triage.toml",
        "prompts/support/reply.toml",
        "prompts/partials/tone.j2",
    ] {
        let path = repo.path().join(relative);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains('\r'));
        std::fs::write(&path, text.replace('\n', "\r\n")).unwrap();
    }
    assert_eq!(versions(&repo), before);
    let diff = repo.run(&["diff", "--exit-code"]).expect(0);
    assert!(diff.stdout.is_empty(), "{}", diff.stdout);
}

/// One file with an invalid name: `list` lists the good prompts, reports the bad file once
/// on stderr (it was reported twice) and exits non-zero.
#[test]
fn list_reports_a_badly_named_file_once_and_lists_the_rest() {
    let repo = sample_repo();
    let good = std::fs::read_to_string(repo.path().join("prompts/support/triage.toml")).unwrap();
    repo.write("prompts/support/Bad Name.toml", &good);
    let run = repo.run(&["list"]).expect(2);
    assert!(run.stdout.contains("support/triage"), "{}", run.stdout);
    assert_eq!(
        run.stderr
            .matches("invalid name `support/Bad Name`")
            .count(),
        1,
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("that file is not listed"),
        "{}",
        run.stderr
    );
}

/// A revision whose tree the git index holds is listed from the index (its cache-tree), not
/// by reading every folder's tree; once a change is staged, the index no longer vouches for
/// the revision, and it is read from its trees.
#[test]
fn list_at_head_is_heads_whatever_is_staged() {
    let repo = sample_repo();
    repo.commit("v1");
    let git = git2::Repository::open(repo.path()).unwrap();
    let mut index = git.index().unwrap();
    // As `git commit` leaves it: the cache-tree of HEAD's tree written with the index.
    index.write_tree().unwrap();
    index.write().unwrap();
    let head = versions(&repo, "HEAD");
    assert_eq!(head, versions(&repo, "worktree"));
    let path = repo.path().join("prompts/support/triage.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("Triage the ticket.", "Triage it.")).unwrap();
    repo.write(
        "prompts/docs/new.toml",
        "[[messages]]\nrole = \"user\"\ncontent = \"new\"\n",
    );
    index
        .add_path(std::path::Path::new("prompts/support/triage.toml"))
        .unwrap();
    index
        .add_path(std::path::Path::new("prompts/docs/new.toml"))
        .unwrap();
    index.write().unwrap();
    assert_eq!(versions(&repo, "HEAD"), head);
    let worktree = versions(&repo, "worktree");
    assert_ne!(worktree["support/triage"], head["support/triage"]);
    assert!(worktree.get("docs/new").is_some() && head.get("docs/new").is_none());
}

/// Loading a source keeps each prompt file's draft beside the repository, keyed by the
/// file's blob, its path, the defaults and the folder: a second load takes every unchanged
/// file from the cache without reading it (its git object can be gone), and every load
/// gives exactly what a parse without the cache gives, through an edited prompt, an edited
/// partial (which no draft's key covers), a new default and a damaged cache.
#[test]
fn loading_takes_unchanged_drafts_from_the_cache_and_agrees_with_a_full_parse() {
    use promptctl::source::{DRAFT_CACHE, RevisionSpec};
    let repo = sample_repo();
    repo.write(
        "prompts/support/route.toml",
        r#"description = "Route with a contract"
tool_choice = "auto"

[params]
temperature = 0.7

[variables.ticket]
type = "string"
required = true
description = "The ticket's text"

[[messages]]
role = "user"
content = '''{{ ticket }} {% include "partials/tone.j2" %}'''

[output]
strict = true
schema = { type = "object", additionalProperties = false, required = ["queue"], properties = { queue = { type = "string", enum = ["billing", "tech"] } } }

[[tools]]
name = "lookup"
description = "Find an order."
parameters = { type = "object", properties = { id = { type = "string" } } }
"#,
    );
    // A second prompt writes the same schemas: the cache keeps one copy of each.
    repo.write(
        "prompts/support/reroute.toml",
        &std::fs::read_to_string(repo.path().join("prompts/support/route.toml")).unwrap(),
    );
    repo.commit("prompts");
    let project = || promptctl::project::Project::discover(repo.path()).unwrap();
    let shown = |set: &promptctl::source::PromptSet| {
        set.entries()
            .map(|(name, parsed)| format!("{name}: {parsed:?}"))
            .collect::<Vec<_>>()
    };
    let cache = repo.path().join(".git").join(DRAFT_CACHE);
    let agrees = |spec: &RevisionSpec| {
        let loaded = shown(&promptctl::source::load(&project(), spec).unwrap());
        let snapshot = promptctl::source::read_snapshot(&project(), spec).unwrap();
        let parsed = shown(&promptctl::source::PromptSet::from_snapshot(snapshot));
        assert_eq!(
            loaded, parsed,
            "a load differs from a parse without the cache"
        );
        assert!(loaded.iter().all(|p| !p.contains(": Err(")), "{loaded:#?}");
        loaded
    };
    let spec = RevisionSpec::Worktree;
    let first = agrees(&spec);
    assert!(cache.is_file(), "the first load keeps the drafts");
    let kept = std::fs::read_to_string(&cache).unwrap();
    assert_eq!(kept.matches(r#"["billing","tech"]"#).count(), 1, "{kept}");
    assert_eq!(agrees(&spec), first, "a second load, from the cache");
    assert_eq!(agrees(&RevisionSpec::Git("HEAD".into())), first);

    // The route prompt's blob is gone from the object store: only the cache can give it.
    let blob = git2::Repository::open(repo.path())
        .unwrap()
        .revparse_single("HEAD:prompts/support/route.toml")
        .unwrap()
        .id()
        .to_string();
    let object = repo
        .path()
        .join(".git/objects")
        .join(&blob[..2])
        .join(&blob[2..]);
    std::fs::remove_file(&object).unwrap();
    let loaded = shown(&promptctl::source::load(&project(), &spec).unwrap());
    assert_eq!(loaded, first, "an unchanged file is not read");

    repo.write("prompts/partials/tone.j2", "Be kind.");
    let edited = agrees(&spec);
    assert_ne!(
        edited, first,
        "a partial's edit reaches the prompts that include it"
    );
    let config = std::fs::read_to_string(repo.path().join("promptctl.toml")).unwrap();
    repo.write(
        "promptctl.toml",
        &config.replace("test-model", "other-model"),
    );
    assert_ne!(agrees(&spec), edited, "a new default reaches every draft");

    // Every line's value damaged, the keys (and so their order) kept.
    let text = std::fs::read_to_string(&cache).unwrap();
    let mut lines = text.lines();
    let mut damaged = format!("{}\n", lines.next().unwrap());
    for line in lines {
        damaged.push_str(line.split('\t').next().unwrap());
        damaged.push_str("\t{not json\n");
    }
    let count = |text: &str| text.matches("{not json").count();
    let before = count(&damaged);
    std::fs::write(&cache, &damaged).unwrap();
    agrees(&spec);
    let after = count(&std::fs::read_to_string(&cache).unwrap());
    // The five prompts' lines are replaced, and the lines of the two schemas the route
    // prompts share (kept by their text, whatever the defaults); those of earlier defaults
    // were not looked up.
    assert_eq!(after, before - 7, "the damaged lines looked up are dropped");
    std::fs::write(&cache, "not a cache").unwrap();
    agrees(&spec);
}
