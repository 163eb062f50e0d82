//! The request bodies of the provider APIs for a rendered prompt: OpenAI's chat completions
//! and Anthropic's messages, with the output format, the tools and any rounds of tool calls
//! fed back. Evals send these bodies, and `render --request`, `/v1/render` and the client
//! print them (through [`PromptSpec::request_body`]), so a service sends exactly what was
//! evaluated.
//!
//! Shapes as the APIs document them: OpenAI `response_format` (`json_schema` or
//! `json_object`), `tools` of `type: function`, `tool_choice`, tool results as `role: tool`
//! messages; Anthropic `system` apart, `max_tokens` required, `output_config.format`
//! (`json_schema`), `tools` with `input_schema`, `tool_choice` by `type`, tool calls as
//! `tool_use` blocks and results as `tool_result` blocks.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{Contract, OutputFormat, PromptSpec, RenderedMessage, Role, ToolCall, ToolChoice};

/// The `max_tokens` sent to Anthropic when the prompt's params set none: the API requires it.
pub const ANTHROPIC_DEFAULT_MAX_TOKENS: u64 = 1024;
/// The `anthropic-version` header value the bodies are written for.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// The provider API a body is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    /// OpenAI chat completions (and every server compatible with it).
    Openai,
    /// Anthropic's messages API.
    Anthropic,
}

impl Api {
    /// Reads `openai` or `anthropic`.
    pub fn parse(text: &str) -> Option<Api> {
        match text {
            "openai" => Some(Api::Openai),
            "anthropic" => Some(Api::Anthropic),
            _ => None,
        }
    }
}

/// One round of tool calls: what the model answered, and the results fed back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exchange {
    /// The text the model gave beside its calls (often empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    pub calls: Vec<ToolCall>,
    /// The result of each call, in the calls' order.
    pub results: Vec<String>,
}

/// Everything a body is made of.
#[derive(Debug, Clone, Copy)]
pub struct Conversation<'a> {
    pub model: &'a str,
    pub params: &'a BTreeMap<String, Value>,
    pub messages: &'a [RenderedMessage],
    pub contract: &'a Contract,
    pub exchanges: &'a [Exchange],
}

impl PromptSpec {
    /// The complete body of `api` for this version rendered as `messages`: the model,
    /// params, messages, output format and tools, with no round of tool calls yet.
    pub fn request_body(&self, api: Api, messages: &[RenderedMessage]) -> Map<String, Value> {
        request_body(
            api,
            &Conversation {
                model: &self.model,
                params: &self.params,
                messages,
                contract: &self.contract,
                exchanges: &[],
            },
        )
    }

    /// The `[params]` entries the contract replaces in every body, each with what writes
    /// it (`[output]`, `[[tools]]`, `tool_choice`).
    pub fn overwritten_params(&self) -> Vec<(&'static str, &'static str)> {
        const CONTRACT_KEYS: [(&str, &str); 5] = [
            ("response_format", "[output]"),
            ("output_config", "[output]"),
            ("output_format", "[output]"),
            ("tools", "[[tools]]"),
            ("tool_choice", "tool_choice"),
        ];
        CONTRACT_KEYS
            .into_iter()
            .filter(|(key, owner)| {
                let declared = match *owner {
                    "[output]" => self.contract.output.is_some(),
                    _ => !self.contract.tools.is_empty(),
                };
                declared && self.params.contains_key(*key)
            })
            .collect()
    }
}

/// The body to send to `api`.
pub fn request_body(api: Api, conversation: &Conversation) -> Map<String, Value> {
    match api {
        Api::Openai => openai_body(conversation),
        Api::Anthropic => anthropic_body(conversation),
    }
}

/// The params as they are, then the model: the fields every body starts from.
fn base(conversation: &Conversation) -> Map<String, Value> {
    let mut body: Map<String, Value> = conversation
        .params
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    body.insert("model".into(), json!(conversation.model));
    body
}

fn openai_body(conversation: &Conversation) -> Map<String, Value> {
    let mut body = base(conversation);
    let mut messages: Vec<Value> = conversation
        .messages
        .iter()
        .map(|m| json!({"role": m.role.as_str(), "content": m.content}))
        .collect();
    for exchange in conversation.exchanges {
        let calls: Vec<Value> = exchange
            .calls
            .iter()
            .map(|call| {
                json!({"id": call.id, "type": "function", "function": {"name": call.name, "arguments": arguments_text(&call.arguments)}})
            })
            .collect();
        let content = if exchange.text.is_empty() {
            Value::Null
        } else {
            json!(exchange.text)
        };
        messages.push(json!({"role": "assistant", "content": content, "tool_calls": calls}));
        for (call, result) in exchange.calls.iter().zip(&exchange.results) {
            messages.push(json!({"role": "tool", "tool_call_id": call.id, "content": result}));
        }
    }
    body.insert("messages".into(), Value::Array(messages));
    let contract = conversation.contract;
    if let Some(output) = contract
        .output
        .as_ref()
        .filter(|o| o.format == OutputFormat::Json)
    {
        let format = match &output.schema {
            Some(schema) => json!({"type": "json_schema", "json_schema": {
                "name": output.schema_name(), "schema": schema, "strict": output.strict,
            }}),
            None => json!({"type": "json_object"}),
        };
        body.insert("response_format".into(), format);
    }
    if !contract.tools.is_empty() {
        let tools: Vec<Value> = contract
            .tools
            .iter()
            .map(|tool| {
                let mut function = Map::new();
                function.insert("name".into(), json!(tool.name));
                if let Some(description) = &tool.description {
                    function.insert("description".into(), json!(description));
                }
                function.insert("parameters".into(), Value::clone(&tool.parameters));
                if tool.strict {
                    function.insert("strict".into(), json!(true));
                }
                json!({"type": "function", "function": function})
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = &contract.tool_choice {
        let choice = match choice {
            ToolChoice::Tool(name) => json!({"type": "function", "function": {"name": name}}),
            other => json!(other.as_str()),
        };
        body.insert("tool_choice".into(), choice);
    }
    body
}

fn anthropic_body(conversation: &Conversation) -> Map<String, Value> {
    let mut body = base(conversation);
    body.entry("max_tokens")
        .or_insert(json!(ANTHROPIC_DEFAULT_MAX_TOKENS));
    // The messages API takes system messages apart from the conversation.
    let system: Vec<&str> = conversation
        .messages
        .iter()
        .filter(|m| m.role == Role::System)
        .map(|m| m.content.as_str())
        .collect();
    if !system.is_empty() {
        body.insert("system".into(), json!(system.join("\n\n")));
    }
    let mut messages: Vec<Value> = conversation
        .messages
        .iter()
        .filter(|m| m.role != Role::System)
        .map(|m| json!({"role": m.role.as_str(), "content": m.content}))
        .collect();
    for exchange in conversation.exchanges {
        let mut blocks = Vec::new();
        if !exchange.text.is_empty() {
            blocks.push(json!({"type": "text", "text": exchange.text}));
        }
        for call in &exchange.calls {
            blocks.push(json!({"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}));
        }
        messages.push(json!({"role": "assistant", "content": blocks}));
        let results: Vec<Value> = exchange
            .calls
            .iter()
            .zip(&exchange.results)
            .map(|(call, result)| json!({"type": "tool_result", "tool_use_id": call.id, "content": result}))
            .collect();
        messages.push(json!({"role": "user", "content": results}));
    }
    body.insert("messages".into(), Value::Array(messages));
    let contract = conversation.contract;
    if let Some(schema) = contract.output_schema() {
        body.insert(
            "output_config".into(),
            json!({"format": {"type": "json_schema", "schema": schema}}),
        );
    }
    if !contract.tools.is_empty() {
        let tools: Vec<Value> = contract
            .tools
            .iter()
            .map(|tool| {
                let mut entry = Map::new();
                entry.insert("name".into(), json!(tool.name));
                if let Some(description) = &tool.description {
                    entry.insert("description".into(), json!(description));
                }
                entry.insert("input_schema".into(), Value::clone(&tool.parameters));
                if tool.strict {
                    entry.insert("strict".into(), json!(true));
                }
                Value::Object(entry)
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = &contract.tool_choice {
        let choice = match choice {
            ToolChoice::Auto => json!({"type": "auto"}),
            ToolChoice::Required => json!({"type": "any"}),
            ToolChoice::None => json!({"type": "none"}),
            ToolChoice::Tool(name) => json!({"type": "tool", "name": name}),
        };
        body.insert("tool_choice".into(), choice);
    }
    body
}

/// OpenAI sends and takes a call's arguments as a JSON string.
fn arguments_text(arguments: &Value) -> String {
    match arguments {
        Value::String(raw) => raw.clone(),
        other => other.to_string(),
    }
}

/// Reads a call's arguments as OpenAI gives them (a JSON string): the JSON value, or the
/// string itself when it is not JSON, for the schema check to refuse.
pub fn arguments_from_text(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// What a reply body of `api` says: the text, the tool calls, and the tokens in and out;
/// `Err` names the field that could not be read.
pub fn read_reply(api: Api, answer: &Value) -> Result<ParsedReply, &'static str> {
    match api {
        Api::Openai => {
            let message = &answer["choices"][0]["message"];
            if !message.is_object() {
                return Err("choices[0].message");
            }
            let calls = message["tool_calls"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            let tool_calls = calls
                .iter()
                .map(|call| {
                    let function = &call["function"];
                    Ok(ToolCall {
                        id: call["id"].as_str().unwrap_or_default().to_owned(),
                        name: function["name"]
                            .as_str()
                            .ok_or("tool_calls[].function.name")?
                            .to_owned(),
                        arguments: arguments_from_text(
                            function["arguments"].as_str().unwrap_or(""),
                        ),
                    })
                })
                .collect::<Result<Vec<_>, &'static str>>()?;
            let text = match &message["content"] {
                Value::String(text) => text.clone(),
                Value::Null if !tool_calls.is_empty() => String::new(),
                _ => return Err("choices[0].message.content"),
            };
            Ok(ParsedReply {
                text,
                tool_calls,
                input_tokens: answer["usage"]["prompt_tokens"].as_u64().unwrap_or(0),
                output_tokens: answer["usage"]["completion_tokens"].as_u64().unwrap_or(0),
            })
        }
        Api::Anthropic => {
            let blocks = answer["content"].as_array().ok_or("content")?;
            let mut text = String::new();
            let mut tool_calls = Vec::new();
            for block in blocks {
                match block["type"].as_str() {
                    Some("tool_use") => tool_calls.push(ToolCall {
                        id: block["id"].as_str().unwrap_or_default().to_owned(),
                        name: block["name"].as_str().ok_or("content[].name")?.to_owned(),
                        arguments: block["input"].clone(),
                    }),
                    _ => text.push_str(block["text"].as_str().unwrap_or_default()),
                }
            }
            Ok(ParsedReply {
                text,
                tool_calls,
                input_tokens: answer["usage"]["input_tokens"].as_u64().unwrap_or(0),
                output_tokens: answer["usage"]["output_tokens"].as_u64().unwrap_or(0),
            })
        }
    }
}

/// A reply body read.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedReply {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    pub input_tokens: u64,
    pub output_tokens: u64,
}
