//! Sending requests: the cache first, then the providers, under one shared limit and each
//! provider's own adaptive one (`adaptive.rs`: it finds the provider's capacity as the run
//! goes), retrying 429s, 5xx and timeouts with backoff (or `Retry-After`), and writing each
//! answer to the cache as it arrives.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::adaptive::{AdaptiveLimit, Signal};
use super::cache::{
    Cache, CachedReply, Fingerprint, RequestKey, provider_fingerprint, request_key,
};
use super::provider::{CallError, ChatRequest, Failure, Provider, ProviderError};
use super::report::RequestStats;
use super::run_input::{CacheMode, EvalError, EvalOptions, Progress};
use crate::base::retry::Backoff;
use crate::config::ProjectConfig;
use crate::project::Project;

/// The longest a `Retry-After` is honoured; a server asking for more is retried sooner.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// The backoff without `Retry-After`: from 50 ms, doubling, at most 20 s. Short at first,
/// since the adaptive limit (not the wait) keeps a provider past its capacity from being
/// hammered, and a provider that sheds a few requests at random should cost a run little;
/// with the default 8 retries the waits add up to about 12.8 s, the patience 6 retries from
/// 200 ms gave.
const BACKOFF: Backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(20));

/// A request that failed for good.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestFailure {
    pub provider: String,
    pub failure: Failure,
    /// Attempts made, retries included.
    pub attempts: u32,
}

impl fmt::Display for RequestFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "provider `{}`: {}", self.provider, self.failure)?;
        if self.attempts > 1 {
            write!(f, " (after {} attempts)", self.attempts)?;
        }
        Ok(())
    }
}

/// Each request's answer, by cache key.
pub type Answers = HashMap<RequestKey, Result<CachedReply, RequestFailure>>;

/// A request as a run plans it, made when it is sent: a run of 20,000 cases need not hold
/// every rendered request from its plan to its end (see `runner::Planned`).
pub trait Outgoing {
    /// The provider it goes to, as prompts and suites name it.
    fn provider(&self) -> &str;
    /// The request; why not, when it cannot be made.
    fn make(self) -> Result<ChatRequest, String>;
}

impl Outgoing for ChatRequest {
    fn provider(&self) -> &str {
        &self.provider
    }

    fn make(self) -> Result<ChatRequest, String> {
        Ok(self)
    }
}

/// Sends requests: cache first, then providers, under the shared limit.
pub struct Executor {
    pub config: ProjectConfig,
    root: std::path::PathBuf,
    /// Each provider's fingerprint, part of every cache key.
    fingerprints: std::sync::Mutex<HashMap<String, Fingerprint>>,
    cache: Option<Arc<Cache>>,
    mode: CacheMode,
    concurrency: super::adaptive::Concurrency,
    providers: std::sync::Mutex<HashMap<String, Arc<Provider>>>,
    /// Each provider's adaptive limit, kept across the rounds of a run.
    limits: std::sync::Mutex<HashMap<String, Arc<AdaptiveLimit>>>,
    counters: Arc<Counters>,
    /// Every request that failed for good, in every round.
    failures: std::sync::Mutex<Vec<RequestFailure>>,
}

#[derive(Default)]
struct Counters {
    /// Set by a refused key, before the refused request lets go of its slot, so that no
    /// request waiting for a slot is sent after it.
    stopped: std::sync::atomic::AtomicBool,
    distinct: AtomicUsize,
    cached: AtomicUsize,
    sent: AtomicUsize,
    retries: AtomicUsize,
    failed: AtomicUsize,
}

impl Executor {
    pub fn new(project: &Project, options: &EvalOptions) -> Self {
        Executor {
            config: project.config.clone(),
            root: project.root.clone(),
            fingerprints: std::sync::Mutex::new(HashMap::new()),
            cache: (options.cache != CacheMode::Off).then(|| Arc::new(Cache::new(&project.root))),
            mode: options.cache,
            concurrency: options.concurrency,
            providers: std::sync::Mutex::new(HashMap::new()),
            limits: std::sync::Mutex::new(HashMap::new()),
            counters: Arc::new(Counters::default()),
            failures: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Every request that failed for good so far.
    pub fn failures(&self) -> Vec<RequestFailure> {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn stats(&self) -> RequestStats {
        let get = |c: &AtomicUsize| c.load(Ordering::Relaxed);
        RequestStats {
            distinct: get(&self.counters.distinct),
            cached: get(&self.counters.cached),
            sent: get(&self.counters.sent),
            retries: get(&self.counters.retries),
            failed: get(&self.counters.failed),
            in_flight: self.concurrency_reached().into_values().max().unwrap_or(0),
        }
    }

    /// The cache key of sample `sample` of a request.
    pub fn key(&self, request: &ChatRequest, sample: u32) -> Result<RequestKey, ProviderError> {
        self.with_fingerprint(&request.provider, |f| request_key(request, &f.hash, sample))
    }

    /// Whether a provider's replies may be read from and written to the cache.
    fn reusable(&self, provider: &str) -> Result<bool, ProviderError> {
        self.with_fingerprint(provider, |f| f.reusable)
    }

    /// Looks at a provider's fingerprint, computed once a run (for a command, it hashes
    /// the files it declares), without copying it for every request.
    fn with_fingerprint<R>(
        &self,
        provider: &str,
        look: impl FnOnce(&Fingerprint) -> R,
    ) -> Result<R, ProviderError> {
        let mut fingerprints = self.fingerprints.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(fingerprint) = fingerprints.get(provider) {
            return Ok(look(fingerprint));
        }
        let fingerprint = provider_fingerprint(&self.config, &self.root, provider)?;
        Ok(look(
            fingerprints
                .entry(provider.to_owned())
                .or_insert(fingerprint),
        ))
    }

    /// The adaptive limit of a provider: under `--concurrency` and its own `concurrency`.
    fn adaptive_limit(&self, provider: &Provider) -> Arc<AdaptiveLimit> {
        let mut limits = self.limits.lock().unwrap_or_else(|e| e.into_inner());
        let ceiling = self.concurrency.ceiling.min(provider.concurrency());
        let start = self.concurrency.start;
        Arc::clone(
            limits
                .entry(provider.name().to_owned())
                .or_insert_with(|| Arc::new(AdaptiveLimit::new(ceiling, start))),
        )
    }

    /// The highest number of requests in flight each provider's limit reached, by name.
    pub fn concurrency_reached(&self) -> BTreeMap<String, usize> {
        let limits = self.limits.lock().unwrap_or_else(|e| e.into_inner());
        limits
            .iter()
            .map(|(name, l)| (name.clone(), l.peak()))
            .collect()
    }

    fn provider(&self, name: &str) -> Result<Arc<Provider>, ProviderError> {
        let mut providers = self.providers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(provider) = providers.get(name) {
            return Ok(Arc::clone(provider));
        }
        let provider = Arc::new(Provider::open(&self.config, &self.root, name)?);
        providers.insert(name.to_owned(), Arc::clone(&provider));
        Ok(provider)
    }

    /// Answers every request, by key. A 401 or 403 stops the run: every other request
    /// would fail the same way.
    pub async fn run_all<R: Outgoing>(
        &self,
        calls: BTreeMap<RequestKey, R>,
        progress: &Arc<dyn Progress>,
    ) -> Result<Answers, EvalError> {
        // Sized once: growing by doubling held the old table beside the new one, and the
        // answers of a large run are its largest table.
        let mut answers = HashMap::with_capacity(calls.len());
        let mut misses = Vec::with_capacity(calls.len());
        self.counters
            .distinct
            .fetch_add(calls.len(), Ordering::Relaxed);
        let read = self.mode == CacheMode::Use;
        for (key, request) in calls {
            let reusable = self.reusable(request.provider())?;
            match self
                .cache
                .as_ref()
                .filter(|_| read && reusable)
                .and_then(|c| c.get(&key))
            {
                Some(hit) => {
                    self.counters.cached.fetch_add(1, Ordering::Relaxed);
                    answers.insert(key, Ok(hit));
                }
                None => misses.push((key, request)),
            }
        }
        // Every provider a miss needs is set up before anything is sent, so a missing key
        // fails the run at once rather than after half of it.
        let mut needed = HashMap::new();
        for (_, request) in &misses {
            if !needed.contains_key(request.provider()) {
                let provider = self.provider(request.provider())?;
                needed.insert(request.provider().to_owned(), provider);
            }
        }
        progress.start(misses.len());
        let limit = Arc::new(tokio::sync::Semaphore::new(self.concurrency.ceiling.max(1)));
        // Tasks are started a window at a time, not all at once: a waiting task holds its
        // request and its future, and 20,000 of them would cost more than the answers.
        let window = self.concurrency.ceiling.saturating_mul(4).max(16);
        let mut pending = misses.into_iter();
        let mut tasks = tokio::task::JoinSet::new();
        loop {
            while tasks.len() < window {
                let Some((key, outgoing)) = pending.next() else {
                    break;
                };
                let provider = Arc::clone(&needed[outgoing.provider()]);
                let request = match outgoing.make() {
                    Ok(request) => request,
                    Err(why) => {
                        answers.insert(key, Err(self.unmade(&provider, why)));
                        progress.advance();
                        continue;
                    }
                };
                let adaptive = self.adaptive_limit(&provider);
                let limit = Arc::clone(&limit);
                let reusable = self.reusable(&request.provider)?;
                let cache = self.cache.clone().filter(|_| reusable);
                let counters = Arc::clone(&self.counters);
                let progress = Arc::clone(progress);
                tasks.spawn(async move {
                    let limits = Limits {
                        shared: &limit,
                        provider: &adaptive,
                    };
                    let answer = call_with_retries(&provider, &request, &limits, &counters).await;
                    let stored = match (&answer, cache) {
                        (Ok(reply), Some(cache)) => store(cache, key, reply.clone()).await,
                        _ => Ok(()),
                    };
                    progress.advance();
                    (key, provider, answer, stored)
                });
            }
            let Some(joined) = tasks.join_next().await else {
                break;
            };
            let (key, answer) = self.settle(joined)?;
            answers.insert(key, answer);
        }
        Ok(answers)
    }

    /// The failure of a request that could not be made again when it was sent (it was made
    /// once to plan it, so this is not expected): counted and recorded like any other.
    fn unmade(&self, provider: &Provider, why: String) -> RequestFailure {
        self.failed(RequestFailure {
            provider: provider.name().to_owned(),
            failure: super::provider::Failure {
                cause: "the request could not be rendered again".into(),
                detail: why,
                reached: false,
            },
            attempts: 0,
        })
    }

    /// Counts and records a request that failed for good.
    fn failed(&self, failure: RequestFailure) -> RequestFailure {
        self.counters.failed.fetch_add(1, Ordering::Relaxed);
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(failure.clone());
        failure
    }

    /// Takes in one finished task: its answer, or the failure recorded and counted. A
    /// refused key ends the run; dropping the set aborts the requests still in flight.
    fn settle(
        &self,
        joined: Result<Finished, tokio::task::JoinError>,
    ) -> Result<(RequestKey, Result<CachedReply, RequestFailure>), EvalError> {
        let (key, provider, answer, stored) =
            joined.map_err(|source| EvalError::Task { source })?;
        if let Err((key, source)) = stored {
            return Err(EvalError::Cache {
                path: format!("{}/{}", super::cache::CACHE_DIR, &key.to_string()[..2]),
                source,
            });
        }
        let answer = match answer {
            Ok(reply) => Ok(reply),
            Err((CallError::Auth { failure }, _)) => {
                return Err(EvalError::Auth {
                    provider: provider.name().to_owned(),
                    key_env: provider.key_env().map(str::to_owned),
                    message: failure.to_string(),
                });
            }
            Err((error, attempts)) => Err(self.failed(RequestFailure {
                provider: provider.name().to_owned(),
                failure: error.failure().clone(),
                attempts,
            })),
        };
        Ok((key, answer))
    }
}

/// What a request task hands back: its key, its provider, its answer (or the error and
/// the attempts made), and whether the cache took the answer.
type Finished = (
    RequestKey,
    Arc<Provider>,
    Result<CachedReply, (CallError, u32)>,
    Result<(), (RequestKey, std::io::Error)>,
);

/// Writes an answer to the cache on the blocking pool, so that disk time never holds up
/// the requests in flight.
async fn store(
    cache: Arc<Cache>,
    key: RequestKey,
    reply: CachedReply,
) -> Result<(), (RequestKey, std::io::Error)> {
    tokio::task::spawn_blocking(move || cache.put(&key, &reply).map_err(|e| (key, e)))
        .await
        .unwrap_or(Ok(()))
}

/// Sends one request, retrying what is worth retrying; on failure, the last error and the
/// attempts made. The shared limit is held only while the request is in flight, not while
/// it waits to retry. A request counts as sent once any attempt reached the provider.
/// The limits a request is sent under: the run's shared one and its provider's adaptive one.
struct Limits<'a> {
    shared: &'a tokio::sync::Semaphore,
    provider: &'a AdaptiveLimit,
}

async fn call_with_retries(
    provider: &Provider,
    request: &ChatRequest,
    limits: &Limits<'_>,
    counters: &Counters,
) -> Result<CachedReply, (CallError, u32)> {
    let mut attempt = 0u32;
    let mut reached = false;
    let result = loop {
        let result = {
            let slot = limits.provider.acquire().await;
            let permit = limits.shared.acquire().await;
            if permit.is_err() || counters.stopped.load(Ordering::SeqCst) {
                break Err(CallError::Fatal {
                    failure: Failure {
                        cause: "the run was stopped".into(),
                        detail: String::new(),
                        reached: false,
                    },
                });
            }
            let result = provider.complete(request).await;
            if matches!(result, Err(CallError::Auth { .. })) {
                counters.stopped.store(true, Ordering::SeqCst);
            }
            slot.done(match &result {
                Ok((_, latency)) => Signal::Answered(*latency),
                Err(CallError::Retryable { .. }) => Signal::Throttled,
                Err(_) => Signal::Neutral,
            });
            result
        };
        reached |= result
            .as_ref()
            .map_or_else(|e| e.failure().reached, |_| true);
        match result {
            Err(CallError::Retryable { retry_after, .. }) if attempt < provider.max_retries() => {
                counters.retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(backoff(attempt, retry_after)).await;
                attempt += 1;
            }
            other => break other,
        }
    };
    if reached {
        counters.sent.fetch_add(1, Ordering::Relaxed);
    }
    match result {
        Ok((reply, latency)) => Ok(CachedReply {
            reply,
            latency_ms: latency.as_secs_f64() * 1000.0,
        }),
        Err(error) => Err((error, attempt + 1)),
    }
}

/// How long to wait before retry `attempt` (0-based): the server's `Retry-After` when it
/// gives one (at most a minute), else exponential backoff from 50 ms with jitter.
fn backoff(attempt: u32, retry_after: Option<Duration>) -> Duration {
    match retry_after {
        Some(wait) => wait.min(MAX_RETRY_AFTER),
        None => BACKOFF.delay(attempt),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_honours_retry_after_and_grows_without_it() {
        assert_eq!(
            backoff(0, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(backoff(0, Some(Duration::from_secs(600))), MAX_RETRY_AFTER);
        let first = backoff(0, None);
        assert!(
            first >= Duration::from_millis(25) && first <= BACKOFF.first,
            "{first:?}"
        );
        let later = backoff(4, None);
        assert!(later >= Duration::from_millis(400), "{later:?}");
        // The default retries wait about as long in all as six from 200 ms did.
        let most: Duration = (0..8).map(|a| BACKOFF.delay(a).max(backoff(a, None))).sum();
        assert!(most <= Duration::from_millis(12_750), "{most:?}");
        assert!(backoff(30, None) <= BACKOFF.max);
    }
}
