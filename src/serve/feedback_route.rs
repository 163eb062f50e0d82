//! `POST /v1/feedback`: the outcome of one request a service made with a version, counted
//! for canary analysis once per request id.

use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::dedupe::MAX_REQUEST_ID_BYTES;
use super::metrics::FeedbackReport;
use super::reply::{
    ApiError, Shared, api_error, json_body, parse_name, rejected, snapshot, unknown_prompt,
};
use super::{Snapshot, lock};
use crate::prompt::{PromptName, Version};
use crate::rollout::Sample;
use crate::store::{Metric, Track};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Feedback {
    name: String,
    version: String,
    /// Read as text, so that a bad one is an `invalid_feedback` like the other fields.
    outcome: String,
    latency_ms: Option<f64>,
    cost_usd: Option<f64>,
    score: Option<f64>,
    /// The service could parse the reply (against the version's output schema).
    output_valid: Option<bool>,
    /// A tool call of the reply failed in the service.
    tool_error: Option<bool>,
    /// The client's id for this report: a retry with the same id is counted once.
    request_id: Option<String>,
    /// The experiment's arm the request was served from, as the resolve answer named it;
    /// without it, the arm whose version this is (when only one arm has it).
    arm: Option<String>,
    /// Named numbers for an experiment's `custom:NAME` metric (at most
    /// [`MAX_FEEDBACK_METRICS`]).
    metrics: Option<std::collections::BTreeMap<String, f64>>,
}

/// The most named numbers one report may carry in `metrics`.
pub const MAX_FEEDBACK_METRICS: usize = 16;

/// How a call with a served version went, as the service reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Success,
    Error,
}

impl Outcome {
    fn parse(text: &str) -> Option<Outcome> {
        match text {
            "success" => Some(Outcome::Success),
            "error" => Some(Outcome::Error),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Error => "error",
        }
    }
}

pub(super) async fn feedback(
    State(state): Shared,
    body: Result<axum::Json<Feedback>, JsonRejection>,
) -> Response {
    let axum::Json(report) = match body {
        Ok(body) => body,
        Err(rejection) => return rejected(rejection),
    };
    let snapshot = match snapshot(&state) {
        Ok(s) => s,
        Err(error) => return error.into_response(),
    };
    let (name, served, outcome, version) = match check_feedback(&report, &snapshot) {
        Ok(checked) => checked,
        Err(error) => return error.into_response(),
    };
    let arm = match experiment_arm(&report, served, version) {
        Ok(arm) => arm,
        Err(error) => return error.into_response(),
    };
    if let Some(id) = &report.request_id
        && !lock(&state.feedback_ids).first_time(&format!("{name}\u{0}{id}"))
    {
        return json_body(
            StatusCode::ACCEPTED,
            "{\"accepted\":true,\"duplicate\":true}",
        );
    }
    let track = match (&served.pointers.canary, arm) {
        (Some(canary), _) if canary.version == version => Track::Canary,
        (_, Some(arm)) => Track::Experiment(arm as u8),
        _ => Track::Active,
    };
    if let (Some(experiment), Some(arm)) = (&served.pointers.experiment, arm) {
        let value = match &experiment.metric {
            Metric::Score => report.score,
            Metric::ErrorRate => None,
            Metric::Custom { name, .. } => {
                report.metrics.as_ref().and_then(|m| m.get(name).copied())
            }
        };
        state.experiments.record(
            name.as_str(),
            &experiment.name,
            &experiment.arms[arm].name,
            outcome == Outcome::Error,
            value,
        );
    }
    // Feedback for an older active version (still in `previous`) says nothing about the
    // canary step under way.
    if track == Track::Canary || served.pointers.active == version {
        let sample = Sample {
            error: outcome == Outcome::Error,
            latency_ms: report.latency_ms,
            cost_usd: report.cost_usd,
            score: report.score,
            output_valid: report.output_valid,
            tool_error: report.tool_error,
        };
        state.record_feedback(&name, &served.pointers, track, &sample);
    }
    state.metrics.feedback(&FeedbackReport {
        prompt: name.as_str(),
        version: &version.to_string(),
        track: track.as_str(),
        outcome: outcome.as_str(),
        latency_ms: report.latency_ms,
        cost_usd: report.cost_usd,
        score: report.score,
        output_valid: report.output_valid,
        tool_error: report.tool_error,
    });
    // New evidence may change a rollout's decision: the controller, if one runs, looks.
    state.evidence.notify_one();
    json_body(StatusCode::ACCEPTED, "{\"accepted\":true}")
}

/// The arm of the served experiment a report is about: the one it names (which must serve
/// its version), else the one arm serving its version; `None` when the prompt runs no
/// experiment or no arm serves the version (a caller outside the segment).
fn experiment_arm(
    report: &Feedback,
    served: &crate::served::Served,
    version: Version,
) -> Result<Option<usize>, ApiError> {
    let invalid = |message: String| {
        api_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_feedback",
            message,
        )
    };
    let Some(experiment) = &served.pointers.experiment else {
        return match &report.arm {
            Some(arm) => Err(invalid(format!(
                "`arm` is `{arm}`, but the prompt runs no experiment"
            ))),
            None => Ok(None),
        };
    };
    if let Some(arm) = &report.arm {
        let Some(index) = experiment.arm_named(arm) else {
            return Err(invalid(format!(
                "`{arm}` is not an arm of experiment `{}`",
                experiment.name
            )));
        };
        if experiment.arms[index].version != version {
            return Err(invalid(format!(
                "arm `{arm}` serves {}, not {}",
                experiment.arms[index].version.short(),
                version.short()
            )));
        }
        return Ok(Some(index));
    }
    // Callers outside the segment get the active version too: feedback for it is an
    // arm's only when the report says so.
    if version == served.pointers.active && experiment.segment.is_some() {
        return Ok(None);
    }
    let mut serving = experiment
        .arms
        .iter()
        .enumerate()
        .filter(|(_, a)| a.version == version);
    match (serving.next(), serving.next()) {
        (Some((index, _)), None) => Ok(Some(index)),
        (None, _) => Ok(None),
        (Some(_), Some(_)) => Err(invalid(format!(
            "more than one arm of experiment `{}` serves {}: say which with `arm`",
            experiment.name,
            version.short()
        ))),
    }
}

/// Checks a report against the served state: a prompt it serves, one of that prompt's
/// versions (in full, or its 12-hex short form when that names one), a known outcome,
/// finite figures and a bounded request id. Gives the prompt, the outcome and the full
/// version, or the 4xx answer.
fn check_feedback<'a>(
    report: &Feedback,
    snapshot: &'a Snapshot,
) -> Result<(PromptName, &'a crate::served::Served, Outcome, Version), ApiError> {
    let name = parse_name(&report.name)?;
    let Some(served) = snapshot.prompts.get(&name) else {
        return Err(unknown_prompt(&name, snapshot));
    };
    let invalid = |message: String| {
        api_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_feedback",
            message,
        )
    };
    let matching: std::collections::BTreeSet<Version> = served
        .pointers
        .versions()
        .filter(|v| v.to_string() == report.version || v.short() == report.version)
        .collect();
    let version = match matching.len() {
        1 => matching
            .into_iter()
            .next()
            .unwrap_or(served.pointers.active),
        0 => {
            return Err(invalid(format!(
                "`{}` is not a version of `{name}` in `{}`",
                report.version, snapshot.env
            )));
        }
        _ => {
            return Err(invalid(format!(
                "`{}` names more than one version of `{name}`: give the full version",
                report.version
            )));
        }
    };
    if report
        .request_id
        .as_ref()
        .is_some_and(|id| id.is_empty() || id.len() > MAX_REQUEST_ID_BYTES)
    {
        return Err(invalid(format!(
            "`request_id` is 1 to {MAX_REQUEST_ID_BYTES} bytes"
        )));
    }
    let Some(outcome) = Outcome::parse(&report.outcome) else {
        return Err(invalid("`outcome` is \"success\" or \"error\"".into()));
    };
    if let Some(Err(why)) = report.cost_usd.map(crate::base::money::usd) {
        return Err(invalid(format!("`cost_usd`: {why}")));
    }
    if let Some(metrics) = &report.metrics {
        if metrics.len() > MAX_FEEDBACK_METRICS {
            return Err(invalid(format!(
                "`metrics` holds {} numbers; at most {MAX_FEEDBACK_METRICS}",
                metrics.len()
            )));
        }
        for (metric, value) in metrics {
            crate::store::check_experiment_name(metric, "metric")
                .map_err(|why| invalid(format!("`metrics`: {why}")))?;
            if !value.is_finite() {
                return Err(invalid(format!(
                    "`metrics.{metric}` must be a finite number"
                )));
            }
        }
    }
    for (field, value) in [("latency_ms", report.latency_ms), ("score", report.score)] {
        if value.is_some_and(|v| !v.is_finite() || (field != "score" && v < 0.0)) {
            let sign = if field == "score" {
                ""
            } else {
                ", not negative"
            };
            return Err(invalid(format!("`{field}` must be a finite number{sign}")));
        }
    }
    Ok((name, served, outcome, version))
}
