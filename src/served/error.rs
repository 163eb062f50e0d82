//! Why a snapshot of a release state could not be built, for each version that cannot be
//! served and for the state as a whole.

use crate::prompt::Version;

/// Why a snapshot could not be built.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SnapshotError {
    #[error("unknown snapshot format {0}")]
    Format(u32),
    #[error(transparent)]
    State(#[from] crate::store::StateError),
    #[error("{shown}: the object of {version} is missing")]
    MissingObject { shown: String, version: Version },
    /// A stored version that does not read back, or does not compile.
    #[error(transparent)]
    Prompt(#[from] crate::prompt::PromptError),
}
