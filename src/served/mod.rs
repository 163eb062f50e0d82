//! Served states: the immutable [`Snapshot`] of one environment's release state (versions
//! checked, templates compiled, answers ready) that both `promptctl serve` and the in-process
//! [`crate::client`] answer from, and the [`Origin`] it is loaded from (a project checkout or
//! a mirror of a remote).

mod error;
mod loaded;
mod loader;
mod origin;
mod refresh;
mod snapshot;

pub use error::SnapshotError;
pub use origin::{Origin, OriginError};
pub use refresh::RefreshError;
pub use snapshot::{
    Counters, FellBack, Loaded, PERSISTED_FORMAT, Picked, Rendered, ServeRenderError, Served,
    Snapshot, SnapshotData, track_slot,
};
