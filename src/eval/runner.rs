//! The eval runner: every case of every suite on the old and the new version, side by side.
//!
//! A run plans every (suite, version, case, sample) as a rendered request, has the
//! [`Executor`](super::executor) answer each distinct request once (cache, then providers),
//! grades the answers (judges are a second round of requests through the same path), and
//! collects the figures, the comparison and the gate per suite.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::assertions::{self, AssertionResult, Outcome, Output};
use super::cache::CachedReply;
use super::collect::{Sample, suite_report};
use super::executor::{Answers, Executor, RequestFailure};
use super::provider::{ChatRequest, provider_section};
use super::report::{FailureGroup, Report};
use super::run_input::{EvalError, EvalOptions, Progress, SideInput};
use super::suite::{Assertion, Suite};
use crate::config::{ProjectConfig, ProviderKind};
use crate::project::Project;
use crate::source::{self, PromptSet};

/// One (suite, side, case, sample) to run.
struct Job {
    suite: usize,
    side: usize,
    case: usize,
    /// The request's cache key, or why there is no request.
    request: Result<String, String>,
}

/// Runs the suites and compares the versions.
pub async fn run(
    project: &Project,
    suites: &[Suite],
    options: &EvalOptions,
    progress: Arc<dyn Progress>,
) -> Result<Report, EvalError> {
    let base = source::load(project, &options.base)?;
    let head = source::load(project, &options.head)?;
    let sides: Vec<[SideInput<'_>; 2]> = suites
        .iter()
        .map(|suite| [side_input(&base, suite), side_input(&head, suite)])
        .collect();
    let executor = Executor::new(project, options);
    let (jobs, calls) = plan(suites, &sides, options.repeat, &executor)?;
    // Pricing needs only who answered; the rendered messages go to the executor.
    let models: HashMap<String, (String, String)> = calls
        .iter()
        .map(|(key, r)| (key.clone(), (r.provider.clone(), r.model.clone())))
        .collect();
    let answers = executor.run_all(calls, &progress).await?;
    // Judges grade outputs: a second round through the same cache, limits and retries.
    let judged = judge_all(&executor, suites, &sides, &jobs, &answers, &progress).await?;
    progress.finish();
    let prices = Prices(&project.config);
    let mut results: HashMap<(usize, usize, usize), Vec<Sample>> = HashMap::new();
    for (index, job) in jobs.iter().enumerate() {
        let sample = match &job.request {
            Err(error) => Sample::failed(error.clone()),
            Ok(key) => match &answers[key] {
                Err(failure) => Sample::failed(failure.to_string()),
                Ok(answer) => {
                    let (provider, model) = &models[key];
                    let cost = prices.cost(provider, model, answer);
                    let case = &suites[job.suite].cases[job.case];
                    grade(&case.assertions, answer, cost, |a| judged.get(&(index, a))).await
                }
            },
        };
        results
            .entry((job.suite, job.side, job.case))
            .or_default()
            .push(sample);
    }
    let mut report = Report {
        suites: Vec::new(),
        passed: true,
        requests: executor.stats(),
        failures: group_failures(&executor.failures()),
    };
    for (s, suite) in suites.iter().enumerate() {
        let suite_report = suite_report(suite, &sides[s], &results, s, &options.gate);
        report.passed &= suite_report.gate.passed;
        report.suites.push(suite_report);
    }
    Ok(report)
}

/// Renders every (suite, side, case, sample) into a request; identical requests share one
/// key, so each is sent once.
fn plan(
    suites: &[Suite],
    sides: &[[SideInput<'_>; 2]],
    repeat: Option<u32>,
    executor: &Executor,
) -> Result<(Vec<Job>, BTreeMap<String, ChatRequest>), EvalError> {
    let mut calls: BTreeMap<String, ChatRequest> = BTreeMap::new();
    let mut jobs = Vec::new();
    for (s, suite) in suites.iter().enumerate() {
        let repeat = repeat.unwrap_or(suite.repeat).max(1);
        for (side, input) in sides[s].iter().enumerate() {
            let Ok((prompt, compiled)) = &input.prompt else {
                continue;
            };
            let contract = std::sync::Arc::new(prompt.spec.contract.clone());
            for case in 0..suite.cases.len() {
                let rendered = suite
                    .case_vars(case, &prompt.spec.variables)
                    .map_err(|e| e.to_string())
                    .and_then(|vars| compiled.render(&vars).map_err(|e| e.to_string()));
                for sample in 0..repeat {
                    let request = match &rendered {
                        Err(error) => Err(error.clone()),
                        Ok(messages) => {
                            let mut request = ChatRequest::plain(
                                suite
                                    .provider
                                    .clone()
                                    .unwrap_or_else(|| prompt.spec.provider.clone()),
                                prompt.spec.model.clone(),
                                prompt.spec.params.clone(),
                                messages.clone(),
                            );
                            request.contract = contract.clone();
                            let key = executor.key(&request, sample)?;
                            calls.entry(key.clone()).or_insert(request);
                            Ok(key)
                        }
                    };
                    jobs.push(Job {
                        suite: s,
                        side,
                        case,
                        request,
                    });
                }
            }
        }
    }
    Ok((jobs, calls))
}

/// Checks every assertion of a case on one answer. `judged` gives the verdict of the
/// case's `llm_judge` assertion `a`, graded in the judges' round.
async fn grade<'a>(
    assertions: &[Assertion],
    answer: &CachedReply,
    cost_usd: f64,
    judged: impl Fn(usize) -> Option<&'a AssertionResult>,
) -> Sample {
    let output = Output {
        text: &answer.reply.text,
        latency_ms: answer.latency_ms,
        cost_usd,
    };
    let mut checks = Vec::new();
    for (a, assertion) in assertions.iter().enumerate() {
        let result = match assertions::check(assertion, output) {
            Some(result) => result,
            None => match assertion {
                Assertion::Exec { command } => assertions::exec(command, output.text).await,
                _ => judged(a).cloned().unwrap_or_else(|| {
                    AssertionResult::error("llm_judge", "the judge gave no verdict")
                }),
            },
        };
        checks.push(result);
    }
    Sample {
        outcome: checks
            .iter()
            .fold(Outcome::Pass, |worst, c| worst.worst(c.outcome)),
        output: Some(answer.reply.text.clone()),
        error: None,
        assertions: checks,
        latency_ms: Some(answer.latency_ms),
        input_tokens: answer.reply.input_tokens,
        output_tokens: answer.reply.output_tokens,
        cost_usd,
    }
}

/// The requests that failed for good, grouped by what was said, most frequent first.
fn group_failures(failures: &[RequestFailure]) -> Vec<FailureGroup> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for failure in failures {
        *counts.entry(failure.to_string()).or_default() += 1;
    }
    let mut groups: Vec<FailureGroup> = counts
        .into_iter()
        .map(|(message, count)| FailureGroup { count, message })
        .collect();
    groups.sort_by_key(|g| std::cmp::Reverse(g.count));
    groups
}

fn side_input<'a>(set: &'a PromptSet, suite: &Suite) -> SideInput<'a> {
    let prompt = set
        .get(&suite.prompt)
        .map_err(|e| e.to_string())
        .and_then(|prompt| {
            let compiled = prompt.compile().map_err(|e| e.to_string())?;
            Ok((prompt, compiled))
        });
    SideInput {
        spec: set.spec.to_string(),
        prompt,
    }
}

/// Prices from `[prices]`: `PROVIDER/MODEL` first, then `MODEL`.
struct Prices<'a>(&'a ProjectConfig);

impl Prices<'_> {
    fn cost(&self, provider: &str, model: &str, answer: &CachedReply) -> f64 {
        let prices = &self.0.prices;
        let price = prices
            .get(&format!("{provider}/{model}"))
            .or_else(|| prices.get(model));
        price.map_or(0.0, |p| {
            (p.input * answer.reply.input_tokens as f64
                + p.output * answer.reply.output_tokens as f64)
                / 1_000_000.0
        })
    }
}

/// Grades every `llm_judge` assertion of every answered job: offline judges directly, the
/// others through a round of requests.
async fn judge_all(
    executor: &Executor,
    suites: &[Suite],
    sides: &[[SideInput<'_>; 2]],
    jobs: &[Job],
    answers: &Answers,
    progress: &Arc<dyn Progress>,
) -> Result<HashMap<(usize, usize), AssertionResult>, EvalError> {
    let mut verdicts = HashMap::new();
    let mut pending: Vec<((usize, usize), String)> = Vec::new();
    let mut calls = BTreeMap::new();
    for (index, job) in jobs.iter().enumerate() {
        let Ok(key) = &job.request else { continue };
        let Some(Ok(answer)) = answers.get(key) else {
            continue;
        };
        let suite = &suites[job.suite];
        let Ok((prompt, _)) = &sides[job.suite][job.side].prompt else {
            continue;
        };
        for (a, assertion) in suite.cases[job.case].assertions.iter().enumerate() {
            let Assertion::LlmJudge {
                rubric,
                provider,
                model,
            } = assertion
            else {
                continue;
            };
            let provider = suite
                .judge_provider(provider.as_deref(), &prompt.spec.provider)
                .to_owned();
            let section = provider_section(&executor.config, &provider)?;
            if section.kind == ProviderKind::Offline {
                verdicts.insert(
                    (index, a),
                    super::judge::offline_judge(rubric, &answer.reply.text),
                );
                continue;
            }
            let model = model.clone().unwrap_or_else(|| prompt.spec.model.clone());
            let request =
                super::judge::judge_request(&provider, &model, rubric, &answer.reply.text);
            let key = executor.key(&request, 0)?;
            calls.entry(key.clone()).or_insert(request);
            pending.push(((index, a), key));
        }
    }
    let graded = executor.run_all(calls, progress).await?;
    for (slot, key) in pending {
        let verdict = match &graded[&key] {
            Ok(answer) => super::judge::judge_verdict(&answer.reply.text),
            Err(failure) => {
                AssertionResult::error("llm_judge", format!("the judge failed: {failure}"))
            }
        };
        verdicts.insert(slot, verdict);
    }
    Ok(verdicts)
}
