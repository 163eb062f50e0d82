//! Reading the contract from prompt files: versions, normal forms, and each refusal at its
//! place.

use std::sync::Arc;

use serde_json::json;

use crate::prompt::{PartialIndex, Prompt, PromptDefaults, PromptError, PromptName};

const TRIAGE: &str = r#"model = "m"
tool_choice = "auto"

[output]
strict = true
schema = { type = "object", additionalProperties = false, required = ["queue", "priority"], properties = { queue = { type = "string", enum = ["billing", "tech"] }, priority = { type = "integer" } } }

[[tools]]
name = "lookup_order"
description = "Finds an order"
parameters = { type = "object", properties = { id = { type = "string" } }, required = ["id"] }

[[messages]]
role = "user"
content = "{{ ticket }}"
"#;

fn files(schema: &str) -> PartialIndex {
    PartialIndex::new(
        "prompts",
        [("schemas/triage.json".to_owned(), Arc::from(schema))],
    )
}

fn parse_with(source: &str, partials: &PartialIndex) -> Result<Prompt, PromptError> {
    Prompt::parse(
        PromptName::parse("support/triage").unwrap(),
        "prompts/support/triage.toml",
        source,
        &PromptDefaults::default(),
        partials,
    )
}

fn parse(source: &str) -> Result<Prompt, PromptError> {
    parse_with(source, &PartialIndex::default())
}

/// The first problem of a prompt: reading it, or validating its schemas as `check` does.
fn refusal(source: &str) -> (String, Option<usize>, String) {
    let error = match parse(source) {
        Err(error) => error,
        Ok(prompt) => prompt
            .schema_problems()
            .into_iter()
            .next()
            .expect("a problem"),
    };
    let location = error.location().unwrap().clone();
    (
        location.field.unwrap_or_default(),
        location.line,
        error.to_string(),
    )
}

#[test]
fn the_contract_is_read_and_in_the_canonical_form() {
    let prompt = parse(TRIAGE).unwrap();
    let contract = &prompt.spec.contract;
    assert!(contract.json_output());
    assert_eq!(contract.tools[0].name, "lookup_order");
    assert_eq!(
        contract.tool_choice, None,
        "auto is the default, kept as none"
    );
    let canonical = prompt.canonical_json();
    assert!(
        canonical.contains(
            r#""model":"m","output":{"format":"json","schema":{"additionalProperties":false"#
        ),
        "{canonical}"
    );
    assert!(canonical.contains(r#""provider":"offline","tools":[{"description":"Finds an order","name":"lookup_order","parameters""#), "{canonical}");
}

#[test]
fn a_prompt_without_a_contract_keeps_its_version() {
    let plain = "model = \"m\"\n[[messages]]\nrole = \"user\"\ncontent = \"hi\"\n";
    let before = parse(plain).unwrap();
    assert!(!before.canonical_json().contains("output"));
    let text = format!("{plain}[output]\nformat = \"text\"\ncompatibility = \"none\"\n");
    assert_eq!(parse(&text).unwrap().version, before.version);
}

#[test]
fn a_schema_or_a_tool_change_changes_the_version_and_its_layout_does_not() {
    let base = parse(TRIAGE).unwrap().version;
    for edit in [
        TRIAGE.replace("\"tech\"]", "\"tech\", \"sales\"]"),
        TRIAGE.replace(
            "priority = { type = \"integer\" }",
            "priority = { type = \"number\" }",
        ),
        TRIAGE.replace("strict = true\n", "strict = true\nname = \"triage\"\n"),
        TRIAGE.replace("Finds an order", "Finds one order"),
        TRIAGE.replace("lookup_order", "find_order"),
        TRIAGE.replace("tool_choice = \"auto\"", "tool_choice = \"required\""),
    ] {
        assert_ne!(parse(&edit).unwrap().version, base, "{edit}");
    }
    let reordered = TRIAGE.replace(
        "{ type = \"object\", additionalProperties = false, required = [\"queue\", \"priority\"], properties = { queue = { type = \"string\", enum = [\"billing\", \"tech\"] }, priority = { type = \"integer\" } } }",
        "{ properties = { priority = { type = \"integer\" }, queue = { enum = [\"billing\", \"tech\"], type = \"string\" } }, required = [\"queue\", \"priority\"], additionalProperties = false, type = \"object\" }",
    );
    assert_ne!(reordered, TRIAGE);
    assert_eq!(parse(&reordered).unwrap().version, base);
    let explicit = TRIAGE.replace(
        "strict = true\n",
        "strict = true\ncompatibility = \"full\"\n",
    );
    let explicit = parse(&explicit).unwrap();
    assert_eq!(
        explicit.version, base,
        "the mode is policy, not what the model sees"
    );
    assert_eq!(explicit.compatibility, super::Compatibility::Full);
}

#[test]
fn a_schema_file_is_versioned_by_its_schema_not_its_layout() {
    let source = TRIAGE.replace(
        "schema = { type = \"object\", additionalProperties = false, required = [\"queue\", \"priority\"], properties = { queue = { type = \"string\", enum = [\"billing\", \"tech\"] }, priority = { type = \"integer\" } } }",
        "schema_file = \"schemas/triage.json\"",
    );
    let compact = r#"{"type":"object","additionalProperties":false,"required":["queue","priority"],"properties":{"queue":{"type":"string","enum":["billing","tech"]},"priority":{"type":"integer"}}}"#;
    let pretty = serde_json::to_string_pretty(&json!({
        "properties": {"priority": {"type": "integer"}, "queue": {"enum": ["billing", "tech"], "type": "string"}},
        "required": ["queue", "priority"], "type": "object", "additionalProperties": false
    }))
    .unwrap();
    let inline = parse(TRIAGE).unwrap();
    let from_file = parse_with(&source, &files(compact)).unwrap();
    assert_eq!(from_file.version, inline.version);
    assert_eq!(
        parse_with(&source, &files(&pretty)).unwrap().version,
        inline.version
    );
    assert_eq!(from_file.schema_files, ["schemas/triage.json"]);
    let edited = compact.replace("\"tech\"]", "\"tech\",\"sales\"]");
    assert_ne!(
        parse_with(&source, &files(&edited)).unwrap().version,
        inline.version
    );
    let missing = parse_with(&source, &PartialIndex::default()).unwrap_err();
    assert!(
        missing
            .to_string()
            .contains("schemas/triage.json` does not exist"),
        "{missing}"
    );
    let broken = parse_with(&source, &files("{\n\"type\": ")).unwrap_err();
    assert_eq!(
        broken.location().unwrap().path,
        "prompts/schemas/triage.json"
    );
    assert_eq!(broken.location().unwrap().line, Some(2));
    let loose = parse_with(
        &source,
        &files(r#"{"type":"object","properties":{"a":{"type":"string"}}}"#),
    )
    .unwrap_err();
    assert_eq!(
        loose.location().unwrap().field.as_deref(),
        Some("#/additionalProperties")
    );
}

#[test]
fn each_refusal_names_its_field_and_line() {
    let cases = [
        (
            TRIAGE.replace("type = \"integer\"", "type = \"int\""),
            "output.schema#/properties/priority/type",
            6,
        ),
        (
            TRIAGE.replace(
                "required = [\"queue\", \"priority\"]",
                "required = [\"queue\"]",
            ),
            "output.schema#/required",
            6,
        ),
        (
            TRIAGE.replace("additionalProperties = false, ", ""),
            "output.schema#/additionalProperties",
            6,
        ),
        (
            TRIAGE.replace("name = \"lookup_order\"", "name = \"lookup order\""),
            "tools[0].name",
            9,
        ),
        (
            TRIAGE.replace("name = \"lookup_order\"", "name = \"auto\""),
            "tools[0].name",
            9,
        ),
        (
            format!("{TRIAGE}\n[[tools]]\nname = \"lookup_order\"\n"),
            "tools[1].name",
            18,
        ),
        (
            TRIAGE.replace(
                "parameters = { type = \"object\",",
                "parameters = { type = \"string\",",
            ),
            "tools[0].parameters",
            11,
        ),
        (
            TRIAGE.replace("tool_choice = \"auto\"", "tool_choice = \"lookup\""),
            "tool_choice",
            2,
        ),
        (
            TRIAGE.replace("strict = true\n", "strict = true\nformat = \"text\"\n"),
            "output.format",
            4,
        ),
        (
            TRIAGE.replace("strict = true\n", "strict = true\nname = \"a b\"\n"),
            "output.name",
            6,
        ),
        (
            TRIAGE.replace("schema = {", "schema_file = \"../x.json\"\nschema = {"),
            "output.schema",
            7,
        ),
    ];
    for (source, field, line) in cases {
        let (found, at, message) = refusal(&source);
        assert_eq!((found.as_str(), at), (field, Some(line)), "{message}");
    }
}

#[test]
fn tools_are_bounded() {
    let mut source =
        String::from("model = \"m\"\n[[messages]]\nrole = \"user\"\ncontent = \"hi\"\n");
    for i in 0..=super::MAX_TOOLS {
        source.push_str(&format!("[[tools]]\nname = \"t{i}\"\n"));
    }
    let (field, _, message) = refusal(&source);
    assert_eq!(field, "tools");
    assert!(message.contains("at most 128"), "{message}");
    let no_tools = "tool_choice = \"required\"\nmodel = \"m\"\n[[messages]]\nrole = \"user\"\ncontent = \"hi\"\n";
    assert_eq!(refusal(no_tools).0, "tool_choice");
}

#[test]
fn a_frozen_version_reads_its_contract_back() {
    let prompt = parse(
        TRIAGE
            .replace("tool_choice = \"auto\"", "tool_choice = \"lookup_order\"")
            .as_str(),
    )
    .unwrap();
    let bytes = prompt.canonical_json();
    let frozen = Prompt::from_frozen(
        prompt.name.clone(),
        "o",
        "prompts",
        bytes.as_bytes(),
        prompt.version,
    )
    .unwrap();
    assert_eq!(frozen.spec, prompt.spec);
}

#[test]
fn an_inline_schema_repeated_across_prompts_is_read_once_and_kept_as_written() {
    let first = parse(TRIAGE).unwrap();
    let second = parse(TRIAGE).unwrap();
    let schema = |p: &Prompt| {
        Arc::clone(
            p.spec
                .contract
                .output
                .as_ref()
                .unwrap()
                .schema
                .as_ref()
                .unwrap(),
        )
    };
    assert!(
        Arc::ptr_eq(&schema(&first), &schema(&second)),
        "the same schema text is one shared schema"
    );
    // Another key order is another schema as the model sees it (strict mode answers in the
    // order of the properties), though the same version.
    let reordered = parse(&TRIAGE.replace(
        "properties = { queue = { type = \"string\", enum = [\"billing\", \"tech\"] }, priority = { type = \"integer\" } }",
        "properties = { priority = { type = \"integer\" }, queue = { type = \"string\", enum = [\"billing\", \"tech\"] } }",
    ))
    .unwrap();
    assert_eq!(reordered.version, first.version);
    let order = |p: &Prompt| {
        schema(p)["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(order(&first), ["queue", "priority"]);
    assert_eq!(order(&reordered), ["priority", "queue"]);
    // A schema that fails is refused at its own line every time, not remembered.
    let broken = TRIAGE.replace("additionalProperties = false, ", "");
    for _ in 0..2 {
        assert!(parse(&broken).is_err());
    }
}
