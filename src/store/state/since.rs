//! Reading a `state.toml` that differs from a known one in a few prompts. The two texts
//! are compared from both ends; only the prompt sections between the first and the last
//! byte that differ are parsed, and every other prompt keeps its parsed pointers. A server
//! following a 10,000-prompt environment reads each new state in time proportional to what
//! the action changed, without writing the state back whole to check it.
//!
//! The result is always what [`State::parse`] would give. The known text must be in the
//! canonical layout (what [`State::to_toml`] writes); the sections parsed must write back to
//! exactly their text, their names must keep the order, and the `format` line must be the
//! one the new state needs, so the new text is canonical too and reads back to the state
//! assembled. Anything else, errors included, is parsed whole.

use super::file::write_section;
use super::{PromptState, State, StateError};
use crate::prompt::PromptName;

/// A state read from its text, and whether the text is in the canonical layout: only then
/// can the next read reuse its unchanged sections.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadState {
    pub state: State,
    pub canonical: bool,
}

impl State {
    /// Parses `text`, reusing the prompts of `previous` (a state and the text it was read
    /// from) whose sections did not change. Gives exactly what [`State::parse`] gives.
    pub fn parse_since(
        shown: &str,
        text: &str,
        previous: Option<(&str, &ReadState)>,
    ) -> Result<ReadState, StateError> {
        let known = previous.filter(|(_, old)| old.canonical);
        if let Some(state) =
            known.and_then(|(old_text, old)| reuse(shown, text, old_text, &old.state))
        {
            return Ok(ReadState {
                state,
                canonical: true,
            });
        }
        let state = State::parse(shown, text)?;
        let canonical = state.to_toml() == text;
        Ok(ReadState { state, canonical })
    }
}

/// What starts every line of a prompt's table header, after its line break.
const HEADER: &[u8] = b"\n[prompts.\"";

/// Assembles the state of `text` from `old` (read from the canonical `old_text`) and the
/// sections that differ, parsed alone; `None` when that is not certain to equal a whole
/// parse.
fn reuse(shown: &str, text: &str, old_text: &str, old: &State) -> Option<State> {
    let (new, before) = (text.as_bytes(), old_text.as_bytes());
    if new == before {
        return Some(old.clone());
    }
    let prefix = common_prefix(new, before);
    let suffix = common_suffix(&new[prefix..], &before[prefix..]);
    let first = main_header_after(new, 0)?;
    let start = main_header_before(new, prefix).filter(|at| *at >= first)?;
    let new_end = main_header_after(new, new.len() - suffix).unwrap_or(new.len());
    let old_end = before.len() - (new.len() - new_end);
    if old_end < before.len() && (old_end < start || before[old_end - 1] != b'\n') {
        return None;
    }
    let head = &text[..first];
    let changed = sections(text.get(start..new_end)?)?;
    let gone = sections(old_text.get(start..old_end)?)?;
    let mut state = old.clone();
    for (name, _) in &gone {
        state.prompts.remove(&PromptName::parse(name).ok()?)?;
    }
    let next = match new_end < new.len() {
        true => Some(PromptName::parse(header_name(&text[new_end..])?).ok()?),
        false => None,
    };
    let mut last = match &next {
        Some(next) => state.prompts.range::<PromptName, _>(..next).next_back(),
        None => state.prompts.iter().next_back(),
    }
    .map(|(name, _)| name.clone());
    let ends_text = new_end == new.len();
    let count = changed.len();
    for (i, (name, section)) in changed.into_iter().enumerate() {
        let name = PromptName::parse(name).ok()?;
        if last.as_ref().is_some_and(|last| *last >= name) {
            return None;
        }
        let pointers = parse_one(shown, head, name.as_str(), section)?;
        let mut written = String::with_capacity(section.len());
        write_section(&mut written, &name, &pointers);
        if !(ends_text && i + 1 == count) {
            written.push('\n');
        }
        if written != section {
            return None;
        }
        state.prompts.insert(name.clone(), pointers);
        last = Some(name);
    }
    if next.is_some_and(|next| last.is_some_and(|last| last >= next)) {
        return None;
    }
    (head == format!("format = {}\n\n", state.format_needed())).then_some(state)
}

/// The length of the longest common beginning, compared a page at a time.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut at = 0;
    while at + 4096 <= n && a[at..at + 4096] == b[at..at + 4096] {
        at += 4096;
    }
    while at < n && a[at] == b[at] {
        at += 1;
    }
    at
}

/// The length of the longest common end, compared a page at a time.
fn common_suffix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let (mut ia, mut ib, mut len) = (a.len(), b.len(), 0);
    while len + 4096 <= n && a[ia - 4096..ia] == b[ib - 4096..ib] {
        (ia, ib, len) = (ia - 4096, ib - 4096, len + 4096);
    }
    while len < n && a[ia - 1] == b[ib - 1] {
        (ia, ib, len) = (ia - 1, ib - 1, len + 1);
    }
    len
}

/// Where the last prompt's main table header (`[prompts."NAME"]`, not a rollout or
/// experiment table) starting at or before `at` begins.
fn main_header_before(text: &[u8], at: usize) -> Option<usize> {
    let mut limit = (at + HEADER.len() - 1).min(text.len());
    loop {
        let found = memchr::memmem::rfind(&text[..limit], HEADER)?;
        if is_main_header(&text[found + 1..]) {
            return Some(found + 1);
        }
        limit = found + HEADER.len() - 1;
    }
}

/// Where the first prompt's main table header starting at or after `at` begins.
fn main_header_after(text: &[u8], at: usize) -> Option<usize> {
    let mut from = at.saturating_sub(1);
    loop {
        let found = from + memchr::memmem::find(&text[from..], HEADER)?;
        if is_main_header(&text[found + 1..]) {
            return Some(found + 1);
        }
        from = found + 1;
    }
}

/// Whether a line is `[prompts."NAME"]`.
fn is_main_header(line: &[u8]) -> bool {
    let line = line.split(|b| *b == b'\n').next().unwrap_or_default();
    std::str::from_utf8(line).is_ok_and(|line| header_name(line).is_some())
}

/// The name of the `[prompts."NAME"]` header that `text` starts with.
fn header_name(text: &str) -> Option<&str> {
    let line = text.split('\n').next()?;
    let name = line.strip_prefix("[prompts.\"")?.strip_suffix("\"]")?;
    (!name.contains('"')).then_some(name)
}

/// Cuts text that starts with a prompt's main table header into each prompt's tables
/// (`[prompts."NAME"]` and its `[prompts."NAME".rollout]` or `.experiment]`), by name;
/// `None` for any other layout.
fn sections(text: &str) -> Option<Vec<(&str, &str)>> {
    let mut starts = Vec::new();
    let mut offset = 0;
    let mut current: Option<&str> = None;
    for line in text.split_inclusive('\n') {
        if line.starts_with('[') {
            let name = line.strip_prefix("[prompts.\"")?.split('"').next()?;
            let rest = &line["[prompts.\"".len() + name.len() + 1..];
            match rest.trim_end() {
                "]" => {
                    starts.push((offset, name));
                    current = Some(name);
                }
                ".rollout]" | ".experiment]" if current == Some(name) => {}
                _ => return None,
            }
        } else if current.is_none() && !line.trim().is_empty() {
            return None;
        }
        offset += line.len();
    }
    let sections = starts
        .iter()
        .enumerate()
        .map(|(i, (at, name))| {
            let end = starts.get(i + 1).map_or(text.len(), |(next, _)| *next);
            (*name, &text[*at..end])
        })
        .collect();
    Some(sections)
}

/// Parses one prompt's tables under the file's head (its `format`).
fn parse_one(shown: &str, head: &str, name: &str, section: &str) -> Option<PromptState> {
    let alone = State::parse(shown, &format!("{head}{section}")).ok()?;
    let mut prompts = alone.prompts.into_iter();
    match (prompts.next(), prompts.next()) {
        (Some((n, pointers)), None) if n.as_str() == name => Some(pointers),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::state::tests::{sample, v, with_rollout};

    fn read_canonical(state: &State) -> (String, ReadState) {
        let text = state.to_toml();
        let read = State::parse_since("state.toml", &text, None).unwrap();
        assert!(read.canonical);
        (text, read)
    }

    /// Reads `new` after `old`, checks it equals a whole parse and says whether the
    /// sections were reused.
    fn reused_after(old: &State, new: &State) -> bool {
        let (old_text, known) = read_canonical(old);
        let text = new.to_toml();
        let since = State::parse_since("state.toml", &text, Some((&old_text, &known))).unwrap();
        assert_eq!(since.state, State::parse("state.toml", &text).unwrap());
        assert!(since.canonical);
        reuse("state.toml", &text, &old_text, old).is_some()
    }

    fn name(text: &str) -> PromptName {
        PromptName::parse(text).unwrap()
    }

    /// Forty prompts, some with a canary, a rollout or previous versions.
    fn many() -> State {
        let mut state = with_rollout();
        for i in 0..40 {
            let mut pointers = PromptState::new(v(['a', 'b', 'c', 'd', 'e', 'f'][i % 6]));
            if i % 3 == 0 {
                pointers.set_active(v('e'));
            }
            if i % 7 == 0 {
                pointers.canary = Some(crate::store::Canary::weighted(
                    v('7'),
                    crate::store::Weight::from_hundredths(500).unwrap(),
                ));
            }
            state
                .prompts
                .insert(name(&format!("team{:02}/p{i:03}", i % 5)), pointers);
        }
        state
    }

    #[test]
    fn a_changed_prompt_anywhere_is_parsed_and_the_others_are_kept() {
        let old = many();
        let names: Vec<PromptName> = old.prompts.keys().cloned().collect();
        for at in [0, 1, names.len() / 2, names.len() - 2, names.len() - 1] {
            let mut new = old.clone();
            new.prompts.get_mut(&names[at]).unwrap().set_active(v('9'));
            assert!(reused_after(&old, &new), "the change at {}", names[at]);
        }
    }

    #[test]
    fn added_and_removed_prompts_and_a_new_canary_are_read_from_their_sections() {
        let old = many();
        let mut added = old.clone();
        added
            .prompts
            .insert(name("team02/p0205"), PromptState::new(v('1')));
        added
            .prompts
            .insert(name("zzz/last"), PromptState::new(v('2')));
        let mut removed = old.clone();
        let first = removed.prompts.keys().next().unwrap().clone();
        removed.prompts.remove(&first);
        removed.prompts.remove(&name("team03/p013"));
        let mut canary = old.clone();
        canary.prompts.get_mut(&name("team04/p004")).unwrap().canary =
            Some(crate::store::Canary::weighted(
                v('3'),
                crate::store::Weight::from_hundredths(1000).unwrap(),
            ));
        for new in [added, removed, canary] {
            assert!(reused_after(&old, &new));
        }
    }

    #[test]
    fn an_experiment_is_a_section_kept_like_the_others() {
        // Seen: a state with an experiment was always parsed whole.
        let mut old = sample();
        let docs = name("docs/summarize");
        old.prompts.get_mut(&docs).unwrap().experiment =
            Some(crate::store::Experiment::sample_for_tests());
        let mut new = old.clone();
        new.prompts
            .get_mut(&name("support/triage"))
            .unwrap()
            .set_active(v('e'));
        assert!(reused_after(&old, &new));
    }

    #[test]
    fn a_state_that_needs_a_new_format_is_read_whole_and_alike() {
        // Adding the first experiment changes the `format` line: the head differs.
        let old = many();
        let mut new = old.clone();
        new.prompts
            .get_mut(&name("team01/p001"))
            .unwrap()
            .experiment = Some(crate::store::Experiment::sample_for_tests());
        assert_ne!(old.format_needed(), new.format_needed());
        assert!(!reused_after(&old, &new));
        assert!(!reused_after(&new, &old));
        for new in [State::default(), sample()] {
            reused_after(&old, &new);
        }
    }

    #[test]
    fn a_hand_edited_text_is_read_whole_and_its_successor_too() {
        let old = many();
        let old_text = old.to_toml();
        let edited = old_text.replacen("\n[prompts.", "\n# edited by hand\n[prompts.", 3);
        let read = State::parse_since("state.toml", &edited, None).unwrap();
        assert_eq!(read.state, old);
        assert!(!read.canonical, "the text is not what promptctl writes");
        // The next read does not trust the edited text's sections.
        let mut new = old.clone();
        new.prompts
            .get_mut(&name("team02/p002"))
            .unwrap()
            .set_active(v('1'));
        let text = new.to_toml();
        let since = State::parse_since("state.toml", &text, Some((&edited, &read))).unwrap();
        assert_eq!(since.state, new);
        assert!(since.canonical);
        // A changed section written in another layout is parsed whole, to the same state.
        let spaced = text.replacen("active = ", "active =  ", 1);
        let known = read_canonical(&old);
        let since = State::parse_since("s", &spaced, Some((&known.0, &known.1))).unwrap();
        assert_eq!(since.state, State::parse("s", &spaced).unwrap());
        assert!(!since.canonical);
    }

    #[test]
    fn sections_out_of_order_or_repeated_are_read_whole_and_alike() {
        let old = many();
        let (old_text, known) = read_canonical(&old);
        // Two sections swapped: each is canonical, but the order is not.
        let sections =
            sections(&old_text[main_header_after(old_text.as_bytes(), 0).unwrap()..]).unwrap();
        let (a, b) = (sections[3].1, sections[4].1);
        let swapped = old_text.replacen(&format!("{a}{b}"), &format!("{b}{a}"), 1);
        assert_ne!(swapped, old_text);
        assert!(reuse("s", &swapped, &old_text, &old).is_none());
        let since = State::parse_since("s", &swapped, Some((&old_text, &known))).unwrap();
        assert_eq!(since.state, State::parse("s", &swapped).unwrap());
        // A section repeated under another prompt's name is refused as a whole parse is.
        let (name_a, name_b) = (sections[3].0, sections[4].0);
        let repeated = old_text.replacen(name_b, name_a, 1);
        let whole = State::parse("s", &repeated).map_err(|e| e.to_string());
        let since = State::parse_since("s", &repeated, Some((&old_text, &known)))
            .map(|r| r.state)
            .map_err(|e| e.to_string());
        assert_eq!(since, whole);
    }

    #[test]
    fn a_broken_section_gives_the_whole_parse_error() {
        let old = sample();
        let (old_text, known) = read_canonical(&old);
        let broken = old_text.replacen(&"d".repeat(64), "xyz", 1);
        let whole = State::parse("s", &broken).unwrap_err();
        let since = State::parse_since("s", &broken, Some((&old_text, &known))).unwrap_err();
        assert_eq!(since.to_string(), whole.to_string());
    }

    #[test]
    fn a_run_of_random_actions_reads_as_whole_parses_do() {
        let mut rng = fastrand::Rng::with_seed(33);
        let mut state = many();
        for step in 0..300 {
            let mut next = state.clone();
            let names: Vec<PromptName> = next.prompts.keys().cloned().collect();
            let pick = names[rng.usize(..names.len())].clone();
            match rng.u8(..4) {
                0 => next.prompts.get_mut(&pick).unwrap().set_active(v('5')),
                1 => {
                    next.prompts.remove(&pick);
                }
                2 => {
                    let new = name(&format!("team{:02}/n{step:03}", rng.u8(..6)));
                    next.prompts.insert(new, PromptState::new(v('6')));
                }
                _ => {
                    let pointers = next.prompts.get_mut(&pick).unwrap();
                    pointers.canary = match pointers.canary {
                        Some(_) => None,
                        None if pointers.active != v('8') => Some(crate::store::Canary::weighted(
                            v('8'),
                            crate::store::Weight::from_hundredths(2500).unwrap(),
                        )),
                        None => None,
                    };
                }
            }
            // Every action is read from its section but one that changes the `format` line.
            let same_format = state.format_needed() == next.format_needed();
            assert_eq!(reused_after(&state, &next), same_format, "step {step}");
            state = next;
        }
    }

    #[test]
    fn the_common_ends_are_found_a_page_at_a_time_and_byte_by_byte() {
        let a: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let mut b = a.clone();
        b[5_000] = 255;
        assert_eq!(common_prefix(&a, &b), 5_000);
        assert_eq!(common_suffix(&a, &b), 4_999);
        assert_eq!(common_prefix(&a, &a[..9_000]), 9_000);
        assert_eq!(common_suffix(&a[1..], &a), 9_999);
    }
}
