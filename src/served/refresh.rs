//! Why a new snapshot could not be taken: the one error of a server's reload and of a
//! client's refresh, whatever the origin (a checkout, a mirror of a remote, a server's
//! `/v1/state`). The last good snapshot keeps serving in every case.

use super::error::SnapshotError;
use super::origin::OriginError;

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error(transparent)]
    Origin(#[from] OriginError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error("cannot start an HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("cannot reach `{url}`: {source}")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("`{url}/v1/state` is not a release state: {source}")]
    NotAState {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("`{url}/v1/state` answered {status}")]
    Status { url: String, status: u16 },
    /// The blocking task that reads the state stopped (it panicked, or the runtime is
    /// shutting down).
    #[error("the reload stopped: {0}")]
    Task(#[source] tokio::task::JoinError),
    /// The thread that loads a client's first state panicked.
    #[error("the loading thread stopped")]
    LoaderStopped,
}
