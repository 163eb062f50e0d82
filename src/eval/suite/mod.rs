//! The eval suite file format.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

mod parse;

use super::casefile::DiskCaseFiles;
use super::gate::Gate;
use crate::base::location::Location;
use crate::base::tomlfile::{self, TomlError};
use crate::prompt::{Variable, Vars};

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
    #[error("{location}: cannot read the file: {source}")]
    Io {
        location: Location,
        #[source]
        source: std::sync::Arc<std::io::Error>,
    },
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

pub use super::case::{Assertion, Case};

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
    /// Rounds of tool calls a case with `tool_results` answers before its final answer.
    #[serde(default = "default_max_turns")]
    pub max_turns: u32,
    /// Variables shared by every case.
    #[serde(default)]
    pub vars: toml::Table,
    /// The cases.
    #[serde(default)]
    pub cases: Vec<Case>,
    /// What fails the comparison.
    #[serde(default)]
    pub gate: Gate,
    /// The arms `eval --matrix` compares: every combination of these models, providers
    /// and parameters, on the head.
    #[serde(skip)]
    pub matrix: crate::eval::arms::Matrix,
    /// Suite name: the file's path below the evals folder, without `.toml`. Set on load.
    #[serde(skip)]
    pub name: String,
    /// The file as shown to people. Set on load.
    #[serde(skip)]
    pub path: String,
    /// The file's text, to find the line of a field. Set on load.
    #[serde(skip)]
    pub source: String,
    /// The lines of `source`'s fields, parsed once when a first problem is placed: a check
    /// placing every case of a 200-case file parsed the file 200 times.
    #[serde(skip)]
    pub lines: tomlfile::LazyFieldLines,
}

impl Suite {
    /// The provider that grades an `llm_judge` naming `named`: that one, else the suite's,
    /// else the prompt's.
    pub fn judge_provider<'a>(&'a self, named: Option<&'a str>, prompt: &'a str) -> &'a str {
        named.or(self.provider.as_deref()).unwrap_or(prompt)
    }

    /// The line where `field` (`cases[2].assert[0]`) is written in the suite file.
    pub fn line_of(&self, field: &str) -> Option<usize> {
        self.lines.of(&self.source).line_of(field)
    }
}

fn one() -> u32 {
    1
}

fn default_max_turns() -> u32 {
    crate::prompt::DEFAULT_MAX_TURNS
}

impl Suite {
    /// Returns the variables of case `index`: the suite's `[vars]` overlaid with the case's.
    /// A CSV case's text is typed by the variable it fills in `declared` (as `--var` is);
    /// a name the prompt does not declare keeps its text.
    pub fn case_vars(
        &self,
        index: usize,
        declared: &BTreeMap<String, Variable>,
    ) -> Result<Vars, SuiteError> {
        let mut vars = Vars::new();
        let case = &self.cases[index];
        for (key, value) in &self.vars {
            let json =
                crate::prompt::toml_value_to_json(value).map_err(|why| SuiteError::Invalid {
                    location: Location::file(&self.path).with_field(format!("vars.{key}")),
                    message: why.to_string(),
                })?;
            vars.insert(key.clone(), json);
        }
        let text_values = case.origin.as_ref().is_some_and(|o| o.text_values);
        for (key, value) in &case.vars {
            let typed = match (value, declared.get(key)) {
                (toml::Value::String(text), Some(variable)) if text_values => {
                    variable.ty.coerce(text).map_err(|e| e.to_string())
                }
                _ => crate::prompt::toml_value_to_json(value).map_err(|e| e.to_string()),
            };
            let json = typed.map_err(|message| SuiteError::Invalid {
                location: self.case_location(index, &format!("vars.{key}")),
                message,
            })?;
            vars.insert(key.clone(), json);
        }
        Ok(vars)
    }

    /// Where `field` of case `index` is written (`assert[0].value`, or empty for the case):
    /// its row of a case file, or its line of the suite file.
    pub fn case_location(&self, index: usize, field: &str) -> Location {
        let case = &self.cases[index];
        match &case.origin {
            Some(origin) => {
                let location = Location::file(&origin.file).at_line(Some(origin.line));
                if field.is_empty() {
                    location
                } else {
                    location.with_field(field)
                }
            }
            None => {
                let full = if field.is_empty() {
                    format!("cases[{index}]")
                } else {
                    format!("cases[{index}].{field}")
                };
                Location::file(&self.path)
                    .at_line(self.line_of(&full))
                    .with_field(full)
            }
        }
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
    let loaded = load_suites_named(dir, folder, &[]);
    (loaded.suites, loaded.errors)
}

/// Suites read for a run of some of them.
#[derive(Debug, Default)]
pub struct LoadedSuites {
    /// The suites that parse: the named ones whole, the others without their case files.
    pub suites: Vec<Suite>,
    /// The problems of the named suites (of every suite when none is named).
    pub errors: Vec<SuiteError>,
    /// The problems of the suites not named, whose case files were not read.
    pub others: Vec<SuiteError>,
}

/// Reads the suites below `dir`: those in `names` (every one when it is empty) whole, the
/// others without reading their case files, so that a run of one suite neither reads
/// every case nor stops on another suite's problem.
pub fn load_suites_named(dir: &Path, folder: &str, names: &[String]) -> LoadedSuites {
    let mut files = Vec::new();
    collect(dir, "", &mut files);
    files.sort();
    let mut loaded = LoadedSuites::default();
    // The project root is the evals folder less the components `folder` names.
    let root = dir
        .ancestors()
        .nth(Path::new(folder).components().count())
        .unwrap_or(dir)
        .to_owned();
    for relative in files {
        let path = format!("{folder}/{relative}");
        let name = relative.trim_end_matches(".toml");
        let named = names.is_empty() || names.iter().any(|n| n == name);
        let folder_of = |p: &str| {
            p.rsplit_once('/')
                .map_or(String::new(), |(d, _)| d.to_owned())
        };
        let files = DiskCaseFiles {
            root: &root,
            dir: &dir.join(folder_of(&relative)),
            shown: match folder_of(&relative) {
                sub if sub.is_empty() => folder.to_owned(),
                sub => format!("{folder}/{sub}"),
            },
        };
        let unread = super::casefile::UnreadCaseFiles;
        let case_files: &dyn super::casefile::CaseFiles = if named { &files } else { &unread };
        let parsed = match std::fs::read_to_string(dir.join(&relative)) {
            Ok(text) => Suite::parse_with(name, &path, &text, case_files),
            Err(e) => Err(vec![SuiteError::Io {
                location: Location::file(path),
                source: std::sync::Arc::new(e),
            }]),
        };
        match parsed {
            Ok(suite) => loaded.suites.push(suite),
            Err(errors) if named => loaded.errors.extend(errors),
            Err(errors) => loaded.others.extend(errors),
        }
    }
    loaded
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
        let vars = suite.case_vars(0, &BTreeMap::new()).unwrap();
        assert_eq!(vars["product"], "Widget", "case vars win over suite vars");
        assert_eq!(vars["ticket"], "money back");
    }

    #[test]
    fn refuses_unknown_assertions_with_their_field() {
        let src = SUITE.replace("\"contains\"", "\"containz\"");
        let errors = Suite::parse("t", "evals/t.toml", &src).unwrap_err();
        let err = &errors[0];
        assert!(
            err.location()
                .field
                .as_deref()
                .is_some_and(|f| f.starts_with("cases[0].assert[0]")),
            "{err}"
        );
        assert_eq!(err.location().line, Some(10));
        assert!(
            err.to_string()
                .contains("unknown assertion type `containz`; did you mean `contains`?"),
            "{err}"
        );
    }

    #[test]
    fn reports_every_broken_assertion_at_its_own_line() {
        let src = r#"prompt = "a"

[[cases]]
name = "one"
assert = [
  { type = "regex", value = "([unclosed" },
  { type = "json_schema", value = { type = "objekt" } },
]

[[cases]]
name = "two"
assert = [{ type = "similar", value = "x", threshold = 1.5 }]

[[cases]]
name = "three"
assert = [{ type = "contains", value = "" }, { type = "containz", value = "a" }]
"#;
        let errors = Suite::parse("t", "evals/t.toml", src).unwrap_err();
        let found: Vec<(Option<usize>, String)> = errors
            .iter()
            .map(|e| {
                (
                    e.location().line,
                    e.location().field.clone().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            found,
            [
                (Some(6), "cases[0].assert[0].value".to_owned()),
                (Some(7), "cases[0].assert[1].value".to_owned()),
                (Some(12), "cases[1].assert[0].threshold".to_owned()),
                (Some(16), "cases[2].assert[0].value".to_owned()),
                (Some(16), "cases[2].assert[1].type".to_owned()),
            ],
            "{errors:#?}"
        );
        assert!(
            errors[0]
                .to_string()
                .contains("not a valid regular expression")
        );
        assert!(errors[1].to_string().contains("not a valid JSON schema"));
    }

    #[test]
    fn refuses_duplicate_case_names_and_zero_repeat() {
        let dup = format!("{SUITE}\n[[cases]]\nname = \"refund\"\n");
        let errors = Suite::parse("t", "evals/t.toml", &dup).unwrap_err();
        assert_eq!(errors[0].location().field.as_deref(), Some("cases[1].name"));
        let zero = SUITE.replace("repeat = 2", "repeat = 0");
        assert!(Suite::parse("t", "evals/t.toml", &zero).is_err());
    }
}
