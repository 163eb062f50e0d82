//! The shape of a targeting rule (what [`super::rule`] evaluates and writes, and
//! [`super::rule_syntax`] builds) and the bounds on it.

use super::semver::Semver;

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
pub(in crate::store) const MAX_PATTERN_MEMORY: usize = 64 * 1024;
#[derive(Debug)]
pub(in crate::store) enum Node {
    All(Vec<Node>),
    Any(Vec<Node>),
    Not(Box<Node>),
    Compare { attribute: String, test: Test },
}

#[derive(Debug)]
pub(in crate::store) enum Test {
    Eq(Literal),
    Ne(Literal),
    In(Vec<Literal>),
    NotIn(Vec<Literal>),
    Order(Order, Ordered),
    StartsWith(String),
    Matches(Box<regex::Regex>),
}

#[derive(Debug, Clone, PartialEq)]
pub(in crate::store) enum Literal {
    Text(String),
    Number(f64),
    Bool(bool),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(in crate::store) enum Order {
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub(in crate::store) enum Ordered {
    Number(f64),
    Semver(Semver),
}

impl Order {
    pub(in crate::store) fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Order::Lt => ordering == Less,
            Order::Le => ordering != Greater,
            Order::Gt => ordering == Greater,
            Order::Ge => ordering != Less,
        }
    }

    pub(in crate::store) fn symbol(self) -> &'static str {
        match self {
            Order::Lt => "<",
            Order::Le => "<=",
            Order::Gt => ">",
            Order::Ge => ">=",
        }
    }
}

/// What the parser builds rules with.
pub(in crate::store) mod build {
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
}
