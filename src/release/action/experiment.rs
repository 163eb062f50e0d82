//! `experiment start`, `conclude` and `stop`: an experiment splits a prompt's callers between
//! arms (each a version) until it is concluded (an arm made active) or stopped (active stays).
//! A prompt runs an experiment or a canary, never both: their callers would overlap.

use super::breaking::breaking_changes;
use super::planner::{Plan, Planner, known_prompt};
use super::source::{Source, source_prompt};
use crate::prompt::{PromptName, Version};
use crate::release::ReleaseError;
use crate::store::{Arm, Experiment, Metric, Rule, Split, State, Store};

/// An experiment as asked for.
#[derive(Debug, Clone)]
pub struct ExperimentRequest {
    /// The experiment's name (unique in the environment).
    pub name: String,
    /// Each arm's name and where its version comes from: a git revision, `worktree`,
    /// `sha256:…`, or `active`.
    pub arms: Vec<(String, String)>,
    /// Each arm's share; an even split when `None`.
    pub split: Option<Split>,
    pub metric: Metric,
    pub effect: f64,
    pub alpha: f64,
    /// Seconds.
    pub max_duration: u64,
    pub max_samples: Option<u64>,
    pub auto_conclude: bool,
    /// `conclude`: the arm to make active.
    pub arm: Option<String>,
}

impl ExperimentRequest {
    /// A request for `conclude` or `stop` of the experiment `name`.
    pub fn named(name: &str) -> Self {
        ExperimentRequest {
            name: name.to_owned(),
            arms: Vec::new(),
            split: None,
            metric: Metric::Score,
            effect: crate::store::DEFAULT_EFFECT,
            alpha: crate::store::DEFAULT_ALPHA,
            max_duration: crate::store::DEFAULT_EXPERIMENT_LENGTH,
            max_samples: None,
            auto_conclude: false,
            arm: None,
        }
    }
}

/// The version spec of an arm that takes the prompt's active version.
pub const ACTIVE_ARM: &str = "active";

/// Each arm's versions as read: `None` for `active`.
pub(super) type ArmSources = Vec<(String, Option<Source>)>;

/// What starting an experiment needs besides the state.
pub(super) struct Start<'a> {
    pub(super) request: &'a ExperimentRequest,
    pub(super) arms: &'a ArmSources,
    pub(super) segment: Option<&'a Rule>,
    pub(super) allow_breaking: bool,
    pub(super) store: &'a Store,
    pub(super) tip: Option<git2::Oid>,
}

pub(super) fn plan_start(
    state: &State,
    names: &[PromptName],
    start: &Start<'_>,
    env: &str,
) -> Result<Plan, ReleaseError> {
    let request = start.request;
    let [name] = names else {
        return Err(ReleaseError::refused(
            "an experiment runs on exactly one prompt",
            "promptctl experiment start NAME --prompt PROMPT --arm a=HEAD~1 --arm b=HEAD",
        ));
    };
    let current = known_prompt(state, name, env)?;
    refuse_busy(state, name, &request.name, env)?;
    let mut planner = Planner::new(state);
    let mut arms = Vec::new();
    let mut breaking = Vec::new();
    let tree = match start.tip {
        Some(tip) if !start.allow_breaking => Some(start.store.tree(tip)?),
        _ => None,
    };
    for (arm, source) in start.arms {
        let version = match source {
            None => current.active,
            Some(source) => {
                let prompt = source_prompt(source, name)?;
                if let Some(problem) = prompt.schema_problems().first() {
                    return Err(ReleaseError::refused(
                        format!("arm `{arm}` of `{name}` cannot be released: {problem}"),
                        "fix the schema; `promptctl check` lists every problem",
                    ));
                }
                if prompt.version != current.active && !start.allow_breaking {
                    breaking.extend(breaking_changes(
                        name,
                        prompt,
                        current.active,
                        tree.as_ref(),
                    )?);
                }
                planner
                    .objects
                    .push((prompt.version, prompt.canonical_json()));
                prompt.version
            }
        };
        arms.push(Arm {
            name: arm.clone(),
            version,
        });
    }
    if !breaking.is_empty() {
        return Err(ReleaseError::refused(
            format!(
                "an arm would break a service reading the active version:\n  {}",
                breaking.join("\n  ")
            ),
            "start it anyway with --allow-breaking, once the services read both (docs/contract.md)",
        ));
    }
    let experiment = build(request, arms, start.segment)?;
    let summary = format!(
        "experiment {} on {name}: {}",
        experiment.name,
        experiment.describe()
    );
    let mut after = current.clone();
    after.experiment = Some(experiment);
    planner.set(name, after, None);
    Ok(planner.finish(|_| summary))
}

/// Refuses an experiment on a prompt with a canary or an experiment in flight, and a name
/// another experiment of the environment has.
fn refuse_busy(
    state: &State,
    name: &PromptName,
    experiment: &str,
    env: &str,
) -> Result<(), ReleaseError> {
    let current = known_prompt(state, name, env)?;
    if let Some(canary) = &current.canary {
        return Err(ReleaseError::refused(
            format!(
                "`{name}` has canary {} in flight in `{env}`: an experiment's callers would overlap it",
                canary.version.short()
            ),
            format!("promote or revert the canary first: promptctl promote {name}"),
        ));
    }
    if let Some(running) = &current.experiment {
        return Err(ReleaseError::refused(
            format!(
                "`{name}` already runs experiment `{}` in `{env}`",
                running.name
            ),
            format!(
                "conclude or stop it first: promptctl experiment conclude {}",
                running.name
            ),
        ));
    }
    if let Some((other, _)) = running(state, experiment) {
        return Err(ReleaseError::refused(
            format!("experiment `{experiment}` already runs on `{other}` in `{env}`"),
            "give the new experiment another name",
        ));
    }
    Ok(())
}

fn build(
    request: &ExperimentRequest,
    arms: Vec<Arm>,
    segment: Option<&Rule>,
) -> Result<Experiment, ReleaseError> {
    let refuse = |why: String| {
        ReleaseError::refused(
            why,
            "like: promptctl experiment start tone --prompt support/reply --arm formal=active --arm casual=HEAD",
        )
    };
    let split = match &request.split {
        Some(split) => split.clone(),
        None => Split::even(arms.len()).map_err(|e| refuse(e.why))?,
    };
    let experiment = Experiment {
        name: request.name.clone(),
        arms,
        split,
        segment: segment.cloned(),
        metric: request.metric.clone(),
        effect: request.effect,
        alpha: request.alpha,
        started: crate::base::clock::now(),
        max_duration: request.max_duration,
        max_samples: request.max_samples,
        auto_conclude: request.auto_conclude,
    };
    experiment.check().map_err(refuse)?;
    Ok(experiment)
}

/// The prompt running the experiment `name`, with it.
pub(super) fn running<'s>(
    state: &'s State,
    name: &str,
) -> Option<(&'s PromptName, &'s Experiment)> {
    state.prompts.iter().find_map(|(prompt, pointers)| {
        let experiment = pointers.experiment.as_ref()?;
        (experiment.name == name).then_some((prompt, experiment))
    })
}

fn find<'s>(
    state: &'s State,
    name: &str,
    env: &str,
) -> Result<(&'s PromptName, &'s Experiment), ReleaseError> {
    running(state, name).ok_or_else(|| {
        ReleaseError::refused(
            format!("no experiment `{name}` runs in `{env}`"),
            format!("see what runs: promptctl experiment status --env {env}"),
        )
    })
}

/// `conclude`: the arm becomes active (remembering the version it replaces, for
/// `revert`) and the experiment ends.
pub(super) fn plan_conclude(
    state: &State,
    request: &ExperimentRequest,
    env: &str,
) -> Result<Plan, ReleaseError> {
    let (name, experiment) = find(state, &request.name, env)?;
    let arm_name = request.arm.as_deref().ok_or_else(|| {
        ReleaseError::refused(
            format!("concluding `{}` needs the arm to make active", request.name),
            "promptctl experiment conclude NAME --arm ARM",
        )
    })?;
    let arm = experiment
        .arms
        .iter()
        .find(|a| a.name == arm_name)
        .ok_or_else(|| {
            let arms: Vec<&str> = experiment.arms.iter().map(|a| a.name.as_str()).collect();
            ReleaseError::refused(
                format!(
                    "`{arm_name}` is not an arm of experiment `{}`",
                    request.name
                ),
                format!("its arms: {}", arms.join(", ")),
            )
        })?;
    let version: Version = arm.version;
    let mut planner = Planner::new(state);
    let mut after = state.prompts[name].clone();
    after.experiment = None;
    after.set_active(version);
    let summary = format!(
        "conclude {} on {name}: arm {arm_name} ({}) is active",
        request.name,
        version.short()
    );
    planner.set(name, after, None);
    Ok(planner.finish(|_| summary))
}

/// `stop`: the experiment ends and every caller gets the active version, unchanged.
pub(super) fn plan_stop(
    state: &State,
    request: &ExperimentRequest,
    env: &str,
) -> Result<Plan, ReleaseError> {
    let (name, _) = find(state, &request.name, env)?;
    let mut planner = Planner::new(state);
    let mut after = state.prompts[name].clone();
    after.experiment = None;
    let summary = format!(
        "stop {} on {name}: active stays {}",
        request.name,
        after.active.short()
    );
    planner.set(name, after, None);
    Ok(planner.finish(|_| summary))
}
