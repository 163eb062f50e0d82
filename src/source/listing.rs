//! Listings: the files of a source with their git blob ids, read before any content.
//!
//! A git revision lists its prompts folder from the tree alone; blob contents are read only
//! for the files a caller selects. Comparing two listings by blob id is what lets `diff`
//! parse only the prompts that changed.

use std::collections::BTreeMap;
use std::rc::Rc;

use super::{RevisionSpec, Snapshot, SourceError};
use crate::config::ProjectConfig;

/// One file below the prompts folder.
#[derive(Debug, Clone)]
pub(super) enum FileEntry {
    /// A blob of the listing's repository.
    Blob(git2::Oid),
    /// The bytes of a file on disk.
    Bytes(Vec<u8>),
    /// A blob of the listing's repository whose bytes were read already.
    Read(git2::Oid, Vec<u8>),
    /// A symbolic link: never followed.
    Link,
}

impl FileEntry {
    /// The file a git tree or index entry of `mode` stands for: a symbolic link or a blob;
    /// nothing for a submodule, which holds no prompts of this project.
    pub fn of_mode(mode: u32, id: git2::Oid) -> Option<FileEntry> {
        match mode {
            0o120000 => Some(FileEntry::Link),
            mode if mode >> 12 == 0o10 => Some(FileEntry::Blob(id)),
            _ => None,
        }
    }

    /// The file a blob entry of a git tree stands for.
    pub fn of_tree_entry(entry: &git2::TreeEntry<'_>) -> FileEntry {
        let mode = u32::try_from(entry.filemode()).unwrap_or_default();
        FileEntry::of_mode(mode, entry.id()).unwrap_or(FileEntry::Blob(entry.id()))
    }

    /// The git blob id of the file: the id in the tree, or the hash of the bytes on disk.
    pub fn blob_id(&self) -> Option<git2::Oid> {
        match self {
            FileEntry::Blob(id) | FileEntry::Read(id, _) => Some(*id),
            FileEntry::Bytes(bytes) => git2::Oid::hash_object(git2::ObjectType::Blob, bytes).ok(),
            FileEntry::Link => None,
        }
    }

    /// The git blob id of the file when it is known without hashing its bytes.
    pub fn known_id(&self) -> Option<git2::Oid> {
        match self {
            FileEntry::Blob(id) | FileEntry::Read(id, _) => Some(*id),
            FileEntry::Bytes(_) | FileEntry::Link => None,
        }
    }
}

/// The prompt and partial files of one source, by path relative to the prompts folder.
pub(super) struct Listing {
    pub spec: RevisionSpec,
    pub commit: Option<String>,
    pub config: ProjectConfig,
    pub files: BTreeMap<String, FileEntry>,
    /// Folders (relative, ending in `/`) whose files are not listed, because they are the
    /// same tree on the other side of a comparison: a file in one is listed only when a
    /// caller looks it up (a partial a changed prompt names) or lists their partials.
    pub shared: Vec<(String, git2::Oid)>,
    /// Whether every partial of the `shared` folders is listed.
    pub shared_partials_listed: bool,
    /// The repository blobs are read from (git revisions only).
    pub repo: Option<Rc<git2::Repository>>,
}

impl Listing {
    pub fn new(spec: RevisionSpec, config: ProjectConfig) -> Self {
        Listing {
            spec,
            commit: None,
            config,
            files: BTreeMap::new(),
            shared: Vec::new(),
            shared_partials_listed: false,
            repo: None,
        }
    }

    /// Returns the git blob id of a file: the id in the tree, or the hash of the bytes on
    /// disk, so that a working tree compares with a commit without reading the commit.
    pub fn blob_id(&self, relative: &str) -> Option<git2::Oid> {
        self.files.get(relative)?.blob_id()
    }

    /// Returns the bytes of a file, reading the blob when needed.
    pub fn bytes(&self, relative: &str) -> Result<Option<Vec<u8>>, SourceError> {
        match self.files.get(relative) {
            Some(FileEntry::Bytes(bytes) | FileEntry::Read(_, bytes)) => Ok(Some(bytes.clone())),
            Some(FileEntry::Blob(id)) => {
                let repo = self
                    .repo
                    .as_ref()
                    .ok_or_else(|| SourceError::NoRepository {
                        relative: relative.to_owned(),
                    })?;
                Ok(Some(repo.find_blob(*id)?.content().to_vec()))
            }
            Some(FileEntry::Link) | None => Ok(None),
        }
    }

    /// Returns the bytes of many files, reading their blobs together (`gitio/loose.rs`).
    pub fn read_files(&self, files: &[&str]) -> Result<Vec<Option<Vec<u8>>>, SourceError> {
        let blobs: Vec<git2::Oid> = files
            .iter()
            .filter_map(|file| match self.files.get(*file) {
                Some(FileEntry::Blob(id)) => Some(*id),
                _ => None,
            })
            .collect();
        let mut read = match (&self.repo, blobs.is_empty()) {
            (_, true) => Vec::new(),
            (Some(repo), false) => crate::gitio::loose::read_blobs(repo, &blobs)?,
            (None, false) => {
                return Err(SourceError::NoRepository {
                    relative: files.first().map_or_else(String::new, |f| (*f).to_owned()),
                });
            }
        }
        .into_iter();
        Ok(files
            .iter()
            .map(|file| match self.files.get(*file) {
                Some(FileEntry::Blob(_)) => read.next(),
                Some(FileEntry::Bytes(bytes) | FileEntry::Read(_, bytes)) => Some(bytes.clone()),
                Some(FileEntry::Link) | None => None,
            })
            .collect())
    }

    /// Keeps bytes already read for a file, so that a snapshot does not read its blob again.
    pub fn keep_bytes(&mut self, relative: &str, bytes: Vec<u8>) {
        if let Some(entry) = self.files.get_mut(relative)
            && let FileEntry::Blob(id) = *entry
        {
            *entry = FileEntry::Read(id, bytes);
        }
    }

    /// Reads the selected files into a snapshot.
    pub fn snapshot(&self, mut select: impl FnMut(&str) -> bool) -> Result<Snapshot, SourceError> {
        let mut snapshot = Snapshot::new(self.spec.clone(), self.config.clone());
        snapshot.commit = self.commit.clone();
        let selected: Vec<&str> = self
            .files
            .keys()
            .map(String::as_str)
            .filter(|relative| select(relative))
            .collect();
        let contents = self.read_files(&selected)?;
        for (relative, bytes) in selected.into_iter().zip(contents) {
            match (&self.files[relative], bytes) {
                (FileEntry::Link, _) => snapshot.add_link(relative),
                (entry, Some(bytes)) => snapshot.add_file(relative, bytes, entry.known_id()),
                (_, None) => {}
            }
        }
        Ok(snapshot)
    }
}
