//! Every command's help: `--help` ends with its examples, one per line, each a whole
//! command; `-h` says where they are.

mod common;

const COMMANDS: [&str; 20] = [
    "init", "list", "show", "render", "check", "ci", "diff", "eval", "cache", "publish", "canary",
    "promote", "revert", "rollout", "status", "log", "resolve", "push", "pull", "serve",
];

#[test]
fn every_help_lists_its_examples_one_per_line() {
    let repo = common::TestRepo::bare_folder();
    for command in COMMANDS {
        let long = repo.run(&[command, "--help"]).expect(0).stdout;
        let (_, examples) = long
            .split_once("\nExamples:\n")
            .unwrap_or_else(|| panic!("{command} --help has no examples:\n{long}"));
        let lines: Vec<&str> = examples.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(!lines.is_empty(), "{command}");
        for line in lines {
            assert!(
                line.starts_with(&format!("  promptctl {command}")),
                "{command}: `{line}` is not one whole example"
            );
        }
        let short = repo.run(&[command, "-h"]).expect(0).stdout;
        assert!(
            short.contains("Examples and details: run with --help."),
            "{command} -h:\n{short}"
        );
    }
}

/// `revert --help` said "Without names: undo the most recent action", which is not what it
/// does after a re-weight; the help now says what it does.
#[test]
fn revert_help_says_what_revert_without_names_does() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_promptctl"))
        .args(["revert", "--help"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(!help.contains("undo the most recent action"), "{help}");
    assert!(
        help.contains("each prompt the most recent action changed"),
        "{help}"
    );
}

/// Shell completions and man pages come from the same definitions as `--help`: every
/// subcommand is completed, and every subcommand has a page.
#[test]
fn completions_and_man_pages_cover_every_command() {
    let promptctl = env!("CARGO_BIN_EXE_promptctl");
    let commands = [
        "init", "list", "show", "render", "check", "ci", "diff", "eval", "publish", "canary",
        "promote", "revert", "rollout", "status", "log", "resolve", "push", "pull", "serve",
    ];
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let output = std::process::Command::new(promptctl)
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(output.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&output.stdout);
        for command in commands {
            assert!(script.contains(command), "{shell} completes `{command}`");
        }
    }
    let folder = tempfile::tempdir().unwrap();
    let dir = folder.path().join("man1");
    let output = std::process::Command::new(promptctl)
        .args(["man", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success());
    for command in commands {
        let page = std::fs::read_to_string(dir.join(format!("promptctl-{command}.1")))
            .unwrap_or_else(|e| panic!("promptctl-{command}.1: {e}"));
        assert!(page.starts_with(".ie") || page.contains(".TH"), "{command}");
    }
    let page = std::fs::read_to_string(dir.join("promptctl-canary.1")).unwrap();
    assert!(page.contains("ramp"), "the canary page documents --ramp");
}

/// Seen: shell completions knew flags but not prompt names. bash (run here for real), zsh
/// and fish offer the names of the project the shell is in.
#[test]
fn completions_offer_the_projects_prompt_names() {
    let promptctl = env!("CARGO_BIN_EXE_promptctl");
    let repo = common::sample_repo();
    let script_of = |shell: &str| {
        let output = std::process::Command::new(promptctl)
            .args(["completions", shell])
            .output()
            .unwrap();
        String::from_utf8(output.stdout).unwrap()
    };
    let script = repo.path().join("promptctl.bash");
    std::fs::write(&script, script_of("bash")).unwrap();
    let bin = std::path::Path::new(promptctl).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let complete = |words: &str, cword: usize| {
        let output = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(
                "source {}; COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE='{words}'; COMP_POINT=${{#COMP_LINE}}; _promptctl_with_names promptctl; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
                script.display()
            ))
            .current_dir(repo.path())
            .env_clear()
            .env("PATH", &path)
            .env("HOME", repo.path())
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let offered = complete("promptctl publish support/", 2);
    assert!(offered.contains("support/triage"), "{offered}");
    assert!(offered.contains("support/reply"), "{offered}");
    assert!(!offered.contains("docs/count"), "{offered}");
    assert!(
        complete("promptctl publish --env ", 3)
            .lines()
            .all(|l| !l.contains("support/"))
    );
    let zsh = script_of("zsh");
    assert!(
        zsh.contains("'*::names -- Prompts to publish (default\\: every prompt that changed):_promptctl_prompt_names'"),
        "{zsh}"
    );
    assert!(
        zsh.find("_promptctl_prompt_names() {") < zsh.find("if [ \"$funcstack[1]\""),
        "the function is defined before the script's closing call"
    );
    assert!(script_of("fish").contains("(promptctl list --names 2>/dev/null)"));
    let names = std::process::Command::new(promptctl)
        .args(["list", "--names"])
        .current_dir(repo.path())
        .env("HOME", repo.path())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&names.stdout),
        "docs/count\nsupport/reply\nsupport/triage\n"
    );
}
