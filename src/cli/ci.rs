//! `promptctl ci`: the pre-merge check, for people and for GitHub Actions.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use serde::Serialize;

use promptctl::ci::{
    Annotation, BaseRequest, CiOptions, CiReport, annotations, comment, run_ci, to_html, to_junit,
    to_markdown,
};

use super::error::EXIT_FAILED;
use super::output::{BOLD, DIM, ERROR, VERSION, WARNING, eprint, plural, print, print_json};
use super::{CliError, GlobalArgs};

/// Shown at the end of `--help`, one example per line.
const EXAMPLES: &str = "Examples:\n  promptctl ci\n  promptctl ci --base origin/release --junit ci.xml --markdown ci.md";

/// The pre-merge check: check every prompt and suite, show the prompts whose version changed
/// since the base and their diff, run the eval suites of those prompts on the old and the
/// new version, and apply the gates.
///
/// The base is the merge base of HEAD with --base, else with the pull request's target
/// branch ($GITHUB_BASE_REF), else with the default branch (origin/HEAD, origin/main, main,
/// ...). The new side is the working tree. Exits 0 when all is well, 1 when the check or a
/// gate fails, 2 on bad input.
///
/// On GitHub Actions (GITHUB_ACTIONS=true) it also appends a markdown summary to
/// $GITHUB_STEP_SUMMARY and prints `::error` and `::warning` annotations.
#[derive(Debug, Args)]
#[command(after_long_help = EXAMPLES, after_help = super::SEE_LONG_HELP)]
pub struct CiArgs {
    /// What to compare with: a branch or commit (through its merge base with HEAD), or a
    /// release pointer such as `active`.
    #[arg(long, value_name = "SPEC")]
    base: Option<String>,

    /// Write JUnit XML here: the check, each gate, and each suite's cases per version.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,

    /// Write the markdown summary here (on GitHub it also goes to the step summary).
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,

    /// Write the eval report here as one self-contained HTML file.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,

    /// Print the whole report as JSON instead of text; annotations are in it, not on stdout.
    #[arg(long)]
    json: bool,

    /// The most requests in flight at once, over all providers (default 64). Under it, each
    /// provider's level adapts: without the flag it starts at 16 and doubles while answers
    /// come back fine (with it, it starts at N); a round trip of mostly 429s, 5xx or
    /// timeouts halves it, and rising latency trims it (docs/evals.md).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    concurrency: Option<u16>,

    /// Neither read nor write the eval cache.
    #[arg(long, conflicts_with = "refresh")]
    no_cache: bool,

    /// Send every request again and overwrite what the cache holds.
    #[arg(long)]
    refresh: bool,

    /// Show the whole output of each regressed or erroring case, not its first lines.
    #[arg(long, short)]
    verbose: bool,

    /// Approve every output or tool change that would break a service under its prompt's
    /// compatibility mode (one commit can approve its own with an `Allow-Breaking:`
    /// trailer naming the prompts instead; docs/contract.md).
    #[arg(long)]
    allow_breaking: bool,

    /// Create or update one comment on the pull request with the report, through GitHub's
    /// API with $GITHUB_TOKEN (on GitHub Actions). A token that may not comment (a forked
    /// pull request's) is a warning, not a failure.
    #[arg(long)]
    comment: bool,

    /// Also compare the arms of each evaluated suite's `[matrix]` on the working tree, in
    /// every report and the comment (docs/evals.md, "N-way").
    #[arg(long)]
    matrix: bool,
}

/// What GitHub Actions tells a step through its environment.
struct GithubEnv {
    /// `GITHUB_ACTIONS=true`.
    active: bool,
    base_ref: Option<String>,
    step_summary: Option<PathBuf>,
}

impl GithubEnv {
    fn read() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        GithubEnv {
            active: var("GITHUB_ACTIONS").as_deref() == Some("true"),
            base_ref: var("GITHUB_BASE_REF"),
            step_summary: var("GITHUB_STEP_SUMMARY").map(PathBuf::from),
        }
    }
}

pub fn run(global: &GlobalArgs, args: CiArgs) -> Result<ExitCode, CliError> {
    let project = global.project()?;
    let github = GithubEnv::read();
    let options = CiOptions {
        base: BaseRequest {
            given: args.base.clone(),
            github_base_ref: github.base_ref.clone(),
        },
        concurrency: promptctl::eval::Concurrency::from_flag(args.concurrency),
        cache: super::eval::cache_mode(args.no_cache, args.refresh),
        allow_breaking: args.allow_breaking,
        matrix: args.matrix,
    };
    let progress = super::eval_common::progress_on_stderr();
    let runtime = super::async_runtime()?;
    let report = runtime.block_on(run_ci(&project, &options, progress))?;

    let notes = annotations(&report);
    if args.json {
        print_json(&JsonReport {
            report: &report,
            annotations: &notes,
        })?;
    } else if github.active {
        // Prompt text in the diff must not be read as workflow commands: stop them around
        // the report, with a token nobody could have put in a prompt.
        let token = stop_token();
        print(&format!(
            "::stop-commands::{token}\n{}::{token}::\n",
            human(&report, args.verbose)
        ))?;
        let lines: String = notes.iter().map(|a| format!("{a}\n")).collect();
        print(&lines)?;
    } else {
        print(&human(&report, args.verbose))?;
    }
    let markdown = to_markdown(&report);
    if let Some(path) = &args.markdown {
        write_file(path, markdown.as_bytes())?;
    }
    if let Some(path) = &args.junit {
        write_file(path, to_junit(&report).as_bytes())?;
    }
    if let Some(path) = &args.html {
        write_file(path, to_html(&report).as_bytes())?;
    }
    if github.active
        && let Some(path) = &github.step_summary
    {
        append(path, &markdown)?;
    }
    if args.comment {
        comment_on_pull_request(&markdown);
    }
    if !args.json {
        eprint(&verdict(&report));
    }
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    })
}

/// Posts or edits the pull request's comment; every way it can fail is a warning: the
/// comment is a courtesy, the verdict is the exit code.
fn comment_on_pull_request(markdown: &str) {
    let warn = |message: String| eprint(&format!("{WARNING}warning:{WARNING:#} {message}\n"));
    let Some(pr) = comment::PullRequest::from_github_env(|name| std::env::var(name).ok()) else {
        return warn(
            "--comment needs a pull request's workflow: GITHUB_TOKEN, GITHUB_REPOSITORY and a pull_request event; no comment written".into(),
        );
    };
    let number = pr.number;
    match comment::comment(&pr, markdown) {
        Ok(comment::Commented::Created { .. }) => {
            eprint(&format!("commented on pull request #{number}\n"));
        }
        Ok(comment::Commented::Updated { .. }) => {
            eprint(&format!("updated the comment on pull request #{number}\n"));
        }
        Ok(comment::Commented::NotAllowed { status }) => warn(format!(
            "the token may not comment on pull request #{number} (GitHub answered {status}; a forked pull request's token is read-only); the verdict stands"
        )),
        Err(error) => warn(format!("{error}; the verdict stands")),
    }
}

#[derive(Serialize)]
struct JsonReport<'a> {
    #[serde(flatten)]
    report: &'a CiReport,
    annotations: &'a [Annotation],
}

/// The report for a terminal or a CI log: the base, the check's findings, the changed
/// prompts with their diff, and each suite's comparison.
fn human(report: &CiReport, verbose: bool) -> String {
    let mut out = String::new();
    let commit = report
        .base
        .short_commit()
        .map(|c| format!(" at {VERSION}{c}{VERSION:#}"))
        .unwrap_or_default();
    out.push_str(&format!(
        "{BOLD}base{BOLD:#} {}{commit} {DIM}({}){DIM:#}\n\n",
        report.base.revision, report.base.how
    ));
    out.push_str(&super::check::render_human(&report.check));
    out.push_str(&super::check::summary(&report.check));
    out.push('\n');
    if report.diff.prompts.is_empty() {
        out.push_str("no prompt's version changed\n");
    } else {
        out.push_str(&super::diff::human(&report.diff));
    }
    for broken in &report.diff.broken {
        if broken.side == promptctl::diff::SideName::From {
            out.push_str(&format!(
                "{WARNING}warning:{WARNING:#} at the base: {}\n",
                broken.error
            ));
        }
    }
    if !report.unevaluated.is_empty() {
        out.push_str(&format!(
            "{WARNING}warning:{WARNING:#} no eval suite covers {}: not evaluated\n",
            report.unevaluated.join(", ")
        ));
    }
    if let Some(eval) = &report.eval {
        out.push('\n');
        out.push_str(&super::eval::table(eval, verbose));
    }
    if let Some(matrix) = &report.matrix {
        out.push_str("\nmatrix:\n");
        out.push_str(&super::eval_arms::table(matrix, true));
    }
    out.push_str(&approvals(report));
    out
}

/// Whether each breaking contract change is approved, and how to approve the others.
fn approvals(report: &CiReport) -> String {
    let mut out = String::new();
    let waiting: Vec<&str> = report
        .breaking
        .iter()
        .filter(|b| b.approved_by.is_none())
        .map(|b| b.prompt.as_str())
        .collect();
    for change in &report.breaking {
        if let Some(by) = &change.approved_by {
            out.push_str(&format!(
                "breaking change to {} ({}) approved by {by}\n",
                change.prompt, change.path
            ));
        }
    }
    if !waiting.is_empty() {
        let mut names = waiting.clone();
        names.dedup();
        out.push_str(&format!(
            "{ERROR}{} not approved:{ERROR:#} approve with a commit trailer `{}: {}`, or run ci with --allow-breaking; or set the prompt's `compatibility`\n",
            plural(waiting.len(), "breaking contract change"),
            promptctl::ci::TRAILER,
            names.join(", ")
        ));
    }
    if out.is_empty() {
        out
    } else {
        format!("\n{out}")
    }
}

fn verdict(report: &CiReport) -> String {
    let mut parts = Vec::new();
    let errors = report.check.errors();
    parts.push(if errors == 0 {
        "check passed".to_owned()
    } else {
        format!("check found {}", plural(errors, "error"))
    });
    parts.push(format!(
        "{} changed",
        plural(report.diff.prompts.len(), "prompt")
    ));
    if let Some(eval) = &report.eval {
        let failed = report.failed_gates();
        parts.push(format!(
            "{} run, {}",
            plural(eval.suites.len(), "suite"),
            if failed == 0 {
                "every gate held".to_owned()
            } else {
                format!("{} failed", plural(failed, "gate"))
            }
        ));
    }
    let waiting = report
        .breaking
        .iter()
        .filter(|b| b.approved_by.is_none())
        .count();
    if waiting > 0 {
        parts.push(format!(
            "{} not approved",
            plural(waiting, "breaking contract change")
        ));
    }
    let warnings = report.gate_warnings();
    if warnings > 0 {
        parts.push(format!("{} (alert only)", plural(warnings, "gate warning")));
    }
    let head = if report.passed {
        format!("{BOLD}ci ok{BOLD:#}")
    } else {
        format!("{ERROR}ci failed{ERROR:#}")
    };
    format!("{head}: {}\n", parts.join("; "))
}

fn stop_token() -> String {
    format!("promptctl-{}", promptctl::base::random::hex16())
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    parent
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| promptctl::base::fsutil::write_atomic(path, bytes))
        .map_err(|e| CliError::usage(format!("cannot write `{}`: {e}", path.display())))
}

/// Appends to the step summary, which other steps write to as well.
fn append(path: &Path, text: &str) -> Result<(), CliError> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut file| file.write_all(format!("{text}\n").as_bytes()))
        .map_err(|e| {
            CliError::usage(format!(
                "cannot append the summary to `{}` ($GITHUB_STEP_SUMMARY): {e}",
                path.display()
            ))
        })
}
