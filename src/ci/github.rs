//! GitHub Actions workflow commands: annotations for broken prompts and gates, escaped so
//! that no message can end one early or start another.

use std::fmt;

use serde::Serialize;

use super::CiReport;
use crate::check::Severity;
use crate::eval::Change;

/// How an annotation shows on a pull request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Error,
    Warning,
}

/// One `::error` or `::warning` line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Annotation {
    pub level: Level,
    /// The file, relative to the repository root.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    pub title: String,
    pub message: String,
}

impl fmt::Display for Annotation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Error => "error",
            Level::Warning => "warning",
        };
        let mut properties = Vec::new();
        if let Some(file) = &self.file {
            properties.push(format!("file={}", escape_property(file)));
        }
        if let Some(line) = self.line {
            properties.push(format!("line={line}"));
        }
        properties.push(format!("title={}", escape_property(&self.title)));
        write!(
            f,
            "::{level} {}::{}",
            properties.join(","),
            escape_data(&self.message)
        )
    }
}

/// Escapes a command's message: `%`, CR and LF (as the Actions toolkit does).
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a command's property value: the message escapes plus `:` and `,`.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// The annotations of a report: each check error and warning at its file and line, each
/// failed gate as an error and each alert-only breach as a warning at the suite's file.
pub fn annotations(report: &CiReport) -> Vec<Annotation> {
    let mut out = Vec::new();
    for d in &report.check.diagnostics {
        let field = d
            .location
            .field
            .as_deref()
            .map(|f| format!("`{f}`: "))
            .unwrap_or_default();
        out.push(Annotation {
            level: match d.severity {
                Severity::Error => Level::Error,
                Severity::Warning => Level::Warning,
            },
            file: Some(format!("{}{}", report.path_prefix, d.location.path)),
            line: d.location.line,
            title: format!("promptctl check: {}", d.code),
            message: format!("{field}{}", d.message),
        });
    }
    for change in report.breaking.iter().filter(|c| c.approved_by.is_none()) {
        out.push(Annotation {
            level: Level::Error,
            file: Some(format!("{}{}", report.path_prefix, change.file)),
            line: None,
            title: "promptctl ci: breaking contract change".into(),
            message: format!(
                "{}: {} ({} under `{}`); approve with a commit trailer `{}: {}`",
                change.path,
                change.detail,
                change.kind,
                change.compatibility,
                super::TRAILER,
                change.prompt
            ),
        });
    }
    let Some(eval) = &report.eval else {
        return out;
    };
    for suite in &eval.suites {
        let file = Some(format!("{}{}", report.path_prefix, suite.path));
        if !suite.gate.passed {
            let regressed: Vec<&str> = suite
                .cases
                .iter()
                .filter(|c| c.change == Change::Regressed)
                .map(|c| c.name.as_str())
                .collect();
            let errored: Vec<&str> = suite
                .cases
                .iter()
                .filter(|c| c.change == Change::Error)
                .map(|c| c.name.as_str())
                .collect();
            let mut message = suite.gate.reasons.join("; ");
            if !regressed.is_empty() {
                message.push_str(&format!("; regressed: {}", regressed.join(", ")));
            }
            if !errored.is_empty() {
                message.push_str(&format!("; could not be evaluated: {}", errored.join(", ")));
            }
            out.push(Annotation {
                level: Level::Error,
                file: file.clone(),
                line: None,
                title: format!("eval gate failed: {} ({})", suite.prompt, suite.suite),
                message,
            });
        }
        for warning in &suite.gate.warnings {
            out.push(Annotation {
                level: Level::Warning,
                file: file.clone(),
                line: None,
                title: format!("eval gate alert: {} ({})", suite.prompt, suite.suite),
                message: warning.clone(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_escape_what_would_end_them_early() {
        let annotation = Annotation {
            level: Level::Error,
            file: Some("prompts/a,b:c.toml".into()),
            line: Some(4),
            title: "gate: x".into(),
            message: "100% broken\nsecond line::error::fake".into(),
        };
        assert_eq!(
            annotation.to_string(),
            "::error file=prompts/a%2Cb%3Ac.toml,line=4,title=gate%3A x::100%25 broken%0Asecond line::error::fake"
        );
        let warning = Annotation {
            level: Level::Warning,
            file: None,
            line: None,
            title: "t".into(),
            message: "m".into(),
        };
        assert_eq!(warning.to_string(), "::warning title=t::m");
    }
}
