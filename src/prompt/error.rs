//! Errors of the prompt layer: where in which file a prompt is wrong, and why.

use std::fmt;

pub use crate::base::location::Location;

/// Why an `{% include %}`, `{% import %}`, `{% from %}` or `{% extends %}` was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncludeProblem {
    /// The template name is an expression, not a string literal.
    NotLiteral,
    /// The name is absolute, climbs with `..`, or has a segment outside `[a-z0-9][a-z0-9._-]*`.
    OutsidePrompts,
    /// The name does not end in `.j2`.
    NotPartial,
    /// No such partial under the prompts folder.
    NotFound,
}

impl fmt::Display for IncludeProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IncludeProblem::NotLiteral => "is not a string literal",
            IncludeProblem::OutsidePrompts => "is not a relative path inside the prompts folder",
            IncludeProblem::NotPartial => "is not a `.j2` partial",
            IncludeProblem::NotFound => "does not exist",
        })
    }
}

/// Everything that can be wrong with a prompt file, its partials, or the values it is given.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PromptError {
    /// The file is not valid TOML or does not have the prompt file's shape.
    #[error("{location}: {message}")]
    Syntax { location: Location, message: String },

    /// The file's path does not give a valid prompt or partial name.
    #[error("{location}: invalid name `{name}`: {reason}")]
    InvalidName {
        location: Location,
        name: String,
        #[source]
        reason: Box<super::NameError>,
    },

    /// The file parses but a field's value is not allowed.
    #[error("{location}: {message}")]
    Invalid { location: Location, message: String },

    /// A message template or partial does not compile.
    #[error("{location}: template error: {message}")]
    Template { location: Location, message: String },

    /// An include, import or extends names something that is not an allowed partial, or a
    /// prompt names a schema file that is not there.
    #[error("{location}: {} `{name}` {problem}", if name.ends_with(super::SCHEMA_FILE_SUFFIX) { "schema file" } else { "included template" })]
    Include {
        location: Location,
        name: String,
        problem: IncludeProblem,
    },

    /// Partials include each other in a circle.
    #[error("{location}: include cycle: {}", cycle.join(" -> "))]
    IncludeCycle {
        location: Location,
        cycle: Vec<String>,
    },

    /// A template uses a variable that the prompt does not declare.
    #[error("{location}: template uses `{name}`, which the prompt does not declare")]
    UndeclaredVariable { location: Location, name: String },

    /// A required variable was not supplied, or a template used a variable with no value.
    #[error("prompt `{prompt}`: missing variable `{name}`")]
    MissingVariable { prompt: String, name: String },

    /// A supplied value does not have the declared type.
    #[error("prompt `{prompt}`: variable `{name}` must be {expected}, got {found}")]
    WrongType {
        prompt: String,
        name: String,
        expected: String,
        found: String,
    },

    /// A supplied value is not one of the declared `enum` values.
    #[error("prompt `{prompt}`: variable `{name}` is {value}, which is not one of {allowed}")]
    NotInEnum {
        prompt: String,
        name: String,
        value: String,
        allowed: String,
    },

    /// Rendering failed while running the template.
    #[error("{location}: render error: {message}")]
    Render { location: Location, message: String },

    /// Rendering ran out of fuel or recursion depth: the template loops or recurses too much.
    #[error("{location}: rendering stopped: {message}")]
    RenderLimit { location: Location, message: String },
}

impl PromptError {
    /// Returns the place the error points at, when it has one.
    pub fn location(&self) -> Option<&Location> {
        match self {
            PromptError::Syntax { location, .. }
            | PromptError::InvalidName { location, .. }
            | PromptError::Invalid { location, .. }
            | PromptError::Template { location, .. }
            | PromptError::Include { location, .. }
            | PromptError::IncludeCycle { location, .. }
            | PromptError::UndeclaredVariable { location, .. }
            | PromptError::Render { location, .. }
            | PromptError::RenderLimit { location, .. } => Some(location),
            PromptError::MissingVariable { .. }
            | PromptError::WrongType { .. }
            | PromptError::NotInEnum { .. } => None,
        }
    }

    /// Returns a stable kebab-case code for the error, used in `--json` output.
    pub fn code(&self) -> &'static str {
        match self {
            PromptError::Syntax { .. } => "syntax",
            PromptError::InvalidName { .. } => "invalid-name",
            PromptError::Invalid { .. } => "invalid-field",
            PromptError::Template { .. } => "template",
            PromptError::Include { .. } => "include",
            PromptError::IncludeCycle { .. } => "include-cycle",
            PromptError::UndeclaredVariable { .. } => "undeclared-variable",
            PromptError::MissingVariable { .. } => "missing-variable",
            PromptError::WrongType { .. } => "wrong-type",
            PromptError::NotInEnum { .. } => "not-in-enum",
            PromptError::Render { .. } => "render",
            PromptError::RenderLimit { .. } => "render-limit",
        }
    }
}
