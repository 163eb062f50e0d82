//! File writing that never leaves a half-written file behind.

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so a
/// reader (or a crash) sees the old content or the new, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_replacing(path, bytes, true)
}

/// Like [`write_atomic`] but without waiting for the disk: for caches, where losing a file
/// to a power cut costs a recomputation, but a torn file must never be read.
pub fn write_atomic_unsynced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_replacing(path, bytes, false)
}

/// Like [`write_atomic`], the content written by `write` through a buffer rather than
/// held whole first: a report of 10,000 cases is streamed to its file.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    replace_with(path, true, |file| {
        let mut buffered = std::io::BufWriter::new(file);
        write(&mut buffered)?;
        buffered.flush()
    })
}

/// Removes the file at `path`; one already gone (never written, or removed by a concurrent
/// run) is the same outcome.
pub fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn write_replacing(path: &Path, bytes: &[u8], sync: bool) -> std::io::Result<()> {
    replace_with(path, sync, |mut file| file.write_all(bytes))
}

fn replace_with(
    path: &Path,
    sync: bool,
    write: impl FnOnce(&std::fs::File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let unique = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let temp = dir.join(format!(".{file_name}.{}.{unique}.tmp", std::process::id()));
    let result = (|| {
        let file = std::fs::File::create(&temp)?;
        write(&file)?;
        if sync {
            file.sync_all()?;
        }
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_streamed_write_that_fails_leaves_the_old_content_and_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        write_atomic_with(&path, |w| w.write_all(&[b'x'; 100_000])).unwrap();
        assert_eq!(std::fs::read(&path).unwrap().len(), 100_000);
        let failed = write_atomic_with(&path, |w| {
            w.write_all(b"half")?;
            Err(std::io::Error::other("the report could not be written"))
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read(&path).unwrap().len(), 100_000);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
