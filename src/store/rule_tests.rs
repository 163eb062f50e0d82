//! Targeting rules against the normative vectors of docs/targeting-vectors.jsonl, their
//! canonical text, semantic-version precedence, and every bound.

use super::rule::{AttrValue, Attributes, MAX_RULE_CONDITIONS, MAX_RULE_DEPTH, Rule, Semver};

fn context(json: &serde_json::Value) -> Attributes {
    json.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let value = match v {
                serde_json::Value::String(s) => AttrValue::Text(s.clone()),
                serde_json::Value::Number(n) => AttrValue::Number(n.as_f64().unwrap()),
                serde_json::Value::Bool(b) => AttrValue::Bool(*b),
                other => panic!("no such attribute value: {other}"),
            };
            (k.clone(), value)
        })
        .collect()
}

#[test]
fn every_vector_holds() {
    let vectors = include_str!("../../docs/targeting-vectors.jsonl");
    let mut count = 0;
    for line in vectors.lines() {
        let vector: serde_json::Value = serde_json::from_str(line).unwrap();
        let text = vector["rule"].as_str().unwrap();
        let rule = Rule::parse(text).unwrap_or_else(|e| panic!("{e}"));
        if let Some(canonical) = vector.get("canonical") {
            assert_eq!(rule.as_str(), canonical.as_str().unwrap(), "{text}");
        }
        assert_eq!(
            Rule::parse(rule.as_str()).unwrap(),
            rule,
            "the canonical text reads back as itself"
        );
        let got = match rule.matches(&context(&vector["context"])) {
            Ok(b) => serde_json::Value::Bool(b),
            Err(_) => serde_json::Value::from("unevaluable"),
        };
        assert_eq!(got, vector["result"], "{text} with {}", vector["context"]);
        count += 1;
    }
    assert!(count >= 30, "{count} vectors");
}

#[test]
fn semantic_versions_order_as_semver_org_says() {
    let order = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1+build.7",
        "1.10.0",
        "2.0.0",
    ];
    for pair in order.windows(2) {
        let (a, b) = (
            Semver::parse(pair[0]).unwrap(),
            Semver::parse(pair[1]).unwrap(),
        );
        assert!(a < b, "{} < {}", pair[0], pair[1]);
    }
    assert_eq!(
        Semver::parse("1.0.0+a")
            .unwrap()
            .cmp(&Semver::parse("1.0.0+b").unwrap()),
        std::cmp::Ordering::Equal,
        "build metadata has no precedence"
    );
    for bad in ["1.0", "01.0.0", "1.0.0-", "1.0.0-a..b", "x.y.z", ""] {
        assert!(Semver::parse(bad).is_none(), "{bad}");
    }
}

#[test]
fn bad_rules_say_where_and_why() {
    for (text, says) in [
        ("", "empty rule"),
        ("plan", "nothing to compare"),
        ("plan = ", "expected a value"),
        ("plan == \"a\"", "expected text in quotes"),
        ("plan in []", "empty list"),
        ("plan in [\"a\"", "expected `,` or `]`"),
        ("(plan = \"a\"", "expected `)`"),
        ("plan = \"a\" plan = \"b\"", "after a whole rule"),
        ("and = 1", "expected an attribute name"),
        ("v >= semver \"1.4\"", "not a semantic version"),
        ("v > \"a\"", "compares with a number"),
        ("e matches \"(\"", "not a pattern"),
        ("plan = \"open", "never closed"),
        ("plan ~ 1", "no meaning"),
    ] {
        let error = Rule::parse(text).unwrap_err();
        assert!(error.message.contains(says), "{text}: {error}");
    }
}

#[test]
fn bounds_refuse_what_is_past_them() {
    let deep = format!(
        "{}a = 1{}",
        "(".repeat(MAX_RULE_DEPTH + 1),
        ")".repeat(MAX_RULE_DEPTH + 1)
    );
    assert!(
        Rule::parse(&deep)
            .unwrap_err()
            .message
            .contains("nests at most")
    );
    let nots = format!("{}a = 1", "not ".repeat(MAX_RULE_DEPTH + 1));
    assert!(
        Rule::parse(&nots)
            .unwrap_err()
            .message
            .contains("nests at most")
    );
    let many = (0..=MAX_RULE_CONDITIONS)
        .map(|i| format!("a{i} = 1"))
        .collect::<Vec<_>>()
        .join(" or ");
    assert!(
        Rule::parse(&many)
            .unwrap_err()
            .message
            .contains("at most 64 comparisons")
    );
    let long = format!("a = \"{}\"", "x".repeat(5000));
    assert!(
        Rule::parse(&long)
            .unwrap_err()
            .message
            .contains("at most 4096 bytes")
    );
    let list = format!(
        "a in [{}]",
        (0..300)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert!(
        Rule::parse(&list)
            .unwrap_err()
            .message
            .contains("at most 256 values")
    );
    let pattern = format!("a matches \"{}\"", "a".repeat(300));
    assert!(
        Rule::parse(&pattern)
            .unwrap_err()
            .message
            .contains("at most 256 bytes")
    );
    let huge = "a matches \"(\\\\w{100}){100}\"";
    assert!(
        Rule::parse(huge).is_err(),
        "a pattern past the memory bound is refused"
    );
    let name = format!("{} = 1", "a".repeat(65));
    assert!(
        Rule::parse(&name)
            .unwrap_err()
            .message
            .contains("attribute name is at most")
    );
}

#[test]
fn hostile_text_never_panics() {
    for text in [
        "\"",
        "\\",
        "((((",
        "not",
        "a in [",
        "a = -",
        "a = 1e999",
        "ü = 1",
        "a = \"\\u12\"",
    ] {
        let _ = Rule::parse(text);
    }
}
