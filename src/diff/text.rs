//! Line diffs of template text, grouped in hunks with word-level emphasis, computed with
//! `similar`.

use serde::Serialize;
use similar::{ChangeTag, InlineChangeOptions, TextDiff};

/// Unchanged lines shown around each change, as in `git diff`.
pub const CONTEXT_LINES: usize = 3;

/// How long the word-level pass may take per pair of changed blocks before it gives up and
/// shows whole lines, so that a pathological text cannot stall a review.
const INLINE_DEADLINE: std::time::Duration = std::time::Duration::from_millis(200);

/// The difference between two texts, line by line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TextChange {
    /// Lines only in the new text.
    pub added: usize,
    /// Lines only in the old text.
    pub removed: usize,
    /// The changes with their context, in order.
    pub hunks: Vec<Hunk>,
}

/// A run of changes with up to [`CONTEXT_LINES`] unchanged lines around it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hunk {
    /// First old line (1-based; the line before, when the hunk has no old lines).
    pub old_start: usize,
    /// Number of old lines.
    pub old_lines: usize,
    /// First new line (1-based; the line before, when the hunk has no new lines).
    pub new_start: usize,
    /// Number of new lines.
    pub new_lines: usize,
    /// The lines of the hunk.
    pub lines: Vec<Line>,
}

/// One line of a hunk.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    /// Whether the line is kept, removed or added.
    pub op: LineOp,
    /// The line, without its line break.
    pub text: String,
    /// The line is the last of its side and has no final line break while the other side
    /// has one, so the only change may be that line break.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_newline: bool,
    /// The line cut into runs, `true` for the words that changed; empty when the line
    /// changed as a whole or is context.
    #[serde(skip)]
    pub words: Vec<(bool, String)>,
}

/// What happened to a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LineOp {
    /// In both texts.
    Equal,
    /// Only in the old text.
    Delete,
    /// Only in the new text.
    Insert,
}

impl LineOp {
    /// The unified-diff marker of the line.
    pub fn marker(self) -> char {
        match self {
            LineOp::Equal => ' ',
            LineOp::Delete => '-',
            LineOp::Insert => '+',
        }
    }
}

impl Hunk {
    /// The unified-diff header of the hunk: `@@ -1,3 +1,4 @@`.
    pub fn header(&self) -> String {
        format!(
            "@@ -{},{} +{},{} @@",
            self.old_start, self.old_lines, self.new_start, self.new_lines
        )
    }
}

impl TextChange {
    /// The change as plain unified-diff text: hunk headers and marked lines.
    pub fn to_unified(&self) -> String {
        let mut out = String::new();
        for hunk in &self.hunks {
            out.push_str(&hunk.header());
            out.push('\n');
            for line in &hunk.lines {
                out.push(line.op.marker());
                out.push_str(&line.text);
                out.push('\n');
            }
        }
        out
    }

    /// Tells whether the texts are equal.
    pub fn is_empty(&self) -> bool {
        self.hunks.is_empty()
    }
}

/// Diffs two texts line by line.
pub fn diff_text(old: &str, new: &str) -> TextChange {
    let diff = TextDiff::from_lines(old, new);
    // As with `git diff`, a missing final line break is worth a marker only when it is part
    // of the change; prompt templates often end without one on both sides.
    // A text that is all added or all removed needs none either.
    let mark_missing_newline =
        !old.is_empty() && !new.is_empty() && old.ends_with('\n') != new.ends_with('\n');
    let mut change = TextChange {
        added: 0,
        removed: 0,
        hunks: Vec::new(),
    };
    for group in diff.grouped_ops(CONTEXT_LINES) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        let old_range = first.old_range().start..last.old_range().end;
        let new_range = first.new_range().start..last.new_range().end;
        let mut hunk = Hunk {
            old_start: hunk_start(&old_range),
            old_lines: old_range.len(),
            new_start: hunk_start(&new_range),
            new_lines: new_range.len(),
            lines: Vec::new(),
        };
        for op in &group {
            let deadline = std::time::Instant::now().checked_add(INLINE_DEADLINE);
            let mut options = InlineChangeOptions::new();
            options.semantic_cleanup(true);
            for inline in diff.iter_inline_changes_with_options_deadline(op, options, deadline) {
                let op = match inline.tag() {
                    ChangeTag::Equal => LineOp::Equal,
                    ChangeTag::Delete => LineOp::Delete,
                    ChangeTag::Insert => LineOp::Insert,
                };
                match op {
                    LineOp::Delete => change.removed += 1,
                    LineOp::Insert => change.added += 1,
                    LineOp::Equal => {}
                }
                let values: Vec<(bool, String)> = inline
                    .iter_strings_lossy()
                    .map(|(emphasized, text)| (emphasized, text.into_owned()))
                    .collect();
                let no_newline = mark_missing_newline && inline.missing_newline();
                hunk.lines.push(line(op, values, no_newline));
            }
        }
        change.hunks.push(hunk);
    }
    change
}

fn hunk_start(range: &std::ops::Range<usize>) -> usize {
    if range.is_empty() {
        range.start
    } else {
        range.start + 1
    }
}

/// Builds a line from its runs, keeping word emphasis only where part of the line changed.
fn line(op: LineOp, mut values: Vec<(bool, String)>, no_newline: bool) -> Line {
    if let Some((_, last)) = values.last_mut()
        && last.ends_with('\n')
    {
        last.pop();
        if last.ends_with('\r') {
            last.pop();
        }
    }
    let text: String = values.iter().map(|(_, text)| text.as_str()).collect();
    let partly = values.iter().any(|(e, _)| *e) && values.iter().any(|(e, t)| !*e && !t.is_empty());
    Line {
        op,
        text,
        no_newline,
        words: if partly { values } else { Vec::new() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_have_no_hunks() {
        let change = diff_text("a\nb\n", "a\nb\n");
        assert!(change.is_empty());
        assert_eq!((change.added, change.removed), (0, 0));
    }

    #[test]
    fn a_changed_line_is_a_hunk_with_context_and_counts() {
        let old = "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\n";
        let new = "one\ntwo\nthree\nfour\nFIVE\nsix\nseven\neight\n";
        let change = diff_text(old, new);
        assert_eq!(
            TextChange::to_unified(&change),
            "@@ -2,7 +2,7 @@\n two\n three\n four\n-five\n+FIVE\n six\n seven\n eight\n"
        );
        assert_eq!((change.added, change.removed), (1, 1));
    }

    #[test]
    fn changed_words_are_marked_inside_a_changed_line() {
        let change = diff_text("Be brief and polite.\n", "Be brief and kind.\n");
        let lines = &change.hunks[0].lines;
        let removed: Vec<_> = lines[0].words.iter().filter(|(e, _)| *e).collect();
        let added: Vec<_> = lines[1].words.iter().filter(|(e, _)| *e).collect();
        assert_eq!(removed, [&(true, "polite".to_owned())]);
        assert_eq!(added, [&(true, "kind".to_owned())]);
        assert_eq!(lines[1].text, "Be brief and kind.");
    }

    #[test]
    fn a_text_from_nothing_is_all_insertions_with_git_style_starts() {
        let change = diff_text("", "a\nb");
        assert_eq!(TextChange::to_unified(&change), "@@ -0,0 +1,2 @@\n+a\n+b\n");
        assert!(!change.hunks[0].lines[1].no_newline);
        let both_without = diff_text("a", "b");
        assert!(both_without.hunks[0].lines.iter().all(|l| !l.no_newline));
        assert!(change.hunks[0].lines[0].words.is_empty());
    }

    #[test]
    fn a_missing_final_newline_is_a_change() {
        let change = diff_text("a\n", "a");
        assert_eq!(TextChange::to_unified(&change), "@@ -1,1 +1,1 @@\n-a\n+a\n");
        assert!(change.hunks[0].lines[1].no_newline);
    }
}
