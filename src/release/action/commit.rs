//! Running an action: read the state, plan, write one commit by compare-and-swap; on a lost
//! race, read again and plan again, with backoff, for at most a minute.

use std::time::Duration;

use super::plan::{Plan, PlanContext, ResolvedPlan, plan};
use super::source::{Source, load_source, parse_names};
use super::{ActionKind, ActionRequest, DEFAULT_EVERY, Outcome};
use crate::project::Project;
use crate::prompt::Version;
use crate::release::ReleaseError;
use crate::retry::Backoff;
use crate::source;
use crate::source::RevisionSpec;
use crate::store::{PromptState, Record, RecordedPrompt, Rollout, WriteError};

/// How long an action keeps retrying when other writers keep winning the race.
pub(super) const RETRY_FOR: Duration = Duration::from_secs(60);

/// Runs an action on the release branch of `env`.
pub fn run(project: &Project, env: &str, request: &ActionRequest) -> Result<Outcome, ReleaseError> {
    let store = project.store(env)?;
    let author = crate::release::actor(store.repo())?;
    let names = parse_names(&request.names)?;
    let resolved = resolve_plan(project, request)?;
    let started = std::time::Instant::now();
    let source_is_fixed = source_is_fixed(request);
    let mut kept: Option<Option<Source>> = None;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let release = store.read()?;
        if kept.is_none() || !source_is_fixed {
            kept = Some(load_source(project, &store, request, &names)?);
        }
        let source = kept.as_ref().and_then(Option::as_ref);
        let context = PlanContext {
            store: &store,
            tip: release.commit,
            max_canaries: project.config.rollout.max_canaries,
            resolved: resolved.as_ref(),
        };
        let plan = plan(request, &release.state, source, &names, &context)
            .map_err(|error| after_lost_race(error, attempts, env))?;
        if plan.changes.is_empty() {
            return Ok(outcome(env, request, None, plan, attempts));
        }
        let record = record(request, &plan, source);
        let objects: Vec<(Version, &[u8])> = plan
            .objects
            .iter()
            .map(|(v, bytes)| (*v, bytes.as_bytes()))
            .collect();
        match store.write(release.commit, &plan.state, &objects, &record, &author) {
            Ok(commit) => {
                return Ok(outcome(
                    env,
                    request,
                    Some(commit.to_string()),
                    plan,
                    attempts,
                ));
            }
            Err(WriteError::Moved) if started.elapsed() < RETRY_FOR => backoff(attempts),
            Err(WriteError::Moved) => {
                return Err(ReleaseError::Conflict {
                    message: format!(
                        "other writers kept moving `promptctl/{env}` for {} seconds; the action was not applied",
                        RETRY_FOR.as_secs()
                    ),
                    hint: Some(format!(
                        "if no other promptctl is running, a stale lock may remain: remove `.git/refs/heads/promptctl/{env}.lock`"
                    )),
                });
            }
            Err(WriteError::Failed(error)) => return Err(error.into()),
        }
    }
}

/// The request's rollout plan with the project's gates and the defaults filled in, checked.
fn resolve_plan(
    project: &Project,
    request: &ActionRequest,
) -> Result<Option<ResolvedPlan>, ReleaseError> {
    let Some(plan) = &request.plan else {
        return Ok(None);
    };
    Rollout::check_stages(&plan.stages)
        .map_err(|m| ReleaseError::refused(m, "promptctl canary NAME 5% --ramp 25,50,100"))?;
    Ok(Some(ResolvedPlan {
        stages: plan.stages.clone(),
        every: plan.every.unwrap_or(DEFAULT_EVERY).max(1),
        gates: plan.gates.over(project.config.rollout.default_gates()),
    }))
}

/// Versions read from git or the working tree do not change when another writer wins the
/// race, so they are read once; release pointers and stored versions are read again.
fn source_is_fixed(request: &ActionRequest) -> bool {
    request
        .version
        .as_deref()
        .and_then(|spec| source::parse_spec(spec).ok())
        .is_none_or(|spec| {
            !matches!(
                spec,
                RevisionSpec::Release { .. } | RevisionSpec::Version(_)
            )
        })
}

/// A refusal after a lost race means the state changed under us and the action no longer
/// makes sense: that is a conflict, not the user's mistake.
fn after_lost_race(error: ReleaseError, attempts: u32, env: &str) -> ReleaseError {
    match error {
        ReleaseError::Refused { message, hint } if attempts > 1 => ReleaseError::Conflict {
            message: format!(
                "another action changed `{env}` while this one ran, and now: {message}"
            ),
            hint,
        },
        other => other,
    }
}

/// What the release commit records: the action, its summary, the version each prompt now
/// points to, the weight, where the versions came from and why.
fn record(request: &ActionRequest, plan: &Plan, source: Option<&Source>) -> Record {
    Record {
        action: crate::store::RecordedAction::Known(request.kind),
        summary: plan.summary.clone(),
        prompts: plan
            .changes
            .iter()
            .map(|c| RecordedPrompt {
                name: c.name.clone(),
                version: pointed_version(request.kind, &c.after),
            })
            .collect(),
        weight: request
            .weight
            .filter(|_| request.kind == ActionKind::Canary),
        source: source.map(|s| s.commit.clone().unwrap_or_else(|| s.spec.clone())),
        reason: request.reason.clone(),
    }
}

/// The wait after a lost race: from 2 ms, doubling, at most 250 ms, with jitter so that
/// racing writers spread out.
pub(super) const RACE_BACKOFF: Backoff =
    Backoff::new(Duration::from_millis(2), Duration::from_millis(250));

pub(super) fn backoff(attempt: u32) {
    std::thread::sleep(RACE_BACKOFF.delay(attempt));
}

pub(super) fn outcome(
    env: &str,
    request: &ActionRequest,
    commit: Option<String>,
    plan: Plan,
    attempts: u32,
) -> Outcome {
    Outcome {
        env: env.to_owned(),
        action: request.kind,
        commit,
        summary: plan.summary,
        changes: plan.changes,
        notes: plan.notes,
        attempts,
    }
}

/// The version a commit's trailer records for a prompt: the canary for `canary`, else the
/// active version after the action.
pub(super) fn pointed_version(kind: ActionKind, after: &PromptState) -> Version {
    match (kind, &after.canary) {
        (ActionKind::Canary, Some(canary)) => canary.version,
        _ => after.active,
    }
}
