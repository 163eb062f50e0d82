//! `promptctl check`: find every problem in the project's prompts and suites.

use std::process::ExitCode;

use clap::Args;

use promptctl::check::{CheckReport, CheckScope, Severity, check};
use promptctl::eval::load_suites;

use super::error::EXIT_FAILED;
use super::output::{BOLD, ERROR, WARNING, eprint, plural, print, print_json};
use super::{CliError, GlobalArgs};

/// Shown at the end of `--help`.
const EXAMPLES: &str = "Examples:\n  promptctl check support/triage";

/// Check prompts, partials and eval suites: files parse, names are valid, includes resolve,
/// templates compile, variables are declared, and every prompt renders with the values of
/// each of its eval cases. Exits 1 when an error is found; warnings do not fail.
#[derive(Debug, Args)]
#[command(after_long_help = EXAMPLES, after_help = super::SEE_LONG_HELP)]
pub struct CheckArgs {
    /// Prompts to check (default: everything, including unused partials and suites).
    names: Vec<String>,

    /// Print {prompts, suites, diagnostics: [{severity, code, location, prompt, message}]}.
    #[arg(long)]
    json: bool,
}

pub fn run(global: &GlobalArgs, args: CheckArgs) -> Result<ExitCode, CliError> {
    let (project, set) = super::load_prompts(global, "worktree")?;
    project.require_prompts_dir()?;
    let (suites, suite_errors) = load_suites(&project.evals_dir(), &project.config.project.evals);
    let scope = CheckScope::named(args.names, &set)?;
    let report = check(&set, &suites, &suite_errors, &scope, &project.config);
    if args.json {
        print_json(&report)?;
    } else {
        print(&render_human(&report))?;
        eprint(&summary(&report));
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    })
}

pub(super) fn render_human(report: &CheckReport) -> String {
    let mut text = String::new();
    for d in &report.diagnostics {
        let label = match d.severity {
            Severity::Error => format!("{ERROR}error{ERROR:#}"),
            Severity::Warning => format!("{WARNING}warning{WARNING:#}"),
        };
        text.push_str(&format!(
            "{label}[{}]: {}: {}\n",
            d.code, d.location, d.message
        ));
    }
    text
}

pub(super) fn summary(report: &CheckReport) -> String {
    let verdict = if report.passed() { "ok" } else { "failed" };
    format!(
        "{BOLD}check {verdict}{BOLD:#}: {} and {} checked, {}, {}\n",
        plural(report.prompts, "prompt"),
        plural(report.suites, "suite"),
        plural(report.errors(), "error"),
        plural(report.warnings(), "warning")
    )
}
