//! The caches in the git folder (the summaries, the mentions of partials, the parsed
//! release state) follow one rule, kept here: a first line
//! `promptctl <kind> <format> <build>`, then the body; a file whose first line is another (an older format, another build, another file) is read
//! as empty, never misread; a file is written whole or not at all, atomically, and a failure
//! to write only costs the next run its speed.
//!
//! `<build>` is a digest of the source and locked dependencies this binary was built from
//! (`build.rs`): the version number is the same for every build of a release in progress,
//! so it could not tell two formats apart.

use std::path::Path;

/// This build's identity.
pub const BUILD: &str = env!("PROMPTCTL_BUILD_ID");

/// The first line of a cache file of `kind` in `format`, for this build.
pub fn header(kind: &str, format: u32) -> String {
    format!("promptctl {kind} {format} {BUILD}")
}

/// A cache file as read: its whole text, and where the body (after the header) starts.
pub struct Read {
    pub text: String,
    pub body: usize,
}

impl Read {
    /// The body: every line after the header.
    pub fn body(&self) -> &str {
        &self.text[self.body..]
    }
}

/// Reads the cache file at `path` when its first line is this build's header of `kind` in
/// `format`; `None` when it is missing, unreadable or foreign.
pub fn read(path: &Path, kind: &str, format: u32) -> Option<Read> {
    let text = std::fs::read_to_string(path).ok()?;
    let header = header(kind, format);
    let body = text.strip_prefix(header.as_str())?.strip_prefix('\n')?;
    let body = text.len() - body.len();
    Some(Read { text, body })
}

/// A new cache file's text: its header line, with room for `capacity` more bytes.
pub fn start(kind: &str, format: u32, capacity: usize) -> String {
    let mut text = header(kind, format);
    text.reserve(capacity + 1);
    text.push('\n');
    text
}

/// Writes a cache file's `text` (from [`start`]) atomically. A cache need not survive a
/// power loss, so it is not synced; a failure is logged and costs only speed.
pub fn write(path: &Path, text: &str) {
    write_bytes(path, text.as_bytes());
}

/// [`write`] for a text already turned into bytes.
pub fn write_bytes(path: &Path, bytes: &[u8]) {
    if let Err(error) = crate::base::fsutil::write_atomic_unsynced(path, bytes) {
        tracing::debug!(path = %path.display(), %error, "a cache file was not written");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_of_another_kind_format_or_build_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache");
        let mut text = start("things", 2, 16);
        text.push_str("a\tb\n");
        write(&path, &text);
        assert_eq!(read(&path, "things", 2).unwrap().body(), "a\tb\n");
        assert!(read(&path, "things", 3).is_none());
        assert!(read(&path, "others", 2).is_none());
        let other_build = "promptctl things 2 0000000000000000\na\tb\n";
        std::fs::write(&path, other_build).unwrap();
        assert!(read(&path, "things", 2).is_none());
        assert!(read(&dir.path().join("none"), "things", 2).is_none());
        assert_eq!(BUILD.len(), 16);
    }
}
