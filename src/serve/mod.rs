//! `promptctl serve`: the HTTP API services resolve and render prompts with.
//!
//! The server holds one immutable [`Snapshot`] (state, versions checked, templates compiled)
//! behind an atomic pointer; every request takes the pointer once and answers from that
//! snapshot alone. A poller reloads the release branch every interval and swaps a new
//! snapshot in only when it loaded completely. When the source is unreachable, the last good
//! snapshot keeps serving and `/healthz` says it is stale and since when; a copy persisted in
//! the state folder lets the server start while the source is down.

mod auth;
mod charts;
mod controller;
mod dashboard;
mod deadline;
mod dedupe;
mod experiment_metrics;
pub(crate) mod experiments_route;
mod feedback_route;
mod front;
mod guard;
mod health;
mod kept;
mod kept_pack;
pub mod listener;
mod metrics;
mod ofrep;
mod ofrep_body;
mod render_route;
mod reply;
mod rollouts;
mod routes;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use std::collections::BTreeMap;

use arc_swap::ArcSwapOption;

use crate::policy::RolloutPolicy;
use crate::prompt::PromptName;
use crate::rollout::{Sample, Window};
use crate::store::{PromptState, StepKey, Track};

use crate::served::{Counters, Origin, Snapshot};
pub use health::Health;
pub use metrics::Metrics;

/// How a server runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub addr: SocketAddr,
    pub env: String,
    pub origin: Origin,
    /// How often the source is checked for a new state.
    pub poll: Duration,
    /// The bearer token write routes require, when set.
    pub token: Option<String>,
    /// Where the last good snapshot is kept, to start from when the source is unreachable.
    pub state_dir: Option<PathBuf>,
    /// Longest a request may take, reading its body included.
    pub request_timeout: Duration,
    /// Most connections open at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// Most connections one client address may hold; none: half of `max_connections`.
    pub max_connections_per_client: Option<usize>,
    /// Longest a client may take to send a request's headers, and longest a kept-alive
    /// connection may sit idle.
    pub header_timeout: Duration,
    /// Run the rollout controller in the server, judging rollouts on the feedback it gets.
    pub controller: Option<ControllerOptions>,
}

/// How the rollout controller runs inside a server.
#[derive(Debug, Clone)]
pub struct ControllerOptions {
    /// How often every rollout is judged.
    pub interval: Duration,
    /// Push each decision to this remote (fetching first).
    pub push: Option<String>,
    /// Judge on this Prometheus server's series (else `[rollout] prometheus`, else this
    /// server's own feedback).
    pub prometheus: Option<String>,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "cannot load the release state of `{env}`, and no copy is kept in a state folder: {source}"
    )]
    NoSnapshot {
        env: String,
        #[source]
        source: Box<crate::served::RefreshError>,
    },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the state folder `{}`: {source}", path.display())]
    StateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the address the server listens on: {0}")]
    LocalAddr(#[source] std::io::Error),
}

/// Everything the routes share.
pub struct ServerState {
    pub snapshot: ArcSwapOption<Snapshot>,
    pub health: Mutex<Health>,
    pub counters: Counters,
    pub metrics: Metrics,
    /// The feedback of experiments' arms.
    pub experiments: experiment_metrics::ExperimentTallies,
    pub token: Option<String>,
    pub env: String,
    /// Tells long polls of `/v1/state` that a new snapshot is in.
    pub changed: tokio::sync::watch::Sender<String>,
    pub request_timeout: Duration,
    /// Feedback of the current step of every canary, by prompt.
    pub windows: Mutex<BTreeMap<PromptName, Window>>,
    /// The rollout policy of the project (defaults when serving a remote).
    pub policy: Mutex<RolloutPolicy>,
    /// The controller's latest judgement of each rollout, when it runs here.
    pub decisions: Mutex<BTreeMap<PromptName, rollouts::LastDecision>>,
    /// Whether the controller runs in this server.
    pub controlling: bool,
    /// The controller judges on Prometheus named with `--prometheus` (or, when not, on
    /// `[rollout] prometheus`).
    pub controller_prometheus: bool,
    /// Wakes the poller at once, after the controller wrote a decision.
    pub reload: tokio::sync::Notify,
    /// The versions already in the kept copy (`--state-dir`), once it was read or written.
    kept_pack: Mutex<Option<kept_pack::Pack>>,
    /// Wakes the controller when feedback arrives, since it may change a decision.
    pub evidence: tokio::sync::Notify,
    /// Set when the server is stopping: long polls answer at once.
    pub stopping: tokio::sync::watch::Sender<bool>,
    /// Renders run on blocking threads, at most this many at once, so that the async
    /// workers always answer `/healthz` and resolves.
    pub render_slots: Arc<tokio::sync::Semaphore>,
    /// Renders running per prompt: one prompt may hold all slots but one, so that its
    /// slow renders never stop the others (see `render_route::render_off_workers`).
    pub renders_by_prompt: Arc<Mutex<std::collections::HashMap<String, usize>>>,
    /// The most renders one prompt may run at once.
    pub render_share: usize,
    /// Why the controller's metric source could not be read at its last pass, if it
    /// could not: logged when it starts and ends, and shown on the dashboard.
    pub metric_source_error: Mutex<Option<String>>,
    /// While the controller waits for Prometheus to catch up after a gap: the time (on
    /// Prometheus's clock) it answered again.
    pub catching_up_since: Mutex<Option<f64>>,
    /// Whether the served state is stale, for the `X-Promptctl-Stale` header of answers.
    pub stale: std::sync::atomic::AtomicBool,
    /// Woken when a render of any prompt ends, for renders waiting on their prompt's share.
    pub render_share_released: Arc<tokio::sync::Notify>,
    /// How often the source is read.
    pub poll: Duration,
    /// The latest canary failure of each prompt whose canary requests fell back.
    pub canary_failures: Mutex<BTreeMap<PromptName, CanaryFailure>>,
    /// The resolve counts (active track, canary track) of each canary when its current step
    /// was first served, so that requests are counted over the same window as feedback.
    pub step_baselines: Mutex<BTreeMap<PromptName, (StepKey, [u64; 2])>>,
    /// Each canary's figures over time, for the dashboard's charts.
    pub charts: Mutex<BTreeMap<PromptName, charts::Series>>,
    /// Feedback request ids seen lately: a retried report counts once.
    pub feedback_ids: Mutex<dedupe::RecentIds>,
}

/// A canary failure that made requests fall back to the active version.
#[derive(Debug, Clone)]
pub struct CanaryFailure {
    pub canary: crate::prompt::Version,
    pub reason: String,
    /// Requests that fell back for this failure.
    pub count: u64,
    pub last_at: SystemTime,
    /// When this prompt's failures were last logged.
    pub logged_at: Option<SystemTime>,
}

/// How often a prompt's canary failures are logged at most.
const FALLBACK_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// Resolves so far of a prompt with a canary: (active track, canary track).
fn track_counts(served: &crate::served::Served, canary: &crate::served::Loaded) -> [u64; 2] {
    use std::sync::atomic::Ordering::Relaxed;
    [
        served.active.resolves[0].load(Relaxed),
        canary.resolves[1].load(Relaxed),
    ]
}

/// How many renders run at once: one per core, at least two.
pub fn render_slots() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().max(2))
}

impl ServerState {
    /// Whether the controller in this server judges on Prometheus rather than its own
    /// feedback.
    pub fn controller_reads_prometheus(&self, policy: &RolloutPolicy) -> bool {
        self.controlling && (self.controller_prometheus || policy.prometheus.is_some())
    }

    fn new(options: &ServeOptions) -> Arc<ServerState> {
        let slots = render_slots();
        let policy = match &options.origin {
            Origin::Repo(path) => crate::project::Project::discover(path)
                .map(|p| p.config.rollout)
                .unwrap_or_default(),
            Origin::Remote { .. } => RolloutPolicy::default(),
        };
        let (env, token, request_timeout) =
            (&options.env, options.token.clone(), options.request_timeout);
        Arc::new(ServerState {
            windows: Mutex::new(BTreeMap::new()),
            policy: Mutex::new(policy),
            decisions: Mutex::new(BTreeMap::new()),
            kept_pack: Mutex::new(None),
            controlling: options.controller.is_some(),
            controller_prometheus: options
                .controller
                .as_ref()
                .is_some_and(|c| c.prometheus.is_some()),
            reload: tokio::sync::Notify::new(),
            evidence: tokio::sync::Notify::new(),
            snapshot: ArcSwapOption::empty(),
            health: Mutex::new(Health::default()),
            counters: Counters::default(),
            metrics: Metrics::default(),
            experiments: Default::default(),
            token,
            env: env.to_owned(),
            changed: tokio::sync::watch::channel(String::new()).0,
            stopping: tokio::sync::watch::channel(false).0,
            render_slots: Arc::new(tokio::sync::Semaphore::new(slots)),
            render_share: render_route::prompt_share(slots),
            render_share_released: Arc::new(tokio::sync::Notify::new()),
            stale: std::sync::atomic::AtomicBool::new(false),
            metric_source_error: Mutex::new(None),
            catching_up_since: Mutex::new(None),
            renders_by_prompt: Arc::new(Mutex::new(std::collections::HashMap::new())),
            poll: options.poll,
            canary_failures: Mutex::new(BTreeMap::new()),
            step_baselines: Mutex::new(BTreeMap::new()),
            charts: Mutex::new(BTreeMap::new()),
            feedback_ids: Mutex::new(dedupe::RecentIds::default()),
            request_timeout,
        })
    }

    fn install(&self, snapshot: Snapshot) {
        self.mark_step_starts(&snapshot);
        let commit = snapshot.commit.clone();
        self.snapshot.store(Some(Arc::new(snapshot)));
        self.changed.send_replace(commit);
    }

    /// Records the resolve counts of every canary whose step this snapshot starts serving.
    fn mark_step_starts(&self, snapshot: &Snapshot) {
        let mut baselines = lock(&self.step_baselines);
        baselines.retain(|name, _| {
            snapshot
                .prompts
                .get(name)
                .is_some_and(|s| s.canary.is_some())
        });
        for (name, served) in &snapshot.prompts {
            let Some(canary) = &served.canary else {
                continue;
            };
            let key = rollouts::window_key(&served.pointers, canary.prompt.version);
            if baselines.get(name).is_some_and(|(known, _)| *known == key) {
                continue;
            }
            baselines.insert(name.clone(), (key, track_counts(served, canary)));
        }
    }

    /// Resolves of a canary's prompt since its current step was first served: (active
    /// track, canary track).
    pub fn step_resolves(&self, name: &PromptName, served: &crate::served::Served) -> [u64; 2] {
        let Some(canary) = &served.canary else {
            return [0, 0];
        };
        let now = track_counts(served, canary);
        let base = lock(&self.step_baselines)
            .get(name)
            .map_or([0, 0], |(_, counts)| *counts);
        [
            now[0].saturating_sub(base[0]),
            now[1].saturating_sub(base[1]),
        ]
    }

    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        lock(&self.health)
    }

    /// Adds one feedback report to the window of the prompt's current canary step.
    pub fn record_feedback(
        &self,
        name: &PromptName,
        pointers: &PromptState,
        track: Track,
        sample: &Sample,
    ) {
        let Some(canary) = &pointers.canary else {
            return;
        };
        let key = rollouts::window_key(pointers, canary.version);
        let mut windows = lock(&self.windows);
        let window = windows
            .entry(name.clone())
            .or_insert_with(|| Window::new(key));
        if window.key != key {
            // A new step (or canary) starts with no feedback.
            *window = Window::new(key);
        }
        match track {
            Track::Canary => window.canary.add(sample),
            Track::Active => window.active.add(sample),
            // A prompt runs an experiment or a canary, never both.
            Track::Experiment(_) => return,
        }
        let mut charts = lock(&self.charts);
        let series = charts
            .entry(name.clone())
            .or_insert_with(|| charts::Series::new(canary.version));
        if series.canary() != canary.version {
            *series = charts::Series::new(canary.version);
        }
        let (step, stage) = charts::stage_of(pointers);
        series.record(crate::base::clock::now(), step, stage, window);
    }

    /// Records a fallback. A prompt's failures are logged at most once a minute (and at
    /// once for another canary): a canary failing on every request, or requests that each
    /// fail with a reason of their own, write one line a minute, not one per request.
    pub fn canary_failed(&self, name: &PromptName, fell_back: &crate::served::FellBack) {
        let mut failures = lock(&self.canary_failures);
        let now = SystemTime::now();
        let failure = failures
            .entry(name.clone())
            .or_insert_with(|| CanaryFailure {
                canary: fell_back.canary,
                reason: String::new(),
                count: 0,
                last_at: now,
                logged_at: None,
            });
        if failure.canary != fell_back.canary {
            failure.canary = fell_back.canary;
            failure.count = 0;
            failure.logged_at = None;
        }
        failure.count += 1;
        failure.last_at = now;
        failure.reason.clone_from(&fell_back.reason);
        let logged_lately = failure.logged_at.is_some_and(|at| {
            now.duration_since(at)
                .is_ok_and(|d| d < FALLBACK_LOG_INTERVAL)
        });
        if !logged_lately {
            failure.logged_at = Some(now);
            tracing::warn!(
                prompt = %name,
                canary = %fell_back.canary,
                reason = %fell_back.reason,
                fallbacks = failure.count,
                "the canary could not render; the active version served the request"
            );
        }
    }

    fn mark_failed(&self, error: String) {
        self.metrics.reload_failed();
        let overdue = self.overdue();
        self.health().fail(error, overdue);
    }

    fn mark_ok(&self) {
        let mut health = self.health();
        health.stale_since = None;
        health.last_error = None;
        health.confirmed_at = Some(SystemTime::now());
    }

    /// How long the source may go without a successful read before the state is stale:
    /// one poll interval, and the time a healthy read takes.
    pub fn overdue(&self) -> Duration {
        self.poll + OVERDUE_GRACE
    }
}

/// Loads the first snapshot, binds, and serves until Ctrl-C.
pub async fn serve(options: ServeOptions) -> Result<(), ServeError> {
    if let Some(dir) = &options.state_dir {
        kept::check_state_dir(dir)?;
    }
    let state = ServerState::new(&options);
    let folder = options.origin.folder();
    // With a kept copy, serve it at once and read the source after binding: a source that
    // does not answer must not keep the server from listening. Without one, the source is
    // read first, under the network deadline.
    let from_copy = kept::start_from_kept_copy(&options, &state, &folder);
    if !from_copy {
        load_first(&options, &state, &folder).await?;
    }
    let listener = tokio::net::TcpListener::bind(options.addr)
        .await
        .map_err(|source| ServeError::Listen {
            addr: options.addr,
            source,
        })?;
    let bound = listener.local_addr().map_err(ServeError::LocalAddr)?;
    tracing::info!(addr = %bound, env = %options.env, "listening on http://{bound}");
    tokio::spawn(health::watch_staleness(Arc::clone(&state)));
    tokio::spawn(poll_forever(
        options.clone(),
        Arc::clone(&state),
        folder,
        from_copy,
    ));
    if let (Some(controller), Origin::Repo(root)) = (&options.controller, &options.origin) {
        tracing::info!(
            interval_ms = controller.interval.as_millis() as u64,
            "rollout controller on, judging every {:?}",
            controller.interval
        );
        tokio::spawn(controller::run_forever(
            controller.clone(),
            root.clone(),
            options.env.clone(),
            Arc::clone(&state),
        ));
    }
    let stopping = Arc::clone(&state);
    let stop = async move {
        stop_signal().await;
        tracing::info!("stopping: no new connections; finishing requests in flight");
        // Long polls answer at once rather than hold the shutdown for up to a minute.
        stopping.stopping.send_replace(true);
    };
    let max_connections = listener::fit_to_file_limit(options.max_connections);
    let limits = listener::Limits {
        max_connections,
        max_per_client: options
            .max_connections_per_client
            .unwrap_or_else(|| listener::default_share(max_connections))
            .min(max_connections),
        header_timeout: options.header_timeout,
        shutdown_grace: SHUTDOWN_GRACE,
    };
    let router = routes::router(Arc::clone(&state));
    let front = front::Front { state, router };
    listener::run(listener, front, limits, stop).await;
    Ok(())
}

/// How long a healthy read of the source may take, beyond the poll interval, before the
/// served state counts as stale.
pub const OVERDUE_GRACE: Duration = Duration::from_secs(3);

/// How long a stopping server waits for requests in flight.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Resolves on SIGINT (Ctrl-C) or SIGTERM (what service managers send).
async fn stop_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn load_first(
    options: &ServeOptions,
    state: &Arc<ServerState>,
    folder: &str,
) -> Result<(), ServeError> {
    match reload(options, state, folder).await {
        // Loaded, or nothing released yet: serve, and say so, until something is.
        Ok(()) => {
            state.mark_ok();
            Ok(())
        }
        Err(source) => Err(ServeError::NoSnapshot {
            env: options.env.clone(),
            source: Box::new(source),
        }),
    }
}

/// Loads the state at the tip of the origin if it is new, builds its snapshot from the
/// current one (reusing every version they share), swaps it in and keeps a copy. It runs on
/// a blocking thread: reading and compiling thousands of prompts must not hold up the
/// workers that answer requests.
async fn reload(
    options: &ServeOptions,
    state: &Arc<ServerState>,
    folder: &str,
) -> Result<(), crate::served::RefreshError> {
    let (options, state, folder) = (options.clone(), Arc::clone(state), folder.to_owned());
    tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        let previous = state.snapshot.load_full();
        let previous_data = previous.as_ref().map(|p| &*p.data);
        let Some(data) = options.origin.poll(&options.env, previous_data)? else {
            return Ok(());
        };
        let snapshot = Snapshot::build(
            Arc::new(data),
            &folder,
            &state.counters,
            previous.as_deref(),
        )?;
        let data = Arc::clone(&snapshot.data);
        let compiled = snapshot.problems.is_empty();
        tracing::info!(
            commit = %snapshot.commit,
            prompts = snapshot.prompts.len(),
            versions = snapshot.versions,
            reused = snapshot.reused,
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "snapshot swapped: {} prompts at {}",
            snapshot.prompts.len(),
            crate::base::shortid::commit(&snapshot.commit)
        );
        state.install(snapshot);
        let kept = kept::persist(&options, &data, &state.kept_pack, compiled);
        state.health().keep_error = kept.err().map(|e| e.to_string());
        Ok(())
    })
    .await
    .map_err(crate::served::RefreshError::Task)?
}

async fn poll_forever(
    options: ServeOptions,
    state: Arc<ServerState>,
    folder: String,
    at_once: bool,
) {
    let mut first = at_once;
    loop {
        // The controller wakes the poller after a decision, so it is served at once.
        if !std::mem::take(&mut first) {
            tokio::select! {
                () = tokio::time::sleep(options.poll) => {}
                () = state.reload.notified() => {}
            }
        }
        match reload(&options, &state, &folder).await {
            Ok(()) => {
                state.mark_ok();
                kept::touch_kept_copy(&options);
            }
            Err(message) => {
                tracing::warn!(
                    error = %message,
                    "reload failed, still serving the last good snapshot"
                );
                state.mark_failed(message.to_string());
            }
        }
    }
}

/// Locks a mutex, carrying on after a panic elsewhere: the data are counters and windows,
/// valid after any single update.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod health_tests;
