//! Rollout decisions: advance, pause, resume, abort and alert on a canary's plan.

use super::ActionKind;
use super::planner::{Plan, Planner, canary_short, every_prompt_where, known_prompt, summarize};
use crate::prompt::PromptName;
use crate::release::ReleaseError;
use crate::store::{Canary, Rollout, State};

/// The prompts a rollout command acts on: those named, or every prompt with a plan.
pub(super) fn rollout_targets(
    state: &State,
    names: &[PromptName],
    kind: ActionKind,
    env: &str,
) -> Result<Vec<PromptName>, ReleaseError> {
    if names.is_empty() {
        return every_prompt_where(state, |p| p.rollout.is_some()).ok_or_else(|| {
            ReleaseError::refused(
                format!("no rollout is in flight in `{env}`"),
                "start one with: promptctl canary NAME 5% --ramp 25,50,100 --every 30m",
            )
        });
    }
    for name in names {
        if known_prompt(state, name, env)?.rollout.is_none() {
            return Err(ReleaseError::refused(
                format!("`{name}` has no rollout in flight in `{env}`"),
                format!(
                    "start one with: promptctl canary {name} 5% --ramp 25,50,100 --every 30m{}",
                    if kind == ActionKind::Abort {
                        "; to drop a plain canary: promptctl revert NAME"
                    } else {
                        ""
                    }
                ),
            ));
        }
    }
    Ok(names.to_vec())
}

/// Moves a rollout to its next stage, short of 100% (reaching 100% is a `promote`).
pub(super) fn plan_advance(
    state: &State,
    names: &[PromptName],
    env: &str,
) -> Result<Plan, ReleaseError> {
    let mut planner = Planner::new(state);
    for name in rollout_targets(state, names, ActionKind::Advance, env)? {
        let current = &state.prompts[&name];
        let (Some(canary), Some(rollout)) = (&current.canary, &current.rollout) else {
            continue;
        };
        let next = rollout.step + 1;
        match rollout.stages.get(next) {
            Some(stage) if !stage.is_full() => {}
            _ => {
                return Err(ReleaseError::refused(
                    format!("the rollout of `{name}` has no stage to advance to short of 100%"),
                    format!("promote it: promptctl promote {name}"),
                ));
            }
        }
        let mut after = current.clone();
        let route = rollout.route_at(next);
        after.canary = Some(Canary {
            version: canary.version,
            weight: route.weight,
            cohorts: route.cohorts,
            segment: canary.segment.clone(),
        });
        after.rollout = Some(Rollout {
            step: next,
            step_started: crate::base::clock::now(),
            alerted: Vec::new(),
            ..rollout.clone()
        });
        planner.set(&name, after, None);
    }
    Ok(planner.finish(|changes| {
        summarize(
            changes,
            |c| match &c.after.rollout {
                Some(r) => format!(
                    "advance {} to {} (stage {} of {})",
                    c.name,
                    r.stage(),
                    r.step + 1,
                    r.stages.len()
                ),
                None => format!("advance {}", c.name),
            },
            "advance",
        )
    }))
}

/// Pauses, resumes or aborts rollouts.
pub(super) fn plan_rollout_change(
    state: &State,
    names: &[PromptName],
    kind: ActionKind,
    env: &str,
) -> Result<Plan, ReleaseError> {
    let mut planner = Planner::new(state);
    for name in rollout_targets(state, names, kind, env)? {
        let current = &state.prompts[&name];
        let mut after = current.clone();
        match (kind, after.rollout.as_mut()) {
            (ActionKind::Abort, _) => after.drop_canary(),
            (_, Some(rollout)) => {
                let paused = kind == ActionKind::Pause;
                if rollout.paused == paused {
                    planner.notes.push(format!(
                        "{name}: the rollout is already {}",
                        if paused { "paused" } else { "running" }
                    ));
                }
                rollout.paused = paused;
            }
            (_, None) => {}
        }
        planner.set(&name, after, None);
    }
    let verb = kind.as_str();
    Ok(planner.finish(|changes| {
        summarize(
            changes,
            |c| match (&c.before, kind) {
                (Some(before), ActionKind::Abort) => format!(
                    "abort the rollout of {}: drop canary {}",
                    c.name,
                    canary_short(before)
                ),
                _ => format!("{verb} the rollout of {}", c.name),
            },
            &format!("{verb} rollouts of"),
        )
    }))
}

/// Records that alert-only gates were reported for the current step.
pub(super) fn plan_alert(
    state: &State,
    names: &[PromptName],
    gates: &[String],
    env: &str,
) -> Result<Plan, ReleaseError> {
    let mut planner = Planner::new(state);
    for name in rollout_targets(state, names, ActionKind::Alert, env)? {
        let mut after = state.prompts[&name].clone();
        if let Some(rollout) = after.rollout.as_mut() {
            for gate in gates {
                if !rollout.alerted.contains(gate) {
                    rollout.alerted.push(gate.clone());
                }
            }
        }
        planner.set(&name, after, None);
    }
    let gates = gates.join(", ");
    Ok(planner.finish(|changes| {
        summarize(
            changes,
            |c| format!("alert {}: {gates} (alert only)", c.name),
            "alert",
        )
    }))
}
