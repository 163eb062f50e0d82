//! Redaction: every text a provider sent back loses the provider's secrets (its API key
//! and every configured header value) before it can reach a report, a log or the cache,
//! in every form a server may echo them: as written, URL-encoded, JSON-escaped (with or
//! without escaped slashes) and base64-encoded (standard or URL-safe, at any alignment
//! inside a longer base64 text).

use std::borrow::Cow;

/// The mark left where a secret was.
pub const MASK: &str = "***";

/// Values shorter than this are not masked: masking `1` or `v2` everywhere would garble
/// every message while hiding nothing worth hiding.
const MIN_SECRET_CHARS: usize = 4;

/// The secrets of one provider, masked wherever they appear.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Longest first, so that a secret containing another is masked whole.
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor for these secret values, in each of their encoded forms.
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .filter(|s| s.trim().chars().count() >= MIN_SECRET_CHARS)
            .flat_map(|s| encoded_forms(&s))
            .filter(|s| s.chars().count() >= MIN_SECRET_CHARS)
            .collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor { secrets }
    }

    /// Returns `text` with every secret replaced by `***`.
    pub fn apply<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut text = Cow::Borrowed(text);
        for secret in &self.secrets {
            if text.contains(secret.as_str()) {
                text = Cow::Owned(text.replace(secret.as_str(), MASK));
            }
        }
        text
    }

    /// Tells whether there is any secret to mask.
    pub fn is_active(&self) -> bool {
        !self.secrets.is_empty()
    }

    /// Masks the secrets in an owned text.
    pub fn apply_owned(&self, text: String) -> String {
        match self.apply(&text) {
            Cow::Borrowed(_) => text,
            Cow::Owned(masked) => masked,
        }
    }
}

/// A secret as written and as a server may echo it.
fn encoded_forms(secret: &str) -> Vec<String> {
    let mut forms = vec![secret.to_owned()];
    for upper in [true, false] {
        forms.push(percent_encoded(secret, upper));
    }
    forms.push(form_urlencoded::byte_serialize(secret.as_bytes()).collect());
    let json = serde_json::to_string(secret).unwrap_or_default();
    let json = json.trim_matches('"').to_owned();
    forms.push(json.replace('/', "\\/"));
    forms.push(json);
    forms.extend(base64_forms(secret.as_bytes()));
    forms
}

/// Every byte but RFC 3986's unreserved ones as `%XX`.
fn percent_encoded(secret: &str, upper: bool) -> String {
    let mut out = String::with_capacity(secret.len() * 3);
    for byte in secret.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else if upper {
            out.push_str(&format!("%{byte:02X}"));
        } else {
            out.push_str(&format!("%{byte:02x}"));
        }
    }
    out
}

/// The base64 characters that only the secret's bytes decide, for each of the three
/// alignments it can have inside a longer base64 text, in both alphabets.
fn base64_forms(secret: &[u8]) -> Vec<String> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let mut forms = Vec::new();
    for offset in 0..3usize {
        let mut bytes = vec![0u8; offset];
        bytes.extend_from_slice(secret);
        let first = (8 * offset).div_ceil(6);
        let end = 8 * bytes.len() / 6;
        for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            let encoded = engine.encode(&bytes);
            if let Some(part) = encoded.get(first..end) {
                forms.push(part.to_owned());
            }
        }
    }
    forms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_a_key_url_encoded_json_escaped_and_base64_encoded() {
        // Seen: a key echoed URL-encoded or with escaped slashes leaked into 19 outputs.
        let key = "az/LEAK+key==";
        let redactor = Redactor::new([key.to_owned()]);
        let echoed = [
            "az%2FLEAK%2Bkey%3D%3D".to_owned(),
            "az%2fLEAK%2bkey%3d%3d".to_owned(),
            "az\\/LEAK+key==".to_owned(),
            {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD.encode(format!("user:{key}"))
            },
            {
                use base64::Engine;
                base64::engine::general_purpose::URL_SAFE.encode(format!("xx{key}yy"))
            },
        ];
        for text in echoed {
            let said = format!("error: {text} refused");
            let masked = redactor.apply(&said);
            assert!(masked.contains(MASK), "{text} → {masked}");
            for form in super::encoded_forms(key) {
                assert!(!masked.contains(&form), "{form} left in {masked}");
            }
        }
    }

    #[test]
    fn masks_every_secret_longest_first() {
        let redactor = Redactor::new(["sk-live-123456".to_owned(), "123456".into(), "v2".into()]);
        assert_eq!(
            redactor.apply("Incorrect API key provided: sk-live-123456 (org 123456, api v2)"),
            "Incorrect API key provided: *** (org ***, api v2)"
        );
        assert!(matches!(redactor.apply("nothing here"), Cow::Borrowed(_)));
    }
}
