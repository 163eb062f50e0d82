//! One controller pass: read the release state, judge every rollout on its window of
//! feedback, and write each decision as a release commit conditional on the step it judged.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Serialize;

use super::alert::{AlertPayload, send_alert};
use super::evaluate::{Decision, Evaluation, evaluate};
use super::prometheus::Prometheus;
use super::stats::Window;
use crate::base::clock::{self, UnixTime};
use crate::policy::RolloutPolicy;
use crate::project::Project;
use crate::prompt::PromptName;
use crate::release::{ActionKind, ActionRequest, ReleaseError, run_action, run_action_and_push};
use crate::store::{PromptState, State};

/// What became of one rollout in a pass.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub name: PromptName,
    pub evaluation: Evaluation,
    pub applied: Applied,
    /// Why the metric source could not be read for this step, when it could not: the step
    /// held for it, and a caller says so (a non-zero exit, a warning in the log).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_error: Option<String>,
    /// The feedback the decision was judged on, for whoever shows the decision: its
    /// figures come from the same source.
    #[serde(skip)]
    pub window: Option<Window>,
}

/// Whether a decision was written.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Applied {
    /// Nothing to write: waiting, holding, paused, frozen or done.
    Nothing,
    /// The decision is a release commit.
    Committed { commit: String, summary: String },
    /// Another controller or a person changed the rollout first; nothing was written.
    AlreadyDecided { message: String },
    /// The decision could not be carried out; the next pass tries again.
    Failed { message: String },
}

/// Where a pass reads the evidence it judges on.
pub enum Evidence<'a> {
    /// Windows of feedback: read from servers (`--from`), or kept by this server.
    Windows(&'a BTreeMap<PromptName, Window>),
    /// The fleet's series in Prometheus, queried at every look.
    Prometheus(&'a Prometheus),
}

impl Evidence<'_> {
    /// The window of every rollout in `state` at `now`: the windows given, or read now.
    pub fn windows(
        &self,
        state: &State,
        now: UnixTime,
        policy: &RolloutPolicy,
    ) -> Cow<'_, BTreeMap<PromptName, Window>> {
        match self {
            Evidence::Windows(windows) => Cow::Borrowed(*windows),
            Evidence::Prometheus(prometheus) => Cow::Owned(prometheus.windows(state, now, policy)),
        }
    }
}

/// Runs one pass over every rollout of `env` at `now`, judging each on its window of
/// `evidence`; with `push`, each decision is pushed to that remote (fetching first).
pub fn step(
    project: &Project,
    env: &str,
    evidence: &Evidence<'_>,
    now: UnixTime,
    push: Option<&str>,
) -> Result<Vec<StepReport>, ReleaseError> {
    if let Some(remote) = push {
        crate::release::pull(project, env, remote)?;
    }
    let release = project.store(env)?.read()?;
    let policy = &project.config.rollout;
    let windows = &evidence.windows(&release.state, now, policy);
    let mut reports = Vec::new();
    for (name, pointers) in &release.state.prompts {
        let Some(evaluation) = evaluate(pointers, windows.get(name), now, policy) else {
            continue;
        };
        let applied = apply(project, env, name, pointers, &evaluation, now, push);
        let undelivered = undelivered_alert(&evaluation, &applied);
        let source_error = windows.get(name).and_then(|w| w.unread.clone());
        reports.push(StepReport {
            name: name.clone(),
            evaluation,
            applied,
            source_error,
            window: windows.get(name).cloned(),
        });
        // An alert-only gate never holds a rollout back: when its alert cannot be
        // delivered, the step is judged as if it had been (the alert is tried again at
        // the next pass), and an advance or promote due now goes ahead.
        if let Some(gates) = undelivered {
            let mut assumed = pointers.clone();
            if let Some(rollout) = assumed.rollout.as_mut() {
                rollout.alerted.extend(gates);
            }
            if let Some(next) = evaluate(&assumed, windows.get(name), now, policy).filter(|e| {
                matches!(
                    e.decision,
                    Decision::Advance { .. } | Decision::Promote { .. }
                )
            }) {
                let applied = apply(project, env, name, pointers, &next, now, push);
                reports.push(StepReport {
                    name: name.clone(),
                    evaluation: next,
                    applied,
                    source_error: windows.get(name).and_then(|w| w.unread.clone()),
                    window: windows.get(name).cloned(),
                });
            }
        }
    }
    Ok(reports)
}

/// The gates of an alert that could not be delivered.
fn undelivered_alert(evaluation: &Evaluation, applied: &Applied) -> Option<Vec<String>> {
    match (&evaluation.decision, applied) {
        (Decision::Alert { gates, .. }, Applied::Failed { .. }) => Some(gates.clone()),
        _ => None,
    }
}

fn apply(
    project: &Project,
    env: &str,
    name: &PromptName,
    pointers: &PromptState,
    evaluation: &Evaluation,
    now: UnixTime,
    push: Option<&str>,
) -> Applied {
    let (kind, reason, alerted) = match &evaluation.decision {
        Decision::Revert { reason } => (ActionKind::Revert, reason.clone(), Vec::new()),
        Decision::Advance { reason, .. } => (ActionKind::Advance, reason.clone(), Vec::new()),
        Decision::Promote { reason } => (ActionKind::Promote, reason.clone(), Vec::new()),
        Decision::Alert { gates, reason } => {
            let payload = alert_payload(env, name, pointers, evaluation, gates, reason, now);
            // Recorded only once delivered, so an unreachable webhook is tried again.
            if let Err(why) = send_alert(&project.config.rollout, &payload) {
                return Applied::Failed {
                    message: why.to_string(),
                };
            }
            (ActionKind::Alert, reason.clone(), gates.clone())
        }
        _ => return Applied::Nothing,
    };
    let mut request = ActionRequest::new(kind, vec![name.to_string()]);
    request.reason = Some(format!("rollout controller: {reason}"));
    request.expect = Some(evaluation.key);
    request.alerted = alerted;
    carry_out(project, env, &request, push)
}

/// Carries out a controller's decision (pushed to `push` when given) and says what became
/// of it: another controller or a person acting first is not a failure.
pub fn carry_out(
    project: &Project,
    env: &str,
    request: &ActionRequest,
    push: Option<&str>,
) -> Applied {
    let outcome = match push {
        Some(remote) => run_action_and_push(project, env, request, remote).map(|(o, _)| o),
        None => run_action(project, env, request),
    };
    match outcome {
        Ok(outcome) => match outcome.commit {
            Some(commit) => Applied::Committed {
                commit,
                summary: outcome.summary,
            },
            None => Applied::Nothing,
        },
        Err(ReleaseError::Refused { message, .. } | ReleaseError::Conflict { message, .. }) => {
            Applied::AlreadyDecided { message }
        }
        Err(error) => Applied::Failed {
            message: error.to_string(),
        },
    }
}

fn alert_payload(
    env: &str,
    name: &PromptName,
    pointers: &PromptState,
    evaluation: &Evaluation,
    gates: &[String],
    reason: &str,
    now: UnixTime,
) -> AlertPayload {
    let stage = pointers
        .rollout
        .as_ref()
        .map(|r| r.stage().to_string())
        .unwrap_or_default();
    AlertPayload {
        kind: "promptctl.alert",
        id: format!(
            "{env}/{name}/{}/{}/{}",
            evaluation.key.canary.hex(),
            evaluation.key.step,
            gates.join("+")
        ),
        env: env.to_owned(),
        prompt: name.to_string(),
        active: pointers.active.to_string(),
        canary: evaluation.key.canary.to_string(),
        stage,
        gates: gates.to_vec(),
        message: format!("{name} in {env}: {reason}"),
        at: clock::format(now),
    }
}

/// One rollout as `promptctl rollout status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RolloutStatus {
    pub name: PromptName,
    pub pointers: PromptState,
    /// The feedback the judgement used (empty without servers to read).
    pub window: Window,
    pub evaluation: Evaluation,
}

/// Judges every rollout of `env` (or those named) at `now` without acting.
pub fn status(
    project: &Project,
    env: &str,
    names: &[String],
    evidence: &Evidence<'_>,
    now: UnixTime,
) -> Result<Vec<RolloutStatus>, ReleaseError> {
    let release = project.store(env)?.read()?;
    let windows = &evidence.windows(&release.state, now, &project.config.rollout);
    for name in names {
        let known = release
            .state
            .prompts
            .iter()
            .any(|(n, p)| n.as_str() == name && p.rollout.is_some());
        if !known {
            return Err(ReleaseError::refused(
                format!("`{name}` has no rollout in flight in `{env}`"),
                format!("see every rollout with: promptctl rollout status --env {env}"),
            ));
        }
    }
    let mut out = Vec::new();
    for (name, pointers) in &release.state.prompts {
        if !names.is_empty() && !names.iter().any(|n| n == name.as_str()) {
            continue;
        }
        let Some(evaluation) = evaluate(pointers, windows.get(name), now, &project.config.rollout)
        else {
            continue;
        };
        let window = windows
            .get(name)
            .filter(|w| w.key == evaluation.key)
            .cloned()
            .unwrap_or_else(|| Window::new(evaluation.key));
        out.push(RolloutStatus {
            name: name.clone(),
            pointers: pointers.clone(),
            window,
            evaluation,
        });
    }
    Ok(out)
}
