//! The rollout controller inside a server: every interval, one pass of
//! [`crate::rollout::step`] over the feedback this server received.

use std::path::PathBuf;
use std::sync::Arc;

use super::rollouts::LastDecision;
use super::{ControllerOptions, ServerState, lock};
use crate::project::Project;
use crate::rollout::{Applied, step};

/// Judges every rollout every interval, until the server stops.
pub async fn run_forever(
    options: ControllerOptions,
    root: PathBuf,
    env: String,
    state: Arc<ServerState>,
) {
    loop {
        tokio::time::sleep(options.interval).await;
        let (root, env, push, shared) = (
            root.clone(),
            env.clone(),
            options.push.clone(),
            Arc::clone(&state),
        );
        let pass =
            tokio::task::spawn_blocking(move || one_pass(&root, &env, push.as_deref(), &shared));
        match pass.await {
            Ok(Ok(wrote)) if wrote => state.reload.notify_one(),
            Ok(Ok(_)) => {}
            Ok(Err(message)) => tracing::error!(error = %message, "rollout controller pass failed"),
            Err(e) => tracing::error!(error = %e, "rollout controller stopped a pass"),
        }
    }
}

/// One pass; tells whether a decision was written.
fn one_pass(
    root: &std::path::Path,
    env: &str,
    push: Option<&str>,
    state: &ServerState,
) -> Result<bool, String> {
    // The project is read again every pass, so edits to the policies apply without a
    // restart.
    let project = Project::discover(root).map_err(|e| e.to_string())?;
    *lock(&state.policy) = project.config.rollout.clone();
    let windows = lock(&state.windows).clone();
    let now = crate::clock::now();
    let reports = step(&project, env, &windows, now, push).map_err(|e| e.to_string())?;
    let mut wrote = false;
    let mut decisions = lock(&state.decisions);
    for report in reports {
        match &report.applied {
            Applied::Committed { summary, commit } => {
                wrote = true;
                tracing::info!(
                    prompt = %report.name,
                    commit = %commit,
                    decision = %report.evaluation.decision.describe(),
                    "rollout controller: {summary}"
                );
            }
            Applied::Failed { message } => tracing::error!(
                prompt = %report.name,
                decision = %report.evaluation.decision.describe(),
                error = %message,
                "rollout controller could not apply a decision"
            ),
            Applied::AlreadyDecided { .. } | Applied::Nothing => {}
        }
        decisions.insert(
            report.name.clone(),
            LastDecision {
                at: now,
                evaluation: report.evaluation,
                applied: report.applied,
            },
        );
    }
    Ok(wrote)
}
