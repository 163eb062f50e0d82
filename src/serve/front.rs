//! The front of the server. The two hot paths, `GET /v1/prompts/{name}` and `POST
//! /ofrep/v1/evaluate/flags/{key}` with a well-formed name, are answered here by the
//! routes' own functions ([`super::routes::resolve_now`], [`super::ofrep::evaluate_flag_now`])
//! behind the same guard ([`super::guard::refused`], [`super::guard::mark`]); every other
//! request goes to axum's router. For such a name the router would do nothing else: the
//! name needs no percent-decoding, and no other route matches the path. What it costs is
//! spared: the route lookup, the extensions it adds to each request and the boxed route it
//! clones, more than a quarter of a resolve's instructions.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use axum::body::{Bytes, HttpBody};
use axum::http::{Method, Request, Uri};
use axum::response::Response;
use futures_util::future::Either;

use super::ServerState;
use super::deadline::Deadline;
use super::ofrep::Evaluated;
use super::ofrep_body::ReadLimited;

/// The router, with the two hot routes answered before it.
#[derive(Clone)]
pub(super) struct Front {
    pub state: Arc<ServerState>,
    pub router: axum::Router,
}

/// What the front answers now, what it answers once the body is read, or the router's.
type Answering<B, F> =
    Either<Either<std::future::Ready<Result<Response, Infallible>>, Evaluating<B>>, F>;

impl<B> tower_service::Service<Request<B>> for Front
where
    axum::Router: tower_service::Service<Request<B>, Response = Response, Error = Infallible>,
    B: HttpBody<Data = Bytes> + Unpin + Send + 'static,
    B::Error: std::fmt::Display,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Answering<B, <axum::Router as tower_service::Service<Request<B>>>::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        tower_service::Service::<Request<B>>::poll_ready(&mut self.router, cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if let Some(answer) = self.resolve(&request) {
            return now(answer);
        }
        if hot_name(&request, Method::POST, EVALUATE_FLAG).is_some() {
            return self.evaluate(request);
        }
        Either::Right(self.router.call(request))
    }
}

/// The path of a single-flag OFREP evaluation, before its key.
const EVALUATE_FLAG: &str = "/ofrep/v1/evaluate/flags/";

/// An answer given at once.
fn now<B, F>(answer: Response) -> Answering<B, F> {
    Either::Left(Either::Left(std::future::ready(Ok(answer))))
}

impl Front {
    /// The evaluation its path names, a well-formed name. The refusals that need no body
    /// are made at once, marked as the route's would be; the future holds the body alone.
    fn evaluate<B, F>(&self, request: Request<B>) -> Answering<B, F>
    where
        B: HttpBody<Data = Bytes> + Unpin + Send + 'static,
        B::Error: std::fmt::Display,
    {
        if let Some(refused) = super::guard::refused(&self.state, &request) {
            return now(refused);
        }
        if let Some(mut refused) = super::ofrep_body::refused_before_reading(&request) {
            super::guard::mark(&self.state, &mut refused);
            return now(refused);
        }
        let (head, body) = request.into_parts();
        Either::Left(Either::Right(Evaluating {
            state: Arc::clone(&self.state),
            uri: head.uri,
            phase: Phase::Reading {
                body: super::ofrep_body::reading(body, &self.state),
            },
        }))
    }

    /// The answer to a resolve of a well-formed name, or `None` for the router.
    fn resolve<B>(&self, request: &Request<B>) -> Option<Response> {
        let name = hot_name(request, Method::GET, "/v1/prompts/")?;
        if let Some(refused) = super::guard::refused(&self.state, request) {
            return Some(refused);
        }
        let mut answer = super::routes::resolve_now(&self.state, name, request.uri().query());
        super::guard::mark(&self.state, &mut answer);
        Some(answer)
    }
}

/// The name after `prefix` in a `method` request's path, when it is a well-formed prompt
/// name. Anything else (an escape, an empty or odd segment) is the router's to decode or
/// refuse, as it always was.
fn hot_name<'r, B>(request: &'r Request<B>, method: Method, prefix: &str) -> Option<&'r str> {
    if request.method() != method {
        return None;
    }
    let name = request.uri().path().strip_prefix(prefix)?;
    crate::prompt::check_segments(name).ok()?;
    Some(name)
}

pin_project_lite::pin_project! {
    /// One OFREP evaluation, as the route answers it, once the guard and the checks of
    /// its headers have let it through: its body read, then answered. A future of its own
    /// type rather than a boxed `async` block, and the key read from the path it holds
    /// rather than copied: the box (the largest allocation of an evaluation) and the copy
    /// were a twentieth of its instructions.
    pub(super) struct Evaluating<B> {
        state: Arc<ServerState>,
        // The request's path holds the key, after `EVALUATE_FLAG`.
        uri: Uri,
        #[pin]
        phase: Phase<B>,
    }
}

pin_project_lite::pin_project! {
    #[project = PhaseNow]
    enum Phase<B> {
        Reading { #[pin] body: Deadline<ReadLimited<B>> },
        // A context with `variables` waits for its render.
        Rendering { rendering: Pin<Box<dyn Future<Output = Response> + Send>> },
    }
}

impl<B> Future for Evaluating<B>
where
    B: HttpBody<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let mut answer = loop {
            match this.phase.as_mut().project() {
                PhaseNow::Reading { body } => {
                    let bytes = match super::ofrep_body::read_outcome(ready!(body.poll(cx))) {
                        Ok(bytes) => bytes,
                        Err(unread) => break super::ofrep_body::refusal(unread),
                    };
                    let key = this
                        .uri
                        .path()
                        .strip_prefix(EVALUATE_FLAG)
                        .unwrap_or_default();
                    match super::ofrep::evaluate_flag_now(this.state, key, &bytes) {
                        Evaluated::Now(answer) => break answer,
                        Evaluated::Rendering(rendering) => {
                            this.phase.set(Phase::Rendering { rendering });
                        }
                    }
                }
                PhaseNow::Rendering { rendering } => break ready!(rendering.as_mut().poll(cx)),
            }
        };
        super::guard::mark(this.state, &mut answer);
        Poll::Ready(Ok(answer))
    }
}
