//! The summary cache file: one line per summary, read lazily.
//!
//! Each line is `key, name, path, version, provider, model, description, partials…`
//! separated by tabs, every field escaped as PostgreSQL's COPY text format does (`\\`, `\t`,
//! `\n`, `\r`; `\N` for a prompt without a description). Reading indexes the lines by key
//! and decodes only the ones a listing takes ([`LineCache`]): a JSON file of 2,000
//! summaries took longer to parse than the rest of `list --at HEAD` together.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::Summary;
use crate::base::copytext::{escape, unescape};
use crate::base::linecache::LineCache;
use crate::prompt::{PromptName, Version};

/// The cache file, in the git folder.
pub const SUMMARY_CACHE: &str = "promptctl-summaries";

/// The cache's kind and format in its first line ([`crate::base::cachefile`]): another
/// first line is a foreign or older cache, read as empty and replaced.
const KIND: &str = "summaries";
const FORMAT: u32 = 3;

/// The cache of earlier versions, a JSON file, removed when the new one is written.
const OLD_CACHE: &str = "promptctl-summaries.json";

/// Most entries the cache keeps; past it, entries not used by the last listing are dropped.
const CACHE_ENTRIES: usize = 50_000;

/// The cache as read, with one copy of each provider, model and list of partials decoded.
#[derive(Default)]
pub(super) struct Cache {
    lines: LineCache,
    shared: Shared,
}

/// The texts most summaries have in common, decoded once and shared, by their field text.
#[derive(Default)]
struct Shared {
    provider: Table<Arc<str>>,
    model: Table<Arc<str>>,
    partials: Table<Arc<[String]>>,
}

impl Shared {
    fn provider(&mut self, field: &str) -> Option<Arc<str>> {
        self.provider
            .get(field, |text| Some(unescape(text)?.into()))
    }

    fn model(&mut self, field: &str) -> Option<Arc<str>> {
        self.model.get(field, |text| Some(unescape(text)?.into()))
    }

    /// The partials of a line: its fields after the description, `None` when it has none.
    fn partials(&mut self, fields: Option<&str>) -> Option<Arc<[String]>> {
        self.partials
            .get(fields.unwrap_or(""), |fields| match fields {
                "" => Some(Arc::new([])),
                _ => fields.split('\t').map(unescape).collect(),
            })
    }
}

/// One kind of shared text, by its field text, with the last one asked kept apart:
/// neighbouring lines mostly repeat it, and hashing every field was a fifth of decoding.
struct Table<T> {
    last: Option<(String, T)>,
    all: HashMap<String, T>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table {
            last: None,
            all: HashMap::new(),
        }
    }
}

impl<T: Clone> Table<T> {
    fn get(&mut self, field: &str, decode: impl FnOnce(&str) -> Option<T>) -> Option<T> {
        if let Some((text, value)) = &self.last
            && text == field
        {
            return Some(value.clone());
        }
        let value = match self.all.get(field) {
            Some(value) => value.clone(),
            None => {
                let value = decode(field)?;
                self.all.insert(field.to_owned(), value.clone());
                value
            }
        };
        self.last = Some((field.to_owned(), value.clone()));
        Some(value)
    }
}

impl Cache {
    /// Reads the cache; a missing, unreadable or foreign file is an empty cache.
    pub fn read(path: &Path) -> Cache {
        Cache {
            lines: LineCache::read(path, KIND, FORMAT),
            shared: Shared::default(),
        }
    }

    /// The summary cached under a key; a line that does not decode is a miss, and dropped.
    pub fn take(&mut self, key: &str) -> Option<Summary> {
        let shared = &mut self.shared;
        self.lines.take(key, |value| decode(value, shared))
    }

    /// Writes the cache atomically with the `new` summaries; a failure only costs the next
    /// listing its speed.
    pub fn write(self, path: &Path, new: &[(String, Summary)]) {
        let mut text = String::with_capacity(new.len() * 256);
        for (key, summary) in new {
            encode(&mut text, key, summary);
        }
        self.lines
            .write(path, KIND, FORMAT, CACHE_ENTRIES, (new.len(), &text));
        if let Some(folder) = path.parent() {
            let _ = std::fs::remove_file(folder.join(OLD_CACHE));
        }
    }
}

/// Appends one summary's line.
fn encode(out: &mut String, key: &str, summary: &Summary) {
    out.push_str(key);
    for field in [
        summary.name.as_str(),
        &summary.path,
        summary.version.hex().as_str(),
        &summary.provider,
        &summary.model,
    ] {
        out.push('\t');
        escape(out, field);
    }
    out.push('\t');
    match &summary.description {
        Some(text) => escape(out, text),
        None => out.push_str("\\N"),
    }
    for partial in summary.partials.iter() {
        out.push('\t');
        escape(out, partial);
    }
    out.push('\n');
}

/// Reads one line's value (after its key) back; `None` for anything malformed.
fn decode(value: &str, shared: &mut Shared) -> Option<Summary> {
    // Six fields, then the partials (as many as there are, maybe none).
    let mut fields = value.splitn(7, '\t');
    let name = PromptName::parse(&unescape(fields.next()?)?).ok()?;
    let path = unescape(fields.next()?)?;
    let version = Version::from_hex(fields.next()?)?;
    let provider = shared.provider(fields.next()?)?;
    let model = shared.model(fields.next()?)?;
    let description = match fields.next()? {
        "\\N" => None,
        text => Some(unescape(text)?),
    };
    let partials = shared.partials(fields.next())?;
    Some(Summary {
        name,
        path,
        version,
        provider,
        model,
        description,
        partials,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(description: Option<&str>, partials: &[&str]) -> Summary {
        Summary {
            name: PromptName::parse("team/greet").unwrap(),
            path: "prompts/team/greet.j2".to_owned(),
            version: Version::from_hex(&"ab".repeat(32)).unwrap(),
            provider: "offline".into(),
            model: "m\\1".into(),
            description: description.map(str::to_owned),
            partials: partials.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    /// Writes a cache file as the cache writes them: its lines sorted by key.
    fn write_sorted(path: &Path, text: &str) {
        let (header, body) = text.split_once('\n').unwrap();
        let mut lines: Vec<&str> = body.lines().collect();
        lines.sort_unstable();
        std::fs::write(path, format!("{header}\n{}\n", lines.join("\n"))).unwrap();
    }

    fn round_trip(original: &Summary) -> Summary {
        let mut line = String::new();
        encode(&mut line, "k", original);
        let value = line.trim_end_matches('\n').strip_prefix("k\t").unwrap();
        decode(value, &mut Shared::default()).expect("decodes")
    }

    #[test]
    fn every_field_survives_tabs_newlines_and_backslashes() {
        for original in [
            summary(None, &[]),
            summary(Some(""), &["a.j2"]),
            summary(Some("tab\there\nnew\\N line\r"), &["x/a.j2", "b\tc.j2"]),
            summary(Some("\\N"), &[]),
        ] {
            assert_eq!(round_trip(&original), original);
        }
    }

    #[test]
    fn a_malformed_line_is_a_miss_and_is_dropped() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join(SUMMARY_CACHE);
        let mut text = crate::base::cachefile::start(KIND, FORMAT, 0);
        encode(&mut text, "good", &summary(None, &[]));
        text.push_str("bad\tteam/greet\tp\tnot-hex\to\tm\t\\N\n");
        text.push_str("escape\tteam/greet\tp\\q\n");
        write_sorted(&path, &text);
        let mut cache = Cache::read(&path);
        assert!(cache.take("bad").is_none());
        assert!(cache.take("escape").is_none());
        assert_eq!(cache.take("good"), Some(summary(None, &[])));
        cache.write(&path, &[]);
        let mut kept = Cache::read(&path);
        assert_eq!(kept.lines.len(), 1);
        assert_eq!(kept.take("good"), Some(summary(None, &[])));
    }

    #[test]
    fn summaries_read_together_share_their_provider_model_and_partials() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join(SUMMARY_CACHE);
        let mut text = crate::base::cachefile::start(KIND, FORMAT, 0);
        encode(&mut text, "one", &summary(Some("1"), &["a.j2", "b.j2"]));
        encode(&mut text, "two", &summary(Some("2"), &["a.j2", "b.j2"]));
        encode(&mut text, "three", &summary(Some("3"), &["a.j2"]));
        encode(&mut text, "four", &summary(Some("4"), &["a.j2", "b.j2"]));
        write_sorted(&path, &text);
        let mut cache = Cache::read(&path);
        let (one, two, three, four) = (
            cache.take("one").unwrap(),
            cache.take("two").unwrap(),
            cache.take("three").unwrap(),
            cache.take("four").unwrap(),
        );
        assert!(Arc::ptr_eq(&one.partials, &four.partials));
        assert_eq!(four, summary(Some("4"), &["a.j2", "b.j2"]));
        assert!(Arc::ptr_eq(&one.model, &two.model) && Arc::ptr_eq(&one.model, &three.model));
        assert!(Arc::ptr_eq(&one.provider, &three.provider));
        assert!(Arc::ptr_eq(&one.partials, &two.partials));
        assert_eq!(&three.partials[..], ["a.j2".to_owned()]);
        assert_eq!(two, summary(Some("2"), &["a.j2", "b.j2"]));
    }
}
