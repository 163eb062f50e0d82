//! The eval cache: replies stored under `.promptctl/cache`, keyed by everything that
//! determines an answer, so that an unchanged version costs no calls and an interrupted run
//! resumes where it stopped; and its upkeep (statistics, pruning by age).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::provider::{ChatReply, ChatRequest, ProviderError, default_base_url, provider_section};
use crate::config::{ProjectConfig, ProviderKind};
use crate::prompt::{to_canonical_string, write_canonical, write_canonical_str};

/// The cache folder, relative to the project root.
pub const CACHE_DIR: &str = ".promptctl/cache";

/// A stored reply. It holds what the model answered and nothing of how it was asked for:
/// no key, no header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedReply {
    #[serde(flatten)]
    pub reply: ChatReply,
    pub latency_ms: f64,
}

/// Replies on disk, one file per request.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

/// A request's cache key: a SHA-256, kept as its 32 bytes and shown as hex, as its cache
/// file is named. A run holds one for each request it plans (20,000 at 10,000 cases on two
/// sides): as hex strings they were 88 bytes and an allocation each, copied twice.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestKey([u8; 32]);

impl std::fmt::Display for RequestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut hex = String::with_capacity(64);
        crate::base::copytext::push_hex(&mut hex, &self.0);
        f.write_str(&hex)
    }
}

impl std::fmt::Debug for RequestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// Returns the cache key of a request: the SHA-256 of the canonical JSON of the provider's
/// fingerprint (see [`provider_fingerprint`]), provider name, model, params, rendered
/// messages and sample index.
///
/// The canonical text is written member by member, keys in byte order, as
/// [`crate::prompt::write_canonical`] writes an object: building a JSON value of the whole
/// request first copied every message, and was most of planning a run.
pub fn request_key(request: &ChatRequest, fingerprint: &str, sample: u32) -> RequestKey {
    let mut text = String::with_capacity(256 + message_bytes(request));
    text.push('{');
    // Only when present: a request without them keeps the key it had before they existed.
    if !request.contract.is_empty() {
        member(&mut text, "contract", &json!(request.contract));
    }
    text.push_str("\"endpoint\":");
    write_canonical_str(fingerprint, &mut text);
    text.push(',');
    if !request.exchanges.is_empty() {
        member(&mut text, "exchanges", &json!(request.exchanges));
    }
    text.push_str("\"messages\":[");
    for (i, message) in request.messages.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str("{\"content\":");
        write_canonical_str(&message.content, &mut text);
        text.push_str(",\"role\":\"");
        text.push_str(message.role.as_str());
        text.push_str("\"}");
    }
    text.push_str("],\"model\":");
    write_canonical_str(&request.model, &mut text);
    text.push_str(",\"params\":{");
    for (i, (name, value)) in request.params.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        write_canonical_str(name, &mut text);
        text.push(':');
        write_canonical(value, &mut text);
    }
    text.push_str("},\"provider\":");
    write_canonical_str(&request.provider, &mut text);
    text.push_str(",\"sample\":");
    text.push_str(itoa::Buffer::new().format(sample));
    text.push('}');
    RequestKey(Sha256::digest(text.as_bytes()).into())
}

/// Writes `"name":value,` in canonical form.
fn member(text: &mut String, name: &str, value: &serde_json::Value) {
    write_canonical_str(name, text);
    text.push(':');
    write_canonical(value, text);
    text.push(',');
}

fn message_bytes(request: &ChatRequest) -> usize {
    request.messages.iter().map(|m| m.content.len() + 32).sum()
}

/// What about a provider decides its answers besides the request, and whether its
/// replies may be reused across runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// Part of every request key of the provider.
    pub hash: String,
    /// False for an `exec` provider that declares no `inputs`: it could read anything, so
    /// its replies are shared within a run but never stored or read from the cache.
    pub reusable: bool,
}

/// The fingerprint of a provider: its kind, its base URL, the names of its extra headers
/// (never their values), and for a command, the command and the content of every file it
/// declares in `inputs` (a script or a helper edited is a new model).
pub fn provider_fingerprint(
    config: &ProjectConfig,
    root: &Path,
    name: &str,
) -> Result<Fingerprint, ProviderError> {
    let section = provider_section(config, name)?;
    let base_url = section
        .base_url
        .clone()
        .unwrap_or_else(|| default_base_url(section.kind).to_owned());
    let command = section.command.clone().unwrap_or_default();
    let inputs = match (section.kind, &section.inputs) {
        (ProviderKind::Exec, Some(inputs)) => {
            Some(super::exec_inputs::inputs_hash(root, inputs).map_err(|e| {
                ProviderError::Setup {
                    name: name.to_owned(),
                    message: e.to_string(),
                }
            })?)
        }
        _ => None,
    };
    let value = json!({
        "kind": section.kind,
        "base_url": base_url.trim_end_matches('/'),
        "headers": section.headers.keys().collect::<Vec<_>>(),
        "command": command,
        "inputs": inputs,
    });
    Ok(Fingerprint {
        hash: sha256_hex(to_canonical_string(&value).as_bytes()),
        reusable: section.kind != ProviderKind::Exec || inputs.is_some(),
    })
}

fn sha256_hex(bytes: &[u8]) -> String {
    crate::base::copytext::hex(&Sha256::digest(bytes))
}

/// What the cache holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CacheStats {
    /// Stored replies.
    pub entries: usize,
    /// Their size on disk.
    pub bytes: u64,
    /// When the oldest and the newest were written (Unix seconds).
    pub oldest: Option<i64>,
    pub newest: Option<i64>,
}

impl Cache {
    /// The cache of the project at `root`.
    pub fn new(root: &Path) -> Self {
        Cache {
            dir: root.join(CACHE_DIR),
        }
    }

    fn path(&self, key: &RequestKey) -> PathBuf {
        let key = key.to_string();
        self.dir.join(&key[..2]).join(format!("{}.json", &key[2..]))
    }

    /// Returns the stored reply for a key; an unreadable file counts as a miss.
    pub fn get(&self, key: &RequestKey) -> Option<CachedReply> {
        let bytes = std::fs::read(self.path(key)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Counts the stored replies and their size.
    pub fn stats(&self) -> std::io::Result<CacheStats> {
        let mut stats = CacheStats::default();
        self.each_entry(|_, meta| {
            let written = unix_seconds(meta.modified().ok());
            stats.entries += 1;
            stats.bytes += meta.len();
            stats.oldest = min_some(stats.oldest, written);
            stats.newest = stats.newest.max(written);
        })?;
        Ok(stats)
    }

    /// Removes the replies written more than `age` before `now`; returns what it removed.
    pub fn prune(&self, age: Duration, now: SystemTime) -> std::io::Result<CacheStats> {
        let cutoff = now.checked_sub(age).unwrap_or(SystemTime::UNIX_EPOCH);
        let mut removed = CacheStats::default();
        let mut stale = Vec::new();
        self.each_entry(|path, meta| {
            let written = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            if written < cutoff {
                let seconds = unix_seconds(Some(written));
                removed.entries += 1;
                removed.bytes += meta.len();
                removed.oldest = min_some(removed.oldest, seconds);
                removed.newest = removed.newest.max(seconds);
                stale.push(path.to_path_buf());
            }
        })?;
        for path in stale {
            // One pruned by a concurrent run: the same outcome.
            crate::base::fsutil::remove_if_present(&path)?;
        }
        Ok(removed)
    }

    /// Calls `visit` for every stored reply file; a missing cache holds nothing.
    fn each_entry(&self, mut visit: impl FnMut(&Path, &std::fs::Metadata)) -> std::io::Result<()> {
        let shards = match std::fs::read_dir(&self.dir) {
            Ok(shards) => shards,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        for shard in shards {
            let shard = shard?;
            if !shard.file_type()?.is_dir() {
                continue;
            }
            for entry in std::fs::read_dir(shard.path())? {
                let entry = entry?;
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "json") {
                    visit(&path, &entry.metadata()?);
                }
            }
        }
        Ok(())
    }

    /// Stores a reply, atomically: a run killed mid-write leaves the old file or none.
    pub fn put(&self, key: &RequestKey, reply: &CachedReply) -> std::io::Result<()> {
        let path = self.path(key);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let bytes = serde_json::to_vec(reply).map_err(std::io::Error::other)?;
        crate::base::fsutil::write_atomic_unsynced(&path, &bytes)
    }
}

fn unix_seconds(time: Option<SystemTime>) -> Option<i64> {
    time?
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs() as i64)
}

fn min_some(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use crate::prompt::{RenderedMessage, Role};

    fn request(content: &str) -> ChatRequest {
        ChatRequest::plain(
            "openai",
            "m",
            BTreeMap::from([("temperature".into(), json!(0.0))]),
            vec![RenderedMessage {
                role: Role::User,
                content: content.into(),
            }],
        )
    }

    #[test]
    fn keys_cover_the_request_the_endpoint_and_the_sample() {
        let key = request_key(&request("hi"), "e", 0);
        // Kept as 32 bytes, shown as the lower-case hex its cache file has always been named by.
        let hex = key.to_string();
        assert_eq!(hex.len(), 64);
        assert!(
            hex.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_eq!(format!("{key:?}"), hex);
        assert_eq!(std::mem::size_of_val(&key), 32);
        assert_eq!(key, request_key(&request("hi"), "e", 0));
        assert_ne!(key, request_key(&request("hi"), "e", 1));
        assert_ne!(key, request_key(&request("ho"), "e", 0));
        assert_ne!(key, request_key(&request("hi"), "f", 0));
    }

    /// The key as it was first made, through a JSON value of the whole request: a key
    /// written member by member must be the same bytes, or every cached reply is lost.
    fn key_through_a_value(request: &ChatRequest, fingerprint: &str, sample: u32) -> RequestKey {
        let mut value = json!({
            "endpoint": fingerprint,
            "provider": request.provider,
            "model": request.model,
            "params": request.params,
            "messages": request.messages,
            "sample": sample,
        });
        if !request.contract.is_empty() {
            value["contract"] = json!(request.contract);
        }
        if !request.exchanges.is_empty() {
            value["exchanges"] = json!(request.exchanges);
        }
        RequestKey(Sha256::digest(to_canonical_string(&value).as_bytes()).into())
    }

    #[test]
    fn a_key_written_member_by_member_is_the_key_of_the_whole_request() {
        use crate::prompt::request::Exchange;
        use crate::prompt::{OutputFormat, OutputSpec, Tool, ToolCall};
        let mut plain = request("quotes \" and \\ and \u{1} and \u{e9} and \n");
        plain.params.insert(
            "response".into(),
            json!({"z": [1, 2.5, null], "a": {"b": true}}),
        );
        plain.messages.insert(
            0,
            RenderedMessage {
                role: Role::System,
                content: "be brief".into(),
            },
        );
        let mut bare = request("");
        bare.params.clear();
        bare.messages.clear();
        let mut with_contract = plain.clone();
        with_contract.contract = Arc::new(crate::prompt::Contract {
            output: Some(OutputSpec {
                format: OutputFormat::Json,
                name: None,
                schema: Some(json!({"type": "object", "required": ["q"]}).into()),
                strict: true,
            }),
            tools: vec![Tool {
                name: "lookup".into(),
                description: Some("finds".into()),
                parameters: json!({"type": "object"}).into(),
                strict: false,
            }],
            tool_choice: None,
        });
        let mut with_exchanges = with_contract.clone();
        with_exchanges.exchanges.push(Exchange {
            text: "looking".into(),
            calls: vec![ToolCall {
                id: "c1".into(),
                name: "lookup".into(),
                arguments: json!({"id": "A-1"}),
            }],
            results: vec!["found".into()],
        });
        for request in [&plain, &bare, &with_contract, &with_exchanges] {
            for (fingerprint, sample) in [("e", 0), ("\"odd\"", 41)] {
                assert_eq!(
                    request_key(request, fingerprint, sample),
                    key_through_a_value(request, fingerprint, sample),
                    "{request:?}"
                );
            }
        }
    }

    #[test]
    fn fingerprints_follow_the_url_and_the_script() {
        let dir = tempfile::tempdir().unwrap();
        let config = |text: &str| ProjectConfig::parse("promptctl.toml", text).unwrap();
        let at = |url: &str| {
            config(&format!(
                "[providers.p]\nkind = \"openai\"\nbase_url = \"{url}\"\n"
            ))
        };
        let print = |c: &ProjectConfig| provider_fingerprint(c, dir.path(), "p").unwrap();
        assert_eq!(print(&at("http://a/v1")), print(&at("http://a/v1/")));
        assert_ne!(print(&at("http://a/v1")), print(&at("http://b/v1")));
        assert!(print(&at("http://a/v1")).reusable);
        let undeclared =
            config("[providers.p]\nkind = \"exec\"\ncommand = [\"python3\", \"model.py\"]\n");
        assert!(!print(&undeclared).reusable, "it could read anything");
        let exec = config(
            "[providers.p]\nkind = \"exec\"\ncommand = [\"python3\", \"model.py\"]\ninputs = [\"model.py\"]\n",
        );
        std::fs::write(dir.path().join("model.py"), "print(1)").unwrap();
        let before = print(&exec);
        assert!(before.reusable);
        std::fs::write(dir.path().join("model.py"), "print(2)").unwrap();
        assert_ne!(before, print(&exec), "an edited script is another model");
    }

    #[test]
    fn stats_and_pruning_go_by_the_time_written() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        assert_eq!(cache.stats().unwrap(), CacheStats::default());
        let reply = CachedReply {
            reply: ChatReply {
                tool_calls: Vec::new(),
                text: "x".into(),
                input_tokens: 1,
                output_tokens: 1,
            },
            latency_ms: 1.0,
        };
        for content in ["a", "b", "c"] {
            cache
                .put(&request_key(&request(content), "e", 0), &reply)
                .unwrap();
        }
        let stats = cache.stats().unwrap();
        assert_eq!(stats.entries, 3);
        assert!(stats.bytes > 0);
        let now = SystemTime::now();
        let kept = cache.prune(Duration::from_secs(3600), now).unwrap();
        assert_eq!(kept.entries, 0, "nothing is an hour old");
        let later = now + Duration::from_secs(2 * 86_400);
        let removed = cache.prune(Duration::from_secs(86_400), later).unwrap();
        assert_eq!(removed.entries, 3);
        assert_eq!(cache.stats().unwrap().entries, 0);
    }

    #[test]
    fn replies_round_trip_through_the_disk() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let key = request_key(&request("hi"), "e", 0);
        assert_eq!(cache.get(&key), None);
        let stored = CachedReply {
            reply: ChatReply {
                tool_calls: Vec::new(),
                text: "hello".into(),
                input_tokens: 1,
                output_tokens: 1,
            },
            latency_ms: 12.5,
        };
        cache.put(&key, &stored).unwrap();
        assert_eq!(cache.get(&key), Some(stored));
        std::fs::write(cache.path(&key), "{torn").unwrap();
        assert_eq!(cache.get(&key), None, "a damaged file is a miss");
    }
}
