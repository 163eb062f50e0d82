//! One version loaded to serve: its prompt, its templates compiled on first use, the fixed
//! part of its resolve answer, and its resolve counters.

use std::io::Write as _;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};

use serde_json::{Value, json};

use crate::prompt::{CompiledPrompt, Prompt};
use crate::store::Track;

/// Resolve counts of one version: active track, canary track, resolves that fell back to
/// it (as the active version) because a segment could not be evaluated, and experiment arms.
pub type TrackCounts = [Arc<AtomicU64>; 4];

/// The index of the fallback count in [`TrackCounts`].
pub const FALLBACKS: usize = 2;

/// The index in [`TrackCounts`] of a track's resolves.
pub fn track_slot(track: Track) -> usize {
    match track {
        Track::Active => 0,
        Track::Canary => 1,
        Track::Experiment(_) => 3,
    }
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaded")
            .field("version", &self.prompt.version)
            .finish_non_exhaustive()
    }
}

/// One version, ready to serve.
pub struct Loaded {
    pub prompt: Prompt,
    /// The compiled templates, made on the first render. Every template is compiled once
    /// when the snapshot is built, so a broken one is refused before the swap; keeping only
    /// what is rendered keeps a server with thousands of prompts small.
    compiled: OnceLock<CompiledPrompt>,
    /// The fixed part of a resolve answer (everything but track, bucket and key), as JSON
    /// object members without the braces, so an answer is two small writes.
    pub resolve_tail: String,
    /// Resolves served from this version, by track: long-lived, kept across snapshots.
    pub resolves: TrackCounts,
}

impl Loaded {
    /// The answer of a resolve to this version: the track and bucket, then the members
    /// prepared when the version was loaded, so a request only buckets and copies.
    /// On an experiment's track, `arm` is the experiment's and the arm's names (names are
    /// checked to need no escaping).
    pub fn resolve_answer(&self, track: Track, bucket: u16, arm: Option<(&str, &str)>) -> Vec<u8> {
        let mut body = Vec::with_capacity(self.resolve_tail.len() + 40);
        self.write_resolve_answer(&mut body, track, bucket, arm);
        body
    }

    /// Appends [`Self::resolve_answer`] to `body`, for answers that carry it inside another.
    pub fn write_resolve_answer(
        &self,
        body: &mut Vec<u8>,
        track: Track,
        bucket: u16,
        arm: Option<(&str, &str)>,
    ) {
        body.extend_from_slice(b"{\"track\":\"");
        body.extend_from_slice(track.as_str().as_bytes());
        body.extend_from_slice(b"\",\"bucket\":");
        let _ = write!(body, "{bucket}");
        body.push(b',');
        if let Some((experiment, arm)) = arm {
            let _ = write!(body, "\"experiment\":\"{experiment}\",\"arm\":\"{arm}\",");
        }
        body.extend_from_slice(self.resolve_tail.as_bytes());
        body.push(b'}');
    }

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

impl Loaded {
    /// A version ready to serve, counting its resolves in `resolves`.
    pub fn new(prompt: Prompt, resolves: TrackCounts) -> Self {
        Loaded {
            resolve_tail: resolve_tail(&prompt),
            resolves,
            prompt,
            compiled: OnceLock::new(),
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
        "partials": prompt.spec.partials,
        "render": crate::prompt::RENDER_SETTINGS,
    });
    // The output and tools, only where the version has them: every other answer keeps
    // its bytes.
    let mut value = value;
    if let (Value::Object(members), Ok(Value::Object(contract))) =
        (&mut value, serde_json::to_value(&prompt.spec.contract))
    {
        members.extend(contract);
    }
    let text = value.to_string();
    text[1..text.len() - 1].to_owned()
}
