//! Errors of reading and writing the release branch.

use crate::prompt::PromptError;

use super::state::StateError;

/// Why the release branch could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Git failed underneath.
    #[error("git: {}", .0.message())]
    Git(#[source] git2::Error),
    /// `state.toml` of a release commit is not valid.
    #[error("{0}")]
    State(#[from] StateError),
    /// The commit has no readable `state.toml`: it is not a release state.
    #[error("{message}")]
    NotAState { message: String },
    /// The state refers to a version whose object is not in the commit.
    #[error("{shown}: the state refers to {version}, but its object `{path}` is missing")]
    MissingObject {
        shown: String,
        version: String,
        path: String,
    },
    /// A stored object does not read back as the version it is filed under.
    #[error(transparent)]
    CorruptObject(PromptError),
    /// No stored version starts with the prefix, or more than one does.
    #[error("{message}")]
    VersionPrefix { message: String },
}

impl From<git2::Error> for StoreError {
    fn from(error: git2::Error) -> Self {
        StoreError::Git(error)
    }
}
