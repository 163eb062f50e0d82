//! Rendering: a prompt compiled once into a sandboxed minijinja environment, then rendered
//! with checked values as often as needed.
//!
//! The environment has no loader: the only templates it knows are the prompt's messages and
//! the partials its version covers, so a template cannot read any other file. Undefined values
//! are errors, and fuel and a recursion limit stop runaway templates.

use std::collections::{BTreeMap, HashMap};

use minijinja::{Environment, ErrorKind};
use serde::Serialize;
use serde_json::Value;

use super::error::{Location, PromptError};
pub use super::output::MAX_MESSAGE_BYTES;
pub use super::settings::{RENDER_FUEL, RENDER_RECURSION_LIMIT};
use super::variables::{Vars, resolve_values};
use super::{Prompt, Role};

/// One rendered message, as a provider receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RenderedMessage {
    /// Who speaks it.
    pub role: Role,
    /// The rendered text.
    pub content: String,
}

/// A prompt whose templates are compiled and ready to render.
pub struct CompiledPrompt {
    name: String,
    env: Environment<'static>,
    messages: Vec<(Role, String)>,
    variables: BTreeMap<String, super::Variable>,
    /// Where each template's line 1 sits, by template name.
    origins: HashMap<String, Location>,
    /// The partials' texts, by name: the key of the names each one reads.
    partials: BTreeMap<String, std::sync::Arc<str>>,
}

impl std::fmt::Debug for CompiledPrompt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledPrompt")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn message_template_name(index: usize) -> String {
    // Partial names end in `.j2` and never contain `[`, so these cannot collide with them.
    format!("messages[{index}]")
}

impl Prompt {
    /// Compiles the prompt's messages and partials; fails on a template syntax error.
    pub fn compile(&self) -> Result<CompiledPrompt, PromptError> {
        let partial_at = |name: &str| Location::file(format!("{}/{name}", self.folder));
        // The partials compiled once for every prompt that reaches the same ones.
        let mut env =
            super::compiled_partials::environment(&self.spec.partials, |env, name, text| {
                add_template(env, name, text, &partial_at(name))
            })?;
        let mut origins: HashMap<String, Location> = self
            .spec
            .partials
            .keys()
            .map(|name| (name.clone(), partial_at(name)))
            .collect();
        let mut messages = Vec::with_capacity(self.spec.messages.len());
        for (index, message) in self.spec.messages.iter().enumerate() {
            let template = message_template_name(index);
            let location = self.message_location(index);
            add_template(&mut env, &template, &message.content, &location)?;
            origins.insert(template.clone(), location);
            messages.push((message.role, template));
        }
        Ok(CompiledPrompt {
            name: self.name.to_string(),
            env,
            messages,
            variables: self.spec.variables.clone(),
            origins,
            partials: self.spec.partials.clone(),
        })
    }
}

impl CompiledPrompt {
    /// Checks `supplied` against the declared variables and renders every message.
    ///
    /// Values the prompt does not declare are ignored.
    pub fn render(&self, supplied: &Vars) -> Result<Vec<RenderedMessage>, PromptError> {
        let values = resolve_values(&self.name, &self.variables, supplied)?;
        let context = minijinja::Value::from(
            values
                .iter()
                .map(|(k, v)| (k.clone(), json_to_value(v)))
                .collect::<BTreeMap<String, minijinja::Value>>(),
        );
        self.messages
            .iter()
            .map(|(role, template)| {
                let content = self
                    .env
                    .get_template(template)
                    .and_then(|t| t.render(context.clone()))
                    // Text between tags is charged by fuel, not by the formatter: the
                    // message as a whole is checked too.
                    .and_then(|text| match text.len() > MAX_MESSAGE_BYTES {
                        true => Err(super::output::too_long()),
                        false => Ok(text),
                    })
                    .map_err(|e| self.render_error(&e, &values))?;
                Ok(RenderedMessage {
                    role: *role,
                    content,
                })
            })
            .collect()
    }

    /// Lists template variables that the prompt does not declare, one error per use.
    ///
    /// Messages and partials are both checked: a partial shares its prompt's variables.
    pub fn undeclared_variables(&self) -> Vec<PromptError> {
        let mut templates: Vec<_> = self.origins.iter().collect();
        templates.sort_by(|a, b| a.1.path.cmp(&b.1.path).then(a.0.cmp(b.0)));
        templates
            .into_iter()
            .flat_map(|(template, location)| {
                self.names_without_value(template, |n| self.variables.contains_key(n))
                    .into_iter()
                    .map(|name| PromptError::UndeclaredVariable {
                        location: location.clone(),
                        name,
                    })
            })
            .collect()
    }

    /// Names a template reads that are neither globals (`range`, ...) nor `known`, sorted.
    fn names_without_value(&self, template: &str, known: impl Fn(&str) -> bool) -> Vec<String> {
        let read: std::sync::Arc<Vec<String>> = match self.partials.get(template) {
            Some(text) => super::compiled_partials::undeclared_names(&self.env, template, text),
            None => match self.env.get_template(template) {
                Ok(compiled) => {
                    std::sync::Arc::new(compiled.undeclared_variables(false).into_iter().collect())
                }
                Err(_) => return Vec::new(),
            },
        };
        let globals: Vec<&str> = self.env.globals().map(|(name, _)| name).collect();
        let mut names: Vec<String> = read
            .iter()
            .filter(|n| !known(n) && !globals.contains(&n.as_str()))
            .cloned()
            .collect();
        names.sort();
        names
    }

    fn render_error(&self, error: &minijinja::Error, values: &Vars) -> PromptError {
        let location = self.error_location(error);
        match error.kind() {
            ErrorKind::OutOfFuel => PromptError::RenderLimit {
                location,
                message: format!(
                    "the template ran more than {RENDER_FUEL} steps; look for a loop that never ends"
                ),
            },
            ErrorKind::InvalidOperation if error.detail() == Some(super::output::TOO_LONG) => {
                PromptError::RenderLimit {
                    location,
                    message: format!(
                        "a message would be longer than {} MiB; look for a repeated list or string, or a loop that prints too much",
                        MAX_MESSAGE_BYTES / (1024 * 1024)
                    ),
                }
            }
            ErrorKind::InvalidOperation if error.detail() == Some(super::budget::OVER_BUDGET) => {
                PromptError::RenderLimit {
                    location,
                    message: format!(
                        "a value would take more than the render's {} MB; look for a repeated list or string that is joined, printed or summed",
                        RENDER_FUEL * 64 / 1_000_000
                    ),
                }
            }
            ErrorKind::InvalidOperation if error.detail() == Some(super::budget::CANCELLED) => {
                PromptError::RenderLimit {
                    location,
                    message: super::budget::CANCELLED.to_owned(),
                }
            }
            // minijinja's own caps on `*`: a string or list repeated past 100,000,000.
            ErrorKind::InvalidOperation
                if error.detail().is_some_and(|d| d.ends_with("is too large")) =>
            {
                PromptError::RenderLimit {
                    location,
                    message: format!("{}; look for a repeated list or string", describe(error)),
                }
            }
            ErrorKind::InvalidOperation
                if error
                    .detail()
                    .is_some_and(|d| d.contains("recursion limit")) =>
            {
                PromptError::RenderLimit {
                    location,
                    message: format!(
                        "includes, macros or loops nest deeper than {RENDER_RECURSION_LIMIT}; look for endless recursion"
                    ),
                }
            }
            ErrorKind::UndefinedError => match self.unsupplied_name(error, values) {
                Some(name) => PromptError::MissingVariable {
                    prompt: self.name.clone(),
                    name,
                },
                None => PromptError::Render {
                    location,
                    message: describe(error),
                },
            },
            _ => PromptError::Render {
                location,
                message: describe(error),
            },
        }
    }

    /// Finds the variable a failed template used without a value, to name it in the error.
    fn unsupplied_name(&self, error: &minijinja::Error, values: &Vars) -> Option<String> {
        self.names_without_value(error.name()?, |n| values.contains_key(n))
            .into_iter()
            .next()
    }

    fn error_location(&self, error: &minijinja::Error) -> Location {
        let origin = error.name().and_then(|n| self.origins.get(n));
        match origin {
            Some(base) => base.at_template_line(error.line()),
            None => Location::file(format!("prompt `{}`", self.name)),
        }
    }
}

/// Checks a template's text against the limits and compiles it into `env` as `name`; a
/// problem is reported at `location`.
fn add_template(
    env: &mut Environment<'static>,
    name: &str,
    text: &str,
    location: &Location,
) -> Result<(), PromptError> {
    within_limits(text, location)?;
    env.add_template_owned(name.to_owned(), text.to_owned())
        .map_err(|e| template_error(&e, location))
}

/// Refuses a template the engine could not parse safely, before it sees it: a prompt read
/// back from a release branch was checked when it was published, but a hand-made object or
/// an older build's must not take a server down either.
fn within_limits(source: &str, location: &Location) -> Result<(), PromptError> {
    match super::includes::scan_template(source) {
        Err(error) => Err(super::includes::scan_error_to_prompt_error(
            &error,
            location.clone(),
        )),
        Ok(_) => Ok(()),
    }
}

fn template_error(error: &minijinja::Error, base: &Location) -> PromptError {
    PromptError::Template {
        location: base.at_template_line(error.line()),
        message: describe(error),
    }
}

fn describe(error: &minijinja::Error) -> String {
    match error.detail() {
        Some(detail) => format!("{}: {detail}", error.kind()),
        None => error.kind().to_string(),
    }
}

/// Converts JSON into a minijinja value without going through serde.
fn json_to_value(value: &Value) -> minijinja::Value {
    match value {
        Value::Null => minijinja::Value::from(()),
        Value::Bool(b) => minijinja::Value::from(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => minijinja::Value::from(i),
            (None, Some(u)) => minijinja::Value::from(u),
            _ => minijinja::Value::from(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => minijinja::Value::from(s.as_str()),
        Value::Array(items) => items.iter().map(json_to_value).collect(),
        // In the order given: minijinja's `preserve_order` keeps it, as Python's binding.
        Value::Object(map) => {
            minijinja::Value::from_pairs(map.iter().map(|(k, v)| (k.as_str(), json_to_value(v))))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::prompt::{PartialIndex, Prompt, PromptDefaults, PromptName, Vars};

    fn prompt_with(system: &str, partials: &[(&str, &str)]) -> Prompt {
        let source = format!(
            "model = \"m\"\n[variables.name]\ntype = \"string\"\nrequired = true\n\
             [variables.items]\ntype = \"array\"\ndefault = [1, 2]\n\
             [[messages]]\nrole = \"system\"\ncontent = '''\n{system}'''\n"
        );
        let index = PartialIndex::new(
            "prompts",
            partials.iter().map(|(n, t)| (n.to_string(), Arc::from(*t))),
        );
        Prompt::parse(
            PromptName::parse("p").unwrap(),
            "prompts/p.toml",
            &source,
            &PromptDefaults::default(),
            &index,
        )
        .unwrap()
    }

    fn render(system: &str, partials: &[(&str, &str)], vars: Vars) -> Result<String, PromptError> {
        let messages = prompt_with(system, partials).compile()?.render(&vars)?;
        Ok(messages[0].content.clone())
    }

    fn named() -> Vars {
        [("name".to_string(), json!("Ada"))].into()
    }

    #[test]
    fn renders_values_defaults_and_partials() {
        let out = render(
            "Hi {{ name }}: {% for i in items %}{{ i }}{% endfor %} {% include \"p/x.j2\" %}",
            &[("p/x.j2", "from {{ name }}")],
            named(),
        )
        .unwrap();
        assert_eq!(out, "Hi Ada: 12 from Ada");
    }

    #[test]
    fn raw_blocks_write_literal_braces_and_nothing_is_html_escaped() {
        let vars: Vars = [("name".to_string(), json!("<b>&</b>"))].into();
        let out = render(
            "{% raw %}{{ name }}{% endraw %} {{ name }}",
            &[("a.html.j2", "")],
            vars,
        )
        .unwrap();
        assert_eq!(out, "{{ name }} <b>&</b>");
    }

    #[test]
    fn an_unsupplied_variable_is_an_error_naming_it() {
        let prompt = prompt_with("{{ name }} {{ items }}", &[]);
        let compiled = prompt.compile().unwrap();
        let err = compiled.render(&Vars::new()).unwrap_err();
        assert_eq!(err.to_string(), "prompt `p`: missing variable `name`");
    }

    #[test]
    fn a_used_but_undeclared_variable_is_named_at_render_time() {
        let err = render("{{ name }} {{ nickname }}", &[], named()).unwrap_err();
        assert_eq!(err.to_string(), "prompt `p`: missing variable `nickname`");
    }

    /// One operation that allocates a lot (a repeated list or string, a long range, a
    /// join) is charged for what it allocates, so a render stays bounded in time, memory
    /// and output: each of these is refused quickly, at well under the memory it asks for.
    #[test]
    fn an_allocation_bomb_is_refused_before_it_allocates() {
        for template in [
            "{{ dict(a=1)|items|list * 100000000 }}",
            "{{ 'x' * 100000000 }}",
            "{{ ('x' * 1000000) * 1000 }}",
            "{% set s = 'y' * 60000 %}{% for i in range(100000) %}{{ s }}{% endfor %}",
            "{{ range(100000)|list|join(',') * 1000 }}",
            "{{ (range(10000)|list) * 10000 }}",
        ] {
            let started = std::time::Instant::now();
            let err = render(template, &[], named()).unwrap_err();
            assert!(
                matches!(err, PromptError::RenderLimit { .. }),
                "{template}: {err}"
            );
            assert!(
                started.elapsed() < std::time::Duration::from_secs(5),
                "{template} took {:?}",
                started.elapsed()
            );
        }
    }

    #[test]
    fn filters_that_build_their_output_first_are_charged_before_they_allocate() {
        // Seen: `join` allocated 3 GB and aborted `serve`; `pprint` held a render slot for
        // 24 s; `sum` of strings copied its total at every item.
        for template in [
            "{{ (['x' * 1000000] * 3000)|join|length }}",
            "{{ (['x' * 1000000] * 3000)|join(d='')|length }}",
            "{{ (['x' * 1000000] * 3000)|pprint|length }}",
            "{{ (['x' * 1000000] * 3000)|string|length }}",
            "{{ (['x' * 1000000] * 3000)|sum(start='')|length }}",
            "{{ ([range(1000)|list] * 100000)|pprint|length }}",
        ] {
            let started = std::time::Instant::now();
            let err = render(template, &[], named()).unwrap_err();
            assert!(
                err.to_string().contains("render's 64 MB"),
                "{template}: {err}"
            );
            assert!(
                started.elapsed() < std::time::Duration::from_secs(5),
                "{template} took {:?}",
                started.elapsed()
            );
        }
        // Within the budget they answer as the built-ins do.
        for (template, expected) in [
            ("{{ ['a', 'b']|join }}", "ab"),
            ("{{ ['a', 'b']|join(', ') }}", "a, b"),
            (
                "{{ [{'n': 'a'}, {'n': 'b'}]|join('-', attribute='n') }}",
                "a-b",
            ),
            ("{{ [1, 2]|string }}", "[1, 2]"),
            ("{{ [1, 2, 3]|sum }}", "6"),
            ("{{ [1.5, 2]|sum(start=1) }}", "4.5"),
            ("{{ ['a', 'b']|sum(start='') }}", "ab"),
            ("{{ [{'p': 2}, {'p': 3}]|sum(attribute='p') }}", "5"),
        ] {
            let out = render(template, &[], named()).unwrap();
            assert_eq!(out, expected, "{template}");
        }
    }

    #[test]
    fn a_cancelled_render_stops_at_its_next_print() {
        let cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let err = crate::prompt::cancellable(&cancel, || {
            render("{% for i in range(10) %}{{ i }}{% endfor %}", &[], named())
        })
        .unwrap_err();
        assert!(err.to_string().contains("cancelled"), "{err}");
        cancel.store(false, std::sync::atomic::Ordering::Relaxed);
        assert!(crate::prompt::cancellable(&cancel, || render("{{ 1 }}", &[], named())).is_ok());
        assert!(
            render("{{ 1 }}", &[], named()).is_ok(),
            "no flag once it returned"
        );
    }

    #[test]
    fn an_endless_loop_runs_out_of_fuel_quickly() {
        let started = std::time::Instant::now();
        let err = render(
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
            &[],
            named(),
        )
        .unwrap_err();
        assert!(matches!(err, PromptError::RenderLimit { .. }), "{err}");
        assert!(err.to_string().contains("prompts/p.toml"), "{err}");
        // Not a timing assertion on speed, only a guard against a hang being accepted.
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
    }

    #[test]
    fn endless_recursion_hits_the_recursion_limit() {
        let err = render(
            "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
            &[],
            named(),
        )
        .unwrap_err();
        assert!(matches!(err, PromptError::RenderLimit { .. }), "{err}");
    }

    #[test]
    fn template_syntax_errors_point_at_the_file_line() {
        let prompt = prompt_with("line one\n{{ name }\n", &[]);
        let err = prompt.compile().unwrap_err();
        assert!(matches!(err, PromptError::Template { .. }), "{err}");
        // The template starts on line 11 of the file, so its line 2 is line 12.
        assert_eq!(err.location().unwrap().line, Some(12), "{err}");
    }

    #[test]
    fn undeclared_variables_are_listed_per_template() {
        let prompt = prompt_with(
            "{{ name }} {{ nickname }} {{ range(2) | list }} {% set local = 1 %}{{ local }}{% include \"x.j2\" %}",
            &[("x.j2", "{{ other }}")],
        );
        let found: Vec<String> = prompt
            .compile()
            .unwrap()
            .undeclared_variables()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            found,
            [
                "prompts/p.toml:11: `messages[0].content`: template uses `nickname`, which the prompt does not declare",
                "prompts/x.j2: template uses `other`, which the prompt does not declare",
            ]
        );
    }
    /// Chains of each kind that nest the engine's tree, at the longest a tag may be, render
    /// on a thread with the 2 MiB stack of a server's worker; longer ones are refused before
    /// the engine parses them, by `parse` (so `check` and `publish`) and by `compile` (so a
    /// server loading a hand-made release).
    #[test]
    fn the_longest_tags_allowed_render_on_a_small_stack_and_longer_ones_are_refused() {
        use crate::prompt::includes::{MAX_TAG_TOKENS, tag_tokens};
        let chains: [(&str, &str, &str); 6] = [
            ("{{ 1", " +1", " }}"),
            ("{{ name", " ~name", " }}"),
            ("{{ not", " not", " true }}"),
            ("{{ name", "|upper", " }}"),
            ("{{ items", "[0:9]", " }}"),
            ("{{ -", "-", "1 }}"),
        ];
        for (start, step, end) in chains {
            let fixed = tag_tokens(&format!("{start}{end}"));
            let per_step = tag_tokens(&format!("{{{{ {step} }}}}"));
            let fits = (MAX_TAG_TOKENS - fixed) / per_step;
            let ok = format!("{start}{}{end}", step.repeat(fits));
            assert!(tag_tokens(&ok) <= MAX_TAG_TOKENS, "{ok}");
            let prompt = prompt_with(&ok, &[]);
            std::thread::Builder::new()
                .stack_size(2 * 1024 * 1024)
                .spawn(move || {
                    let vars: Vars = [("name".to_string(), json!("n"))].into();
                    let _ = prompt.compile().unwrap().render(&vars);
                })
                .unwrap()
                .join()
                .unwrap();
            let long = format!("{start}{}{end}", step.repeat(MAX_TAG_TOKENS * 20));
            let source = format!(
                "model = \"m\"\n[[messages]]\nrole = \"system\"\ncontent = '''\n{long}'''\n"
            );
            let refused = Prompt::parse(
                PromptName::parse("p").unwrap(),
                "prompts/p.toml",
                &source,
                &PromptDefaults::default(),
                &PartialIndex::new("prompts", Vec::<(String, Arc<str>)>::new()),
            )
            .unwrap_err();
            assert!(
                refused.to_string().contains("longer than 500 tokens"),
                "{refused}"
            );
            assert!(refused.to_string().contains("prompts/p.toml"), "{refused}");
            let mut frozen = prompt_with("x", &[]);
            frozen.spec.messages[0].content = long;
            let Err(refused) = frozen.compile() else {
                panic!("a tag too long was compiled");
            };
            assert!(
                refused.to_string().contains("longer than 500 tokens"),
                "{refused}"
            );
        }
    }
}
