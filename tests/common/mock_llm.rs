//! A real HTTP server on 127.0.0.1 that speaks the OpenAI chat completions API, for tests
//! and benchmarks: configurable latency, a share of 429 answers, and counters.
//!
//! It also answers Anthropic's messages API on `/v1/messages`. Its model answers with the
//! last line of the system message, then ` | `, then the last user message, so a test knows
//! every answer in advance.
//!
//! Every body is first checked against the request schema of its API
//! (`tests/common/api/*.json`, written from the APIs' references); a body that breaks it
//! gets a 400 with the first violation, as the real APIs refuse it.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How the mock behaves.
#[derive(Debug, Clone, Default)]
pub struct MockConfig {
    /// How long each answer takes.
    pub latency: Duration,
    /// Answer every Nth request (1-based count) with 429 instead.
    pub rate_limit_every: Option<usize>,
    /// Answer every request with this status and body instead; `{KEY}` in the body is
    /// replaced by the key the request carried, as real providers echo it.
    pub fail_with: Option<(u16, String)>,
    /// Bytes of padding added to every answer's text.
    pub pad_reply: usize,
    /// Answer with this text instead of the echo (a judge that never gives a verdict).
    pub text: Option<String>,
    /// The `Retry-After` of a 429, `0` when none is set; `none` sends no header.
    pub retry_after: Option<String>,
    /// Answer a request that offers tools and carries no tool result yet with a call of
    /// this tool with these arguments.
    pub tool_call: Option<(String, serde_json::Value)>,
}

/// A running mock; it stops when the process ends.
pub struct MockLlm {
    pub url: String,
    /// Requests answered with 200.
    pub answered: Arc<AtomicUsize>,
    /// Requests answered with 429, or with `fail_with`.
    pub limited: Arc<AtomicUsize>,
    /// Every `Authorization` (or `x-api-key`) header received.
    pub authorizations: Arc<Mutex<Vec<String>>>,
    /// Every body received, in order.
    pub bodies: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl MockLlm {
    pub fn start(config: MockConfig) -> MockLlm {
        MockLlm::start_on(config, None)
    }

    /// Starts the mock behind TLS with `server`'s certificate: its URL is
    /// `https://localhost:PORT/v1`.
    pub fn start_tls(config: MockConfig, server: Arc<rustls::ServerConfig>) -> MockLlm {
        MockLlm::start_on(config, Some(server))
    }

    fn start_on(config: MockConfig, tls: Option<Arc<rustls::ServerConfig>>) -> MockLlm {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the mock");
        let port = listener.local_addr().unwrap().port();
        let url = match tls {
            Some(_) => format!("https://localhost:{port}/v1"),
            None => format!("http://127.0.0.1:{port}/v1"),
        };
        let mock = MockLlm {
            url,
            answered: Arc::new(AtomicUsize::new(0)),
            limited: Arc::new(AtomicUsize::new(0)),
            authorizations: Arc::new(Mutex::new(Vec::new())),
            bodies: Arc::new(Mutex::new(Vec::new())),
        };
        let shared = Shared {
            bodies: Arc::clone(&mock.bodies),
            config,
            count: Arc::new(AtomicUsize::new(0)),
            answered: Arc::clone(&mock.answered),
            limited: Arc::clone(&mock.limited),
            authorizations: Arc::clone(&mock.authorizations),
        };
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = shared.clone();
                let tls = tls.clone();
                std::thread::spawn(move || match tls {
                    Some(config) => {
                        let Ok(connection) = rustls::ServerConnection::new(config) else {
                            return;
                        };
                        serve(rustls::StreamOwned::new(connection, stream), &shared);
                    }
                    None => serve(stream, &shared),
                });
            }
        });
        mock
    }

    /// Requests received so far, answered or limited.
    pub fn requests(&self) -> usize {
        self.answered.load(Ordering::SeqCst) + self.limited.load(Ordering::SeqCst)
    }
}

#[derive(Clone)]
struct Shared {
    config: MockConfig,
    count: Arc<AtomicUsize>,
    answered: Arc<AtomicUsize>,
    limited: Arc<AtomicUsize>,
    authorizations: Arc<Mutex<Vec<String>>>,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
}

/// The request schema of each API, compiled once.
fn validators() -> &'static [jsonschema::Validator; 2] {
    static VALIDATORS: std::sync::OnceLock<[jsonschema::Validator; 2]> = std::sync::OnceLock::new();
    VALIDATORS.get_or_init(|| {
        let compile = |text: &str| {
            let schema: serde_json::Value = serde_json::from_str(text).unwrap();
            jsonschema::draft202012::new(&schema).unwrap()
        };
        [
            compile(include_str!("api/openai_chat.json")),
            compile(include_str!("api/anthropic_messages.json")),
        ]
    })
}

/// The first way a body breaks its API's request schema.
fn invalid_body(body: &[u8], anthropic: bool) -> Option<String> {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Some("the body is not JSON".into());
    };
    let validator = &validators()[usize::from(anthropic)];
    validator
        .iter_errors(&value)
        .next()
        .map(|e| format!("{} at `{}`", e, e.instance_path().as_str()))
}

/// Serves requests on one connection until the client closes it.
fn serve(stream: impl Read + Write, shared: &Shared) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0usize;
        let mut key = String::new();
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let name = name.trim().to_ascii_lowercase();
                if name == "content-length" {
                    length = value.trim().parse().unwrap_or(0);
                } else if name == "authorization" || name == "x-api-key" {
                    key = value.trim().trim_start_matches("Bearer ").to_owned();
                    shared
                        .authorizations
                        .lock()
                        .unwrap()
                        .push(value.trim().to_owned());
                }
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let n = shared.count.fetch_add(1, Ordering::SeqCst) + 1;
        std::thread::sleep(shared.config.latency);
        let (status, payload, extra) = match shared.config.rate_limit_every {
            _ if shared.config.fail_with.is_some() => {
                shared.limited.fetch_add(1, Ordering::SeqCst);
                let (code, body) = shared.config.fail_with.clone().unwrap();
                (
                    match code {
                        401 => "401 Unauthorized",
                        403 => "403 Forbidden",
                        500 => "500 Internal Server Error",
                        _ => "400 Bad Request",
                    },
                    body.replace("{KEY}", &key),
                    "",
                )
            }
            Some(every) if n.is_multiple_of(every) => {
                shared.limited.fetch_add(1, Ordering::SeqCst);
                (
                    "429 Too Many Requests",
                    "{\"error\": {\"message\": \"slow down\"}}".to_owned(),
                    retry_after_header(&shared.config),
                )
            }
            _ => {
                let anthropic = request_line.contains("/v1/messages");
                if let Ok(value) = serde_json::from_slice(&body) {
                    shared.bodies.lock().unwrap().push(value);
                }
                match invalid_body(&body, anthropic) {
                    Some(why) => {
                        shared.limited.fetch_add(1, Ordering::SeqCst);
                        let error = serde_json::json!({"error": {"type": "invalid_request_error", "message": why}});
                        ("400 Bad Request", error.to_string(), "")
                    }
                    None => {
                        shared.answered.fetch_add(1, Ordering::SeqCst);
                        ("200 OK", answer(&body, anthropic, &shared.config), "")
                    }
                }
            }
        };
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}\r\n{payload}",
            payload.len()
        );
        let writer = reader.get_mut();
        if writer
            .write_all(response.as_bytes())
            .and_then(|()| writer.flush())
            .is_err()
        {
            return;
        }
    }
}

/// The mock model: the system message's last line, ` | `, the last user message, in the
/// OpenAI or the Anthropic shape.
fn answer(body: &[u8], anthropic: bool, config: &MockConfig) -> String {
    let request: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let messages = request["messages"].as_array().cloned().unwrap_or_default();
    let last = |role: &str| {
        messages
            .iter()
            .rev()
            .find(|m| m["role"] == role)
            .and_then(|m| m["content"].as_str())
            .unwrap_or("")
            .to_owned()
    };
    let system = request["system"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| last("system"));
    let system_line = system.trim().lines().last().unwrap_or("").trim().to_owned();
    let results: Vec<String> = messages
        .iter()
        .filter(|m| m["role"] == "tool")
        .filter_map(|m| m["content"].as_str().map(str::to_owned))
        .chain(
            messages
                .iter()
                .filter_map(|m| m["content"].as_array())
                .flatten()
                .filter(|b| b["type"] == "tool_result")
                .filter_map(|b| b["content"].as_str().map(str::to_owned)),
        )
        .collect();
    if let Some((name, arguments)) = &config.tool_call
        && request["tools"].is_array()
        && results.is_empty()
    {
        return tool_call_answer(anthropic, name, arguments);
    }
    let mut text = match &config.text {
        Some(text) => text.clone(),
        None => {
            let mut echo = format!("{system_line} | {}", last("user").trim());
            for result in &results {
                echo.push_str(&format!(" | {result}"));
            }
            echo
        }
    };
    text.push_str(&"x".repeat(config.pad_reply));
    let words = text.split_whitespace().count();
    if anthropic {
        return serde_json::json!({
            "id": "mock",
            "type": "message",
            "role": "assistant",
            "content": [{"type": "text", "text": text}],
            "usage": {"input_tokens": 10 * messages.len(), "output_tokens": words},
        })
        .to_string();
    }
    serde_json::json!({
        "id": "mock",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10 * messages.len(), "completion_tokens": words},
    })
    .to_string()
}

/// An answer that calls one tool, in the API's shape.
fn tool_call_answer(anthropic: bool, name: &str, arguments: &serde_json::Value) -> String {
    if anthropic {
        return serde_json::json!({
            "id": "mock", "type": "message", "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": name, "input": arguments}],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 10, "output_tokens": 5},
        })
        .to_string();
    }
    serde_json::json!({
        "id": "mock", "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments.to_string()}}
        ]}, "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5},
    })
    .to_string()
}

fn retry_after_header(config: &MockConfig) -> &'static str {
    let value = config.retry_after.as_deref().unwrap_or("0");
    if value == "none" {
        return "";
    }
    Box::leak(format!("Retry-After: {value}\r\n").into_boxed_str())
}
