//! URLs as people see them in messages: scheme, host and port, never the path, query or
//! credentials, where webhooks and providers carry their secrets.

/// `https://user:pw@hooks.example.com:8443/services/SECRET?x=1` → `https://hooks.example.com:8443/…`.
pub fn shown(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(parsed) => format!(
            "{}://{}{}/…",
            parsed.scheme(),
            parsed.host_str().unwrap_or("?"),
            parsed.port().map(|p| format!(":{p}")).unwrap_or_default()
        ),
        Err(_) => "the configured URL (not shown: it may hold a secret)".into(),
    }
}

/// A URL that is not an http(s) URL with a host; it is named as [`shown`] shows it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{shown}` is not an http(s) URL")]
pub struct NotHttpUrl {
    pub shown: String,
}

/// Checks that `url` is an http(s) URL with a host: the rule for Prometheus and webhook
/// URLs, from a flag or a file alike.
pub fn check_http(url: &str) -> Result<(), NotHttpUrl> {
    match reqwest::Url::parse(url) {
        Ok(parsed)
            if matches!(parsed.scheme(), "http" | "https") && parsed.host_str().is_some() =>
        {
            Ok(())
        }
        _ => Err(NotHttpUrl { shown: shown(url) }),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_http_urls_with_a_host_pass() {
        assert!(super::check_http("http://127.0.0.1:9090").is_ok());
        assert!(super::check_http("https://prometheus.internal").is_ok());
        for bad in ["notaurl", "ftp://x", "http://", "prometheus:9090"] {
            assert!(super::check_http(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls_are_shown_without_their_secret_path_or_credentials() {
        assert_eq!(
            super::shown("https://user:pw@hooks.example.com:8443/services/T0/B0/SECRET?x=1"),
            "https://hooks.example.com:8443/…"
        );
        assert_eq!(
            super::shown("ftp://u:p@files.example.com/SECRET"),
            "ftp://files.example.com/…"
        );
        assert!(!super::shown("hooks.example.com/SECRET").contains("SECRET"));
    }
}
