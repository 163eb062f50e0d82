//! The gates: each compares canary with active over a step's window (error rate by an
//! always-valid sequence, latency and cost by relative increase, score by floor and drop)
//! or reads a custom gate's value, and says pass, breach or inconclusive in words.

use serde::Serialize;

use super::sequential::{self, Counts, Finding};
use super::stats::{Reading, Stats, Window};
use crate::policy::{MetricGate, RolloutPolicy};
use crate::store::Gates;

/// What one gate says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateResult {
    /// `error_rate`, `latency`, `cost`, `score`, or the name of a `[rollout.metrics]` gate.
    pub gate: String,
    pub verdict: Verdict,
    /// The figures compared, in words: `error rate 40.0% vs active 1.0% (at most +5 points)`.
    pub detail: String,
    /// Whether a breach alerts instead of reverting (a policy).
    pub alert_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Breach,
    /// Too few reports to tell: neither healthy nor failed.
    Inconclusive,
}

/// Formats a rate as a percentage.
fn pct(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

/// The gates of a plan, judged over a window.
pub fn judge(gates: &Gates, window: &Window, policy: &RolloutPolicy) -> Vec<GateResult> {
    let mut results = match &window.unread {
        Some(why) => unread_gates(gates, why, policy),
        None => judge_builtin(gates, window, policy),
    };
    for (name, gate) in &policy.metrics {
        let (verdict, detail) = judge_metric(name, gate, window.readings.get(name));
        results.push(GateResult {
            gate: name.clone(),
            verdict,
            detail,
            alert_only: policy.alerts_only(name),
        });
    }
    results
}

/// Every built-in gate the plan sets, inconclusive because its figures could not be read.
fn unread_gates(gates: &Gates, why: &str, policy: &RolloutPolicy) -> Vec<GateResult> {
    let set = [
        ("error_rate", gates.max_error_rate.is_some()),
        ("latency", gates.max_latency_increase.is_some()),
        ("cost", gates.max_cost_increase.is_some()),
        (
            "score",
            gates.min_score.is_some() || gates.max_score_drop.is_some(),
        ),
        ("invalid_output", gates.max_invalid_output_rate.is_some()),
        ("tool_error", gates.max_tool_error_rate.is_some()),
    ];
    set.into_iter()
        .filter(|(_, on)| *on)
        .map(|(gate, _)| GateResult {
            gate: gate.to_owned(),
            verdict: Verdict::Inconclusive,
            detail: format!("the metric source could not be read: {why}"),
            alert_only: policy.alerts_only(gate),
        })
        .collect()
}

/// A custom gate: its query's value against its range. No value is never a pass.
fn judge_metric(name: &str, gate: &MetricGate, reading: Option<&Reading>) -> (Verdict, String) {
    let range = match (gate.min, gate.max) {
        (Some(min), Some(max)) => format!("between {min} and {max}"),
        (Some(min), None) => format!("at least {min}"),
        (None, Some(max)) => format!("at most {max}"),
        (None, None) => "any value".into(),
    };
    match reading {
        None => (
            Verdict::Inconclusive,
            "not read: custom gates are read from Prometheus (`[rollout] prometheus` or --prometheus)".into(),
        ),
        Some(Reading::NoData) => (
            Verdict::Inconclusive,
            format!("the query has no data yet (must be {range})"),
        ),
        Some(Reading::Error(why)) => (Verdict::Inconclusive, why.clone()),
        Some(Reading::Value(v)) => {
            let inside = gate.min.is_none_or(|min| *v >= min) && gate.max.is_none_or(|max| *v <= max);
            let verdict = if inside {
                Verdict::Pass
            } else {
                Verdict::Breach
            };
            (verdict, format!("{name} {v:.4} (must be {range})"))
        }
    }
}

/// The built-in gates, on the window's figures.
fn judge_builtin(gates: &Gates, window: &Window, policy: &RolloutPolicy) -> Vec<GateResult> {
    let (active, canary) = (&window.active, &window.canary);
    let min = gates.min_samples.max(1);
    let mut results = Vec::new();
    let mut push = |gate: &'static str, (verdict, detail): (Verdict, String)| {
        results.push(GateResult {
            gate: gate.to_owned(),
            verdict,
            detail,
            alert_only: policy.alerts_only(gate),
        });
    };
    if let Some(limit) = gates.max_error_rate {
        push(
            "error_rate",
            judge_rate(&ERROR_RATE, limit, canary, active, gates.min_samples),
        );
    }
    if let Some(limit) = gates.max_invalid_output_rate {
        push(
            "invalid_output",
            judge_rate(&INVALID_OUTPUT, limit, canary, active, gates.min_samples),
        );
    }
    if let Some(limit) = gates.max_tool_error_rate {
        push(
            "tool_error",
            judge_rate(&TOOL_ERRORS, limit, canary, active, gates.min_samples),
        );
    }
    let latency = Increase {
        what: "latency",
        count: |s| s.latency_count,
        mean: Stats::mean_latency_ms,
        unit: |v| format!("{v:.1} ms"),
    };
    let cost = Increase {
        what: "cost",
        count: |s| s.cost_count,
        mean: Stats::mean_cost_usd,
        unit: |v| format!("${v:.5}"),
    };
    for (gate, limit, figure) in [
        ("latency", gates.max_latency_increase, latency),
        ("cost", gates.max_cost_increase, cost),
    ] {
        if let Some(limit) = limit {
            push(
                gate,
                figure.judge(limit, canary, active, min, gates.min_samples),
            );
        }
    }
    if gates.min_score.is_some() || gates.max_score_drop.is_some() {
        results.push(judge_score(gates, canary, active, policy));
    }
    results
}

/// "12 of 100 canary reports", with what they must carry.
fn too_few(what: &str, have: u64, side: &str, min: u64) -> String {
    format!("{have} of {min} {side} reports{what}")
}

/// A gate on a rate of failed reports, canary against active: errors, or replies the
/// service could not parse.
struct RateGate {
    /// The rate in words: `error rate`.
    what: &'static str,
    /// What the reports counted must carry, for the floor's words.
    carrying: &'static str,
    counts: fn(&Stats) -> Counts,
}

const ERROR_RATE: RateGate = RateGate {
    what: "error rate",
    carrying: "",
    counts: |s| Counts {
        errors: s.errors,
        reports: s.reports,
    },
};

const INVALID_OUTPUT: RateGate = RateGate {
    what: "invalid-output rate",
    carrying: " saying whether the reply parsed",
    counts: |s| Counts {
        errors: s.invalid_outputs,
        reports: s.output_reports,
    },
};

const TOOL_ERRORS: RateGate = RateGate {
    what: "tool-error rate",
    carrying: " saying whether the tool calls worked",
    counts: |s| Counts {
        errors: s.tool_errors,
        reports: s.tool_reports,
    },
};

/// A rate gate: the canary's rate against active's, in percentage points, by an
/// always-valid confidence sequence ([`sequential`]): `min` canary reports are a floor,
/// and past it the evidence decides, however often the controller looks.
fn judge_rate(
    gate: &RateGate,
    limit: f64,
    canary: &Stats,
    active: &Stats,
    min: u64,
) -> (Verdict, String) {
    let (ours, theirs) = ((gate.counts)(canary), (gate.counts)(active));
    if ours.reports < min.max(1) {
        return (
            Verdict::Inconclusive,
            too_few(gate.carrying, ours.reports, "canary", min),
        );
    }
    let (finding, interval, baseline) = rate_finding(gate, limit, canary, active, min);
    let rate = |c: Counts| c.errors as f64 / c.reports.max(1) as f64;
    let detail = format!(
        "{} {} vs active {} (at most +{limit} points; {:+.1} ± {:.1} points, always valid at {}%) over {} canary and {} active reports{}",
        gate.what,
        pct(rate(ours)),
        pct(baseline.map_or(0.0, |_| rate(theirs))),
        interval.difference * 100.0,
        interval.margin * 100.0,
        (1.0 - sequential::ALPHA) * 100.0,
        ours.reports,
        theirs.reports,
        gate.carrying
    );
    match finding {
        Finding::Worse => (Verdict::Breach, detail),
        Finding::WithinLimit => (Verdict::Pass, detail),
        Finding::NeedMore(more) => {
            let more = more.map_or("more than a million".to_owned(), |n| format!("about {n}"));
            (
                Verdict::Inconclusive,
                format!("not enough evidence yet, {more} more canary reports needed: {detail}"),
            )
        }
    }
}

/// The sequential comparison of a rate gate's rates, and the baseline it used: active's
/// figures with at least `min` active reports; without them the canary is held to an
/// error-free baseline (stricter, never laxer).
fn rate_finding(
    gate: &RateGate,
    limit: f64,
    canary: &Stats,
    active: &Stats,
    min: u64,
) -> (Finding, sequential::Interval, Option<Counts>) {
    let theirs = (gate.counts)(active);
    let baseline = (theirs.reports >= min.max(1)).then_some(theirs);
    let (finding, interval) = sequential::compare((gate.counts)(canary), baseline, limit / 100.0);
    (finding, interval, baseline)
}

/// The evidence the error-rate gate has in the current step, in words for people
/// (`412 of ~900 canary reports needed`); `None` when the plan has no error-rate gate.
pub fn error_rate_evidence(gates: &Gates, window: &Window) -> Option<String> {
    let limit = gates.max_error_rate?;
    let (have, floor) = (window.canary.reports, gates.min_samples.max(1));
    if have < floor {
        return Some(format!(
            "{have} of at least {floor} canary reports (the floor)"
        ));
    }
    let (finding, _, _) = rate_finding(&ERROR_RATE, limit, &window.canary, &window.active, floor);
    Some(match finding {
        Finding::Worse | Finding::WithinLimit => {
            format!("{have} canary reports: enough for the error-rate gate to decide")
        }
        Finding::NeedMore(Some(more)) => {
            format!("{have} of ~{} canary reports needed", have + more)
        }
        Finding::NeedMore(None) => format!(
            "{have} canary reports; at these rates more than a million more would be needed"
        ),
    })
}

/// A gate on the relative increase of a mean figure (latency, cost) over active's.
struct Increase {
    what: &'static str,
    count: fn(&Stats) -> u64,
    mean: fn(&Stats) -> Option<f64>,
    unit: fn(f64) -> String,
}

impl Increase {
    fn judge(
        &self,
        limit: f64,
        canary: &Stats,
        active: &Stats,
        needed: u64,
        min: u64,
    ) -> (Verdict, String) {
        let what = self.what;
        let (have_c, have_a) = ((self.count)(canary), (self.count)(active));
        if have_c < needed || have_a < needed {
            let detail = if have_c < needed {
                too_few(&format!(" with {what}"), have_c, "canary", min)
            } else {
                too_few(&format!(" with {what}"), have_a, "active", min)
            };
            return (Verdict::Inconclusive, detail);
        }
        let (c, a) = (
            (self.mean)(canary).unwrap_or(0.0),
            (self.mean)(active).unwrap_or(0.0),
        );
        let increase = if a > 0.0 {
            (c - a) / a * 100.0
        } else if c > 0.0 {
            f64::INFINITY
        } else {
            0.0
        };
        let detail = format!(
            "mean {what} {} vs active {} ({:+.1}%, at most +{limit}%)",
            (self.unit)(c),
            (self.unit)(a),
            increase
        );
        let verdict = if increase > limit {
            Verdict::Breach
        } else {
            Verdict::Pass
        };
        (verdict, detail)
    }
}

fn judge_score(
    gates: &Gates,
    canary: &Stats,
    active: &Stats,
    policy: &RolloutPolicy,
) -> GateResult {
    let min = gates.min_samples.max(1);
    let result = |verdict, detail| GateResult {
        gate: "score".to_owned(),
        verdict,
        detail,
        alert_only: policy.alerts_only("score"),
    };
    if canary.score_count < min {
        return result(
            Verdict::Inconclusive,
            format!(
                "{} of {min} canary reports with a score",
                canary.score_count
            ),
        );
    }
    let c = canary.mean_score().unwrap_or(0.0);
    if let Some(floor) = gates.min_score
        && c < floor
    {
        return result(
            Verdict::Breach,
            format!("mean score {c:.3}, below the minimum {floor}"),
        );
    }
    if let Some(drop) = gates.max_score_drop {
        if active.score_count < min {
            return result(
                Verdict::Inconclusive,
                format!(
                    "{} of {min} active reports with a score",
                    active.score_count
                ),
            );
        }
        let a = active.mean_score().unwrap_or(0.0);
        let detail = format!("mean score {c:.3} vs active {a:.3} (at most {drop} lower)");
        return result(
            if a - c > drop {
                Verdict::Breach
            } else {
                Verdict::Pass
            },
            detail,
        );
    }
    result(Verdict::Pass, format!("mean score {c:.3}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::stats::Sample;

    /// A window of `n` reports per side that say whether the reply parsed, `invalid` of
    /// the canary's and 1 in 100 of active's not.
    fn parsed(n: u64, invalid: u64) -> Window {
        let key = crate::store::StepKey {
            canary: crate::prompt::Version::of_canonical(b"c"),
            step: 0,
            step_started: Default::default(),
        };
        let mut window = Window::new(key);
        for i in 0..n {
            let report = |valid| Sample {
                output_valid: Some(valid),
                ..Sample::default()
            };
            window.canary.add(&report(i >= invalid));
            window.active.add(&report(i % 100 != 0));
        }
        window
    }

    fn invalid_output_gate(window: &Window) -> GateResult {
        let gates = Gates {
            max_error_rate: None,
            max_invalid_output_rate: Some(2.0),
            ..Gates::default()
        };
        let results = judge(&gates, window, &RolloutPolicy::default());
        assert_eq!(results.len(), 1, "{results:?}");
        results.into_iter().next().unwrap()
    }

    #[test]
    fn replies_the_service_cannot_parse_breach_their_gate_by_the_same_sequence() {
        let broken = invalid_output_gate(&parsed(400, 120));
        assert_eq!(broken.verdict, Verdict::Breach, "{}", broken.detail);
        assert!(
            broken
                .detail
                .starts_with("invalid-output rate 30.0% vs active 1.0%"),
            "{}",
            broken.detail
        );
        let healthy = invalid_output_gate(&parsed(4000, 40));
        assert_eq!(healthy.verdict, Verdict::Pass, "{}", healthy.detail);
        let few = invalid_output_gate(&parsed(20, 0));
        assert_eq!(few.verdict, Verdict::Inconclusive);
        assert!(
            few.detail.contains("saying whether the reply parsed"),
            "{}",
            few.detail
        );
        // Reports that do not say are not counted: no evidence, never a pass.
        let mut silent = parsed(0, 0);
        for _ in 0..1000 {
            silent.canary.add(&Sample::default());
        }
        assert_eq!(invalid_output_gate(&silent).verdict, Verdict::Inconclusive);
    }

    #[test]
    fn failed_tool_calls_breach_their_own_gate() {
        let key = crate::store::StepKey {
            canary: crate::prompt::Version::of_canonical(b"c"),
            step: 0,
            step_started: Default::default(),
        };
        let mut window = Window::new(key);
        for i in 0..400 {
            let report = |failed| Sample {
                tool_error: Some(failed),
                ..Sample::default()
            };
            window.canary.add(&report(i % 4 == 0));
            window.active.add(&report(false));
        }
        let gates = Gates {
            max_error_rate: None,
            max_tool_error_rate: Some(5.0),
            ..Gates::default()
        };
        let results = judge(&gates, &window, &RolloutPolicy::default());
        assert_eq!(results.len(), 1, "{results:?}");
        assert_eq!(
            (results[0].gate.as_str(), results[0].verdict),
            ("tool_error", Verdict::Breach)
        );
        assert!(
            results[0]
                .detail
                .starts_with("tool-error rate 25.0% vs active 0.0%"),
            "{}",
            results[0].detail
        );
    }
}
