//! Actions: publish, canary, promote and revert. Each is planned as a pure function of the
//! current state and the versions asked for, then written as one commit by compare-and-swap;
//! on a lost race the state is read again and the action planned again.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::error::ReleaseError;
use crate::policy::GateDefaults;
use crate::project::Project;
use crate::prompt::{Prompt, PromptError, PromptName, Version};
use crate::retry::Backoff;
use crate::source::{self, RevisionSpec};
use crate::store::Weight;
use crate::store::{Canary, PromptState, State};
use crate::store::{Gates, Rollout, Stage, StepKey};
use crate::store::{Record, RecordedPrompt};
use crate::store::{Store, StoreError, WriteError};

/// How long an action keeps retrying when other writers keep winning the race.
const RETRY_FOR: Duration = Duration::from_secs(60);

/// What an action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    Publish,
    Canary,
    Promote,
    Revert,
    /// A rollout moves to its next stage.
    Advance,
    /// A rollout stops advancing on its own.
    Pause,
    /// A paused rollout advances again.
    Resume,
    /// A rollout and its canary are dropped.
    Abort,
    /// An alert-only gate was breached and reported.
    Alert,
}

impl ActionKind {
    /// The action as a word.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Publish => "publish",
            ActionKind::Canary => "canary",
            ActionKind::Promote => "promote",
            ActionKind::Revert => "revert",
            ActionKind::Advance => "advance",
            ActionKind::Pause => "pause",
            ActionKind::Resume => "resume",
            ActionKind::Abort => "abort",
            ActionKind::Alert => "alert",
        }
    }
}

/// An action as the user asked for it.
#[derive(Debug, Clone)]
pub struct ActionRequest {
    pub kind: ActionKind,
    /// The prompts to act on; empty means every prompt the action applies to.
    pub names: Vec<String>,
    /// Where the versions come from (`--version`, `revert --to`); `publish` and `canary`
    /// default to `HEAD`.
    pub version: Option<String>,
    /// The canary weight, for `canary`.
    pub weight: Option<Weight>,
    /// Why, recorded in the commit.
    pub reason: Option<String>,
    /// The rollout plan a `canary` starts.
    pub plan: Option<PlanRequest>,
    /// For a controller's decision: the step it was made about. The action applies only
    /// while the prompt's rollout is still at that step, so a decision is made once.
    pub expect: Option<StepKey>,
    /// For `alert`: the gates reported.
    pub alerted: Vec<String>,
}

impl ActionRequest {
    /// A request of `kind` on `names` with nothing else set.
    pub fn new(kind: ActionKind, names: Vec<String>) -> Self {
        ActionRequest {
            kind,
            names,
            version: None,
            weight: None,
            reason: None,
            plan: None,
            expect: None,
            alerted: Vec::new(),
        }
    }
}

/// A rollout plan as asked for: its stages, their length and the gates set on the command
/// line; the project's `[rollout.gates]` and the built-in defaults fill in the rest.
#[derive(Debug, Clone)]
pub struct PlanRequest {
    pub stages: Vec<Stage>,
    /// Seconds per stage; default [`DEFAULT_EVERY`].
    pub every: Option<u64>,
    pub gates: GateDefaults,
}

impl PlanRequest {
    /// Assembles the stages of a plan as people give them: cohort stages, then the first
    /// percentage, then the ramp. A ramp that repeats the first percentage
    /// (`canary NAME 1% --ramp 1,5,25`) lists one stage once.
    pub fn stages_from(
        cohorts: &[String],
        first: Option<&str>,
        ramp: &[String],
    ) -> Result<Vec<Stage>, String> {
        let mut stages = Vec::new();
        for text in cohorts {
            let stage = Stage::parse(text)?;
            if !matches!(stage, Stage::Cohort(_)) {
                return Err(format!(
                    "stage `{text}`: give percentages with PERCENT and --ramp, not as a stage"
                ));
            }
            stages.push(stage);
        }
        for text in first.into_iter().chain(ramp.iter().map(String::as_str)) {
            let stage = Stage::parse(text)?;
            if stages.last() != Some(&stage) {
                stages.push(stage);
            }
        }
        Ok(stages)
    }
}

/// How long a stage lasts unless the plan says otherwise: 30 minutes.
pub const DEFAULT_EVERY: u64 = 30 * 60;

/// A plan with every default filled in.
struct ResolvedPlan {
    stages: Vec<Stage>,
    every: u64,
    gates: Gates,
}

/// What an action did.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub env: String,
    pub action: ActionKind,
    /// The release commit made; `None` when there was nothing to change.
    pub commit: Option<String>,
    /// The one-line summary (the commit's first line).
    pub summary: String,
    /// Every prompt changed, before and after.
    pub changes: Vec<Change>,
    /// Remarks: prompts skipped and why, canaries replaced.
    pub notes: Vec<String>,
    /// How many times the action was planned (more than one after lost races).
    pub attempts: u32,
}

/// One prompt's pointers before and after an action.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub name: PromptName,
    pub before: Option<PromptState>,
    pub after: PromptState,
}

/// The versions an action may release, read from a source.
struct Source {
    spec: String,
    commit: Option<String>,
    prompts: BTreeMap<PromptName, Result<Prompt, PromptError>>,
    problems: Vec<PromptError>,
}

/// The planned result of an action on one state.
struct Plan {
    state: State,
    changes: Vec<Change>,
    notes: Vec<String>,
    objects: Vec<(Version, String)>,
    summary: String,
}

/// Runs an action on the release branch of `env`.
pub fn run(project: &Project, env: &str, request: &ActionRequest) -> Result<Outcome, ReleaseError> {
    let store = project.store(env)?;
    let author = super::actor(store.repo())?;
    let names = parse_names(&request.names)?;
    let resolved = match &request.plan {
        Some(plan) => {
            Rollout::check_stages(&plan.stages).map_err(|m| {
                ReleaseError::refused(m, "promptctl canary NAME 5% --ramp 25,50,100")
            })?;
            Some(ResolvedPlan {
                stages: plan.stages.clone(),
                every: plan.every.unwrap_or(DEFAULT_EVERY).max(1),
                gates: plan.gates.over(project.config.rollout.default_gates()),
            })
        }
        None => None,
    };
    let started = std::time::Instant::now();
    // Versions read from git or the working tree do not change when another writer wins
    // the race, so they are read once; release pointers and stored versions are read again.
    let source_is_fixed = request
        .version
        .as_deref()
        .and_then(|spec| source::parse_spec(spec).ok())
        .is_none_or(|spec| {
            !matches!(
                spec,
                RevisionSpec::Release { .. } | RevisionSpec::Version(_)
            )
        });
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
        let planned = plan(request, &release.state, source, &names, &context);
        let plan = match planned {
            Ok(plan) => plan,
            // The state changed under us and the action no longer makes sense.
            Err(ReleaseError::Refused { message, hint }) if attempts > 1 => {
                return Err(ReleaseError::Conflict {
                    message: format!(
                        "another action changed `{env}` while this one ran, and now: {message}"
                    ),
                    hint,
                });
            }
            Err(error) => return Err(error),
        };
        if plan.changes.is_empty() {
            return Ok(outcome(env, request, None, plan, attempts));
        }
        let record = Record {
            action: request.kind.as_str().to_owned(),
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
            source: source
                .as_ref()
                .map(|s| s.commit.clone().unwrap_or_else(|| s.spec.clone())),
            reason: request.reason.clone(),
        };
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

/// The wait after a lost race: from 2 ms, doubling, at most 250 ms, with jitter so that
/// racing writers spread out.
const RACE_BACKOFF: Backoff = Backoff::new(Duration::from_millis(2), Duration::from_millis(250));

fn backoff(attempt: u32) {
    std::thread::sleep(RACE_BACKOFF.delay(attempt));
}

fn outcome(
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
fn pointed_version(kind: ActionKind, after: &PromptState) -> Version {
    match (kind, &after.canary) {
        (ActionKind::Canary, Some(canary)) => canary.version,
        _ => after.active,
    }
}

fn parse_names(names: &[String]) -> Result<Vec<PromptName>, ReleaseError> {
    names
        .iter()
        .map(|name| {
            PromptName::parse(name).map_err(|reason| {
                ReleaseError::refused(
                    format!("`{name}` is not a prompt name: {reason}"),
                    "name prompts as in `promptctl list`, like `support/triage`",
                )
            })
        })
        .collect()
}

/// Reads the versions an action releases, for the actions that release new versions.
fn load_source(
    project: &Project,
    store: &Store,
    request: &ActionRequest,
    names: &[PromptName],
) -> Result<Option<Source>, ReleaseError> {
    let spec_text = match (request.kind, &request.version) {
        (ActionKind::Publish | ActionKind::Canary, None) => "HEAD",
        (_, Some(spec)) => spec.as_str(),
        _ => return Ok(None),
    };
    let spec = source::parse_spec(spec_text)?;
    if let RevisionSpec::Version(prefix) = &spec {
        // A stored version has no name of its own: it is released under the names given.
        if names.is_empty() {
            return Err(ReleaseError::refused(
                format!("`{spec_text}` is one version: name the prompts to release it as"),
                format!(
                    "promptctl {} NAME --version {spec_text}",
                    request.kind.as_str()
                ),
            ));
        }
        let commit = store.tip()?.ok_or_else(|| StoreError::VersionPrefix {
            message: format!(
                "`{spec_text}`: nothing was ever released to `{}`",
                store.env()
            ),
        })?;
        let version = store.find_version(commit, prefix)?;
        let tree = store.tree(commit)?;
        let prompts = names
            .iter()
            .map(|name| {
                (
                    name.clone(),
                    tree.prompt(name, version).map_err(to_prompt_error),
                )
            })
            .collect();
        return Ok(Some(Source {
            spec: spec_text.to_owned(),
            commit: None,
            prompts,
            problems: Vec::new(),
        }));
    }
    let set = if names.is_empty() {
        source::load(project, &spec)?
    } else {
        source::load_named(project, &spec, names)?
    };
    Ok(Some(Source {
        spec: spec_text.to_owned(),
        commit: set.commit.clone(),
        prompts: set
            .entries()
            .map(|(name, parsed)| (name.clone(), parsed.clone()))
            .collect(),
        problems: set.problems().to_vec(),
    }))
}

fn to_prompt_error(error: StoreError) -> PromptError {
    match error {
        StoreError::CorruptObject(e) => e,
        other => PromptError::Invalid {
            location: crate::location::Location::file("release store"),
            message: other.to_string(),
        },
    }
}

/// What planning needs besides the request and the state.
#[derive(Clone, Copy)]
struct PlanContext<'a> {
    store: &'a Store,
    /// The commit the state was read at.
    tip: Option<git2::Oid>,
    max_canaries: Option<usize>,
    resolved: Option<&'a ResolvedPlan>,
}

fn plan(
    request: &ActionRequest,
    state: &State,
    source: Option<&Source>,
    names: &[PromptName],
    context: &PlanContext<'_>,
) -> Result<Plan, ReleaseError> {
    let PlanContext {
        store,
        tip,
        max_canaries,
        resolved,
    } = *context;
    let env = store.env();
    if let Some(key) = &request.expect {
        check_expected(state, names, key, env)?;
    }
    match request.kind {
        ActionKind::Publish => plan_publish(state, expect_source(source)?, names, env),
        ActionKind::Canary => {
            let route = match (&request.plan, request.weight) {
                (Some(_), _) => None,
                (None, Some(weight)) => Some(weight),
                (None, None) => {
                    return Err(ReleaseError::refused(
                        "a canary needs a weight or a plan",
                        "promptctl canary NAME 10%",
                    ));
                }
            };
            let canary = CanaryRequest {
                weight: route,
                plan: resolved,
                max_canaries,
            };
            plan_canary(state, expect_source(source)?, names, &canary, env)
        }
        ActionKind::Promote => plan_promote(state, names, env),
        ActionKind::Advance => plan_advance(state, names, env),
        ActionKind::Pause | ActionKind::Resume | ActionKind::Abort => {
            plan_rollout_change(state, names, request.kind, env)
        }
        ActionKind::Alert => plan_alert(state, names, &request.alerted, env),
        ActionKind::Revert => {
            let names = if names.is_empty() {
                if source.is_some() {
                    return Err(ReleaseError::refused(
                        "`revert --to` needs the prompts to revert",
                        "promptctl revert NAME --to SPEC",
                    ));
                }
                last_action_names(store, tip)?
            } else {
                names.to_vec()
            };
            plan_revert(state, source, &names, env)
        }
    }
}

fn expect_source(source: Option<&Source>) -> Result<&Source, ReleaseError> {
    source.ok_or_else(|| ReleaseError::Git {
        message: "internal: the action has no source of versions".into(),
    })
}

/// The prompts the most recent action of the environment changed: what `revert` with no
/// names undoes.
fn last_action_names(
    store: &Store,
    tip: Option<git2::Oid>,
) -> Result<Vec<PromptName>, ReleaseError> {
    let tip = tip.ok_or_else(|| {
        ReleaseError::refused(
            format!(
                "nothing to revert: nothing was ever released to `{}`",
                store.env()
            ),
            "publish a first version with `promptctl publish`",
        )
    })?;
    let record = store.record(tip)?.filter(|r| !r.prompts.is_empty()).ok_or_else(|| {
        ReleaseError::refused(
            format!(
                "the last commit of `promptctl/{}` was not made by promptctl, so there is no action to undo",
                store.env()
            ),
            "name the prompts to revert: promptctl revert NAME",
        )
    })?;
    Ok(record.prompts.into_iter().map(|p| p.name).collect())
}

/// Gets the valid prompt `name` from a source, or says why it cannot be released.
fn source_prompt<'a>(source: &'a Source, name: &PromptName) -> Result<&'a Prompt, ReleaseError> {
    match source.prompts.get(name) {
        Some(Ok(prompt)) => Ok(prompt),
        Some(Err(error)) => Err(ReleaseError::Source(Box::new(source::SourceError::Prompt(
            error.clone(),
        )))),
        None => Err(ReleaseError::Source(Box::new(
            source::SourceError::UnknownPrompt {
                name: name.to_string(),
                spec: source.spec.clone(),
                similar: Vec::new(),
            },
        ))),
    }
}

/// Refuses to act on "every prompt" of a source that has broken prompts: their versions
/// cannot be known.
fn require_all_valid(source: &Source, kind: ActionKind) -> Result<(), ReleaseError> {
    let broken = source
        .problems
        .iter()
        .chain(source.prompts.values().filter_map(|p| p.as_ref().err()))
        .next();
    match broken {
        Some(error) => Err(ReleaseError::refused(
            format!(
                "cannot {} every prompt of `{}`: {error}",
                kind.as_str(),
                source.spec
            ),
            format!(
                "fix it (see `promptctl check`), or name the prompts: promptctl {} NAME",
                kind.as_str()
            ),
        )),
        None => Ok(()),
    }
}

/// Builds the plan from the prompts whose pointers change.
struct Planner<'a> {
    state: State,
    changes: Vec<Change>,
    notes: Vec<String>,
    objects: Vec<(Version, String)>,
    before: &'a State,
}

impl<'a> Planner<'a> {
    fn new(before: &'a State) -> Self {
        Planner {
            state: before.clone(),
            changes: Vec::new(),
            notes: Vec::new(),
            objects: Vec::new(),
            before,
        }
    }

    /// Records the new pointers of a prompt, if they differ; `frozen` is the prompt whose
    /// version the new pointers need stored.
    fn set(&mut self, name: &PromptName, after: PromptState, frozen: Option<&Prompt>) {
        let before = self.before.prompts.get(name).cloned();
        if before.as_ref() == Some(&after) {
            return;
        }
        if let Some(prompt) = frozen {
            self.objects.push((prompt.version, prompt.canonical_json()));
        }
        self.state.prompts.insert(name.clone(), after.clone());
        self.changes.push(Change {
            name: name.clone(),
            before,
            after,
        });
    }

    fn finish(self, summary: impl FnOnce(&[Change]) -> String) -> Plan {
        let summary = summary(&self.changes);
        Plan {
            state: self.state,
            changes: self.changes,
            notes: self.notes,
            objects: self.objects,
            summary,
        }
    }
}

/// `one` for a single change, `many` with the count otherwise.
fn summarize(changes: &[Change], one: impl Fn(&Change) -> String, verb: &str) -> String {
    match changes {
        [change] => one(change),
        _ => format!("{verb} {} prompts", changes.len()),
    }
}

fn plan_publish(
    state: &State,
    source: &Source,
    names: &[PromptName],
    env: &str,
) -> Result<Plan, ReleaseError> {
    let mut planner = Planner::new(state);
    let targets: Vec<PromptName> = if names.is_empty() {
        require_all_valid(source, ActionKind::Publish)?;
        source.prompts.keys().cloned().collect()
    } else {
        names.to_vec()
    };
    for name in &targets {
        let prompt = source_prompt(source, name)?;
        let after = match state.prompts.get(name) {
            None => PromptState::new(prompt.version),
            Some(current) => {
                let mut after = current.clone();
                if let Some(canary) = &current.canary
                    && canary.version != prompt.version
                {
                    planner.notes.push(format!(
                        "{name}: the canary {} in flight was dropped",
                        canary.version.short()
                    ));
                }
                after.drop_canary();
                after.set_active(prompt.version);
                after
            }
        };
        if !names.is_empty() && state.prompts.get(name) == Some(&after) {
            planner.notes.push(format!(
                "{name}: {} is already active in `{env}`",
                prompt.version.short()
            ));
        }
        planner.set(name, after, Some(prompt));
    }
    if planner.changes.is_empty() && names.is_empty() {
        planner.notes.push(format!(
            "nothing to publish: every prompt at `{}` is already active in `{env}`",
            source.spec
        ));
    }
    Ok(planner.finish(|changes| {
        summarize(
            changes,
            |c| format!("publish {} {}", c.name, c.after.active.short()),
            "publish",
        )
    }))
}

/// What a `canary` routes: a weight, or the first stage of a plan.
struct CanaryRequest<'a> {
    weight: Option<Weight>,
    plan: Option<&'a ResolvedPlan>,
    max_canaries: Option<usize>,
}

impl CanaryRequest<'_> {
    /// The canary pointers and plan for `version`, starting now.
    fn start(&self, version: Version) -> (Canary, Option<Rollout>) {
        match self.plan {
            Some(plan) => {
                let rollout = Rollout {
                    stages: plan.stages.clone(),
                    step: 0,
                    every: plan.every,
                    step_started: crate::clock::now(),
                    paused: false,
                    gates: plan.gates.clone(),
                    alerted: Vec::new(),
                };
                let route = rollout.route_at(0);
                let canary = Canary {
                    version,
                    weight: route.weight,
                    cohorts: route.cohorts,
                };
                (canary, Some(rollout))
            }
            None => (
                Canary {
                    version,
                    weight: self.weight,
                    cohorts: Vec::new(),
                },
                None,
            ),
        }
    }

    /// How the summary names what the canary gets.
    fn describe(&self) -> String {
        match (self.plan, self.weight) {
            (Some(plan), _) => {
                let stages: Vec<String> = plan.stages.iter().map(ToString::to_string).collect();
                format!("{} (plan {})", stages[0], stages.join(" → "))
            }
            (None, Some(weight)) => weight.to_string(),
            (None, None) => String::new(),
        }
    }
}

/// Refuses a canary that would put more prompts in flight than the policy allows.
fn check_max_canaries(
    state: &State,
    targets: &[PromptName],
    max: Option<usize>,
    env: &str,
) -> Result<(), ReleaseError> {
    let Some(max) = max else { return Ok(()) };
    let in_flight: Vec<&PromptName> = state
        .prompts
        .iter()
        .filter(|(_, p)| p.canary.is_some())
        .map(|(n, _)| n)
        .collect();
    let new: Vec<&PromptName> = targets.iter().filter(|n| !in_flight.contains(n)).collect();
    if !new.is_empty() && in_flight.len() + new.len() > max {
        let names: Vec<String> = in_flight.iter().map(ToString::to_string).collect();
        return Err(ReleaseError::refused(
            format!(
                "`{env}` allows {max} canar{} in flight (rollout.max_canaries), and {} {} already: {}",
                if max == 1 { "y" } else { "ies" },
                in_flight.len(),
                if in_flight.len() == 1 { "is" } else { "are" },
                if names.is_empty() {
                    "none".into()
                } else {
                    names.join(", ")
                },
            ),
            "one change at a time keeps a regression attributable: promote or revert a canary first",
        ));
    }
    Ok(())
}

fn plan_canary(
    state: &State,
    source: &Source,
    names: &[PromptName],
    request: &CanaryRequest<'_>,
    env: &str,
) -> Result<Plan, ReleaseError> {
    let mut planner = Planner::new(state);
    let targets: Vec<PromptName> = if names.is_empty() {
        require_all_valid(source, ActionKind::Canary)?;
        let mut targets = Vec::new();
        for (name, parsed) in &source.prompts {
            let Ok(prompt) = parsed else { continue };
            match state.prompts.get(name) {
                Some(current) if current.active != prompt.version => targets.push(name.clone()),
                Some(_) => {}
                None => planner.notes.push(format!(
                    "{name}: skipped, it has no active version in `{env}` (publish it first)"
                )),
            }
        }
        if targets.is_empty() && !planner.notes.is_empty() {
            return Err(ReleaseError::refused(
                format!(
                    "no prompt that changed at `{}` has an active version in `{env}` to compare a canary with",
                    source.spec
                ),
                "publish first: promptctl publish; canaries roll out later versions",
            ));
        }
        if targets.is_empty() {
            return Err(ReleaseError::refused(
                format!(
                    "nothing new to roll out: every prompt at `{}` is already active in `{env}`",
                    source.spec
                ),
                "commit a change to a prompt first; to re-weight a canary in flight, name it: promptctl canary NAME 25%",
            ));
        }
        targets
    } else {
        names.to_vec()
    };
    check_max_canaries(state, &targets, request.max_canaries, env)?;
    for name in &targets {
        let prompt = source_prompt(source, name)?;
        let current = state.prompts.get(name).ok_or_else(|| {
            ReleaseError::refused(
                format!("`{name}` has no active version in `{env}`, so there is nothing to compare a canary with"),
                format!("publish it first: promptctl publish {name}"),
            )
        })?;
        let version = match &current.canary {
            // The version asked for is the active one: re-weight the canary in flight.
            Some(canary) if prompt.version == current.active => canary.version,
            None if prompt.version == current.active => {
                return Err(ReleaseError::refused(
                    format!(
                        "nothing new to roll out for `{name}`: its version at `{}` ({}) is already active in `{env}`",
                        source.spec,
                        prompt.version.short()
                    ),
                    "commit a change to the prompt first, or pick another version with --version SPEC",
                ));
            }
            Some(canary) if canary.version != prompt.version => {
                planner.notes.push(format!(
                    "{name}: replaces the canary {} in flight",
                    canary.version.short()
                ));
                prompt.version
            }
            _ => prompt.version,
        };
        if current.rollout.is_some() && request.plan.is_none() {
            planner.notes.push(format!(
                "{name}: its rollout plan was dropped; the canary is now managed by hand"
            ));
        }
        let mut after = current.clone();
        let (canary, rollout) = request.start(version);
        after.canary = Some(canary);
        after.rollout = rollout;
        let frozen = (version == prompt.version).then_some(prompt);
        planner.set(name, after, frozen);
    }
    let route = request.describe();
    Ok(planner.finish(|changes| {
        summarize(
            changes,
            |c| {
                let version = c
                    .after
                    .canary
                    .as_ref()
                    .map_or(c.after.active, |k| k.version);
                format!("canary {} {} at {route}", c.name, version.short())
            },
            &format!("canary at {route}:"),
        )
    }))
}

fn plan_promote(state: &State, names: &[PromptName], env: &str) -> Result<Plan, ReleaseError> {
    let mut planner = Planner::new(state);
    let targets: Vec<PromptName> = if names.is_empty() {
        every_prompt_where(state, |p| p.canary.is_some()).ok_or_else(|| {
            ReleaseError::refused(
                format!("no canary is in flight in `{env}`"),
                "start one with: promptctl canary NAME 10%",
            )
        })?
    } else {
        names.to_vec()
    };
    for name in &targets {
        let current = known_prompt(state, name, env)?;
        let canary = current.canary.as_ref().ok_or_else(|| {
            ReleaseError::refused(
                format!("`{name}` has no canary in flight in `{env}`"),
                format!("start one with: promptctl canary {name} 10%, or publish directly with: promptctl publish {name}"),
            )
        })?;
        let mut after = current.clone();
        after.drop_canary();
        after.set_active(canary.version);
        planner.set(name, after, None);
    }
    Ok(planner.finish(|changes| {
        summarize(
            changes,
            |c| format!("promote {} {}", c.name, c.after.active.short()),
            "promote",
        )
    }))
}

fn known_prompt<'s>(
    state: &'s State,
    name: &PromptName,
    env: &str,
) -> Result<&'s PromptState, ReleaseError> {
    state.prompts.get(name).ok_or_else(|| {
        ReleaseError::refused(
            format!("`{name}` was never released to `{env}`"),
            format!("see what is released with: promptctl status --env {env}"),
        )
    })
}

fn plan_revert(
    state: &State,
    to: Option<&Source>,
    names: &[PromptName],
    env: &str,
) -> Result<Plan, ReleaseError> {
    let mut planner = Planner::new(state);
    for name in names {
        let current = known_prompt(state, name, env)?;
        let mut after = current.clone();
        let mut frozen = None;
        if let Some(source) = to {
            let prompt = source_prompt(source, name)?;
            after.drop_canary();
            after.active = prompt.version;
            // Going back to an earlier version forgets what came after it, so that the
            // next revert goes further back, not forth.
            if let Some(index) = after.previous.iter().position(|v| *v == prompt.version) {
                after.previous.drain(..=index);
            }
            frozen = Some(prompt);
        } else if current.canary.is_some() {
            after.drop_canary();
        } else if let Some(earlier) = after.previous.first().copied() {
            after.previous.remove(0);
            after.active = earlier;
        } else {
            return Err(ReleaseError::refused(
                format!(
                    "`{name}` has no earlier version to revert to in `{env}`: {} is its first release",
                    current.active.short()
                ),
                format!(
                    "publish the version you want instead: promptctl publish {name} --version SPEC"
                ),
            ));
        }
        planner.set(name, after, frozen);
    }
    Ok(planner.finish(|changes| {
        summarize(
            changes,
            |c| match (&c.before, &c.after.canary) {
                (Some(before), None)
                    if before.canary.is_some() && before.active == c.after.active =>
                {
                    format!("revert {}: drop canary {}", c.name, canary_short(before))
                }
                _ => format!("revert {} to {}", c.name, c.after.active.short()),
            },
            "revert",
        )
    }))
}

/// Refuses a controller's decision when the prompt's rollout is no longer at the step the
/// decision was made about: another controller, or a person, acted first.
fn check_expected(
    state: &State,
    names: &[PromptName],
    key: &StepKey,
    env: &str,
) -> Result<(), ReleaseError> {
    let [name] = names else {
        return Err(ReleaseError::refused(
            "a rollout decision names exactly one prompt",
            "promptctl rollout step",
        ));
    };
    let current = state.prompts.get(name).and_then(|p| {
        let canary = p.canary.as_ref()?;
        Some(p.rollout.as_ref()?.key(canary.version))
    });
    if current.as_ref() != Some(key) {
        return Err(ReleaseError::refused(
            format!(
                "the rollout of `{name}` in `{env}` is no longer at step {} of canary {}",
                key.step,
                key.canary.short()
            ),
            "another controller or person acted first; see: promptctl rollout status",
        ));
    }
    Ok(())
}

/// The short version of the canary a prompt had, for summaries.
fn canary_short(before: &PromptState) -> String {
    before
        .canary
        .as_ref()
        .map(|k| k.version.short())
        .unwrap_or_default()
}

/// Every prompt whose pointers satisfy `wanted`; `None` when there is none.
fn every_prompt_where(
    state: &State,
    wanted: impl Fn(&PromptState) -> bool,
) -> Option<Vec<PromptName>> {
    let names: Vec<PromptName> = state
        .prompts
        .iter()
        .filter(|(_, p)| wanted(p))
        .map(|(n, _)| n.clone())
        .collect();
    (!names.is_empty()).then_some(names)
}

/// The prompts a rollout command acts on: those named, or every prompt with a plan.
fn rollout_targets(
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
fn plan_advance(state: &State, names: &[PromptName], env: &str) -> Result<Plan, ReleaseError> {
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
        });
        after.rollout = Some(Rollout {
            step: next,
            step_started: crate::clock::now(),
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
fn plan_rollout_change(
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
fn plan_alert(
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
