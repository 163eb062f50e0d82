//! Frozen versions: prompts read back from their canonical JSON, as the release object
//! store keeps them.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use super::Version;
use super::{
    CANONICAL_FORMAT, Compatibility, Contract, Message, OutputSpec, Prompt, PromptError,
    PromptName, PromptSpec, Tool, ToolChoice, Variable,
};
use crate::base::location::Location;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Frozen {
    format: u32,
    provider: String,
    model: String,
    params: BTreeMap<String, Value>,
    variables: BTreeMap<String, Variable>,
    messages: Vec<Message>,
    partials: BTreeMap<String, Arc<str>>,
    #[serde(default)]
    output: Option<OutputSpec>,
    #[serde(default)]
    tools: Vec<Tool>,
    #[serde(default)]
    tool_choice: Option<ToolChoice>,
}

impl Prompt {
    /// Reads a frozen version back into a prompt named `name`.
    ///
    /// `shown` names the object in messages; `folder` is the prompts folder partials are
    /// shown under. The bytes must be exactly the canonical JSON of `expected`: an object
    /// that was edited, truncated or stored under the wrong name is refused.
    pub fn from_frozen(
        name: PromptName,
        shown: &str,
        folder: &str,
        bytes: &[u8],
        expected: Version,
    ) -> Result<Prompt, PromptError> {
        Self::read_frozen(name, shown, folder, bytes, expected, FormCheck::Canonical)
    }

    /// [`Prompt::from_frozen`] with the check of the bytes' form chosen: a server reading a
    /// kept copy this very build marked as its own checks only the hash
    /// ([`FormCheck::HashOnly`]).
    pub fn read_frozen(
        name: PromptName,
        shown: &str,
        folder: &str,
        bytes: &[u8],
        expected: Version,
        check: FormCheck,
    ) -> Result<Prompt, PromptError> {
        let invalid = |message: String| PromptError::Invalid {
            location: Location::file(shown),
            message,
        };
        let actual = Version::of_canonical(bytes);
        if actual != expected {
            return Err(invalid(format!(
                "the stored bytes hash to {actual}, not {expected}: the object store is corrupt"
            )));
        }
        let frozen: Frozen = serde_json::from_slice(bytes)
            .map_err(|e| invalid(format!("not a frozen prompt version: {e}")))?;
        if frozen.format != CANONICAL_FORMAT {
            return Err(invalid(format!(
                "canonical format {} is not known to this build of promptctl; upgrade promptctl",
                frozen.format
            )));
        }
        let spec = PromptSpec {
            provider: frozen.provider,
            model: frozen.model,
            params: frozen.params,
            variables: frozen.variables,
            messages: frozen.messages,
            partials: frozen.partials,
            contract: Contract {
                output: frozen.output,
                tools: frozen.tools,
                tool_choice: frozen.tool_choice,
            },
        };
        if check == FormCheck::Canonical && spec.canonical_json().as_bytes() != bytes {
            return Err(invalid(
                "the stored bytes are not in canonical form: the object store is corrupt".into(),
            ));
        }
        Ok(Prompt {
            name,
            path: shown.to_owned(),
            description: None,
            metadata: serde_json::Map::new(),
            compatibility: Compatibility::default(),
            schema_files: Vec::new(),
            schema_sites: Vec::new(),
            version: expected,
            message_lines: Vec::new(),
            folder: folder.to_owned(),
            spec,
        })
    }
}

/// How much of a frozen version's bytes are checked besides their hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormCheck {
    /// Written again from what was read, and compared: bytes that hash right but were not
    /// written by promptctl's canonical writer are refused.
    Canonical,
    /// Only the hash: the bytes were found canonical by this build before, and the form is
    /// a function of the bytes and the build; not writing it again to compare is a tenth of
    /// a fresh `serve` of 10,000 prompts from a kept copy. A damaged copy is still refused.
    HashOnly,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompt::{PartialIndex, PromptDefaults};

    fn parsed() -> Prompt {
        let partials = PartialIndex::new(
            "prompts",
            [("p/tone.j2".to_owned(), Arc::from("Be {{ tone }}."))],
        );
        Prompt::parse(
            PromptName::parse("support/triage").unwrap(),
            "prompts/support/triage.toml",
            "model = \"m\"\n[variables.tone]\ndefault = \"warm\"\n[params]\ntemperature = 0.5\n[[messages]]\nrole = \"system\"\ncontent = 'Hi. {% include \"p/tone.j2\" %}'\n",
            &PromptDefaults::default(),
            &partials,
        )
        .unwrap()
    }

    #[test]
    fn a_frozen_version_reads_back_to_the_same_prompt_and_renders() {
        let prompt = parsed();
        let bytes = prompt.canonical_json();
        let frozen = Prompt::from_frozen(
            prompt.name.clone(),
            "objects/ab/cd.json",
            "prompts",
            bytes.as_bytes(),
            prompt.version,
        )
        .unwrap();
        assert_eq!(frozen.spec, prompt.spec);
        assert_eq!(frozen.version, prompt.version);
        let rendered = frozen
            .compile()
            .unwrap()
            .render(&Default::default())
            .unwrap();
        assert_eq!(rendered[0].content, "Hi. Be warm.");
    }

    #[test]
    fn altered_or_misfiled_objects_are_refused() {
        let prompt = parsed();
        let bytes = prompt.canonical_json();
        let name = || prompt.name.clone();
        let edited = bytes.replace("Hi.", "Bye.");
        let error = Prompt::from_frozen(name(), "o", "prompts", edited.as_bytes(), prompt.version)
            .unwrap_err();
        assert!(error.to_string().contains("corrupt"), "{error}");
        let pretty =
            serde_json::to_string_pretty(&serde_json::from_str::<Value>(&bytes).unwrap()).unwrap();
        let version = Version::of_canonical(pretty.as_bytes());
        let error =
            Prompt::from_frozen(name(), "o", "prompts", pretty.as_bytes(), version).unwrap_err();
        assert!(
            error.to_string().contains("not in canonical form"),
            "{error}"
        );
        let junk = b"{\"format\": 1}";
        let error = Prompt::from_frozen(name(), "o", "prompts", junk, Version::of_canonical(junk))
            .unwrap_err();
        assert!(
            error.to_string().contains("not a frozen prompt version"),
            "{error}"
        );
    }

    #[test]
    fn bytes_known_canonical_are_still_refused_when_they_hash_wrong() {
        let prompt = parsed();
        let bytes = prompt.canonical_json();
        let name = || prompt.name.clone();
        let read = |bytes: &str, version| {
            Prompt::read_frozen(
                name(),
                "o",
                "prompts",
                bytes.as_bytes(),
                version,
                FormCheck::HashOnly,
            )
        };
        let frozen = read(&bytes, prompt.version).unwrap();
        assert_eq!(frozen.spec, prompt.spec);
        let edited = bytes.replace("Hi.", "Bye.");
        let error = read(&edited, prompt.version).unwrap_err();
        assert!(error.to_string().contains("corrupt"), "{error}");
        // What it leaves out: the form, which this build found canonical before.
        let pretty =
            serde_json::to_string_pretty(&serde_json::from_str::<Value>(&bytes).unwrap()).unwrap();
        let frozen = read(&pretty, Version::of_canonical(pretty.as_bytes())).unwrap();
        assert_eq!(frozen.spec, prompt.spec);
    }
}
