//! The git mechanism under the domain: git's configuration read as git reads it, the git
//! index and loose objects read directly where that is faster than libgit2 (figures in
//! docs/design.md), a folder walk that gives the stat data the index compares, and the
//! network transport (the `git` command, with deadlines). Nothing here knows what a
//! prompt is: callers say which files they want.

pub mod index;
pub mod loose;
pub mod options;
pub mod transport;
pub mod walk;
