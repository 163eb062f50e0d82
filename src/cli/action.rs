//! What the release actions (`publish`, `canary`, `promote`, `revert`) share: their common
//! flags, running with or without `--push`, and printing the outcome.

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::Args;
use serde::Serialize;

use promptctl::release::{ActionRequest, Outcome, PushOutcome, run_action, run_action_and_push};

use super::output::{BOLD, DIM, VERSION, pad, print, print_json};
use super::{CliError, GlobalArgs};

/// Flags every release action takes.
#[derive(Debug, Args)]
pub struct ActionFlags {
    /// Why: recorded in the release commit and shown by `promptctl log`.
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,

    #[command(flatten)]
    push: PushFlags,

    /// Print {env, action, commit, summary, changes, notes, attempts, push} as JSON.
    #[arg(long)]
    json: bool,
}

/// `--push` and `--remote`: share a release change through a remote.
#[derive(Debug, Args)]
pub struct PushFlags {
    /// Fetch the remote's release branch first, apply, then push (retrying on a lost race).
    #[arg(long)]
    pub push: bool,

    /// The remote for --push: a remote name or URL.
    #[arg(
        long,
        value_name = "REMOTE",
        default_value = "origin",
        requires = "push"
    )]
    pub remote: String,
}

impl ActionFlags {
    /// The `--reason` given.
    pub fn reason(&self) -> Option<String> {
        self.reason.clone()
    }

    /// Replaces the reason recorded (a command may add the figures it decided on).
    pub fn set_reason(&mut self, reason: Option<String>) {
        self.reason = reason;
    }
}

impl PushFlags {
    /// The remote to push to, when --push is given.
    pub fn remote(&self) -> Option<&str> {
        self.push.then_some(self.remote.as_str())
    }
}

#[derive(Serialize)]
struct ActionJson<'a> {
    #[serde(flatten)]
    outcome: &'a Outcome,
    push: Option<&'a PushOutcome>,
}

/// Runs an action and prints what it did.
pub fn run(
    global: &GlobalArgs,
    mut request: ActionRequest,
    flags: ActionFlags,
) -> Result<ExitCode, CliError> {
    let project = global.project()?;
    request.reason = flags.reason;
    let env = project.environment.clone();
    let (outcome, pushed) = if let Some(remote) = flags.push.remote() {
        run_action_and_push(&project, &env, &request, remote)?
    } else {
        (run_action(&project, &env, &request)?, None)
    };
    if flags.json {
        print_json(&ActionJson {
            outcome: &outcome,
            push: pushed.as_ref(),
        })?;
    } else {
        print(&human(&outcome, pushed.as_ref()))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn human(outcome: &Outcome, pushed: Option<&PushOutcome>) -> String {
    let mut out = String::new();
    match &outcome.commit {
        Some(commit) => {
            let _ = writeln!(
                out,
                "{BOLD}{}{BOLD:#}  {DIM}({} {VERSION}{}{VERSION:#}{DIM}){DIM:#}",
                outcome.summary,
                outcome.env,
                promptctl::base::shortid::commit(commit)
            );
            if outcome.changes.len() > 1 {
                let width = outcome
                    .changes
                    .iter()
                    .map(|c| c.name.as_str().len())
                    .max()
                    .unwrap_or(0);
                for change in &outcome.changes {
                    let canary = change
                        .after
                        .canary
                        .as_ref()
                        .map(|c| format!(", canary {} at {}", c.version.short(), c.describe()))
                        .unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "  {}  active {VERSION}{}{VERSION:#}{canary}",
                        pad(change.name.as_str(), width),
                        change.after.active.short()
                    );
                }
            }
        }
        None => {
            let _ = writeln!(out, "nothing changed in `{}`", outcome.env);
        }
    }
    for note in &outcome.notes {
        let _ = writeln!(out, "  {DIM}note:{DIM:#} {note}");
    }
    if let Some(pushed) = pushed {
        let _ = writeln!(
            out,
            "  {DIM}pushed {} to {}{DIM:#}",
            pushed.branch, pushed.remote
        );
    }
    out
}
