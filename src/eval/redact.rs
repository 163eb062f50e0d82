//! Redaction: every text a provider sent back loses the provider's secrets (its API key
//! and every configured header value) before it can reach a report, a log or the cache.

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
    /// A redactor for these secret values.
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .filter(|s| s.trim().chars().count() >= MIN_SECRET_CHARS)
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

    /// Masks the secrets in an owned text.
    pub fn apply_owned(&self, text: String) -> String {
        match self.apply(&text) {
            Cow::Borrowed(_) => text,
            Cow::Owned(masked) => masked,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
