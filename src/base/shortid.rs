//! Short ids for people: the one rule for how much of a commit id is shown.

/// How many hex digits of a commit id are shown, as git's default abbreviation.
pub const COMMIT_CHARS: usize = 7;

/// The first seven characters of a commit id (all of it when shorter).
pub fn commit(id: &str) -> &str {
    id.get(..COMMIT_CHARS).unwrap_or(id)
}

#[cfg(test)]
mod tests {
    #[test]
    fn commits_are_cut_to_seven() {
        assert_eq!(super::commit("0123456789abcdef"), "0123456");
        assert_eq!(super::commit("abc"), "abc");
    }
}
