//! A real Prometheus server (Debian's `prometheus` package) scraping test servers on
//! loopback, for the fleet tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::server::{free_port, http};

/// How often Prometheus scrapes the replicas in tests.
pub const SCRAPE_INTERVAL: &str = "1s";

pub struct Prometheus {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `prometheus` binary, if installed. With `PROMPTCTL_REQUIRE_PROMETHEUS=1` (as
/// `.ci/run` sets) a missing one fails the test instead of skipping it.
pub fn binary() -> Option<PathBuf> {
    let found = ["/usr/bin/prometheus", "/usr/local/bin/prometheus"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var("PROMPTCTL_REQUIRE_PROMETHEUS").as_deref() != Ok("1"),
            "PROMPTCTL_REQUIRE_PROMETHEUS=1 but Prometheus is not installed (apt-get install prometheus)"
        );
        eprintln!("fleet test skipped: no Prometheus (apt-get install prometheus)");
    }
    found
}

fn spawn(binary: &Path, dir: &Path, port: u16) -> Child {
    Command::new(binary)
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus starts")
}

impl Prometheus {
    /// Starts Prometheus scraping `/metrics` of the servers on `ports`, and waits until it
    /// is ready.
    pub fn start(binary: &Path, ports: &[u16]) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let targets: Vec<String> = ports.iter().map(|p| format!("'127.0.0.1:{p}'")).collect();
        let config = format!(
            "global:\n  scrape_interval: {SCRAPE_INTERVAL}\n  scrape_timeout: {SCRAPE_INTERVAL}\nscrape_configs:\n  - job_name: promptctl\n    static_configs:\n      - targets: [{}]\n",
            targets.join(", ")
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        let port = free_port();
        let mut prometheus = Prometheus {
            child: spawn(binary, dir.path(), port),
            port,
            _dir: dir,
        };
        prometheus.await_ready();
        prometheus
    }

    /// Stops Prometheus (as an outage would), keeping its data.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same port with the same data, as after an outage, scraping
    /// every `interval`: until its first scrape it answers with the series it had before.
    pub fn restart(&mut self, binary: &Path, interval: &str) {
        self.stop();
        let config = self._dir.path().join("prometheus.yml");
        let text = std::fs::read_to_string(&config).unwrap();
        let text = text.replace(
            &format!("_interval: {SCRAPE_INTERVAL}"),
            &format!("_interval: {interval}"),
        );
        std::fs::write(&config, text).unwrap();
        self.child = spawn(binary, self._dir.path(), self.port);
        self.await_ready();
    }

    fn await_ready(&mut self) {
        let started = Instant::now();
        while http(self.port, "GET", "/-/ready", &[], "").0 != 200 {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "Prometheus did not become ready"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The value of an instant query that gives one number, if it gives one.
    pub fn value(&self, query: &str) -> Option<f64> {
        let path = format!(
            "/api/v1/query?query={}",
            form_urlencoded::byte_serialize(query.as_bytes()).collect::<String>()
        );
        let (status, _, body) = http(self.port, "GET", &path, &[], "");
        assert_eq!(status, 200, "{query}: {body}");
        let answer: Value = serde_json::from_str(&body).unwrap();
        answer["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|v| v.parse().ok())
    }

    /// Waits until `query` gives at least `want`: Prometheus has scraped what was sent.
    pub fn wait_for(&self, query: &str, want: f64) {
        let started = Instant::now();
        while self.value(query).is_none_or(|v| v < want) {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "Prometheus never saw {query} reach {want} (last: {:?})",
                self.value(query)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Runs a command on the real clock: Prometheus's samples are stamped with it.
pub fn run_now(repo: &super::TestRepo, args: &[&str]) -> std::process::Output {
    repo.command(repo.path(), args)
        .env_remove("PROMPTCTL_NOW")
        .output()
        .unwrap()
}

/// A command's stdout and stderr together, for assertions and their messages.
pub fn text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
