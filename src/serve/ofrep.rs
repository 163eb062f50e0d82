//! OpenFeature Remote Evaluation Protocol (OFREP 0.3, `open-feature/protocol`'s
//! `service/openapi.yaml`): any OpenFeature SDK with an OFREP provider resolves prompts as
//! flags. The flag key is the prompt name, the variant its 12-hex version, the value the
//! version's payload (with its partials, and rendered messages when the context carries
//! `variables`).
//!
//! Resolution is [`Snapshot::pick`], the function `/v1/prompts/{name}` and `promptctl
//! resolve` use: the same key gets the same bucket and version on every route.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::ofrep_body::{ContextField, JsonBody, Members, RequestBody};
use super::render_route::{RenderCall, render_counted};
use super::reply::{Shared, json_body};
use super::{ServerState, Snapshot};
use crate::prompt::{PromptName, Vars};
use crate::served::{Picked, ServeRenderError};

/// The longest targeting key accepted, in bytes.
pub const MAX_TARGETING_KEY_BYTES: usize = crate::store::MAX_KEY_BYTES;

/// The evaluation context OFREP carries, as promptctl reads it, borrowing from the body.
struct Context<'a> {
    /// Every other member that is text, a number or a boolean: what targeting rules read
    /// (`cohort` among them).
    attributes: crate::store::Attributes,
    /// `variables`: values to render the messages with.
    variables: Option<Vars>,
    /// The context's members as sent: the targeting key, and the bulk answer's ETag.
    members: Members<'a>,
    /// The targeting key of a context of nothing else, read without parsing the body
    /// ([`key_only`]); its members are then not kept.
    plain_key: Option<&'a str>,
}

impl<'a> Context<'a> {
    /// The targeting key, which [`read_context`] found to be a string.
    fn key(&self) -> &str {
        if let Some(key) = self.plain_key {
            return key;
        }
        match self.members.get("targetingKey") {
            Some(Value::String(key)) => key,
            _ => "",
        }
    }

    /// The context a body carries, for both evaluation routes: [`read_context`]'s, read
    /// without a parse when the body carries a targeting key alone.
    fn read(body: &'a [u8]) -> Result<Self, Failure> {
        match key_only(body) {
            Some(key) => Ok(Context {
                attributes: crate::store::Attributes::new(),
                variables: None,
                members: Members::default(),
                plain_key: Some(key),
            }),
            None => read_context(body),
        }
    }

    /// The context's members as one JSON object, for a digest of the context: a key read
    /// without a parse needs no escaping ([`key_only`]), so it is written as the parser's
    /// members would be.
    fn to_json(&self) -> String {
        match self.plain_key {
            Some(key) => format!("{{\"targetingKey\":\"{key}\"}}"),
            None => self.members.to_json(),
        }
    }
}

/// The targeting key of a body that is exactly `{"context":{"targetingKey":"…"}}`, around
/// a key that is valid as it stands (no escapes, no control characters, within the
/// bound): what an SDK sends to resolve a flag for a user with no other attributes, and
/// most evaluations. Anything else is `None` and parsed: spacing, other members, escapes,
/// an empty or long key. Parsing this one shape was a twentieth of an evaluation.
fn key_only(body: &[u8]) -> Option<&str> {
    let key = body
        .trim_ascii()
        .strip_prefix(br#"{"context":{"targetingKey":""#)?
        .strip_suffix(br#""}}"#)?;
    let plain = key.iter().all(|&b| b != b'"' && b != b'\\' && b >= 0x20);
    let key = std::str::from_utf8(key).ok().filter(|_| plain)?;
    crate::store::check_key(key).ok()?;
    Some(key)
}

/// An OFREP error: its status, its code (none for a general error) and details.
struct Failure {
    status: StatusCode,
    code: Option<&'static str>,
    details: String,
}

impl Failure {
    fn bad(code: &'static str, details: impl Into<String>) -> Self {
        Failure {
            status: StatusCode::BAD_REQUEST,
            code: Some(code),
            details: details.into(),
        }
    }

    fn answer(self, key: Option<&str>) -> Response {
        let body = match (self.code, key) {
            (Some(code), Some(key)) => {
                json!({"key": key, "errorCode": code, "errorDetails": self.details})
            }
            (Some(code), None) => json!({"errorCode": code, "errorDetails": self.details}),
            (None, _) => json!({"errorDetails": self.details}),
        };
        json_body(self.status, body.to_string())
    }
}

/// `POST /ofrep/v1/evaluate/flags/{key}`: one prompt for one context.
pub(super) async fn evaluate_flag(
    State(state): Shared,
    Path(key): Path<String>,
    body: JsonBody,
) -> Response {
    match evaluate_flag_now(&state, &key, &body.bytes) {
        Evaluated::Now(answer) => answer,
        Evaluated::Rendering(rendering) => rendering.await,
    }
}

/// What an evaluation comes to once its body is read: its answer, or, for a context with
/// `variables`, the render its answer waits for.
pub(super) enum Evaluated {
    Now(Response),
    Rendering(Pin<Box<dyn Future<Output = Response> + Send>>),
}

/// The evaluation of `POST /ofrep/v1/evaluate/flags/{key}` with this body, for the route
/// and the front (`front.rs`) alike. Only a render waits: every other answer is given at
/// once, so that the front holds no future but the body's.
pub(super) fn evaluate_flag_now(state: &Arc<ServerState>, key: &str, body: &[u8]) -> Evaluated {
    let mut context = match Context::read(body) {
        Ok(context) => context,
        Err(failure) => return Evaluated::Now(failure.answer(Some(key))),
    };
    let Some(snapshot) = state.snapshot.load_full() else {
        return Evaluated::Now(not_found(key, "nothing is published yet"));
    };
    if let Some(vars) = context.variables.take() {
        let render = ToRender {
            key: context.key().to_owned(),
            attributes: context.attributes,
            vars,
        };
        let state = Arc::clone(state);
        let rendering = evaluate_rendered(state, snapshot, key.to_owned(), render);
        return Evaluated::Rendering(Box::pin(rendering));
    }
    Evaluated::Now(
        match pick(&snapshot, key, context.key(), &context.attributes) {
            Some(picked) => json_body(StatusCode::OK, evaluation(&snapshot, key, &picked, None)),
            None => unpicked(&snapshot, key),
        },
    )
}

/// What a context with `variables` renders with: its own, as it outlives the body.
struct ToRender {
    key: String,
    attributes: crate::store::Attributes,
    vars: Vars,
}

/// The flag `key` picked for a context, counted as a resolve.
fn pick<'s>(
    snapshot: &'s Snapshot,
    key: &str,
    targeting_key: &str,
    attributes: &crate::store::Attributes,
) -> Option<Picked<'s>> {
    let picked = snapshot.pick(key, Some(targeting_key), attributes)?;
    picked.count_resolve();
    Some(picked)
}

/// Why the flag `key` has no version to pick: one that cannot be served (a 500) or a prompt
/// not released (a 404).
fn unpicked(snapshot: &Snapshot, key: &str) -> Response {
    match snapshot.problems.get(key) {
        Some(problem) => Failure {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: None,
            details: format!("`{key}` cannot be served: {problem}"),
        }
        .answer(None),
        None => not_found(
            key,
            &format!("`{key}` is not released to `{}`", snapshot.env),
        ),
    }
}

/// The evaluation of a context with `variables`: the flag picked, then its messages
/// rendered for the context.
async fn evaluate_rendered(
    state: Arc<ServerState>,
    snapshot: Arc<Snapshot>,
    key: String,
    render: ToRender,
) -> Response {
    let Some(picked) = pick(&snapshot, &key, &render.key, &render.attributes) else {
        return unpicked(&snapshot, &key);
    };
    // Rendering waits for a slot and runs off the workers: bounded by the request timeout,
    // as the layer bounds `/v1/render`, and cancelled when it passes.
    let rendering = rendered(&state, &snapshot, &key, render);
    let rendered = match super::deadline::within(state.request_timeout, rendering).await {
        Ok(Ok(rendered)) => rendered,
        Ok(Err(failure)) => return failure,
        Err(_) => return super::reply::timed_out(),
    };
    // What was rendered decides the answer: a canary that could not render this context
    // fell back to active, and the flag says active, as `/v1/render` does.
    let served = Picked {
        track: rendered.track,
        fallback: rendered.fallback,
        ..picked
    };
    let messages = json!(rendered.messages);
    let mut answer = evaluation(&snapshot, &key, &served, Some(&messages));
    if let Some(fell_back) = &rendered.fell_back_from {
        answer = with_fallback_reason(answer, fell_back);
    }
    json_body(StatusCode::OK, answer)
}

/// `POST /ofrep/v1/evaluate/flags`: every prompt for one context, with an `ETag` over the
/// release commit and the context, so a provider polling an unchanged state gets a 304.
/// Messages are not rendered here: rendering every prompt for every poll costs too much.
pub(super) async fn evaluate_flags(State(state): Shared, body: JsonBody) -> Response {
    let context = match Context::read(&body.bytes) {
        Ok(context) => context,
        Err(failure) => return failure.answer(None),
    };
    let Some(snapshot) = state.snapshot.load_full() else {
        return json_body(StatusCode::OK, "{\"flags\":[]}");
    };
    let etag = etag(&snapshot.commit, &context);
    let unchanged = body
        .if_none_match
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| super::reply::none_match(v, &etag));
    if unchanged {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    let mut flags: Vec<Vec<u8>> = Vec::with_capacity(snapshot.prompts.len());
    for name in snapshot.prompts.keys() {
        if let Some(picked) = pick(&snapshot, name.as_str(), context.key(), &context.attributes) {
            flags.push(evaluation(&snapshot, name.as_str(), &picked, None));
        }
    }
    for (name, problem) in &snapshot.problems {
        if !snapshot.prompts.contains_key(name) {
            let failure = json!({"key": name, "errorCode": "GENERAL",
                                 "errorDetails": format!("cannot be served: {problem}")});
            flags.push(failure.to_string().into_bytes());
        }
    }
    let mut body = b"{\"flags\":[".to_vec();
    body.extend_from_slice(&flags.join(&b',')[..]);
    body.extend_from_slice(b"]}");
    let mut response = json_body(StatusCode::OK, body);
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

fn not_found(key: &str, details: &str) -> Response {
    json_body(
        StatusCode::NOT_FOUND,
        json!({"key": key, "errorCode": "FLAG_NOT_FOUND", "errorDetails": details}).to_string(),
    )
}

/// Reads `{"context": {"targetingKey": …, "cohort": …, "variables": {…}}}`.
fn read_context(body: &[u8]) -> Result<Context<'_>, Failure> {
    let missing = || Failure::bad("TARGETING_KEY_MISSING", "the context has no `targetingKey`");
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(missing());
    }
    let parsed = RequestBody::parse(body)
        .map_err(|e| Failure::bad("PARSE_ERROR", format!("the body is not JSON: {e}")))?;
    let members = match parsed {
        RequestBody::NotObject => {
            return Err(Failure::bad("PARSE_ERROR", "the body is not a JSON object"));
        }
        RequestBody::Object(ContextField::Absent) => return Err(missing()),
        RequestBody::Object(ContextField::Object(members)) => members,
        RequestBody::Object(ContextField::Other) => {
            return Err(Failure::bad(
                "INVALID_CONTEXT",
                "`context` is not an object",
            ));
        }
    };
    match members.get("targetingKey") {
        None | Some(Value::Null) => return Err(missing()),
        Some(Value::String(key)) if key.is_empty() => return Err(missing()),
        Some(Value::String(key)) if crate::store::check_key(key).is_err() => {
            return Err(Failure::bad(
                "INVALID_CONTEXT",
                format!("`targetingKey` is longer than {MAX_TARGETING_KEY_BYTES} bytes"),
            ));
        }
        Some(Value::String(_)) => {}
        Some(_) => {
            return Err(Failure::bad(
                "INVALID_CONTEXT",
                "`targetingKey` is not a string",
            ));
        }
    };
    // `cohort` routes the canary's cohorts, as `attr.cohort` does on `/v1/prompts`: it
    // must be text to mean one.
    if members
        .get("cohort")
        .is_some_and(|c| !c.is_null() && !c.is_string())
    {
        return Err(Failure::bad("INVALID_CONTEXT", "`cohort` is not a string"));
    }
    let attributes =
        crate::store::attributes_from_context(members.iter(), &["targetingKey", "variables"]);
    let variables = match members.get("variables") {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => Some(map.clone().into_iter().collect()),
        Some(_) => {
            return Err(Failure::bad(
                "INVALID_CONTEXT",
                "`variables` is not an object",
            ));
        }
    };
    Ok(Context {
        attributes,
        variables,
        members,
        plain_key: None,
    })
}

/// The render of the context's variables, by the one path `/v1/render` takes; a render
/// that fails is the caller's context at fault (`INVALID_CONTEXT`).
async fn rendered(
    state: &Arc<ServerState>,
    snapshot: &Arc<Snapshot>,
    key: &str,
    render: ToRender,
) -> Result<crate::served::Rendered, Response> {
    let Ok(name) = PromptName::parse(key) else {
        return Err(not_found(key, "not a prompt name"));
    };
    let call = RenderCall {
        name,
        key: Some(render.key),
        attributes: render.attributes,
        vars: render.vars,
    };
    match render_counted(state, snapshot, call).await? {
        Ok(rendered) => Ok(rendered),
        Err(ServeRenderError::Unknown { .. }) => Err(not_found(key, "not released")),
        Err(ServeRenderError::Render { message, .. }) => {
            Err(Failure::bad("INVALID_CONTEXT", message).answer(Some(key)))
        }
    }
}

/// The evaluation of one flag. Its value is the version's resolve answer as
/// `/v1/prompts/{name}` gives it, prepared when the version was loaded and copied in here
/// rather than parsed and written again, with `rendered` added when there are messages.
fn evaluation(
    snapshot: &Snapshot,
    key: &str,
    picked: &Picked<'_>,
    rendered: Option<&Value>,
) -> Vec<u8> {
    let loaded = picked.served.track(picked.track);
    let arm = picked.served.arm_names(picked.track);
    let mut body = shell(snapshot, key, picked, arm, loaded.resolve_tail.len()).into_bytes();
    body.extend_from_slice(b",\"value\":");
    loaded.write_resolve_answer(&mut body, picked.track, picked.bucket, arm);
    if let Some(messages) = rendered {
        body.pop();
        body.extend_from_slice(b",\"rendered\":");
        body.extend_from_slice(messages.to_string().as_bytes());
        body.push(b'}');
    }
    body.push(b'}');
    body
}

/// Everything of an evaluation but its value, without the closing brace, in the order
/// the members always had (`key`, `reason`, `variant`, `metadata`), in a buffer with room
/// for `value_len` more bytes. `reason` is what routing says decided: `STATIC` with one
/// version, `DEFAULT` when a segment could not be evaluated for the context (it gets
/// active), `TARGETING_MATCH` when a rule decided (the context is outside the segment, or
/// its cohort is one of the canary's), `SPLIT` when the bucket or the experiment's
/// assignment decided. An experiment's arm is in the metadata. Written directly rather
/// than through a JSON tree: it was most of the cost of an evaluation.
fn shell(
    snapshot: &Snapshot,
    key: &str,
    picked: &Picked<'_>,
    arm: Option<(&str, &str)>,
    value_len: usize,
) -> String {
    use std::fmt::Write as _;
    let loaded = picked.served.track(picked.track);
    let mut out = String::with_capacity(value_len + 512);
    // The key is the name of the prompt picked, which a prompt name's rules keep free of
    // quotes, backslashes and control characters; the environment's name is escaped by
    // the JSON writer. The rest (versions, commits, words) need no escaping.
    debug_assert!(
        crate::prompt::check_segments(key).is_ok(),
        "{key} was picked by name"
    );
    out.push_str("{\"key\":\"");
    out.push_str(key);
    out.push_str("\",\"reason\":\"");
    out.push_str(picked.reason.as_openfeature());
    out.push_str("\",\"variant\":\"");
    out.push_str(loaded.short_version());
    out.push_str("\",\"metadata\":{\"track\":\"");
    out.push_str(picked.track.as_str());
    out.push_str("\",\"bucket\":");
    out.push_str(itoa::Buffer::new().format(picked.bucket));
    out.push_str(",\"version\":\"");
    out.push_str(&loaded.version_text);
    out.push_str("\",\"release\":\"");
    out.push_str(&snapshot.commit);
    out.push_str("\",\"environment\":");
    push_json_string(&mut out, &snapshot.env);
    out.push_str(if picked.fallback {
        ",\"fallback\":true"
    } else {
        ",\"fallback\":false"
    });
    if let Some((experiment, arm)) = arm {
        let _ = write!(out, ",\"experiment\":\"{experiment}\",\"arm\":\"{arm}\"");
    }
    out.push('}');
    out
}

/// Appends `text` as a JSON string: as it is when nothing in it needs escaping, the
/// common case, and through the JSON writer otherwise.
fn push_json_string(out: &mut String, text: &str) {
    if text.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        out.push_str(&Value::from(text).to_string());
    } else {
        out.push('"');
        out.push_str(text);
        out.push('"');
    }
}

/// Adds the canary that fell back and why to an evaluation's metadata, as `/v1/render`
/// gives them (`canary`, `fallback_reason`).
fn with_fallback_reason(answer: Vec<u8>, fell_back: &crate::served::FellBack) -> Vec<u8> {
    let Ok(mut value) = serde_json::from_slice::<Value>(&answer) else {
        return answer;
    };
    value["metadata"]["canary"] = json!(fell_back.canary.to_string());
    value["metadata"]["fallback_reason"] = json!(fell_back.reason);
    value.to_string().into_bytes()
}

/// An ETag over the release commit and the context: the same state and context give the
/// same answer.
fn etag(commit: &str, context: &Context<'_>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(commit.as_bytes());
    hasher.update([0]);
    hasher.update(context.to_json().as_bytes());
    let digest = hasher.finalize();
    let hex = crate::base::copytext::hex(&digest[..12]);
    format!("\"{hex}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_alone_is_read_as_the_parser_reads_it() {
        let long = format!(
            r#"{{"context":{{"targetingKey":"{}"}}}}"#,
            "k".repeat(MAX_TARGETING_KEY_BYTES)
        );
        for body in [
            r#"{"context":{"targetingKey":"user-42"}}"#,
            " {\"context\":{\"targetingKey\":\"Zoë 7/a:b\"}}\n",
            long.as_str(),
        ] {
            let key = key_only(body.as_bytes()).expect(body);
            let parsed = read_context(body.as_bytes()).ok().expect(body);
            assert_eq!(parsed.key(), key, "{body}");
            assert!(parsed.attributes.is_empty() && parsed.variables.is_none());
            let fast = Context::read(body.as_bytes()).ok().expect(body);
            assert_eq!(fast.key(), key);
            assert!(fast.attributes.is_empty() && fast.variables.is_none());
            // The bulk route's ETag digests the context: the same for either reading.
            assert_eq!(fast.to_json(), parsed.to_json(), "{body}");
        }
    }

    #[test]
    fn any_other_body_is_parsed() {
        let too_long = format!(
            r#"{{"context":{{"targetingKey":"{}"}}}}"#,
            "k".repeat(MAX_TARGETING_KEY_BYTES + 1)
        );
        for body in [
            r#"{"context":{"targetingKey":""}}"#,
            r#"{"context":{"targetingKey":"a\"b"}}"#,
            r#"{"context":{"targetingKey":"a\u0041"}}"#,
            "{\"context\":{\"targetingKey\":\"a\tb\"}}",
            r#"{"context":{"targetingKey": "user-42"}}"#,
            r#"{"context":{"targetingKey":"user-42","cohort":"beta"}}"#,
            r#"{"context":{"targetingKey":"x"}},"context":{"targetingKey":"y"}}"#,
            r#"{"context":{"targetingKey":"user-42"}}}"#,
            too_long.as_str(),
        ] {
            assert_eq!(key_only(body.as_bytes()), None, "{body}");
        }
        assert_eq!(key_only(b"{\"context\":{\"targetingKey\":\"\xff\"}}"), None);
        // What the parser says of them stands: a cohort is read, a bad key refused.
        let cohort = br#"{"context":{"targetingKey":"user-42","cohort":"beta"}}"#;
        let context = Context::read(cohort).ok().expect("a context");
        assert_eq!(context.key(), "user-42");
        assert_eq!(context.attributes.len(), 1);
        let empty = Context::read(br#"{"context":{"targetingKey":""}}"#);
        assert!(matches!(
            empty,
            Err(Failure {
                code: Some("TARGETING_KEY_MISSING"),
                ..
            })
        ));
    }
}
