//! The GitHub Action and workflows: their YAML holds together, and the action's `promptctl
//! ci` step runs for real against repositories shaped like a pull request's checkout.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::TestRepo;
use yaml_rust2::{Yaml, YamlLoader};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn load_yaml(path: &Path) -> Yaml {
    let text = std::fs::read_to_string(path).unwrap();
    let mut docs = YamlLoader::load_from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()));
    assert_eq!(docs.len(), 1);
    docs.remove(0)
}

fn steps_of(job: &Yaml) -> &Vec<Yaml> {
    job["steps"].as_vec().expect("steps")
}

#[test]
fn the_action_is_a_composite_whose_steps_and_inputs_hold_together() {
    let action = load_yaml(&root().join("action.yml"));
    assert_eq!(action["runs"]["using"].as_str(), Some("composite"));
    let inputs = action["inputs"].as_hash().expect("inputs");
    let names: Vec<&str> = inputs.keys().map(|k| k.as_str().unwrap()).collect();
    for name in ["base", "args", "provider-key", "provider-key-env"] {
        assert!(names.contains(&name), "input `{name}` in {names:?}");
    }
    let text = std::fs::read_to_string(root().join("action.yml")).unwrap();
    for used in text.split("inputs.").skip(1) {
        let name: String = used
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        assert!(
            names.contains(&name.as_str()),
            "`inputs.{name}` is not declared"
        );
    }
    for step in action["runs"]["steps"].as_vec().unwrap() {
        if let Some(script) = step["run"].as_str() {
            assert!(
                step["shell"].as_str().is_some(),
                "a run step names its shell"
            );
            if let Some(path) = script
                .split('"')
                .find(|part| part.starts_with("$GITHUB_ACTION_PATH/"))
            {
                let relative = path.trim_start_matches("$GITHUB_ACTION_PATH/");
                assert!(root().join(relative).is_file(), "{relative} exists");
            }
        }
    }
}

#[test]
fn the_projects_workflow_runs_the_action_on_its_own_prompts() {
    let workflow = load_yaml(&root().join(".github/workflows/ci.yml"));
    let job = &workflow["jobs"]["prompts"];
    let steps = steps_of(job);
    assert_eq!(steps[0]["with"]["fetch-depth"].as_i64(), Some(0));
    assert!(
        steps.iter().any(|s| s["uses"].as_str() == Some("./")),
        "the job uses the action in this repository"
    );
    let ci = steps_of(&workflow["jobs"]["ci"]);
    assert!(
        ci.iter().any(|s| s["run"].as_str() == Some("bash .ci/run")),
        "the main job runs .ci/run"
    );
}

#[test]
fn init_writes_a_workflow_pinned_to_this_release() {
    let folder = TestRepo::bare_folder();
    folder.run(&["init", "demo"]).expect(0);
    let workflow = load_yaml(&folder.path().join("demo/.github/workflows/promptctl.yml"));
    assert!(
        !workflow["on"]["pull_request"].is_badvalue(),
        "runs on pull requests"
    );
    let steps = steps_of(&workflow["jobs"]["prompts"]);
    assert_eq!(steps[0]["uses"].as_str(), Some("actions/checkout@v4"));
    assert_eq!(steps[0]["with"]["fetch-depth"].as_i64(), Some(0));
    assert_eq!(
        steps[1]["uses"].as_str().unwrap(),
        format!("promptctl/promptctl@v{}", env!("CARGO_PKG_VERSION"))
    );
    let action = load_yaml(&root().join("action.yml"));
    for key in steps[1]["with"].as_hash().unwrap().keys() {
        let key = key.as_str().unwrap();
        assert!(
            !action["inputs"][key].is_badvalue(),
            "`{key}` is an input of the action"
        );
    }
}

/// The action's `promptctl ci` step, as the runner starts it: in the repository, with the
/// inputs as INPUT_* variables and promptctl on the PATH.
fn run_step(dir: &Path, vars: &[(&str, &str)]) -> common::Run {
    let bin = Path::new(env!("CARGO_BIN_EXE_promptctl")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let home = tempfile::tempdir().unwrap();
    let output = Command::new("bash")
        .arg(root().join(".github/action/run-ci.sh"))
        .current_dir(dir)
        .env_clear()
        .env("PATH", path)
        .env("HOME", home.path())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("NO_COLOR", "1")
        .env("GITHUB_ACTIONS", "true")
        .envs(vars.iter().copied())
        .output()
        .unwrap();
    common::Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// A prompt repository whose suite runs on a local command that answers only when the
/// provider key reached it.
fn keyed_repo() -> TestRepo {
    let repo = TestRepo::new();
    repo.write(
        "promptctl.toml",
        "[defaults]\nmodel = \"m\"\nprovider = \"local\"\n\n[providers.local]\nkind = \"exec\"\ncommand = [\"sh\", \"-c\", \"cat >/dev/null; if [ \\\"$MY_KEY\\\" = s3cret-value ]; then echo '{\\\"text\\\": \\\"billing\\\"}'; else echo 'no key' >&2; exit 1; fi\"]\n",
    )
    .write(
        "prompts/triage.toml",
        "[[messages]]\nrole = \"user\"\ncontent = \"Route this.\"\n",
    )
    .write(
        "evals/triage.toml",
        "prompt = \"triage\"\n\n[[cases]]\nname = \"a\"\nassert = [{ type = \"contains\", value = \"billing\" }]\n",
    );
    repo.commit("first");
    repo
}

#[test]
fn the_step_passes_the_key_under_its_name_and_never_shows_it() {
    let repo = keyed_repo();
    repo.write(
        "prompts/triage.toml",
        "[[messages]]\nrole = \"user\"\ncontent = \"Route this ticket.\"\n",
    );
    repo.commit("second");
    let summary = repo.path().join("summary.md");
    let vars = [
        ("GITHUB_EVENT_NAME", "push"),
        ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ("INPUT_PROVIDER_KEY", "s3cret-value"),
        ("INPUT_PROVIDER_KEY_ENV", "MY_KEY"),
        ("INPUT_ARGS", "--junit out.xml --no-cache"),
    ];
    let run = run_step(repo.path(), &vars).expect(0);
    assert!(
        run.stdout.contains("base HEAD^ at "),
        "a push compares with the commit before it: {}",
        run.stdout
    );
    assert!(run.stdout.contains("changed triage"), "{}", run.stdout);
    assert!(run.stdout.contains("gate ok"), "{}", run.stdout);
    assert!(
        repo.path().join("out.xml").is_file(),
        "extra arguments reach promptctl"
    );
    let summary_text = std::fs::read_to_string(&summary).unwrap();
    for text in [&run.stdout, &run.stderr, &summary_text] {
        assert!(!text.contains("s3cret-value"), "the key leaked: {text}");
    }

    // Without the key the provider fails: the gate fails and the step exits 1.
    let run = run_step(repo.path(), &vars[..2]).expect(1);
    assert!(
        run.stdout.contains("::error file=evals/triage.toml"),
        "{}",
        run.stdout
    );

    let run = run_step(
        repo.path(),
        &[
            ("INPUT_PROVIDER_KEY", "s3cret-value"),
            ("INPUT_PROVIDER_KEY_ENV", "MY KEY; rm"),
        ],
    )
    .expect(2);
    assert!(
        run.stdout.contains(
            "::error title=promptctl action::provider-key-env `MY KEY; rm` is not a variable name"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn a_shallow_pull_request_checkout_fetches_what_the_merge_base_needs() {
    let origin = keyed_repo();
    let git = git2::Repository::open(origin.path()).unwrap();
    let head = git.head().unwrap().peel_to_commit().unwrap();
    git.branch("main", &head, true).unwrap();
    git.set_head("refs/heads/main").unwrap();
    origin.write(
        "prompts/triage.toml",
        "[[messages]]\nrole = \"user\"\ncontent = \"Route this, please.\"\n",
    );
    origin.commit("main: reword");
    git.branch("feature", &head, true).unwrap();
    git.set_head("refs/heads/feature").unwrap();
    git.checkout_head(Some(git2::build::CheckoutBuilder::new().force()))
        .unwrap();
    origin.write(
        "prompts/other.toml",
        "[[messages]]\nrole = \"user\"\ncontent = \"Hi.\"\n",
    );
    origin.commit("feature: a new prompt");

    // What actions/checkout leaves for a pull request: one commit deep, no base branch.
    let clone = tempfile::tempdir().unwrap();
    let status = Command::new("git")
        .args(["clone", "--quiet", "--depth", "1", "--branch", "feature"])
        .arg(format!("file://{}", origin.path().display()))
        .arg(clone.path())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .status()
        .unwrap();
    assert!(status.success());
    let run = run_step(
        clone.path(),
        &[
            ("GITHUB_BASE_REF", "main"),
            ("INPUT_PROVIDER_KEY", "s3cret-value"),
            ("INPUT_PROVIDER_KEY_ENV", "MY_KEY"),
        ],
    )
    .expect(0);
    assert!(
        run.stdout.contains("base origin/main at "),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert!(run.stdout.contains("added   other"), "{}", run.stdout);
    assert!(
        !run.stdout.contains("changed triage"),
        "main's later change is not this branch's: {}",
        run.stdout
    );
}

/// `init` in a subfolder of a repository wrote `.github/workflows` in the subfolder, where
/// GitHub never reads it. It goes to the repository's root, running in the subfolder.
#[test]
fn init_in_a_subfolder_writes_the_workflow_at_the_repository_root() {
    let folder = TestRepo::bare_folder();
    let status = Command::new("git")
        .args(["init", "-q"])
        .current_dir(folder.path())
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .status()
        .unwrap();
    assert!(status.success());
    let run = folder.run(&["init", "team/prompts"]).expect(0);
    assert!(
        !folder.path().join("team/prompts/.github").exists(),
        "{}",
        run.stdout
    );
    let workflow = load_yaml(&folder.path().join(".github/workflows/promptctl.yml"));
    let steps = steps_of(&workflow["jobs"]["prompts"]);
    assert_eq!(
        steps[1]["with"]["args"].as_str(),
        Some("--repo team/prompts --junit promptctl-junit.xml")
    );
}

/// Several providers' keys, one `NAME=value` line each, reach the step under their names;
/// a line that is not one is refused without showing it.
#[test]
fn several_provider_keys_reach_the_step_by_name() {
    let repo = keyed_repo();
    repo.write(
        "prompts/triage.toml",
        "[[messages]]\nrole = \"user\"\ncontent = \"Route this ticket.\"\n",
    );
    repo.commit("second");
    let keys = "OTHER_KEY=unused\n  MY_KEY=s3cret-value\n\n";
    let vars = [
        ("GITHUB_EVENT_NAME", "push"),
        ("INPUT_PROVIDER_KEYS", keys),
        ("INPUT_ARGS", "--no-cache"),
    ];
    let run = run_step(repo.path(), &vars).expect(0);
    assert!(run.stdout.contains("gate ok"), "{}", run.stdout);
    assert!(!run.stdout.contains("s3cret-value") && !run.stderr.contains("s3cret-value"));
    let bad = [
        ("GITHUB_EVENT_NAME", "push"),
        ("INPUT_PROVIDER_KEYS", "just-a-s3cret"),
    ];
    let run = run_step(repo.path(), &bad).expect(2);
    assert!(
        run.stdout
            .contains("provider-keys takes one NAME=value line"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("just-a-s3cret"), "{}", run.stdout);
}

/// A local server of release assets: `promptctl-<target>.tar.gz` holding a stand-in
/// binary, and its `.sha256`, right or wrong.
fn release_server(checksum_right: bool) -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let version = env!("CARGO_PKG_VERSION");
    let assets = dir.path().join(format!("v{version}"));
    std::fs::create_dir_all(&assets).unwrap();
    let stage = dir.path().join("stage");
    std::fs::create_dir_all(&stage).unwrap();
    std::fs::write(
        stage.join("promptctl"),
        "#!/bin/sh\necho released promptctl\n",
    )
    .unwrap();
    let tarball = assets.join("promptctl-x86_64-unknown-linux-gnu.tar.gz");
    let status = Command::new("tar")
        .arg("-czf")
        .arg(&tarball)
        .arg("-C")
        .arg(&stage)
        .arg("promptctl")
        .status()
        .unwrap();
    assert!(status.success());
    let digest = Command::new("sha256sum").arg(&tarball).output().unwrap();
    let mut line = String::from_utf8(digest.stdout).unwrap();
    if !checksum_right {
        line = format!("{}{}", "0".repeat(64), &line[64..]);
    }
    std::fs::write(tarball.with_extension("gz.sha256"), line).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let root = dir.path().to_path_buf();
    std::thread::spawn(move || {
        use std::io::{BufRead, BufReader, Write};
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut line = String::new();
            BufReader::new(stream.try_clone().unwrap())
                .read_line(&mut line)
                .unwrap();
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
            match std::fs::read(root.join(path.trim_start_matches('/'))) {
                Ok(body) => {
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(&body);
                }
                Err(_) => {
                    let _ = stream.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                }
            }
        }
    });
    (url, dir)
}

fn download(url: &str, home: &Path) -> (String, String) {
    let output = Command::new("bash")
        .arg(root().join(".github/action/download.sh"))
        .env("PROMPTCTL_RELEASE_URL", url)
        .env("RUNNER_OS", "Linux")
        .env("RUNNER_ARCH", "X64")
        .env("HOME", home)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

/// The Action installs the released binary for its runner only when its checksum matches;
/// otherwise it says why and falls back to building promptctl.
#[test]
fn the_action_installs_a_released_binary_only_with_its_checksum() {
    let home = tempfile::tempdir().unwrap();
    let (url, _assets) = release_server(true);
    let (out, err) = download(&url, home.path());
    assert_eq!(out.trim(), "downloaded=true", "{err}");
    let installed = home.path().join(".promptctl-action/bin/promptctl");
    let ran = Command::new(&installed).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&ran.stdout), "released promptctl\n");

    let home = tempfile::tempdir().unwrap();
    let (url, _assets) = release_server(false);
    let (out, err) = download(&url, home.path());
    assert_eq!(out.trim(), "downloaded=false");
    assert!(
        err.contains("the checksum of promptctl-x86_64-unknown-linux-gnu.tar.gz is"),
        "{err}"
    );
    assert!(!home.path().join(".promptctl-action/bin/promptctl").exists());

    // No release at all (a fork, a mirror without assets): build instead.
    let home = tempfile::tempdir().unwrap();
    let (out, err) = download("http://127.0.0.1:9/none", home.path());
    assert_eq!(out.trim(), "downloaded=false");
    assert!(err.contains("cannot download"), "{err}");
}
