//! Planning: the pure step from (request, state, source) to the new state, its changes and
//! the objects to store, shared by every action; each action's own rules are in its file.

use super::breaking::refuse_breaking;
use super::canary::{CanaryRequest, plan_canary};
use super::experiment::{ArmSources, Start, plan_conclude, plan_start, plan_stop};
use super::planner::{Plan, ResolvedPlan, check_expected};
use super::promote::plan_promote;
use super::publish::plan_publish;
use super::revert::plan_revert;
use super::rollout::{plan_advance, plan_alert, plan_rollout_change};
use super::source::{Source, expect_source};
use super::{ActionKind, ActionRequest};
use crate::prompt::PromptName;
use crate::release::ReleaseError;
use crate::store::{State, Store};

/// What planning needs besides the request and the state.
#[derive(Clone, Copy)]
pub(super) struct PlanContext<'a> {
    pub(super) store: &'a Store,
    /// The commit the state was read at.
    pub(super) tip: Option<git2::Oid>,
    pub(super) max_canaries: Option<usize>,
    pub(super) resolved: Option<&'a ResolvedPlan>,
    /// `experiment start`: each arm's versions, as read.
    pub(super) arms: Option<&'a ArmSources>,
}

pub(super) fn plan(
    request: &ActionRequest,
    state: &State,
    source: Option<&Source>,
    names: &[PromptName],
    context: &PlanContext<'_>,
) -> Result<Plan, ReleaseError> {
    let PlanContext { store, tip, .. } = *context;
    if let Some(key) = &request.expect {
        check_expected(state, names, key, store.env())?;
    }
    let plan = plan_kind(request, state, source, names, context)?;
    if matches!(request.kind, ActionKind::Publish | ActionKind::Canary) && !request.allow_breaking {
        refuse_breaking(&plan, expect_source(source)?, store, tip)?;
    }
    Ok(plan)
}

fn plan_kind(
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
        arms,
    } = *context;
    let env = store.env();
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
                segment: request.segment.as_ref(),
            };
            plan_canary(state, expect_source(source)?, names, &canary, env)
        }
        ActionKind::Promote => plan_promote(state, names, env),
        ActionKind::Advance => plan_advance(state, names, env),
        ActionKind::Pause | ActionKind::Resume | ActionKind::Abort => {
            plan_rollout_change(state, names, request.kind, env)
        }
        ActionKind::Alert => plan_alert(state, names, &request.alerted, env),
        ActionKind::Experiment | ActionKind::Conclude | ActionKind::Stop => {
            let experiment = request.experiment.as_ref().ok_or_else(|| {
                ReleaseError::refused(
                    "an experiment action needs its experiment",
                    "promptctl experiment start NAME --prompt PROMPT --arm a=HEAD~1 --arm b=HEAD",
                )
            })?;
            match request.kind {
                ActionKind::Conclude => plan_conclude(state, experiment, env),
                ActionKind::Stop => plan_stop(state, experiment, env),
                _ => {
                    let empty = Vec::new();
                    let start = Start {
                        request: experiment,
                        arms: arms.unwrap_or(&empty),
                        segment: request.segment.as_ref(),
                        allow_breaking: request.allow_breaking,
                        store,
                        tip,
                    };
                    plan_start(state, names, &start, env)
                }
            }
        }
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
