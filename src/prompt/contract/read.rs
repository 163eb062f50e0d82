//! Reading `[output]`, `[[tools]]` and `tool_choice` from a prompt file: shapes, names,
//! bounds and inline schemas checked at their line; schema files named for the finish.

use std::ops::Range;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use toml::Spanned;

use super::schema::{check_shape, check_shape_shared};
use super::{
    Compatibility, Contract, MAX_TOOL_NAME, MAX_TOOLS, OutputFormat, OutputSpec, Tool, ToolChoice,
};
use crate::base::location::Location;
use crate::base::tomlfile::{line_of, toml_value_to_json};
use crate::prompt::PromptError;
use crate::prompt::includes::JsonError;

/// `[output]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOutput {
    format: Option<OutputFormat>,
    name: Option<Spanned<String>>,
    schema: Option<Spanned<toml::Value>>,
    schema_file: Option<Spanned<String>>,
    #[serde(default)]
    strict: bool,
    #[serde(default)]
    compatibility: Compatibility,
}

/// One `[[tools]]` entry as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTool {
    name: Spanned<String>,
    description: Option<String>,
    parameters: Option<Spanned<toml::Value>>,
    parameters_file: Option<Spanned<String>>,
    #[serde(default)]
    strict: bool,
}

/// Where a schema read from a file goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SchemaSlot {
    Output,
    Tool(usize),
}

/// A schema file a prompt names, resolved against its source's files when it is finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SchemaRef {
    pub slot: SchemaSlot,
    /// The file, relative to the prompts folder.
    pub name: String,
    /// Where the prompt file names it.
    pub location: Location,
    pub strict: bool,
}

/// The contract as read from the file, with the schema files it names still to read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ContractDraft {
    pub contract: Contract,
    pub compatibility: Compatibility,
    pub schema_files: Vec<SchemaRef>,
    /// Where each schema is written, for the problems `check` finds in it.
    pub sites: Vec<SchemaSite>,
}

/// Where a schema of the contract is written: a field of the prompt file, or a schema file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaSite {
    pub slot: SchemaSlot,
    /// The field (`output.schema`, `tools[1].parameters`) at its line, or the schema file.
    pub location: Location,
}

impl ContractDraft {
    /// Puts each named schema file's text in its place: `text` gives a file's text by name.
    pub fn finish<'a>(
        mut self,
        json: impl Fn(&str) -> Option<&'a Result<Arc<Value>, JsonError>>,
        folder: &str,
    ) -> Result<FinishedContract, PromptError> {
        let mut names = Vec::with_capacity(self.schema_files.len());
        for schema_ref in std::mem::take(&mut self.schema_files) {
            names.push(schema_ref.name.clone());
            let shown = format!("{folder}/{}", schema_ref.name);
            self.sites.push(SchemaSite {
                slot: schema_ref.slot,
                location: Location::file(&shown),
            });
            let Some(parsed) = json(&schema_ref.name) else {
                // As a missing partial is: a source read by name looks it up and tries again.
                return Err(PromptError::Include {
                    location: schema_ref.location,
                    name: schema_ref.name,
                    problem: crate::prompt::IncludeProblem::NotFound,
                });
            };
            let schema: Arc<Value> = match parsed {
                Ok(schema) => Arc::clone(schema),
                Err(e) => {
                    return Err(invalid(
                        Location::file(&shown).at_line(Some(e.line)),
                        format!("not JSON: {}", e.message),
                    ));
                }
            };
            check_shape_shared(&schema, schema_ref.strict).map_err(|problem| {
                invalid(
                    Location::file(&shown).with_field(pointer_field(&problem.pointer)),
                    problem.message,
                )
            })?;
            match schema_ref.slot {
                SchemaSlot::Output => {
                    if let Some(output) = &mut self.contract.output {
                        output.schema = Some(schema);
                    }
                }
                SchemaSlot::Tool(index) => {
                    check_parameters_root(&schema, &schema_ref.location)?;
                    self.contract.tools[index].parameters = schema;
                }
            }
        }
        Ok(FinishedContract {
            contract: self.contract,
            compatibility: self.compatibility,
            schema_files: names,
            sites: self.sites,
        })
    }
}

/// A contract with its schema files read.
pub(crate) struct FinishedContract {
    pub contract: Contract,
    pub compatibility: Compatibility,
    /// The schema files it names, below the prompts folder.
    pub schema_files: Vec<String>,
    pub sites: Vec<SchemaSite>,
}

/// The prompt file being read, for locations.
pub(crate) struct At<'a> {
    pub path: &'a str,
    pub source: &'a str,
}

impl At<'_> {
    fn at(&self, span: Range<usize>, field: &str) -> Location {
        Location::file(self.path)
            .at_line(Some(line_of(self.source, span.start)))
            .with_field(field)
    }
}

fn invalid(location: Location, message: impl Into<String>) -> PromptError {
    PromptError::Invalid {
        location,
        message: message.into(),
    }
}

/// A schema problem's pointer as a field: `#/properties/a`, nothing for the root.
fn pointer_field(pointer: &str) -> String {
    if pointer.is_empty() {
        String::new()
    } else {
        format!("#{pointer}")
    }
}

/// Reads the contract fields of a prompt file.
pub(crate) fn read_contract(
    file: &At,
    output: Option<Spanned<RawOutput>>,
    tools: Vec<RawTool>,
    tool_choice: Option<Spanned<String>>,
) -> Result<ContractDraft, PromptError> {
    let mut draft = ContractDraft::default();
    if let Some(output) = output {
        read_output(file, output, &mut draft)?;
    }
    read_tools(file, tools, &mut draft)?;
    if let Some(choice) = tool_choice {
        let span = choice.span();
        let choice = ToolChoice::parse(choice.get_ref());
        if draft.contract.tools.is_empty() {
            return Err(invalid(
                file.at(span, "tool_choice"),
                "there are no `[[tools]]` to choose from",
            ));
        }
        if let ToolChoice::Tool(name) = &choice
            && draft.contract.tool(name).is_none()
        {
            return Err(invalid(
                file.at(span, "tool_choice"),
                format!("`{name}` is not `auto`, `required`, `none` or the name of a tool here"),
            ));
        }
        // `auto` is what the APIs do unasked: written or not, the same version.
        draft.contract.tool_choice = (choice != ToolChoice::Auto).then_some(choice);
    }
    Ok(draft)
}

fn read_output(
    file: &At,
    raw: Spanned<RawOutput>,
    draft: &mut ContractDraft,
) -> Result<(), PromptError> {
    let span = raw.span();
    let raw = raw.into_inner();
    draft.compatibility = raw.compatibility;
    let has_schema = raw.schema.is_some() || raw.schema_file.is_some();
    let format = raw.format.unwrap_or(if has_schema {
        OutputFormat::Json
    } else {
        OutputFormat::Text
    });
    if let (Some(schema), Some(_)) = (&raw.schema, &raw.schema_file) {
        return Err(invalid(
            file.at(schema.span(), "output.schema"),
            "give `schema` or `schema_file`, not both",
        ));
    }
    if format == OutputFormat::Text && has_schema {
        return Err(invalid(
            file.at(span, "output.format"),
            "a schema needs `format = \"json\"`",
        ));
    }
    if raw.strict && !has_schema {
        return Err(invalid(
            file.at(span, "output.strict"),
            "`strict` needs a schema to enforce",
        ));
    }
    let name = match raw.name {
        Some(name) => {
            check_api_name(name.get_ref())
                .map_err(|why| invalid(file.at(name.span(), "output.name"), why))?;
            Some(name.into_inner())
        }
        None => None,
    };
    let schema = match raw.schema {
        Some(schema) => {
            draft.sites.push(SchemaSite {
                slot: SchemaSlot::Output,
                location: file.at(schema.span(), "output.schema"),
            });
            Some(inline_schema(file, &schema, "output.schema", raw.strict)?)
        }
        None => None,
    };
    if let Some(schema_file) = raw.schema_file {
        draft.schema_files.push(schema_ref(
            file,
            schema_file,
            "output.schema_file",
            SchemaSlot::Output,
            raw.strict,
        )?);
    }
    let output = OutputSpec {
        format,
        name,
        schema,
        strict: raw.strict,
    };
    // `format = "text"` alone is what no `[output]` means: the same version.
    let plain = output.format == OutputFormat::Text && output.name.is_none();
    draft.contract.output = (!plain).then_some(output);
    Ok(())
}

fn read_tools(file: &At, raw: Vec<RawTool>, draft: &mut ContractDraft) -> Result<(), PromptError> {
    if raw.len() > MAX_TOOLS {
        return Err(invalid(
            Location::file(file.path).with_field("tools"),
            format!(
                "{} tools; a prompt may declare at most {MAX_TOOLS}",
                raw.len()
            ),
        ));
    }
    for (index, tool) in raw.into_iter().enumerate() {
        let field = |f: &str| format!("tools[{index}].{f}");
        let name_span = tool.name.span();
        let name = tool.name.into_inner();
        check_api_name(&name)
            .map_err(|why| invalid(file.at(name_span.clone(), &field("name")), why))?;
        if matches!(name.as_str(), "auto" | "required" | "none") {
            return Err(invalid(
                file.at(name_span, &field("name")),
                format!("`{name}` is a `tool_choice` keyword; name the tool otherwise"),
            ));
        }
        if draft.contract.tool(&name).is_some() {
            return Err(invalid(
                file.at(name_span, &field("name")),
                format!("a tool named `{name}` is declared twice"),
            ));
        }
        let parameters = match (tool.parameters, tool.parameters_file) {
            (Some(inline), Some(_)) => {
                return Err(invalid(
                    file.at(inline.span(), &field("parameters")),
                    "give `parameters` or `parameters_file`, not both",
                ));
            }
            (Some(inline), None) => {
                let location = file.at(inline.span(), &field("parameters"));
                draft.sites.push(SchemaSite {
                    slot: SchemaSlot::Tool(index),
                    location: location.clone(),
                });
                let schema = inline_schema(file, &inline, &field("parameters"), tool.strict)?;
                check_parameters_root(&schema, &location)?;
                schema
            }
            (None, Some(named)) => {
                draft.schema_files.push(schema_ref(
                    file,
                    named,
                    &field("parameters_file"),
                    SchemaSlot::Tool(index),
                    tool.strict,
                )?);
                Arc::new(Value::Null)
            }
            // A tool that takes nothing: both APIs want an object schema all the same.
            (None, None) => Arc::new(json!({"type": "object", "properties": {}})),
        };
        draft.contract.tools.push(Tool {
            name,
            description: tool.description,
            parameters,
            strict: tool.strict,
        });
    }
    Ok(())
}

/// An inline schema, as JSON, checked where it is written. The same schema written in
/// many prompts is converted and checked once and then shared (see [`InlineSchemas`]).
fn inline_schema(
    file: &At,
    raw: &Spanned<toml::Value>,
    field: &str,
    strict: bool,
) -> Result<Arc<Value>, PromptError> {
    if let Some(known) = InlineSchemas::get(raw.get_ref(), strict) {
        return Ok(known);
    }
    let location = file.at(raw.span(), field);
    let schema =
        toml_value_to_json(raw.get_ref()).map_err(|e| invalid(location.clone(), e.to_string()))?;
    check_shape(&schema, strict).map_err(|problem| {
        let field = format!("{field}{}", pointer_field(&problem.pointer));
        invalid(location.with_field(field), problem.message)
    })?;
    Ok(InlineSchemas::keep(raw.get_ref(), strict, schema))
}

/// Inline schemas already read, by their TOML value: a tool or an output schema repeated
/// across prompts is then one `Arc`, so the checks and canonical text kept by address
/// (`validate_shared`, `write_schema`) are paid once, as for a shared schema file. Only
/// schemas that passed are kept; a problem is found again at its own file and line.
struct InlineSchemas;

/// The most inline schemas kept; past it the memo starts over (it only costs time).
const MAX_INLINE_SCHEMAS: usize = 10_000;

type InlineMemo = std::collections::HashMap<u64, Vec<(toml::Value, bool, Arc<Value>)>>;

impl InlineSchemas {
    fn memo() -> std::sync::MutexGuard<'static, InlineMemo> {
        static MEMO: std::sync::OnceLock<std::sync::Mutex<InlineMemo>> = std::sync::OnceLock::new();
        MEMO.get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn get(raw: &toml::Value, strict: bool) -> Option<Arc<Value>> {
        // Keyed by a hash, held against the value itself: a collision is a miss.
        Self::memo()
            .get(&toml_hash(raw))?
            .iter()
            .find(|(value, s, _)| *s == strict && same_as_written(value, raw))
            .map(|(_, _, schema)| Arc::clone(schema))
    }

    fn keep(raw: &toml::Value, strict: bool, schema: Value) -> Arc<Value> {
        let schema = Arc::new(schema);
        let mut memo = Self::memo();
        if memo.len() >= MAX_INLINE_SCHEMAS {
            memo.clear();
        }
        memo.entry(toml_hash(raw))
            .or_default()
            .push((raw.clone(), strict, Arc::clone(&schema)));
        schema
    }
}

/// Whether two TOML values are written alike, keys in the same order: the order of a
/// schema's properties is the order strict mode answers in, so it is kept as written.
fn same_as_written(a: &toml::Value, b: &toml::Value) -> bool {
    match (a, b) {
        (toml::Value::Table(a), toml::Value::Table(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|((ka, va), (kb, vb))| ka == kb && same_as_written(va, vb))
        }
        (toml::Value::Array(a), toml::Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same_as_written(a, b))
        }
        (toml::Value::Float(a), toml::Value::Float(b)) => a.to_bits() == b.to_bits(),
        (a, b) => a == b,
    }
}

/// A hash of a TOML value as written, in its order (floats by their bits).
fn toml_hash(value: &toml::Value) -> u64 {
    use std::hash::{Hash, Hasher};
    fn feed(value: &toml::Value, hasher: &mut std::collections::hash_map::DefaultHasher) {
        match value {
            toml::Value::Table(table) => {
                hasher.write_u8(b'{');
                for (key, item) in table {
                    key.hash(hasher);
                    feed(item, hasher);
                }
            }
            toml::Value::Array(items) => {
                hasher.write_u8(b'[');
                items.len().hash(hasher);
                items.iter().for_each(|item| feed(item, hasher));
            }
            toml::Value::String(text) => text.hash(hasher),
            toml::Value::Integer(i) => i.hash(hasher),
            toml::Value::Float(f) => f.to_bits().hash(hasher),
            toml::Value::Boolean(b) => b.hash(hasher),
            toml::Value::Datetime(d) => d.to_string().hash(hasher),
        }
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    feed(value, &mut hasher);
    hasher.finish()
}

fn schema_ref(
    file: &At,
    named: Spanned<String>,
    field: &str,
    slot: SchemaSlot,
    strict: bool,
) -> Result<SchemaRef, PromptError> {
    let location = file.at(named.span(), field);
    let name = named.into_inner();
    if crate::prompt::check_segments(&name).is_err() || !name.ends_with(".json") {
        return Err(invalid(
            location,
            format!(
                "`{name}` is not a `.json` file inside the prompts folder (a relative path, as includes name partials)"
            ),
        ));
    }
    Ok(SchemaRef {
        slot,
        name,
        location,
        strict,
    })
}

/// Both APIs take only object schemas for a tool's arguments.
fn check_parameters_root(schema: &Value, location: &Location) -> Result<(), PromptError> {
    if schema.get("type").and_then(Value::as_str) == Some("object") {
        Ok(())
    } else {
        Err(invalid(
            location.clone(),
            "a tool's parameters must be an object schema (`type = \"object\"`)",
        ))
    }
}

/// The names both APIs take for tools and schemas: `^[a-zA-Z0-9_-]{1,64}$`.
fn check_api_name(name: &str) -> Result<(), String> {
    let fine = !name.is_empty()
        && name.len() <= MAX_TOOL_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if fine {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a name the APIs take: 1 to {MAX_TOOL_NAME} ASCII letters, digits, `_` or `-`"
        ))
    }
}
