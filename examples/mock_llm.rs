//! A mock OpenAI-compatible chat completions server, for benchmarks and for trying
//! `promptctl eval` against a real HTTP endpoint without a key.
//!
//! Run: `cargo run --release --example mock_llm -- [LATENCY_MS] [RATE_LIMIT_EVERY] [RETRY_AFTER]`
//! (`RETRY_AFTER` is the header's value on a 429, `none` for no header). It prints
//! its base URL (`http://127.0.0.1:PORT/v1`) on the first line and serves until killed. Its
//! model answers with the last line of the system message, ` | `, and the last user message.

#[path = "../tests/common/mock_llm.rs"]
mod mock_llm;

use std::io::Write;
use std::time::Duration;

fn main() {
    let mut args = std::env::args().skip(1);
    let latency_ms: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(50);
    let rate_limit_every: Option<usize> = args.next().and_then(|a| a.parse().ok());
    let retry_after: Option<String> = args.next();
    let mock = mock_llm::MockLlm::start(mock_llm::MockConfig {
        latency: Duration::from_millis(latency_ms),
        rate_limit_every,
        retry_after,
        ..mock_llm::MockConfig::default()
    });
    println!("{}", mock.url);
    let _ = std::io::stdout().flush();
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
