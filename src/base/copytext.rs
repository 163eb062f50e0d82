//! Fields of the tab-separated lines of promptctl's caches, escaped as PostgreSQL's COPY
//! text format does: `\\`, `\t`, `\n` and `\r`, so a field never holds a separator; and
//! the lower-case hex digits in which ids and digests are written.

/// The lower-case hex digits, by value.
const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// `bytes` as lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    push_hex(&mut out, bytes);
    out
}

/// Appends `bytes` as lower-case hex: the one writer of every id and digest shown as hex.
pub fn push_hex(out: &mut String, bytes: &[u8]) {
    // Digits are written into a buffer and appended a run at a time: a `push` per digit
    // was most of the cost of an OFREP evaluation's own code, which writes 76 of them.
    let mut digits = [0u8; 64];
    for run in bytes.chunks(digits.len() / 2) {
        for (pair, byte) in digits.chunks_exact_mut(2).zip(run) {
            pair[0] = HEX_DIGITS[usize::from(byte >> 4)];
            pair[1] = HEX_DIGITS[usize::from(byte & 15)];
        }
        let written = &digits[..run.len() * 2];
        out.push_str(std::str::from_utf8(written).expect("hex digits are ASCII"));
    }
}

/// Appends `text` to `out`, escaped.
pub fn escape(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// Reads an escaped field back; `None` for an escape that [`escape`] never writes.
pub fn unescape(field: &str) -> Option<String> {
    if !field.contains('\\') {
        return Some(field.to_owned());
    }
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next()? {
            '\\' => '\\',
            't' => '\t',
            'n' => '\n',
            'r' => '\r',
            _ => return None,
        });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_separator_round_trips() {
        let text = "a\tb\nc\\d\re";
        let mut out = String::new();
        escape(&mut out, text);
        assert!(!out.contains(['\t', '\n', '\r']));
        assert_eq!(unescape(&out).as_deref(), Some(text));
    }

    #[test]
    fn an_unknown_escape_is_refused() {
        assert_eq!(unescape("a\\qb"), None);
        assert_eq!(unescape("trailing\\"), None);
    }

    #[test]
    fn bytes_are_written_as_lower_case_hex() {
        let mut out = String::from("id ");
        push_hex(&mut out, &[0x00, 0x0f, 0xab, 0xff]);
        assert_eq!(out, "id 000fabff");
        // Longer than one run of the buffer, and empty.
        let long: Vec<u8> = (0..=80).collect();
        let expected: String = long.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex(&long), expected);
        assert_eq!(hex(&[]), "");
    }
}
