//! Keyed line caches: a cache file of one line per entry, `key<TAB>value`, sorted by key,
//! mapped into memory and searched in place, so that a run that looks up twenty keys of a
//! 4 MB cache touches a few pages of it, not all of it. Each value is decoded only when it
//! is asked for; the file is written back with the lines used, the new ones, and the
//! others while there is room. The summaries and the prompt drafts are kept this way
//! ([`crate::base::cachefile`] gives the first line).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

/// A cache file as mapped, with what this run did with the lines it looked up.
#[derive(Default)]
pub struct LineCache {
    /// The file's bytes (none for a missing or foreign file) and where its body starts.
    file: Option<memmap2::Mmap>,
    body: usize,
    /// The lines looked up, by where they start, and whether each decoded (threads of one
    /// load look lines up together).
    marks: Mutex<HashMap<usize, bool>>,
    /// How many lookups there were, and the start of every line once there were many.
    lookups: std::sync::atomic::AtomicUsize,
    starts: std::sync::OnceLock<Vec<usize>>,
}

/// Lookups after which the starts of all lines are found, to be searched without reading
/// back through the lines (drafts are 1–2 KB each).
const INDEX_AFTER: usize = 64;

/// A line found by [`LineCache::find`]: where it starts in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found(usize);

impl LineCache {
    /// Maps the cache of `kind` in `format`; a missing, unreadable or foreign file is an
    /// empty cache.
    pub fn read(path: &Path, kind: &str, format: u32) -> LineCache {
        let Some(file) = map(path) else {
            return LineCache::default();
        };
        let header = crate::base::cachefile::header(kind, format);
        let body = header.len() + 1;
        let ours = file
            .get(..body)
            .is_some_and(|start| start.starts_with(header.as_bytes()) && start.ends_with(b"\n"));
        if !ours {
            return LineCache::default();
        }
        LineCache {
            file: Some(file),
            body,
            ..LineCache::default()
        }
    }

    fn body(&self) -> &[u8] {
        self.file
            .as_deref()
            .map_or(&[], |bytes| &bytes[self.body..])
    }

    /// Every line of the body, with where it starts in the body.
    fn lines(&self) -> impl Iterator<Item = (usize, &[u8])> {
        let body = self.body();
        let mut start = 0;
        std::iter::from_fn(move || {
            if start >= body.len() {
                return None;
            }
            let end = memchr::memchr(b'\n', &body[start..]).map_or(body.len(), |at| start + at);
            let line = (start, &body[start..end]);
            start = end + 1;
            Some(line)
        })
    }

    /// How many lines the file holds.
    pub fn len(&self) -> usize {
        self.lines().count()
    }

    /// Tells whether the file holds no line.
    pub fn is_empty(&self) -> bool {
        self.body().is_empty()
    }

    /// The line of `key`, when the cache has one that was not dropped: a binary search of
    /// the sorted lines. The first lookups probe the file itself, each probe reading back to
    /// the start of the line it lands in; past [`INDEX_AFTER`] lookups, the starts of all
    /// lines are found once and searched instead (a load of 2,000 prompts looks up 2,000
    /// keys, a comparison of twenty prompts forty).
    pub fn find(&self, key: &str) -> Option<Found> {
        let lookups = self
            .lookups
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let start = if lookups < INDEX_AFTER {
            self.probe(key)
        } else {
            let starts = self
                .starts
                .get_or_init(|| self.lines().map(|(start, _)| start).collect());
            let at = starts.partition_point(|&start| self.key_at(start) < key.as_bytes());
            starts.get(at).copied()?
        };
        let found =
            self.key_at(start) == key.as_bytes() && self.marks().get(&start) != Some(&false);
        found.then_some(Found(start))
    }

    /// Where the first line whose key is not below `key` starts (the body's end if none).
    fn probe(&self, key: &str) -> usize {
        let body = self.body();
        let (mut low, mut high) = (0, body.len());
        // Every line starting before `low` has a smaller key; none from `high` on has.
        while low < high {
            let middle = low + (high - low) / 2;
            let start = memchr::memrchr(b'\n', &body[low..middle]).map_or(low, |at| low + at + 1);
            if self.key_at(start) < key.as_bytes() {
                let end = memchr::memchr(b'\n', &body[start..]).map_or(body.len(), |at| start + at);
                low = end + 1;
            } else {
                high = start;
            }
        }
        low
    }

    /// The value of a line found: the text after its key and tab (empty when it is not
    /// UTF-8, which no value decodes from).
    pub fn value(&self, found: Found) -> &str {
        let line = self.line_at(found.0);
        let value = line
            .iter()
            .position(|&b| b == b'\t')
            .map_or(&[][..], |at| &line[at + 1..]);
        std::str::from_utf8(value).unwrap_or("")
    }

    /// The key of the line starting at `start`: up to its tab, without reading the rest.
    fn key_at(&self, start: usize) -> &[u8] {
        let rest = self.body().get(start..).unwrap_or_default();
        &rest[..memchr::memchr2(b'\t', b'\n', rest).unwrap_or(rest.len())]
    }

    fn marks(&self) -> MutexGuard<'_, HashMap<usize, bool>> {
        self.marks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tells whether a line looked up did not decode, and so is not written back.
    pub fn dropped_any(&self) -> bool {
        self.marks().values().any(|decoded| !decoded)
    }

    fn line_at(&self, start: usize) -> &[u8] {
        let body = self.body();
        let Some(rest) = body.get(start..) else {
            return &[];
        };
        let end = memchr::memchr(b'\n', rest).map_or(body.len(), |at| start + at);
        &body[start..end]
    }

    /// Records whether a line found decoded: a line used is kept, one that does not decode
    /// is not written back.
    pub fn mark(&self, found: Found, decoded: bool) {
        self.marks().insert(found.0, decoded);
    }

    /// The value of `key`, decoded; a line that does not decode is a miss, and dropped.
    pub fn take<T>(&self, key: &str, decode: impl FnOnce(&str) -> Option<T>) -> Option<T> {
        let found = self.find(key)?;
        let decoded = decode(self.value(found));
        self.mark(found, decoded.is_some());
        decoded
    }

    /// Writes the cache atomically, sorted by key: the lines used, `new` (whole lines,
    /// each ending in a newline), and the lines not used unless the file would pass `most`
    /// entries. A failure only costs the next run its speed.
    pub fn write(self, path: &Path, kind: &str, format: u32, most: usize, new: (usize, &str)) {
        let (new_lines, new_text) = new;
        let old = self.lines().count();
        let keep_all = old + new_lines <= most;
        let marks = self.marks();
        let mut lines: Vec<&[u8]> = self
            .lines()
            .filter(|(start, _)| match marks.get(start) {
                Some(decoded) => *decoded,
                None => keep_all,
            })
            .map(|(_, line)| line)
            .chain(
                new_text
                    .as_bytes()
                    .split(|&b| b == b'\n')
                    .filter(|l| !l.is_empty()),
            )
            .collect();
        // Keys never hold a tab, which sorts before every character of a key: sorting whole
        // lines sorts them by key.
        lines.sort_unstable();
        lines.dedup_by(|a, b| key_of(a) == key_of(b));
        let capacity = self.body().len() + new_text.len();
        let mut bytes = crate::base::cachefile::start(kind, format, capacity).into_bytes();
        for line in lines {
            bytes.extend_from_slice(line);
            bytes.push(b'\n');
        }
        crate::base::cachefile::write_bytes(path, &bytes);
    }
}

/// A line's key: its bytes before the first tab.
fn key_of(line: &[u8]) -> &[u8] {
    line.iter()
        .position(|&b| b == b'\t')
        .map_or(line, |at| &line[..at])
}

/// Maps the file at `path`; `None` when it is missing, empty or unreadable.
fn map(path: &Path) -> Option<memmap2::Mmap> {
    let file = std::fs::File::open(path).ok()?;
    if file.metadata().ok()?.len() == 0 {
        return None;
    }
    // SAFETY: a mapping is undefined behaviour if the file is changed while mapped. Cache
    // files are only ever replaced whole, by renaming a new file over them
    // (`cachefile::write`), which leaves the mapped file as it was; a process that edited
    // one in place would be misusing promptctl's own files.
    unsafe { memmap2::Mmap::map(&file) }.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIND: &str = "things";

    fn file(lines: &[&str]) -> (tempfile::TempDir, std::path::PathBuf) {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("cache");
        let mut text = crate::base::cachefile::start(KIND, 1, 0);
        let mut lines = lines.to_vec();
        lines.sort_unstable();
        for line in lines {
            text.push_str(line);
            text.push('\n');
        }
        std::fs::write(&path, text).unwrap();
        (folder, path)
    }

    #[test]
    fn a_key_is_found_among_many_and_a_prefix_of_it_is_not() {
        let lines: Vec<String> = (0..500).map(|n| format!("key{n}\tvalue {n}")).collect();
        let (_folder, path) = file(&lines.iter().map(String::as_str).collect::<Vec<_>>());
        let cache = LineCache::read(&path, KIND, 1);
        for n in [0, 17, 499] {
            let value = cache.take(&format!("key{n}"), |v| Some(v.to_owned()));
            assert_eq!(value, Some(format!("value {n}")));
        }
        assert!(cache.find("key").is_none());
        assert!(cache.find("key5000").is_none());
        // Past the first lookups, the same answers from the index of line starts.
        for round in 0..2 {
            for n in 0..500 {
                let found = cache.find(&format!("key{n}")).expect("found");
                assert_eq!(cache.value(found), format!("value {n}"), "round {round}");
            }
            for absent in ["key", "key5000", "a", "z", ""] {
                assert!(cache.find(absent).is_none(), "{absent}");
            }
        }
    }

    #[test]
    fn a_line_that_does_not_decode_is_a_miss_and_is_not_written_back() {
        let (_folder, path) = file(&["good\t1", "bad\tx", "unused\t3"]);
        let cache = LineCache::read(&path, KIND, 1);
        let number = |v: &str| v.parse::<u32>().ok();
        assert_eq!(cache.take("bad", number), None);
        assert_eq!(
            cache.take("bad", number),
            None,
            "a dropped line is not found again"
        );
        assert_eq!(cache.take("good", number), Some(1));
        cache.write(&path, KIND, 1, 10, (1, "new\t4\n"));
        let kept = LineCache::read(&path, KIND, 1);
        assert_eq!(kept.len(), 3);
        assert!(kept.find("bad").is_none());
        assert_eq!(kept.take("new", number), Some(4));
        assert_eq!(kept.take("unused", number), Some(3));
    }

    #[test]
    fn past_the_most_entries_only_the_lines_used_are_kept() {
        let (_folder, path) = file(&["a\t1", "b\t2", "c\t3"]);
        let cache = LineCache::read(&path, KIND, 1);
        assert!(cache.take("b", |v| Some(v.to_owned())).is_some());
        cache.write(&path, KIND, 1, 3, (1, "d\t4\n"));
        let kept = LineCache::read(&path, KIND, 1);
        assert_eq!(kept.len(), 2);
        assert!(kept.find("b").is_some() && kept.find("d").is_some());
        assert!(kept.find("a").is_none());
    }

    #[test]
    fn a_foreign_file_is_an_empty_cache() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("cache");
        std::fs::write(&path, "{\"format\":1,\"entries\":{}}").unwrap();
        assert!(LineCache::read(&path, KIND, 1).is_empty());
    }
}
