//! The TLS settings every HTTP client shares: rustls on `ring`, and the platform's
//! certificate roots read on the first https handshake of the process, not before.
//!
//! Why not reqwest's own setup: it builds `rustls-platform-verifier`'s verifier when a
//! client is built, and on Linux that reads and parses every file under `/etc/ssl/certs`
//! (about 150 here, some 5 ms). An `eval` against a local or `http://` endpoint, or a
//! `serve` that never sends a webhook, paid that before its first request.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, Error, SignatureScheme};

/// The client configuration every HTTP client starts from: TLS 1.2 and 1.3, the platform's
/// roots (read lazily), no client certificate, and ALPN offering HTTP/2 then HTTP/1.1 as
/// reqwest offers by default.
pub fn client_config() -> rustls::ClientConfig {
    static CONFIG: OnceLock<rustls::ClientConfig> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = provider();
            let mut config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
                .with_safe_default_protocol_versions()
                .expect("ring supports TLS 1.2 and 1.3")
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(PlatformRoots::new(provider)))
                .with_no_client_auth();
            config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            config
        })
        .clone()
}

/// The process's rustls provider: `ring`, installed as the default unless an embedding
/// program installed one first, which is then used.
pub fn provider() -> Arc<CryptoProvider> {
    // An error means a provider is installed already, which is as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    CryptoProvider::get_default()
        .cloned()
        .expect("a provider was just installed")
}

/// Whether this process has read the platform's certificate roots yet.
pub fn roots_loaded() -> bool {
    LOADED.get().is_some()
}

static LOADED: OnceLock<()> = OnceLock::new();

/// Verifies servers against the platform's roots, building the platform verifier on the
/// first certificate it is asked about. Signatures need no roots, so they are checked with
/// the provider's algorithms as the platform verifier would check them.
#[derive(Debug)]
struct PlatformRoots {
    provider: Arc<CryptoProvider>,
    verifier: OnceLock<Result<rustls_platform_verifier::Verifier, Error>>,
}

impl PlatformRoots {
    fn new(provider: Arc<CryptoProvider>) -> PlatformRoots {
        PlatformRoots {
            provider,
            verifier: OnceLock::new(),
        }
    }

    fn verifier(&self) -> Result<&rustls_platform_verifier::Verifier, Error> {
        let built = self.verifier.get_or_init(|| {
            let _ = LOADED.set(());
            rustls_platform_verifier::Verifier::new(Arc::clone(&self.provider)).map_err(|e| {
                let why = match e {
                    Error::General(why) => why,
                    other => other.to_string(),
                };
                Error::General(format!(
                    "the certificate roots could not be read ({why}); set SSL_CERT_FILE or \
                     SSL_CERT_DIR to where they are"
                ))
            })
        });
        built.as_ref().map_err(Clone::clone)
    }

    fn algorithms(&self) -> &WebPkiSupportedAlgorithms {
        &self.provider.signature_verification_algorithms
    }
}

impl ServerCertVerifier for PlatformRoots {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        self.verifier()?.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, self.algorithms())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, self.algorithms())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms().supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_offers_both_http_versions_and_the_providers_schemes() {
        let config = client_config();
        assert_eq!(
            config.alpn_protocols,
            [b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        let verifier = PlatformRoots::new(provider());
        assert!(
            verifier
                .supported_verify_schemes()
                .contains(&SignatureScheme::ECDSA_NISTP256_SHA256)
        );
    }
}
