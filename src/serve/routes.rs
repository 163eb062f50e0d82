//! The HTTP routes. Every request takes the current snapshot once and answers from it alone;
//! every malformed request gets a 4xx with `{"error": {"code", "message"}}`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, Query, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::ServerState;
use super::metrics::Scrape;
use super::reply::{Shared, error, json_body, none_match, parse_name, snapshot, unknown};
use crate::prompt::PromptName;

/// Longest a `/v1/state?wait=` long poll waits.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// What `wait` may be: a duration in the one grammar (`30`, `30s`, `1m`), 0 to 60 s.
const WAIT: crate::base::duration::Bounds = crate::base::duration::Bounds::up_to(MAX_WAIT);

/// Builds the router.
pub fn router(state: Arc<ServerState>) -> Router {
    // Routes that read a body or wait get a deadline; the others answer from the snapshot
    // at once and are spared the timer (a resolve is the hot path).
    let bounded = Router::new()
        .route("/v1/render", post(super::render_route::render))
        .route("/v1/state", get(state_route))
        .route("/v1/feedback", post(super::feedback_route::feedback))
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            deadline,
        ));
    Router::new()
        .route("/v1/prompts", get(list))
        .route("/v1/prompts/{*name}", get(resolve))
        // OFREP evaluations read their body within the deadline themselves
        // (`ofrep_body::JsonBody`): an evaluation is a resolve, spared the layer.
        .route(
            "/ofrep/v1/evaluate/flags",
            post(super::ofrep::evaluate_flags),
        )
        .route(
            "/ofrep/v1/evaluate/flags/{*key}",
            post(super::ofrep::evaluate_flag),
        )
        .route("/v1/rollouts", get(rollouts_route))
        .route(
            "/v1/experiments",
            get(super::experiments_route::experiments),
        )
        .route("/", get(dashboard_route))
        .route("/login", post(login_route))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .merge(bounded)
        // The token and the stale mark, on every matched route (`guard.rs`).
        .route_layer(super::guard::Guard(Arc::clone(&state)))
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such route; see openapi.json",
            )
        })
        .method_not_allowed_fallback(|| async {
            error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
        .layer(DefaultBodyLimit::max(super::reply::BODY_LIMIT))
        .with_state(state)
}

/// Bounds every request, body reading included: a slow client gets a 408.
async fn deadline(State(state): Shared, request: Request, next: Next) -> Response {
    let waits = request.uri().path() == "/v1/state";
    let limit = if waits {
        MAX_WAIT + state.request_timeout
    } else {
        state.request_timeout
    };
    match super::deadline::within(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => super::reply::timed_out(),
    }
}

async fn list(State(state): Shared) -> Response {
    match snapshot(&state) {
        Ok(snapshot) => json_body(StatusCode::OK, snapshot.list_body()),
        Err(error) => error.into_response(),
    }
}

async fn resolve(
    State(state): Shared,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    resolve_now(&state, &name, query.as_deref())
}

/// The answer of `GET /v1/prompts/{name}`: what the router's route gives, and what the
/// front (`front.rs`) gives for a name it answers itself.
pub(super) fn resolve_now(state: &ServerState, name: &str, query: Option<&str>) -> Response {
    let snapshot = match snapshot(state) {
        Ok(s) => s,
        Err(error) => return error.into_response(),
    };
    let (key, attributes) = match resolve_params(query.unwrap_or("")) {
        Ok(params) => params,
        Err(why) => return error(StatusCode::BAD_REQUEST, "bad_attributes", &why),
    };
    let Some(picked) = snapshot.pick(name, key.as_deref(), &attributes) else {
        // Only a miss pays for checking the name: a bad one is a 400, a good one a 404.
        return match parse_name(name) {
            Ok(name) => unknown(&name, &snapshot),
            Err(error) => error.into_response(),
        };
    };
    if picked.fallback {
        state.metrics.canary_error(name);
    }
    picked.count_resolve();
    let (track, bucket) = (picked.track, picked.bucket);
    let loaded = picked.served.track(track);
    let arm = picked.served.arm_names(track);
    json_body(StatusCode::OK, loaded.resolve_answer(track, bucket, arm))
}

/// Reads `key` and every `attr.NAME` from a query string (the last of each wins); other
/// parameters are ignored. Attributes are text, within the bounds of targeting rules.
fn resolve_params(query: &str) -> Result<(Option<String>, crate::store::Attributes), String> {
    let mut key = None;
    let mut attributes = crate::store::Attributes::new();
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        if name == "key" {
            key = Some(value.into_owned());
        } else if let Some(attr) = name.strip_prefix("attr.") {
            crate::store::add_text_attribute(&mut attributes, attr, value.into_owned())?;
        }
    }
    Ok((key, attributes))
}

async fn state_route(
    State(state): Shared,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    // The token, when set, was checked by the guard (`guard.rs`).
    let wait = match query.get("wait").map(|w| WAIT.parse(w)) {
        None => None,
        Some(Ok(wait)) => Some(wait),
        Some(Err(why)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_wait",
                format!("`wait`: {why}"),
            );
        }
    };
    // The ETag is the commit; `If-None-Match` is compared as on every route (weakly).
    let if_none_match = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let seen = |commit: &str| {
        if_none_match
            .as_deref()
            .is_some_and(|tags| none_match(tags, &format!("\"{commit}\"")))
    };
    let current = |state: &ServerState| state.snapshot.load_full();
    let mut snapshot = current(&state);
    if let Some(wait) = wait
        && snapshot.as_ref().is_some_and(|s| seen(&s.commit))
    {
        let mut changed = state.changed.subscribe();
        let mut stopping = state.stopping.subscribe();
        tokio::select! {
            _ = tokio::time::timeout(wait, changed.wait_for(|commit| !seen(commit))) => {}
            _ = stopping.wait_for(|stop| *stop) => {}
        }
        snapshot = current(&state);
    }
    let Some(snapshot) = snapshot else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_release",
            format!("nothing has been published to `{}` yet", state.env),
        );
    };
    let etag = format!("\"{}\"", snapshot.commit);
    if seen(&snapshot.commit) {
        return Response::builder()
            .status(StatusCode::NOT_MODIFIED)
            .header(header::ETAG, etag)
            .body(Body::empty())
            .unwrap_or_else(|_| StatusCode::NOT_MODIFIED.into_response());
    }
    let body = snapshot.state_body();
    // A stale state says so in its body too: `"stale": true` leads the object.
    let body = if state.stale.load(std::sync::atomic::Ordering::Relaxed) && body.starts_with(b"{") {
        let mut marked = Vec::with_capacity(body.len() + 14);
        marked.extend_from_slice(b"{\"stale\":true,");
        marked.extend_from_slice(&body[1..]);
        bytes::Bytes::from(marked)
    } else {
        body
    };
    let mut response = json_body(StatusCode::OK, body);
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// Every canary in flight, with this server's feedback and its controller's decisions.
async fn rollouts_route(State(state): Shared) -> Response {
    let snapshot = match snapshot(&state) {
        Ok(s) => s,
        Err(error) => return error.into_response(),
    };
    let body = super::rollouts::views(&state, &snapshot);
    match serde_json::to_string(&body) {
        Ok(text) => json_body(StatusCode::OK, text),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    }
}

async fn login_route(
    State(state): Shared,
    form: Result<axum::Form<HashMap<String, String>>, axum::extract::rejection::FormRejection>,
) -> Response {
    let given = form
        .ok()
        .and_then(|axum::Form(fields)| fields.get("token").cloned())
        .unwrap_or_default();
    super::auth::login(state.token.as_deref(), &given)
}

async fn dashboard_route(State(state): Shared, headers: HeaderMap) -> Response {
    if !super::auth::may_read_everything(state.token.as_deref(), &headers) {
        return super::auth::login_page(
            "This server has a token: the dashboard shows every prompt's text. Give the token to open it.",
        );
    }
    let snapshot = state.snapshot.load_full();
    let html = super::dashboard::page(&state, snapshot.as_deref());
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

async fn metrics(State(state): Shared) -> Response {
    let resolves: Vec<(String, String, &'static str, u64)> = state
        .counters
        .resolves()
        .into_iter()
        .map(|(name, version, track, n)| (name, version.to_string(), track.as_str(), n))
        .collect();
    let targeting_fallbacks: Vec<(String, String, u64)> = state
        .counters
        .fallbacks()
        .into_iter()
        .map(|(name, version, n)| (name, version.to_string(), n))
        .collect();
    let health = state.health().clone();
    let age = health.age();
    let stale = health.stale_since(state.overdue()).is_some();
    let snapshot = state.snapshot.load_full();
    let unservable: Vec<&str> = snapshot
        .iter()
        .flat_map(|s| s.problems.keys().map(PromptName::as_str))
        .collect();
    let canaries: Vec<(String, String, String)> = snapshot
        .iter()
        .flat_map(|s| s.prompts.iter())
        .filter_map(|(name, served)| {
            let canary = served.pointers.canary.as_ref()?;
            let active = served.pointers.active.to_string();
            Some((name.to_string(), active, canary.version.to_string()))
        })
        .collect();
    let scrape = Scrape {
        resolves: &resolves,
        targeting_fallbacks: &targeting_fallbacks,
        snapshot_age: age,
        stale,
        unservable: &unservable,
        canaries: &canaries,
    };
    let mut text = state.metrics.render_text(&scrape);
    state
        .experiments
        .start_series(&super::experiments_route::running(snapshot.as_deref()));
    state.experiments.write(&mut text);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        text,
    )
        .into_response()
}

async fn healthz(State(state): Shared) -> Response {
    let snapshot = state.snapshot.load_full();
    let health = state.health().clone();
    let seconds = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    };
    let stale_since = health.stale_since(state.overdue());
    let status = match (&snapshot, stale_since, &health.keep_error) {
        (None, _, _) => "empty",
        (Some(_), Some(_), _) => "stale",
        (Some(_), None, Some(_)) => "degraded",
        (Some(_), None, None) => "ok",
    };
    let body: Value = json!({
        "status": status,
        "env": state.env,
        "commit": snapshot.as_ref().map(|s| s.commit.clone()),
        "loaded_at": snapshot.as_ref().map(|s| seconds(s.loaded_at)),
        "stale_since": stale_since.map(seconds),
        "last_error": health.why_stale(state.overdue()),
        "age_seconds": health.age(),
        "keep_error": health.keep_error,
        "problems": snapshot.as_ref().map(|s| &s.problems),
    });
    json_body(StatusCode::OK, body.to_string())
}
