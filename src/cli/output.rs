//! Terminal output: colour choice, styles, and JSON printing.

use std::io::Write;

use anstyle::{AnsiColor, Style};

use super::{CliError, ColorChoice};

pub const BOLD: Style = Style::new().bold();
pub const DIM: Style = Style::new().dimmed();
pub const ERROR: Style = AnsiColor::Red.on_default().bold();
pub const WARNING: Style = AnsiColor::Yellow.on_default().bold();
pub const HINT: Style = AnsiColor::Cyan.on_default().bold();
pub const VERSION: Style = AnsiColor::Yellow.on_default();

/// Applies `--color`; `auto` lets anstream look at the terminal, `NO_COLOR` and `CLICOLOR`.
pub fn set_color(choice: ColorChoice) {
    let choice = match choice {
        ColorChoice::Auto => anstream::ColorChoice::Auto,
        ColorChoice::Always => anstream::ColorChoice::Always,
        ColorChoice::Never => anstream::ColorChoice::Never,
    };
    choice.write_global();
}

/// Writes text to stdout, stripping styles where colour is off.
pub fn print(text: &str) -> Result<(), CliError> {
    let stream = anstream::stdout();
    // Stripped into one buffer and written at once: anstream writes each unstyled piece
    // on its own, and stdout flushes at every newline, so a 2,000-line table cost 2,000
    // write calls.
    let result = if stream.current_choice() == anstream::ColorChoice::Never {
        // Piece by piece into one buffer: `to_string` went through the formatter.
        let mut plain = String::with_capacity(text.len());
        for piece in anstream::adapter::strip_str(text) {
            plain.push_str(piece);
        }
        let mut out = std::io::stdout().lock();
        out.write_all(plain.as_bytes()).and_then(|()| out.flush())
    } else {
        let mut out = stream.lock();
        out.write_all(text.as_bytes()).and_then(|()| out.flush())
    };
    result.or_else(ignore_broken_pipe)
}

/// Writes machine-read output (JSON) to stdout byte for byte. It holds no styles, and
/// stripping would cost a scan of every byte and drop the DEL characters JSON leaves as
/// they are.
pub fn print_raw(bytes: &[u8]) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .or_else(ignore_broken_pipe)
}

/// Writes text to stderr, stripping styles where colour is off.
pub fn eprint(text: &str) {
    let mut err = anstream::stderr().lock();
    let _ = err.write_all(text.as_bytes());
}

/// Prints a value as pretty JSON on stdout, with a final newline.
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<(), CliError> {
    let mut bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| CliError::system(format!("cannot write JSON: {e}")))?;
    bytes.push(b'\n');
    print_raw(&bytes)
}

/// A closed pipe (`promptctl list | head`) is not an error worth reporting.
fn ignore_broken_pipe(error: std::io::Error) -> Result<(), CliError> {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(CliError::system(format!("cannot write to stdout: {error}")))
    }
}

/// `1 prompt`, `2 prompts`.
pub fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// Pads `text` to `width` display columns; colour escapes take no columns.
pub fn pad(text: &str, width: usize) -> String {
    let len = visible_width(text);
    format!("{text}{}", " ".repeat(width.saturating_sub(len)))
}

/// Appends plain text (no colour sequences) padded with spaces to `width` characters,
/// without the allocations of [`pad`]: for tables of thousands of rows.
pub fn push_padded(text: &mut String, cell: &str, width: usize) {
    text.push_str(cell);
    let shown = cell.chars().count();
    text.extend(std::iter::repeat_n(' ', width.saturating_sub(shown)));
}

/// Counts the characters of `text` that show, skipping `ESC [ … m` colour sequences.
fn visible_width(text: &str) -> usize {
    let mut width = 0;
    let mut in_escape = false;
    for c in text.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => width += 1,
        }
    }
    width
}

/// Shows Unix seconds as a UTC date and time: `2026-11-23 07:40Z`.
pub fn utc_time(seconds: i64) -> String {
    promptctl::base::clock::format_minutes(seconds)
}

#[cfg(test)]
mod tests {
    use super::utc_time;

    #[test]
    fn padding_ignores_colour_escapes() {
        assert_eq!(super::pad("\x1b[33mab\x1b[0m", 4), "\x1b[33mab\x1b[0m  ");
        assert_eq!(super::pad("abc", 2), "abc");
    }

    #[test]
    fn utc_time_shows_dates_and_times() {
        assert_eq!(utc_time(0), "1970-01-01 00:00Z");
        assert_eq!(utc_time(1_700_000_000), "2023-11-14 22:13Z");
        assert_eq!(utc_time(951_782_400), "2000-02-29 00:00Z");
    }
}
