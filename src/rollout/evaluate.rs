//! Judging one rollout step: each gate compares canary to active over the step's window,
//! and the verdicts, the plan's clock, pauses and freeze windows give one decision. Pure:
//! the same state, feedback and time always give the same decision.

use serde::Serialize;

use super::sequential::{self, Counts, Finding};
use super::stats::{Reading, Stats, Window};
use crate::clock::{self, UnixTime};
use crate::policy::{MetricGate, RolloutPolicy};
use crate::store::{Gates, PromptState, Rollout, StepKey};

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

/// What a controller does with a rollout now.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "decision", rename_all = "lowercase")]
pub enum Decision {
    /// A gate is breached: drop the canary, now.
    Revert {
        reason: String,
    },
    /// Alert-only gates are breached and not yet reported in this step.
    Alert {
        gates: Vec<String>,
        reason: String,
    },
    /// Healthy, with enough reports, and the stage's time is up: go to the next stage.
    Advance {
        to: String,
        reason: String,
    },
    /// Healthy at the last stage before 100%: the canary becomes active.
    Promote {
        reason: String,
    },
    /// The stage's time is up but the feedback cannot tell: stay, and say why.
    Hold {
        reason: String,
    },
    /// The stage's time is not up.
    Wait {
        until: String,
    },
    Paused,
    /// A freeze window stops automatic advancing.
    Frozen {
        window: String,
    },
    /// The plan's last stage is short of 100%: a person promotes.
    Done,
}

impl Decision {
    /// Tells whether the decision changes the release state.
    pub fn acts(&self) -> bool {
        matches!(
            self,
            Decision::Revert { .. }
                | Decision::Alert { .. }
                | Decision::Advance { .. }
                | Decision::Promote { .. }
        )
    }

    /// The decision in a few words.
    pub fn describe(&self) -> String {
        match self {
            Decision::Revert { reason } => format!("revert: {reason}"),
            Decision::Alert { reason, .. } => format!("alert: {reason}"),
            Decision::Advance { to, reason } => format!("advance to {to}: {reason}"),
            Decision::Promote { reason } => format!("promote: {reason}"),
            Decision::Hold { reason } => format!("hold: {reason}"),
            Decision::Wait { until } => format!("waiting until {until}"),
            Decision::Paused => "paused".into(),
            Decision::Frozen { window } => format!("frozen: {window}"),
            Decision::Done => "at the last stage of its plan: promote by hand".into(),
        }
    }
}

/// The judgement of one rollout.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// The step judged.
    pub key: StepKey,
    pub gates: Vec<GateResult>,
    pub decision: Decision,
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
            judge_error_rate(limit, canary, active, gates.min_samples),
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

/// The error-rate gate: the canary's rate against active's, in percentage points, by an
/// always-valid confidence sequence ([`sequential`]): `min` canary reports are a floor,
/// and past it the evidence decides, however often the controller looks.
fn judge_error_rate(limit: f64, canary: &Stats, active: &Stats, min: u64) -> (Verdict, String) {
    if canary.reports < min.max(1) {
        return (
            Verdict::Inconclusive,
            too_few("", canary.reports, "canary", min),
        );
    }
    let (finding, interval, baseline) = error_rate_finding(limit, canary, active, min);
    let detail = format!(
        "error rate {} vs active {} (at most +{limit} points; {:+.1} ± {:.1} points, always valid at {}%) over {} canary and {} active reports",
        pct(canary.error_rate().unwrap_or(0.0)),
        pct(baseline.map_or(0.0, |_| active.error_rate().unwrap_or(0.0))),
        interval.difference * 100.0,
        interval.margin * 100.0,
        (1.0 - sequential::ALPHA) * 100.0,
        canary.reports,
        active.reports
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

/// The sequential comparison of the error rates, and the baseline it used: active's
/// figures with at least `min` active reports; without them the canary is held to an
/// error-free baseline (stricter, never laxer).
fn error_rate_finding(
    limit: f64,
    canary: &Stats,
    active: &Stats,
    min: u64,
) -> (Finding, sequential::Interval, Option<Counts>) {
    let counts = |s: &Stats| Counts {
        errors: s.errors,
        reports: s.reports,
    };
    let baseline = (active.reports >= min.max(1)).then(|| counts(active));
    let (finding, interval) = sequential::compare(counts(canary), baseline, limit / 100.0);
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
    let (finding, _, _) = error_rate_finding(limit, &window.canary, &window.active, floor);
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

/// Decides what to do with a prompt's rollout at `now`; `None` when it has none.
pub fn evaluate(
    pointers: &PromptState,
    window: Option<&Window>,
    now: UnixTime,
    policy: &RolloutPolicy,
) -> Option<Evaluation> {
    let canary = pointers.canary.as_ref()?;
    let rollout = pointers.rollout.as_ref()?;
    let key = rollout.key(canary.version);
    let empty = Window::new(key);
    // Feedback of another step (or canary) says nothing about this one.
    let window = window.filter(|w| w.key == key).unwrap_or(&empty);
    let gates = judge(&rollout.gates, window, policy);
    let decision = decide(rollout, &gates, window, now, policy);
    Some(Evaluation {
        key,
        gates,
        decision,
    })
}

fn decide(
    rollout: &Rollout,
    gates: &[GateResult],
    window: &Window,
    now: UnixTime,
    policy: &RolloutPolicy,
) -> Decision {
    let breached = |alert_only: bool| -> Vec<&GateResult> {
        gates
            .iter()
            .filter(|g| g.verdict == Verdict::Breach && g.alert_only == alert_only)
            .collect()
    };
    let reverting = breached(false);
    if !reverting.is_empty() {
        let figures: Vec<&str> = reverting.iter().map(|g| g.detail.as_str()).collect();
        return Decision::Revert {
            reason: format!(
                "gate breached at stage {} ({}): {}",
                rollout.step + 1,
                rollout.stage(),
                figures.join("; ")
            ),
        };
    }
    let unreported: Vec<&GateResult> = breached(true)
        .into_iter()
        .filter(|g| !rollout.alerted.contains(&g.gate))
        .collect();
    if !unreported.is_empty() {
        let figures: Vec<&str> = unreported.iter().map(|g| g.detail.as_str()).collect();
        return Decision::Alert {
            gates: unreported.iter().map(|g| g.gate.to_owned()).collect(),
            reason: format!("alert-only gate breached: {}", figures.join("; ")),
        };
    }
    if rollout.paused {
        return Decision::Paused;
    }
    if now < rollout.step_ends() {
        return Decision::Wait {
            until: clock::format(rollout.step_ends()),
        };
    }
    if let Some(window) = policy.frozen_at(now) {
        return Decision::Frozen {
            window: window.describe(),
        };
    }
    let unsure: Vec<String> = gates
        .iter()
        .filter(|g| g.verdict == Verdict::Inconclusive)
        .map(|g| format!("{}: {}", g.gate, g.detail))
        .collect();
    if let Some(why) = &window.unread {
        return Decision::Hold {
            reason: format!("the metric source could not be read: {why}"),
        };
    }
    let min = rollout.gates.min_samples;
    if window.canary.reports < min {
        return Decision::Hold {
            reason: format!(
                "inconclusive: {} of {min} canary reports since {}",
                window.canary.reports,
                clock::format(rollout.step_started)
            ),
        };
    }
    if !unsure.is_empty() {
        return Decision::Hold {
            reason: format!("inconclusive: {}", unsure.join("; ")),
        };
    }
    let healthy = healthy_reason(gates, window);
    match rollout.next_stage() {
        None => Decision::Done,
        Some(stage) if stage.is_full() => Decision::Promote { reason: healthy },
        Some(stage) => Decision::Advance {
            to: stage.to_string(),
            reason: healthy,
        },
    }
}

fn healthy_reason(gates: &[GateResult], window: &Window) -> String {
    let passed: Vec<&str> = gates
        .iter()
        .filter(|g| g.verdict == Verdict::Pass)
        .map(|g| g.detail.as_str())
        .collect();
    if passed.is_empty() {
        format!("healthy over {} canary reports", window.canary.reports)
    } else {
        format!("healthy: {}", passed.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::stats::Sample;
    use crate::store::{Canary, Stage};

    fn v(c: char) -> crate::prompt::Version {
        format!("sha256:{}", c.to_string().repeat(64))
            .parse()
            .unwrap()
    }

    fn pointers(stages: &[&str], step: usize, gates: Gates) -> PromptState {
        let rollout = Rollout {
            stages: stages.iter().map(|s| Stage::parse(s).unwrap()).collect(),
            step,
            every: 60,
            step_started: 1000,
            paused: false,
            gates,
            alerted: Vec::new(),
        };
        let route = rollout.route_at(step);
        let mut state = PromptState::new(v('a'));
        state.canary = Some(Canary {
            version: v('c'),
            weight: route.weight,
            cohorts: route.cohorts,
        });
        state.rollout = Some(rollout);
        state
    }

    fn window(state: &PromptState, canary: (u64, u64), active: (u64, u64)) -> Window {
        let key = state.rollout.as_ref().unwrap().key(v('c'));
        let mut w = Window::new(key);
        for (stats, (n, errors)) in [(&mut w.canary, canary), (&mut w.active, active)] {
            for i in 0..n {
                stats.add(&Sample {
                    error: i < errors,
                    latency_ms: Some(100.0),
                    cost_usd: Some(0.001),
                    score: Some(0.9),
                });
            }
        }
        w
    }

    fn decision(
        state: &PromptState,
        w: &Window,
        now: UnixTime,
        policy: &RolloutPolicy,
    ) -> Decision {
        evaluate(state, Some(w), now, policy).unwrap().decision
    }

    #[test]
    fn healthy_steps_advance_once_their_time_is_up_then_promote() {
        let gates = Gates {
            min_samples: 50,
            ..Gates::default()
        };
        let policy = RolloutPolicy::default();
        let state = pointers(&["5%", "25%", "100%"], 0, gates.clone());
        let w = window(&state, (100, 1), (1000, 10));
        assert!(matches!(
            decision(&state, &w, 1030, &policy),
            Decision::Wait { .. }
        ));
        assert!(
            matches!(decision(&state, &w, 1060, &policy), Decision::Advance { ref to, .. } if to == "25%")
        );
        let last = pointers(&["5%", "25%", "100%"], 1, gates.clone());
        let w = window(&last, (100, 1), (1000, 10));
        assert!(matches!(
            decision(&last, &w, 1060, &policy),
            Decision::Promote { .. }
        ));
        let short = pointers(&["5%", "25%"], 1, gates);
        let w = window(&short, (100, 1), (1000, 10));
        assert_eq!(decision(&short, &w, 1060, &policy), Decision::Done);
    }

    /// The fixed rule reverted as soon as `min_samples` reports showed the canary's rate
    /// above active's by more than the limit: at 100 reports, 7% against 1% is 6 points,
    /// over a limit of 5, though a canary with a true rate of 5% shows as much one time in
    /// nine. The sequential gate holds and says how much more it needs.
    #[test]
    fn a_noisy_canary_at_the_floor_holds_for_evidence_instead_of_reverting() {
        let gates = Gates {
            min_samples: 100,
            max_error_rate: Some(5.0),
            ..Gates::default()
        };
        let state = pointers(&["5%", "100%"], 0, gates.clone());
        let w = window(&state, (100, 7), (1000, 10));
        let results = judge(&gates, &w, &RolloutPolicy::default());
        assert_eq!(results[0].verdict, Verdict::Inconclusive, "{results:?}");
        assert!(
            results[0]
                .detail
                .starts_with("not enough evidence yet, about "),
            "{}",
            results[0].detail
        );
        match decision(&state, &w, 1060, &RolloutPolicy::default()) {
            Decision::Hold { reason } => assert!(reason.contains("more canary reports needed")),
            other => panic!("{other:?}"),
        }
        // Twice as far over the limit is a breach at the same floor.
        let w = window(&state, (100, 25), (1000, 10));
        assert_eq!(
            judge(&gates, &w, &RolloutPolicy::default())[0].verdict,
            Verdict::Breach
        );
    }

    #[test]
    fn a_breach_reverts_at_once_paused_or_not() {
        let mut state = pointers(&["5%", "100%"], 0, Gates::default());
        let w = window(&state, (100, 40), (1000, 10));
        let policy = RolloutPolicy::default();
        let Decision::Revert { reason } = decision(&state, &w, 1001, &policy) else {
            panic!()
        };
        assert!(
            reason.contains("error rate 40.0% vs active 1.0%"),
            "{reason}"
        );
        state.rollout.as_mut().unwrap().paused = true;
        assert!(matches!(
            decision(&state, &w, 1001, &policy),
            Decision::Revert { .. }
        ));
    }

    #[test]
    fn too_few_reports_hold_rather_than_pass_or_fail() {
        let state = pointers(&["5%", "100%"], 0, Gates::default());
        let w = window(&state, (3, 3), (1000, 0));
        let policy = RolloutPolicy::default();
        let Decision::Hold { reason } = decision(&state, &w, 5000, &policy) else {
            panic!()
        };
        assert!(reason.contains("3 of 100 canary reports"), "{reason}");
        let other_step = Window {
            key: StepKey { step: 1, ..w.key },
            ..window(&state, (500, 0), (500, 0))
        };
        assert!(matches!(
            decision(&state, &other_step, 5000, &policy),
            Decision::Hold { .. }
        ));
    }

    #[test]
    fn relative_gates_need_both_sides_and_alert_only_gates_alert_once() {
        let gates = Gates {
            min_samples: 10,
            max_error_rate: None,
            max_cost_increase: Some(10.0),
            ..Gates::default()
        };
        let mut state = pointers(&["5%", "100%"], 0, gates);
        let mut w = window(&state, (20, 0), (5, 0));
        let mut policy = RolloutPolicy::default();
        assert!(matches!(
            decision(&state, &w, 5000, &policy),
            Decision::Hold { .. }
        ));
        w = window(&state, (20, 0), (20, 0));
        w.canary.cost_sum_usd *= 2.0;
        let Decision::Revert { reason } = decision(&state, &w, 5000, &policy) else {
            panic!()
        };
        assert!(reason.contains("+100.0%"), "{reason}");
        policy.alert_only = vec!["cost".into()];
        assert!(
            matches!(decision(&state, &w, 5000, &policy), Decision::Alert { ref gates, .. } if gates == &["cost"])
        );
        state.rollout.as_mut().unwrap().alerted = vec!["cost".into()];
        assert!(matches!(
            decision(&state, &w, 5000, &policy),
            Decision::Promote { .. }
        ));
    }

    #[test]
    fn freeze_windows_stop_advancing_but_not_reverting() {
        let policy: RolloutPolicy = toml::from_str(
            "[[freeze]]\nfrom = 1970-01-01T00:00:00Z\nto = 1970-01-02T00:00:00Z\nreason = \"test\"\n",
        )
        .unwrap();
        let state = pointers(&["5%", "100%"], 0, Gates::default());
        let healthy = window(&state, (200, 0), (200, 0));
        assert!(matches!(
            decision(&state, &healthy, 5000, &policy),
            Decision::Frozen { .. }
        ));
        let bad = window(&state, (200, 100), (200, 0));
        assert!(matches!(
            decision(&state, &bad, 5000, &policy),
            Decision::Revert { .. }
        ));
    }
}
