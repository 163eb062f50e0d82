//! Targeting rules on a real release: `canary --where` and `--segment` limit a canary to
//! the callers a rule matches; `resolve --attr`, `/v1/prompts?attr.…`, `/v1/render`, OFREP
//! and the Rust client route every key and context alike; a context the rule cannot be
//! evaluated for gets active, is counted in `/metrics`, and is never an error.

mod common;

use common::released;
use common::server::{Server, http};
use serde_json::{Value, json};

const NAME: &str = "support/triage";
const RULE: &str = "plan in [\"enterprise\", \"pro\"] and seats >= 50";

fn resolve_cli(repo: &common::TestRepo, keys: &[String], attrs: &[&str]) -> Vec<Value> {
    repo.write("keys.txt", &keys.join("\n"));
    let mut args = vec!["resolve", NAME, "--keys-file", "keys.txt", "--json"];
    for attr in attrs {
        args.extend(["--attr", attr]);
    }
    repo.run(&args)
        .expect(0)
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_canary_limited_by_a_rule_is_kept_in_the_state_and_routes_only_its_segment() {
    let repo = released("");
    let run = repo.run(&[
        "canary",
        NAME,
        "50%",
        "--where",
        "plan in[\"enterprise\",\"pro\"]   and seats>=50",
    ]);
    let run = run.expect(0);
    assert!(run.stdout.contains("where"), "{}", run.stdout);
    let status: Value =
        serde_json::from_str(&repo.run(&["status", "--json"]).expect(0).stdout).unwrap();
    let triage = status["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == NAME)
        .unwrap();
    assert_eq!(triage["canary_where"], RULE, "the canonical rule: {triage}");
    assert!(
        triage["canary_route"]
            .as_str()
            .unwrap()
            .ends_with(&format!("where {RULE}"))
    );
    let keys: Vec<String> = (0..200).map(|i| format!("user-{i}")).collect();
    let inside = resolve_cli(&repo, &keys, &["plan=enterprise", "seats=120"]);
    let outside = resolve_cli(&repo, &keys, &["plan=free", "seats=120"]);
    let missing = resolve_cli(&repo, &keys, &["plan=pro"]);
    let on_canary = |rows: &[Value]| rows.iter().filter(|r| r["track"] == "canary").count();
    assert!(
        (60..=140).contains(&on_canary(&inside)),
        "{} of 200 at 50%",
        on_canary(&inside)
    );
    assert_eq!(on_canary(&outside), 0, "outside the segment, nobody");
    assert_eq!(
        on_canary(&missing),
        0,
        "a rule that cannot be evaluated gives active"
    );
    assert!(
        missing[0]["fallback"]
            .as_str()
            .unwrap()
            .contains("no attribute `seats`"),
        "{}",
        missing[0]
    );
    assert!(inside[0].get("fallback").is_none());
    // Re-weighting keeps the segment; the state says it in format 3.
    let run = repo.run(&["canary", NAME, "80%"]).expect(0);
    assert!(run.stdout.contains("stays limited to"), "{}", run.stdout);
    let outside = resolve_cli(&repo, &keys, &["plan=free", "seats=500"]);
    assert_eq!(on_canary(&outside), 0);
    let git = git2::Repository::open(repo.path()).unwrap();
    let tip = git
        .find_reference("refs/heads/promptctl/production")
        .unwrap();
    let tree = tip.peel_to_tree().unwrap();
    let blob = tree
        .get_name("state.toml")
        .unwrap()
        .to_object(&git)
        .unwrap();
    let state = String::from_utf8(blob.as_blob().unwrap().content().to_vec()).unwrap();
    assert!(state.starts_with("format = 3\n"), "{state}");
    assert!(
        state.contains(&format!("canary_where = {}", json!(RULE))),
        "{state}"
    );
}

#[test]
fn every_route_resolves_every_key_and_context_alike() {
    let repo = released("");
    repo.run(&["canary", NAME, "50%", "--where", RULE])
        .expect(0);
    let server = Server::start(&repo, &[], &[]);
    let client = promptctl::client::Client::from_repo(repo.path())
        .build()
        .unwrap();
    let keys: Vec<String> = (0..120).map(|i| format!("key-{i}")).collect();
    let contexts: [(&[(&str, &str)], Value); 4] = [
        (
            &[("plan", "enterprise"), ("seats", "50")],
            json!({"plan": "enterprise", "seats": 50}),
        ),
        (
            &[("plan", "pro"), ("seats", "49")],
            json!({"plan": "pro", "seats": 49}),
        ),
        (
            &[("plan", "free"), ("seats", "900")],
            json!({"plan": "free", "seats": 900}),
        ),
        (&[("plan", "pro")], json!({"plan": "pro"})),
    ];
    let mut canaries = [0usize; 4];
    for (c, (pairs, members)) in contexts.iter().enumerate() {
        let attrs: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let attrs: Vec<&str> = attrs.iter().map(String::as_str).collect();
        let cli = resolve_cli(&repo, &keys, &attrs);
        for (key, expected) in keys.iter().zip(&cli) {
            let query: String = pairs
                .iter()
                .map(|(k, v)| format!("&attr.{k}={v}"))
                .collect();
            let (_, resolved) = server.get(&format!("/v1/prompts/{NAME}?key={key}{query}"));
            let mut context = members.clone();
            context["targetingKey"] = json!(key);
            let body = json!({"context": context}).to_string();
            let (_, _, flag) = http(
                server.port,
                "POST",
                &format!("/ofrep/v1/evaluate/flags/{NAME}"),
                &[("Content-Type", "application/json")],
                &body,
            );
            let flag: Value = serde_json::from_str(&flag).unwrap();
            let rendered_attrs: serde_json::Map<String, Value> =
                members.as_object().unwrap().clone();
            let (_, rendered) = server.post(
                "/v1/render",
                &json!({"name": NAME, "key": key, "vars": {"ticket": "t"}, "attrs": rendered_attrs}),
            );
            let native = client.resolve_with(NAME, Some(key), pairs).unwrap();
            let version = expected["version"].as_str().unwrap();
            assert_eq!(resolved["version"], version, "{key} {members}");
            assert_eq!(flag["metadata"]["version"], version, "{key} {members}");
            assert_eq!(rendered["version"], version, "{key} {members}");
            assert_eq!(native.version.to_string(), version, "{key} {members}");
            canaries[c] += usize::from(expected["track"] == "canary");
        }
        let (_, _, flag) = http(
            server.port,
            "POST",
            &format!("/ofrep/v1/evaluate/flags/{NAME}"),
            &[("Content-Type", "application/json")],
            &json!({"context": {"targetingKey": "k", "plan": members["plan"], "seats": members.get("seats")}}).to_string(),
        );
        let flag: Value = serde_json::from_str(&flag).unwrap();
        let reason = flag["reason"].as_str().unwrap();
        match c {
            0 => assert!(["SPLIT"].contains(&reason), "{flag}"),
            1 | 2 => assert_eq!(reason, "TARGETING_MATCH", "{flag}"),
            _ => assert_eq!(reason, "DEFAULT", "{flag}"),
        }
    }
    assert!(canaries[0] > 20, "{canaries:?}");
    assert_eq!(&canaries[1..], [0, 0, 0]);
    let (_, _, metrics) = http(server.port, "GET", "/metrics", &[], "");
    let line = metrics
        .lines()
        .find(|l| l.starts_with("promptctl_targeting_fallbacks_total{prompt=\"support/triage\""))
        .unwrap_or_else(|| panic!("{metrics}"));
    let counted: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    // Each key of the last context, on `/v1/prompts`, OFREP and `/v1/render`, and the reason probe.
    assert_eq!(counted, 3 * 120 + 1, "{line}");
}

#[test]
fn a_named_segment_and_bad_rules() {
    let repo = released("\n[segments]\nbig_customers = 'seats > 100'\n");
    repo.run(&["canary", NAME, "50%", "--segment", "big_customers"])
        .expect(0);
    let keys: Vec<String> = (0..50).map(|i| format!("u{i}")).collect();
    let small = resolve_cli(&repo, &keys, &["seats=10"]);
    assert!(small.iter().all(|r| r["track"] == "active"));
    let unknown = repo
        .run(&["canary", NAME, "60%", "--segment", "nobody"])
        .expect(2);
    assert!(
        unknown.stderr.contains("no segment `nobody`"),
        "{}",
        unknown.stderr
    );
    assert!(
        unknown.stderr.contains("big_customers"),
        "{}",
        unknown.stderr
    );
    let bad = repo
        .run(&["canary", NAME, "60%", "--where", "plan = "])
        .expect(2);
    assert!(bad.stderr.contains("expected a value"), "{}", bad.stderr);
    let server = Server::start(&repo, &[], &[]);
    let long = "x".repeat(2000);
    let (status, answer) = server.get(&format!("/v1/prompts/{NAME}?key=a&attr.plan={long}"));
    assert_eq!(status, 400, "{answer}");
    // OpenFeature contexts may hold structures and lists: not attributes, never a 400.
    let (status, _, body) = http(
        server.port,
        "POST",
        &format!("/ofrep/v1/evaluate/flags/{NAME}"),
        &[("Content-Type", "application/json")],
        &json!({"context": {"targetingKey": "a", "seats": {"nested": 1}, "": [1], "plan": long}})
            .to_string(),
    );
    assert_eq!(status, 200, "{body}");
    let flag: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        flag["reason"], "DEFAULT",
        "`seats` is not an attribute, so the rule cannot be evaluated: {flag}"
    );
    let config = repo.path().join("promptctl.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("{text}\n[segments]\nbad = 'plan ='\n")
            .replace("[segments]\nbig_customers = 'seats > 100'\n\n", ""),
    )
    .unwrap();
    let run = repo.run(&["status"]).expect(2);
    assert!(run.stderr.contains("segments.bad"), "{}", run.stderr);
}
