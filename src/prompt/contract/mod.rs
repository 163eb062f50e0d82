//! The contract a service depends on beside the messages: the shape of the output it parses
//! (`[output]`) and the tools the model may call (`[[tools]]`, `tool_choice`). Both are part
//! of the version; how breaking a change is (`compatibility`) is not, because it changes
//! nothing the model sees.

mod compat;
mod read;
mod schema;

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use compat::{ContractChange, Direction, contract_changes};
pub(crate) use read::{At, ContractDraft, RawOutput, RawTool, read_contract};
pub use read::{SchemaSite, SchemaSlot};
pub(crate) use schema::escape_pointer;
pub use schema::{
    MAX_SCHEMA_BYTES, MAX_SCHEMA_DEPTH, STRICT_MAX_NESTING, STRICT_MAX_PROPERTIES, SchemaProblem,
    check_schema, compile_schema, first_violation, validate_schema, validate_shared,
};

use super::canonical::write_string;

/// The most tools one prompt may declare: OpenAI's limit, the lower of the two APIs'.
pub const MAX_TOOLS: usize = 128;
/// The longest tool name both APIs take (`^[a-zA-Z0-9_-]{1,64}$`).
pub const MAX_TOOL_NAME: usize = 64;
/// The most rounds of tool calls an eval case feeds back before it takes the answer.
pub const DEFAULT_MAX_TURNS: u32 = 4;
/// The most rounds a suite may ask for.
pub const MAX_TURNS_LIMIT: u32 = 16;
/// The largest tool-call arguments or reply checked against a schema (1 MiB); larger is a
/// failure, not a check.
pub const MAX_CHECKED_BYTES: usize = 1024 * 1024;

/// What the model is given besides its messages, as the version covers it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    /// The output format and schema; `None` for free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<OutputSpec>,
    /// The tools the model may call, in the order declared.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    /// How the model must use the tools; `None` is the APIs' default, `auto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
}

impl Contract {
    /// The schema at `slot`: the output's, or a tool's parameters.
    pub fn schema_at(&self, slot: SchemaSlot) -> Option<&Arc<Value>> {
        match slot {
            SchemaSlot::Output => self.output.as_ref().and_then(|o| o.schema.as_ref()),
            SchemaSlot::Tool(index) => self.tools.get(index).map(|t| &t.parameters),
        }
    }

    /// Tells whether the prompt declares neither an output nor tools.
    pub fn is_empty(&self) -> bool {
        self.output.is_none() && self.tools.is_empty() && self.tool_choice.is_none()
    }

    /// The tool named `name`.
    pub fn tool(&self, name: &str) -> Option<&Tool> {
        self.tools.iter().find(|t| t.name == name)
    }

    /// The output schema, when replies are JSON with one.
    pub fn output_schema(&self) -> Option<&Value> {
        self.output.as_ref().and_then(|o| o.schema.as_deref())
    }

    /// Tells whether replies must be JSON.
    pub fn json_output(&self) -> bool {
        self.output
            .as_ref()
            .is_some_and(|o| o.format == OutputFormat::Json)
    }

    /// Appends the contract's keys to a canonical object being written: `,"output":…`,
    /// `,"tool_choice":…`, `,"tools":…`, each only when present, so that a prompt without
    /// them keeps the version it had before they existed. The caller writes keys in byte
    /// order and calls this between `model` and `params` for `output`, and after
    /// `provider` for the tools (see [`PromptSpec::canonical_json`](super::PromptSpec)).
    pub(crate) fn write_output(&self, out: &mut String) {
        // Written member by member, keys in byte order, with no copy of the schema.
        if let Some(output) = &self.output {
            out.push_str(",\"output\":{\"format\":");
            write_string(output.format.as_str(), out);
            if let Some(name) = &output.name {
                out.push_str(",\"name\":");
                write_string(name, out);
            }
            if let Some(schema) = &output.schema {
                out.push_str(",\"schema\":");
                schema::write_schema(schema, out);
            }
            out.push_str(if output.strict {
                ",\"strict\":true}"
            } else {
                ",\"strict\":false}"
            });
        }
    }

    /// Writes `,"tool_choice":…` and `,"tools":[…]` when present (see [`Self::write_output`]).
    pub(crate) fn write_tools(&self, out: &mut String) {
        if let Some(choice) = &self.tool_choice {
            out.push_str(",\"tool_choice\":");
            write_string(choice.as_str(), out);
        }
        if !self.tools.is_empty() {
            out.push_str(",\"tools\":[");
            for (i, tool) in self.tools.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('{');
                if let Some(description) = &tool.description {
                    out.push_str("\"description\":");
                    write_string(description, out);
                    out.push(',');
                }
                out.push_str("\"name\":");
                write_string(&tool.name, out);
                out.push_str(",\"parameters\":");
                schema::write_schema(&tool.parameters, out);
                out.push_str(if tool.strict {
                    ",\"strict\":true}"
                } else {
                    "}"
                });
            }
            out.push(']');
        }
    }
}

/// The output's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    Text,
    Json,
}

impl OutputFormat {
    /// `text` or `json`.
    pub fn as_str(self) -> &'static str {
        match self {
            OutputFormat::Text => "text",
            OutputFormat::Json => "json",
        }
    }
}

/// `[output]` as the version covers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    pub format: OutputFormat,
    /// The name the APIs give the schema (OpenAI's `json_schema.name`); `output` if unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The JSON Schema (draft 2020-12) every reply must meet: shared, as prompts that name
    /// one schema file share it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Arc<Value>>,
    /// Ask the provider to enforce the schema (OpenAI's and Anthropic's strict mode).
    pub strict: bool,
}

impl OutputSpec {
    /// The schema's name as sent: `name`, or `output`.
    pub fn schema_name(&self) -> &str {
        self.name.as_deref().unwrap_or("output")
    }
}

/// One tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The JSON Schema of its arguments: an object schema.
    pub parameters: Arc<Value>,
    /// Ask the provider to enforce `parameters` (strict tool use).
    #[serde(default, skip_serializing_if = "is_false")]
    pub strict: bool,
}

fn is_false(value: &bool) -> bool {
    !value
}

/// How the model must use the tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    /// It may call tools or answer (the APIs' default).
    Auto,
    /// It must call at least one tool.
    Required,
    /// It must not call any.
    None,
    /// It must call this tool.
    Tool(String),
}

impl ToolChoice {
    /// Reads `auto`, `required`, `none` or a tool's name.
    pub fn parse(text: &str) -> ToolChoice {
        match text {
            "auto" => ToolChoice::Auto,
            "required" => ToolChoice::Required,
            "none" => ToolChoice::None,
            name => ToolChoice::Tool(name.to_owned()),
        }
    }

    /// `auto`, `required`, `none` or the tool's name.
    pub fn as_str(&self) -> &str {
        match self {
            ToolChoice::Auto => "auto",
            ToolChoice::Required => "required",
            ToolChoice::None => "none",
            ToolChoice::Tool(name) => name,
        }
    }
}

impl fmt::Display for ToolChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ToolChoice {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ToolChoice {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(ToolChoice::parse(&String::deserialize(d)?))
    }
}

/// Which readers a change of the contract must keep working for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compatibility {
    /// Replies made under the new contract are read by a service built for the old one.
    #[default]
    Forward,
    /// Replies made under the old contract are read by a service built for the new one.
    Backward,
    /// Both.
    Full,
    /// No check: every change is allowed.
    None,
}

impl Compatibility {
    /// The mode's name, as written in prompt files.
    pub fn as_str(self) -> &'static str {
        match self {
            Compatibility::Forward => "forward",
            Compatibility::Backward => "backward",
            Compatibility::Full => "full",
            Compatibility::None => "none",
        }
    }
}

impl fmt::Display for Compatibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One tool call the model made: the tool, and the arguments it gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The API's id of the call, which a tool result answers.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    pub name: String,
    /// The arguments as the model wrote them: JSON, or a string that is not.
    pub arguments: Value,
}

#[cfg(test)]
mod compat_tests;
#[cfg(test)]
mod tests;
