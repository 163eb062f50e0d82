//! Hermetic test repositories: a temporary folder with a git repository whose author, clock
//! and configuration are fixed, and a runner for the real `promptctl` binary.

#![allow(dead_code)]

pub mod example;
pub mod mock_llm;
pub mod prometheus;
pub mod sdks;
pub mod server;

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct TestRepo {
    dir: tempfile::TempDir,
    home: tempfile::TempDir,
    /// The time every command of this repository reads (`PROMPTCTL_NOW`), in seconds since
    /// the epoch: fixed, so release commits and their ids are the same on every run, and
    /// moved on by [`TestRepo::advance`] where a test needs time to pass.
    now: std::cell::Cell<i64>,
}

/// The clock tests start at: 2026-11-23T10:00:00Z.
pub const TEST_NOW: i64 = 1_795_428_000;

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts the exit code, showing both streams when it differs.
    pub fn expect(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

impl TestRepo {
    /// An empty git repository with a `promptctl.toml`.
    pub fn new() -> Self {
        let repo = TestRepo::bare_folder();
        let git = git2::Repository::init(repo.path()).unwrap();
        set_identity(&git);
        repo.write("promptctl.toml", "[defaults]\nmodel = \"test-model\"\n");
        repo
    }

    /// A clone of `url` (a bare repository path), with the same identity.
    pub fn clone_of(url: &Path) -> Self {
        let repo = TestRepo::bare_folder();
        let git = git2::Repository::clone(url.to_str().unwrap(), repo.path()).unwrap();
        set_identity(&git);
        repo
    }

    /// Adds a bare repository as remote `origin` and returns its folder.
    pub fn add_bare_remote(&self) -> tempfile::TempDir {
        let bare = tempfile::tempdir().unwrap();
        git2::Repository::init_bare(bare.path()).unwrap();
        let git = git2::Repository::open(self.path()).unwrap();
        git.remote("origin", bare.path().to_str().unwrap()).unwrap();
        bare
    }

    /// An empty folder, not a git repository.
    pub fn bare_folder() -> Self {
        hermetic_libgit2();
        TestRepo {
            now: std::cell::Cell::new(TEST_NOW),
            dir: tempfile::tempdir().unwrap(),
            home: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, relative: &str, text: &str) -> &Self {
        let path = self.path().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self
    }

    pub fn remove(&self, relative: &str) -> &Self {
        std::fs::remove_file(self.path().join(relative)).unwrap();
        self
    }

    /// Commits every file with a fixed author and time; returns the commit id.
    pub fn commit(&self, message: &str) -> String {
        let repo = git2::Repository::open(self.path()).unwrap();
        let mut index = repo.index().unwrap();
        index
            .add_all(["*"].iter(), git2::IndexAddOption::DEFAULT, None)
            .unwrap();
        index.update_all(["*"].iter(), None).unwrap();
        index.write().unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let time = git2::Time::new(1_700_000_000, 0);
        let sig = git2::Signature::new("Test", "test@example.com", &time).unwrap();
        let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
        let parents: Vec<_> = parent.iter().collect();
        repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
            .unwrap()
            .to_string()
    }

    /// Runs `promptctl` in the repository with an empty environment for git and colour.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_in(self.path(), args)
    }

    pub fn run_in(&self, cwd: &Path, args: &[&str]) -> Run {
        self.run_with(cwd, args, &[])
    }

    /// Runs `promptctl` with extra environment variables.
    pub fn run_with(&self, cwd: &Path, args: &[&str], vars: &[(&str, &str)]) -> Run {
        let output = self
            .command(cwd, args)
            .envs(vars.iter().copied())
            .output()
            .unwrap();
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    }

    /// The `promptctl` command with the hermetic environment, not started.
    pub fn command(&self, cwd: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_promptctl"));
        command
            .args(args)
            .current_dir(cwd)
            .env_clear()
            .env("HOME", self.home.path())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("PROMPTCTL_NOW", self.now.get().to_string())
            .env("NO_COLOR", "1");
        command
    }

    /// Moves this repository's clock on: later commands (and servers started later) read
    /// the new time. Rollout tests drive time with it instead of sleeping.
    pub fn advance(&self, seconds: i64) {
        self.now.set(self.now.get() + seconds);
    }

    /// Replaces the temporary folder's path with `[REPO]` for snapshots.
    pub fn redact(&self, text: &str) -> String {
        let canonical: PathBuf = std::fs::canonicalize(self.path()).unwrap();
        text.replace(&canonical.display().to_string(), "[REPO]")
            .replace(&self.path().display().to_string(), "[REPO]")
    }
}

fn set_identity(git: &git2::Repository) {
    let mut config = git.config().unwrap();
    config.set_str("user.name", "Release Tester").unwrap();
    config.set_str("user.email", "tester@example.com").unwrap();
}

/// The API key tests hand to mock providers; it must never show in any output or file.
pub const MOCK_KEY: &str = "sk-test-SECRET-4242";

/// A prompt on provider `mock` whose answer the mock LLM knows in advance:
/// "Answer: billing | <ticket>".
pub const ROUTE_PROMPT: &str = r#"provider = "mock"

[variables.ticket]
type = "string"
required = true

[[messages]]
role = "system"
content = """
Route the ticket.
Answer: billing
"""

[[messages]]
role = "user"
content = "{{ ticket }}"
"#;

/// A small, valid prompt repository: two prompts sharing a partial, one without, one suite.
pub fn sample_repo() -> TestRepo {
    let repo = TestRepo::new();
    repo.write(
        "prompts/partials/tone.j2",
        "{% if tone == \"formal\" %}Be formal.{% else %}Be warm.{% endif %}",
    )
    .write(
        "prompts/support/triage.toml",
        r#"description = "Route a support ticket"

[params]
temperature = 0.0

[variables.ticket]
type = "string"
required = true

[variables.tone]
type = "string"
default = "friendly"
enum = ["friendly", "formal"]

[[messages]]
role = "system"
content = """
Triage the ticket. {% include "partials/tone.j2" %}
"""

[[messages]]
role = "user"
content = "{{ ticket }}"
"#,
    )
    .write(
        "prompts/support/reply.toml",
        r#"description = "Draft a reply"
model = "reply-model"

[variables.ticket]
type = "string"
required = true

[variables.tone]
type = "string"
default = "formal"

[[messages]]
role = "system"
content = "Reply. {% include \"partials/tone.j2\" %}"

[[messages]]
role = "user"
content = "{{ ticket }}"
"#,
    )
    .write(
        "prompts/docs/count.toml",
        r#"[variables.n]
type = "integer"
required = true

[[messages]]
role = "user"
content = "Count to {{ n }}: {% for i in range(n) %}{{ i + 1 }} {% endfor %}"
"#,
    )
    .write(
        "evals/triage.toml",
        r#"prompt = "support/triage"

[[cases]]
name = "refund"
vars = { ticket = "money back please" }
assert = [{ type = "icontains", value = "billing" }]
"#,
    );
    repo
}

/// The sample repository with `config` added to its `promptctl.toml`, v1 of
/// support/triage published and v2 committed.
pub fn released(config: &str) -> TestRepo {
    let repo = sample_repo();
    if !config.is_empty() {
        let path = repo.path().join("promptctl.toml");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(config);
        std::fs::write(&path, text).unwrap();
    }
    repo.commit("v1");
    repo.run(&["publish"]).expect(0);
    let path = repo.path().join("prompts/support/triage.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("Triage the ticket.", "Triage the ticket (v2)."),
    )
    .unwrap();
    repo.commit("v2");
    repo
}

/// A release with a canary of support/triage at 10% that also takes the cohort `internal`.
pub fn canary_with_cohort() -> TestRepo {
    let repo = released("");
    repo.run(&[
        "canary",
        "support/triage",
        "--stage",
        "cohort=internal",
        "--ramp",
        "50,100",
    ])
    .expect(0);
    repo.run(&["canary", "support/triage", "10%"]).expect(0);
    repo
}

/// Points this test process's libgit2 at no configuration file at all: tests ignore the
/// user's git configuration by every route git reads it (`HOME`, `XDG_CONFIG_HOME`,
/// `GIT_CONFIG_GLOBAL`, the system file). The binary under test gets a clean environment
/// of its own (see `TestRepo::command`).
pub fn hermetic_libgit2() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let empty = std::env::temp_dir().join(format!(
            "promptctl-tests-no-gitconfig-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&empty).unwrap();
        for level in [
            git2::ConfigLevel::Global,
            git2::ConfigLevel::XDG,
            git2::ConfigLevel::System,
            git2::ConfigLevel::ProgramData,
        ] {
            // SAFETY: set once, before this process opens any repository.
            unsafe { git2::opts::set_search_path(level, empty.to_str().unwrap()).unwrap() };
        }
    });
}
