//! Targeting rules: which callers a canary, a stage or an experiment applies to, by the
//! attributes of their context (`plan in ["enterprise"] and country = "DE"`). Parsed once
//! within bounds, kept in the release state in a canonical text, and evaluated the same way
//! by every resolver. A rule that cannot be evaluated for a context (an attribute missing or
//! of the wrong type) says so; the caller falls back to active. The normative rules and test
//! vectors are in docs/bucketing.md ("Targeting rules").

use std::fmt;
use std::sync::Arc;

pub use super::attributes::{AttrValue, Attributes, MAX_ATTRIBUTE_NAME, MAX_RULE_STRING};
use super::rule_ast::{Literal, Node, Ordered, Test};
pub use super::rule_ast::{
    MAX_PATTERN_BYTES, MAX_RULE_BYTES, MAX_RULE_CONDITIONS, MAX_RULE_DEPTH, MAX_RULE_LIST,
};
pub use super::semver::Semver;

/// A parsed rule.
#[derive(Clone)]
pub struct Rule {
    root: Arc<Node>,
    /// The canonical text, as the state keeps it and people read it.
    text: Arc<str>,
}

impl fmt::Debug for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rule({})", self.text)
    }
}

impl PartialEq for Rule {
    fn eq(&self, other: &Rule) -> bool {
        self.text == other.text
    }
}

impl serde::Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A rule that does not parse or is past a bound: where (a byte offset) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rule `{text}`: {message} (at byte {offset})")]
pub struct RuleError {
    pub text: String,
    pub offset: usize,
    pub message: String,
}

/// Why a rule could not be evaluated for a context.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unevaluable {
    #[error("the context has no attribute `{0}`")]
    Missing(String),
    #[error("attribute `{attribute}` is {found}, not {wanted}")]
    WrongType {
        attribute: String,
        found: &'static str,
        wanted: &'static str,
    },
}

impl Rule {
    /// Parses a rule, within the bounds above.
    pub fn parse(text: &str) -> Result<Rule, RuleError> {
        let fail = |offset: usize, message: String| RuleError {
            text: text.chars().take(80).collect(),
            offset,
            message,
        };
        if text.len() > MAX_RULE_BYTES {
            return Err(fail(
                MAX_RULE_BYTES,
                format!("a rule is at most {MAX_RULE_BYTES} bytes"),
            ));
        }
        let tokens = super::rule_syntax::tokens(text).map_err(|(o, m)| fail(o, m))?;
        let mut parser = super::rule_syntax::Parser::new(tokens);
        let root = parser.rule().map_err(|(o, m)| fail(o, m))?;
        let mut canonical = String::new();
        write_node(&root, &mut canonical, 0);
        Ok(Rule {
            root: Arc::new(root),
            text: canonical.into(),
        })
    }

    /// Tells whether a context matches: `Err` when the rule cannot be evaluated for it.
    /// Evaluation is left to right and stops as soon as the answer is known: `a and b` with
    /// `a` false is false whatever `b` would say.
    pub fn matches(&self, attributes: &Attributes) -> Result<bool, Unevaluable> {
        eval(&self.root, attributes)
    }

    /// The canonical text.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

fn eval(node: &Node, attributes: &Attributes) -> Result<bool, Unevaluable> {
    match node {
        Node::All(parts) => {
            for part in parts {
                if !eval(part, attributes)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Node::Any(parts) => {
            for part in parts {
                if eval(part, attributes)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Node::Not(inner) => Ok(!eval(inner, attributes)?),
        Node::Compare { attribute, test } => {
            let value = attributes
                .get(attribute)
                .ok_or_else(|| Unevaluable::Missing(attribute.clone()))?;
            compare(attribute, value, test)
        }
    }
}

fn compare(attribute: &str, value: &AttrValue, test: &Test) -> Result<bool, Unevaluable> {
    let wrong = |wanted: &'static str| Unevaluable::WrongType {
        attribute: attribute.to_owned(),
        found: kind_of(value),
        wanted,
    };
    match test {
        Test::Eq(literal) => equals(value, literal).ok_or_else(|| wrong(literal.kind())),
        Test::Ne(literal) => equals(value, literal)
            .map(|same| !same)
            .ok_or_else(|| wrong(literal.kind())),
        Test::In(list) | Test::NotIn(list) => {
            // In order, as `or`: the first equal value decides.
            let mut found = false;
            for literal in list {
                if equals(value, literal).ok_or_else(|| wrong(literal.kind()))? {
                    found = true;
                    break;
                }
            }
            Ok(found == matches!(test, Test::In(_)))
        }
        Test::Order(order, Ordered::Number(bound)) => {
            let number = as_number(value).ok_or_else(|| wrong("a number"))?;
            Ok(order.holds(number.total_cmp(bound)))
        }
        Test::Order(order, Ordered::Semver(bound)) => {
            let ordering = match value {
                AttrValue::Text(text) => bound.compare_text(text),
                _ => None,
            };
            Ok(order.holds(ordering.ok_or_else(|| wrong("a version"))?))
        }
        Test::StartsWith(prefix) => match value {
            AttrValue::Text(text) => Ok(text.starts_with(prefix.as_str())),
            _ => Err(wrong("text")),
        },
        Test::Matches(pattern) => match value {
            AttrValue::Text(text) => Ok(pattern.is_match(text)),
            _ => Err(wrong("text")),
        },
    }
}

/// `Some(equal)`, or `None` when the value cannot be compared with the literal's type. Text
/// that reads as a number or a boolean compares with one: a query string's values are text.
fn equals(value: &AttrValue, literal: &Literal) -> Option<bool> {
    match (value, literal) {
        (AttrValue::Text(a), Literal::Text(b)) => Some(a == b),
        (_, Literal::Number(b)) => as_number(value).map(|a| a == *b),
        (AttrValue::Bool(a), Literal::Bool(b)) => Some(a == b),
        (AttrValue::Text(a), Literal::Bool(b)) => match a.as_str() {
            "true" => Some(*b),
            "false" => Some(!*b),
            _ => None,
        },
        _ => None,
    }
}

fn as_number(value: &AttrValue) -> Option<f64> {
    match value {
        AttrValue::Number(n) => Some(*n),
        AttrValue::Text(text) => text.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
        AttrValue::Bool(_) => None,
    }
}

fn kind_of(value: &AttrValue) -> &'static str {
    match value {
        AttrValue::Text(_) => "text",
        AttrValue::Number(_) => "a number",
        AttrValue::Bool(_) => "a boolean",
    }
}

impl Literal {
    fn kind(&self) -> &'static str {
        match self {
            Literal::Text(_) => "text",
            Literal::Number(_) => "a number",
            Literal::Bool(_) => "a boolean",
        }
    }

    fn write(&self, out: &mut String) {
        match self {
            Literal::Text(text) => {
                out.push_str(&serde_json::Value::from(text.as_str()).to_string())
            }
            Literal::Number(n) => out.push_str(&format_number(*n)),
            Literal::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        }
    }
}

fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// Writes a node's canonical text: single spaces, JSON strings, `and` inside `or` without
/// parentheses, any other nesting in them.
fn write_node(node: &Node, out: &mut String, parent: u8) {
    // Binding strength: or 1, and 2, not 3.
    let (strength, joiner, parts): (u8, &str, &[Node]) = match node {
        Node::Any(parts) => (1, " or ", parts),
        Node::All(parts) => (2, " and ", parts),
        Node::Not(inner) => {
            out.push_str("not ");
            let wrap = !matches!(**inner, Node::Compare { .. });
            if wrap {
                out.push('(');
            }
            write_node(inner, out, 0);
            if wrap {
                out.push(')');
            }
            return;
        }
        Node::Compare { attribute, test } => {
            out.push_str(attribute);
            write_test(test, out);
            return;
        }
    };
    let wrap = strength <= parent;
    if wrap {
        out.push('(');
    }
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push_str(joiner);
        }
        write_node(part, out, strength);
    }
    if wrap {
        out.push(')');
    }
}

fn write_test(test: &Test, out: &mut String) {
    let list = |out: &mut String, items: &[Literal]| {
        out.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            item.write(out);
        }
        out.push(']');
    };
    match test {
        Test::Eq(l) => {
            out.push_str(" = ");
            l.write(out);
        }
        Test::Ne(l) => {
            out.push_str(" != ");
            l.write(out);
        }
        Test::In(items) => {
            out.push_str(" in ");
            list(out, items);
        }
        Test::NotIn(items) => {
            out.push_str(" not in ");
            list(out, items);
        }
        Test::Order(order, Ordered::Number(n)) => {
            out.push_str(&format!(" {} {}", order.symbol(), format_number(*n)));
        }
        Test::Order(order, Ordered::Semver(v)) => {
            out.push_str(&format!(" {} semver {:?}", order.symbol(), v.as_str()));
        }
        Test::StartsWith(prefix) => {
            out.push_str(" starts_with ");
            Literal::Text(prefix.clone()).write(out);
        }
        Test::Matches(pattern) => {
            out.push_str(" matches ");
            Literal::Text(pattern.as_str().to_owned()).write(out);
        }
    }
}
