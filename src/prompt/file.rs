//! The prompt file format (`prompts/<name>.toml`): parsing, validation and version.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use toml::Spanned;

use super::contract::{At, RawOutput, RawTool, read_contract};
use super::draft::PromptDraft;
use super::error::{Location, PromptError};
use super::includes::{IncludeRef, scan_error_to_prompt_error, scan_template};
use super::variables::{VarType, Variable, is_identifier};
use super::{Message, PromptName, Role};
use crate::base::tomlfile::{line_of, toml_value_to_json};

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
    output: Option<Spanned<RawOutput>>,
    #[serde(default)]
    tools: Vec<RawTool>,
    tool_choice: Option<Spanned<String>>,
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

/// Reads one prompt file, up to the partials it names.
///
/// `path` is the file as shown to people (`prompts/support/triage.toml`).
pub(crate) fn draft_prompt(
    name: PromptName,
    path: &str,
    source: &str,
    defaults: &PromptDefaults,
) -> Result<PromptDraft, PromptError> {
    let raw = deserialize(path, source)?;
    let file = FileAt { path, source };
    let (provider, model) = provider_and_model(&file, raw.provider, raw.model, defaults)?;
    let params = read_params(&file, raw.params)?;
    let variables = read_variables(&file, raw.variables)?;
    let (messages, message_lines, roots) = read_messages(&file, raw.messages)?;
    let contract = read_contract(&At { path, source }, raw.output, raw.tools, raw.tool_choice)?;
    let metadata = match toml_value_to_json(&toml::Value::Table(raw.metadata)) {
        Ok(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    Ok(PromptDraft {
        name,
        path: path.to_owned(),
        description: raw.description,
        metadata,
        provider,
        model,
        params,
        variables,
        messages,
        message_lines,
        roots,
        contract,
    })
}

/// The file being read, for locating what is wrong in it.
struct FileAt<'a> {
    path: &'a str,
    source: &'a str,
}

impl FileAt<'_> {
    /// The location of a span of the file, naming the field it belongs to.
    fn at(&self, span: std::ops::Range<usize>, field: &str) -> Location {
        Location::file(self.path)
            .at_line(Some(line_of(self.source, span.start)))
            .with_field(field)
    }

    fn invalid(&self, location: Location, message: String) -> PromptError {
        PromptError::Invalid { location, message }
    }
}

/// The provider and model, from the file or the project's defaults.
fn provider_and_model(
    file: &FileAt,
    provider: Option<Spanned<String>>,
    model: Option<Spanned<String>>,
    defaults: &PromptDefaults,
) -> Result<(String, String), PromptError> {
    let provider = match provider {
        Some(p) if p.get_ref().trim().is_empty() => {
            return Err(file.invalid(file.at(p.span(), "provider"), "is empty".into()));
        }
        Some(p) => p.into_inner(),
        None => defaults.provider.clone(),
    };
    let model = match model {
        Some(m) if m.get_ref().trim().is_empty() => {
            return Err(file.invalid(file.at(m.span(), "model"), "is empty".into()));
        }
        Some(m) => m.into_inner(),
        None => defaults.model.clone().ok_or_else(|| {
            file.invalid(
                Location::file(file.path).with_field("model"),
                "no model: set `model` here or `[defaults] model` in promptctl.toml".into(),
            )
        })?,
    };
    Ok((provider, model))
}

fn read_params(
    file: &FileAt,
    raw: BTreeMap<String, Spanned<toml::Value>>,
) -> Result<BTreeMap<String, Value>, PromptError> {
    let mut params = BTreeMap::new();
    for (key, value) in raw {
        let field = format!("params.{key}");
        let json = toml_value_to_json(value.get_ref())
            .map_err(|m| file.invalid(file.at(value.span(), &field), m.to_string()))?;
        params.insert(key, json);
    }
    Ok(params)
}

fn read_variables(
    file: &FileAt,
    raw: BTreeMap<String, Spanned<RawVariable>>,
) -> Result<BTreeMap<String, Variable>, PromptError> {
    let mut variables = BTreeMap::new();
    for (var_name, raw_var) in raw {
        let field = format!("variables.{var_name}");
        let span = raw_var.span();
        let at = |s, f: &str| file.at(s, &format!("{field}.{f}"));
        let var = build_variable(raw_var.into_inner(), &at)?;
        if !is_identifier(&var_name) {
            return Err(file.invalid(
                file.at(span, &field),
                format!(
                    "`{var_name}` is not a template identifier: ASCII letters, digits and `_`, not starting with a digit"
                ),
            ));
        }
        variables.insert(var_name, var);
    }
    Ok(variables)
}

/// The messages read from the file, with each one's first line and the templates it names.
type ReadMessages = (Vec<Message>, Vec<usize>, Vec<(Location, Vec<IncludeRef>)>);

fn read_messages(file: &FileAt, raw: Vec<RawMessage>) -> Result<ReadMessages, PromptError> {
    if raw.is_empty() {
        return Err(file.invalid(
            Location::file(file.path).with_field("messages"),
            "a prompt needs at least one `[[messages]]` entry".into(),
        ));
    }
    let mut messages = Vec::with_capacity(raw.len());
    let mut message_lines = Vec::with_capacity(raw.len());
    let mut roots = Vec::with_capacity(raw.len());
    for (index, message) in raw.into_iter().enumerate() {
        let first_line = template_first_line(file.source, message.content.span().start);
        let location = Location::file(file.path)
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
    Ok((messages, message_lines, roots))
}

fn deserialize(path: &str, source: &str) -> Result<RawPrompt, PromptError> {
    crate::base::tomlfile::parse(path, source).map_err(|e| PromptError::Syntax {
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
                let value = toml_value_to_json(&item)
                    .map_err(|m| invalid(at(span.clone(), "enum"), m.to_string()))?;
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
            .map_err(|m| invalid(at(span.clone(), "default"), m.to_string()))?;
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::prompt::{PartialIndex, Prompt, PromptError};

    const TRIAGE: &str = r#"
description = "Route a ticket"
model = "m1"

[params]
temperature = 0.0
max_tokens = 300

[variables.ticket]
type = "string"
required = true

[variables.tone]
type = "string"
default = "friendly"
enum = ["friendly", "formal"]

[[messages]]
role = "system"
content = """
Triage. {% include "policies/refunds.j2" %}
"""

[[messages]]
role = "user"
content = "{{ ticket }}"
"#;

    /// The same prompt: keys reordered, comments added, whitespace and description changed.
    const TRIAGE_REFORMATTED: &str = r#"
# Reformatted by hand.
model    =   "m1"       # same model
description = "Something else entirely"

[[messages]]
role = "system"
content = """
Triage. {% include "policies/refunds.j2" %}
"""

[[messages]]
content = "{{ ticket }}"
role = "user"

[variables.tone]
enum = ["friendly", "formal"]
default = "friendly"
type = "string"

[variables.ticket]
required = true
type = "string"

[params]
max_tokens = 300
temperature = 0.0
"#;

    fn partials(refunds: &str) -> PartialIndex {
        PartialIndex::new(
            "prompts",
            [
                ("policies/refunds.j2".to_string(), Arc::from(refunds)),
                ("policies/other.j2".to_string(), Arc::from("other")),
            ],
        )
    }

    fn parse_with(source: &str, partials: &PartialIndex) -> Result<Prompt, PromptError> {
        Prompt::parse(
            PromptName::parse("support/triage").unwrap(),
            "prompts/support/triage.toml",
            source,
            &PromptDefaults::default(),
            partials,
        )
    }

    fn parse(source: &str) -> Result<Prompt, PromptError> {
        parse_with(source, &partials("Refunds within 30 days."))
    }

    fn error(source: &str) -> PromptError {
        parse(source).unwrap_err()
    }

    #[test]
    fn reformatting_keeps_the_version() {
        let a = parse(TRIAGE).unwrap();
        let b = parse(TRIAGE_REFORMATTED).unwrap();
        assert_eq!(a.version, b.version);
        assert_ne!(a.description, b.description);
    }

    #[test]
    fn the_canonical_json_is_what_is_hashed() {
        let prompt = parse(TRIAGE).unwrap();
        let canonical = prompt.canonical_json();
        assert_eq!(Version::of_canonical(canonical.as_bytes()), prompt.version);
        assert!(
            canonical.starts_with(r#"{"format":1,"messages":[{"content":"Triage."#),
            "{canonical}"
        );
        assert!(
            canonical.contains(r#""partials":{"policies/refunds.j2":"Refunds within 30 days."}"#)
        );
        assert!(
            !canonical.contains("Route a ticket"),
            "metadata stays out of the version"
        );
        assert!(
            !canonical.contains("other"),
            "unreached partials stay out of the version"
        );
    }

    #[test]
    fn what_the_model_sees_changes_the_version() {
        let base = parse(TRIAGE).unwrap().version;
        for edit in [
            TRIAGE.replace("temperature = 0.0", "temperature = 0.5"),
            TRIAGE.replace("model = \"m1\"", "model = \"m2\""),
            TRIAGE.replace("model = \"m1\"", "model = \"m1\"\nprovider = \"openai\""),
            TRIAGE.replace("required = true", "required = false"),
            TRIAGE.replace("default = \"friendly\"", "default = \"formal\""),
            TRIAGE.replace("Triage.", "Triage!"),
            TRIAGE.replace("role = \"user\"", "role = \"assistant\""),
        ] {
            assert_ne!(parse(&edit).unwrap().version, base, "{edit}");
        }
        let edited_partial = parse_with(TRIAGE, &partials("Refunds within 14 days.")).unwrap();
        assert_ne!(edited_partial.version, base);
    }

    #[test]
    fn project_defaults_fill_provider_and_model() {
        let source = TRIAGE.replace("model = \"m1\"", "");
        let defaults = PromptDefaults {
            provider: "openai".into(),
            model: Some("gpt".into()),
        };
        let prompt = Prompt::parse(
            PromptName::parse("a").unwrap(),
            "prompts/a.toml",
            &source,
            &defaults,
            &partials("x"),
        )
        .unwrap();
        assert_eq!(
            (prompt.spec.provider.as_str(), prompt.spec.model.as_str()),
            ("openai", "gpt")
        );
        let err = error(&source);
        assert_eq!(err.location().unwrap().field.as_deref(), Some("model"));
    }

    #[test]
    fn malformed_toml_names_file_and_line() {
        let err = error("model = \"m\"\n[[messages]]\nrole = \"user\"\ncontent = \"unclosed\n");
        assert!(matches!(err, PromptError::Syntax { .. }), "{err}");
        assert_eq!(err.location().unwrap().line, Some(4));
        assert_eq!(err.location().unwrap().path, "prompts/support/triage.toml");
    }

    #[test]
    fn unknown_variable_type_names_the_field() {
        let err = error(&TRIAGE.replace("type = \"string\"\nrequired", "type = \"str\"\nrequired"));
        let location = err.location().unwrap();
        assert_eq!(location.field.as_deref(), Some("variables.ticket.type"));
        assert_eq!(location.line, Some(10));
        assert!(err.to_string().contains("unknown variant `str`"), "{err}");
    }

    #[test]
    fn unknown_fields_and_roles_are_refused() {
        let err = error(&TRIAGE.replace("[params]", "temprature = 1\n[params]"));
        assert_eq!(err.location().unwrap().field.as_deref(), Some("temprature"));
        let err = error(&TRIAGE.replace("role = \"user\"", "role = \"bot\""));
        assert_eq!(
            err.location().unwrap().field.as_deref(),
            Some("messages[1].role")
        );
    }

    #[test]
    fn invalid_declarations_are_refused_with_their_field() {
        let cases = [
            (
                TRIAGE.replace("default = \"friendly\"", "default = \"rude\""),
                "variables.tone.default",
            ),
            (
                TRIAGE.replace("default = \"friendly\"", "default = 3"),
                "variables.tone.default",
            ),
            (
                TRIAGE.replace("enum = [\"friendly\", \"formal\"]", "enum = [1]"),
                "variables.tone.enum",
            ),
            (
                TRIAGE.replace("enum = [\"friendly\", \"formal\"]", "enum = []"),
                "variables.tone.enum",
            ),
            (
                TRIAGE.replace("required = true", "required = true\ndefault = \"x\""),
                "variables.ticket.default",
            ),
            (
                TRIAGE.replace("[variables.tone]", "[variables.\"tone-x\"]"),
                "variables.tone-x",
            ),
            (
                TRIAGE.replace("temperature = 0.0", "temperature = nan"),
                "params.temperature",
            ),
        ];
        for (source, field) in cases {
            let err = error(&source);
            assert!(matches!(err, PromptError::Invalid { .. }), "{field}: {err}");
            assert_eq!(
                err.location().unwrap().field.as_deref(),
                Some(field),
                "{err}"
            );
            assert!(err.location().unwrap().line.is_some(), "{err}");
        }
        let none = "model = \"m\"\n";
        assert_eq!(
            error(none).location().unwrap().field.as_deref(),
            Some("messages")
        );
    }

    #[test]
    fn includes_outside_prompts_are_refused_at_their_line() {
        for (include, problem) in [
            ("../../etc/passwd.j2", IncludeProblem::OutsidePrompts),
            ("/etc/passwd", IncludeProblem::OutsidePrompts),
            ("policies/../../secret.j2", IncludeProblem::OutsidePrompts),
            ("support/other.toml", IncludeProblem::NotPartial),
            ("policies/missing.j2", IncludeProblem::NotFound),
        ] {
            let err = error(&TRIAGE.replace("policies/refunds.j2", include));
            match &err {
                PromptError::Include {
                    problem: p,
                    location,
                    ..
                } => {
                    assert_eq!(p, &problem, "{include}");
                    assert_eq!(location.line, Some(21), "{err}");
                    assert_eq!(location.field.as_deref(), Some("messages[0].content"));
                }
                other => panic!("{include}: expected an include error, got {other}"),
            }
        }
        let dynamic = error(&TRIAGE.replace("\"policies/refunds.j2\"", "tone ~ \".j2\""));
        assert!(matches!(
            dynamic,
            PromptError::Include {
                problem: IncludeProblem::NotLiteral,
                ..
            }
        ));
    }

    use super::super::IncludeProblem;
    use super::super::Version;
}
