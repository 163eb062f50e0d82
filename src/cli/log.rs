//! `promptctl log`: the release history of an environment.

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::Args;

use promptctl::release::{LogEntry, log};

use super::output::{DIM, VERSION, print, print_json, utc_time};
use super::{CliError, GlobalArgs};

/// Shown at the end of `--help`.
const EXAMPLES: &str = "Examples:\n  promptctl log support/triage -n 5\n  promptctl log --oneline";

/// Show the release history, newest first: who did what, when and why. It is plain git
/// history too: `git log promptctl/production`.
#[derive(Debug, Args)]
#[command(after_long_help = EXAMPLES, after_help = super::SEE_LONG_HELP)]
pub struct LogArgs {
    /// Only actions on this prompt.
    name: Option<String>,

    /// At most this many entries.
    #[arg(
        short = 'n',
        long = "max-count",
        value_name = "N",
        default_value_t = 20
    )]
    max_count: usize,

    /// Print [{commit, time, author, action, summary, prompts: [{name, version}], weight,
    /// source, reason}] as JSON.
    #[arg(long)]
    json: bool,

    /// One line per action: the commit and the summary, as `git log --oneline`.
    #[arg(long, conflicts_with = "json")]
    oneline: bool,
}

pub fn run(global: &GlobalArgs, args: LogArgs) -> Result<ExitCode, CliError> {
    let project = global.project()?;
    let entries = log(
        &project,
        &project.environment,
        args.name.as_deref(),
        args.max_count,
    )?;
    if args.json {
        print_json(&entries)?;
    } else if args.oneline {
        print(&oneline(&entries))?;
    } else {
        print(&human(&entries))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn oneline(entries: &[LogEntry]) -> String {
    let mut out = String::new();
    for entry in entries {
        let _ = writeln!(
            out,
            "{VERSION}{}{VERSION:#} {}",
            promptctl::base::shortid::commit(&entry.commit),
            entry.record.summary
        );
    }
    out
}

fn human(entries: &[LogEntry]) -> String {
    let mut out = String::new();
    for entry in entries {
        let _ = writeln!(
            out,
            "{VERSION}{}{VERSION:#}  {DIM}{}  {}{DIM:#}  {}",
            promptctl::base::shortid::commit(&entry.commit),
            utc_time(entry.time),
            entry.author,
            entry.record.summary
        );
        if let Some(reason) = &entry.record.reason {
            let _ = writeln!(out, "         {DIM}reason:{DIM:#} {reason}");
        }
    }
    out
}
