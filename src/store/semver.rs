//! Semantic versions as targeting rules compare them (`app_version >= semver "1.4.0"`):
//! precedence as semver.org 2.0.0 defines it. A caller's version is compared where it is
//! written, without allocating: rules run on every resolve.

use std::cmp::Ordering;

/// A semantic version (semver.org 2.0.0): precedence by the numbers, then a pre-release is
/// below its release, identifiers compared numerically or by ASCII; build metadata ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Semver {
    /// As written, without a leading `v`.
    text: String,
}

/// A version's parts, borrowed from its text.
#[derive(Debug, Clone, Copy)]
struct Parts<'a> {
    core: [u64; 3],
    /// The pre-release identifiers, dot-separated; none for a release.
    pre: Option<&'a str>,
}

impl Semver {
    /// Parses `1.4.0`, `2.0.0-rc.1`, `1.0.0+build.5`; a leading `v` is allowed.
    pub fn parse(text: &str) -> Option<Semver> {
        parts(text)?;
        let trimmed = text.trim();
        Some(Semver {
            text: trimmed.strip_prefix('v').unwrap_or(trimmed).to_owned(),
        })
    }

    /// The version as written (without a leading `v`).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// How the version written in `text` compares with this one; none when `text` is not
    /// a semantic version.
    pub fn compare_text(&self, text: &str) -> Option<Ordering> {
        let own = parts(&self.text).expect("checked when parsed");
        Some(compare(parts(text)?, own))
    }
}

impl Ord for Semver {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .compare_text(&self.text)
            .expect("both were checked when parsed")
    }
}

impl PartialOrd for Semver {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn parts(text: &str) -> Option<Parts<'_>> {
    let trimmed = text.trim();
    let trimmed = trimmed.strip_prefix('v').unwrap_or(trimmed);
    let without_build = match trimmed.split_once('+') {
        Some((version, build)) if identifiers_fine(build) => version,
        Some(_) => return None,
        None => trimmed,
    };
    let (core_text, pre) = match without_build.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (without_build, None),
    };
    let mut core = [0u64; 3];
    let mut numbers = core_text.split('.');
    for slot in &mut core {
        let part = numbers.next()?;
        let fine = !part.is_empty()
            && part.bytes().all(|b| b.is_ascii_digit())
            && (part == "0" || !part.starts_with('0'));
        *slot = if fine {
            part.parse().ok()?
        } else {
            return None;
        };
    }
    if numbers.next().is_some() || pre.is_some_and(|p| !identifiers_fine(p)) {
        return None;
    }
    Some(Parts { core, pre })
}

fn identifiers_fine(text: &str) -> bool {
    text.split('.')
        .all(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

fn compare(a: Parts<'_>, b: Parts<'_>) -> Ordering {
    a.core.cmp(&b.core).then_with(|| match (a.pre, b.pre) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => {
            let (mut xs, mut ys) = (x.split('.'), y.split('.'));
            loop {
                match (xs.next(), ys.next()) {
                    (None, None) => return Ordering::Equal,
                    (None, Some(_)) => return Ordering::Less,
                    (Some(_), None) => return Ordering::Greater,
                    (Some(p), Some(q)) => {
                        let order = match (p.parse::<u64>(), q.parse::<u64>()) {
                            (Ok(m), Ok(n)) => m.cmp(&n),
                            (Ok(_), Err(_)) => Ordering::Less,
                            (Err(_), Ok(_)) => Ordering::Greater,
                            (Err(_), Err(_)) => p.cmp(q),
                        };
                        if order != Ordering::Equal {
                            return order;
                        }
                    }
                }
            }
        }
    })
}
