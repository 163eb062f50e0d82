//! `promptctl eval --arm …` and `eval --matrix`: the flags of an N-way comparison, and its
//! table. The comparison itself is `promptctl::eval::run_arms`.

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::Args;

use promptctl::eval::{
    ArmCells, ArmSpec, ArmsOptions, ArmsReport, ArmsRunError, ArmsSuite, EvalOptions, Suite,
    arms_html, arms_junit, arms_markdown, parse_arm, pick_line, suite_heading,
};
use promptctl::source::RevisionSpec;

use super::CliError;
use super::error::EXIT_FAILED;
use super::eval_common::Format;
use super::output::{BOLD, DIM, ERROR, HINT, pad};

/// The flags of an N-way comparison.
#[derive(Debug, Args)]
pub struct ArmArgs {
    /// Compare arms instead of base and head: NAME=REVISION, optionally with
    /// `:model=…`, `:provider=…` or `:PARAM=VALUE` changes (2 to 16 arms; repeat the flag).
    #[arg(long = "arm", value_name = "NAME=REV[:KEY=VALUE]", conflicts_with_all = ["base", "changed"])]
    pub arms: Vec<String>,

    /// Compare the arms of each suite's `[matrix]` (every combination, on --head).
    #[arg(long, conflicts_with_all = ["arms", "base", "changed"])]
    pub matrix: bool,

    /// The arm the others are compared with (default: the first).
    #[arg(long, value_name = "ARM")]
    pub reference: Option<String>,

    /// The most an arm may cost per 1,000 requests, in US dollars, to be picked.
    #[arg(long, value_name = "DOLLARS", value_parser = parse_budget)]
    pub budget: Option<f64>,

    /// Name the arm to pick and the one step that makes it the head.
    #[arg(long)]
    pub pick: bool,
}

impl ArmArgs {
    /// Tells whether the run compares arms.
    pub fn active(&self) -> bool {
        !self.arms.is_empty() || self.matrix
    }

    /// Refuses the arm-only flags on a comparison of two versions.
    pub fn check_unused(&self) -> Result<(), CliError> {
        let stray = [
            (self.reference.is_some(), "--reference"),
            (self.budget.is_some(), "--budget"),
            (self.pick, "--pick"),
        ];
        match stray.iter().find(|(given, _)| *given) {
            Some((_, flag)) => Err(CliError::usage(format!("{flag} needs arms to compare"))
                .hint("give --arm NAME=REV at least twice, or --matrix")),
            None => Ok(()),
        }
    }
}

/// Reads `0.50` or `$0.50` as dollars per 1,000 requests, by the one rule for amounts of
/// money ([`promptctl::base::money::usd`]).
fn parse_budget(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim()
        .trim_start_matches('$')
        .parse()
        .map_err(|_| format!("`{text}` is not an amount of dollars, like 0.50"))?;
    promptctl::base::money::usd(value).map_err(|e| e.to_string())
}

/// What `eval` hands over to run arms.
pub struct ArmsRun<'a> {
    pub args: &'a ArmArgs,
    pub suites: Vec<Suite>,
    pub head: RevisionSpec,
    pub options: EvalOptions,
    pub level: f64,
    pub format: Format,
    pub output: Option<&'a std::path::Path>,
}

/// Runs the arms and writes the comparison; exits 1 when an arm could not be evaluated.
pub fn run(global: &super::GlobalArgs, run: ArmsRun<'_>) -> Result<ExitCode, CliError> {
    let project = global.project()?;
    let arms = arms_of(run.args, &run.suites, &run.head)?;
    let options = ArmsOptions {
        arms,
        reference: run.args.reference.clone(),
        budget_per_1000: run.args.budget,
        level: run.level,
    };
    let progress = super::eval_common::progress_on_stderr();
    let runtime = super::async_runtime()?;
    let report = runtime
        .block_on(promptctl::eval::run_arms(
            &project,
            &run.suites,
            &options,
            &run.options,
            progress,
        ))
        .map_err(|e| match e {
            ArmsRunError::Arms(e) => CliError::usage(e.to_string())
                .hint("nothing was sent; see `promptctl eval --help` for --arm and --matrix"),
            ArmsRunError::Eval(e) => e.into(),
        })?;
    let text = match run.format {
        Format::Table => table(&report, run.args.pick),
        Format::Json => {
            let mut json = serde_json::to_string_pretty(&report)
                .map_err(|e| CliError::system(format!("cannot write JSON: {e}")))?;
            json.push('\n');
            json
        }
        Format::Junit => arms_junit(&report),
        Format::Markdown => arms_markdown(&report),
        Format::Html => arms_html(&report),
    };
    super::eval_common::deliver(&text, run.output, &summary_line(&report))?;
    Ok(if report.complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    })
}

/// Each suite's arms: the ones given, or its matrix on the head.
fn arms_of(
    args: &ArmArgs,
    suites: &[Suite],
    head: &RevisionSpec,
) -> Result<Vec<Vec<ArmSpec>>, CliError> {
    if !args.matrix {
        let given = args
            .arms
            .iter()
            .map(|text| parse_arm(text))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| CliError::usage(e.to_string()))?;
        return Ok(suites.iter().map(|_| given.clone()).collect());
    }
    suites
        .iter()
        .map(|suite| {
            if suite.matrix.is_empty() {
                Err(CliError::usage(format!(
                    "suite `{}` has no `[matrix]` to compare",
                    suite.name
                ))
                .hint("add one, like `[matrix] model = [\"gpt-4o-mini\", \"gpt-4o\"]`, or name the suites that have one"))
            } else {
                Ok(suite.matrix.arms(head))
            }
        })
        .collect()
}

fn summary_line(report: &ArmsReport) -> String {
    let r = &report.requests;
    let verdict = if report.complete {
        format!("{BOLD}eval ok{BOLD:#}")
    } else {
        format!("{ERROR}eval incomplete{ERROR:#}: an arm could not be evaluated")
    };
    format!(
        "{verdict}; requests: {} distinct, {} cached, {} sent, {} retried, {} failed\n",
        r.distinct, r.cached, r.sent, r.retries, r.failed
    )
}

/// The comparison as a table per suite, each arm's verdict under it, and the pick.
pub fn table(report: &ArmsReport, pick: bool) -> String {
    let mut out = String::new();
    for suite in &report.suites {
        suite_table(&mut out, suite, pick);
        out.push('\n');
    }
    super::eval_common::failed_requests(&mut out, &report.failures);
    out.push_str(&summary_line(report));
    out
}

fn suite_table(out: &mut String, suite: &ArmsSuite, pick: bool) {
    let _ = writeln!(
        out,
        "{BOLD}{}{BOLD:#}  {DIM}{}{DIM:#}\n  {}",
        suite.prompt,
        suite.path,
        suite_heading(suite)
    );
    let cells: Vec<ArmCells> = suite.arms.iter().map(ArmCells::of).collect();
    let headers = [
        "arm",
        "revision",
        "pass rate",
        "interval",
        "errors",
        "mean ms",
        "p95 ms",
        "tok/case",
        "$/1k req",
        "",
    ];
    let rows: Vec<[String; 10]> = cells
        .iter()
        .map(|c| {
            [
                c.name.clone(),
                c.arm.clone(),
                c.pass_rate.clone(),
                c.interval.clone(),
                c.errors.to_string(),
                c.mean_ms.clone(),
                c.p95_ms.clone(),
                c.tokens_per_case.clone(),
                c.cost_per_1000.clone(),
                c.marks.clone(),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..headers.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([headers[i].len()])
                .max()
                .unwrap_or(0)
                + 2
        })
        .collect();
    let line = |cols: Vec<&str>| {
        let text: String = cols.iter().zip(&widths).map(|(c, w)| pad(c, *w)).collect();
        format!("  {}\n", text.trim_end())
    };
    let _ = write!(out, "{DIM}{}{DIM:#}", line(headers.to_vec()));
    for row in &rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    for c in cells
        .iter()
        .filter(|c| !c.figures.is_empty() || c.words != "the reference")
    {
        if c.words == "the reference" {
            continue;
        }
        let _ = writeln!(out, "  {BOLD}{}{BOLD:#}: {}", c.name, c.words);
        if !c.figures.is_empty() {
            let _ = writeln!(out, "    {DIM}{}{DIM:#}", c.figures);
        }
    }
    if pick {
        let _ = writeln!(out, "  {HINT}{}{HINT:#}", pick_line(suite));
    }
}
