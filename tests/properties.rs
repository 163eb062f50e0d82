//! Property tests of what reads hostile input: prompt files, templates, release states,
//! names and weights, and the server's HTTP inputs. Each must answer (a value or an
//! error), never panic or abort, and stay within its documented bounds. Seeds of failures
//! proptest finds are kept in `proptest-regressions/` and replayed first.

mod common;

use std::sync::Arc;

use promptctl::prompt::{
    MAX_MESSAGE_BYTES, PartialIndex, Prompt, PromptDefaults, PromptName, Vars,
};
use promptctl::store::{State, Weight};
use proptest::prelude::*;

/// A prompt file around `content` as its one user message.
fn prompt_file(content: &str) -> String {
    format!(
        "model = \"m\"\n[variables.name]\ntype = \"string\"\nrequired = false\ndefault = \"Ada\"\n\
         [[messages]]\nrole = \"user\"\ncontent = '''\n{content}'''\n"
    )
}

fn parse(source: &str) -> Result<Prompt, promptctl::prompt::PromptError> {
    let partials = PartialIndex::new(
        "prompts",
        [("p/x.j2".to_owned(), Arc::from("[{{ name }}]"))],
    );
    Prompt::parse(
        PromptName::parse("p").unwrap(),
        "prompts/p.toml",
        source,
        &PromptDefaults::default(),
        &partials,
    )
}

/// Pieces of templates: tags, operators, literals, filters and names, the kinds of tokens
/// that overflowed the parser's stack or allocated without bound before.
fn template_piece() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "{{ ",
        " }}",
        "{% ",
        " %}",
        "{# ",
        " #}",
        " + ",
        " * ",
        " ** ",
        " ~ ",
        " and ",
        " not ",
        " if ",
        " else ",
        "-",
        "1",
        "100000000",
        "'x'",
        "name",
        "[",
        "]",
        "(",
        ")",
        "|list",
        "|join(',')",
        "|join",
        "|pprint",
        "|string",
        "|sum(start='')",
        "('x' * 1000000)",
        " * 3000",
        "|items",
        "|upper",
        " is defined",
        ".a",
        "[0]",
        "()",
        "dict(a=1)",
        "range(100000)",
        "for i in ",
        "endfor",
        "if ",
        "endif",
        "set s = ",
        "include 'p/x.j2'",
        "macro m()",
        "endmacro",
        "m()",
        "loop.index",
        "{{ name }}",
        "\n",
        "raw",
        "endraw",
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_prompt_file_parses_or_is_refused(source in "(?s).{0,300}") {
        let _ = parse(&source);
    }

    #[test]
    fn any_text_as_a_message_parses_or_is_refused(content in "(?s)[^']{0,200}") {
        let _ = parse(&prompt_file(&content));
    }

    #[test]
    fn any_state_file_reads_or_is_refused(source in "(?s).{0,400}") {
        let _ = State::parse("state.toml", &source);
    }

    #[test]
    fn a_state_with_odd_values_reads_or_is_refused(
        format in any::<i64>(),
        weight in "[-0-9.%eE]{0,8}",
        version in "[a-z0-9:]{0,80}",
        previous in 0usize..150,
    ) {
        let versions = vec![format!("\"{version}\""); previous].join(", ");
        let source = format!(
            "format = {format}\n[prompts.\"a/b\"]\nactive = \"{version}\"\nprevious = [{versions}]\n\
             [prompts.\"a/b\".canary]\nversion = \"{version}\"\nweight = \"{weight}\"\n"
        );
        let _ = State::parse("state.toml", &source);
    }

    #[test]
    fn an_accepted_name_follows_the_grammar(name in "(?s).{0,40}") {
        if let Ok(parsed) = PromptName::parse(&name) {
            let pattern = regex::Regex::new(r"^[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)*$").unwrap();
            prop_assert!(pattern.is_match(parsed.as_str()), "{name:?}");
        }
    }

    #[test]
    fn an_accepted_weight_is_between_0_and_100(text in "[-+0-9.%eE ]{0,10}") {
        if let Ok(weight) = text.parse::<Weight>() {
            let percent: f64 = weight.to_string().trim_end_matches('%').parse().unwrap();
            prop_assert!((0.0..=100.0).contains(&percent), "{text:?} -> {weight}");
        }
    }
}

proptest! {
    // Each case may render up to the fuel limit: fewer cases keep the suite quick.
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_template_renders_within_its_bounds_or_is_refused(
        pieces in prop::collection::vec(template_piece(), 0..40)
    ) {
        let content = pieces.concat();
        let rendered = parse(&prompt_file(&content))
            .and_then(|prompt| prompt.compile())
            .and_then(|compiled| compiled.render(&Vars::new()));
        for message in rendered.unwrap_or_default() {
            prop_assert!(message.content.len() <= MAX_MESSAGE_BYTES);
        }
    }
}

/// One real server on the sample repository with v1 published; any path, body and content
/// type gets a status below 500, and the server keeps answering.
#[test]
fn the_server_answers_any_input_with_a_status_below_500() {
    let repo = common::released("");
    let server = common::server::Server::start(&repo, &[], &[]);
    let inputs = (
        "/v1/(prompts/[ -~]{0,30}|state\\?wait=[ -~]{0,8}|render|feedback)",
        "(?s).{0,200}",
        any::<bool>(),
    );
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(96));
    let result = runner.run(&inputs, |(path, body, json)| {
        let content_type = if json {
            "application/json"
        } else {
            "text/plain"
        };
        let method = if path.ends_with("render") || path.ends_with("feedback") {
            "POST"
        } else {
            "GET"
        };
        let path = path.replace(' ', "%20");
        let (status, _, text) = common::server::http(
            server.port,
            method,
            &path,
            &[("Content-Type", content_type)],
            &body,
        );
        prop_assert!(status != 0, "the server did not answer {method} {path}");
        prop_assert!(status < 500, "{method} {path} {body:?}: {status} {text}");
        prop_assert_eq!(server.get("/healthz").0, 200);
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}
