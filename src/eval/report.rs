//! Eval reports: per suite, each version's figures side by side, each case's change, and
//! the gate; written as JSON, JUnit XML or markdown.

use std::fmt::Write as _;

use serde::Serialize;

use super::assertions::{AssertionResult, Outcome};
use super::stats::{Comparison, Verdict};
use super::suite::Gate;
use crate::prompt::Version;

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
    /// `passed / samples`, from 0 to 1.
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
    /// `error` when a sample could not be evaluated, else `fail` when one failed.
    pub outcome: Outcome,
    /// Every sample passed.
    pub pass: bool,
    /// The output of the first sample with the case's outcome.
    pub output: Option<String>,
    /// Why there is no output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The assertions of that sample.
    pub assertions: Vec<AssertionResult>,
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

/// Whether a suite's gate held.
#[derive(Debug, Clone, Serialize)]
pub struct GateResult {
    pub passed: bool,
    /// Each limit that was exceeded, with the figures.
    pub reasons: Vec<String>,
    /// Each alert-only limit that was exceeded: reported, never failing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The pass rate, in percent, the new version must reach when no gate sets `min_pass_rate`:
/// every case passes, so a suite that fails alike on both versions is not green.
pub const DEFAULT_MIN_PASS_RATE: f64 = 100.0;

/// Applies a gate to the two versions of a suite.
///
/// Anything that could not be evaluated fails the gate: the verdict needs every case. The
/// new version's pass rate must reach `min_pass_rate`. A prompt with no old version has
/// nothing to regress from; one with an old version must not drop past
/// `max_pass_rate_drop`, or, with `significance`, must not drop significantly.
pub fn apply_gate(
    gate: &Gate,
    base: &SideSummary,
    head: &SideSummary,
    comparison: Option<&Comparison>,
) -> GateResult {
    let mut breaches = Breaches {
        gate,
        reasons: Vec::new(),
        warnings: Vec::new(),
    };
    if let Some(why) = &head.unavailable {
        breaches.add("", format!("the new version could not be evaluated: {why}"));
        return breaches.finish();
    }
    for (side, figures) in [("old", base), ("new", head)] {
        if figures.errors > 0 {
            breaches.add(
                "",
                format!(
                    "{} of the {side} version could not be evaluated (see the errors); the comparison is incomplete",
                    samples(figures.errors)
                ),
            );
        }
    }
    // The floor judges what could be judged: samples that could not be evaluated have
    // failed the gate already, with their own reason.
    let floor = gate.min_pass_rate.unwrap_or(DEFAULT_MIN_PASS_RATE);
    let evaluated = head.passed + head.failed;
    let evaluated_rate = if evaluated == 0 {
        1.0
    } else {
        head.passed as f64 / evaluated as f64
    };
    let below_floor = evaluated_rate * 100.0 < floor - 1e-9;
    let floor_reason = format!(
        "pass rate {:.1}% ({}/{}) is below the floor of {floor}%",
        evaluated_rate * 100.0,
        head.passed,
        evaluated
    );
    if base.unavailable.is_some() {
        if below_floor {
            breaches.add(
                "min_pass_rate",
                format!("{floor_reason}, with no old version to compare with"),
            );
        }
        return breaches.finish();
    }
    let drop = (base.pass_rate - head.pass_rate) * 100.0;
    let dropped_before = breaches.count();
    match (gate.significance, comparison) {
        (Some(level), Some(comparison)) => {
            if comparison.verdict == Verdict::Regressed {
                breaches.add(
                    "max_pass_rate_drop",
                    format!(
                        "pass rate dropped {drop:.1} points ({:.1}% → {:.1}%), significant at {level} ({}, p = {})",
                        base.pass_rate * 100.0,
                        head.pass_rate * 100.0,
                        comparison.test,
                        super::stats::format_p(comparison.p_value)
                    ),
                );
            }
        }
        _ => {
            if let Some(max) = gate.max_pass_rate_drop
                && drop > max + 1e-9
            {
                breaches.add(
                    "max_pass_rate_drop",
                    format!(
                        "pass rate dropped {drop:.1} points ({:.1}% → {:.1}%), more than {max}",
                        base.pass_rate * 100.0,
                        head.pass_rate * 100.0
                    ),
                );
            }
        }
    }
    // The default floor says again what a failed drop limit already said; a floor set on
    // purpose is worth its own line.
    let drop_said = breaches.count() > dropped_before;
    if below_floor && (gate.min_pass_rate.is_some() || !drop_said) {
        breaches.add("min_pass_rate", floor_reason);
    }
    if let Some(max) = gate.max_cost_increase
        && let Some(increase) = increase_percent(base.cost_usd, head.cost_usd)
        && increase > max
    {
        breaches.add(
            "max_cost_increase",
            format!(
                "cost rose {increase:.1}% ({} → {}), more than {max}%",
                dollars(base.cost_usd),
                dollars(head.cost_usd)
            ),
        );
    }
    if let Some(max) = gate.max_latency_increase
        && let Some(increase) = increase_percent(base.mean_latency_ms, head.mean_latency_ms)
        && increase > max
    {
        breaches.add(
            "max_latency_increase",
            format!(
                "mean latency rose {increase:.1}% ({:.0} ms → {:.0} ms), more than {max}%",
                base.mean_latency_ms, head.mean_latency_ms
            ),
        );
    }
    breaches.finish()
}

fn samples(n: usize) -> String {
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

/// A gate's breaches so far: failing ones, and those of alert-only limits.
struct Breaches<'a> {
    gate: &'a Gate,
    reasons: Vec<String>,
    warnings: Vec<String>,
}

impl Breaches<'_> {
    fn add(&mut self, limit: &str, message: String) {
        if self.gate.alerts_only(limit) {
            self.warnings.push(message);
        } else {
            self.reasons.push(message);
        }
    }

    fn count(&self) -> usize {
        self.reasons.len() + self.warnings.len()
    }

    fn finish(self) -> GateResult {
        GateResult {
            passed: self.reasons.is_empty(),
            reasons: self.reasons,
            warnings: self.warnings,
        }
    }
}

/// The increase from `old` to `new` in percent; none when `old` is zero (nothing to compare).
fn increase_percent(old: f64, new: f64) -> Option<f64> {
    (old > 0.0).then(|| (new - old) / old * 100.0)
}

/// Writes JUnit XML: a test suite per eval suite and version, a test case per case.
pub fn to_junit(report: &Report) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"promptctl eval\">\n",
    );
    junit_suites(report, &mut out);
    out.push_str("</testsuites>\n");
    out
}

/// Writes the `<testsuite>` elements of a report: one per eval suite and version.
pub fn junit_suites(report: &Report, out: &mut String) {
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
            let count = |outcome: Outcome| {
                suite
                    .cases
                    .iter()
                    .filter_map(pick)
                    .filter(|c| c.outcome == outcome)
                    .count()
            };
            let _ = writeln!(
                out,
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\">",
                xml(&format!("{} ({label} {})", suite.suite, figures.spec)),
                suite.cases.len(),
                count(Outcome::Fail),
                count(Outcome::Error)
            );
            for case in &suite.cases {
                let Some(side) = pick(case) else { continue };
                let _ = write!(
                    out,
                    "    <testcase classname=\"{}\" name=\"{}\"",
                    xml(&format!("{}.{label}", suite.suite)),
                    xml(&case.name)
                );
                // JUnit's own distinction: a failure is a test that ran and did not
                // hold, an error one that could not run.
                let element = match side.outcome {
                    Outcome::Pass => {
                        out.push_str("/>\n");
                        continue;
                    }
                    Outcome::Fail => "failure",
                    Outcome::Error => "error",
                };
                let _ = writeln!(
                    out,
                    ">\n      <{element} message=\"{}\">{}</{element}>\n    </testcase>",
                    xml(&failure_summary(side)),
                    xml(side.output.as_deref().unwrap_or_default())
                );
            }
            out.push_str("  </testsuite>\n");
        }
    }
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

fn xml(text: &str) -> String {
    crate::markup::escape(text)
}

/// Writes a markdown summary for a pull-request comment: a comparison table per suite and
/// the cases that changed.
pub fn to_markdown(report: &Report) -> String {
    let mut out = String::from("## promptctl eval\n\n");
    for suite in &report.suites {
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
        out.push_str(&row("pass rate", &|s| {
            format!("{}/{} ({:.1}%)", s.passed, s.samples, s.pass_rate * 100.0)
        }));
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
        if let Some(comparison) = &suite.comparison {
            let [low, high] = comparison.interval_points;
            let _ = writeln!(
                out,
                "**Verdict:** {} — pass rate {:+.1} points (95% CI {low:+.1} to {high:+.1}; {}, {} regressed, {} fixed of {} cases)\n",
                comparison.words(),
                comparison.delta_points,
                comparison.test,
                comparison.regressed,
                comparison.fixed,
                comparison.cases
            );
        }
        for (change, label) in [
            (Change::Error, "Could not be evaluated"),
            (Change::Regressed, "Regressed"),
            (Change::Fixed, "Fixed"),
        ] {
            let cases: Vec<&CaseReport> =
                suite.cases.iter().filter(|c| c.change == change).collect();
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
        for reason in &suite.gate.reasons {
            let _ = writeln!(out, "> ❌ {reason}");
        }
        for warning in &suite.gate.warnings {
            let _ = writeln!(out, "> ⚠️ {warning} (alert only)");
        }
        if !suite.gate.reasons.is_empty() || !suite.gate.warnings.is_empty() {
            out.push('\n');
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn side(pass_rate: f64, cost: f64, latency: f64) -> SideSummary {
        SideSummary {
            spec: "HEAD".into(),
            samples: 10,
            passed: (pass_rate * 10.0).round() as usize,
            failed: 10 - (pass_rate * 10.0).round() as usize,
            pass_rate,
            cost_usd: cost,
            mean_latency_ms: latency,
            ..SideSummary::default()
        }
    }

    #[test]
    fn gates_compare_pass_rate_cost_and_latency() {
        let gate = Gate {
            max_pass_rate_drop: Some(5.0),
            max_cost_increase: Some(20.0),
            max_latency_increase: Some(50.0),
            min_pass_rate: Some(0.0),
            ..Gate::default()
        };
        fn apply(gate: &Gate, base: &SideSummary, head: &SideSummary) -> GateResult {
            apply_gate(gate, base, head, None)
        }
        assert!(apply(&gate, &side(0.9, 1.0, 100.0), &side(0.9, 1.1, 140.0)).passed);
        let failed = apply(&gate, &side(0.9, 1.0, 100.0), &side(0.8, 1.3, 200.0));
        assert_eq!(failed.reasons.len(), 3, "{:?}", failed.reasons);
        assert!(failed.reasons[0].starts_with("pass rate dropped 10.0 points"));
        let lenient = Gate {
            min_pass_rate: Some(0.0),
            ..Gate::default()
        };
        assert!(apply(&lenient, &side(1.0, 0.0, 1.0), &side(0.0, 5.0, 9.0)).passed);
        let alerting = Gate {
            alert_only: vec!["max_cost_increase".into()],
            ..gate.clone()
        };
        let warned = apply(&alerting, &side(0.9, 1.0, 100.0), &side(0.9, 1.3, 100.0));
        assert!(warned.passed, "{warned:?}");
        assert_eq!(warned.warnings.len(), 1);
        assert!(warned.warnings[0].starts_with("cost rose 30.0% ($1.00 → $1.30)"));
        let mut errored = side(1.0, 0.0, 1.0);
        errored.errors = 2;
        let failed = apply(&Gate::default(), &side(1.0, 0.0, 1.0), &errored);
        assert!(!failed.passed);
        assert!(
            failed.reasons[0].starts_with("2 samples of the new version could not be evaluated")
        );
    }

    #[test]
    fn the_floor_holds_whatever_the_old_version_did() {
        let floor = Gate {
            min_pass_rate: Some(75.0),
            ..Gate::default()
        };
        let failed = apply_gate(&floor, &side(0.5, 0.0, 1.0), &side(0.5, 0.0, 1.0), None);
        assert_eq!(
            failed.reasons,
            ["pass rate 50.0% (5/10) is below the floor of 75%"]
        );
        assert!(apply_gate(&floor, &side(0.8, 0.0, 1.0), &side(0.8, 0.0, 1.0), None).passed);
        let absent = SideSummary {
            unavailable: Some("no prompt `x` at `HEAD`".into()),
            ..SideSummary::default()
        };
        assert!(!apply_gate(&floor, &absent, &side(0.7, 0.0, 1.0), None).passed);
        assert!(apply_gate(&floor, &absent, &side(0.8, 0.0, 1.0), None).passed);
        let default = apply_gate(
            &Gate::default(),
            &side(0.5, 0.0, 1.0),
            &side(0.5, 0.0, 1.0),
            None,
        );
        assert_eq!(
            default.reasons,
            ["pass rate 50.0% (5/10) is below the floor of 100%"]
        );
        let dropped = apply_gate(
            &Gate::default(),
            &side(0.9, 0.0, 1.0),
            &side(0.5, 0.0, 1.0),
            None,
        );
        assert_eq!(
            dropped.reasons.len(),
            1,
            "the default floor does not repeat the drop"
        );
    }

    #[test]
    fn with_a_significance_level_only_a_significant_drop_fails() {
        let gate = Gate {
            max_pass_rate_drop: Some(0.0),
            significance: Some(0.05),
            min_pass_rate: Some(0.0),
            ..Gate::default()
        };
        let (base, head) = (side(0.9, 0.0, 1.0), side(0.8, 0.0, 1.0));
        let noise =
            crate::eval::stats::compare_single(&[(true, false), (true, true), (true, true)], 0.05);
        assert!(apply_gate(&gate, &base, &head, Some(&noise)).passed);
        let mut pairs = vec![(true, false); 12];
        pairs.extend(vec![(true, true); 50]);
        let real = crate::eval::stats::compare_single(&pairs, 0.05);
        let failed = apply_gate(&gate, &base, &head, Some(&real));
        assert!(
            failed.reasons[0].contains("significant at 0.05 (exact McNemar, p = 4.9e-4)"),
            "{:?}",
            failed.reasons
        );
    }

    #[test]
    fn dollars_show_small_amounts() {
        assert_eq!(dollars(0.0), "$0");
        assert_eq!(dollars(0.000_42), "$0.00042");
        assert_eq!(dollars(0.0123), "$0.012");
        assert_eq!(dollars(1.5), "$1.50");
    }

    #[test]
    fn xml_escapes_markup_and_control_characters() {
        assert_eq!(
            xml("a<b & \"c\"\u{1}"),
            "a&lt;b &amp; &quot;c&quot;\u{fffd}"
        );
    }
}
