//! Faults of the release state: concurrent writers, killed processes, remotes with unseen
//! history, unreachable remotes. Real processes, real repositories, a real bare remote.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{TestRepo, sample_repo};
use serde_json::Value;

fn published() -> TestRepo {
    let repo = sample_repo();
    repo.commit("prompts");
    repo.run(&["publish"]).expect(0);
    let path = repo.path().join("prompts/support/triage.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("Triage the ticket.", "Triage it.")).unwrap();
    repo.commit("v2");
    repo
}

fn release_commits(repo: &TestRepo) -> usize {
    let git = git2::Repository::open(repo.path()).unwrap();
    let mut walk = git.revwalk().unwrap();
    walk.push_ref("refs/heads/promptctl/production").unwrap();
    walk.count()
}

fn tip(path: &std::path::Path, reference: &str) -> Option<git2::Oid> {
    git2::Repository::open(path)
        .unwrap()
        .refname_to_id(reference)
        .ok()
}

fn fsck(path: &std::path::Path) {
    let output = std::process::Command::new("git")
        .args(["fsck", "--strict"])
        .current_dir(path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "git fsck failed: {stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
}

/// Four processes each run fifteen canary re-weights on one prompt at the same time. Every
/// action is a distinct weight, so every one must land: exactly 60 new commits, each
/// parented on the one before, and a state that reads back.
#[test]
fn concurrent_writers_lose_no_update_and_apply_none_twice() {
    let repo = published();
    repo.run(&["canary", "support/triage", "0.5%"]).expect(0);
    let before = release_commits(&repo);
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let commands: Vec<_> = (0..15)
                .map(|i| {
                    let weight = format!("{}%", worker * 15 + i + 1);
                    repo.command(repo.path(), &["canary", "support/triage", &weight])
                })
                .collect();
            std::thread::spawn(move || {
                for mut command in commands {
                    let output = command.output().unwrap();
                    assert!(
                        output.status.success(),
                        "{}",
                        String::from_utf8_lossy(&output.stderr)
                    );
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    assert_eq!(release_commits(&repo), before + 60);
    let log = repo.run(&["log", "-n", "100", "--json"]).expect(0);
    let entries: Vec<Value> = serde_json::from_str(&log.stdout).unwrap();
    let mut weights: Vec<f64> = entries[..60]
        .iter()
        .map(|e| e["weight"].as_f64().unwrap())
        .collect();
    weights.sort_by(f64::total_cmp);
    let expected: Vec<f64> = (1..=60).map(f64::from).collect();
    assert_eq!(weights, expected, "each weight applied exactly once");
    repo.run(&["status"]).expect(0);
    fsck(repo.path());
}

/// Actions killed with SIGKILL at any moment leave the branch at an old or a new state:
/// git fsck stays clean, the state reads, and the next action succeeds.
#[test]
fn killed_actions_leave_a_valid_state() {
    let repo = published();
    repo.run(&["canary", "support/triage", "1%"]).expect(0);
    for round in 0..20u64 {
        let weight = format!("{}%", round + 2);
        let mut child = repo
            .command(repo.path(), &["canary", "support/triage", &weight])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Spread the kills over the life of the process, from start-up to the ref update.
        std::thread::sleep(Duration::from_micros(500 + round * 700));
        let _ = child.kill();
        let _ = child.wait();
        repo.run(&["status"]).expect(0);
    }
    fsck(repo.path());
    // A kill between git taking the ref's lock file and renaming it leaves the file; the
    // next action must clear it and go through, not fail on it forever.
    let run = repo.run(&["canary", "support/triage", "50%"]).expect(0);
    assert!(run.stdout.contains("at 50%"), "{}", run.stdout);
    let lock = repo
        .path()
        .join(".git/refs/heads/promptctl/production.lock");
    assert!(!lock.exists(), "no lock left behind after the next action");
    repo.run(&["log", "-n", "100"]).expect(0);
}

/// A ref lock left by a promptctl killed mid-update does not block the environment: the
/// next action removes it under promptctl's own lock and goes through.
#[test]
fn a_ref_lock_left_by_a_killed_action_is_cleared_by_the_next_one() {
    let repo = published();
    let lock = repo
        .path()
        .join(".git/refs/heads/promptctl/production.lock");
    std::fs::write(&lock, "0000000000000000000000000000000000000000\n").unwrap();
    let run = repo.run(&["canary", "support/triage", "5%"]).expect(0);
    assert!(run.stdout.contains("at 5%"), "{}", run.stdout);
    assert!(!lock.exists());
    fsck(repo.path());
}

#[test]
fn push_and_pull_move_the_release_branch_through_a_bare_remote() {
    let repo = published();
    let bare = repo.add_bare_remote();
    let run = repo.run(&["push"]).expect(0);
    assert!(
        run.stdout
            .starts_with("pushed promptctl/production to origin"),
        "{}",
        run.stdout
    );
    assert_eq!(
        tip(bare.path(), "refs/heads/promptctl/production"),
        tip(repo.path(), "refs/heads/promptctl/production")
    );
    assert!(repo.run(&["push"]).expect(0).stdout.contains("up to date"));
    // A clone of the prompts pulls the release branch and acts with --push.
    share_prompts(&repo);
    let other = TestRepo::clone_of(bare.path());
    let run = other.run(&["pull"]).expect(0);
    assert!(run.stdout.contains("created"), "{}", run.stdout);
    let run = other
        .run(&["canary", "support/triage", "10%", "--push"])
        .expect(0);
    assert!(
        run.stdout.contains("pushed promptctl/production to origin"),
        "{}",
        run.stdout
    );
    let run = repo.run(&["pull"]).expect(0);
    assert!(run.stdout.contains("fast-forward"), "{}", run.stdout);
    let status = repo.run(&["status", "--json"]).expect(0);
    let status: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(status["prompts"][2]["canary_weight"], 10.0);
    // Both act with --push: the second re-applies on top of the first; nothing is lost.
    repo.run(&[
        "canary",
        "support/triage",
        "20%",
        "--push",
        "--reason",
        "one",
    ])
    .expect(0);
    other
        .run(&["publish", "docs/count", "--push", "--reason", "two"])
        .expect(0);
    let log = other.run(&["log", "--json"]).expect(0);
    let log: Vec<Value> = serde_json::from_str(&log.stdout).unwrap();
    let reasons: Vec<&str> = log.iter().filter_map(|e| e["reason"].as_str()).collect();
    assert_eq!(reasons, ["one"], "docs/count was already active: no commit");
    other
        .run(&[
            "canary",
            "support/triage",
            "30%",
            "--push",
            "--reason",
            "two",
        ])
        .expect(0);
    repo.run(&["pull"]).expect(0);
    let log = repo.run(&["log", "--json"]).expect(0);
    let log: Vec<Value> = serde_json::from_str(&log.stdout).unwrap();
    let reasons: Vec<&str> = log.iter().filter_map(|e| e["reason"].as_str()).collect();
    assert_eq!(reasons, ["two", "one"]);
    fsck(bare.path());
}

/// Pushes the prompts' own branch so that a clone has the same prompts at HEAD.
fn share_prompts(repo: &TestRepo) {
    let git = git2::Repository::open(repo.path()).unwrap();
    let head = git.head().unwrap().name().unwrap().to_owned();
    git.find_remote("origin")
        .unwrap()
        .push(&[format!("{head}:{head}")], None)
        .unwrap();
}

#[test]
fn a_push_over_unseen_remote_history_exits_3_and_loses_nothing() {
    let repo = published();
    let bare = repo.add_bare_remote();
    share_prompts(&repo);
    repo.run(&["push"]).expect(0);
    let other = TestRepo::clone_of(bare.path());
    other
        .run(&["canary", "support/triage", "7%", "--push"])
        .expect(0);
    // The first repository acts on its older state, then pushes.
    repo.run(&["canary", "support/triage", "9%"]).expect(0);
    let local = tip(repo.path(), "refs/heads/promptctl/production");
    let remote = tip(bare.path(), "refs/heads/promptctl/production");
    let run = repo.run(&["push"]).expect(3);
    assert!(run.stderr.contains("diverged"), "{}", run.stderr);
    assert!(
        run.stderr.contains("1 local and 1 remote"),
        "{}",
        run.stderr
    );
    assert_eq!(
        tip(bare.path(), "refs/heads/promptctl/production"),
        remote,
        "the remote kept its history"
    );
    assert_eq!(
        tip(repo.path(), "refs/heads/promptctl/production"),
        local,
        "the local commit is kept"
    );
    let run = repo.run(&["pull"]).expect(3);
    assert!(run.stderr.contains("diverged"), "{}", run.stderr);
    assert_eq!(tip(repo.path(), "refs/heads/promptctl/production"), local);
    // A repository that is only behind is told to pull, and pull catches it up.
    let third = TestRepo::clone_of(bare.path());
    third.run(&["pull"]).expect(0);
    other
        .run(&["canary", "support/triage", "8%", "--push"])
        .expect(0);
    let run = third.run(&["push"]).expect(3);
    assert!(run.stderr.contains("ahead"), "{}", run.stderr);
    assert!(
        third
            .run(&["pull"])
            .expect(0)
            .stdout
            .contains("fast-forward")
    );
    fsck(bare.path());
}

#[test]
fn an_unreachable_remote_is_a_clear_error_and_local_state_is_untouched() {
    let repo = published();
    let missing = repo.path().join("no-such-remote.git");
    let before = tip(repo.path(), "refs/heads/promptctl/production");
    for args in [
        vec!["push", missing.to_str().unwrap()],
        vec!["pull", missing.to_str().unwrap()],
        vec![
            "canary",
            "support/triage",
            "10%",
            "--push",
            "--remote",
            missing.to_str().unwrap(),
        ],
    ] {
        let run = repo.run(&args).expect(2);
        assert!(
            run.stderr.contains("cannot reach it"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(run.stderr.contains("nothing was changed"), "{}", run.stderr);
        assert_eq!(tip(repo.path(), "refs/heads/promptctl/production"), before);
    }
}

/// A remote that accepts the connection and never says a word: every network command gives
/// up at its deadline with a clear error, and the local state is untouched.
#[test]
fn a_remote_that_never_answers_fails_at_the_deadline() {
    let repo = published();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/prompts.git", listener.local_addr().unwrap());
    // Accept and hold every connection open without answering.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let before = tip(repo.path(), "refs/heads/promptctl/production");
    for args in [
        vec!["push", url.as_str()],
        vec!["pull", url.as_str()],
        vec![
            "canary",
            "support/triage",
            "10%",
            "--push",
            "--remote",
            url.as_str(),
        ],
    ] {
        let started = std::time::Instant::now();
        let run = repo
            .run_with(repo.path(), &args, &[("PROMPTCTL_GIT_TIMEOUT", "1")])
            .expect(2);
        assert!(
            run.stderr.contains("no answer within 1 s"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{args:?} gave up at its deadline, not the TCP timeout"
        );
        assert_eq!(tip(repo.path(), "refs/heads/promptctl/production"), before);
    }
}

/// A push to a remote name that is not configured says so, and how to add one.
#[test]
fn a_push_without_an_origin_says_how_to_add_one() {
    let repo = published();
    let run = repo.run(&["push"]).expect(2);
    assert!(
        run.stderr.contains("there is no remote named `origin`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("git remote add origin"),
        "{}",
        run.stderr
    );
}

/// Commits `edit(state.toml)` on the release branch by hand, as someone might.
fn edit_release_state(repo: &TestRepo, edit: impl Fn(&str) -> String) {
    let git = git2::Repository::open(repo.path()).unwrap();
    let reference = "refs/heads/promptctl/production";
    let parent = git
        .find_reference(reference)
        .unwrap()
        .peel_to_commit()
        .unwrap();
    let tree = parent.tree().unwrap();
    let entry = tree.get_name("state.toml").unwrap().id();
    let text = String::from_utf8(git.find_blob(entry).unwrap().content().to_vec()).unwrap();
    let blob = git.blob(edit(&text).as_bytes()).unwrap();
    let mut builder = git.treebuilder(Some(&tree)).unwrap();
    builder.insert("state.toml", blob, 0o100644).unwrap();
    let tree = git.find_tree(builder.write().unwrap()).unwrap();
    let sig = git2::Signature::now("hand", "hand@example.com").unwrap();
    git.commit(
        Some(reference),
        &sig,
        &sig,
        "edited by hand",
        &tree,
        &[&parent],
    )
    .unwrap();
}

/// A hand-edited `previous` list that names a version with no object: `revert` went back to
/// it and committed a state that `status` and `serve` then refused, until someone moved the
/// branch by hand. Every state is now checked before it is committed, so the revert is
/// refused and the environment stays readable; and reading enforces the cap of 100.
#[test]
fn revert_never_commits_a_state_its_readers_refuse() {
    let repo = published();
    let ghost = format!("sha256:{}", "e".repeat(64));
    edit_release_state(&repo, |text| {
        text.replacen(
            "[prompts.\"support/triage\"]\n",
            &format!("[prompts.\"support/triage\"]\nprevious = [\"{ghost}\"]\n"),
            1,
        )
    });
    repo.run(&["status"]).expect(0);
    let before = tip(repo.path(), "refs/heads/promptctl/production");
    let refused = repo.run(&["revert", "support/triage"]).expect(2);
    assert!(refused.stderr.contains("is missing"), "{}", refused.stderr);
    assert_eq!(tip(repo.path(), "refs/heads/promptctl/production"), before);
    repo.run(&["status"]).expect(0);

    let many: Vec<String> = (0..101).map(|_| format!("\"{ghost}\"")).collect();
    edit_release_state(&repo, |text| {
        text.replacen(
            &format!("previous = [\"{ghost}\"]"),
            &format!("previous = [{}]", many.join(", ")),
            1,
        )
    });
    let capped = repo.run(&["status"]).expect(2);
    assert!(
        capped
            .stderr
            .contains("`previous` holds 101 versions; at most 100 are kept"),
        "{}",
        capped.stderr
    );
}

/// A system error (here a file where git must make a folder, as a full disk or a read-only
/// folder would refuse a write) exited 101, the code of a Rust panic. It exits 4, names
/// the cause and the path, and leaves the repository as it was.
#[test]
fn a_system_error_exits_4_naming_its_cause_and_path_and_changes_nothing() {
    let repo = sample_repo();
    repo.commit("prompts");
    let in_the_way = repo.path().join(".git/refs/heads/promptctl");
    std::fs::write(&in_the_way, "not a folder\n").unwrap();
    let run = repo.run(&["publish"]).expect(4);
    assert!(
        run.stderr.contains("refs/heads/promptctl"),
        "the path is named: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint: the file system or git refused"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&in_the_way).unwrap(),
        "not a folder\n"
    );
    std::fs::remove_file(&in_the_way).unwrap();
    fsck(repo.path());
    repo.run(&["publish"]).expect(0);
}

/// The weights the remote's release history records, one per canary commit.
fn remote_weights(bare: &std::path::Path) -> Vec<String> {
    let git = git2::Repository::open(bare).unwrap();
    let mut walk = git.revwalk().unwrap();
    walk.push_ref("refs/heads/promptctl/production").unwrap();
    walk.map(|id| git.find_commit(id.unwrap()).unwrap())
        .filter_map(|commit| {
            let message = commit.message().unwrap_or("").to_owned();
            message
                .lines()
                .find_map(|l| l.strip_prefix("Promptctl-Weight: "))
                .map(str::to_owned)
        })
        .collect()
}

/// Two clones each run 15 `canary … --push` at once against one bare remote. Before, some
/// exited 0 with a commit the remote never got, some failed although their change
/// landed, and many exited 101 on ref locks. Now an action exits 0 exactly when its
/// commit is on the remote, and a failure (if any) left nothing there.
#[test]
fn a_push_storm_from_two_clones_loses_nothing_and_reports_truly() {
    let repo = published();
    let bare = repo.add_bare_remote();
    share_prompts(&repo);
    repo.run(&["push"]).expect(0);
    let other = TestRepo::clone_of(bare.path());
    other.run(&["pull"]).expect(0);
    let mut runs = Vec::new();
    for (clone, first) in [(&repo, 1), (&other, 16)] {
        for weight in first..first + 15 {
            let mut command = clone.command(
                clone.path(),
                &[
                    "canary",
                    "support/triage",
                    &format!("{weight}%"),
                    "--push",
                    "--json",
                ],
            );
            command.stdout(Stdio::piped()).stderr(Stdio::piped());
            runs.push((weight, command.spawn().unwrap()));
        }
    }
    let landed = |weights: &[String], weight: u32| {
        weights
            .iter()
            .filter(|w| **w == format!("{weight}%"))
            .count()
    };
    let mut finished = Vec::new();
    for (weight, child) in runs {
        let output = child.wait_with_output().unwrap();
        finished.push((weight, output));
    }
    let weights = remote_weights(bare.path());
    let mut failures = Vec::new();
    for (weight, output) in &finished {
        let code = output.status.code();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            matches!(code, Some(0 | 3)),
            "{weight}%: exit {code:?}: {stderr}"
        );
        if code == Some(0) {
            assert_eq!(landed(&weights, *weight), 1, "{weight}% exited 0: {stderr}");
        } else {
            assert_eq!(
                landed(&weights, *weight),
                0,
                "{weight}% failed yet landed: {stderr}"
            );
            failures.push(*weight);
        }
    }
    assert!(
        failures.is_empty(),
        "no action should give up: {failures:?}"
    );
    fsck(bare.path());
}
