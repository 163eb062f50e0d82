//! Model providers: the built-in offline model, and clients for OpenAI-compatible chat
//! completions, Anthropic's messages API and local commands, each with its own limits.
//!
//! API keys are read from the environment when a provider is first needed, kept in a type
//! that never prints them, and sent only in request headers.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::config::{ProjectConfig, ProviderKind, ProviderSection};
use crate::prompt::{RenderedMessage, Role};

/// Requests in flight per provider when its table sets no `concurrency`.
const DEFAULT_CONCURRENCY: usize = 64;
/// Seconds before a request is abandoned when its table sets no `timeout`.
const DEFAULT_TIMEOUT_SECS: f64 = 60.0;
/// Retries of a failed request when its table sets no `max_retries`.
const DEFAULT_MAX_RETRIES: u32 = 6;

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

/// Why a call failed.
#[derive(Debug, Clone, PartialEq)]
pub enum CallError {
    /// Worth trying again: 429, 5xx, a timeout, a dropped connection.
    Retryable {
        message: String,
        retry_after: Option<Duration>,
    },
    /// Not worth trying again: a 4xx, an answer that cannot be read.
    Fatal { message: String },
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Retryable { message, .. } | CallError::Fatal { message } => {
                f.write_str(message)
            }
        }
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
        let (default_url, default_key) = match section.kind {
            ProviderKind::Openai => ("https://api.openai.com/v1", Some("OPENAI_API_KEY")),
            ProviderKind::Anthropic => ("https://api.anthropic.com", Some("ANTHROPIC_API_KEY")),
            ProviderKind::Exec | ProviderKind::Offline => ("", None),
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
        Ok(Provider {
            name: name.to_owned(),
            kind: section.kind,
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
            .map_err(|_| CallError::Fatal {
                message: "the provider was shut down".into(),
            })?;
        self.pace().await;
        let started = Instant::now();
        let reply = match self.kind {
            ProviderKind::Offline => Ok(offline_reply(request)),
            ProviderKind::Openai => self.openai(request).await,
            ProviderKind::Anthropic => self.anthropic(request).await,
            ProviderKind::Exec => self.exec(request).await,
        }?;
        let elapsed = match self.kind {
            ProviderKind::Offline => offline_latency(&reply),
            _ => started.elapsed(),
        };
        Ok((reply, elapsed))
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
        self.client.as_ref().ok_or_else(|| CallError::Fatal {
            message: "no HTTP client".into(),
        })
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
        let response = http.send().await.map_err(|e| CallError::Retryable {
            message: format!("request failed: {}", without_url(&e)),
            retry_after: None,
        })?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64);
        let body = response.text().await.map_err(|e| CallError::Retryable {
            message: format!("reading the answer failed: {}", without_url(&e)),
            retry_after: None,
        })?;
        if status.is_success() {
            return serde_json::from_str(&body).map_err(|_| unreadable("the body"));
        }
        let message = format!("HTTP {status}: {}", excerpt(&body));
        if status.as_u16() == 429 || status.as_u16() == 408 || status.is_server_error() {
            Err(CallError::Retryable {
                message,
                retry_after,
            })
        } else {
            Err(CallError::Fatal { message })
        }
    }

    async fn exec(&self, request: &ChatRequest) -> Result<ChatReply, CallError> {
        let (program, args) = self.command.split_first().ok_or_else(|| CallError::Fatal {
            message: "no command".into(),
        })?;
        let fatal = |message: String| CallError::Fatal { message };
        let mut child = tokio::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| fatal(format!("cannot run `{program}`: {e}")))?;
        let input = serde_json::to_vec(&json!({
            "model": request.model,
            "params": request.params,
            "messages": request.messages,
        }))
        .map_err(|e| fatal(e.to_string()))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A command that exits without reading its input is judged by its exit status.
            let _ = stdin.write_all(&input).await;
        }
        let output = tokio::time::timeout(self.timeout, child.wait_with_output())
            .await
            .map_err(|_| CallError::Retryable {
                message: format!("`{program}` did not answer within {:?}", self.timeout),
                retry_after: None,
            })?
            .map_err(|e| fatal(format!("`{program}` failed: {e}")))?;
        if !output.status.success() {
            return Err(fatal(format!(
                "`{program}` exited with {}: {}",
                output.status,
                excerpt(&String::from_utf8_lossy(&output.stderr))
            )));
        }
        let answer: Value = serde_json::from_slice(&output.stdout).map_err(|_| {
            fatal(format!(
                "`{program}` must print JSON like {{\"text\": \"...\"}}, not: {}",
                excerpt(&String::from_utf8_lossy(&output.stdout))
            ))
        })?;
        let text = answer["text"].as_str().ok_or_else(|| {
            fatal(format!(
                "`{program}` printed JSON without a \"text\" string"
            ))
        })?;
        Ok(ChatReply {
            text: text.to_owned(),
            input_tokens: answer["input_tokens"].as_u64().unwrap_or(0),
            output_tokens: answer["output_tokens"].as_u64().unwrap_or(0),
        })
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
    CallError::Fatal {
        message: format!("the answer has no readable {what}"),
    }
}

/// A reqwest error without the URL, which may carry a key in a query string.
fn without_url(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "transport error"
    };
    let mut source = std::error::Error::source(error);
    let mut detail = String::new();
    while let Some(inner) = source {
        detail = inner.to_string();
        source = inner.source();
    }
    if detail.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind} ({detail})")
    }
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
