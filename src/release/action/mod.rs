//! Actions: publish, canary, promote and revert. Each is planned as a pure function of the
//! current state and the versions asked for, then written as one commit by compare-and-swap;
//! on a lost race the state is read again and the action planned again.

mod breaking;
mod canary;
mod commit;
mod experiment;
mod plan;
mod planner;
mod promote;
mod publish;
mod revert;
mod rollout;
mod source;
#[cfg(test)]
mod tests;

pub use commit::{Action, Attempt, run};
pub use experiment::{ACTIVE_ARM, ExperimentRequest};

use serde::Serialize;

use crate::policy::GateDefaults;
use crate::prompt::PromptName;
pub use crate::store::ActionKind;
use crate::store::{PlanError, PromptState, Stage, StepKey, Weight};

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
    /// `canary --force`: put on canary a version that was active before.
    pub force: bool,
    /// `--allow-dirty`: release versions read from the working tree, which no commit holds.
    pub allow_dirty: bool,
    /// `--allow-breaking`: release a version whose output or tools break a service reading
    /// the active version's.
    pub allow_breaking: bool,
    /// `canary --where`, `experiment start --where`: the segment the canary or the
    /// experiment is limited to.
    pub segment: Option<crate::store::Rule>,
    /// `experiment start`, `conclude` and `stop`: the experiment.
    pub experiment: Option<ExperimentRequest>,
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
            force: false,
            allow_dirty: false,
            allow_breaking: false,
            segment: None,
            experiment: None,
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
    ) -> Result<Vec<Stage>, PlanError> {
        let mut stages = Vec::new();
        for text in cohorts {
            let stage = Stage::parse(text)?;
            if !matches!(stage, Stage::Cohort(_)) {
                return Err(PlanError::PercentAsStage { text: text.clone() });
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
