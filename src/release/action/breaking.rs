//! The contract check of `publish` and `canary`: a version whose schemas are not valid JSON
//! Schema is refused, and one whose output or tools would break a service reading the
//! active version's (under the prompt's compatibility mode) is refused unless the request
//! allows it (`--allow-breaking`).

use super::planner::Plan;
use super::source::Source;
use crate::prompt::{PromptName, Version, contract_changes};
use crate::release::ReleaseError;
use crate::store::{ReleaseTree, Store};

/// Refuses a plan that moves a prompt from its active version to one whose contract
/// breaks a service built for the active one.
pub(super) fn refuse_breaking(
    plan: &Plan,
    source: &Source,
    store: &Store,
    tip: Option<git2::Oid>,
) -> Result<(), ReleaseError> {
    for change in &plan.changes {
        let Some(Ok(prompt)) = source.prompts.get(&change.name) else {
            continue;
        };
        if let Some(problem) = prompt.schema_problems().first() {
            return Err(ReleaseError::refused(
                format!("`{}` cannot be released: {problem}", change.name),
                "fix the schema; `promptctl check` lists every problem",
            ));
        }
    }
    let Some(tip) = tip else {
        return Ok(());
    };
    // Opened once: opening lists every stored version, and a publish may move thousands.
    let tree = store.tree(tip)?;
    let mut found = Vec::new();
    for change in &plan.changes {
        let Some(before) = &change.before else {
            continue;
        };
        let new: Version = change
            .after
            .canary
            .as_ref()
            .map_or(change.after.active, |c| c.version);
        // A canary already in flight was judged when it started.
        if new == before.active || before.canary.as_ref().is_some_and(|c| c.version == new) {
            continue;
        }
        let Some(Ok(prompt)) = source.prompts.get(&change.name) else {
            continue;
        };
        if prompt.version != new {
            continue;
        }
        found.extend(breaking_changes(
            &change.name,
            prompt,
            before.active,
            Some(&tree),
        )?);
    }
    if found.is_empty() {
        return Ok(());
    }
    Err(ReleaseError::refused(
        format!(
            "the new version would break a service reading the active one:\n  {}",
            found.join("\n  ")
        ),
        "release it anyway with --allow-breaking, once the services read both (docs/contract.md)",
    ))
}

/// The changes from the `active` version of `name` to `prompt` that break a service reading
/// the active one, in words; none before anything was released (`tree`, the release
/// commit's, is `None`).
pub(super) fn breaking_changes(
    name: &PromptName,
    prompt: &crate::prompt::Prompt,
    active: Version,
    tree: Option<&ReleaseTree<'_>>,
) -> Result<Vec<String>, ReleaseError> {
    let Some(tree) = tree else {
        return Ok(Vec::new());
    };
    let active = tree.prompt(name, active)?;
    if active.spec.contract == prompt.spec.contract {
        return Ok(Vec::new());
    }
    Ok(
        contract_changes(&active.spec.contract, &prompt.spec.contract)
            .iter()
            .filter(|judged| judged.breaks(prompt.compatibility))
            .map(|judged| describe(name, prompt.compatibility, judged))
            .collect(),
    )
}

fn describe(
    name: &PromptName,
    mode: crate::prompt::Compatibility,
    change: &crate::prompt::ContractChange,
) -> String {
    format!(
        "{name}: {}: {} ({} under `{mode}`)",
        change.path, change.detail, change.kind
    )
}
