//! Model providers: the built-in offline model, and clients for OpenAI-compatible chat
//! completions, Anthropic's messages API and local commands, each with its own limits.
//!
//! API keys are read from the environment when a provider is first needed, kept in a type
//! that never prints them, and sent only in request headers. Everything a provider sends
//! back (replies, error bodies, a command's stderr) is bounded in size and has the key and
//! the configured header values masked before it leaves this module.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use super::redact::Redactor;
use crate::config::{ProjectConfig, ProviderKind, ProviderSection};
use crate::prompt::{RenderedMessage, Role};

/// Requests in flight per provider when its table sets no `concurrency`.
const DEFAULT_CONCURRENCY: usize = 64;
/// Seconds before a request is abandoned when its table sets no `timeout`.
const DEFAULT_TIMEOUT_SECS: f64 = 60.0;
/// Retries of a failed request when its table sets no `max_retries`.
const DEFAULT_MAX_RETRIES: u32 = 6;
/// The largest reply read when its table sets no `max_reply_bytes`: 8 MiB.
pub const DEFAULT_MAX_REPLY_BYTES: u64 = 8 * 1024 * 1024;
/// How much of a failing command's stderr is kept for the message.
const MAX_STDERR_BYTES: u64 = 64 * 1024;

/// What is sent to a model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatRequest {
    /// The provider's name, as prompts and suites use it.
    pub provider: String,
    pub model: String,
    pub params: BTreeMap<String, Value>,
    pub messages: Vec<RenderedMessage>,
}

/// What a model answered.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ChatReply {
    pub text: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// Why a call failed: a short cause that groups alike failures (`HTTP 401
/// invalid_api_key`, `timed out`, `exit status 3`) and the provider's own words, redacted.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub cause: String,
    pub detail: String,
    /// The request reached the provider (an HTTP status came back, the command ran).
    pub reached: bool,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.cause)?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

/// Why a call failed, and what to do about it.
#[derive(Debug, Clone, PartialEq)]
pub enum CallError {
    /// Worth trying again: 429, 5xx, a timeout, a dropped connection.
    Retryable {
        failure: Failure,
        retry_after: Option<Duration>,
    },
    /// Not worth trying again: a 4xx, an answer that cannot be read or is too large.
    Fatal { failure: Failure },
    /// 401 or 403: the key is wrong for every request, so the run stops.
    Auth { failure: Failure },
}

impl CallError {
    /// The failure, whatever is to be done about it.
    pub fn failure(&self) -> &Failure {
        match self {
            CallError::Retryable { failure, .. }
            | CallError::Fatal { failure }
            | CallError::Auth { failure } => failure,
        }
    }

    fn fatal(cause: impl Into<String>, detail: impl Into<String>, reached: bool) -> Self {
        CallError::Fatal {
            failure: Failure {
                cause: cause.into(),
                detail: detail.into(),
                reached,
            },
        }
    }

    fn retryable(cause: impl Into<String>, detail: impl Into<String>, reached: bool) -> Self {
        CallError::Retryable {
            failure: Failure {
                cause: cause.into(),
                detail: detail.into(),
                reached,
            },
            retry_after: None,
        }
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.failure().fmt(f)
    }
}

/// Why a provider cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    #[error(
        "unknown provider `{name}`: declare it as `[providers.{name}]` in promptctl.toml (kind = \"openai\", \"anthropic\", \"exec\" or \"offline\")"
    )]
    Unknown { name: String },
    #[error(
        "provider `{name}` needs an API key in the environment variable `{env}`, which is not set"
    )]
    MissingKey { name: String, env: String },
    #[error("provider `{name}`: {message}")]
    Setup { name: String, message: String },
}

/// An API key: printed as `***` everywhere, so it cannot reach a log or a report by accident.
#[derive(Clone)]
struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A provider ready to take requests.
#[derive(Debug)]
pub struct Provider {
    name: String,
    kind: ProviderKind,
    base_url: String,
    key: Option<Secret>,
    /// The environment variable the key came from, for hints.
    key_env: Option<String>,
    redactor: Redactor,
    max_reply_bytes: u64,
    headers: BTreeMap<String, String>,
    command: Vec<String>,
    timeout: Duration,
    max_retries: u32,
    client: Option<reqwest::Client>,
    in_flight: tokio::sync::Semaphore,
    /// The earliest time the next request may start, for `requests_per_minute`.
    next_start: tokio::sync::Mutex<Instant>,
    interval: Option<Duration>,
}

/// The base URL of a provider kind that names none.
pub fn default_base_url(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Openai => "https://api.openai.com/v1",
        ProviderKind::Anthropic => "https://api.anthropic.com",
        ProviderKind::Exec | ProviderKind::Offline => "",
    }
}

/// Returns the settings of a provider name: declared in promptctl.toml, or one of the names
/// that work undeclared (`offline`, `openai`, `anthropic`).
pub fn provider_section(
    config: &ProjectConfig,
    name: &str,
) -> Result<ProviderSection, ProviderError> {
    if let Some(section) = config.providers.get(name) {
        return Ok(section.clone());
    }
    let kind = match name {
        "offline" => ProviderKind::Offline,
        "openai" => ProviderKind::Openai,
        "anthropic" => ProviderKind::Anthropic,
        _ => {
            return Err(ProviderError::Unknown {
                name: name.to_owned(),
            });
        }
    };
    Ok(ProviderSection {
        kind,
        base_url: None,
        api_key_env: None,
        headers: BTreeMap::new(),
        timeout: None,
        concurrency: None,
        requests_per_minute: None,
        max_retries: None,
        command: None,
        max_reply_bytes: None,
    })
}

impl Provider {
    /// Sets up provider `name`, reading its key from the environment.
    pub fn open(config: &ProjectConfig, name: &str) -> Result<Provider, ProviderError> {
        let section = provider_section(config, name)?;
        let setup = |message: String| ProviderError::Setup {
            name: name.to_owned(),
            message,
        };
        let default_url = default_base_url(section.kind);
        let default_key = match section.kind {
            ProviderKind::Openai => Some("OPENAI_API_KEY"),
            ProviderKind::Anthropic => Some("ANTHROPIC_API_KEY"),
            ProviderKind::Exec | ProviderKind::Offline => None,
        };
        let key_env = section
            .api_key_env
            .clone()
            .or(default_key.map(str::to_owned));
        let key = match &key_env {
            Some(env) => match std::env::var(env) {
                Ok(key) if !key.is_empty() => Some(Secret(key)),
                // A local OpenAI-compatible server (vLLM, Ollama) may need no key at all.
                _ if section.api_key_env.is_none() && section.base_url.is_some() => None,
                _ => {
                    return Err(ProviderError::MissingKey {
                        name: name.to_owned(),
                        env: env.clone(),
                    });
                }
            },
            None => None,
        };
        let timeout = Duration::from_secs_f64(section.timeout.unwrap_or(DEFAULT_TIMEOUT_SECS));
        let client = match section.kind {
            ProviderKind::Openai | ProviderKind::Anthropic => Some(
                reqwest::Client::builder()
                    .timeout(timeout)
                    .connect_timeout(timeout.min(Duration::from_secs(10)))
                    .pool_max_idle_per_host(256)
                    .build()
                    .map_err(|e| setup(format!("cannot start an HTTP client: {e}")))?,
            ),
            _ => None,
        };
        let redactor = Redactor::new(
            key.iter()
                .map(|k| k.0.clone())
                .chain(section.headers.values().cloned()),
        );
        Ok(Provider {
            name: name.to_owned(),
            kind: section.kind,
            key_env: key.as_ref().and(key_env),
            redactor,
            max_reply_bytes: section.max_reply_bytes.unwrap_or(DEFAULT_MAX_REPLY_BYTES),
            base_url: section
                .base_url
                .unwrap_or_else(|| default_url.to_owned())
                .trim_end_matches('/')
                .to_owned(),
            key,
            headers: section.headers,
            command: section.command.unwrap_or_default(),
            timeout,
            max_retries: section.max_retries.unwrap_or(DEFAULT_MAX_RETRIES),
            client,
            in_flight: tokio::sync::Semaphore::new(
                section.concurrency.unwrap_or(DEFAULT_CONCURRENCY),
            ),
            next_start: tokio::sync::Mutex::new(Instant::now()),
            interval: section
                .requests_per_minute
                .map(|rpm| Duration::from_secs_f64(60.0 / f64::from(rpm))),
        })
    }

    /// The provider's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many times a failed request is retried.
    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// The environment variable the key was read from, if the provider sends one.
    pub fn key_env(&self) -> Option<&str> {
        self.key_env.as_deref()
    }

    /// Masks this provider's secrets in a text it sent back.
    pub fn redact(&self, text: &str) -> String {
        self.redactor.apply(text).into_owned()
    }

    /// Sends one request, within the provider's concurrency and rate limits, and returns the
    /// reply with the time the model took.
    pub async fn complete(
        &self,
        request: &ChatRequest,
    ) -> Result<(ChatReply, Duration), CallError> {
        let _permit = self
            .in_flight
            .acquire()
            .await
            .map_err(|_| CallError::fatal("the provider was shut down", "", false))?;
        self.pace().await;
        let started = Instant::now();
        let reply = match self.kind {
            ProviderKind::Offline => Ok(offline_reply(request)),
            ProviderKind::Openai => self.openai(request).await,
            ProviderKind::Anthropic => self.anthropic(request).await,
            ProviderKind::Exec => self.exec(request).await,
        };
        let mut reply = reply.map_err(|e| self.redact_error(e))?;
        reply.text = self.redactor.apply_owned(reply.text);
        let elapsed = match self.kind {
            ProviderKind::Offline => offline_latency(&reply),
            _ => started.elapsed(),
        };
        Ok((reply, elapsed))
    }

    fn redact_error(&self, mut error: CallError) -> CallError {
        let failure = match &mut error {
            CallError::Retryable { failure, .. }
            | CallError::Fatal { failure }
            | CallError::Auth { failure } => failure,
        };
        failure.cause = self
            .redactor
            .apply_owned(std::mem::take(&mut failure.cause));
        failure.detail = self
            .redactor
            .apply_owned(std::mem::take(&mut failure.detail));
        error
    }

    /// Waits for this request's start slot under `requests_per_minute`.
    async fn pace(&self) {
        let Some(interval) = self.interval else {
            return;
        };
        let start = {
            let mut next = self.next_start.lock().await;
            let start = (*next).max(Instant::now());
            *next = start + interval;
            start
        };
        tokio::time::sleep_until(start.into()).await;
    }

    fn http(&self) -> Result<&reqwest::Client, CallError> {
        self.client
            .as_ref()
            .ok_or_else(|| CallError::fatal("no HTTP client", "", false))
    }

    async fn openai(&self, request: &ChatRequest) -> Result<ChatReply, CallError> {
        let body = request_body(request, |_| true);
        let mut http = self
            .http()?
            .post(format!("{}/chat/completions", self.base_url))
            .json(&body);
        if let Some(key) = &self.key {
            http = http.bearer_auth(&key.0);
        }
        let answer = self.send(http).await?;
        let text = answer["choices"][0]["message"]["content"]
            .as_str()
            .ok_or_else(|| unreadable("choices[0].message.content"))?
            .to_owned();
        Ok(ChatReply {
            text,
            input_tokens: answer["usage"]["prompt_tokens"].as_u64().unwrap_or(0),
            output_tokens: answer["usage"]["completion_tokens"].as_u64().unwrap_or(0),
        })
    }

    async fn anthropic(&self, request: &ChatRequest) -> Result<ChatReply, CallError> {
        // The messages API takes system messages apart from the conversation.
        let mut body = request_body(request, |role| role != Role::System);
        body.entry("max_tokens").or_insert(json!(1024));
        let system: Vec<&str> = request
            .messages
            .iter()
            .filter(|m| m.role == Role::System)
            .map(|m| m.content.as_str())
            .collect();
        if !system.is_empty() {
            body.insert("system".into(), json!(system.join("\n\n")));
        }
        let mut http = self
            .http()?
            .post(format!("{}/v1/messages", self.base_url))
            .header("anthropic-version", "2023-06-01")
            .json(&body);
        if let Some(key) = &self.key {
            http = http.header("x-api-key", &key.0);
        }
        let answer = self.send(http).await?;
        let text: String = answer["content"]
            .as_array()
            .ok_or_else(|| unreadable("content"))?
            .iter()
            .filter_map(|block| block["text"].as_str())
            .collect();
        Ok(ChatReply {
            text,
            input_tokens: answer["usage"]["input_tokens"].as_u64().unwrap_or(0),
            output_tokens: answer["usage"]["output_tokens"].as_u64().unwrap_or(0),
        })
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
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64);
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

    async fn exec(&self, request: &ChatRequest) -> Result<ChatReply, CallError> {
        let (program, args) = self
            .command
            .split_first()
            .ok_or_else(|| CallError::fatal("no command", "", false))?;
        let mut child = tokio::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                CallError::fatal(format!("cannot run `{program}`"), e.to_string(), false)
            })?;
        let input = serde_json::to_vec(&json!({
            "model": request.model,
            "params": request.params,
            "messages": request.messages,
        }))
        .map_err(|e| CallError::fatal("cannot write the request", e.to_string(), false))?;
        let ran = tokio::time::timeout(self.timeout, self.exec_output(&mut child, &input)).await;
        let (status, stdout, stderr) = match ran {
            Err(_) => {
                let _ = child.kill().await;
                return Err(CallError::retryable(
                    "timed out",
                    format!("`{program}` did not answer within {:?}", self.timeout),
                    true,
                ));
            }
            Ok(result) => result?,
        };
        if !status.success() {
            let cause = match status.code() {
                Some(code) => format!("`{program}` exited with {code}"),
                None => format!("`{program}` was killed ({status})"),
            };
            return Err(CallError::fatal(
                cause,
                excerpt(&String::from_utf8_lossy(&stderr)),
                true,
            ));
        }
        let answer: Value = serde_json::from_slice(&stdout).map_err(|_| {
            CallError::fatal(
                format!("`{program}` printed no JSON"),
                format!(
                    "it must print JSON like {{\"text\": \"...\"}}, not: {}",
                    excerpt(&String::from_utf8_lossy(&stdout))
                ),
                true,
            )
        })?;
        let text = answer["text"].as_str().ok_or_else(|| {
            CallError::fatal(
                format!("`{program}` printed no text"),
                "its JSON has no \"text\" string",
                true,
            )
        })?;
        Ok(ChatReply {
            text: text.to_owned(),
            input_tokens: answer["input_tokens"].as_u64().unwrap_or(0),
            output_tokens: answer["output_tokens"].as_u64().unwrap_or(0),
        })
    }

    /// Feeds a command its input and reads its output, at most `max_reply_bytes` of it: a
    /// command that prints more is killed rather than read whole.
    async fn exec_output(
        &self,
        child: &mut tokio::process::Child,
        input: &[u8],
    ) -> Result<(std::process::ExitStatus, Vec<u8>, Vec<u8>), CallError> {
        use tokio::io::AsyncReadExt;
        if let Some(mut stdin) = child.stdin.take() {
            // A command that exits without reading its input is judged by its exit status.
            let _ = stdin.write_all(input).await;
        }
        // Stderr is read on its own task, so a command blocked writing it cannot stall the
        // read of stdout (and the other way round).
        let stderr = child.stderr.take().map(|stderr| {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let _ = stderr.take(MAX_STDERR_BYTES).read_to_end(&mut buf).await;
                buf
            })
        });
        let mut stdout = Vec::new();
        if let Some(out) = child.stdout.take() {
            let limit = self.max_reply_bytes;
            let _ = out.take(limit + 1).read_to_end(&mut stdout).await;
            if stdout.len() as u64 > limit {
                let _ = child.kill().await;
                return Err(too_large(limit));
            }
        }
        let status = child
            .wait()
            .await
            .map_err(|e| CallError::fatal("the command failed", e.to_string(), true))?;
        let stderr = match stderr {
            Some(task) => task.await.unwrap_or_default(),
            None => Vec::new(),
        };
        Ok((status, stdout, stderr))
    }
}

/// The JSON body both HTTP APIs share: the params as they are, the model, and the messages
/// whose role `keep` takes.
fn request_body(
    request: &ChatRequest,
    keep: impl Fn(Role) -> bool,
) -> serde_json::Map<String, Value> {
    let mut body: serde_json::Map<String, Value> = request
        .params
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    body.insert("model".into(), json!(request.model));
    let messages: Vec<Value> = request
        .messages
        .iter()
        .filter(|m| keep(m.role))
        .map(|m| json!({"role": m.role.as_str(), "content": m.content}))
        .collect();
    body.insert("messages".into(), Value::Array(messages));
    body
}

fn unreadable(what: &str) -> CallError {
    CallError::fatal(
        "unreadable answer",
        format!("the answer has no readable {what}"),
        true,
    )
}

fn too_large(limit: u64) -> CallError {
    CallError::fatal(
        "reply too large",
        format!("the reply is larger than {limit} bytes (the provider's `max_reply_bytes`)"),
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

/// The start of a response body, on one line, for error messages.
fn excerpt(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

/// The offline model: it answers with the content of every message, in order, separated by
/// a blank line. Tokens are counted as whitespace-separated words. It is deterministic and
/// needs nothing, so evals on it test what the prompt puts in front of a model.
pub fn offline_reply(request: &ChatRequest) -> ChatReply {
    let text = request
        .messages
        .iter()
        .map(|m| m.content.trim())
        .collect::<Vec<_>>()
        .join("\n\n");
    let words = |t: &str| t.split_whitespace().count() as u64;
    ChatReply {
        input_tokens: request.messages.iter().map(|m| words(&m.content)).sum(),
        output_tokens: words(&text),
        text,
    }
}

/// The offline model's latency: reported, never slept: 1 ms per 100 characters of reply.
fn offline_latency(reply: &ChatReply) -> Duration {
    Duration::from_micros(reply.text.len() as u64 * 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> ChatRequest {
        ChatRequest {
            provider: "offline".into(),
            model: "m".into(),
            params: BTreeMap::new(),
            messages: vec![
                RenderedMessage {
                    role: Role::System,
                    content: "Be brief.\n".into(),
                },
                RenderedMessage {
                    role: Role::User,
                    content: "I was charged twice".into(),
                },
            ],
        }
    }

    #[test]
    fn the_offline_model_echoes_the_conversation_deterministically() {
        let reply = offline_reply(&request());
        assert_eq!(reply.text, "Be brief.\n\nI was charged twice");
        assert_eq!((reply.input_tokens, reply.output_tokens), (6, 6));
        assert_eq!(offline_reply(&request()), reply);
        assert_eq!(offline_latency(&reply), Duration::from_micros(300));
    }

    #[test]
    fn undeclared_names_work_for_the_known_kinds_only() {
        let config = ProjectConfig::default();
        assert_eq!(
            provider_section(&config, "offline").unwrap().kind,
            ProviderKind::Offline
        );
        assert_eq!(
            provider_section(&config, "anthropic").unwrap().kind,
            ProviderKind::Anthropic
        );
        assert!(matches!(
            provider_section(&config, "mystery"),
            Err(ProviderError::Unknown { .. })
        ));
    }

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

    #[test]
    fn keys_never_print() {
        assert_eq!(format!("{:?}", Secret("sk-live-123".into())), "***");
    }

    #[test]
    fn excerpts_are_one_bounded_line() {
        let long = "word ".repeat(200);
        let cut = excerpt(&long);
        assert!(cut.chars().count() <= 301 && cut.ends_with('…'));
        assert_eq!(excerpt("a\n  b"), "a b");
    }
}
