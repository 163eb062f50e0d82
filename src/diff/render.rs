//! Rendered diffs: what the model receives from each version for the same sample values.

use serde::Serialize;

use super::{MessageChange, message_changes};
use crate::eval::Suite;
use crate::prompt::{Prompt, PromptError, RenderedMessage, Vars, coerce_texts};

/// Where the sample values for `diff --render` come from.
#[derive(Debug, Clone)]
pub enum Samples {
    /// Values given by the user: a values file, overlaid with `NAME=VALUE` texts that are
    /// converted to the types each side declares.
    Given {
        values: Vars,
        texts: Vec<(String, String)>,
    },
    /// One eval case (`SUITE:CASE`), used for every prompt compared.
    Case { suite: Box<Suite>, index: usize },
    /// Every case of every suite of the prompt; a prompt without a suite renders once with
    /// its declared defaults.
    Suites(Vec<Suite>),
}

/// One set of values to render both versions with.
#[derive(Debug, Clone)]
pub struct Sample {
    /// How the sample is named in output: `SUITE:CASE`, `given values` or `defaults`.
    pub label: String,
    values: Vars,
    texts: Vec<(String, String)>,
}

impl Sample {
    fn new(label: impl Into<String>, values: Vars) -> Self {
        Sample {
            label: label.into(),
            values,
            texts: Vec::new(),
        }
    }
}

impl Samples {
    /// Returns the samples to render prompt `name` with.
    pub fn for_prompt(&self, name: &str) -> Vec<Sample> {
        match self {
            Samples::Given { values, texts } => vec![Sample {
                label: "given values".into(),
                values: values.clone(),
                texts: texts.clone(),
            }],
            Samples::Case { suite, index } => vec![case_sample(suite, *index)],
            Samples::Suites(suites) => {
                let samples: Vec<Sample> = suites
                    .iter()
                    .filter(|suite| suite.prompt == name)
                    .flat_map(|suite| (0..suite.cases.len()).map(|i| case_sample(suite, i)))
                    .collect();
                if samples.is_empty() {
                    vec![Sample::new("defaults", Vars::new())]
                } else {
                    samples
                }
            }
        }
    }
}

fn case_sample(suite: &Suite, index: usize) -> Sample {
    // Case values were checked when the suite was parsed, so this cannot fail here. A CSV
    // case's cells are texts, typed by what each version declares.
    let case = &suite.cases[index];
    let values = suite
        .case_vars(index, &Default::default())
        .unwrap_or_default();
    let texts = case
        .origin
        .as_ref()
        .filter(|o| o.text_values)
        .map(|_| {
            case.vars
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    Sample {
        texts,
        ..Sample::new(format!("{}:{}", suite.name, case.name), values)
    }
}

/// The difference between what two versions render for one sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RenderedChange {
    /// The sample's label.
    pub sample: String,
    /// Why the old version could not render the sample.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_error: Option<String>,
    /// Why the new version could not render the sample.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_error: Option<String>,
    /// The rendered messages that differ (empty when either side failed).
    pub messages: Vec<MessageChange>,
}

impl RenderedChange {
    /// Tells whether both versions render the sample to the same messages.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty() && self.old_error == self.new_error
    }
}

/// Renders every sample with both versions (a missing side renders nothing) and diffs the
/// messages.
pub(super) fn rendered_changes(
    old: Option<&Prompt>,
    new: Option<&Prompt>,
    samples: &[Sample],
) -> Vec<RenderedChange> {
    let old = old.map(Renderer::new);
    let new = new.map(Renderer::new);
    samples
        .iter()
        .map(|sample| {
            let render = |side: &Option<Renderer>| match side {
                Some(renderer) => renderer.render(sample),
                None => Ok(Vec::new()),
            };
            let (old_rendered, new_rendered) = (render(&old), render(&new));
            let messages = match (&old_rendered, &new_rendered) {
                (Ok(a), Ok(b)) => message_changes(&as_pairs(a), &as_pairs(b)),
                _ => Vec::new(),
            };
            RenderedChange {
                sample: sample.label.clone(),
                old_error: old_rendered.err().map(|e| e.to_string()),
                new_error: new_rendered.err().map(|e| e.to_string()),
                messages,
            }
        })
        .collect()
}

fn as_pairs(messages: &[RenderedMessage]) -> Vec<(crate::prompt::Role, &str)> {
    messages
        .iter()
        .map(|m| (m.role, m.content.as_str()))
        .collect()
}

/// One side's prompt, compiled once for all samples.
struct Renderer<'a> {
    prompt: &'a Prompt,
    compiled: Result<crate::prompt::CompiledPrompt, PromptError>,
}

impl<'a> Renderer<'a> {
    fn new(prompt: &'a Prompt) -> Self {
        Renderer {
            prompt,
            compiled: prompt.compile(),
        }
    }

    fn render(&self, sample: &Sample) -> Result<Vec<RenderedMessage>, PromptError> {
        let compiled = self.compiled.as_ref().map_err(Clone::clone)?;
        let mut values = sample.values.clone();
        let typed = coerce_texts(
            self.prompt.name.as_str(),
            &self.prompt.spec.variables,
            &sample.texts,
        )?;
        values.extend(typed);
        compiled.render(&values)
    }
}
