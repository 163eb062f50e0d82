//! Cases kept in files beside a suite: JSON Lines (`{"name", "vars", "assert"}` per line) or
//! CSV with a header (a column per variable, and an optional `name` column).
//!
//! A file's cases are read one row at a time, each row's problems reported at its own line,
//! so a file with thousands of rows shows every bad row in one run.

use std::io::{BufRead, Read};

use serde::Deserialize;

use super::case::{Assertion, Case, CaseOrigin};

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
    #[serde(default)]
    tool_results: std::collections::BTreeMap<String, serde_json::Value>,
}

/// Reads the cases of a file shown as `shown`; `label` names its rows that have no `name`
/// (`triage.jsonl:3`). A UTF-8 byte-order mark at the start is skipped.
pub fn read_cases(
    reader: impl BufRead,
    format: CaseFormat,
    shown: &str,
    label: &str,
) -> (Vec<Case>, Vec<RowError>) {
    let reader = skip_bom(reader);
    match format {
        CaseFormat::JsonLines => read_json_lines(reader, shown, label),
        CaseFormat::Csv => read_csv(reader, shown, label),
    }
}

/// The reader past a UTF-8 byte-order mark, if it starts with one.
fn skip_bom(mut reader: impl BufRead) -> impl BufRead {
    if let Ok(start) = reader.fill_buf()
        && start.starts_with(b"\xEF\xBB\xBF")
    {
        reader.consume(3);
    }
    reader
}

fn origin(shown: &str, line: usize, text_values: bool) -> Option<CaseOrigin> {
    Some(CaseOrigin {
        file: shown.to_owned(),
        line,
        text_values,
    })
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

fn read_json_lines(reader: impl BufRead, shown: &str, label: &str) -> (Vec<Case>, Vec<RowError>) {
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
                    // Kept for the whole run: without room to grow.
                    assertions: {
                        let mut assertions = row.assertions;
                        assertions.shrink_to_fit();
                        assertions
                    },
                    tool_results: row
                        .tool_results
                        .into_iter()
                        .map(|(name, value)| match value {
                            serde_json::Value::String(text) => (name, text),
                            other => (name, other.to_string()),
                        })
                        .collect(),
                    origin: origin(shown, number, false),
                }),
                Err(why) => errors.push(RowError {
                    line: Some(number),
                    message: why.to_string(),
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

fn read_csv(reader: impl BufRead, shown: &str, label: &str) -> (Vec<Case>, Vec<RowError>) {
    // Lines are counted from the bytes themselves: the csv crate's own count is one low
    // for files with CRLF line endings.
    let counted = NewlineCounter {
        inner: reader,
        offset: 0,
        newlines: Vec::new(),
    };
    let mut csv = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(counted);
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
    let mut record = csv::StringRecord::new();
    loop {
        match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map(|p| csv.get_ref().line_at(p.byte()));
                let stop = e.is_io_error();
                errors.push(RowError {
                    line,
                    message: e.to_string(),
                });
                if stop {
                    break;
                }
                continue;
            }
        }
        let line = record
            .position()
            .map_or(0, |p| csv.get_ref().line_at(p.byte()));
        let mut name = None;
        let mut vars = toml::Table::new();
        for (column, cell) in header.iter().zip(record.iter()) {
            if column == "name" {
                name = Some(cell.to_owned()).filter(|n| !n.is_empty());
            } else {
                // The text as written: typed later by the variable it fills.
                vars.insert(column.to_owned(), toml::Value::String(cell.to_owned()));
            }
        }
        cases.push(Case {
            name: name.unwrap_or_else(|| format!("{label}:{line}")),
            vars,
            assertions: Vec::new(),
            tool_results: Default::default(),
            origin: origin(shown, line, true),
        });
    }
    (cases, errors)
}

/// A reader that notes the offset of every newline that passes through it.
struct NewlineCounter<R> {
    inner: R,
    offset: u64,
    newlines: Vec<u64>,
}

impl<R> NewlineCounter<R> {
    /// The one-based line of the byte at `byte`. After a CRLF the csv crate may give a
    /// record's start as the `\n` that ends the line before; counting newlines up to and
    /// including `byte` puts it on its own line either way.
    fn line_at(&self, byte: u64) -> usize {
        self.newlines.partition_point(|&n| n <= byte) + 1
    }
}

impl<R: Read> Read for NewlineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let offset = self.offset;
        self.newlines
            .extend(memchr::memchr_iter(b'\n', &buf[..n]).map(|i| offset + i as u64));
        self.offset += n as u64;
        Ok(n)
    }
}

/// JSON variables as TOML values; `null` has no TOML form.
fn to_toml(vars: serde_json::Map<String, serde_json::Value>) -> Result<toml::Table, VarsError> {
    match toml::Value::try_from(serde_json::Value::Object(vars))? {
        // Kept for the whole run: copied into a table of exactly its size (the
        // serializer's grows by doubling).
        toml::Value::Table(table) => {
            let mut exact = toml::Table::with_capacity(table.len());
            exact.extend(table);
            Ok(exact)
        }
        _ => Err(VarsError::NotAnObject),
    }
}

/// Why a case row's variables cannot be used.
#[derive(Debug, thiserror::Error)]
enum VarsError {
    #[error("the variables cannot be used: {0} (null is not a value)")]
    NoTomlForm(#[from] toml::ser::Error),
    #[error("`vars` must be an object")]
    NotAnObject,
}

/// Why a case file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum CaseFileError {
    #[error("cannot read case file `{relative}` here")]
    NotHere { relative: String },
    #[error("`{relative}` must be a path inside the suite's folder: {reason}")]
    BadPath {
        relative: String,
        #[source]
        reason: crate::prompt::NameError,
    },
    #[error("cannot read `{shown}`: {source}")]
    Unreadable {
        shown: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the project folder: {0}")]
    NoProjectFolder(#[source] std::io::Error),
    #[error(
        "`{shown}` is a link to `{}`, outside the project: case files are read only inside it",
        real.display()
    )]
    OutsideProject {
        shown: String,
        real: std::path::PathBuf,
    },
    #[error("`{shown}` is {size} bytes, more than the {MAX_CASE_FILE_BYTES} a case file may have")]
    TooLarge { shown: String, size: u64 },
}

/// Where a suite's case files are read from.
pub trait CaseFiles {
    /// Opens a case file named relative to the suite file's folder; `shown` is how the
    /// file is named in messages (`evals/cases/triage.jsonl`).
    fn open(&self, relative: &str) -> Result<(Box<dyn std::io::BufRead>, String), CaseFileError>;
}

/// No case files: a suite that names one is refused.
pub struct NoCaseFiles;

impl CaseFiles for NoCaseFiles {
    fn open(&self, relative: &str) -> Result<(Box<dyn std::io::BufRead>, String), CaseFileError> {
        Err(CaseFileError::NotHere {
            relative: relative.to_owned(),
        })
    }
}

/// Case files left unread: each reads as empty, for a suite that is not run.
pub struct UnreadCaseFiles;

impl CaseFiles for UnreadCaseFiles {
    fn open(&self, relative: &str) -> Result<(Box<dyn std::io::BufRead>, String), CaseFileError> {
        Ok((Box::new(std::io::empty()), relative.to_owned()))
    }
}

/// Case files on disk, in the suite file's folder or below it.
pub(super) struct DiskCaseFiles<'a> {
    /// The suite file's folder on disk.
    pub dir: &'a std::path::Path,
    /// The same folder as shown (`evals/sub`).
    pub shown: String,
    /// The project root: a case file's real path (links resolved) must be inside it.
    pub root: &'a std::path::Path,
}

impl CaseFiles for DiskCaseFiles<'_> {
    fn open(&self, relative: &str) -> Result<(Box<dyn std::io::BufRead>, String), CaseFileError> {
        crate::prompt::check_segments(relative).map_err(|reason| CaseFileError::BadPath {
            relative: relative.to_owned(),
            reason,
        })?;
        let shown = format!("{}/{relative}", self.shown);
        let unreadable = |source| CaseFileError::Unreadable {
            shown: shown.clone(),
            source,
        };
        let real = self.dir.join(relative).canonicalize().map_err(unreadable)?;
        let root = self
            .root
            .canonicalize()
            .map_err(CaseFileError::NoProjectFolder)?;
        if !real.starts_with(&root) {
            return Err(CaseFileError::OutsideProject { shown, real });
        }
        let file = std::fs::File::open(&real).map_err(unreadable)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        if size > MAX_CASE_FILE_BYTES {
            return Err(CaseFileError::TooLarge { shown, size });
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
        let (cases, errors) = read_cases(
            text.as_bytes(),
            CaseFormat::JsonLines,
            "e/t.jsonl",
            "t.jsonl",
        );
        assert_eq!(cases.len(), 2);
        assert_eq!(cases[0].name, "refund");
        assert_eq!(cases[0].vars["n"], toml::Value::Integer(3));
        assert_eq!(cases[0].assertions.len(), 1);
        assert_eq!(cases[1].name, "t.jsonl:3");
        let lines: Vec<_> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [Some(4), Some(5)], "{errors:?}");
    }

    #[test]
    fn csv_columns_are_variables_kept_as_written_at_their_lines() {
        let text = "name,ticket,n,zip\nrefund,\"money, back\",3,\"90210\"\n,hello,x,1\n";
        let (cases, errors) = read_cases(text.as_bytes(), CaseFormat::Csv, "e/t.csv", "t.csv");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(cases[0].name, "refund");
        assert_eq!(cases[0].vars["ticket"].as_str(), Some("money, back"));
        assert_eq!(cases[0].vars["n"].as_str(), Some("3"));
        assert_eq!(cases[0].vars["zip"].as_str(), Some("90210"));
        assert_eq!(cases[1].name, "t.csv:3", "an empty name cell names the row");
        let origin = cases[1].origin.as_ref().unwrap();
        assert_eq!((origin.file.as_str(), origin.line), ("e/t.csv", 3));
        let (_, errors) = read_cases("a,b\n1\n".as_bytes(), CaseFormat::Csv, "e/t.csv", "t.csv");
        assert_eq!(errors.len(), 1);
    }

    #[test]
    fn crlf_csv_rows_and_a_byte_order_mark_keep_their_lines() {
        // Seen: with CRLF line endings the lines came out one too low; a BOM was refused.
        let text = "\u{feff}name,ticket\r\na,x\r\nb,\"two\r\nlines\"\r\nc,z\r\n";
        let (cases, errors) = read_cases(text.as_bytes(), CaseFormat::Csv, "e/t.csv", "t.csv");
        assert!(errors.is_empty(), "{errors:?}");
        let lines: Vec<_> = cases
            .iter()
            .map(|c| c.origin.as_ref().unwrap().line)
            .collect();
        assert_eq!(lines, [2, 3, 5]);
        assert_eq!(
            cases[0].name, "a",
            "the BOM is not part of the first column's name"
        );
        let json = "\u{feff}{\"name\": \"a\"}\n";
        let (cases, errors) = read_cases(
            json.as_bytes(),
            CaseFormat::JsonLines,
            "e/t.jsonl",
            "t.jsonl",
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(cases[0].name, "a");
    }
}
