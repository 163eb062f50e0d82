//! `promptctl pull`: get the release branch from a remote.

use std::process::ExitCode;

use clap::Args;

use promptctl::release::{PullResult, pull};

use super::output::{print, print_json};
use super::{CliError, GlobalArgs};

/// Shown at the end of `--help`.
const EXAMPLES: &str = "Examples:\n  promptctl pull";

/// Fast-forward the environment's release branch to the remote's. Histories that have
/// diverged are not merged: exit 3, with both left as they are.
#[derive(Debug, Args)]
#[command(after_long_help = EXAMPLES, after_help = super::SEE_LONG_HELP)]
pub struct PullArgs {
    /// A remote name or URL.
    #[arg(default_value = "origin")]
    remote: String,

    /// Print {remote, branch, from, to, result} as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(global: &GlobalArgs, args: PullArgs) -> Result<ExitCode, CliError> {
    let project = global.project()?;
    let outcome = pull(&project, &project.environment, &args.remote)?;
    if args.json {
        print_json(&outcome)?;
        return Ok(ExitCode::SUCCESS);
    }
    let short = |c: &Option<String>| {
        c.as_deref().map_or("none".to_owned(), |c| {
            promptctl::base::shortid::commit(c).to_owned()
        })
    };
    let text = match outcome.result {
        PullResult::Empty => format!("{} has no {} yet\n", outcome.remote, outcome.branch),
        PullResult::UpToDate => format!("{} is up to date\n", outcome.branch),
        PullResult::Ahead => format!(
            "{} is ahead of {}: push to share it\n",
            outcome.branch, outcome.remote
        ),
        result @ (PullResult::FastForward | PullResult::Created) => format!(
            "{} {}: {} → {}\n",
            outcome.branch,
            result.as_str(),
            short(&outcome.from),
            short(&outcome.to)
        ),
    };
    print(&text)?;
    Ok(ExitCode::SUCCESS)
}
