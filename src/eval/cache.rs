//! The eval cache: replies stored under `.promptctl/cache`, keyed by what was asked, so that
//! an unchanged version costs no calls and an interrupted run resumes where it stopped.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::provider::{ChatReply, ChatRequest};
use crate::prompt::to_canonical_string;

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

/// Returns the cache key of a request: the SHA-256 of the canonical JSON of provider,
/// model, params, rendered messages and sample index.
pub fn request_key(request: &ChatRequest, sample: u32) -> String {
    let value = json!({
        "provider": request.provider,
        "model": request.model,
        "params": request.params,
        "messages": request.messages,
        "sample": sample,
    });
    let digest = Sha256::digest(to_canonical_string(&value).as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl Cache {
    /// The cache of the project at `root`.
    pub fn new(root: &Path) -> Self {
        Cache {
            dir: root.join(CACHE_DIR),
        }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(&key[..2]).join(format!("{}.json", &key[2..]))
    }

    /// Returns the stored reply for a key; an unreadable file counts as a miss.
    pub fn get(&self, key: &str) -> Option<CachedReply> {
        let bytes = std::fs::read(self.path(key)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Stores a reply, atomically: a run killed mid-write leaves the old file or none.
    pub fn put(&self, key: &str, reply: &CachedReply) -> std::io::Result<()> {
        let path = self.path(key);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let bytes = serde_json::to_vec(reply).map_err(std::io::Error::other)?;
        crate::fsutil::write_atomic_unsynced(&path, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::prompt::{RenderedMessage, Role};

    fn request(content: &str) -> ChatRequest {
        ChatRequest {
            provider: "openai".into(),
            model: "m".into(),
            params: BTreeMap::from([("temperature".into(), json!(0.0))]),
            messages: vec![RenderedMessage {
                role: Role::User,
                content: content.into(),
            }],
        }
    }

    #[test]
    fn keys_cover_the_request_and_the_sample() {
        let key = request_key(&request("hi"), 0);
        assert_eq!(key.len(), 64);
        assert_eq!(key, request_key(&request("hi"), 0));
        assert_ne!(key, request_key(&request("hi"), 1));
        assert_ne!(key, request_key(&request("ho"), 0));
    }

    #[test]
    fn replies_round_trip_through_the_disk() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let key = request_key(&request("hi"), 0);
        assert_eq!(cache.get(&key), None);
        let stored = CachedReply {
            reply: ChatReply {
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
