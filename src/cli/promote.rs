//! `promptctl promote`: a canary becomes the active version.

use std::process::ExitCode;

use clap::Args;

use promptctl::release::{ActionKind, ActionRequest};

use super::action::ActionFlags;
use super::{CliError, GlobalArgs};

/// Shown at the end of `--help`.
const EXAMPLES: &str =
    "Examples:\n  promptctl promote support/triage --reason \"canary healthy for 24h\"";

/// Make each canary in flight the active version, for every key.
///
/// Without names: every canary of the environment.
#[derive(Debug, Args)]
#[command(after_long_help = EXAMPLES, after_help = super::SEE_LONG_HELP)]
pub struct PromoteArgs {
    /// Prompts whose canary to promote (default: every canary).
    names: Vec<String>,

    #[command(flatten)]
    flags: ActionFlags,
}

pub fn run(global: &GlobalArgs, args: PromoteArgs) -> Result<ExitCode, CliError> {
    let request = ActionRequest::new(ActionKind::Promote, args.names);
    super::action::run(global, request, args.flags)
}
