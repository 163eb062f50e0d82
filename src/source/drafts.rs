//! The draft cache: each prompt file read and checked on its own ([`PromptDraft`]), kept
//! beside the repository (`.git/promptctl-drafts`), so that loading or comparing a large
//! source parses only the prompt files it has not seen. A draft is finished against the
//! partials of the source it is loaded from every time: partials are not part of its key,
//! and a partial's edit costs no parse.
//!
//! The key of a draft is the SHA-256 of the project's prompt defaults, the prompts folder,
//! the file's path and its blob id (the build is in the cache's first line). A file that
//! does not parse is never cached. Schemas are lines of their own, keyed by the SHA-256
//! of their text: the prompts that write the same schema keep one line of it, and a load
//! reads each once.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::base::linecache::LineCache;
use crate::config::ProjectConfig;
use crate::prompt::{Prompt, PromptDefaults, PromptDraft, PromptError, PromptName, SchemaKey};

/// The cache file, in the git folder.
pub const DRAFT_CACHE: &str = "promptctl-drafts";

/// The cache's kind and format in its first line ([`crate::base::cachefile`]).
const KIND: &str = "drafts";
const FORMAT: u32 = 2;

/// Most entries the cache keeps; past it, entries not used by the last load are dropped.
const CACHE_ENTRIES: usize = 50_000;

/// The draft cache of one repository, shared by the threads of one load.
pub(super) struct DraftCache {
    path: PathBuf,
    lines: LineCache,
    /// The schemas read back in this load, by key: one copy of each.
    schemas: Mutex<HashMap<SchemaKey, Arc<Value>>>,
    /// The key of each schema this load kept, by address: prompts that write the same
    /// schema hold one `Arc` of it, which is written and hashed once, not once a prompt.
    /// The `Arc` is held so that its address names no other schema while the cache lives.
    keyed: Mutex<HashMap<usize, (Arc<Value>, SchemaKey)>>,
    new: Mutex<NewLines>,
}

/// The lines a load adds: how many, their text, and the schemas among them or known.
#[derive(Default)]
struct NewLines {
    count: usize,
    text: String,
    schemas: HashSet<SchemaKey>,
}

impl NewLines {
    fn push(&mut self, key: &str, value: &str) {
        self.count += 1;
        self.text.push_str(key);
        self.text.push('\t');
        self.text.push_str(value);
        self.text.push('\n');
    }
}

impl DraftCache {
    /// The cache of the repository whose git folder is `git_dir`.
    pub fn open(git_dir: &std::path::Path) -> DraftCache {
        let path = git_dir.join(DRAFT_CACHE);
        DraftCache {
            lines: LineCache::read(&path, KIND, FORMAT),
            path,
            schemas: Mutex::default(),
            keyed: Mutex::default(),
            new: Mutex::default(),
        }
    }

    /// The draft of the prompt file `relative` (blob `id`) read with `settings`, when the
    /// cache has it.
    pub fn get(&self, settings: &Sha256, name: &PromptName, id: git2::Oid) -> Option<PromptDraft> {
        let found = self
            .lines
            .find(&file_key(settings, &name.file_path(), id))?;
        let line = self.lines.value(found);
        let draft = PromptDraft::decode(name.clone(), line, |key| self.schema(key));
        self.lines.mark(found, draft.is_some());
        draft
    }

    /// The schema kept as `key`, read once per load.
    fn schema(&self, key: &str) -> Option<Arc<Value>> {
        if let Some(schema) = lock(&self.schemas).get(key) {
            return Some(Arc::clone(schema));
        }
        let read = |text: &str| serde_json::from_str(text).ok().map(Arc::new);
        let schema = self.lines.take(key, read)?;
        let mut schemas = lock(&self.schemas);
        Some(Arc::clone(schemas.entry(key.to_owned()).or_insert(schema)))
    }

    /// Keeps a draft just parsed, and each schema it holds unless the cache has it.
    fn put(&self, settings: &Sha256, id: git2::Oid, draft: &PromptDraft) {
        let mut schemas = Vec::new();
        let line = draft.encode(|schema| {
            let address = Arc::as_ptr(schema) as usize;
            if let Some((_, key)) = lock(&self.keyed).get(&address) {
                return Some(key.clone());
            }
            let text = serde_json::to_string(&**schema).ok()?;
            let key = schema_key(&text);
            schemas.push((Arc::clone(schema), key.clone(), text));
            Some(key)
        });
        let Some(line) = line else { return };
        let key = file_key(settings, &draft.name().file_path(), id);
        let mut new = lock(&self.new);
        for (schema, key, text) in schemas {
            lock(&self.keyed).insert(Arc::as_ptr(&schema) as usize, (schema, key.clone()));
            if new.schemas.contains(&key) {
                continue;
            }
            match self.lines.find(&key) {
                // Kept however full the cache is: drafts refer to it.
                Some(found) if self.lines.value(found) == text => self.lines.mark(found, true),
                found => {
                    // A line of this key that is not this text is damaged: it goes.
                    if let Some(found) = found {
                        self.lines.mark(found, false);
                    }
                    new.push(&key, &text);
                }
            }
            new.schemas.insert(key);
        }
        new.push(&key, &line);
    }

    /// Writes the cache back when something was added or dropped; a failure only costs the
    /// next load its speed.
    pub fn save(self) {
        let new = self.new.into_inner().unwrap_or_else(|e| e.into_inner());
        if new.count > 0 || self.lines.dropped_any() {
            let lines = self.lines;
            lines.write(
                &self.path,
                KIND,
                FORMAT,
                CACHE_ENTRIES,
                (new.count, &new.text),
            );
        }
    }
}

/// The key of a schema kept as `text`: the SHA-256 of the text after a tag. JSON text holds
/// no NUL byte, so no file key ([`file_key`]) hashes the same bytes.
fn schema_key(text: &str) -> SchemaKey {
    let mut hasher = Sha256::new();
    hasher.update(b"schema\0");
    hasher.update(text);
    let mut hex = String::with_capacity(64);
    crate::base::copytext::push_hex(&mut hex, &hasher.finalize());
    hex
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The draft of the prompt file `text` of `name` (shown as `path`) read with `defaults`
/// (whose key is `settings`): from the cache (unless `look_up` is false: the caller looked
/// it up already and missed), or parsed and kept in it. `blob` is the text's git blob id
/// when it was read from git; a file read from disk is hashed for its key.
pub(super) fn draft(
    cache: Option<&DraftCache>,
    (settings, defaults): (&Sha256, &PromptDefaults),
    (name, path): (&PromptName, &str),
    (text, blob): (&str, Option<git2::Oid>),
    look_up: bool,
) -> Result<PromptDraft, PromptError> {
    let parse = || Prompt::draft(name.clone(), path, text, defaults);
    let Some(cache) = cache else {
        return parse();
    };
    let id = match blob {
        Some(id) => id,
        None => match git2::Oid::hash_object(git2::ObjectType::Blob, text.as_bytes()) {
            Ok(id) => id,
            Err(_) => return parse(),
        },
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

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "provider = \"offline\"\nmodel = \"m\"\n\n[[messages]]\nrole = \"user\"\ncontent = \"hi\"\n";

    /// A file read from git objects is keyed by the blob id it was read by, not hashed
    /// again (a cold `diff` hashed every file it parsed); one read from disk is hashed.
    #[test]
    fn a_file_from_git_is_keyed_by_its_blob_id_and_one_from_disk_by_its_hash() {
        let dir = tempfile::tempdir().unwrap();
        let config = ProjectConfig::default();
        let settings = settings_key(&config);
        let defaults = config.prompt_defaults();
        let name = PromptName::parse("a/b").unwrap();
        let file = (&name, "prompts/a/b.toml");
        let hashed = git2::Oid::hash_object(git2::ObjectType::Blob, FILE.as_bytes()).unwrap();
        // An id no text hashes to: only trusting the id given can key the draft by it.
        let given = git2::Oid::from_bytes(&[7; 20]).unwrap();

        let cache = DraftCache::open(dir.path());
        draft(
            Some(&cache),
            (&settings, &defaults),
            file,
            (FILE, Some(given)),
            true,
        )
        .unwrap();
        cache.save();
        let cache = DraftCache::open(dir.path());
        assert!(cache.get(&settings, &name, given).is_some());
        assert!(cache.get(&settings, &name, hashed).is_none());

        draft(
            Some(&cache),
            (&settings, &defaults),
            file,
            (FILE, None),
            true,
        )
        .unwrap();
        cache.save();
        let cache = DraftCache::open(dir.path());
        assert!(cache.get(&settings, &name, hashed).is_some());
    }
}
