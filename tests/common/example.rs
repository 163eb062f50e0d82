//! The example project `examples/support-triage` in a test repository, and small helpers
//! for the tests of the contract.

use std::path::Path;

use serde_json::Value;

use super::{Run, TestRepo};

/// A repository holding the example project of examples/support-triage, committed.
pub fn example() -> TestRepo {
    let repo = TestRepo::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/support-triage");
    for relative in [
        "promptctl.toml",
        "prompts/support/triage.toml",
        "prompts/schemas/triage.json",
        "prompts/schemas/lookup_customer.json",
        "evals/triage.toml",
    ] {
        repo.write(
            relative,
            &std::fs::read_to_string(root.join(relative)).unwrap(),
        );
    }
    repo.commit("support triage");
    repo
}

/// Replaces the first `from` in a file of the repository with `to`.
pub fn edit(repo: &TestRepo, relative: &str, from: &str, to: &str) {
    let path = repo.path().join(relative);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{relative} does not contain {from:?}");
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

/// A run's stdout as JSON.
pub fn json_of(run: &Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}
