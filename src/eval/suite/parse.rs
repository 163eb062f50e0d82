//! Reading a suite file: the TOML, then each case and each assertion apart (and the case
//! files it names), so that every problem of the file is reported in one run, each at its
//! line and field.

use std::collections::BTreeSet;

use serde::Deserialize;

use super::{Assertion, Case, Gate, Suite, SuiteError, one};
use crate::base::location::Location;
use crate::base::tomlfile;
use crate::eval::casefile::{CaseFiles, CaseFormat, NoCaseFiles, read_cases};
use crate::prompt::{DEFAULT_MAX_TURNS, MAX_TURNS_LIMIT, PromptName};

/// A case as written, before its assertions are read one by one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: String,
    #[serde(default)]
    vars: toml::Table,
    #[serde(default)]
    assert: Vec<toml::Value>,
    #[serde(default)]
    tool_results: toml::Table,
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
        tool_results: tool_results(raw.tool_results),
        origin: None,
    })
}

/// Canned tool results as the model is given them: a string as it is, anything else as
/// its JSON text.
fn tool_results(table: toml::Table) -> std::collections::BTreeMap<String, String> {
    table
        .into_iter()
        .map(|(name, value)| {
            let text = match value {
                toml::Value::String(text) => text,
                other => crate::prompt::toml_value_to_json(&other)
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
            };
            (name, text)
        })
        .collect()
}

/// Reads one assertion at `at` and records what makes it impossible to check.
fn read_assertion(value: toml::Value, at: &str, problems: &mut Problems<'_>) -> Option<Assertion> {
    let assertion = read_at::<Assertion>(value, at, problems)?;
    for invalid in crate::eval::assertions::validate(&assertion)
        .into_iter()
        .chain(crate::eval::contract_checks::validate(&assertion))
    {
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
    let Some(format) = CaseFormat::of(relative) else {
        problems.push(
            field,
            format!("`{relative}` is neither a `.jsonl` nor a `.csv` file"),
        );
        return;
    };
    let (reader, shown) = match files.open(relative) {
        Ok(opened) => opened,
        Err(why) => return problems.push(field, why.to_string()),
    };
    let label = relative.rsplit('/').next().unwrap_or(relative);
    let (read, errors) = read_cases(reader, format, &shown, label);
    for error in errors {
        problems.errors.push(SuiteError::Invalid {
            location: Location::file(&shown).at_line(error.line),
            message: error.message,
        });
    }
    for case in &read {
        let line = case.origin.as_ref().map(|o| o.line);
        for (a, assertion) in case.assertions.iter().enumerate() {
            for invalid in crate::eval::assertions::validate(assertion)
                .into_iter()
                .chain(crate::eval::contract_checks::validate(assertion))
            {
                problems.errors.push(SuiteError::Invalid {
                    location: Location::file(&shown)
                        .at_line(line)
                        .with_field(format!("assert[{a}].{}", invalid.field)),
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
    max_turns: Option<u32>,
    #[serde(default)]
    matrix: toml::Table,
}

/// Collects a suite file's errors, each at its line and field.
struct Problems<'a> {
    path: &'a str,
    source: &'a str,
    /// The file parsed for lines, once, and only when there is a problem to place; handed
    /// to the suite, so that placing its cases later does not parse it again.
    lines: tomlfile::LazyFieldLines,
    errors: Vec<SuiteError>,
}

impl Problems<'_> {
    fn push(&mut self, field: String, message: String) {
        let line = self.lines.of(self.source).line_of(&field);
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
            lines: Default::default(),
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
        let max_turns = raw.max_turns.unwrap_or(DEFAULT_MAX_TURNS);
        if !(1..=MAX_TURNS_LIMIT).contains(&max_turns) {
            problems.push(
                "max_turns".into(),
                format!("must be from 1 to {MAX_TURNS_LIMIT}, not {max_turns}"),
            );
        }
        let matrix = crate::eval::arms::Matrix::read(&raw.matrix).unwrap_or_else(|e| {
            problems.push("matrix".into(), e.0);
            Default::default()
        });
        for (limit, message) in raw.gate.problems() {
            problems.push(format!("gate.{limit}"), message);
        }
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
                // Exactly as long as needed: every case is kept for the whole run.
                let mut all = Vec::with_capacity(shared.len() + case.assertions.len());
                all.extend(shared.iter().cloned());
                all.append(&mut case.assertions);
                case.assertions = all;
            }
        }
        let suite = Suite {
            prompt: raw.prompt,
            provider: raw.provider,
            repeat: raw.repeat,
            max_turns,
            vars: raw.vars,
            cases,
            gate: raw.gate,
            matrix,
            name: name.to_owned(),
            path: path.to_owned(),
            source: source.to_owned(),
            lines: std::mem::take(&mut problems.lines),
        };
        check_case_names(&suite, &mut problems);
        for index in 0..suite.cases.len() {
            if let Err(e) = suite.case_vars(index, &Default::default()) {
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
}

/// Case names are unique and not empty; a problem is shown at the case's own row.
fn check_case_names(suite: &Suite, problems: &mut Problems<'_>) {
    let mut seen = BTreeSet::new();
    for (index, case) in suite.cases.iter().enumerate() {
        let message = if case.name.trim().is_empty() {
            "is empty".to_owned()
        } else if !seen.insert(case.name.as_str()) {
            format!("`{}` names two cases; case names must be unique", case.name)
        } else {
            continue;
        };
        problems.errors.push(SuiteError::Invalid {
            location: suite.case_location(index, "name"),
            message,
        });
    }
}

/// Serde's "unknown variant `containz`, expected one of …" for an assertion type, said
/// with the closest known type.
fn explain_shape_error(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown variant `") else {
        return message.to_owned();
    };
    let typed = rest.split('`').next().unwrap_or_default();
    let kinds = crate::eval::assertions::KINDS;
    match crate::base::suggest::closest(typed, kinds.iter().copied()) {
        Some(near) => format!("unknown assertion type `{typed}`; did you mean `{near}`?"),
        None => format!(
            "unknown assertion type `{typed}`; the types are {}",
            kinds.join(", ")
        ),
    }
}
