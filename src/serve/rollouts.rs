//! `GET /v1/rollouts`: every canary in flight with its plan, the feedback of its current
//! step side by side with active, the gates' verdicts and the controller's latest decision.
//! `promptctl rollout step --from` reads the windows from here; the dashboard shows it.

use serde::Serialize;

use super::{ServerState, lock};
use crate::base::clock::{self, UnixTime};
use crate::prompt::{PromptName, Version};
use crate::rollout::{Applied, Evaluation, Summary, Window, evaluate};
use crate::served::Snapshot;
use crate::store::{PromptState, Rollout, StepKey};

/// The controller's latest judgement of one rollout.
#[derive(Debug, Clone, Serialize)]
pub struct LastDecision {
    #[serde(serialize_with = "clock::rfc3339::serialize")]
    pub at: UnixTime,
    pub evaluation: Evaluation,
    pub applied: Applied,
    /// The feedback the decision was judged on (the fleet's, through Prometheus, or this
    /// server's): what the view shows beside it.
    #[serde(skip)]
    pub window: Option<Window>,
}

/// The window key of a canary: its plan's current step, or step 0 from the epoch for a
/// canary without a plan (its feedback then accumulates for as long as it is in flight).
pub fn window_key(pointers: &PromptState, canary: Version) -> StepKey {
    match &pointers.rollout {
        Some(rollout) => rollout.key(canary),
        None => StepKey {
            canary,
            step: 0,
            step_started: 0,
        },
    }
}

/// One canary in flight.
#[derive(Debug, Clone, Serialize)]
pub struct RolloutView {
    pub name: PromptName,
    pub active: Version,
    pub canary: Version,
    /// Who is on the canary, in words.
    pub route: String,
    pub plan: Option<Rollout>,
    /// The raw window (sums), for merging across servers.
    pub window: Window,
    /// Where `summary` and `evaluation` come from: `this server` (its own feedback), or
    /// `controller` (the source the controller's last decision read, such as Prometheus).
    pub figures_from: &'static str,
    pub summary: SideBySide,
    /// The gates' verdicts and what a controller would decide now.
    pub evaluation: Option<Evaluation>,
    /// What the controller in this server last decided.
    pub last_decision: Option<LastDecision>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SideBySide {
    pub active: Summary,
    pub canary: Summary,
}

/// The body of `GET /v1/rollouts`.
#[derive(Debug, Clone, Serialize)]
pub struct RolloutsBody {
    pub env: String,
    pub commit: String,
    pub controller: bool,
    #[serde(serialize_with = "clock::rfc3339::serialize")]
    pub now: UnixTime,
    pub rollouts: Vec<RolloutView>,
}

/// Every canary in flight in `snapshot`, with this server's feedback.
pub fn views(state: &ServerState, snapshot: &Snapshot) -> RolloutsBody {
    let now = clock::now();
    let windows = lock(&state.windows).clone();
    let decisions = lock(&state.decisions).clone();
    let policy = lock(&state.policy).clone();
    let mut rollouts = Vec::new();
    for (name, served) in &snapshot.prompts {
        let pointers = &served.pointers;
        let Some(canary) = &pointers.canary else {
            continue;
        };
        let key = window_key(pointers, canary.version);
        let window = windows
            .get(name)
            .filter(|w| w.key == key)
            .cloned()
            .unwrap_or_else(|| Window::new(key));
        let last_decision = decisions
            .get(name)
            .filter(|d| d.evaluation.key == key)
            .cloned();
        // A controller that judges on another source (Prometheus) shows its figures from
        // that source, never this server's share of them beside a decision on the whole.
        let judged_on = last_decision
            .as_ref()
            .filter(|_| state.controller_reads_prometheus(&policy))
            .and_then(|d| d.window.clone());
        let (figures_from, shown) = match &judged_on {
            Some(judged) => ("controller", judged),
            None => ("this server", &window),
        };
        let evaluation = evaluate(pointers, Some(shown), now, &policy);
        let summary = SideBySide {
            active: shown.active.summary(),
            canary: shown.canary.summary(),
        };
        rollouts.push(RolloutView {
            name: name.clone(),
            active: pointers.active,
            canary: canary.version,
            route: canary.describe(),
            plan: pointers.rollout.clone(),
            figures_from,
            summary,
            window,
            evaluation,
            last_decision,
        });
    }
    RolloutsBody {
        env: snapshot.env.clone(),
        commit: snapshot.commit.clone(),
        controller: state.controlling,
        now,
        rollouts,
    }
}
