//! The request parameters each provider kind's API documents, so that `check` can tell a
//! typo in `[params]` (`temprature`) from a parameter the API takes. The lists follow
//! OpenAI's chat completions reference and Anthropic's Messages reference; the body keys
//! promptctl itself sets (`model`, `messages`, `system`) are not parameters of a prompt.

use crate::config::ProviderKind;

/// OpenAI chat completions (`POST /v1/chat/completions`).
pub const OPENAI_PARAMS: &[&str] = &[
    "audio",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "max_completion_tokens",
    "max_tokens",
    "metadata",
    "modalities",
    "n",
    "parallel_tool_calls",
    "prediction",
    "presence_penalty",
    "prompt_cache_key",
    "reasoning_effort",
    "response_format",
    "safety_identifier",
    "seed",
    "service_tier",
    "stop",
    "store",
    "stream",
    "stream_options",
    "temperature",
    "tool_choice",
    "tools",
    "top_logprobs",
    "top_p",
    "user",
    "verbosity",
    "web_search_options",
];

/// Anthropic Messages (`POST /v1/messages`).
pub const ANTHROPIC_PARAMS: &[&str] = &[
    "container",
    "context_management",
    "max_tokens",
    "mcp_servers",
    "metadata",
    "service_tier",
    "stop_sequences",
    "stream",
    "temperature",
    "thinking",
    "tool_choice",
    "tools",
    "top_k",
    "top_p",
];

/// The parameters a kind's API takes; none for `exec`, whose command decides.
fn known_params(kind: ProviderKind) -> Option<Vec<&'static str>> {
    match kind {
        ProviderKind::Openai => Some(OPENAI_PARAMS.to_vec()),
        ProviderKind::Anthropic => Some(ANTHROPIC_PARAMS.to_vec()),
        // The offline model answers alike whatever it is given; a prompt tried on it is
        // meant for a real API, so it is held to what either one takes.
        ProviderKind::Offline => {
            let mut both: Vec<&str> = OPENAI_PARAMS
                .iter()
                .chain(ANTHROPIC_PARAMS)
                .copied()
                .collect();
            both.sort_unstable();
            both.dedup();
            Some(both)
        }
        ProviderKind::Exec => None,
    }
}

/// A problem with one parameter: a near miss of a known one is an error (`Some(near)`), an
/// unknown one a warning (`None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamProblem {
    pub name: String,
    pub did_you_mean: Option<&'static str>,
}

/// The parameters of `names` that `kind`'s API does not take.
pub fn param_problems<'a>(
    kind: ProviderKind,
    names: impl IntoIterator<Item = &'a String>,
) -> Vec<ParamProblem> {
    let Some(known) = known_params(kind) else {
        return Vec::new();
    };
    names
        .into_iter()
        .filter(|name| !known.contains(&name.as_str()))
        .map(|name| ParamProblem {
            name: name.clone(),
            did_you_mean: crate::base::suggest::closest(name, known.iter().copied()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_is_a_near_miss_and_a_stranger_is_unknown() {
        let names = [
            "temprature".to_owned(),
            "temperature".to_owned(),
            "frobnicate".to_owned(),
        ];
        let problems = param_problems(ProviderKind::Openai, &names);
        assert_eq!(
            problems,
            [
                ParamProblem {
                    name: "temprature".into(),
                    did_you_mean: Some("temperature")
                },
                ParamProblem {
                    name: "frobnicate".into(),
                    did_you_mean: None
                }
            ]
        );
        assert!(param_problems(ProviderKind::Anthropic, &["top_k".to_owned()]).is_empty());
        assert_eq!(
            param_problems(ProviderKind::Openai, &["top_k".to_owned()]).len(),
            1,
            "OpenAI's chat completions take no top_k"
        );
        assert!(param_problems(ProviderKind::Exec, &["anything".to_owned()]).is_empty());
    }
}
