//! The dashboard at `GET /`, loaded in headless Chromium (Debian's `chromium`): the page a
//! browser builds must show the prompt, both versions and the figures. A screenshot is
//! written beside the test binaries and its path printed.
//!
//! Without Chromium the test says so and passes, unless `PROMPTCTL_REQUIRE_BROWSER=1` (as
//! `.ci/run` sets it), where a missing browser fails it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::server::Server;
use common::{TestRepo, sample_repo};
use serde_json::{Value, json};

const NAME: &str = "support/triage";

fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .map(|name| Path::new("/usr/bin").join(name))
        .find(|path| path.exists());
    if found.is_none() {
        assert!(
            std::env::var("PROMPTCTL_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "PROMPTCTL_REQUIRE_BROWSER=1 but no Chromium is installed (apt-get install chromium)"
        );
        eprintln!("dashboard test skipped: no Chromium (apt-get install chromium)");
    }
    found
}

/// Runs headless Chromium on `url` with `args`, returning stdout.
fn headless(browser: &Path, profile: &Path, url: &str, args: &[&str]) -> String {
    let output = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn released_with_canary() -> TestRepo {
    let repo = sample_repo();
    repo.commit("v1");
    repo.run(&["publish", "--reason", "first release"])
        .expect(0);
    let path = repo.path().join("prompts/support/triage.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("Triage the ticket.", "Triage the ticket <carefully>."),
    )
    .unwrap();
    repo.commit("v2");
    repo.run(&[
        "canary",
        NAME,
        "5%",
        "--ramp",
        "25,100",
        "--every",
        "1h",
        "--min-samples",
        "10",
        "--max-latency-increase",
        "50%",
    ])
    .expect(0);
    repo
}

#[test]
fn the_dashboard_shows_prompts_versions_and_figures_in_chromium() {
    let Some(browser) = chromium() else { return };
    let repo = released_with_canary();
    let server = Server::start(&repo, &[], &[]);
    let (_, list) = server.get("/v1/prompts");
    let triage: &Value = list["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == NAME)
        .unwrap();
    let active = triage["active"].as_str().unwrap().to_owned();
    let canary = triage["canary"].as_str().unwrap().to_owned();
    for (version, n, errors, latency) in [(&active, 40, 2, 100.0), (&canary, 20, 4, 180.0)] {
        for i in 0..n {
            let outcome = if i < errors { "error" } else { "success" };
            server.post(
                "/v1/feedback",
                &json!({"name": NAME, "version": version, "outcome": outcome,
                        "latency_ms": latency, "cost_usd": 0.002, "score": 0.75}),
            );
        }
    }
    for key in 0..30 {
        server.get(&format!("/v1/prompts/{NAME}?key=k{key}"));
    }
    let profile = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{}/", server.port);
    let dom = headless(&browser, profile.path(), &url, &["--dump-dom"]);
    let short = |v: &str| v["sha256:".len().."sha256:".len() + 12].to_owned();
    for expected in [
        NAME.to_owned(),
        short(&active),
        short(&canary),
        "5% (now)".to_owned(),
        // Error rates: 2 of 40 on active, 4 of 20 on the canary.
        "5.0%".to_owned(),
        "20.0%".to_owned(),
        "Mean latency".to_owned(),
        "100.0 ms".to_owned(),
        "180.0 ms".to_owned(),
        "$0.00200".to_owned(),
        "0.750".to_owned(),
        "BREACH".to_owned(),
        "first release".to_owned(),
        // The diff between the versions, escaped.
        "+Triage the ticket &lt;carefully&gt;.".to_owned(),
    ] {
        assert!(
            dom.contains(&expected),
            "`{expected}` is not on the page:\n{dom}"
        );
    }
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    let _ = std::fs::remove_file(&shot);
    headless(
        &browser,
        profile.path(),
        &url,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,1600",
        ],
    );
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
    println!("dashboard screenshot: {}", shot.display());
}

#[test]
fn an_empty_server_says_nothing_is_published() {
    let repo = sample_repo();
    repo.commit("v1");
    let server = Server::start(&repo, &[], &[]);
    let (status, _, body) = common::server::http(server.port, "GET", "/", &[], "");
    assert_eq!(status, 200);
    assert!(body.contains("Nothing has been published"), "{body}");
}

/// Charts over time, with the stage change marked, and the stage timeline with its
/// evidence: a canary fed through its first stage, stepped to the second, and fed again.
#[test]
fn the_dashboard_charts_a_rollout_across_two_stages_in_chromium() {
    let Some(browser) = chromium() else { return };
    let repo = released_with_canary_now();
    let server = Server::start(&repo, &[], &[]);
    let (_, list) = server.get("/v1/prompts");
    let triage = list["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == NAME)
        .unwrap()
        .clone();
    let active = triage["active"].as_str().unwrap().to_owned();
    let canary = triage["canary"].as_str().unwrap().to_owned();
    // Both sides fail about one request in 80, so the error-rate gate can show the canary
    // within its limit; latencies wander so the lines have a shape.
    let feed_for = |seconds: u64| {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
        let mut round = 0;
        while std::time::Instant::now() < until {
            let errors = usize::from(round % 4 == 0);
            for (version, latency) in [(&active, 100.0), (&canary, 140.0)] {
                for i in 0..20 {
                    let outcome = if i < errors { "error" } else { "success" };
                    server.post(
                        "/v1/feedback",
                        &json!({"name": NAME, "version": version, "outcome": outcome,
                                "latency_ms": latency + f64::from(round % 7) * 10.0,
                                "cost_usd": 0.002, "score": 0.8}),
                    );
                }
            }
            round += 1;
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
    };
    feed_for(5);
    let from = format!("http://127.0.0.1:{}", server.port);
    let step = repo
        .command(repo.path(), &["rollout", "step", "--from", &from])
        .env_remove("PROMPTCTL_NOW")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&step.stdout);
    assert!(said.contains("advance"), "{said}");
    // The server serves the new stage after its next poll.
    let started = std::time::Instant::now();
    while !common::server::http(server.port, "GET", "/", &[], "")
        .2
        .contains("50% (now)")
    {
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    feed_for(5);
    let profile = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{}/", server.port);
    let dom = headless(&browser, profile.path(), &url, &["--dump-dom"]);
    for expected in [
        "<svg",
        "Error rate</strong> over each stage so far",
        "Mean latency</strong>",
        ">10%</text>",
        ">50%</text>",
        "10%: done",
        "50%: now",
        "next step ",
    ] {
        assert!(
            dom.contains(expected),
            "`{expected}` is not on the page:\n{dom}"
        );
    }
    assert!(
        dom.contains("canary reports needed") || dom.contains("enough for the error-rate gate"),
        "no evidence on the page:\n{dom}"
    );
    screenshot(
        &browser,
        profile.path(),
        &url,
        "dashboard-stages.png",
        "1280,1400",
    );
}

/// A canary with a plan of one-hour steps, started on the real clock.
fn released_with_canary_now() -> TestRepo {
    let repo = sample_repo();
    repo.commit("v1");
    repo.run(&["publish"]).expect(0);
    let path = repo.path().join("prompts/support/triage.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("Triage the ticket.", "Triage the ticket, kindly."),
    )
    .unwrap();
    repo.commit("v2");
    let status = repo
        .command(
            repo.path(),
            &[
                "canary",
                NAME,
                "10%",
                "--ramp",
                "50,100",
                "--every",
                "2s",
                "--min-samples",
                "10",
                "--max-latency-increase",
                "80%",
            ],
        )
        .env_remove("PROMPTCTL_NOW")
        .status()
        .unwrap();
    assert!(status.success());
    repo
}

/// `eval --format html`: one self-contained file, both versions side by side, each case
/// with both outputs and how it moved, with filters; opened in headless Chromium.
#[test]
fn the_html_eval_report_opens_in_chromium_side_by_side_with_filters() {
    let Some(browser) = chromium() else { return };
    let repo = sample_repo();
    repo.commit("v1");
    // The triage suite asserts the system line; a change to it regresses the case.
    let triage = repo.path().join("prompts/support/triage.toml");
    let text = std::fs::read_to_string(&triage).unwrap();
    std::fs::write(
        &triage,
        text.replace("Triage the ticket.", "Sort the <ticket>."),
    )
    .unwrap();
    let report = repo.path().join("out/report.html");
    let run = repo.run(&[
        "eval",
        "--base",
        "HEAD",
        "--format",
        "html",
        "--output",
        report.to_str().unwrap(),
    ]);
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "self-contained"
    );
    let profile = tempfile::tempdir().unwrap();
    let url = format!("file://{}", report.display());
    let dom = headless(&browser, profile.path(), &url, &["--dump-dom"]);
    for expected in [
        "promptctl eval",
        "support/triage",
        "base HEAD",
        "head worktree",
        "pass rate",
        "data-change=\"regressed\"",
        "<input type=\"checkbox\" data-change=\"fixed\" checked=\"\">",
        "Sort the &lt;ticket&gt;.",
    ] {
        assert!(
            dom.contains(expected),
            "`{expected}` is not in the report:\n{dom}"
        );
    }
    screenshot(
        &browser,
        profile.path(),
        &url,
        "eval-report.png",
        "1280,1000",
    );
}

/// Takes a screenshot of `url` into the target's tmp folder and checks it is a real PNG.
fn screenshot(browser: &Path, profile: &Path, url: &str, name: &str, size: &str) {
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_file(&shot);
    headless(
        browser,
        profile,
        url,
        &[
            &format!("--screenshot={}", shot.display()),
            &format!("--window-size={size}"),
        ],
    );
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000);
    println!("screenshot: {}", shot.display());
}
