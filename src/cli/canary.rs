//! `promptctl canary`: start or re-weight a canary.

use std::process::ExitCode;

use clap::Args;

use promptctl::release::{ActionKind, ActionRequest, Weight};

use super::action::ActionFlags;
use super::{CliError, GlobalArgs};

/// Send a share of keys to a new version; the rest keep the active one. Keys stick: the
/// same key always gets the same side, and raising the weight keeps every key already on
/// the canary there.
///
/// Without names: every released prompt whose version at --version differs from its active
/// one. Naming a prompt whose canary is in flight (and whose version at --version is the
/// active one or the canary) changes the weight.
///
/// Examples:
///   promptctl canary 10%
///   promptctl canary support/triage 0.5%
///   promptctl canary support/triage 25 --reason "error rate flat at 10%"
#[derive(Debug, Args)]
#[command(disable_version_flag = true)]
pub struct CanaryArgs {
    /// Prompts (optional), then the share of keys: `10%`, `0.5%` or `10` (0.01% to 99.99%).
    #[arg(value_name = "NAME… PERCENT", required = true, num_args = 1..)]
    args: Vec<String>,

    /// Where the canary version comes from: a git revision, `worktree`, `sha256:...`.
    #[arg(long, value_name = "SPEC", default_value = "HEAD")]
    version: String,

    #[command(flatten)]
    flags: ActionFlags,
}

pub fn run(global: &GlobalArgs, args: CanaryArgs) -> Result<ExitCode, CliError> {
    let mut names = args.args;
    let percent = names.pop().unwrap_or_default();
    let weight: Weight = percent
        .parse()
        .map_err(|e: promptctl::release::WeightError| {
            let hint = match e {
                promptctl::release::WeightError::Full => {
                    "to send every key to the canary, promote it: promptctl promote NAME"
                }
                promptctl::release::WeightError::Zero => {
                    "to take every key off the canary, revert it: promptctl revert NAME"
                }
                _ => "give the share of keys last, like `promptctl canary support/triage 10%`",
            };
            CliError::usage(format!("invalid canary weight: {e}")).hint(hint)
        })?;
    let request = ActionRequest {
        kind: ActionKind::Canary,
        names,
        version: Some(args.version),
        weight: Some(weight),
        reason: None,
    };
    super::action::run(global, request, args.flags)
}
