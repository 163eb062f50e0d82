//! Network git: reading a remote's release branch, fetching it and pushing to it, through
//! the `git` command, as cargo's `git-fetch-with-cli` and uv do.
//!
//! Why the command and not libgit2: it speaks protocol v2 (asking a remote for one branch
//! costs one small exchange, not a list of every ref), it uses the user's own credential
//! helpers, ssh configuration and proxies, and keeping TLS and ssh out of the libgit2 we
//! link means that local commands (`list`, `diff`, `status`) never load a certificate
//! bundle. Every operation runs under a deadline and is killed past it, never prompts for a
//! password, and gives up on a transfer that stalls.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one network operation may take when `PROMPTCTL_GIT_TIMEOUT` does not say.
pub const DEFAULT_TIMEOUT: Duration = crate::base::http::DEFAULT_TIMEOUT;
/// The environment variable that sets the deadline of network operations, in seconds.
pub const TIMEOUT_ENV: &str = "PROMPTCTL_GIT_TIMEOUT";
/// An HTTP transfer slower than this many bytes a second ...
const LOW_SPEED_BYTES: &str = "1000";
/// ... for this many seconds is abandoned, well before the deadline.
const LOW_SPEED_SECONDS: &str = "10";
/// How much of a failing command's output is kept for the message.
const MAX_OUTPUT_BYTES: u64 = 64 * 1024;

/// Why a network operation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TransportError {
    /// `git` could not be started.
    #[error("cannot run `git` ({message}); network operations need git on PATH")]
    NoGit { message: String },
    /// The operation outlived its deadline and was stopped.
    #[error("no answer within {seconds} s (set {TIMEOUT_ENV} to wait longer)")]
    Timeout { seconds: u64 },
    /// `git` said no.
    #[error("{message}")]
    Failed { message: String },
    /// `PROMPTCTL_GIT_TIMEOUT` is not a usable deadline.
    #[error("{TIMEOUT_ENV}={value}: {source}")]
    BadTimeout {
        value: String,
        #[source]
        source: crate::base::duration::DurationError,
    },
}

/// The longest deadline `PROMPTCTL_GIT_TIMEOUT` may set.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(86_400);

/// The deadline of network operations: `PROMPTCTL_GIT_TIMEOUT` (seconds, or a span such
/// as `30s` or `2m`; more than 0, at most a day), else 10 s. A value that is not one is an
/// error, never quietly the default.
pub fn timeout() -> Result<Duration, TransportError> {
    match std::env::var(TIMEOUT_ENV) {
        Err(_) => Ok(DEFAULT_TIMEOUT),
        Ok(value) => parse_timeout(&value),
    }
}

fn parse_timeout(value: &str) -> Result<Duration, TransportError> {
    let bad = |source| TransportError::BadTimeout {
        value: value.to_owned(),
        source,
    };
    crate::base::duration::Bounds::positive(MAX_TIMEOUT)
        .parse(value)
        .map_err(bad)
}

/// The commit `remote` (a remote's name or a URL) has at `refs/heads/<branch>`, or `None`
/// when it has no such branch.
pub fn remote_tip(
    git_dir: &Path,
    remote: &str,
    branch: &str,
) -> Result<Option<git2::Oid>, TransportError> {
    let wanted = format!("refs/heads/{branch}");
    let out = run(git_dir, &["ls-remote", "--", remote, &wanted])?;
    Ok(out
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .find(|(_, name)| *name == wanted)
        .and_then(|(oid, _)| git2::Oid::from_str(oid.trim()).ok()))
}

/// Fetches `refspec` from `remote`, without tags and without writing `FETCH_HEAD`.
pub fn fetch(git_dir: &Path, remote: &str, refspec: &str) -> Result<(), TransportError> {
    run(
        git_dir,
        &[
            // Keep what arrives as one pack, which appears whole when its index is renamed
            // into place. Unpacked into loose objects, a commit is written before its tree,
            // and another promptctl in this clone could find the commit and miss the tree.
            "-c",
            "fetch.unpackLimit=1",
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            // No remote-tracking branch is updated on the side (git does so for a
            // configured remote), so fetches racing in one clone take no ref lock.
            "--refmap=",
            "--",
            remote,
            refspec,
        ],
    )
    .map(drop)
}

/// Packs every object of a repository into one pack and drops the packs and loose objects
/// it replaces (`git repack -a -d`), under the same deadline as network operations.
pub fn repack(git_dir: &Path) -> Result<(), TransportError> {
    run(git_dir, &["repack", "-a", "-d", "-q"]).map(drop)
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pushed {
    /// The remote took it (or already had it).
    Accepted,
    /// The remote refused it, and why (`fetch first`, `non-fast-forward`): it has commits
    /// this repository has not seen. Nothing was overwritten.
    Rejected(String),
}

/// Pushes `refspec` to `remote` as a fast-forward only: the remote refuses a push that
/// would drop commits it has, which is the lease.
pub fn push(git_dir: &Path, remote: &str, refspec: &str) -> Result<Pushed, TransportError> {
    match run(git_dir, &["push", "--porcelain", "--", remote, refspec]) {
        Ok(_) => Ok(Pushed::Accepted),
        Err(TransportError::Failed { message }) => match rejection(&message) {
            Some(reason) if is_lost_race(&reason) => Ok(Pushed::Rejected(reason)),
            _ => Err(TransportError::Failed { message }),
        },
        Err(other) => Err(other),
    }
}

/// Pushes `commit` to `refs/heads/<branch>` of `remote` only if the remote's branch is
/// still at `expected` (`None`: only if it does not exist): `--force-with-lease` makes the
/// remote compare and swap, so exactly one of many racing pushers wins.
pub fn push_commit(
    git_dir: &Path,
    remote: &str,
    commit: git2::Oid,
    branch: &str,
    expected: Option<git2::Oid>,
) -> Result<Pushed, TransportError> {
    let lease = format!(
        "--force-with-lease=refs/heads/{branch}:{}",
        expected.map(|id| id.to_string()).unwrap_or_default()
    );
    let refspec = format!("{commit}:refs/heads/{branch}");
    match run(
        git_dir,
        &["push", "--porcelain", &lease, "--", remote, &refspec],
    ) {
        Ok(_) => Ok(Pushed::Accepted),
        Err(TransportError::Failed { message }) => match rejection(&message) {
            Some(reason) if is_lost_race(&reason) => Ok(Pushed::Rejected(reason)),
            _ => Err(TransportError::Failed { message }),
        },
        Err(other) => Err(other),
    }
}

/// Tells whether a rejection means the remote moved on, or another push held its ref's
/// lock at that moment (as opposed to a hook or a permission saying no).
fn is_lost_race(reason: &str) -> bool {
    [
        "fetch first",
        "non-fast-forward",
        "stale info",
        "failed to update ref",
        "cannot lock ref",
        "failed to lock",
    ]
    .iter()
    .any(|r| reason.contains(r))
}

/// The reason of a rejected ref in `git push --porcelain` output: a line
/// `!<TAB>from:to<TAB>[rejected] (fetch first)`.
fn rejection(output: &str) -> Option<String> {
    output
        .lines()
        .find(|line| line.starts_with("!\t"))
        .map(|line| {
            line.rsplit('\t')
                .next()
                .unwrap_or(line)
                .trim_start_matches("[rejected]")
                .trim_start_matches("[remote rejected]")
                .trim()
                .trim_start_matches('(')
                .trim_end_matches(')')
                .to_owned()
        })
}

/// Runs `git --git-dir GIT_DIR ARGS…` under the deadline; its stdout, or what it said on
/// failure.
fn run(git_dir: &Path, args: &[&str]) -> Result<String, TransportError> {
    let deadline = timeout()?;
    let mut child = Command::new("git")
        .arg("--git-dir")
        .arg(git_dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Never wait for a person: a missing credential is an error, not a prompt.
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GCM_INTERACTIVE", "never")
        .env("GIT_HTTP_LOW_SPEED_LIMIT", LOW_SPEED_BYTES)
        .env("GIT_HTTP_LOW_SPEED_TIME", LOW_SPEED_SECONDS)
        .spawn()
        .map_err(|e| TransportError::NoGit {
            message: e.to_string(),
        })?;
    // Both pipes are drained on their own threads, so a chatty command cannot block on a
    // full pipe while we wait for it to exit.
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(TransportError::Timeout {
                    seconds: deadline.as_secs_f64().ceil() as u64,
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => {
                return Err(TransportError::Failed {
                    message: e.to_string(),
                });
            }
        }
    };
    let out = stdout.join().unwrap_or_default();
    let err = stderr.join().unwrap_or_default();
    if status.success() {
        Ok(out)
    } else {
        // Porcelain push results are on stdout; the reason for anything else on stderr.
        let said = [out.trim(), err.trim()]
            .iter()
            .filter(|t| !t.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("\n");
        Err(TransportError::Failed {
            message: if said.is_empty() {
                format!("git {} failed ({status})", args[0])
            } else {
                said
            },
        })
    }
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(pipe) = pipe {
            let _ = pipe.take(MAX_OUTPUT_BYTES).read_to_string(&mut text);
        }
        text
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeout_setting_is_a_bounded_span_or_an_error() {
        // Seen: `=0` and `=abc` were silently the default; `=1e300` panicked.
        assert_eq!(parse_timeout("20").unwrap(), Duration::from_secs(20));
        assert_eq!(parse_timeout("1m").unwrap(), Duration::from_secs(60));
        for bad in ["0", "abc", "1e300", "-5", "", "2d"] {
            let error = parse_timeout(bad).unwrap_err();
            assert!(
                error
                    .to_string()
                    .starts_with(&format!("{TIMEOUT_ENV}={bad}: ")),
                "{error}"
            );
        }
    }

    #[test]
    fn porcelain_rejections_give_their_reason() {
        let out = "To /tmp/remote\n!\trefs/heads/a:refs/heads/a\t[rejected] (fetch first)\nDone\n";
        assert_eq!(rejection(out).as_deref(), Some("fetch first"));
        let out =
            "To x\n!\trefs/heads/a:refs/heads/a\t[remote rejected] (pre-receive hook declined)\n";
        assert_eq!(rejection(out).as_deref(), Some("pre-receive hook declined"));
        assert_eq!(
            rejection("To x\n \trefs/heads/a:refs/heads/a\t[up to date]\n"),
            None
        );
    }
}
