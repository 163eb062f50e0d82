//! The offline model: deterministic, needing nothing, so that evals on it test what the
//! prompt puts in front of a model. It echoes the conversation; given an output schema it
//! answers with a document of that schema built from the conversation, and given tools it
//! calls the one the conversation names (docs/contract.md, "The offline model").

use serde_json::{Map, Value, json};

use super::{ChatReply, ChatRequest};
use crate::prompt::{OutputFormat, Role, ToolCall, ToolChoice};

/// The deepest a schema is followed when the offline model builds a document of it.
const MAX_DEPTH: usize = 32;

/// Answers a request: a tool call when the prompt has tools and the conversation names one
/// (or must call one) and none was called yet; else the conversation, as a document of the
/// output schema when there is one, as text otherwise. Tokens are whitespace-separated
/// words.
pub fn offline_reply(request: &ChatRequest) -> ChatReply {
    let mut parts: Vec<&str> = request.messages.iter().map(|m| m.content.trim()).collect();
    for exchange in &request.exchanges {
        parts.extend(exchange.results.iter().map(|r| r.trim()));
    }
    let echo = parts.join("\n\n");
    let words = |t: &str| t.split_whitespace().count() as u64;
    let input_tokens = request.messages.iter().map(|m| words(&m.content)).sum();
    let context = Context {
        echo: &echo,
        last_user: request
            .messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .map_or("", |m| m.content.trim()),
    };
    if request.exchanges.is_empty()
        && let Some(call) = tool_call(request, &context)
    {
        let output_tokens = words(&call.arguments.to_string());
        return ChatReply {
            text: String::new(),
            tool_calls: vec![call],
            input_tokens,
            output_tokens,
        };
    }
    let text = match &request.contract.output {
        Some(output) if output.format == OutputFormat::Json => match &output.schema {
            Some(schema) => document(schema, &context, 0).to_string(),
            None => Value::String(echo.clone()).to_string(),
        },
        _ => echo.clone(),
    };
    ChatReply {
        output_tokens: words(&text),
        text,
        tool_calls: Vec::new(),
        input_tokens,
    }
}

struct Context<'a> {
    /// Every message and tool result, in order.
    echo: &'a str,
    /// The last user message: what a string is filled with.
    last_user: &'a str,
}

/// The call the offline model makes: the tool `tool_choice` names; else the tool the
/// conversation mentions last; else, when a call is required, the first tool.
fn tool_call(request: &ChatRequest, context: &Context) -> Option<ToolCall> {
    let contract = &request.contract;
    let tool = match &contract.tool_choice {
        Some(ToolChoice::None) => None,
        Some(ToolChoice::Tool(name)) => contract.tool(name),
        choice => contract
            .tools
            .iter()
            .filter_map(|t| context.echo.rfind(t.name.as_str()).map(|at| (at, t)))
            .max_by_key(|(at, _)| *at)
            .map(|(_, t)| t)
            .or_else(|| {
                (choice == &Some(ToolChoice::Required))
                    .then(|| contract.tools.first())
                    .flatten()
            }),
    }?;
    Some(ToolCall {
        id: "call_1".into(),
        name: tool.name.clone(),
        arguments: document(&tool.parameters, context, 0),
    })
}

/// A document of a schema built from the conversation: `const`; the enum value mentioned
/// last (else the first); objects with every property; arrays of `minItems` items; the
/// last user message for a string (cut to `maxLength`); `minimum` or 0 for a number;
/// `false`; the first of `anyOf` or `oneOf`.
fn document(schema: &Value, context: &Context, depth: usize) -> Value {
    let Value::Object(schema) = schema else {
        return Value::Null;
    };
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    if let Some(value) = schema.get("const") {
        return value.clone();
    }
    if let Some(Value::Array(values)) = schema.get("enum") {
        return mentioned_last(values, context.echo)
            .or(values.first())
            .cloned()
            .unwrap_or(Value::Null);
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(first) = schema.get(key).and_then(|o| o.get(0)) {
            return document(first, context, depth + 1);
        }
    }
    let ty = match schema.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if schema.contains_key("properties") => "object",
        _ => "string",
    };
    let number = |key: &str| schema.get(key).and_then(Value::as_f64);
    match ty {
        "object" => {
            let mut out = Map::new();
            if let Some(Value::Object(properties)) = schema.get("properties") {
                for (name, property) in properties {
                    out.insert(name.clone(), document(property, context, depth + 1));
                }
            }
            Value::Object(out)
        }
        "array" => {
            let count = number("minItems").unwrap_or(0.0) as usize;
            let item = schema.get("items").map_or(json!({}), Clone::clone);
            Value::Array(
                (0..count.min(16))
                    .map(|_| document(&item, context, depth + 1))
                    .collect(),
            )
        }
        "integer" => json!(number("minimum").unwrap_or(0.0).ceil() as i64),
        "number" => json!(number("minimum").unwrap_or(0.0)),
        "boolean" => Value::Bool(false),
        "null" => Value::Null,
        _ => {
            let mut text = context.last_user.to_owned();
            if let Some(max) = number("maxLength") {
                text = text.chars().take(max as usize).collect();
            }
            Value::String(text)
        }
    }
}

/// The value of a list whose text the conversation mentions last (case-insensitively).
fn mentioned_last<'a>(values: &'a [Value], echo: &str) -> Option<&'a Value> {
    let echo = echo.to_lowercase();
    values
        .iter()
        .filter_map(|v| {
            let text = match v {
                Value::String(s) => s.to_lowercase(),
                other => other.to_string(),
            };
            echo.rfind(&text).map(|at| (at, v))
        })
        .max_by_key(|(at, _)| *at)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use crate::prompt::request::Exchange;
    use crate::prompt::{Contract, OutputSpec, RenderedMessage, Tool};

    fn request(contract: Contract, user: &str) -> ChatRequest {
        let mut request = ChatRequest::plain(
            "offline",
            "m",
            BTreeMap::new(),
            vec![
                RenderedMessage {
                    role: Role::System,
                    content: "Queues: billing, tech. Use lookup_order for orders.".into(),
                },
                RenderedMessage {
                    role: Role::User,
                    content: user.into(),
                },
            ],
        );
        request.contract = Arc::new(contract);
        request
    }

    fn triage() -> Contract {
        Contract {
            output: Some(OutputSpec {
                format: OutputFormat::Json,
                name: None,
                schema: Some(
                    json!({"type": "object", "properties": {"queue": {"enum": ["billing", "tech"]}, "urgent": {"type": "boolean"}, "summary": {"type": "string", "maxLength": 5}}}).into(),
                ),
                strict: false,
            }),
            tools: vec![Tool {
                name: "lookup_order".into(),
                description: None,
                parameters: json!({"type": "object", "properties": {"id": {"type": "string"}}}).into(),
                strict: false,
            }],
            tool_choice: None,
        }
    }

    #[test]
    fn a_json_output_is_a_document_of_its_schema_built_from_the_conversation() {
        let mut contract = triage();
        contract.tools.clear();
        let reply = offline_reply(&request(contract, "my laptop is broken, tech please"));
        let answer: Value = serde_json::from_str(&reply.text).unwrap();
        assert_eq!(
            answer,
            json!({"queue": "tech", "urgent": false, "summary": "my la"})
        );
    }

    #[test]
    fn tools_named_by_the_conversation_are_called_then_the_results_answer() {
        let first = offline_reply(&request(triage(), "where is A-17?"));
        assert_eq!(first.text, "");
        assert_eq!(first.tool_calls[0].name, "lookup_order");
        assert_eq!(
            first.tool_calls[0].arguments,
            json!({"id": "where is A-17?"})
        );
        let mut second = request(triage(), "where is A-17?");
        second.exchanges.push(Exchange {
            text: String::new(),
            calls: first.tool_calls.clone(),
            results: vec!["shipped; billing hold".into()],
        });
        let answer: Value = serde_json::from_str(&offline_reply(&second).text).unwrap();
        assert_eq!(
            answer["queue"], "billing",
            "the tool result is the last mention"
        );
        let mut none = triage();
        none.tool_choice = Some(ToolChoice::None);
        assert!(offline_reply(&request(none, "x")).tool_calls.is_empty());
    }
}
