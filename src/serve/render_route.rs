//! `POST /v1/render`: the messages of the version a key gets, rendered on a blocking
//! thread once a render slot is free, with the canary's fallback said in the answer.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::reply::{Shared, error, json_body, parse_name, rejected, snapshot, unknown};
use super::{ServerState, Snapshot};
use crate::prompt::request::Api;
use crate::prompt::{PromptName, Vars};
use crate::served::ServeRenderError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RenderRequest {
    name: String,
    key: Option<String>,
    #[serde(default)]
    vars: Vars,
    /// Attributes of the caller (text, numbers, booleans): `cohort` routes canary cohorts,
    /// and a canary's targeting rule reads them all.
    #[serde(default)]
    attrs: serde_json::Map<String, serde_json::Value>,
    /// Also answer the complete request body of this API (`openai`, `anthropic`).
    request: Option<Api>,
}

pub(super) async fn render(
    State(state): Shared,
    body: Result<axum::Json<RenderRequest>, JsonRejection>,
) -> Response {
    let axum::Json(request) = match body {
        Ok(body) => body,
        Err(rejection) => return rejected(rejection),
    };
    let snapshot = match snapshot(&state) {
        Ok(s) => s,
        Err(error) => return error.into_response(),
    };
    let name = match parse_name(&request.name) {
        Ok(name) => name,
        Err(error) => return error.into_response(),
    };
    let attributes = match crate::store::attributes_from_json(&request.attrs, &[]) {
        Ok(attributes) => attributes,
        Err(why) => return error(StatusCode::BAD_REQUEST, "bad_attributes", &why),
    };
    let api = request.request;
    let call = RenderCall {
        name: name.clone(),
        key: request.key,
        attributes,
        vars: request.vars,
    };
    let rendered = match render_counted(&state, &snapshot, call).await {
        Ok(rendered) => rendered,
        Err(response) => return response,
    };
    match rendered {
        Ok(rendered) => {
            let version = rendered.version.to_string();
            let loaded = &snapshot.prompts[&name].track(rendered.track).prompt;
            let mut body = json!({
                "name": name, "version": version, "track": rendered.track.as_str(),
                "bucket": rendered.bucket, "fallback": rendered.fallback,
                "provider": loaded.spec.provider, "model": loaded.spec.model,
                "params": loaded.spec.params, "messages": rendered.messages,
            });
            if let Some(fell_back) = &rendered.fell_back_from {
                body["canary"] = json!(fell_back.canary);
                body["fallback_reason"] = json!(fell_back.reason);
            }
            if let (Some(members), Ok(serde_json::Value::Object(contract))) = (
                body.as_object_mut(),
                serde_json::to_value(&loaded.spec.contract),
            ) {
                members.extend(contract);
            }
            if let Some(api) = api {
                body["request"] = serde_json::Value::Object(rendered.request_body(api));
            }
            json_body(StatusCode::OK, body.to_string())
        }
        Err(ServeRenderError::Unknown { .. }) => unknown(&name, &snapshot),
        Err(ServeRenderError::Render { message, .. }) => {
            error(StatusCode::UNPROCESSABLE_ENTITY, "render_failed", message)
        }
    }
}

/// Renders off the workers and counts what happened, for every route that renders
/// (`/v1/render`, OFREP): the render's result by version and track, a canary that fell
/// back to active (`promptctl_canary_errors_total` and the dashboard's failure). One path,
/// so that the same key and context get the same version, track, fallback and counters
/// from each.
pub(super) async fn render_counted(
    state: &Arc<ServerState>,
    snapshot: &Arc<Snapshot>,
    call: RenderCall,
) -> Result<Result<crate::served::Rendered, ServeRenderError>, Response> {
    let name = call.name.clone();
    let rendered = render_off_workers(state, snapshot, call).await?;
    match &rendered {
        Ok(rendered) => {
            if rendered.fallback {
                // The canary failed this request; the active version served it.
                state.metrics.canary_error(name.as_str());
            }
            if let Some(fell_back) = &rendered.fell_back_from {
                state.canary_failed(&name, fell_back);
            }
            state.metrics.render(
                name.as_str(),
                &rendered.version.to_string(),
                rendered.track.as_str(),
                "ok",
            );
        }
        Err(ServeRenderError::Render { version, track, .. }) => {
            state
                .metrics
                .render(name.as_str(), &version.to_string(), track.as_str(), "error");
        }
        Err(ServeRenderError::Unknown { .. }) => {}
    }
    Ok(rendered)
}

/// What to render: the version `key` gets (with its attributes), with `vars`.
pub(super) struct RenderCall {
    pub name: PromptName,
    pub key: Option<String>,
    pub attributes: crate::store::Attributes,
    pub vars: Vars,
}

/// Renders on a blocking thread once a render slot is free: a render is bounded by fuel,
/// its budget and output size, but may still take a while, and must not hold an async
/// worker. Two guards keep one prompt's slow renders from stopping the others:
/// - a prompt may hold every render slot but one ([`prompt_share`]); past that its
///   requests wait for one of its own renders to end (within the same wait as for a
///   slot), and other prompts render as usual;
/// - a render whose request is dropped (it timed out, or the client left) is cancelled:
///   it stops at its next print or filter and frees its slot.
pub(super) async fn render_off_workers(
    state: &Arc<ServerState>,
    snapshot: &Arc<Snapshot>,
    call: RenderCall,
) -> Result<Result<crate::served::Rendered, ServeRenderError>, Response> {
    let wait = state.request_timeout / 2;
    let share =
        match tokio::time::timeout(wait, PromptShare::wait_for(state, call.name.as_str())).await {
            Ok(share) => share,
            Err(_) => {
                return Err(busy(
                    "this prompt has as many renders running as it may; try again shortly",
                ));
            }
        };
    let slots = Arc::clone(&state.render_slots);
    let permit = match tokio::time::timeout(wait, slots.acquire_owned()).await {
        Ok(Ok(permit)) => permit,
        _ => return Err(busy("every render slot is taken; try again shortly")),
    };
    let cancel = Arc::new(AtomicBool::new(false));
    let _cancel_on_drop = CancelOnDrop(Arc::clone(&cancel));
    let snapshot = Arc::clone(snapshot);
    tokio::task::spawn_blocking(move || {
        let _held = (permit, share);
        crate::prompt::cancellable(&cancel, || {
            snapshot.render(
                call.name.as_str(),
                call.key.as_deref(),
                &call.attributes,
                &call.vars,
            )
        })
    })
    .await
    .map_err(|_| {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the render stopped unexpectedly",
        )
    })
}

fn busy(message: &str) -> Response {
    let mut response = error(StatusCode::SERVICE_UNAVAILABLE, "busy", message);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// Sets the render's cancel flag when the request's future is dropped.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The most renders one prompt may run at once: every slot but one, and at least one.
pub(super) fn prompt_share(slots: usize) -> usize {
    slots.saturating_sub(1).max(1)
}

/// One running render of a prompt, counted until the render ends.
struct PromptShare {
    counts: Arc<std::sync::Mutex<HashMap<String, usize>>>,
    released: Arc<tokio::sync::Notify>,
    prompt: String,
}

impl PromptShare {
    /// Takes a share of `prompt`'s renders, waiting for one of its renders to end when it
    /// holds all it may.
    async fn wait_for(state: &ServerState, prompt: &str) -> PromptShare {
        loop {
            // Listen before looking, so that a release in between is not missed.
            let released = state.render_share_released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            if let Some(share) = PromptShare::take(state, prompt) {
                return share;
            }
            released.await;
        }
    }

    fn take(state: &ServerState, prompt: &str) -> Option<PromptShare> {
        let limit = state.render_share;
        let mut counts = state
            .renders_by_prompt
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let running = counts.entry(prompt.to_owned()).or_insert(0);
        if *running >= limit {
            return None;
        }
        *running += 1;
        Some(PromptShare {
            counts: Arc::clone(&state.renders_by_prompt),
            released: Arc::clone(&state.render_share_released),
            prompt: prompt.to_owned(),
        })
    }
}

impl Drop for PromptShare {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(running) = counts.get_mut(&self.prompt) {
            *running -= 1;
            if *running == 0 {
                counts.remove(&self.prompt);
            }
        }
        drop(counts);
        self.released.notify_waiters();
    }
}
