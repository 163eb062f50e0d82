//! What an `exec` provider's replies may be reused on: the content of the files it
//! declares it reads (`inputs`). A command that declares none could read anything, so its
//! replies are never reused across runs (docs/evals.md, "The cache").

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The most files the inputs of one provider may name, folders walked.
pub const MAX_INPUT_FILES: usize = 10_000;
/// The most bytes they may hold together.
pub const MAX_INPUT_BYTES: u64 = 256 * 1024 * 1024;

/// Why the inputs could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InputsError {
    #[error("input `{input}` cannot be read: {source}")]
    Unreadable {
        input: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "its inputs hold more than {MAX_INPUT_FILES} files or {MAX_INPUT_BYTES} bytes; name fewer"
    )]
    TooLarge,
}

/// The SHA-256 over every input file's path and content, in path order. `inputs` are files
/// or folders (walked, links not followed into), relative to `root` or absolute.
pub fn inputs_hash(root: &Path, inputs: &[String]) -> Result<String, InputsError> {
    let mut files = Vec::new();
    for input in inputs {
        let path = root.join(input);
        collect(&path, &mut files).map_err(|source| InputsError::Unreadable {
            input: input.clone(),
            source,
        })?;
        if files.len() > MAX_INPUT_FILES {
            return Err(InputsError::TooLarge);
        }
    }
    files.sort();
    files.dedup();
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    for file in &files {
        let bytes = std::fs::read(file).map_err(|source| InputsError::Unreadable {
            input: file.display().to_string(),
            source,
        })?;
        total += bytes.len() as u64;
        if total > MAX_INPUT_BYTES {
            return Err(InputsError::TooLarge);
        }
        let name = file.to_string_lossy();
        hasher.update((name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    let mut hex = String::with_capacity(64);
    crate::base::copytext::push_hex(&mut hex, &hasher.finalize());
    Ok(hex)
}

/// Adds `path`, or every file below it when it is a folder.
fn collect(path: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_dir() {
        files.push(path.to_owned());
        return Ok(());
    }
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        if entry.file_type()?.is_symlink() && entry.path().is_dir() {
            continue;
        }
        collect(&entry.path(), files)?;
        if files.len() > MAX_INPUT_FILES {
            return Ok(());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_follows_every_file_named_or_below_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("lib")).unwrap();
        std::fs::write(dir.path().join("model.py"), "a").unwrap();
        std::fs::write(dir.path().join("lib/helper.py"), "b").unwrap();
        let inputs = ["model.py".to_owned(), "lib".to_owned()];
        let before = inputs_hash(dir.path(), &inputs).unwrap();
        assert_eq!(before, inputs_hash(dir.path(), &inputs).unwrap());
        std::fs::write(dir.path().join("lib/helper.py"), "c").unwrap();
        assert_ne!(before, inputs_hash(dir.path(), &inputs).unwrap());
        let missing = inputs_hash(dir.path(), &["gone.csv".to_owned()]).unwrap_err();
        assert!(
            missing
                .to_string()
                .starts_with("input `gone.csv` cannot be read")
        );
    }
}
