//! Eval reports: per suite, each version's figures side by side, each case's change, and
//! the gate; written as JSON, JUnit XML or markdown.

use std::fmt::Write as _;

use serde::Serialize;

use super::assertions::AssertionResult;
use super::suite::Gate;
use crate::prompt::Version;

/// The whole report of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub suites: Vec<SuiteReport>,
    /// Every gate held and no request failed.
    pub passed: bool,
    pub requests: RequestStats,
}

/// What the run asked of providers.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RequestStats {
    /// Distinct requests (identical ones within a run are sent once).
    pub distinct: usize,
    /// Answered from the cache.
    pub cached: usize,
    /// Sent to a provider.
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
    /// Samples run: cases × repeat.
    pub samples: usize,
    pub passed: usize,
    pub failed: usize,
    /// Samples that got no output (render or provider errors); counted in `failed` too.
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
    /// Every sample passed.
    pub pass: bool,
    /// The first sample's output (or of the first failing sample).
    pub output: Option<String>,
    /// Why there is no output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The assertions of that sample.
    pub assertions: Vec<AssertionResult>,
    /// Samples that passed, of how many.
    pub samples_passed: usize,
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

/// Applies a gate to the two versions of a suite.
///
/// A prompt with no old version (new, or broken before) has nothing to regress from, so its
/// pass rate is held against 100%: a new prompt merges only when its own suite passes
/// within `max_pass_rate_drop`.
pub fn apply_gate(gate: &Gate, base: &SideSummary, head: &SideSummary) -> GateResult {
    let mut reasons = Vec::new();
    let mut warnings = Vec::new();
    let mut breach = |limit: &str, message: String| {
        if gate.alerts_only(limit) {
            warnings.push(message);
        } else {
            reasons.push(message);
        }
    };
    if head.unavailable.is_some() {
        breach(
            "",
            format!(
                "the new version could not be evaluated: {}",
                head.unavailable.as_deref().unwrap_or_default()
            ),
        );
    }
    for (side, figures) in [("old", base), ("new", head)] {
        if figures.errors > 0 {
            breach(
                "",
                format!(
                    "{} samples of the {side} version got no output; the comparison is incomplete",
                    figures.errors
                ),
            );
        }
    }
    if head.unavailable.is_some() {
        return finish(reasons, warnings);
    }
    if base.unavailable.is_some() {
        let below = (1.0 - head.pass_rate) * 100.0;
        if let Some(max) = gate.max_pass_rate_drop
            && below > max + 1e-9
        {
            breach(
                "max_pass_rate_drop",
                format!(
                    "pass rate {:.1}% with no old version to compare with: {below:.1} points below 100%, more than {max}",
                    head.pass_rate * 100.0
                ),
            );
        }
        return finish(reasons, warnings);
    }
    let drop = (base.pass_rate - head.pass_rate) * 100.0;
    if let Some(max) = gate.max_pass_rate_drop
        && drop > max + 1e-9
    {
        breach(
            "max_pass_rate_drop",
            format!(
                "pass rate dropped {drop:.1} points ({:.1}% → {:.1}%), more than {max}",
                base.pass_rate * 100.0,
                head.pass_rate * 100.0
            ),
        );
    }
    if let Some(max) = gate.max_cost_increase
        && let Some(increase) = increase_percent(base.cost_usd, head.cost_usd)
        && increase > max
    {
        breach(
            "max_cost_increase",
            format!(
                "cost rose {increase:.1}% (${:.4} → ${:.4}), more than {max}%",
                base.cost_usd, head.cost_usd
            ),
        );
    }
    if let Some(max) = gate.max_latency_increase
        && let Some(increase) = increase_percent(base.mean_latency_ms, head.mean_latency_ms)
        && increase > max
    {
        breach(
            "max_latency_increase",
            format!(
                "mean latency rose {increase:.1}% ({:.0} ms → {:.0} ms), more than {max}%",
                base.mean_latency_ms, head.mean_latency_ms
            ),
        );
    }
    finish(reasons, warnings)
}

fn finish(reasons: Vec<String>, warnings: Vec<String>) -> GateResult {
    GateResult {
        passed: reasons.is_empty(),
        reasons,
        warnings,
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
            let _ = writeln!(
                out,
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\">",
                xml(&format!("{} ({label} {})", suite.suite, figures.spec)),
                suite.cases.len(),
                suite
                    .cases
                    .iter()
                    .filter_map(pick)
                    .filter(|c| !c.pass)
                    .count()
            );
            for case in &suite.cases {
                let Some(side) = pick(case) else { continue };
                let _ = write!(
                    out,
                    "    <testcase classname=\"{}\" name=\"{}\"",
                    xml(&format!("{}.{label}", suite.suite)),
                    xml(&case.name)
                );
                if side.pass {
                    out.push_str("/>\n");
                } else {
                    let _ = writeln!(
                        out,
                        ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                        xml(&failure_summary(side)),
                        xml(side.output.as_deref().unwrap_or_default())
                    );
                }
            }
            out.push_str("  </testsuite>\n");
        }
    }
}

/// Why a case failed, in one line.
pub fn failure_summary(side: &CaseSide) -> String {
    if let Some(error) = &side.error {
        return error.clone();
    }
    side.assertions
        .iter()
        .filter(|a| !a.pass)
        .map(|a| format!("{}: {}", a.kind, a.reason))
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
        out.push_str(&row("cost", &|s| format!("${:.4}", s.cost_usd)));
        out.push('\n');
        for (change, label) in [(Change::Regressed, "Regressed"), (Change::Fixed, "Fixed")] {
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
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(pass_rate: f64, cost: f64, latency: f64) -> SideSummary {
        SideSummary {
            spec: "HEAD".into(),
            samples: 10,
            passed: (pass_rate * 10.0) as usize,
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
            alert_only: Vec::new(),
        };
        assert!(apply_gate(&gate, &side(0.9, 1.0, 100.0), &side(0.9, 1.1, 140.0)).passed);
        let failed = apply_gate(&gate, &side(0.9, 1.0, 100.0), &side(0.8, 1.3, 200.0));
        assert_eq!(failed.reasons.len(), 3, "{:?}", failed.reasons);
        assert!(failed.reasons[0].starts_with("pass rate dropped 10.0 points"));
        assert!(apply_gate(&Gate::default(), &side(1.0, 0.0, 1.0), &side(0.0, 5.0, 9.0)).passed);
        let alerting = Gate {
            alert_only: vec!["max_cost_increase".into()],
            ..gate.clone()
        };
        let warned = apply_gate(&alerting, &side(0.9, 1.0, 100.0), &side(0.9, 1.3, 100.0));
        assert!(warned.passed, "{warned:?}");
        assert_eq!(warned.warnings.len(), 1);
        assert!(warned.warnings[0].starts_with("cost rose 30.0%"));
        let mut errored = side(1.0, 0.0, 1.0);
        errored.errors = 2;
        assert!(!apply_gate(&Gate::default(), &side(1.0, 0.0, 1.0), &errored).passed);
    }

    #[test]
    fn a_prompt_new_at_base_is_held_against_a_full_pass_rate() {
        let absent = SideSummary {
            unavailable: Some("no prompt `x` at `HEAD`".into()),
            ..SideSummary::default()
        };
        let strict = Gate {
            max_pass_rate_drop: Some(0.0),
            ..Gate::default()
        };
        assert!(apply_gate(&strict, &absent, &side(1.0, 0.0, 1.0)).passed);
        let failed = apply_gate(&strict, &absent, &side(0.8, 0.0, 1.0));
        assert!(!failed.passed);
        assert!(
            failed.reasons[0].contains("no old version to compare with: 20.0 points below 100%"),
            "{:?}",
            failed.reasons
        );
        let lenient = Gate {
            max_pass_rate_drop: Some(25.0),
            ..Gate::default()
        };
        assert!(apply_gate(&lenient, &absent, &side(0.8, 0.0, 1.0)).passed);
    }

    #[test]
    fn xml_escapes_markup_and_control_characters() {
        assert_eq!(
            xml("a<b & \"c\"\u{1}"),
            "a&lt;b &amp; &quot;c&quot;\u{fffd}"
        );
    }
}
