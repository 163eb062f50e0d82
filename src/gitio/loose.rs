//! Reading many blobs at once: loose objects directly and across the cores, the rest through
//! libgit2.
//!
//! A freshly written repository holds every prompt as a loose object (git packs only past
//! 6,700 of them), and libgit2 reads one object at a time with five system calls: reading
//! the 500 prompts a partial reaches took as long as parsing them. A loose object is a
//! zlib stream of `blob <size>\0` and the bytes; one that is not there, or that does not
//! read as a blob of its stated size, is left to libgit2, which reads packs and alternates
//! and says what is wrong.

use std::path::{Path, PathBuf};

/// Reads the blobs `ids` of `repo`, in order.
pub fn read_blobs(repo: &git2::Repository, ids: &[git2::Oid]) -> Result<Vec<Vec<u8>>, git2::Error> {
    let objects = objects_folder(repo);
    let loose = crate::base::parallel::map(ids, |id| read_loose_blob(&objects, *id));
    ids.iter()
        .zip(loose)
        .map(|(id, read)| match read {
            Some(bytes) => Ok(bytes),
            None => Ok(repo.find_blob(*id)?.content().to_vec()),
        })
        .collect()
}

/// The folder of loose objects. The repository is opened by discovery, which does not
/// read git's environment, so this is always `objects` in its git folder (the object folder
/// of a linked worktree is its common folder's; libgit2 reads any other).
fn objects_folder(repo: &git2::Repository) -> PathBuf {
    repo.commondir().join("objects")
}

/// The bytes of a loose blob, or `None` when it is not a loose object that reads as a blob.
fn read_loose_blob(objects: &Path, id: git2::Oid) -> Option<Vec<u8>> {
    // `xx/yyyy…`: the first byte names the folder.
    let (folder, file) = id.as_bytes().split_first()?;
    let mut relative = String::with_capacity(41);
    push_hex(&mut relative, &[*folder]);
    relative.push('/');
    push_hex(&mut relative, file);
    let compressed = std::fs::read(objects.join(relative)).ok()?;
    let mut inflated = inflate(&compressed)?;
    let header_end = memchr::memchr(0, &inflated)?;
    let size: usize = std::str::from_utf8(inflated[..header_end].strip_prefix(b"blob ")?)
        .ok()?
        .parse()
        .ok()?;
    let content = header_end + 1;
    (inflated.len() - content == size).then(|| inflated.split_off(content))
}

use crate::base::copytext::push_hex;

/// Inflates a whole zlib stream held in memory; `None` if it is damaged or cut short.
fn inflate(compressed: &[u8]) -> Option<Vec<u8>> {
    let mut inflater = flate2::Decompress::new(true);
    let mut out = Vec::with_capacity(compressed.len() * 4 + 64);
    loop {
        let read = usize::try_from(inflater.total_in()).ok()?;
        let before = (read, out.len());
        let status = inflater
            .decompress_vec(
                &compressed[read..],
                &mut out,
                flate2::FlushDecompress::Finish,
            )
            .ok()?;
        if status == flate2::Status::StreamEnd {
            return Some(out);
        }
        if out.len() == out.capacity() {
            out.reserve(out.capacity());
        } else if before == (usize::try_from(inflater.total_in()).ok()?, out.len()) {
            // No progress with room to write: the stream is cut short.
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_and_packed_blobs_read_as_libgit2_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init(dir.path()).unwrap();
        let texts: Vec<Vec<u8>> = (0..200)
            .map(|i| format!("prompt {i}\n").repeat(i % 7).into_bytes())
            .collect();
        let ids: Vec<git2::Oid> = texts.iter().map(|t| repo.blob(t).unwrap()).collect();
        assert_eq!(read_blobs(&repo, &ids).unwrap(), texts);
        // A damaged loose object is not taken: libgit2 reads it and says what is wrong.
        let hex = ids[3].to_string();
        let path = repo.path().join("objects").join(&hex[..2]).join(&hex[2..]);
        let mut permissions = std::fs::metadata(&path).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        permissions.set_readonly(false);
        std::fs::set_permissions(&path, permissions).unwrap();
        std::fs::write(&path, b"not zlib").unwrap();
        assert_eq!(read_loose_blob(&repo.path().join("objects"), ids[3]), None);
        assert!(read_blobs(&repo, &ids).is_err());
    }

    #[test]
    fn an_object_that_is_not_a_blob_of_its_size_is_not_taken() {
        let dir = tempfile::tempdir().unwrap();
        let objects = dir.path();
        let id = git2::Oid::hash_object(git2::ObjectType::Blob, b"x").unwrap();
        let hex = id.to_string();
        std::fs::create_dir_all(objects.join(&hex[..2])).unwrap();
        for stored in [&b"tree 1\0x"[..], b"blob 2\0x", b"blob 1\0x"] {
            let mut encoder =
                flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            std::io::Write::write_all(&mut encoder, stored).unwrap();
            std::fs::write(
                objects.join(&hex[..2]).join(&hex[2..]),
                encoder.finish().unwrap(),
            )
            .unwrap();
            let read = read_loose_blob(objects, id);
            assert_eq!(read.is_some(), stored == b"blob 1\0x", "{stored:?}");
        }
    }

    #[test]
    fn a_stream_cut_short_or_longer_than_a_first_guess_inflates_as_it_should() {
        let text = "a line that repeats\n".repeat(2000);
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut encoder, text.as_bytes()).unwrap();
        let compressed = encoder.finish().unwrap();
        assert!(
            text.len() > compressed.len() * 4 + 64,
            "more than the first guess"
        );
        assert_eq!(inflate(&compressed).unwrap(), text.as_bytes());
        assert_eq!(inflate(&compressed[..compressed.len() / 2]), None);
        assert_eq!(inflate(b""), None);
    }
}
