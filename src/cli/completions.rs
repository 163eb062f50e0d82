//! `promptctl completions SHELL` and `promptctl man DIR`: shell completions and man pages,
//! generated from the same command definitions as `--help`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::{Cli, CliError, GlobalArgs};

/// Shown at the end of `--help`, one example per line.
const EXAMPLES: &str = "Examples:\n  promptctl completions bash > ~/.local/share/bash-completion/completions/promptctl\n  promptctl completions zsh > ~/.zfunc/_promptctl\n  promptctl completions fish > ~/.config/fish/completions/promptctl.fish";

/// Print shell completions for promptctl: bash, zsh, fish, powershell or elvish.
#[derive(Debug, Args)]
#[command(after_long_help = EXAMPLES, after_help = super::SEE_LONG_HELP)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: Shell,
}

pub fn run(_global: &GlobalArgs, args: CompletionsArgs) -> Result<ExitCode, CliError> {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut command, "promptctl", &mut out);
    super::output::print(&String::from_utf8_lossy(&out))?;
    Ok(ExitCode::SUCCESS)
}

/// Write man pages for promptctl and each of its commands into a folder
/// (`promptctl.1`, `promptctl-canary.1`, ...).
#[derive(Debug, Args)]
#[command(after_long_help = "Examples:\n  promptctl man /usr/local/share/man/man1", after_help = super::SEE_LONG_HELP)]
pub struct ManArgs {
    /// The folder to write the pages into (created when missing).
    dir: PathBuf,
}

pub fn run_man(_global: &GlobalArgs, args: ManArgs) -> Result<ExitCode, CliError> {
    let command = Cli::command();
    std::fs::create_dir_all(&args.dir)
        .map_err(|e| CliError::system(format!("cannot create `{}`: {e}", args.dir.display())))?;
    clap_mangen::generate_to(command, &args.dir).map_err(|e| {
        CliError::system(format!(
            "cannot write man pages into `{}`: {e}",
            args.dir.display()
        ))
    })?;
    super::output::print(&format!("man pages written to {}\n", args.dir.display()))?;
    Ok(ExitCode::SUCCESS)
}
