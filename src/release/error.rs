//! Errors of reading and changing release state.

use crate::project::ProjectError;
use crate::prompt::PromptError;
use crate::source::SourceError;

use super::state::StateError;

/// Why a release action or read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// The project could not be opened.
    #[error(transparent)]
    Project(#[from] ProjectError),
    /// The environment is neither `production` nor declared in promptctl.toml.
    #[error("unknown environment `{env}`; this project has {}", known.join(", "))]
    UnknownEnvironment { env: String, known: Vec<String> },
    /// Git failed underneath.
    #[error("git: {message}")]
    Git { message: String },
    /// `state.toml` of a release commit is not valid.
    #[error("{0}")]
    State(#[from] StateError),
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
        ReleaseError::Git {
            message: error.message().to_owned(),
        }
    }
}

impl From<SourceError> for ReleaseError {
    fn from(error: SourceError) -> Self {
        ReleaseError::Source(Box::new(error))
    }
}
