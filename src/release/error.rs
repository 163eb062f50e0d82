//! Errors of reading and changing release state.

use crate::project::ProjectError;
use crate::source::SourceError;

use crate::store::StoreError;

/// Why a release action or read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// The project could not be opened.
    #[error(transparent)]
    Project(#[from] ProjectError),
    /// The release branch could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Git failed underneath.
    #[error("git: {}", .0.message())]
    Git(#[source] git2::Error),
    /// A bug: an action that needs a source of versions was planned without one.
    #[error("internal: the action has no source of versions")]
    NoSource,
    /// The action is not possible in the current state; the message says what to do.
    #[error("{message}")]
    Refused {
        message: String,
        hint: Option<String>,
    },
    /// Reading the versions to release failed.
    #[error(transparent)]
    Source(Box<SourceError>),
    /// The branch moved (or is locked) and the action could not be re-applied.
    #[error("{message}")]
    Conflict {
        message: String,
        hint: Option<String>,
    },
    /// There is no author for the release commit.
    #[error("no identity to record as the author of the release commit")]
    NoIdentity,
    /// A remote could not be reached or refused the transfer for another reason.
    #[error("remote `{remote}`: {message}")]
    Remote { remote: String, message: String },
}

impl ReleaseError {
    /// A refusal with advice.
    pub fn refused(message: impl Into<String>, hint: impl Into<String>) -> Self {
        ReleaseError::Refused {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }
}

impl From<git2::Error> for ReleaseError {
    fn from(error: git2::Error) -> Self {
        ReleaseError::Git(error)
    }
}

impl From<SourceError> for ReleaseError {
    fn from(error: SourceError) -> Self {
        ReleaseError::Source(Box::new(error))
    }
}
