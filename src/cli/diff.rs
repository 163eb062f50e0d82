//! `promptctl diff`: what a prompt change changes, as text, a summary or JSON.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anstyle::{AnsiColor, Style};
use clap::Args;
use serde_json::Value;

use promptctl::diff::{
    FieldChange, LineOp, MessageChange, PromptDiff, RenderedChange, Samples, SourceDiff, Status,
    TextChange, compare,
};
use promptctl::eval::{find_case, load_suites};
use promptctl::project::Project;
use promptctl::source::{default_base, load_pair, parse_spec};

use super::error::{EXIT_BAD_INPUT, EXIT_FAILED};
use super::output::{BOLD, DIM, VERSION, WARNING, eprint, plural, print, print_json};
use super::{CliError, GlobalArgs};

const REMOVED: Style = AnsiColor::Red.on_default();
const ADDED: Style = AnsiColor::Green.on_default();
const REMOVED_WORD: Style = AnsiColor::Red.on_default().bold().invert();
const ADDED_WORD: Style = AnsiColor::Green.on_default().bold().invert();
const HUNK: Style = AnsiColor::Cyan.on_default();

/// Shown at the end of `--help`, one example per line.
const EXAMPLES: &str = "Examples:\n  promptctl diff\n  promptctl diff main -- support/triage\n  promptctl diff HEAD~1 HEAD --stat\n  promptctl diff --render --case triage:refund";

/// Show what changes between two versions of the prompts: versions, provider, model,
/// params, variables, message templates (with changed words highlighted on a terminal),
/// partials under every prompt that reaches them, and with `--render` the rendered messages.
///
/// With no revision: the active release (before anything is published, `HEAD`) against the
/// working tree. With one: that revision against the working tree. Prompts whose version is
/// the same on both sides are not shown.
#[derive(Debug, Args)]
#[command(after_long_help = EXAMPLES, after_help = super::SEE_LONG_HELP)]
pub struct DiffArgs {
    /// Old and new side: `worktree`, a git revision, `active`, `canary@ENV`, `sha256:...`.
    #[arg(value_name = "FROM [TO]", num_args = 0..=2)]
    revisions: Vec<String>,

    /// Only these prompts (after `--`).
    #[arg(last = true, value_name = "NAME")]
    names: Vec<String>,

    /// Also diff the rendered messages, for each eval case of the prompt's suite (or its
    /// declared defaults), or for the values given with --var, --vars-file or --case.
    #[arg(long)]
    render: bool,

    /// A value to render with, as NAME=VALUE (implies --render); repeat for more.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = super::render::parse_assignment)]
    vars: Vec<(String, String)>,

    /// A JSON or TOML file of values to render with (implies --render).
    #[arg(long, value_name = "FILE")]
    vars_file: Option<PathBuf>,

    /// Render with the values of one eval case, as SUITE:CASE (implies --render).
    #[arg(long, value_name = "SUITE:CASE", conflicts_with_all = ["vars", "vars_file"])]
    case: Option<String>,

    /// One line per prompt: what happened, lines added and removed, fields changed.
    #[arg(long, conflicts_with_all = ["name_only", "json"])]
    stat: bool,

    /// Only the names of the prompts that differ.
    #[arg(long, conflicts_with = "json")]
    name_only: bool,

    /// Print the comparison as JSON (shape in docs/diff.md).
    #[arg(long)]
    json: bool,

    /// Exit 1 when any prompt differs, 0 when none does.
    #[arg(long)]
    exit_code: bool,
}

pub fn run(global: &GlobalArgs, args: DiffArgs) -> Result<ExitCode, CliError> {
    let project = global.project()?;
    let (from, to) = match args.revisions.as_slice() {
        [] => (default_base(&project), parse_spec("worktree")?),
        [from] => (parse_spec(from)?, parse_spec("worktree")?),
        [from, to, ..] => (parse_spec(from)?, parse_spec(to)?),
    };
    let samples = samples(&project, &args)?;
    let pair = load_pair(&project, &from, &to, &args.names)?;
    let diff = compare(&pair, samples.as_ref());
    if args.json {
        print_json(&diff)?;
    } else if args.name_only {
        print(&name_only(&diff))?;
    } else if args.stat {
        print(&stat(&diff))?;
    } else {
        print(&human(&diff))?;
    }
    if !diff.broken.is_empty() {
        for broken in &diff.broken {
            let side = if broken.side == promptctl::diff::SideName::From {
                &diff.from
            } else {
                &diff.to
            };
            CliError::from(broken.error.clone())
                .context(format!("at `{}`", side.spec))
                .print();
        }
        return Ok(ExitCode::from(EXIT_BAD_INPUT));
    }
    let code = if args.exit_code && diff.has_changes() {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    };
    // The process ends with this command: freeing every parsed prompt and diff one by one
    // is work for nothing (a tenth of a diff of 500 prompts), so both are left to the exit.
    std::mem::forget((pair, diff));
    Ok(code)
}

/// Picks the sample values for `--render`, or none without it.
fn samples(project: &Project, args: &DiffArgs) -> Result<Option<Samples>, CliError> {
    let given = !args.vars.is_empty() || args.vars_file.is_some();
    if !(args.render || given || args.case.is_some()) {
        return Ok(None);
    }
    if given {
        let values = match &args.vars_file {
            Some(path) => promptctl::varsfile::load(path)?,
            None => Default::default(),
        };
        return Ok(Some(Samples::Given {
            values,
            texts: args.vars.clone(),
        }));
    }
    let (suites, errors) = load_suites(&project.evals_dir(), &project.config.project.evals);
    if let Some(reference) = &args.case {
        let (suite, index) = find_case(&suites, reference)?;
        return Ok(Some(Samples::Case {
            suite: Box::new(suite.clone()),
            index,
        }));
    }
    for error in errors {
        eprint(&format!(
            "{WARNING}warning:{WARNING:#} {error} (its cases are not rendered)\n"
        ));
    }
    Ok(Some(Samples::Suites(suites)))
}

fn name_only(diff: &SourceDiff) -> String {
    diff.prompts
        .iter()
        .map(|p| format!("{}\n", p.name))
        .collect()
}

fn stat(diff: &SourceDiff) -> String {
    let width = diff.prompts.iter().map(|p| title(p).chars().count()).max();
    let mut out = String::new();
    for prompt in &diff.prompts {
        let (added, removed) = prompt.line_counts();
        let mut notes = Vec::new();
        if !prompt.fields.is_empty() {
            notes.push(plural(prompt.fields.len(), "field"));
        }
        if !prompt.partials.is_empty() {
            notes.push(plural(prompt.partials.len(), "partial"));
        }
        if !prompt.contract.is_empty() {
            let breaking = prompt.breaking().count();
            notes.push(match breaking {
                0 => plural(prompt.contract.len(), "contract change"),
                n => format!(
                    "{} ({n} breaking)",
                    plural(prompt.contract.len(), "contract change")
                ),
            });
        }
        let rendered = prompt.rendered.iter().filter(|r| !r.is_empty()).count();
        if rendered > 0 {
            notes.push(format!(
                "{} rendered differently",
                plural(rendered, "sample")
            ));
        }
        let _ = writeln!(
            out,
            " {} | {:<7} {ADDED}+{added}{ADDED:#} {REMOVED}-{removed}{REMOVED:#}{}",
            super::output::pad(&title(prompt), width.unwrap_or(0)),
            prompt.status.as_str(),
            if notes.is_empty() {
                String::new()
            } else {
                format!("  {}", notes.join(", "))
            }
        );
    }
    if !diff.prompts.is_empty() {
        out.push_str(&totals(diff));
    }
    out.push_str(&breaking_section(diff));
    out
}

fn totals(diff: &SourceDiff) -> String {
    let mut counts = Vec::new();
    for status in [
        Status::Changed,
        Status::Renamed,
        Status::Added,
        Status::Removed,
    ] {
        let n = diff.prompts.iter().filter(|p| p.status == status).count();
        if n > 0 {
            counts.push(format!("{n} {}", status.as_str()));
        }
    }
    let (added, removed) = diff.prompts.iter().fold((0, 0), |(a, r), p| {
        let (pa, pr) = p.line_counts();
        (a + pa, r + pr)
    });
    let verb = if diff.prompts.len() == 1 {
        "differs"
    } else {
        "differ"
    };
    format!(
        "{} {verb}: {}; {ADDED}+{added}{ADDED:#} {REMOVED}-{removed}{REMOVED:#} lines\n",
        plural(diff.prompts.len(), "prompt"),
        counts.join(", ")
    )
}

fn title(prompt: &PromptDiff) -> String {
    match &prompt.renamed_from {
        Some(old) => format!("{old} → {}", prompt.name),
        None => prompt.name.clone(),
    }
}

pub(super) fn human(diff: &SourceDiff) -> String {
    let mut out = String::new();
    // A partial's diff is shown in full under the first prompt that reaches it; later
    // prompts point back to it, so one edited partial does not repeat a hundred times.
    let mut partials_shown: Vec<(&str, &Arc<TextChange>)> = Vec::new();
    for (index, prompt) in diff.prompts.iter().enumerate() {
        if index > 0 {
            out.push('\n');
        }
        write_prompt(&mut out, prompt, &mut partials_shown);
    }
    if !diff.prompts.is_empty() {
        out.push('\n');
        out.push_str(&totals(diff));
    }
    out.push_str(&breaking_section(diff));
    out
}

fn write_prompt<'a>(
    out: &mut String,
    prompt: &'a PromptDiff,
    partials_shown: &mut Vec<(&'a str, &'a Arc<TextChange>)>,
) {
    let versions = match (prompt.old_version, prompt.new_version) {
        (Some(a), Some(b)) if a == b => format!("{VERSION}{}{VERSION:#} (same version)", a.short()),
        (Some(a), Some(b)) => format!(
            "{VERSION}{}{VERSION:#} → {VERSION}{}{VERSION:#}",
            a.short(),
            b.short()
        ),
        (Some(v), None) | (None, Some(v)) => format!("{VERSION}{}{VERSION:#}", v.short()),
        (None, None) => String::new(),
    };
    let _ = writeln!(
        out,
        "{BOLD}{:<7} {}{BOLD:#}  {versions}",
        prompt.status.as_str(),
        title(prompt)
    );
    write_fields(out, &prompt.fields);
    write_contract(out, prompt);
    for message in &prompt.messages {
        write_message(out, message, "  ");
    }
    for partial in &prompt.partials {
        let key = (partial.name.as_str(), &partial.text);
        // The same diff is one `Arc`: compared by address before content.
        let first = !partials_shown
            .iter()
            .any(|(name, text)| *name == key.0 && (Arc::ptr_eq(text, key.1) || *text == key.1));
        let _ = write!(
            out,
            "  {BOLD}partial {}{BOLD:#} ({})",
            partial.name,
            partial.status.as_str()
        );
        if first {
            partials_shown.push(key);
            out.push('\n');
            write_text(out, &partial.text, "  ");
        } else {
            let _ = writeln!(out, " {DIM}same change as shown above{DIM:#}");
        }
    }
    write_rendered(out, &prompt.rendered);
}

/// The output and tool changes, each with its verdict under the prompt's mode.
fn write_contract(out: &mut String, prompt: &PromptDiff) {
    if prompt.contract.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "  {BOLD}contract{BOLD:#} (compatibility: {})",
        prompt.compatibility.unwrap_or_default()
    );
    let width = prompt.contract.iter().map(|c| c.change.path.len()).max();
    for judged in &prompt.contract {
        let verdict = if judged.breaking {
            format!("{REMOVED}breaking{REMOVED:#}")
        } else {
            format!("{DIM}compatible{DIM:#}")
        };
        let _ = writeln!(
            out,
            "    {}  {}  {verdict} ({})",
            super::output::pad(&judged.change.path, width.unwrap_or(0)),
            judged.change.detail,
            judged.change.kind
        );
    }
}

/// The breaking contract changes of the whole comparison, in a section of their own.
pub(super) fn breaking_section(diff: &SourceDiff) -> String {
    let breaking: Vec<_> = diff.breaking().collect();
    if breaking.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "\n{REMOVED}{BOLD}{} that would break a service:{BOLD:#}{REMOVED:#}\n",
        plural(breaking.len(), "contract change")
    );
    for (prompt, judged) in breaking {
        let _ = writeln!(
            out,
            "  {}  {}: {} ({} under `{}`)",
            prompt.name,
            judged.change.path,
            judged.change.detail,
            judged.change.kind,
            prompt.compatibility.unwrap_or_default()
        );
    }
    out.push_str("  (docs/contract.md: how a breaking change is approved)\n");
    out
}

fn write_fields(out: &mut String, fields: &[FieldChange]) {
    let width = fields.iter().map(|f| f.field.len()).max().unwrap_or(0);
    for field in fields {
        let change = match (&field.old, &field.new) {
            (None, Some(new)) => format!("{ADDED}added{ADDED:#} {}", value(new)),
            (Some(old), None) => format!("{REMOVED}removed{REMOVED:#} {}", value(old)),
            (Some(old), Some(new)) => format!(
                "{REMOVED}{}{REMOVED:#} → {ADDED}{}{ADDED:#}",
                value(old),
                value(new)
            ),
            (None, None) => continue,
        };
        let _ = writeln!(
            out,
            "  {}  {change}",
            super::output::pad(&field.field, width)
        );
    }
}

fn value(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn write_message(out: &mut String, message: &MessageChange, indent: &str) {
    let index = message.new_index.or(message.old_index).unwrap_or(0);
    let role = |r: Option<promptctl::prompt::Role>| r.map_or("", |r| r.as_str());
    let what = match (message.old_role, message.new_role) {
        (None, Some(_)) => format!("{}, added", role(message.new_role)),
        (Some(_), None) => format!("{}, removed", role(message.old_role)),
        (a, b) if a != b => format!("{} → {}", role(a), role(b)),
        _ => role(message.new_role).to_owned(),
    };
    let _ = writeln!(out, "{indent}{BOLD}messages[{index}]{BOLD:#} ({what})");
    write_text(out, &message.text, indent);
}

fn write_text(out: &mut String, text: &TextChange, indent: &str) {
    for hunk in &text.hunks {
        let _ = writeln!(out, "{indent}{HUNK}{}{HUNK:#}", hunk.header());
        for line in &hunk.lines {
            let (style, word) = match line.op {
                LineOp::Equal => (Style::new(), Style::new()),
                LineOp::Delete => (REMOVED, REMOVED_WORD),
                LineOp::Insert => (ADDED, ADDED_WORD),
            };
            let _ = write!(out, "{indent}{style}{}", line.op.marker());
            if line.words.is_empty() {
                out.push_str(&line.text);
            } else {
                for (emphasized, run) in &line.words {
                    let run = run.trim_end_matches(['\n', '\r']);
                    if *emphasized {
                        let _ = write!(out, "{style:#}{word}{run}{word:#}{style}");
                    } else {
                        out.push_str(run);
                    }
                }
            }
            let _ = writeln!(out, "{style:#}");
            if line.no_newline {
                let _ = writeln!(out, "{indent}{DIM}\\ no newline at end{DIM:#}");
            }
        }
    }
}

fn write_rendered(out: &mut String, rendered: &[RenderedChange]) {
    if rendered.is_empty() {
        return;
    }
    let differing: Vec<&RenderedChange> = rendered.iter().filter(|r| !r.is_empty()).collect();
    for change in &differing {
        let _ = writeln!(out, "  {BOLD}rendered with {}{BOLD:#}", change.sample);
        match (&change.old_error, &change.new_error) {
            (Some(old), Some(new)) if old == new => {}
            (old, new) => {
                if let Some(error) = old {
                    let _ = writeln!(out, "    {REMOVED}old version fails:{REMOVED:#} {error}");
                }
                if let Some(error) = new {
                    let _ = writeln!(out, "    {REMOVED}new version fails:{REMOVED:#} {error}");
                }
            }
        }
        for message in &change.messages {
            write_message(out, message, "    ");
        }
    }
    // The same error on both sides renders "the same", but it is no sample to count as
    // fine: each side fails, and says why.
    let failing: Vec<&RenderedChange> = rendered
        .iter()
        .filter(|r| r.is_empty() && r.old_error.is_some())
        .collect();
    for change in &failing {
        let _ = writeln!(out, "  {BOLD}rendered with {}{BOLD:#}", change.sample);
        if let Some(error) = &change.old_error {
            let _ = writeln!(out, "    {REMOVED}both versions fail:{REMOVED:#} {error}");
        }
    }
    let mut summary = format!(
        "rendered differently for {} of {}",
        differing.len(),
        plural(rendered.len(), "sample")
    );
    if !failing.is_empty() {
        let _ = write!(
            summary,
            "; both versions fail {}",
            plural(failing.len(), "sample")
        );
    }
    let _ = writeln!(out, "  {DIM}{summary}{DIM:#}");
}
