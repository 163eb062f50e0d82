//! A caller's attributes, as every route reads them (query strings, OFREP contexts,
//! `/v1/render`, the Rust client, `resolve --attr`), within one set of bounds: what
//! targeting rules evaluate.

use std::collections::BTreeMap;

/// The longest attribute name, in characters.
pub const MAX_ATTRIBUTE_NAME: usize = 64;
/// The longest text of an attribute or a rule's string.
pub const MAX_RULE_STRING: usize = 1024;

/// One attribute of a caller's context: text (a query string's values are all text), a
/// number or a boolean.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    Text(String),
    Number(f64),
    Bool(bool),
}

/// A caller's attributes, by name.
pub type Attributes = BTreeMap<String, AttrValue>;

/// The most attributes one caller's context carries.
pub const MAX_ATTRIBUTES: usize = 64;

/// Attributes given as text (a query string's `attr.K=V`, the Rust client's pairs,
/// `resolve --attr K=V`): every value is text, compared as a number or a boolean where a
/// rule asks for one. The last of a repeated name wins.
pub fn attributes_from_text<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Attributes, String> {
    let mut attributes = Attributes::new();
    for (name, value) in pairs {
        add_text_attribute(&mut attributes, name, value.to_owned())?;
    }
    Ok(attributes)
}

/// Attributes from an OpenFeature evaluation context's members, but for the names in
/// `skip`: text, numbers and booleans. The context may hold anything OpenFeature allows;
/// what a rule cannot compare (`null`, a structure, a list) or what is past the bounds (a
/// name of more than 64 characters, text of more than 1,024, members past the 64th) is not
/// an attribute, so a rule that reads it cannot be evaluated and the caller gets active.
/// `members` are in the order sent; a later member of a repeated name wins, as in a map.
pub fn attributes_from_context<'a>(
    members: impl IntoIterator<Item = (&'a str, &'a serde_json::Value)>,
    skip: &[&str],
) -> Attributes {
    use serde_json::Value;
    let mut attributes = Attributes::new();
    for (name, value) in members.into_iter().filter(|(n, _)| !skip.contains(n)) {
        if attributes.len() == MAX_ATTRIBUTES && !attributes.contains_key(name) {
            break;
        }
        let value = match value {
            Value::String(text) => AttrValue::Text(text.clone()),
            Value::Bool(b) => AttrValue::Bool(*b),
            Value::Number(n) => match n.as_f64() {
                Some(n) => AttrValue::Number(n),
                None => continue,
            },
            Value::Null | Value::Array(_) | Value::Object(_) => continue,
        };
        let length = match &value {
            AttrValue::Text(text) => text.chars().count(),
            _ => 0,
        };
        if check_attribute(name, length).is_ok() {
            attributes.insert(name.to_owned(), value);
        }
    }
    attributes
}

/// Adds one text attribute, within the bounds ([`attributes_from_text`] one at a time).
pub fn add_text_attribute(
    attributes: &mut Attributes,
    name: &str,
    value: String,
) -> Result<(), String> {
    check_attribute(name, value.chars().count())?;
    attributes.insert(name.to_owned(), AttrValue::Text(value));
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(format!(
            "a context carries at most {MAX_ATTRIBUTES} attributes"
        ));
    }
    Ok(())
}

/// Attributes from a JSON object's members (an OFREP evaluation context, `/v1/render`'s
/// `attrs`), but for the names in `skip`: text, numbers and booleans. `null` is as if the
/// attribute were not there; an object or an array is refused.
pub fn attributes_from_json(
    members: &serde_json::Map<String, serde_json::Value>,
    skip: &[&str],
) -> Result<Attributes, String> {
    use serde_json::Value;
    let mut attributes = Attributes::new();
    for (name, value) in members.iter().filter(|(n, _)| !skip.contains(&n.as_str())) {
        let value = match value {
            Value::Null => continue,
            Value::String(text) => AttrValue::Text(text.clone()),
            Value::Bool(b) => AttrValue::Bool(*b),
            Value::Number(n) => AttrValue::Number(n.as_f64().unwrap_or(f64::NAN)),
            Value::Array(_) | Value::Object(_) => {
                return Err(format!(
                    "attribute `{name}` is not text, a number or a boolean"
                ));
            }
        };
        let length = match &value {
            AttrValue::Text(text) => text.chars().count(),
            _ => 0,
        };
        check_attribute(name, length)?;
        attributes.insert(name.clone(), value);
        if attributes.len() > MAX_ATTRIBUTES {
            return Err(format!(
                "a context carries at most {MAX_ATTRIBUTES} attributes"
            ));
        }
    }
    Ok(attributes)
}

/// An attribute's name is 1 to [`MAX_ATTRIBUTE_NAME`] characters and its text at most
/// [`MAX_RULE_STRING`] characters (characters, as JSON Schema counts them).
fn check_attribute(name: &str, value_chars: usize) -> Result<(), String> {
    let name_chars = name.chars().count();
    if name_chars == 0 || name_chars > MAX_ATTRIBUTE_NAME {
        return Err(format!(
            "an attribute name is 1 to {MAX_ATTRIBUTE_NAME} characters, not {name_chars}"
        ));
    }
    if value_chars > MAX_RULE_STRING {
        return Err(format!(
            "attribute `{name}` is longer than {MAX_RULE_STRING} characters"
        ));
    }
    Ok(())
}
