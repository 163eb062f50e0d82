//! One version loaded to serve: its prompt, its templates compiled on first use, the fixed
//! part of its resolve answer, and its resolve counters.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};

use serde::Serialize;
use serde_json::Value;

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
    /// The version as text (`sha256:` and 64 hex digits), as OFREP's metadata and variant
    /// (its first twelve digits) give it, written once rather than per evaluation.
    pub version_text: Box<str>,
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
        body.extend_from_slice(itoa::Buffer::new().format(bucket).as_bytes());
        body.push(b',');
        if let Some((experiment, arm)) = arm {
            let _ = write!(body, "\"experiment\":\"{experiment}\",\"arm\":\"{arm}\",");
        }
        body.extend_from_slice(self.resolve_tail.as_bytes());
        body.push(b'}');
    }

    /// The first twelve hex digits of the version, as OFREP's variant gives them: a slice
    /// of [`Self::version_text`].
    pub fn short_version(&self) -> &str {
        let hex = self
            .version_text
            .strip_prefix("sha256:")
            .unwrap_or_default();
        hex.get(..crate::prompt::SHORT_HEX_LEN).unwrap_or(hex)
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
            version_text: prompt.version.to_string().into_boxed_str(),
            resolves,
            prompt,
            compiled: OnceLock::new(),
        }
    }
}

/// The members of a resolve answer that depend only on the version, in their order.
#[derive(Serialize)]
struct Tail<'a> {
    name: &'a crate::prompt::PromptName,
    version: &'a crate::prompt::Version,
    provider: &'a str,
    model: &'a str,
    params: &'a BTreeMap<String, Value>,
    variables: &'a BTreeMap<String, crate::prompt::Variable>,
    messages: &'a [crate::prompt::Message],
    partials: &'a BTreeMap<String, Arc<str>>,
    render: crate::prompt::RenderSettings,
    /// The output and tools, only where the version has them: every other answer keeps
    /// its bytes.
    #[serde(flatten)]
    contract: &'a crate::prompt::Contract,
}

/// The members of a resolve answer that depend only on the version, written straight from
/// the prompt: going through a JSON value first copied every message and partial, and was
/// 40% of loading a version (a fresh `serve` of 10,000 prompts loads 10,000).
fn resolve_tail(prompt: &Prompt) -> String {
    let spec = &prompt.spec;
    let tail = Tail {
        name: &prompt.name,
        version: &prompt.version,
        provider: &spec.provider,
        model: &spec.model,
        params: &spec.params,
        variables: &spec.variables,
        messages: &spec.messages,
        partials: &spec.partials,
        render: crate::prompt::RENDER_SETTINGS,
        contract: &spec.contract,
    };
    let text = serde_json::to_string(&tail).unwrap_or_else(|_| "{}".to_owned());
    text[1..text.len() - 1].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompt::{PartialIndex, PromptDefaults, PromptName};
    use serde_json::json;

    /// The tail as it was first written, through a JSON value: the answer's bytes must not
    /// change with the way they are made.
    fn through_a_value(prompt: &Prompt) -> String {
        let mut value = json!({
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
        if let (Value::Object(members), Ok(Value::Object(contract))) =
            (&mut value, serde_json::to_value(&prompt.spec.contract))
        {
            members.extend(contract);
        }
        let text = value.to_string();
        text[1..text.len() - 1].to_owned()
    }

    #[test]
    fn a_resolve_tail_is_the_same_bytes_as_through_a_json_value() {
        let partials = PartialIndex::new(
            "prompts",
            [(
                "p/tone.j2".to_owned(),
                Arc::from("Be {{ tone }} \"here\"\n\u{7f}."),
            )],
        );
        let sources = [
            "model = \"m\"\n[[messages]]\nrole = \"user\"\ncontent = \"hi\"\n",
            "model = \"m\"\n[variables.tone]\ndefault = \"warm\"\ndescription = \"How\"\n[params]\ntemperature = 0.1\nmax_tokens = 7\nstop = [\"x\", \"é\"]\n[[messages]]\nrole = \"system\"\ncontent = 'Hi. {% include \"p/tone.j2\" %}'\n",
            "model = \"m\"\ntool_choice = \"required\"\n[[messages]]\nrole = \"user\"\ncontent = \"{{ ticket }}\"\n[output]\nname = \"answer\"\nstrict = true\nschema = { type = \"object\", additionalProperties = false, required = [\"q\"], properties = { q = { type = \"string\", enum = [\"b\", \"a\"] } } }\n[[tools]]\nname = \"lookup\"\ndescription = \"Find.\"\nparameters = { type = \"object\", properties = { id = { type = \"integer\", maximum = 1e3 } } }\n",
        ];
        for source in sources {
            let prompt = Prompt::parse(
                PromptName::parse("support/triage").unwrap(),
                "prompts/support/triage.toml",
                source,
                &PromptDefaults::default(),
                &partials,
            )
            .unwrap();
            assert_eq!(resolve_tail(&prompt), through_a_value(&prompt), "{source}");
            let loaded = Loaded::new(prompt.clone(), TrackCounts::default());
            assert_eq!(&*loaded.version_text, prompt.version.to_string());
            assert_eq!(loaded.short_version(), prompt.version.short());
        }
    }
}
