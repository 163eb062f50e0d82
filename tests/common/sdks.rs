//! The Python and Node packages the SDK tests drive (OpenFeature SDKs, minijinja bindings):
//! where `.ci/sdks` installed them, and running a script under `tests/sdk` with them.
//!
//! `.ci/run` names them: `PROMPTCTL_SDK_PYTHON` (a Python with the PyPI packages) and
//! `PROMPTCTL_SDK_NODE_PATH` (a `node_modules` folder). Without them the tests are skipped,
//! unless `PROMPTCTL_REQUIRE_SDKS=1`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

pub struct Sdks {
    pub python: PathBuf,
    pub node_path: PathBuf,
}

pub fn sdks() -> Option<Sdks> {
    let found = match (
        std::env::var_os("PROMPTCTL_SDK_PYTHON"),
        std::env::var_os("PROMPTCTL_SDK_NODE_PATH"),
    ) {
        (Some(python), Some(node_path)) => Some(Sdks {
            python: python.into(),
            node_path: node_path.into(),
        }),
        _ => None,
    };
    if found.is_none() {
        assert!(
            std::env::var("PROMPTCTL_REQUIRE_SDKS").as_deref() != Ok("1"),
            "PROMPTCTL_REQUIRE_SDKS=1 but PROMPTCTL_SDK_PYTHON and PROMPTCTL_SDK_NODE_PATH are not set (.ci/run sets them)"
        );
        eprintln!(
            "OpenFeature SDK tests skipped: PROMPTCTL_SDK_PYTHON and PROMPTCTL_SDK_NODE_PATH are not set"
        );
    }
    found
}

pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sdk")
        .join(name)
}

/// Runs a script and reads the JSON it prints; it must exit 0.
pub fn run_json(sdks: &Sdks, interpreter: &str, script_name: &str, args: &[&str]) -> Value {
    let program = if interpreter == "python" {
        sdks.python.clone()
    } else {
        PathBuf::from("node")
    };
    let output = Command::new(program)
        .arg(script(script_name))
        .args(args)
        .env("NODE_PATH", &sdks.node_path)
        .output()
        .expect("the interpreter runs");
    assert!(
        output.status.success(),
        "{script_name} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{script_name} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}
