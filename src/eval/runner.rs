//! The eval runner: every case of every suite on the old and the new version, side by side.
//!
//! A run plans every (suite, version, case, sample) as a rendered request, has the
//! [`Executor`](super::executor) answer each distinct request once (cache, then providers),
//! grades the answers (judges are a second round of requests through the same path), and
//! collects the figures, the comparison and the gate per suite.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::arms::Overrides;
use super::assertions::{self, AssertionResult, Outcome, Output};
use super::cache::{CachedReply, RequestKey};
use super::collect::{Results, Sample, suite_report};
use super::executor::{Answers, Executor, Outgoing, RequestFailure};
use super::provider::{ChatRequest, provider_section};
use super::report::{FailureGroup, Report};
use super::run_input::{EvalError, EvalOptions, Progress, SideInput};
use super::suite::{Assertion, Suite};
use super::turns::{Follow, Rounds, follow_tool_calls};
use crate::config::{ProjectConfig, ProviderKind};
use crate::project::Project;
use crate::prompt::{Contract, RenderedMessage, ToolCall};
use crate::source::{self, PromptSet};

/// One (suite, side, case, sample) to run.
struct Job {
    suite: usize,
    side: usize,
    case: usize,
    sample: u32,
    /// The cache key of its last request, or why there is no request.
    request: Result<RequestKey, String>,
    /// Its rounds of tool calls, when its case gives tool results.
    rounds: Rounds,
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
    let plain = Overrides::default();
    let sides: Vec<Vec<SideInput<'_>>> = suites
        .iter()
        .map(|suite| {
            vec![
                side_input(&base, suite, &plain),
                side_input(&head, suite, &plain),
            ]
        })
        .collect();
    let mut executed = execute(project, suites, &sides, options, progress).await?;
    let mut report = Report {
        suites: Vec::new(),
        passed: true,
        requests: executed.requests,
        failures: executed.failures,
    };
    for (s, suite) in suites.iter().enumerate() {
        let suite_report = suite_report(suite, &sides[s], &mut executed.results, s, &options.gate);
        report.passed &= suite_report.gate.passed;
        report.suites.push(suite_report);
    }
    Ok(report)
}

/// The samples of every (suite, side, case), and what the requests cost to get.
pub(super) struct Executed {
    pub results: Results,
    pub requests: super::report::RequestStats,
    pub failures: Vec<FailureGroup>,
}

/// Runs every case of every suite on each of its sides (two for a comparison of versions,
/// or the arms of an N-way one): identical requests over all sides are sent once.
pub(super) async fn execute(
    project: &Project,
    suites: &[Suite],
    sides: &[Vec<SideInput<'_>>],
    options: &EvalOptions,
    progress: Arc<dyn Progress>,
) -> Result<Executed, EvalError> {
    let executor = Executor::new(project, options);
    let (mut jobs, calls) = plan(suites, sides, options.repeat, &executor)?;
    // Pricing needs only who answered: a side's provider and model, the same on every
    // round of its cases (one pair per side, not one per request).
    let models: Vec<Vec<Option<(String, String)>>> = sides
        .iter()
        .zip(suites)
        .map(|(inputs, suite)| {
            inputs
                .iter()
                .map(|input| input.target(suite.provider.as_deref()))
                .collect()
        })
        .collect();
    // Only the requests a case may answer tool calls of are kept for a next round.
    let followed: HashMap<RequestKey, ChatRequest> = jobs
        .iter()
        .filter(|job| !suites[job.suite].cases[job.case].tool_results.is_empty())
        .filter_map(|job| job.request.as_ref().ok())
        .filter_map(|key| Some((*key, calls.get(key)?.clone().make().ok()?)))
        .collect();
    let mut answers = executor.run_all(calls, &progress).await?;
    let mut follows: Vec<Follow<'_>> = jobs
        .iter_mut()
        .map(|job| Follow {
            suite: &suites[job.suite],
            case: job.case,
            sample: job.sample,
            request: &mut job.request,
            rounds: &mut job.rounds,
        })
        .collect();
    follow_tool_calls(&executor, &mut follows, &mut answers, followed, &progress).await?;
    drop(follows);
    // Judges grade outputs: a second round through the same cache, limits and retries.
    let judged = judge_all(&executor, suites, sides, &jobs, &answers, &progress).await?;
    progress.finish();
    let prices = Prices(&project.config);
    let mut results = Results::new(
        suites
            .iter()
            .zip(sides)
            .map(|(suite, inputs)| (inputs.len(), suite.cases.len())),
    );
    for (index, job) in jobs.iter().enumerate() {
        let sample = match &job.request {
            Err(error) => Sample::failed(error.clone()),
            Ok(key) => match &answers[key] {
                Err(failure) => Sample::failed(failure.to_string()),
                Ok(answer) => {
                    let Some((provider, model)) = &models[job.suite][job.side] else {
                        continue;
                    };
                    // Every round is paid for and waited on.
                    let turns: Vec<&CachedReply> = job
                        .rounds
                        .earlier
                        .iter()
                        .filter_map(|k| answers.get(k)?.as_ref().ok())
                        .chain([answer])
                        .collect();
                    let cost = turns.iter().map(|t| prices.cost(provider, model, t)).sum();
                    let case = &suites[job.suite].cases[job.case];
                    let Ok((prompt, _)) = &sides[job.suite][job.side].prompt else {
                        continue;
                    };
                    let answered = Answered {
                        turns: &turns,
                        rounds: &job.rounds,
                        contract: &prompt.spec.contract,
                        max_turns: suites[job.suite].max_turns,
                    };
                    grade(&case.assertions, &answered, cost, |a| {
                        judged.get(&(index, a))
                    })
                    .await
                }
            },
        };
        // Exactly as many samples as the suite repeats: a vector grown by doubling kept
        // three empty slots per case (8.6 MB of a 10,000-case run).
        let repeat = repeats(suites, job.suite, options.repeat) as usize;
        results.push(&(job.suite, job.side, job.case), repeat, sample);
    }
    Ok(Executed {
        results,
        requests: executor.stats(),
        failures: group_failures(&executor.failures()),
    })
}

/// How many samples each case of suite `s` takes: `--repeat`, else the suite's, at least 1.
fn repeats(suites: &[Suite], s: usize, repeat: Option<u32>) -> u32 {
    repeat.unwrap_or(suites[s].repeat).max(1)
}

/// Renders every (suite, side, case, sample) into a request; identical requests share one
/// key, so each is sent once.
fn plan<'a>(
    suites: &'a [Suite],
    sides: &'a [Vec<SideInput<'a>>],
    repeat: Option<u32>,
    executor: &Executor,
) -> Result<(Vec<Job>, BTreeMap<RequestKey, Planned<'a>>), EvalError> {
    let mut calls: BTreeMap<RequestKey, Planned<'a>> = BTreeMap::new();
    let count = (0..suites.len())
        .map(|s| sides[s].len() * suites[s].cases.len() * repeats(suites, s, repeat) as usize)
        .sum();
    let mut jobs = Vec::with_capacity(count);
    for (s, suite) in suites.iter().enumerate() {
        let repeat = repeats(suites, s, repeat);
        for (side, input) in sides[s].iter().enumerate() {
            let Ok((prompt, _)) = &input.prompt else {
                continue;
            };
            let (provider, model) = input
                .target(suite.provider.as_deref())
                .expect("the prompt is there");
            let mut params = prompt.spec.params.clone();
            params.extend(input.overrides.params.clone());
            let mut shape = ChatRequest::plain(provider, model, params, Vec::new());
            shape.contract = Arc::new(prompt.spec.contract.clone());
            let shape = Arc::new(shape);
            for case in 0..suite.cases.len() {
                let planned = Planned {
                    shape: Arc::clone(&shape),
                    suite,
                    input,
                    case,
                };
                let rendered = planned.messages();
                for sample in 0..repeat {
                    let request = match &rendered {
                        Err(error) => Err(error.clone()),
                        Ok(messages) => {
                            let key = executor.key(&planned.with(messages.clone()), sample)?;
                            calls.entry(key).or_insert_with(|| planned.clone());
                            Ok(key)
                        }
                    };
                    jobs.push(Job {
                        suite: s,
                        side,
                        case,
                        sample,
                        request,
                        rounds: Rounds::default(),
                    });
                }
            }
        }
    }
    Ok((jobs, calls))
}

/// A request of the plan, rendered again when it is sent: the plan renders every request
/// once for its key (identical ones are sent once), but holding 20,000 rendered requests
/// until the last is answered was most of a large run's memory.
#[derive(Clone)]
struct Planned<'a> {
    /// Its side's request without messages: provider, model, parameters, contract.
    shape: Arc<ChatRequest>,
    suite: &'a Suite,
    input: &'a SideInput<'a>,
    case: usize,
}

impl Planned<'_> {
    /// The case's messages, rendered from its side's template and its variables.
    fn messages(&self) -> Result<Vec<RenderedMessage>, String> {
        let Ok((prompt, compiled)) = &self.input.prompt else {
            return Err("the prompt is not there".into());
        };
        let vars = self
            .suite
            .case_vars(self.case, &prompt.spec.variables)
            .map_err(|e| e.to_string())?;
        compiled.render(&vars).map_err(|e| e.to_string())
    }

    /// Its side's request with `messages`.
    fn with(&self, messages: Vec<RenderedMessage>) -> ChatRequest {
        ChatRequest {
            messages,
            ..(*self.shape).clone()
        }
    }
}

impl super::executor::Outgoing for Planned<'_> {
    fn provider(&self) -> &str {
        &self.shape.provider
    }

    /// The same messages as when planned: rendering is a function of the template and
    /// the case's variables.
    fn make(self) -> Result<ChatRequest, String> {
        Ok(self.with(self.messages()?))
    }
}

/// A final answer with the rounds that led to it.
struct Answered<'a> {
    /// Every reply, the final one last.
    turns: &'a [&'a CachedReply],
    rounds: &'a Rounds,
    contract: &'a Contract,
    max_turns: u32,
}

/// Checks the contract and every assertion of a case on one answer. `judged` gives the
/// verdict of the case's `llm_judge` assertion `a`, graded in the judges' round.
async fn grade<'a>(
    assertions: &[Assertion],
    answered: &Answered<'_>,
    cost_usd: f64,
    judged: impl Fn(usize) -> Option<&'a AssertionResult>,
) -> Sample {
    let answer = answered.turns.last().expect("an answer has a last turn");
    let tool_calls: Vec<ToolCall> = answered
        .rounds
        .exchanges
        .iter()
        .flat_map(|e| e.calls.iter().cloned())
        .chain(answer.reply.tool_calls.iter().cloned())
        .collect();
    let latency_ms = answered.turns.iter().map(|t| t.latency_ms).sum();
    let output = Output {
        text: &answer.reply.text,
        latency_ms,
        cost_usd,
        tool_calls: &tool_calls,
    };
    let pending = !answer.reply.tool_calls.is_empty();
    let mut checks =
        super::contract_checks::automatic(answered.contract, output.text, &tool_calls, !pending);
    if answered.rounds.exhausted {
        checks.push(super::contract_checks::turns_exhausted(answered.max_turns));
    }
    for (a, assertion) in assertions.iter().enumerate() {
        let checked = super::contract_checks::check(assertion, output)
            .or_else(|| assertions::check(assertion, output));
        let result = match checked {
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
    // Kept until the report is written, for every case: without room to grow.
    checks.shrink_to_fit();
    Sample {
        outcome: checks
            .iter()
            .fold(Outcome::Pass, |worst, c| worst.worst(c.outcome)),
        output: Some(answer.reply.text.clone()),
        error: None,
        assertions: checks,
        tool_calls,
        latency_ms: Some(latency_ms),
        input_tokens: answered.turns.iter().map(|t| t.reply.input_tokens).sum(),
        output_tokens: answered.turns.iter().map(|t| t.reply.output_tokens).sum(),
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

/// The prompt a suite covers in `set`, compiled, with what an arm changes on it.
pub(super) fn side_input<'a>(
    set: &'a PromptSet,
    suite: &Suite,
    overrides: &Overrides,
) -> SideInput<'a> {
    let prompt = set
        .get(&suite.prompt)
        .map_err(|e| e.to_string())
        .and_then(|prompt| {
            // A schema that is not valid JSON Schema checks nothing: the version cannot be
            // evaluated, rather than pass its schema checks by accident.
            if let Some(problem) = prompt.schema_problems().first() {
                return Err(problem.to_string());
            }
            let compiled = prompt.compile().map_err(|e| e.to_string())?;
            Ok((prompt, compiled))
        });
    SideInput {
        spec: set.spec.to_string(),
        prompt,
        overrides: overrides.clone(),
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
    sides: &[Vec<SideInput<'_>>],
    jobs: &[Job],
    answers: &Answers,
    progress: &Arc<dyn Progress>,
) -> Result<HashMap<(usize, usize), AssertionResult>, EvalError> {
    let mut verdicts = HashMap::new();
    let mut pending: Vec<((usize, usize), RequestKey)> = Vec::new();
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
            calls.entry(key).or_insert(request);
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
