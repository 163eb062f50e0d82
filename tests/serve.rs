//! `promptctl serve`: the real server on 127.0.0.1, driven with plain HTTP.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::TestRepo;
use common::server::{Server, http, parse_response};
use serde_json::{Value, json};

/// A repository with v1 published (HEAD~1) and v2 committed (HEAD).
fn released() -> TestRepo {
    common::released("")
}

/// A server started with the copy kept in `dir` while its source (a remote that does not
/// exist) cannot answer.
fn from_kept_copy(repo: &TestRepo, dir: &str) -> Server {
    Server::start(
        repo,
        &["--state-dir", dir, "--remote", "/nonexistent/remote.git"],
        &[],
    )
}

fn version_at(repo: &TestRepo, at: &str) -> String {
    version_of(repo, "support/triage", at)
}

fn version_of(repo: &TestRepo, name: &str, at: &str) -> String {
    let run = repo.run(&["show", name, "--at", at, "--json"]).expect(0);
    serde_json::from_str::<Value>(&run.stdout).unwrap()["version"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn every_route_answers_as_the_command_line_resolves() {
    let repo = released();
    repo.run(&["canary", "support/triage", "30%"]).expect(0);
    let server = Server::start(&repo, &[], &[]);
    let (status, list) = server.get("/v1/prompts");
    assert_eq!(status, 200);
    assert_eq!(list["prompts"].as_array().unwrap().len(), 3);
    assert_eq!(list["prompts"][2]["canary_weight"], 30.0);
    for key in ["user-42", "user-7", "a", "b", "c"] {
        let (status, served) = server.get(&format!("/v1/prompts/support/triage?key={key}"));
        assert_eq!(status, 200);
        let cli = repo
            .run(&["resolve", "support/triage", "--key", key, "--json"])
            .expect(0);
        let cli: Value = serde_json::from_str(cli.stdout.trim()).unwrap();
        assert_eq!(served["version"], cli["version"], "{key}");
        assert_eq!(served["track"], cli["track"], "{key}");
        assert_eq!(served["bucket"], cli["bucket"], "{key}");
        assert_eq!(served["messages"][1]["content"], "{{ ticket }}");
    }
    let (status, rendered) = server.post(
        "/v1/render",
        &json!({"name": "support/triage", "key": "user-42", "vars": {"ticket": "hello"}}),
    );
    assert_eq!(status, 200, "{rendered}");
    assert_eq!(rendered["messages"][1]["content"], "hello");
    assert_eq!(rendered["fallback"], false);
    let (status, head, body) = http(server.port, "GET", "/v1/state", &[], "");
    assert_eq!(status, 200);
    let state: Value = serde_json::from_str(&body).unwrap();
    let commit = state["commit"].as_str().unwrap().to_owned();
    assert!(head.contains(&format!("etag: \"{commit}\"")), "{head}");
    let tag = format!("\"{commit}\"");
    let (status, _, _) = http(
        server.port,
        "GET",
        "/v1/state",
        &[("If-None-Match", &tag)],
        "",
    );
    assert_eq!(status, 304);
    // A long poll returns as soon as the state moves.
    let port = server.port;
    let waiting = std::thread::spawn(move || {
        let started = Instant::now();
        let (status, _, body) = http(
            port,
            "GET",
            "/v1/state?wait=20",
            &[("If-None-Match", &tag)],
            "",
        );
        (status, body, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(300));
    repo.run(&["promote"]).expect(0);
    let (status, body, waited) = waiting.join().unwrap();
    assert_eq!(status, 200);
    assert_ne!(
        serde_json::from_str::<Value>(&body).unwrap()["commit"],
        commit.as_str()
    );
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    let version = version_at(&repo, "active");
    let (status, _) = server.post(
        "/v1/feedback",
        &json!({"name": "support/triage", "version": version, "outcome": "success", "latency_ms": 120.0, "cost_usd": 0.001, "score": 0.9}),
    );
    assert_eq!(status, 202);
    let (status, body) = server.post(
        "/v1/feedback",
        &json!({"name": "support/triage", "version": version, "outcome": "maybe"}),
    );
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid_feedback", "{body}");
    let (_, _, metrics) = http(server.port, "GET", "/metrics", &[], "");
    assert!(
        metrics.contains("promptctl_resolves_total{prompt=\"support/triage\""),
        "{metrics}"
    );
    assert!(metrics.contains(&format!("promptctl_feedback_total{{prompt=\"support/triage\",version=\"{version}\",track=\"active\",outcome=\"success\"}} 1")), "{metrics}");
    assert!(metrics.contains("promptctl_renders_total"), "{metrics}");
    let (status, health) = server.get("/healthz");
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
}

#[test]
fn a_promote_is_served_within_one_poll_interval() {
    let repo = released();
    repo.run(&["canary", "support/triage", "10%"]).expect(0);
    let server = Server::start(&repo, &[], &[]);
    let v2 = version_at(&repo, "HEAD");
    repo.run(&["promote"]).expect(0);
    let promoted = Instant::now();
    loop {
        let (_, served) = server.get("/v1/prompts/support/triage?key=anyone-at-all");
        if served["version"] == v2.as_str() && served["track"] == "active" {
            break;
        }
        assert!(
            promoted.elapsed() < Duration::from_secs(3),
            "not served after {:?}",
            promoted.elapsed()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // One poll interval (100 ms) plus loading the new state, with room for a busy machine.
    assert!(
        promoted.elapsed() < Duration::from_millis(1000),
        "{:?}",
        promoted.elapsed()
    );
}

#[test]
fn repoints_under_load_never_fail_a_request_or_mix_versions() {
    let repo = released();
    let server = Server::start(&repo, &[], &[]);
    let (v1, v2) = (version_at(&repo, "HEAD~1"), version_at(&repo, "HEAD"));
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let port = server.port;
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (stop, served, v1, v2) = (Arc::clone(&stop), Arc::clone(&served), v1.clone(), v2.clone());
            std::thread::spawn(move || {
                let mut failures = Vec::new();
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    i += 1;
                    let body = json!({"name": "support/triage", "key": format!("w{w}-{i}"), "vars": {"ticket": "t"}}).to_string();
                    let (status, _, text) = http(port, "POST", "/v1/render", &[("Content-Type", "application/json")], &body);
                    let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    let content = answer["messages"][0]["content"].as_str().unwrap_or("");
                    let consistent = (answer["version"] == v2.as_str() && content.contains("(v2)"))
                        || (answer["version"] == v1.as_str() && !content.contains("(v2)"));
                    if status != 200 || !consistent {
                        failures.push(format!("{status}: {text}"));
                    }
                    served.fetch_add(1, Ordering::SeqCst);
                }
                failures
            })
        })
        .collect();
    for round in 0..20 {
        let version = if round % 2 == 0 { "HEAD" } else { "HEAD~1" };
        repo.run(&["publish", "support/triage", "--version", version])
            .expect(0);
        std::thread::sleep(Duration::from_millis(120));
    }
    stop.store(true, Ordering::SeqCst);
    let failures: Vec<String> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert!(
        failures.is_empty(),
        "{} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );
    assert!(served.load(Ordering::SeqCst) > 80, "sustained load");
}

#[test]
fn an_unreachable_source_keeps_the_last_snapshot_and_a_restart_uses_the_kept_copy() {
    let repo = released();
    let state_dir = tempfile::tempdir().unwrap();
    let dir = state_dir.path().to_str().unwrap().to_owned();
    let server = Server::start(&repo, &["--state-dir", &dir], &[]);
    let (_, before) = server.get("/v1/prompts/support/triage?key=k");
    let hidden = repo.path().with_extension("away");
    std::fs::rename(repo.path(), &hidden).unwrap();
    let started = Instant::now();
    let health = loop {
        let (_, health) = server.get("/healthz");
        if health["status"] == "stale" {
            break health;
        }
        assert!(started.elapsed() < Duration::from_secs(3), "{health}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(health["stale_since"].as_u64().is_some(), "{health}");
    assert!(health["last_error"].as_str().is_some_and(|e| !e.is_empty()));
    let (status, during) = server.get("/v1/prompts/support/triage?key=k");
    assert_eq!((status, &during["version"]), (200, &before["version"]));
    let (_, _, metrics) = http(server.port, "GET", "/metrics", &[], "");
    assert!(metrics.contains("promptctl_snapshot_stale 1"), "{metrics}");
    drop(server);
    // A restart while the source is unreachable (here: a remote that does not exist)
    // serves the copy kept in the state folder.
    std::fs::rename(&hidden, repo.path()).unwrap();
    let server = from_kept_copy(&repo, &dir);
    let (status, kept) = server.get("/v1/prompts/support/triage?key=k");
    assert_eq!((status, &kept["version"]), (200, &before["version"]));
    let (_, health) = server.get("/healthz");
    assert_eq!(health["status"], "stale");
    // Seen: a replica restarted from its kept copy gave `age_seconds: null` and no
    // `promptctl_snapshot_age_seconds`, and clients had no sign the answers were stale.
    assert!(
        health["age_seconds"].as_f64().is_some_and(|age| age > 0.0),
        "{health}"
    );
    let (_, _, metrics) = http(server.port, "GET", "/metrics", &[], "");
    assert!(
        metrics.contains("promptctl_snapshot_age_seconds "),
        "{metrics}"
    );
    let started = Instant::now();
    loop {
        let (_, headers, body) = http(server.port, "GET", "/v1/state", &[], "");
        if headers
            .to_ascii_lowercase()
            .contains("x-promptctl-stale: true")
        {
            assert!(body.starts_with("{\"stale\":true,"), "{body}");
            let _: Value = serde_json::from_str(&body).unwrap();
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "{headers}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn bad_input_gets_a_4xx_with_a_json_error() {
    let repo = released();
    let server = Server::start(&repo, &["--request-timeout", "1s"], &[]);
    let port = server.port;
    let code = |(status, body): (u16, Value)| {
        (
            status,
            body["error"]["code"].as_str().unwrap_or("").to_owned(),
        )
    };
    assert_eq!(
        code(server.get("/v1/prompts/%2e%2e/%2e%2e/etc/passwd")),
        (400, "invalid_name".into())
    );
    assert_eq!(
        code(server.get("/v1/prompts/Support/Triage")),
        (400, "invalid_name".into())
    );
    assert_eq!(
        code(server.get("/v1/prompts/support/nope")),
        (404, "unknown_prompt".into())
    );
    assert_eq!(code(server.get("/v2/whatever")), (404, "not_found".into()));
    // The schema's bounds are the server's: more than 60 s, or negative, is refused.
    for wait in ["soon", "61", "-1", "inf"] {
        assert_eq!(
            code(server.get(&format!("/v1/state?wait={wait}"))),
            (400, "invalid_wait".into()),
            "wait={wait}"
        );
    }
    let (status, _, body) = http(port, "DELETE", "/v1/prompts", &[], "");
    assert_eq!(status, 405, "{body}");
    let render = |body: &str, content_type: &str| {
        let (status, _, text) = http(
            port,
            "POST",
            "/v1/render",
            &[("Content-Type", content_type)],
            body,
        );
        code((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    };
    assert_eq!(
        render("{\"name\": ", "application/json"),
        (400, "invalid_json".into())
    );
    assert_eq!(
        render("{\"name\": \"support/triage\"}", "text/plain"),
        (415, "not_json".into())
    );
    assert_eq!(
        render(
            "{\"name\": \"support/triage\", \"extra\": 1}",
            "application/json"
        )
        .0,
        422
    );
    assert_eq!(
        render(
            "{\"name\": \"support/triage\", \"vars\": {\"ticket\": 42}}",
            "application/json"
        ),
        (422, "render_failed".into())
    );
    assert_eq!(
        render(
            "{\"name\": \"support/triage\", \"vars\": {}}",
            "application/json"
        ),
        (422, "render_failed".into())
    );
    let huge = format!(
        "{{\"name\": \"support/triage\", \"vars\": {{\"ticket\": \"{}\"}}}}",
        "x".repeat(1_100_000)
    );
    assert_eq!(render(&huge, "application/json").0, 413);
    // A client that sends half a body and stalls gets a 408 once the deadline passes.
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"POST /v1/render HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"name\"")
        .unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let (status, _, body) = parse_response(&String::from_utf8_lossy(&response));
    assert_eq!(status, 408, "{body}");
    assert!(body.contains("\"timeout\""));
    let (status, health) = server.get("/healthz");
    assert_eq!(
        (status, health["status"].as_str()),
        (200, Some("ok")),
        "the server survived"
    );
}

#[test]
fn the_feedback_token_is_enforced() {
    let repo = released();
    let server = Server::start(
        &repo,
        &["--token-env", "SERVE_TOKEN"],
        &[("SERVE_TOKEN", "s3cret-token")],
    );
    let body = json!({"name": "docs/count", "version": version_of(&repo, "docs/count", "active"), "outcome": "error"}).to_string();
    let post = |headers: &[(&str, &str)]| {
        let mut all = vec![("Content-Type", "application/json")];
        all.extend_from_slice(headers);
        http(server.port, "POST", "/v1/feedback", &all, &body).0
    };
    assert_eq!(post(&[]), 401);
    assert_eq!(post(&[("Authorization", "Bearer wrong")]), 403);
    assert_eq!(post(&[("Authorization", "Bearer s3cret-token")]), 202);
    assert_eq!(post(&[("X-API-Key", "s3cret-token")]), 202);
    let wrong_version = json!({"name": "support/triage", "version": "sha256:".to_owned() + &"0".repeat(64), "outcome": "success"});
    let (status, _, _) = http(
        server.port,
        "POST",
        "/v1/feedback",
        &[
            ("Content-Type", "application/json"),
            ("Authorization", "Bearer s3cret-token"),
        ],
        &wrong_version.to_string(),
    );
    assert_eq!(status, 422);
    let missing = repo
        .run(&["serve", "--token-env", "NOT_SET_ANYWHERE"])
        .expect(2);
    assert!(
        missing.stderr.contains("NOT_SET_ANYWHERE"),
        "{}",
        missing.stderr
    );
}

/// Every route and method of openapi.json answers with a status the document lists.
#[test]
fn the_openapi_document_describes_the_running_server() {
    let repo = released();
    let server = Server::start(&repo, &[], &[]);
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json"),
    )
    .unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let version = version_of(&repo, "docs/count", "active");
    let mut checked = 0;
    for (path, methods) in doc["paths"].as_object().unwrap() {
        for (method, operation) in methods.as_object().unwrap() {
            let concrete = path
                .replace("{name}", "docs/count")
                .replace("{key}", "docs/count");
            let body = match concrete.as_str() {
                "/v1/render" => json!({"name": "docs/count", "vars": {"n": 2}}).to_string(),
                p if p.starts_with("/ofrep/") => {
                    json!({"context": {"targetingKey": "user-1"}}).to_string()
                }
                "/v1/feedback" => {
                    json!({"name": "docs/count", "version": version, "outcome": "success"})
                        .to_string()
                }
                _ => String::new(),
            };
            let (status, _, answer) = http(
                server.port,
                &method.to_uppercase(),
                &concrete,
                &[("Content-Type", "application/json")],
                &body,
            );
            let documented = operation["responses"].as_object().unwrap();
            assert!(
                documented.contains_key(&status.to_string()),
                "{method} {path} answered {status}: {answer}"
            );
            assert!(
                (200..300).contains(&status),
                "{method} {path}: {status} {answer}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 12);
}

/// The front answers `GET /v1/prompts/{name}` for a well-formed name before the router;
/// a name with an escape in it goes to the router, which decodes it to the same name. Both
/// give the same answer, the same headers but the date and the same bytes: every key of a canary, a name that is
/// not released, attributes, and with a token, refused and accepted.
#[test]
fn the_front_answers_a_resolve_as_the_router_does() {
    let repo = released();
    repo.run(&["canary", "support/triage", "40%"]).expect(0);
    let answer = |port: u16, path: &str, headers: &[(&str, &str)]| {
        comparable(http(port, "GET", path, headers, ""))
    };
    let server = Server::start(&repo, &[], &[]);
    let mut statuses = std::collections::BTreeSet::new();
    for key in (0..20).map(|k| format!("user-{k}")) {
        for (plain, escaped) in [
            ("support/triage", "support/tri%61ge"),
            ("support/nope", "support/n%6Fpe"),
        ] {
            for query in [format!("key={key}"), format!("key={key}&attr.plan=pro")] {
                let front = answer(server.port, &format!("/v1/prompts/{plain}?{query}"), &[]);
                let routed = answer(server.port, &format!("/v1/prompts/{escaped}?{query}"), &[]);
                assert_eq!(front, routed, "{plain}?{query}");
                statuses.insert(front.0);
            }
        }
    }
    assert_eq!(
        statuses,
        [200, 404].into(),
        "both an answer and a miss were compared"
    );
    let guarded = Server::start(
        &repo,
        &["--token-env", "SERVE_TOKEN"],
        &[("SERVE_TOKEN", "s3cret-token")],
    );
    for headers in [&[][..], &[("Authorization", "Bearer s3cret-token")][..]] {
        let front = answer(guarded.port, "/v1/prompts/support/triage?key=k", headers);
        let routed = answer(guarded.port, "/v1/prompts/support/tri%61ge?key=k", headers);
        assert_eq!(front, routed);
        assert_eq!(front.0, if headers.is_empty() { 401 } else { 200 });
    }
}

/// An answer as two routes must agree on it: its status, its headers but the date (their
/// order is hyper's or axum's to choose) and its body.
type Comparable = (u16, std::collections::BTreeSet<String>, String);

fn comparable((status, head, body): (u16, String, String)) -> Comparable {
    let head = head
        .lines()
        .filter(|line| !line.to_ascii_lowercase().starts_with("date:"))
        .map(str::to_owned)
        .collect();
    (status, head, body)
}

/// The front answers an OFREP evaluation of a well-formed key itself; the same key
/// escaped (`tri%61ge`) goes through the router. Both give the same answer for every body:
/// an evaluation, a miss, a rendering, a bad body, a wrong type, one over the limit, and
/// with a token or without.
#[test]
fn the_front_answers_an_evaluation_as_the_router_does() {
    let repo = released();
    repo.run(&["canary", "support/triage", "40%"]).expect(0);
    let json = [("Content-Type", "application/json")];
    let answer = |port: u16, key: &str, headers: &[(&str, &str)], body: &str| {
        let path = format!("/ofrep/v1/evaluate/flags/{key}");
        comparable(http(port, "POST", &path, headers, body))
    };
    let server = Server::start(&repo, &[], &[]);
    let mut bodies: Vec<(String, &[(&str, &str)])> = Vec::new();
    for key in (0..10).map(|k| format!("user-{k}")) {
        bodies.push((
            format!(r#"{{"context":{{"targetingKey":"{key}"}}}}"#),
            &json,
        ));
        bodies.push((
            format!(r#"{{"context":{{"targetingKey":"{key}","plan":"pro","variables":{{"ticket":"t"}}}}}}"#),
            &json,
        ));
    }
    bodies.push((r#"{"context":"#.into(), &json));
    bodies.push((r#"{"context":{}}"#.into(), &json));
    bodies.push((r#"{"context":{"targetingKey":"k"}}"#.into(), &[]));
    let mut statuses = std::collections::BTreeSet::new();
    for (body, headers) in &bodies {
        for (plain, escaped) in [
            ("support/triage", "support/tri%61ge"),
            ("support/nope", "support/n%6Fpe"),
        ] {
            let front = answer(server.port, plain, headers, body);
            let routed = answer(server.port, escaped, headers, body);
            assert_eq!(front, routed, "{plain} with {:.80}", body);
            statuses.insert(front.0);
        }
    }
    // A body declared over the limit is refused before it is read: sent as headers alone,
    // so that the refusal is read before the server closes (a body the server never reads
    // would reset the connection).
    let declared_too_large = |key: &str| {
        let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        let request = format!(
            "POST /ofrep/v1/evaluate/flags/{key} HTTP/1.1\r\nHost: localhost\r\n\
             Content-Type: application/json\r\nContent-Length: 1100000\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        comparable(parse_response(&String::from_utf8_lossy(&response)))
    };
    let front = declared_too_large("support/triage");
    assert_eq!(front, declared_too_large("support/tri%61ge"));
    statuses.insert(front.0);
    assert_eq!(
        statuses,
        [200, 400, 404, 413, 415].into(),
        "answers, misses and each refusal were compared"
    );
    let guarded = Server::start(
        &repo,
        &["--token-env", "SERVE_TOKEN"],
        &[("SERVE_TOKEN", "s3cret-token")],
    );
    let body = r#"{"context":{"targetingKey":"k"}}"#;
    let with_token = [json[0], ("Authorization", "Bearer s3cret-token")];
    for headers in [&json[..], &with_token[..]] {
        let front = answer(guarded.port, "support/triage", headers, body);
        let routed = answer(guarded.port, "support/tri%61ge", headers, body);
        assert_eq!(front, routed);
        assert_eq!(front.0, if headers.len() == 1 { 401 } else { 200 });
    }
}

/// The other way round: every route the router registers is in openapi.json, or (the
/// dashboard's login form) in docs/serve.md's table of routes. Two routes left over from a
/// measurement (`POST /x1/…`, `/x2/…`) were served undocumented and untested.
#[test]
fn every_route_the_router_serves_is_documented() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(root.join("src/serve/routes.rs")).unwrap();
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("openapi.json")).unwrap()).unwrap();
    let serve_md = std::fs::read_to_string(root.join("docs/serve.md")).unwrap();
    let route = regex::Regex::new(
        r#"\.route\(\s*"([^"]+)",\s*(?:axum::routing::)?(?:super::\w+::)?(get|post|put|patch|delete)\("#,
    )
    .unwrap();
    let mut seen = 0;
    for found in route.captures_iter(&source) {
        let path = found[1].replace("{*", "{");
        let method = &found[2];
        let in_openapi = doc["paths"][&path][method].is_object();
        let in_table = serve_md.contains(&format!("| `{} {path}` |", method.to_uppercase()));
        assert!(
            in_openapi || in_table,
            "{method} {path} is served but neither openapi.json nor docs/serve.md lists it"
        );
        seen += 1;
    }
    assert_eq!(seen, 13, "every `.route(` of the router was read");
}

#[test]
fn the_client_library_resolves_in_process_and_follows_the_branch() {
    use promptctl::client::Client;
    let repo = released();
    repo.run(&["canary", "support/triage", "40%"]).expect(0);
    let client = Client::from_repo(repo.path())
        .refresh_every(Duration::from_millis(100))
        .build()
        .unwrap();
    for key in ["user-42", "user-7", "k1", "k2"] {
        let hit = client.resolve("support/triage", Some(key)).unwrap();
        let cli = repo
            .run(&["resolve", "support/triage", "--key", key, "--json"])
            .expect(0);
        let cli: Value = serde_json::from_str(cli.stdout.trim()).unwrap();
        assert_eq!(hit.version.to_string(), cli["version"].as_str().unwrap());
        assert_eq!(u64::from(hit.bucket), cli["bucket"].as_u64().unwrap());
    }
    let vars = [("ticket".to_string(), json!("hello"))].into();
    let rendered = client
        .render("support/triage", Some("user-42"), &vars)
        .unwrap();
    assert_eq!(rendered.messages[1].content, "hello");
    assert!(client.resolve("docs/nope", None).is_err());
    repo.run(&["promote"]).expect(0);
    let v2 = version_at(&repo, "HEAD");
    let started = Instant::now();
    while client
        .resolve("support/triage", Some("anyone"))
        .unwrap()
        .version
        .to_string()
        != v2
    {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the client did not follow the promote"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_client_keeps_serving_when_the_server_goes_away_and_starts_from_its_copy() {
    use promptctl::client::Client;
    let repo = released();
    let server = Server::start(&repo, &[], &[]);
    let cache = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{}", server.port);
    let client = Client::from_server(&url)
        .cache_dir(cache.path())
        .refresh_every(Duration::from_millis(100))
        .build()
        .unwrap();
    let before = client.resolve("support/triage", Some("k")).unwrap();
    drop(server);
    // The next refresh fails; until then and after, the last good state serves.
    let started = Instant::now();
    while client.last_error().is_none() {
        assert_eq!(client.resolve("support/triage", Some("k")).unwrap(), before);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no refresh failure noticed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(client.resolve("support/triage", Some("k")).unwrap(), before);
    assert!(
        client
            .last_error()
            .is_some_and(|e| e.contains("cannot reach")),
        "{:?}",
        client.last_error()
    );
    // A new client with the server still down starts from the copy it kept.
    let cold = Client::from_server(&url)
        .cache_dir(cache.path())
        .build()
        .unwrap();
    assert_eq!(cold.resolve("support/triage", Some("k")).unwrap(), before);
    assert!(
        Client::from_server(&url).build().is_err(),
        "no copy, no server: an error"
    );
}

#[test]
fn a_server_can_follow_a_remote_release_branch() {
    let repo = released();
    let bare = repo.add_bare_remote();
    repo.run(&["push"]).expect(0);
    let state_dir = tempfile::tempdir().unwrap();
    let remote = bare.path().to_str().unwrap().to_owned();
    let dir = state_dir.path().to_str().unwrap().to_owned();
    let server = Server::start(&repo, &["--remote", &remote, "--state-dir", &dir], &[]);
    let v1 = version_at(&repo, "HEAD~1");
    let (_, served) = server.get("/v1/prompts/support/triage?key=k");
    assert_eq!(served["version"], v1.as_str());
    assert!(state_dir.path().join("mirror.git").is_dir());
    repo.run(&["publish", "support/triage", "--push"]).expect(0);
    let v2 = version_at(&repo, "HEAD");
    let started = Instant::now();
    while server.get("/v1/prompts/support/triage?key=k").1["version"] != v2.as_str() {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the pushed release was not served"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The server's log lines are `tracing` events: one JSON object per line with
/// `--log-format json`, so a log collector can read them.
#[test]
fn log_lines_are_json_objects_with_log_format_json() {
    use std::io::BufRead;
    let repo = common::released("");
    let port = common::server::free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = repo
        .command(
            repo.path(),
            &["serve", "--addr", &addr, "--log-format", "json"],
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut next_event = || {
        let line = lines.next().unwrap().unwrap();
        serde_json::from_str::<serde_json::Value>(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    };
    let swapped = next_event();
    let event = next_event();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(swapped["prompts"], 3, "{swapped}");
    // Seen: `reused` counted versions beside a count of prompts (10,002 of 10,000). It is
    // now said beside the versions it counts.
    assert_eq!(swapped["versions"], 3, "{swapped}");
    assert_eq!(swapped["reused"], 0, "{swapped}");
    assert!(swapped["elapsed_ms"].as_f64().is_some(), "{swapped}");
    assert!(
        swapped["message"]
            .as_str()
            .unwrap()
            .starts_with("snapshot swapped: 3 prompts at "),
        "{swapped}"
    );
    assert_eq!(event["level"], "INFO", "{event}");
    assert_eq!(
        event["message"],
        format!("listening on http://{addr}"),
        "{event}"
    );
    assert_eq!(event["env"], "production", "{event}");
}

/// `--workers` sets the threads that answer requests, from 1; 0 is refused before anything
/// starts.
#[test]
fn workers_are_one_or_more() {
    let repo = common::released("");
    let refused = repo.run(&["serve", "--workers", "0"]).expect(2);
    assert!(refused.stderr.contains("--workers"), "{}", refused.stderr);
    let server = Server::start(&repo, &["--workers", "1"], &[]);
    let (status, _) = server.get("/v1/prompts/support/triage?key=user-1");
    assert_eq!(status, 200);
}

/// On SIGTERM (what a service manager sends), the server stops taking connections, answers
/// a long poll in flight at once instead of holding it for its full wait, and exits 0 well
/// within its grace period. Before, SIGTERM killed it with the poll unanswered.
#[test]
fn sigterm_answers_long_polls_and_exits_cleanly() {
    let repo = common::released("");
    let mut server = Server::start(&repo, &[], &[]);
    let (_, state) = server.get("/v1/state");
    let commit = state["commit"].as_str().unwrap().to_owned();
    let port = server.port;
    let poll = std::thread::spawn(move || {
        let started = Instant::now();
        let etag = format!("\"{commit}\"");
        let (status, _, _) = http(
            port,
            "GET",
            "/v1/state?wait=60",
            &[("If-None-Match", etag.as_str())],
            "",
        );
        (status, started.elapsed())
    });
    // The poll is waiting once the server has had it for a moment; nothing to await here.
    std::thread::sleep(Duration::from_millis(300));
    let stopped_at = Instant::now();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let (status, waited) = poll.join().unwrap();
    assert_eq!(status, 304, "the long poll is answered, not dropped");
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    let exit = loop {
        if let Some(exit) = server.child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            stopped_at.elapsed() < Duration::from_secs(8),
            "still running"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit:?}");
}

/// A published prompt whose render asks for a list of 100,000,000 items held a worker for
/// 50 s and 1 GB. Its renders, several at once, are refused as over the output limit,
/// and `/healthz` answers all the while.
#[test]
fn an_allocation_bomb_in_a_release_is_refused_and_the_server_keeps_answering() {
    let repo = common::sample_repo();
    repo.write(
        "prompts/bomb.toml",
        "[[messages]]\nrole = \"user\"\ncontent = \"{{ dict(a=1)|items|list * 100000000 }}\"\n",
    );
    repo.commit("a prompt that prints a huge list");
    // `check` renders every prompt with its defaults and sample values and flags it, and a
    // release refuses what does not render so.
    let check = repo.run(&["check"]).expect(1);
    assert!(
        check.stdout.contains("longer than 4 MiB"),
        "{}",
        check.stdout
    );
    let publish = repo.run(&["publish", "bomb"]).expect(2);
    assert!(
        publish.stderr.contains("longer than 4 MiB"),
        "{}",
        publish.stderr
    );
    // A bomb that only a request's values set off is released, so a server must still
    // hold against it.
    repo.write(
        "prompts/bomb.toml",
        "[variables.n]\ntype = \"integer\"\ndefault = 1\n\n[[messages]]\nrole = \"user\"\ncontent = \"{{ dict(a=1)|items|list * n }}\"\n",
    );
    repo.commit("a prompt that prints a list as long as asked");
    repo.run(&["publish"]).expect(0);
    let server = Server::start(&repo, &[], &[]);
    let port = server.port;
    let renders: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                http(
                    port,
                    "POST",
                    "/v1/render",
                    &[("Content-Type", "application/json")],
                    r#"{"name": "bomb", "vars": {"n": 100000000}}"#,
                )
            })
        })
        .collect();
    for _ in 0..20 {
        assert_eq!(server.get("/healthz").0, 200);
    }
    for render in renders {
        let (status, _, body) = render.join().unwrap();
        assert_eq!(status, 422, "{body}");
        assert!(body.contains("longer than 4 MiB"), "{body}");
    }
}

/// Slowloris: 200 connections that send half a request held the server's connections for
/// good. Past `--max-connections` a connection is answered 503 with Retry-After at once;
/// the slow ones are closed after `--header-timeout`; and the server then serves again.
#[test]
fn slow_and_idle_connections_are_bounded_and_refused_gracefully() {
    let repo = released();
    repo.run(&["publish"]).expect(0);
    let server = Server::start(
        &repo,
        &[
            "--max-connections",
            "40",
            "--max-connections-per-client",
            "40",
            "--header-timeout",
            "1s",
        ],
        &[],
    );
    // One connection slot is taken by nothing: every attacker after the 40th is refused.
    let attackers: Vec<TcpStream> = (0..200)
        .map(|_| {
            let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
            let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n");
            stream
        })
        .collect();
    let mut refused = 0;
    let mut closed = 0;
    for mut stream in attackers {
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut answer = String::new();
        // Each connection ends: refused with a 503 at once, or closed at the header
        // deadline with nothing (or hyper's 408) written.
        let ended = stream.read_to_string(&mut answer);
        assert!(
            ended.is_ok(),
            "a connection was still open after 20 s: {ended:?}"
        );
        if answer.starts_with("HTTP/1.1 503") {
            assert!(answer.contains("retry-after: 1"), "{answer}");
            assert!(answer.contains(r#""code":"busy""#), "{answer}");
            refused += 1;
        } else {
            assert!(
                answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
                "{answer}"
            );
            closed += 1;
        }
    }
    // At least the first 40 were taken and then closed at their deadline; the others were
    // refused, unless a slot had freed by the time they connected.
    assert!(closed >= 40, "{closed} closed, {refused} refused");
    assert!(refused >= 100, "{closed} closed, {refused} refused");
    let (status, body) = server.get("/healthz");
    assert_eq!(status, 200, "{body}");
}

/// A replica restarted while its remote accepts connections and never answers did not
/// listen until the fetch gave up. With a kept copy it now listens at once, serves the
/// copy and says it is stale, long before the network deadline (30 s here).
#[test]
fn a_restart_against_a_silent_remote_listens_at_once_and_serves_the_kept_copy() {
    let repo = released();
    let bare = repo.add_bare_remote();
    repo.run(&["push"]).expect(0);
    let state_dir = tempfile::tempdir().unwrap();
    let dir = state_dir.path().to_str().unwrap().to_owned();
    let remote = bare.path().to_str().unwrap().to_owned();
    let server = Server::start(&repo, &["--remote", &remote, "--state-dir", &dir], &[]);
    let (_, before) = server.get("/v1/prompts/support/triage?key=k");
    assert_eq!(server.get("/healthz").1["status"], "ok");
    drop(server);
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/prompts.git", silent.local_addr().unwrap());
    let held = std::thread::spawn(move || {
        // Accept and hold every connection, answering nothing.
        let mut open = Vec::new();
        for stream in silent.incoming().take(4) {
            open.push(stream);
        }
        std::thread::sleep(Duration::from_secs(40));
        drop(open);
    });
    let started = Instant::now();
    let server = Server::start(
        &repo,
        &["--remote", &url, "--state-dir", &dir],
        &[("PROMPTCTL_GIT_TIMEOUT", "30")],
    );
    assert!(started.elapsed() < Duration::from_secs(15));
    let (status, kept) = server.get("/v1/prompts/support/triage?key=k");
    assert_eq!((status, &kept["version"]), (200, &before["version"]));
    let (_, health) = server.get("/healthz");
    assert_eq!(health["status"], "stale", "{health}");
    assert!(
        health["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("not yet confirmed")),
        "{health}"
    );
    drop(server);
    drop(held);
}

/// Puts a canary of `support/triage` whose template does not compile into the release
/// branch, as an older promptctl or a hand edit could: the actions now refuse one.
fn release_a_broken_canary(repo: &TestRepo) -> String {
    use promptctl::prompt::Version;
    use promptctl::store::{Canary, Record, RecordedAction, RecordedPrompt};
    let project = promptctl::project::Project::discover(repo.path()).unwrap();
    let store = project.store("production").unwrap();
    let release = store.read().unwrap();
    let name = promptctl::prompt::PromptName::parse("support/triage").unwrap();
    let active = release.state.prompts[&name].active;
    let tree = store.tree(release.commit.unwrap()).unwrap();
    let blob = store
        .repo()
        .find_blob(tree.object_id(&active).unwrap())
        .unwrap();
    let text = String::from_utf8(blob.content().to_vec()).unwrap();
    let broken = text.replacen("{{ ticket }}", "{{ ticket ", 1);
    assert_ne!(broken, text, "the sample prompt has a `{{{{ ticket }}}}`");
    let version = Version::of_canonical(broken.as_bytes());
    let mut state = release.state.clone();
    state.prompts.get_mut(&name).unwrap().canary = Some(Canary {
        version,
        weight: Some("50%".parse().unwrap()),
        cohorts: Vec::new(),
        segment: None,
    });
    let record = Record {
        action: RecordedAction::Known(promptctl::store::ActionKind::Canary),
        summary: "a broken canary, by hand".into(),
        prompts: vec![RecordedPrompt {
            name: name.clone(),
            version,
        }],
        weight: None,
        source: None,
        reason: None,
    };
    let author = git2::Signature::now("hand", "hand@example.com").unwrap();
    store
        .write(
            release.commit,
            &state,
            &[(version, broken.as_bytes())],
            &record,
            &author,
        )
        .unwrap();
    active.to_string()
}

/// A canary that did not compile stopped a fresh server from starting, and a running one
/// went stale for every prompt. Now only that prompt is touched: its keys get the active
/// version (counted as canary errors), /healthz, the metrics and the dashboard name the
/// problem, and every other prompt, and later releases, are served.
#[test]
fn a_canary_that_cannot_compile_only_falls_back_for_its_own_prompt() {
    let repo = released();
    let running = Server::start(&repo, &[], &[]);
    let active = release_a_broken_canary(&repo);
    let server = Server::start(&repo, &[], &[]);
    for server in [&running, &server] {
        let started = Instant::now();
        let health = loop {
            let (_, health) = server.get("/healthz");
            if health["problems"]["support/triage"].is_string() {
                break health;
            }
            assert!(started.elapsed() < Duration::from_secs(5), "{health}");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(health["status"], "ok", "{health}");
        let problem = health["problems"]["support/triage"].as_str().unwrap();
        assert!(problem.contains("the canary"), "{problem}");
        assert!(
            problem.contains("objects/"),
            "names the version's object: {problem}"
        );
        for key in 0..40 {
            let (status, answer) = server.get(&format!("/v1/prompts/support/triage?key=k{key}"));
            assert_eq!(status, 200, "{answer}");
            assert_eq!(answer["version"], active.as_str(), "{answer}");
            assert_eq!(answer["track"], "active", "{answer}");
        }
        let (status, reply) = server.get("/v1/prompts/support/reply?key=k");
        assert_eq!(status, 200, "{reply}");
        let (_, _, metrics) = http(server.port, "GET", "/metrics", &[], "");
        assert!(
            metrics.contains("promptctl_prompt_unservable{prompt=\"support/triage\"} 1"),
            "{metrics}"
        );
        assert!(
            metrics.contains("promptctl_canary_errors_total{prompt=\"support/triage\"}"),
            "{metrics}"
        );
        let (_, _, page) = http(server.port, "GET", "/", &[], "");
        assert!(page.contains("<h2>Problems</h2>"), "{page}");
    }
    // The in-process client builds too, and answers the same.
    let client = promptctl::client::Client::from_repo(repo.path())
        .build()
        .expect("a client builds on a release with a broken canary");
    for key in ["k1", "k2", "k3"] {
        let hit = client.resolve("support/triage", Some(key)).unwrap();
        assert_eq!(hit.version.to_string(), active);
    }
    // A later release is served by the running server, and clears the problem.
    repo.run(&["publish"]).expect(0);
    let started = Instant::now();
    loop {
        let (_, health) = running.get("/healthz");
        if health["problems"].as_object().is_some_and(|p| p.is_empty()) {
            assert_eq!(health["status"], "ok", "{health}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "{health}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A client whose cache folder cannot be written showed the error at build, and the
/// refresh loop cleared it 500 ms later: the service ran without a fallback copy and never
/// learnt it. The error now stays until a copy is written.
#[test]
fn a_client_that_cannot_keep_its_copy_keeps_saying_so() {
    use promptctl::client::Client;
    let repo = released();
    let folder = tempfile::tempdir().unwrap();
    let blocker = folder.path().join("not-a-folder");
    std::fs::write(&blocker, "a file where the cache folder should be").unwrap();
    let client = Client::from_repo(repo.path())
        .cache_dir(blocker.join("cache"))
        .refresh_every(Duration::from_millis(20))
        .build()
        .unwrap();
    assert!(client.cache_error().is_some());
    // Many refreshes later (each one finds nothing new), it is still said.
    std::thread::sleep(Duration::from_millis(400));
    let error = client
        .last_error()
        .expect("the missing copy is still reported");
    assert!(error.contains("cannot keep a copy"), "{error}");
    // Once the folder can be written and a new state comes, the copy is kept and the
    // error goes.
    std::fs::remove_file(&blocker).unwrap();
    repo.run(&["canary", "support/triage", "10%"]).expect(0);
    let started = Instant::now();
    while client.cache_error().is_some() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the copy was never kept"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(blocker.join("cache").is_dir());
}

/// A render meant for the canary that fell back said only `"fallback": true`, and the
/// server logged nothing. The answer now names the canary and why it could not render,
/// the server logs one line per distinct failure (not one per request), and the
/// dashboard shows the canary's error.
#[test]
fn a_fallback_says_which_canary_failed_and_why_once() {
    let repo = common::sample_repo();
    repo.commit("v1");
    repo.run(&["publish"]).expect(0);
    let path = repo.path().join("prompts/support/triage.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text
        .replacen(
            "[[messages]]",
            "[variables.customer]\ntype = \"string\"\nrequired = true\n\n[[messages]]",
            1,
        )
        .replacen(
            "Triage the ticket.",
            "Triage the ticket of {{ customer }}.",
            1,
        );
    std::fs::write(&path, text).unwrap();
    repo.commit("v2 needs a customer");
    repo.run(&["canary", "support/triage", "50%"]).expect(0);
    let port = common::server::free_port();
    let addr = format!("127.0.0.1:{port}");
    let log = repo.path().join("serve.log");
    let mut child = repo
        .command(repo.path(), &["serve", "--addr", &addr])
        .env_remove("PROMPTCTL_NOW")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while http(port, "GET", "/healthz", &[], "").0 != 200 {
        assert!(started.elapsed() < Duration::from_secs(15));
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut fell_back = 0;
    for key in 0..40 {
        let body = json!({"name": "support/triage", "key": format!("k{key}"),
                          "vars": {"ticket": "help"}});
        let (status, _, text) = http(
            port,
            "POST",
            "/v1/render",
            &[("Content-Type", "application/json")],
            &body.to_string(),
        );
        assert_eq!(status, 200, "{text}");
        let answer: Value = serde_json::from_str(&text).unwrap();
        if answer["fallback"] == true {
            fell_back += 1;
            assert!(
                answer["canary"]
                    .as_str()
                    .is_some_and(|c| c.starts_with("sha256:")),
                "{answer}"
            );
            let reason = answer["fallback_reason"].as_str().unwrap();
            assert!(reason.contains("missing variable `customer`"), "{reason}");
        } else {
            assert!(answer.get("fallback_reason").is_none(), "{answer}");
        }
    }
    assert!(
        fell_back > 5,
        "about half the keys are on the canary: {fell_back}"
    );
    let (_, _, page) = http(port, "GET", "/", &[], "");
    assert!(page.contains("Canary error: "), "{page}");
    assert!(
        page.contains(&format!("{fell_back} requests fell back")),
        "{page}"
    );
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        log.matches("the canary could not render").count(),
        1,
        "one line for {fell_back} fallbacks:\n{log}"
    );
}

/// With `--token-env`, `/` and `/v1/state` carried every prompt's text to anyone. They need
/// the token now: as a bearer token, or for a browser through the login form's cookie,
/// which opens reads but is no bearer token for writes. The client sends its token.
#[test]
fn a_token_guards_every_prompts_text_and_the_dashboard_has_a_login() {
    let repo = released();
    let token = "s3cret-token";
    let server = Server::start(
        &repo,
        &["--token-env", "SERVE_TOKEN"],
        &[("SERVE_TOKEN", token)],
    );
    let port = server.port;
    let bearer = format!("Bearer {token}");
    assert_eq!(http(port, "GET", "/v1/state", &[], "").0, 401);
    assert_eq!(
        http(port, "GET", "/v1/state", &[("Authorization", &bearer)], "").0,
        200
    );
    let (status, _, page) = http(port, "GET", "/", &[], "");
    assert_eq!(status, 401);
    assert!(
        page.contains("<form method=\"post\" action=\"/login\">"),
        "{page}"
    );
    assert!(
        !page.contains("Prompts") && !page.contains("triage"),
        "{page}"
    );
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    assert_eq!(http(port, "POST", "/login", &form, "token=wrong").0, 401);
    let (status, headers, _) = http(port, "POST", "/login", &form, &format!("token={token}"));
    assert_eq!(status, 303);
    let cookie = headers
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie:")
                .then(|| l[11..].trim().to_owned())
        })
        .unwrap_or_else(|| panic!("{headers}"));
    assert!(
        cookie.to_ascii_lowercase().contains("httponly") && !cookie.contains(token),
        "{cookie}"
    );
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let (status, _, page) = http(port, "GET", "/", &[("Cookie", &cookie)], "");
    assert_eq!(status, 200);
    assert!(page.contains("<h2>Prompts</h2>"), "{page}");
    assert_eq!(
        http(port, "GET", "/v1/state", &[("Cookie", &cookie)], "").0,
        200
    );
    // The cookie opens reads, not writes.
    let feedback = json!({"name": "docs/count", "version": version_of(&repo, "docs/count", "active"), "outcome": "success"}).to_string();
    let (status, _, _) = http(
        port,
        "POST",
        "/v1/feedback",
        &[("Content-Type", "application/json"), ("Cookie", &cookie)],
        &feedback,
    );
    assert_eq!(status, 401);
    // Seen: `/v1/prompts`, `/v1/prompts/{name}` and `/v1/render` handed out the texts
    // without the token. Every route that carries a text needs it, with one rule: none is
    // 401, a wrong one 403, the bearer token or `X-API-Key` opens it; health and metrics
    // stay open.
    let json_body = [("Content-Type", "application/json")];
    let routes: [(&str, &str, &str); 6] = [
        ("GET", "/v1/prompts", ""),
        ("GET", "/v1/prompts/support/triage?key=k", ""),
        (
            "POST",
            "/v1/render",
            r#"{"name": "support/triage", "key": "k", "vars": {"ticket": "x"}}"#,
        ),
        (
            "POST",
            "/ofrep/v1/evaluate/flags/support/triage",
            r#"{"context": {"targetingKey": "k", "ticket": "x"}}"#,
        ),
        (
            "POST",
            "/ofrep/v1/evaluate/flags",
            r#"{"context": {"targetingKey": "k"}}"#,
        ),
        ("GET", "/v1/rollouts", ""),
    ];
    for (method, path, body) in routes {
        let with = |extra: &[(&str, &str)]| {
            let mut headers = json_body.to_vec();
            headers.extend_from_slice(extra);
            http(port, method, path, &headers, body).0
        };
        assert_eq!(with(&[]), 401, "{method} {path}");
        assert_eq!(
            with(&[("Authorization", "Bearer nope")]),
            403,
            "{method} {path}"
        );
        assert_eq!(with(&[("X-API-Key", "nope")]), 403, "{method} {path}");
        assert!(
            (200..300).contains(&with(&[("Authorization", &bearer)])),
            "{method} {path}"
        );
        assert!(
            (200..300).contains(&with(&[("X-API-Key", token)])),
            "{method} {path}"
        );
    }
    assert_eq!(
        http(port, "GET", "/v1/state", &[("X-API-Key", token)], "").0,
        200
    );
    assert_eq!(http(port, "GET", "/healthz", &[], "").0, 200);
    assert_eq!(http(port, "GET", "/metrics", &[], "").0, 200);
    // The in-process client gives its token; without one it cannot load the state.
    let url = format!("http://127.0.0.1:{port}");
    assert!(
        promptctl::client::Client::from_server(&url)
            .build()
            .is_err()
    );
    let client = promptctl::client::Client::from_server(&url)
        .token(token)
        .build()
        .unwrap();
    assert!(client.resolve("support/triage", Some("k")).is_ok());
    assert!(
        !format!(
            "{:?}",
            promptctl::client::Client::from_server(&url).token(token)
        )
        .contains(token)
    );
}

/// The dashboard counted requests since the server started but feedback since the step
/// started, so its rows compared different windows. Requests now count from when the
/// canary's current step was first served: a new canary starts both at zero.
#[test]
fn every_row_of_the_comparison_counts_over_the_same_window() {
    let repo = released();
    repo.run(&["canary", "support/triage", "50%"]).expect(0);
    let server = Server::start(&repo, &[], &[]);
    let requests_row = |server: &Server| {
        let (_, _, page) = http(server.port, "GET", "/", &[], "");
        let row = page
            .lines()
            .find(|l| l.contains("<th>Requests (resolves)</th>"))
            .unwrap_or_else(|| panic!("{page}"))
            .to_owned();
        let numbers: Vec<u64> = row
            .split("<td class=\"num\">")
            .skip(1)
            .map(|cell| cell.split('<').next().unwrap().parse().unwrap())
            .collect();
        (numbers[0], numbers[1])
    };
    for key in 0..40 {
        server.get(&format!("/v1/prompts/support/triage?key=k{key}"));
    }
    let (active, canary) = requests_row(&server);
    assert_eq!(active + canary, 40);
    // Another canary version: a new step, whose window starts empty on both sides.
    let path = repo.path().join("prompts/support/triage.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("Triage the ticket (v2).", "Triage the ticket (v3)."),
    )
    .unwrap();
    repo.commit("v3");
    repo.run(&["canary", "support/triage", "50%"]).expect(0);
    let started = Instant::now();
    while requests_row(&server) != (0, 0) {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            requests_row(&server)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Rollouts that breach come first on the dashboard, and without a controller the verdict
/// line says in words that none runs and what one would do.
#[test]
fn breaching_rollouts_come_first_with_a_verdict_that_cannot_be_misread() {
    let repo = released();
    repo.run(&[
        "canary",
        "support/triage",
        "50%",
        "--ramp",
        "100",
        "--min-samples",
        "10",
    ])
    .expect(0);
    let server = Server::start(&repo, &[], &[]);
    let canary = version_at(&repo, "HEAD");
    for i in 0..20 {
        let outcome = if i < 10 { "error" } else { "success" };
        server.post(
            "/v1/feedback",
            &json!({"name": "support/triage", "version": canary, "outcome": outcome}),
        );
    }
    let (_, _, page) = http(server.port, "GET", "/", &[], "");
    let rows: Vec<&str> = page
        .lines()
        .filter(|l| l.starts_with("<tr><td><a href="))
        .collect();
    assert!(
        rows[0].contains("p-support--triage"),
        "breach first: {rows:?}"
    );
    assert!(rows.len() >= 3, "{rows:?}");
    assert!(
        page.contains("<strong>No controller runs in this server;</strong>"),
        "{page}"
    );
    assert!(page.contains("would now decide: <strong>revert"), "{page}");
}

/// Seen: two slow renders of one prompt kept every render slot for 24 s after their
/// requests timed out, and renders of an unrelated prompt got 503 `busy`; a join of a
/// list repeated 3,000 times drove the server to 3.7 GB and aborted it. One prompt may
/// hold every slot but one, a timed-out render is cancelled at its next print, and the
/// join is refused before it allocates.
#[test]
fn slow_renders_of_one_prompt_never_stop_the_others() {
    let repo = common::sample_repo();
    repo.write(
        "prompts/slow.toml",
        "[variables.n]\ntype = \"integer\"\ndefault = 1\n\n[[messages]]\nrole = \"user\"\ncontent = \"{{ ([range(1000)|list] * n)|pprint|length }}\"\n",
    )
    .write(
        "prompts/join.toml",
        "[variables.n]\ntype = \"integer\"\ndefault = 1\n\n[[messages]]\nrole = \"user\"\ncontent = \"{{ (['x' * 1000000] * n)|join|length }}\"\n",
    );
    repo.commit("slow and greedy prompts");
    repo.run(&["publish"]).expect(0);
    let server = Server::start(&repo, &["--request-timeout", "2s"], &[]);
    let port = server.port;
    let post = move |body: &'static str| {
        http(
            port,
            "POST",
            "/v1/render",
            &[("Content-Type", "application/json")],
            body,
        )
    };
    let attackers: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                if i % 2 == 0 {
                    post(r#"{"name": "slow", "vars": {"n": 100000}}"#)
                } else {
                    post(r#"{"name": "join", "vars": {"n": 3000}}"#)
                }
            })
        })
        .collect();
    for _ in 0..20 {
        let (status, _, body) = post(r#"{"name": "support/triage", "vars": {"ticket": "x"}}"#);
        assert_eq!(status, 200, "{body}");
    }
    for attacker in attackers {
        let (status, _, body) = attacker.join().unwrap();
        assert!([408, 422, 503].contains(&status), "{status}: {body}");
    }
    // The server is still up, and the greedy join is refused in words.
    assert_eq!(server.get("/healthz").0, 200);
    let (status, _, body) = post(r#"{"name": "join", "vars": {"n": 3000}}"#);
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("render's 64 MB"), "{body}");
}

/// Seen: 1,100 idle connections from one client under a cap of 960 got everyone 503 for
/// 10 s, and a client that reconnected when closed kept 89% of probes refused. One client
/// address holds at most its share (half the cap by default); probes from another address
/// are served while it floods.
#[test]
fn one_client_cannot_hold_every_connection() {
    let repo = released();
    repo.run(&["publish"]).expect(0);
    let server = Server::start(
        &repo,
        &["--max-connections", "40", "--header-timeout", "30s"],
        &[],
    );
    let flood: Vec<TcpStream> = (0..60)
        .map(|_| TcpStream::connect(("127.0.0.1", server.port)).unwrap())
        .collect();
    // Every probe from another loopback address is answered while the flood holds its share.
    for _ in 0..10 {
        let probe = std::process::Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--max-time",
                "5",
                "--interface",
                "127.0.0.2",
            ])
            .arg(format!("http://127.0.0.1:{}/healthz", server.port))
            .output()
            .expect("curl runs");
        assert_eq!(String::from_utf8_lossy(&probe.stdout), "200");
    }
    // The flooding address itself is refused past its share.
    let mut refused = 0;
    for mut stream in flood {
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        refused += usize::from(answer.starts_with("HTTP/1.1 503"));
    }
    // The address's share is 20. The readiness probe of `Server::start` came from the same
    // address and may not be closed on the server's side yet: then it holds one of the 20
    // (CI saw 41 refused once in about twenty runs), which is the rule working too.
    let held = 60 - refused;
    assert!(
        (19..=20).contains(&held),
        "{held} of 60 held: the flooding address holds at most its share of 20"
    );
}

/// Seen: SIGTERM with a fetch stuck on a silent remote took 4.3–8.2 s (the docs say 5 s):
/// the exit waited for the fetch. The server stops within its grace, whatever a peer does.
#[test]
fn sigterm_exits_within_the_grace_while_a_fetch_hangs_on_a_silent_remote() {
    let repo = released();
    let state_dir = tempfile::tempdir().unwrap();
    let dir = state_dir.path().to_str().unwrap().to_owned();
    drop(Server::start(&repo, &["--state-dir", &dir], &[]));
    // A remote that takes the connection and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/prompts.git", silent.local_addr().unwrap());
    let held = std::thread::spawn(move || {
        let streams: Vec<_> = silent.incoming().take(4).collect();
        std::thread::sleep(Duration::from_secs(60));
        drop(streams);
    });
    let mut server = Server::start(
        &repo,
        &["--state-dir", &dir, "--remote", &url],
        &[("PROMPTCTL_GIT_TIMEOUT", "60s")],
    );
    // The server answers from the kept copy while its first fetch hangs.
    assert_eq!(server.get("/healthz").0, 200);
    let stopped_at = Instant::now();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    loop {
        if server.child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(
            stopped_at.elapsed() < Duration::from_secs(6),
            "still running after {:?}",
            stopped_at.elapsed()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(held);
}

/// Seen: an idle server took about 2 s to exit on SIGTERM, refusing connections meanwhile.
#[test]
fn an_idle_server_exits_at_once_on_sigterm() {
    let repo = released();
    let mut server = Server::start(&repo, &[], &[]);
    let stopped_at = Instant::now();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    assert!(
        stopped_at.elapsed() < Duration::from_millis(1000),
        "{:?}",
        stopped_at.elapsed()
    );
}

/// Seen: unauthenticated requests whose canary render failed with a reason of their own
/// (here, a value of the wrong type) wrote one log line each (20,000 lines). A prompt's
/// fallbacks are logged at most once a minute.
#[test]
fn canary_fallbacks_with_distinct_reasons_are_logged_once() {
    use std::io::BufRead;
    let repo = common::released("");
    let path = repo.path().join("prompts/support/triage.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("Triage the ticket (v2).", "Triage ticket {{ seat }}.")
            + "\n[variables.seat]\ntype = \"integer\"\nrequired = false\n",
    )
    .unwrap();
    repo.commit("v3 takes a seat number");
    repo.run(&[
        "canary",
        "support/triage",
        "--stage",
        "cohort=internal",
        "--ramp",
        "50,100",
    ])
    .expect(0);
    let port = common::server::free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = repo
        .command(
            repo.path(),
            &["serve", "--addr", &addr, "--log-format", "json"],
        )
        .env_remove("PROMPTCTL_NOW")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let started = Instant::now();
    while http(port, "GET", "/healthz", &[], "").0 != 200 {
        assert!(started.elapsed() < Duration::from_secs(15), "not started");
        std::thread::sleep(Duration::from_millis(50));
    }
    for i in 0..20 {
        let body = json!({"name": "support/triage", "key": "k", "attrs": {"cohort": "internal"},
                          "vars": {"ticket": "x", "seat": format!("seat {i}")}});
        let (status, _, text) = http(
            port,
            "POST",
            "/v1/render",
            &[("Content-Type", "application/json")],
            &body.to_string(),
        );
        assert_eq!(status, 200, "{text}");
        assert!(text.contains("\"fallback\":true"), "{text}");
    }
    let _ = child.kill();
    let _ = child.wait();
    let logged = std::io::BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .filter(|line| line.contains("the canary could not render"))
        .count();
    assert_eq!(logged, 1);
}

/// Seen: every swap rewrote the whole kept copy (the 19.2 MB `snapshot-production.json` at
/// 10,000 prompts). The copy is now a manifest and a pack of versions: a swap appends the
/// versions it adds and leaves the ones kept as they were, and a restart serves it.
#[test]
fn a_swap_appends_to_the_kept_copy_instead_of_rewriting_it() {
    use std::os::unix::fs::MetadataExt;
    let repo = released();
    let state_dir = tempfile::tempdir().unwrap();
    let dir = state_dir.path().to_str().unwrap().to_owned();
    let pack = state_dir.path().join("objects-production.pack");
    let manifest = state_dir.path().join("kept-production.json");
    let server = Server::start(&repo, &["--state-dir", &dir], &[]);
    let read_when =
        |ready: &dyn Fn(&[u8]) -> bool| file_when(&pack, |bytes| bytes.is_some_and(ready)).unwrap();
    let first = read_when(&|bytes| !bytes.is_empty());
    let inode = std::fs::metadata(&pack).unwrap().ino();
    repo.run(&["canary", "support/triage", "10%"]).expect(0);
    let second = read_when(&|bytes| bytes.len() > first.len());
    assert!(
        second.starts_with(&first),
        "the versions kept were rewritten"
    );
    assert_eq!(std::fs::metadata(&pack).unwrap().ino(), inode);
    let added = &second[first.len()..];
    assert_eq!(
        added.iter().filter(|&&b| b == b'\n').count(),
        2,
        "one record, the canary's version: {}",
        String::from_utf8_lossy(added)
    );
    assert!(!state_dir.path().join("snapshot-production.json").exists());
    let started = Instant::now();
    let kept = loop {
        let kept: Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
        if kept["pack_length"] == second.len() {
            break kept;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "{kept}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let (_, state) = server.get("/v1/state");
    assert_eq!(kept["commit"], state["commit"]);
    drop(server);
    let server = from_kept_copy(&repo, &dir);
    let (_, list) = server.get("/v1/prompts");
    assert_eq!(list["prompts"][2]["canary_weight"], 10.0, "{list}");
    let (_, health) = server.get("/healthz");
    assert_eq!(health["status"], "stale");
}

/// A copy kept by an earlier build (one JSON file, `snapshot-<env>.json`, every version
/// inside) is still served on a restart, and replaced by a manifest and a pack once the
/// source answers.
#[test]
fn a_copy_kept_by_an_earlier_build_is_served_and_then_replaced() {
    let repo = released();
    let state_dir = tempfile::tempdir().unwrap();
    let dir = state_dir.path().to_str().unwrap().to_owned();
    let server = Server::start(&repo, &[], &[]);
    let (_, _, state) = http(server.port, "GET", "/v1/state", &[], "");
    let (_, before) = server.get("/v1/prompts/support/triage?key=k");
    drop(server);
    let old = state_dir.path().join("snapshot-production.json");
    std::fs::write(&old, &state).unwrap();
    let an_hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(an_hour_ago)
        .unwrap();
    let server = from_kept_copy(&repo, &dir);
    let (status, kept) = server.get("/v1/prompts/support/triage?key=k");
    assert_eq!((status, &kept["version"]), (200, &before["version"]));
    let (_, health) = server.get("/healthz");
    assert!(
        health["age_seconds"].as_f64().unwrap() >= 3600.0,
        "{health}"
    );
    assert!(!old.exists(), "kept again in today's form");
    let manifest = state_dir.path().join("kept-production.json");
    let modified = std::fs::metadata(&manifest).unwrap().modified().unwrap();
    assert_eq!(modified, an_hour_ago, "with its age");
}

/// Waits until `ready` holds for the bytes of the file at `path` (`None` while there is no
/// file), which the server writes off the request path, and returns them.
fn file_when(path: &std::path::Path, ready: impl Fn(Option<&[u8]>) -> bool) -> Option<Vec<u8>> {
    let started = Instant::now();
    loop {
        let bytes = std::fs::read(path).ok();
        if ready(bytes.as_deref()) {
            return bytes;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{} is not as awaited after 5 s",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Seen: a fresh `serve` of 10,000 prompts from its kept copy answered after 328–383 ms,
/// most of it compiling every template, which this very build had already compiled when it
/// kept the copy. A copy is now marked when every version compiled, with the build and the
/// commit; a server of the same build starting from it leaves each version to compile on
/// its first render. A copy with a problem, or a mark of another build, is compiled whole.
#[test]
fn a_kept_copy_is_marked_compiled_only_by_this_build_when_every_version_compiled() {
    let repo = released();
    let state_dir = tempfile::tempdir().unwrap();
    let dir = state_dir.path().to_str().unwrap().to_owned();
    let mark = state_dir.path().join("compiled-production");
    let server = Server::start(&repo, &["--state-dir", &dir], &[]);
    let (_, _, state) = http(server.port, "GET", "/v1/state", &[], "");
    let commit = serde_json::from_str::<Value>(&state).unwrap()["commit"]
        .as_str()
        .unwrap()
        .to_owned();
    let text = String::from_utf8(file_when(&mark, |text| text.is_some()).unwrap()).unwrap();
    let (header, marked) = text.split_once('\n').unwrap();
    assert!(header.starts_with("promptctl compiled 1 "), "{text}");
    assert_eq!(marked.trim(), commit);
    drop(server);
    // From the marked copy, with the source unreachable: served, and rendered on demand.
    let server = from_kept_copy(&repo, &dir);
    let (status, rendered) = server.post(
        "/v1/render",
        &json!({"name": "support/triage", "key": "k", "vars": {"ticket": "hello"}}),
    );
    assert_eq!(status, 200, "{rendered}");
    assert_eq!(rendered["messages"][1]["content"], "hello");
    drop(server);
    // A canary that does not compile: the copy kept is not marked.
    release_a_broken_canary(&repo);
    let server = Server::start(&repo, &["--state-dir", &dir], &[]);
    file_when(&mark, |text| text.is_none());
    drop(server);
    let problem_at_start = |dir: &str| {
        let server = from_kept_copy(&repo, dir);
        let (_, health) = server.get("/healthz");
        health["problems"]["support/triage"].is_string()
    };
    assert!(
        problem_at_start(&dir),
        "the unmarked copy is compiled whole"
    );
    // A mark of another build is not believed; one of this build is (the broken canary is
    // then found only when it renders: this is what the mark decides).
    let kept: Value = serde_json::from_slice(
        &std::fs::read(state_dir.path().join("kept-production.json")).unwrap(),
    )
    .unwrap();
    let broken = kept["commit"].as_str().unwrap();
    std::fs::write(
        &mark,
        format!("promptctl compiled 1 0000000000000000\n{broken}\n"),
    )
    .unwrap();
    assert!(problem_at_start(&dir), "another build's mark");
    std::fs::write(&mark, format!("{header}\n{commit}\n")).unwrap();
    assert!(problem_at_start(&dir), "a mark of another commit");
    std::fs::write(&mark, format!("{header}\n{broken}\n")).unwrap();
    assert!(!problem_at_start(&dir), "this build's mark of this commit");
}
