//! A real `promptctl serve` on 127.0.0.1 for tests, and plain HTTP/1.1 to talk to it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::TestRepo;

pub struct Server {
    pub child: Child,
    pub port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    pub fn start(repo: &TestRepo, extra: &[&str], vars: &[(&str, &str)]) -> Server {
        Server::start_on(repo, free_port(), extra, vars)
    }

    /// Starts a server on `port` (a replica restarted where Prometheus scrapes it).
    pub fn start_on(repo: &TestRepo, port: u16, extra: &[&str], vars: &[(&str, &str)]) -> Server {
        let addr = format!("127.0.0.1:{port}");
        let mut args = vec!["serve", "--addr", &addr, "--poll", "100ms"];
        args.extend_from_slice(extra);
        // A server runs on the real clock, days after the fixed time of the commands that
        // started its canaries: every step of a plan is due as soon as it is judged.
        let child = repo
            .command(repo.path(), &args)
            .env_remove("PROMPTCTL_NOW")
            .envs(vars.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Server { child, port };
        let started = Instant::now();
        while http(port, "GET", "/healthz", &[], "").0 != 200 {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "the server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        let (status, _, body) = http(self.port, "GET", path, &[], "");
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let (status, _, text) = http(
            self.port,
            "POST",
            path,
            &[("Content-Type", "application/json")],
            &body.to_string(),
        );
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

/// One HTTP/1.1 request on a fresh connection: (status, headers, body). Status 0 when the
/// server could not be reached.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new(), String::new());
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    if stream.write_all(request.as_bytes()).is_err() {
        return (0, String::new(), String::new());
    }
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    parse_response(&String::from_utf8_lossy(&response))
}

pub fn parse_response(text: &str) -> (u16, String, String) {
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return (0, String::new(), String::new());
    };
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_lowercase(), body.to_owned())
}
