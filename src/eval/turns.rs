//! Rounds of tool calls: a case that gives `tool_results` has each call of the model
//! answered with its canned result and sent back, for at most the suite's `max_turns`
//! rounds, and is graded on the final answer.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::cache::RequestKey;
use super::executor::{Answers, Executor};
use super::provider::ChatRequest;
use super::run_input::{EvalError, Progress};
use super::suite::Suite;
use crate::prompt::request::Exchange;

/// Where one (suite, side, case, sample) stands after its rounds.
#[derive(Debug, Default)]
pub(super) struct Rounds {
    /// The keys of the requests before the last, in order.
    pub earlier: Vec<RequestKey>,
    /// The calls answered and their results, in order.
    pub exchanges: Vec<Exchange>,
    /// The model still called tools after `max_turns` rounds.
    pub exhausted: bool,
}

/// One job as the rounds see it.
pub(super) struct Follow<'a> {
    pub suite: &'a Suite,
    pub case: usize,
    pub sample: u32,
    /// The key of its latest request, or why there is none.
    pub request: &'a mut Result<RequestKey, String>,
    pub rounds: &'a mut Rounds,
}

/// Answers the tool calls of every job whose case gives tool results, round after round,
/// until no job calls a tool it may be answered for. `requests` holds the request of every
/// key a job may follow up.
pub(super) async fn follow_tool_calls(
    executor: &Executor,
    jobs: &mut [Follow<'_>],
    answers: &mut Answers,
    mut requests: HashMap<RequestKey, ChatRequest>,
    progress: &Arc<dyn Progress>,
) -> Result<(), EvalError> {
    loop {
        let mut calls = BTreeMap::new();
        for job in jobs.iter_mut() {
            let tool_results = &job.suite.cases[job.case].tool_results;
            let Ok(key) = job.request.as_ref() else {
                continue;
            };
            let Some(Ok(answer)) = answers.get(key) else {
                continue;
            };
            if tool_results.is_empty() || answer.reply.tool_calls.is_empty() {
                continue;
            }
            if job.rounds.exchanges.len() >= job.suite.max_turns as usize {
                job.rounds.exhausted = true;
                continue;
            }
            let mut results = Vec::new();
            for call in &answer.reply.tool_calls {
                match tool_results.get(&call.name) {
                    Some(result) => results.push(result.clone()),
                    None => {
                        results.clear();
                        break;
                    }
                }
            }
            let calls_made = answer.reply.tool_calls.clone();
            if results.is_empty() {
                let missing = calls_made
                    .iter()
                    .find(|c| !tool_results.contains_key(&c.name))
                    .map_or("", |c| c.name.as_str());
                *job.request = Err(format!(
                    "the model called `{missing}`, and the case gives no result for it in `tool_results`"
                ));
                continue;
            }
            let Some(previous) = requests.get(key) else {
                continue;
            };
            let exchange = Exchange {
                text: answer.reply.text.clone(),
                calls: calls_made,
                results,
            };
            let mut next = previous.clone();
            next.exchanges.push(exchange.clone());
            let next_key = executor.key(&next, job.sample)?;
            job.rounds.exchanges.push(exchange);
            if let Ok(earlier) = std::mem::replace(job.request, Ok(next_key)) {
                job.rounds.earlier.push(earlier);
            }
            calls.entry(next_key).or_insert_with(|| next.clone());
            requests.entry(next_key).or_insert(next);
        }
        if calls.is_empty() {
            return Ok(());
        }
        answers.extend(executor.run_all(calls, progress).await?);
    }
}
