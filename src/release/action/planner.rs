//! What every planner shares: the plan an action makes (the new state, its changes, notes
//! and objects), the builder that records each prompt's change, and the checks planners
//! make of the names they are given. `plan.rs` dispatches to the planners; they and it use
//! this file, which uses none of them.

use super::Change;
use crate::prompt::{Prompt, PromptName, Version};
use crate::release::ReleaseError;
use crate::store::{Gates, PromptState, Stage, State, StepKey};

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
