//! Errors of reading prompts from a source.

use std::path::PathBuf;

use crate::base::tomlfile::TomlError;
use crate::project::ProjectError;
use crate::prompt::PromptError;
use crate::store::StoreError;

/// Why prompts could not be read from a revision spec.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The project could not be opened.
    #[error(transparent)]
    Project(#[from] ProjectError),
    /// The spec does not follow the grammar.
    #[error("invalid revision `{spec}`: {reason}")]
    InvalidSpec { spec: String, reason: String },
    /// Git does not know the revision.
    #[error("unknown revision `{spec}`: {}", source.message())]
    UnknownRevision {
        spec: String,
        #[source]
        source: git2::Error,
    },
    /// The repository has no commit yet, so no revision names anything.
    #[error("unknown revision `{spec}`: the repository has no commit yet")]
    NoCommitYet { spec: String },
    /// A release pointer was asked for but the environment has no release history.
    #[error(
        "`{spec}` has nothing to resolve to: nothing has been published to `{env}` (no branch `promptctl/{env}`)"
    )]
    NothingPublished { spec: String, env: String },
    /// A release pointer or stored version is not a set of files to list.
    #[error("`{spec}` is a release pointer, not a revision with files")]
    NotFiles { spec: String },
    /// The release state could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Reading from git failed.
    #[error("git: {}", .0.message())]
    Git(#[source] git2::Error),
    /// A listing of files on disk was asked for a blob, which only a repository holds.
    #[error("no repository to read `{relative}` from")]
    NoRepository { relative: String },
    /// Reading a file failed.
    #[error("cannot read `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The prompts folder is, or passes through, a symbolic link that leads outside the
    /// project: templates must not read files there.
    #[error("the prompts folder `{}` leads outside the project, to `{}`; symbolic links are not followed", folder.display(), target.display())]
    OutsideProject { folder: PathBuf, target: PathBuf },
    /// The `promptctl.toml` stored at a revision is invalid.
    #[error("{0} (at revision `{1}`)")]
    Config(TomlError, String),
    /// No prompt of that name at the revision.
    #[error("no prompt `{name}` at `{spec}`")]
    UnknownPrompt {
        name: String,
        spec: String,
        /// Existing names that look alike, best first.
        similar: Vec<String>,
    },
    /// No prompt of that name on either side of a comparison.
    #[error("no prompt `{name}` at `{from}` or at `{to}`")]
    UnknownPromptInPair {
        name: String,
        from: String,
        to: String,
        /// Existing names that look alike, best first.
        similar: Vec<String>,
    },
    /// The prompt exists but is invalid.
    #[error(transparent)]
    Prompt(#[from] PromptError),
}

impl From<git2::Error> for SourceError {
    fn from(error: git2::Error) -> Self {
        SourceError::Git(error)
    }
}

impl From<crate::gitio::walk::WalkError> for SourceError {
    fn from(error: crate::gitio::walk::WalkError) -> Self {
        SourceError::Io {
            path: error.path,
            source: error.source,
        }
    }
}
