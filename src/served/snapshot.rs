//! Snapshots: one release state with every version it serves loaded, checked and compiled,
//! ready to answer requests without touching git. A snapshot never changes; a new state is
//! a new snapshot, swapped in whole.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use super::loaded::{FALLBACKS, Loaded, TrackCounts, track_slot};
use crate::prompt::request::Api;
use crate::prompt::{PromptName, Version};
use crate::release::{LogEntry, ReleaseError};
use crate::store::{ObjectIndex, PromptState, ReadState, Store, Track};

/// The format number of the copy kept in `--state-dir`.
pub const PERSISTED_FORMAT: u32 = 1;

/// One prompt's pointers and versions.
pub struct Served {
    pub pointers: PromptState,
    pub active: Arc<Loaded>,
    pub canary: Option<Arc<Loaded>>,
    /// The experiment's arms, in its order; `None` for an arm that cannot be served (its
    /// callers get the active version).
    pub arms: Vec<Option<Arc<Loaded>>>,
}

impl Served {
    /// How many distinct versions it serves.
    pub(super) fn versions(&self) -> usize {
        let mut versions: Vec<Version> = std::iter::once(&self.active)
            .chain(&self.canary)
            .chain(self.arms.iter().flatten())
            .map(|loaded| loaded.prompt.version)
            .collect();
        versions.sort_unstable();
        versions.dedup();
        versions.len()
    }

    /// The version a track serves: the active one when the track's cannot be served.
    pub fn track(&self, track: Track) -> &Arc<Loaded> {
        match (track, &self.canary) {
            (Track::Canary, Some(canary)) => canary,
            (Track::Experiment(arm), _) => self
                .arms
                .get(usize::from(arm))
                .and_then(Option::as_ref)
                .unwrap_or(&self.active),
            _ => &self.active,
        }
    }

    /// Tells whether a track's own version can be served.
    pub fn can_serve(&self, track: Track) -> bool {
        match track {
            Track::Active => true,
            Track::Canary => self.canary.is_some(),
            Track::Experiment(arm) => self.arms.get(usize::from(arm)).is_some_and(Option::is_some),
        }
    }

    /// The experiment and arm names of a track, on an experiment's track.
    pub fn arm_names(&self, track: Track) -> Option<(&str, &str)> {
        let experiment = self.pointers.experiment.as_ref()?;
        let arm = experiment.arms.get(track.arm()?)?;
        Some((experiment.name.as_str(), arm.name.as_str()))
    }
}

/// A whole release state, loaded.
pub struct Snapshot {
    pub env: String,
    pub commit: String,
    pub loaded_at: SystemTime,
    pub prompts: BTreeMap<PromptName, Served>,
    /// The latest release commits, newest first (empty when started from a kept copy).
    pub history: Vec<LogEntry>,
    /// What the snapshot was built from: kept for the next build, which reuses every
    /// version it shares, and for the state body.
    pub data: Arc<SnapshotData>,
    /// How many versions the snapshot serves (active and canary, each prompt's own).
    pub versions: usize,
    /// How many of those were taken from the previous snapshot rather than loaded.
    pub reused: usize,
    /// Prompts with a version that cannot be served, and why. A prompt whose canary fails
    /// serves its active version to every key; one whose active version fails is not
    /// served. Every other prompt is unaffected.
    pub problems: BTreeMap<PromptName, String>,
    /// The body of `GET /v1/state`, made on first request and then shared by every answer
    /// (a long poll with a thousand waiters serialises it once).
    pub(super) state_body: OnceLock<Bytes>,
    /// The body of `GET /v1/prompts`, likewise.
    pub(super) list_body: OnceLock<Bytes>,
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
    /// Canonical JSON by version, for every active and canary version: shared with the
    /// snapshot before, which holds most of them (10,000 objects are 19 MB).
    pub objects: BTreeMap<Version, Arc<str>>,
    /// The latest release commits, for the dashboard; not kept in the persisted copy.
    #[serde(skip)]
    pub history: Vec<LogEntry>,
    /// The state, when it was parsed while reading (so a build does not parse it again),
    /// and whether its text is canonical (so the next read parses only what changed).
    #[serde(skip)]
    pub parsed: Option<ReadState>,
    /// The index of the versions the commit stores, when it was read from git: the next
    /// read lists only the `objects/` folders that changed.
    #[serde(skip)]
    pub index: Option<ObjectIndex>,
    /// Whether this very build compiled every version when the copy these data come from
    /// was kept (a kept copy's mark says so): a build then leaves each to compile on its
    /// first render rather than compiling 10,000 templates before it answers.
    #[serde(skip)]
    pub compiled: bool,
}

/// How many release commits the dashboard shows.
const HISTORY_SHOWN: usize = 20;

/// Long-lived resolve counters, by (prompt, version), kept across snapshots.
#[derive(Default)]
pub struct Counters {
    resolves: std::sync::Mutex<HashMap<(String, Version), TrackCounts>>,
}

impl Counters {
    pub(super) fn for_version(&self, name: &str, version: Version) -> TrackCounts {
        let mut map = self.resolves.lock().unwrap_or_else(|e| e.into_inner());
        map.entry((name.to_owned(), version)).or_default().clone()
    }

    /// Resolves that fell back to a prompt's active version because its canary's segment
    /// could not be evaluated for the caller: (prompt, version, count).
    pub fn fallbacks(&self) -> Vec<(String, Version, u64)> {
        let map = self.resolves.lock().unwrap_or_else(|e| e.into_inner());
        let mut rows: Vec<(String, Version, u64)> = map
            .iter()
            .map(|((name, version), counts)| {
                let n = counts[FALLBACKS].load(std::sync::atomic::Ordering::Relaxed);
                (name.clone(), *version, n)
            })
            .filter(|row| row.2 > 0)
            .collect();
        rows.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        rows
    }

    /// Every counter: (prompt, version, track, count).
    pub fn resolves(&self) -> Vec<(String, Version, Track, u64)> {
        let map = self.resolves.lock().unwrap_or_else(|e| e.into_inner());
        let mut rows = Vec::new();
        for ((name, version), counts) in map.iter() {
            for track in [Track::Active, Track::Canary, Track::Experiment(0)] {
                let n = counts[track_slot(track)].load(std::sync::atomic::Ordering::Relaxed);
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
    /// Reads the state at `commit` of a release branch and the objects it serves. Objects
    /// that `previous` holds are taken from it: a version is its content, so after a
    /// one-prompt action only that prompt's object is read.
    pub fn read(
        store: &Store,
        commit: git2::Oid,
        previous: Option<&SnapshotData>,
    ) -> Result<SnapshotData, ReleaseError> {
        let tree = store.tree_since(commit, previous.and_then(|p| p.index.as_ref()))?;
        let known = previous.and_then(|p| Some((p.state.as_str(), p.parsed.as_ref()?)));
        let (read, text) = tree.state_since(known)?;
        let mut serving: Vec<Version> = read
            .state
            .prompts
            .values()
            .flat_map(PromptState::serving)
            .collect();
        serving.sort_unstable();
        serving.dedup();
        // Both in version order: the previous objects are met in one pass, not searched.
        let mut known = previous.map(|p| p.objects.iter().peekable());
        let mut objects = BTreeMap::new();
        let mut missing = Vec::new();
        for version in serving {
            let shared = known
                .as_mut()
                .and_then(|known| crate::base::sorted::take_at(known, &version, |(at, _)| *at));
            match shared {
                Some((_, text)) => {
                    objects.insert(version, Arc::clone(text));
                }
                None => missing.push(version),
            }
        }
        // Checked against their versions when the snapshot is built.
        let texts = tree.objects_text(&missing)?;
        objects.extend(missing.into_iter().zip(texts.into_iter().map(Arc::from)));
        let history = recent_history(store, commit, previous)?;
        Ok(SnapshotData {
            format: PERSISTED_FORMAT,
            env: store.env().to_owned(),
            commit: commit.to_string(),
            state: text,
            objects,
            history,
            parsed: Some(read),
            index: Some(tree.index().clone()),
            compiled: false,
        })
    }
}

/// The latest release commits from `commit` back, reading only those newer than the
/// previous snapshot's (a publish of 10,000 prompts has a 1.27 MB message to parse).
fn recent_history(
    store: &Store,
    commit: git2::Oid,
    previous: Option<&SnapshotData>,
) -> Result<Vec<LogEntry>, ReleaseError> {
    let known = previous.filter(|p| !p.history.is_empty());
    let (mut entries, met) = crate::release::history_from(
        store,
        commit,
        None,
        HISTORY_SHOWN,
        known.map(|p| p.commit.as_str()),
    )?;
    if let Some(previous) = known.filter(|_| met) {
        let room = HISTORY_SHOWN - entries.len();
        entries.extend(previous.history.iter().take(room).cloned());
    }
    Ok(entries)
}

impl Snapshot {
    /// The body of `GET /v1/state`: the pointers, the state text and every object, so that a
    /// client can build its own snapshot from it alone.
    pub fn state_body(&self) -> Bytes {
        self.state_body
            .get_or_init(|| {
                let pointers: BTreeMap<&PromptName, &PromptState> = self
                    .prompts
                    .iter()
                    .map(|(name, served)| (name, &served.pointers))
                    .collect();
                let data = &self.data;
                let body = json!({
                    "format": data.format, "env": data.env, "commit": data.commit,
                    "prompts": pointers, "state": data.state, "objects": data.objects,
                });
                Bytes::from(body.to_string())
            })
            .clone()
    }

    /// The body of `GET /v1/prompts`: every prompt's pointers.
    pub fn list_body(&self) -> Bytes {
        self.list_body
            .get_or_init(|| {
                let list: Vec<Value> = self
                    .prompts
                    .iter()
                    .map(|(name, served)| {
                        let p = &served.pointers;
                        json!({
                            "name": name,
                            "active": p.active,
                            "canary": p.canary.as_ref().map(|c| c.version),
                            "canary_weight": p.canary.as_ref().and_then(|c| c.weight),
                            "canary_cohorts": p.canary.as_ref().map(|c| c.cohorts.clone()).unwrap_or_default(),
                        })
                    })
                    .collect();
                let body = json!({"env": self.env, "commit": self.commit, "prompts": list});
                Bytes::from(body.to_string())
            })
            .clone()
    }
}

/// The version a track was meant to serve, when it is not the active one.
fn meant_version(served: &Served, track: Track) -> Option<Version> {
    match track {
        Track::Active => None,
        Track::Canary => served.pointers.canary.as_ref().map(|c| c.version),
        Track::Experiment(arm) => served
            .pointers
            .experiment
            .as_ref()
            .and_then(|e| e.arms.get(usize::from(arm)))
            .map(|a| a.version),
    }
}

/// The version a key gets.
pub struct Picked<'a> {
    pub served: &'a Served,
    pub track: Track,
    pub bucket: u16,
    /// What decided the track.
    pub reason: crate::store::Reason,
    /// The key belongs on the canary or an arm, which cannot be served: the active version
    /// serves it.
    pub fallback: bool,
    /// The canary's segment could not be evaluated for the caller, who gets active.
    pub unevaluable: Option<crate::store::Unevaluable>,
}

impl Picked<'_> {
    /// Counts this pick as a resolve of its version on its track, for every route that
    /// resolves (`/v1/prompts/{name}` and both OFREP evaluations).
    pub fn count_resolve(&self) {
        let loaded = self.served.track(self.track);
        loaded.resolves[track_slot(self.track)].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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
    /// When it fell back: the canary version and why it could not render.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fell_back_from: Option<FellBack>,
    pub messages: Vec<crate::prompt::RenderedMessage>,
    /// The version that rendered them: its model, params, output and tools.
    #[serde(skip)]
    pub loaded: Arc<Loaded>,
}

impl Rendered {
    /// The complete request body of `api` for this render: the model, params, messages,
    /// output format and tools exactly as the version was evaluated with them.
    pub fn request_body(&self, api: Api) -> serde_json::Map<String, Value> {
        self.loaded.prompt.spec.request_body(api, &self.messages)
    }
}

/// Why a request meant for the canary was rendered by the active version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FellBack {
    pub canary: Version,
    /// In a sentence: the canary's render error, or why it cannot be served at all.
    pub reason: String,
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
    /// caller's cohort, by the bucketing of docs/bucketing.md. A key that belongs on a
    /// canary that cannot be served gets the active version, and `fallback` says so.
    pub fn pick(
        &self,
        name: &str,
        key: Option<&str>,
        attributes: &crate::store::Attributes,
    ) -> Option<Picked<'_>> {
        let served = self.prompts.get(name)?;
        let drawn;
        let key = match key {
            Some(key) => key,
            None => {
                drawn = crate::store::random_key();
                &drawn
            }
        };
        let routed = served.pointers.route(name, key, attributes);
        let (track, bucket) = (routed.track, routed.bucket);
        let fallback = !served.can_serve(track);
        if routed.fallback.is_some() {
            served.active.resolves[FALLBACKS].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Some(Picked {
            served,
            track: if fallback { Track::Active } else { track },
            bucket,
            reason: routed.reason,
            fallback,
            unevaluable: routed.fallback,
        })
    }

    /// Renders the version a key gets. A canary that cannot render these values does not
    /// fail the request: the active version renders it, and `fallback` says so.
    pub fn render(
        &self,
        name: &str,
        key: Option<&str>,
        attributes: &crate::store::Attributes,
        vars: &crate::prompt::Vars,
    ) -> Result<Rendered, ServeRenderError> {
        let Picked {
            served,
            mut track,
            bucket,
            mut fallback,
            ..
        } = self
            .pick(name, key, attributes)
            .ok_or_else(|| ServeRenderError::Unknown {
                name: name.to_owned(),
            })?;
        let mut fell_back_from = None;
        if fallback && let Some(meant) = meant_version(served, track) {
            fell_back_from = Some(FellBack {
                canary: meant,
                reason: self
                    .problems
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| "the canary cannot be served".to_owned()),
            });
        }
        let mut result = served.track(track).render(vars);
        if track != Track::Active
            && let Err(error) = &result
        {
            fell_back_from = Some(FellBack {
                canary: served.track(track).prompt.version,
                reason: error.to_string(),
            });
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
                fell_back_from,
                messages,
                loaded: Arc::clone(served.track(track)),
            }),
            Err(e) => Err(ServeRenderError::Render {
                version,
                track,
                message: e.to_string(),
            }),
        }
    }
}
