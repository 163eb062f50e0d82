//! Semantic versions as targeting rules compare them (`app_version >= semver "1.4.0"`).

/// A semantic version (semver.org 2.0.0): precedence by the numbers, then a pre-release is
/// below its release, identifiers compared numerically or by ASCII; build metadata ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Semver {
    core: [u64; 3],
    pre: Vec<String>,
    text: String,
}

impl Semver {
    /// The version as written (without a leading `v`).
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl Semver {
    /// Parses `1.4.0`, `2.0.0-rc.1`, `1.0.0+build.5`; a leading `v` is allowed.
    pub fn parse(text: &str) -> Option<Semver> {
        let trimmed = text.trim().strip_prefix('v').unwrap_or(text.trim());
        let without_build = trimmed.split('+').next()?;
        let (core, pre) = match without_build.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (without_build, None),
        };
        let numbers: Vec<u64> = core
            .split('.')
            .map(|part| {
                let fine = !part.is_empty()
                    && part.bytes().all(|b| b.is_ascii_digit())
                    && (part == "0" || !part.starts_with('0'));
                fine.then(|| part.parse().ok()).flatten()
            })
            .collect::<Option<_>>()?;
        let [major, minor, patch] = numbers[..] else {
            return None;
        };
        let pre: Vec<String> = match pre {
            None => Vec::new(),
            Some(pre) => {
                let ids: Vec<String> = pre.split('.').map(str::to_owned).collect();
                let fine = ids.iter().all(|id| {
                    !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                });
                if !fine {
                    return None;
                }
                ids
            }
        };
        Some(Semver {
            core: [major, minor, patch],
            pre,
            text: trimmed.to_owned(),
        })
    }
}

impl Ord for Semver {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        self.core
            .cmp(&other.core)
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => {
                    for (a, b) in self.pre.iter().zip(&other.pre) {
                        let order = match (a.parse::<u64>(), b.parse::<u64>()) {
                            (Ok(x), Ok(y)) => x.cmp(&y),
                            (Ok(_), Err(_)) => Ordering::Less,
                            (Err(_), Ok(_)) => Ordering::Greater,
                            (Err(_), Err(_)) => a.cmp(b),
                        };
                        if order != Ordering::Equal {
                            return order;
                        }
                    }
                    self.pre.len().cmp(&other.pre.len())
                }
            })
    }
}

impl PartialOrd for Semver {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
