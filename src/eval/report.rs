//! Eval reports: per suite, each version's figures side by side, each case's change, and
//! the gate; written as JSON, JUnit XML or markdown.

use std::fmt::Write as _;

use serde::Serialize;

use super::assertions::{AssertionResult, Outcome};
use super::stats::Comparison;
use crate::base::junit;
use crate::prompt::{ToolCall, Version};

/// Whether a suite's gate held.
#[derive(Debug, Clone, Serialize)]
pub struct GateResult {
    pub passed: bool,
    /// Each limit that was exceeded, with the figures.
    pub reasons: Vec<String>,
    /// Each alert-only limit that was exceeded: reported, never failing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// When it held, why: each limit it was judged on and the figure that met it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub held_because: Vec<String>,
}

/// The whole report of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub suites: Vec<SuiteReport>,
    /// Every gate held and no request failed.
    pub passed: bool,
    pub requests: RequestStats,
    /// Requests that failed for good, grouped by what the provider said, most first.
    pub failures: Vec<FailureGroup>,
}

/// Requests that failed alike.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailureGroup {
    pub count: usize,
    /// What failed, redacted: `provider `openai`: HTTP 401 invalid_api_key: …`.
    pub message: String,
}

/// What the run asked of providers.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RequestStats {
    /// Distinct requests (identical ones within a run are sent once).
    pub distinct: usize,
    /// Answered from the cache.
    pub cached: usize,
    /// Reached a provider (an answer of any kind came back, or the command ran).
    pub sent: usize,
    /// Retries after 429, 5xx or timeouts.
    pub retries: usize,
    /// Requests that failed for good.
    pub failed: usize,
    /// The most requests one provider was allowed in flight at once: the level its
    /// adaptive limit reached under `--concurrency` (0 when nothing was sent).
    pub in_flight: usize,
}

/// One suite: both versions and the comparison.
#[derive(Debug, Clone, Serialize)]
pub struct SuiteReport {
    pub suite: String,
    pub path: String,
    pub prompt: String,
    pub base: SideSummary,
    pub head: SideSummary,
    pub cases: Vec<CaseReport>,
    /// How sure the difference is; `null` when a version could not be evaluated.
    pub comparison: Option<Comparison>,
    pub gate: GateResult,
}

/// One version's figures over a suite.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SideSummary {
    /// The revision spec it was read from.
    pub spec: String,
    /// The prompt's version there; `null` when the prompt is not there.
    pub version: Option<Version>,
    /// Why the version could not be evaluated (absent, broken).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
    /// Samples run: cases × repeat, `passed + failed + errors`.
    pub samples: usize,
    pub passed: usize,
    /// Samples whose output was checked and did not meet an assertion.
    pub failed: usize,
    /// Samples that could not be evaluated: no output (a render or provider error), or an
    /// assertion or judge that could not be checked. Never counted as passed or failed.
    pub errors: usize,
    /// `passed / (passed + failed)`, from 0 to 1: over the samples that could be
    /// evaluated; 0 when none could (see [`SideSummary::evaluated`]).
    pub pass_rate: f64,
    /// The share of cases whose every sample passed (pass^N), from 0 to 1.
    pub pass_all: f64,
    pub mean_latency_ms: f64,
    pub p95_latency_ms: f64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Total cost in US dollars, from `[prices]` (0 for unpriced models).
    pub cost_usd: f64,
}

impl SideSummary {
    /// Samples that could be evaluated: passed or failed.
    pub fn evaluated(&self) -> usize {
        self.passed + self.failed
    }

    /// The pass rate as every format shows it: `7/8 (87.5%)`, with `, 2 not evaluated`
    /// when samples errored; `none evaluated (3 errors)`; `—` for a missing version.
    pub fn pass_rate_text(&self) -> String {
        if self.unavailable.is_some() {
            return "—".into();
        }
        if self.evaluated() == 0 && self.errors > 0 {
            return format!("none evaluated ({} errored)", self.errors);
        }
        let rate = format!(
            "{}/{} ({:.1}%)",
            self.passed,
            self.evaluated(),
            self.pass_rate * 100.0
        );
        match self.errors {
            0 => rate,
            n => format!("{rate}, {n} not evaluated"),
        }
    }
}

/// Head's pass rate minus base's, in points; none when a side is missing or has nothing
/// evaluated, where there is no rate to compare.
pub fn pass_rate_change(base: &SideSummary, head: &SideSummary) -> Option<f64> {
    let comparable = |s: &SideSummary| s.unavailable.is_none() && s.evaluated() > 0;
    (comparable(base) && comparable(head)).then_some((head.pass_rate - base.pass_rate) * 100.0)
}

/// One case on both versions.
#[derive(Debug, Clone, Serialize)]
pub struct CaseReport {
    pub name: String,
    pub base: Option<CaseSide>,
    pub head: Option<CaseSide>,
    pub change: Change,
}

/// One case on one version.
#[derive(Debug, Clone, Serialize)]
pub struct CaseSide {
    /// `error` when a sample could not be evaluated, else `fail` when one failed. In JSON
    /// beside `pass`: `true`, `false`, or `null` for an error.
    #[serde(flatten, serialize_with = "Outcome::serialize_with_pass")]
    pub outcome: Outcome,
    /// Every sample passed.
    #[serde(skip)]
    pub pass: bool,
    /// The output of the first sample with the case's outcome.
    pub output: Option<String>,
    /// Why there is no output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The assertions of that sample, the contract's checks first.
    pub assertions: Vec<AssertionResult>,
    /// The tool calls of that sample, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// Samples that passed, failed and could not be evaluated, of how many.
    pub samples_passed: usize,
    pub samples_failed: usize,
    pub samples_errored: usize,
    pub samples: usize,
}

/// How a case moved from base to head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// Passed on base, fails on head.
    Regressed,
    /// Failed on base, passes on head.
    Fixed,
    /// The same on both.
    Same,
    /// Only run on one version.
    New,
    /// Could not be evaluated on one version or both: neither a regression nor a fix.
    Error,
}

/// `1 sample`, `3 samples`.
pub(super) fn samples(n: usize) -> String {
    format!("{n} sample{}", if n == 1 { "" } else { "s" })
}

/// Shows US dollars with enough digits to see a small amount: `$0.00042`, `$1.27`.
pub fn dollars(amount: f64) -> String {
    if amount == 0.0 {
        return "$0".into();
    }
    if amount.abs() >= 1.0 {
        return format!("${amount:.2}");
    }
    let digits = (1 - amount.abs().log10().floor() as i32).clamp(2, 12) as usize;
    format!("${amount:.digits$}")
}

/// Writes JUnit XML: a test suite per eval suite and version, a test case per case.
pub fn to_junit(report: &Report) -> String {
    junit::Document {
        name: "promptctl eval".into(),
        suites: junit_suites(report),
    }
    .to_xml()
}

/// The JUnit test suites of a report: one per eval suite and version, a case per case.
pub fn junit_suites(report: &Report) -> Vec<junit::Suite> {
    let mut suites = Vec::new();
    for suite in &report.suites {
        for (label, figures, pick) in [
            (
                "base",
                &suite.base,
                (|c: &CaseReport| c.base.as_ref()) as fn(&CaseReport) -> Option<&CaseSide>,
            ),
            ("head", &suite.head, |c: &CaseReport| c.head.as_ref()),
        ] {
            if figures.unavailable.is_some() {
                continue;
            }
            let cases = suite
                .cases
                .iter()
                .filter_map(|case| Some((case, pick(case)?)))
                .map(|(case, side)| junit::Case {
                    classname: format!("{}.{label}", suite.suite),
                    name: case.name.clone(),
                    result: junit_result(side),
                })
                .collect();
            suites.push(junit::Suite {
                name: format!("{} ({label} {})", suite.suite, figures.spec),
                cases,
            });
        }
    }
    suites
}

/// JUnit's own distinction: a failure is a test that ran and did not hold, an error one
/// that could not run.
fn junit_result(side: &CaseSide) -> junit::CaseResult {
    let message = failure_summary(side);
    let mut details = side.output.clone().unwrap_or_default();
    for line in tool_call_lines(side) {
        details.push('\n');
        details.push_str(&line);
    }
    match side.outcome {
        Outcome::Pass => junit::CaseResult::Passed,
        Outcome::Fail => junit::CaseResult::Failed {
            message,
            details,
            kind: None,
        },
        Outcome::Error => junit::CaseResult::Error { message, details },
    }
}

/// Each tool call of a case, as `called lookup_order({"order_id":"A-1"})`.
pub fn tool_call_lines(side: &CaseSide) -> Vec<String> {
    side.tool_calls
        .iter()
        .map(|call| format!("called {}({})", call.name, call.arguments))
        .collect()
}

/// The first check of the contract a case's answer failed: a reply that breaks the output
/// schema, a tool call that breaks its tool's parameters, tool calls past `max_turns`.
pub fn contract_violation(side: &CaseSide) -> Option<&AssertionResult> {
    side.assertions
        .iter()
        .find(|a| !a.pass && super::contract_checks::KINDS.contains(&a.kind.as_str()))
}

/// Why a case failed or could not be evaluated, in one line: the errors first.
pub fn failure_summary(side: &CaseSide) -> String {
    if let Some(error) = &side.error {
        return error.clone();
    }
    let of = |outcome: Outcome| {
        side.assertions
            .iter()
            .filter(move |a| a.outcome == outcome)
            .map(move |a| match outcome {
                Outcome::Error => format!("{} (error): {}", a.kind, a.reason),
                _ => format!("{}: {}", a.kind, a.reason),
            })
    };
    of(Outcome::Error)
        .chain(of(Outcome::Fail))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Writes a markdown summary for a pull-request comment: a comparison table per suite and
/// the cases that changed.
pub fn to_markdown(report: &Report) -> String {
    let mut out = String::from("## promptctl eval\n\n");
    for suite in &report.suites {
        markdown_suite(&mut out, suite);
    }
    if !report.failures.is_empty() {
        out.push_str("**Requests that failed:**\n\n");
        for group in &report.failures {
            let _ = writeln!(
                out,
                "- {} × {}",
                group.count,
                group.message.replace('|', "\\|")
            );
        }
        out.push('\n');
    }
    out
}

/// One suite: its heading, the figures of both sides, the verdict, the cases that changed
/// and the gate's reasons.
fn markdown_suite(out: &mut String, suite: &SuiteReport) {
    let verdict = if suite.gate.passed {
        "✅ gate held"
    } else {
        "❌ gate failed"
    };
    let _ = writeln!(
        out,
        "### `{}` ({}) — {verdict}\n",
        suite.prompt, suite.suite
    );
    markdown_figures(out, suite);
    if let Some(comparison) = &suite.comparison {
        let _ = writeln!(
            out,
            "**Verdict:** {} — {}\n",
            comparison.words, comparison.figures
        );
    }
    markdown_changed_cases(out, suite);
    markdown_contract_violations(out, suite);
    for reason in &suite.gate.reasons {
        let _ = writeln!(out, "> ❌ {reason}");
    }
    for warning in &suite.gate.warnings {
        let _ = writeln!(out, "> ⚠️ {warning} (alert only)");
    }
    for why in &suite.gate.held_because {
        let _ = writeln!(out, "> ✅ {why}");
    }
    if !suite.gate.reasons.is_empty()
        || !suite.gate.warnings.is_empty()
        || !suite.gate.held_because.is_empty()
    {
        out.push('\n');
    }
}

/// The table of both sides' figures.
fn markdown_figures(out: &mut String, suite: &SuiteReport) {
    let _ = writeln!(
        out,
        "| | base `{}` | head `{}` |\n| --- | --- | --- |",
        suite.base.spec, suite.head.spec
    );
    let version = |s: &SideSummary| {
        s.version
            .map_or("—".to_owned(), |v| format!("`{}`", v.short()))
    };
    let row = |name: &str, f: &dyn Fn(&SideSummary) -> String| {
        format!("| {name} | {} | {} |\n", f(&suite.base), f(&suite.head))
    };
    out.push_str(&row("version", &version));
    out.push_str(&row("pass rate", &|s| s.pass_rate_text()));
    out.push_str(&row("mean latency", &|s| {
        format!("{:.0} ms", s.mean_latency_ms)
    }));
    out.push_str(&row("p95 latency", &|s| {
        format!("{:.0} ms", s.p95_latency_ms)
    }));
    out.push_str(&row("tokens in / out", &|s| {
        format!("{} / {}", s.input_tokens, s.output_tokens)
    }));
    out.push_str(&row("cost", &|s| dollars(s.cost_usd)));
    if suite.base.errors + suite.head.errors > 0 {
        out.push_str(&row("errors", &|s| samples(s.errors)));
    }
    out.push('\n');
}

/// The most cases listed as breaking the contract.
const MAX_LISTED_VIOLATIONS: usize = 20;

/// The head's cases whose answer broke the output schema or a tool's parameters, whether
/// or not they changed: the contract a service parses is broken either way.
fn markdown_contract_violations(out: &mut String, suite: &SuiteReport) {
    let broken: Vec<(&CaseReport, &AssertionResult)> = suite
        .cases
        .iter()
        .filter_map(|case| Some((case, contract_violation(case.head.as_ref()?)?)))
        .collect();
    if broken.is_empty() {
        return;
    }
    let _ = writeln!(out, "**Answers that break the contract (head):**\n");
    for (case, check) in broken.iter().take(MAX_LISTED_VIOLATIONS) {
        let _ = writeln!(
            out,
            "- `{}` — {}: {}",
            case.name,
            check.kind,
            check.reason.replace('|', "\\|")
        );
    }
    if broken.len() > MAX_LISTED_VIOLATIONS {
        let _ = writeln!(out, "- and {} more", broken.len() - MAX_LISTED_VIOLATIONS);
    }
    out.push('\n');
}

/// The cases that could not be evaluated, regressed or were fixed, each with why.
fn markdown_changed_cases(out: &mut String, suite: &SuiteReport) {
    for (change, label) in [
        (Change::Error, "Could not be evaluated"),
        (Change::Regressed, "Regressed"),
        (Change::Fixed, "Fixed"),
    ] {
        let cases: Vec<&CaseReport> = suite.cases.iter().filter(|c| c.change == change).collect();
        if cases.is_empty() {
            continue;
        }
        let _ = writeln!(out, "**{label}:**\n");
        for case in cases {
            let why = case
                .head
                .as_ref()
                .filter(|h| !h.pass)
                .or(case.base.as_ref().filter(|b| b.outcome == Outcome::Error))
                .map(|h| format!(" — {}", failure_summary(h).replace('|', "\\|")))
                .unwrap_or_default();
            let _ = writeln!(out, "- `{}`{why}", case.name);
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_show_small_amounts() {
        assert_eq!(dollars(0.0), "$0");
        assert_eq!(dollars(0.000_42), "$0.00042");
        assert_eq!(dollars(0.0123), "$0.012");
        assert_eq!(dollars(1.5), "$1.50");
    }
}
