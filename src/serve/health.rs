//! How fresh the served state is: since when the source has failed or gone silent, why,
//! how old the state is, and whether the kept copy could be written.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::ServerState;

/// Health of the snapshot: when it last loaded, and since when the source has failed.
#[derive(Debug, Clone, Default)]
pub struct Health {
    pub stale_since: Option<SystemTime>,
    pub last_error: Option<String>,
    /// When the source was last read successfully: the served state was current then.
    pub confirmed_at: Option<SystemTime>,
    /// Why the last good state could not be kept in the state folder.
    pub keep_error: Option<String>,
}

impl Health {
    /// Since when the served state is stale, if it is: a failed read, or no successful
    /// read for longer than `overdue` (a fetch that hangs is stale before it times out).
    pub fn stale_since(&self, overdue: Duration) -> Option<SystemTime> {
        let silent = self
            .confirmed_at
            .and_then(|at| at.checked_add(overdue))
            .filter(|limit| *limit < SystemTime::now());
        self.stale_since.or(silent)
    }

    /// Records a failed read: stale since the first sign, silence or failure, whatever
    /// the errors that follow say.
    pub fn fail(&mut self, error: String, overdue: Duration) {
        let since = self.stale_since(overdue).unwrap_or_else(SystemTime::now);
        self.stale_since = Some(since);
        self.last_error = Some(error);
    }

    /// Why the served state is stale, in words.
    pub fn why_stale(&self, overdue: Duration) -> Option<String> {
        let since = self.stale_since(overdue)?;
        Some(self.last_error.clone().unwrap_or_else(|| {
            let silent = since
                .elapsed()
                .map_or(0, |d| d.as_secs() + overdue.as_secs());
            format!("no answer from the source for {silent} s")
        }))
    }

    /// Seconds since the source was last read successfully.
    pub fn age(&self) -> Option<f64> {
        self.confirmed_at
            .and_then(|at| at.elapsed().ok())
            .map(|d| d.as_secs_f64())
    }
}

/// Keeps `state.stale` (read by every answer's headers) in step with the health, once a
/// second: staleness by silence has no event of its own.
pub(super) async fn watch_staleness(state: Arc<ServerState>) {
    loop {
        let stale = state.health().stale_since(state.overdue()).is_some();
        state
            .stale
            .store(stale, std::sync::atomic::Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
