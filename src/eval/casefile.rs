//! Cases kept in files beside a suite: JSON Lines (`{"name", "vars", "assert"}` per line) or
//! CSV with a header (a column per variable, and an optional `name` column).
//!
//! A file's cases are read one row at a time, each row's problems reported at its own line,
//! so a file with thousands of rows shows every bad row in one run.

use std::io::BufRead;

use serde::Deserialize;

use super::suite::{Assertion, Case};

/// The largest case file read, so that a mistaken path cannot fill memory.
pub const MAX_CASE_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// A problem in a case file: the one-based line (row) and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct RowError {
    pub line: Option<usize>,
    pub message: String,
}

/// One JSON Lines row.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRow {
    name: Option<String>,
    #[serde(default)]
    vars: serde_json::Map<String, serde_json::Value>,
    #[serde(default, rename = "assert")]
    assertions: Vec<Assertion>,
}

/// Reads the cases of a file; `label` names its rows that have no `name` (`triage.jsonl:3`).
pub fn read_cases(
    reader: impl BufRead,
    format: CaseFormat,
    label: &str,
) -> (Vec<Case>, Vec<RowError>) {
    match format {
        CaseFormat::JsonLines => read_json_lines(reader, label),
        CaseFormat::Csv => read_csv(reader, label),
    }
}

/// The formats a case file may have, by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseFormat {
    JsonLines,
    Csv,
}

impl CaseFormat {
    /// The format of a file path: `.jsonl` or `.csv`.
    pub fn of(path: &str) -> Option<CaseFormat> {
        if path.ends_with(".jsonl") {
            Some(CaseFormat::JsonLines)
        } else if path.ends_with(".csv") {
            Some(CaseFormat::Csv)
        } else {
            None
        }
    }
}

fn read_json_lines(reader: impl BufRead, label: &str) -> (Vec<Case>, Vec<RowError>) {
    let mut cases = Vec::new();
    let mut errors = Vec::new();
    for (index, line) in reader.lines().enumerate() {
        let number = index + 1;
        let line = match line {
            Ok(line) => line,
            Err(e) => {
                errors.push(RowError {
                    line: Some(number),
                    message: format!("cannot read the line: {e}"),
                });
                break;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<JsonRow>(&line) {
            Ok(row) => match to_toml(row.vars) {
                Ok(vars) => cases.push(Case {
                    name: row.name.unwrap_or_else(|| format!("{label}:{number}")),
                    vars,
                    assertions: row.assertions,
                }),
                Err(message) => errors.push(RowError {
                    line: Some(number),
                    message,
                }),
            },
            Err(e) => errors.push(RowError {
                line: Some(number),
                message: format!("not a case: {e}"),
            }),
        }
    }
    (cases, errors)
}

fn read_csv(reader: impl BufRead, label: &str) -> (Vec<Case>, Vec<RowError>) {
    let mut csv = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(reader);
    let header = match csv.headers() {
        Ok(header) => header.clone(),
        Err(e) => {
            return (
                Vec::new(),
                vec![RowError {
                    line: Some(1),
                    message: format!("cannot read the header: {e}"),
                }],
            );
        }
    };
    let mut cases = Vec::new();
    let mut errors = Vec::new();
    for record in csv.records() {
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                let line = e.position().map(|p| p.line() as usize);
                errors.push(RowError {
                    line,
                    message: e.to_string(),
                });
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line() as usize);
        let mut name = None;
        let mut vars = toml::Table::new();
        for (column, cell) in header.iter().zip(record.iter()) {
            if column == "name" {
                name = Some(cell.to_owned()).filter(|n| !n.is_empty());
            } else {
                vars.insert(column.to_owned(), cell_value(cell));
            }
        }
        cases.push(Case {
            name: name.unwrap_or_else(|| format!("{label}:{line}")),
            vars,
            assertions: Vec::new(),
        });
    }
    (cases, errors)
}

/// A CSV cell as a value: a whole number, a decimal or `true`/`false` where it reads as
/// one (JSON's spelling, so `007` stays text), else the text.
fn cell_value(cell: &str) -> toml::Value {
    match serde_json::from_str::<serde_json::Value>(cell) {
        Ok(serde_json::Value::Number(n)) if n.is_i64() => {
            toml::Value::Integer(n.as_i64().unwrap_or_default())
        }
        Ok(serde_json::Value::Number(n)) => toml::Value::Float(n.as_f64().unwrap_or_default()),
        Ok(serde_json::Value::Bool(b)) => toml::Value::Boolean(b),
        _ => toml::Value::String(cell.to_owned()),
    }
}

/// JSON variables as TOML values; `null` has no TOML form.
fn to_toml(vars: serde_json::Map<String, serde_json::Value>) -> Result<toml::Table, String> {
    let value = serde_json::Value::Object(vars);
    toml::Value::try_from(&value)
        .map_err(|e| format!("the variables cannot be used: {e} (null is not a value)"))
        .and_then(|v| match v {
            toml::Value::Table(table) => Ok(table),
            _ => Err("`vars` must be an object".into()),
        })
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
pub(super) struct DiskCaseFiles<'a> {
    /// The suite file's folder on disk.
    pub dir: &'a std::path::Path,
    /// The same folder as shown (`evals/sub`).
    pub shown: String,
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
        if size > MAX_CASE_FILE_BYTES {
            return Err(format!(
                "`{shown}` is {size} bytes, more than the {} a case file may have",
                MAX_CASE_FILE_BYTES
            ));
        }
        Ok((Box::new(std::io::BufReader::new(file)), shown))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_rows_become_cases_and_bad_rows_are_named_by_line() {
        let text = "{\"name\": \"refund\", \"vars\": {\"ticket\": \"money\", \"n\": 3}, \"assert\": [{\"type\": \"contains\", \"value\": \"billing\"}]}\n\n{\"vars\": {\"ticket\": \"hi\"}}\n{\"vars\": {\"ticket\": null}}\nnot json\n";
        let (cases, errors) = read_cases(text.as_bytes(), CaseFormat::JsonLines, "t.jsonl");
        assert_eq!(cases.len(), 2);
        assert_eq!(cases[0].name, "refund");
        assert_eq!(cases[0].vars["n"], toml::Value::Integer(3));
        assert_eq!(cases[0].assertions.len(), 1);
        assert_eq!(cases[1].name, "t.jsonl:3");
        let lines: Vec<_> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [Some(4), Some(5)], "{errors:?}");
    }

    #[test]
    fn csv_columns_are_variables_with_their_natural_types() {
        let text = "name,ticket,n,zip\nrefund,\"money, back\",3,007\n,hello,x,1\n";
        let (cases, errors) = read_cases(text.as_bytes(), CaseFormat::Csv, "t.csv");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(cases[0].name, "refund");
        assert_eq!(cases[0].vars["ticket"].as_str(), Some("money, back"));
        assert_eq!(cases[0].vars["n"], toml::Value::Integer(3));
        assert_eq!(cases[0].vars["zip"].as_str(), Some("007"));
        assert_eq!(cases[1].name, "t.csv:3", "an empty name cell names the row");
        let (_, errors) = read_cases("a,b\n1\n".as_bytes(), CaseFormat::Csv, "t.csv");
        assert_eq!(errors.len(), 1);
    }
}
