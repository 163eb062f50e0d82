//! How a prompt's templates render: the engine, its version and its limits, set once in
//! the environment [`super::Prompt::compile`] builds and served to every binding that
//! renders a payload itself.

use serde::Serialize;

use super::output::MAX_MESSAGE_BYTES;

/// Instructions one render may execute before it is stopped as a runaway.
pub const RENDER_FUEL: u64 = 1_000_000;
/// How deep includes, macros and recursive loops may nest.
pub const RENDER_RECURSION_LIMIT: usize = 64;

/// How the environment renders, for services that render a served payload with their own
/// minijinja binding (Python's `minijinja`, `minijinja-js`) and must set it up the same
/// way: strict undefined values, no auto-escaping, minijinja's defaults for whitespace
/// (`trim_blocks`, `lstrip_blocks` off; a single trailing newline removed), and the limits.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RenderSettings {
    /// The template engine, and the version the server renders with: a binding of another
    /// version may print values differently (docs/serve.md, "Render anywhere").
    pub engine: &'static str,
    pub engine_version: &'static str,
    pub undefined: &'static str,
    pub auto_escape: &'static str,
    pub trim_blocks: bool,
    pub lstrip_blocks: bool,
    pub keep_trailing_newline: bool,
    pub fuel: u64,
    pub recursion_limit: usize,
    pub max_message_bytes: usize,
}

/// The minijinja version promptctl is built with (pinned in Cargo.lock; a test holds the
/// two together).
pub const MINIJINJA_VERSION: &str = "3.1.0";

/// The settings [`super::Prompt::compile`] uses.
pub const RENDER_SETTINGS: RenderSettings = RenderSettings {
    engine: "minijinja",
    engine_version: MINIJINJA_VERSION,
    undefined: "strict",
    auto_escape: "none",
    trim_blocks: false,
    lstrip_blocks: false,
    keep_trailing_newline: false,
    fuel: RENDER_FUEL,
    recursion_limit: RENDER_RECURSION_LIMIT,
    max_message_bytes: MAX_MESSAGE_BYTES,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_version_served_is_the_one_built_in() {
        let lock = include_str!("../../Cargo.lock");
        let pinned = lock
            .split("[[package]]")
            .find(|p| p.contains("name = \"minijinja\"\n"))
            .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
            .map(|v| v.trim_end_matches('"'));
        assert_eq!(pinned, Some(MINIJINJA_VERSION));
    }
}
