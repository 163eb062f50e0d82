//! A prompt file read on its own, and finished against the partials of a source.

use std::collections::BTreeMap;

use serde_json::Value;

use super::contract::ContractDraft;
use super::error::Location;
use super::includes::{IncludeRef, PartialIndex};
use super::variables::Variable;
use super::{Message, Prompt, PromptError, PromptName, PromptSpec};

/// A prompt file read and checked on its own, before the partials it names are resolved.
///
/// A file that is the same blob on both sides of a comparison is drafted once and finished
/// against each side's partials: only its partials can make its versions differ.
#[derive(Debug, Clone)]
pub struct PromptDraft {
    pub(super) name: PromptName,
    pub(super) path: String,
    pub(super) description: Option<String>,
    pub(super) metadata: serde_json::Map<String, Value>,
    pub(super) provider: String,
    pub(super) model: String,
    pub(super) params: BTreeMap<String, Value>,
    pub(super) variables: BTreeMap<String, Variable>,
    pub(super) messages: Vec<Message>,
    pub(super) message_lines: Vec<usize>,
    /// What each message's template includes, where it says so.
    pub(super) roots: Vec<(Location, Vec<IncludeRef>)>,
    /// The output and tools, with the schema files they name still to read.
    pub(super) contract: ContractDraft,
}

impl PromptDraft {
    /// Resolves the partials the prompt reaches in `partials` (the partials of its source)
    /// and computes its version, which covers every partial reached.
    pub fn finish(self, partials: &PartialIndex) -> Result<Prompt, PromptError> {
        let reached = partials.reachable(&self.roots)?;
        let finished = self
            .contract
            .finish(|name| partials.json(name), partials.folder())?;
        let spec = PromptSpec {
            provider: self.provider,
            model: self.model,
            params: self.params,
            variables: self.variables,
            messages: self.messages,
            partials: reached,
            contract: finished.contract,
        };
        Ok(Prompt {
            name: self.name,
            path: self.path,
            description: self.description,
            metadata: self.metadata,
            compatibility: finished.compatibility,
            schema_files: finished.schema_files,
            schema_sites: finished.sites,
            version: spec.version(),
            spec,
            message_lines: self.message_lines,
            folder: partials.folder().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::prompt::contract::{Contract, OutputFormat, OutputSpec, Tool, ToolChoice};
    use crate::prompt::{CANONICAL_FORMAT, Role, VarType, to_canonical_string};

    #[test]
    fn the_canonical_json_is_the_spec_as_a_sorted_json_value_with_its_format() {
        let spec = PromptSpec {
            provider: "offline".into(),
            model: "m\"1".into(),
            params: BTreeMap::from([
                ("temperature".into(), json!(0.0)),
                (
                    "nested".into(),
                    json!({"z": [1, 2.5, null, true], "a": {"y": "q\"\u{1}", "b": -3}}),
                ),
            ]),
            variables: BTreeMap::from([(
                "tone".into(),
                Variable {
                    ty: VarType::String,
                    required: false,
                    default: Some(json!("friendly")),
                    allowed: Some(vec![json!("friendly"), json!("formal")]),
                    description: Some("not in the version".into()),
                },
            )]),
            messages: vec![Message {
                role: Role::System,
                content: "Hi \u{0} \u{8} \u{c} </script>\n{% include \"a.j2\" %}".into(),
            }],
            partials: BTreeMap::from([
                ("a.j2".into(), Arc::from("line\r\n\u{7f}é\\")),
                ("a \"odd\"\tname.j2".into(), Arc::from("x")),
            ]),
            contract: Contract {
                output: Some(OutputSpec {
                    format: OutputFormat::Json,
                    name: Some("triage".into()),
                    schema: Some(json!({"type": "object", "required": ["b", "a"]}).into()),
                    strict: true,
                }),
                tools: vec![Tool {
                    name: "lookup".into(),
                    description: Some("Finds \"it\"".into()),
                    parameters: json!({"type": "object", "properties": {"z": {}, "id": {}}}).into(),
                    strict: false,
                }],
                tool_choice: Some(ToolChoice::Required),
            },
        };
        let mut value = serde_json::to_value(&spec).unwrap();
        value["format"] = Value::from(CANONICAL_FORMAT);
        assert_eq!(spec.canonical_json(), to_canonical_string(&value));
    }
}
