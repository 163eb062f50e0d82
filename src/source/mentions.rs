//! The mentions cache: which partial names a prompt blob's text can hold, so that finding
//! the prompts that reach a changed partial does not read every prompt of the repository.
//!
//! `diff` finds the prompts reaching a changed partial by searching their text for its
//! name. A name made only of name characters (ASCII letters, digits, `_`, `-`, `.`, `/`)
//! can only occur inside a maximal run of such characters that holds `.j2` (a partial) or
//! `.json` (a schema file); those runs are
//! all a blob's text is needed for, and a blob never changes. They are kept in the git
//! folder (`.git/promptctl-mentions`), one line per blob: its id, then its runs, separated
//! by tabs. A name with any other character is searched in the text itself, as before.

use std::ops::Range;
use std::path::{Path, PathBuf};

use memchr::memmem;

/// The cache file, in the git folder.
pub const MENTIONS_CACHE: &str = "promptctl-mentions";

/// The cache's kind and format in its first line ([`crate::base::cachefile`]): another
/// first line is a foreign cache, read as empty.
const KIND: &str = "mentions";
const FORMAT: u32 = 2;

/// Most blobs the cache keeps; past it, blobs not looked up by the last search are dropped.
const CACHE_ENTRIES: usize = 100_000;

/// Tells whether a byte can be part of a name the cache answers for.
pub fn is_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.' | b'/')
}

/// Tells whether the cache can answer for `name`: it is made of name characters only.
pub fn answers_for(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(is_name_byte)
}

/// The runs of a text that can hold a partial's name, joined by tabs.
fn runs(text: &[u8]) -> String {
    let mut out = String::new();
    for run in text.split(|&byte| !is_name_byte(byte)) {
        if memmem::find(run, b".j2").is_some() || memmem::find(run, b".json").is_some() {
            out.push('\t');
            // Name bytes are ASCII.
            out.extend(run.iter().map(|&byte| char::from(byte)));
        }
    }
    out
}

/// The partial and schema file names a text can hold: each maximal run of name characters
/// that ends in `.j2` or `.json`.
pub fn file_names(text: &[u8]) -> impl Iterator<Item = String> + '_ {
    text.split(|&byte| !is_name_byte(byte))
        .filter(|run| run.ends_with(b".json") || run.ends_with(b".j2"))
        // Name bytes are ASCII.
        .map(|run| run.iter().map(|&byte| char::from(byte)).collect())
}

/// The cache as read, with the blobs found since.
pub struct Mentions {
    path: PathBuf,
    text: String,
    /// Each line's blob id (its first eight bytes), where its runs are, and whether this
    /// search used it; sorted by id.
    lines: Vec<(u64, Range<usize>, bool)>,
    new: Vec<(git2::Oid, String)>,
}

fn id_prefix(id: &[u8]) -> u64 {
    let mut prefix = [0u8; 8];
    prefix.copy_from_slice(&id[..8]);
    u64::from_be_bytes(prefix)
}

impl Mentions {
    /// Reads the cache of a repository; a missing, unreadable or foreign file is empty.
    pub fn read(git_dir: &Path) -> Mentions {
        let path = git_dir.join(MENTIONS_CACHE);
        let file = crate::base::cachefile::read(&path, KIND, FORMAT);
        let mut lines = Vec::new();
        if let Some(file) = &file {
            let mut start = file.body;
            for line in file.body().split_inclusive('\n') {
                let end = start + line.trim_end_matches('\n').len();
                if let Some(prefix) = line
                    .get(..16)
                    .and_then(|hex| u64::from_str_radix(hex, 16).ok())
                {
                    lines.push((prefix, start..end, false));
                }
                start += line.len();
            }
        }
        lines.sort_unstable_by_key(|(prefix, range, _)| (*prefix, range.start));
        Mentions {
            path,
            text: file.map(|f| f.text).unwrap_or_default(),
            lines,
            new: Vec::new(),
        }
    }

    /// The runs of blob `id`, joined by tabs, if the cache knows it: a name answerable by
    /// the cache is in them exactly when it is in the blob's text.
    pub fn runs(&mut self, id: git2::Oid) -> Option<&str> {
        let prefix = id_prefix(id.as_bytes());
        let first = self.lines.partition_point(|(p, _, _)| *p < prefix);
        let at = (first..self.lines.len())
            .take_while(|&i| self.lines[i].0 == prefix)
            .find(|&i| {
                let line = &self.text[self.lines[i].1.clone()];
                line.get(..40).and_then(|hex| git2::Oid::from_str(hex).ok()) == Some(id)
                    && (line.len() == 40 || line.as_bytes()[40] == b'\t')
            })?;
        self.lines[at].2 = true;
        let range = &self.lines[at].1;
        Some(&self.text[range.start + 40..range.end])
    }

    /// Keeps the runs of blob `id`, read now.
    pub fn add(&mut self, id: git2::Oid, bytes: &[u8]) {
        self.new.push((id, runs(bytes)));
    }

    /// Writes the cache back atomically when blobs were added; a failure only costs the next
    /// search its speed.
    pub fn save(self) {
        if self.new.is_empty() {
            return;
        }
        let keep_all = self.lines.len() + self.new.len() <= CACHE_ENTRIES;
        let mut kept: Vec<&Range<usize>> = self
            .lines
            .iter()
            .filter(|(_, _, used)| keep_all || *used)
            .map(|(_, range, _)| range)
            .collect();
        kept.sort_by_key(|range| range.start);
        let mut out =
            crate::base::cachefile::start(KIND, FORMAT, self.text.len() + self.new.len() * 64);
        for range in kept {
            out.push_str(&self.text[range.clone()]);
            out.push('\n');
        }
        for (id, runs) in &self.new {
            out.push_str(&id.to_string());
            out.push_str(runs);
            out.push('\n');
        }
        crate::base::cachefile::write(&self.path, &out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_keep_every_stretch_of_name_characters_that_holds_j2() {
        let text = b"x {% include \"partials/a.j2\" %} and 'b.j2x' but not c.txt or \"d e.j2\"";
        assert_eq!(runs(text), "\tpartials/a.j2\tb.j2x\te.j2");
        assert_eq!(runs(b"no partial here"), "");
    }

    #[test]
    fn a_name_is_found_in_the_runs_exactly_when_it_is_in_the_text() {
        let text = b"{% include \"partials/p04.j2\" %}\n{# see xpartials/p1.j2y #}";
        let cached = runs(text);
        for name in [
            "partials/p04.j2",
            "p04.j2",
            "partials/p1.j2",
            "p1.j2",
            "s/p0",
            "p05.j2",
            "q.j2",
        ] {
            assert!(answers_for(name));
            let in_text = memmem::find(text, name.as_bytes()).is_some();
            assert_eq!(
                memmem::find(cached.as_bytes(), name.as_bytes()).is_some(),
                in_text,
                "{name}"
            );
        }
        assert!(!answers_for("my partial.j2"));
        assert!(!answers_for("café.j2"));
    }

    #[test]
    fn blobs_added_are_answered_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init(dir.path()).unwrap();
        let with = repo.blob(b"{% include \"p.j2\" %}").unwrap();
        let without = repo.blob(b"plain").unwrap();
        let mut cache = Mentions::read(repo.path());
        assert_eq!(cache.runs(with), None);
        cache.add(with, b"{% include \"p.j2\" %}");
        cache.add(without, b"plain");
        cache.save();
        let mut cache = Mentions::read(repo.path());
        assert_eq!(cache.runs(with), Some("\tp.j2"));
        assert_eq!(cache.runs(without), Some(""));
        // A damaged file is a cache that knows nothing, never a wrong answer.
        std::fs::write(
            repo.path().join(MENTIONS_CACHE),
            crate::base::cachefile::start(KIND, FORMAT, 0) + "zz\n",
        )
        .unwrap();
        let mut cache = Mentions::read(repo.path());
        assert_eq!(cache.runs(with), None);
    }
}
