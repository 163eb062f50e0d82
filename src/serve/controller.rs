//! The rollout controller inside a server: one pass of [`crate::rollout::step`] and of
//! [`crate::experiment::step`] over the feedback this server received (or Prometheus)
//! whenever a step falls due, feedback arrives, or the interval passes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::rollouts::LastDecision;
use super::{ControllerOptions, ServerState, lock};
use crate::experiment::{Figures, Judged, step as experiment_step};
use crate::project::Project;
use crate::project::ProjectError;
use crate::release::ReleaseError;
use crate::rollout::{Applied, Evidence, Prometheus, PrometheusError, step};

/// Why a pass made no decision at all (a step that holds is a decision).
#[derive(Debug, thiserror::Error)]
enum PassError {
    #[error(transparent)]
    Project(#[from] ProjectError),
    #[error(transparent)]
    Prometheus(#[from] PrometheusError),
    #[error(transparent)]
    Release(#[from] ReleaseError),
}

/// Why every step holds before the metric source is judged on.
#[derive(Debug, thiserror::Error)]
enum NotCaughtUp {
    #[error(transparent)]
    Unreadable(#[from] PrometheusError),
    #[error(
        "Prometheus answers again but has not yet scraped every replica since the gap, so its counts are from before it; every step holds until it has"
    )]
    Scraping,
}

/// Judges every rollout every interval, until the server stops.
pub async fn run_forever(
    options: ControllerOptions,
    root: PathBuf,
    env: String,
    state: Arc<ServerState>,
) {
    loop {
        wait_for_a_reason(&options, &state).await;
        let (root, env, push, prometheus, shared) = (
            root.clone(),
            env.clone(),
            options.push.clone(),
            options.prometheus.clone(),
            Arc::clone(&state),
        );
        let pass = tokio::task::spawn_blocking(move || {
            one_pass(&root, &env, push.as_deref(), prometheus.as_deref(), &shared)
        });
        match pass.await {
            Ok(Ok(wrote)) if wrote => state.reload.notify_one(),
            Ok(Ok(_)) => {}
            Ok(Err(message)) => tracing::error!(error = %message, "rollout controller pass failed"),
            Err(e) => tracing::error!(error = %e, "rollout controller stopped a pass"),
        }
    }
}

/// Feedback that arrives within this long is judged in one pass.
const EVIDENCE_BATCH: Duration = Duration::from_secs(1);

/// Waits until a pass could decide something: a plan's step falls due, feedback arrives
/// (batched over a second), or the interval passes, whichever is first. A step of
/// `--every 2s` then advances about 2 s after it starts, not at the next 30 s tick.
async fn wait_for_a_reason(options: &ControllerOptions, state: &ServerState) {
    let wait = next_step_due(state).map_or(options.interval, |due| due.min(options.interval));
    tokio::select! {
        () = tokio::time::sleep(wait) => {}
        () = async {
            state.evidence.notified().await;
            tokio::time::sleep(EVIDENCE_BATCH).await;
        } => {}
    }
}

/// How long until the earliest step of a running plan is due.
fn next_step_due(state: &ServerState) -> Option<Duration> {
    let snapshot = state.snapshot.load_full()?;
    let now = crate::base::clock::now();
    snapshot
        .prompts
        .values()
        .filter_map(|served| served.pointers.rollout.as_ref())
        // A step already due was judged by the last pass: what could change its decision
        // now is evidence, which wakes the controller by itself.
        .filter(|rollout| !rollout.paused && rollout.step_ends() > now)
        .map(|rollout| {
            let seconds = (rollout.step_ends() - now) as u64;
            // Just past the second it ends, so the step is due when judged.
            Duration::from_secs(seconds) + Duration::from_millis(50)
        })
        .min()
}

/// One pass; tells whether a decision was written.
fn one_pass(
    root: &std::path::Path,
    env: &str,
    push: Option<&str>,
    prometheus: Option<&str>,
    state: &ServerState,
) -> Result<bool, PassError> {
    // The project is read again every pass, so edits to the policies apply without a
    // restart.
    let project = Project::discover(root)?;
    *lock(&state.policy) = project.config.rollout.clone();
    let now = crate::base::clock::now();
    let policy = &project.config.rollout;
    // Prometheus, when named, sees the whole fleet; otherwise this server's own feedback.
    let chosen = Prometheus::chosen(prometheus, policy)?;
    let (reports, experiments) = match &chosen {
        Some(source) => {
            if let Err(why) = caught_up(state, source) {
                note_source_health(state, Some(why.to_string()));
                return Ok(false);
            }
            let reports = step(&project, env, &Evidence::Prometheus(source), now, push)?;
            let figures = Figures::Prometheus(source);
            (
                reports,
                experiment_step(&project, env, &figures, now, push)?,
            )
        }
        None => {
            let windows = lock(&state.windows).clone();
            let reports = step(&project, env, &Evidence::Windows(&windows), now, push)?;
            let local = |prompt: &crate::prompt::PromptName, name: &str| {
                state.experiments.figures(prompt.as_str(), name)
            };
            let figures = Figures::Local(&local);
            (
                reports,
                experiment_step(&project, env, &figures, now, push)?,
            )
        }
    };
    let mut wrote = log_experiments(&experiments);
    note_source_health(state, reports.iter().find_map(|r| r.source_error.clone()));
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
                window: report.window,
            },
        );
    }
    Ok(wrote)
}

/// Logs what the experiment pass did; tells whether it wrote a release commit.
fn log_experiments(judged: &[Judged]) -> bool {
    let mut wrote = false;
    for one in judged {
        match (&one.applied, &one.analysis) {
            (Applied::Committed { summary, commit }, _) => {
                wrote = true;
                tracing::info!(prompt = %one.name, commit = %commit, "experiment controller: {summary}");
            }
            (Applied::Failed { message }, _) => tracing::error!(
                prompt = %one.name,
                error = %message,
                "experiment controller could not apply a decision"
            ),
            (_, Err(why)) => tracing::warn!(
                prompt = %one.name,
                error = %why,
                "experiment controller: the figures cannot be read; nothing decided"
            ),
            _ => {}
        }
    }
    wrote
}

/// After the metric source could not be read, waits until Prometheus has scraped every
/// replica since it answered again: until then its series hold the counts from before the
/// gap (seen: a step advanced on 152 canary reports when about 400 had been sent). The
/// mark is taken on Prometheus's clock, which its scrapes are stamped with.
fn caught_up(state: &ServerState, source: &Prometheus) -> Result<(), NotCaughtUp> {
    let was_down = lock(&state.metric_source_error).is_some();
    let mut since = lock(&state.catching_up_since);
    if !was_down && since.is_none() {
        return Ok(());
    }
    let mark = match *since {
        Some(mark) => mark,
        None => source.time()?,
    };
    if source.scraped_since(mark)? {
        tracing::info!(
            "rollout controller: Prometheus has scraped every replica since the gap; judging again"
        );
        *since = None;
        return Ok(());
    }
    if since.is_none() {
        tracing::warn!(
            "rollout controller: Prometheus answers again; every step holds until it has scraped every replica since the gap"
        );
    }
    *since = Some(mark);
    Err(NotCaughtUp::Scraping)
}

/// Logs when the metric source stops answering and when it answers again, once each, and
/// keeps why for the dashboard: an outage is never silent, nor a line every pass.
fn note_source_health(state: &ServerState, error: Option<String>) {
    let mut down = lock(&state.metric_source_error);
    match (down.as_ref(), &error) {
        (None, Some(why)) => tracing::warn!(
            error = %why,
            "rollout controller: the metric source cannot be read; every step holds until it answers"
        ),
        (Some(_), None) => tracing::info!("rollout controller: the metric source answers again"),
        _ => {}
    }
    *down = error;
}
