//! The versions of the kept copy: one append-only file per environment
//! (`objects-<env>.pack`) of records `<64 hex> <length>\n<canonical JSON>\n`, each version
//! written once. A swap appends the versions it adds (one record after a one-prompt action)
//! and the manifest beside it records how many bytes of the file are whole; the file is
//! rewritten with only the versions served once dead records outweigh live ones, so it
//! stays within twice what is served, plus [`SLACK`].

use std::collections::{BTreeMap, HashMap};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::prompt::Version;

/// Dead bytes tolerated beyond the live ones before the file is rewritten.
const SLACK: u64 = 1024 * 1024;

/// The pack file of an environment, and where each version's record is.
#[derive(Debug)]
pub(super) struct Pack {
    path: PathBuf,
    /// Each version's record: where it starts and how long it is, header included.
    records: HashMap<Version, (u64, u64)>,
    /// The bytes of the file that are whole records.
    length: u64,
}

impl Pack {
    /// The pack file of `env` in the state folder `dir`.
    pub fn path(dir: &Path, env: &str) -> PathBuf {
        dir.join(format!("objects-{env}.pack"))
    }

    /// Reads the first `length` bytes of the pack at `path` (what the manifest vouches for),
    /// giving its index and every version in it; `None` when they are not whole records.
    pub fn read(path: &Path, length: u64) -> Option<(Pack, BTreeMap<Version, Arc<str>>)> {
        let bytes = std::fs::read(path).ok()?;
        let whole = bytes.get(..usize::try_from(length).ok()?)?;
        let mut records = HashMap::new();
        let mut objects = BTreeMap::new();
        let mut at = 0;
        while at < whole.len() {
            let (version, start, end) = record_at(whole, at)?;
            let text = std::str::from_utf8(&whole[start..end]).ok()?;
            records.insert(version, (at as u64, (end + 1 - at) as u64));
            objects.insert(version, Arc::from(text));
            at = end + 1;
        }
        let pack = Pack {
            path: path.to_path_buf(),
            records,
            length,
        };
        Some((pack, objects))
    }

    /// An empty pack at `path`.
    pub fn empty(path: &Path) -> Pack {
        Pack {
            path: path.to_path_buf(),
            records: HashMap::new(),
            length: 0,
        }
    }

    /// The bytes of the file that are whole records, for the manifest.
    pub fn length(&self) -> u64 {
        self.length
    }

    /// Makes the file hold every version of `objects`: appends those it lacks, or rewrites
    /// it with `objects` alone when what is not served would outweigh what is. The file is
    /// synced before this returns; a torn tail past [`Pack::length`] is cut first.
    pub fn store(&mut self, objects: &BTreeMap<Version, Arc<str>>) -> std::io::Result<()> {
        let missing: Vec<(&Version, &Arc<str>)> = objects
            .iter()
            .filter(|(version, _)| !self.records.contains_key(version))
            .collect();
        let live: u64 = objects
            .iter()
            .map(|(version, text)| {
                self.records
                    .get(version)
                    .map_or(record_length(text), |r| r.1)
            })
            .sum();
        let grown = self.length + missing.iter().map(|(_, t)| record_length(t)).sum::<u64>();
        if grown > 2 * live + SLACK {
            return self.rewrite(objects);
        }
        if missing.is_empty() {
            return Ok(());
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&self.path)?;
        file.set_len(self.length)?;
        file.seek(SeekFrom::Start(self.length))?;
        let mut out = Vec::new();
        for (version, text) in missing {
            let start = self.length + out.len() as u64;
            push_record(&mut out, version, text);
            let end = self.length + out.len() as u64;
            self.records.insert(*version, (start, end - start));
        }
        file.write_all(&out)?;
        file.sync_all()?;
        self.length += out.len() as u64;
        Ok(())
    }

    /// Rewrites the file with `objects` alone, atomically.
    fn rewrite(&mut self, objects: &BTreeMap<Version, Arc<str>>) -> std::io::Result<()> {
        let mut out = Vec::new();
        let mut records = HashMap::with_capacity(objects.len());
        for (version, text) in objects {
            let start = out.len() as u64;
            push_record(&mut out, version, text);
            records.insert(*version, (start, out.len() as u64 - start));
        }
        crate::base::fsutil::write_atomic(&self.path, &out)?;
        tracing::info!(
            path = %self.path.display(),
            bytes = out.len(),
            dropped = self.records.len().saturating_sub(records.len()),
            "the kept copy's versions were compacted"
        );
        self.records = records;
        self.length = out.len() as u64;
        Ok(())
    }
}

fn record_length(text: &str) -> u64 {
    (64 + 1 + text.len().to_string().len() + 1 + text.len() + 1) as u64
}

fn push_record(out: &mut Vec<u8>, version: &Version, text: &str) {
    out.extend_from_slice(version.hex().as_bytes());
    out.push(b' ');
    out.extend_from_slice(text.len().to_string().as_bytes());
    out.push(b'\n');
    out.extend_from_slice(text.as_bytes());
    out.push(b'\n');
}

/// The record at `at`: its version, and where its text starts and ends.
fn record_at(bytes: &[u8], at: usize) -> Option<(Version, usize, usize)> {
    let rest = bytes.get(at..)?;
    // A header is 64 hex digits, a space and a length: never more than 96 bytes.
    let line_end = memchr::memchr(b'\n', &rest[..rest.len().min(96)])?;
    let header = std::str::from_utf8(&rest[..line_end]).ok()?;
    let (hex, length) = header.split_once(' ')?;
    let version = Version::from_hex(hex)?;
    let length: usize = length.parse().ok()?;
    let start = at + line_end + 1;
    let end = start.checked_add(length)?;
    (bytes.get(end) == Some(&b'\n')).then_some((version, start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(texts: &[&str]) -> BTreeMap<Version, Arc<str>> {
        texts
            .iter()
            .map(|t| (Version::of_canonical(t.as_bytes()), Arc::from(*t)))
            .collect()
    }

    #[test]
    fn a_swap_appends_only_the_versions_it_adds_and_reads_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = Pack::path(dir.path(), "production");
        let mut pack = Pack::empty(&path);
        let first = objects(&["{\"a\":1}", "{\"b\":\"two\\nlines\"}"]);
        pack.store(&first).unwrap();
        let length = pack.length();
        let mut second = first.clone();
        second.extend(objects(&["{\"c\":3}"]));
        pack.store(&second).unwrap();
        let added = pack.length() - length;
        assert_eq!(added, record_length("{\"c\":3}"), "one record appended");
        let (read, back) = Pack::read(&path, pack.length()).unwrap();
        assert_eq!(back, second);
        assert_eq!(read.length(), pack.length());
        // A torn append past the manifest's length is not read, and is cut by the next.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"0123 99\n{\"torn")
            .unwrap();
        let (mut again, back) = Pack::read(&path, length).unwrap();
        assert_eq!(back, first);
        again.store(&second).unwrap();
        assert_eq!(Pack::read(&path, again.length()).unwrap().1, second);
        assert!(
            Pack::read(&path, length + 3).is_none(),
            "not a record boundary"
        );
    }

    #[test]
    fn dead_versions_are_dropped_once_they_outweigh_the_live_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = Pack::path(dir.path(), "production");
        let mut pack = Pack::empty(&path);
        let big = "x".repeat(300_000);
        for n in 0..12 {
            let text = format!("{{\"n\":{n},\"pad\":\"{big}\"}}");
            pack.store(&objects(&[&text])).unwrap();
            let live = record_length(&text);
            assert!(pack.length() <= 2 * live + SLACK, "{n}: {}", pack.length());
            let (_, back) = Pack::read(&path, pack.length()).unwrap();
            assert!(back.contains_key(&Version::of_canonical(text.as_bytes())));
        }
    }
}
