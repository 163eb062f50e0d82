//! Targeting rules: which callers a canary, a stage or an experiment applies to, by the
//! attributes of their context (`plan in ["enterprise"] and country = "DE"`). Parsed once
//! within bounds, kept in the release state in a canonical text, and evaluated the same way
//! by every resolver. A rule that cannot be evaluated for a context (an attribute missing or
//! of the wrong type) says so; the caller falls back to active. The normative rules and test
//! vectors are in docs/bucketing.md ("Targeting rules").

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// The longest rule text.
pub const MAX_RULE_BYTES: usize = 4096;
/// The deepest nesting of `and`, `or`, `not` and parentheses.
pub const MAX_RULE_DEPTH: usize = 16;
/// The most comparisons in one rule.
pub const MAX_RULE_CONDITIONS: usize = 64;
/// The most values in one `in` list.
pub const MAX_RULE_LIST: usize = 256;
/// The longest `matches` pattern, and the most memory its compiled form may take.
pub const MAX_PATTERN_BYTES: usize = 256;
const MAX_PATTERN_MEMORY: usize = 64 * 1024;
/// The longest attribute name and string value.
pub const MAX_ATTRIBUTE_NAME: usize = 64;
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

#[derive(Debug)]
pub(super) enum Node {
    All(Vec<Node>),
    Any(Vec<Node>),
    Not(Box<Node>),
    Compare { attribute: String, test: Test },
}

#[derive(Debug)]
pub(super) enum Test {
    Eq(Literal),
    Ne(Literal),
    In(Vec<Literal>),
    NotIn(Vec<Literal>),
    Order(Order, Ordered),
    StartsWith(String),
    Matches(Box<regex::Regex>),
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Literal {
    Text(String),
    Number(f64),
    Bool(bool),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Order {
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Ordered {
    Number(f64),
    Semver(Semver),
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
            let version = match value {
                AttrValue::Text(text) => Semver::parse(text).ok_or_else(|| wrong("a version"))?,
                _ => return Err(wrong("a version")),
            };
            Ok(order.holds(version.cmp(bound)))
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

impl Order {
    fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Order::Lt => ordering == Less,
            Order::Le => ordering != Greater,
            Order::Gt => ordering == Greater,
            Order::Ge => ordering != Less,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Order::Lt => "<",
            Order::Le => "<=",
            Order::Gt => ">",
            Order::Ge => ">=",
        }
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
            out.push_str(&format!(" {} semver {:?}", order.symbol(), v.text));
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

/// A semantic version (semver.org 2.0.0): precedence by the numbers, then a pre-release is
/// below its release, identifiers compared numerically or by ASCII; build metadata ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Semver {
    core: [u64; 3],
    pre: Vec<String>,
    text: String,
}

impl Semver {
    /// Parses `1.4.0`, `2.0.0-rc.1`, `1.0.0+build.5`; a leading `v` is allowed.
    pub fn parse(text: &str) -> Option<Semver> {
        let trimmed = text.trim().strip_prefix('v').unwrap_or(text.trim());
        let without_build = trimmed.split('+').next()?;
        let (core, pre) = match without_build.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (without_build, None),
        };
        let numbers: Vec<u64> = core
            .split('.')
            .map(|part| {
                let fine = !part.is_empty()
                    && part.bytes().all(|b| b.is_ascii_digit())
                    && (part == "0" || !part.starts_with('0'));
                fine.then(|| part.parse().ok()).flatten()
            })
            .collect::<Option<_>>()?;
        let [major, minor, patch] = numbers[..] else {
            return None;
        };
        let pre: Vec<String> = match pre {
            None => Vec::new(),
            Some(pre) => {
                let ids: Vec<String> = pre.split('.').map(str::to_owned).collect();
                let fine = ids.iter().all(|id| {
                    !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                });
                if !fine {
                    return None;
                }
                ids
            }
        };
        Some(Semver {
            core: [major, minor, patch],
            pre,
            text: trimmed.to_owned(),
        })
    }
}

impl Ord for Semver {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        self.core
            .cmp(&other.core)
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => {
                    for (a, b) in self.pre.iter().zip(&other.pre) {
                        let order = match (a.parse::<u64>(), b.parse::<u64>()) {
                            (Ok(x), Ok(y)) => x.cmp(&y),
                            (Ok(_), Err(_)) => Ordering::Less,
                            (Err(_), Ok(_)) => Ordering::Greater,
                            (Err(_), Err(_)) => a.cmp(b),
                        };
                        if order != Ordering::Equal {
                            return order;
                        }
                    }
                    self.pre.len().cmp(&other.pre.len())
                }
            })
    }
}

impl PartialOrd for Semver {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

// The parser builds these; they live here, beside what evaluates them.
pub(super) mod build {
    use super::*;

    pub fn all(parts: Vec<Node>) -> Node {
        Node::All(parts)
    }
    pub fn any(parts: Vec<Node>) -> Node {
        Node::Any(parts)
    }
    pub fn not(inner: Node) -> Node {
        Node::Not(Box::new(inner))
    }
    pub fn text(t: String) -> Literal {
        Literal::Text(t)
    }
    pub fn number(n: f64) -> Literal {
        Literal::Number(n)
    }
    pub fn boolean(b: bool) -> Literal {
        Literal::Bool(b)
    }
    pub fn compare(attribute: String, test: Test) -> Node {
        Node::Compare { attribute, test }
    }
    pub fn eq(l: Literal, negated: bool) -> Test {
        if negated { Test::Ne(l) } else { Test::Eq(l) }
    }
    pub fn within(items: Vec<Literal>, negated: bool) -> Test {
        if negated {
            Test::NotIn(items)
        } else {
            Test::In(items)
        }
    }
    pub fn order_number(symbol: &str, n: f64) -> Test {
        Test::Order(order(symbol), Ordered::Number(n))
    }
    pub fn order_semver(symbol: &str, v: Semver) -> Test {
        Test::Order(order(symbol), Ordered::Semver(v))
    }
    pub fn starts_with(prefix: String) -> Test {
        Test::StartsWith(prefix)
    }
    /// Compiles a `matches` pattern within its bounds.
    pub fn matches(pattern: &str) -> Result<Test, String> {
        if pattern.len() > MAX_PATTERN_BYTES {
            return Err(format!(
                "a `matches` pattern is at most {MAX_PATTERN_BYTES} bytes"
            ));
        }
        regex::RegexBuilder::new(pattern)
            .size_limit(MAX_PATTERN_MEMORY)
            .dfa_size_limit(MAX_PATTERN_MEMORY)
            .build()
            .map(|r| Test::Matches(Box::new(r)))
            .map_err(|e| format!("`{pattern}` is not a pattern this takes: {e}"))
    }
    fn order(symbol: &str) -> Order {
        match symbol {
            "<" => Order::Lt,
            "<=" => Order::Le,
            ">" => Order::Gt,
            _ => Order::Ge,
        }
    }
    pub(in crate::store) use super::{Literal, Node, Test};
}
