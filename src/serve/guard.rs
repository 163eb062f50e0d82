//! The layer every matched route passes: the token, when the server has one
//! ([`super::auth::refusal`]), and on the way out the mark of an answer served from a stale
//! state, `X-Promptctl-Stale: true`, so that a client knows what it got may be behind the
//! source (`/healthz` says since when and why).
//!
//! A `tower` layer written out rather than `axum::middleware::from_fn`: that one boxes and
//! clones the rest of the stack for every request, which was a tenth of the CPU of a
//! resolve, the hot path this layer sits on.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::response::Response;

use super::ServerState;

/// Wraps each route in [`Guarded`].
#[derive(Clone)]
pub(super) struct Guard(pub Arc<ServerState>);

impl<S> tower_layer::Layer<S> for Guard {
    type Service = Guarded<S>;

    fn layer(&self, inner: S) -> Guarded<S> {
        Guarded {
            inner,
            state: Arc::clone(&self.0),
        }
    }
}

/// A route behind the guard.
#[derive(Clone)]
pub(super) struct Guarded<S> {
    inner: S,
    state: Arc<ServerState>,
}

impl<S> tower_service::Service<Request> for Guarded<S>
where
    S: tower_service::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Guarding<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match refused(&self.state, &request) {
            Some(refused) => Guarding::Refused {
                answer: Some(refused),
            },
            None => Guarding::Passed {
                inner: self.inner.call(request),
                state: Arc::clone(&self.state),
            },
        }
    }
}

/// The answer refusing `request`, when the server's token says it may not pass.
pub(super) fn refused<B>(
    state: &ServerState,
    request: &axum::http::Request<B>,
) -> Option<Response> {
    super::auth::refusal(state.token.as_deref(), request)
}

/// Marks an answer served from a stale state.
pub(super) fn mark(state: &ServerState, response: &mut Response) {
    if state.stale.load(Ordering::Relaxed) {
        response
            .headers_mut()
            .insert("x-promptctl-stale", HeaderValue::from_static("true"));
    }
}

pin_project_lite::pin_project! {
    /// A refused request's answer, or the route's, marked when the state is stale.
    #[project = GuardingNow]
    pub(super) enum Guarding<F> {
        Refused { answer: Option<Response> },
        Passed { #[pin] inner: F, state: Arc<ServerState> },
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for Guarding<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            GuardingNow::Refused { answer } => {
                Poll::Ready(Ok(answer.take().expect("a refusal is answered once")))
            }
            GuardingNow::Passed { inner, state } => {
                let mut response = match inner.poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(response)) => response,
                    Poll::Ready(Err(never)) => match never {},
                };
                mark(state, &mut response);
                Poll::Ready(Ok(response))
            }
        }
    }
}
