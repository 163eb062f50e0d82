//! Partials compiled once per process and shared by every prompt that reaches the same ones.
//!
//! A `check` of 2,000 prompts reaching a handful of partials compiled each partial, and
//! parsed it again for the names it uses, once per prompt: 38% of the run. An environment
//! holding a set of partials is kept by the set (names and texts), and each prompt's
//! environment is a clone of it (minijinja shares compiled templates between clones) with
//! the prompt's own messages added. The names a template uses are kept by its text.
//! Both caches are bounded: past their size they start again empty.

use std::collections::BTreeMap;
use std::sync::Arc;

use minijinja::{AutoEscape, Environment, UndefinedBehavior};

use super::error::PromptError;
use super::settings::{RENDER_FUEL, RENDER_RECURSION_LIMIT};
use crate::base::memo::Memo;

/// The most partial sets kept; a process that meets more starts again.
const MAX_SETS: usize = 256;
/// The most templates whose names are kept.
const MAX_TEXTS: usize = 4096;

/// A prompt's partials: name and text, in name order.
type PartialSet = Vec<(String, Arc<str>)>;

/// A fresh sandboxed environment: no loader, strict undefined values, fuel, a recursion
/// limit, bounded printing and filters, and no HTML escaping (prompts are plain text).
fn sandbox() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(RENDER_FUEL));
    env.set_recursion_limit(RENDER_RECURSION_LIMIT);
    env.set_formatter(super::output::bounded_formatter);
    super::budget::install(&mut env);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env
}

/// An environment holding `partials`, compiled: a clone of the one kept for the same set,
/// or a new one built by `add` (which checks and adds one template), kept unless `add` fails.
pub(super) fn environment(
    partials: &BTreeMap<String, Arc<str>>,
    add: impl Fn(&mut Environment<'static>, &str, &str) -> Result<(), PromptError>,
) -> Result<Environment<'static>, PromptError> {
    static SETS: Memo<PartialSet, Environment<'static>> = Memo::new(MAX_SETS);
    let key: PartialSet = partials
        .iter()
        .map(|(name, text)| (name.clone(), Arc::clone(text)))
        .collect();
    if let Some(env) = SETS.get(&key) {
        return Ok(env);
    }
    let mut env = sandbox();
    for (name, text) in partials {
        add(&mut env, name, text)?;
    }
    SETS.keep(key, env.clone());
    Ok(env)
}

/// The names `text` (compiled in `env` as `template`) reads without setting them, as
/// minijinja finds them: kept by text, as finding them parses the template again.
pub(super) fn undeclared_names(
    env: &Environment<'static>,
    template: &str,
    text: &Arc<str>,
) -> Arc<Vec<String>> {
    static NAMES: Memo<Arc<str>, Arc<Vec<String>>> = Memo::new(MAX_TEXTS);
    NAMES.answer(Arc::clone(text), || {
        Arc::new(match env.get_template(template) {
            Ok(compiled) => compiled.undeclared_variables(false).into_iter().collect(),
            Err(_) => Vec::new(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn refused(message: &str) -> PromptError {
        PromptError::Template {
            location: super::super::error::Location::file("prompts/partials/a.j2"),
            message: message.to_owned(),
        }
    }

    fn partials(text: &str) -> BTreeMap<String, Arc<str>> {
        BTreeMap::from([("partials/a.j2".to_owned(), Arc::from(text))])
    }

    #[test]
    fn a_set_of_partials_is_compiled_once_and_a_changed_text_again() {
        // Seen: every prompt compiled the partials it reaches, so a check of 2,000 prompts
        // reaching 20 partials compiled 10,000 of them.
        let compiled = Cell::new(0);
        let add = |env: &mut Environment<'static>, name: &str, text: &str| {
            compiled.set(compiled.get() + 1);
            env.add_template_owned(name.to_owned(), text.to_owned())
                .map_err(|e| refused(&e.to_string()))
        };
        let set = partials("{{ once_a }} and {{ once_b }}");
        for _ in 0..3 {
            let env = environment(&set, add).unwrap();
            assert!(env.get_template("partials/a.j2").is_ok());
        }
        assert_eq!(compiled.get(), 1);
        environment(&partials("{{ once_a }} changed"), add).unwrap();
        assert_eq!(compiled.get(), 2);
    }

    #[test]
    fn a_partial_that_fails_is_not_kept() {
        let tries = Cell::new(0);
        let add = |_: &mut Environment<'static>, _: &str, _: &str| {
            tries.set(tries.get() + 1);
            Err(refused("refused"))
        };
        let set = partials("{{ never_kept }}");
        assert!(environment(&set, add).is_err());
        assert!(environment(&set, add).is_err());
        assert_eq!(tries.get(), 2);
    }

    #[test]
    fn the_names_a_text_reads_are_found_once() {
        let text: Arc<str> = Arc::from("{{ found_once }}{% set local = 1 %}{{ local }}");
        let mut env = sandbox();
        env.add_template_owned("partials/n.j2", text.to_string())
            .unwrap();
        let first = undeclared_names(&env, "partials/n.j2", &text);
        assert_eq!(*first, ["found_once"]);
        let again = undeclared_names(&env, "partials/n.j2", &Arc::from(&*text));
        assert!(Arc::ptr_eq(&first, &again));
    }
}
