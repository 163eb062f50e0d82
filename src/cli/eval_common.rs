//! What `eval`, `eval --arm` and `ci` share at the edge: the report formats, where a
//! report goes (stdout, or a file with a summary line on stderr), and the progress bar.

use std::io::Write;
use std::sync::Arc;

use clap::ValueEnum;

use promptctl::eval::{Progress, Quiet};

use super::CliError;
use super::output::{ERROR, eprint, print};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Junit,
    Markdown,
    /// One self-contained HTML file: both versions side by side, filterable.
    Html,
}

/// Prints a report, or writes it to `output` with `summary` on stderr.
pub(super) fn deliver(
    text: &str,
    output: Option<&std::path::Path>,
    summary: &str,
) -> Result<(), CliError> {
    match output {
        Some(path) => {
            // A file is never a terminal: no colour codes, whatever --color says. Only the
            // table has any.
            let plain = if text.contains('\x1b') {
                std::borrow::Cow::Owned(anstream::adapter::strip_str(text).to_string())
            } else {
                std::borrow::Cow::Borrowed(text)
            };
            write_to_file(path, summary, |out| out.write_all(plain.as_bytes()))?;
        }
        None => print(text)?,
    }
    Ok(())
}

/// Writes a report to `path` through `write`, whole or not at all, then `summary` on
/// stderr.
pub(super) fn write_to_file(
    path: &std::path::Path,
    summary: &str,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), CliError> {
    promptctl::base::fsutil::write_atomic_with(path, write)
        .map_err(|e| CliError::usage(format!("cannot write `{}`: {e}", path.display())))?;
    eprint(summary);
    Ok(())
}

/// A progress bar on stderr when it is a terminal; nothing otherwise.
pub(super) fn progress_on_stderr() -> Arc<dyn Progress> {
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        Arc::new(Bar::new())
    } else {
        Arc::new(Quiet)
    }
}

/// A progress bar on stderr.
struct Bar(indicatif::ProgressBar);

impl Bar {
    fn new() -> Self {
        let bar = indicatif::ProgressBar::hidden();
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {pos}/{len} requests {wide_bar} {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Bar(bar)
    }
}

impl Progress for Bar {
    fn start(&self, total: usize) {
        if total > 0 {
            self.0
                .set_draw_target(indicatif::ProgressDrawTarget::stderr());
            self.0.set_length(total as u64);
            self.0.set_position(0);
        }
    }

    fn advance(&self) {
        self.0.inc(1);
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// The requests that failed for good, grouped, as every eval table ends.
pub fn failed_requests(out: &mut String, failures: &[promptctl::eval::FailureGroup]) {
    use std::fmt::Write as _;
    if failures.is_empty() {
        return;
    }
    let _ = writeln!(out, "{ERROR}requests that failed:{ERROR:#}");
    for group in failures {
        let _ = writeln!(out, "  {} × {}", group.count, group.message);
    }
    out.push('\n');
}
