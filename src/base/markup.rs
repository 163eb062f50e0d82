//! Escaping text for XML and HTML: the JUnit report and the dashboard.

/// Escapes `text` for XML 1.0 and HTML5 text and attribute values; characters XML cannot
/// hold at all become U+FFFD.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot hold at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn markup_characters_and_control_characters_are_escaped() {
        assert_eq!(
            super::escape("<b a=\"1\">&'\u{1}\n"),
            "&lt;b a=&quot;1&quot;&gt;&amp;&apos;\u{fffd}\n"
        );
    }
}
