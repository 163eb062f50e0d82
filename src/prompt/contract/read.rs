//! Reading `[output]`, `[[tools]]` and `tool_choice` from a prompt file: shapes, names,
//! bounds and inline schemas checked at their line; schema files named for the finish.

use std::ops::Range;
use std::sync::Arc;

use serde::Deserialize;
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaSlot {
    Output,
    Tool(usize),
}

/// A schema file a prompt names, resolved against its source's files when it is finished.
#[derive(Debug, Clone)]
pub(crate) struct SchemaRef {
    pub slot: SchemaSlot,
    /// The file, relative to the prompts folder.
    pub name: String,
    /// Where the prompt file names it.
    pub location: Location,
    pub strict: bool,
}

/// The contract as read from the file, with the schema files it names still to read.
#[derive(Debug, Clone, Default)]
pub(crate) struct ContractDraft {
    pub contract: Contract,
    pub compatibility: Compatibility,
    pub schema_files: Vec<SchemaRef>,
    /// Where each schema is written, for the problems `check` finds in it.
    pub sites: Vec<SchemaSite>,
}

/// Where a schema of the contract is written: a field of the prompt file, or a schema file.
#[derive(Debug, Clone, PartialEq, Eq)]
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
            Some(inline_schema(file, schema, "output.schema", raw.strict)?)
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
        schema: schema.map(Arc::new),
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
                let schema = inline_schema(file, inline, &field("parameters"), tool.strict)?;
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
                Value::Null
            }
            // A tool that takes nothing: both APIs want an object schema all the same.
            (None, None) => json!({"type": "object", "properties": {}}),
        };
        draft.contract.tools.push(Tool {
            name,
            description: tool.description,
            parameters: Arc::new(parameters),
            strict: tool.strict,
        });
    }
    Ok(())
}

/// An inline schema, as JSON, checked where it is written.
fn inline_schema(
    file: &At,
    raw: Spanned<toml::Value>,
    field: &str,
    strict: bool,
) -> Result<Value, PromptError> {
    let location = file.at(raw.span(), field);
    let schema =
        toml_value_to_json(raw.get_ref()).map_err(|e| invalid(location.clone(), e.to_string()))?;
    check_shape(&schema, strict).map_err(|problem| {
        let field = format!("{field}{}", pointer_field(&problem.pointer));
        invalid(location.with_field(field), problem.message)
    })?;
    Ok(schema)
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
