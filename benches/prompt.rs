//! Render and version of a typical prompt, each beside a baseline measured in the same run.
//!
//! Run: `cargo bench --bench prompt`. Baselines: hashing the same canonical bytes alone
//! (the floor for a version) and naive `str::replace` substitution of the same values (the
//! floor for rendering).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use sha2::{Digest, Sha256};

use promptctl::prompt::{PartialIndex, Prompt, PromptDefaults, PromptName, Vars};

const PROMPT: &str = include_str!("../prompts/support/reply.toml");
const TONE: &str = include_str!("../prompts/partials/tone.j2");
const POLICY: &str = include_str!("../prompts/partials/refund-policy.j2");

fn partials() -> PartialIndex {
    PartialIndex::new(
        "prompts",
        [
            ("partials/tone.j2".to_string(), Arc::from(TONE)),
            ("partials/refund-policy.j2".to_string(), Arc::from(POLICY)),
        ],
    )
}

fn parse() -> Prompt {
    Prompt::parse(
        PromptName::parse("support/reply").unwrap(),
        "prompts/support/reply.toml",
        PROMPT,
        &PromptDefaults {
            provider: "offline".into(),
            model: Some("gpt-4o-mini".into()),
        },
        &partials(),
    )
    .unwrap()
}

fn vars() -> Vars {
    [
        ("product".to_string(), json!("Acme Cloud")),
        (
            "ticket".to_string(),
            json!("I was charged twice this month, can I get my money back?"),
        ),
        ("customer".to_string(), json!("Dana")),
        ("tone".to_string(), json!("formal")),
    ]
    .into()
}

fn benches(c: &mut Criterion) {
    let prompt = parse();
    let compiled = prompt.compile().unwrap();
    let values = vars();
    let canonical = prompt.canonical_json();

    c.bench_function("render/compiled_prompt", |b| {
        b.iter(|| compiled.render(black_box(&values)).unwrap())
    });
    c.bench_function("render/baseline_str_replace", |b| {
        let templates: Vec<String> = prompt
            .spec
            .messages
            .iter()
            .map(|m| m.content.clone())
            .collect();
        b.iter(|| {
            templates
                .iter()
                .map(|t| {
                    let mut out = t.clone();
                    for (k, v) in black_box(&values) {
                        out =
                            out.replace(&format!("{{{{ {k} }}}}"), v.as_str().unwrap_or_default());
                    }
                    out
                })
                .collect::<Vec<_>>()
        })
    });
    c.bench_function("version/of_parsed_prompt", |b| {
        b.iter(|| black_box(&prompt.spec).version())
    });
    c.bench_function("version/baseline_sha256_only", |b| {
        b.iter(|| Sha256::digest(black_box(canonical.as_bytes())))
    });
    c.bench_function("version/parse_file_and_version", |b| {
        let index = partials();
        let defaults = PromptDefaults {
            provider: "offline".into(),
            model: Some("gpt-4o-mini".into()),
        };
        b.iter(|| {
            Prompt::parse(
                PromptName::parse("support/reply").unwrap(),
                "prompts/support/reply.toml",
                black_box(PROMPT),
                &defaults,
                &index,
            )
            .unwrap()
            .version
        })
    });
    c.bench_function("render/compile_and_render", |b| {
        b.iter(|| {
            prompt
                .compile()
                .unwrap()
                .render(black_box(&values))
                .unwrap()
        })
    });
}

/// A prompt of `benches/generate.py`: its text and the 20 partials of its source, in chains
/// of five, of which it reaches one chain.
fn generated() -> (String, PartialIndex) {
    let text = r#"description = "Generated prompt 40"

[params]
temperature = 0.0
max_tokens = 140

[variables.product]
type = "string"
required = true

[variables.ticket]
type = "string"
required = true

[[messages]]
role = "system"
content = """
You are assistant number 40 for {{ product }}.
{% include "partials/p00.j2" %}
"""

[[messages]]
role = "user"
content = "{{ ticket }}"
"#;
    let partials = (0..20).map(|p| {
        let mut text = format!("Policy {p}: {{{{ product }}}} rules.\n").repeat(5);
        if p % 5 != 4 {
            text.push_str(&format!("{{% include \"partials/p{:02}.j2\" %}}\n", p + 1));
        }
        (format!("partials/p{p:02}.j2"), Arc::from(text))
    });
    (text.to_owned(), PartialIndex::new("prompts", partials))
}

/// Drafting a generated prompt file (its TOML read and checked) and finishing it against its
/// partials (the version), beside hashing its canonical bytes alone.
fn generated_benches(c: &mut Criterion) {
    let (text, index) = generated();
    let defaults = PromptDefaults {
        provider: "offline".into(),
        model: Some("gpt-4o-mini".into()),
    };
    let name = PromptName::parse("team00/prompt0040").unwrap();
    let path = "prompts/team00/prompt0040.toml";
    let draft = Prompt::draft(name.clone(), path, &text, &defaults).unwrap();
    let canonical = draft.clone().finish(&index).unwrap().canonical_json();
    c.bench_function("generated/draft", |b| {
        b.iter(|| Prompt::draft(name.clone(), path, black_box(&text), &defaults).unwrap())
    });
    c.bench_function("generated/finish_with_version", |b| {
        b.iter(|| black_box(draft.clone()).finish(&index).unwrap().version)
    });
    c.bench_function("generated/baseline_sha256_only", |b| {
        b.iter(|| Sha256::digest(black_box(canonical.as_bytes())))
    });
}

criterion_group! {
    name = prompt_benches;
    config = Criterion::default().sample_size(50).measurement_time(std::time::Duration::from_secs(3));
    targets = benches, generated_benches
}
criterion_main!(prompt_benches);
