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
    let mut out = anstream::stdout().lock();
    out.write_all(text.as_bytes())
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
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::internal(format!("cannot write JSON: {e}")))?;
    text.push('\n');
    print(&text)
}

/// A closed pipe (`promptctl list | head`) is not an error worth reporting.
fn ignore_broken_pipe(error: std::io::Error) -> Result<(), CliError> {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(CliError::internal(format!(
            "cannot write to stdout: {error}"
        )))
    }
}

/// Pads `text` to `width` display columns.
pub fn pad(text: &str, width: usize) -> String {
    let len = text.chars().count();
    format!("{text}{}", " ".repeat(width.saturating_sub(len)))
}
