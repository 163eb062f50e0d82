//! The check's reports for other tools: a markdown summary for a pull request (GitHub's step
//! summary) and JUnit XML for test dashboards.

use std::fmt::Write as _;

use super::CiReport;
use crate::base::junit;
use crate::base::markup::escape;
use crate::check::Severity;
use crate::diff::{PromptDiff, Status};
use crate::eval::{Change, SideSummary, SuiteReport, failure_summary, junit_suites};

/// Diff lines shown in the summary over all prompts. GitHub caps a step summary at 1 MiB;
/// past this the reader is pointed at `promptctl diff`.
const SUMMARY_DIFF_LINES: usize = 400;

/// The check's page as one self-contained HTML file: the base, the check's result, the
/// diff of every changed prompt, then the eval report (empty when no suite ran).
pub fn to_html(report: &CiReport) -> String {
    let empty = crate::eval::Report {
        suites: Vec::new(),
        passed: report.passed,
        requests: Default::default(),
        failures: Vec::new(),
    };
    let eval = report.eval.as_ref().unwrap_or(&empty);
    crate::eval::to_html_with_check(eval, &check_context(report))
}

/// What `ci --html` shows above the eval report; the same words as the markdown.
fn check_context(report: &CiReport) -> crate::eval::CheckContext {
    let check = &report.check;
    let commit = report
        .base
        .short_commit()
        .map(|c| format!(" at {c}"))
        .unwrap_or_default();
    let findings = check
        .diagnostics
        .iter()
        .map(|d| {
            let severity = match d.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            let field = d
                .location
                .field
                .as_deref()
                .map(|f| format!(" {f}"))
                .unwrap_or_default();
            let text = format!("{}{field} {}: {}", place(report, d), d.code, d.message);
            (severity.to_owned(), text)
        })
        .collect();
    crate::eval::CheckContext {
        base: format!(
            "Base {}{commit} ({}), head: the working tree.",
            report.base.revision, report.base.how
        ),
        check_summary: format!("{}.", checked(check)),
        check_passed: check.passed(),
        findings,
        diffs: report
            .diff
            .prompts
            .iter()
            .map(|p| (p.name.to_string(), prompt_diff_text(p)))
            .collect(),
    }
}

/// The markdown summary: the verdict, the check's findings, the changed prompts with their
/// versions, each suite's pass rates side by side with the cost and latency deltas, the
/// regressed cases, the gates, and the diffs folded away.
pub fn to_markdown(report: &CiReport) -> String {
    let mut out = String::new();
    let verdict = if report.passed {
        "✅ passed"
    } else {
        "❌ failed"
    };
    let _ = writeln!(out, "## promptctl ci: {verdict}\n");
    let commit = report
        .base
        .short_commit()
        .map(|c| format!(" at `{c}`"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "Base `{}`{commit} ({}), head: the working tree.\n",
        cell(&report.base.revision),
        report.base.how
    );
    check_section(&mut out, report);
    breaking_section(&mut out, report);
    prompts_section(&mut out, report);
    evals_section(&mut out, report);
    if let Some(matrix) = &report.matrix {
        out.push_str(&crate::eval::arms_markdown(matrix).replacen(
            "## promptctl eval: arms",
            "### Matrix",
            1,
        ));
    }
    diffs_section(&mut out, report);
    out
}

/// The output and tool changes that would break a service, each with its approval.
fn breaking_section(out: &mut String, report: &CiReport) {
    if report.breaking.is_empty() {
        return;
    }
    let _ = writeln!(out, "### Breaking contract changes\n");
    out.push_str("| prompt | change | mode | approved |\n| --- | --- | --- | --- |\n");
    for change in &report.breaking {
        let approved = match &change.approved_by {
            Some(by) => format!("✅ by {}", cell(by)),
            None => format!(
                "❌ no: add `{}: {}` to a commit, or `--allow-breaking`",
                super::TRAILER,
                change.prompt
            ),
        };
        let _ = writeln!(
            out,
            "| `{}` | `{}`: {} | {} | {approved} |",
            change.prompt,
            cell(&change.path),
            cell(&change.detail),
            change.compatibility
        );
    }
    out.push('\n');
}

fn check_section(out: &mut String, report: &CiReport) {
    let check = &report.check;
    let mark = if check.passed() { "✅" } else { "❌" };
    let _ = writeln!(out, "### {mark} Check\n\n{}.\n", checked(check));
    for d in &check.diagnostics {
        let mark = match d.severity {
            Severity::Error => "❌",
            Severity::Warning => "⚠️",
        };
        // The field goes outside the file's code span: it is quoted in backticks itself.
        let field = d
            .location
            .field
            .as_deref()
            .map(|f| format!(" `{f}`"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "- {mark} `{}`{field} {}: {}",
            place(report, d),
            d.code,
            inline(&d.message)
        );
    }
    if !check.diagnostics.is_empty() {
        out.push('\n');
    }
}

/// `3 prompts and 2 suites checked: 0 errors, 1 warning`, as every report says it.
fn checked(check: &crate::check::CheckReport) -> String {
    format!(
        "{} and {} checked: {}, {}",
        plural(check.prompts, "prompt"),
        plural(check.suites, "suite"),
        plural(check.errors(), "error"),
        plural(check.warnings(), "warning")
    )
}

/// Where a finding is, from the repository root: `prompts-repo/evals/a.toml:12`.
fn place(report: &CiReport, d: &crate::check::Diagnostic) -> String {
    let line = d.location.line.map(|l| format!(":{l}")).unwrap_or_default();
    format!("{}{}{line}", report.path_prefix, d.location.path)
}

fn prompts_section(out: &mut String, report: &CiReport) {
    let prompts = &report.diff.prompts;
    if prompts.is_empty() {
        out.push_str("### Changed prompts\n\nNo prompt's version changed.\n\n");
        return;
    }
    let _ = writeln!(
        out,
        "### Changed prompts ({})\n\n| prompt | change | version | lines |\n| --- | --- | --- | --- |",
        prompts.len()
    );
    for prompt in prompts {
        let version = |v: Option<crate::prompt::Version>| {
            v.map_or("—".to_owned(), |v| format!("`{}`", v.short()))
        };
        let (added, removed) = prompt.line_counts();
        let _ = writeln!(
            out,
            "| {} | {} | {} → {} | +{added} −{removed} |",
            title(prompt),
            prompt.status.as_str(),
            version(prompt.old_version),
            version(prompt.new_version)
        );
    }
    out.push('\n');
    if !report.unevaluated.is_empty() {
        let names: Vec<String> = report
            .unevaluated
            .iter()
            .map(|n| format!("`{n}`"))
            .collect();
        let _ = writeln!(
            out,
            "⚠️ No eval suite covers {}: its change is not evaluated.\n",
            names.join(", ")
        );
    }
}

fn evals_section(out: &mut String, report: &CiReport) {
    let Some(eval) = &report.eval else {
        if !report.diff.prompts.is_empty() {
            out.push_str("### Evals\n\nNo suite covers a changed prompt.\n\n");
        }
        return;
    };
    out.push_str(
        "### Evals, base against head\n\n| suite | prompt | pass rate, base → head | change | cost | latency | gate |\n| --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for suite in &eval.suites {
        let _ = writeln!(
            out,
            "| `{}` | `{}` | {} → {} | {} | {} | {} | {} |",
            suite.suite,
            suite.prompt,
            suite.base.pass_rate_text(),
            suite.head.pass_rate_text(),
            pass_rate_change(suite),
            delta(
                &suite.base,
                &suite.head,
                |s| s.cost_usd,
                crate::eval::dollars
            ),
            delta(
                &suite.base,
                &suite.head,
                |s| s.mean_latency_ms,
                milliseconds
            ),
            gate_cell(suite)
        );
    }
    out.push('\n');
    if !report.suites_changed.is_empty() {
        let _ = writeln!(
            out,
            "Run because the suite itself changed: {}.\n",
            report
                .suites_changed
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for suite in &eval.suites {
        suite_details(out, suite);
    }
    let r = &eval.requests;
    let _ = writeln!(
        out,
        "Requests: {} distinct, {} cached, {} sent, {} retried, {} failed.\n",
        r.distinct, r.cached, r.sent, r.retries, r.failed
    );
    for group in &eval.failures {
        let _ = writeln!(out, "- {} × {}", group.count, inline(&group.message));
    }
    if !eval.failures.is_empty() {
        out.push('\n');
    }
}

fn suite_details(out: &mut String, suite: &SuiteReport) {
    let of =
        |change: Change| -> Vec<_> { suite.cases.iter().filter(|c| c.change == change).collect() };
    let (errored, regressed, fixed) = (of(Change::Error), of(Change::Regressed), of(Change::Fixed));
    let _ = writeln!(out, "#### `{}` ({})\n", suite.suite, suite.prompt);
    if let Some(comparison) = &suite.comparison {
        let _ = writeln!(
            out,
            "Verdict: {} — {}.\n",
            inline(&comparison.words),
            inline(&comparison.figures)
        );
    }
    for (label, cases) in [
        ("Could not be evaluated", errored),
        ("Regressed cases", regressed),
        ("Fixed cases", fixed),
    ] {
        if cases.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{label}:\n");
        for case in cases {
            let side = case
                .head
                .as_ref()
                .filter(|h| !h.pass)
                .or(case.base.as_ref().filter(|b| !b.pass));
            let why = side
                .map(|h| format!(" — {}", inline(&failure_summary(h))))
                .unwrap_or_default();
            let _ = writeln!(out, "- `{}`{why}", case.name);
        }
        out.push('\n');
    }
    for reason in &suite.gate.reasons {
        let _ = writeln!(out, "> ❌ {}", inline(reason));
    }
    for warning in &suite.gate.warnings {
        let _ = writeln!(out, "> ⚠️ {} (alert only)", inline(warning));
    }
    for why in &suite.gate.held_because {
        let _ = writeln!(out, "> ✅ {}", inline(why));
    }
    out.push('\n');
}

/// A changed prompt's diff as unified text: its fields, messages and partials.
fn prompt_diff_text(prompt: &PromptDiff) -> String {
    let mut text = String::new();
    // The fields of a prompt that is only on one side are all new (or all gone).
    let fields = match prompt.status {
        Status::Added | Status::Removed => &[][..],
        _ => &prompt.fields[..],
    };
    for field in fields {
        let show = |v: &Option<serde_json::Value>| {
            v.as_ref().map_or("(none)".to_owned(), |v| v.to_string())
        };
        let _ = writeln!(
            text,
            "{}: {} → {}",
            field.field,
            show(&field.old),
            show(&field.new)
        );
    }
    for message in &prompt.messages {
        let index = message.new_index.or(message.old_index).unwrap_or(0);
        let role = message
            .new_role
            .or(message.old_role)
            .map_or("", |r| r.as_str());
        let _ = writeln!(text, "messages[{index}] ({role})");
        text.push_str(&message.text.to_unified());
    }
    for partial in &prompt.partials {
        let _ = writeln!(
            text,
            "partial {} ({})",
            partial.name,
            partial.status.as_str()
        );
        text.push_str(&partial.text.to_unified());
    }
    text
}

fn diffs_section(out: &mut String, report: &CiReport) {
    let mut budget = SUMMARY_DIFF_LINES;
    for prompt in &report.diff.prompts {
        let text = prompt_diff_text(prompt);
        if text.is_empty() {
            continue;
        }
        let lines = text.lines().count();
        let _ = writeln!(
            out,
            "<details><summary>Diff of <code>{}</code></summary>\n",
            escape(&prompt.name)
        );
        if lines > budget {
            let _ = writeln!(
                out,
                "{lines} lines: too long for this summary; run `promptctl diff {} -- {}`.\n",
                report.base.revision, prompt.name
            );
        } else {
            budget -= lines;
            let fence = fence_for(&text);
            let _ = writeln!(out, "{fence}diff\n{text}{fence}\n");
        }
        out.push_str("</details>\n\n");
    }
}

/// A code fence longer than any run of backticks in `text`, so the text cannot close it.
fn fence_for(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

fn title(prompt: &PromptDiff) -> String {
    match &prompt.renamed_from {
        Some(old) => format!("`{old}` → `{}`", prompt.name),
        None => format!("`{}`", prompt.name),
    }
}

fn pass_rate_change(suite: &SuiteReport) -> String {
    if suite.base.unavailable.is_some() || suite.head.unavailable.is_some() {
        return "new".into();
    }
    let Some(points) = crate::eval::pass_rate_change(&suite.base, &suite.head) else {
        return "—".into();
    };
    if points.abs() < 1e-9 {
        "=".into()
    } else {
        format!("{points:+.1} pts")
    }
}

/// A figure's change from base to head: percent when the base is not zero.
fn delta(
    base: &SideSummary,
    head: &SideSummary,
    figure: fn(&SideSummary) -> f64,
    show: fn(f64) -> String,
) -> String {
    if base.unavailable.is_some() || head.unavailable.is_some() {
        return if head.unavailable.is_none() {
            show(figure(head))
        } else {
            "—".into()
        };
    }
    let (old, new) = (figure(base), figure(head));
    if old > 0.0 {
        format!(
            "{:+.1}% ({} → {})",
            (new - old) / old * 100.0,
            show(old),
            show(new)
        )
    } else if new > 0.0 {
        format!("{} → {}", show(old), show(new))
    } else {
        show(new)
    }
}

fn gate_cell(suite: &SuiteReport) -> String {
    match (suite.gate.passed, suite.gate.warnings.is_empty()) {
        (false, _) => "❌ failed".into(),
        (true, false) => "⚠️ alert".into(),
        (true, true) => "✅ held".into(),
    }
}

fn milliseconds(value: f64) -> String {
    if value < 10.0 {
        format!("{value:.2} ms")
    } else {
        format!("{value:.0} ms")
    }
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// Text for a table cell or a list item: one line, no column breaks.
fn inline(text: &str) -> String {
    text.replace('\n', " ").replace('|', "\\|")
}

fn cell(text: &str) -> String {
    inline(text).replace('`', "'")
}

/// JUnit XML: a `check` suite with a failing test case per error, a `gates` suite with a
/// test case per eval suite's gate, and each eval suite's cases per version.
pub fn to_junit(report: &CiReport) -> String {
    let mut suites = vec![check_suite(report)];
    if !report.breaking.is_empty() {
        suites.push(junit::Suite {
            name: "contract".into(),
            cases: report.breaking.iter().map(breaking_case).collect(),
        });
    }
    if let Some(eval) = &report.eval {
        suites.push(junit::Suite {
            name: "gates".into(),
            cases: eval.suites.iter().map(gate_case).collect(),
        });
        suites.extend(junit_suites(eval));
    }
    junit::Document {
        name: "promptctl ci".into(),
        suites,
    }
    .to_xml()
}

/// A breaking change: passed when approved, failed otherwise.
fn breaking_case(change: &super::BreakingChange) -> junit::Case {
    let what = format!(
        "{} under `{}`: {}",
        change.kind, change.compatibility, change.detail
    );
    junit::Case {
        classname: "contract".into(),
        name: format!("{} {}", change.prompt, change.path),
        result: match &change.approved_by {
            Some(_) => junit::CaseResult::Passed,
            None => junit::CaseResult::Failed {
                message: format!("breaking and not approved: {what}"),
                details: what,
                kind: Some("breaking-change".into()),
            },
        },
    }
}

/// A failing case per check error; one passing case when there is none.
fn check_suite(report: &CiReport) -> junit::Suite {
    let mut cases: Vec<junit::Case> = report
        .check
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| junit::Case {
            classname: "check".into(),
            name: format!("{}{}", report.path_prefix, d.location),
            result: junit::CaseResult::Failed {
                message: d.message.clone(),
                details: format!("{}: {}", d.location, d.message),
                kind: Some(d.code.to_string()),
            },
        })
        .collect();
    if cases.is_empty() {
        cases.push(junit::Case {
            classname: "check".into(),
            name: "every prompt and suite".into(),
            result: junit::CaseResult::Passed,
        });
    }
    junit::Suite {
        name: "check".into(),
        cases,
    }
}

fn gate_case(suite: &SuiteReport) -> junit::Case {
    junit::Case {
        classname: "gates".into(),
        name: format!("{} ({})", suite.suite, suite.prompt),
        result: if suite.gate.passed {
            junit::CaseResult::Passed
        } else {
            junit::CaseResult::Failed {
                message: suite.gate.reasons.join("; "),
                details: suite.gate.reasons.join("\n"),
                kind: None,
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fence_outlasts_every_backtick_run_inside() {
        assert_eq!(fence_for("plain"), "```");
        assert_eq!(fence_for("has ``` inside"), "````");
        assert_eq!(fence_for("`````"), "``````");
    }

    #[test]
    fn cells_stay_on_one_line_and_in_their_column() {
        assert_eq!(inline("a|b\nc"), "a\\|b c");
    }
}
