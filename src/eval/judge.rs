//! The `llm_judge` assertion's grading: the request a judge model gets and how its answer
//! is read, and the offline judge that grades by the quoted phrases of a rubric.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::outcome::{AssertionResult, shorten};
use super::provider::ChatRequest;
use crate::prompt::{RenderedMessage, Role};

/// Builds the request a judge model grades an output with.
pub fn judge_request(provider: &str, model: &str, rubric: &str, text: &str) -> ChatRequest {
    ChatRequest::plain(
        provider,
        model,
        BTreeMap::from([("temperature".to_owned(), json!(0))]),
        vec![
            RenderedMessage {
                role: Role::System,
                content: "You grade the output of an AI assistant against a rubric. Answer with one JSON object and nothing else: {\"pass\": <true or false>, \"reason\": \"<one sentence>\"}.".into(),
            },
            RenderedMessage {
                role: Role::User,
                content: format!("Rubric:\n{rubric}\n\nOutput:\n{text}"),
            },
        ],
    )
}

/// Reads a judge's answer: a JSON object with `pass` and `reason`, possibly inside other
/// text or a code fence.
pub fn judge_verdict(answer: &str) -> AssertionResult {
    let object = answer
        .find('{')
        .zip(answer.rfind('}'))
        .filter(|(start, end)| start < end)
        .and_then(|(start, end)| serde_json::from_str::<Value>(&answer[start..=end]).ok());
    match object
        .as_ref()
        .and_then(|o| o["pass"].as_bool().map(|p| (p, o)))
    {
        Some((pass, object)) => {
            let reason = object["reason"].as_str().unwrap_or("").to_owned();
            let mut result = AssertionResult::new("llm_judge", pass, "");
            result.reason = reason;
            if let Some(score) = object["score"].as_f64() {
                result = result.scored(score);
            }
            result
        }
        None => AssertionResult::error(
            "llm_judge",
            format!(
                "the judge's answer has no {{\"pass\": ...}} verdict: {:?}",
                shorten(answer)
            ),
        ),
    }
}

/// The offline judge: deterministic, no model. It passes when the output contains every
/// phrase the rubric puts in double quotes (ignoring case); a rubric without quoted phrases
/// cannot be judged offline.
pub fn offline_judge(rubric: &str, text: &str) -> AssertionResult {
    let phrases: Vec<&str> = rubric
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|p| !p.is_empty())
        .collect();
    if phrases.is_empty() {
        return AssertionResult::error(
            "llm_judge",
            "the offline judge grades quoted phrases only: put what the output must say in double quotes, or judge with a model provider",
        );
    }
    let lower = text.to_lowercase();
    let missing: Vec<&str> = phrases
        .iter()
        .copied()
        .filter(|p| !lower.contains(&p.to_lowercase()))
        .collect();
    let pass = missing.is_empty();
    let mut result = AssertionResult::new("llm_judge", pass, "");
    result.reason = if pass {
        format!("offline judge: output contains {}", quote_all(&phrases))
    } else {
        format!("offline judge: output lacks {}", quote_all(&missing))
    };
    result
}

/// Tells whether the offline judge can grade a rubric: it needs a phrase in double quotes.
pub fn offline_judgeable(rubric: &str) -> bool {
    rubric.split('"').skip(1).step_by(2).any(|p| !p.is_empty())
}

fn quote_all(phrases: &[&str]) -> String {
    phrases
        .iter()
        .map(|p| format!("{p:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}
