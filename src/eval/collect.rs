//! Collecting a suite's results: samples into cases, cases into each version's figures,
//! the paired comparison, and the gate.

use super::assertions::{AssertionResult, Outcome};
use super::gate::{Gate, apply_gate};
use super::report::{CaseReport, CaseSide, Change, SideSummary, SuiteReport};
use super::run_input::SideInput;
use super::stats::{self, Comparison};
use super::suite::Suite;
use crate::prompt::ToolCall;

/// The samples of every (suite, side, case) of a run, laid out in one vector by suite, then
/// side, then case: a map keyed by the three held a table as large as the samples.
#[derive(Debug, Default)]
pub(super) struct Results {
    /// Per suite: where its slots start, how many sides and cases it has.
    suites: Vec<(usize, usize, usize)>,
    slots: Vec<Option<Vec<Sample>>>,
}

impl Results {
    /// Room for every case of every side of each suite, as (sides, cases) per suite.
    pub(super) fn new(shape: impl IntoIterator<Item = (usize, usize)>) -> Self {
        let mut suites = Vec::new();
        let mut total = 0;
        for (sides, cases) in shape {
            suites.push((total, sides, cases));
            total += sides * cases;
        }
        let mut slots = Vec::with_capacity(total);
        slots.resize_with(total, || None);
        Results { suites, slots }
    }

    fn index(&self, &(s, side, case): &(usize, usize, usize)) -> Option<usize> {
        let &(start, sides, cases) = self.suites.get(s)?;
        (side < sides && case < cases).then_some(start + side * cases + case)
    }

    pub(super) fn get(&self, key: &(usize, usize, usize)) -> Option<&Vec<Sample>> {
        self.slots.get(self.index(key)?)?.as_ref()
    }

    pub(super) fn remove(&mut self, key: &(usize, usize, usize)) -> Option<Vec<Sample>> {
        let index = self.index(key)?;
        self.slots.get_mut(index)?.take()
    }

    /// Adds a sample; `repeat` is how many the case takes (its vector's exact room).
    pub(super) fn push(&mut self, key: &(usize, usize, usize), repeat: usize, sample: Sample) {
        if let Some(slot) = self.index(key).and_then(|i| self.slots.get_mut(i)) {
            slot.get_or_insert_with(|| Vec::with_capacity(repeat))
                .push(sample);
        }
    }
}

/// One sample's result.
#[derive(Debug, Clone)]
pub(super) struct Sample {
    pub outcome: Outcome,
    pub output: Option<String>,
    /// Why there is no output.
    pub error: Option<String>,
    pub assertions: Vec<AssertionResult>,
    /// Every tool call the model made on the way to its answer.
    pub tool_calls: Vec<ToolCall>,
    pub latency_ms: Option<f64>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
}

impl Sample {
    /// A sample that got no output, and why.
    pub fn failed(error: String) -> Self {
        Sample {
            outcome: Outcome::Error,
            output: None,
            error: Some(error),
            assertions: Vec::new(),
            tool_calls: Vec::new(),
            latency_ms: None,
            input_tokens: 0,
            output_tokens: 0,
            cost_usd: 0.0,
        }
    }
}

/// The report of suite `s`: its figures per side, its cases, the comparison and the gate.
/// `overrides` are the gate limits given on the command line.
pub(super) fn suite_report(
    suite: &Suite,
    sides: &[SideInput<'_>],
    results: &mut Results,
    s: usize,
    overrides: &Gate,
) -> SuiteReport {
    let summary = |side: usize| {
        summarize(
            &sides[side],
            (0..suite.cases.len()).filter_map(|c| results.get(&(s, side, c))),
        )
    };
    let (base, head) = (summary(0), summary(1));
    let cases: Vec<CaseReport> = suite
        .cases
        .iter()
        .enumerate()
        .map(|(c, case)| {
            let mut side = |i: usize| results.remove(&(s, i, c)).map(case_side_owned);
            let (base, head) = (side(0), side(1));
            CaseReport {
                name: case.name.clone(),
                change: change(base.as_ref(), head.as_ref()),
                base,
                head,
            }
        })
        .collect();
    let gate = overrides.over(&suite.gate);
    let level = gate.significance.unwrap_or(stats::DEFAULT_LEVEL);
    let same_version = base.version.is_some() && base.version == head.version;
    let comparison = (base.unavailable.is_none() && head.unavailable.is_none()).then(|| {
        let comparison = compare(&cases, level);
        if same_version {
            comparison.of_same_version()
        } else {
            comparison
        }
    });
    let gate = apply_gate(&gate, &base, &head, comparison.as_ref());
    SuiteReport {
        suite: suite.name.clone(),
        path: suite.path.clone(),
        prompt: suite.prompt.clone(),
        base,
        head,
        cases,
        comparison,
        gate,
    }
}

pub(super) fn change(base: Option<&CaseSide>, head: Option<&CaseSide>) -> Change {
    match (base, head) {
        (Some(b), Some(h)) if b.outcome == Outcome::Error || h.outcome == Outcome::Error => {
            Change::Error
        }
        (Some(b), Some(h)) if b.pass && !h.pass => Change::Regressed,
        (Some(b), Some(h)) if !b.pass && h.pass => Change::Fixed,
        (Some(_), Some(_)) => Change::Same,
        _ => Change::New,
    }
}

/// The paired comparison over the cases evaluated without error on both versions.
pub(super) fn compare(cases: &[CaseReport], level: f64) -> Comparison {
    let both: Vec<(&CaseSide, &CaseSide)> = cases
        .iter()
        .filter(|c| c.change != Change::Error)
        .filter_map(|c| c.base.as_ref().zip(c.head.as_ref()))
        .collect();
    if both.iter().all(|(b, h)| b.samples <= 1 && h.samples <= 1) {
        let pairs: Vec<(bool, bool)> = both.iter().map(|(b, h)| (b.pass, h.pass)).collect();
        stats::compare_single(&pairs, level)
    } else {
        let fraction = |s: &CaseSide| s.samples_passed as f64 / s.samples.max(1) as f64;
        let fractions: Vec<(f64, f64, usize)> = both
            .iter()
            .map(|(b, h)| (fraction(b), fraction(h), b.samples.min(h.samples)))
            .collect();
        stats::compare_repeated(&fractions, level)
    }
}

pub(super) fn case_side(samples: &[Sample]) -> CaseSide {
    let (outcome, shown) = shown_sample(samples);
    let shown = shown.map(|i| samples[i].clone());
    side_of(samples, outcome, shown)
}

/// Like [`case_side`], moving the shown sample's output and checks into the report rather
/// than copying them: a run keeps one copy of each output, not two.
pub(super) fn case_side_owned(mut samples: Vec<Sample>) -> CaseSide {
    let (outcome, shown) = shown_sample(&samples);
    let mut side = side_of(&samples, outcome, None);
    if let Some(sample) = shown.map(|i| samples.swap_remove(i)) {
        side.output = sample.output;
        side.error = sample.error;
        side.assertions = sample.assertions;
        side.tool_calls = sample.tool_calls;
    }
    side
}

/// The case's outcome (the worst of its samples') and the sample shown: the first with
/// that outcome, its error or its failure.
fn shown_sample(samples: &[Sample]) -> (Outcome, Option<usize>) {
    let outcome = samples
        .iter()
        .fold(Outcome::Pass, |worst, s| worst.worst(s.outcome));
    let shown = samples.iter().position(|s| s.outcome == outcome);
    (outcome, shown.or((!samples.is_empty()).then_some(0)))
}

fn side_of(samples: &[Sample], outcome: Outcome, shown: Option<Sample>) -> CaseSide {
    let count = |o: Outcome| samples.iter().filter(|s| s.outcome == o).count();
    let (output, error, assertions, tool_calls) = match shown {
        Some(s) => (s.output, s.error, s.assertions, s.tool_calls),
        None => (None, None, Vec::new(), Vec::new()),
    };
    CaseSide {
        outcome,
        pass: outcome == Outcome::Pass,
        output,
        error,
        assertions,
        tool_calls,
        samples_passed: count(Outcome::Pass),
        samples_failed: count(Outcome::Fail),
        samples_errored: count(Outcome::Error),
        samples: samples.len(),
    }
}

pub(super) fn summarize<'a>(
    input: &SideInput<'_>,
    cases: impl Iterator<Item = &'a Vec<Sample>>,
) -> SideSummary {
    let mut summary = SideSummary {
        spec: input.spec.clone(),
        ..SideSummary::default()
    };
    match &input.prompt {
        Ok((prompt, _)) => summary.version = Some(prompt.version),
        Err(error) => {
            summary.unavailable = Some(error.clone());
            return summary;
        }
    }
    let mut latencies = Vec::new();
    let (mut case_count, mut all_passed) = (0usize, 0usize);
    for samples in cases {
        case_count += 1;
        all_passed += usize::from(samples.iter().all(|s| s.outcome == Outcome::Pass));
        for sample in samples {
            summary.samples += 1;
            match sample.outcome {
                Outcome::Pass => summary.passed += 1,
                Outcome::Fail => summary.failed += 1,
                Outcome::Error => summary.errors += 1,
            }
            latencies.extend(sample.latency_ms);
            summary.input_tokens += sample.input_tokens;
            summary.output_tokens += sample.output_tokens;
            summary.cost_usd += sample.cost_usd;
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    // Over what could be evaluated: an error is neither a pass nor a failure.
    summary.pass_rate = ratio(summary.passed, summary.passed + summary.failed);
    summary.pass_all = ratio(all_passed, case_count);
    if !latencies.is_empty() {
        latencies.sort_by(f64::total_cmp);
        summary.mean_latency_ms = latencies.iter().sum::<f64>() / latencies.len() as f64;
        let rank = ((latencies.len() as f64) * 0.95).ceil() as usize;
        summary.p95_latency_ms = latencies[rank.clamp(1, latencies.len()) - 1];
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(outcome: Outcome, latency: f64) -> Sample {
        Sample {
            outcome,
            latency_ms: Some(latency),
            cost_usd: 0.5,
            ..Sample::failed(String::new())
        }
    }

    #[test]
    fn results_are_kept_by_suite_side_and_case_and_taken_once() {
        // Two suites: two sides of three cases, then three sides of one case.
        let mut results = Results::new([(2, 3), (3, 1)]);
        results.push(&(0, 1, 2), 2, sample(Outcome::Pass, 1.0));
        results.push(&(0, 1, 2), 2, sample(Outcome::Fail, 2.0));
        results.push(&(1, 2, 0), 1, sample(Outcome::Error, 3.0));
        results.push(&(1, 3, 0), 1, sample(Outcome::Pass, 4.0));
        assert_eq!(results.get(&(0, 1, 2)).map(Vec::len), Some(2));
        assert_eq!(results.get(&(0, 1, 2)).map(Vec::capacity), Some(2));
        assert_eq!(results.get(&(1, 2, 0)).unwrap()[0].latency_ms, Some(3.0));
        assert!(
            results.get(&(0, 0, 2)).is_none(),
            "nothing was pushed there"
        );
        assert!(results.get(&(1, 3, 0)).is_none(), "past the suite's sides");
        assert!(results.get(&(2, 0, 0)).is_none(), "past the suites");
        assert_eq!(results.remove(&(0, 1, 2)).map(|s| s.len()), Some(2));
        assert!(results.remove(&(0, 1, 2)).is_none(), "taken once");
    }

    #[test]
    fn summaries_count_passes_failures_and_errors_apart() {
        let input = SideInput {
            spec: "HEAD".into(),
            prompt: Err("absent".into()),
            overrides: Default::default(),
        };
        assert_eq!(
            summarize(&input, std::iter::empty()).unavailable.as_deref(),
            Some("absent")
        );
        let prompt = crate::prompt::Prompt::parse(
            crate::prompt::PromptName::parse("a").unwrap(),
            "prompts/a.toml",
            "model = \"m\"\n[[messages]]\nrole = \"user\"\ncontent = \"hi\"\n",
            &crate::prompt::PromptDefaults::default(),
            &crate::prompt::PartialIndex::default(),
        )
        .unwrap();
        let input = SideInput {
            spec: "HEAD".into(),
            prompt: Ok((&prompt, prompt.compile().unwrap())),
            overrides: Default::default(),
        };
        let mut cases = vec![
            vec![sample(Outcome::Pass, 10.0), sample(Outcome::Pass, 20.0)],
            vec![sample(Outcome::Pass, 30.0), sample(Outcome::Fail, 40.0)],
            vec![sample(Outcome::Error, 1.0)],
        ];
        cases.push(
            (1..=20)
                .map(|i| sample(Outcome::Pass, f64::from(i) * 100.0))
                .collect(),
        );
        let summary = summarize(&input, cases.iter());
        assert_eq!(
            (
                summary.samples,
                summary.passed,
                summary.failed,
                summary.errors
            ),
            (25, 23, 1, 1)
        );
        assert!((summary.pass_all - 2.0 / 4.0).abs() < 1e-9);
        assert_eq!(summary.p95_latency_ms, 1900.0);
    }

    #[test]
    fn an_error_on_either_side_is_not_a_regression_or_a_fix() {
        let side = |outcome| case_side(&[sample(outcome, 1.0)]);
        let (pass, fail, error) = (
            side(Outcome::Pass),
            side(Outcome::Fail),
            side(Outcome::Error),
        );
        assert_eq!(change(Some(&pass), Some(&fail)), Change::Regressed);
        assert_eq!(change(Some(&fail), Some(&pass)), Change::Fixed);
        assert_eq!(change(Some(&pass), Some(&error)), Change::Error);
        assert_eq!(change(Some(&error), Some(&pass)), Change::Error);
        assert_eq!(change(None, Some(&pass)), Change::New);
        let mixed = case_side(&[sample(Outcome::Fail, 1.0), sample(Outcome::Error, 1.0)]);
        assert_eq!(mixed.outcome, Outcome::Error);
        assert_eq!(
            (mixed.samples_failed, mixed.samples_errored, mixed.pass),
            (1, 1, false)
        );
    }
}
