//! `promptctl list`: every prompt with its version.

use std::process::ExitCode;

use clap::Args;
use serde::Serialize;

use promptctl::prompt::Version;
use promptctl::source::Summary;

use super::output::{BOLD, ERROR, HINT, VERSION, eprint, pad, print, print_json, push_padded};
use super::{CliError, GlobalArgs};

/// Shown at the end of `--help`.
const EXAMPLES: &str = "Examples:\n  promptctl list --at HEAD~1";

/// List every prompt with its version, provider and model.
#[derive(Debug, Args)]
#[command(after_long_help = EXAMPLES, after_help = super::SEE_LONG_HELP)]
pub struct ListArgs {
    /// Where to read prompts: `worktree`, a git revision, `active`, ...
    #[arg(long, value_name = "SPEC", default_value = "worktree")]
    at: String,

    /// Print a JSON array of {name, version, provider, model, description, path, partials}.
    #[arg(long, conflicts_with = "names")]
    json: bool,

    /// Print the names alone, one a line (what shell completion offers).
    #[arg(long)]
    names: bool,
}

/// One row of `list --json`; the field names are a stable contract.
#[derive(Serialize)]
struct ListEntry<'a> {
    name: &'a str,
    version: Version,
    provider: &'a str,
    model: &'a str,
    description: Option<&'a str>,
    path: &'a str,
    partials: Vec<&'a str>,
}

impl<'a> From<&'a Summary> for ListEntry<'a> {
    fn from(p: &'a Summary) -> Self {
        ListEntry {
            name: p.name.as_str(),
            version: p.version,
            provider: &p.provider,
            model: &p.model,
            description: p.description.as_deref(),
            path: &p.path,
            partials: p.partials.iter().map(String::as_str).collect(),
        }
    }
}

pub fn run(global: &GlobalArgs, args: ListArgs) -> Result<ExitCode, CliError> {
    let project = global.project()?;
    let spec = promptctl::source::parse_spec(&args.at)?;
    // The process ends with this command: freeing 2,000 summaries one by one is work for
    // nothing (a twentieth of `list`), so they are left to the exit, as `diff` leaves its
    // prompts.
    let set = std::mem::ManuallyDrop::new(promptctl::source::summaries(&project, &spec)?);
    // One bad file does not hide the good prompts: they are listed, and every problem is
    // reported on stderr, with a failing exit.
    let prompts: Vec<&Summary> = set.prompts.iter().collect();
    let problems: Vec<String> = set.problems.iter().map(ToString::to_string).collect();
    if args.json {
        let entries: Vec<ListEntry> = prompts.iter().map(|p| ListEntry::from(*p)).collect();
        print_json(&entries)?;
    } else if args.names {
        let mut names = String::new();
        for prompt in &prompts {
            names.push_str(prompt.name.as_str());
            names.push('\n');
        }
        print(&names)?;
    } else if prompts.is_empty() && problems.is_empty() {
        eprint(&format!(
            "no prompts in {}/ at `{}`\n",
            set.folder, set.spec
        ));
    } else if !prompts.is_empty() {
        print(&render_table(&prompts))?;
    }
    if problems.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    for problem in &problems {
        eprint(&format!("{ERROR}error:{ERROR:#} {problem}\n"));
    }
    eprint(&format!(
        "{HINT}hint:{HINT:#} {} not listed; `promptctl check` shows every problem with its fix\n",
        if problems.len() == 1 {
            "that file is"
        } else {
            "those files are"
        }
    ));
    Ok(ExitCode::from(super::error::EXIT_BAD_INPUT))
}

fn render_table(prompts: &[&Summary]) -> String {
    let name_width = prompts
        .iter()
        .map(|p| p.name.as_str().len())
        .max()
        .unwrap_or(0)
        .max(4);
    let model_width = prompts
        .iter()
        .map(|p| p.provider.chars().count() + 1 + p.model.chars().count())
        .max()
        .unwrap_or(0)
        .max(5);
    let mut text = format!(
        "{BOLD}{}  {}  {}  DESCRIPTION{BOLD:#}\n",
        pad("NAME", name_width),
        pad("VERSION", 12),
        pad("MODEL", model_width)
    );
    let (version_on, version_off) = (
        VERSION.render().to_string(),
        VERSION.render_reset().to_string(),
    );
    // One buffer for 2,000 rows, and no `format!` in a row: a `format!` per cell cost more
    // than reading the cache.
    text.reserve(prompts.len() * (name_width + model_width + 64));
    for prompt in prompts {
        let start = text.len();
        push_padded(&mut text, prompt.name.as_str(), name_width);
        text.push_str("  ");
        text.push_str(&version_on);
        prompt.version.push_short(&mut text);
        text.push_str(&version_off);
        text.push_str("  ");
        let model_start = text.len();
        text.push_str(&prompt.provider);
        text.push('/');
        text.push_str(&prompt.model);
        let shown = text[model_start..].chars().count();
        text.extend(std::iter::repeat_n(' ', model_width.saturating_sub(shown)));
        text.push_str("  ");
        text.push_str(prompt.description.as_deref().unwrap_or(""));
        let trimmed = start + text[start..].trim_end().len();
        text.truncate(trimmed);
        text.push('\n');
    }
    text
}
