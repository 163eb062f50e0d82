//! `eval` over https against a real TLS server on 127.0.0.1, with certificates made by the
//! `openssl` command for the test: the platform's roots (here `SSL_CERT_FILE`) are read on
//! the first https handshake, trusted when they sign the server, refused in plain words when
//! they do not, and never read by a run that only speaks http.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use common::TestRepo;
use common::mock_llm::{MockConfig, MockLlm};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;

/// A new P-256 key, unencrypted: the part of `openssl req` every certificate here shares.
const NEW_KEY: &str = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";

/// Runs `openssl` in `dir` with `args` (split at spaces; none here holds one), failing the
/// test with its output when it fails.
fn openssl(dir: &Path, args: &str) {
    let done = Command::new("openssl")
        .args(args.split_whitespace())
        .current_dir(dir)
        .output()
        .expect("the openssl command (.ci/run installs it)");
    assert!(
        done.status.success(),
        "openssl {args}: {}",
        String::from_utf8_lossy(&done.stderr)
    );
}

/// Makes a certificate authority named `name` in `dir` (`NAME.pem`, `NAME.key`).
fn authority(dir: &Path, name: &str) {
    openssl(
        dir,
        &format!(
            "req -x509 {NEW_KEY} -keyout {name}.key -out {name}.pem -days 2 -subj /CN={name} \
             -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign"
        ),
    );
}

/// A server certificate for `localhost` signed by the authority `ca`, as a rustls config.
fn server_config(dir: &Path, ca: &str) -> Arc<rustls::ServerConfig> {
    openssl(
        dir,
        &format!("req {NEW_KEY} -keyout server.key -out server.csr -subj /CN=localhost"),
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &format!(
            "x509 -req -in server.csr -CA {ca}.pem -CAkey {ca}.key -CAcreateserial \
             -out server.pem -days 2 -extfile server.ext"
        ),
    );
    let chain = vec![CertificateDer::from_pem_file(dir.join("server.pem")).unwrap()];
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    Arc::new(config)
}

/// A committed repository whose one suite sends two cases to the endpoint at `url`.
fn repo(url: &str) -> TestRepo {
    let repo = TestRepo::new();
    repo.write(
        "promptctl.toml",
        &format!(
            "[defaults]\nmodel = \"test-model\"\n\n[providers.mock]\nkind = \"openai\"\nbase_url = \"{url}\"\napi_key_env = \"MOCK_API_KEY\"\nmax_retries = 0\n"
        ),
    )
    .write("prompts/support/route.toml", common::ROUTE_PROMPT)
    .write(
        "evals/route.toml",
        "prompt = \"support/route\"\n\n[[cases]]\nname = \"one\"\nvars = { ticket = \"a\" }\nassert = [{ type = \"contains\", value = \"billing\" }]\n\n[[cases]]\nname = \"two\"\nvars = { ticket = \"b\" }\nassert = [{ type = \"contains\", value = \"billing\" }]\n",
    );
    repo.commit("route");
    repo
}

/// Runs `eval` with `SSL_CERT_FILE` set to `roots` and `SSL_CERT_DIR` to an empty folder,
/// so that no roots of this machine's are read, and returns its JSON report.
fn eval(repo: &TestRepo, roots: &Path) -> Value {
    let no_folder = tempfile::tempdir().unwrap();
    let run = repo.run_with(
        repo.path(),
        &["eval", "--no-cache", "--format", "json"],
        &[
            ("MOCK_API_KEY", common::MOCK_KEY),
            ("SSL_CERT_FILE", roots.to_str().unwrap()),
            ("SSL_CERT_DIR", no_folder.path().to_str().unwrap()),
        ],
    );
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {} {}", run.stdout, run.stderr))
}

#[test]
fn https_is_verified_against_the_platforms_roots_read_on_the_first_handshake() {
    let dir = tempfile::tempdir().unwrap();
    authority(dir.path(), "trusted");
    authority(dir.path(), "stranger");
    let mock = MockLlm::start_tls(MockConfig::default(), server_config(dir.path(), "trusted"));
    let repo = repo(&mock.url);

    let trusted = eval(&repo, &dir.path().join("trusted.pem"));
    assert_eq!(trusted["requests"]["sent"], 2, "{trusted}");
    assert_eq!(trusted["requests"]["failed"], 0, "{trusted}");
    assert_eq!(mock.requests(), 2);

    let refused = eval(&repo, &dir.path().join("stranger.pem"));
    assert_eq!(refused["requests"]["failed"], 2, "{refused}");
    assert_eq!(
        mock.requests(),
        2,
        "no request reaches a server it cannot trust"
    );
    let text = refused.to_string();
    assert!(
        text.contains("invalid peer certificate: UnknownIssuer"),
        "{text}"
    );

    let unreadable = eval(&repo, &dir.path().join("missing.pem"));
    assert_eq!(unreadable["requests"]["failed"], 2, "{unreadable}");
    let text = unreadable.to_string();
    assert!(
        text.contains("certificate roots could not be read"),
        "{text}"
    );
}

#[test]
fn an_http_endpoint_reads_no_certificate_roots() {
    // Seen: building the provider's HTTP client read and parsed every file under
    // /etc/ssl/certs (about 150, some 5 ms before the first request) even for an http://
    // endpoint; with no roots to read, such a run failed before it sent anything.
    let mock = MockLlm::start(MockConfig::default());
    let repo = repo(&mock.url);
    let report = eval(&repo, Path::new("/nonexistent/roots.pem"));
    assert_eq!(report["requests"]["sent"], 2, "{report}");
    assert_eq!(report["requests"]["failed"], 0, "{report}");
}
