//! Field-level changes of a prompt: provider, model, each parameter, each variable.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

use crate::prompt::PromptSpec;

/// One field that differs; `null` stands for a field that is absent on that side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    /// Dotted path of the field (`params.temperature`, `variables.tone.default`).
    pub field: String,
    /// The old value, if the field existed.
    pub old: Option<Value>,
    /// The new value, if the field exists.
    pub new: Option<Value>,
}

/// Lists the fields that differ between two prompts, in a fixed order: provider, model,
/// params, variables. A missing side (`None`) lists every field of the other as added or
/// removed.
pub fn field_changes(old: Option<&PromptSpec>, new: Option<&PromptSpec>) -> Vec<FieldChange> {
    // Equal fields have no change: the common case (a prompt changed only through a
    // partial it reaches), without a JSON copy of every parameter and variable.
    if let (Some(a), Some(b)) = (old, new)
        && (&a.provider, &a.model, &a.params, &a.variables)
            == (&b.provider, &b.model, &b.params, &b.variables)
    {
        return Vec::new();
    }
    let mut changes = Vec::new();
    let text = |spec: Option<&PromptSpec>, pick: fn(&PromptSpec) -> &String| {
        spec.map(|s| Value::String(pick(s).clone()))
    };
    push_if_changed(
        &mut changes,
        "provider".into(),
        text(old, |s| &s.provider),
        text(new, |s| &s.provider),
    );
    push_if_changed(
        &mut changes,
        "model".into(),
        text(old, |s| &s.model),
        text(new, |s| &s.model),
    );
    let params = |spec: Option<&PromptSpec>| {
        spec.map(|s| {
            s.params
                .clone()
                .into_iter()
                .collect::<serde_json::Map<_, _>>()
        })
        .unwrap_or_default()
    };
    table_changes(&mut changes, "params", &params(old), &params(new), false);
    let variables = |spec: Option<&PromptSpec>| {
        spec.map(|s| {
            s.variables
                .iter()
                .map(|(name, var)| (name.clone(), serde_json::to_value(var).unwrap_or_default()))
                .collect::<serde_json::Map<_, _>>()
        })
        .unwrap_or_default()
    };
    table_changes(
        &mut changes,
        "variables",
        &variables(old),
        &variables(new),
        true,
    );
    changes
}

/// Compares two tables key by key; with `nested`, a key on both sides is compared field by
/// field (`variables.tone.default`) so that one changed attribute is one line.
fn table_changes(
    changes: &mut Vec<FieldChange>,
    prefix: &str,
    old: &serde_json::Map<String, Value>,
    new: &serde_json::Map<String, Value>,
    nested: bool,
) {
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for key in keys {
        let field = format!("{prefix}.{key}");
        match (old.get(key), new.get(key)) {
            (Some(Value::Object(a)), Some(Value::Object(b))) if nested => {
                table_changes(changes, &field, a, b, false);
            }
            (a, b) => push_if_changed(changes, field, a.cloned(), b.cloned()),
        }
    }
}

fn push_if_changed(
    changes: &mut Vec<FieldChange>,
    field: String,
    old: Option<Value>,
    new: Option<Value>,
) {
    if old != new {
        changes.push(FieldChange { field, old, new });
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::prompt::{VarType, Variable};

    fn spec() -> PromptSpec {
        PromptSpec {
            provider: "offline".into(),
            model: "m1".into(),
            params: BTreeMap::from([("temperature".into(), json!(0.0))]),
            variables: BTreeMap::from([(
                "tone".into(),
                Variable {
                    ty: VarType::String,
                    required: false,
                    default: Some(json!("friendly")),
                    allowed: None,
                    description: None,
                },
            )]),
            messages: Vec::new(),
            partials: BTreeMap::new(),
            contract: Default::default(),
        }
    }

    fn fields(changes: &[FieldChange]) -> Vec<(&str, Option<&Value>, Option<&Value>)> {
        changes
            .iter()
            .map(|c| (c.field.as_str(), c.old.as_ref(), c.new.as_ref()))
            .collect()
    }

    #[test]
    fn equal_prompts_have_no_field_changes() {
        assert!(field_changes(Some(&spec()), Some(&spec())).is_empty());
    }

    #[test]
    fn each_changed_attribute_is_one_field() {
        let old = spec();
        let mut new = spec();
        new.provider = "openai".into();
        new.model = "m2".into();
        new.params.insert("temperature".into(), json!(0.2));
        new.params.insert("max_tokens".into(), json!(300));
        let tone = new.variables.get_mut("tone").unwrap();
        tone.required = true;
        tone.default = None;
        tone.allowed = Some(vec![json!("friendly"), json!("formal")]);
        let changes = field_changes(Some(&old), Some(&new));
        assert_eq!(
            fields(&changes),
            [
                ("provider", Some(&json!("offline")), Some(&json!("openai"))),
                ("model", Some(&json!("m1")), Some(&json!("m2"))),
                ("params.max_tokens", None, Some(&json!(300))),
                ("params.temperature", Some(&json!(0.0)), Some(&json!(0.2))),
                ("variables.tone.default", Some(&json!("friendly")), None),
                (
                    "variables.tone.enum",
                    None,
                    Some(&json!(["friendly", "formal"]))
                ),
                (
                    "variables.tone.required",
                    Some(&json!(false)),
                    Some(&json!(true))
                ),
            ]
        );
    }

    #[test]
    fn an_added_variable_is_one_field_with_its_declaration() {
        let old = spec();
        let mut new = spec();
        let mut ticket = new.variables["tone"].clone();
        ticket.default = None;
        ticket.required = true;
        new.variables.insert("ticket".into(), ticket);
        let changes = field_changes(Some(&old), Some(&new));
        assert_eq!(
            fields(&changes),
            [(
                "variables.ticket",
                None,
                Some(&json!({"type": "string", "required": true}))
            )]
        );
    }

    #[test]
    fn a_new_prompt_lists_every_field_as_added() {
        let changes = field_changes(None, Some(&spec()));
        let names: Vec<_> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            names,
            ["provider", "model", "params.temperature", "variables.tone"]
        );
        assert!(changes.iter().all(|c| c.old.is_none()));
    }
}
