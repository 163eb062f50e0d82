//! HTTP clients: the one place they are built, on rustls with the `ring` provider.
//!
//! rustls is linked instead of the system's OpenSSL so that a command which never opens a
//! connection does not load and relocate libssl and libcrypto when it starts (about 1 ms
//! of every `list` or `diff`). Certificate roots are the platform's, read only when a
//! client first verifies an https server (`base::tls`).

use std::io::Read as _;
use std::time::{Duration, Instant};

use super::tls;

/// How long one network exchange may take when nothing else is set: a webhook, a server's
/// feedback (`--from`), GitHub's API, a served state, a git transfer, a Prometheus query.
/// The one home of that default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Returns a builder for an async client.
pub fn client() -> reqwest::ClientBuilder {
    reqwest::Client::builder().tls_backend_preconfigured(tls::client_config())
}

/// Returns a builder for a blocking client (not to be used on an async runtime's thread).
pub fn blocking_client() -> reqwest::blocking::ClientBuilder {
    reqwest::blocking::Client::builder().tls_backend_preconfigured(tls::client_config())
}

/// Why a body could not be read whole.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the answer is larger than {0} bytes")]
    TooLarge(u64),
    #[error("the answer did not arrive whole within {0:?}")]
    Deadline(Duration),
    #[error("reading the answer failed: {0}")]
    Read(#[source] std::io::Error),
}

/// Reads a blocking response's body, at most `max` bytes, and all of it within `within`
/// of now. A blocking client's timeout bounds each read, not the body: a server that
/// sends a byte a second would hold the reader for as long as it likes.
pub fn read_body(
    mut response: reqwest::blocking::Response,
    max: u64,
    within: Duration,
) -> Result<Vec<u8>, BodyError> {
    if response.content_length().is_some_and(|n| n > max) {
        return Err(BodyError::TooLarge(max));
    }
    let deadline = Instant::now() + within;
    let mut body = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if Instant::now() >= deadline {
            return Err(BodyError::Deadline(within));
        }
        let n = response.read(&mut chunk).map_err(BodyError::Read)?;
        if n == 0 {
            return Ok(body);
        }
        if body.len() as u64 + n as u64 > max {
            return Err(BodyError::TooLarge(max));
        }
        body.extend_from_slice(&chunk[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn building_a_client_installs_a_provider_and_reads_no_roots() {
        client().build().expect("an async client");
        blocking_client().build().expect("a blocking client");
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
        // Seen: every client read and parsed the ~150 files of /etc/ssl/certs when built,
        // so an `eval` against an http:// endpoint waited 5 ms for roots it never used.
        assert!(!tls::roots_loaded());
    }

    /// A server that sends its headers at once and then its body a byte at a time, every
    /// `gap`, for as long as the client reads.
    fn drip_server(gap: Duration) -> String {
        use std::io::Write as _;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            if let Ok((mut stream, _)) = listener.accept() {
                let mut request = [0u8; 4096];
                let _ = std::io::Read::read(&mut stream, &mut request);
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n",
                );
                for _ in 0..1000 {
                    if stream.write_all(b" ").is_err() {
                        return;
                    }
                    std::thread::sleep(gap);
                }
            }
        });
        format!("http://{address}/")
    }

    #[test]
    fn a_body_that_drips_ends_at_its_deadline() {
        // Seen: Prometheus sending its answer at 1 byte/s held `rollout step` past 120 s,
        // as the client's timeout bounded each read, not the body.
        let url = drip_server(Duration::from_millis(50));
        let client = blocking_client()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let response = client.get(&url).send().unwrap();
        let started = Instant::now();
        let error = read_body(response, 1 << 20, Duration::from_millis(300)).unwrap_err();
        assert!(matches!(error, BodyError::Deadline(_)), "{error}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }
}
