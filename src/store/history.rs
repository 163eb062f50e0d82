//! Release commit messages: a one-line summary and trailers, written by actions and read
//! back by `log` and by `revert` without names.

use serde::Serialize;

use super::bucket::Weight;
use crate::prompt::{PromptName, Version};

const ACTION: &str = "Promptctl-Action";
const PROMPT: &str = "Promptctl-Prompt";
const VERSION: &str = "Promptctl-Version";
const WEIGHT: &str = "Promptctl-Weight";
const SOURCE: &str = "Promptctl-Source";
const REASON: &str = "Promptctl-Reason";

/// What one release commit did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    /// `publish`, `canary`, `promote` or `revert`.
    pub action: String,
    /// The one-line summary.
    pub summary: String,
    /// Each prompt the action changed, with the version it now points to.
    pub prompts: Vec<RecordedPrompt>,
    /// The canary weight, for `canary`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<Weight>,
    /// Where the versions came from: a commit id or a spec.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Why, as given with `--reason`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One prompt of a record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedPrompt {
    pub name: PromptName,
    pub version: Version,
}

impl Record {
    /// Writes the commit message: the summary, a blank line, then the trailers.
    pub fn to_message(&self) -> String {
        let mut out = format!("{}\n\n{ACTION}: {}\n", one_line(&self.summary), self.action);
        for prompt in &self.prompts {
            out.push_str(&format!(
                "{PROMPT}: {}\n{VERSION}: {}\n",
                prompt.name, prompt.version
            ));
        }
        if let Some(weight) = self.weight {
            out.push_str(&format!("{WEIGHT}: {weight}\n"));
        }
        if let Some(source) = &self.source {
            out.push_str(&format!("{SOURCE}: {}\n", one_line(source)));
        }
        if let Some(reason) = &self.reason {
            out.push_str(&format!("{REASON}: {}\n", one_line(reason)));
        }
        out
    }

    /// Reads a commit message back; `None` when it was not written by an action.
    pub fn parse(message: &str) -> Option<Record> {
        let summary = message.lines().next()?.to_owned();
        let mut record = Record {
            action: String::new(),
            summary,
            prompts: Vec::new(),
            weight: None,
            source: None,
            reason: None,
        };
        let mut pending_name: Option<PromptName> = None;
        for line in message.lines().skip(1) {
            let Some((key, value)) = line.split_once(": ") else {
                continue;
            };
            match key {
                ACTION => record.action = value.to_owned(),
                PROMPT => pending_name = PromptName::parse(value).ok(),
                VERSION => {
                    if let (Some(name), Ok(version)) = (pending_name.take(), value.parse()) {
                        record.prompts.push(RecordedPrompt { name, version });
                    }
                }
                WEIGHT => record.weight = value.parse().ok(),
                SOURCE => record.source = Some(value.to_owned()),
                REASON => record.reason = Some(value.to_owned()),
                _ => {}
            }
        }
        (!record.action.is_empty()).then_some(record)
    }
}

/// Trailers are one line each: line breaks in free text become spaces.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_from_its_message() {
        let record = Record {
            action: "canary".into(),
            summary: "canary support/triage 1a2b3c4d5e6f at 10%".into(),
            prompts: vec![RecordedPrompt {
                name: PromptName::parse("support/triage").unwrap(),
                version: format!("sha256:{}", "a".repeat(64)).parse().unwrap(),
            }],
            weight: Some("10%".parse().unwrap()),
            source: Some("0123abcd".into()),
            reason: Some("try the\nshorter system message".into()),
        };
        let message = record.to_message();
        assert!(
            message.contains("\n\nPromptctl-Action: canary\n"),
            "{message}"
        );
        let back = Record::parse(&message).unwrap();
        assert_eq!(
            back.reason.as_deref(),
            Some("try the shorter system message")
        );
        assert_eq!(back.prompts, record.prompts);
        assert_eq!(back.weight, record.weight);
        assert_eq!(back.source, record.source);
        assert!(Record::parse("an ordinary commit\n\nSigned-off-by: x").is_none());
    }
}
