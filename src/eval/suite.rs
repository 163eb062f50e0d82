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
    /// Smallest pass rate of the new version, in percent, whatever the old one did.
    pub min_pass_rate: Option<f64>,
    /// With a level (0.05), the pass rate gate fails only on a drop that is significant at
    /// that level by the paired test, instead of on any drop past `max_pass_rate_drop`.
    pub significance: Option<f64>,
    /// Limits whose breach warns instead of failing (`max_cost_increase`, ...).
    #[serde(default)]
    pub alert_only: Vec<String>,
}

/// The limits a suite's `[gate]` may set, as named in the file.
pub const GATE_LIMITS: [&str; 4] = [
    "max_pass_rate_drop",
    "max_cost_increase",
    "max_latency_increase",
    "min_pass_rate",
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
    /// The file's text, to find the line of a field. Set on load.
    #[serde(skip)]
    pub source: String,
}

impl Suite {
    /// The line where `field` (`cases[2].assert[0]`) is written in the suite file.
    pub fn line_of(&self, field: &str) -> Option<usize> {
        tomlfile::line_of_field(&self.source, field)
    }
}

fn one() -> u32 {
    1
}

/// A case as written, before its assertions are read one by one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: String,
    #[serde(default)]
    vars: toml::Table,
    #[serde(default)]
    assert: Vec<toml::Value>,
}

/// The entries of `cases`, each with its index: inline tables and case file paths.
fn case_entries(
    cases: Option<toml::Value>,
    problems: &mut Problems<'_>,
) -> Vec<(usize, toml::Value)> {
    match cases {
        None => Vec::new(),
        Some(toml::Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .filter(|(index, item)| {
                let ok = item.is_table() || item.is_str();
                if !ok {
                    problems.push(
                        format!("cases[{index}]"),
                        "must be a case table or the path of a case file".into(),
                    );
                }
                ok
            })
            .collect(),
        Some(path @ toml::Value::String(_)) => vec![(0, path)],
        Some(_) => {
            problems.push(
                "cases".into(),
                "must be `[[cases]]` tables or the path of a case file (`cases = \"cases/triage.jsonl\"`)".into(),
            );
            Vec::new()
        }
    }
}

/// Reads case `index`, and each of its assertions apart, so that one broken assertion
/// hides none of the others' problems.
fn read_case(index: usize, value: toml::Value, problems: &mut Problems<'_>) -> Option<Case> {
    let at = format!("cases[{index}]");
    let raw: RawCase = read_at(value, &at, problems)?;
    let assertions = raw
        .assert
        .into_iter()
        .enumerate()
        .filter_map(|(a, value)| read_assertion(value, &format!("{at}.assert[{a}]"), problems))
        .collect();
    Some(Case {
        name: raw.name,
        vars: raw.vars,
        assertions,
    })
}

/// Reads one assertion at `at` and records what makes it impossible to check.
fn read_assertion(value: toml::Value, at: &str, problems: &mut Problems<'_>) -> Option<Assertion> {
    let assertion = read_at::<Assertion>(value, at, problems)?;
    for invalid in super::assertions::validate(&assertion) {
        problems.push(format!("{at}.{}", invalid.field), invalid.message);
    }
    Some(assertion)
}

/// Reads the cases of a case file named by entry `index` of `cases`; a row's problems are
/// reported at the row's line in that file.
fn read_case_file(
    relative: &str,
    index: usize,
    files: &dyn CaseFiles,
    cases: &mut Vec<Case>,
    problems: &mut Problems<'_>,
) {
    let field = format!("cases[{index}]");
    let Some(format) = super::casefile::CaseFormat::of(relative) else {
        problems.push(
            field,
            format!("`{relative}` is neither a `.jsonl` nor a `.csv` file"),
        );
        return;
    };
    let (reader, shown) = match files.open(relative) {
        Ok(opened) => opened,
        Err(message) => return problems.push(field, message),
    };
    let label = relative.rsplit('/').next().unwrap_or(relative);
    let (read, errors) = super::casefile::read_cases(reader, format, label);
    for error in errors {
        problems.errors.push(SuiteError::Invalid {
            location: Location::file(&shown).at_line(error.line),
            message: error.message,
        });
    }
    for case in &read {
        for assertion in &case.assertions {
            for invalid in super::assertions::validate(assertion) {
                problems.errors.push(SuiteError::Invalid {
                    location: Location::file(&shown)
                        .with_field(format!("{}.{}", case.name, invalid.field)),
                    message: invalid.message,
                });
            }
        }
    }
    cases.extend(read);
}

/// Deserializes a value found at `field`, or records why it cannot be.
fn read_at<T: serde::de::DeserializeOwned>(
    value: toml::Value,
    field: &str,
    problems: &mut Problems<'_>,
) -> Option<T> {
    serde_path_to_error::deserialize(value)
        .map_err(|e| {
            let inner = tomlfile::field_path(&e.path().to_string());
            let field = match inner.as_str() {
                "" => field.to_owned(),
                inner => format!("{field}.{inner}"),
            };
            problems.push(field, explain_shape_error(e.inner().message()));
        })
        .ok()
}

/// A suite file as written, before its cases are read one by one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSuite {
    prompt: String,
    provider: Option<String>,
    #[serde(default = "one")]
    repeat: u32,
    #[serde(default)]
    vars: toml::Table,
    /// Inline cases (`[[cases]]`), a case file (`cases = "cases/a.jsonl"`), or an array
    /// of both.
    cases: Option<toml::Value>,
    /// Assertions every case must meet, besides its own.
    #[serde(default, rename = "assert")]
    assertions: Vec<toml::Value>,
    #[serde(default)]
    gate: Gate,
}

/// Where a suite's case files are read from.
pub trait CaseFiles {
    /// Opens a case file named relative to the suite file's folder; `shown` is how the
    /// file is named in messages (`evals/cases/triage.jsonl`).
    fn open(&self, relative: &str) -> Result<(Box<dyn std::io::BufRead>, String), String>;
}

/// No case files: a suite that names one is refused.
pub struct NoCaseFiles;

impl CaseFiles for NoCaseFiles {
    fn open(&self, relative: &str) -> Result<(Box<dyn std::io::BufRead>, String), String> {
        Err(format!("cannot read case file `{relative}` here"))
    }
}

/// Case files on disk, in the suite file's folder or below it.
struct DiskCaseFiles<'a> {
    /// The suite file's folder on disk.
    dir: &'a Path,
    /// The same folder as shown (`evals/sub`).
    shown: String,
}

impl CaseFiles for DiskCaseFiles<'_> {
    fn open(&self, relative: &str) -> Result<(Box<dyn std::io::BufRead>, String), String> {
        crate::prompt::check_segments(relative).map_err(|reason| {
            format!("`{relative}` must be a path inside the suite's folder: {reason}")
        })?;
        let shown = format!("{}/{relative}", self.shown);
        let file = std::fs::File::open(self.dir.join(relative))
            .map_err(|e| format!("cannot read `{shown}`: {e}"))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        if size > super::casefile::MAX_CASE_FILE_BYTES {
            return Err(format!(
                "`{shown}` is {size} bytes, more than the {} a case file may have",
                super::casefile::MAX_CASE_FILE_BYTES
            ));
        }
        Ok((Box::new(std::io::BufReader::new(file)), shown))
    }
}

/// Collects a suite file's errors, each at its line and field.
struct Problems<'a> {
    path: &'a str,
    source: &'a str,
    errors: Vec<SuiteError>,
}

impl Problems<'_> {
    fn push(&mut self, field: String, message: String) {
        let line = tomlfile::line_of_field(self.source, &field);
        self.errors.push(SuiteError::Invalid {
            location: Location::file(self.path).at_line(line).with_field(field),
            message,
        });
    }
}

impl Suite {
    /// Parses and validates a suite file that names no case file.
    pub fn parse(name: &str, path: &str, source: &str) -> Result<Suite, Vec<SuiteError>> {
        Suite::parse_with(name, path, source, &NoCaseFiles)
    }

    /// Parses and validates a suite file, reading its case files from `files`, and returns
    /// every problem it has, each with its line and field (a file that is not TOML, or not
    /// shaped like a suite at the top, stops at its first problem).
    pub fn parse_with(
        name: &str,
        path: &str,
        source: &str,
        files: &dyn CaseFiles,
    ) -> Result<Suite, Vec<SuiteError>> {
        let raw: RawSuite = tomlfile::parse(path, source).map_err(|e| vec![e.into()])?;
        let mut problems = Problems {
            path,
            source,
            errors: Vec::new(),
        };
        if let Err(reason) = PromptName::parse(&raw.prompt) {
            problems.push(
                "prompt".into(),
                format!("`{}` is not a prompt name: {reason}", raw.prompt),
            );
        }
        if raw.repeat == 0 {
            problems.push("repeat".into(), "must be at least 1".into());
        }
        check_gate(&raw.gate, &mut problems);
        let mut shared = Vec::new();
        for (a, value) in raw.assertions.into_iter().enumerate() {
            if let Some(assertion) = read_assertion(value, &format!("assert[{a}]"), &mut problems) {
                shared.push(assertion);
            }
        }
        let mut cases = Vec::new();
        for (index, entry) in case_entries(raw.cases, &mut problems) {
            match entry {
                toml::Value::String(relative) => {
                    read_case_file(&relative, index, files, &mut cases, &mut problems);
                }
                value => cases.extend(read_case(index, value, &mut problems)),
            }
        }
        if !shared.is_empty() {
            for case in &mut cases {
                case.assertions.splice(0..0, shared.iter().cloned());
            }
        }
        check_cases(&cases, &mut problems);
        let suite = Suite {
            prompt: raw.prompt,
            provider: raw.provider,
            repeat: raw.repeat,
            vars: raw.vars,
            cases,
            gate: raw.gate,
            name: name.to_owned(),
            path: path.to_owned(),
            source: source.to_owned(),
        };
        for index in 0..suite.cases.len() {
            if let Err(e) = suite.case_vars(index) {
                problems.errors.push(e);
            }
        }
        if problems.errors.is_empty() {
            Ok(suite)
        } else {
            // File order, so that fixing from the top down is natural.
            problems.errors.sort_by_key(|e| e.location().line);
            Err(problems.errors)
        }
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
}

fn check_gate(gate: &Gate, problems: &mut Problems<'_>) {
    for (index, limit) in gate.alert_only.iter().enumerate() {
        if !GATE_LIMITS.contains(&limit.as_str()) {
            problems.push(
                format!("gate.alert_only[{index}]"),
                format!(
                    "`{limit}` is not a gate limit; limits are {}",
                    GATE_LIMITS.join(", ")
                ),
            );
        }
    }
    for (field, value) in [
        ("max_pass_rate_drop", gate.max_pass_rate_drop),
        ("max_cost_increase", gate.max_cost_increase),
        ("max_latency_increase", gate.max_latency_increase),
    ] {
        if let Some(value) = value
            && !(value >= 0.0 && value.is_finite())
        {
            problems.push(
                format!("gate.{field}"),
                format!("must be a non-negative number, not {value}"),
            );
        }
    }
    if let Some(value) = gate.min_pass_rate
        && !(0.0..=100.0).contains(&value)
    {
        problems.push(
            "gate.min_pass_rate".into(),
            format!("must be a percentage from 0 to 100, not {value}"),
        );
    }
    if let Some(value) = gate.significance
        && !(value > 0.0 && value < 1.0)
    {
        problems.push(
            "gate.significance".into(),
            format!("must be a level between 0 and 1 (like 0.05), not {value}"),
        );
    }
}

fn check_cases(cases: &[Case], problems: &mut Problems<'_>) {
    let mut seen = BTreeSet::new();
    for (index, case) in cases.iter().enumerate() {
        if case.name.trim().is_empty() {
            problems.push(format!("cases[{index}].name"), "is empty".into());
        } else if !seen.insert(case.name.as_str()) {
            problems.push(
                format!("cases[{index}].name"),
                format!("`{}` names two cases; case names must be unique", case.name),
            );
        }
    }
}

/// Serde's "unknown variant `containz`, expected one of …" for an assertion type, said
/// with the closest known type.
fn explain_shape_error(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown variant `") else {
        return message.to_owned();
    };
    let typed = rest.split('`').next().unwrap_or_default();
    let kinds = super::assertions::KINDS;
    match crate::suggest::closest(typed, kinds.iter().copied()) {
        Some(near) => format!("unknown assertion type `{typed}`; did you mean `{near}`?"),
        None => format!(
            "unknown assertion type `{typed}`; the types are {}",
            kinds.join(", ")
        ),
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
        let folder_of = |p: &str| {
            p.rsplit_once('/')
                .map_or(String::new(), |(d, _)| d.to_owned())
        };
        let files = DiskCaseFiles {
            dir: &dir.join(folder_of(&relative)),
            shown: match folder_of(&relative) {
                sub if sub.is_empty() => folder.to_owned(),
                sub => format!("{folder}/{sub}"),
            },
        };
        match std::fs::read_to_string(dir.join(&relative)) {
            Ok(text) => match Suite::parse_with(name, &path, &text, &files) {
                Ok(suite) => suites.push(suite),
                Err(e) => errors.extend(e),
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
