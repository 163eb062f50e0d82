//! JUnit XML, the one writer of it: test suites of test cases, each passed, failed (ran
//! and did not hold) or in error (could not run), escaped once, here. `eval --junit` and
//! `ci --junit` build the model; this writes it.

use std::fmt::Write as _;

use crate::base::markup::escape;

/// A `<testsuites>` document.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Document {
    pub name: String,
    pub suites: Vec<Suite>,
}

/// A `<testsuite>`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Suite {
    pub name: String,
    pub cases: Vec<Case>,
}

/// A `<testcase>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub classname: String,
    pub name: String,
    pub result: CaseResult,
}

/// How a test case went.
#[derive(Debug, Clone, PartialEq)]
pub enum CaseResult {
    Passed,
    /// It ran and did not hold: a `<failure>` with a one-line message, its details and an
    /// optional type.
    Failed {
        message: String,
        details: String,
        kind: Option<String>,
    },
    /// It could not run: an `<error>`.
    Error {
        message: String,
        details: String,
    },
}

impl Document {
    /// Writes the document.
    pub fn to_xml(&self) -> String {
        let mut out = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"{}\">\n",
            escape(&self.name)
        );
        for suite in &self.suites {
            suite.write(&mut out);
        }
        out.push_str("</testsuites>\n");
        out
    }
}

impl Suite {
    fn count(&self, failed: bool) -> usize {
        self.cases
            .iter()
            .filter(|c| match c.result {
                CaseResult::Failed { .. } => failed,
                CaseResult::Error { .. } => !failed,
                CaseResult::Passed => false,
            })
            .count()
    }

    fn write(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\">",
            escape(&self.name),
            self.cases.len(),
            self.count(true),
            self.count(false)
        );
        for case in &self.cases {
            case.write(out);
        }
        out.push_str("  </testsuite>\n");
    }
}

impl Case {
    fn write(&self, out: &mut String) {
        let _ = write!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\"",
            escape(&self.classname),
            escape(&self.name)
        );
        let (element, message, details, kind) = match &self.result {
            CaseResult::Passed => {
                out.push_str("/>\n");
                return;
            }
            CaseResult::Failed {
                message,
                details,
                kind,
            } => ("failure", message, details, kind.as_deref()),
            CaseResult::Error { message, details } => ("error", message, details, None),
        };
        let kind = kind.map_or_else(String::new, |k| format!(" type=\"{}\"", escape(k)));
        let _ = writeln!(
            out,
            ">\n      <{element} message=\"{}\"{kind}>{}</{element}>\n    </testcase>",
            escape(message),
            escape(details)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_failures_and_errors_apart_and_escapes_everything() {
        let document = Document {
            name: "promptctl <eval>".into(),
            suites: vec![Suite {
                name: "triage & co".into(),
                cases: vec![
                    Case {
                        classname: "s".into(),
                        name: "ok".into(),
                        result: CaseResult::Passed,
                    },
                    Case {
                        classname: "s".into(),
                        name: "\"quoted\"".into(),
                        result: CaseResult::Failed {
                            message: "a < b".into(),
                            details: "x\u{0}y".into(),
                            kind: Some("gate".into()),
                        },
                    },
                    Case {
                        classname: "s".into(),
                        name: "broken".into(),
                        result: CaseResult::Error {
                            message: "could not run".into(),
                            details: String::new(),
                        },
                    },
                ],
            }],
        };
        let xml = document.to_xml();
        assert!(
            xml.contains("<testsuites name=\"promptctl &lt;eval&gt;\">"),
            "{xml}"
        );
        assert!(
            xml.contains(
                "<testsuite name=\"triage &amp; co\" tests=\"3\" failures=\"1\" errors=\"1\">"
            ),
            "{xml}"
        );
        assert!(
            xml.contains("<testcase classname=\"s\" name=\"ok\"/>"),
            "{xml}"
        );
        assert!(
            xml.contains("<failure message=\"a &lt; b\" type=\"gate\">"),
            "{xml}"
        );
        assert!(
            xml.contains("<error message=\"could not run\"></error>"),
            "{xml}"
        );
        assert!(!xml.contains('\u{0}'), "{xml}");
    }
}
