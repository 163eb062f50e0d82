//! Runs docs/walkthrough.md: every `console` block's commands, in order, in one fresh
//! folder, comparing each command's output and exit code with the page.
//!
//! The git commits the page makes have a fixed author and date, so their ids are the same
//! on every run. Release commits carry the time they are made: their short ids (7 hex
//! digits) and `YYYY-MM-DD HH:MMZ` times are blanked on both sides before comparing. With
//! `WALKTHROUGH_UPDATE=1` the page's outputs are rewritten from this run instead.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PAGE: &str = "docs/walkthrough.md";
const EXIT_MARK: &str = "<!-- walkthrough: exit ";

/// One `$ command` of the page with the output shown under it.
struct Step {
    command: String,
    expected: Vec<String>,
    exit: i32,
    /// Where the step's output lines sit in the page (start, end), for rewriting.
    output_lines: (usize, usize),
}

fn parse(page: &str) -> Vec<Step> {
    let lines: Vec<&str> = page.lines().collect();
    let mut steps: Vec<Step> = Vec::new();
    let mut exit = 0;
    let mut in_block = false;
    for (index, line) in lines.iter().enumerate() {
        if !in_block {
            if let Some(rest) = line.strip_prefix(EXIT_MARK) {
                exit = rest.trim_end_matches("-->").trim().parse().unwrap();
            } else if *line == "```console" {
                in_block = true;
            }
            continue;
        }
        if *line == "```" {
            in_block = false;
            exit = 0;
        } else if let Some(command) = line.strip_prefix("$ ") {
            steps.push(Step {
                command: command.to_owned(),
                expected: Vec::new(),
                exit,
                output_lines: (index + 1, index + 1),
            });
        } else {
            let step = steps.last_mut().expect("output before any command");
            step.expected.push((*line).to_owned());
            step.output_lines.1 = index + 1;
        }
    }
    assert!(!in_block, "an unclosed console block");
    steps
}

/// Blanks what differs from run to run: release commit ids and times.
fn normalize(lines: &[String]) -> Vec<String> {
    let hex = regex::Regex::new(r"\b[0-9a-f]{7}\b").unwrap();
    let time = regex::Regex::new(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}Z").unwrap();
    lines
        .iter()
        .map(|l| {
            let l = hex.replace_all(l.trim_end(), "<id>");
            time.replace_all(&l, "<time>").into_owned()
        })
        .collect()
}

struct Session {
    cwd: PathBuf,
    home: tempfile::TempDir,
    path: String,
    port: u16,
    background: Vec<Child>,
}

impl Drop for Session {
    fn drop(&mut self) {
        for child in &mut self.background {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Session {
    fn new(folder: &Path) -> Self {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(
            home.path().join(".gitconfig"),
            "[user]\n\tname = Ada Lovelace\n\temail = ada@example.com\n",
        )
        .unwrap();
        let bin = Path::new(env!("CARGO_BIN_EXE_promptctl")).parent().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Session {
            cwd: folder.to_owned(),
            home,
            path: format!(
                "{}:{}",
                bin.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
            port,
            background: Vec::new(),
        }
    }

    /// The shell of a background step, replaced by its command.
    fn shell_exec(&self, command: &str) -> Command {
        self.shell_of(command, "exec ")
    }

    fn shell(&self, command: &str) -> Command {
        self.shell_of(command, "")
    }

    fn shell_of(&self, command: &str, prefix: &str) -> Command {
        // The page uses the default port; the test uses a free one.
        let command = command.replace("127.0.0.1:7070", &format!("127.0.0.1:{}", self.port));
        let command = if command.starts_with("promptctl serve") {
            command.replacen(
                "promptctl serve",
                &format!("promptctl serve --addr 127.0.0.1:{}", self.port),
                1,
            )
        } else {
            command
        };
        let mut shell = Command::new("sh");
        shell
            .arg("-c")
            .arg(format!("exec 2>&1\n{prefix}{command}"))
            .current_dir(&self.cwd)
            .env_clear()
            .env("PATH", &self.path)
            .env("HOME", self.home.path())
            .env(
                "EXAMPLES",
                Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"),
            )
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("NO_COLOR", "1")
            .env("LC_ALL", "C")
            .env("GIT_AUTHOR_DATE", "2026-01-05T09:00:00Z")
            .env("GIT_COMMITTER_DATE", "2026-01-05T09:00:00Z");
        shell
    }

    /// Runs one step; returns its output lines and exit code.
    fn run(&mut self, command: &str) -> (Vec<String>, i32) {
        if let Some(dir) = command.strip_prefix("cd ") {
            self.cwd = self.cwd.join(dir.trim());
            assert!(self.cwd.is_dir(), "cd {dir}: no such folder");
            return (Vec::new(), 0);
        }
        if let Some(command) = command.strip_suffix(" &") {
            // `exec`, so that the process killed at the end is the server, not a shell
            // that would leave it running.
            let child = self
                .shell_exec(command)
                .stdout(Stdio::null())
                .stdin(Stdio::null())
                .spawn()
                .unwrap();
            self.background.push(child);
            self.wait_for_port();
            return (Vec::new(), 0);
        }
        let output = self.shell(command).output().unwrap();
        let text = String::from_utf8(output.stdout).unwrap();
        (
            text.lines().map(str::to_owned).collect(),
            output.status.code().unwrap_or(-1),
        )
    }

    fn wait_for_port(&self) {
        let address = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
            assert!(Instant::now() < deadline, "the server never listened");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn the_walkthrough_runs_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let page = std::fs::read_to_string(root.join(PAGE)).unwrap();
    let steps = parse(&page);
    assert!(steps.len() > 20, "the page has its commands");
    let folder = tempfile::tempdir().unwrap();
    let mut session = Session::new(folder.path());
    let update = std::env::var_os("WALKTHROUGH_UPDATE").is_some();
    let mut outputs = Vec::new();
    for step in &steps {
        let (actual, code) = session.run(&step.command);
        if !update {
            assert_eq!(
                normalize(&actual),
                normalize(&step.expected),
                "`$ {}` printed something else than {PAGE} shows \
                 (WALKTHROUGH_UPDATE=1 cargo test --test walkthrough rewrites the page)",
                step.command
            );
        }
        assert_eq!(
            code,
            step.exit,
            "`$ {}` exited {code}:\n{}",
            step.command,
            actual.join("\n")
        );
        outputs.push(actual);
    }
    if update {
        std::fs::write(root.join(PAGE), rewrite(&page, &steps, &outputs)).unwrap();
    }
}

/// The page with each step's output replaced.
fn rewrite(page: &str, steps: &[Step], outputs: &[Vec<String>]) -> String {
    let lines: Vec<&str> = page.lines().collect();
    let mut out = Vec::new();
    let mut next = 0;
    for (step, actual) in steps.iter().zip(outputs) {
        let (start, end) = step.output_lines;
        out.extend(lines[next..start].iter().map(|l| (*l).to_owned()));
        out.extend(actual.iter().map(|l| l.trim_end().to_owned()));
        next = end;
    }
    out.extend(lines[next..].iter().map(|l| (*l).to_owned()));
    out.join("\n") + "\n"
}

#[test]
fn the_page_parser_reads_commands_outputs_and_exit_marks() {
    let page = "text\n```console\n$ a\none\ntwo\n$ b\n```\n<!-- walkthrough: exit 1 -->\n```console\n$ c\n```\n";
    let steps = parse(page);
    assert_eq!(steps.len(), 3);
    assert_eq!(steps[0].expected, ["one", "two"]);
    assert_eq!((steps[0].exit, steps[2].exit), (0, 1));
    assert_eq!(steps[0].output_lines, (3, 5));
    let rewritten = rewrite(page, &steps, &[vec!["1".into()], vec!["x".into()], vec![]]);
    assert!(
        rewritten.starts_with("text\n```console\n$ a\n1\n$ b\nx\n```\n"),
        "{rewritten}"
    );
    assert_eq!(
        normalize(&["release 1a2b3c4 at 2026-11-23 12:26Z, version 1069e98aeff3 ".into()]),
        ["release <id> at <time>, version 1069e98aeff3"]
    );
}
