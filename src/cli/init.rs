//! `promptctl init`: create a prompt repository.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::output::{BOLD, print, print_json};
use super::{CliError, GlobalArgs};

/// Shown at the end of `--help`.
const EXAMPLES: &str = "Examples:\n  promptctl init my-prompts";

/// Create a prompt repository: promptctl.toml, an example prompt with a partial, an example
/// eval suite, a GitHub workflow that runs `promptctl ci` on pull requests, and
/// `.promptctl/` in .gitignore. Existing files are never overwritten.
#[derive(Debug, Args)]
#[command(after_long_help = EXAMPLES, after_help = super::SEE_LONG_HELP)]
pub struct InitArgs {
    /// Folder to create the project in (created when missing).
    #[arg(default_value = ".")]
    dir: PathBuf,

    /// Print what was created as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(_global: &GlobalArgs, args: InitArgs) -> Result<ExitCode, CliError> {
    let report = promptctl::scaffold::init(&args.dir)?;
    if args.json {
        print_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = String::new();
    if report.git_initialized {
        text.push_str(&format!(
            "initialized a git repository in {}\n",
            report.dir.display()
        ));
    }
    for file in &report.created {
        text.push_str(&format!("created {file}\n"));
    }
    for file in &report.skipped {
        text.push_str(&format!("kept    {file} (already there)\n"));
    }
    text.push_str(&format!(
        "\nnext: {BOLD}promptctl check{BOLD:#}, then {BOLD}promptctl render support/triage --var product=Acme --var ticket=hello{BOLD:#}\n\
         commit, and {BOLD}promptctl ci{BOLD:#} checks every pull request (.github/workflows/promptctl.yml)\n"
    ));
    print(&text)?;
    Ok(ExitCode::SUCCESS)
}
