//! `GET /v1/experiments`: each running experiment with the feedback this server received for
//! its arms (figures that add up across replicas) and the analysis of those figures, for
//! `promptctl experiment status --from` and the dashboard.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::reply::{Shared, error, json_body, snapshot};
use super::{ServerState, Snapshot};
use crate::experiment::{Analysis, ExperimentFigures, analyze};
use crate::prompt::PromptName;
use crate::store::Experiment;

/// One running experiment as this server sees it.
#[derive(Debug, Serialize)]
pub struct ExperimentView {
    pub name: PromptName,
    pub experiment: Experiment,
    pub figures: ExperimentFigures,
    pub analysis: Analysis,
}

/// Every running experiment: (prompt, experiment, arm names).
pub(super) fn running(snapshot: Option<&Snapshot>) -> Vec<(String, String, Vec<String>)> {
    snapshot
        .iter()
        .flat_map(|s| s.prompts.iter())
        .filter_map(|(name, served)| {
            let experiment = served.pointers.experiment.as_ref()?;
            let arms = experiment.arms.iter().map(|a| a.name.clone()).collect();
            Some((name.to_string(), experiment.name.clone(), arms))
        })
        .collect()
}

/// The views of every running experiment, judged on this server's feedback.
pub(super) fn views(state: &ServerState, snapshot: &Snapshot) -> Vec<ExperimentView> {
    let now = crate::base::clock::now();
    snapshot
        .prompts
        .iter()
        .filter_map(|(name, served)| {
            let experiment = served.pointers.experiment.as_ref()?;
            let figures = state.experiments.figures(name.as_str(), &experiment.name);
            Some(ExperimentView {
                name: name.clone(),
                analysis: analyze(experiment, &figures, now),
                experiment: experiment.clone(),
                figures,
            })
        })
        .collect()
}

pub(super) async fn experiments(State(state): Shared) -> Response {
    let snapshot = match snapshot(&state) {
        Ok(s) => s,
        Err(error) => return error.into_response(),
    };
    let body = serde_json::json!({ "experiments": views(&state, &snapshot) });
    match serde_json::to_string(&body) {
        Ok(text) => json_body(StatusCode::OK, text),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    }
}
