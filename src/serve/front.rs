//! The front of the server. `GET /v1/prompts/{name}` with a well-formed name, the hot
//! path, is answered here by the route's own function ([`super::routes::resolve_now`])
//! behind the same guard ([`super::guard::refused`], [`super::guard::mark`]); every other
//! request goes to axum's router. For such a name the router would do nothing else: the
//! name needs no percent-decoding, and no other route matches the path. What it costs is
//! spared: the route lookup, the extensions it adds to each request and the boxed route it
//! clones, more than a quarter of a resolve's instructions.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::http::{Method, Request};
use axum::response::Response;
use futures_util::future::Either;

use super::ServerState;

/// The router, with the resolve route answered before it.
#[derive(Clone)]
pub(super) struct Front {
    pub state: Arc<ServerState>,
    pub router: axum::Router,
}

impl<B> tower_service::Service<Request<B>> for Front
where
    axum::Router: tower_service::Service<Request<B>, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<
        std::future::Ready<Result<Response, Infallible>>,
        <axum::Router as tower_service::Service<Request<B>>>::Future,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        tower_service::Service::<Request<B>>::poll_ready(&mut self.router, cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        match self.resolve(&request) {
            Some(answer) => Either::Left(std::future::ready(Ok(answer))),
            None => Either::Right(self.router.call(request)),
        }
    }
}

impl Front {
    /// The answer to a resolve of a well-formed name, or `None` for the router.
    fn resolve<B>(&self, request: &Request<B>) -> Option<Response> {
        if request.method() != Method::GET {
            return None;
        }
        let name = request.uri().path().strip_prefix("/v1/prompts/")?;
        // Anything else (an escape, an empty or odd segment) is the router's to decode
        // or refuse, as it always was.
        crate::prompt::check_segments(name).ok()?;
        if let Some(refused) = super::guard::refused(&self.state, request) {
            return Some(refused);
        }
        let mut answer = super::routes::resolve_now(&self.state, name, request.uri().query());
        super::guard::mark(&self.state, &mut answer);
        Some(answer)
    }
}
