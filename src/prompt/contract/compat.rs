//! Contract changes and whether they break a service: each difference between two
//! contracts (schema keywords, tools, output format) with the way it moves the set of
//! valid replies, judged under a compatibility mode as schema registries judge JSON Schema.
//!
//! The model writes replies and tool arguments; the service reads them. A change
//! **narrows** when every reply valid under the new contract was valid under the old (a
//! service built for the old contract reads it: forward compatible), **widens** when the
//! reverse holds (backward compatible), is **neutral** when the set is the same (a
//! description), and is **incompatible** when neither holds. Anything this does not analyse
//! is incompatible: a verdict is never "compatible" by accident.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::base::memo::Memo;

use super::{Compatibility, Contract, OutputFormat, OutputSpec, Tool, escape_pointer};

/// How a change moves the set of valid replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Fewer replies are valid: forward compatible.
    Narrows,
    /// More replies are valid: backward compatible.
    Widens,
    /// The same replies are valid.
    Neutral,
    /// Neither: breaking in every mode but `none`.
    Incompatible,
}

impl Direction {
    /// Tells whether a change in this direction breaks a service under `mode`.
    pub fn breaks(self, mode: Compatibility) -> bool {
        !matches!(
            (mode, self),
            (Compatibility::None, _)
                | (_, Direction::Neutral)
                | (Compatibility::Forward, Direction::Narrows)
                | (Compatibility::Backward, Direction::Widens)
        )
    }
}

/// One difference between two contracts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContractChange {
    /// Where: `output.schema#/properties/priority`, `tools.lookup_order.parameters#/required`.
    pub path: String,
    /// What kind of change, as the compatibility table names it (`property-added`).
    pub kind: &'static str,
    /// The change in words.
    pub detail: String,
    pub direction: Direction,
}

impl ContractChange {
    /// Tells whether this change breaks a service under `mode`.
    pub fn breaks(&self, mode: Compatibility) -> bool {
        self.direction.breaks(mode)
    }
}

/// Lists the differences between two contracts, in a fixed order: output, then tools.
pub fn contract_changes(old: &Contract, new: &Contract) -> Vec<ContractChange> {
    let mut out = Changes(Vec::new());
    output_changes(old.output.as_ref(), new.output.as_ref(), &mut out);
    tool_changes(old, new, &mut out);
    if old.tool_choice != new.tool_choice {
        let shown = |c: &Option<super::ToolChoice>| {
            c.as_ref().map_or("auto".to_owned(), ToString::to_string)
        };
        out.push(
            "tool_choice",
            "tool-choice-changed",
            format!("{} → {}", shown(&old.tool_choice), shown(&new.tool_choice)),
            Direction::Neutral,
        );
    }
    out.0
}

struct Changes(Vec<ContractChange>);

impl Changes {
    fn push(
        &mut self,
        path: impl Into<String>,
        kind: &'static str,
        detail: String,
        direction: Direction,
    ) {
        self.0.push(ContractChange {
            path: path.into(),
            kind,
            detail,
            direction,
        });
    }
}

fn output_changes(old: Option<&OutputSpec>, new: Option<&OutputSpec>, out: &mut Changes) {
    let format = |o: Option<&OutputSpec>| o.map_or(OutputFormat::Text, |o| o.format);
    if format(old) != format(new) {
        let name = |f: OutputFormat| match f {
            OutputFormat::Text => "text",
            OutputFormat::Json => "json",
        };
        out.push(
            "output.format",
            "format-changed",
            format!("{} → {}", name(format(old)), name(format(new))),
            Direction::Incompatible,
        );
        return;
    }
    let (Some(old), Some(new)) = (old, new) else {
        return;
    };
    if old.strict != new.strict {
        out.push(
            "output.strict",
            "strict-changed",
            format!("{} → {}", old.strict, new.strict),
            Direction::Neutral,
        );
    }
    if old.name != new.name {
        out.push(
            "output.name",
            "annotation-changed",
            format!("{} → {}", old.schema_name(), new.schema_name()),
            Direction::Neutral,
        );
    }
    match (&old.schema, &new.schema) {
        (None, Some(_)) => out.push(
            "output.schema",
            "schema-added",
            "replies must now meet a schema".into(),
            Direction::Narrows,
        ),
        (Some(_), None) => out.push(
            "output.schema",
            "schema-removed",
            "replies need only be JSON".into(),
            Direction::Widens,
        ),
        (Some(a), Some(b)) => shared_schema_changes(a, b, "output.schema#", out),
        (None, None) => {}
    }
}

fn tool_changes(old: &Contract, new: &Contract, out: &mut Changes) {
    let removed: Vec<&Tool> = old
        .tools
        .iter()
        .filter(|t| new.tool(&t.name).is_none())
        .collect();
    let mut added: Vec<&Tool> = new
        .tools
        .iter()
        .filter(|t| old.tool(&t.name).is_none())
        .collect();
    for gone in removed {
        // The same parameters under another name is a rename: the old service knows no tool
        // of the new name, and the new one none of the old.
        if let Some(at) = added.iter().position(|t| t.parameters == gone.parameters) {
            let renamed = added.remove(at);
            out.push(
                format!("tools.{}", gone.name),
                "tool-renamed",
                format!("renamed to `{}`", renamed.name),
                Direction::Incompatible,
            );
            continue;
        }
        out.push(
            format!("tools.{}", gone.name),
            "tool-removed",
            "the model can no longer call it".into(),
            Direction::Narrows,
        );
    }
    for tool in added {
        out.push(
            format!("tools.{}", tool.name),
            "tool-added",
            "the model may call a tool a service built for the old contract lacks".into(),
            Direction::Widens,
        );
    }
    for tool in &new.tools {
        let Some(before) = old.tool(&tool.name) else {
            continue;
        };
        if before.description != tool.description {
            out.push(
                format!("tools.{}.description", tool.name),
                "annotation-changed",
                "description changed".into(),
                Direction::Neutral,
            );
        }
        if before.strict != tool.strict {
            out.push(
                format!("tools.{}.strict", tool.name),
                "strict-changed",
                format!("{} → {}", before.strict, tool.strict),
                Direction::Neutral,
            );
        }
        let path = format!("tools.{}.parameters#", tool.name);
        shared_schema_changes(&before.parameters, &tool.parameters, &path, out);
    }
}

/// Keywords that describe and never constrain.
const ANNOTATIONS: [&str; 9] = [
    "title",
    "description",
    "examples",
    "default",
    "$comment",
    "deprecated",
    "readOnly",
    "writeOnly",
    "$schema",
];
/// Lower bounds: a larger value narrows.
const LOWER_BOUNDS: [&str; 5] = [
    "minimum",
    "exclusiveMinimum",
    "minLength",
    "minItems",
    "minProperties",
];
/// Upper bounds: a smaller value narrows.
const UPPER_BOUNDS: [&str; 5] = [
    "maximum",
    "exclusiveMaximum",
    "maxLength",
    "maxItems",
    "maxProperties",
];
/// Constraints compared as a whole: added narrows, removed widens, changed is incompatible.
const OPAQUE: [&str; 3] = ["pattern", "format", "multipleOf"];
/// Keywords this analysis walks itself.
const WALKED: [&str; 7] = [
    "type",
    "properties",
    "required",
    "additionalProperties",
    "enum",
    "const",
    "items",
];

/// The differences between two schemas at `path` (a field, then `#` and a JSON pointer).
/// Most pairs of shared schemas whose changes are remembered; past it the memo starts over.
const MAX_REMEMBERED_PAIRS: usize = 1_024;

/// Two shared schemas, held while their changes are remembered, and those changes.
type SharedPair = (Arc<Value>, Arc<Value>, Vec<ContractChange>);

/// [`schema_changes`] of two schemas held as prompts hold them. The same `Arc` on both
/// sides is no change. Schemas prompts share (held more than once) are analysed once per
/// pair and path, so a commit that edits a schema twenty prompts write costs one analysis;
/// the `Arc`s are held while remembered, so their addresses name no other schema.
fn shared_schema_changes(old: &Arc<Value>, new: &Arc<Value>, path: &str, out: &mut Changes) {
    if Arc::ptr_eq(old, new) {
        return;
    }
    if Arc::strong_count(old) == 1 || Arc::strong_count(new) == 1 {
        return schema_changes(old, new, path, out);
    }
    static MEMO: Memo<(usize, usize, String), SharedPair> = Memo::new(MAX_REMEMBERED_PAIRS);
    let key = (
        Arc::as_ptr(old) as usize,
        Arc::as_ptr(new) as usize,
        path.to_owned(),
    );
    let (_, _, changes) = MEMO.answer(key, || {
        let mut found = Changes(Vec::new());
        schema_changes(old, new, path, &mut found);
        (Arc::clone(old), Arc::clone(new), found.0)
    });
    out.0.extend(changes);
}

fn schema_changes(old: &Value, new: &Value, path: &str, out: &mut Changes) {
    if old == new {
        return;
    }
    let (Value::Object(a), Value::Object(b)) = (old, new) else {
        out.push(
            path,
            "schema-changed",
            "the schema changed in a way not analysed".into(),
            Direction::Incompatible,
        );
        return;
    };
    type_changes(a, b, path, out);
    enum_changes(a, b, path, out);
    object_changes(a, b, path, out);
    if let (Some(x), Some(y)) = (a.get("items"), b.get("items")) {
        schema_changes(x, y, &format!("{path}/items"), out);
    } else if a.get("items") != b.get("items") {
        let direction = if a.contains_key("items") {
            Direction::Widens
        } else {
            Direction::Narrows
        };
        out.push(
            format!("{path}/items"),
            "items-changed",
            "`items` added or removed".into(),
            direction,
        );
    }
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for key in keys {
        let (x, y) = (a.get(key.as_str()), b.get(key.as_str()));
        if x == y || WALKED.contains(&key.as_str()) {
            continue;
        }
        let at = format!("{path}/{}", escape_pointer(key));
        let (kind, direction) = keyword_direction(key, x, y);
        out.push(at, kind, keyword_detail(key, x, y), direction);
    }
}

fn keyword_direction(
    key: &str,
    old: Option<&Value>,
    new: Option<&Value>,
) -> (&'static str, Direction) {
    if ANNOTATIONS.contains(&key) {
        return ("annotation-changed", Direction::Neutral);
    }
    let lower = LOWER_BOUNDS.contains(&key);
    if lower || UPPER_BOUNDS.contains(&key) {
        let direction = match (old.and_then(Value::as_f64), new.and_then(Value::as_f64)) {
            (None, Some(_)) => Direction::Narrows,
            (Some(_), None) => Direction::Widens,
            (Some(x), Some(y)) if (y > x) == lower => Direction::Narrows,
            (Some(_), Some(_)) => Direction::Widens,
            (None, None) => Direction::Incompatible,
        };
        return ("bound-changed", direction);
    }
    if OPAQUE.contains(&key) {
        let direction = match (old, new) {
            (None, Some(_)) => Direction::Narrows,
            (Some(_), None) => Direction::Widens,
            _ => Direction::Incompatible,
        };
        return ("constraint-changed", direction);
    }
    ("keyword-changed", Direction::Incompatible)
}

fn keyword_detail(key: &str, old: Option<&Value>, new: Option<&Value>) -> String {
    let shown = |v: Option<&Value>| v.map_or("(none)".to_owned(), short);
    format!("`{key}`: {} → {}", shown(old), shown(new))
}

/// A value on one line, cut at 60 characters.
fn short(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// The JSON types a schema allows; `None` for any.
fn types(schema: &Map<String, Value>) -> Option<BTreeSet<String>> {
    match schema.get("type")? {
        Value::String(t) => Some(BTreeSet::from([t.clone()])),
        Value::Array(ts) => Some(
            ts.iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect(),
        ),
        _ => None,
    }
}

/// Tells whether every value of the types `a` is of the types `b` (`integer` is a
/// `number`).
fn types_within(a: &BTreeSet<String>, b: &BTreeSet<String>) -> bool {
    a.iter()
        .all(|t| b.contains(t) || (t == "integer" && b.contains("number")))
}

fn type_changes(a: &Map<String, Value>, b: &Map<String, Value>, path: &str, out: &mut Changes) {
    let (old, new) = (types(a), types(b));
    if old == new {
        return;
    }
    let direction = match (&old, &new) {
        (None, Some(_)) => Direction::Narrows,
        (Some(_), None) => Direction::Widens,
        (Some(x), Some(y)) if types_within(y, x) => Direction::Narrows,
        (Some(x), Some(y)) if types_within(x, y) => Direction::Widens,
        _ => Direction::Incompatible,
    };
    out.push(
        format!("{path}/type"),
        "type-changed",
        keyword_detail("type", a.get("type"), b.get("type")),
        direction,
    );
}

fn enum_changes(a: &Map<String, Value>, b: &Map<String, Value>, path: &str, out: &mut Changes) {
    let values = |m: &Map<String, Value>| match (m.get("enum"), m.get("const")) {
        (Some(Value::Array(vs)), _) => Some(vs.clone()),
        (_, Some(c)) => Some(vec![c.clone()]),
        _ => None,
    };
    let (old, new) = (values(a), values(b));
    let at = format!("{path}/enum");
    match (old, new) {
        (None, Some(_)) => out.push(
            at,
            "enum-added",
            "values are now limited to a list".into(),
            Direction::Narrows,
        ),
        (Some(_), None) => out.push(
            at,
            "enum-removed",
            "values are no longer limited to a list".into(),
            Direction::Widens,
        ),
        (Some(x), Some(y)) => {
            let gained: Vec<String> = y.iter().filter(|v| !x.contains(v)).map(short).collect();
            let lost: Vec<String> = x.iter().filter(|v| !y.contains(v)).map(short).collect();
            let (kind, direction) = match (gained.is_empty(), lost.is_empty()) {
                (true, true) => return,
                (false, true) => ("enum-extended", Direction::Widens),
                (true, false) => ("enum-narrowed", Direction::Narrows),
                (false, false) => ("enum-changed", Direction::Incompatible),
            };
            let mut words = Vec::new();
            if !gained.is_empty() {
                words.push(format!("added {}", gained.join(", ")));
            }
            if !lost.is_empty() {
                words.push(format!("removed {}", lost.join(", ")));
            }
            out.push(at, kind, words.join("; "), direction);
        }
        (None, None) => {}
    }
}

/// Whether an object schema refuses properties it does not declare.
fn closed(schema: &Map<String, Value>) -> bool {
    schema.get("additionalProperties") == Some(&Value::Bool(false))
}

fn object_changes(a: &Map<String, Value>, b: &Map<String, Value>, path: &str, out: &mut Changes) {
    let empty = Map::new();
    let props = |m: &Map<String, Value>| m.get("properties").and_then(Value::as_object).cloned();
    let (old_props, new_props) = (
        props(a).unwrap_or_else(|| empty.clone()),
        props(b).unwrap_or_default(),
    );
    let names: BTreeSet<&String> = old_props.keys().chain(new_props.keys()).collect();
    for name in names {
        let at = format!("{path}/properties/{}", escape_pointer(name));
        match (old_props.get(name.as_str()), new_props.get(name.as_str())) {
            (None, Some(_)) => {
                // Under a closed old schema the property was refused; under an open one it
                // could hold anything, and now it is constrained.
                let direction = if closed(a) {
                    Direction::Widens
                } else {
                    Direction::Narrows
                };
                let model = if closed(a) { "closed" } else { "open" };
                out.push(
                    at,
                    "property-added",
                    format!("`{name}` added to a {model} object"),
                    direction,
                );
            }
            (Some(_), None) => {
                let direction = if closed(b) {
                    Direction::Narrows
                } else {
                    Direction::Widens
                };
                let model = if closed(b) { "closed" } else { "open" };
                out.push(
                    at,
                    "property-removed",
                    format!("`{name}` removed from a {model} object"),
                    direction,
                );
            }
            (Some(x), Some(y)) => schema_changes(x, y, &at, out),
            (None, None) => {}
        }
    }
    let required = |m: &Map<String, Value>| -> BTreeSet<String> {
        m.get("required")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (old_required, new_required) = (required(a), required(b));
    for name in new_required.difference(&old_required) {
        out.push(
            format!("{path}/required"),
            "required-added",
            format!("`{name}` is now required"),
            Direction::Narrows,
        );
    }
    for name in old_required.difference(&new_required) {
        out.push(
            format!("{path}/required"),
            "required-removed",
            format!("`{name}` is no longer required"),
            Direction::Widens,
        );
    }
    match (a.get("additionalProperties"), b.get("additionalProperties")) {
        (x, y) if x == y => {}
        (Some(x @ Value::Object(_)), Some(y @ Value::Object(_))) => {
            schema_changes(x, y, &format!("{path}/additionalProperties"), out);
        }
        _ => {
            let (kind, detail, direction) = match (closed(a), closed(b)) {
                (false, true) => (
                    "additional-properties-closed",
                    "undeclared properties are now refused",
                    Direction::Narrows,
                ),
                (true, false) => (
                    "additional-properties-opened",
                    "undeclared properties are now allowed",
                    Direction::Widens,
                ),
                _ => (
                    "additional-properties-changed",
                    "`additionalProperties` changed",
                    Direction::Incompatible,
                ),
            };
            out.push(
                format!("{path}/additionalProperties"),
                kind,
                detail.into(),
                direction,
            );
        }
    }
}
