//! The client library: services resolve and render released prompts in process, from a
//! local clone or from a `promptctl serve`, refreshed in the background on a thread of its
//! own, so that no request ever waits on the network.
//!
//! ```no_run
//! use promptctl::client::Client;
//!
//! let client = Client::from_server("http://127.0.0.1:7070")
//!     .env("production")
//!     .cache_dir("/var/cache/my-service/prompts") // last known good copy, for cold starts
//!     .refresh_every(std::time::Duration::from_secs(5))
//!     .build()?;
//! let hit = client.resolve("support/triage", Some("user-42"))?;
//! println!("{} on the {} track", hit.version, hit.track.as_str());
//! let vars = [("ticket".to_string(), serde_json::json!("I was charged twice"))].into();
//! let rendered = client.render("support/triage", Some("user-42"), &vars)?;
//! println!("{}", rendered.messages[0].content);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use arc_swap::ArcSwapOption;

use crate::prompt::{Vars, Version};
use crate::served::{
    Counters, Origin, RefreshError, Rendered, ServeRenderError, Snapshot, SnapshotData,
};
use crate::store::Track;

/// Where a client reads release states from.
#[derive(Debug, Clone)]
pub enum ClientSource {
    /// A project folder whose repository holds the release branch.
    Repo(PathBuf),
    /// The base URL of a `promptctl serve` (`http://127.0.0.1:7070`).
    Server(String),
}

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no release state could be loaded: {0}")]
    NoState(#[source] RefreshError),
    #[error("cannot start the refresh thread: {0}")]
    Thread(#[source] std::io::Error),
    /// A call came before any state was loaded (it cannot: `build` loads one first).
    #[error("no release state is loaded")]
    NothingLoaded,
    #[error("`{0}` is not released")]
    Unknown(String),
    #[error("rendering {version} failed: {message}")]
    Render { version: Version, message: String },
    #[error("bad attributes: {0}")]
    Attributes(String),
}

/// Where a key resolves.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    pub version: Version,
    pub track: Track,
    pub bucket: u16,
    /// On an experiment's track: the experiment's and the arm's names, to report with
    /// feedback.
    pub arm: Option<(String, String)>,
}

/// A caller's attributes, as text, within the bounds every route keeps.
fn attributes_of(attrs: &[(&str, &str)]) -> Result<crate::store::Attributes, ClientError> {
    crate::store::attributes_from_text(attrs.iter().copied()).map_err(ClientError::Attributes)
}

/// Builds a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    source: ClientSource,
    env: String,
    cache_dir: Option<PathBuf>,
    refresh: Duration,
    token: Option<Token>,
}

/// A server's bearer token, which `Debug` never shows.
#[derive(Clone)]
struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(…)")
    }
}

impl ClientBuilder {
    /// The environment to follow (default `production`).
    pub fn env(mut self, env: &str) -> Self {
        self.env = env.to_owned();
        self
    }

    /// A folder for the last known good state, used when the source is unreachable at start.
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// The bearer token of a server started with `--token-env`, which `/v1/state` needs
    /// there (read it from the environment, not from code).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(Token(token.into()));
        self
    }

    /// How often to look for a new state in the background (default 5 s).
    pub fn refresh_every(mut self, every: Duration) -> Self {
        self.refresh = every;
        self
    }

    /// Loads the first state (from the source, else from the cache folder) and starts the
    /// background refresh. It blocks until the first state is loaded; it is the only call
    /// that waits on the network.
    pub fn build(self) -> Result<Client, ClientError> {
        let inner = Arc::new(Inner {
            snapshot: ArcSwapOption::empty(),
            counters: Counters::default(),
            settings: self.clone(),
            last_error: Mutex::new(None),
            cache_error: Mutex::new(None),
        });
        let first = Arc::clone(&inner);
        // On a thread of its own, so that building a client inside an async runtime is safe.
        let loaded = std::thread::spawn(move || first.refresh())
            .join()
            .unwrap_or_else(|_| Err(RefreshError::LoaderStopped));
        if let Err(error) = loaded {
            let kept = self.cache_file().and_then(|path| std::fs::read(path).ok());
            let data: Option<SnapshotData> =
                kept.and_then(|bytes| serde_json::from_slice(&bytes).ok());
            let snapshot = data.and_then(|data| {
                Snapshot::build(Arc::new(data), "prompts", &inner.counters, None).ok()
            });
            match snapshot {
                Some(snapshot) => {
                    inner.snapshot.store(Some(Arc::new(snapshot)));
                    inner.set_error(Some(error.to_string()));
                }
                None => return Err(ClientError::NoState(error)),
            }
        }
        let weak = Arc::downgrade(&inner);
        std::thread::Builder::new()
            .name("promptctl-refresh".into())
            .spawn(move || refresh_loop(weak, self.refresh))
            .map_err(ClientError::Thread)?;
        Ok(Client { inner })
    }

    fn cache_file(&self) -> Option<PathBuf> {
        self.cache_dir
            .as_ref()
            .map(|dir| dir.join(format!("client-{}.json", self.env)))
    }
}

/// Resolves and renders released prompts in process. Cheap to clone; the background
/// refresh stops when the last clone is dropped.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    snapshot: ArcSwapOption<Snapshot>,
    counters: Counters,
    settings: ClientBuilder,
    last_error: Mutex<Option<String>>,
    /// Why the last copy could not be kept in the cache folder; cleared only when a copy is
    /// written, so a service learns that it has no last-known-good copy to start from.
    cache_error: Mutex<Option<String>>,
}

impl Client {
    /// A client that reads the release branch of a local clone.
    pub fn from_repo(path: impl Into<PathBuf>) -> ClientBuilder {
        ClientBuilder::new(ClientSource::Repo(path.into()))
    }

    /// A client that follows a `promptctl serve` (its `/v1/state`).
    pub fn from_server(url: &str) -> ClientBuilder {
        ClientBuilder::new(ClientSource::Server(url.trim_end_matches('/').to_owned()))
    }

    /// The version and track `name` has for `key` (a random key when `None`). Never waits
    /// on anything: it reads the current snapshot.
    pub fn resolve(&self, name: &str, key: Option<&str>) -> Result<Resolution, ClientError> {
        self.resolve_with(name, key, &[])
    }

    /// Like [`Client::resolve`], for a caller with attributes (`("cohort", "internal")`): a
    /// canary stage that routes the caller's cohort puts it on the canary.
    pub fn resolve_with(
        &self,
        name: &str,
        key: Option<&str>,
        attrs: &[(&str, &str)],
    ) -> Result<Resolution, ClientError> {
        let snapshot = self.inner.snapshot.load();
        let snapshot = snapshot.as_ref().ok_or(ClientError::NothingLoaded)?;
        let picked = snapshot
            .pick(name, key, &attributes_of(attrs)?)
            .ok_or_else(|| ClientError::Unknown(name.to_owned()))?;
        Ok(Resolution {
            version: picked.served.track(picked.track).prompt.version,
            track: picked.track,
            bucket: picked.bucket,
            arm: picked
                .served
                .arm_names(picked.track)
                .map(|(e, a)| (e.to_owned(), a.to_owned())),
        })
    }

    /// Renders the version `name` has for `key`; a canary that cannot render these values
    /// falls back to the active version (`fallback` says so).
    pub fn render(
        &self,
        name: &str,
        key: Option<&str>,
        vars: &Vars,
    ) -> Result<Rendered, ClientError> {
        self.render_with(name, key, &[], vars)
    }

    /// Like [`Client::render`], for a caller with attributes.
    pub fn render_with(
        &self,
        name: &str,
        key: Option<&str>,
        attrs: &[(&str, &str)],
        vars: &Vars,
    ) -> Result<Rendered, ClientError> {
        let snapshot = self
            .inner
            .snapshot
            .load_full()
            .ok_or(ClientError::NothingLoaded)?;
        snapshot
            .render(name, key, &attributes_of(attrs)?, vars)
            .map_err(|e| match e {
                ServeRenderError::Unknown { name } => ClientError::Unknown(name),
                ServeRenderError::Render {
                    version, message, ..
                } => ClientError::Render { version, message },
            })
    }

    /// The complete request body of `api` for the version `name` has for `key`, rendered
    /// with `vars`: the model, params, messages, output format and tools exactly as the
    /// version was evaluated with them (`render --request` and `/v1/render` give the same).
    pub fn request_body(
        &self,
        name: &str,
        key: Option<&str>,
        attrs: &[(&str, &str)],
        vars: &Vars,
        api: crate::prompt::request::Api,
    ) -> Result<serde_json::Map<String, serde_json::Value>, ClientError> {
        Ok(self.render_with(name, key, attrs, vars)?.request_body(api))
    }

    /// The release commit being served, if any.
    pub fn commit(&self) -> Option<String> {
        self.inner
            .snapshot
            .load()
            .as_ref()
            .map(|s| s.commit.clone())
    }

    /// Why the last refresh failed, while the last good state keeps serving; else why the
    /// copy in the cache folder could not be kept, until one is.
    pub fn last_error(&self) -> Option<String> {
        self.inner
            .last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .or_else(|| self.cache_error())
    }

    /// Why the last-known-good copy could not be written to the cache folder, until a
    /// write succeeds; `None` while the copy is current (or no cache folder is set).
    pub fn cache_error(&self) -> Option<String> {
        self.inner
            .cache_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl ClientBuilder {
    fn new(source: ClientSource) -> Self {
        ClientBuilder {
            source,
            env: crate::config::DEFAULT_ENVIRONMENT.to_owned(),
            cache_dir: None,
            refresh: Duration::from_secs(5),
            token: None,
        }
    }
}

fn refresh_loop(inner: Weak<Inner>, every: Duration) {
    loop {
        std::thread::sleep(every);
        let Some(inner) = inner.upgrade() else { return };
        let result = inner.refresh();
        inner.set_error(result.err().map(|e| e.to_string()));
    }
}

impl Inner {
    fn set_error(&self, error: Option<String>) {
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = error;
    }

    /// Loads a new state if there is one; the current snapshot keeps serving meanwhile and
    /// on any failure.
    fn refresh(&self) -> Result<(), RefreshError> {
        let previous = self.snapshot.load_full();
        let known = previous.as_ref().map(|s| s.commit.as_str());
        let data = match &self.settings.source {
            ClientSource::Repo(path) => Origin::Repo(path.clone())
                .poll(&self.settings.env, previous.as_ref().map(|p| &*p.data))?,
            ClientSource::Server(url) => fetch_state(
                url,
                known,
                self.settings.token.as_ref().map(|t| t.0.as_str()),
            )?,
        };
        let Some(data) = data else { return Ok(()) };
        let snapshot = Snapshot::build(
            Arc::new(data),
            "prompts",
            &self.counters,
            previous.as_deref(),
        )?;
        let data = Arc::clone(&snapshot.data);
        if let Some(path) = self.settings.cache_file() {
            let saved = path
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| {
                    let bytes = serde_json::to_vec(&data).map_err(std::io::Error::other)?;
                    crate::base::fsutil::write_atomic(&path, &bytes)
                });
            let problem = saved
                .err()
                .map(|e| format!("cannot keep a copy in `{}`: {e}", path.display()));
            *self.cache_error.lock().unwrap_or_else(|e| e.into_inner()) = problem;
        }
        self.snapshot.store(Some(Arc::new(snapshot)));
        Ok(())
    }
}

/// Fetches `/v1/state`; `None` when the server says it has not changed.
fn fetch_state(
    url: &str,
    known: Option<&str>,
    token: Option<&str>,
) -> Result<Option<SnapshotData>, RefreshError> {
    let http = crate::base::http::blocking_client()
        .timeout(crate::base::http::DEFAULT_TIMEOUT)
        .build()
        .map_err(RefreshError::Client)?;
    let mut request = http.get(format!("{url}/v1/state"));
    if let Some(commit) = known {
        request = request.header("If-None-Match", format!("\"{commit}\""));
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().map_err(|source| RefreshError::Unreachable {
        url: url.to_owned(),
        source,
    })?;
    match response.status().as_u16() {
        304 => Ok(None),
        200 => {
            response
                .json::<SnapshotData>()
                .map(Some)
                .map_err(|source| RefreshError::NotAState {
                    url: url.to_owned(),
                    source,
                })
        }
        status => Err(RefreshError::Status {
            url: url.to_owned(),
            status,
        }),
    }
}
