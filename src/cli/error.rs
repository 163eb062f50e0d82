//! The one place where library errors become a message, hints and an exit code.

use std::process::ExitCode;

use promptctl::eval::CaseRefError;
use promptctl::project::ProjectError;
use promptctl::prompt::{IncludeProblem, PromptError};
use promptctl::release::{ACTOR_ENV, ReleaseError};
use promptctl::scaffold::InitError;
use promptctl::source::SourceError;
use promptctl::store::StoreError;
use promptctl::varsfile::VarsFileError;

use super::output::{ERROR, HINT, eprint};

/// Exit code: a check, eval gate or `--exit-code` found a problem.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: bad usage, bad input or configuration.
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code: a conflict: a lost race that could not be re-applied, a rejected push.
pub const EXIT_CONFLICT: u8 = 3;
/// Exit code: the system refused: a full disk, a read-only folder, a lock held by another
/// process, git failing. (101 is a Rust panic: a bug in promptctl, never a designed exit.)
pub const EXIT_SYSTEM: u8 = 4;

/// What to do about a system error.
const SYSTEM_HINT: &str = "the file system or git refused (free space, permissions, a file in the way, a lock held by another process); the release branch only moves once everything is written";

/// An error as the user sees it.
#[derive(Debug)]
pub struct CliError {
    message: String,
    hints: Vec<String>,
    code: u8,
}

impl CliError {
    /// A bad-input error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            hints: Vec::new(),
            code: EXIT_BAD_INPUT,
        }
    }

    /// A failure of the system, not of the input (exit 4).
    pub fn system(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            hints: Vec::new(),
            code: EXIT_SYSTEM,
        }
    }

    /// Adds a hint line.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    /// Adds where the error happened, after the message (`at `HEAD``).
    pub fn context(mut self, context: impl std::fmt::Display) -> Self {
        self.message = format!("{} ({context})", self.message);
        self
    }

    /// Prints the error and hints on stderr.
    pub fn print(&self) {
        let mut text = format!("{ERROR}error:{ERROR:#} {}\n", self.message);
        for hint in &self.hints {
            text.push_str(&format!("{HINT}hint:{HINT:#} {hint}\n"));
        }
        eprint(&text);
    }

    /// Prints the error and hints on stderr and returns the exit code.
    pub fn report(self) -> ExitCode {
        self.print();
        ExitCode::from(self.code)
    }
}

impl From<ProjectError> for CliError {
    fn from(error: ProjectError) -> Self {
        let hint = match &error {
            ProjectError::NotFound { .. } => {
                Some("run `promptctl init` to create a project here, or pass `--repo DIR`".into())
            }
            ProjectError::UnknownEnvironment { env, .. } => Some(format!(
                "declare it in promptctl.toml with an `[environments.{env}]` table"
            )),
            ProjectError::NotInRepo { .. } => Some(
                "this command compares git revisions: run `git init && git add -A && git commit -m prompts`; without git, `list`, `show`, `render` and `check` read the files on disk".into(),
            ),
            ProjectError::NoPromptsFolder { .. } => Some(
                "create it with a first prompt (`promptctl init` writes an example), or point `[project] prompts` in promptctl.toml at the folder".into(),
            ),
            ProjectError::Config(_) => {
                Some("see the comments `promptctl init` writes into promptctl.toml".into())
            }
            _ => None,
        };
        with_hint(CliError::usage(error.to_string()), hint)
    }
}

impl From<SourceError> for CliError {
    fn from(error: SourceError) -> Self {
        match error {
            SourceError::Project(e) => e.into(),
            SourceError::Prompt(e) => e.into(),
            SourceError::Store(e) => e.into(),
            other => {
                let hint = source_hint(&other);
                with_hint(CliError::usage(other.to_string()), hint)
            }
        }
    }
}

fn source_hint(error: &SourceError) -> Option<String> {
    Some(match error {
        SourceError::InvalidSpec { .. } => {
            "a revision is `worktree`, a git revision, `active`, `canary`, `active@ENV` or `sha256:<7+ hex>`".into()
        }
        SourceError::NoCommitYet { .. } => {
            "commit the prompts first (`git add -A && git commit`)".into()
        }
        SourceError::UnknownRevision { .. } => {
            "use a branch, tag or commit that `git rev-parse` knows, or `worktree` for the files on disk".into()
        }
        SourceError::NothingPublished { env, .. } => format!(
            "publish a first version with `promptctl publish --env {env}`, or read `HEAD` or `worktree`"
        ),
        SourceError::UnknownPrompt { similar, .. }
        | SourceError::UnknownPromptInPair { similar, .. }
            if !similar.is_empty() =>
        {
            format!("did you mean {}?", quoted_list(similar))
        }
        SourceError::UnknownPrompt { .. } | SourceError::UnknownPromptInPair { .. } => {
            "run `promptctl list` to see the prompts".into()
        }
        _ => return None,
    })
}

impl From<ReleaseError> for CliError {
    fn from(error: ReleaseError) -> Self {
        let message = error.to_string();
        match error {
            ReleaseError::Project(e) => e.into(),
            ReleaseError::Source(e) => (*e).into(),
            ReleaseError::Store(e) => e.into(),
            ReleaseError::Refused { hint, .. } => with_hint(CliError::usage(message), hint),
            ReleaseError::Conflict { hint, .. } => {
                let mut error = with_hint(CliError::usage(message), hint);
                error.code = EXIT_CONFLICT;
                error
            }
            ReleaseError::NoIdentity => CliError::usage(message).hint(format!(
                "set `git config user.name` and `git config user.email`, or {ACTOR_ENV}=\"Name <email>\""
            )),
            ReleaseError::Remote { .. } => CliError::usage(message)
                .hint("check the remote's URL, the network and your credentials; nothing was changed"),
            ReleaseError::Git(_) | ReleaseError::NoSource => CliError::system(message).hint(SYSTEM_HINT),
        }
    }
}

impl From<StoreError> for CliError {
    fn from(error: StoreError) -> Self {
        let message = error.to_string();
        match error {
            StoreError::CorruptObject(e) => e.into(),
            StoreError::State(_) | StoreError::MissingObject { .. } => CliError::usage(message)
                .hint("the release branch was edited by hand or is damaged; `promptctl log` and `git log` show its history, and `promptctl revert` or `git branch -f` can restore a good state"),
            StoreError::NotAState { .. } | StoreError::VersionPrefix { .. } => {
                CliError::usage(message)
            }
            StoreError::Git(_) => CliError::system(message).hint(SYSTEM_HINT),
        }
    }
}

impl From<PromptError> for CliError {
    fn from(error: PromptError) -> Self {
        let hint = prompt_hint(&error);
        with_hint(CliError::usage(error.to_string()), hint)
    }
}

/// Returns the advice for a prompt error; also used for `check` diagnostics.
pub fn prompt_hint(error: &PromptError) -> Option<String> {
    Some(match error {
        PromptError::InvalidName { .. } => {
            "name files with lower-case letters, digits, `.`, `_` and `-`, each segment starting with a letter or digit".into()
        }
        PromptError::Template { .. } => {
            "to write a literal `{{` or `{%`, wrap it in `{% raw %}...{% endraw %}`".into()
        }
        PromptError::Include { problem, .. } => match problem {
            IncludeProblem::NotLiteral => {
                "name partials with a string literal, like `{% include \"partials/style.j2\" %}`".into()
            }
            IncludeProblem::OutsidePrompts => {
                "partials are named relative to the prompts folder, without `..` or a leading `/`".into()
            }
            IncludeProblem::NotPartial => "only `.j2` partials can be included".into(),
            IncludeProblem::NotFound => "create the partial, or fix the name it is included by".into(),
        },
        PromptError::IncludeCycle { .. } => "break the cycle: a partial cannot include itself, even indirectly".into(),
        PromptError::UndeclaredVariable { name, .. } => {
            format!("declare it with a `[variables.{name}]` table")
        }
        PromptError::MissingVariable { name, .. } => {
            format!("pass it with `--var {name}=VALUE`, or give it a `default`")
        }
        PromptError::WrongType { name, .. } => format!("pass a value of the declared type for `{name}`"),
        PromptError::NotInEnum { .. } => "pass one of the allowed values".into(),
        PromptError::RenderLimit { .. } => {
            "templates get a bounded number of steps so that a mistake cannot hang a service".into()
        }
        _ => return None,
    })
}

impl From<VarsFileError> for CliError {
    fn from(error: VarsFileError) -> Self {
        CliError::usage(error.to_string())
            .hint("a variables file is a JSON object (`.json`) or a TOML table of name = value")
    }
}

impl From<CaseRefError> for CliError {
    fn from(error: CaseRefError) -> Self {
        let hint = match &error {
            CaseRefError::Malformed { .. } => {
                "name a case as SUITE:CASE, like `triage:refund`".into()
            }
            CaseRefError::UnknownSuite { known, .. } => format!("suites: {}", known.join(", ")),
            CaseRefError::UnknownCase { known, .. } => format!("its cases: {}", known.join(", ")),
        };
        CliError::usage(error.to_string()).hint(hint)
    }
}

impl From<InitError> for CliError {
    fn from(error: InitError) -> Self {
        let hint = matches!(error, InitError::AlreadyInitialized { .. })
            .then(|| "run `promptctl check` to see its prompts".to_owned());
        with_hint(CliError::usage(error.to_string()), hint)
    }
}

fn with_hint(error: CliError, hint: Option<String>) -> CliError {
    match hint {
        Some(hint) => error.hint(hint),
        None => error,
    }
}

fn quoted_list(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(" or ")
}

impl From<promptctl::eval::EvalError> for CliError {
    fn from(error: promptctl::eval::EvalError) -> Self {
        use promptctl::eval::{EvalError, ProviderError};
        let message = error.to_string();
        match error {
        EvalError::Source(e) => e.into(),
        EvalError::Provider(ProviderError::MissingKey { env, .. }) => CliError::usage(message).hint(format!(
            "export {env}=... (keys are read from the environment only), or run on the offline provider"
        )),
        EvalError::Provider(ProviderError::Unknown { .. }) => CliError::usage(message),
        EvalError::Auth { key_env, .. } => CliError::usage(message).hint(match key_env {
            Some(env) => format!(
                "check the key in {env} (and that it may use this model); the run stopped at the first refusal, since every request would fail alike"
            ),
            None => "the provider wants credentials: set `api_key_env` in its [providers] table, or `headers`".into(),
        }),
        // The machine failed, not the input: a cache that cannot be written, a task that
        // stopped.
        EvalError::Cache { .. } | EvalError::Task { .. } => CliError::system(message),
        other => CliError::usage(other.to_string()),
    }
    }
}

impl From<promptctl::ci::CiError> for CliError {
    fn from(error: promptctl::ci::CiError) -> Self {
        use promptctl::ci::CiError;
        let message = error.to_string();
        match error {
        CiError::Source(e) => e.into(),
        CiError::Eval(e) => e.into(),
        CiError::NoHead => CliError::usage(message).hint("commit the prompts first"),
        CiError::NoDefaultBranch => CliError::usage(message)
            .hint("name the branch this change merges into: promptctl ci --base origin/main"),
        CiError::BaseRefMissing { branch } => CliError::usage(message).hint(format!(
            "fetch it first (git fetch origin {branch}), or check out with fetch-depth: 0"
        )),
        CiError::UnknownBase { .. } => CliError::usage(message)
            .hint("give a branch, tag or commit that exists here (git branch -a lists them)"),
        CiError::NoMergeBase { shallow: true, .. } => CliError::usage(message)
            .hint("fetch the whole history (actions/checkout with fetch-depth: 0, or git fetch --unshallow)"),
        CiError::NoMergeBase { .. } => CliError::usage(message)
            .hint("give a base that shares history with HEAD"),
        CiError::Trailers { .. } => CliError::system(message),
        CiError::Matrix(_) => CliError::usage(message),
    }
    }
}
