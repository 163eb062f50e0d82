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
    let script = with_prompt_names(args.shell, String::from_utf8_lossy(&out).into_owned());
    super::output::print(&script)?;
    Ok(ExitCode::SUCCESS)
}

/// The commands whose arguments are prompt names.
const NAMED: &str = "show render check publish canary promote revert status log resolve";

/// clap's completions know the flags, not the project: bash, zsh and fish are taught to
/// offer prompt names too, read at completion time from the project the shell is in
/// (`promptctl list --names`). PowerShell and elvish complete flags alone.
fn with_prompt_names(shell: Shell, mut script: String) -> String {
    match shell {
        Shell::Bash => script.push_str(&format!(
            r#"
# Prompt names, from the project the shell is in.
_promptctl_with_names() {{
    _promptctl "$@"
    local cur="${{COMP_WORDS[COMP_CWORD]}}"
    [[ "$cur" == -* || ${{COMP_CWORD}} -lt 2 ]] && return 0
    local prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    [[ "$prev" == -* ]] && return 0
    case " {NAMED} " in
        *" ${{COMP_WORDS[1]}} "*)
            local names
            names=$(promptctl list --names 2>/dev/null) || return 0
            COMPREPLY+=( $(compgen -W "${{names}}" -- "${{cur}}") )
            ;;
    esac
}}
complete -F _promptctl_with_names -o bashdefault -o default promptctl
"#
        )),
        Shell::Fish => script.push_str(&format!(
            "\n# Prompt names, from the project the shell is in.\ncomplete -c promptctl -n \"__fish_seen_subcommand_from {NAMED}\" -f -a \"(promptctl list --names 2>/dev/null)\"\n"
        )),
        Shell::Zsh => {
            // Each prompt-name argument completes with the function below, defined before
            // the script's closing call so that it exists when first needed.
            script = script
                .lines()
                .map(|line| {
                    let names = line.starts_with("':name -- ")
                        || line.starts_with("'::name -- ")
                        || line.starts_with("'*::names -- ");
                    if names {
                        line.replace(":_default'", ":_promptctl_prompt_names'")
                    } else {
                        line.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n");
            script.push('\n');
            let function = "# Prompt names, from the project the shell is in.\n_promptctl_prompt_names() {\n    local -a names\n    names=(${(f)\"$(promptctl list --names 2>/dev/null)\"})\n    compadd -a names\n}\n\n";
            match script.find("if [ \"$funcstack[1]\" = \"_promptctl\" ]") {
                Some(at) => script.insert_str(at, function),
                None => script.push_str(function),
            }
        }
        _ => {}
    }
    script
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
