//! The prompt file format (`prompts/<name>.toml`): parsing, validation and version.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use toml::Spanned;

use super::error::{Location, PromptError};
use super::includes::{PartialIndex, scan_error_to_prompt_error, scan_template};
use super::variables::{VarType, Variable, is_identifier};
use super::{Message, Prompt, PromptName, PromptSpec, Role};
use crate::tomlfile::line_of;

/// Project-wide defaults applied to prompts that leave a field out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptDefaults {
    /// Provider of prompts that name none.
    pub provider: String,
    /// Model of prompts that name none.
    pub model: Option<String>,
}

impl Default for PromptDefaults {
    fn default() -> Self {
        PromptDefaults {
            provider: "offline".into(),
            model: None,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrompt {
    description: Option<String>,
    provider: Option<Spanned<String>>,
    model: Option<Spanned<String>>,
    #[serde(default)]
    params: BTreeMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    variables: BTreeMap<String, Spanned<RawVariable>>,
    #[serde(default)]
    messages: Vec<RawMessage>,
    #[serde(default)]
    metadata: toml::Table,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariable {
    #[serde(rename = "type")]
    ty: Option<VarType>,
    #[serde(default)]
    required: bool,
    default: Option<Spanned<toml::Value>>,
    #[serde(rename = "enum")]
    allowed: Option<Spanned<Vec<toml::Value>>>,
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMessage {
    role: Role,
    content: Spanned<String>,
}

/// Reads one prompt file.
///
/// `path` is the file as shown to people (`prompts/support/triage.toml`); `partials` gives
/// the partials of the same source, so that the version covers every partial reached.
pub(crate) fn parse_prompt(
    name: PromptName,
    path: &str,
    source: &str,
    defaults: &PromptDefaults,
    partials: &PartialIndex,
) -> Result<Prompt, PromptError> {
    let raw = deserialize(path, source)?;
    let at = |span: std::ops::Range<usize>, field: &str| {
        Location::file(path)
            .at_line(Some(line_of(source, span.start)))
            .with_field(field)
    };
    let invalid = |location: Location, message: String| PromptError::Invalid { location, message };

    let provider = match raw.provider {
        Some(p) if p.get_ref().trim().is_empty() => {
            return Err(invalid(at(p.span(), "provider"), "is empty".into()));
        }
        Some(p) => p.into_inner(),
        None => defaults.provider.clone(),
    };
    let model = match raw.model {
        Some(m) if m.get_ref().trim().is_empty() => {
            return Err(invalid(at(m.span(), "model"), "is empty".into()));
        }
        Some(m) => m.into_inner(),
        None => defaults.model.clone().ok_or_else(|| {
            invalid(
                Location::file(path).with_field("model"),
                "no model: set `model` here or `[defaults] model` in promptctl.toml".into(),
            )
        })?,
    };

    let mut params = BTreeMap::new();
    for (key, value) in raw.params {
        let field = format!("params.{key}");
        let json = toml_value_to_json(value.get_ref())
            .map_err(|m| invalid(at(value.span(), &field), m))?;
        params.insert(key, json);
    }

    let mut variables = BTreeMap::new();
    for (var_name, raw_var) in raw.variables {
        let field = format!("variables.{var_name}");
        let span = raw_var.span();
        let var = build_variable(raw_var.into_inner(), &|s, f| at(s, &format!("{field}.{f}")))?;
        if !is_identifier(&var_name) {
            return Err(invalid(
                at(span, &field),
                format!("`{var_name}` is not a template identifier (letters, digits, `_`)"),
            ));
        }
        variables.insert(var_name, var);
    }

    if raw.messages.is_empty() {
        return Err(invalid(
            Location::file(path).with_field("messages"),
            "a prompt needs at least one `[[messages]]` entry".into(),
        ));
    }
    let mut messages = Vec::with_capacity(raw.messages.len());
    let mut message_lines = Vec::with_capacity(raw.messages.len());
    let mut roots = Vec::with_capacity(raw.messages.len());
    for (index, message) in raw.messages.into_iter().enumerate() {
        let first_line = template_first_line(source, message.content.span().start);
        let location = Location::file(path)
            .at_line(Some(first_line))
            .with_field(format!("messages[{index}].content"));
        let content = message.content.into_inner();
        let refs = scan_template(&content)
            .map_err(|e| scan_error_to_prompt_error(&e, location.clone()))?;
        roots.push((location, refs));
        message_lines.push(first_line);
        messages.push(Message {
            role: message.role,
            content,
        });
    }
    let reached = partials.reachable(&roots)?;

    let spec = PromptSpec {
        provider,
        model,
        params,
        variables,
        messages,
        partials: reached,
    };
    let metadata = match toml_value_to_json(&toml::Value::Table(raw.metadata)) {
        Ok(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    Ok(Prompt {
        name,
        path: path.to_owned(),
        description: raw.description,
        metadata,
        version: spec.version(),
        spec,
        message_lines,
    })
}

fn deserialize(path: &str, source: &str) -> Result<RawPrompt, PromptError> {
    crate::tomlfile::parse(path, source).map_err(|e| PromptError::Syntax {
        location: e.location,
        message: e.message,
    })
}

fn build_variable(
    raw: RawVariable,
    at: &dyn Fn(std::ops::Range<usize>, &str) -> Location,
) -> Result<Variable, PromptError> {
    let invalid = |location: Location, message: String| PromptError::Invalid { location, message };
    let ty = raw.ty.unwrap_or(VarType::Any);
    let allowed = match raw.allowed {
        None => None,
        Some(list) => {
            let span = list.span();
            let mut values = Vec::new();
            for item in list.into_inner() {
                let value =
                    toml_value_to_json(&item).map_err(|m| invalid(at(span.clone(), "enum"), m))?;
                if !ty.accepts(&value) {
                    return Err(invalid(
                        at(span.clone(), "enum"),
                        format!("enum value {value} is not of type `{ty}`"),
                    ));
                }
                values.push(value);
            }
            if values.is_empty() {
                return Err(invalid(
                    at(span, "enum"),
                    "an enum needs at least one value".into(),
                ));
            }
            Some(values)
        }
    };
    let mut var = Variable {
        ty,
        required: raw.required,
        default: None,
        allowed,
        description: raw.description,
    };
    if let Some(default) = raw.default {
        let span = default.span();
        if var.required {
            return Err(invalid(
                at(span, "default"),
                "a required variable cannot have a default; drop one of them".into(),
            ));
        }
        let value = toml_value_to_json(default.get_ref())
            .map_err(|m| invalid(at(span.clone(), "default"), m))?;
        var.check("", "", &value).map_err(|e| {
            let reason = match e {
                PromptError::WrongType {
                    expected, found, ..
                } => {
                    format!("default must be {expected}, got {found}")
                }
                PromptError::NotInEnum { value, allowed, .. } => {
                    format!("default {value} is not one of {allowed}")
                }
                other => other.to_string(),
            };
            invalid(at(span, "default"), reason)
        })?;
        var.default = Some(value);
    }
    Ok(var)
}

/// Returns the file line of a template's first line, given the offset of its string literal.
///
/// TOML drops a newline right after the opening `"""` or `'''`, so such a template starts on
/// the next line.
fn template_first_line(source: &str, literal_start: usize) -> usize {
    let rest = &source[literal_start.min(source.len())..];
    let line = line_of(source, literal_start);
    let multi_line = rest.starts_with("\"\"\"") || rest.starts_with("'''");
    let after_quotes = rest.get(3..).unwrap_or("");
    if multi_line && (after_quotes.starts_with('\n') || after_quotes.starts_with("\r\n")) {
        line + 1
    } else {
        line
    }
}

/// Converts TOML to JSON; datetimes become strings, non-finite floats are refused.
pub fn toml_value_to_json(value: &toml::Value) -> Result<Value, String> {
    Ok(match value {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .ok_or_else(|| format!("`{f}` is not a finite number"))?,
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(
            items
                .iter()
                .map(toml_value_to_json)
                .collect::<Result<Vec<_>, _>>()?,
        ),
        toml::Value::Table(table) => Value::Object(
            table
                .iter()
                .map(|(k, v)| Ok((k.clone(), toml_value_to_json(v)?)))
                .collect::<Result<serde_json::Map<_, _>, String>>()?,
        ),
    })
}
