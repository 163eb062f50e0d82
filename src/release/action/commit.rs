//! Running an action: read the state, plan, write one commit by compare-and-swap; on a lost
//! race, read again and plan again, with backoff, for at most a minute.

use std::time::Duration;

use super::plan::{PlanContext, plan};
use super::planner::{Plan, ResolvedPlan};
use super::source::{Source, load_source, parse_names};
use super::{ActionKind, ActionRequest, DEFAULT_EVERY, Outcome};
use crate::base::retry::Backoff;
use crate::project::Project;
use crate::prompt::PromptName;
use crate::prompt::Version;
use crate::release::ReleaseError;
use crate::source;
use crate::source::RevisionSpec;
use crate::store::{PromptState, Record, RecordedPrompt, Rollout, Store, WriteError};

/// How long an action keeps retrying when other writers keep winning the race.
pub(super) const RETRY_FOR: Duration = Duration::from_secs(60);

/// Runs an action on the release branch of `env`.
pub fn run(project: &Project, env: &str, request: &ActionRequest) -> Result<Outcome, ReleaseError> {
    let mut action = Action::new(project, env, request)?;
    let started = std::time::Instant::now();
    loop {
        let tip = action.store.tip()?;
        let (commit, outcome) = match action.attempt(tip)? {
            Attempt::Unchanged(outcome) => return Ok(outcome),
            Attempt::Made { commit, outcome } => (commit, outcome),
        };
        let log = format!("promptctl: {}", outcome.summary);
        match action.store.advance(commit, tip, &log) {
            Ok(()) => return Ok(outcome),
            Err(WriteError::Moved) if started.elapsed() < RETRY_FOR => backoff(action.attempts),
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

/// An action being carried out: what it needs across attempts, each planned on the state
/// at a given release commit.
pub struct Action<'a> {
    project: &'a Project,
    env: &'a str,
    request: &'a ActionRequest,
    pub(crate) store: Store,
    author: git2::Signature<'static>,
    names: Vec<PromptName>,
    resolved: Option<ResolvedPlan>,
    /// The versions the action applies, once read (see [`source_is_fixed`]).
    kept: Option<Option<Source>>,
    attempts: u32,
}

/// What one attempt made.
pub enum Attempt {
    /// The action changes nothing on that state.
    Unchanged(Outcome),
    /// A commit on top of the state, which no branch points to yet.
    Made { commit: git2::Oid, outcome: Outcome },
}

impl<'a> Action<'a> {
    pub fn new(
        project: &'a Project,
        env: &'a str,
        request: &'a ActionRequest,
    ) -> Result<Self, ReleaseError> {
        let store = project.store(env)?;
        let author = crate::release::actor(store.repo())?.to_owned();
        Ok(Action {
            project,
            env,
            request,
            store,
            author,
            names: parse_names(&request.names)?,
            resolved: resolve_plan(project, request)?,
            kept: None,
            attempts: 0,
        })
    }

    /// Plans the action on the state at `base` and writes its commit, moving no branch.
    pub fn attempt(&mut self, base: Option<git2::Oid>) -> Result<Attempt, ReleaseError> {
        self.attempts += 1;
        let release = self.store.read_at(base)?;
        if self.kept.is_none() || !source_is_fixed(self.request) {
            self.kept = Some(load_source(
                self.project,
                &self.store,
                self.request,
                &self.names,
            )?);
        }
        let source = self.kept.as_ref().and_then(Option::as_ref);
        let arms = match self.request.kind {
            ActionKind::Experiment => Some(load_arms(
                self.project,
                &self.store,
                self.request,
                &self.names,
            )?),
            _ => None,
        };
        let context = PlanContext {
            store: &self.store,
            tip: release.commit,
            max_canaries: self.project.config.rollout.max_canaries,
            resolved: self.resolved.as_ref(),
            arms: arms.as_ref(),
        };
        let plan = plan(self.request, &release.state, source, &self.names, &context)
            .map_err(|error| after_lost_race(error, self.attempts, self.env))?;
        if plan.changes.is_empty() {
            return Ok(Attempt::Unchanged(outcome(
                self.env,
                self.request,
                None,
                plan,
                self.attempts,
            )));
        }
        let record = record(self.request, &plan, source);
        let objects: Vec<(Version, &[u8])> = plan
            .objects
            .iter()
            .map(|(v, bytes)| (*v, bytes.as_bytes()))
            .collect();
        let commit =
            self.store
                .commit_on(release.commit, &plan.state, &objects, &record, &self.author)?;
        Ok(Attempt::Made {
            commit,
            outcome: outcome(
                self.env,
                self.request,
                Some(commit.to_string()),
                plan,
                self.attempts,
            ),
        })
    }
}

/// Reads each arm's version of an experiment's prompt from where its spec says (`active`
/// is taken from the state when planning).
fn load_arms(
    project: &Project,
    store: &Store,
    request: &ActionRequest,
    names: &[PromptName],
) -> Result<super::experiment::ArmSources, ReleaseError> {
    let Some(experiment) = &request.experiment else {
        return Ok(Vec::new());
    };
    let mut arms = Vec::new();
    for (arm, spec) in &experiment.arms {
        if spec == super::ACTIVE_ARM {
            arms.push((arm.clone(), None));
            continue;
        }
        let mut one = request.clone();
        one.kind = ActionKind::Canary;
        one.version = Some(spec.clone());
        arms.push((arm.clone(), load_source(project, store, &one, names)?));
    }
    Ok(arms)
}

/// The request's rollout plan with the project's gates and the defaults filled in, checked.
fn resolve_plan(
    project: &Project,
    request: &ActionRequest,
) -> Result<Option<ResolvedPlan>, ReleaseError> {
    let Some(plan) = &request.plan else {
        return Ok(None);
    };
    Rollout::check_stages(&plan.stages).map_err(|m| {
        ReleaseError::refused(m.to_string(), "promptctl canary NAME 5% --ramp 25,50,100")
    })?;
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
