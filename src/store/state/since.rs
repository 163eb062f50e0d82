//! Reading a `state.toml` that differs from a known one in a few prompts: the sections that
//! are byte-for-byte those of the known text keep their parsed pointers, and only the others
//! are parsed. A server following a 10,000-prompt environment reads each new state in time
//! proportional to what the action changed.
//!
//! The result is always what [`State::parse`] would give: it is used only when the state it
//! assembles writes back to exactly the text read (so the text is in the canonical layout,
//! which reads back to that same state); anything else, errors included, is parsed whole.

use std::collections::HashMap;

use super::{PromptState, State, StateError};
use crate::prompt::PromptName;

/// A `state.toml` cut at its prompt tables: the text before the first, and each prompt's
/// tables (`[prompts."NAME"]` and its `[prompts."NAME".rollout]` or `.experiment]`) by name.
struct Sections<'a> {
    head: &'a str,
    prompts: Vec<(&'a str, &'a str)>,
}

/// Cuts a text in the canonical layout; `None` for any other layout.
fn sections(text: &str) -> Option<Sections<'_>> {
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
        }
        offset += line.len();
    }
    let head = &text[..starts.first().map_or(text.len(), |(at, _)| *at)];
    let prompts = starts
        .iter()
        .enumerate()
        .map(|(i, (at, name))| {
            let end = starts.get(i + 1).map_or(text.len(), |(next, _)| *next);
            (*name, &text[*at..end])
        })
        .collect();
    Some(Sections { head, prompts })
}

impl State {
    /// Parses `text`, reusing the prompts of `previous` (a state and the text it was read
    /// from) whose tables did not change. Gives exactly what [`State::parse`] gives.
    pub fn parse_since(
        shown: &str,
        text: &str,
        previous: Option<(&str, &State)>,
    ) -> Result<State, StateError> {
        match previous.and_then(|(old_text, old)| reuse(shown, text, old_text, old)) {
            Some(state) => Ok(state),
            None => State::parse(shown, text),
        }
    }
}

/// Assembles the state of `text` from the unchanged prompts of `old` and the changed ones
/// parsed alone; `None` when that is not certain to equal a whole parse.
fn reuse(shown: &str, text: &str, old_text: &str, old: &State) -> Option<State> {
    let new = sections(text)?;
    let before = sections(old_text)?;
    if new.head != before.head {
        return None;
    }
    let unchanged: HashMap<&str, &str> = before.prompts.into_iter().collect();
    let mut state = State::default();
    for (name, section) in new.prompts {
        let pointers = if unchanged.get(name) == Some(&section) {
            old.prompts.get(name)?.clone()
        } else {
            parse_one(shown, new.head, name, section)?
        };
        state
            .prompts
            .insert(PromptName::parse(name).ok()?, pointers);
    }
    (state.to_toml() == text).then_some(state)
}

/// Parses one prompt's tables under the file's head (its `format`).
fn parse_one(shown: &str, head: &str, name: &str, section: &str) -> Option<PromptState> {
    let alone = State::parse(shown, &format!("{head}{section}")).ok()?;
    alone
        .prompts
        .into_iter()
        .find(|(n, _)| n.as_str() == name)
        .map(|(_, p)| p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::state::tests::{sample, v, with_rollout};

    #[test]
    fn a_changed_prompt_is_parsed_and_the_others_are_kept() {
        let old = with_rollout();
        let old_text = old.to_toml();
        let mut new = old.clone();
        let name = PromptName::parse("docs/summarize").unwrap();
        new.prompts.get_mut(&name).unwrap().set_active(v('e'));
        let text = new.to_toml();
        let parsed = State::parse_since("state.toml", &text, Some((&old_text, &old))).unwrap();
        assert_eq!(parsed, new);
        assert!(reuse("state.toml", &text, &old_text, &old).is_some());
    }

    #[test]
    fn an_experiment_is_a_section_kept_like_the_others() {
        // Seen: a state with an experiment was always parsed whole.
        let mut old = sample();
        let docs = PromptName::parse("docs/summarize").unwrap();
        old.prompts.get_mut(&docs).unwrap().experiment =
            Some(crate::store::Experiment::sample_for_tests());
        let old_text = old.to_toml();
        let mut new = old.clone();
        let triage = PromptName::parse("support/triage").unwrap();
        new.prompts.get_mut(&triage).unwrap().set_active(v('e'));
        let text = new.to_toml();
        assert!(reuse("state.toml", &text, &old_text, &old).is_some());
        let parsed = State::parse_since("state.toml", &text, Some((&old_text, &old))).unwrap();
        assert_eq!(parsed, new);
    }

    #[test]
    fn added_and_removed_prompts_and_a_new_format_read_as_a_whole_parse() {
        let old = sample();
        let old_text = old.to_toml();
        for new in [with_rollout(), State::default(), {
            let mut more = sample();
            more.prompts
                .insert(PromptName::parse("zeta").unwrap(), PromptState::new(v('f')));
            more
        }] {
            let text = new.to_toml();
            let parsed = State::parse_since("state.toml", &text, Some((&old_text, &old)));
            assert_eq!(parsed.unwrap(), State::parse("state.toml", &text).unwrap());
        }
    }

    #[test]
    fn a_hand_edited_layout_or_a_broken_section_falls_back_to_the_whole_parse() {
        let old = sample();
        let old_text = old.to_toml();
        let reordered = old_text.replace("format = 1\n", "format = 1\n# edited by hand\n");
        assert!(reuse("state.toml", &reordered, &old_text, &old).is_none());
        assert_eq!(
            State::parse_since("state.toml", &reordered, Some((&old_text, &old))).unwrap(),
            old
        );
        let broken = old_text.replacen(&"d".repeat(64), "xyz", 1);
        let whole = State::parse("s", &broken).unwrap_err();
        let since = State::parse_since("s", &broken, Some((&old_text, &old))).unwrap_err();
        assert_eq!(since.to_string(), whole.to_string());
    }
}
