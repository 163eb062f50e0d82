//! `publish`: versions become active directly.

use super::ActionKind;
use super::planner::{Plan, Planner, summarize};
use super::source::{Source, require_all_valid, source_prompt};
use crate::prompt::PromptName;
use crate::release::ReleaseError;
use crate::store::{PromptState, State};

pub(super) fn plan_publish(
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
