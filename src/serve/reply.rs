//! The parts every route answers with: JSON error bodies (`{"error": {"code", "message"}}`),
//! JSON answers, the snapshot being served, prompt names from a path, and the request
//! checks routes share (a JSON content type, `If-None-Match`). Routes use these; nothing
//! here knows a route.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{ServerState, Snapshot};
use crate::prompt::PromptName;

/// The state every handler is given.
pub(super) type Shared = State<Arc<ServerState>>;

/// Largest request body accepted, on every route that reads one (413 `too_large`).
pub(super) const BODY_LIMIT: usize = 1024 * 1024;

/// Whether a request says its body is JSON, as axum's `Json` reads it:
/// `application/json` or `application/*+json`, parameters allowed.
pub(super) fn is_json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return false;
    };
    // What nearly every client sends, said at once.
    if value.as_bytes() == b"application/json" {
        return true;
    }
    let Ok(value) = value.to_str() else {
        return false;
    };
    // Compared without case and without a lowercased copy: this runs on every evaluation.
    // `to_str` let through visible ASCII and tabs only, so ASCII trimming is all of it.
    let bytes = value.as_bytes();
    let essence = bytes[..memchr::memchr(b';', bytes).unwrap_or(bytes.len())].trim_ascii();
    let Some((kind, subtype)) = essence.split_at_checked(b"application/".len()) else {
        return false;
    };
    kind.eq_ignore_ascii_case(b"application/")
        && (subtype.eq_ignore_ascii_case(b"json")
            || subtype.len() >= b"+json".len()
                && subtype[subtype.len() - b"+json".len()..].eq_ignore_ascii_case(b"+json"))
}

/// Whether `If-None-Match` matches `etag`, for every route that gives an ETag: by the weak
/// comparison RFC 9110 prescribes for it, any listed tag equal once a `W/` prefix is set
/// aside on either side (and, for clients that drop them, its quotes). `*` asks whether
/// the resource exists at all, which no route here answers with a 304.
pub(super) fn none_match(if_none_match: &str, etag: &str) -> bool {
    let opaque = |tag: &str| {
        tag.trim()
            .trim_start_matches("W/")
            .trim_matches('"')
            .to_owned()
    };
    let ours = opaque(etag);
    if_none_match.split(',').any(|tag| opaque(tag) == ours)
}

/// A JSON error answer.
pub(super) fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    api_error(status, code, message).into_response()
}

/// The answer to a request that took longer than the request timeout.
pub(super) fn timed_out() -> Response {
    error(
        StatusCode::REQUEST_TIMEOUT,
        "timeout",
        "the request took too long",
    )
}

pub(super) fn api_error(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        code: code.to_owned(),
        message: message.into(),
    }
}

/// An error on its way to becoming a response: small enough to pass around in a `Result`.
pub(super) struct ApiError {
    status: StatusCode,
    code: String,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    }
}

pub(super) fn json_body(status: StatusCode, body: impl Into<Body>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.into(),
    )
        .into_response()
}

pub(super) fn snapshot(state: &ServerState) -> Result<Arc<Snapshot>, ApiError> {
    state.snapshot.load_full().ok_or_else(|| {
        api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_release",
            format!("nothing has been published to `{}` yet", state.env),
        )
    })
}

pub(super) fn parse_name(name: &str) -> Result<PromptName, ApiError> {
    PromptName::parse(name).map_err(|reason| {
        api_error(
            StatusCode::BAD_REQUEST,
            "invalid_name",
            format!("`{name}` is not a prompt name: {reason}"),
        )
    })
}

pub(super) fn unknown(name: &PromptName, snapshot: &Snapshot) -> Response {
    unknown_prompt(name, snapshot).into_response()
}

/// A prompt the snapshot does not serve: one that failed to load (503) or none (404).
pub(super) fn unknown_prompt(name: &PromptName, snapshot: &Snapshot) -> ApiError {
    if let Some(problem) = snapshot.problems.get(name) {
        return api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "prompt_unavailable",
            format!("`{name}`: {problem}"),
        );
    }
    api_error(
        StatusCode::NOT_FOUND,
        "unknown_prompt",
        format!("`{name}` is not released to `{}`", snapshot.env),
    )
}

pub(super) fn rejected(rejection: JsonRejection) -> Response {
    let status = rejection.status();
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "not_json",
        _ => "invalid_json",
    };
    let status = if status.is_client_error() {
        status
    } else {
        StatusCode::BAD_REQUEST
    };
    error(status, code, rejection.body_text())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_application_json_or_a_json_suffix_in_any_case_with_parameters() {
        let says = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, value.parse().unwrap());
            is_json_content_type(&headers)
        };
        for json in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            " application/json ;x=1",
            "\tapplication/json\t; charset=utf-8",
            "application/merge-patch+json",
            "application/VND.API+JSON",
        ] {
            assert!(says(json), "{json}");
        }
        for other in [
            "text/json",
            "application/jsonx",
            "application/xml",
            "application/json+xml",
            "applicatio/json",
            "json",
            "",
        ] {
            assert!(!says(other), "{other}");
        }
        assert!(!is_json_content_type(&HeaderMap::new()));
    }
}
