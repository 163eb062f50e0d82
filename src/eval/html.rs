//! The eval report as one self-contained HTML file (`eval --format html`, `ci --html`):
//! both versions side by side per suite, every case with both outputs, filterable by how
//! it moved. A minijinja template with auto-escaping; no network, no asset, and only what
//! the report holds, which is redacted before it is built.

use std::sync::OnceLock;

use minijinja::Environment;

use super::report::Report;

const TEMPLATE: &str = "report.html";

/// What the template sees.
#[derive(serde::Serialize)]
struct View<'a> {
    report: &'a Report,
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
    templates()
        .get_template(TEMPLATE)
        .and_then(|t| t.render(minijinja::value::Serde(View { report })))
        .unwrap_or_else(|error| {
            format!(
                "<!doctype html><title>promptctl eval</title><p>The report did not render: {}</p>",
                crate::markup::escape(&error.to_string())
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
