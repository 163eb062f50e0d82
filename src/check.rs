//! `check`: every problem in a project's prompts, partials and eval suites, as diagnostics.
//!
//! Checks that every prompt parses, names are valid, includes resolve, templates compile,
//! the variables templates use are declared, and each prompt renders with the variables of
//! every case of its eval suites. Values that cases set but prompts do not declare are
//! warnings: suites often carry the variables of a newer version.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

mod assertions;

use assertions::check_assertions;

use crate::base::location::Location;
use crate::config::ProjectConfig;
use crate::eval::{Suite, SuiteError};
use crate::prompt::{Prompt, PromptError, undeclared_names};
use crate::source::{PromptSet, SourceError};

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The prompt cannot be used as it is; `check` fails.
    Error,
    /// Worth a look; `check` still passes.
    Warning,
}

/// One finding of `check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Stable kebab-case code (`include-cycle`, `undeclared-variable`, ...).
    pub code: &'static str,
    /// The file (and line and field) it is about.
    pub location: Location,
    /// The prompt it is about, when it is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// What is wrong, without the location.
    pub message: String,
}

/// The outcome of `check`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckReport {
    /// Prompts looked at.
    pub prompts: usize,
    /// Suites looked at.
    pub suites: usize,
    /// Findings, errors and warnings, in file order.
    pub diagnostics: Vec<Diagnostic>,
    /// Warnings not listed one by one: past [`MAX_WARNINGS_ALIKE`] of a kind in a file,
    /// one line counts the rest.
    #[serde(skip_serializing_if = "is_zero")]
    pub unlisted_warnings: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl CheckReport {
    /// Counts the errors.
    pub fn errors(&self) -> usize {
        self.count(Severity::Error)
    }

    /// Counts the warnings, those counted in one line included.
    pub fn warnings(&self) -> usize {
        let summaries = self
            .diagnostics
            .iter()
            .filter(|d| d.code == MORE_WARNINGS)
            .count();
        self.count(Severity::Warning) - summaries + self.unlisted_warnings
    }

    /// Tells whether the check passed (no errors).
    pub fn passed(&self) -> bool {
        self.errors() == 0
    }

    fn count(&self, severity: Severity) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == severity)
            .count()
    }

    fn push_prompt_error(&mut self, severity: Severity, prompt: Option<&str>, error: &PromptError) {
        let location = error
            .location()
            .cloned()
            .unwrap_or_else(|| Location::file(prompt.unwrap_or_default()));
        self.diagnostics.push(Diagnostic {
            severity,
            code: error.code(),
            message: strip_location(&error.to_string(), &location),
            location,
            prompt: prompt.map(str::to_owned),
        });
    }

    fn push_suite_error(&mut self, error: &SuiteError) {
        let location = error.location().clone();
        self.diagnostics.push(Diagnostic {
            severity: Severity::Error,
            code: "suite",
            message: strip_location(&error.to_string(), &location),
            location,
            prompt: None,
        });
    }
}

fn strip_location(message: &str, location: &Location) -> String {
    let prefix = format!("{location}: ");
    message.strip_prefix(&prefix).unwrap_or(message).to_owned()
}

/// What to check: every prompt, or only the named ones (and the suites that cover them).
#[derive(Debug, Clone, Default)]
pub struct CheckScope {
    /// Names to check; empty means everything.
    pub names: Vec<String>,
    /// Warn about prompts no suite covers (`check` does; `ci` says which changed prompts
    /// went unevaluated instead).
    pub uncovered: bool,
}

impl CheckScope {
    /// Limits a check to `names`, refusing a name that is not a prompt of `set`.
    pub fn named(names: Vec<String>, set: &PromptSet) -> Result<Self, SourceError> {
        for name in &names {
            if let Err(error @ SourceError::UnknownPrompt { .. }) = set.get(name) {
                return Err(error);
            }
        }
        Ok(CheckScope {
            names,
            uncovered: true,
        })
    }

    fn includes(&self, name: &str) -> bool {
        self.names.is_empty() || self.names.iter().any(|n| n == name)
    }
}

/// Checks the prompts of `set` and the suites (parsed or not) that cover them.
pub fn check(
    set: &PromptSet,
    suites: &[Suite],
    suite_errors: &[SuiteError],
    scope: &CheckScope,
    config: &ProjectConfig,
) -> CheckReport {
    let mut report = CheckReport::default();
    let everything = scope.names.is_empty();
    if everything {
        for problem in set.problems() {
            report.push_prompt_error(Severity::Error, None, problem);
        }
        check_partials(set, &mut report);
        for error in suite_errors {
            report.push_suite_error(error);
        }
    }
    let mut by_prompt: BTreeMap<&str, Vec<&Suite>> = BTreeMap::new();
    for suite in suites {
        by_prompt
            .entry(suite.prompt.as_str())
            .or_default()
            .push(suite);
    }
    let jobs: Vec<_> = set
        .entries()
        .filter(|(name, _)| scope.includes(name.as_str()))
        .map(|(name, parsed)| {
            let covering = by_prompt.remove(name.as_str()).unwrap_or_default();
            (name, parsed, covering)
        })
        .collect();
    // Compiling and rendering each prompt is most of a check, and prompts are independent:
    // spread over the cores, each prompt's findings kept in its place.
    let parts = crate::base::parallel::map(&jobs, |(name, parsed, covering)| {
        let mut part = CheckReport {
            prompts: 1,
            suites: covering.len(),
            ..CheckReport::default()
        };
        match parsed {
            // Its suites cannot be rendered; the prompt's own error says why.
            Err(error) => part.push_prompt_error(Severity::Error, Some(name.as_str()), error),
            Ok(prompt) => {
                if covering.is_empty() && scope.uncovered {
                    part.diagnostics.push(no_suite(prompt, config));
                }
                check_providers(prompt, covering, config, &mut part);
                check_params(prompt, config, &mut part);
                check_prompt(prompt, covering, &mut part);
            }
        }
        part
    });
    for part in parts {
        report.prompts += part.prompts;
        report.suites += part.suites;
        report.diagnostics.extend(part.diagnostics);
    }
    if everything {
        for (prompt, orphans) in by_prompt {
            for suite in orphans {
                report.suites += 1;
                report.diagnostics.push(Diagnostic {
                    severity: Severity::Error,
                    code: "unknown-prompt",
                    location: Location::file(&suite.path).with_field("prompt"),
                    prompt: Some(prompt.to_owned()),
                    message: format!("the suite evaluates `{prompt}`, which does not exist"),
                });
            }
        }
    }
    // File order, so that fixing from the top down is natural; stable for equal places.
    report.diagnostics.sort_by(|a, b| {
        (&a.location.path, a.location.line).cmp(&(&b.location.path, b.location.line))
    });
    report.unlisted_warnings = collapse_repeated_warnings(&mut report.diagnostics);
    report
}

/// Warnings of one kind shown per file before the rest are counted in one line: a case
/// file of 255,750 rows without assertions printed 255,750 warnings.
pub const MAX_WARNINGS_ALIKE: usize = 10;

/// The code of the line that counts a file's unlisted warnings of a kind.
const MORE_WARNINGS: &str = "more-warnings";

/// Keeps the first [`MAX_WARNINGS_ALIKE`] warnings of each code in each file and adds one
/// that counts the others; returns how many were not listed. Errors are all kept: each
/// must be fixed.
fn collapse_repeated_warnings(diagnostics: &mut Vec<Diagnostic>) -> usize {
    let mut seen: BTreeMap<(String, &'static str), usize> = BTreeMap::new();
    let mut kept = Vec::with_capacity(diagnostics.len().min(1024));
    for diagnostic in diagnostics.drain(..) {
        if diagnostic.severity == Severity::Warning {
            let count = seen
                .entry((diagnostic.location.path.clone(), diagnostic.code))
                .or_insert(0);
            *count += 1;
            if *count > MAX_WARNINGS_ALIKE {
                continue;
            }
        }
        kept.push(diagnostic);
    }
    let mut unlisted = 0;
    for ((path, _), count) in seen {
        if count > MAX_WARNINGS_ALIKE {
            unlisted += count - MAX_WARNINGS_ALIKE;
            kept.push(Diagnostic {
                severity: Severity::Warning,
                code: MORE_WARNINGS,
                location: Location::file(&path),
                prompt: None,
                message: format!(
                    "and {} more warnings like these in this file",
                    count - MAX_WARNINGS_ALIKE
                ),
            });
        }
    }
    *diagnostics = kept;
    unlisted
}

/// A prompt no suite covers: `ci` cannot tell whether a change to it regresses anything.
fn no_suite(prompt: &Prompt, config: &ProjectConfig) -> Diagnostic {
    Diagnostic {
        severity: Severity::Warning,
        code: "no-suite",
        location: Location::file(&prompt.path),
        prompt: Some(prompt.name.to_string()),
        message: format!(
            "no eval suite covers `{}`: `promptctl ci` cannot tell whether a change to it regresses; add one, like {}/{}.toml",
            prompt.name,
            config.project.evals,
            prompt
                .name
                .as_str()
                .rsplit('/')
                .next()
                .unwrap_or(prompt.name.as_str())
        ),
    }
}

/// Every provider a prompt or its suites name must be declared (or built in), so that a typo
/// is caught before an eval run.
fn check_providers(
    prompt: &Prompt,
    suites: &[&Suite],
    config: &ProjectConfig,
    report: &mut CheckReport,
) {
    let mut named: Vec<(&str, Location)> = vec![(
        prompt.spec.provider.as_str(),
        Location::file(&prompt.path).with_field("provider"),
    )];
    for suite in suites {
        if let Some(provider) = &suite.provider {
            named.push((provider, Location::file(&suite.path).with_field("provider")));
        }
        for (c, case) in suite.cases.iter().enumerate() {
            for (a, assertion) in case.assertions.iter().enumerate() {
                if let crate::eval::Assertion::LlmJudge {
                    provider: Some(provider),
                    ..
                } = assertion
                {
                    let field = format!("assert[{a}].provider");
                    named.push((provider, suite.case_location(c, &field)));
                }
            }
        }
    }
    let known: Vec<&str> = config
        .providers
        .keys()
        .map(String::as_str)
        .chain(crate::eval::BUILT_IN_PROVIDERS.map(|(name, _)| name))
        .collect();
    for (provider, location) in named {
        if let Err(error) = crate::eval::provider_section(config, provider) {
            let mut message = error.to_string();
            if let Some(near) = crate::base::suggest::closest(provider, known.iter().copied()) {
                message.push_str(&format!("; did you mean `{near}`?"));
            }
            report.diagnostics.push(Diagnostic {
                severity: Severity::Error,
                code: "unknown-provider",
                location,
                prompt: Some(prompt.name.to_string()),
                message,
            });
        }
    }
    for suite in suites {
        check_assertions(prompt, suite, config, report);
    }
}

/// `[params]` against what the prompt's provider kind takes: a near miss of a known
/// parameter is an error (it would be sent as written, and ignored or refused), another
/// name a warning naming the kind.
fn check_params(prompt: &Prompt, config: &ProjectConfig, report: &mut CheckReport) {
    let Ok(section) = crate::eval::provider_section(config, &prompt.spec.provider) else {
        return; // an unknown provider is reported by check_providers
    };
    let kind = section.kind;
    for problem in crate::eval::param_problems(kind, prompt.spec.params.keys()) {
        let (severity, code, message) = match problem.did_you_mean {
            Some(near) => (
                Severity::Error,
                "unknown-param",
                format!(
                    "`{}` is not a parameter of the {} API; did you mean `{near}`?",
                    problem.name,
                    kind.as_str()
                ),
            ),
            None => (
                Severity::Warning,
                "unknown-param",
                format!(
                    "`{}` is not a parameter the {} API documents; it is sent as written",
                    problem.name,
                    kind.as_str()
                ),
            ),
        };
        report.diagnostics.push(Diagnostic {
            severity,
            code,
            location: Location::file(&prompt.path).with_field(format!("params.{}", problem.name)),
            prompt: Some(prompt.name.to_string()),
            message,
        });
    }
    // A `[params]` entry the contract writes is replaced in every request: say so.
    for (key, owner) in prompt.spec.overwritten_params() {
        report.diagnostics.push(Diagnostic {
            severity: Severity::Warning,
            code: "param-overwritten",
            location: Location::file(&prompt.path).with_field(format!("params.{key}")),
            prompt: Some(prompt.name.to_string()),
            message: format!(
                "`{key}` is written from {owner}, which replaces this value in every request; remove it here"
            ),
        });
    }
}

fn check_partials(set: &PromptSet, report: &mut CheckReport) {
    let used: BTreeSet<&str> = set
        .prompts()
        .flat_map(|p| {
            p.partial_names()
                .chain(p.schema_files.iter().map(String::as_str))
        })
        .collect();
    for partial in set.partials.names() {
        if let Some(error) = set.partials.scan_error(partial) {
            report.push_prompt_error(Severity::Error, None, &error);
        } else if !used.contains(partial) {
            report.diagnostics.push(Diagnostic {
                severity: Severity::Warning,
                code: "unused-partial",
                location: Location::file(set.partials.display_path(partial)),
                prompt: None,
                message: if partial.ends_with(crate::prompt::SCHEMA_FILE_SUFFIX) {
                    "no prompt names this schema file".into()
                } else {
                    "no prompt includes this partial".into()
                },
            });
        }
    }
}

/// A prompt no suite covers is rendered once with its defaults and a sample value of each
/// declared type (the first allowed value of an enum): a template that loops or recurses
/// for ever, or prints past the output limit, fails `check` rather than a server. Other
/// failures with made-up values may be the values' fault, so they are warnings.
fn render_with_samples(
    prompt: &Prompt,
    compiled: &crate::prompt::CompiledPrompt,
    report: &mut CheckReport,
) {
    let vars = crate::prompt::sample_values(&prompt.spec.variables);
    let Err(error) = compiled.render(&vars) else {
        return;
    };
    // `publish` and `canary` refuse what does not render here, so it is an error.
    report.diagnostics.push(Diagnostic {
        severity: Severity::Error,
        code: error.code(),
        location: Location::file(&prompt.path),
        prompt: Some(prompt.name.to_string()),
        message: format!("with its defaults and sample values, it does not render: {error}"),
    });
}

fn check_prompt(prompt: &Prompt, suites: &[&Suite], report: &mut CheckReport) {
    let name = prompt.name.as_str();
    for problem in prompt.schema_problems() {
        report.push_prompt_error(Severity::Error, Some(name), &problem);
    }
    let compiled = match prompt.compile() {
        Ok(compiled) => compiled,
        Err(error) => return report.push_prompt_error(Severity::Error, Some(name), &error),
    };
    let undeclared = compiled.undeclared_variables();
    let uses_undeclared = !undeclared.is_empty();
    for error in undeclared {
        // A partial may be included inside a loop or `with` block whose names it uses, so
        // only message templates are held to their prompt's declarations.
        let in_partial = error.location().is_some_and(|l| l.path.ends_with(".j2"));
        let severity = if in_partial {
            Severity::Warning
        } else {
            Severity::Error
        };
        report.push_prompt_error(severity, Some(name), &error);
    }
    // A name it uses without declaring is reported above; rendering would only repeat it.
    if !uses_undeclared {
        render_with_samples(prompt, &compiled, report);
    }
    for suite in suites {
        let mut undeclared = BTreeSet::new();
        for (index, case) in suite.cases.iter().enumerate() {
            let vars = match suite.case_vars(index, &prompt.spec.variables) {
                Ok(vars) => vars,
                Err(error) => {
                    report.push_suite_error(&error);
                    continue;
                }
            };
            undeclared.extend(
                undeclared_names(&prompt.spec.variables, &vars)
                    .into_iter()
                    .map(str::to_owned),
            );
            if let Err(error) = compiled.render(&vars) {
                report.diagnostics.push(Diagnostic {
                    severity: Severity::Error,
                    code: error.code(),
                    location: suite.case_location(index, ""),
                    prompt: Some(name.to_owned()),
                    message: format!("case `{}` does not render: {error}", case.name),
                });
            }
        }
        if !undeclared.is_empty() {
            let list: Vec<String> = undeclared.iter().map(|n| format!("`{n}`")).collect();
            report.diagnostics.push(Diagnostic {
                severity: Severity::Warning,
                code: "undeclared-value",
                location: Location::file(&suite.path),
                prompt: Some(name.to_owned()),
                message: format!(
                    "cases set {}, which `{name}` does not declare; the values are ignored",
                    list.join(", ")
                ),
            });
        }
    }
}
