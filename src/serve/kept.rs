//! The copy of the last good state kept in `--state-dir`: written after every swap,
//! touched by every confirmed read (its file time is its age), and served at once when a
//! server starts while its source does not answer.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use super::{ServeError, ServeOptions, ServerState};
use crate::served::{Snapshot, SnapshotData};

/// Installs the copy kept in the state folder, marked stale until the source confirms it;
/// `false` when there is no usable copy.
pub(super) fn start_from_kept_copy(
    options: &ServeOptions,
    state: &Arc<ServerState>,
    folder: &str,
) -> bool {
    let kept = options
        .state_dir
        .as_ref()
        .and_then(|dir| read_persisted(dir, &options.env));
    let Some(snapshot) =
        kept.and_then(|data| Snapshot::build(Arc::new(data), folder, &state.counters, None).ok())
    else {
        return false;
    };
    tracing::info!(
        commit = %snapshot.commit,
        "serving the copy kept in the state folder until the source answers"
    );
    state.install(snapshot);
    // The copy is as fresh as the last time the source confirmed it: its file's time, which
    // every confirmed read refreshes. So a restarted replica still says how old it is.
    if let Some(dir) = &options.state_dir {
        let confirmed = std::fs::metadata(persisted_path(dir, &options.env))
            .and_then(|m| m.modified())
            .ok();
        state.health().confirmed_at = confirmed;
    }
    state.mark_failed("not yet confirmed: the source has not been read since the start".into());
    true
}

/// Marks the kept copy as confirmed now (its file's modification time), for a restart to
/// know how old it is.
pub(super) fn touch_kept_copy(options: &ServeOptions) {
    let Some(dir) = &options.state_dir else {
        return;
    };
    let touched = std::fs::File::options()
        .write(true)
        .open(persisted_path(dir, &options.env))
        .and_then(|file| file.set_modified(SystemTime::now()));
    if let Err(error) = touched {
        tracing::debug!(%error, "cannot mark the kept copy as confirmed");
    }
}

pub(super) fn persisted_path(dir: &std::path::Path, env: &str) -> PathBuf {
    dir.join(format!("snapshot-{env}.json"))
}

/// A state folder the server cannot write is refused at the start: a kept copy that is
/// never written would leave a restart with nothing, or with an old copy.
pub(super) fn check_state_dir(dir: &std::path::Path) -> Result<(), ServeError> {
    let probe = dir.join(".promptctl-write-check");
    std::fs::create_dir_all(dir)
        .and_then(|()| crate::base::fsutil::write_atomic(&probe, b"ok"))
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|source| ServeError::StateDir {
            path: dir.to_path_buf(),
            source,
        })
}

/// Keeps the last good state in the state folder, atomically. A failure is logged and
/// returned for `/healthz` to report: serving goes on, as it matters more than the copy.
pub(super) fn persist(options: &ServeOptions, data: &SnapshotData) -> Result<(), KeepError> {
    let Some(dir) = &options.state_dir else {
        return Ok(());
    };
    let written = std::fs::create_dir_all(dir).and_then(|()| {
        let bytes = serde_json::to_vec(data).map_err(std::io::Error::other)?;
        crate::base::fsutil::write_atomic(&persisted_path(dir, &options.env), &bytes)
    });
    written.map_err(|e| {
        tracing::warn!(
            dir = %dir.display(),
            error = %e,
            "cannot keep a copy of the state in the state folder"
        );
        KeepError {
            dir: dir.clone(),
            source: e,
        }
    })
}

/// The kept copy could not be written (the server goes on serving).
#[derive(Debug, thiserror::Error)]
#[error("cannot keep a copy in `{}`: {source}", dir.display())]
pub(super) struct KeepError {
    dir: PathBuf,
    #[source]
    source: std::io::Error,
}

pub(super) fn read_persisted(dir: &std::path::Path, env: &str) -> Option<SnapshotData> {
    let bytes = std::fs::read(persisted_path(dir, env)).ok()?;
    serde_json::from_slice(&bytes).ok()
}
