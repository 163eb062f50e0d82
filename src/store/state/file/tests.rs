use super::*;
use crate::store::state::tests::{sample, with_rollout};

#[test]
fn writes_and_reads_back_the_same_state() {
    let state = sample();
    let text = state.to_toml();
    assert_eq!(State::parse("state.toml", &text).unwrap(), state);
    assert!(text.contains("canary_weight = 10.5\n"), "{text}");
    assert!(text.starts_with("format = 1\n\n[prompts.\"docs/summarize\"]\n"));
}

#[test]
fn an_experiment_reads_back_and_never_beside_a_canary() {
    let mut state = sample();
    let name = PromptName::parse("docs/summarize").unwrap();
    let mut experiment = crate::store::Experiment::sample_for_tests();
    experiment.max_samples = Some(5000);
    experiment.auto_conclude = true;
    experiment.metric = crate::store::Metric::parse("custom:resolved:lower").unwrap();
    state.prompts.get_mut(&name).unwrap().experiment = Some(experiment);
    let text = state.to_toml();
    assert!(text.starts_with("format = 4\n"), "{text}");
    assert!(
        text.contains(
            "[prompts.\"docs/summarize\".experiment]\nname = \"tone\"\narms = [\"formal=sha256:aaaa"
        ),
        "{text}"
    );
    assert!(text.contains("metric = \"custom:resolved:lower\"\neffect = 0.02\nalpha = 0.05\nstarted = 2026-11-23T09:20:00Z\nmax_duration = \"30d\"\nmax_samples = 5000\nauto_conclude = true\n"), "{text}");
    assert_eq!(State::parse("state.toml", &text).unwrap(), state);
    // Beside the canary of support/triage: refused at its line and field.
    let both = text.replace(
        "[prompts.\"docs/summarize\".experiment]",
        "[prompts.\"support/triage\".experiment]",
    );
    let error = State::parse("state.toml", &both).unwrap_err();
    assert!(
        error
            .message
            .contains("an experiment or a canary, not both"),
        "{error}"
    );
    assert_eq!(
        error.location.field.as_deref(),
        Some("prompts.\"support/triage\".experiment")
    );
    for (from, to, says) in [
        (
            "split = [50.0, 50.0]",
            "split = [50.0, 40.0]",
            "add up to 90%",
        ),
        ("alpha = 0.05", "alpha = 0.5", "at most 20%"),
        (
            "max_duration = \"30d\"",
            "max_duration = \"5m\"",
            "max_duration",
        ),
        ("formal=sha256", "formal:sha256", "NAME=VERSION"),
    ] {
        let bad = text.replace(from, to);
        let error = State::parse("state.toml", &bad).unwrap_err().to_string();
        assert!(error.contains(says), "{to}: {error}");
    }
}

#[test]
fn a_bad_version_is_said_once() {
    // Seen: "is not a full version: … is not a full version".
    let text = sample()
        .to_toml()
        .replacen("active = \"sha256:", "active = \"sha256:zz", 1);
    let error = State::parse("state.toml", &text).unwrap_err().to_string();
    assert_eq!(error.matches("sha256:zz").count(), 1, "{error}");
    let short = sample()
        .to_toml()
        .replacen("active = \"sha256:", "active = \"sha256:abcdef0", 1);
    let short = short.replacen(&short[short.find("abcdef0").unwrap() + 7..][..64], "", 1);
    let error = State::parse("state.toml", &short).unwrap_err().to_string();
    assert_eq!(error.matches("is not a full version").count(), 1, "{error}");
}

#[test]
fn plans_and_cohorts_read_back_and_need_format_2() {
    let state = with_rollout();
    let text = state.to_toml();
    assert!(text.starts_with("format = 2\n"), "{text}");
    assert!(text.contains("canary_cohorts = [\"internal\"]\n"), "{text}");
    assert!(!text.contains("canary_weight"), "{text}");
    assert!(
        text.contains("[prompts.\"support/triage\".rollout]\nstages = [\"cohort=internal\", \"5%\", \"25%\", \"100%\"]\nstep = 0\nevery = \"30m\"\nstep_started = 2026-11-23T09:20:00Z\npaused = true\n"),
        "{text}"
    );
    assert_eq!(State::parse("state.toml", &text).unwrap(), state);
    assert!(sample().to_toml().starts_with("format = 1\n"));
}

#[test]
fn a_plan_that_disagrees_with_the_canary_is_refused_with_its_line() {
    let text = with_rollout().to_toml().replace("step = 0", "step = 1");
    let err = State::parse("state.toml", &text).unwrap_err();
    assert_eq!(
        err.location.field.as_deref(),
        Some("prompts.\"support/triage\".rollout.step")
    );
    assert!(
        err.message.contains("routes cohort internal + 5%"),
        "{}",
        err.message
    );
    let line = text.lines().position(|l| l == "step = 1").unwrap() + 1;
    assert_eq!(err.location.line, Some(line));
    let stray = sample()
        .to_toml()
        .replace("canary = ", "canary_cohorts = [\"x\"]\nkanary = ");
    assert!(State::parse("state.toml", &stray).is_err());
    let bad_step = with_rollout().to_toml().replace("step = 0", "step = 3");
    let err = State::parse("state.toml", &bad_step).unwrap_err();
    assert!(err.message.contains("short of 100%"), "{}", err.message);
}

#[test]
fn hand_edits_are_reported_with_line_and_field() {
    let good = sample().to_toml();
    let cases = [
        (
            good.replace("format = 1", "format = 5"),
            "format",
            "upgrade",
        ),
        (
            good.replace("canary_weight = 10.5", "canary_weight = 100.0"),
            "prompts.\"support/triage\".canary_weight",
            "below 100%",
        ),
        (
            good.replace("canary_weight = 10.5\n", ""),
            "prompts.\"support/triage\".canary_weight",
            "needs a `canary_weight`",
        ),
        (
            good.replacen(&"d".repeat(64), "xyz", 1),
            "prompts.\"docs/summarize\".active",
            "`sha256:xyz` needs between 7 and 64 hex digits",
        ),
        (
            good.replace(
                "[prompts.\"docs/summarize\"]",
                "[prompts.\"Docs/Summarize\"]",
            ),
            "prompts.\"Docs/Summarize\"",
            "not a prompt name",
        ),
        (
            good.replace("active = \"sha256:dd", "actve = \"sha256:dd"),
            "prompts.docs/summarize.actve",
            "unknown field",
        ),
    ];
    for (text, field, message) in cases {
        let error = State::parse("promptctl/production@abc1234:state.toml", &text).unwrap_err();
        assert_eq!(error.location.field.as_deref(), Some(field), "{error}");
        assert!(error.to_string().contains(message), "{error}");
        assert!(error.location.line.is_some(), "{error}");
        assert!(
            error
                .to_string()
                .starts_with("promptctl/production@abc1234:state.toml:")
        );
    }
}
