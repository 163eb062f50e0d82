//! The foundations: small rules every floor above uses, each the one home of its rule
//! (time, durations, percents, retries, randomness, short ids, hex and cache fields, memos, HTTP
//! clients, atomic writes, locations in files, escaping, fan-out over cores). Nothing here
//! knows what a prompt is, and nothing here imports from above (`tests/layers.rs`).

pub mod bisect;
pub mod cachefile;
pub mod clock;
pub mod copytext;
pub mod duration;
pub mod fsutil;
pub mod http;
pub mod junit;
pub mod linecache;
pub mod location;
pub mod markup;
pub mod memo;
pub mod money;
pub mod parallel;
pub mod percent;
pub mod random;
pub mod retry;
pub mod shortid;
pub mod sorted;
pub mod suggest;
pub mod tls;
pub mod tomlfile;
pub mod weburl;
