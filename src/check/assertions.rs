//! What `check` finds in an eval suite's assertions that the suite file alone cannot show.

use super::{CheckReport, Diagnostic, Severity};
use crate::config::ProjectConfig;
use crate::eval::Suite;
use crate::prompt::Prompt;

/// What an assertion needs from its surroundings, which the suite file alone cannot show:
/// an offline judge needs a quoted phrase to grade by, an `exec` command must exist here,
/// and a case with no assertion passes whenever the model answers.
pub(super) fn check_assertions(
    prompt: &Prompt,
    suite: &Suite,
    config: &ProjectConfig,
    report: &mut CheckReport,
) {
    let mut push = |severity, code, (case, field): (usize, String), message: String| {
        report.diagnostics.push(Diagnostic {
            severity,
            code,
            location: suite.case_location(case, &field),
            prompt: Some(prompt.name.to_string()),
            message,
        });
    };
    for (c, case) in suite.cases.iter().enumerate() {
        if case.assertions.is_empty() {
            push(
                Severity::Warning,
                "no-assertions",
                (c, String::new()),
                format!(
                    "case `{}` has no assertion: it passes whenever the model answers",
                    case.name
                ),
            );
        }
        for (a, assertion) in case.assertions.iter().enumerate() {
            match assertion {
                crate::eval::Assertion::LlmJudge {
                    rubric, provider, ..
                } => {
                    let judge = suite.judge_provider(provider.as_deref(), &prompt.spec.provider);
                    let offline = crate::eval::provider_section(config, judge)
                        .is_ok_and(|s| s.kind == crate::config::ProviderKind::Offline);
                    if offline && !crate::eval::offline_judgeable(rubric) {
                        push(
                            Severity::Error,
                            "unjudgeable-rubric",
                            (c, format!("assert[{a}].rubric")),
                            "the offline judge grades phrases in double quotes, and this rubric has none: quote what the output must say, or judge with a model provider".into(),
                        );
                    }
                }
                crate::eval::Assertion::Exec { command } => {
                    if let Some(program) = missing_program(command) {
                        push(
                            Severity::Warning,
                            "exec-not-found",
                            (c, format!("assert[{a}].command")),
                            format!(
                                "`{program}` is not on PATH here: the assertion will be an error wherever it is missing"
                            ),
                        );
                    }
                }
                _ => {}
            }
        }
    }
}

/// The program a shell command starts with, when it is a plain word that is neither a
/// shell builtin nor on `PATH`.
fn missing_program(command: &str) -> Option<&str> {
    const BUILTINS: [&str; 14] = [
        "cd", "echo", "exit", "export", "false", "printf", "read", "set", "test", "true", "[", ":",
        ".", "exec",
    ];
    let program = command.split_whitespace().next()?;
    let plain = program
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !plain || program.contains('=') || BUILTINS.contains(&program) {
        return None;
    }
    let path = std::env::var_os("PATH")?;
    let found = std::env::split_paths(&path).any(|dir| dir.join(program).is_file());
    (!found).then_some(program)
}
