//! Gates: what fails the comparison of a suite's new version with its old one, how the
//! limits are checked, and how they are applied to two versions' figures.

use serde::Deserialize;

use super::report::{GateResult, SideSummary, dollars, samples};
use super::stats::{Comparison, Verdict};

/// What fails the comparison of the new version with the old one.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gate {
    /// Largest allowed drop of the pass rate, in percentage points.
    pub max_pass_rate_drop: Option<f64>,
    /// Largest allowed cost increase, in percent.
    pub max_cost_increase: Option<f64>,
    /// Largest allowed mean latency increase, in percent.
    pub max_latency_increase: Option<f64>,
    /// Smallest pass rate of the new version, in percent, whatever the old one did.
    pub min_pass_rate: Option<f64>,
    /// With a level (0.05), the pass rate gate fails only on a drop that is significant at
    /// that level by the paired test, instead of on any drop past `max_pass_rate_drop`.
    pub significance: Option<f64>,
    /// Limits whose breach warns instead of failing (`max_cost_increase`, ...).
    #[serde(default)]
    pub alert_only: Vec<String>,
}

/// The limits a suite's `[gate]` may set, as named in the file.
pub const GATE_LIMITS: [&str; 4] = [
    "max_pass_rate_drop",
    "max_cost_increase",
    "max_latency_increase",
    "min_pass_rate",
];

impl Gate {
    /// What is wrong with the limits, as (limit, message): a negative or infinite limit, a
    /// floor outside 0 to 100, a level outside 0 to 1, an unknown name in `alert_only`. The
    /// one check behind both a suite's `[gate]` and the command line's flags.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        for (index, limit) in self.alert_only.iter().enumerate() {
            if !GATE_LIMITS.contains(&limit.as_str()) {
                problems.push((
                    format!("alert_only[{index}]"),
                    format!(
                        "`{limit}` is not a gate limit; limits are {}",
                        GATE_LIMITS.join(", ")
                    ),
                ));
            }
        }
        for (limit, value) in [
            ("max_pass_rate_drop", self.max_pass_rate_drop),
            ("max_cost_increase", self.max_cost_increase),
            ("max_latency_increase", self.max_latency_increase),
        ] {
            if let Some(value) = value
                && !(value >= 0.0 && value.is_finite())
            {
                problems.push((
                    limit.to_owned(),
                    format!("must be a non-negative number, not {value}"),
                ));
            }
        }
        if let Some(value) = self.min_pass_rate
            && !(0.0..=100.0).contains(&value)
        {
            problems.push((
                "min_pass_rate".to_owned(),
                format!("must be a percentage from 0 to 100, not {value}"),
            ));
        }
        if let Some(value) = self.significance
            && !(value > 0.0 && value < 1.0)
        {
            problems.push((
                "significance".to_owned(),
                format!("must be a level between 0 and 1 (like 0.05), not {value}"),
            ));
        }
        problems
    }

    /// These limits (the command line's) over `suite`'s. No drop limit anywhere means no
    /// drop allowed (and no floor means every case must pass, see [`apply_gate`]): the safe
    /// defaults for a pre-merge check.
    pub fn over(&self, suite: &Gate) -> Gate {
        Gate {
            max_pass_rate_drop: self
                .max_pass_rate_drop
                .or(suite.max_pass_rate_drop)
                .or(Some(0.0)),
            max_cost_increase: self.max_cost_increase.or(suite.max_cost_increase),
            max_latency_increase: self.max_latency_increase.or(suite.max_latency_increase),
            min_pass_rate: self.min_pass_rate.or(suite.min_pass_rate),
            significance: self.significance.or(suite.significance),
            alert_only: suite.alert_only.clone(),
        }
    }

    /// Tells whether a breach of `limit` only warns.
    pub fn alerts_only(&self, limit: &str) -> bool {
        self.alert_only.iter().any(|l| l == limit)
    }
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
        held: Vec::new(),
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
    let floor = Floor::of(gate, head);
    if base.unavailable.is_some() {
        if floor.below {
            breaches.add(
                "min_pass_rate",
                format!("{}, with no old version to compare with", floor.reason),
            );
        } else {
            breaches.held.push(format!(
                "{}, with no old version to compare with",
                floor.reason
            ));
        }
        return breaches.finish();
    }
    let dropped_before = breaches.count();
    check_drop(&mut breaches, base, head, comparison);
    // The default floor says again what a failed drop limit already said; a floor set on
    // purpose is worth its own line.
    let drop_said = breaches.count() > dropped_before;
    if floor.below && (gate.min_pass_rate.is_some() || !drop_said) {
        breaches.add("min_pass_rate", floor.reason);
    } else if !floor.below {
        breaches.held.push(floor.reason);
    }
    check_increases(&mut breaches, base, head);
    breaches.finish()
}

/// The pass-rate floor, judged on what could be judged: samples that could not be
/// evaluated have failed the gate already, with their own reason.
struct Floor {
    below: bool,
    reason: String,
}

impl Floor {
    fn of(gate: &Gate, head: &SideSummary) -> Floor {
        let floor = gate.min_pass_rate.unwrap_or(DEFAULT_MIN_PASS_RATE);
        let evaluated = head.passed + head.failed;
        let rate = if evaluated == 0 {
            1.0
        } else {
            head.passed as f64 / evaluated as f64
        };
        let below = rate * 100.0 < floor - 1e-9;
        Floor {
            below,
            reason: format!(
                "pass rate {:.1}% ({}/{}) {} the floor of {floor}%",
                rate * 100.0,
                head.passed,
                evaluated,
                if below { "is below" } else { "meets" }
            ),
        }
    }
}

/// The drop in pass rate: significant at the gate's level when it sets one, otherwise
/// more than `max_pass_rate_drop` points.
fn check_drop(
    breaches: &mut Breaches,
    base: &SideSummary,
    head: &SideSummary,
    comparison: Option<&Comparison>,
) {
    let gate = breaches.gate;
    // Nothing evaluated on a side: no rate to drop from or to (the errors fail the gate).
    let Some(change) = super::report::pass_rate_change(base, head) else {
        return;
    };
    let drop = -change;
    let rates = format!(
        "{:.1}% → {:.1}%",
        base.pass_rate * 100.0,
        head.pass_rate * 100.0
    );
    match (gate.significance, comparison) {
        (Some(level), Some(comparison)) => {
            if comparison.verdict == Verdict::Regressed {
                breaches.add(
                    "max_pass_rate_drop",
                    format!(
                        "pass rate dropped {drop:.1} points ({rates}), significant at {level} ({}, p = {})",
                        comparison.test,
                        super::stats::format_p(comparison.p_value)
                    ),
                );
            } else {
                breaches.held.push(format!(
                    "no significant drop at {level}: {} ({rates})",
                    comparison.words
                ));
            }
        }
        _ => {
            if let Some(max) = gate.max_pass_rate_drop
                && drop > max + 1e-9
            {
                breaches.add(
                    "max_pass_rate_drop",
                    format!("pass rate dropped {drop:.1} points ({rates}), more than {max}"),
                );
            } else if let Some(max) = gate.max_pass_rate_drop {
                breaches.held.push(format!(
                    "pass rate moved {:+.1} points ({rates}), within a drop of {max}",
                    -drop
                ));
            }
        }
    }
}

/// Cost and mean latency, each against its limit in percent.
fn check_increases(breaches: &mut Breaches, base: &SideSummary, head: &SideSummary) {
    let gate = breaches.gate;
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
}

/// A gate's breaches so far: failing ones, and those of alert-only limits; and what held.
struct Breaches<'a> {
    gate: &'a Gate,
    reasons: Vec<String>,
    warnings: Vec<String>,
    held: Vec<String>,
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
        let passed = self.reasons.is_empty();
        GateResult {
            passed,
            reasons: self.reasons,
            warnings: self.warnings,
            held_because: if passed { self.held } else { Vec::new() },
        }
    }
}

/// The increase from `old` to `new` in percent; none when `old` is zero (nothing to compare).
fn increase_percent(old: f64, new: f64) -> Option<f64> {
    (old > 0.0).then(|| (new - old) / old * 100.0)
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
    fn limits_are_checked_in_one_place() {
        let gate = Gate {
            max_cost_increase: Some(-1.0),
            min_pass_rate: Some(101.0),
            significance: Some(1.0),
            alert_only: vec!["max_cost".into()],
            ..Gate::default()
        };
        let limits: Vec<String> = gate.problems().into_iter().map(|(l, _)| l).collect();
        assert_eq!(
            limits,
            [
                "alert_only[0]",
                "max_cost_increase",
                "min_pass_rate",
                "significance"
            ]
        );
        assert!(Gate::default().problems().is_empty());
    }
}
