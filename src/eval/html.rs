//! The eval report as one self-contained HTML file (`eval --format html`, `ci --html`):
//! both versions side by side per suite, every case with both outputs, filterable by how
//! it moved. A minijinja template with auto-escaping; no network, no asset, and only what
//! the report holds, which is redacted before it is built.

use std::sync::OnceLock;

use minijinja::Environment;

use super::report::{Report, SideSummary, dollars};

const TEMPLATE: &str = "report.html";

/// What the pre-merge check adds above the eval report in `ci --html`: what was compared
/// with, the check's result and the diff of every changed prompt.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CheckContext {
    /// `Base origin/main at 1a2b3c4d5e6f (merge base with HEAD), head: the working tree.`
    pub base: String,
    /// `4 prompts and 4 suites checked: 0 errors, 1 warning.`
    pub check_summary: String,
    pub check_passed: bool,
    /// Each finding: `error`/`warning` and its line.
    pub findings: Vec<(String, String)>,
    /// Each changed prompt: its name and its diff as unified text.
    pub diffs: Vec<(String, String)>,
}

/// What the template sees: the report, each suite's figures as the table shows them, and
/// for `ci` the check's context.
#[derive(serde::Serialize)]
struct View<'a> {
    title: &'a str,
    report: &'a Report,
    /// Per suite, base then head: the pass rate and the cost as text.
    shown: Vec<[SideText; 2]>,
    ci: Option<&'a CheckContext>,
}

#[derive(serde::Serialize)]
struct SideText {
    pass_rate: String,
    cost: String,
}

impl SideText {
    fn of(side: &SideSummary) -> Self {
        SideText {
            pass_rate: side.pass_rate_text(),
            cost: dollars(side.cost_usd),
        }
    }
}

fn templates() -> &'static Environment<'static> {
    static TEMPLATES: OnceLock<Environment<'static>> = OnceLock::new();
    TEMPLATES.get_or_init(|| {
        let mut env = Environment::new();
        env.add_template(TEMPLATE, include_str!("templates/report.html"))
            .expect("the report template parses (a unit test renders it)");
        env
    })
}

/// Renders the report; a template error (a bug) still gives a page saying so.
pub fn to_html(report: &Report) -> String {
    page("promptctl eval", report, None)
}

/// Renders the pre-merge check's page: the check, the base and the diffs above the report.
pub fn to_html_with_check(report: &Report, ci: &CheckContext) -> String {
    page("promptctl ci", report, Some(ci))
}

fn page(title: &str, report: &Report, ci: Option<&CheckContext>) -> String {
    let shown = report
        .suites
        .iter()
        .map(|s| [SideText::of(&s.base), SideText::of(&s.head)])
        .collect();
    let view = View {
        title,
        report,
        shown,
        ci,
    };
    templates()
        .get_template(TEMPLATE)
        .and_then(|t| t.render(minijinja::value::Serde(view)))
        .unwrap_or_else(|error| {
            format!(
                "<!doctype html><title>promptctl eval</title><p>The report did not render: {}</p>",
                crate::base::markup::escape(&error.to_string())
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_report_renders_and_escapes() {
        let report = Report {
            suites: Vec::new(),
            passed: true,
            requests: Default::default(),
            failures: vec![super::super::report::FailureGroup {
                count: 1,
                message: "<script>alert(1)</script>".into(),
            }],
        };
        let page = to_html(&report);
        assert!(page.contains("every gate held"), "{page}");
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(1)"), "{page}");
    }
}
