//! Planning: the pure step from (request, state, source) to the new state, its changes and
//! the objects to store, shared by every action; each action's own rules are in its file.

use super::canary::{CanaryRequest, plan_canary};
use super::promote::plan_promote;
use super::publish::plan_publish;
use super::revert::plan_revert;
use super::rollout::{plan_advance, plan_alert, plan_rollout_change};
use super::source::{Source, expect_source};
use super::{ActionKind, ActionRequest, Change};
use crate::prompt::{Prompt, PromptName, Version};
use crate::release::ReleaseError;
use crate::store::{Gates, PromptState, Stage, State, StepKey, Store};

/// A plan with every default filled in.
pub(super) struct ResolvedPlan {
    pub(super) stages: Vec<Stage>,
    pub(super) every: u64,
    pub(super) gates: Gates,
}

/// The planned result of an action on one state.
pub(super) struct Plan {
    pub(super) state: State,
    pub(super) changes: Vec<Change>,
    pub(super) notes: Vec<String>,
    pub(super) objects: Vec<(Version, String)>,
    pub(super) summary: String,
}

/// What planning needs besides the request and the state.
#[derive(Clone, Copy)]
pub(super) struct PlanContext<'a> {
    pub(super) store: &'a Store,
    /// The commit the state was read at.
    pub(super) tip: Option<git2::Oid>,
    pub(super) max_canaries: Option<usize>,
    pub(super) resolved: Option<&'a ResolvedPlan>,
}

pub(super) fn plan(
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
                force: request.force,
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

/// The prompts the most recent action of the environment changed: what `revert` with no
/// names undoes.
pub(super) fn last_action_names(
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

/// Builds the plan from the prompts whose pointers change.
pub(super) struct Planner<'a> {
    pub(super) state: State,
    pub(super) changes: Vec<Change>,
    pub(super) notes: Vec<String>,
    pub(super) objects: Vec<(Version, String)>,
    pub(super) before: &'a State,
}

impl<'a> Planner<'a> {
    pub(super) fn new(before: &'a State) -> Self {
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
    pub(super) fn set(&mut self, name: &PromptName, after: PromptState, frozen: Option<&Prompt>) {
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

    pub(super) fn finish(self, summary: impl FnOnce(&[Change]) -> String) -> Plan {
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
pub(super) fn summarize(changes: &[Change], one: impl Fn(&Change) -> String, verb: &str) -> String {
    match changes {
        [change] => one(change),
        _ => format!("{verb} {} prompts", changes.len()),
    }
}

/// Refuses a controller's decision when the prompt's rollout is no longer at the step the
/// decision was made about: another controller, or a person, acted first.
pub(super) fn check_expected(
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

pub(super) fn known_prompt<'s>(
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

/// The short version of the canary a prompt had, for summaries.
pub(super) fn canary_short(before: &PromptState) -> String {
    before
        .canary
        .as_ref()
        .map(|k| k.version.short())
        .unwrap_or_default()
}

/// Every prompt whose pointers satisfy `wanted`; `None` when there is none.
pub(super) fn every_prompt_where(
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
