//! JSON Schemas of the contract: checked once when a prompt is read (draft 2020-12, within
//! bounds, and strict mode's rules when asked), compiled to check replies and arguments.

use std::collections::HashMap;
use std::sync::Arc;

use crate::base::memo::Memo;

use serde_json::Value;

/// The largest schema, in canonical JSON bytes (256 KiB).
pub const MAX_SCHEMA_BYTES: usize = 256 * 1024;
/// The deepest a schema document may nest (objects and arrays): deeper documents are
/// refused before anything walks them.
pub const MAX_SCHEMA_DEPTH: usize = 32;
/// Strict mode's deepest nesting of object schemas (OpenAI's documented limit).
pub const STRICT_MAX_NESTING: usize = 10;
/// Strict mode's most object properties over a whole schema (OpenAI's documented limit).
pub const STRICT_MAX_PROPERTIES: usize = 5000;

/// The only `$schema` a schema may name: draft 2020-12, the one it is read as.
const DRAFT_2020_12: &str = "https://json-schema.org/draft/2020-12/schema";

/// What is wrong with a schema, and where in it (a JSON pointer, empty for the root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaProblem {
    pub pointer: String,
    pub message: String,
}

impl SchemaProblem {
    fn at(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        SchemaProblem {
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}

/// Checks a schema: within the size and depth bounds, valid under draft 2020-12 (its
/// meta-schema, then compiled: a bad pattern or an unresolvable `$ref` is found here), and
/// with `strict`, within the rules strict mode imposes.
pub fn check_schema(schema: &Value, strict: bool) -> Result<(), SchemaProblem> {
    check_shape(schema, strict)?;
    validate_schema(schema)
}

/// The checks of a schema that reading a prompt makes: the bounds, `$schema`, and strict
/// mode's rules; cheap walks, no meta-schema. [`validate_schema`] is the rest, which `check`,
/// `eval` and releases run: listing or diffing 2,000 prompts pays for neither.
pub fn check_shape(schema: &Value, strict: bool) -> Result<(), SchemaProblem> {
    if depth_over(schema, MAX_SCHEMA_DEPTH) {
        return Err(SchemaProblem::at(
            "",
            format!("nests deeper than {MAX_SCHEMA_DEPTH} levels"),
        ));
    }
    if canonical_len(schema, MAX_SCHEMA_BYTES) > MAX_SCHEMA_BYTES {
        return Err(SchemaProblem::at(
            "",
            format!("is more than {MAX_SCHEMA_BYTES} bytes of JSON"),
        ));
    }
    if let Some(named) = schema.get("$schema")
        && named.as_str() != Some(DRAFT_2020_12)
    {
        return Err(SchemaProblem::at(
            "/$schema",
            format!(
                "schemas are read as draft 2020-12: `$schema` must be \"{DRAFT_2020_12}\" or left out, not {named}"
            ),
        ));
    }
    if strict {
        strict_problems(schema)?;
    }
    Ok(())
}

/// Validates a schema under draft 2020-12: its meta-schema, then compiled (a bad pattern or
/// an unresolvable `$ref`). The answer is kept by the schema's content for the life of the
/// process: prompts that share a schema file, or repeat a tool, pay once.
pub fn validate_schema(schema: &Value) -> Result<(), SchemaProblem> {
    use std::sync::{Mutex, OnceLock};
    static SEEN: OnceLock<Mutex<Remembered>> = OnceLock::new();
    let key = {
        let mut hasher = Fold(0);
        hash_value(schema, &mut hasher);
        std::hash::Hasher::finish(&hasher)
    };
    let seen = SEEN.get_or_init(Mutex::default);
    // Keyed by a hash, held by the schema itself: a collision is a miss, never a wrong answer.
    let known = seen
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key)
        .and_then(|entries| {
            entries
                .iter()
                .find(|(s, _)| s == schema)
                .map(|(_, a)| a.clone())
        });
    if let Some(answer) = known {
        return answer;
    }
    let answer = validate_uncached(schema);
    let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
    // A bound on the memory kept: past it, the process starts over (it only costs time).
    if seen.len() >= MAX_REMEMBERED {
        seen.clear();
    }
    seen.entry(key)
        .or_default()
        .push((schema.clone(), answer.clone()));
    answer
}

/// Validates a schema that prompts share (one schema file, read once): the same as
/// [`validate_schema`], answered by the schema's address after the first time. The memo
/// holds each schema it answers for, so no other schema can take its address meanwhile.
pub fn validate_shared(schema: &Arc<Value>) -> Result<(), SchemaProblem> {
    if Arc::strong_count(schema) == 1 {
        return validate_schema(schema);
    }
    static VALID: SharedAnswers<Result<(), SchemaProblem>> = SharedAnswers::new();
    VALID.answer((schema, false), || validate_schema(schema))
}

/// [`check_shape`] of a schema that prompts share, answered by its address after the first
/// time, as [`validate_shared`] is.
pub fn check_shape_shared(schema: &Arc<Value>, strict: bool) -> Result<(), SchemaProblem> {
    static SHAPES: SharedAnswers<Result<(), SchemaProblem>> = SharedAnswers::new();
    SHAPES.answer((schema, strict), || check_shape(schema, strict))
}

/// Writes a schema's canonical JSON; a schema prompts share (held more than once) is
/// written once and its text kept, as [`validate_shared`] keeps its answer.
pub(crate) fn write_schema(schema: &Arc<Value>, out: &mut String) {
    if Arc::strong_count(schema) == 1 {
        return crate::prompt::write_canonical(schema, out);
    }
    static TEXTS: SharedAnswers<Arc<str>> = SharedAnswers::new();
    out.push_str(&TEXTS.answer((schema, false), || {
        Arc::from(crate::prompt::to_canonical_string(schema))
    }));
}

/// Answers about shared schemas, by their address and a flag. Each entry holds its schema,
/// so no other schema can take the address while the answer is kept.
struct SharedAnswers<T>(Memo<(usize, bool), (Arc<Value>, T)>);

impl<T: Clone> SharedAnswers<T> {
    const fn new() -> Self {
        SharedAnswers(Memo::new(MAX_REMEMBERED))
    }

    fn answer(&self, (schema, flag): (&Arc<Value>, bool), work: impl FnOnce() -> T) -> T {
        let key = (Arc::as_ptr(schema) as usize, flag);
        self.0.answer(key, || (Arc::clone(schema), work())).1
    }
}

/// Schemas validated so far, by hash: each with its answer.
type Remembered = HashMap<u64, Vec<(Value, Result<(), SchemaProblem>)>>;

/// A fast, non-cryptographic hash of the words it is given (multiply and rotate, as
/// rustc's own FxHash): the memo's keys, held against the schemas themselves.
struct Fold(u64);

impl std::hash::Hasher for Fold {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.write_u64(u64::from_le_bytes(chunk.try_into().expect("eight bytes")));
        }
        for &byte in chunks.remainder() {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Hashes a value as it is written, in its order, without writing it.
fn hash_value(value: &Value, hasher: &mut impl std::hash::Hasher) {
    use std::hash::Hash;
    match value {
        Value::Object(map) => {
            hasher.write_u8(b'{');
            for (key, item) in map {
                key.hash(hasher);
                hash_value(item, hasher);
            }
        }
        Value::Array(items) => {
            hasher.write_u8(b'[');
            items.len().hash(hasher);
            items.iter().for_each(|item| hash_value(item, hasher));
        }
        Value::String(text) => text.hash(hasher),
        Value::Number(number) => number.as_f64().map(f64::to_bits).hash(hasher),
        Value::Bool(b) => b.hash(hasher),
        Value::Null => hasher.write_u8(0),
    }
}

/// The most schema answers [`validate_schema`] keeps.
const MAX_REMEMBERED: usize = 100_000;

fn validate_uncached(schema: &Value) -> Result<(), SchemaProblem> {
    if let Err(error) = jsonschema::draft202012::meta::validate(schema) {
        return Err(SchemaProblem::at(
            error.instance_path().as_str(),
            format!("is not a valid JSON Schema (draft 2020-12): {error}"),
        ));
    }
    compile_schema(schema).map(|_| ())
}

/// Compiles a schema to check documents against.
pub fn compile_schema(schema: &Value) -> Result<jsonschema::Validator, SchemaProblem> {
    jsonschema::draft202012::options()
        .should_validate_formats(false)
        .build(schema)
        .map_err(|e| {
            SchemaProblem::at(
                e.instance_path().as_str(),
                format!("does not compile as a JSON Schema: {e}"),
            )
        })
}

/// The first place a document breaks a schema: its JSON pointer (`/priority`, empty for
/// the root) and what is wrong there.
pub fn first_violation(
    validator: &jsonschema::Validator,
    document: &Value,
) -> Option<SchemaProblem> {
    validator
        .iter_errors(document)
        .next()
        .map(|error| SchemaProblem::at(error.instance_path().as_str(), error.to_string()))
}

/// The length of a value's canonical JSON, counted without writing it, and only until it
/// passes `limit`.
fn canonical_len(value: &Value, limit: usize) -> usize {
    match value {
        Value::Object(map) => {
            let mut len = 1 + map.len().max(1);
            for (key, item) in map {
                if len > limit {
                    break;
                }
                len += string_len(key) + 1 + canonical_len(item, limit - len.min(limit));
            }
            len
        }
        Value::Array(items) => {
            let mut len = 1 + items.len().max(1);
            for item in items {
                if len > limit {
                    break;
                }
                len += canonical_len(item, limit - len.min(limit));
            }
            len
        }
        Value::String(text) => string_len(text),
        Value::Number(number) => {
            let mut counter = Counter(0);
            let _ = std::fmt::Write::write_fmt(&mut counter, format_args!("{number}"));
            counter.0
        }
        Value::Bool(true) => 4,
        Value::Bool(false) => 5,
        Value::Null => 4,
    }
}

/// The length of a string as canonical JSON writes it, quotes and escapes included.
fn string_len(text: &str) -> usize {
    2 + text
        .bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0x00..=0x1f => 6,
            _ => 1,
        })
        .sum::<usize>()
}

/// Counts the bytes formatted into it.
struct Counter(usize);

impl std::fmt::Write for Counter {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0 += s.len();
        Ok(())
    }
}

/// Tells whether a value nests deeper than `limit`, without walking past it.
fn depth_over(value: &Value, limit: usize) -> bool {
    if limit == 0 {
        return matches!(value, Value::Object(_) | Value::Array(_));
    }
    match value {
        Value::Object(map) => map.values().any(|v| depth_over(v, limit - 1)),
        Value::Array(items) => items.iter().any(|v| depth_over(v, limit - 1)),
        _ => false,
    }
}

/// Strict mode's rules (OpenAI's structured outputs, which Anthropic's strict mode shares):
/// the root is an object schema; every object schema sets `additionalProperties` to
/// `false` and lists every property in `required`; objects nest at most
/// [`STRICT_MAX_NESTING`] deep, with at most [`STRICT_MAX_PROPERTIES`] properties in all.
fn strict_problems(schema: &Value) -> Result<(), SchemaProblem> {
    if schema.get("type").and_then(Value::as_str) != Some("object") {
        return Err(SchemaProblem::at(
            "/type",
            "strict mode needs the root to be an object schema (`type = \"object\"`)",
        ));
    }
    let mut properties = 0;
    strict_walk(schema, "", 1, &mut properties)?;
    if properties > STRICT_MAX_PROPERTIES {
        return Err(SchemaProblem::at(
            "",
            format!(
                "has {properties} object properties; strict mode allows at most {STRICT_MAX_PROPERTIES}"
            ),
        ));
    }
    Ok(())
}

fn strict_walk(
    node: &Value,
    pointer: &str,
    nesting: usize,
    properties: &mut usize,
) -> Result<(), SchemaProblem> {
    let Value::Object(map) = node else {
        return Ok(());
    };
    let is_object =
        map.get("type").and_then(Value::as_str) == Some("object") || map.contains_key("properties");
    if is_object {
        if nesting > STRICT_MAX_NESTING {
            return Err(SchemaProblem::at(
                pointer,
                format!(
                    "objects nest more than {STRICT_MAX_NESTING} levels deep; strict mode allows {STRICT_MAX_NESTING}"
                ),
            ));
        }
        if map.get("additionalProperties") != Some(&Value::Bool(false)) {
            return Err(SchemaProblem::at(
                format!("{pointer}/additionalProperties"),
                "strict mode needs every object to set `additionalProperties = false`",
            ));
        }
        let required: Vec<&str> = map
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if let Some(Value::Object(props)) = map.get("properties") {
            *properties += props.len();
            for name in props.keys() {
                if !required.contains(&name.as_str()) {
                    return Err(SchemaProblem::at(
                        format!("{pointer}/required"),
                        format!(
                            "`{name}` is a property but not required: strict mode needs every property in `required` (give it a `null` type to keep it optional)"
                        ),
                    ));
                }
            }
        }
    }
    let deeper = nesting + usize::from(is_object);
    for (key, child) in map {
        let at = format!("{pointer}/{}", escape_pointer(key));
        match (key.as_str(), child) {
            ("properties" | "$defs" | "definitions", Value::Object(children)) => {
                for (name, schema) in children {
                    strict_walk(
                        schema,
                        &format!("{at}/{}", escape_pointer(name)),
                        deeper,
                        properties,
                    )?;
                }
            }
            ("items" | "additionalItems" | "not", schema) => {
                strict_walk(schema, &at, deeper, properties)?;
            }
            ("anyOf" | "allOf" | "oneOf" | "prefixItems", Value::Array(options)) => {
                for (i, schema) in options.iter().enumerate() {
                    strict_walk(schema, &format!("{at}/{i}"), deeper, properties)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Escapes a key for a JSON pointer (RFC 6901): `~` as `~0`, `/` as `~1`.
pub(crate) fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn valid_schemas_pass_and_invalid_ones_say_where() {
        let good = json!({"type": "object", "properties": {"a": {"type": "string"}}});
        assert_eq!(check_schema(&good, false), Ok(()));
        let bad = json!({"type": "object", "properties": {"a": {"type": "strin"}}});
        let problem = check_schema(&bad, false).unwrap_err();
        assert!(
            problem.message.contains("not a valid JSON Schema"),
            "{problem:?}"
        );
        let pattern = json!({"type": "string", "pattern": "(unclosed"});
        assert!(check_schema(&pattern, false).is_err());
        let other_draft = json!({"$schema": "http://json-schema.org/draft-07/schema#"});
        assert_eq!(
            check_schema(&other_draft, false).unwrap_err().pointer,
            "/$schema"
        );
    }

    #[test]
    fn deep_or_large_schemas_are_refused_before_they_are_walked() {
        let mut deep = json!({"type": "string"});
        for _ in 0..40 {
            deep = json!({"items": deep});
        }
        assert!(
            check_schema(&deep, false)
                .unwrap_err()
                .message
                .contains("deeper")
        );
        let wide: serde_json::Map<String, Value> = (0..20_000)
            .map(|i| (format!("property{i}"), json!({"type": "string"})))
            .collect();
        let large = json!({"type": "object", "properties": wide});
        assert!(
            check_schema(&large, false)
                .unwrap_err()
                .message
                .contains("bytes")
        );
    }

    #[test]
    fn strict_mode_needs_closed_objects_and_every_property_required() {
        let open =
            json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]});
        assert_eq!(
            check_schema(&open, true).unwrap_err().pointer,
            "/additionalProperties"
        );
        let optional = json!({
            "type": "object", "additionalProperties": false,
            "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
            "required": ["a"]
        });
        let problem = check_schema(&optional, true).unwrap_err();
        assert_eq!(problem.pointer, "/required");
        assert!(problem.message.contains("`b`"), "{problem:?}");
        let nested = json!({
            "type": "object", "additionalProperties": false, "required": ["c"],
            "properties": {"c": {"type": "object", "properties": {"d": {"type": "string"}}, "required": ["d"]}}
        });
        assert_eq!(
            check_schema(&nested, true).unwrap_err().pointer,
            "/properties/c/additionalProperties"
        );
        let fine = json!({
            "type": "object", "additionalProperties": false, "required": ["c"],
            "properties": {"c": {"type": "array", "items": {"type": "object", "additionalProperties": false, "properties": {}, "required": []}}}
        });
        assert_eq!(check_schema(&fine, true), Ok(()));
        assert_eq!(
            check_schema(&json!({"type": "string"}), true)
                .unwrap_err()
                .pointer,
            "/type"
        );
    }

    #[test]
    fn the_canonical_length_is_counted_without_writing() {
        let value = json!({"b": [1, 2.5, -3e20, null, true, false], "a": {"é\"\n\u{1}": "x\\y"}, "c": [], "d": {}});
        let written = crate::prompt::to_canonical_string(&value).len();
        assert_eq!(canonical_len(&value, usize::MAX), written);
        assert!(canonical_len(&value, 5) > 5);
    }

    #[test]
    fn violations_name_their_json_pointer() {
        let schema = json!({"type": "object", "properties": {"items": {"type": "array", "items": {"type": "integer"}}}});
        let validator = compile_schema(&schema).unwrap();
        let problem = first_violation(&validator, &json!({"items": [1, "two"]})).unwrap();
        assert_eq!(problem.pointer, "/items/1");
        assert!(first_violation(&validator, &json!({"items": [1]})).is_none());
    }
}
