//! Gives the build an identity for promptctl's cache files (`src/base/cachefile.rs`): a
//! digest of the source it is compiled from and of the locked dependencies. Two builds of the
//! same version whose cache formats differ never read each other's caches; the version
//! number alone (the same for every 0.1.0 build) could not tell them apart.

use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn main() {
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=Cargo.lock");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = Vec::new();
    files(&root.join("src"), &mut paths);
    paths.push(root.join("Cargo.lock"));
    paths.sort();
    // FNV-1a over every path and its bytes: an identity, not a defence against tampering.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    };
    feed(env!("CARGO_PKG_VERSION").as_bytes());
    for path in &paths {
        let relative = path.strip_prefix(root).unwrap_or(path);
        feed(relative.to_string_lossy().as_bytes());
        feed(&[0]);
        feed(&std::fs::read(path).unwrap_or_default());
        feed(&[0]);
    }
    println!("cargo:rustc-env=PROMPTCTL_BUILD_ID={hash:016x}");
}
