//! A prompt file read on its own, and finished against the partials of a source.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
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
/// version covers, without its description. Schemas are kept by reference ([`SchemaKey`]):
/// 2,000 prompts writing the same schema keep one copy of it, read once.
#[derive(Deserialize)]
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
    /// The contract with its schemas taken out: they are referred to below.
    contract: ContractDraft,
    #[serde(borrow)]
    output_schema: Option<&'a str>,
    #[serde(borrow)]
    tool_parameters: Vec<&'a str>,
}

/// [`Kept`] as written, borrowing the draft rather than copying it.
#[derive(Serialize)]
struct KeptRef<'a> {
    path: &'a str,
    description: &'a Option<String>,
    metadata: &'a serde_json::Map<String, Value>,
    provider: &'a str,
    model: &'a str,
    params: &'a BTreeMap<String, Value>,
    variables: &'a BTreeMap<String, Variable>,
    variable_descriptions: BTreeMap<&'a str, &'a str>,
    messages: &'a [Message],
    message_lines: &'a [usize],
    roots: &'a [(Location, Vec<IncludeRef>)],
    contract: &'a ContractDraft,
    output_schema: Option<String>,
    tool_parameters: Vec<String>,
}

/// How the draft cache refers to a schema: a key without a tab or a newline, which the
/// cache gives back for the same schema.
pub type SchemaKey = String;

impl PromptDraft {
    /// The draft as one line of JSON for the draft cache; `keep` keeps each schema and
    /// gives its key.
    ///
    /// A draft reads back exactly: JSON numbers are written as the shortest text of their
    /// double and read back to it (serde_json's `float_roundtrip`). Debug builds, which the
    /// tests run, read every line back and compare.
    pub fn encode(&self, mut keep: impl FnMut(&Arc<Value>) -> Option<SchemaKey>) -> Option<String> {
        let mut contract = std::borrow::Cow::Borrowed(&self.contract);
        let mut kept = Vec::new();
        let output_schema = match contract
            .contract
            .output
            .as_ref()
            .and_then(|o| o.schema.clone())
        {
            Some(schema) => {
                let key = keep(&schema)?;
                kept.push((key.clone(), schema));
                if let Some(output) = contract.to_mut().contract.output.as_mut() {
                    output.schema = None;
                }
                Some(key)
            }
            None => None,
        };
        let mut tool_parameters = Vec::with_capacity(contract.contract.tools.len());
        for index in 0..contract.contract.tools.len() {
            let schema = std::mem::replace(
                &mut contract.to_mut().contract.tools[index].parameters,
                Arc::new(Value::Null),
            );
            let key = keep(&schema)?;
            tool_parameters.push(key.clone());
            kept.push((key, schema));
        }
        let line = serde_json::to_string(&KeptRef {
            path: &self.path,
            description: &self.description,
            metadata: &self.metadata,
            provider: &self.provider,
            model: &self.model,
            params: &self.params,
            variables: &self.variables,
            variable_descriptions: self
                .variables
                .iter()
                .filter_map(|(name, v)| Some((name.as_str(), v.description.as_deref()?)))
                .collect(),
            messages: &self.messages,
            message_lines: &self.message_lines,
            roots: &self.roots,
            contract: &contract,
            output_schema,
            tool_parameters,
        })
        .ok()?;
        if cfg!(debug_assertions) {
            let back = Self::decode(self.name.clone(), &line, |key| {
                let (_, schema) = kept.iter().find(|(k, _)| k == key)?;
                serde_json::from_str(&serde_json::to_string(&**schema).ok()?).ok()
            });
            assert_eq!(
                back.as_ref(),
                Some(self),
                "a draft reads back from its line"
            );
        }
        Some(line)
    }

    /// Reads a draft of the prompt `name` back from [`PromptDraft::encode`]'s line, with
    /// `schema` giving each schema by its key; `None` for a line that does not read.
    pub fn decode(
        name: PromptName,
        line: &str,
        mut schema: impl FnMut(&str) -> Option<Arc<Value>>,
    ) -> Option<PromptDraft> {
        let mut kept: Kept = serde_json::from_str(line).ok()?;
        for (variable, description) in kept.variable_descriptions {
            kept.variables.get_mut(&variable)?.description = Some(description);
        }
        let contract = &mut kept.contract.contract;
        match (contract.output.as_mut(), kept.output_schema) {
            (Some(output), Some(key)) => output.schema = Some(schema(key)?),
            (_, None) => {}
            (None, Some(_)) => return None,
        }
        if contract.tools.len() != kept.tool_parameters.len() {
            return None;
        }
        for (tool, key) in contract.tools.iter_mut().zip(&kept.tool_parameters) {
            tool.parameters = schema(key)?;
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
        // The draft cache's part: each schema kept by its text.
        let mut texts = std::collections::BTreeMap::new();
        let mut keep = |schema: &Arc<Value>| {
            let text = serde_json::to_string(&**schema).unwrap();
            let key = format!("s{}", texts.len());
            Some(texts.entry(text).or_insert(key).clone())
        };
        let line = one.encode(&mut keep).expect("cached");
        let line_two = two.encode(&mut keep).unwrap();
        assert!(!line.contains('\n'), "one line");
        // The output's, `lookup`'s, and the place of `other`'s, whose file a source gives.
        assert_eq!(texts.len(), 3, "one key for each distinct schema");
        let read: std::collections::HashMap<String, Arc<Value>> = texts
            .iter()
            .map(|(text, key)| (key.clone(), Arc::new(serde_json::from_str(text).unwrap())))
            .collect();
        let schema = |key: &str| read.get(key).cloned();
        let back = PromptDraft::decode(one.name.clone(), &line, schema).unwrap();
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
        let other = PromptDraft::decode(two.name.clone(), &line_two, schema).unwrap();
        assert!(
            Arc::ptr_eq(&keys(&back), &keys(&other)),
            "one copy of a schema"
        );
        assert!(
            PromptDraft::decode(one.name.clone(), &line, |_| None).is_none(),
            "a schema the cache no longer has is a miss"
        );
        let orphan = line.replace(
            "\"variable_descriptions\":{\"ticket\"",
            "\"variable_descriptions\":{\"t\"",
        );
        assert_ne!(orphan, line);
        for broken in [&line[..line.len() / 2], orphan.as_str()] {
            assert!(PromptDraft::decode(one.name.clone(), broken, schema).is_none());
        }
    }
}
