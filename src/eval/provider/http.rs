//! The HTTP providers: OpenAI-compatible chat completions and Anthropic's messages API,
//! their error answers sorted into causes, and bodies read no further than the limit.

use std::time::Duration;

use serde_json::Value;

use super::{CallError, ChatReply, ChatRequest, Failure, Provider, excerpt, too_large};
use crate::prompt::request::{ANTHROPIC_VERSION, Api, read_reply, request_body};

impl Provider {
    fn http(&self) -> Result<&reqwest::Client, CallError> {
        self.client
            .as_ref()
            .ok_or_else(|| CallError::fatal("no HTTP client", "", false))
    }

    /// A POST to the kind's endpoint; a base URL that does not parse fails as reqwest
    /// says when it is sent.
    fn post(&self) -> Result<reqwest::RequestBuilder, CallError> {
        let client = self.http()?;
        Ok(match &self.endpoint {
            Some(url) => client.post(url.clone()),
            None => client.post(
                super::endpoint_text(self.kind, &self.base_url)
                    .unwrap_or_else(|| self.base_url.clone()),
            ),
        })
    }

    pub(super) async fn openai(&self, request: &ChatRequest) -> Result<ChatReply, CallError> {
        let body = request_body(Api::Openai, &request.conversation());
        let mut http = self.post()?.json(&body);
        if let Some(key) = &self.key {
            http = http.bearer_auth(&key.0);
        }
        let answer = self.send(http).await?;
        reply(Api::Openai, &answer)
    }

    pub(super) async fn anthropic(&self, request: &ChatRequest) -> Result<ChatReply, CallError> {
        let body = request_body(Api::Anthropic, &request.conversation());
        let mut http = self
            .post()?
            .header("anthropic-version", ANTHROPIC_VERSION)
            .json(&body);
        if let Some(key) = &self.key {
            http = http.header("x-api-key", &key.0);
        }
        let answer = self.send(http).await?;
        reply(Api::Anthropic, &answer)
    }

    /// Sends an HTTP request with the extra headers and sorts failures into retryable or not.
    async fn send(&self, mut http: reqwest::RequestBuilder) -> Result<Value, CallError> {
        for (name, value) in &self.headers {
            http = http.header(name, value);
        }
        let response = http
            .send()
            .await
            .map_err(|e| CallError::retryable(transport_cause(&e), without_url(&e), false))?;
        let status = response.status();
        // A server's wish, bounded: one that asks for more than the longest wait is not
        // waited on, and the request fails saying so.
        let retry_after = match response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map(|s| crate::base::duration::Bounds::up_to(MAX_RETRY_AFTER).seconds(s))
        {
            None => None,
            Some(Ok(wait)) => Some(wait),
            Some(Err(why)) => {
                return Err(CallError::Fatal {
                    failure: Failure {
                        cause: format!("HTTP {}", status.as_u16()),
                        detail: format!("its Retry-After is not a wait to honour: {why}"),
                        reached: true,
                    },
                });
            }
        };
        let body = self.read_body(response).await?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|_| unreadable("the body"));
        }
        let body = String::from_utf8_lossy(&body);
        let failure = http_failure(status.as_u16(), &body);
        match status.as_u16() {
            401 | 403 => Err(CallError::Auth { failure }),
            408 | 429 => Err(CallError::Retryable {
                failure,
                retry_after,
            }),
            _ if status.is_server_error() => Err(CallError::Retryable {
                failure,
                retry_after,
            }),
            _ => Err(CallError::Fatal { failure }),
        }
    }

    /// Reads a response body, refusing one larger than `max_reply_bytes` before it is
    /// held whole.
    async fn read_body(&self, mut response: reqwest::Response) -> Result<Vec<u8>, CallError> {
        let limit = self.max_reply_bytes;
        if response.content_length().is_some_and(|n| n > limit) {
            return Err(too_large(limit));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| CallError::retryable(transport_cause(&e), without_url(&e), true))?
        {
            if body.len() as u64 + chunk.len() as u64 > limit {
                return Err(too_large(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// The longest `Retry-After` honoured: a provider asking for more is waited on this long.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// A reply body as the provider layer keeps it.
fn reply(api: Api, answer: &Value) -> Result<ChatReply, CallError> {
    let parsed = read_reply(api, answer).map_err(unreadable)?;
    Ok(ChatReply {
        text: parsed.text,
        tool_calls: parsed.tool_calls,
        input_tokens: parsed.input_tokens,
        output_tokens: parsed.output_tokens,
    })
}

fn unreadable(what: &str) -> CallError {
    CallError::fatal(
        "unreadable answer",
        format!("the answer has no readable {what}"),
        true,
    )
}

/// An HTTP error answer as a cause and a detail: `HTTP 401 invalid_api_key` and the
/// message of an OpenAI- or Anthropic-shaped error body, or the start of any other body.
fn http_failure(status: u16, body: &str) -> Failure {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let error = parsed.as_ref().map(|v| &v["error"]);
    let code = error
        .and_then(|e| e["code"].as_str().or(e["type"].as_str()))
        .filter(|c| !c.is_empty() && c.len() <= 64);
    let message = error.and_then(|e| e["message"].as_str());
    Failure {
        cause: match code {
            Some(code) => format!("HTTP {status} {code}"),
            None => format!("HTTP {status}"),
        },
        detail: excerpt(message.unwrap_or(body)),
        reached: true,
    }
}

/// A transport failure's short cause.
fn transport_cause(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "transport error"
    }
}

/// A reqwest error's innermost cause, without the URL, which may carry a key in a query
/// string.
fn without_url(error: &reqwest::Error) -> String {
    let mut source = std::error::Error::source(error);
    let mut detail = String::new();
    while let Some(inner) = source {
        detail = inner.to_string();
        source = inner.source();
    }
    detail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_give_a_cause_and_the_message() {
        let failure = http_failure(
            401,
            r#"{"error": {"message": "Incorrect API key provided: sk-x", "type": "invalid_request_error", "code": "invalid_api_key"}}"#,
        );
        assert_eq!(failure.cause, "HTTP 401 invalid_api_key");
        assert_eq!(failure.detail, "Incorrect API key provided: sk-x");
        let failure = http_failure(500, "<html>oops</html>");
        assert_eq!(failure.to_string(), "HTTP 500: <html>oops</html>");
    }
}
