//! `promptctl push`: share the release branch with a remote.

use std::process::ExitCode;

use clap::Args;

use promptctl::release::push;

use super::output::{print, print_json};
use super::{CliError, GlobalArgs};

/// Shown at the end of `--help`.
const EXAMPLES: &str = "Examples:\n  promptctl push --env staging";

/// Push the environment's release branch to a remote. A push never overwrites remote
/// history this repository has not seen: pull first (exit 3 otherwise).
#[derive(Debug, Args)]
#[command(after_long_help = EXAMPLES, after_help = super::SEE_LONG_HELP)]
pub struct PushArgs {
    /// A remote name or URL.
    #[arg(default_value = "origin")]
    remote: String,

    /// Print {remote, branch, from, to, up_to_date} as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(global: &GlobalArgs, args: PushArgs) -> Result<ExitCode, CliError> {
    let project = global.project()?;
    let outcome = push(&project, &project.environment, &args.remote)?;
    if args.json {
        print_json(&outcome)?;
    } else if outcome.up_to_date {
        print(&format!(
            "{} is up to date on {}\n",
            outcome.branch, outcome.remote
        ))?;
    } else {
        let to = outcome.to.as_deref().unwrap_or_default();
        print(&format!(
            "pushed {} to {} ({})\n",
            outcome.branch,
            outcome.remote,
            promptctl::base::shortid::commit(to)
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}
