//! `revert`: a canary is dropped, or active goes back to an earlier version.

use super::planner::{Plan, Planner, canary_short, known_prompt, summarize};
use super::source::{Source, source_prompt};
use crate::prompt::PromptName;
use crate::release::ReleaseError;
use crate::store::State;

pub(super) fn plan_revert(
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
        } else if current.experiment.is_some() {
            // Reverting while an experiment runs ends it: every caller gets active.
            after.experiment = None;
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
                (Some(before), None) if before.active == c.after.active => {
                    let name = before.experiment.as_ref().map_or("", |e| e.name.as_str());
                    format!("revert {}: stop experiment {name}", c.name)
                }
                _ => format!("revert {} to {}", c.name, c.after.active.short()),
            },
            "revert",
        )
    }))
}
