//! What a prompt change changes: versions, fields, message templates, partials and rendered
//! messages, compared between two sources.
//!
//! [`compare`] takes the prompts of two sources (see [`crate::source::load_pair`]) and
//! returns a [`SourceDiff`]: a plain data model that the command line prints as text or
//! JSON. A prompt whose version is the same on both sides is not in it.

mod fields;
mod render;
mod text;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde::Serialize;
use similar::{Algorithm, DiffTag, capture_diff_slices};

pub use fields::{FieldChange, field_changes};
pub use render::{RenderedChange, Sample, Samples};
pub use text::{CONTEXT_LINES, Hunk, Line, LineOp, TextChange, diff_text};

use crate::prompt::{
    Compatibility, ContractChange, Prompt, PromptError, PromptSpec, Role, Version, contract_changes,
};
use crate::source::{PromptSet, SourcePair};

/// Below this share of equal lines, a removed and an added prompt are not called a rename.
const RENAME_SIMILARITY: f32 = 0.6;

/// Above this many removed × added pairs, only renames with an unchanged version are found,
/// so that a sweeping reorganisation cannot make the comparison quadratic in file size.
const RENAME_PAIRS_LIMIT: usize = 2_500;

/// The differences between two sources.
#[derive(Debug, Clone, Serialize)]
pub struct SourceDiff {
    /// The old side.
    pub from: Side,
    /// The new side.
    pub to: Side,
    /// Every prompt whose version differs, by name.
    pub prompts: Vec<PromptDiff>,
    /// Prompts (or files) that could not be read on one side, so could not be compared.
    pub broken: Vec<BrokenPrompt>,
}

/// One side of a comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    /// The revision spec, as given.
    pub spec: String,
    /// The commit, for git revisions.
    pub commit: Option<String>,
}

/// What happened to a prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Only on the new side.
    Added,
    /// Only on the old side.
    Removed,
    /// On both sides, with another version.
    Changed,
    /// Its file moved: the old name is gone and a new name holds the same or a similar
    /// prompt.
    Renamed,
}

impl Status {
    /// The status as a word.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Added => "added",
            Status::Removed => "removed",
            Status::Changed => "changed",
            Status::Renamed => "renamed",
        }
    }
}

/// How one prompt differs.
#[derive(Debug, Clone, Serialize)]
pub struct PromptDiff {
    /// The prompt's name (the new name, for a rename).
    pub name: String,
    /// The old name of a renamed prompt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renamed_from: Option<String>,
    /// What happened to it.
    pub status: Status,
    /// The old version, when there is an old side.
    pub old_version: Option<Version>,
    /// The new version, when there is a new side.
    pub new_version: Option<Version>,
    /// Provider, model, params and variables that differ.
    pub fields: Vec<FieldChange>,
    /// Message templates that differ.
    pub messages: Vec<MessageChange>,
    /// Partials the prompt reaches that differ.
    pub partials: Vec<PartialChange>,
    /// Output and tool changes, each judged under the new side's compatibility mode.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contract: Vec<JudgedChange>,
    /// The mode the contract changes were judged under (the new side's `[output]`); none
    /// when the contract did not change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compatibility: Option<Compatibility>,
    /// Rendered messages per sample, when asked for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rendered: Vec<RenderedChange>,
}

/// A contract change and whether it breaks a service under the prompt's mode.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JudgedChange {
    #[serde(flatten)]
    pub change: ContractChange,
    pub breaking: bool,
}

impl PromptDiff {
    /// The contract changes that break a service under the prompt's mode.
    pub fn breaking(&self) -> impl Iterator<Item = &JudgedChange> {
        self.contract.iter().filter(|c| c.breaking)
    }

    /// Lines added and removed over messages and partials.
    pub fn line_counts(&self) -> (usize, usize) {
        let texts = self
            .messages
            .iter()
            .map(|m| &m.text)
            .chain(self.partials.iter().map(|p| &*p.text));
        texts.fold((0, 0), |(added, removed), text| {
            (added + text.added, removed + text.removed)
        })
    }
}

/// A message that differs, paired by position after aligning equal messages.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageChange {
    /// Its index among the old messages, if it was there.
    pub old_index: Option<usize>,
    /// Its index among the new messages, if it is there.
    pub new_index: Option<usize>,
    /// Its old role.
    pub old_role: Option<Role>,
    /// Its new role.
    pub new_role: Option<Role>,
    /// The line diff of its content.
    pub text: TextChange,
}

/// A partial that differs, shown under every prompt that reaches it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartialChange {
    /// Its name below the prompts folder (`partials/tone.j2`).
    pub name: String,
    /// Added, removed or changed (as reached by this prompt).
    pub status: Status,
    /// The line diff of its text: one diff shared by every prompt that reaches the partial.
    pub text: Arc<TextChange>,
}

/// Which side of a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SideName {
    /// The base, what the change starts from.
    From,
    /// What the change leads to.
    To,
}

/// A prompt or file that one side could not read.
#[derive(Debug, Clone, Serialize)]
pub struct BrokenPrompt {
    pub side: SideName,
    /// What went wrong, with its location.
    #[serde(serialize_with = "error_text")]
    pub error: PromptError,
}

fn error_text<S: serde::Serializer>(error: &PromptError, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(error)
}

impl SourceDiff {
    /// Tells whether the sources differ in any prompt they could both read.
    pub fn has_changes(&self) -> bool {
        !self.prompts.is_empty()
    }

    /// Every breaking contract change, with its prompt.
    pub fn breaking(&self) -> impl Iterator<Item = (&PromptDiff, &JudgedChange)> {
        self.prompts
            .iter()
            .flat_map(|p| p.breaking().map(move |c| (p, c)))
    }
}

/// Compares the prompts of two sources; with `samples`, also renders each changed prompt's
/// versions with them and diffs the rendered messages.
pub fn compare(pair: &SourcePair, samples: Option<&Samples>) -> SourceDiff {
    let mut broken = Vec::new();
    let texts = PartialDiffs::default();
    let old = valid_prompts(&pair.from, SideName::From, &mut broken);
    let new = valid_prompts(&pair.to, SideName::To, &mut broken);
    let mut removed: Vec<&Prompt> = Vec::new();
    let mut added: Vec<&Prompt> = Vec::new();
    let mut prompts = Vec::new();
    let broken_names: BTreeSet<&str> = broken_prompt_names(pair);
    for (name, prompt) in &old {
        match new.get(name) {
            Some(other) if other.version == prompt.version => {}
            Some(other) => prompts.push(prompt_diff(Some(prompt), Some(other), samples, &texts)),
            None if broken_names.contains(name) => {}
            None => removed.push(prompt),
        }
    }
    for (name, prompt) in &new {
        if !old.contains_key(name) && !broken_names.contains(name) {
            added.push(prompt);
        }
    }
    for (from, to) in find_renames(&mut removed, &mut added) {
        let mut diff = prompt_diff(Some(from), Some(to), samples, &texts);
        diff.status = Status::Renamed;
        diff.renamed_from = Some(from.name.to_string());
        prompts.push(diff);
    }
    prompts.extend(
        removed
            .iter()
            .map(|p| prompt_diff(Some(p), None, samples, &texts)),
    );
    prompts.extend(
        added
            .iter()
            .map(|p| prompt_diff(None, Some(p), samples, &texts)),
    );
    prompts.sort_by(|a, b| a.name.cmp(&b.name));
    SourceDiff {
        from: side(&pair.from),
        to: side(&pair.to),
        prompts,
        broken,
    }
}

fn side(set: &PromptSet) -> Side {
    Side {
        spec: set.spec.to_string(),
        commit: set.commit.clone(),
    }
}

fn valid_prompts<'a>(
    set: &'a PromptSet,
    side: SideName,
    broken: &mut Vec<BrokenPrompt>,
) -> BTreeMap<&'a str, &'a Prompt> {
    broken.extend(set.errors().map(|error| BrokenPrompt {
        side,
        error: error.clone(),
    }));
    set.prompts().map(|p| (p.name.as_str(), p)).collect()
}

/// Names that failed to parse on either side: they are reported, not called added or removed.
fn broken_prompt_names(pair: &SourcePair) -> BTreeSet<&str> {
    [&pair.from, &pair.to]
        .into_iter()
        .flat_map(|set| set.entries())
        .filter(|(_, parsed)| parsed.is_err())
        .map(|(name, _)| name.as_str())
        .collect()
}

/// Pairs removed and added prompts that are the same prompt under a new name: the same
/// version first, then the most similar canonical text above [`RENAME_SIMILARITY`].
fn find_renames<'a>(
    removed: &mut Vec<&'a Prompt>,
    added: &mut Vec<&'a Prompt>,
) -> Vec<(&'a Prompt, &'a Prompt)> {
    let mut renames = Vec::new();
    while let Some((i, j)) = removed.iter().enumerate().find_map(|(i, r)| {
        added
            .iter()
            .position(|a| a.version == r.version)
            .map(|j| (i, j))
    }) {
        renames.push((removed.remove(i), added.remove(j)));
    }
    if removed.len() * added.len() > RENAME_PAIRS_LIMIT {
        return renames;
    }
    let mut scored = Vec::new();
    let new_texts: Vec<String> = added.iter().map(|a| template_text(a)).collect();
    for (i, r) in removed.iter().enumerate() {
        let old_text = template_text(r);
        for (j, new_text) in new_texts.iter().enumerate() {
            let ratio = similar::TextDiff::from_chars(&old_text, new_text).ratio();
            if ratio >= RENAME_SIMILARITY {
                scored.push((ratio, i, j));
            }
        }
    }
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut used_old = BTreeSet::new();
    let mut used_new = BTreeSet::new();
    for (_, i, j) in scored {
        if !used_old.contains(&i) && !used_new.contains(&j) {
            used_old.insert(i);
            used_new.insert(j);
            renames.push((removed[i], added[j]));
        }
    }
    retain_unused(removed, &used_old);
    retain_unused(added, &used_new);
    renames
}

/// The text a rename is judged on: the message templates, which is what makes a prompt
/// itself (the settings around them are shared by many prompts).
fn template_text(prompt: &Prompt) -> String {
    let contents: Vec<&str> = prompt
        .spec
        .messages
        .iter()
        .map(|m| m.content.as_str())
        .collect();
    contents.join("\n")
}

fn retain_unused<T>(items: &mut Vec<T>, used: &BTreeSet<usize>) {
    let mut index = 0;
    items.retain(|_| {
        let keep = !used.contains(&index);
        index += 1;
        keep
    });
}

/// Describes how one prompt differs; a missing side makes it added or removed.
fn prompt_diff(
    old: Option<&Prompt>,
    new: Option<&Prompt>,
    samples: Option<&Samples>,
    texts: &PartialDiffs,
) -> PromptDiff {
    let status = match (old, new) {
        (Some(_), None) => Status::Removed,
        (None, Some(_)) => Status::Added,
        _ => Status::Changed,
    };
    let name = new.or(old).map(|p| p.name.to_string()).unwrap_or_default();
    let old_spec = old.map(|p| &p.spec);
    let new_spec = new.map(|p| &p.spec);
    let rendered = samples
        .map(|samples| render::rendered_changes(old, new, &samples.for_prompt(&name)))
        .unwrap_or_default();
    let mode = new.or(old).map(|p| p.compatibility).unwrap_or_default();
    let contract = judged_changes(old_spec, new_spec, mode);
    PromptDiff {
        compatibility: (!contract.is_empty()).then_some(mode),
        contract,
        status,
        old_version: old.map(|p| p.version),
        new_version: new.map(|p| p.version),
        fields: field_changes(old_spec, new_spec),
        messages: message_changes(&template_messages(old_spec), &template_messages(new_spec)),
        partials: partial_changes(old_spec, new_spec, texts),
        rendered,
        renamed_from: None,
        name,
    }
}

/// The contract changes between two versions of a prompt, judged under `mode`; none for a
/// prompt only on one side (a service cannot resolve a prompt that is not there).
pub fn judged_changes(
    old: Option<&PromptSpec>,
    new: Option<&PromptSpec>,
    mode: Compatibility,
) -> Vec<JudgedChange> {
    let (Some(old), Some(new)) = (old, new) else {
        return Vec::new();
    };
    if old.contract == new.contract {
        return Vec::new();
    }
    contract_changes(&old.contract, &new.contract)
        .into_iter()
        .map(|change| JudgedChange {
            breaking: change.breaks(mode),
            change,
        })
        .collect()
}

fn template_messages(spec: Option<&PromptSpec>) -> Vec<(Role, &str)> {
    spec.map(|s| {
        s.messages
            .iter()
            .map(|m| (m.role, m.content.as_str()))
            .collect()
    })
    .unwrap_or_default()
}

/// Diffs two message lists: equal messages are aligned first, so that inserting a message
/// shows one added message rather than every later one changed.
pub fn message_changes(old: &[(Role, &str)], new: &[(Role, &str)]) -> Vec<MessageChange> {
    let mut changes = Vec::new();
    for op in capture_diff_slices(Algorithm::Myers, old, new) {
        let (tag, old_range, new_range) = op.as_tag_tuple();
        if tag == DiffTag::Equal {
            continue;
        }
        let pairs = old_range.len().max(new_range.len());
        for k in 0..pairs {
            let old_index = (k < old_range.len()).then(|| old_range.start + k);
            let new_index = (k < new_range.len()).then(|| new_range.start + k);
            let old_message = old_index.map(|i| old[i]);
            let new_message = new_index.map(|i| new[i]);
            changes.push(MessageChange {
                old_index,
                new_index,
                old_role: old_message.map(|m| m.0),
                new_role: new_message.map(|m| m.0),
                text: diff_text(
                    old_message.map_or("", |m| m.1),
                    new_message.map_or("", |m| m.1),
                ),
            });
        }
    }
    changes
}

/// The line diffs of partial texts, computed once per pair of texts: a partial that 500
/// prompts reach is one `Arc` shared by all of them, so its change is diffed once, not 500
/// times.
#[derive(Default)]
struct PartialDiffs(RefCell<HashMap<(*const u8, *const u8), Arc<TextChange>>>);

impl PartialDiffs {
    fn diff(&self, old: Option<&Arc<str>>, new: Option<&Arc<str>>) -> Arc<TextChange> {
        let key = (
            old.map_or(std::ptr::null(), |t| Arc::as_ptr(t) as *const u8),
            new.map_or(std::ptr::null(), |t| Arc::as_ptr(t) as *const u8),
        );
        self.0
            .borrow_mut()
            .entry(key)
            .or_insert_with(|| Arc::new(diff_text(old.map_or("", |t| t), new.map_or("", |t| t))))
            .clone()
    }
}

/// Diffs the partials two versions reach.
fn partial_changes(
    old: Option<&PromptSpec>,
    new: Option<&PromptSpec>,
    texts: &PartialDiffs,
) -> Vec<PartialChange> {
    let empty = BTreeMap::new();
    let old = old.map_or(&empty, |s| &s.partials);
    let new = new.map_or(&empty, |s| &s.partials);
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    names
        .into_iter()
        .filter_map(|name| {
            let (a, b) = (old.get(name), new.get(name));
            let status = match (a, b) {
                (Some(a), Some(b)) if a == b => return None,
                (Some(_), Some(_)) => Status::Changed,
                (Some(_), None) => Status::Removed,
                _ => Status::Added,
            };
            Some(PartialChange {
                name: name.clone(),
                status,
                text: texts.diff(a, b),
            })
        })
        .collect()
}
