//! The eval runner: every case of every suite on the old and the new version, side by side.
//!
//! A run renders every (suite, version, case, sample), sends each distinct request once
//! (identical requests within a run share one answer), answers what it can from the cache,
//! and sends the rest concurrently under one shared limit and each provider's own limits,
//! retrying 429s, 5xx and timeouts with exponential backoff and jitter (or `Retry-After`).
//! Each answer is cached as it arrives, so an interrupted run resumes where it stopped.
//! Judges (`llm_judge`) are a second round of requests through the same path.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::assertions::{self, AssertionResult, Output};
use super::cache::{Cache, CachedReply, request_key};
use super::provider::{CallError, ChatRequest, Provider, ProviderError, provider_section};
use super::report::{
    CaseReport, CaseSide, Change, Report, RequestStats, SideSummary, SuiteReport, apply_gate,
};
use super::suite::{Assertion, Gate, Suite};
use crate::config::{ProjectConfig, ProviderKind};
use crate::project::Project;
use crate::prompt::{CompiledPrompt, Prompt};
use crate::source::{self, PromptSet, RevisionSpec, SourceError};

/// The longest a `Retry-After` is honoured; a server asking for more is retried sooner.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// The first backoff without `Retry-After`; it doubles per attempt.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// The longest backoff without `Retry-After`.
const MAX_BACKOFF: Duration = Duration::from_secs(20);

/// How to run.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub base: RevisionSpec,
    pub head: RevisionSpec,
    /// Requests in flight at once over all providers.
    pub concurrency: usize,
    /// Samples per case, instead of each suite's `repeat`.
    pub repeat: Option<u32>,
    /// Read and write `.promptctl/cache`.
    pub use_cache: bool,
    /// Gate limits that replace the suites' own.
    pub gate: Gate,
}

/// Progress of a run, for a progress bar.
pub trait Progress: Send + Sync {
    /// `total` requests are about to be sent (cache hits are not counted).
    fn start(&self, total: usize);
    /// One more request is answered or has failed.
    fn advance(&self);
    /// All requests are done.
    fn finish(&self);
}

/// No progress display.
pub struct Quiet;

impl Progress for Quiet {
    fn start(&self, _: usize) {}
    fn advance(&self) {}
    fn finish(&self) {}
}

/// Why a run could not be made.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error("cannot write the eval cache `{path}`: {message}")]
    Cache { path: String, message: String },
}

/// One side of a suite: the prompt there, compiled, or why it cannot run.
struct SideInput<'a> {
    spec: String,
    prompt: Result<(&'a Prompt, CompiledPrompt), String>,
}

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
    let mut calls: BTreeMap<String, ChatRequest> = BTreeMap::new();
    let mut jobs = Vec::new();
    for (s, suite) in suites.iter().enumerate() {
        let repeat = options.repeat.unwrap_or(suite.repeat).max(1);
        for (side, input) in sides[s].iter().enumerate() {
            let Ok((prompt, compiled)) = &input.prompt else {
                continue;
            };
            for case in 0..suite.cases.len() {
                let rendered = suite
                    .case_vars(case)
                    .map_err(|e| e.to_string())
                    .and_then(|vars| compiled.render(&vars).map_err(|e| e.to_string()));
                for sample in 0..repeat {
                    let request = rendered.clone().map(|messages| {
                        let request = ChatRequest {
                            provider: suite
                                .provider
                                .clone()
                                .unwrap_or_else(|| prompt.spec.provider.clone()),
                            model: prompt.spec.model.clone(),
                            params: prompt.spec.params.clone(),
                            messages,
                        };
                        let key = request_key(&request, sample);
                        calls.entry(key.clone()).or_insert(request);
                        key
                    });
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
    let executor = Executor::new(project, options)?;
    let requests: HashMap<String, ChatRequest> = calls.clone().into_iter().collect();
    let answers = executor.run_all(calls, &progress).await?;
    // Judges grade outputs: a second round through the same cache, limits and retries.
    let judged = judge_all(&executor, suites, &sides, &jobs, &answers, &progress).await?;
    progress.finish();
    let mut report = Report {
        suites: Vec::new(),
        passed: true,
        requests: executor.stats(),
    };
    let prices = Prices(&project.config);
    let mut results: HashMap<(usize, usize, usize), Vec<Sample>> = HashMap::new();
    for (index, job) in jobs.iter().enumerate() {
        let suite = &suites[job.suite];
        let sample = match &job.request {
            Err(error) => Sample::failed(error.clone()),
            Ok(key) => match &answers[key] {
                Err(error) => Sample::failed(error.clone()),
                Ok(answer) => {
                    let request = &requests[key];
                    let cost = prices.cost(request, answer);
                    let output = Output {
                        text: &answer.reply.text,
                        latency_ms: answer.latency_ms,
                        cost_usd: cost,
                    };
                    let mut checks = Vec::new();
                    for (a, assertion) in suite.cases[job.case].assertions.iter().enumerate() {
                        let result = match assertions::check(assertion, output) {
                            Some(result) => result,
                            None => match assertion {
                                Assertion::Exec { command } => {
                                    assertions::exec(command, output.text).await
                                }
                                _ => judged.get(&(index, a)).cloned().unwrap_or_else(|| {
                                    AssertionResult {
                                        kind: "llm_judge".into(),
                                        pass: false,
                                        reason: "the judge gave no verdict".into(),
                                    }
                                }),
                            },
                        };
                        checks.push(result);
                    }
                    Sample {
                        pass: checks.iter().all(|c| c.pass),
                        output: Some(answer.reply.text.clone()),
                        error: None,
                        assertions: checks,
                        latency_ms: Some(answer.latency_ms),
                        input_tokens: answer.reply.input_tokens,
                        output_tokens: answer.reply.output_tokens,
                        cost_usd: cost,
                    }
                }
            },
        };
        results
            .entry((job.suite, job.side, job.case))
            .or_default()
            .push(sample);
    }
    for (s, suite) in suites.iter().enumerate() {
        let suite_report = suite_report(suite, &sides[s], &results, s, options);
        report.passed &= suite_report.gate.passed;
        report.suites.push(suite_report);
    }
    Ok(report)
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

/// One sample's result.
#[derive(Debug, Clone)]
struct Sample {
    pass: bool,
    output: Option<String>,
    error: Option<String>,
    assertions: Vec<AssertionResult>,
    latency_ms: Option<f64>,
    input_tokens: u64,
    output_tokens: u64,
    cost_usd: f64,
}

impl Sample {
    fn failed(error: String) -> Self {
        Sample {
            pass: false,
            output: None,
            error: Some(error),
            assertions: Vec::new(),
            latency_ms: None,
            input_tokens: 0,
            output_tokens: 0,
            cost_usd: 0.0,
        }
    }
}

fn suite_report(
    suite: &Suite,
    sides: &[SideInput<'_>; 2],
    results: &HashMap<(usize, usize, usize), Vec<Sample>>,
    s: usize,
    options: &EvalOptions,
) -> SuiteReport {
    let summaries: Vec<SideSummary> = (0..2)
        .map(|side| {
            summarize(
                &sides[side],
                (0..suite.cases.len()).filter_map(|c| results.get(&(s, side, c))),
            )
        })
        .collect();
    let cases = suite
        .cases
        .iter()
        .enumerate()
        .map(|(c, case)| {
            let side = |i: usize| results.get(&(s, i, c)).map(|samples| case_side(samples));
            let (base, head) = (side(0), side(1));
            let change = match (&base, &head) {
                (Some(b), Some(h)) if b.pass && !h.pass => Change::Regressed,
                (Some(b), Some(h)) if !b.pass && h.pass => Change::Fixed,
                (Some(_), Some(_)) => Change::Same,
                _ => Change::New,
            };
            CaseReport {
                name: case.name.clone(),
                base,
                head,
                change,
            }
        })
        .collect();
    let gate = Gate {
        // No limit set anywhere means no regression allowed: the safe default for a
        // pre-merge check.
        max_pass_rate_drop: options
            .gate
            .max_pass_rate_drop
            .or(suite.gate.max_pass_rate_drop)
            .or(Some(0.0)),
        max_cost_increase: options
            .gate
            .max_cost_increase
            .or(suite.gate.max_cost_increase),
        max_latency_increase: options
            .gate
            .max_latency_increase
            .or(suite.gate.max_latency_increase),
        alert_only: suite.gate.alert_only.clone(),
    };
    let mut summaries = summaries.into_iter();
    let base = summaries.next().unwrap_or_default();
    let head = summaries.next().unwrap_or_default();
    let gate = apply_gate(&gate, &base, &head);
    SuiteReport {
        suite: suite.name.clone(),
        path: suite.path.clone(),
        prompt: suite.prompt.clone(),
        base,
        head,
        cases,
        gate,
    }
}

fn case_side(samples: &[Sample]) -> CaseSide {
    let shown = samples.iter().find(|s| !s.pass).or(samples.first());
    CaseSide {
        pass: samples.iter().all(|s| s.pass),
        output: shown.and_then(|s| s.output.clone()),
        error: shown.and_then(|s| s.error.clone()),
        assertions: shown.map(|s| s.assertions.clone()).unwrap_or_default(),
        samples_passed: samples.iter().filter(|s| s.pass).count(),
        samples: samples.len(),
    }
}

fn summarize<'a>(
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
        all_passed += usize::from(samples.iter().all(|s| s.pass));
        for sample in samples {
            summary.samples += 1;
            if sample.pass {
                summary.passed += 1;
            } else {
                summary.failed += 1;
            }
            if sample.error.is_some() {
                summary.errors += 1;
            }
            latencies.extend(sample.latency_ms);
            summary.input_tokens += sample.input_tokens;
            summary.output_tokens += sample.output_tokens;
            summary.cost_usd += sample.cost_usd;
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    summary.pass_rate = ratio(summary.passed, summary.samples);
    summary.pass_all = ratio(all_passed, case_count);
    if !latencies.is_empty() {
        latencies.sort_by(f64::total_cmp);
        summary.mean_latency_ms = latencies.iter().sum::<f64>() / latencies.len() as f64;
        let rank = ((latencies.len() as f64) * 0.95).ceil() as usize;
        summary.p95_latency_ms = latencies[rank.clamp(1, latencies.len()) - 1];
    }
    summary
}

/// Prices from `[prices]`: `PROVIDER/MODEL` first, then `MODEL`.
struct Prices<'a>(&'a ProjectConfig);

impl Prices<'_> {
    fn cost(&self, request: &ChatRequest, answer: &CachedReply) -> f64 {
        let prices = &self.0.prices;
        let price = prices
            .get(&format!("{}/{}", request.provider, request.model))
            .or_else(|| prices.get(&request.model));
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
    answers: &HashMap<String, Result<CachedReply, String>>,
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
            let provider = provider
                .clone()
                .or_else(|| suite.provider.clone())
                .unwrap_or_else(|| prompt.spec.provider.clone());
            let section = provider_section(&executor.config, &provider)?;
            if section.kind == ProviderKind::Offline {
                verdicts.insert(
                    (index, a),
                    assertions::offline_judge(rubric, &answer.reply.text),
                );
                continue;
            }
            let model = model.clone().unwrap_or_else(|| prompt.spec.model.clone());
            let request = assertions::judge_request(&provider, &model, rubric, &answer.reply.text);
            let key = request_key(&request, 0);
            calls.entry(key.clone()).or_insert(request);
            pending.push(((index, a), key));
        }
    }
    let graded = executor.run_all(calls, progress).await?;
    for (slot, key) in pending {
        let verdict = match &graded[&key] {
            Ok(answer) => assertions::judge_verdict(&answer.reply.text),
            Err(error) => AssertionResult {
                kind: "llm_judge".into(),
                pass: false,
                reason: format!("the judge failed: {error}"),
            },
        };
        verdicts.insert(slot, verdict);
    }
    Ok(verdicts)
}

/// Sends requests: cache first, then providers, under the shared limit.
struct Executor {
    config: ProjectConfig,
    cache: Option<Arc<Cache>>,
    concurrency: usize,
    providers: std::sync::Mutex<HashMap<String, Arc<Provider>>>,
    counters: Arc<Counters>,
}

#[derive(Default)]
struct Counters {
    distinct: AtomicUsize,
    cached: AtomicUsize,
    sent: AtomicUsize,
    retries: AtomicUsize,
    failed: AtomicUsize,
}

impl Executor {
    fn new(project: &Project, options: &EvalOptions) -> Result<Self, EvalError> {
        Ok(Executor {
            config: project.config.clone(),
            cache: options
                .use_cache
                .then(|| Arc::new(Cache::new(&project.root))),
            concurrency: options.concurrency.max(1),
            providers: std::sync::Mutex::new(HashMap::new()),
            counters: Arc::new(Counters::default()),
        })
    }

    fn stats(&self) -> RequestStats {
        let get = |c: &AtomicUsize| c.load(Ordering::Relaxed);
        RequestStats {
            distinct: get(&self.counters.distinct),
            cached: get(&self.counters.cached),
            sent: get(&self.counters.sent),
            retries: get(&self.counters.retries),
            failed: get(&self.counters.failed),
        }
    }

    fn provider(&self, name: &str) -> Result<Arc<Provider>, ProviderError> {
        let mut providers = self.providers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(provider) = providers.get(name) {
            return Ok(Arc::clone(provider));
        }
        let provider = Arc::new(Provider::open(&self.config, name)?);
        providers.insert(name.to_owned(), Arc::clone(&provider));
        Ok(provider)
    }

    /// Answers every request, by key.
    async fn run_all(
        &self,
        calls: BTreeMap<String, ChatRequest>,
        progress: &Arc<dyn Progress>,
    ) -> Result<HashMap<String, Result<CachedReply, String>>, EvalError> {
        let mut answers = HashMap::new();
        let mut misses = Vec::new();
        self.counters
            .distinct
            .fetch_add(calls.len(), Ordering::Relaxed);
        for (key, request) in calls {
            match self.cache.as_ref().and_then(|c| c.get(&key)) {
                Some(hit) => {
                    self.counters.cached.fetch_add(1, Ordering::Relaxed);
                    answers.insert(key.clone(), Ok(hit));
                }
                None => misses.push((key.clone(), request.clone())),
            }
        }
        // Every provider a miss needs is set up before anything is sent, so a missing key
        // fails the run at once rather than after half of it.
        let mut needed = HashMap::new();
        for (_, request) in &misses {
            if !needed.contains_key(&request.provider) {
                needed.insert(request.provider.clone(), self.provider(&request.provider)?);
            }
        }
        progress.start(misses.len());
        let limit = Arc::new(tokio::sync::Semaphore::new(self.concurrency));
        let mut tasks = tokio::task::JoinSet::new();
        for (key, request) in misses {
            let provider = Arc::clone(&needed[&request.provider]);
            let limit = Arc::clone(&limit);
            let cache = self.cache.clone();
            let counters = Arc::clone(&self.counters);
            let progress = Arc::clone(progress);
            tasks.spawn(async move {
                let answer = call_with_retries(&provider, &request, &limit, &counters).await;
                // Written as each answer arrives, on the blocking pool so that disk time
                // never holds up the requests in flight.
                let stored = match (&answer, cache) {
                    (Ok(reply), Some(cache)) => {
                        let (key, reply) = (key.clone(), reply.clone());
                        tokio::task::spawn_blocking(move || {
                            cache.put(&key, &reply).map_err(|e| (key, e))
                        })
                        .await
                        .unwrap_or(Ok(()))
                    }
                    _ => Ok(()),
                };
                progress.advance();
                (key, answer, stored)
            });
        }
        while let Some(joined) = tasks.join_next().await {
            let (key, answer, stored) = joined.map_err(|e| EvalError::Cache {
                path: String::new(),
                message: format!("a request task failed: {e}"),
            })?;
            if let Err((key, error)) = stored {
                return Err(EvalError::Cache {
                    path: format!("{}/{}", super::cache::CACHE_DIR, &key[..2]),
                    message: error.to_string(),
                });
            }
            if answer.is_err() {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
            } else {
                self.counters.sent.fetch_add(1, Ordering::Relaxed);
            }
            answers.insert(key, answer);
        }
        Ok(answers)
    }
}

/// Sends one request, retrying what is worth retrying. The shared limit is held only while
/// the request is in flight, not while it waits to retry.
async fn call_with_retries(
    provider: &Provider,
    request: &ChatRequest,
    limit: &tokio::sync::Semaphore,
    counters: &Counters,
) -> Result<CachedReply, String> {
    let mut attempt = 0u32;
    loop {
        let result = {
            let _permit = limit.acquire().await.map_err(|e| e.to_string())?;
            provider.complete(request).await
        };
        match result {
            Ok((reply, latency)) => {
                return Ok(CachedReply {
                    reply,
                    latency_ms: latency.as_secs_f64() * 1000.0,
                });
            }
            Err(CallError::Retryable { retry_after, .. }) if attempt < provider.max_retries() => {
                counters.retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(backoff(attempt, retry_after)).await;
                attempt += 1;
            }
            Err(error) => {
                let tries = if attempt > 0 {
                    format!(" (after {} attempts)", attempt + 1)
                } else {
                    String::new()
                };
                return Err(format!("provider `{}`: {error}{tries}", provider.name()));
            }
        }
    }
}

/// How long to wait before retry `attempt` (0-based): the server's `Retry-After` when it
/// gives one (at most a minute), else exponential backoff from 200 ms with full jitter.
fn backoff(attempt: u32, retry_after: Option<Duration>) -> Duration {
    if let Some(wait) = retry_after {
        return wait.min(MAX_RETRY_AFTER);
    }
    let ceiling = FIRST_BACKOFF
        .saturating_mul(2u32.saturating_pow(attempt.min(16)))
        .min(MAX_BACKOFF);
    ceiling.mul_f64(0.5 + 0.5 * jitter())
}

/// A number in [0, 1) that differs between calls and processes; not for cryptography.
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(pass: bool, latency: f64) -> Sample {
        Sample {
            pass,
            latency_ms: Some(latency),
            cost_usd: 0.5,
            ..Sample::failed(String::new())
        }
    }

    #[test]
    fn summaries_count_samples_cases_and_percentiles() {
        let input = SideInput {
            spec: "HEAD".into(),
            prompt: Err("absent".into()),
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
        };
        let mut cases = vec![
            vec![sample(true, 10.0), sample(true, 20.0)],
            vec![sample(true, 30.0), sample(false, 40.0)],
        ];
        cases.push(
            (1..=20)
                .map(|i| sample(true, f64::from(i) * 100.0))
                .collect(),
        );
        let summary = summarize(&input, cases.iter());
        assert_eq!(
            (summary.samples, summary.passed, summary.failed),
            (24, 23, 1)
        );
        assert!((summary.pass_all - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(summary.p95_latency_ms, 1900.0);
        assert_eq!(summary.cost_usd, 12.0);
    }

    #[test]
    fn backoff_honours_retry_after_and_grows_without_it() {
        assert_eq!(
            backoff(0, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(backoff(0, Some(Duration::from_secs(600))), MAX_RETRY_AFTER);
        let first = backoff(0, None);
        assert!(
            first >= Duration::from_millis(100) && first <= FIRST_BACKOFF,
            "{first:?}"
        );
        let later = backoff(4, None);
        assert!(later >= Duration::from_millis(1600), "{later:?}");
        assert!(backoff(30, None) <= MAX_BACKOFF);
    }
}
