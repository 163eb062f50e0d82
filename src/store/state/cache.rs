//! The parsed-state cache: the last release state read of an environment, kept in the git
//! folder (`promptctl-state-<env>`), so that reading the same release commit again costs
//! neither parsing `state.toml` nor checking that every version it serves is stored (each
//! about a quarter of `status` on 2,000 prompts).
//!
//! The first line names the format and this build, the second the release commit. A commit
//! never changes, and a state is cached only after it was read and checked whole, so a
//! cached state is what that commit holds. Then one line per prompt, tab-separated: `p`,
//! name, active, canary (`-` for none), canary weight in hundredths of a percent (`-`),
//! cohorts and previous versions (each comma-separated). A prompt with a rollout plan is
//! `t` and its state as canonical TOML (escaped), parsed again when read: plans are few.
//! Anything that does not decode is a miss, never an error: the state is then read whole.

use std::path::Path;

use super::{Canary, PromptState, State};
use crate::base::copytext::{escape, unescape};
use crate::prompt::{PromptName, Version};
use crate::store::bucket::Weight;

/// The cache's kind and format in its first line ([`crate::base::cachefile`]): a cache of
/// another format or build is a miss.
const KIND: &str = "state";
const FORMAT: u32 = 2;

/// The state cached for `commit`, if the file at `path` holds it and decodes.
pub(in crate::store) fn read(path: &Path, commit: git2::Oid) -> Option<State> {
    read_only(path, commit, &|_| true)
}

/// Like [`read`], with only the prompts whose name passes `keep`: the others are not
/// decoded (`status NAME` of one prompt among thousands).
pub(in crate::store) fn read_only(
    path: &Path,
    commit: git2::Oid,
    keep: &dyn Fn(&str) -> bool,
) -> Option<State> {
    let file = crate::base::cachefile::read(path, KIND, FORMAT)?;
    let mut lines = file.body().split('\n');
    if lines.next()? != commit.to_string() {
        return None;
    }
    let mut state = State::default();
    for line in lines.filter(|line| !line.is_empty()) {
        // Names never hold a tab or a backslash, so the field is the name as written.
        let listed = line
            .strip_prefix("p\t")
            .and_then(|rest| rest.split('\t').next());
        if listed.is_some_and(|name| !keep(name)) {
            continue;
        }
        let (name, prompt) = decode(line)?;
        if keep(name.as_str()) {
            state.prompts.insert(name, prompt);
        }
    }
    Some(state)
}

/// Writes the state of `commit` atomically; a failure only costs the next read its speed.
pub(in crate::store) fn write(path: &Path, commit: git2::Oid, state: &State) {
    let mut out = crate::base::cachefile::start(KIND, FORMAT, 64 + state.prompts.len() * 96);
    out.push_str(&commit.to_string());
    out.push('\n');
    for (name, prompt) in &state.prompts {
        encode(&mut out, name, prompt);
    }
    crate::base::cachefile::write(path, &out);
}

fn encode(out: &mut String, name: &PromptName, prompt: &PromptState) {
    // Plans, segments and experiments are few: they are kept as canonical TOML, read
    // again when read.
    if prompt.rollout.is_some() || prompt.needs_format_3() || prompt.needs_format_4() {
        let alone = State {
            prompts: [(name.clone(), prompt.clone())].into(),
        };
        out.push_str("t\t");
        escape(out, &alone.to_toml());
        out.push('\n');
        return;
    }
    let canary = prompt.canary.as_ref();
    let fields = [
        name.as_str().to_owned(),
        prompt.active.hex(),
        canary.map_or("-".into(), |c| c.version.hex()),
        canary
            .and_then(|c| c.weight)
            .map_or("-".into(), |w| w.hundredths().to_string()),
        canary.map_or(String::new(), |c| c.cohorts.join(",")),
        joined(&prompt.previous),
    ];
    out.push('p');
    for field in fields {
        out.push('\t');
        escape(out, &field);
    }
    out.push('\n');
}

fn joined(versions: &[Version]) -> String {
    let mut out = String::with_capacity(versions.len() * 65);
    for (i, version) in versions.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&version.hex());
    }
    out
}

fn decode(line: &str) -> Option<(PromptName, PromptState)> {
    if let Some(toml) = line.strip_prefix("t\t") {
        let state = State::parse("cached state", &unescape(toml)?).ok()?;
        return state.prompts.into_iter().next();
    }
    let mut fields = line.strip_prefix("p\t")?.split('\t');
    let name = PromptName::parse(&unescape(fields.next()?)?).ok()?;
    let active = Version::from_hex(fields.next()?)?;
    let (canary, weight, cohorts) = (fields.next()?, fields.next()?, fields.next()?);
    let previous = match fields.next()? {
        "" => Vec::new(),
        list => list
            .split(',')
            .map(Version::from_hex)
            .collect::<Option<_>>()?,
    };
    if fields.next().is_some() {
        return None;
    }
    let canary = match canary {
        "-" => None,
        hex => Some(Canary {
            version: Version::from_hex(hex)?,
            weight: match weight {
                "-" => None,
                n => Some(Weight::from_hundredths(n.parse().ok()?).ok()?),
            },
            cohorts: match cohorts {
                "" => Vec::new(),
                list => list.split(',').map(str::to_owned).collect(),
            },
            segment: None,
        }),
    };
    let prompt = PromptState {
        active,
        canary,
        previous,
        rollout: None,
        experiment: None,
    };
    Some((name, prompt))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::state::tests::{sample, v, with_rollout};

    /// A canary on two cohorts and 5%, without a plan.
    fn with_cohorts() -> State {
        let mut state = sample();
        let docs = PromptName::parse("docs/summarize").unwrap();
        state.prompts.get_mut(&docs).unwrap().canary = Some(Canary {
            version: v('e'),
            weight: Some(Weight::from_hundredths(500).unwrap()),
            cohorts: vec!["internal".into(), "beta-1".into()],
            segment: None,
        });
        state
    }

    /// An experiment on docs/summarize.
    fn with_experiment() -> State {
        let mut state = sample();
        let docs = PromptName::parse("docs/summarize").unwrap();
        state.prompts.get_mut(&docs).unwrap().experiment =
            Some(crate::store::Experiment::sample_for_tests());
        state
    }

    fn commit(n: u8) -> git2::Oid {
        git2::Oid::from_bytes(&[n; 20]).unwrap()
    }

    #[test]
    fn a_state_with_canaries_cohorts_history_a_plan_and_an_experiment_round_trips() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("promptctl-state-production");
        for state in [
            State::default(),
            sample(),
            with_cohorts(),
            with_rollout(),
            with_experiment(),
        ] {
            write(&path, commit(1), &state);
            assert_eq!(read(&path, commit(1)), Some(state));
        }
    }

    #[test]
    fn another_commit_or_build_or_a_damaged_line_is_a_miss() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("promptctl-state-production");
        write(&path, commit(1), &sample());
        assert_eq!(read(&path, commit(2)), None);
        let text = std::fs::read_to_string(&path).unwrap();
        let other_build = text.replacen(
            &crate::base::cachefile::header(KIND, FORMAT),
            "promptctl state 2 0000000000000000",
            1,
        );
        std::fs::write(&path, other_build).unwrap();
        assert_eq!(read(&path, commit(1)), None);
        let damaged = text
            .replacen("\tp", "\tq", 1)
            .replacen("p\t", "p\tnot/a name\t", 1);
        std::fs::write(&path, damaged).unwrap();
        assert_eq!(read(&path, commit(1)), None);
        assert_eq!(read(&folder.path().join("missing"), commit(1)), None);
    }

    #[test]
    fn a_read_of_some_prompts_decodes_only_those() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("promptctl-state-production");
        let state = with_rollout();
        write(&path, commit(1), &state);
        let only = read_only(&path, commit(1), &|name| name == "support/triage").unwrap();
        assert_eq!(only.prompts.len(), 1);
        let name = PromptName::parse("support/triage").unwrap();
        assert_eq!(only.prompts.get(&name), state.prompts.get(&name));
        let docs = read_only(&path, commit(1), &|name| name == "docs/summarize").unwrap();
        assert_eq!(
            docs.prompts
                .keys()
                .map(PromptName::as_str)
                .collect::<Vec<_>>(),
            ["docs/summarize"]
        );
    }
}
