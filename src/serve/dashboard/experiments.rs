//! The dashboard's experiment blocks: each running experiment's arms with their figures and
//! always-valid intervals, and the verdict in the words `experiment status` uses, from the
//! same analysis `/v1/experiments` gives.

use serde::Serialize;

use super::anchor;
use crate::base::clock;
use crate::serve::ServerState;
use crate::serve::experiments_route::views;
use crate::served::Snapshot;

#[derive(Serialize)]
pub(super) struct ExperimentBlock {
    prompt: String,
    anchor: String,
    name: String,
    metric: String,
    goal: &'static str,
    alpha: String,
    since: String,
    segment: Option<String>,
    arms: Vec<ArmRow>,
    verdict: String,
    /// Said when there is a winner nobody concludes automatically.
    conclude: Option<String>,
}

#[derive(Serialize)]
struct ArmRow {
    name: String,
    version: String,
    share: String,
    n: u64,
    reports: u64,
    errors: u64,
    mean: String,
    interval: String,
}

/// The blocks of every running experiment, judged on this server's feedback.
pub(super) fn experiment_blocks(state: &ServerState, snapshot: &Snapshot) -> Vec<ExperimentBlock> {
    views(state, snapshot)
        .into_iter()
        .map(|view| {
            let experiment = &view.experiment;
            let analysis = &view.analysis;
            let arms = analysis
                .arms
                .iter()
                .map(|arm| ArmRow {
                    name: arm.name.clone(),
                    version: arm.version.short(),
                    share: format!("{}%", arm.share),
                    n: arm.n,
                    reports: arm.figures.reports,
                    errors: arm.figures.errors,
                    mean: arm.mean.map_or("—".into(), |m| format!("{m:.4}")),
                    interval: match (arm.mean, arm.margin) {
                        (Some(m), Some(e)) => format!("{:.4} to {:.4}", m - e, m + e),
                        _ => "—".into(),
                    },
                })
                .collect();
            let conclude = analysis.conclude_command(experiment.auto_conclude);
            ExperimentBlock {
                prompt: view.name.to_string(),
                anchor: anchor(&format!("experiment-{}", experiment.name)),
                name: experiment.name.clone(),
                metric: experiment.metric.to_string(),
                goal: experiment.metric.goal().as_str(),
                alpha: format!("{}%", experiment.alpha * 100.0),
                since: clock::format(experiment.started),
                segment: experiment.segment.as_ref().map(ToString::to_string),
                arms,
                verdict: analysis.verdict_words(),
                conclude,
            }
        })
        .collect()
}
