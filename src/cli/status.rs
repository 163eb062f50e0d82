//! `promptctl status`: the release pointers of every prompt, and how HEAD and the working
//! tree relate to them.

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::Args;

use promptctl::release::{PromptStatus, Relation, Status, status};

use super::output::{BOLD, DIM, VERSION, pad, print, print_json};
use super::{CliError, GlobalArgs};

/// Shown at the end of `--help`.
const EXAMPLES: &str = "Examples:\n  promptctl status --env staging";

/// Show each prompt's active version, canary and weight in the environment, and whether
/// HEAD and the working tree hold the active version, the canary or something new.
#[derive(Debug, Args)]
#[command(after_long_help = EXAMPLES, after_help = super::SEE_LONG_HELP)]
pub struct StatusArgs {
    /// Prompts to show (default: every prompt released, at HEAD or in the working tree).
    names: Vec<String>,

    /// Print {env, commit, prompts: [{name, active, canary, canary_weight, previous, head,
    /// worktree}]} as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(global: &GlobalArgs, args: StatusArgs) -> Result<ExitCode, CliError> {
    let project = global.project()?;
    let status = status(&project, &project.environment, &args.names)?;
    if args.json {
        print_json(&status)?;
    } else {
        print(&human(&status))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn relation(relation: Relation) -> &'static str {
    match relation {
        Relation::Active => "active",
        Relation::Canary => "canary",
        Relation::New => "new",
        Relation::Absent => "-",
        Relation::Broken => "broken",
    }
}

fn human(status: &Status) -> String {
    let mut out = match &status.commit {
        Some(commit) => format!(
            "{BOLD}{}{BOLD:#}  {DIM}release {}{DIM:#}\n",
            status.env,
            promptctl::base::shortid::commit(commit)
        ),
        None => format!(
            "{BOLD}{}{BOLD:#}  {DIM}nothing released yet{DIM:#}\n",
            status.env
        ),
    };
    let width = status
        .prompts
        .iter()
        .map(|p| p.name.as_str().len())
        .max()
        .unwrap_or(0)
        .max(4);
    let canaries: Vec<String> = status.prompts.iter().map(canary_text).collect();
    let canary_width = canaries
        .iter()
        .map(|c| c.chars().count())
        .max()
        .unwrap_or(0)
        .max(20);
    let _ = writeln!(
        out,
        "{BOLD}{}  {}  {}  {}  WORKTREE{BOLD:#}",
        pad("NAME", width),
        pad("ACTIVE", 12),
        pad("CANARY", canary_width),
        pad("HEAD", 7)
    );
    for (prompt, canary) in status.prompts.iter().zip(&canaries) {
        let active = prompt.active.map_or("-".to_owned(), |v| v.short());
        let _ = writeln!(
            out,
            "{}  {VERSION}{}{VERSION:#}  {}  {}  {}",
            pad(prompt.name.as_str(), width),
            pad(&active, 12),
            pad(canary, canary_width),
            pad(relation(prompt.head), 7),
            relation(prompt.worktree)
        );
    }
    out
}

/// The canary column: version, who is on it, and the plan's stage.
fn canary_text(prompt: &PromptStatus) -> String {
    match (prompt.canary, &prompt.canary_route) {
        (Some(version), Some(route)) => {
            let plan = prompt.rollout.as_ref().map_or(String::new(), |r| {
                format!(" (stage {}/{})", r.step + 1, r.stages.len())
            });
            format!("{} {route}{plan}", version.short())
        }
        _ => match &prompt.experiment {
            Some(experiment) => {
                format!("experiment {}: {}", experiment.name, experiment.describe())
            }
            None => "-".to_owned(),
        },
    }
}
