//! `promptctl eval`: run eval suites on the old and the new version, side by side.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use promptctl::eval::{
    CacheMode, CaseSide, Change, EvalOptions, Gate, Outcome, Report, SideSummary, SuiteReport,
    contract_violation, dollars, failure_summary, find_suite, run, to_junit, to_markdown,
    tool_call_lines,
};
use promptctl::source::{default_base, parse_spec};

use super::error::EXIT_FAILED;
use super::eval_common::{Format, deliver, progress_on_stderr, write_to_file};
use super::output::{BOLD, DIM, ERROR, VERSION, WARNING, eprint, pad};
use super::{CliError, GlobalArgs};

/// Shown at the end of `--help`, one example per line.
const EXAMPLES: &str = "Examples:\n  promptctl eval\n  promptctl eval triage --base main --format markdown --output eval.md";

/// Run eval suites against the old and the new version of their prompts, side by side, and
/// fail when the new one regresses.
///
/// Every case runs on both versions; the report shows pass rates, latency, tokens and cost
/// per version and the cases that regressed or were fixed. Exits 0 when every suite's gate
/// holds, 1 when one fails, 2 on bad input. Answers are cached in .promptctl/cache, so an
/// unchanged version costs no calls and an interrupted run resumes.
#[derive(Debug, Args)]
#[command(after_long_help = EXAMPLES, after_help = super::SEE_LONG_HELP)]
pub struct EvalArgs {
    /// Suites to run, by name (`triage` for evals/triage.toml; default: all).
    suites: Vec<String>,

    /// The old version: default `active` once something is published, else `HEAD`.
    #[arg(long, value_name = "SPEC")]
    base: Option<String>,

    /// The new version.
    #[arg(long, value_name = "SPEC", default_value = "worktree")]
    head: String,

    /// The most requests in flight at once, over all providers (default 64). Under it, each
    /// provider's level adapts: without the flag it starts at 16 and doubles while answers
    /// come back fine (with it, it starts at N); a round trip of mostly 429s, 5xx or
    /// timeouts halves it, and rising latency trims it (docs/evals.md).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    concurrency: Option<u16>,

    /// Samples per case, instead of each suite's `repeat`.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    repeat: Option<u32>,

    /// Neither read nor write the cache.
    #[arg(long, conflicts_with = "refresh")]
    no_cache: bool,

    /// Send every request again and overwrite what the cache holds.
    #[arg(long)]
    refresh: bool,

    /// Show the whole output of each regressed or erroring case, not its first lines.
    #[arg(long, short)]
    verbose: bool,

    /// How to write the report.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,

    /// Write the report to a file instead of stdout.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// Run only the suites of prompts whose version differs between the base and the head
    /// (and suites whose own file changed, when the base is a git revision).
    #[arg(long)]
    changed: bool,

    /// Fail when the pass rate drops more than this many points (overrides the suites).
    #[arg(long, value_name = "POINTS")]
    max_pass_rate_drop: Option<f64>,

    /// Fail when the cost rises more than this many percent (overrides the suites).
    #[arg(long, value_name = "PERCENT", value_parser = promptctl::base::percent::parse_unbounded)]
    max_cost_increase: Option<f64>,

    /// Fail when the mean latency rises more than this many percent (overrides the suites).
    #[arg(long, value_name = "PERCENT", value_parser = promptctl::base::percent::parse_unbounded)]
    max_latency_increase: Option<f64>,

    /// Fail when the new version passes fewer than this percent of samples (overrides the
    /// suites; default 100).
    #[arg(long, value_name = "PERCENT", value_parser = promptctl::base::percent::parse_share)]
    min_pass_rate: Option<f64>,

    /// Fail on a pass-rate drop only when it is significant at this level (like 0.05) by
    /// the paired test, instead of on any drop past --max-pass-rate-drop.
    #[arg(long, value_name = "LEVEL")]
    significance: Option<f64>,

    #[command(flatten)]
    arms: super::eval_arms::ArmArgs,
}

pub fn run_command(global: &GlobalArgs, args: EvalArgs) -> Result<ExitCode, CliError> {
    let project = global.project()?;
    let suites = selected_suites(&project, &args.suites)?;
    let gate = gate_of(&args)?;
    // A report that cannot be written must fail before anything is sent and paid for.
    if let Some(path) = &args.output {
        prepare_output(path)?;
    }
    let base = match &args.base {
        Some(spec) => parse_spec(spec)?,
        None => default_base(&project),
    };
    let head = parse_spec(&args.head)?;
    if args.arms.active() {
        return run_arms(global, &args, suites, head, gate);
    }
    args.arms.check_unused()?;
    let suites = if args.changed {
        let changed = promptctl::ci::changed_suites(&project, &base, &head, &suites)?;
        if changed.is_empty() {
            eprint(&format!(
                "nothing to evaluate: no suite's prompt changed between {base} and {head}\n"
            ));
            return Ok(ExitCode::SUCCESS);
        }
        changed
    } else {
        suites
    };
    let options = EvalOptions {
        base,
        head,
        concurrency: promptctl::eval::Concurrency::from_flag(args.concurrency),
        repeat: args.repeat,
        cache: cache_mode(args.no_cache, args.refresh),
        gate,
    };
    let progress = progress_on_stderr();
    let runtime = super::async_runtime()?;
    let report = runtime.block_on(run(&project, &suites, &options, progress))?;
    write_report(&args, &report)?;
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    })
}

/// The suites named on the command line, or every suite; none at all is an error.
fn selected_suites(
    project: &promptctl::project::Project,
    names: &[String],
) -> Result<Vec<promptctl::eval::Suite>, CliError> {
    let loaded = promptctl::eval::load_suites_named(
        &project.evals_dir(),
        &project.config.project.evals,
        names,
    );
    if let Some(error) = loaded.errors.first() {
        return Err(CliError::usage(error.to_string())
            .hint("fix the suite (`promptctl check` lists every problem)"));
    }
    // A suite not asked for does not stop the run; its problems are said, not hidden.
    for error in &loaded.others {
        eprint(&format!("warning: {error} (not run)\n"));
    }
    let suites = loaded.suites;
    let suites = if names.is_empty() {
        suites
    } else {
        names
            .iter()
            .map(|name| find_suite(&suites, name).cloned())
            .collect::<Result<Vec<_>, _>>()?
    };
    if suites.is_empty() {
        return Err(CliError::usage(format!(
            "no eval suites in `{}`",
            project.config.project.evals
        ))
        .hint("add one, like evals/triage.toml (see `promptctl init`)"));
    }
    Ok(suites)
}

/// The gate the flags set; a limit out of range is a usage error.
fn gate_of(args: &EvalArgs) -> Result<Gate, CliError> {
    let gate = Gate {
        max_pass_rate_drop: args.max_pass_rate_drop,
        max_cost_increase: args.max_cost_increase,
        max_latency_increase: args.max_latency_increase,
        min_pass_rate: args.min_pass_rate,
        significance: args.significance,
        alert_only: Vec::new(),
    };
    if let Some((limit, message)) = gate.problems().into_iter().next() {
        return Err(CliError::usage(format!(
            "--{} {message}",
            limit.replace('_', "-")
        )));
    }
    Ok(gate)
}

/// Prints the report in the format asked for, or writes it to `--output` with a summary
/// line on stderr.
fn write_report(args: &EvalArgs, report: &Report) -> Result<(), CliError> {
    let text = match args.format {
        Format::Json => return deliver_json(args.output.as_deref(), report),
        Format::Table => table(report, args.verbose),
        Format::Junit => to_junit(report),
        Format::Markdown => to_markdown(report),
        Format::Html => promptctl::eval::to_html(report),
    };
    deliver(&text, args.output.as_deref(), &summary_line(report))
}

/// The JSON report: streamed to `--output` (the text of a 10,000-case report is 12 MB),
/// or to stdout byte for byte.
fn deliver_json(output: Option<&std::path::Path>, report: &Report) -> Result<(), CliError> {
    if let Some(path) = output {
        return write_to_file(path, &summary_line(report), |out| write_json(out, report));
    }
    let mut json = Vec::new();
    write_json(&mut json, report)
        .map_err(|e| CliError::system(format!("cannot write JSON: {e}")))?;
    super::output::print_raw(&json)
}

/// The JSON report, indented, with a final line break.
fn write_json<W: std::io::Write + ?Sized>(out: &mut W, report: &Report) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report).map_err(std::io::Error::other)?;
    out.write_all(b"\n")
}

/// `eval --arm …` or `eval --matrix`: every arm on the same cases.
fn run_arms(
    global: &GlobalArgs,
    args: &EvalArgs,
    suites: Vec<promptctl::eval::Suite>,
    head: promptctl::source::RevisionSpec,
    gate: Gate,
) -> Result<ExitCode, CliError> {
    let options = EvalOptions {
        base: head.clone(),
        head: head.clone(),
        concurrency: promptctl::eval::Concurrency::from_flag(args.concurrency),
        repeat: args.repeat,
        cache: cache_mode(args.no_cache, args.refresh),
        gate,
    };
    super::eval_arms::run(
        global,
        super::eval_arms::ArmsRun {
            args: &args.arms,
            suites,
            head,
            options,
            level: args
                .significance
                .unwrap_or(promptctl::eval::stats::DEFAULT_LEVEL),
            format: args.format,
            output: args.output.as_deref(),
        },
    )
}

/// How `--no-cache` and `--refresh` use the cache.
pub(super) fn cache_mode(no_cache: bool, refresh: bool) -> CacheMode {
    match (no_cache, refresh) {
        (true, _) => CacheMode::Off,
        (false, true) => CacheMode::Refresh,
        (false, false) => CacheMode::Use,
    }
}

/// Makes sure a report can be written to `path`: its folder exists (or is made) and is a
/// folder.
fn prepare_output(path: &std::path::Path) -> Result<(), CliError> {
    let cannot = |e: std::io::Error| {
        CliError::usage(format!("cannot write `{}`: {e}", path.display()))
            .hint("nothing was sent; give --output a file in a folder you can write")
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(cannot)?;
    }
    if path.is_dir() {
        return Err(cannot(std::io::Error::other("it is a folder")));
    }
    Ok(())
}

fn summary_line(report: &Report) -> String {
    let failed = report.suites.iter().filter(|s| !s.gate.passed).count();
    let r = &report.requests;
    let verdict = if report.passed {
        format!("{BOLD}eval ok{BOLD:#}")
    } else {
        format!("{ERROR}eval failed{ERROR:#}")
    };
    let suites = match report.suites.len() {
        1 => "1 suite".to_owned(),
        n => format!("{n} suites"),
    };
    let gates = match failed {
        1 => "1 gate failed".to_owned(),
        n => format!("{n} gates failed"),
    };
    format!(
        "{verdict}: {suites}, {gates}; requests: {} distinct, {} cached, {} sent, {} retried, {} failed\n",
        r.distinct, r.cached, r.sent, r.retries, r.failed
    )
}

pub(super) fn table(report: &Report, verbose: bool) -> String {
    let mut out = String::new();
    for suite in &report.suites {
        suite_table(&mut out, suite, verbose);
        out.push('\n');
    }
    super::eval_common::failed_requests(&mut out, &report.failures);
    out.push_str(&summary_line(report));
    out
}

/// The lines of an output shown under a case, unless `--verbose` asks for all of it.
const OUTPUT_LINES: usize = 6;
/// The characters of an output shown under a case, unless `--verbose`.
const OUTPUT_CHARS: usize = 400;

fn suite_table(out: &mut String, suite: &SuiteReport, verbose: bool) {
    suite_figures(out, suite);
    suite_verdict(out, suite);
    suite_cases(out, suite, verbose);
    suite_gate(out, suite);
}

/// The suite's heading and its figures, base and head side by side.
fn suite_figures(out: &mut String, suite: &SuiteReport) {
    let _ = writeln!(
        out,
        "{BOLD}{}{BOLD:#}  {DIM}{}{DIM:#}",
        suite.prompt, suite.path
    );
    let col = 24;
    let header = |s: &SideSummary, label: &str| format!("{label} {}", s.spec);
    let _ = writeln!(
        out,
        "  {}{}{}",
        pad("", 16),
        pad(&header(&suite.base, "base"), col),
        header(&suite.head, "head")
    );
    for (name, cell, extra) in figure_rows(suite) {
        let line = format!(
            "  {}{}{}{extra}",
            pad(name, 16),
            pad(&cell(&suite.base), col),
            pad(&cell(&suite.head), col)
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

/// A row of the figures: its name, how one side's cell reads, and what follows both.
type FigureRow = (&'static str, Cell, String);

/// How one side's cell of a row reads.
type Cell = Box<dyn Fn(&SideSummary) -> String>;

/// The rows a suite shows: errors only when there were some, pass^N only for cases run
/// more than once.
fn figure_rows(suite: &SuiteReport) -> Vec<FigureRow> {
    let version = |s: &SideSummary| match (&s.version, &s.unavailable) {
        (Some(v), _) => format!("{VERSION}{}{VERSION:#}", v.short()),
        (None, Some(why)) => format!("unavailable: {why}"),
        _ => "-".into(),
    };
    let delta = match promptctl::eval::pass_rate_change(&suite.base, &suite.head) {
        Some(delta) if delta.abs() > 1e-9 => format!("{delta:+.1} pts"),
        _ => String::new(),
    };
    let mut rows: Vec<FigureRow> = vec![
        ("version", Box::new(version), String::new()),
        ("pass rate", Box::new(|s| s.pass_rate_text()), delta),
    ];
    if suite.base.errors + suite.head.errors > 0 {
        let errors = |s: &SideSummary| match s.errors {
            0 => "0".into(),
            n => format!("{ERROR}{n} not evaluated{ERROR:#}"),
        };
        rows.push(("errors", Box::new(errors), String::new()));
    }
    let repeated = |c: &promptctl::eval::CaseReport| c.head.as_ref().is_some_and(|h| h.samples > 1);
    if suite.cases.iter().any(repeated) {
        let pass_all = |s: &SideSummary| format!("{:.1}%", s.pass_all * 100.0);
        rows.push(("pass^N", Box::new(pass_all), String::new()));
    }
    let cells: [(&'static str, Cell); 4] = [
        (
            "latency mean",
            Box::new(|s| format!("{:.0} ms", s.mean_latency_ms)),
        ),
        (
            "latency p95",
            Box::new(|s| format!("{:.0} ms", s.p95_latency_ms)),
        ),
        (
            "tokens in/out",
            Box::new(|s| format!("{}/{}", s.input_tokens, s.output_tokens)),
        ),
        ("cost", Box::new(|s| dollars(s.cost_usd))),
    ];
    rows.extend(cells.into_iter().map(|(n, f)| (n, f, String::new())));
    rows
}

/// The comparison of the two versions, in words and figures.
fn suite_verdict(out: &mut String, suite: &SuiteReport) {
    if let Some(comparison) = &suite.comparison {
        let _ = writeln!(out, "  {}{}", pad("verdict", 16), comparison.words);
        let _ = writeln!(out, "  {}{DIM}{}{DIM:#}", pad("", 16), comparison.figures);
    }
}

/// The cases that regressed, were fixed or could not be evaluated, with their outputs.
fn suite_cases(out: &mut String, suite: &SuiteReport, verbose: bool) {
    for case in &suite.cases {
        let (label, side) = match case.change {
            Change::Error => (
                format!("{ERROR}error{ERROR:#}"),
                errored_side(case.base.as_ref(), case.head.as_ref()),
            ),
            Change::Regressed => (format!("{ERROR}regressed{ERROR:#}"), case.head.as_ref()),
            Change::Fixed => ("fixed".to_owned(), None),
            _ => continue,
        };
        let why = side
            .map(|h| format!("  {DIM}{}{DIM:#}", failure_summary(h)))
            .unwrap_or_default();
        let _ = writeln!(out, "  {label}  {}{why}", case.name);
        if let Some(output) = side.and_then(|s| s.output.as_deref()) {
            show_output(out, output, verbose);
        }
        for call in side.map(tool_call_lines).unwrap_or_default() {
            let _ = writeln!(out, "    {DIM}{call}{DIM:#}");
        }
    }
    // A reply the service could not parse breaks it whether or not the case changed.
    for case in suite.cases.iter().filter(|c| c.change == Change::Same) {
        if let Some(check) = case.head.as_ref().and_then(contract_violation) {
            let _ = writeln!(
                out,
                "  {ERROR}contract{ERROR:#}  {}  {DIM}{}: {}{DIM:#}",
                case.name, check.kind, check.reason
            );
        }
    }
    let failing_on_both = suite
        .cases
        .iter()
        .filter(|c| c.change == Change::Same && c.head.as_ref().is_some_and(|h| !h.pass))
        .count();
    if failing_on_both > 0 {
        let cases = if failing_on_both == 1 {
            "case fails"
        } else {
            "cases fail"
        };
        let _ = writeln!(
            out,
            "  {DIM}{failing_on_both} {cases} on the new version as on the old{DIM:#}"
        );
    }
}

/// The gate's verdict, its reasons and its alert-only warnings.
fn suite_gate(out: &mut String, suite: &SuiteReport) {
    if suite.gate.passed {
        let why = suite.gate.held_because.join("; ");
        let _ = writeln!(out, "  gate ok: {why}");
    }
    for reason in &suite.gate.reasons {
        let _ = writeln!(out, "  {ERROR}gate failed:{ERROR:#} {reason}");
    }
    for warning in &suite.gate.warnings {
        let _ = writeln!(
            out,
            "  {WARNING}gate warning (alert only):{WARNING:#} {warning}"
        );
    }
}

/// The side of a case that could not be evaluated: the new one first.
fn errored_side<'a>(
    base: Option<&'a CaseSide>,
    head: Option<&'a CaseSide>,
) -> Option<&'a CaseSide> {
    head.filter(|h| h.outcome == Outcome::Error)
        .or(base.filter(|b| b.outcome == Outcome::Error))
}

/// Writes a case's output under it, indented; cut to its first lines unless `verbose`.
fn show_output(out: &mut String, output: &str, verbose: bool) {
    let (shown, cut) = if verbose {
        (output, false)
    } else {
        let mut end = output.len();
        if let Some((i, _)) = output.match_indices('\n').nth(OUTPUT_LINES - 1) {
            end = end.min(i);
        }
        if let Some((i, _)) = output.char_indices().nth(OUTPUT_CHARS) {
            end = end.min(i);
        }
        (&output[..end], end < output.len())
    };
    let _ = writeln!(out, "               {DIM}output:{DIM:#}");
    for line in shown.lines() {
        let line = format!("               {DIM}│{DIM:#} {line}");
        let _ = writeln!(out, "{}", line.trim_end());
    }
    if cut {
        let more = output.len() - shown.len();
        let _ = writeln!(
            out,
            "               {DIM}… {more} more bytes (--verbose shows all){DIM:#}"
        );
    }
}
