//! The versions a release commit stores (`objects/<2 hex>/<62 hex>.json`) and the blob
//! each is in: read folder by folder, and only the folders whose tree changed since the
//! index of an earlier commit (a one-prompt action changes one of 256; reading all of them
//! was a fifth of a server's swap at 10,000 prompts).

use std::sync::Arc;

use super::StoreError;
use crate::prompt::Version;

/// The folder of frozen versions inside a release commit.
pub const OBJECTS_DIR: &str = "objects";

/// One `objects/` folder: its tree and its versions, sorted.
#[derive(Debug, Clone)]
struct Folder {
    tree: git2::Oid,
    versions: Arc<[(Version, git2::Oid)]>,
}

/// Every version a release commit stores, by folder.
#[derive(Debug, Clone, Default)]
pub struct ObjectIndex {
    /// Indexed by the folder's byte (`objects/3f` is 0x3f).
    folders: Vec<Option<Folder>>,
}

impl ObjectIndex {
    /// Lists `objects/` of `tree`, reading each folder whose tree `since` does not already
    /// hold.
    pub fn read(
        repo: &git2::Repository,
        tree: &git2::Tree<'_>,
        since: Option<&ObjectIndex>,
    ) -> Result<ObjectIndex, StoreError> {
        let mut index = ObjectIndex {
            folders: vec![None; 256],
        };
        let Some(objects) = tree.get_name(OBJECTS_DIR) else {
            return Ok(index);
        };
        let folders = objects.to_object(repo)?.peel_to_tree()?;
        for entry in folders.iter() {
            let (Some(byte), Some(git2::ObjectType::Tree)) = (folder_byte(&entry), entry.kind())
            else {
                continue;
            };
            let known = since
                .and_then(|since| since.folders.get(usize::from(byte))?.as_ref())
                .filter(|folder| folder.tree == entry.id());
            let folder = match known {
                Some(folder) => folder.clone(),
                None => read_folder(repo, &entry)?,
            };
            index.folders[usize::from(byte)] = Some(folder);
        }
        Ok(index)
    }

    /// The blob `version` is stored in, if the commit has it.
    pub fn get(&self, version: &Version) -> Option<git2::Oid> {
        let folder = self.folders.get(usize::from(version.folder()))?.as_ref()?;
        let at = folder
            .versions
            .binary_search_by(|(v, _)| v.cmp(version))
            .ok()?;
        Some(folder.versions[at].1)
    }

    /// Every version stored.
    pub fn versions(&self) -> impl Iterator<Item = &Version> {
        self.folders
            .iter()
            .flatten()
            .flat_map(|folder| folder.versions.iter().map(|(v, _)| v))
    }
}

/// The byte a folder's two hex digits name; `None` for another name.
fn folder_byte(entry: &git2::TreeEntry<'_>) -> Option<u8> {
    let name = entry.name().ok()?;
    (name.len() == 2)
        .then(|| u8::from_str_radix(name, 16).ok())
        .flatten()
}

fn read_folder(repo: &git2::Repository, entry: &git2::TreeEntry<'_>) -> Result<Folder, StoreError> {
    let head = entry.name().unwrap_or_default();
    let files = entry.to_object(repo)?.peel_to_tree()?;
    let mut hex = String::with_capacity(64);
    let mut versions = Vec::with_capacity(files.len());
    for file in files.iter() {
        let Some(rest) = file.name().ok().and_then(|n| n.strip_suffix(".json")) else {
            continue;
        };
        hex.clear();
        hex.push_str(head);
        hex.push_str(rest);
        if let Some(version) = Version::from_hex(&hex) {
            versions.push((version, file.id()));
        }
    }
    versions.sort_unstable_by_key(|(version, _)| *version);
    Ok(Folder {
        tree: entry.id(),
        versions: versions.into(),
    })
}
