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
use std::task::{Context, Poll};

use axum::body::{Bytes, HttpBody};
use axum::http::{Method, Request};
use axum::response::Response;
use futures_util::future::Either;

use super::ServerState;

/// The router, with the two hot routes answered before it.
#[derive(Clone)]
pub(super) struct Front {
    pub state: Arc<ServerState>,
    pub router: axum::Router,
}

/// An evaluation in progress: it reads its body first.
type Evaluating = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

/// What the front answers now, what it answers once the body is read, or the router's.
type Answering<F> = Either<Either<std::future::Ready<Result<Response, Infallible>>, Evaluating>, F>;

impl<B> tower_service::Service<Request<B>> for Front
where
    axum::Router: tower_service::Service<Request<B>, Response = Response, Error = Infallible>,
    B: HttpBody<Data = Bytes> + Unpin + Send + 'static,
    B::Error: std::fmt::Display,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Answering<<axum::Router as tower_service::Service<Request<B>>>::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        tower_service::Service::<Request<B>>::poll_ready(&mut self.router, cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if let Some(answer) = self.resolve(&request) {
            return now(answer);
        }
        if let Some(key) = hot_name(&request, Method::POST, EVALUATE_FLAG) {
            let key = key.to_owned();
            return self.evaluate(key, request);
        }
        Either::Right(self.router.call(request))
    }
}

/// The path of a single-flag OFREP evaluation, before its key.
const EVALUATE_FLAG: &str = "/ofrep/v1/evaluate/flags/";

/// An answer given at once.
fn now<F>(answer: Response) -> Answering<F> {
    Either::Left(Either::Left(std::future::ready(Ok(answer))))
}

impl Front {
    /// The evaluation of `key`, a well-formed name. The refusals that need no body are made at once,
    /// marked as the route's would be; the future holds the body alone.
    fn evaluate<B, F>(&self, key: String, request: Request<B>) -> Answering<F>
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
        let state = Arc::clone(&self.state);
        Either::Left(Either::Right(Box::pin(evaluate(
            state,
            key,
            request.into_body(),
        ))))
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

/// One OFREP evaluation of `key`, as the route answers it, once the guard and the
/// checks of its headers have let it through.
async fn evaluate<B>(state: Arc<ServerState>, key: String, body: B) -> Result<Response, Infallible>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let mut answer = match super::ofrep_body::read_body(body, &state).await {
        Ok(bytes) => {
            let body = super::ofrep_body::JsonBody {
                bytes,
                if_none_match: None,
            };
            super::ofrep::evaluate_flag_now(Arc::clone(&state), &key, body).await
        }
        Err(refusal) => refusal,
    };
    super::guard::mark(&state, &mut answer);
    Ok(answer)
}
