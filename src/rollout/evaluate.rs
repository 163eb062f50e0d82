//! Judging one rollout step: each gate compares canary to active over the step's window,
//! and the verdicts, the plan's clock, pauses and freeze windows give one decision. Pure:
//! the same state, feedback and time always give the same decision.

use serde::Serialize;

use super::gates::{GateResult, Verdict, judge};
use super::stats::Window;
use crate::base::clock::{self, UnixTime};
use crate::policy::RolloutPolicy;
use crate::store::{PromptState, Rollout, StepKey};

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
    if let Some(breach) = breach_decision(rollout, gates) {
        return breach;
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

/// A breach, whatever the time, pause or freeze: a gate that reverts does; alert-only
/// gates alert once per step.
fn breach_decision(rollout: &Rollout, gates: &[GateResult]) -> Option<Decision> {
    let breached = |alert_only: bool| -> Vec<&GateResult> {
        gates
            .iter()
            .filter(|g| g.verdict == Verdict::Breach && g.alert_only == alert_only)
            .collect()
    };
    let details = |found: &[&GateResult]| -> String {
        let figures: Vec<&str> = found.iter().map(|g| g.detail.as_str()).collect();
        figures.join("; ")
    };
    let reverting = breached(false);
    if !reverting.is_empty() {
        return Some(Decision::Revert {
            reason: format!(
                "gate breached at stage {} ({}): {}",
                rollout.step + 1,
                rollout.stage(),
                details(&reverting)
            ),
        });
    }
    let unreported: Vec<&GateResult> = breached(true)
        .into_iter()
        .filter(|g| !rollout.alerted.contains(&g.gate))
        .collect();
    (!unreported.is_empty()).then(|| Decision::Alert {
        gates: unreported.iter().map(|g| g.gate.to_owned()).collect(),
        reason: format!("alert-only gate breached: {}", details(&unreported)),
    })
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
    use crate::store::{Canary, Gates, Stage};

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
            segment: None,
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
                    ..Sample::default()
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
