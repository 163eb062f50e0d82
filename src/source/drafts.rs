//! The draft cache: each prompt file read and checked on its own ([`PromptDraft`]), kept
//! beside the repository (`.git/promptctl-drafts`), so that loading or comparing a large
//! source parses only the prompt files it has not seen. A draft is finished against the
//! partials of the source it is loaded from every time: partials are not part of its key,
//! and a partial's edit costs no parse.
//!
//! The key of a draft is the SHA-256 of the project's prompt defaults, the prompts folder,
//! the file's path and its blob id (the build is in the cache's first line). A file that
//! does not parse, or whose draft would not read back exactly, is never cached.

use std::path::PathBuf;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::base::linecache::LineCache;
use crate::config::ProjectConfig;
use crate::prompt::{Prompt, PromptDefaults, PromptDraft, PromptError, PromptName, SchemaInterner};

/// The cache file, in the git folder.
pub const DRAFT_CACHE: &str = "promptctl-drafts";

/// The cache's kind and format in its first line ([`crate::base::cachefile`]).
const KIND: &str = "drafts";
const FORMAT: u32 = 1;

/// Most entries the cache keeps; past it, entries not used by the last load are dropped.
const CACHE_ENTRIES: usize = 50_000;

/// The draft cache of one repository, shared by the threads of one load.
pub(super) struct DraftCache {
    path: PathBuf,
    lines: LineCache,
    schemas: SchemaInterner,
    /// New lines, and how many.
    new: Mutex<(usize, String)>,
}

impl DraftCache {
    /// The cache of the repository whose git folder is `git_dir`.
    pub fn open(git_dir: &std::path::Path) -> DraftCache {
        let path = git_dir.join(DRAFT_CACHE);
        DraftCache {
            lines: LineCache::read(&path, KIND, FORMAT),
            path,
            schemas: SchemaInterner::default(),
            new: Mutex::default(),
        }
    }

    /// The draft of the prompt file `relative` (blob `id`) read with `settings`, when the
    /// cache has it.
    pub fn get(&self, settings: &Sha256, name: &PromptName, id: git2::Oid) -> Option<PromptDraft> {
        let found = self
            .lines
            .find(&file_key(settings, &name.file_path(), id))?;
        let draft = PromptDraft::decode(name.clone(), self.lines.value(found), &self.schemas);
        self.lines.mark(found, draft.is_some());
        draft
    }

    /// Keeps a draft just parsed.
    fn put(&self, settings: &Sha256, id: git2::Oid, draft: &PromptDraft) {
        let Some(line) = draft.encode() else { return };
        let key = file_key(settings, &draft.name().file_path(), id);
        let mut new = lock(&self.new);
        new.0 += 1;
        new.1.push_str(&key);
        new.1.push('\t');
        new.1.push_str(&line);
        new.1.push('\n');
    }

    /// Writes the cache back when something was added or dropped; a failure only costs the
    /// next load its speed.
    pub fn save(self) {
        let (count, text) = self.new.into_inner().unwrap_or_else(|e| e.into_inner());
        if count > 0 || self.lines.dropped_any() {
            let lines = self.lines;
            lines.write(&self.path, KIND, FORMAT, CACHE_ENTRIES, (count, &text));
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The draft of the prompt file `text` of `name` (shown as `path`) read with `defaults`
/// (whose key is `settings`): from the cache (unless `look_up` is false: the caller looked
/// it up already and missed), or parsed and kept in it.
pub(super) fn draft(
    cache: Option<&DraftCache>,
    (settings, defaults): (&Sha256, &PromptDefaults),
    (name, path): (&PromptName, &str),
    text: &str,
    look_up: bool,
) -> Result<PromptDraft, PromptError> {
    let parse = || Prompt::draft(name.clone(), path, text, defaults);
    let Some(cache) = cache else {
        return parse();
    };
    let Ok(id) = git2::Oid::hash_object(git2::ObjectType::Blob, text.as_bytes()) else {
        return parse();
    };
    if let Some(draft) = look_up.then(|| cache.get(settings, name, id)).flatten() {
        return Ok(draft);
    }
    let draft = parse()?;
    cache.put(settings, id, &draft);
    Ok(draft)
}

/// What every draft depends on besides its own file: the prompt defaults and the folder.
pub(super) fn settings_key(config: &ProjectConfig) -> Sha256 {
    let mut hasher = Sha256::new();
    // The defaults are written field by field, never through `Debug`, whose text no one
    // promises to keep.
    let defaults = config.prompt_defaults();
    hasher.update(&defaults.provider);
    hasher.update([0]);
    hasher.update(defaults.model.as_deref().map_or(&[1u8][..], str::as_bytes));
    hasher.update([0]);
    hasher.update(&config.project.prompts);
    hasher
}

/// The key of one file: `settings` (and whatever else it was given) with its path and blob.
pub(super) fn file_key(settings: &Sha256, relative: &str, id: git2::Oid) -> String {
    let mut hasher = settings.clone();
    hasher.update([1]);
    hasher.update(relative);
    hasher.update([0]);
    hasher.update(id.as_bytes());
    let mut hex = String::with_capacity(64);
    crate::base::copytext::push_hex(&mut hex, &hasher.finalize());
    hex
}
