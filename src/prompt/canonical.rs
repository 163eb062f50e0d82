//! Canonical JSON and content-addressed versions: the one implementation of both.
//!
//! A version is `sha256:` + the hex SHA-256 of the canonical JSON of everything that changes
//! what the model sees. Canonical JSON here means: object keys sorted by their UTF-8 bytes, no
//! insignificant whitespace, strings escaped as serde_json escapes them, numbers as serde_json
//! prints them. The writer sorts keys itself so that no cargo feature of serde_json (such as
//! `preserve_order`, enabled by some other crate) can change a version.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Number of hex digits shown for a version in human output.
pub const SHORT_HEX_LEN: usize = 12;
/// Fewest hex digits accepted as a version prefix.
pub const MIN_PREFIX_LEN: usize = 7;

/// Writes a JSON value in canonical form.
pub fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_canonical(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::String(s) => write_string(s, out),
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Writes the entries of a map whose keys are already in byte order (a `BTreeMap` of
/// `String`s) as a canonical object, each value written by `value`.
pub(super) fn write_sorted_object<'a, K: AsRef<str> + 'a, V: 'a>(
    entries: impl Iterator<Item = (&'a K, &'a V)>,
    out: &mut String,
    value: impl Fn(&V, &mut String),
) {
    out.push('{');
    for (i, (key, item)) in entries.enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(key.as_ref(), out);
        out.push(':');
        value(item, out);
    }
    out.push('}');
}

/// Writes a JSON string with minimal escaping, byte for byte as serde_json writes it:
/// `"` and `\\` escaped, `\b \f \n \r \t` by name, other control characters as `\u00xx`.
pub fn write_string(s: &str, out: &mut String) {
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    let mut plain_from = 0;
    let mut index = 0;
    while index < bytes.len() {
        // Eight bytes at a time up to the next that needs escaping: prompt and partial
        // texts are most of every version's bytes, and few of their bytes are escaped.
        if let Some(word) = bytes.get(index..index + 8) {
            let word = u64::from_le_bytes(word.try_into().expect("eight bytes"));
            match escape_mask(word) {
                0 => {
                    index += 8;
                    continue;
                }
                // The lowest flagged byte is the first that needs escaping.
                mask => index += (mask.trailing_zeros() / 8) as usize,
            }
        }
        let byte = bytes[index];
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => {
                index += 1;
                continue;
            }
        };
        out.push_str(&s[plain_from..index]);
        if escape.is_empty() {
            out.push_str(&format!("\\u{byte:04x}"));
        } else {
            out.push_str(escape);
        }
        index += 1;
        plain_from = index;
    }
    out.push_str(&s[plain_from..]);
    out.push('"');
}

/// Flags (the high bit of the byte) the bytes of a little-endian word that are control
/// characters, `"` or `\\`, by the classic "has a byte less than n" and "has a zero byte"
/// word tests. A borrow can flag a byte above one truly flagged, never below it: the
/// lowest flag is always exact, and the mask is zero exactly when no byte needs escaping.
fn escape_mask(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
    let zero_in = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let quote = zero_in(word ^ (ONES * u64::from(b'"')));
    let backslash = zero_in(word ^ (ONES * u64::from(b'\\')));
    below_space | quote | backslash
}

/// Returns the canonical JSON text of a value.
pub fn to_canonical_string(value: &Value) -> String {
    let mut out = String::with_capacity(1024);
    write_canonical(value, &mut out);
    out
}

/// A content address: the SHA-256 of a prompt's canonical JSON.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version([u8; 32]);

impl Version {
    /// Reads exactly 64 hex digits (either case), as stored in `state.toml` and as object
    /// file names; `None` for anything else. Release stores hold tens of thousands, so this
    /// is a plain table-free loop rather than a parse through strings.
    pub fn from_hex(hex: &str) -> Option<Version> {
        let digits = hex.as_bytes();
        if digits.len() != 64 {
            return None;
        }
        let mut bytes = [0u8; 32];
        // Table lookups without a branch per digit: caches decode thousands of versions.
        let mut invalid = 0u8;
        for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
            let (high, low) = (
                HEX_VALUES[usize::from(pair[0])],
                HEX_VALUES[usize::from(pair[1])],
            );
            invalid |= high | low;
            *byte = (high << 4) | (low & 0xf);
        }
        (invalid & 0xf0 == 0).then_some(Version(bytes))
    }

    /// Hashes canonical JSON bytes into a version.
    pub fn of_canonical(canonical: &[u8]) -> Self {
        Version(Sha256::digest(canonical).into())
    }

    /// The first byte: which `objects/` folder of a release commit it is stored in.
    pub fn folder(&self) -> u8 {
        self.0[0]
    }

    /// Appends the version as it is written (`sha256:` and 64 hex digits).
    pub fn push_text(&self, out: &mut String) {
        out.push_str("sha256:");
        push_hex(out, &self.0);
    }

    /// Returns the 64 lower-case hex digits.
    pub fn hex(&self) -> String {
        let mut s = String::with_capacity(64);
        push_hex(&mut s, &self.0);
        s
    }

    /// Returns the first twelve hex digits, as shown to people.
    pub fn short(&self) -> String {
        let mut s = String::with_capacity(SHORT_HEX_LEN);
        self.push_short(&mut s);
        s
    }

    /// Appends the first twelve hex digits to `out`, for tables of thousands of rows.
    pub fn push_short(&self, out: &mut String) {
        push_hex(out, &self.0[..SHORT_HEX_LEN / 2]);
    }

    /// Tells whether the hex digits of this version start with `prefix`.
    pub fn matches_prefix(&self, prefix: &VersionPrefix) -> bool {
        self.hex().starts_with(&prefix.0)
    }
}

use crate::base::copytext::push_hex;

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Version({})", self.short())
    }
}

impl serde::Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl FromStr for Version {
    type Err = String;

    /// Parses a full `sha256:<64 hex>` version.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(version) = s.strip_prefix("sha256:").and_then(Version::from_hex) {
            return Ok(version);
        }
        let prefix: VersionPrefix = s.parse()?;
        match Version::from_hex(&prefix.0) {
            Some(version) => Ok(version),
            None => Err(format!(
                "`{s}` is not a full version (sha256: and 64 hex digits)"
            )),
        }
    }
}

/// The value of each hex digit by byte; `0xff` for a byte that is not one.
const HEX_VALUES: [u8; 256] = {
    let mut table = [0xff; 256];
    let mut i = 0;
    while i < 16 {
        table[b"0123456789abcdef"[i] as usize] = i as u8;
        table[b"0123456789ABCDEF"[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// A version given by a unique prefix of at least seven hex digits (`sha256:3f2a9c1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionPrefix(String);

impl VersionPrefix {
    /// Returns the lower-case hex digits of the prefix.
    pub fn hex(&self) -> &str {
        &self.0
    }
}

impl FromStr for VersionPrefix {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s.strip_prefix("sha256:").unwrap_or(s);
        if digits.len() < MIN_PREFIX_LEN || digits.len() > 64 {
            return Err(format!(
                "`{s}` needs between {MIN_PREFIX_LEN} and 64 hex digits after `sha256:`"
            ));
        }
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("`{s}` has characters that are not hex digits"));
        }
        Ok(VersionPrefix(digits.to_ascii_lowercase()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorts_keys_at_every_depth_and_drops_whitespace() {
        let value = json!({"b": 1, "a": {"z": [1, {"y": 2, "x": "é\n\"q\""}], "c": null}});
        assert_eq!(
            to_canonical_string(&value),
            r#"{"a":{"c":null,"z":[1,{"x":"é\n\"q\"","y":2}]},"b":1}"#
        );
    }

    #[test]
    fn sorts_by_bytes_not_by_locale() {
        let value = json!({"a": 1, "B": 2, "_": 3, "é": 4});
        assert_eq!(to_canonical_string(&value), r#"{"B":2,"_":3,"a":1,"é":4}"#);
    }

    #[test]
    fn strings_are_escaped_exactly_as_serde_json_escapes_them() {
        let mut all: String = (0u32..0x80).filter_map(char::from_u32).collect();
        all.push_str("é€😀\u{2028}\u{7f}");
        let mut ours = String::new();
        write_string(&all, &mut ours);
        assert_eq!(ours, serde_json::to_string(&all).unwrap());
        // Each character at every offset of a run of plain text, so that it falls at each
        // place of an eight-byte word, and in the tail after the last whole word.
        for c in (0u32..0x80)
            .filter_map(char::from_u32)
            .chain(['é', '\u{7f}', 'ÿ'])
        {
            for at in 0..19 {
                let mut text: String = "plain text, twenty".chars().take(at).collect();
                text.push(c);
                text.push_str("plain text tail");
                let mut ours = String::new();
                write_string(&text, &mut ours);
                assert_eq!(ours, serde_json::to_string(&text).unwrap(), "{c:?} at {at}");
            }
        }
    }

    #[test]
    fn numbers_keep_their_integer_or_float_form() {
        assert_eq!(
            to_canonical_string(&json!([0.0, 1, 0.5, -2, 100.0, 1e20, 1.5e-7])),
            "[0.0,1,0.5,-2,100.0,1e+20,1.5e-7]"
        );
    }

    #[test]
    fn version_is_sha256_of_the_canonical_bytes() {
        // sha256("") is a well-known vector.
        let v = Version::of_canonical(b"");
        assert_eq!(
            v.to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(v.short(), "e3b0c44298fc");
        assert_eq!(v.to_string().parse::<Version>().unwrap(), v);
    }

    #[test]
    fn prefixes_need_seven_hex_digits() {
        let v = Version::of_canonical(b"");
        assert!(v.matches_prefix(&"sha256:e3b0c44".parse().unwrap()));
        assert!(v.matches_prefix(&"E3B0C442".parse().unwrap()));
        assert!(!v.matches_prefix(&"sha256:e3b0c45".parse().unwrap()));
        assert!("sha256:e3b0c4".parse::<VersionPrefix>().is_err());
        assert!("sha256:e3b0c4g".parse::<VersionPrefix>().is_err());
        assert!("sha256:e3b0c44".parse::<Version>().is_err());
    }
}
