//! promptctl
pub mod check;
pub mod config;
pub mod eval;
pub mod fsutil;
pub mod location;
pub mod project;
pub mod prompt;
pub mod scaffold;
pub mod source;
pub mod tomlfile;
pub mod varsfile;
