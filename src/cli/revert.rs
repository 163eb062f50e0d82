//! `promptctl revert`: roll back with one command.

use std::process::ExitCode;

use clap::Args;

use promptctl::release::{ActionKind, ActionRequest};

use super::action::ActionFlags;
use super::{CliError, GlobalArgs};

/// Shown at the end of `--help`, one example per line.
const EXAMPLES: &str = "Examples:\n  promptctl revert\n  promptctl revert support/triage --reason \"refund answers regressed\"\n  promptctl revert support/triage --to sha256:3f2a9c1";

/// Roll back: a canary in flight is dropped; otherwise the active version returns to the one
/// that was active before it. A second revert goes further back, not forth.
///
/// Without names: roll back, as above, each prompt the most recent action changed. This is
/// not an undo: after `canary NAME 25%` re-weighted a canary from 5%, it drops the canary
/// rather than return it to 5%.
#[derive(Debug, Args)]
#[command(after_long_help = EXAMPLES, after_help = super::SEE_LONG_HELP)]
pub struct RevertArgs {
    /// Prompts to revert (default: those of the most recent action).
    names: Vec<String>,

    /// Return to this version instead of the previous one: a git revision or `sha256:...`.
    #[arg(long, value_name = "SPEC")]
    to: Option<String>,

    /// With `--to worktree`: go back to the working tree's text, which no commit holds.
    #[arg(long)]
    allow_dirty: bool,

    #[command(flatten)]
    flags: ActionFlags,
}

pub fn run(global: &GlobalArgs, args: RevertArgs) -> Result<ExitCode, CliError> {
    let mut request = ActionRequest::new(ActionKind::Revert, args.names);
    request.version = args.to;
    request.allow_dirty = args.allow_dirty;
    super::action::run(global, request, args.flags)
}
