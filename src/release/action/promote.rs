//! `promote`: canaries become active.

use super::planner::{Plan, Planner, every_prompt_where, known_prompt, summarize};
use crate::prompt::PromptName;
use crate::release::ReleaseError;
use crate::store::State;

pub(super) fn plan_promote(
    state: &State,
    names: &[PromptName],
    env: &str,
) -> Result<Plan, ReleaseError> {
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
