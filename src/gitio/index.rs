//! The git index file read directly: the stat data and blob id of each file below a folder,
//! and the folders whose tree its cache-tree extension vouches for (so a revision whose
//! prompts folder the index holds, HEAD's until something is staged, is listed from the
//! index rather than by reading every folder's tree).
//!
//! libgit2 took 2 ms to read the index of a 2,000-prompt repository (it validates every
//! path, allocates every entry, keeps them in a map and hashes the file with SHA-1
//! collision detection), more than `git ls-files` takes in all. This reads versions 2 to 4
//! of the format (`gitformat-index(5)`) in a tenth of that, checksum included. Anything else
//! (a split index, a damaged file, a format to come) is `None`, and the caller asks libgit2.

use std::collections::HashMap;

use sha1::{Digest, Sha1};

/// The index file of `repo` and when it was written (UTC seconds), both from one opened
/// file: a rewrite between them cannot pair new entries with the old time.
pub fn read_file(repo: &git2::Repository) -> Option<(Vec<u8>, i64)> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(repo.path().join("index")).ok()?;
    let written = file
        .metadata()
        .ok()?
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).ok()?;
    Some((bytes, i64::try_from(written).ok()?))
}

/// The stat data of one index entry, and its blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub id: git2::Oid,
    pub size: u32,
    pub mtime: (i32, u32),
    pub ctime: (i32, u32),
    pub ino: u32,
}

impl From<&git2::IndexEntry> for Stat {
    fn from(entry: &git2::IndexEntry) -> Self {
        Stat {
            id: entry.id,
            size: entry.file_size,
            mtime: (entry.mtime.seconds(), entry.mtime.nanoseconds()),
            ctime: (entry.ctime.seconds(), entry.ctime.nanoseconds()),
            ino: entry.ino,
        }
    }
}

/// An index file as read: its entries, and the tree ids its cache-tree extension vouches
/// for (a folder whose entries hash to that tree: git keeps them valid until an entry below
/// changes).
pub struct Index {
    entries: Vec<Entry>,
    /// Every entry's path, one after another: one allocation for the index, not one per
    /// entry (that was a third of the time of reading 2,000 entries).
    paths: String,
    trees: HashMap<String, git2::Oid>,
}

struct Entry {
    /// Where its path is in [`Index::paths`].
    path: std::ops::Range<usize>,
    stat: Stat,
    mode: u32,
    /// Not a plain stage-0 entry: a conflict, skip-worktree or intent-to-add.
    placeholder: bool,
}

/// Reads an index file's `bytes`.
pub fn parse(bytes: &[u8]) -> Option<Index> {
    let (body, checksum) = bytes.split_at(bytes.len().checked_sub(20)?);
    if Sha1::digest(body).as_slice() != checksum {
        return None;
    }
    let mut reader = Reader { bytes: body, at: 0 };
    if reader.take(4)? != b"DIRC" {
        return None;
    }
    let version = reader.u32()?;
    if !(2..=4).contains(&version) {
        return None;
    }
    let count = reader.u32()?;
    let mut entries = Vec::with_capacity(usize::try_from(count).ok()?.min(1 << 20));
    let mut paths = String::with_capacity(body.len() / 2);
    let mut path = Vec::new();
    for _ in 0..count {
        let (stat, flags, mode) = entry_head(&mut reader, version)?;
        read_path(&mut reader, version, &mut path, flags.header_len)?;
        // Paths that are not UTF-8 name no prompt.
        if let Ok(text) = std::str::from_utf8(&path) {
            paths.push_str(text);
            entries.push(Entry {
                path: paths.len() - text.len()..paths.len(),
                stat,
                mode,
                placeholder: flags.stage != 0 || flags.placeholder,
            });
        }
    }
    let mut trees = HashMap::new();
    while reader.bytes.len() - reader.at >= 8 {
        let signature = reader.take(4)?;
        let size = usize::try_from(reader.u32()?).ok()?;
        let data = reader.take(size)?;
        match signature {
            // A split index keeps most entries in another file.
            b"link" => return None,
            b"TREE" => {
                let mut tree = Reader { bytes: data, at: 0 };
                cache_tree(&mut tree, "", &mut trees)?;
            }
            _ => {}
        }
    }
    Some(Index::sorted(entries, paths, trees))
}

impl Index {
    /// The entries whose path starts with `folder`, in order, by the rest of their path,
    /// with their stat data when they stand for a regular file in the working tree: not a
    /// conflict, not a `git add -N` placeholder, not a file outside a sparse checkout, not
    /// a link or a submodule.
    pub fn below<'a>(
        &'a self,
        folder: &'a str,
    ) -> impl Iterator<Item = (&'a str, Option<&'a Stat>)> {
        let first = self.entries.partition_point(|e| self.path(e) < folder);
        self.entries[first..].iter().map_while(move |e| {
            let relative = self.path(e).strip_prefix(folder)?;
            let regular = !e.placeholder && e.mode >> 12 == 0o10;
            Some((relative, regular.then_some(&e.stat)))
        })
    }

    /// The index as libgit2 reads it, for what [`parse`] does not read (a split index).
    pub fn from_libgit2(index: &git2::Index) -> Index {
        let mut paths = String::new();
        let entries = index
            .iter()
            .filter_map(|entry| {
                let path = std::str::from_utf8(&entry.path).ok()?;
                paths.push_str(path);
                let stage = (entry.flags >> 12) & 3;
                Some(Entry {
                    stat: Stat::from(&entry),
                    mode: entry.mode,
                    placeholder: stage != 0 || entry.flags_extended & 0x6000 != 0,
                    path: paths.len() - path.len()..paths.len(),
                })
            })
            .collect();
        Index::sorted(entries, paths, HashMap::new())
    }

    /// An index of `entries`, sorted by path if they are not (git always writes them so).
    fn sorted(mut entries: Vec<Entry>, paths: String, trees: HashMap<String, git2::Oid>) -> Index {
        let path = |e: &Entry| &paths[e.path.clone()];
        if !entries.is_sorted_by(|a, b| path(a) <= path(b)) {
            entries.sort_by(|a, b| path(a).cmp(path(b)));
        }
        Index {
            entries,
            paths,
            trees,
        }
    }

    /// An entry's path.
    fn path(&self, entry: &Entry) -> &str {
        &self.paths[entry.path.clone()]
    }

    /// When the cache-tree vouches that the entries below `folder` (`prompts/`) are tree
    /// `id`: each of them, by the rest of its path, with its blob id and mode.
    pub fn tree_below(&self, folder: &str, id: git2::Oid) -> Option<Vec<(&str, git2::Oid, u32)>> {
        if self.trees.get(folder.trim_end_matches('/')) != Some(&id) {
            return None;
        }
        let below = self.entries.iter().filter_map(|e| {
            let relative = self.path(e).strip_prefix(folder)?;
            Some((e, relative))
        });
        let mut files = Vec::new();
        for (entry, relative) in below {
            if entry.placeholder {
                return None;
            }
            files.push((relative, entry.stat.id, entry.mode));
        }
        Some(files)
    }
}

/// Reads one node of the cache-tree and those below it, keeping the id of every valid one
/// by its path (`a/b`, the root as ``): the node's path component, its entry count (-1
/// when invalid) and subtree count in ASCII, then its tree id when valid.
fn cache_tree(
    reader: &mut Reader<'_>,
    parent: &str,
    trees: &mut HashMap<String, git2::Oid>,
) -> Option<()> {
    let component = std::str::from_utf8(reader.until_nul()?).ok()?;
    let path = match (parent, component) {
        ("", name) => name.to_owned(),
        (parent, name) => format!("{parent}/{name}"),
    };
    let counts = reader.until(b'\n')?;
    let (entries, subtrees) = std::str::from_utf8(counts).ok()?.split_once(' ')?;
    let entries: i64 = entries.parse().ok()?;
    let subtrees: u32 = subtrees.parse().ok()?;
    if entries >= 0 {
        let id = git2::Oid::from_bytes(reader.take(20)?).ok()?;
        trees.insert(path.clone(), id);
    }
    for _ in 0..subtrees {
        cache_tree(reader, &path, trees)?;
    }
    Some(())
}

/// What an entry's flags say.
struct Flags {
    stage: u16,
    /// A conflict stage, skip-worktree or intent-to-add entry: no file on disk it vouches for.
    placeholder: bool,
    /// The bytes before the path.
    header_len: usize,
}

/// Reads an entry up to its path: stat data, blob id, flags and mode.
fn entry_head(reader: &mut Reader<'_>, version: u32) -> Option<(Stat, Flags, u32)> {
    let ctime = (reader.u32()? as i32, reader.u32()?);
    let mtime = (reader.u32()? as i32, reader.u32()?);
    let _dev = reader.u32()?;
    let ino = reader.u32()?;
    let mode = reader.u32()?;
    let _uid = reader.u32()?;
    let _gid = reader.u32()?;
    let size = reader.u32()?;
    let id = git2::Oid::from_bytes(reader.take(20)?).ok()?;
    let flags = reader.u16()?;
    let extended = flags & 0x4000 != 0;
    if extended && version < 3 {
        return None;
    }
    // Skip-worktree (0x4000) and intent-to-add (0x2000).
    let more = if extended { reader.u16()? } else { 0 };
    let flags = Flags {
        stage: (flags >> 12) & 3,
        placeholder: more & 0x6000 != 0,
        header_len: if extended { 64 } else { 62 },
    };
    let stat = Stat {
        id,
        size,
        mtime,
        ctime,
        ino,
    };
    Some((stat, flags, mode))
}

/// Reads an entry's path into `path`: whole and padded with NULs to a multiple of eight
/// bytes before version 4; from version 4 on, as the previous path less some bytes, plus a
/// suffix.
fn read_path(
    reader: &mut Reader<'_>,
    version: u32,
    path: &mut Vec<u8>,
    header_len: usize,
) -> Option<()> {
    if version == 4 {
        let strip = reader.varint()?;
        path.truncate(path.len().checked_sub(usize::try_from(strip).ok()?)?);
        path.extend_from_slice(reader.until_nul()?);
        return Some(());
    }
    let name = reader.until_nul()?;
    path.clear();
    path.extend_from_slice(name);
    // The NUL is read; the padding is the rest of `(header + name + 8) & !7`.
    let entry_len = (header_len + name.len() + 8) & !7;
    reader.take(entry_len - header_len - name.len() - 1)?;
    Some(())
}

/// A cursor over the index's bytes; every read is checked against the end.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let taken = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(taken)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }

    /// Bytes up to a NUL, which is read and not returned.
    fn until_nul(&mut self) -> Option<&'a [u8]> {
        self.until(0)
    }

    /// Bytes up to `end`, which is read and not returned.
    fn until(&mut self, end: u8) -> Option<&'a [u8]> {
        let rest = self.bytes.get(self.at..)?;
        let at = memchr::memchr(end, rest)?;
        self.at += at + 1;
        Some(&rest[..at])
    }

    /// git's offset varint: seven bits a byte, most significant first, each continued byte
    /// adding one before the shift.
    fn varint(&mut self) -> Option<u64> {
        let mut byte = *self.take(1)?.first()?;
        let mut value = u64::from(byte & 0x7f);
        while byte & 0x80 != 0 {
            byte = *self.take(1)?.first()?;
            value = value.checked_add(1)?.checked_shl(7)? | u64::from(byte & 0x7f);
        }
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A repository whose index holds the given files, and the folder of it.
    fn repository(files: &[(&str, &str)]) -> (tempfile::TempDir, git2::Repository) {
        let folder = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init(folder.path()).unwrap();
        let mut index = repo.index().unwrap();
        for (path, text) in files {
            let full = folder.path().join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(&full, text).unwrap();
            index.add_path(std::path::Path::new(path)).unwrap();
        }
        index.write().unwrap();
        (folder, repo)
    }

    /// What libgit2 reads from the same index, as this module reports it.
    fn by_libgit2(repo: &git2::Repository, folder: &str) -> HashMap<String, Stat> {
        let index = repo.index().unwrap();
        index
            .iter()
            .filter_map(|entry| {
                let path = String::from_utf8(entry.path.clone()).unwrap();
                let relative = path.strip_prefix(folder)?.to_owned();
                Some((relative, Stat::from(&entry)))
            })
            .collect()
    }

    const FILES: &[(&str, &str)] = &[
        ("prompts/a.toml", "a"),
        ("prompts/team/long-name-of-a-prompt-file.toml", "b"),
        ("prompts/team/long-name-of-a-prompt-other.toml", "c"),
        ("prompts/p/x.j2", "partial"),
        ("readme.md", "outside the folder"),
    ];

    /// The files below `folder` with their stat data, as `Index::below` gives them.
    fn below(index: &Index, folder: &str) -> Vec<(String, Option<Stat>)> {
        let files = index.below(folder);
        files
            .map(|(path, stat)| (path.to_owned(), stat.cloned()))
            .collect()
    }

    #[test]
    fn every_version_reads_as_libgit2_reads_it() {
        for version in [2, 3, 4] {
            let (folder, repo) = repository(FILES);
            let mut index = repo.index().unwrap();
            index.set_version(version).unwrap();
            index.write().unwrap();
            let bytes = std::fs::read(folder.path().join(".git/index")).unwrap();
            let theirs = by_libgit2(&repo, "prompts/");
            let mut expected: Vec<(String, Option<Stat>)> = theirs
                .into_iter()
                .map(|(path, stat)| (path, Some(stat)))
                .collect();
            expected.sort_by(|a, b| a.0.cmp(&b.0));
            assert_eq!(expected.len(), 4, "version {version}");
            for read in [parse(&bytes).expect("reads"), Index::from_libgit2(&index)] {
                assert_eq!(below(&read, "prompts/"), expected, "version {version}");
                assert_eq!(below(&read, "prompts/team/").len(), 2);
                assert_eq!(below(&read, "readme.md").len(), 1);
                assert!(below(&read, "prompts/z/").is_empty());
            }
        }
    }

    #[test]
    fn a_placeholder_entry_vouches_for_no_file() {
        let (folder, repo) = repository(FILES);
        let mut index = repo.index().unwrap();
        let mut entry = index
            .get_path(std::path::Path::new("prompts/a.toml"), 0)
            .unwrap();
        entry.flags_extended |= 0x2000;
        index.add(&entry).unwrap();
        index.set_version(3).unwrap();
        index.write().unwrap();
        let bytes = std::fs::read(folder.path().join(".git/index")).unwrap();
        for read in [parse(&bytes).expect("reads"), Index::from_libgit2(&index)] {
            let files = below(&read, "prompts/");
            assert_eq!(files[0], ("a.toml".to_owned(), None));
            assert!(files[1].1.is_some());
        }
    }

    #[test]
    fn a_damaged_or_foreign_file_is_none() {
        let (folder, _repo) = repository(FILES);
        let bytes = std::fs::read(folder.path().join(".git/index")).unwrap();
        let mut flipped = bytes.clone();
        flipped[100] ^= 1;
        assert!(parse(&flipped).is_none());
        assert!(parse(&bytes[..bytes.len() - 1]).is_none());
        assert!(parse(b"").is_none());
        assert!(parse(&[0; 40]).is_none());
    }

    #[test]
    fn the_cache_tree_vouches_for_a_folder_until_an_entry_below_changes() {
        let (folder, repo) = repository(FILES);
        let mut index = repo.index().unwrap();
        let root = index.write_tree().unwrap();
        index.write().unwrap();
        let tree = repo.find_tree(root).unwrap();
        let prompts = tree.get_name("prompts").unwrap().id();
        let bytes = std::fs::read(folder.path().join(".git/index")).unwrap();
        let read = parse(&bytes).unwrap();
        let files = read.tree_below("prompts/", prompts).expect("vouched for");
        let mut paths: Vec<&str> = files.iter().map(|(path, _, _)| *path).collect();
        paths.sort_unstable();
        assert_eq!(
            paths,
            [
                "a.toml",
                "p/x.j2",
                "team/long-name-of-a-prompt-file.toml",
                "team/long-name-of-a-prompt-other.toml"
            ]
        );
        assert!(read.tree_below("prompts/", root).is_none());
        std::fs::write(folder.path().join("prompts/a.toml"), "changed").unwrap();
        index
            .add_path(std::path::Path::new("prompts/a.toml"))
            .unwrap();
        index.write().unwrap();
        let bytes = std::fs::read(folder.path().join(".git/index")).unwrap();
        assert!(
            parse(&bytes)
                .unwrap()
                .tree_below("prompts/", prompts)
                .is_none()
        );
    }

    #[test]
    fn git_offset_varints_decode() {
        for (bytes, value) in [
            (&[0x00][..], 0),
            (&[0x7f], 127),
            (&[0x80, 0x00], 128),
            (&[0x80, 0x7f], 255),
        ] {
            let mut reader = Reader { bytes, at: 0 };
            assert_eq!(reader.varint(), Some(value));
        }
    }
}
