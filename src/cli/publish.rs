//! `promptctl publish`: make versions active directly (first release, hotfix, or a version
//! moving from another environment).

use std::process::ExitCode;

use clap::Args;

use promptctl::release::{ActionKind, ActionRequest};

use super::action::ActionFlags;
use super::{CliError, GlobalArgs};

/// Shown at the end of `--help`, one example per line.
const EXAMPLES: &str = "Examples:\n  promptctl publish\n  promptctl publish support/triage --reason \"hotfix: wrong queue names\"\n  promptctl publish support/triage --version active@staging";

/// Make a version the active one of each prompt, for every key at once.
///
/// Without names: every prompt whose version at --version differs from its active one. A
/// canary in flight for a published prompt is dropped.
#[derive(Debug, Args)]
#[command(after_long_help = EXAMPLES, after_help = super::SEE_LONG_HELP)]
#[command(disable_version_flag = true)]
pub struct PublishArgs {
    /// Prompts to publish (default: every prompt that changed).
    names: Vec<String>,

    /// Where the versions come from: a git revision, `worktree`, `active@ENV`, `sha256:...`.
    #[arg(long, value_name = "SPEC", default_value = "HEAD")]
    version: String,

    /// With `--version worktree`: release the working tree's text, which no commit holds.
    #[arg(long)]
    allow_dirty: bool,

    /// Release a version whose output schema or tools would break a service reading the
    /// active version's, under the prompt's `compatibility` (refused without it).
    #[arg(long)]
    allow_breaking: bool,

    #[command(flatten)]
    flags: ActionFlags,
}

pub fn run(global: &GlobalArgs, args: PublishArgs) -> Result<ExitCode, CliError> {
    let mut request = ActionRequest::new(ActionKind::Publish, args.names);
    request.version = Some(args.version);
    request.allow_dirty = args.allow_dirty;
    request.allow_breaking = args.allow_breaking;
    super::action::run(global, request, args.flags)
}
