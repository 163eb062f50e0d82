//! promptctl: prompts as versioned source, with content-addressed versions.
//!
//! A prompt is a TOML file of minijinja message templates under `prompts/`. This crate reads
//! prompts from the working tree or any git revision, validates them, computes their
//! versions (the SHA-256 of a canonical JSON document of everything the model sees) and
//! renders them with checked values, in a sandbox that cannot read files and cannot hang.
//!
//! The command-line tool is built on this library; services use it directly:
//!
//! ```no_run
//! use promptctl::{project::Project, source};
//!
//! let project = Project::discover(std::path::Path::new("."))?;
//! let spec = source::parse_spec("HEAD")?;
//! let prompts = source::load(&project, &spec)?;
//! let triage = prompts.get("support/triage")?;
//! let compiled = triage.compile()?; // compile once, render many times
//! let vars = [("ticket".to_string(), serde_json::json!("The app crashes"))].into();
//! let messages = compiled.render(&vars)?;
//! println!("{} {}", triage.version, messages[0].content);
//!
//! // The version a user gets, by the sticky bucketing of docs/bucketing.md:
//! let resolver = project.store("production")?.resolver()?;
//! if let Some(hit) = resolver.resolve("support/triage", Some("user-42")) {
//!     println!("{} ({})", hit.version, hit.track.as_str());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Layers, lowest first:
//!
//! - [`base`], the foundations: one home for each rule (time, durations, percents, retries,
//!   randomness, short ids, HTTP clients, atomic writes, escaping); then [`gitio`], the git
//!   mechanism (configuration as git reads it, the index, loose objects, a folder walk, the
//!   transport).
//! - [`prompt`] (and [`varsfile`]): pure parsing, validation, includes, canonical JSON,
//!   versions, rendering.
//! - [`store`]: the release state on branch `promptctl/<env>` (pointers, frozen versions,
//!   bucketing, rollout plans, commit records, the resolver), read and written without a
//!   working tree.
//! - [`policy`], [`config`], [`project`]: a project's settings and how it is opened.
//! - [`source`]: a revision spec (`worktree`, a git revision, `active`, `sha256:…`) turned
//!   into prompts; release pointers are read through `store`.
//! - [`release`]: the actions (publish, canary, promote, revert), remotes, status and log.
//! - [`eval`], [`rollout`], then [`diff`], [`check`], [`scaffold`], then [`ci`] and
//!   [`served`]: features built on those.
//! - [`serve`] and [`client`]: released versions served over HTTP, and resolved in process
//!   by services, from the immutable snapshots of `served`.
//!
//! A module imports only from its own layer or below; `tests/layers.rs` enforces it.
//!
//! The library never prints and never exits; every error is a typed enum.

pub mod base;
pub mod check;
pub mod ci;
pub mod client;
pub mod config;
pub mod diff;
pub mod eval;
pub mod experiment;
pub mod gitio;
pub mod policy;
pub mod project;
pub mod prompt;
pub mod release;
pub mod rollout;
pub mod scaffold;
pub mod serve;
pub mod served;
pub mod source;
pub mod store;
pub mod varsfile;
