//! The text of targeting rules: tokens and a recursive-descent parser, within the bounds of
//! [`super::rule_ast`]. Errors are a byte offset and a message.

use super::attributes::{MAX_ATTRIBUTE_NAME, MAX_RULE_STRING};
use super::rule_ast::build;
use super::rule_ast::{Literal, MAX_RULE_CONDITIONS, MAX_RULE_DEPTH, MAX_RULE_LIST, Node, Test};
use super::semver::Semver;

type Fail = (usize, String);

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Token {
    Word(String),
    Text(String),
    Number(f64),
    Symbol(&'static str),
}

const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "not",
    "in",
    "true",
    "false",
    "semver",
    "starts_with",
    "matches",
];

/// Splits a rule into tokens, each with its byte offset.
pub(super) fn tokens(text: &str) -> Result<Vec<(usize, Token)>, Fail> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'(' | b')' | b'[' | b']' | b',' | b'=' => {
                let symbol = match c {
                    b'(' => "(",
                    b')' => ")",
                    b'[' => "[",
                    b']' => "]",
                    b',' => ",",
                    _ => "=",
                };
                out.push((start, Token::Symbol(symbol)));
                i += 1;
            }
            b'!' | b'<' | b'>' => {
                let two = bytes.get(i + 1) == Some(&b'=');
                let symbol = match (c, two) {
                    (b'!', true) => "!=",
                    (b'<', true) => "<=",
                    (b'>', true) => ">=",
                    (b'<', false) => "<",
                    (b'>', false) => ">",
                    _ => return Err((start, "`!` is only written `!=`".into())),
                };
                out.push((start, Token::Symbol(symbol)));
                i += 1 + usize::from(two);
            }
            b'"' => {
                let (value, end) = string(text, i)?;
                out.push((start, Token::Text(value)));
                i = end;
            }
            b'-' | b'0'..=b'9' => {
                let end = text[i..]
                    .find(|ch: char| !(ch.is_ascii_alphanumeric() || "+-.".contains(ch)))
                    .map_or(text.len(), |n| i + n);
                let number: f64 = text[i..end]
                    .parse()
                    .ok()
                    .filter(|n: &f64| n.is_finite())
                    .ok_or_else(|| (start, format!("`{}` is not a number", &text[i..end])))?;
                out.push((start, Token::Number(number)));
                i = end;
            }
            _ if c.is_ascii_alphabetic() || c == b'_' => {
                let end = text[i..]
                    .find(|ch: char| !(ch.is_ascii_alphanumeric() || "_.-".contains(ch)))
                    .map_or(text.len(), |n| i + n);
                out.push((start, Token::Word(text[i..end].to_owned())));
                i = end;
            }
            _ => {
                let ch = text[i..].chars().next().unwrap_or('?');
                return Err((start, format!("`{ch}` has no meaning in a rule")));
            }
        }
    }
    Ok(out)
}

/// A JSON string starting at `start` (its opening quote): its value and the offset past it.
fn string(text: &str, start: usize) -> Result<(String, usize), Fail> {
    let bytes = text.as_bytes();
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => {
                let value: String = serde_json::from_str(&text[start..=i])
                    .map_err(|e| (start, format!("a string that does not read: {e}")))?;
                if value.len() > MAX_RULE_STRING {
                    return Err((
                        start,
                        format!("a string is at most {MAX_RULE_STRING} bytes"),
                    ));
                }
                return Ok((value, i + 1));
            }
            _ => i += 1,
        }
    }
    Err((start, "a string that is never closed".into()))
}

/// A recursive-descent parser: `or` of `and` of (`not`) comparisons or parenthesised rules.
pub(super) struct Parser {
    tokens: Vec<(usize, Token)>,
    at: usize,
    depth: usize,
    conditions: usize,
    end: usize,
}

impl Parser {
    pub fn new(tokens: Vec<(usize, Token)>) -> Self {
        let end = tokens.last().map_or(0, |(o, _)| o + 1);
        Parser {
            tokens,
            at: 0,
            depth: 0,
            conditions: 0,
            end,
        }
    }

    /// The whole rule: one expression, then nothing.
    pub fn rule(&mut self) -> Result<Node, Fail> {
        if self.tokens.is_empty() {
            return Err((0, "an empty rule".into()));
        }
        let node = self.or()?;
        match self.tokens.get(self.at) {
            None => Ok(node),
            Some((offset, token)) => Err((*offset, format!("{} after a whole rule", show(token)))),
        }
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|(_, t)| t)
    }

    fn offset(&self) -> usize {
        self.tokens.get(self.at).map_or(self.end, |(o, _)| *o)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).map(|(_, t)| t.clone());
        self.at += 1;
        token
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w == word)
    }

    fn deeper(&mut self) -> Result<(), Fail> {
        self.depth += 1;
        if self.depth > MAX_RULE_DEPTH {
            return Err((
                self.offset(),
                format!("a rule nests at most {MAX_RULE_DEPTH} deep"),
            ));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Node, Fail> {
        self.deeper()?;
        let mut parts = vec![self.and()?];
        while self.is_word("or") {
            self.at += 1;
            parts.push(self.and()?);
        }
        self.depth -= 1;
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            build::any(parts)
        })
    }

    fn and(&mut self) -> Result<Node, Fail> {
        self.deeper()?;
        let mut parts = vec![self.unary()?];
        while self.is_word("and") {
            self.at += 1;
            parts.push(self.unary()?);
        }
        self.depth -= 1;
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            build::all(parts)
        })
    }

    fn unary(&mut self) -> Result<Node, Fail> {
        if self.is_word("not") {
            self.at += 1;
            self.deeper()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(build::not(inner));
        }
        if self.peek() == Some(&Token::Symbol("(")) {
            self.at += 1;
            let inner = self.or()?;
            self.expect(")")?;
            return Ok(inner);
        }
        self.comparison()
    }

    fn expect(&mut self, symbol: &'static str) -> Result<(), Fail> {
        let offset = self.offset();
        match self.next() {
            Some(Token::Symbol(s)) if s == symbol => Ok(()),
            Some(other) => Err((
                offset,
                format!("expected `{symbol}`, found {}", show(&other)),
            )),
            None => Err((offset, format!("expected `{symbol}` at the end"))),
        }
    }

    fn comparison(&mut self) -> Result<Node, Fail> {
        let offset = self.offset();
        let attribute = match self.next() {
            Some(Token::Word(w)) if !KEYWORDS.contains(&w.as_str()) => w,
            Some(other) => {
                return Err((
                    offset,
                    format!("expected an attribute name, found {}", show(&other)),
                ));
            }
            None => return Err((offset, "expected an attribute name at the end".into())),
        };
        if attribute.len() > MAX_ATTRIBUTE_NAME {
            return Err((
                offset,
                format!("an attribute name is at most {MAX_ATTRIBUTE_NAME} bytes"),
            ));
        }
        self.conditions += 1;
        if self.conditions > MAX_RULE_CONDITIONS {
            return Err((
                offset,
                format!("a rule holds at most {MAX_RULE_CONDITIONS} comparisons"),
            ));
        }
        let test = self.test()?;
        Ok(build::compare(attribute, test))
    }

    fn test(&mut self) -> Result<Test, Fail> {
        let offset = self.offset();
        match self.next() {
            Some(Token::Symbol("=")) => Ok(build::eq(self.literal()?, false)),
            Some(Token::Symbol("!=")) => Ok(build::eq(self.literal()?, true)),
            Some(Token::Symbol(symbol @ ("<" | "<=" | ">" | ">="))) => {
                if self.is_word("semver") {
                    self.at += 1;
                    let at = self.offset();
                    let Some(Token::Text(text)) = self.next() else {
                        return Err((
                            at,
                            "`semver` takes a version in quotes: semver \"1.4.0\"".into(),
                        ));
                    };
                    let version = Semver::parse(&text).ok_or_else(|| {
                        (at, format!("`{text}` is not a semantic version like 1.4.0"))
                    })?;
                    return Ok(build::order_semver(symbol, version));
                }
                let at = self.offset();
                match self.next() {
                    Some(Token::Number(n)) => Ok(build::order_number(symbol, n)),
                    _ => Err((
                        at,
                        format!("`{symbol}` compares with a number, or semver \"1.4.0\""),
                    )),
                }
            }
            Some(Token::Word(w)) if w == "in" => Ok(build::within(self.list()?, false)),
            Some(Token::Word(w)) if w == "not" && self.is_word("in") => {
                self.at += 1;
                Ok(build::within(self.list()?, true))
            }
            Some(Token::Word(w)) if w == "starts_with" => match self.next() {
                Some(Token::Text(prefix)) => Ok(build::starts_with(prefix)),
                _ => Err((offset, "`starts_with` takes text in quotes".into())),
            },
            Some(Token::Word(w)) if w == "matches" => match self.next() {
                Some(Token::Text(pattern)) => build::matches(&pattern).map_err(|m| (offset, m)),
                _ => Err((offset, "`matches` takes a pattern in quotes".into())),
            },
            Some(other) => Err((
                offset,
                format!(
                    "expected `=`, `!=`, `<`, `<=`, `>`, `>=`, `in`, `not in`, `starts_with` or `matches`, found {}",
                    show(&other)
                ),
            )),
            None => Err((offset, "a comparison with nothing to compare".into())),
        }
    }

    fn literal(&mut self) -> Result<Literal, Fail> {
        let offset = self.offset();
        match self.next() {
            Some(Token::Text(t)) => Ok(build::text(t)),
            Some(Token::Number(n)) => Ok(build::number(n)),
            Some(Token::Word(w)) if w == "true" => Ok(build::boolean(true)),
            Some(Token::Word(w)) if w == "false" => Ok(build::boolean(false)),
            Some(other) => Err((
                offset,
                format!(
                    "expected text in quotes, a number, true or false, found {}",
                    show(&other)
                ),
            )),
            None => Err((offset, "expected a value at the end".into())),
        }
    }

    fn list(&mut self) -> Result<Vec<Literal>, Fail> {
        self.expect("[")?;
        let mut items = Vec::new();
        if self.peek() == Some(&Token::Symbol("]")) {
            return Err((self.offset(), "an empty list matches nothing".into()));
        }
        loop {
            items.push(self.literal()?);
            if items.len() > MAX_RULE_LIST {
                return Err((
                    self.offset(),
                    format!("a list holds at most {MAX_RULE_LIST} values"),
                ));
            }
            let offset = self.offset();
            match self.next() {
                Some(Token::Symbol(",")) => {}
                Some(Token::Symbol("]")) => return Ok(items),
                _ => return Err((offset, "expected `,` or `]` in the list".into())),
            }
        }
    }
}

fn show(token: &Token) -> String {
    match token {
        Token::Word(w) => format!("`{w}`"),
        Token::Text(t) => format!("{t:?}"),
        Token::Number(n) => format!("`{n}`"),
        Token::Symbol(s) => format!("`{s}`"),
    }
}
