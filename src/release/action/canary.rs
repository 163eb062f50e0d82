//! `canary`: a version goes to a share of the keys or to cohorts, with an optional plan.

use super::ActionKind;
use super::planner::{Plan, Planner, ResolvedPlan, summarize};
use super::source::{Source, require_all_valid, source_prompt};
use crate::prompt::{Prompt, PromptName, Version};
use crate::release::ReleaseError;
use crate::store::{Canary, PromptState, Rollout, Rule, State, Weight};

/// What a `canary` routes: a weight, or the first stage of a plan.
pub(super) struct CanaryRequest<'a> {
    pub(super) weight: Option<Weight>,
    /// `--force`: a version that was active before may go on canary.
    pub(super) force: bool,
    pub(super) plan: Option<&'a ResolvedPlan>,
    pub(super) max_canaries: Option<usize>,
    /// `--where`: only callers the rule matches are considered for the canary.
    pub(super) segment: Option<&'a Rule>,
}

impl CanaryRequest<'_> {
    /// The canary pointers and plan for `version`, starting now.
    pub(super) fn start(&self, version: Version) -> (Canary, Option<Rollout>) {
        match self.plan {
            Some(plan) => {
                let rollout = Rollout {
                    stages: plan.stages.clone(),
                    step: 0,
                    every: plan.every,
                    step_started: crate::base::clock::now(),
                    paused: false,
                    gates: plan.gates.clone(),
                    alerted: Vec::new(),
                };
                let route = rollout.route_at(0);
                let canary = Canary {
                    version,
                    weight: route.weight,
                    cohorts: route.cohorts,
                    segment: self.segment.cloned(),
                };
                (canary, Some(rollout))
            }
            None => (
                Canary {
                    version,
                    weight: self.weight,
                    cohorts: Vec::new(),
                    segment: self.segment.cloned(),
                },
                None,
            ),
        }
    }

    /// How the summary names what the canary gets.
    pub(super) fn describe(&self) -> String {
        match (self.plan, self.weight) {
            (Some(plan), _) => {
                let stages: Vec<String> = plan.stages.iter().map(ToString::to_string).collect();
                format!("{} (plan {})", stages[0], stages.join(" → "))
            }
            (None, Some(weight)) => match self.segment {
                Some(segment) => format!("{weight} where {segment}"),
                None => weight.to_string(),
            },
            (None, None) => String::new(),
        }
    }
}

/// Refuses a canary that would put more prompts in flight than the policy allows.
pub(super) fn check_max_canaries(
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

pub(super) fn plan_canary(
    state: &State,
    source: &Source,
    names: &[PromptName],
    request: &CanaryRequest<'_>,
    env: &str,
) -> Result<Plan, ReleaseError> {
    let mut planner = Planner::new(state);
    let targets: Vec<PromptName> = if names.is_empty() {
        every_changed_target(state, source, env, &mut planner)?
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
        if let Some(experiment) = &current.experiment {
            return Err(ReleaseError::refused(
                format!(
                    "`{name}` runs experiment `{}` in `{env}`: a canary's callers would overlap it",
                    experiment.name
                ),
                format!(
                    "conclude or stop it first: promptctl experiment conclude {}",
                    experiment.name
                ),
            ));
        }
        let version = canary_version(name, prompt, current, source, request, env, &mut planner)?;
        if current.rollout.is_some() && request.plan.is_none() {
            planner.notes.push(format!(
                "{name}: its rollout plan was dropped; the canary is now managed by hand"
            ));
        }
        let mut after = current.clone();
        let (mut canary, rollout) = request.start(version);
        keep_cohorts(
            &mut canary,
            current.canary.as_ref(),
            request,
            name,
            &mut planner,
        );
        keep_segment(
            &mut canary,
            current.canary.as_ref(),
            request,
            name,
            &mut planner,
        );
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

/// The version a canary of `name` puts on its canary track: the source's version, or the
/// canary in flight when the source's is the active one (a re-weight). Refuses a canary
/// that changes nothing, and one that goes back to a version active before unless forced.
fn canary_version(
    name: &PromptName,
    prompt: &Prompt,
    current: &PromptState,
    source: &Source,
    request: &CanaryRequest<'_>,
    env: &str,
    planner: &mut Planner,
) -> Result<Version, ReleaseError> {
    match &current.canary {
        // The version asked for is the active one: re-weight the canary in flight.
        Some(canary) if prompt.version == current.active => Ok(canary.version),
        None if prompt.version == current.active => Err(ReleaseError::refused(
            format!(
                "nothing new to roll out for `{name}`: its version at `{}` ({}) is already active in `{env}`",
                source.spec,
                prompt.version.short()
            ),
            "commit a change to the prompt first, or pick another version with --version SPEC",
        )),
        _ if current.previous.contains(&prompt.version) && !request.force => {
            Err(ReleaseError::refused(
                format!(
                    "`{name}` {} at `{}` was active in `{env}` before: a canary of it goes back, not forth (is HEAD an old checkout?)",
                    prompt.version.short(),
                    source.spec
                ),
                format!(
                    "check out the commit you mean to roll out; to go back, `promptctl revert {name}`; to canary it anyway, pass --force"
                ),
            ))
        }
        Some(canary) if canary.version != prompt.version => {
            planner.notes.push(format!(
                "{name}: replaces the canary {} in flight",
                canary.version.short()
            ));
            Ok(prompt.version)
        }
        _ => Ok(prompt.version),
    }
}

/// A canary set by hand keeps the cohorts it had: the keys of those cohorts were on the
/// canary and stay there, as raising a weight keeps every key already on it. A plan routes
/// by its own stages instead.
fn keep_cohorts(
    canary: &mut Canary,
    before: Option<&Canary>,
    request: &CanaryRequest<'_>,
    name: &PromptName,
    planner: &mut Planner<'_>,
) {
    let Some(before) = before.filter(|b| request.plan.is_none() && !b.cohorts.is_empty()) else {
        return;
    };
    canary.cohorts = before.cohorts.clone();
    planner.notes.push(format!(
        "{name}: the cohorts {} stay on the canary (to drop them: promptctl revert {name}, then canary again)",
        before.cohorts.join(", ")
    ));
}

/// A canary re-weighted without `--where` keeps the segment it had, as it keeps its
/// cohorts: widening a canary must not widen who may be on it.
fn keep_segment(
    canary: &mut Canary,
    before: Option<&Canary>,
    request: &CanaryRequest<'_>,
    name: &PromptName,
    planner: &mut Planner<'_>,
) {
    let Some(segment) = before.and_then(|b| b.segment.as_ref()) else {
        return;
    };
    if request.segment.is_some() {
        return;
    }
    canary.segment = Some(segment.clone());
    planner.notes.push(format!(
        "{name}: the canary stays limited to `{segment}` (to change it: --where; to drop it: promptctl revert {name}, then canary again)"
    ));
}

/// Without names: every released prompt whose version at the source differs from its
/// active one; prompts never published are skipped, and said so.
fn every_changed_target(
    state: &State,
    source: &Source,
    env: &str,
    planner: &mut Planner<'_>,
) -> Result<Vec<PromptName>, ReleaseError> {
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
    Ok(targets)
}
