//! `promptctl eval`: run eval suites on the old and the new version, side by side.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, ValueEnum};

use promptctl::eval::{
    Change, EvalOptions, Gate, Progress, Quiet, Report, SideSummary, SuiteReport, failure_summary,
    find_suite, load_suites, run, to_junit, to_markdown,
};
use promptctl::source::{default_base, parse_spec};

use super::error::EXIT_FAILED;
use super::output::{BOLD, DIM, ERROR, VERSION, WARNING, eprint, pad, print};
use super::{CliError, GlobalArgs};

/// Run eval suites against the old and the new version of their prompts, side by side, and
/// fail when the new one regresses.
///
/// Every case runs on both versions; the report shows pass rates, latency, tokens and cost
/// per version and the cases that regressed or were fixed. Exits 0 when every suite's gate
/// holds, 1 when one fails, 2 on bad input. Answers are cached in .promptctl/cache, so an
/// unchanged version costs no calls and an interrupted run resumes.
///
/// Examples:
///   promptctl eval
///   promptctl eval triage --base main --format markdown --output eval.md
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Suites to run, by name (`triage` for evals/triage.toml; default: all).
    suites: Vec<String>,

    /// The old version: default `active` once something is published, else `HEAD`.
    #[arg(long, value_name = "SPEC")]
    base: Option<String>,

    /// The new version.
    #[arg(long, value_name = "SPEC", default_value = "worktree")]
    head: String,

    /// Requests in flight at once, over all providers.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=1024))]
    concurrency: u16,

    /// Samples per case, instead of each suite's `repeat`.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    repeat: Option<u32>,

    /// Neither read nor write the cache.
    #[arg(long)]
    no_cache: bool,

    /// How to write the report.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,

    /// Write the report to a file instead of stdout.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// Fail when the pass rate drops more than this many points (overrides the suites).
    #[arg(long, value_name = "POINTS")]
    max_pass_rate_drop: Option<f64>,

    /// Fail when the cost rises more than this many percent (overrides the suites).
    #[arg(long, value_name = "PERCENT")]
    max_cost_increase: Option<f64>,

    /// Fail when the mean latency rises more than this many percent (overrides the suites).
    #[arg(long, value_name = "PERCENT")]
    max_latency_increase: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
    Junit,
    Markdown,
}

pub fn run_command(global: &GlobalArgs, args: EvalArgs) -> Result<ExitCode, CliError> {
    let project = global.project()?;
    let (suites, errors) = load_suites(&project.evals_dir(), &project.config.project.evals);
    if let Some(error) = errors.first() {
        return Err(CliError::usage(error.to_string())
            .hint("fix the suite (`promptctl check` lists every problem)"));
    }
    let suites = if args.suites.is_empty() {
        suites
    } else {
        args.suites
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
    for value in [
        args.max_pass_rate_drop,
        args.max_cost_increase,
        args.max_latency_increase,
    ]
    .into_iter()
    .flatten()
    {
        if !(value >= 0.0 && value.is_finite()) {
            return Err(CliError::usage(format!(
                "gate limits are non-negative numbers, not {value}"
            )));
        }
    }
    let options = EvalOptions {
        base: match &args.base {
            Some(spec) => parse_spec(spec)?,
            None => default_base(&project),
        },
        head: parse_spec(&args.head)?,
        concurrency: usize::from(args.concurrency),
        repeat: args.repeat,
        use_cache: !args.no_cache,
        gate: Gate {
            max_pass_rate_drop: args.max_pass_rate_drop,
            max_cost_increase: args.max_cost_increase,
            max_latency_increase: args.max_latency_increase,
            alert_only: Vec::new(),
        },
    };
    let progress = progress_on_stderr();
    let runtime = super::async_runtime()?;
    let report = runtime
        .block_on(run(&project, &suites, &options, progress))
        .map_err(eval_error)?;
    let text = match args.format {
        Format::Table => table(&report),
        Format::Json => {
            let mut json = serde_json::to_string_pretty(&report)
                .map_err(|e| CliError::internal(format!("cannot write JSON: {e}")))?;
            json.push('\n');
            json
        }
        Format::Junit => to_junit(&report),
        Format::Markdown => to_markdown(&report),
    };
    match &args.output {
        Some(path) => {
            promptctl::fsutil::write_atomic(path, text.as_bytes())
                .map_err(|e| CliError::usage(format!("cannot write `{}`: {e}", path.display())))?;
            eprint(&summary_line(&report));
        }
        None => print(&text)?,
    }
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    })
}

pub(super) fn eval_error(error: promptctl::eval::EvalError) -> CliError {
    use promptctl::eval::{EvalError, ProviderError};
    let message = error.to_string();
    match error {
        EvalError::Source(e) => e.into(),
        EvalError::Provider(ProviderError::MissingKey { env, .. }) => CliError::usage(message).hint(format!(
            "export {env}=... (keys are read from the environment only), or run on the offline provider"
        )),
        EvalError::Provider(ProviderError::Unknown { .. }) => CliError::usage(message),
        other => CliError::usage(other.to_string()),
    }
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

pub(super) fn table(report: &Report) -> String {
    let mut out = String::new();
    for suite in &report.suites {
        suite_table(&mut out, suite);
        out.push('\n');
    }
    out.push_str(&summary_line(report));
    out
}

fn suite_table(out: &mut String, suite: &SuiteReport) {
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
    let row = |out: &mut String, name: &str, f: &dyn Fn(&SideSummary) -> String, extra: String| {
        let line = format!(
            "  {}{}{}{extra}",
            pad(name, 16),
            pad(&f(&suite.base), col),
            pad(&f(&suite.head), col)
        );
        let _ = writeln!(out, "{}", line.trim_end());
    };
    let version = |s: &SideSummary| match (&s.version, &s.unavailable) {
        (Some(v), _) => format!("{VERSION}{}{VERSION:#}", v.short()),
        (None, Some(why)) => format!("unavailable: {why}"),
        _ => "-".into(),
    };
    row(out, "version", &version, String::new());
    let delta = (suite.head.pass_rate - suite.base.pass_rate) * 100.0;
    let delta = if suite.base.unavailable.is_none()
        && suite.head.unavailable.is_none()
        && delta.abs() > 1e-9
    {
        format!("{delta:+.1} pts")
    } else {
        String::new()
    };
    row(
        out,
        "pass rate",
        &|s| format!("{}/{} {:.1}%", s.passed, s.samples, s.pass_rate * 100.0),
        delta,
    );
    if suite
        .cases
        .iter()
        .any(|c| c.head.as_ref().is_some_and(|h| h.samples > 1))
    {
        row(
            out,
            "pass^N",
            &|s| format!("{:.1}%", s.pass_all * 100.0),
            String::new(),
        );
    }
    row(
        out,
        "latency mean",
        &|s| format!("{:.0} ms", s.mean_latency_ms),
        String::new(),
    );
    row(
        out,
        "latency p95",
        &|s| format!("{:.0} ms", s.p95_latency_ms),
        String::new(),
    );
    row(
        out,
        "tokens in/out",
        &|s| format!("{}/{}", s.input_tokens, s.output_tokens),
        String::new(),
    );
    row(
        out,
        "cost",
        &|s| format!("${:.4}", s.cost_usd),
        String::new(),
    );
    for case in &suite.cases {
        let label = match case.change {
            Change::Regressed => format!("{ERROR}regressed{ERROR:#}"),
            Change::Fixed => "fixed".to_owned(),
            _ => continue,
        };
        let why = case
            .head
            .as_ref()
            .filter(|h| !h.pass)
            .map(|h| format!("  {DIM}{}{DIM:#}", failure_summary(h)))
            .unwrap_or_default();
        let _ = writeln!(out, "  {label}  {}{why}", case.name);
    }
    let failing_on_both = suite
        .cases
        .iter()
        .filter(|c| c.change != Change::Regressed && c.head.as_ref().is_some_and(|h| !h.pass))
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
    if suite.gate.passed {
        let _ = writeln!(out, "  gate ok");
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

/// A progress bar on stderr when it is a terminal; nothing otherwise.
pub(super) fn progress_on_stderr() -> Arc<dyn Progress> {
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        Arc::new(Bar::new())
    } else {
        Arc::new(Quiet)
    }
}

/// A progress bar on stderr.
struct Bar(indicatif::ProgressBar);

impl Bar {
    fn new() -> Self {
        let bar = indicatif::ProgressBar::hidden();
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {pos}/{len} requests {wide_bar} {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Bar(bar)
    }
}

impl Progress for Bar {
    fn start(&self, total: usize) {
        if total > 0 {
            self.0
                .set_draw_target(indicatif::ProgressDrawTarget::stderr());
            self.0.set_length(total as u64);
            self.0.set_position(0);
        }
    }

    fn advance(&self) {
        self.0.inc(1);
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}
