//! Release actions, reads and bucketing, driven through the binary against real git
//! repositories.

mod common;

use std::collections::BTreeSet;

use common::{TestRepo, sample_repo};
use serde_json::Value;

fn committed() -> TestRepo {
    let repo = sample_repo();
    repo.commit("prompts");
    repo
}

fn json(repo: &TestRepo, args: &[&str]) -> Value {
    let mut full = args.to_vec();
    full.push("--json");
    let run = repo.run(&full).expect(0);
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

fn edit(repo: &TestRepo, relative: &str, from: &str, to: &str) {
    let path = repo.path().join(relative);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{relative} does not contain {from:?}");
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

/// Commits a new version of `support/triage` and returns its full version.
fn new_triage_version(repo: &TestRepo, marker: &str) -> String {
    edit(
        repo,
        "prompts/support/triage.toml",
        "Triage the ticket.",
        &format!("Triage the ticket. {marker}"),
    );
    repo.commit(marker);
    version_at(repo, "HEAD", "support/triage")
}

fn version_at(repo: &TestRepo, at: &str, name: &str) -> String {
    json(repo, &["show", name, "--at", at])["version"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The commit `promptctl/production` points to.
fn release_tip(git: &git2::Repository) -> git2::Commit<'_> {
    git.find_reference("refs/heads/promptctl/production")
        .unwrap()
        .peel_to_commit()
        .unwrap()
}

/// Reads a file of the tip of `promptctl/production`.
fn release_file(repo: &TestRepo, path: &str) -> Vec<u8> {
    let git = git2::Repository::open(repo.path()).unwrap();
    let commit = release_tip(&git);
    let blob = commit
        .tree()
        .unwrap()
        .get_path(std::path::Path::new(path))
        .unwrap()
        .to_object(&git)
        .unwrap()
        .peel_to_blob()
        .unwrap();
    blob.content().to_vec()
}

fn state(repo: &TestRepo) -> String {
    String::from_utf8(release_file(repo, "state.toml")).unwrap()
}

fn release_commits(repo: &TestRepo, env: &str) -> usize {
    let git = git2::Repository::open(repo.path()).unwrap();
    let mut walk = git.revwalk().unwrap();
    walk.push_ref(&format!("refs/heads/promptctl/{env}"))
        .unwrap();
    walk.count()
}

fn pointers(repo: &TestRepo, name: &str) -> Value {
    let status = json(repo, &["status", name]);
    status["prompts"][0].clone()
}

#[test]
fn publish_writes_state_objects_and_a_commit_with_trailers() {
    let repo = committed();
    let run = repo
        .run(&["publish", "--reason", "first release"])
        .expect(0);
    assert!(
        run.stdout.starts_with("publish 3 prompts"),
        "{}",
        run.stdout
    );
    let triage = version_at(&repo, "HEAD", "support/triage");
    let text = state(&repo);
    assert!(
        text.contains(&format!(
            "[prompts.\"support/triage\"]\nactive = \"{triage}\"\n"
        )),
        "{text}"
    );
    // The object is the canonical JSON, byte for byte.
    let git = git2::Repository::open(repo.path()).unwrap();
    let tip = release_tip(&git);
    let hex = triage.trim_start_matches("sha256:");
    let object = release_file(&repo, &format!("objects/{}/{}.json", &hex[..2], &hex[2..]));
    let canonical = repo
        .run(&["show", "support/triage", "--canonical"])
        .expect(0)
        .stdout;
    assert_eq!(object, canonical.as_bytes());
    assert!(tip.parents().next().is_none(), "an orphan branch");
    let message = tip.message().unwrap();
    assert!(message.contains("Promptctl-Action: publish\n"), "{message}");
    assert!(message.contains(&format!("Promptctl-Version: {triage}\n")));
    assert!(message.contains("Promptctl-Reason: first release\n"));
    let head = git
        .head()
        .unwrap()
        .peel_to_commit()
        .unwrap()
        .id()
        .to_string();
    assert!(message.contains(&format!("Promptctl-Source: {head}\n")));
    assert_eq!(tip.author().name().ok(), Some("Release Tester"));
    // Nothing new: no commit.
    let run = repo.run(&["publish"]).expect(0);
    assert!(run.stdout.contains("nothing changed"), "{}", run.stdout);
    assert!(run.stdout.contains("already active"), "{}", run.stdout);
    assert_eq!(release_commits(&repo, "production"), 1);
}

#[test]
fn the_actor_comes_from_promptctl_actor_or_git_and_is_required() {
    let repo = committed();
    repo.run_with(
        repo.path(),
        &["publish", "docs/count"],
        &[("PROMPTCTL_ACTOR", "CI Bot <ci@example.com>")],
    )
    .expect(0);
    let log = json(&repo, &["log"]);
    assert_eq!(log[0]["author"], "CI Bot <ci@example.com>");
    let git = git2::Repository::open(repo.path()).unwrap();
    let mut config = git.config().unwrap();
    config.remove("user.name").unwrap();
    config.remove("user.email").unwrap();
    let run = repo.run(&["publish"]).expect(2);
    assert!(run.stderr.contains("no identity"), "{}", run.stderr);
    assert!(run.stderr.contains("PROMPTCTL_ACTOR"), "{}", run.stderr);
}

#[test]
fn canary_refusals_say_what_to_do_instead() {
    let repo = committed();
    let run = repo.run(&["canary", "support/triage", "10%"]).expect(2);
    assert!(run.stderr.contains("no active version"), "{}", run.stderr);
    assert!(run.stderr.contains("promptctl publish support/triage"));
    let run = repo.run(&["canary", "10%"]).expect(2);
    assert!(run.stderr.contains("publish first"), "{}", run.stderr);
    repo.run(&["publish"]).expect(0);
    let run = repo.run(&["canary", "10%"]).expect(2);
    assert!(
        run.stderr.contains("nothing new to roll out"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("commit a change"), "{}", run.stderr);
    let run = repo.run(&["canary", "support/triage", "10%"]).expect(2);
    assert!(run.stderr.contains("already active"), "{}", run.stderr);
    for (weight, hint) in [
        ("100%", "promote"),
        ("0%", "revert"),
        ("0.001%", "steps of 0.01%"),
        ("ten", "not a percentage"),
    ] {
        let run = repo.run(&["canary", "support/triage", weight]).expect(2);
        assert!(run.stderr.contains(hint), "{weight}: {}", run.stderr);
    }
    let run = repo.run(&["promote"]).expect(2);
    assert!(
        run.stderr.contains("no canary is in flight"),
        "{}",
        run.stderr
    );
    assert_eq!(release_commits(&repo, "production"), 1);
}

#[test]
fn a_ten_percent_canary_gets_a_tenth_of_keys_exactly_as_the_vectors_say() {
    let repo = committed();
    repo.run(&["publish"]).expect(0);
    let active = version_at(&repo, "HEAD", "support/triage");
    let canary = new_triage_version(&repo, "v2");
    repo.run(&["canary", "10%"]).expect(0);
    // 10,000 keys, plus every key of the published vectors for this prompt.
    let vectors = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/bucketing-vectors.csv"),
    )
    .unwrap();
    let vector_rows: Vec<(String, u32)> = vectors
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split(',');
            let (name, key, bucket) = (f.next()?, f.next()?, f.next()?);
            (name == "support/triage" && !key.is_empty())
                .then(|| (key.to_owned(), bucket.parse().unwrap()))
        })
        .collect();
    let mut keys: Vec<String> = (0..10_000).map(|i| format!("user-{i}")).collect();
    keys.extend(vector_rows.iter().map(|(k, _)| k.clone()));
    repo.write("keys.txt", &keys.join("\n"));
    let run = repo
        .run(&[
            "resolve",
            "support/triage",
            "--keys-file",
            "keys.txt",
            "--json",
        ])
        .expect(0);
    let lines: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), keys.len());
    let on_canary = lines[..10_000]
        .iter()
        .filter(|l| l["track"] == "canary")
        .count();
    assert!(
        (900..=1100).contains(&on_canary),
        "{on_canary} of 10000 keys on the canary"
    );
    for line in &lines {
        let bucket = line["bucket"].as_u64().unwrap();
        let expected = if bucket < 1000 { &canary } else { &active };
        assert_eq!(line["version"].as_str().unwrap(), expected, "{line}");
        assert_eq!(line["track"] == "canary", bucket < 1000);
    }
    for ((key, bucket), line) in vector_rows.iter().zip(&lines[10_000..]) {
        assert_eq!(line["key"], key.as_str());
        assert_eq!(line["bucket"], *bucket, "vector key {key}");
    }
}

fn canary_keys(repo: &TestRepo, name: &str, count: usize) -> BTreeSet<String> {
    let keys: Vec<String> = (0..count).map(|i| format!("k{i}")).collect();
    repo.write("keys.txt", &keys.join("\n"));
    let run = repo
        .run(&["resolve", name, "--keys-file", "keys.txt", "--json"])
        .expect(0);
    run.stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["track"] == "canary")
        .map(|l| l["key"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn raising_the_weight_keeps_every_canary_key_and_prompts_bucket_independently() {
    let repo = committed();
    repo.run(&["publish"]).expect(0);
    edit(&repo, "prompts/support/triage.toml", "Triage", "Sort");
    edit(&repo, "prompts/support/reply.toml", "Reply.", "Answer.");
    repo.commit("both");
    repo.run(&["canary", "5%"]).expect(0);
    let at_five = canary_keys(&repo, "support/triage", 4000);
    let run = repo.run(&["canary", "support/triage", "25%"]).expect(0);
    assert!(run.stdout.contains("at 25%"), "{}", run.stdout);
    let at_twenty_five = canary_keys(&repo, "support/triage", 4000);
    assert!(at_five.is_subset(&at_twenty_five));
    assert!(
        at_twenty_five.len() > at_five.len() * 3,
        "{} vs {}",
        at_twenty_five.len(),
        at_five.len()
    );
    // The other prompt stayed at 5%, with its own keys.
    repo.run(&["canary", "support/reply", "25%"]).expect(0);
    let reply = canary_keys(&repo, "support/reply", 4000);
    let overlap = reply.intersection(&at_twenty_five).count();
    // Independent halves of 25% overlap in about 6.25% of keys, not 25%.
    assert!(
        (150..400).contains(&overlap),
        "{overlap} keys on both canaries"
    );
}

#[test]
fn promote_and_revert_walk_back_and_never_forth() {
    let repo = committed();
    repo.run(&["publish", "support/triage"]).expect(0);
    let v1 = version_at(&repo, "HEAD", "support/triage");
    let v2 = new_triage_version(&repo, "v2");
    repo.run(&["publish", "support/triage"]).expect(0);
    let v3 = new_triage_version(&repo, "v3");
    repo.run(&["canary", "support/triage", "10%"]).expect(0);
    assert_eq!(pointers(&repo, "support/triage")["canary"], v3.as_str());
    // A canary in flight is dropped first.
    let run = repo.run(&["revert", "support/triage"]).expect(0);
    assert!(run.stdout.contains("drop canary"), "{}", run.stdout);
    let p = pointers(&repo, "support/triage");
    assert_eq!(p["active"], v2.as_str());
    assert_eq!(p["canary"], Value::Null);
    repo.run(&["canary", "support/triage", "50%"]).expect(0);
    repo.run(&["promote"]).expect(0);
    assert_eq!(pointers(&repo, "support/triage")["active"], v3.as_str());
    // Without names: undo the most recent action (the promote), then further back.
    repo.run(&["revert"]).expect(0);
    assert_eq!(pointers(&repo, "support/triage")["active"], v2.as_str());
    repo.run(&["revert", "support/triage"]).expect(0);
    assert_eq!(pointers(&repo, "support/triage")["active"], v1.as_str());
    let run = repo.run(&["revert", "support/triage"]).expect(2);
    assert!(run.stderr.contains("no earlier version"), "{}", run.stderr);
    // Back to a stored version by prefix.
    let prefix = &v3[..15];
    repo.run(&["revert", "support/triage", "--to", prefix])
        .expect(0);
    assert_eq!(pointers(&repo, "support/triage")["active"], v3.as_str());
    let log = json(&repo, &["log", "support/triage"]);
    let actions: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "revert", "revert", "revert", "promote", "canary", "revert", "canary", "publish",
            "publish"
        ]
    );
}

#[test]
fn release_pointers_and_stored_versions_are_revision_specs() {
    let repo = committed();
    repo.run(&["publish"]).expect(0);
    let v1 = version_at(&repo, "HEAD", "support/triage");
    let v2 = new_triage_version(&repo, "v2");
    repo.run(&["canary", "support/triage", "10%"]).expect(0);
    assert_eq!(version_at(&repo, "active", "support/triage"), v1);
    assert_eq!(version_at(&repo, "canary", "support/triage"), v2);
    assert_eq!(version_at(&repo, "active@production", "support/triage"), v1);
    // `canary` is the active version where no canary is in flight.
    assert_eq!(
        version_at(&repo, "canary", "docs/count"),
        version_at(&repo, "active", "docs/count")
    );
    assert_eq!(version_at(&repo, &v2[..14], "support/triage"), v2);
    let rendered = json(
        &repo,
        &[
            "render",
            "support/triage",
            "--at",
            "canary",
            "--var",
            "ticket=hi",
        ],
    );
    assert!(
        rendered["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("v2")
    );
    let run = repo
        .run(&["diff", "active", "canary", "--name-only"])
        .expect(0);
    assert_eq!(run.stdout, "support/triage\n");
    let run = repo.run(&["diff", "--name-only"]).expect(0);
    assert_eq!(
        run.stdout, "support/triage\n",
        "active against the working tree"
    );
    let listed = json(&repo, &["list", "--at", "active"]);
    assert_eq!(listed.as_array().unwrap().len(), 3);
    let run = repo
        .run(&["show", "support/triage", "--at", "sha256:0000000"])
        .expect(2);
    assert!(
        run.stderr.contains("no version starting with"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_version_moves_from_staging_to_production() {
    let repo = committed();
    repo.write(
        "promptctl.toml",
        "[defaults]\nmodel = \"test-model\"\n\n[environments.staging]\n",
    );
    repo.commit("staging");
    repo.run(&["publish", "--env", "staging"]).expect(0);
    let staged = new_triage_version(&repo, "v2");
    repo.run(&["publish", "support/triage", "--env", "staging"])
        .expect(0);
    assert_eq!(release_commits(&repo, "staging"), 2);
    let run = repo.run(&["status"]).expect(0);
    assert!(
        run.stdout.contains("nothing released yet"),
        "{}",
        run.stdout
    );
    repo.run(&["publish", "support/triage", "--version", "active@staging"])
        .expect(0);
    assert_eq!(version_at(&repo, "active", "support/triage"), staged);
    let log = json(&repo, &["log"]);
    assert!(
        log[0]["source"].as_str().unwrap().len() == 40,
        "the staging release commit is recorded: {}",
        log[0]
    );
    let run = repo.run(&["status", "--env", "qa"]).expect(2);
    assert!(
        run.stderr.contains("unknown environment `qa`"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("[environments.qa]"), "{}", run.stderr);
}

#[test]
fn status_shows_pointers_and_how_head_and_the_worktree_relate() {
    let repo = committed();
    repo.run(&["publish"]).expect(0);
    new_triage_version(&repo, "v2");
    repo.run(&["canary", "support/triage", "12.5%"]).expect(0);
    edit(&repo, "prompts/docs/count.toml", "Count to", "Count up to");
    let run = repo.run(&["status"]).expect(0);
    let text = run.stdout.lines().skip(1).collect::<Vec<_>>().join("\n");
    let redacted: String = text
        .split_whitespace()
        .map(|w| {
            if w.len() == 12 && w.chars().all(|c| c.is_ascii_hexdigit()) {
                "<version>"
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(
        redacted,
        "NAME ACTIVE CANARY HEAD WORKTREE docs/count <version> - active new support/reply <version> - active active support/triage <version> <version> 12.5% canary canary"
    );
    let status = json(&repo, &["status"]);
    assert_eq!(status["prompts"][2]["canary_weight"], 12.5);
    assert_eq!(status["prompts"][2]["previous"], 0);
}

/// How a prompt's HEAD and working tree relate to its pointers, in `status --json`.
fn relations(status: &Value, name: &str) -> (Value, Value) {
    let prompt = status["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{name} in {status}"))
        .clone();
    (prompt["head"].clone(), prompt["worktree"].clone())
}

#[test]
fn status_tells_a_broken_working_tree_file_from_an_absent_one_by_name_or_not() {
    let repo = committed();
    repo.run(&["publish"]).expect(0);
    edit(
        &repo,
        "prompts/docs/count.toml",
        "[[messages]]",
        "[[messages]\nbroken",
    );
    std::fs::remove_file(repo.path().join("prompts/support/reply.toml")).unwrap();
    // Every prompt (versions from the summaries) and named prompts (parsed alone) agree.
    let all = json(&repo, &["status"]);
    let named = json(&repo, &["status", "docs/count", "support/reply"]);
    for status in [&all, &named] {
        assert_eq!(
            relations(status, "docs/count"),
            ("active".into(), "broken".into())
        );
        assert_eq!(
            relations(status, "support/reply"),
            ("active".into(), "absent".into())
        );
    }
}

/// Named prompts are read alone, with only the partials they reach, and not by a walk of
/// the folder: nested partials, a missing one and one behind a symbolic link to a folder
/// outside the project must come out as the whole listing has them.
#[cfg(unix)]
#[test]
fn status_of_named_prompts_follows_their_partials_as_the_whole_listing_does() {
    let repo = committed();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("evil.j2"), "outside").unwrap();
    std::os::unix::fs::symlink(outside.path(), repo.path().join("prompts/linked")).unwrap();
    let including = |name: &str| {
        format!("[[messages]]\nrole = \"user\"\ncontent = \"{{% include \\\"{name}\\\" %}}\"\n")
    };
    repo.write(
        "prompts/partials/outer.j2",
        "Outer {% include \"partials/inner.j2\" %}",
    )
    .write("prompts/partials/inner.j2", "Inner")
    .write("prompts/docs/nested.toml", &including("partials/outer.j2"))
    .write(
        "prompts/docs/missing.toml",
        &including("partials/nowhere.j2"),
    )
    .write("prompts/docs/escape.toml", &including("linked/evil.j2"));
    repo.commit("partials");
    repo.run(&["publish", "docs/nested"]).expect(0);
    edit(&repo, "prompts/partials/inner.j2", "Inner", "Inner, edited");
    let names = [
        "docs/nested",
        "docs/missing",
        "docs/escape",
        "support/triage",
    ];
    let all = json(&repo, &["status"]);
    let mut args = vec!["status"];
    args.extend(names);
    let named = json(&repo, &args);
    let expected = [
        ("docs/nested", ("active", "new")),
        ("docs/missing", ("broken", "broken")),
        ("docs/escape", ("broken", "broken")),
        ("support/triage", ("new", "new")),
    ];
    for status in [&all, &named] {
        for (name, (head, worktree)) in expected {
            assert_eq!(
                relations(status, name),
                (head.into(), worktree.into()),
                "{name} in {status}"
            );
        }
    }
}

#[test]
fn a_hand_edited_state_is_reported_with_commit_and_field() {
    let repo = committed();
    repo.run(&["publish"]).expect(0);
    // Edit state.toml on the branch by hand, as plain git would.
    let git = git2::Repository::open(repo.path()).unwrap();
    let tip = release_tip(&git);
    let bad = state(&repo).replacen("active = ", "canary_weight = 150.0\nactive = ", 1);
    let blob = git.blob(bad.as_bytes()).unwrap();
    let mut update = git2::build::TreeUpdateBuilder::new();
    update.upsert("state.toml", blob, git2::FileMode::Blob);
    let tree = git
        .find_tree(update.create_updated(&git, &tip.tree().unwrap()).unwrap())
        .unwrap();
    let sig = git.signature().unwrap();
    let commit = git
        .commit(None, &sig, &sig, "hand edit", &tree, &[&tip])
        .unwrap();
    git.reference("refs/heads/promptctl/production", commit, true, "edit")
        .unwrap();
    let short = &commit.to_string()[..7];
    for args in [
        &["status"][..],
        &["resolve", "docs/count", "--key", "k"],
        &["canary", "5%"],
    ] {
        let run = repo.run(args).expect(2);
        assert!(
            run.stderr
                .contains(&format!("promptctl/production@{short}:state.toml:")),
            "{args:?}: {}",
            run.stderr
        );
        assert!(run.stderr.contains("canary_weight"), "{}", run.stderr);
    }
    // Reverting with plain git restores a good state.
    git.reference("refs/heads/promptctl/production", tip.id(), true, "undo")
        .unwrap();
    repo.run(&["status"]).expect(0);
}

#[test]
fn log_lists_actions_newest_first_with_reasons() {
    let repo = committed();
    repo.run(&["publish", "docs/count", "--reason", "first"])
        .expect(0);
    repo.run(&["publish", "support/triage"]).expect(0);
    let run = repo.run(&["log"]).expect(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    assert!(lines[0].ends_with(&format!(
        "publish support/triage {}",
        &version_at(&repo, "HEAD", "support/triage")[7..19]
    )));
    assert!(lines[2].trim() == "reason: first", "{}", run.stdout);
    assert_eq!(
        json(&repo, &["log", "docs/count"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        json(&repo, &["log", "-n", "1"]).as_array().unwrap().len(),
        1
    );
}

#[test]
fn resolve_without_a_key_draws_one_and_unknown_prompts_are_refused() {
    let repo = committed();
    repo.run(&["publish"]).expect(0);
    let run = repo.run(&["resolve", "docs/count", "--json"]).expect(0);
    let line: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(line["key"], Value::Null);
    assert_eq!(line["track"], "active");
    let run = repo.run(&["resolve", "docs/nope", "--key", "k"]).expect(2);
    assert!(run.stderr.contains("not released"), "{}", run.stderr);
}

#[test]
fn the_release_flow_reads_well() {
    let repo = committed();
    let mut transcript = String::new();
    let mut step = |args: &[&str], code: i32| {
        let run = repo.run(args).expect(code);
        transcript.push_str(&format!(
            "$ promptctl {}\n{}{}",
            args.join(" "),
            run.stdout,
            run.stderr
        ));
    };
    step(&["publish", "--reason", "first release"], 0);
    edit(
        &repo,
        "prompts/support/triage.toml",
        "Triage the ticket.",
        "Triage the ticket carefully.",
    );
    repo.commit("careful");
    step(&["canary", "10%"], 0);
    step(&["status"], 0);
    step(
        &[
            "resolve",
            "support/triage",
            "--key",
            "user-42",
            "--key",
            "user-7",
        ],
        0,
    );
    step(&["canary", "support/triage", "100%"], 2);
    step(&["promote"], 0);
    step(&["revert"], 0);
    step(&["revert"], 2);
    // Commands run at a fixed time (`PROMPTCTL_NOW`), so release commit ids are stable.
    insta::assert_snapshot!(transcript);
}

/// Release commits take their time from the one clock, which `PROMPTCTL_NOW` sets; a value
/// that is not a time is refused before anything is written.
#[test]
fn release_commits_take_their_time_from_promptctl_now() {
    let repo = committed();
    repo.run(&["publish"]).expect(0);
    let log = json(&repo, &["log", "-n", "1"]);
    assert_eq!(log[0]["time"], common::TEST_NOW, "{log}");
    let refused = repo
        .command(repo.path(), &["publish"])
        .env("PROMPTCTL_NOW", "yesterday")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("PROMPTCTL_NOW"), "{stderr}");
    assert_eq!(json(&repo, &["log"]).as_array().unwrap().len(), 1);
}

/// A `--keys-file` line holds at most 1,024 bytes, the one bound of a key (OFREP's too): a
/// file with no line end (`/dev/zero` reached 4.2 GB) is refused at that line, and a key at
/// the limit still resolves; an empty key is refused, as OFREP refuses it.
#[test]
fn a_keys_file_line_is_bounded() {
    let repo = committed();
    repo.run(&["publish"]).expect(0);
    repo.write("keys.txt", &format!("user-1\r\n{}\n", "k".repeat(1024)));
    let ok = repo
        .run(&[
            "resolve",
            "support/triage",
            "--keys-file",
            "keys.txt",
            "--json",
        ])
        .expect(0);
    assert_eq!(ok.stdout.lines().count(), 2, "{}", ok.stdout);
    let refused = repo
        .run(&["resolve", "support/triage", "--keys-file", "/dev/zero"])
        .expect(2);
    assert!(
        refused
            .stderr
            .contains("line 1: a key is at most 1024 bytes"),
        "{}",
        refused.stderr
    );
    let empty = repo
        .run(&["resolve", "support/triage", "--key", ""])
        .expect(2);
    assert!(
        empty.stderr.contains("a key is not empty"),
        "{}",
        empty.stderr
    );
}

/// A canary whose template does not compile was accepted (exit 0) although `check` and
/// `render` refuse it, and then took down every server and client of the environment.
/// `publish` and `canary` now refuse it with the file and line, and nothing is written.
#[test]
fn a_version_that_does_not_compile_is_refused_by_every_action() {
    let repo = committed();
    repo.run(&["publish"]).expect(0);
    let before = release_commits(&repo, "production");
    edit(
        &repo,
        "prompts/support/triage.toml",
        "{{ ticket }}",
        "{{ ticket ",
    );
    repo.commit("broken");
    repo.run(&["check"]).expect(1);
    for args in [
        &["canary", "support/triage", "10%"][..],
        &["publish", "support/triage"],
        &["publish"],
    ] {
        let run = repo.run(args).expect(2);
        assert!(
            run.stderr.contains("prompts/support/triage.toml:"),
            "{args:?} names the file and line: {}",
            run.stderr
        );
        assert!(run.stderr.contains("template"), "{args:?}: {}", run.stderr);
    }
    assert_eq!(release_commits(&repo, "production"), before);
}

/// `status --json` and `log --json` left out keys that had no value (`weight`, `reason`,
/// `source`, `canary_route`), so a script had to guess between absent and unknown. Every
/// key is always there, null when it has no value.
#[test]
fn json_output_keeps_every_key_with_null() {
    let repo = committed();
    repo.run(&["publish"]).expect(0);
    let log = json(&repo, &["log"]);
    for key in ["weight", "reason", "source"] {
        assert!(log[0].get(key).is_some(), "log lacks `{key}`: {log}");
    }
    assert!(
        log[0]["weight"].is_null() && log[0]["reason"].is_null(),
        "{log}"
    );
    let status = json(&repo, &["status"]);
    for key in [
        "canary",
        "canary_weight",
        "canary_route",
        "canary_cohorts",
        "rollout",
    ] {
        assert!(
            status["prompts"][0].get(key).is_some(),
            "status lacks `{key}`: {status}"
        );
    }
}

/// From a stale checkout, `canary NAME 5%` put a version that had been active before on
/// canary without a word, and `--version worktree` sent uncommitted text to production.
/// The first is refused without --force, the second without --allow-dirty.
#[test]
fn release_foot_guns_are_refused_without_their_flag() {
    let repo = committed();
    repo.run(&["publish"]).expect(0);
    let v1 = version_at(&repo, "HEAD", "support/triage");
    new_triage_version(&repo, "v2");
    repo.run(&["publish", "support/triage"]).expect(0);
    // v1 was active before v2: a canary of it (from an old checkout) goes back.
    let run = repo
        .run(&["canary", "support/triage", "5%", "--version", "HEAD~1"])
        .expect(2);
    assert!(
        run.stderr.contains("was active in `production` before"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--force"), "{}", run.stderr);
    let forced = json(
        &repo,
        &[
            "canary",
            "support/triage",
            "5%",
            "--version",
            "HEAD~1",
            "--force",
        ],
    );
    assert_eq!(
        forced["changes"][0]["after"]["canary"]["version"],
        v1.as_str()
    );
    repo.run(&["revert", "support/triage"]).expect(0);
    // The working tree is never released by accident.
    edit(
        &repo,
        "prompts/support/triage.toml",
        "Triage",
        "Uncommitted triage",
    );
    for args in [
        &["publish", "support/triage", "--version", "worktree"][..],
        &["canary", "support/triage", "5%", "--version", "worktree"],
    ] {
        let run = repo.run(args).expect(2);
        assert!(
            run.stderr.contains("no commit holds"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains("--allow-dirty"),
            "{args:?}: {}",
            run.stderr
        );
    }
    repo.run(&[
        "canary",
        "support/triage",
        "5%",
        "--version",
        "worktree",
        "--allow-dirty",
    ])
    .expect(0);
}

/// `log --oneline`: one line per action, the short commit and the summary.
#[test]
fn log_oneline_is_one_line_per_action() {
    let repo = committed();
    repo.run(&["publish", "--reason", "first"]).expect(0);
    new_triage_version(&repo, "v2");
    repo.run(&["canary", "support/triage", "5%"]).expect(0);
    let run = repo.run(&["log", "--oneline"]).expect(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert!(lines[0].contains("canary support/triage"), "{}", run.stdout);
    assert!(lines[1].contains("publish 3 prompts"), "{}", run.stdout);
    assert!(!run.stdout.contains("reason"), "{}", run.stdout);
}

#[test]
fn two_prompts_with_the_same_text_publish_together() {
    // Seen: two prompts with the same text share a version, and publishing both at once
    // failed with libgit2's "duplicate entries given for update".
    let repo = committed();
    let text = std::fs::read_to_string(repo.path().join("prompts/support/triage.toml")).unwrap();
    repo.write("prompts/support/triage-copy.toml", &text);
    repo.commit("a copy");
    repo.run(&["publish"]).expect(0);
    assert_eq!(
        pointers(&repo, "support/triage")["active"],
        pointers(&repo, "support/triage-copy")["active"]
    );
}

/// A server's swap reads the release history back only to the commit its last snapshot
/// knew, and stops there without reading it: that commit is often a publish of thousands of
/// prompts, whose message (1.27 MB at 10,000) was read and parsed only to find its id. Here
/// the known commit's object is removed: the history must still be read.
#[test]
fn the_history_walk_stops_at_the_known_commit_without_reading_it() {
    let repo = committed();
    repo.run(&["publish"]).expect(0);
    let git = git2::Repository::open(repo.path()).unwrap();
    let known = release_tip(&git).id();
    new_triage_version(&repo, "canary one");
    repo.run(&["canary", "support/triage", "10%"]).expect(0);
    let tip = release_tip(&git).id();
    assert_ne!(tip, known);
    let hex = known.to_string();
    let object = repo
        .path()
        .join(".git/objects")
        .join(&hex[..2])
        .join(&hex[2..]);
    std::fs::remove_file(&object).expect("the known commit is a loose object");
    let store = promptctl::store::Store::open_repo(
        git2::Repository::open(repo.path()).unwrap(),
        "production",
        "prompts",
    );
    let (entries, met) =
        promptctl::release::history_from(&store, tip, None, 20, Some(&hex)).unwrap();
    assert!(met, "the walk meets the known commit");
    assert_eq!(
        entries.iter().map(|e| e.commit.clone()).collect::<Vec<_>>(),
        vec![tip.to_string()]
    );
}
