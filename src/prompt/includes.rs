//! Static include analysis: which partials a template reaches, found without rendering.
//!
//! Versions must be computable from the files alone, so every `{% include %}`, `{% import %}`,
//! `{% from %}` and `{% extends %}` must name a `.j2` partial under `prompts/` by a string
//! literal. The names are read with minijinja's own lexer, so raw blocks, comments and string
//! escapes are handled exactly as the renderer handles them.

use std::collections::BTreeMap;
use std::sync::Arc;

use minijinja::machinery::{Token, tokenize};
use minijinja::syntax::SyntaxConfig;

use super::error::{IncludeProblem, Location, PromptError};
use super::name::check_partial_name;

/// One literal template reference found in a template.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct IncludeRef {
    /// The partial's name, relative to the prompts folder.
    pub name: String,
    /// One-based line of the reference inside the template.
    pub line: usize,
}

/// Why a template's references could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScanError {
    /// The template does not lex; the renderer would refuse it too.
    Syntax { line: usize, message: String },
    /// A reference is refused.
    Refused {
        line: usize,
        name: String,
        problem: IncludeProblem,
    },
}

const REFERENCE_KEYWORDS: [&str; 4] = ["include", "import", "from", "extends"];
/// Tokens that may follow the literal name in a valid reference.
const AFTER_NAME: [&str; 5] = ["ignore", "with", "without", "as", "import"];

/// Most tokens one expression or tag (`{{ … }}`, `{% … %}`) may hold. The template
/// engine turns a long chain of operators (`1 + 1 + …`, `a.b.c…`, `x|f|f…`) into a tree as
/// deep as the chain, and walks it recursively: 8,000 terms overflowed a server thread's
/// stack and killed the process. Real prompts use a few dozen.
pub const MAX_TAG_TOKENS: usize = 500;

/// Counts the tokens inside the tags of a template (the tests size their chains with it).
#[cfg(test)]
pub(crate) fn tag_tokens(source: &str) -> usize {
    let mut count = 0;
    let mut in_tag = false;
    for (token, _) in tokenize(source, false, SyntaxConfig::default()).flatten() {
        match token {
            Token::VariableStart | Token::BlockStart => in_tag = true,
            Token::VariableEnd | Token::BlockEnd => in_tag = false,
            _ if in_tag => count += 1,
            _ => {}
        }
    }
    count
}

/// Lists the partials a template names, refusing any that is not a literal `.j2` name, and
/// any expression or tag longer than [`MAX_TAG_TOKENS`].
pub(crate) fn scan_template(source: &str) -> Result<Vec<IncludeRef>, ScanError> {
    let mut refs = Vec::new();
    let mut tokens = tokenize(source, false, SyntaxConfig::default()).peekable();
    let mut at_block_start = false;
    // Tokens so far in the tag being read; `None` outside tags.
    let mut in_tag: Option<usize> = None;
    while let Some(token) = tokens.next() {
        let (token, span) = token.map_err(|e| ScanError::Syntax {
            line: e.line().unwrap_or(1),
            message: e.detail().unwrap_or("syntax error").to_owned(),
        })?;
        match (&token, in_tag.as_mut()) {
            (Token::VariableStart | Token::BlockStart, _) => in_tag = Some(0),
            (Token::VariableEnd | Token::BlockEnd, _) => in_tag = None,
            (_, Some(count)) => {
                *count += 1;
                if *count > MAX_TAG_TOKENS {
                    return Err(ScanError::Syntax {
                        line: span.start_line as usize,
                        message: format!(
                            "an expression or tag longer than {MAX_TAG_TOKENS} tokens; split it with `{{% set %}}`, a macro or a partial"
                        ),
                    });
                }
            }
            (_, None) => {}
        }
        let starts_reference =
            at_block_start && matches!(token, Token::Ident(kw) if REFERENCE_KEYWORDS.contains(&kw));
        at_block_start = matches!(token, Token::BlockStart);
        if !starts_reference {
            continue;
        }
        let line = span.start_line as usize;
        let name = match tokens.next() {
            Some(Ok((Token::Str(s), _))) => s.to_owned(),
            Some(Ok((Token::String(s), _))) => s.to_string(),
            _ => return Err(not_literal(line)),
        };
        let literal_ends_here = match tokens.peek() {
            Some(Ok((Token::BlockEnd, _))) => true,
            Some(Ok((Token::Ident(next), _))) => AFTER_NAME.contains(next),
            _ => false,
        };
        if !literal_ends_here {
            return Err(not_literal(line));
        }
        if let Err(problem) = check_partial_name(&name) {
            return Err(ScanError::Refused {
                line,
                name,
                problem,
            });
        }
        refs.push(IncludeRef { name, line });
    }
    Ok(refs)
}

fn not_literal(line: usize) -> ScanError {
    ScanError::Refused {
        line,
        name: "<expression>".into(),
        problem: IncludeProblem::NotLiteral,
    }
}

/// The partials of one source (working tree or revision), each scanned once and shared by
/// every prompt that reaches it.
#[derive(Debug, Default)]
pub struct PartialIndex {
    folder: String,
    partials: BTreeMap<String, Partial>,
}

#[derive(Debug)]
struct Partial {
    text: Arc<str>,
    refs: Result<Vec<IncludeRef>, ScanError>,
    /// For a schema file: its JSON, read the first time a prompt names it, so prompts that
    /// share it parse it once.
    json: std::sync::OnceLock<Result<Arc<serde_json::Value>, JsonError>>,
}

/// Why a schema file is not JSON: the line, and serde_json's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JsonError {
    pub line: usize,
    pub message: String,
}

impl PartialIndex {
    /// Scans every partial; `folder` is the prompts folder as shown in messages (`prompts`).
    pub fn new(folder: &str, partials: impl IntoIterator<Item = (String, Arc<str>)>) -> Self {
        let partials = partials
            .into_iter()
            .map(|(name, text)| {
                // As for prompt files: CRLF line endings do not make another version.
                let text = if text.contains("\r\n") {
                    Arc::from(text.replace("\r\n", "\n"))
                } else {
                    text
                };
                // A schema file is JSON, not a template: it names nothing.
                let refs = if name.ends_with(super::name::SCHEMA_FILE_SUFFIX) {
                    Ok(Vec::new())
                } else {
                    scan_template(&text)
                };
                let json = std::sync::OnceLock::new();
                (name, Partial { text, refs, json })
            })
            .collect();
        PartialIndex {
            folder: folder.to_owned(),
            partials,
        }
    }

    /// Returns the prompts folder as shown in messages.
    pub fn folder(&self) -> &str {
        &self.folder
    }

    /// Returns the text of a partial, if it exists.
    pub fn text(&self, name: &str) -> Option<&Arc<str>> {
        self.partials.get(name).map(|p| &p.text)
    }

    /// The JSON of a schema file, parsed once.
    pub(crate) fn json(&self, name: &str) -> Option<&Result<Arc<serde_json::Value>, JsonError>> {
        let partial = self.partials.get(name)?;
        Some(partial.json.get_or_init(|| {
            serde_json::from_str(&partial.text)
                .map(Arc::new)
                .map_err(|e| JsonError {
                    line: e.line(),
                    message: e.to_string(),
                })
        }))
    }

    /// Returns the names of all partials.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.partials.keys().map(String::as_str)
    }

    /// Shows a partial's path relative to the project root.
    pub fn display_path(&self, name: &str) -> String {
        format!("{}/{name}", self.folder)
    }

    /// Checks one partial's own references (not those it reaches), for `check`.
    pub fn scan_error(&self, name: &str) -> Option<PromptError> {
        let partial = self.partials.get(name)?;
        let location = Location::file(self.display_path(name));
        partial
            .refs
            .as_ref()
            .err()
            .map(|e| scan_error_to_prompt_error(e, location))
    }

    /// Collects every partial reachable from the references of a prompt's templates.
    ///
    /// `roots` pairs each template's location (file, first line, field) with its references.
    pub(crate) fn reachable(
        &self,
        roots: &[(Location, Vec<IncludeRef>)],
    ) -> Result<BTreeMap<String, Arc<str>>, PromptError> {
        let mut found = BTreeMap::new();
        for (location, refs) in roots {
            for r in refs {
                let mut stack = Vec::new();
                let at = location.at_template_line(Some(r.line));
                self.visit(&r.name, at, &mut stack, &mut found)?;
            }
        }
        Ok(found)
    }

    fn visit(
        &self,
        name: &str,
        referenced_at: Location,
        stack: &mut Vec<String>,
        found: &mut BTreeMap<String, Arc<str>>,
    ) -> Result<(), PromptError> {
        if let Some(start) = stack.iter().position(|n| n == name) {
            let mut cycle = stack[start..].to_vec();
            cycle.push(name.to_owned());
            return Err(PromptError::IncludeCycle {
                location: referenced_at,
                cycle,
            });
        }
        let Some(partial) = self.partials.get(name) else {
            return Err(PromptError::Include {
                location: referenced_at,
                name: name.to_owned(),
                problem: IncludeProblem::NotFound,
            });
        };
        // A partial already visited and off the stack is fully explored: in one depth-first
        // walk an edge to it cannot close a cycle, so it is not walked again.
        if found.contains_key(name) {
            return Ok(());
        }
        let own_location = Location::file(self.display_path(name));
        let refs = partial
            .refs
            .as_ref()
            .map_err(|e| scan_error_to_prompt_error(e, own_location.clone()))?;
        found.insert(name.to_owned(), partial.text.clone());
        stack.push(name.to_owned());
        for r in refs {
            self.visit(
                &r.name,
                own_location.at_template_line(Some(r.line)),
                stack,
                found,
            )?;
        }
        stack.pop();
        Ok(())
    }
}

pub(crate) fn scan_error_to_prompt_error(error: &ScanError, base: Location) -> PromptError {
    match error {
        ScanError::Syntax { line, message } => PromptError::Template {
            location: base.at_template_line(Some(*line)),
            message: message.clone(),
        },
        ScanError::Refused {
            line,
            name,
            problem,
        } => PromptError::Include {
            location: base.at_template_line(Some(*line)),
            name: name.clone(),
            problem: problem.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(src: &str) -> Vec<String> {
        scan_template(src)
            .unwrap()
            .into_iter()
            .map(|r| r.name)
            .collect()
    }

    fn refused(src: &str) -> IncludeProblem {
        match scan_template(src).unwrap_err() {
            ScanError::Refused { problem, .. } => problem,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn finds_every_kind_of_reference() {
        let src = r#"{% include "a.j2" %}
{%- include 'b/c.j2' ignore missing -%}
{% import "m.j2" as m %}{% from "f.j2" import x, y %}
{% if z %}{% include "nested.j2" with context %}{% endif %}"#;
        assert_eq!(names(src), ["a.j2", "b/c.j2", "m.j2", "f.j2", "nested.j2"]);
    }

    #[test]
    fn ignores_references_in_raw_blocks_comments_and_text() {
        let src = r#"{% raw %}{% include "x.j2" %}{% endraw %}{# {% include "y.j2" %} #}
include "z.j2" {{ "include" }}"#;
        assert!(names(src).is_empty());
    }

    #[test]
    fn reports_the_line_of_each_reference() {
        let refs = scan_template("a\nb\n{% include \"p.j2\" %}").unwrap();
        assert_eq!(refs[0].line, 3);
    }

    #[test]
    fn refuses_non_literal_names() {
        assert_eq!(refused("{% include name %}"), IncludeProblem::NotLiteral);
        assert_eq!(
            refused(r#"{% include "a" ~ x %}"#),
            IncludeProblem::NotLiteral
        );
        assert_eq!(
            refused(r#"{% include ["a.j2", "b.j2"] %}"#),
            IncludeProblem::NotLiteral
        );
    }

    #[test]
    fn refuses_paths_outside_prompts_and_other_extensions() {
        assert_eq!(
            refused(r#"{% include "../etc/passwd.j2" %}"#),
            IncludeProblem::OutsidePrompts
        );
        assert_eq!(
            refused(r#"{% include "/etc/passwd" %}"#),
            IncludeProblem::OutsidePrompts
        );
        assert_eq!(
            refused(r#"{% include "other.toml" %}"#),
            IncludeProblem::NotPartial
        );
    }

    fn index(files: &[(&str, &str)]) -> PartialIndex {
        PartialIndex::new(
            "prompts",
            files.iter().map(|(n, t)| (n.to_string(), Arc::from(*t))),
        )
    }

    fn root(refs: &[&str]) -> Vec<(Location, Vec<IncludeRef>)> {
        let refs = refs
            .iter()
            .map(|n| IncludeRef {
                name: n.to_string(),
                line: 1,
            })
            .collect();
        vec![(Location::file("prompts/p.toml").at_line(Some(10)), refs)]
    }

    #[test]
    fn reachable_follows_nested_partials_once() {
        let idx = index(&[
            ("a.j2", r#"{% include "b.j2" %}{% include "c.j2" %}"#),
            ("b.j2", r#"{% include "c.j2" %}"#),
            ("c.j2", "leaf"),
            ("unused.j2", "x"),
        ]);
        let found = idx.reachable(&root(&["a.j2", "c.j2"])).unwrap();
        assert_eq!(found.keys().collect::<Vec<_>>(), ["a.j2", "b.j2", "c.j2"]);
    }

    #[test]
    fn reachable_reports_cycles_with_their_path() {
        let idx = index(&[
            ("a.j2", r#"{% include "b.j2" %}"#),
            ("b.j2", "\n{% include \"a.j2\" %}"),
        ]);
        let err = idx.reachable(&root(&["a.j2"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "prompts/b.j2:2: include cycle: a.j2 -> b.j2 -> a.j2"
        );
    }

    #[test]
    fn reachable_reports_missing_partials_where_they_are_named() {
        let idx = index(&[]);
        let err = idx.reachable(&root(&["gone.j2"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "prompts/p.toml:10: included template `gone.j2` does not exist"
        );
    }
}
