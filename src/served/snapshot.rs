//! Snapshots: one release state with every version it serves loaded, checked and compiled,
//! ready to answer requests without touching git. A snapshot never changes; a new state is
//! a new snapshot, swapped in whole.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::prompt::{CompiledPrompt, Prompt, PromptName, Version};
use crate::release::{LogEntry, ReleaseError};
use crate::store::{PromptState, STATE_FILE, State, Store, Track};

/// The format number of the copy kept in `--state-dir`.
const PERSISTED_FORMAT: u32 = 1;

/// One version, ready to serve.
pub struct Loaded {
    pub prompt: Prompt,
    /// The compiled templates, made on the first render. Every template is compiled once
    /// when the snapshot is built, so a broken one is refused before the swap; keeping only
    /// what is rendered keeps a server with thousands of prompts small.
    compiled: std::sync::OnceLock<CompiledPrompt>,
    /// The fixed part of a resolve answer (everything but track, bucket and key), as JSON
    /// object members without the braces, so an answer is two small writes.
    pub resolve_tail: String,
    /// Resolves served from this version, by track: long-lived, kept across snapshots.
    pub resolves: TrackCounts,
}

impl Loaded {
    /// Renders this version with `vars`, compiling its templates on first use.
    pub fn render(
        &self,
        vars: &crate::prompt::Vars,
    ) -> Result<Vec<crate::prompt::RenderedMessage>, crate::prompt::PromptError> {
        if let Some(compiled) = self.compiled.get() {
            return compiled.render(vars);
        }
        let compiled = self.prompt.compile()?;
        let compiled = self.compiled.get_or_init(|| compiled);
        compiled.render(vars)
    }
}

/// One prompt's pointers and versions.
pub struct Served {
    pub pointers: PromptState,
    pub active: Arc<Loaded>,
    pub canary: Option<Arc<Loaded>>,
}

impl Served {
    /// The version a track serves.
    pub fn track(&self, track: Track) -> &Arc<Loaded> {
        match (track, &self.canary) {
            (Track::Canary, Some(canary)) => canary,
            _ => &self.active,
        }
    }
}

/// A whole release state, loaded.
pub struct Snapshot {
    pub env: String,
    pub commit: String,
    pub loaded_at: SystemTime,
    pub prompts: BTreeMap<PromptName, Served>,
    /// The body of `GET /v1/state`.
    pub state_body: String,
    /// The body of `GET /v1/prompts`.
    pub list_body: String,
    /// The latest release commits, newest first (empty when started from a kept copy).
    pub history: Vec<LogEntry>,
}

/// The raw material of a snapshot: a state and the canonical JSON of its versions. This is
/// also what is persisted in `--state-dir`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotData {
    pub format: u32,
    pub env: String,
    pub commit: String,
    /// The `state.toml` text.
    pub state: String,
    /// Canonical JSON by version, for every active and canary version.
    pub objects: BTreeMap<String, String>,
    /// The latest release commits, for the dashboard; not kept in the persisted copy.
    #[serde(skip)]
    pub history: Vec<LogEntry>,
}

/// How many release commits the dashboard shows.
const HISTORY_SHOWN: usize = 20;

/// Resolve counts of one version: active track, canary track.
type TrackCounts = [Arc<AtomicU64>; 2];

/// Long-lived resolve counters, by (prompt, version), kept across snapshots.
#[derive(Default)]
pub struct Counters {
    resolves: std::sync::Mutex<HashMap<(String, Version), TrackCounts>>,
}

impl Counters {
    fn for_version(&self, name: &str, version: Version) -> TrackCounts {
        let mut map = self.resolves.lock().unwrap_or_else(|e| e.into_inner());
        map.entry((name.to_owned(), version)).or_default().clone()
    }

    /// Every counter: (prompt, version, track, count).
    pub fn resolves(&self) -> Vec<(String, Version, Track, u64)> {
        let map = self.resolves.lock().unwrap_or_else(|e| e.into_inner());
        let mut rows = Vec::new();
        for ((name, version), counts) in map.iter() {
            for (track, count) in [Track::Active, Track::Canary].into_iter().zip(counts) {
                let n = count.load(std::sync::atomic::Ordering::Relaxed);
                if n > 0 {
                    rows.push((name.clone(), *version, track, n));
                }
            }
        }
        rows.sort_by(|a, b| (&a.0, a.1, a.2.as_str()).cmp(&(&b.0, b.1, b.2.as_str())));
        rows
    }
}

impl SnapshotData {
    /// Reads the state at `commit` of a release branch and the objects it serves.
    pub fn read(store: &Store, commit: git2::Oid) -> Result<SnapshotData, ReleaseError> {
        let state = store.state_at(commit)?;
        let mut objects = BTreeMap::new();
        for (name, pointers) in &state.prompts {
            let serving =
                std::iter::once(pointers.active).chain(pointers.canary.as_ref().map(|c| c.version));
            for version in serving {
                let prompt = store.prompt(commit, name, version)?;
                objects.insert(version.to_string(), prompt.canonical_json());
            }
        }
        Ok(SnapshotData {
            format: PERSISTED_FORMAT,
            env: store.env().to_owned(),
            commit: commit.to_string(),
            state: state.to_toml(),
            objects,
            history: crate::release::history(store, None, HISTORY_SHOWN)?,
        })
    }
}

/// Why a snapshot could not be built.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SnapshotError(pub String);

impl Snapshot {
    /// Builds a snapshot: parses the state, checks every object against its version and
    /// compiles every template. Nothing of a snapshot that fails is ever served.
    pub fn build(
        data: &SnapshotData,
        folder: &str,
        counters: &Counters,
    ) -> Result<Snapshot, SnapshotError> {
        if data.format != PERSISTED_FORMAT {
            return Err(SnapshotError(format!(
                "unknown snapshot format {}",
                data.format
            )));
        }
        let shown = format!(
            "promptctl/{}@{}:{STATE_FILE}",
            data.env,
            short(&data.commit)
        );
        let state = State::parse(&shown, &data.state).map_err(|e| SnapshotError(e.to_string()))?;
        let mut loaded: HashMap<(PromptName, Version), Arc<Loaded>> = HashMap::new();
        let mut load =
            |name: &PromptName, version: Version| -> Result<Arc<Loaded>, SnapshotError> {
                if let Some(hit) = loaded.get(&(name.clone(), version)) {
                    return Ok(Arc::clone(hit));
                }
                let text = data.objects.get(&version.to_string()).ok_or_else(|| {
                    SnapshotError(format!("{shown}: the object of {version} is missing"))
                })?;
                let prompt =
                    Prompt::from_frozen(name.clone(), &shown, folder, text.as_bytes(), version)
                        .map_err(|e| SnapshotError(e.to_string()))?;
                prompt.compile().map_err(|e| SnapshotError(e.to_string()))?;
                let one = Arc::new(Loaded {
                    resolve_tail: resolve_tail(&prompt),
                    resolves: counters.for_version(name.as_str(), version),
                    prompt,
                    compiled: std::sync::OnceLock::new(),
                });
                loaded.insert((name.clone(), version), Arc::clone(&one));
                Ok(one)
            };
        let mut prompts = BTreeMap::new();
        for (name, pointers) in &state.prompts {
            let active = load(name, pointers.active)?;
            let canary = pointers
                .canary
                .as_ref()
                .map(|c| load(name, c.version))
                .transpose()?;
            prompts.insert(
                name.clone(),
                Served {
                    pointers: pointers.clone(),
                    active,
                    canary,
                },
            );
        }
        let list: Vec<Value> = state
            .prompts
            .iter()
            .map(|(name, p)| {
                json!({
                    "name": name,
                    "active": p.active,
                    "canary": p.canary.as_ref().map(|c| c.version),
                    "canary_weight": p.canary.as_ref().and_then(|c| c.weight),
                    "canary_cohorts": p.canary.as_ref().map(|c| c.cohorts.clone()).unwrap_or_default(),
                })
            })
            .collect();
        // The state body carries the objects too, so that a client can build its own
        // snapshot from it alone.
        let state_body = json!({
            "format": data.format, "env": data.env, "commit": data.commit,
            "prompts": state.prompts, "state": data.state, "objects": data.objects,
        })
        .to_string();
        Ok(Snapshot {
            env: data.env.clone(),
            commit: data.commit.clone(),
            loaded_at: SystemTime::now(),
            prompts,
            state_body,
            list_body: json!({"env": data.env, "commit": data.commit, "prompts": list}).to_string(),
            history: data.history.clone(),
        })
    }
}

/// A render served from a snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct Rendered {
    pub version: Version,
    pub track: Track,
    pub bucket: u16,
    /// The canary could not render this request, so the active version did.
    pub fallback: bool,
    pub messages: Vec<crate::prompt::RenderedMessage>,
}

/// Why a render failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ServeRenderError {
    #[error("`{name}` is not released")]
    Unknown { name: String },
    #[error("{message}")]
    Render {
        version: Version,
        track: Track,
        message: String,
    },
}

impl Snapshot {
    /// Picks the track of `name` for a key (a random key when there is none) and the
    /// caller's cohort, by the bucketing of docs/bucketing.md.
    pub fn pick(
        &self,
        name: &str,
        key: Option<&str>,
        cohort: Option<&str>,
    ) -> Option<(&Served, Track, u16)> {
        let served = self.prompts.get(name)?;
        let drawn;
        let key = match key {
            Some(key) => key,
            None => {
                drawn = crate::store::random_key();
                &drawn
            }
        };
        let (_, track, bucket) = served.pointers.resolve_for(name, key, cohort);
        Some((served, track, bucket))
    }

    /// Renders the version a key gets. A canary that cannot render these values does not
    /// fail the request: the active version renders it, and `fallback` says so.
    pub fn render(
        &self,
        name: &str,
        key: Option<&str>,
        cohort: Option<&str>,
        vars: &crate::prompt::Vars,
    ) -> Result<Rendered, ServeRenderError> {
        let (served, mut track, bucket) =
            self.pick(name, key, cohort)
                .ok_or_else(|| ServeRenderError::Unknown {
                    name: name.to_owned(),
                })?;
        let mut result = served.track(track).render(vars);
        let mut fallback = false;
        if track == Track::Canary && result.is_err() {
            track = Track::Active;
            fallback = true;
            result = served.active.render(vars);
        }
        let version = served.track(track).prompt.version;
        match result {
            Ok(messages) => Ok(Rendered {
                version,
                track,
                bucket,
                fallback,
                messages,
            }),
            Err(e) => Err(ServeRenderError::Render {
                version,
                track,
                message: e.to_string(),
            }),
        }
    }
}

/// The members of a resolve answer that depend only on the version.
fn resolve_tail(prompt: &Prompt) -> String {
    let value = json!({
        "name": prompt.name,
        "version": prompt.version,
        "provider": prompt.spec.provider,
        "model": prompt.spec.model,
        "params": prompt.spec.params,
        "variables": prompt.spec.variables,
        "messages": prompt.spec.messages,
    });
    let text = value.to_string();
    text[1..text.len() - 1].to_owned()
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(7)]
}
