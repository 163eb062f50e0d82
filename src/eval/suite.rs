//! The eval suite file format.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;

use crate::location::Location;
use crate::prompt::{PromptName, Vars};
use crate::tomlfile::{self, TomlError};

/// Why a suite file cannot be used.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SuiteError {
    /// The file is not valid TOML or does not have the suite shape.
    #[error(transparent)]
    Syntax(#[from] TomlError),
    /// A field's value is not allowed.
    #[error("{location}: {message}")]
    Invalid { location: Location, message: String },
    /// The file could not be read.
    #[error("{location}: cannot read the file: {message}")]
    Io { location: Location, message: String },
}

impl SuiteError {
    /// Returns the place the error points at.
    pub fn location(&self) -> &Location {
        match self {
            SuiteError::Syntax(e) => &e.location,
            SuiteError::Invalid { location, .. } | SuiteError::Io { location, .. } => location,
        }
    }
}

/// One assertion on a model output.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Assertion {
    Equals {
        value: String,
    },
    Contains {
        value: String,
    },
    Icontains {
        value: String,
    },
    NotContains {
        value: String,
    },
    Regex {
        value: String,
    },
    NotRegex {
        value: String,
    },
    StartsWith {
        value: String,
    },
    IsJson {},
    JsonSchema {
        value: toml::Table,
    },
    MinChars {
        value: u64,
    },
    MaxChars {
        value: u64,
    },
    MaxLatencyMs {
        value: u64,
    },
    MaxCost {
        value: f64,
    },
    Similar {
        value: String,
        threshold: f64,
    },
    LlmJudge {
        rubric: String,
        provider: Option<String>,
        model: Option<String>,
    },
    Exec {
        command: String,
    },
}

/// One eval case: variables and the assertions its output must meet.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Unique within the suite.
    pub name: String,
    /// Variables of this case, over the suite's `[vars]`.
    #[serde(default)]
    pub vars: toml::Table,
    /// What the output must meet.
    #[serde(default, rename = "assert")]
    pub assertions: Vec<Assertion>,
}

/// What fails the comparison of the new version with the old one.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gate {
    /// Largest allowed drop of the pass rate, in percentage points.
    pub max_pass_rate_drop: Option<f64>,
    /// Largest allowed cost increase, in percent.
    pub max_cost_increase: Option<f64>,
    /// Largest allowed mean latency increase, in percent.
    pub max_latency_increase: Option<f64>,
    /// Limits whose breach warns instead of failing (`max_cost_increase`, ...).
    #[serde(default)]
    pub alert_only: Vec<String>,
}

/// The limits a suite's `[gate]` may set, as named in the file.
pub const GATE_LIMITS: [&str; 3] = [
    "max_pass_rate_drop",
    "max_cost_increase",
    "max_latency_increase",
];

impl Gate {
    /// Tells whether a breach of `limit` only warns.
    pub fn alerts_only(&self, limit: &str) -> bool {
        self.alert_only.iter().any(|l| l == limit)
    }
}

/// A parsed suite file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    /// The name of the prompt the suite evaluates.
    pub prompt: String,
    /// Provider override for this suite.
    pub provider: Option<String>,
    /// Samples per case.
    #[serde(default = "one")]
    pub repeat: u32,
    /// Variables shared by every case.
    #[serde(default)]
    pub vars: toml::Table,
    /// The cases.
    #[serde(default)]
    pub cases: Vec<Case>,
    /// What fails the comparison.
    #[serde(default)]
    pub gate: Gate,
    /// Suite name: the file's path below the evals folder, without `.toml`. Set on load.
    #[serde(skip)]
    pub name: String,
    /// The file as shown to people. Set on load.
    #[serde(skip)]
    pub path: String,
}

fn one() -> u32 {
    1
}

impl Suite {
    /// Parses and validates a suite file.
    pub fn parse(name: &str, path: &str, source: &str) -> Result<Suite, SuiteError> {
        let mut suite: Suite = tomlfile::parse(path, source)?;
        suite.name = name.to_owned();
        suite.path = path.to_owned();
        let invalid = |field: String, message: String| SuiteError::Invalid {
            location: Location::file(path).with_field(field),
            message,
        };
        PromptName::parse(&suite.prompt).map_err(|reason| {
            invalid(
                "prompt".into(),
                format!("`{}` is not a prompt name: {reason}", suite.prompt),
            )
        })?;
        if suite.repeat == 0 {
            return Err(invalid("repeat".into(), "must be at least 1".into()));
        }
        for (index, limit) in suite.gate.alert_only.iter().enumerate() {
            if !GATE_LIMITS.contains(&limit.as_str()) {
                return Err(invalid(
                    format!("gate.alert_only[{index}]"),
                    format!(
                        "`{limit}` is not a gate limit; limits are {}",
                        GATE_LIMITS.join(", ")
                    ),
                ));
            }
        }
        for (field, value) in [
            ("max_pass_rate_drop", suite.gate.max_pass_rate_drop),
            ("max_cost_increase", suite.gate.max_cost_increase),
            ("max_latency_increase", suite.gate.max_latency_increase),
        ] {
            if let Some(value) = value
                && !(value >= 0.0 && value.is_finite())
            {
                return Err(invalid(
                    format!("gate.{field}"),
                    format!("must be a non-negative number, not {value}"),
                ));
            }
        }
        let mut seen = BTreeSet::new();
        for (index, case) in suite.cases.iter().enumerate() {
            if case.name.trim().is_empty() {
                return Err(invalid(format!("cases[{index}].name"), "is empty".into()));
            }
            if !seen.insert(case.name.as_str()) {
                return Err(invalid(
                    format!("cases[{index}].name"),
                    format!("`{}` names two cases; case names must be unique", case.name),
                ));
            }
        }
        suite.case_vars_all()?;
        Ok(suite)
    }

    /// Returns the variables of case `index`: the suite's `[vars]` overlaid with the case's.
    pub fn case_vars(&self, index: usize) -> Result<Vars, SuiteError> {
        let mut vars = Vars::new();
        let case = &self.cases[index];
        for (field, table) in [
            ("vars", &self.vars),
            (&*format!("cases[{index}].vars"), &case.vars),
        ] {
            for (key, value) in table {
                let json = crate::prompt::toml_value_to_json(value).map_err(|message| {
                    SuiteError::Invalid {
                        location: Location::file(&self.path).with_field(format!("{field}.{key}")),
                        message,
                    }
                })?;
                vars.insert(key.clone(), json);
            }
        }
        Ok(vars)
    }

    fn case_vars_all(&self) -> Result<(), SuiteError> {
        (0..self.cases.len()).try_for_each(|i| self.case_vars(i).map(drop))
    }
}

/// Why a `SUITE:CASE` reference names no case.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CaseRefError {
    /// The reference is not `SUITE:CASE`.
    #[error("`{reference}` is not SUITE:CASE")]
    Malformed { reference: String },
    /// No suite of that name.
    #[error("no eval suite `{suite}`")]
    UnknownSuite { suite: String, known: Vec<String> },
    /// The suite has no case of that name.
    #[error("eval suite `{suite}` has no case `{case}`")]
    UnknownCase {
        suite: String,
        case: String,
        known: Vec<String>,
    },
}

/// Finds a suite by name (its path below the evals folder, without `.toml`).
pub fn find_suite<'a>(suites: &'a [Suite], name: &str) -> Result<&'a Suite, CaseRefError> {
    suites
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| CaseRefError::UnknownSuite {
            suite: name.to_owned(),
            known: suites.iter().map(|s| s.name.clone()).collect(),
        })
}

/// Finds the case a `SUITE:CASE` reference names (`triage:refund`).
pub fn find_case<'a>(
    suites: &'a [Suite],
    reference: &str,
) -> Result<(&'a Suite, usize), CaseRefError> {
    let Some((suite_name, case_name)) = reference.rsplit_once(':') else {
        return Err(CaseRefError::Malformed {
            reference: reference.to_owned(),
        });
    };
    let suite = find_suite(suites, suite_name)?;
    let index = suite
        .cases
        .iter()
        .position(|c| c.name == case_name)
        .ok_or_else(|| CaseRefError::UnknownCase {
            suite: suite_name.to_owned(),
            case: case_name.to_owned(),
            known: suite.cases.iter().map(|c| c.name.clone()).collect(),
        })?;
    Ok((suite, index))
}

/// Reads every `*.toml` suite below `dir`; `folder` is how the folder is shown (`evals`).
///
/// Returns the suites that parse and the errors of those that do not.
pub fn load_suites(dir: &Path, folder: &str) -> (Vec<Suite>, Vec<SuiteError>) {
    let mut files = Vec::new();
    collect(dir, "", &mut files);
    files.sort();
    let mut suites = Vec::new();
    let mut errors = Vec::new();
    for relative in files {
        let path = format!("{folder}/{relative}");
        let name = relative.trim_end_matches(".toml");
        match std::fs::read_to_string(dir.join(&relative)) {
            Ok(text) => match Suite::parse(name, &path, &text) {
                Ok(suite) => suites.push(suite),
                Err(e) => errors.push(e),
            },
            Err(e) => errors.push(SuiteError::Io {
                location: Location::file(path),
                message: e.to_string(),
            }),
        }
    }
    (suites, errors)
}

fn collect(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            collect(&entry.path(), &format!("{prefix}{name}/"), out);
        } else if kind.is_file() && name.ends_with(".toml") {
            out.push(format!("{prefix}{name}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUITE: &str = r#"
prompt = "support/triage"
repeat = 2
[vars]
product = "Acme"
[[cases]]
name = "refund"
vars = { ticket = "money back", product = "Widget" }
assert = [
  { type = "contains", value = "refund" },
  { type = "max_chars", value = 400 },
  { type = "is_json" },
]
[gate]
max_pass_rate_drop = 3.0
"#;

    #[test]
    fn finds_a_case_by_suite_and_case_name() {
        let suites = [Suite::parse("triage", "evals/triage.toml", SUITE).unwrap()];
        let (suite, index) = find_case(&suites, "triage:refund").unwrap();
        assert_eq!((suite.name.as_str(), index), ("triage", 0));
        assert!(matches!(
            find_case(&suites, "refund"),
            Err(CaseRefError::Malformed { .. })
        ));
        assert_eq!(
            find_case(&suites, "other:refund").unwrap_err(),
            CaseRefError::UnknownSuite {
                suite: "other".into(),
                known: vec!["triage".into()]
            }
        );
        assert_eq!(
            find_case(&suites, "triage:crash").unwrap_err(),
            CaseRefError::UnknownCase {
                suite: "triage".into(),
                case: "crash".into(),
                known: vec!["refund".into()]
            }
        );
    }

    #[test]
    fn parses_the_spec_example() {
        let suite = Suite::parse("triage", "evals/triage.toml", SUITE).unwrap();
        assert_eq!(suite.repeat, 2);
        assert_eq!(suite.cases[0].assertions.len(), 3);
        assert_eq!(suite.gate.max_pass_rate_drop, Some(3.0));
        let vars = suite.case_vars(0).unwrap();
        assert_eq!(vars["product"], "Widget", "case vars win over suite vars");
        assert_eq!(vars["ticket"], "money back");
    }

    #[test]
    fn refuses_unknown_assertions_with_their_field() {
        let src = SUITE.replace("\"contains\"", "\"containz\"");
        let err = Suite::parse("t", "evals/t.toml", &src).unwrap_err();
        assert_eq!(
            err.location().field.as_deref(),
            Some("cases[0].assert[0].type"),
            "{err}"
        );
        assert_eq!(err.location().line, Some(10));
        assert!(err.to_string().contains("containz"), "{err}");
    }

    #[test]
    fn refuses_duplicate_case_names_and_zero_repeat() {
        let dup = format!("{SUITE}\n[[cases]]\nname = \"refund\"\n");
        let err = Suite::parse("t", "evals/t.toml", &dup).unwrap_err();
        assert_eq!(err.location().field.as_deref(), Some("cases[1].name"));
        let zero = SUITE.replace("repeat = 2", "repeat = 0");
        assert!(Suite::parse("t", "evals/t.toml", &zero).is_err());
    }
}
