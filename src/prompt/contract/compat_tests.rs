//! The compatibility table: one test per kind of change, and the table in
//! docs/contract.md written from the same rows (`COMPAT_UPDATE=1` rewrites it).

use serde_json::{Value, json};

use super::{
    Compatibility, Contract, Direction, OutputFormat, OutputSpec, Tool, ToolChoice,
    contract_changes,
};

/// One row: what changes, the old and the new contract, and the expected direction.
struct Row {
    change: &'static str,
    old: Contract,
    new: Contract,
    direction: Direction,
}

fn output(schema: Value) -> Contract {
    Contract {
        output: Some(OutputSpec {
            format: OutputFormat::Json,
            name: None,
            schema: Some(schema.into()),
            strict: false,
        }),
        ..Contract::default()
    }
}

fn object(extra: Value) -> Value {
    let mut base = json!({"type": "object", "properties": {"queue": {"type": "string"}}, "required": ["queue"]});
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    base
}

fn closed(extra: Value) -> Value {
    let mut schema = object(extra);
    schema["additionalProperties"] = json!(false);
    schema
}

fn field(schema: Value) -> Value {
    json!({"type": "object", "properties": {"priority": schema}})
}

fn tools(list: &[(&str, Value)]) -> Contract {
    Contract {
        tools: list
            .iter()
            .map(|(name, parameters)| Tool {
                name: (*name).into(),
                description: None,
                parameters: parameters.clone().into(),
                strict: false,
            })
            .collect(),
        ..Contract::default()
    }
}

fn params(p: Value) -> Value {
    json!({"type": "object", "properties": p})
}

fn rows() -> Vec<Row> {
    use Direction::*;
    let row = |change, old, new, direction| Row {
        change,
        old,
        new,
        direction,
    };
    let id = params(json!({"id": {"type": "string"}}));
    vec![
        row(
            "property added to an open object",
            output(object(json!({}))),
            output(object(
                json!({"properties": {"queue": {"type": "string"}, "note": {"type": "string"}}}),
            )),
            Narrows,
        ),
        row(
            "property added to a closed object",
            output(closed(json!({}))),
            output(closed(
                json!({"properties": {"queue": {"type": "string"}, "note": {"type": "string"}}}),
            )),
            Widens,
        ),
        row(
            "property removed from an open object",
            output(object(
                json!({"properties": {"queue": {"type": "string"}, "note": {"type": "string"}}}),
            )),
            output(object(json!({}))),
            Widens,
        ),
        row(
            "property removed from a closed object",
            output(closed(
                json!({"properties": {"queue": {"type": "string"}, "note": {"type": "string"}}}),
            )),
            output(closed(json!({}))),
            Narrows,
        ),
        row(
            "property made required",
            output(object(json!({"required": []}))),
            output(object(json!({}))),
            Narrows,
        ),
        row(
            "property made optional",
            output(object(json!({}))),
            output(object(json!({"required": []}))),
            Widens,
        ),
        row(
            "type narrowed (`[\"string\", \"null\"]` → `string`)",
            output(field(json!({"type": ["string", "null"]}))),
            output(field(json!({"type": "string"}))),
            Narrows,
        ),
        row(
            "type widened (`integer` → `number`)",
            output(field(json!({"type": "integer"}))),
            output(field(json!({"type": "number"}))),
            Widens,
        ),
        row(
            "type changed (`string` → `integer`)",
            output(field(json!({"type": "string"}))),
            output(field(json!({"type": "integer"}))),
            Incompatible,
        ),
        row(
            "enum value added",
            output(field(json!({"enum": ["low", "high"]}))),
            output(field(json!({"enum": ["low", "high", "urgent"]}))),
            Widens,
        ),
        row(
            "enum value removed",
            output(field(json!({"enum": ["low", "high", "urgent"]}))),
            output(field(json!({"enum": ["low", "high"]}))),
            Narrows,
        ),
        row(
            "enum value replaced",
            output(field(json!({"enum": ["low", "high"]}))),
            output(field(json!({"enum": ["low", "urgent"]}))),
            Incompatible,
        ),
        row(
            "enum introduced",
            output(field(json!({"type": "string"}))),
            output(field(json!({"type": "string", "enum": ["low"]}))),
            Narrows,
        ),
        row(
            "`additionalProperties` set to false",
            output(object(json!({}))),
            output(closed(json!({}))),
            Narrows,
        ),
        row(
            "`additionalProperties` false removed",
            output(closed(json!({}))),
            output(object(json!({}))),
            Widens,
        ),
        row(
            "bound tightened (`maxLength` 200 → 100)",
            output(field(json!({"type": "string", "maxLength": 200}))),
            output(field(json!({"type": "string", "maxLength": 100}))),
            Narrows,
        ),
        row(
            "bound loosened (`minimum` 1 → 0)",
            output(field(json!({"type": "integer", "minimum": 1}))),
            output(field(json!({"type": "integer", "minimum": 0}))),
            Widens,
        ),
        row(
            "`pattern` changed",
            output(field(json!({"type": "string", "pattern": "^[a-z]+$"}))),
            output(field(json!({"type": "string", "pattern": "^[A-Z]+$"}))),
            Incompatible,
        ),
        row(
            "description changed",
            output(field(json!({"type": "string", "description": "a"}))),
            output(field(json!({"type": "string", "description": "b"}))),
            Neutral,
        ),
        row(
            "keyword not analysed (`anyOf`) changed",
            output(field(json!({"anyOf": [{"type": "string"}]}))),
            output(field(json!({"anyOf": [{"type": "integer"}]}))),
            Incompatible,
        ),
        row(
            "schema added to a JSON output",
            Contract {
                output: Some(OutputSpec {
                    format: OutputFormat::Json,
                    name: None,
                    schema: None,
                    strict: false,
                }),
                ..Contract::default()
            },
            output(object(json!({}))),
            Narrows,
        ),
        row(
            "format changed (text ↔ json)",
            Contract::default(),
            output(object(json!({}))),
            Incompatible,
        ),
        row(
            "strict mode turned on or off",
            output(closed(json!({}))),
            {
                let mut c = output(closed(json!({})));
                c.output.as_mut().unwrap().strict = true;
                c
            },
            Neutral,
        ),
        row(
            "tool added",
            tools(&[("lookup", id.clone())]),
            tools(&[
                ("lookup", id.clone()),
                ("refund", params(json!({"amount": {"type": "number"}}))),
            ]),
            Widens,
        ),
        row(
            "tool removed",
            tools(&[("lookup", id.clone()), ("refund", params(json!({})))]),
            tools(&[("lookup", id.clone())]),
            Narrows,
        ),
        row(
            "tool renamed",
            tools(&[("lookup", id.clone())]),
            tools(&[("find", id.clone())]),
            Incompatible,
        ),
        row(
            "tool parameter made required",
            tools(&[("lookup", id.clone())]),
            tools(&[(
                "lookup",
                json!({"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}),
            )]),
            Narrows,
        ),
        row(
            "`tool_choice` changed",
            tools(&[("lookup", id.clone())]),
            {
                let mut c = tools(&[("lookup", id.clone())]);
                c.tool_choice = Some(ToolChoice::Required);
                c
            },
            Neutral,
        ),
    ]
}

/// The direction of a row's changes taken together: the one change, or incompatible when
/// its changes pull both ways.
fn direction_of(row: &Row) -> Direction {
    let changes = contract_changes(&row.old, &row.new);
    assert!(!changes.is_empty(), "{}: no change found", row.change);
    let moves: Vec<Direction> = changes
        .iter()
        .map(|c| c.direction)
        .filter(|d| *d != Direction::Neutral)
        .collect();
    match moves.as_slice() {
        [] => Direction::Neutral,
        [first, rest @ ..] if rest.iter().all(|d| d == first) => *first,
        _ => Direction::Incompatible,
    }
}

const MODES: [Compatibility; 4] = [
    Compatibility::Forward,
    Compatibility::Backward,
    Compatibility::Full,
    Compatibility::None,
];

fn table() -> String {
    let mut out = String::from(
        "| change | forward (default) | backward | full | none |\n| --- | --- | --- | --- | --- |\n",
    );
    for row in rows() {
        let cells: Vec<&str> = MODES
            .iter()
            .map(|mode| {
                if row.direction.breaks(*mode) {
                    "breaking"
                } else {
                    "compatible"
                }
            })
            .collect();
        out.push_str(&format!("| {} | {} |\n", row.change, cells.join(" | ")));
    }
    out
}

macro_rules! row_test {
    ($($name:ident: $index:expr,)*) => {$(
        #[test]
        fn $name() {
            let row = rows().into_iter().nth($index).unwrap();
            assert_eq!(direction_of(&row), row.direction, "{}", row.change);
        }
    )*};
}

row_test! {
    property_added_to_an_open_object: 0,
    property_added_to_a_closed_object: 1,
    property_removed_from_an_open_object: 2,
    property_removed_from_a_closed_object: 3,
    property_made_required: 4,
    property_made_optional: 5,
    type_narrowed: 6,
    type_widened: 7,
    type_changed: 8,
    enum_value_added: 9,
    enum_value_removed: 10,
    enum_value_replaced: 11,
    enum_introduced: 12,
    additional_properties_closed: 13,
    additional_properties_opened: 14,
    bound_tightened: 15,
    bound_loosened: 16,
    pattern_changed: 17,
    description_changed: 18,
    keyword_not_analysed: 19,
    schema_added: 20,
    format_changed: 21,
    strict_changed: 22,
    tool_added: 23,
    tool_removed: 24,
    tool_renamed: 25,
    tool_parameter_made_required: 26,
    tool_choice_changed: 27,
}

#[test]
fn every_row_has_its_test_and_the_docs_table_is_current() {
    assert_eq!(rows().len(), 28, "a row without a test of its own");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/contract.md");
    let docs = std::fs::read_to_string(path).unwrap();
    let (start, end) = ("<!-- compat:start -->\n", "<!-- compat:end -->");
    let from = docs
        .find(start)
        .expect("docs/contract.md has the compat markers")
        + start.len();
    let to = docs.find(end).unwrap();
    let table = table();
    if std::env::var_os("COMPAT_UPDATE").is_some() {
        std::fs::write(path, format!("{}{table}{}", &docs[..from], &docs[to..])).unwrap();
        return;
    }
    assert_eq!(
        &docs[from..to],
        table,
        "docs/contract.md is stale: run with COMPAT_UPDATE=1"
    );
}

#[test]
fn a_breaking_change_is_found_deep_in_a_schema_and_named_by_its_pointer() {
    let old = output(
        json!({"type": "object", "properties": {"customer": {"type": "object", "properties": {"tier": {"enum": ["free", "pro"]}}}}}),
    );
    let new = output(
        json!({"type": "object", "properties": {"customer": {"type": "object", "properties": {"tier": {"enum": ["free", "pro", "team"]}}}}}),
    );
    let changes = contract_changes(&old, &new);
    assert_eq!(changes.len(), 1);
    assert_eq!(
        changes[0].path,
        "output.schema#/properties/customer/properties/tier/enum"
    );
    assert_eq!(changes[0].detail, "added \"team\"");
    assert!(changes[0].breaks(Compatibility::Forward));
    assert!(!changes[0].breaks(Compatibility::Backward));
    assert!(contract_changes(&old, &old).is_empty());
}

#[test]
fn schemas_prompts_share_are_judged_as_the_same_schemas_written_apart() {
    // Every row's contracts, held as twenty prompts hold them (one `Arc` per schema, shared),
    // are judged exactly as a single prompt's: the second and later answers come from the
    // memo of shared pairs, and must not differ from the first or from an unshared pair.
    for row in rows() {
        let fresh = contract_changes(&row.old, &row.new);
        let held: Vec<(Contract, Contract)> = (0..20)
            .map(|_| (row.old.clone(), row.new.clone()))
            .collect();
        for (old, new) in &held {
            assert_eq!(contract_changes(old, new), fresh, "{}", row.change);
        }
    }
    // One shared pair under two paths keeps each path.
    let (a, b) = (
        std::sync::Arc::new(params(json!({"id": {"type": "string"}}))),
        std::sync::Arc::new(params(json!({"id": {"type": "integer"}}))),
    );
    let tool = |name: &str, parameters: &std::sync::Arc<Value>| Tool {
        name: name.into(),
        description: None,
        parameters: std::sync::Arc::clone(parameters),
        strict: false,
    };
    let old = Contract {
        tools: vec![tool("lookup", &a), tool("refund", &a)],
        ..Contract::default()
    };
    let new = Contract {
        tools: vec![tool("lookup", &b), tool("refund", &b)],
        ..Contract::default()
    };
    let paths: Vec<String> = contract_changes(&old, &new)
        .into_iter()
        .map(|c| c.path)
        .collect();
    assert!(
        paths
            .iter()
            .any(|p| p.starts_with("tools.lookup.parameters#"))
    );
    assert!(
        paths
            .iter()
            .any(|p| p.starts_with("tools.refund.parameters#"))
    );
    assert_eq!(
        contract_changes(&old, &old),
        vec![],
        "the same `Arc` is no change"
    );
}
