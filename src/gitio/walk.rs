//! Walking a folder on disk: every file below it that the caller keeps (for `source`, the
//! prompt and partial files), with the stat data the git index keeps, each folder read by
//! whichever core is free.
//!
//! On Linux a folder is read with `getdents64` into one buffer and each file is `stat`ed
//! relative to its folder's handle (rustix's `RawDir` and `statat`): nothing is allocated
//! per entry but the file's path, where `std::fs::read_dir` made three allocations and a
//! copy of the whole `statx` record. Elsewhere `std::fs::read_dir` does the same work. A
//! symbolic link is never followed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A folder or file the walk could not read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read `{}`: {source}", path.display())]
pub struct WalkError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Which files a walk keeps, by their path relative to the root (folders are always
/// entered).
pub type Keep = dyn Fn(&str) -> bool + Sync;

/// A prompt or partial file found below the prompts folder.
pub struct Walked {
    /// Its path relative to the prompts folder.
    pub relative: String,
    /// The folder it is in, on disk.
    folder: Arc<Path>,
    /// A symbolic link: never followed, so it has no stat data.
    pub link: bool,
    /// What the git index compares, where the platform tells it.
    pub stat: Option<FileStat>,
}

/// The stat data the git index keeps of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStat {
    pub size: u64,
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
    pub ino: u64,
}

impl Walked {
    /// The file's path on disk.
    pub fn path(&self) -> PathBuf {
        let name = self.relative.rsplit('/').next().unwrap_or(&self.relative);
        self.folder.join(name)
    }

    /// Reads the file.
    pub fn read(&self) -> Result<Vec<u8>, WalkError> {
        let path = self.path();
        std::fs::read(&path).map_err(|source| WalkError { path, source })
    }
}

/// Every file below `root` that `keep` takes (nothing when `root` is not a folder), each
/// folder read by whichever thread is free.
pub fn walk(root: &Path, keep: &Keep) -> Result<Vec<Walked>, WalkError> {
    let roots = match root.is_dir() {
        true => vec![(Arc::from(root), String::new())],
        false => Vec::new(),
    };
    let visit_folder = |(dir, prefix): (Arc<Path>, String), below: &mut Vec<_>| {
        let mut files = Vec::new();
        visit(&dir, &prefix, keep, &mut files, below).map(|()| files)
    };
    let visits = crate::base::parallel::walk(roots, visit_folder);
    visits.into_iter().try_fold(Vec::new(), |mut files, visit| {
        files.extend(visit?);
        Ok(files)
    })
}

/// What a folder entry is, as far as a walk cares.
enum Kind {
    Folder,
    File,
    Link,
    Other,
}

/// Keeps a file of `dir` named `name` when it is a prompt or partial file; queues a folder.
fn take(
    (dir, prefix, keep): (&Arc<Path>, &str, &Keep),
    (name, kind): (&str, Kind),
    stat: impl FnOnce() -> Result<Option<FileStat>, std::io::Error>,
    files: &mut Vec<Walked>,
    below: &mut Vec<(Arc<Path>, String)>,
) -> Result<(), WalkError> {
    let relative = format!("{prefix}{name}");
    let link = match kind {
        Kind::Folder => {
            below.push((Arc::from(dir.join(name)), format!("{relative}/")));
            return Ok(());
        }
        Kind::File | Kind::Link if keep(&relative) => {
            matches!(kind, Kind::Link)
        }
        _ => return Ok(()),
    };
    let stat = match link {
        true => None,
        false => stat().map_err(|source| WalkError {
            path: dir.join(name),
            source,
        })?,
    };
    files.push(Walked {
        relative,
        folder: Arc::clone(dir),
        link,
        stat,
    });
    Ok(())
}

/// Reads one folder: its prompt and partial files, each with a `stat`, and its folders to
/// visit (`below`, each with its path relative to the prompts folder, ending in `/`).
#[cfg(target_os = "linux")]
fn visit(
    dir: &Arc<Path>,
    prefix: &str,
    keep: &Keep,
    files: &mut Vec<Walked>,
    below: &mut Vec<(Arc<Path>, String)>,
) -> Result<(), WalkError> {
    use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags, RawDir, openat, statat};
    let io = |errno: rustix::io::Errno| WalkError {
        path: dir.to_path_buf(),
        source: errno.into(),
    };
    // The prompts folder itself may be a link (to a folder inside the project); no folder
    // below it is followed.
    let mut flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    if !prefix.is_empty() {
        flags |= OFlags::NOFOLLOW;
    }
    let fd = openat(CWD, &**dir, flags, Mode::empty()).map_err(io)?;
    // Room for many entries of the longest name a file system allows (255 bytes).
    let mut buffer = Vec::with_capacity(32 * 1024);
    let mut entries = RawDir::new(&fd, buffer.spare_capacity_mut());
    while let Some(entry) = entries.next() {
        let entry = entry.map_err(io)?;
        let Ok(name) = std::str::from_utf8(entry.file_name().to_bytes()) else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let stat_of = || statat(&fd, entry.file_name(), AtFlags::SYMLINK_NOFOLLOW);
        let file_type = match entry.file_type() {
            // Some file systems do not say in the entry.
            FileType::Unknown => FileType::from_raw_mode(stat_of().map_err(io)?.st_mode),
            known => known,
        };
        let kind = match file_type {
            FileType::Directory => Kind::Folder,
            FileType::RegularFile => Kind::File,
            FileType::Symlink => Kind::Link,
            _ => Kind::Other,
        };
        let stat = || {
            let stat = stat_of()?;
            Ok(Some(FileStat {
                size: number(stat.st_size),
                mtime: (number(stat.st_mtime), number(stat.st_mtime_nsec)),
                ctime: (number(stat.st_ctime), number(stat.st_ctime_nsec)),
                ino: number(stat.st_ino),
            }))
        };
        take((dir, prefix, keep), (name, kind), stat, files, below)?;
    }
    Ok(())
}

/// A field of `struct stat`, whose integer types differ between architectures.
#[cfg(target_os = "linux")]
fn number<T: TryInto<N>, N: Default>(value: T) -> N {
    value.try_into().unwrap_or_default()
}

#[cfg(not(target_os = "linux"))]
fn visit(
    dir: &Arc<Path>,
    prefix: &str,
    keep: &Keep,
    files: &mut Vec<Walked>,
    below: &mut Vec<(Arc<Path>, String)>,
) -> Result<(), WalkError> {
    let io = |path: PathBuf| move |source| WalkError { path, source };
    for entry in std::fs::read_dir(dir).map_err(io(dir.to_path_buf()))? {
        let entry = entry.map_err(io(dir.to_path_buf()))?;
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str() else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let file_type = entry.file_type().map_err(io(entry.path()))?;
        let kind = match file_type {
            t if t.is_dir() => Kind::Folder,
            t if t.is_symlink() => Kind::Link,
            t if t.is_file() => Kind::File,
            _ => Kind::Other,
        };
        let stat = || entry.metadata().map(|meta| file_stat(&meta));
        take((dir, prefix, keep), (name, kind), stat, files, below)?;
    }
    Ok(())
}

#[cfg(all(unix, not(target_os = "linux")))]
fn file_stat(meta: &std::fs::Metadata) -> Option<FileStat> {
    use std::os::unix::fs::MetadataExt;
    Some(FileStat {
        size: meta.size(),
        mtime: (meta.mtime(), meta.mtime_nsec()),
        ctime: (meta.ctime(), meta.ctime_nsec()),
        ino: meta.ino(),
    })
}

/// Without the stat data the index keeps, every file is read.
#[cfg(not(unix))]
fn file_stat(_meta: &std::fs::Metadata) -> Option<FileStat> {
    None
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_walk_finds_prompt_and_partial_files_and_links_and_nothing_hidden() {
        let folder = tempfile::tempdir().unwrap();
        let root = folder.path().join("prompts");
        for file in [
            "a.toml",
            "t/b.toml",
            "t/u/p.j2",
            "t/notes.md",
            ".hidden/c.toml",
        ] {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, file).unwrap();
        }
        std::fs::write(root.join("t/.d.toml"), "hidden").unwrap();
        std::os::unix::fs::symlink(root.join("a.toml"), root.join("t/link.toml")).unwrap();
        std::os::unix::fs::symlink(root.join("t/u"), root.join("t/folder-link")).unwrap();
        let prompts = |relative: &str| relative.ends_with(".toml") || relative.ends_with(".j2");
        let mut files = walk(&root, &prompts).unwrap();
        files.sort_by(|a, b| a.relative.cmp(&b.relative));
        let found: Vec<(&str, bool)> = files.iter().map(|f| (&*f.relative, f.link)).collect();
        assert_eq!(
            found,
            [
                ("a.toml", false),
                ("t/b.toml", false),
                ("t/link.toml", true),
                ("t/u/p.j2", false)
            ]
        );
        use std::os::unix::fs::MetadataExt;
        for file in files.iter().filter(|f| !f.link) {
            let meta = std::fs::symlink_metadata(file.path()).unwrap();
            let expected = FileStat {
                size: meta.size(),
                mtime: (meta.mtime(), meta.mtime_nsec()),
                ctime: (meta.ctime(), meta.ctime_nsec()),
                ino: meta.ino(),
            };
            assert_eq!(file.stat, Some(expected), "{}", file.relative);
            assert_eq!(file.read().unwrap(), file.relative.as_bytes());
        }
    }

    #[test]
    fn a_missing_folder_or_a_file_walks_to_nothing() {
        let folder = tempfile::tempdir().unwrap();
        assert!(
            walk(&folder.path().join("none"), &|_: &str| true)
                .unwrap()
                .is_empty()
        );
        let file = folder.path().join("file.toml");
        std::fs::write(&file, "").unwrap();
        assert!(walk(&file, &|_: &str| true).unwrap().is_empty());
    }
}
