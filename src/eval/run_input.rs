//! What a run is given and what it can fail with: its options (versions, concurrency,
//! repeats, the cache mode, gate limits), the progress it reports, the error that stops
//! it, and one side of a suite as the runner hands it to the collector. The runner, the
//! executor and the collector all use these; this file uses none of them.

use super::gate::Gate;
use super::provider::ProviderError;
use crate::prompt::{CompiledPrompt, Prompt};
use crate::source::{RevisionSpec, SourceError};

/// How a run uses `.promptctl/cache`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheMode {
    /// Answer from the cache what it holds, and store what is sent.
    Use,
    /// Send everything again and overwrite what the cache holds.
    Refresh,
    /// Neither read nor write.
    Off,
}

/// How to run.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub base: RevisionSpec,
    pub head: RevisionSpec,
    /// Requests in flight at once over all providers: the ceiling, and where each
    /// provider's adaptive level starts.
    pub concurrency: super::adaptive::Concurrency,
    /// Samples per case, instead of each suite's `repeat`.
    pub repeat: Option<u32>,
    /// How to use `.promptctl/cache`.
    pub cache: CacheMode,
    /// Gate limits that replace the suites' own.
    pub gate: Gate,
}

/// Progress of a run, for a progress bar.
pub trait Progress: Send + Sync {
    /// `total` requests are about to be sent (cache hits are not counted).
    fn start(&self, total: usize);
    /// One more request is answered or has failed.
    fn advance(&self);
    /// All requests are done.
    fn finish(&self);
}

/// No progress display.
pub struct Quiet;

impl Progress for Quiet {
    fn start(&self, _: usize) {}
    fn advance(&self) {}
    fn finish(&self) {}
}

/// Why a run could not be made.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error("cannot write the eval cache `{path}`: {source}")]
    Cache {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A request task stopped unexpectedly (it panicked, or the run was cut short).
    #[error("a request task stopped unexpectedly: {source}")]
    Task {
        #[source]
        source: tokio::task::JoinError,
    },
    /// A provider refused the key (401 or 403): every request would fail the same way.
    #[error("provider `{provider}` refused the credentials: {message}")]
    Auth {
        provider: String,
        /// The variable the key came from, when the provider sends one.
        key_env: Option<String>,
        message: String,
    },
}

/// One side of a suite: the prompt there, compiled, or why it cannot run.
pub(super) struct SideInput<'a> {
    pub spec: String,
    pub prompt: Result<(&'a Prompt, CompiledPrompt), String>,
    /// What an arm changes on the prompt (nothing, for a side of a comparison of versions).
    pub overrides: super::arms::Overrides,
}

impl SideInput<'_> {
    /// The provider and model this side's requests go to: an arm's changes first, then
    /// the suite's provider, then the prompt as written; none when the prompt is not there.
    pub fn target(&self, suite_provider: Option<&str>) -> Option<(String, String)> {
        let (prompt, _) = self.prompt.as_ref().ok()?;
        let provider = (self.overrides.provider.as_deref())
            .or(suite_provider)
            .unwrap_or(&prompt.spec.provider);
        let model = (self.overrides.model.as_deref()).unwrap_or(&prompt.spec.model);
        Some((provider.to_owned(), model.to_owned()))
    }
}
