//! OpenFeature's remote evaluation protocol on a real `promptctl serve`: the answer's
//! shape, the spec's errors, the bulk answer's ETag, and resolution that agrees with
//! `/v1/prompts` and `promptctl resolve` for every key.

mod common;

use common::canary_with_cohort;
use common::server::{Server, http};
use serde_json::{Value, json};

const NAME: &str = "support/triage";

fn ofrep(
    server: &Server,
    path: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> (u16, String, Value) {
    let mut all = vec![("Content-Type", "application/json")];
    all.extend_from_slice(headers);
    let (status, head, text) = http(server.port, "POST", path, &all, &body.to_string());
    (
        status,
        head,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

fn context(key: &str) -> Value {
    json!({"context": {"targetingKey": key}})
}

#[test]
fn a_prompt_evaluates_as_a_flag_with_its_payload_reason_and_metadata() {
    let repo = canary_with_cohort();
    let server = Server::start(&repo, &[], &[]);
    let path = format!("/ofrep/v1/evaluate/flags/{NAME}");
    let (status, _, answer) = ofrep(&server, &path, &[], &context("user-1"));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["key"], NAME);
    let version = answer["metadata"]["version"].as_str().unwrap();
    assert_eq!(
        answer["variant"],
        version["sha256:".len().."sha256:".len() + 12]
    );
    assert_eq!(answer["reason"], "SPLIT");
    assert_eq!(answer["metadata"]["environment"], "production");
    assert_eq!(answer["value"]["version"], version);
    assert!(answer["value"]["messages"].is_array());
    assert!(answer["value"]["partials"].is_object());
    assert_eq!(answer["value"]["render"]["undefined"], "strict");
    // The cohort takes the canary, by targeting.
    let cohort = json!({"context": {"targetingKey": "user-1", "cohort": "internal"}});
    let (_, _, answer) = ofrep(&server, &path, &[], &cohort);
    assert_eq!(answer["reason"], "TARGETING_MATCH");
    assert_eq!(answer["metadata"]["track"], "canary");
    // A prompt without a canary is static; a percent-encoded key is the same flag.
    let (_, _, answer) = ofrep(
        &server,
        "/ofrep/v1/evaluate/flags/docs%2Fcount",
        &[],
        &context("u"),
    );
    assert_eq!(
        (answer["key"].as_str(), answer["reason"].as_str()),
        (Some("docs/count"), Some("STATIC"))
    );
}

#[test]
fn every_key_gets_the_same_version_as_on_the_other_routes() {
    let repo = canary_with_cohort();
    let server = Server::start(&repo, &[], &[]);
    let keys: Vec<String> = (0..300).map(|i| format!("key-{i}")).collect();
    repo.write("keys.txt", &keys.join("\n"));
    let cli = repo
        .run(&["resolve", NAME, "--keys-file", "keys.txt", "--json"])
        .expect(0)
        .stdout;
    let cli: Vec<Value> = cli
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut canary = 0;
    for (key, expected) in keys.iter().zip(&cli) {
        let path = format!("/ofrep/v1/evaluate/flags/{NAME}");
        let (_, _, answer) = ofrep(&server, &path, &[], &context(key));
        let (_, resolved) = server.get(&format!("/v1/prompts/{NAME}?key={key}"));
        assert_eq!(answer["metadata"]["version"], resolved["version"], "{key}");
        assert_eq!(answer["metadata"]["bucket"], resolved["bucket"], "{key}");
        assert_eq!(
            answer["metadata"]["version"], expected["version"],
            "{key}: {expected}"
        );
        canary += usize::from(answer["metadata"]["track"] == "canary");
    }
    assert!(
        (15..=45).contains(&canary),
        "{canary} of 300 on a 10% canary"
    );
}

#[test]
fn errors_are_the_protocols() {
    let repo = canary_with_cohort();
    let server = Server::start(&repo, &[], &[]);
    let path = format!("/ofrep/v1/evaluate/flags/{NAME}");
    let cases = [
        (
            "/ofrep/v1/evaluate/flags/no/such",
            context("k").to_string(),
            404,
            "FLAG_NOT_FOUND",
        ),
        (path.as_str(), "{}".to_owned(), 400, "TARGETING_KEY_MISSING"),
        (
            path.as_str(),
            r#"{"context":{"targetingKey":""}}"#.to_owned(),
            400,
            "TARGETING_KEY_MISSING",
        ),
        (
            path.as_str(),
            r#"{"context":[1]}"#.to_owned(),
            400,
            "INVALID_CONTEXT",
        ),
        (
            path.as_str(),
            r#"{"context":{"targetingKey":7}}"#.to_owned(),
            400,
            "INVALID_CONTEXT",
        ),
        (
            path.as_str(),
            r#"{"context":{"targetingKey":"k","variables":3}}"#.to_owned(),
            400,
            "INVALID_CONTEXT",
        ),
        (path.as_str(), "{not json".to_owned(), 400, "PARSE_ERROR"),
    ];
    for (path, body, want, code) in cases {
        let json = [("Content-Type", "application/json")];
        let (status, _, text) = http(server.port, "POST", path, &json, &body);
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert_eq!(
            (status, answer["errorCode"].as_str()),
            (want, Some(code)),
            "{body}: {text}"
        );
    }
    // Variables render the messages, with the strictness of /v1/render.
    let good = json!({"context": {"targetingKey": "k", "variables": {"ticket": "My card was charged twice"}}});
    let (status, _, answer) = ofrep(&server, &path, &[], &good);
    assert_eq!(status, 200, "{answer}");
    let rendered = answer["value"]["rendered"].to_string();
    assert!(rendered.contains("charged twice"), "{rendered}");
    let bad = json!({"context": {"targetingKey": "k", "variables": {"nope": 1}}});
    let (status, _, answer) = ofrep(&server, &path, &[], &bad);
    assert_eq!(
        (status, answer["errorCode"].as_str()),
        (400, Some("INVALID_CONTEXT")),
        "{answer}"
    );
}

#[test]
fn the_bulk_answer_has_every_prompt_and_an_etag_that_holds_until_a_release() {
    let repo = canary_with_cohort();
    let server = Server::start(&repo, &[], &[]);
    let (status, head, answer) = ofrep(&server, "/ofrep/v1/evaluate/flags", &[], &context("u1"));
    assert_eq!(status, 200);
    let flags = answer["flags"].as_array().unwrap();
    assert_eq!(flags.len(), 3, "{answer}");
    let etag = head
        .lines()
        .find_map(|l| l.strip_prefix("etag: "))
        .unwrap()
        .trim()
        .to_owned();
    let (status, _, _) = ofrep(
        &server,
        "/ofrep/v1/evaluate/flags",
        &[("If-None-Match", &etag)],
        &context("u1"),
    );
    assert_eq!(status, 304);
    // Seen: the weak form of the same tag got a 200; If-None-Match compares weakly.
    let weak = format!("W/{etag}");
    for tag in [weak.as_str(), "\"other\", W/\"x\""] {
        let tags = format!("{tag}, {weak}");
        let (status, _, _) = ofrep(
            &server,
            "/ofrep/v1/evaluate/flags",
            &[("If-None-Match", &tags)],
            &context("u1"),
        );
        assert_eq!(status, 304, "{tags}");
    }
    // `*` does not ask an evaluation by POST for a 304.
    let (status, _, _) = ofrep(
        &server,
        "/ofrep/v1/evaluate/flags",
        &[("If-None-Match", "*")],
        &context("u1"),
    );
    assert_eq!(status, 200);
    // Another context is another answer.
    let (status, _, _) = ofrep(
        &server,
        "/ofrep/v1/evaluate/flags",
        &[("If-None-Match", &etag)],
        &context("u2"),
    );
    assert_eq!(status, 200);
    // A release changes it.
    repo.run(&["promote", NAME]).expect(0);
    let started = std::time::Instant::now();
    loop {
        let (status, _, _) = ofrep(
            &server,
            "/ofrep/v1/evaluate/flags",
            &[("If-None-Match", &etag)],
            &context("u1"),
        );
        if status == 200 {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "still 304 after the promote"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn with_a_token_ofrep_needs_it_as_bearer_or_api_key() {
    let repo = canary_with_cohort();
    let server = Server::start(
        &repo,
        &["--token-env", "OFREP_TOKEN"],
        &[("OFREP_TOKEN", "s3cret")],
    );
    let path = format!("/ofrep/v1/evaluate/flags/{NAME}");
    let status = |headers: &[(&str, &str)]| ofrep(&server, &path, headers, &context("k")).0;
    assert_eq!(status(&[]), 401);
    assert_eq!(status(&[("Authorization", "Bearer nope")]), 403);
    assert_eq!(status(&[("Authorization", "Bearer s3cret")]), 200);
    assert_eq!(status(&[("X-API-Key", "s3cret")]), 200);
}

#[test]
fn feedback_takes_a_short_version_and_counts_a_retried_request_once() {
    let repo = canary_with_cohort();
    let server = Server::start(&repo, &[], &[]);
    let (_, list) = server.get("/v1/prompts");
    let canary = list["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == NAME)
        .unwrap()["canary"]
        .as_str()
        .unwrap()
        .to_owned();
    let short = &canary["sha256:".len().."sha256:".len() + 12];
    let report = json!({"name": NAME, "version": short, "outcome": "error", "request_id": "req-1"});
    for _ in 0..3 {
        let (status, body) = server.post("/v1/feedback", &report);
        assert_eq!(status, 202, "{body}");
    }
    let (_, rollouts) = server.get("/v1/rollouts");
    assert_eq!(
        rollouts["rollouts"][0]["window"]["canary"]["reports"], 1,
        "{rollouts}"
    );
    let (_, _, metrics) = http(server.port, "GET", "/metrics", &[], "");
    assert!(
        metrics.contains(&format!("promptctl_feedback_total{{prompt=\"{NAME}\",version=\"{canary}\",track=\"canary\",outcome=\"error\"}} 1")),
        "{metrics}"
    );
    let bad = json!({"name": NAME, "version": "0123456789ab", "outcome": "error"});
    assert_eq!(server.post("/v1/feedback", &bad).0, 422);
}

/// Seen: OFREP took a body of any Content-Type while `/v1/render` answered 415.
#[test]
fn a_body_that_is_not_json_by_its_content_type_is_a_415_on_every_route() {
    let repo = canary_with_cohort();
    let server = Server::start(&repo, &[], &[]);
    let body = context("u1").to_string();
    for path in [
        "/ofrep/v1/evaluate/flags",
        "/ofrep/v1/evaluate/flags/support/triage",
        "/v1/render",
    ] {
        for headers in [vec![("Content-Type", "text/plain")], vec![]] {
            let (status, _, text) = http(server.port, "POST", path, &headers, &body);
            assert_eq!(status, 415, "{path} {headers:?}: {text}");
        }
        let (status, _, _) = http(
            server.port,
            "POST",
            path,
            &[("Content-Type", "application/json; charset=utf-8")],
            &body,
        );
        assert_ne!(status, 415, "{path}");
    }
}

/// Seen: with a canary that could not render a context, OFREP answered variant and track
/// canary with `fallback: false` while `rendered` held the active version's messages, and
/// the canary's error was not counted. It now takes `/v1/render`'s one path.
#[test]
fn a_canary_that_cannot_render_falls_back_alike_on_ofrep_and_render() {
    let repo = common::released("");
    // The canary needs a variable the callers do not send.
    let path = repo.path().join("prompts/support/triage.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace(
            "Triage the ticket (v2).",
            "Triage the ticket (v3) for {{ customer }}.",
        ) + "\n[variables.customer]\ntype = \"string\"\nrequired = true\n",
    )
    .unwrap();
    repo.commit("v3 needs a customer");
    repo.run(&[
        "canary",
        "support/triage",
        "--stage",
        "cohort=internal",
        "--ramp",
        "50,100",
    ])
    .expect(0);
    let server = Server::start(&repo, &[], &[]);
    let context = json!({"context": {"targetingKey": "k1", "cohort": "internal", "variables": {"ticket": "x"}}});
    let (status, _, flag) = ofrep(
        &server,
        &format!("/ofrep/v1/evaluate/flags/{NAME}"),
        &[],
        &context,
    );
    assert_eq!(status, 200, "{flag}");
    let render = json!({"name": NAME, "key": "k1", "attrs": {"cohort": "internal"}, "vars": {"ticket": "x"}});
    let (status, _, text) = http(
        server.port,
        "POST",
        "/v1/render",
        &[("Content-Type", "application/json")],
        &render.to_string(),
    );
    assert_eq!(status, 200, "{text}");
    let rendered: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(rendered["track"], "active", "{rendered}");
    assert_eq!(rendered["fallback"], true, "{rendered}");
    assert_eq!(flag["metadata"]["track"], rendered["track"], "{flag}");
    assert_eq!(flag["metadata"]["fallback"], rendered["fallback"], "{flag}");
    assert_eq!(flag["metadata"]["version"], rendered["version"], "{flag}");
    assert_eq!(flag["value"]["rendered"], rendered["messages"], "{flag}");
    assert!(
        flag["metadata"]["fallback_reason"]
            .as_str()
            .is_some_and(|r| r.contains("customer")),
        "{flag}"
    );
    // Both fallbacks were counted.
    let (_, _, metrics) = http(server.port, "GET", "/metrics", &[], "");
    assert!(
        metrics.contains(&format!(
            "promptctl_canary_errors_total{{prompt=\"{NAME}\"}} 2"
        )),
        "{metrics}"
    );
}

/// OFREP reads its body outside the layer that bounds `/v1/render` (an evaluation is a
/// resolve and is spared it): the body limit, the deadline and the JSON errors still hold
/// on both routes, as on every route that reads a body.
#[test]
fn both_evaluations_bound_the_body_and_refuse_what_is_not_a_context() {
    use std::io::{Read, Write};
    let repo = canary_with_cohort();
    let server = Server::start(&repo, &["--request-timeout", "1s"], &[]);
    let json = [("Content-Type", "application/json")];
    for path in [
        "/ofrep/v1/evaluate/flags",
        "/ofrep/v1/evaluate/flags/support/triage",
    ] {
        let huge = format!(
            r#"{{"context":{{"targetingKey":"k","pad":"{}"}}}}"#,
            "x".repeat(1_100_000)
        );
        let (status, _, text) = http(server.port, "POST", path, &json, &huge);
        assert_eq!(status, 413, "{path}: {text}");
        assert!(text.contains("too_large"), "{text}");
        for (body, code) in [
            ("[1]", "PARSE_ERROR"),
            ("null", "PARSE_ERROR"),
            (r#"{"context":{"targetingKey":"k"}} x"#, "PARSE_ERROR"),
            (r#"{"context":"k"}"#, "INVALID_CONTEXT"),
            (
                r#"{"context":{"targetingKey":"k","cohort":1}}"#,
                "INVALID_CONTEXT",
            ),
            (
                r#"{"context":{"targetingKey":"k"},"context":null}"#,
                "TARGETING_KEY_MISSING",
            ),
        ] {
            let (status, _, text) = http(server.port, "POST", path, &json, body);
            let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            assert_eq!(
                (status, answer["errorCode"].as_str()),
                (400, Some(code)),
                "{path} {body}: {text}"
            );
        }
        // A client that sends half a body and stalls gets a 408 once the deadline passes.
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"context\""
        );
        stream.write_all(head.as_bytes()).unwrap();
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        let response = String::from_utf8_lossy(&response);
        assert!(response.starts_with("HTTP/1.1 408"), "{path}: {response}");
        assert!(response.contains("\"timeout\""), "{response}");
    }
    // The last of a repeated member wins, as in a map: the key evaluated is the second.
    let body = r#"{"context":{"targetingKey":"first","targetingKey":"u-7"}}"#;
    let (status, _, text) = http(
        server.port,
        "POST",
        "/ofrep/v1/evaluate/flags/support/triage",
        &json,
        body,
    );
    let twice: Value = serde_json::from_str(&text).unwrap();
    let (_, _, once) = ofrep(
        &server,
        "/ofrep/v1/evaluate/flags/support/triage",
        &[],
        &context("u-7"),
    );
    assert_eq!((status, twice), (200, once));
}
