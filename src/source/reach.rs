//! Which prompts reach a changed partial, found by searching their text for its name.
//!
//! An include names its partial with a string literal, so a file that reaches a partial
//! contains its name. Matching names in the text can select a file that does not really
//! include the partial (a comment, say); that costs a parse, never a missed change. The
//! prompts of folders both sides share are searched once, from the tree, and only those
//! that name a changed partial are listed on both sides; what a blob's text can name is
//! kept in the mentions cache, so the prompts are not read again the next time.

use std::collections::BTreeSet;

use memchr::memmem;

use super::SourceError;
use super::git::{Walk, walk_files};
use super::listing::{FileEntry, Listing};
use super::mentions::{Mentions, answers_for};

/// Adds to `prompts` every prompt file that names one of the `changed` partials, or a
/// partial reaching one, on the new side (a prompt file whose blob differs between the
/// sides is in `prompts` already).
pub(super) fn prompts_reaching(
    old: &mut Listing,
    new: &mut Listing,
    changed: Vec<String>,
    prompts: &mut BTreeSet<String>,
) -> Result<(), SourceError> {
    let touched = partials_reaching(old, new, changed)?;
    let finders: Vec<memmem::Finder> = touched.iter().map(memmem::Finder::new).collect();
    // The cache answers for names of name characters only; any other is searched in text.
    let mut mentions = match &new.repo {
        Some(repo) if touched.iter().all(|name| answers_for(name)) => {
            Some(Mentions::read(repo.path()))
        }
        _ => None,
    };
    let mut search = Search {
        finders,
        mentions: mentions.as_mut(),
        unread: Vec::new(),
        named: Vec::new(),
    };
    for (file, entry) in new.files.iter().filter(|(f, _)| f.ends_with(".toml")) {
        if prompts.contains(file) {
            continue;
        }
        match entry {
            FileEntry::Blob(id) => search.blob(file.clone(), *id, false),
            FileEntry::Bytes(bytes) | FileEntry::Read(_, bytes)
                if names_any(bytes, &search.finders) =>
            {
                search.named.push(Named::Listed(file.clone(), None));
            }
            FileEntry::Bytes(_) | FileEntry::Read(..) | FileEntry::Link => {}
        }
    }
    if let Some(repo) = new.repo.clone() {
        for (prefix, id) in &new.shared {
            let tree = repo.find_tree(*id)?;
            walk_files(
                &repo,
                &tree,
                prefix,
                Walk::PromptsOnly,
                &mut |file, entry| {
                    if let FileEntry::Blob(id) = entry {
                        search.blob(file, id, true);
                    }
                },
            )?;
        }
        search.read_unread(&repo)?;
    }
    for named in search.named {
        match named {
            Named::Listed(file, bytes) => {
                if let Some(bytes) = bytes.or_else(|| new.bytes(&file).ok().flatten()) {
                    // Both sides are parsed: keep the bytes for the side whose file is the
                    // same blob too (a prompt reached through a partial).
                    if old.blob_id(&file) == new.blob_id(&file) {
                        old.keep_bytes(&file, bytes.clone());
                    }
                    new.keep_bytes(&file, bytes);
                }
                prompts.insert(file);
            }
            Named::Shared(file, entry) => {
                old.files.insert(file.clone(), entry.clone());
                new.files.insert(file.clone(), entry);
                prompts.insert(file);
            }
        }
    }
    if let Some(mentions) = mentions {
        mentions.save();
    }
    Ok(())
}

/// The search of the prompt files for the names of the touched partials.
struct Search<'a> {
    finders: Vec<memmem::Finder<'a>>,
    mentions: Option<&'a mut Mentions>,
    /// Blobs the cache does not know: path, id, and whether it is in a shared folder.
    unread: Vec<(String, git2::Oid, bool)>,
    named: Vec<Named>,
}

/// A prompt file found to name a touched partial.
enum Named {
    /// Listed on the new side, with its bytes when they were read.
    Listed(String, Option<Vec<u8>>),
    /// In a folder both sides share: the same file on both, listed on neither yet.
    Shared(String, FileEntry),
}

impl Search<'_> {
    fn blob(&mut self, file: String, id: git2::Oid, shared: bool) {
        let runs = self.mentions.as_deref_mut().and_then(|m| m.runs(id));
        match runs {
            Some(runs) if names_any(runs.as_bytes(), &self.finders) => {
                self.named.push(match shared {
                    true => Named::Shared(file, FileEntry::Blob(id)),
                    false => Named::Listed(file, None),
                });
            }
            Some(_) => {}
            None => self.unread.push((file, id, shared)),
        }
    }

    /// Reads the blobs the cache did not know, together, and searches them.
    fn read_unread(&mut self, repo: &git2::Repository) -> Result<(), SourceError> {
        let ids: Vec<git2::Oid> = self.unread.iter().map(|(_, id, _)| *id).collect();
        let contents = crate::gitio::loose::read_blobs(repo, &ids)?;
        for ((file, id, shared), bytes) in
            std::mem::take(&mut self.unread).into_iter().zip(contents)
        {
            if let Some(mentions) = self.mentions.as_deref_mut() {
                mentions.add(id, &bytes);
            }
            if names_any(&bytes, &self.finders) {
                self.named.push(match shared {
                    true => Named::Shared(file, FileEntry::Read(id, bytes)),
                    false => Named::Listed(file, Some(bytes)),
                });
            }
        }
        Ok(())
    }
}

/// Returns the changed partials and every partial, on either side, that names one of them,
/// directly or through other partials. The partials read are kept in the listings.
fn partials_reaching(
    old: &mut Listing,
    new: &mut Listing,
    changed: Vec<String>,
) -> Result<Vec<String>, SourceError> {
    let mut texts = Vec::new();
    for listing in [old, new] {
        let files: Vec<String> = listing
            .files
            .keys()
            .filter(|f| f.ends_with(".j2"))
            .cloned()
            .collect();
        let contents = listing.read_files(&files.iter().map(String::as_str).collect::<Vec<_>>())?;
        for (file, bytes) in files.into_iter().zip(contents) {
            if let Some(bytes) = bytes {
                listing.keep_bytes(&file, bytes.clone());
                texts.push((file, bytes));
            }
        }
    }
    let mut touched = changed;
    loop {
        let before = touched.len();
        for (file, bytes) in &texts {
            if !touched.contains(file)
                && touched
                    .iter()
                    .any(|name| memmem::find(bytes, name.as_bytes()).is_some())
            {
                touched.push(file.clone());
            }
        }
        if touched.len() == before {
            return Ok(touched);
        }
    }
}

fn names_any(text: &[u8], names: &[memmem::Finder]) -> bool {
    names.iter().any(|name| name.find(text).is_some())
}
