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
use crate::store::Track;

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
}

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
    if let Some(id) = &report.request_id
        && !lock(&state.feedback_ids).first_time(&format!("{name}\u{0}{id}"))
    {
        return json_body(
            StatusCode::ACCEPTED,
            "{\"accepted\":true,\"duplicate\":true}",
        );
    }
    let track = match &served.pointers.canary {
        Some(canary) if canary.version == version => Track::Canary,
        _ => Track::Active,
    };
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
