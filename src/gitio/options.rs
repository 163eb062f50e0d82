//! libgit2's process-wide options, set once before the first repository is opened: object
//! hash checks as git does them, and git's configuration files as git finds them.
//!
//! libgit2 checks the SHA-1 of every object it reads by default; `git` itself does not
//! (only `fsck` and transfers do). On a 10,000-prompt release that check was a fifth of
//! the CPU of every action. Objects reach a repository through git, which hashed them when
//! it wrote them, and every frozen version read from the release store is checked again
//! against its own SHA-256 version, so nothing is lost by trusting the object database the
//! way git does.
//!
//! libgit2 finds configuration in folders (`~/.gitconfig`, `$XDG_CONFIG_HOME/git/config`,
//! `/etc/gitconfig`) and knows nothing of git's variables that name files instead:
//! `GIT_CONFIG_GLOBAL`, `GIT_CONFIG_SYSTEM` and `GIT_CONFIG_NOSYSTEM`. So the identity of a
//! release commit, or the branch `init` creates, came from `~/.gitconfig` while `git` read
//! another file. Here each level libgit2 searches is pointed where git reads: a named file
//! through a folder whose config file includes it (libgit2 follows `include.path` and
//! `includeIf` as git does), no file through an empty folder.

use std::path::{Path, PathBuf};
use std::sync::Once;

use git2::ConfigLevel;

/// Sets the options; cheap after the first call.
pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        git2::opts::strict_hash_verification(false);
        let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let global = env("GIT_CONFIG_GLOBAL").map(PathBuf::from);
        let system = env("GIT_CONFIG_SYSTEM").map(PathBuf::from);
        let no_system = env("GIT_CONFIG_NOSYSTEM").is_some_and(|v| is_true(&v.to_string_lossy()));
        if let Err(error) = point_levels(global.as_deref(), system.as_deref(), no_system) {
            tracing::warn!(%error, "cannot point libgit2 at git's configuration files");
        }
    });
}

/// git's reading of a boolean variable (`GIT_CONFIG_NOSYSTEM=1`, `true`, `yes`, `on`).
fn is_true(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

/// Points libgit2's global, XDG and system levels where git reads them under these
/// variables; a level no variable names keeps libgit2's own search (which follows `HOME`
/// and `XDG_CONFIG_HOME` as git does).
fn point_levels(
    global: Option<&Path>,
    system: Option<&Path>,
    no_system: bool,
) -> std::io::Result<()> {
    if let Some(file) = global {
        // git then reads this file alone at the user level: neither ~/.gitconfig nor XDG.
        set(ConfigLevel::Global, &including(file, ".gitconfig")?);
        set(ConfigLevel::XDG, &empty_folder()?);
    }
    if no_system {
        set(ConfigLevel::System, &empty_folder()?);
    } else if let Some(file) = system {
        set(ConfigLevel::System, &including(file, "gitconfig")?);
    }
    Ok(())
}

fn set(level: ConfigLevel, folder: &Path) {
    // SAFETY: called once, under `Once`, before any repository is opened in this process.
    let set = unsafe { git2::opts::set_search_path(level, folder.as_os_str().as_encoded_bytes()) };
    if let Err(error) = set {
        tracing::warn!(%error, ?level, "cannot set libgit2's configuration search path");
    }
}

/// A folder of promptctl's own, private to this user, for the files below.
fn own_folder() -> std::io::Result<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })
        .unwrap_or_else(std::env::temp_dir);
    let folder = base.join(format!("promptctl-gitconfig-{}", user_id()));
    std::fs::create_dir_all(&folder)?;
    refuse_if_not_ours(&folder)?;
    Ok(folder)
}

#[cfg(unix)]
fn user_id() -> u32 {
    // SAFETY: getuid cannot fail and touches no memory.
    unsafe { libc::getuid() }
}

#[cfg(not(unix))]
fn user_id() -> u32 {
    0
}

/// A folder another user made (in a shared temporary folder) could hold a config of theirs.
#[cfg(unix)]
fn refuse_if_not_ours(folder: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    if std::fs::metadata(folder)?.uid() != user_id() {
        return Err(std::io::Error::other(format!(
            "`{}` belongs to another user",
            folder.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn refuse_if_not_ours(_: &Path) -> std::io::Result<()> {
    Ok(())
}

/// An empty folder: a level that reads no file.
fn empty_folder() -> std::io::Result<PathBuf> {
    let folder = own_folder()?.join("none");
    std::fs::create_dir_all(&folder)?;
    Ok(folder)
}

/// A folder whose config file (`name`, as libgit2 looks for it at that level) includes
/// `file`, written only when it says something else.
fn including(file: &Path, name: &str) -> std::io::Result<PathBuf> {
    let absolute = std::path::absolute(file)?;
    let shown = absolute.to_string_lossy();
    let mut digest = 0xcbf2_9ce4_8422_2325u64;
    for byte in shown.bytes().chain(name.bytes()) {
        digest = (digest ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    let folder = own_folder()?.join(format!("{digest:016x}"));
    std::fs::create_dir_all(&folder)?;
    let escaped = shown.replace('\\', "\\\\").replace('"', "\\\"");
    let text = format!("[include]\n\tpath = \"{escaped}\"\n");
    let path = folder.join(name);
    if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
        crate::base::fsutil::write_atomic(&path, text.as_bytes())?;
    }
    Ok(folder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_reads_these_words_as_true() {
        for yes in ["1", "true", "YES", "on "] {
            assert!(is_true(yes), "{yes}");
        }
        for no in ["0", "false", "no", ""] {
            assert!(!is_true(no), "{no}");
        }
    }
}
