//! The planners are pure: a state, the versions asked for and a request give the new state.
//! These tables pin each action's rules without git.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::canary::{CanaryRequest, plan_canary};
use super::planner::Plan;
use super::promote::plan_promote;
use super::publish::plan_publish;
use super::revert::plan_revert;
use super::source::Source;
use crate::prompt::{PartialIndex, Prompt, PromptDefaults, PromptName, Version};
use crate::release::ReleaseError;
use crate::store::{Canary, PromptState, State, Weight};

fn name(text: &str) -> PromptName {
    PromptName::parse(text).unwrap()
}

/// A valid prompt whose text (and so version) is set by `text`.
fn prompt(prompt_name: &str, text: &str) -> Prompt {
    let partials = PartialIndex::new("prompts", Vec::<(String, Arc<str>)>::new());
    Prompt::parse(
        name(prompt_name),
        &format!("prompts/{prompt_name}.toml"),
        &format!("model = \"m\"\n[[messages]]\nrole = \"user\"\ncontent = \"{text}\"\n"),
        &PromptDefaults::default(),
        &partials,
    )
    .unwrap()
}

fn version(prompt_name: &str, text: &str) -> Version {
    prompt(prompt_name, text).version
}

/// A source at `HEAD` with the prompts `(name, text)`.
fn source(prompts: &[(&str, &str)]) -> Source {
    Source {
        spec: "HEAD".into(),
        commit: None,
        prompts: prompts
            .iter()
            .map(|(n, t)| (name(n), Ok(prompt(n, t))))
            .collect::<BTreeMap<_, _>>(),
        problems: Vec::new(),
    }
}

/// A state where each `(name, active text, canary text)` is released.
fn state(prompts: &[(&str, &str, Option<&str>)]) -> State {
    let mut state = State::default();
    for (n, active, canary) in prompts {
        let mut pointers = PromptState::new(version(n, active));
        pointers.canary =
            canary.map(|c| Canary::weighted(version(n, c), Weight::from_percent(10.0).unwrap()));
        state.prompts.insert(name(n), pointers);
    }
    state
}

fn names(list: &[&str]) -> Vec<PromptName> {
    list.iter().map(|n| name(n)).collect()
}

/// What a plan did, in words a table can hold: `name: active TEXT [canary TEXT]` per
/// changed prompt, or the refusal.
fn outcome(planned: Result<Plan, ReleaseError>, texts: &[(&str, &str)]) -> String {
    match planned {
        Err(error) => format!("refused: {error}"),
        Ok(plan) => describe(&plan, texts),
    }
}

fn describe(plan: &Plan, texts: &[(&str, &str)]) -> String {
    let word = |n: &str, v: Version| {
        texts
            .iter()
            .find(|(p, t)| *p == n && version(p, t) == v)
            .map_or_else(|| v.short(), |(_, t)| (*t).to_owned())
    };
    plan.changes
        .iter()
        .map(|c| {
            let n = c.name.as_str();
            let mut line = format!("{n}: active {}", word(n, c.after.active));
            if let Some(canary) = &c.after.canary {
                line.push_str(&format!(" canary {}", word(n, canary.version)));
            }
            line
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Every text a table mentions, for naming versions in outcomes.
const TEXTS: &[(&str, &str)] = &[
    ("a", "one"),
    ("a", "two"),
    ("a", "three"),
    ("b", "one"),
    ("b", "two"),
];

/// One row of a table: what it shows, the state before, the versions at the source, the
/// names given, and the outcome expected.
struct Case<'a> {
    what: &'a str,
    before: State,
    at: &'a [(&'a str, &'a str)],
    targets: &'a [&'a str],
    expected: &'a str,
}

fn case<'a>(
    what: &'a str,
    before: State,
    at: &'a [(&'a str, &'a str)],
    targets: &'a [&'a str],
    expected: &'a str,
) -> Case<'a> {
    Case {
        what,
        before,
        at,
        targets,
        expected,
    }
}

#[test]
fn publish_sets_active_and_drops_canaries() {
    let cases = [
        case(
            "first release of everything",
            state(&[]),
            &[("a", "one"), ("b", "one")],
            &[],
            "a: active one; b: active one",
        ),
        case(
            "only what changed",
            state(&[("a", "one", None), ("b", "one", None)]),
            &[("a", "two"), ("b", "one")],
            &[],
            "a: active two",
        ),
        case(
            "a named prompt only",
            state(&[]),
            &[("a", "one"), ("b", "one")],
            &["b"],
            "b: active one",
        ),
        case(
            "a canary in flight is dropped",
            state(&[("a", "one", Some("two"))]),
            &[("a", "three")],
            &["a"],
            "a: active three",
        ),
        case(
            "an unknown name is refused",
            state(&[]),
            &[("a", "one")],
            &["zzz"],
            "refused: no prompt `zzz` at `HEAD`",
        ),
        case(
            "nothing changed, nothing to do",
            state(&[("a", "one", None)]),
            &[("a", "one")],
            &[],
            "",
        ),
    ];
    for c in cases {
        let planned = plan_publish(&c.before, &source(c.at), &names(c.targets), "production");
        assert_eq!(outcome(planned, TEXTS), c.expected, "{}", c.what);
    }
}

#[test]
fn canary_needs_an_active_version_and_respects_the_limit() {
    let weight = CanaryRequest {
        weight: Some(Weight::from_percent(10.0).unwrap()),
        force: false,
        plan: None,
        max_canaries: None,
        segment: None,
    };
    let one_at_a_time = CanaryRequest {
        max_canaries: Some(1),
        ..CanaryRequest {
            weight: weight.weight,
            force: false,
            plan: None,
            max_canaries: None,
            segment: None,
        }
    };
    let cases = [
        (
            case(
                "a new version goes on the canary",
                state(&[("a", "one", None)]),
                &[("a", "two")],
                &["a"],
                "a: active one canary two",
            ),
            &weight,
        ),
        (
            case(
                "without names: every prompt that differs",
                state(&[("a", "one", None), ("b", "one", None)]),
                &[("a", "two"), ("b", "one")],
                &[],
                "a: active one canary two",
            ),
            &weight,
        ),
        (
            case(
                "never released: refused",
                state(&[]),
                &[("a", "one")],
                &["a"],
                "refused: `a` has no active version",
            ),
            &weight,
        ),
        (
            case(
                "over the limit: refused",
                state(&[("a", "one", Some("two")), ("b", "one", None)]),
                &[("b", "two")],
                &["b"],
                "refused",
            ),
            &one_at_a_time,
        ),
    ];
    for (c, request) in cases {
        let planned = plan_canary(
            &c.before,
            &source(c.at),
            &names(c.targets),
            request,
            "production",
        );
        let got = outcome(planned, TEXTS);
        assert!(got.starts_with(c.expected), "{}: {got}", c.what);
    }
}

#[test]
fn promote_and_revert_move_between_known_versions() {
    let with_canary = state(&[("a", "one", Some("two")), ("b", "one", None)]);
    let promoted = outcome(plan_promote(&with_canary, &[], "production"), TEXTS);
    assert_eq!(promoted, "a: active two");
    let nothing = outcome(
        plan_promote(&state(&[("a", "one", None)]), &[], "production"),
        TEXTS,
    );
    assert!(nothing.starts_with("refused: no canary"), "{nothing}");

    // A canary in flight is dropped first; then active goes back, and further back.
    let dropped = outcome(
        plan_revert(&with_canary, None, &names(&["a"]), "production"),
        TEXTS,
    );
    assert_eq!(dropped, "a: active one");
    let mut history = state(&[("a", "one", None)]);
    let pointers = history.prompts.get_mut(&name("a")).unwrap();
    pointers.set_active(version("a", "two"));
    pointers.set_active(version("a", "three"));
    let back = plan_revert(&history, None, &names(&["a"]), "production").unwrap();
    assert_eq!(describe(&back, TEXTS), "a: active two");
    let again = plan_revert(&back.state, None, &names(&["a"]), "production");
    assert_eq!(outcome(again, TEXTS), "a: active one");
    let first = outcome(
        plan_revert(
            &state(&[("b", "one", None)]),
            None,
            &names(&["b"]),
            "production",
        ),
        TEXTS,
    );
    assert!(first.contains("no earlier version"), "{first}");
    // `--to` goes to a given version and forgets what came after it.
    let to = plan_revert(
        &history,
        Some(&source(&[("a", "one")])),
        &names(&["a"]),
        "production",
    )
    .unwrap();
    assert_eq!(to.state.prompts[&name("a")].previous, Vec::<Version>::new());
}

#[test]
fn advancing_a_plan_keeps_the_canary_s_segment() {
    use crate::store::{Gates, Rollout, Rule, Stage};
    let mut before = state(&[("a", "one", None)]);
    let rollout = Rollout {
        stages: ["5%", "25%", "100%"]
            .iter()
            .map(|s| Stage::parse(s).unwrap())
            .collect(),
        step: 0,
        every: 60,
        step_started: 0,
        paused: false,
        gates: Gates::default(),
        alerted: Vec::new(),
    };
    let segment = Rule::parse("plan = \"enterprise\"").unwrap();
    let pointers = before.prompts.get_mut(&name("a")).unwrap();
    pointers.canary = Some(Canary {
        version: version("a", "two"),
        weight: rollout.route_at(0).weight,
        cohorts: Vec::new(),
        segment: Some(segment.clone()),
    });
    pointers.rollout = Some(rollout);
    let plan = super::rollout::plan_advance(&before, &[name("a")], "production").unwrap();
    let after = &plan.state.prompts[&name("a")];
    let canary = after.canary.as_ref().unwrap();
    assert_eq!(canary.weight, Some(Weight::from_percent(25.0).unwrap()));
    assert_eq!(
        canary.segment.as_ref(),
        Some(&segment),
        "the next stage keeps the segment"
    );
}
