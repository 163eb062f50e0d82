//! Declared variables: their types, and checking and coercing the values a render is given.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::PromptError;

/// Values for a render, by variable name.
pub type Vars = BTreeMap<String, Value>;

/// The type a variable declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VarType {
    String,
    Number,
    Integer,
    Boolean,
    Array,
    Object,
    Any,
}

impl VarType {
    /// Returns the lower-case name used in prompt files.
    pub fn as_str(self) -> &'static str {
        match self {
            VarType::String => "string",
            VarType::Number => "number",
            VarType::Integer => "integer",
            VarType::Boolean => "boolean",
            VarType::Array => "array",
            VarType::Object => "object",
            VarType::Any => "any",
        }
    }

    /// Tells whether a JSON value has this type (integers count as numbers).
    pub fn accepts(self, value: &Value) -> bool {
        match self {
            VarType::String => value.is_string(),
            VarType::Number => value.is_number(),
            VarType::Integer => value.is_i64() || value.is_u64(),
            VarType::Boolean => value.is_boolean(),
            VarType::Array => value.is_array(),
            VarType::Object => value.is_object(),
            VarType::Any => true,
        }
    }

    /// Turns a `--var K=V` string into a value of this type.
    ///
    /// Strings stay as typed; numbers, booleans, arrays and objects are parsed (arrays and
    /// objects as JSON); `any` takes JSON when the text is JSON and the plain string otherwise.
    pub fn coerce(self, text: &str) -> Result<Value, CoerceError> {
        let parsed = || serde_json::from_str::<Value>(text);
        let not = || CoerceError::Not {
            text: text.to_owned(),
            expected: self,
        };
        match self {
            VarType::String => Ok(Value::String(text.to_owned())),
            VarType::Integer => text.trim().parse::<i64>().map(Value::from).map_err(|e| {
                use std::num::IntErrorKind::{NegOverflow, PosOverflow};
                match e.kind() {
                    PosOverflow | NegOverflow => CoerceError::TooLarge {
                        text: text.to_owned(),
                    },
                    _ => not(),
                }
            }),
            VarType::Number => text
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(|n| match text.trim().parse::<i64>() {
                    Ok(i) => Value::from(i),
                    Err(_) => Value::Number(n),
                })
                .ok_or_else(not),
            VarType::Boolean => match text.trim() {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                _ => Err(not()),
            },
            VarType::Array => match parsed() {
                Ok(v @ Value::Array(_)) => Ok(v),
                _ => Err(not()),
            },
            VarType::Object => match parsed() {
                Ok(v @ Value::Object(_)) => Ok(v),
                _ => Err(not()),
            },
            VarType::Any => Ok(parsed().unwrap_or_else(|_| Value::String(text.to_owned()))),
        }
    }
}

/// Why `--var` text is not a value of its variable's type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoerceError {
    #[error("`{text}` is too large for a 64-bit integer")]
    TooLarge { text: String },
    #[error("`{text}` is not {}", expected.a_value())]
    Not { text: String, expected: VarType },
}

impl VarType {
    /// A value of this type, in words: `an integer`, `a JSON array`.
    fn a_value(self) -> &'static str {
        match self {
            VarType::String | VarType::Any => "a string",
            VarType::Number => "a finite number",
            VarType::Integer => "an integer",
            VarType::Boolean => "`true` or `false`",
            VarType::Array => "a JSON array",
            VarType::Object => "a JSON object",
        }
    }
}

impl fmt::Display for VarType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One declared variable, as it enters the version (its description does not).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variable {
    /// The declared type.
    #[serde(rename = "type")]
    pub ty: VarType,
    /// Whether a render without it fails.
    pub required: bool,
    /// Value used when none is supplied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// The only values allowed, when declared.
    #[serde(rename = "enum", skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<Value>>,
    /// Human description: metadata, not part of the version.
    #[serde(skip)]
    pub description: Option<String>,
}

impl Variable {
    /// Checks a value against the type and the enum of this variable.
    pub fn check(&self, prompt: &str, name: &str, value: &Value) -> Result<(), PromptError> {
        if !self.ty.accepts(value) {
            return Err(PromptError::WrongType {
                prompt: prompt.to_owned(),
                name: name.to_owned(),
                expected: article(self.ty),
                found: describe(value),
            });
        }
        if let Some(allowed) = &self.allowed
            && !allowed.iter().any(|a| same_value(a, value))
        {
            return Err(PromptError::NotInEnum {
                prompt: prompt.to_owned(),
                name: name.to_owned(),
                value: preview(value),
                allowed: allowed.iter().map(preview).collect::<Vec<_>>().join(", "),
            });
        }
        Ok(())
    }
}

/// Compares values so that `1` and `1.0` count as the same enum member.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn article(ty: VarType) -> String {
    match ty {
        VarType::Integer | VarType::Array | VarType::Object | VarType::Any => format!("an {ty}"),
        _ => format!("a {ty}"),
    }
}

/// Describes a value's JSON type and a short preview of it, for error messages.
pub(crate) fn describe(value: &Value) -> String {
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    format!("{kind} ({})", preview(value))
}

/// Renders a value as compact JSON, cut to a readable length.
pub(crate) fn preview(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 60 {
        let cut: String = text.chars().take(57).collect();
        format!("`{cut}...`")
    } else {
        format!("`{text}`")
    }
}

/// Checks and completes the values of a render against the declared variables.
///
/// Returns only the declared variables (with defaults filled in): values a prompt does not
/// declare are ignored, because eval cases often carry variables of a newer version.
pub fn resolve_values(
    prompt: &str,
    declared: &BTreeMap<String, Variable>,
    supplied: &Vars,
) -> Result<Vars, PromptError> {
    let mut values = Vars::new();
    for (name, var) in declared {
        match supplied.get(name).or(var.default.as_ref()) {
            Some(value) => {
                var.check(prompt, name, value)?;
                values.insert(name.clone(), value.clone());
            }
            None if var.required => {
                return Err(PromptError::MissingVariable {
                    prompt: prompt.to_owned(),
                    name: name.clone(),
                });
            }
            None => {}
        }
    }
    Ok(values)
}

/// Names of supplied values that the prompt does not declare.
pub fn undeclared_names<'a>(
    declared: &BTreeMap<String, Variable>,
    supplied: &'a Vars,
) -> Vec<&'a str> {
    supplied
        .keys()
        .filter(|k| !declared.contains_key(*k))
        .map(String::as_str)
        .collect()
}

/// Turns `NAME=VALUE` texts (from the command line) into values of the declared types.
///
/// Names the prompt does not declare keep their text as a string.
pub fn coerce_texts(
    prompt: &str,
    declared: &BTreeMap<String, Variable>,
    texts: &[(String, String)],
) -> Result<Vars, PromptError> {
    texts
        .iter()
        .map(|(name, text)| {
            let value = match declared.get(name) {
                None => Value::String(text.clone()),
                Some(var) => var.ty.coerce(text).map_err(|_| PromptError::WrongType {
                    prompt: prompt.to_owned(),
                    name: name.clone(),
                    expected: article(var.ty),
                    found: format!("`{text}`"),
                })?,
            };
            Ok((name.clone(), value))
        })
        .collect()
}

/// Values to try a prompt with when no case gives any: each variable without a default
/// gets its first allowed value, or a plain value of its type. `check`, `publish` and
/// `canary` render with these, so a template that cannot render is refused before release.
pub fn sample_values(declared: &BTreeMap<String, Variable>) -> Vars {
    declared
        .iter()
        .filter(|(_, variable)| variable.default.is_none())
        .map(|(name, variable)| (name.clone(), sample_value(variable)))
        .collect()
}

fn sample_value(variable: &Variable) -> Value {
    if let Some(first) = variable.allowed.as_ref().and_then(|a| a.first()) {
        return first.clone();
    }
    match variable.ty {
        VarType::String | VarType::Any => Value::from("sample"),
        VarType::Number => Value::from(1.5),
        VarType::Integer => Value::from(1),
        VarType::Boolean => Value::Bool(true),
        VarType::Array => Value::Array(Vec::new()),
        VarType::Object => Value::Object(Default::default()),
    }
}

/// Tells whether a variable name is usable in templates (`[A-Za-z_][A-Za-z0-9_]*`).
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn var(ty: VarType) -> Variable {
        Variable {
            ty,
            required: false,
            default: None,
            allowed: None,
            description: None,
        }
    }

    #[test]
    fn coerces_cli_text_to_declared_types() {
        assert_eq!(VarType::Integer.coerce("3").unwrap(), json!(3));
        assert_eq!(VarType::Number.coerce("3").unwrap(), json!(3));
        assert_eq!(VarType::Number.coerce("0.5").unwrap(), json!(0.5));
        assert_eq!(VarType::Boolean.coerce("true").unwrap(), json!(true));
        assert_eq!(VarType::String.coerce("42").unwrap(), json!("42"));
        assert_eq!(VarType::Array.coerce("[1,2]").unwrap(), json!([1, 2]));
        assert_eq!(
            VarType::Object.coerce(r#"{"a":1}"#).unwrap(),
            json!({"a": 1})
        );
        assert_eq!(VarType::Any.coerce("[1]").unwrap(), json!([1]));
        assert_eq!(VarType::Any.coerce("hello").unwrap(), json!("hello"));
    }

    #[test]
    fn refuses_text_that_is_not_of_the_type() {
        assert!(VarType::Integer.coerce("3.5").is_err());
        assert!(VarType::Number.coerce("NaN").is_err());
        assert!(VarType::Number.coerce("inf").is_err());
        assert!(VarType::Boolean.coerce("yes").is_err());
        assert!(VarType::Array.coerce("{}").is_err());
        assert!(VarType::Object.coerce("[]").is_err());
    }

    #[test]
    fn integers_are_numbers_but_not_the_reverse() {
        assert!(VarType::Number.accepts(&json!(3)));
        assert!(!VarType::Integer.accepts(&json!(3.5)));
    }

    #[test]
    fn resolve_fills_defaults_checks_enums_and_drops_undeclared() {
        let mut declared = BTreeMap::new();
        declared.insert(
            "tone".to_string(),
            Variable {
                default: Some(json!("friendly")),
                allowed: Some(vec![json!("friendly"), json!("formal")]),
                ..var(VarType::String)
            },
        );
        declared.insert(
            "ticket".to_string(),
            Variable {
                required: true,
                ..var(VarType::String)
            },
        );
        let supplied: Vars = [
            ("ticket".to_string(), json!("hi")),
            ("extra".to_string(), json!(1)),
        ]
        .into();
        let values = resolve_values("p", &declared, &supplied).unwrap();
        assert_eq!(values.get("tone"), Some(&json!("friendly")));
        assert!(!values.contains_key("extra"));
        assert_eq!(undeclared_names(&declared, &supplied), vec!["extra"]);

        let err = resolve_values("p", &declared, &Vars::new()).unwrap_err();
        assert!(matches!(err, PromptError::MissingVariable { ref name, .. } if name == "ticket"));

        let bad: Vars = [
            ("ticket".to_string(), json!("x")),
            ("tone".to_string(), json!("rude")),
        ]
        .into();
        let err = resolve_values("p", &declared, &bad).unwrap_err();
        assert!(err.to_string().contains("`\"rude\"`"), "{err}");

        let wrong: Vars = [("ticket".to_string(), json!(5))].into();
        let err = resolve_values("p", &declared, &wrong).unwrap_err();
        assert_eq!(
            err.to_string(),
            "prompt `p`: variable `ticket` must be a string, got an integer (`5`)"
        );
    }

    #[test]
    fn identifiers() {
        assert!(is_identifier("ticket_2"));
        assert!(is_identifier("_x"));
        assert!(!is_identifier("2x"));
        assert!(!is_identifier("a-b"));
        assert!(!is_identifier(""));
    }
}
