//! The revision-spec grammar shared by every command that takes a version (SPEC §4).

use std::fmt;
use std::str::FromStr;

use crate::prompt::VersionPrefix;

/// A release pointer name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pointer {
    /// The version every request gets unless it is bucketed onto the canary.
    Active,
    /// The version being rolled out to a share of requests.
    Canary,
}

impl Pointer {
    /// Returns the pointer's name as typed.
    pub fn as_str(self) -> &'static str {
        match self {
            Pointer::Active => "active",
            Pointer::Canary => "canary",
        }
    }
}

/// Where to read prompts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevisionSpec {
    /// The files on disk (`worktree` or `.`).
    Worktree,
    /// A git revision (`HEAD`, `main`, `v1.2`, `abc123`, `HEAD~2`, ...).
    Git(String),
    /// A release pointer of an environment (`active`, `canary@staging`); `env` is `None` for
    /// the current environment.
    Release {
        pointer: Pointer,
        env: Option<String>,
    },
    /// A frozen version from the release object store (`sha256:<prefix>`).
    Version(VersionPrefix),
}

impl FromStr for RevisionSpec {
    type Err = String;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err(
                "an empty revision; use `worktree`, a git revision, `active` or `sha256:<prefix>`"
                    .into(),
            );
        }
        if spec == "worktree" || spec == "." {
            return Ok(RevisionSpec::Worktree);
        }
        if spec.starts_with("sha256:") {
            return spec.parse().map(RevisionSpec::Version);
        }
        let (head, env) = match spec.split_once('@') {
            Some((head, env)) if head == "active" || head == "canary" => (head, Some(env)),
            _ => (spec, None),
        };
        let pointer = match head {
            "active" => Some(Pointer::Active),
            "canary" => Some(Pointer::Canary),
            _ => None,
        };
        match (pointer, env) {
            (Some(pointer), Some(env)) => {
                if env.is_empty()
                    || !env
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
                {
                    return Err(format!("`{spec}` names an invalid environment `{env}`"));
                }
                Ok(RevisionSpec::Release {
                    pointer,
                    env: Some(env.to_owned()),
                })
            }
            (Some(pointer), None) => Ok(RevisionSpec::Release { pointer, env: None }),
            (None, _) => Ok(RevisionSpec::Git(spec.to_owned())),
        }
    }
}

impl fmt::Display for RevisionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RevisionSpec::Worktree => f.write_str("worktree"),
            RevisionSpec::Git(rev) => f.write_str(rev),
            RevisionSpec::Release { pointer, env: None } => f.write_str(pointer.as_str()),
            RevisionSpec::Release {
                pointer,
                env: Some(env),
            } => write!(f, "{}@{env}", pointer.as_str()),
            RevisionSpec::Version(prefix) => write!(f, "sha256:{}", prefix.hex()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> RevisionSpec {
        s.parse().unwrap()
    }

    #[test]
    fn parses_every_form_of_the_grammar() {
        assert_eq!(parse("worktree"), RevisionSpec::Worktree);
        assert_eq!(parse("."), RevisionSpec::Worktree);
        for rev in [
            "HEAD",
            "main",
            "origin/main",
            "v1.2",
            "abc123",
            "HEAD~2",
            "HEAD^{tree}",
        ] {
            assert_eq!(parse(rev), RevisionSpec::Git(rev.into()), "{rev}");
        }
        assert_eq!(
            parse("active"),
            RevisionSpec::Release {
                pointer: Pointer::Active,
                env: None
            }
        );
        assert_eq!(
            parse("canary@staging"),
            RevisionSpec::Release {
                pointer: Pointer::Canary,
                env: Some("staging".into())
            }
        );
        assert!(matches!(parse("sha256:abcdef0"), RevisionSpec::Version(_)));
        // `@` elsewhere is git's own syntax (reflog), not an environment.
        assert_eq!(parse("main@{1}"), RevisionSpec::Git("main@{1}".into()));
    }

    #[test]
    fn refuses_malformed_specs() {
        assert!("".parse::<RevisionSpec>().is_err());
        assert!("sha256:abc".parse::<RevisionSpec>().is_err());
        assert!("active@".parse::<RevisionSpec>().is_err());
        assert!("active@a/b".parse::<RevisionSpec>().is_err());
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "worktree",
            "HEAD~1",
            "active",
            "canary@staging",
            "sha256:abcdef0",
        ] {
            assert_eq!(parse(s).to_string(), s);
        }
    }
}
