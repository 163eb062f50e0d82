//! A prompt file read on its own, and finished against the partials of a source.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use super::contract::ContractDraft;
use super::error::Location;
use super::includes::{IncludeRef, PartialIndex};
use super::variables::Variable;
use super::{Message, Prompt, PromptError, PromptName, PromptSpec};

/// A prompt file read and checked on its own, before the partials it names are resolved.
///
/// A file that is the same blob on both sides of a comparison is drafted once and finished
/// against each side's partials: only its partials can make its versions differ.
#[derive(Debug, Clone, PartialEq)]
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
    /// The prompt's name.
    pub fn name(&self) -> &PromptName {
        &self.name
    }

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

/// A draft as the draft cache keeps it: every field but the name, which is the file's.
/// Variables' descriptions are kept apart, since a variable's own form is the one the
/// version covers, without its description.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Kept<'a> {
    path: String,
    description: Option<String>,
    metadata: serde_json::Map<String, Value>,
    provider: String,
    model: String,
    params: BTreeMap<String, Value>,
    variables: BTreeMap<String, Variable>,
    variable_descriptions: BTreeMap<String, String>,
    messages: Vec<Message>,
    message_lines: Vec<usize>,
    roots: Vec<(Location, Vec<IncludeRef>)>,
    /// The contract with its schemas taken out: they are below, as JSON text.
    contract: ContractDraft,
    /// Kept as written, so that reading a line back reads each distinct schema once.
    #[serde(borrow)]
    output_schema: Option<&'a RawValue>,
    #[serde(borrow)]
    tool_parameters: Vec<&'a RawValue>,
}

/// The schemas of the drafts read back in one load, one copy of each: most prompts of a
/// team write the same schemas, and shared schemas are versioned and checked once.
#[derive(Default)]
pub struct SchemaInterner(std::sync::Mutex<std::collections::HashMap<String, Arc<Value>>>);

impl SchemaInterner {
    /// The schema written as `text`, read once.
    fn get(&self, text: &str) -> Option<Arc<Value>> {
        let known = |map: &std::collections::HashMap<String, Arc<Value>>| map.get(text).cloned();
        if let Some(schema) = known(&self.lock()) {
            return Some(schema);
        }
        let schema = Arc::new(serde_json::from_str(text).ok()?);
        let mut map = self.lock();
        Some(map.entry(text.to_owned()).or_insert(schema).clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Arc<Value>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl PromptDraft {
    /// The draft as one line of JSON for the draft cache, when it reads back exactly: a
    /// value JSON cannot carry exactly (a float parsed to a neighbour) is not cached.
    pub fn encode(&self) -> Option<String> {
        let mut contract = self.contract.clone();
        let raw = |schema: &Value| serde_json::value::to_raw_value(schema).ok();
        let output_schema = match contract.contract.output.as_mut() {
            Some(output) => match output.schema.take() {
                Some(schema) => Some(raw(&schema)?),
                None => None,
            },
            None => None,
        };
        let mut tool_parameters = Vec::with_capacity(contract.contract.tools.len());
        for tool in &mut contract.contract.tools {
            tool_parameters.push(raw(&tool.parameters)?);
            tool.parameters = Arc::new(Value::Null);
        }
        let kept = Kept {
            path: self.path.clone(),
            description: self.description.clone(),
            metadata: self.metadata.clone(),
            provider: self.provider.clone(),
            model: self.model.clone(),
            params: self.params.clone(),
            variables: self.variables.clone(),
            variable_descriptions: self
                .variables
                .iter()
                .filter_map(|(name, v)| Some((name.clone(), v.description.clone()?)))
                .collect(),
            messages: self.messages.clone(),
            message_lines: self.message_lines.clone(),
            roots: self.roots.clone(),
            contract,
            output_schema: output_schema.as_deref(),
            tool_parameters: tool_parameters.iter().map(|raw| &**raw).collect(),
        };
        let line = serde_json::to_string(&kept).ok()?;
        let decoded = Self::decode(self.name.clone(), &line, &SchemaInterner::default());
        (decoded.as_ref() == Some(self)).then_some(line)
    }

    /// Reads a draft of the prompt `name` back from [`PromptDraft::encode`]'s line; `None`
    /// for a line that does not read.
    pub fn decode(name: PromptName, line: &str, schemas: &SchemaInterner) -> Option<PromptDraft> {
        let mut kept: Kept = serde_json::from_str(line).ok()?;
        for (variable, description) in kept.variable_descriptions {
            kept.variables.get_mut(&variable)?.description = Some(description);
        }
        let contract = &mut kept.contract.contract;
        match (contract.output.as_mut(), kept.output_schema) {
            (Some(output), Some(text)) => output.schema = Some(schemas.get(text.get())?),
            (_, None) => {}
            (None, Some(_)) => return None,
        }
        if contract.tools.len() != kept.tool_parameters.len() {
            return None;
        }
        for (tool, text) in contract.tools.iter_mut().zip(&kept.tool_parameters) {
            tool.parameters = schemas.get(text.get())?;
        }
        Some(PromptDraft {
            name,
            path: kept.path,
            description: kept.description,
            metadata: kept.metadata,
            provider: kept.provider,
            model: kept.model,
            params: kept.params,
            variables: kept.variables,
            messages: kept.messages,
            message_lines: kept.message_lines,
            roots: kept.roots,
            contract: kept.contract,
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

    #[test]
    fn a_draft_reads_back_from_its_cache_line_exactly_and_shares_equal_schemas() {
        let text = r#"description = "d"
model = "m"
tool_choice = "lookup"
[metadata]
owner = "z"
team = "a"
[params]
temperature = 0.30000000000000004
top_p = 1e-7
[variables.ticket]
type = "string"
required = true
description = "The ticket\ttext"
[[messages]]
role = "user"
content = '{{ ticket }} {% include "p.j2" %}'
[output]
name = "answer"
schema = { type = "object", required = ["b", "a"], properties = { b = { type = "string" }, a = { type = "integer" } } }
[[tools]]
name = "lookup"
parameters = { type = "object", properties = { z = {}, id = { type = "string" } } }
[[tools]]
name = "other"
parameters_file = "s/other.json"
"#;
        let draft = |name: &str| {
            let name = PromptName::parse(name).unwrap();
            Prompt::draft(name, "prompts/t.toml", text, &Default::default()).unwrap()
        };
        let (one, two) = (draft("a/one"), draft("a/two"));
        let line = one.encode().expect("cached");
        assert!(!line.contains('\n'), "one line");
        let schemas = SchemaInterner::default();
        let back = PromptDraft::decode(one.name.clone(), &line, &schemas).unwrap();
        assert_eq!(back, one);
        let keys = |d: &PromptDraft| d.contract.contract.output.clone().unwrap().schema.unwrap();
        let order: Vec<_> = keys(&back)
            .get("properties")
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(order, ["b", "a"], "written order kept");
        let other =
            PromptDraft::decode(two.name.clone(), &two.encode().unwrap(), &schemas).unwrap();
        assert!(
            Arc::ptr_eq(&keys(&back), &keys(&other)),
            "one copy of a schema"
        );
        let orphan = line.replace(
            "\"variable_descriptions\":{\"ticket\"",
            "\"variable_descriptions\":{\"t\"",
        );
        assert_ne!(orphan, line);
        for broken in [&line[..line.len() / 2], orphan.as_str()] {
            assert!(PromptDraft::decode(one.name.clone(), broken, &schemas).is_none());
        }
    }
}
