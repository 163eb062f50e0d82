//! Who may read what. With `--token-env`, prompt texts are private: every route but
//! `/healthz`, `/metrics` and `/login` needs the token, checked by [`refusal`] in the
//! routes' single middleware, with one rule: `Authorization: Bearer TOKEN` or `X-API-Key:
//! TOKEN` on any route, or the dashboard's cookie on a read (`GET`); none is a 401, a wrong
//! one a 403. A browser opens the dashboard through a login form that sets the cookie, which
//! holds a digest of the token, not the token: it cannot be replayed for a write.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// The dashboard's cookie.
const COOKIE: &str = "promptctl_dashboard";

/// Compares secrets in time that does not depend on where they differ.
pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The token the request gives as `Authorization: Bearer`.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// Whether the request carries the token as `Authorization: Bearer`.
pub(super) fn bearer_ok(token: &str, headers: &HeaderMap) -> bool {
    bearer(headers).is_some_and(|given| constant_time_eq(given.as_bytes(), token.as_bytes()))
}

/// What a request gives as an API credential: a bearer token or an `X-API-Key`.
pub(super) enum Credential {
    Missing,
    Wrong,
    Right,
}

/// Reads the credential the API routes of other protocols (OFREP) take: the bearer token
/// or the `X-API-Key` header.
pub(super) fn api_credential(token: &str, headers: &HeaderMap) -> Credential {
    let api_key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    match bearer(headers).or(api_key) {
        None => Credential::Missing,
        Some(given) if constant_time_eq(given.as_bytes(), token.as_bytes()) => Credential::Right,
        Some(_) => Credential::Wrong,
    }
}

/// Whether a read of every prompt's text is allowed: no token is set, or the request has
/// the bearer token or the dashboard's cookie.
pub(super) fn may_read_everything(token: Option<&str>, headers: &HeaderMap) -> bool {
    let Some(token) = token else { return true };
    bearer_ok(token, headers) || cookie_ok(token, headers)
}

/// The routes the token does not cover: health and metrics (figures for probes and
/// Prometheus, no text), and the login form. The dashboard (`/`) answers its own login page.
pub(super) fn is_open_route(path: &str) -> bool {
    matches!(path, "/healthz" | "/metrics" | "/login" | "/")
}

/// The check of every guarded route, or the answer refusing it: the credential of
/// [`api_credential`], or on a read the dashboard's cookie. None is a 401, a wrong one a
/// 403, on every route alike.
pub(super) fn refusal<B>(
    token: Option<&str>,
    request: &axum::http::Request<B>,
) -> Option<Response> {
    let token = token?;
    if is_open_route(request.uri().path()) {
        return None;
    }
    let headers = request.headers();
    let read = request.method() == axum::http::Method::GET;
    match api_credential(token, headers) {
        Credential::Right => None,
        Credential::Missing if read && cookie_ok(token, headers) => None,
        Credential::Missing => Some(super::reply::error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this server has a token: send `Authorization: Bearer <token>` or `X-API-Key: <token>`",
        )),
        Credential::Wrong => Some(super::reply::error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the token given is not this server's",
        )),
    }
}

fn cookie_value(token: &str) -> String {
    let digest = Sha256::digest(format!("promptctl-dashboard:{token}").as_bytes());
    crate::base::copytext::hex(&digest)
}

fn cookie_ok(token: &str, headers: &HeaderMap) -> bool {
    let expected = cookie_value(token);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(name, value)| {
            name == COOKIE && constant_time_eq(value.as_bytes(), expected.as_bytes())
        })
}

/// The login page: 401, with a form that posts the token to `/login`.
pub(super) fn login_page(message: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>promptctl · sign in</title></head>\
<body style=\"font:14px system-ui,sans-serif;max-width:28em;margin:4em auto\"><h1>promptctl</h1>\
<p>{}</p><form method=\"post\" action=\"/login\"><label>Token <input type=\"password\" name=\"token\" autofocus></label> \
<button>Open the dashboard</button></form></body></html>",
        crate::base::markup::escape(message)
    );
    (
        StatusCode::UNAUTHORIZED,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

/// Answers the login form: the right token sets the cookie and goes to the dashboard.
pub(super) fn login(token: Option<&str>, given: &str) -> Response {
    let Some(token) = token else {
        return redirect_home(None);
    };
    if !constant_time_eq(given.as_bytes(), token.as_bytes()) {
        return login_page("That is not the token this server was started with.");
    }
    let cookie = format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
        cookie_value(token)
    );
    redirect_home(HeaderValue::from_str(&cookie).ok())
}

fn redirect_home(cookie: Option<HeaderValue>) -> Response {
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
    if let Some(cookie) = cookie {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_a_digest_and_opens_reads_only() {
        let mut headers = HeaderMap::new();
        assert!(!may_read_everything(Some("s3cret"), &headers));
        assert!(may_read_everything(None, &headers));
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("a=b; {COOKIE}={}", cookie_value("s3cret"))).unwrap(),
        );
        assert!(may_read_everything(Some("s3cret"), &headers));
        assert!(!may_read_everything(Some("other"), &headers));
        assert!(
            !bearer_ok("s3cret", &headers),
            "a cookie is no bearer token"
        );
        assert!(!cookie_value("s3cret").contains("s3cret"));
    }
}
