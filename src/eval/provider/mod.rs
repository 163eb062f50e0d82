//! Model providers: the built-in offline model, and clients for OpenAI-compatible chat
//! completions, Anthropic's messages API and local commands, each with its own limits.
//!
//! API keys are read from the environment when a provider is first needed, kept in a type
//! that never prints them, and sent only in request headers. Everything a provider sends
//! back (replies, error bodies, a command's stderr) is bounded in size and has the key and
//! the configured header values masked before it leaves this module.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

mod exec;
mod http;
mod offline;
mod params;

pub use offline::offline_reply;

pub use params::{ParamProblem, param_problems};

use super::redact::Redactor;
use crate::config::{ProjectConfig, ProviderKind, ProviderSection};
use crate::prompt::request::{Conversation, Exchange};
use crate::prompt::{Contract, RenderedMessage, ToolCall};

/// Requests in flight per provider when its table sets no `concurrency`.
const DEFAULT_CONCURRENCY: usize = 64;
/// Seconds before a request is abandoned when its table sets no `timeout`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Retries of a failed request when its table sets no `max_retries`.
const DEFAULT_MAX_RETRIES: u32 = 8;
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
    /// The output format and tools: shared by every request of a prompt version.
    #[serde(skip_serializing_if = "Contract::is_empty")]
    pub contract: Arc<Contract>,
    /// Rounds of tool calls fed back, after the messages.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exchanges: Vec<Exchange>,
}

impl ChatRequest {
    /// A request of plain messages: no output format, no tools.
    pub fn plain(
        provider: impl Into<String>,
        model: impl Into<String>,
        params: BTreeMap<String, Value>,
        messages: Vec<RenderedMessage>,
    ) -> Self {
        ChatRequest {
            provider: provider.into(),
            model: model.into(),
            params,
            messages,
            contract: Arc::default(),
            exchanges: Vec::new(),
        }
    }

    /// The request as the prompt layer writes bodies from it.
    pub fn conversation(&self) -> Conversation<'_> {
        Conversation {
            model: &self.model,
            params: &self.params,
            messages: &self.messages,
            contract: &self.contract,
            exchanges: &self.exchanges,
        }
    }
}

/// What a model answered.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ChatReply {
    pub text: String,
    /// The tools the model called, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
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
    /// The API's endpoint under `base_url`, parsed once: a URL parsed per request was a
    /// tenth of a run's instructions.
    endpoint: Option<reqwest::Url>,
    key: Option<Secret>,
    /// The environment variable the key came from, for hints.
    key_env: Option<String>,
    redactor: Redactor,
    max_reply_bytes: u64,
    headers: BTreeMap<String, String>,
    command: Vec<String>,
    /// Where an `exec` command runs: the project root.
    root: std::path::PathBuf,
    timeout: Duration,
    max_retries: u32,
    client: Option<reqwest::Client>,
    in_flight: tokio::sync::Semaphore,
    /// The most requests in flight its table allows (its `concurrency`).
    concurrency: usize,
    /// The earliest time the next request may start, for `requests_per_minute`.
    next_start: tokio::sync::Mutex<Instant>,
    interval: Option<Duration>,
}

/// The provider names that work without a `[providers.NAME]` table, and their kinds.
pub const BUILT_IN_PROVIDERS: [(&str, ProviderKind); 3] = [
    ("offline", ProviderKind::Offline),
    ("openai", ProviderKind::Openai),
    ("anthropic", ProviderKind::Anthropic),
];

/// The URL of an HTTP kind's endpoint under its base URL (no trailing `/`), as text.
pub(super) fn endpoint_text(kind: ProviderKind, base_url: &str) -> Option<String> {
    let path = match kind {
        ProviderKind::Openai => "/chat/completions",
        ProviderKind::Anthropic => "/v1/messages",
        _ => return None,
    };
    Some(format!("{base_url}{path}"))
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
    let Some((_, kind)) = BUILT_IN_PROVIDERS.iter().find(|(known, _)| *known == name) else {
        return Err(ProviderError::Unknown {
            name: name.to_owned(),
        });
    };
    let kind = *kind;
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
        inputs: None,
        max_reply_bytes: None,
    })
}

impl Provider {
    /// Sets up provider `name`, reading its key from the environment.
    /// `root` is the project root, where an `exec` command runs whatever the caller's folder.
    pub fn open(
        config: &ProjectConfig,
        root: &std::path::Path,
        name: &str,
    ) -> Result<Provider, ProviderError> {
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
        let timeout = match &section.timeout {
            Some(setting) => crate::config::PROVIDER_TIMEOUT
                .setting(setting)
                .map_err(|why| setup(format!("`timeout`: {why}")))?,
            None => DEFAULT_TIMEOUT,
        };
        let client = match section.kind {
            ProviderKind::Openai | ProviderKind::Anthropic => Some(
                crate::base::http::client()
                    .timeout(timeout)
                    .connect_timeout(timeout.min(crate::base::http::DEFAULT_TIMEOUT))
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
        let base_url = section
            .base_url
            .unwrap_or_else(|| default_url.to_owned())
            .trim_end_matches('/')
            .to_owned();
        Ok(Provider {
            name: name.to_owned(),
            kind: section.kind,
            key_env: key.as_ref().and(key_env),
            redactor,
            max_reply_bytes: section.max_reply_bytes.unwrap_or(DEFAULT_MAX_REPLY_BYTES),
            endpoint: endpoint_text(section.kind, &base_url)
                .and_then(|text| reqwest::Url::parse(&text).ok()),
            base_url,
            key,
            headers: section.headers,
            command: section.command.unwrap_or_default(),
            root: root.to_owned(),
            timeout,
            max_retries: section.max_retries.unwrap_or(DEFAULT_MAX_RETRIES),
            client,
            concurrency: section.concurrency.unwrap_or(DEFAULT_CONCURRENCY),
            in_flight: tokio::sync::Semaphore::new(
                section.concurrency.unwrap_or(DEFAULT_CONCURRENCY),
            ),
            next_start: tokio::sync::Mutex::new(Instant::now()),
            interval: section
                .requests_per_minute
                .map(|rpm| Duration::from_secs(60) / rpm),
        })
    }

    /// The provider's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many times a failed request is retried.
    /// The most requests in flight its table allows.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// The environment variable the key was read from, if the provider sends one.
    pub fn key_env(&self) -> Option<&str> {
        self.key_env.as_deref()
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
        for call in &mut reply.tool_calls {
            if let Value::String(raw) = &mut call.arguments {
                *raw = self.redactor.apply_owned(std::mem::take(raw));
            } else if self.redactor.is_active() {
                let text = self.redactor.apply_owned(call.arguments.to_string());
                call.arguments = crate::prompt::request::arguments_from_text(&text);
            }
        }
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
}

/// The error of a reply past `max_reply_bytes`.
fn too_large(limit: u64) -> CallError {
    CallError::fatal(
        "reply too large",
        format!("the reply is larger than {limit} bytes (the provider's `max_reply_bytes`)"),
        true,
    )
}

/// The start of a response body, on one line, for error messages.
fn excerpt(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

/// The offline model's latency: reported, never slept: 1 ms per 100 characters of reply.
fn offline_latency(reply: &ChatReply) -> Duration {
    Duration::from_micros(reply.text.len() as u64 * 10)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompt::Role;

    fn request() -> ChatRequest {
        ChatRequest::plain(
            "offline",
            "m",
            BTreeMap::new(),
            vec![
                RenderedMessage {
                    role: Role::System,
                    content: "Be brief.\n".into(),
                },
                RenderedMessage {
                    role: Role::User,
                    content: "I was charged twice".into(),
                },
            ],
        )
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
