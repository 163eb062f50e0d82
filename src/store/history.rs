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

/// What an action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    Publish,
    Canary,
    Promote,
    Revert,
    /// A rollout moves to its next stage.
    Advance,
    /// A rollout stops advancing on its own.
    Pause,
    /// A paused rollout advances again.
    Resume,
    /// A rollout and its canary are dropped.
    Abort,
    /// An alert-only gate was breached and reported.
    Alert,
    /// An experiment starts.
    Experiment,
    /// An experiment ends with an arm made active.
    Conclude,
    /// An experiment ends with the active version kept.
    Stop,
}

impl ActionKind {
    const ALL: [ActionKind; 12] = [
        ActionKind::Publish,
        ActionKind::Canary,
        ActionKind::Promote,
        ActionKind::Revert,
        ActionKind::Advance,
        ActionKind::Pause,
        ActionKind::Resume,
        ActionKind::Abort,
        ActionKind::Alert,
        ActionKind::Experiment,
        ActionKind::Conclude,
        ActionKind::Stop,
    ];

    /// The action as a word.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Publish => "publish",
            ActionKind::Canary => "canary",
            ActionKind::Promote => "promote",
            ActionKind::Revert => "revert",
            ActionKind::Advance => "advance",
            ActionKind::Pause => "pause",
            ActionKind::Resume => "resume",
            ActionKind::Abort => "abort",
            ActionKind::Alert => "alert",
            ActionKind::Experiment => "experiment",
            ActionKind::Conclude => "conclude",
            ActionKind::Stop => "stop",
        }
    }
}

impl std::str::FromStr for ActionKind {
    type Err = ();

    fn from_str(word: &str) -> Result<Self, ()> {
        ActionKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == word)
            .ok_or(())
    }
}

/// The action a release commit names: one this build knows, or a word written by another
/// build (a newer one may add actions), kept as it was so `log` still shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordedAction {
    Known(ActionKind),
    Unknown(String),
}

impl RecordedAction {
    fn parse(word: &str) -> RecordedAction {
        word.parse()
            .map(RecordedAction::Known)
            .unwrap_or_else(|()| RecordedAction::Unknown(word.to_owned()))
    }

    /// The action as a word.
    pub fn as_str(&self) -> &str {
        match self {
            RecordedAction::Known(kind) => kind.as_str(),
            RecordedAction::Unknown(word) => word,
        }
    }
}

impl Serialize for RecordedAction {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// What one release commit did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    /// The action that wrote the commit.
    pub action: RecordedAction,
    /// The one-line summary.
    pub summary: String,
    /// Each prompt the action changed, with the version it now points to.
    pub prompts: Vec<RecordedPrompt>,
    /// The canary weight, for `canary`; null otherwise (every key is always present).
    pub weight: Option<Weight>,
    /// Where the versions came from: a commit id or a spec; null when not recorded.
    pub source: Option<String>,
    /// Why, as given with `--reason`; null without one.
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
        let mut out = format!(
            "{}\n\n{ACTION}: {}\n",
            one_line(&self.summary),
            self.action.as_str()
        );
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
        let mut action = None;
        let mut record = Record {
            action: RecordedAction::Unknown(String::new()),
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
                ACTION => action = Some(RecordedAction::parse(value)),
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
        record.action = action.filter(|a| !a.as_str().is_empty())?;
        Some(record)
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
            action: RecordedAction::Known(ActionKind::Canary),
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
        assert_eq!(back.action, RecordedAction::Known(ActionKind::Canary));
        assert_eq!(back.prompts, record.prompts);
        assert_eq!(back.weight, record.weight);
        assert_eq!(back.source, record.source);
        assert!(Record::parse("an ordinary commit\n\nSigned-off-by: x").is_none());
    }

    #[test]
    fn every_action_reads_back_and_an_unknown_word_is_kept() {
        for kind in ActionKind::ALL {
            assert_eq!(kind.as_str().parse::<ActionKind>(), Ok(kind));
        }
        let message = "graduate x\n\nPromptctl-Action: graduate\n";
        let record = Record::parse(message).unwrap();
        assert_eq!(
            record.action,
            RecordedAction::Unknown("graduate".to_owned())
        );
        assert_eq!(
            serde_json::to_string(&record.action).unwrap(),
            "\"graduate\""
        );
        assert!(Record::parse("x\n\nPromptctl-Action: \n").is_none());
    }
}
