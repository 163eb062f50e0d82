//! Checks of the contract on a model's answer: every JSON reply against the output schema
//! and every tool call's arguments against its tool's parameters (run without being
//! asked), and the `tool_call`, `no_tool_call` and `json_field` assertions.

use serde_json::Value;

use super::case::Assertion;
use super::outcome::{AssertionResult, Invalid, Output, shorten};
use crate::prompt::{
    Contract, MAX_CHECKED_BYTES, ToolCall, compile_schema, first_violation, toml_value_to_json,
};

/// The kind a schema violation of the reply is reported as.
pub const OUTPUT_SCHEMA: &str = "output_schema";
/// The kind a tool call's bad arguments are reported as.
pub const TOOL_ARGUMENTS: &str = "tool_arguments";
/// The kind tool calls past the suite's `max_turns` are reported as.
pub const MAX_TURNS: &str = "max_turns";
/// Every kind of check the contract runs without being asked.
pub const KINDS: [&str; 3] = [OUTPUT_SCHEMA, TOOL_ARGUMENTS, MAX_TURNS];

/// The failure of an answer still calling tools after the suite's `max_turns` rounds.
pub fn turns_exhausted(max_turns: u32) -> AssertionResult {
    AssertionResult::new(
        MAX_TURNS,
        false,
        format!("the model still called tools after {max_turns} rounds (the suite's `max_turns`)"),
    )
}

/// The checks every answer of a prompt with a contract gets: the reply against the output
/// (when the answer is not a tool call), and each call against its tool.
pub fn automatic(
    contract: &Contract,
    text: &str,
    calls: &[ToolCall],
    answered: bool,
) -> Vec<AssertionResult> {
    let mut results = Vec::new();
    if answered && contract.json_output() {
        results.push(reply_check(contract, text));
    }
    for call in calls {
        results.push(arguments_check(contract, call));
    }
    results
}

/// The reply is JSON, and meets the output schema when there is one.
fn reply_check(contract: &Contract, text: &str) -> AssertionResult {
    if text.len() > MAX_CHECKED_BYTES {
        return AssertionResult::new(
            OUTPUT_SCHEMA,
            false,
            format!(
                "the reply is {} bytes, more than the {MAX_CHECKED_BYTES} checked",
                text.len()
            ),
        );
    }
    let document: Value = match serde_json::from_str(text.trim()) {
        Ok(document) => document,
        Err(e) => {
            return AssertionResult::new(
                OUTPUT_SCHEMA,
                false,
                format!("the reply is not JSON ({e}): {:?}", shorten(text)),
            );
        }
    };
    match contract.output_schema() {
        None => AssertionResult::new(OUTPUT_SCHEMA, true, ""),
        Some(schema) => schema_check(OUTPUT_SCHEMA, schema, &document, "the reply"),
    }
}

/// The call names a declared tool and its arguments meet the tool's parameters.
fn arguments_check(contract: &Contract, call: &ToolCall) -> AssertionResult {
    let Some(tool) = contract.tool(&call.name) else {
        return AssertionResult::new(
            TOOL_ARGUMENTS,
            false,
            format!(
                "the model called `{}`, which the prompt does not declare",
                call.name
            ),
        );
    };
    let what = format!("the arguments of `{}`", call.name);
    match &call.arguments {
        Value::String(raw) => AssertionResult::new(
            TOOL_ARGUMENTS,
            false,
            format!("{what} are not JSON: {:?}", shorten(raw)),
        ),
        arguments if arguments.to_string().len() > MAX_CHECKED_BYTES => AssertionResult::new(
            TOOL_ARGUMENTS,
            false,
            format!("{what} are more than the {MAX_CHECKED_BYTES} bytes checked"),
        ),
        arguments => schema_check(TOOL_ARGUMENTS, &tool.parameters, arguments, &what),
    }
}

/// A document against a schema: a pass, a failure naming the first violation and its JSON
/// pointer, or an error when the schema does not compile.
fn schema_check(kind: &str, schema: &Value, document: &Value, what: &str) -> AssertionResult {
    let validator = match compile_schema(schema) {
        Ok(validator) => validator,
        Err(problem) => {
            return AssertionResult::error(
                kind,
                format!("the schema does not compile: {}", problem.message),
            );
        }
    };
    match first_violation(&validator, document) {
        None => AssertionResult::new(kind, true, ""),
        Some(problem) => {
            let at = if problem.pointer.is_empty() {
                "/".to_owned()
            } else {
                problem.pointer
            };
            AssertionResult::new(
                kind,
                false,
                format!("{what} breaks the schema at `{at}`: {}", problem.message),
            )
        }
    }
}

/// Checks the assertions of this module; `None` for the others.
pub fn check(assertion: &Assertion, output: Output<'_>) -> Option<AssertionResult> {
    Some(match assertion {
        Assertion::ToolCall {
            name,
            arguments,
            schema,
        } => tool_call(
            name,
            arguments.as_deref(),
            schema.as_deref(),
            output.tool_calls,
        ),
        Assertion::NoToolCall { name } => {
            let made: Vec<&ToolCall> = output
                .tool_calls
                .iter()
                .filter(|c| name.as_ref().is_none_or(|n| &c.name == n))
                .collect();
            let names: Vec<&str> = made.iter().map(|c| c.name.as_str()).collect();
            AssertionResult::new(
                "no_tool_call",
                made.is_empty(),
                format!("the model called {}", names.join(", ")),
            )
        }
        Assertion::JsonField {
            pointer,
            equals,
            one_of,
            schema,
        } => json_field(
            pointer,
            equals.as_deref(),
            one_of.as_deref(),
            schema.as_deref(),
            output.text,
        ),
        _ => return None,
    })
}

fn tool_call(
    name: &str,
    arguments: Option<&toml::Table>,
    schema: Option<&toml::Table>,
    calls: &[ToolCall],
) -> AssertionResult {
    const KIND: &str = "tool_call";
    let named: Vec<&ToolCall> = calls.iter().filter(|c| c.name == name).collect();
    if named.is_empty() {
        let made: Vec<&str> = calls.iter().map(|c| c.name.as_str()).collect();
        let said = if made.is_empty() {
            "no tool".to_owned()
        } else {
            made.join(", ")
        };
        return AssertionResult::new(
            KIND,
            false,
            format!("the model did not call `{name}` (it called {said})"),
        );
    }
    let expected = match arguments
        .map(|a| toml_value_to_json(&toml::Value::Table(a.clone())))
        .transpose()
    {
        Ok(expected) => expected,
        Err(e) => return AssertionResult::error(KIND, e.to_string()),
    };
    let validator = match schema
        .map(|s| {
            toml_value_to_json(&toml::Value::Table(s.clone()))
                .map_err(|e| e.to_string())
                .and_then(|s| compile_schema(&s).map_err(|p| p.message))
        })
        .transpose()
    {
        Ok(validator) => validator,
        Err(why) => return AssertionResult::error(KIND, why),
    };
    let mut why = String::new();
    for call in &named {
        if let Some(expected) = &expected
            && !json_subset(expected, &call.arguments)
        {
            why = format!(
                "`{name}` was called with {}, which does not hold {}",
                shorten(&call.arguments.to_string()),
                expected
            );
            continue;
        }
        if let Some(validator) = &validator
            && let Some(problem) = first_violation(validator, &call.arguments)
        {
            why = format!(
                "the arguments of `{name}` break the schema at `{}`: {}",
                problem.pointer, problem.message
            );
            continue;
        }
        return AssertionResult::new(KIND, true, "");
    }
    AssertionResult::new(KIND, false, why)
}

fn json_field(
    pointer: &str,
    equals: Option<&toml::Value>,
    one_of: Option<&[toml::Value]>,
    schema: Option<&toml::Table>,
    text: &str,
) -> AssertionResult {
    const KIND: &str = "json_field";
    let Ok(document) = serde_json::from_str::<Value>(text.trim()) else {
        return AssertionResult::new(
            KIND,
            false,
            format!("the reply is not JSON: {:?}", shorten(text)),
        );
    };
    let Some(found) = document.pointer(pointer) else {
        return AssertionResult::new(KIND, false, format!("the reply has nothing at `{pointer}`"));
    };
    let json = |v: &toml::Value| toml_value_to_json(v).unwrap_or(Value::Null);
    if let Some(expected) = equals {
        let expected = json(expected);
        return AssertionResult::new(
            KIND,
            same_value(&expected, found),
            format!(
                "`{pointer}` is {}, not {expected}",
                shorten(&found.to_string())
            ),
        );
    }
    if let Some(allowed) = one_of {
        let allowed: Vec<Value> = allowed.iter().map(json).collect();
        let listed: Vec<String> = allowed.iter().map(ToString::to_string).collect();
        return AssertionResult::new(
            KIND,
            allowed.iter().any(|a| same_value(a, found)),
            format!(
                "`{pointer}` is {}, not one of {}",
                shorten(&found.to_string()),
                listed.join(", ")
            ),
        );
    }
    let schema = schema
        .map(|s| json(&toml::Value::Table(s.clone())))
        .unwrap_or(Value::Bool(true));
    schema_check(KIND, &schema, found, &format!("`{pointer}`"))
}

/// Tells whether `expected` is held by `actual`: objects by their keys, recursively;
/// arrays item by item; numbers by value (`1` is `1.0`).
pub fn json_subset(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => e
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|x| json_subset(v, x))),
        (Value::Array(e), Value::Array(a)) => {
            e.len() == a.len() && e.iter().zip(a).all(|(x, y)| json_subset(x, y))
        }
        _ => same_value(expected, actual),
    }
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// What makes one of this module's assertions impossible to check, before any output.
pub fn validate(assertion: &Assertion) -> Vec<Invalid> {
    let invalid = |field: &'static str, message: String| vec![Invalid { field, message }];
    let schema_problem = |schema: &toml::Table| {
        toml_value_to_json(&toml::Value::Table(schema.clone()))
            .map_err(|e| e.to_string())
            .and_then(|s| crate::prompt::check_schema(&s, false).map_err(|p| p.message))
            .err()
    };
    match assertion {
        Assertion::ToolCall { name, schema, .. } => {
            if name.trim().is_empty() {
                return invalid("name", "is empty".into());
            }
            match schema.as_deref().and_then(schema_problem) {
                Some(why) => invalid("schema", format!("is not a valid JSON schema: {why}")),
                None => Vec::new(),
            }
        }
        Assertion::JsonField {
            pointer,
            equals,
            one_of,
            schema,
        } => {
            if !pointer.is_empty() && !pointer.starts_with('/') {
                return invalid(
                    "pointer",
                    format!(
                        "`{pointer}` is not a JSON pointer: it starts with `/` (or is empty, for the whole reply)"
                    ),
                );
            }
            let given = usize::from(equals.is_some())
                + usize::from(one_of.is_some())
                + usize::from(schema.is_some());
            if given != 1 {
                return invalid(
                    "equals",
                    "give exactly one of `equals`, `one_of` or `schema`".into(),
                );
            }
            if one_of.as_ref().is_some_and(Vec::is_empty) {
                return invalid("one_of", "is empty, so nothing could pass".into());
            }
            match schema.as_deref().and_then(schema_problem) {
                Some(why) => invalid("schema", format!("is not a valid JSON schema: {why}")),
                None => Vec::new(),
            }
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::prompt::{OutputFormat, OutputSpec, Tool};

    fn contract() -> Contract {
        Contract {
            output: Some(OutputSpec {
                format: OutputFormat::Json,
                name: None,
                schema: Some(
                    json!({"type": "object", "required": ["queue"], "properties": {"queue": {"enum": ["billing", "tech"]}}}).into(),
                ),
                strict: false,
            }),
            tools: vec![Tool {
                name: "lookup".into(),
                description: None,
                parameters: json!({"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}).into(),
                strict: false,
            }],
            tool_choice: None,
        }
    }

    fn call(name: &str, arguments: Value) -> ToolCall {
        ToolCall {
            id: "c".into(),
            name: name.into(),
            arguments,
        }
    }

    fn output<'a>(text: &'a str, calls: &'a [ToolCall]) -> Output<'a> {
        Output {
            text,
            latency_ms: 0.0,
            cost_usd: 0.0,
            tool_calls: calls,
        }
    }

    #[test]
    fn replies_and_arguments_are_checked_with_the_first_violation_and_its_pointer() {
        let c = contract();
        let checks = automatic(&c, r#"{"queue": "sales"}"#, &[], true);
        assert!(!checks[0].pass);
        assert!(
            checks[0].reason.contains("at `/queue`"),
            "{}",
            checks[0].reason
        );
        assert!(automatic(&c, r#"{"queue": "tech"}"#, &[], true)[0].pass);
        let not_json = automatic(&c, "tech", &[], true);
        assert!(
            not_json[0].reason.contains("not JSON"),
            "{}",
            not_json[0].reason
        );
        let calls = [
            call("lookup", json!({"id": 7})),
            call("refund", json!({})),
            call("lookup", Value::String("{id".into())),
        ];
        let checks = automatic(&c, "", &calls, false);
        assert_eq!(
            checks.len(),
            3,
            "no reply check while the answer is a tool call"
        );
        assert!(
            checks[0].reason.contains("at `/id`"),
            "{}",
            checks[0].reason
        );
        assert!(
            checks[1].reason.contains("does not declare"),
            "{}",
            checks[1].reason
        );
        assert!(
            checks[2].reason.contains("not JSON"),
            "{}",
            checks[2].reason
        );
    }

    #[test]
    fn tool_call_assertions_match_by_name_subset_and_schema() {
        let calls = [call("lookup", json!({"id": "A-17", "verbose": true}))];
        let assert = |text: &str| -> Assertion { toml::from_str(text).unwrap() };
        let pass = |a: &Assertion| check(a, output("", &calls)).unwrap().pass;
        assert!(pass(&assert(
            "type = \"tool_call\"\nname = \"lookup\"\narguments = { id = \"A-17\" }"
        )));
        assert!(!pass(&assert(
            "type = \"tool_call\"\nname = \"lookup\"\narguments = { id = \"B\" }"
        )));
        assert!(!pass(&assert("type = \"tool_call\"\nname = \"refund\"")));
        assert!(pass(&assert(
            "type = \"tool_call\"\nname = \"lookup\"\nschema = { type = \"object\", required = [\"id\"] }"
        )));
        assert!(!pass(&assert("type = \"no_tool_call\"")));
        assert!(pass(&assert("type = \"no_tool_call\"\nname = \"refund\"")));
    }

    #[test]
    fn json_fields_are_read_by_pointer() {
        let text = r#"{"queue": "billing", "priority": 2, "tags": ["a"]}"#;
        let assert = |text: &str| -> Assertion { toml::from_str(text).unwrap() };
        let pass = |a: &Assertion| check(a, output(text, &[])).unwrap().pass;
        assert!(pass(&assert(
            "type = \"json_field\"\npointer = \"/queue\"\nequals = \"billing\""
        )));
        assert!(pass(&assert(
            "type = \"json_field\"\npointer = \"/priority\"\nequals = 2.0"
        )));
        assert!(pass(&assert(
            "type = \"json_field\"\npointer = \"/queue\"\none_of = [\"tech\", \"billing\"]"
        )));
        assert!(!pass(&assert(
            "type = \"json_field\"\npointer = \"/missing\"\nequals = 1"
        )));
        assert!(pass(&assert(
            "type = \"json_field\"\npointer = \"/tags\"\nschema = { type = \"array\", minItems = 1 }"
        )));
        assert_eq!(
            validate(&assert(
                "type = \"json_field\"\npointer = \"queue\"\nequals = 1"
            ))[0]
                .field,
            "pointer"
        );
        assert_eq!(
            validate(&assert(
                "type = \"json_field\"\npointer = \"/queue\"\nequals = 1\none_of = [1]"
            ))[0]
                .field,
            "equals"
        );
    }
}
