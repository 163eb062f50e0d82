//! HTTP clients: the one place they are built, on rustls with the `ring` provider.
//!
//! rustls is linked instead of the system's OpenSSL so that a command which never opens a
//! connection does not load and relocate libssl and libcrypto when it starts (about 1 ms
//! of every `list` or `diff`). Certificate roots are the platform's, read by
//! `rustls-platform-verifier` only when a client first verifies an https server.

use std::sync::Once;

/// Returns a builder for an async client.
pub fn client() -> reqwest::ClientBuilder {
    install_provider();
    reqwest::Client::builder()
}

/// Returns a builder for a blocking client (not to be used on an async runtime's thread).
pub fn blocking_client() -> reqwest::blocking::ClientBuilder {
    install_provider();
    reqwest::blocking::Client::builder()
}

/// Makes `ring` the process's rustls provider, unless an embedding program chose one.
fn install_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // An error means a provider is installed already, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn building_a_client_installs_a_provider_and_keeps_one() {
        client().build().expect("an async client");
        blocking_client().build().expect("a blocking client");
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }
}
