//! `promptctl cache`: what the eval cache holds, and pruning it by age.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use promptctl::eval::{CACHE_DIR, Cache, CacheStats};

use super::output::{print, print_json, utc_time};
use super::{CliError, GlobalArgs};

/// Shown at the end of `--help`, one example per line.
const EXAMPLES: &str =
    "Examples:\n  promptctl cache stats\n  promptctl cache prune --older-than 30d";

/// See and prune the eval cache (.promptctl/cache): replies stored by what was asked, so an
/// unchanged version costs no calls.
#[derive(Debug, Args)]
#[command(after_long_help = EXAMPLES, after_help = super::SEE_LONG_HELP)]
pub struct CacheArgs {
    #[command(subcommand)]
    command: CacheCommand,
}

#[derive(Debug, Subcommand)]
enum CacheCommand {
    /// How many replies the cache holds, their size, and when they were written.
    Stats {
        /// Print the figures as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove the replies written longer ago than a span (`30d`, `12h`).
    Prune {
        /// The age past which a reply goes.
        #[arg(long, value_name = "SPAN", value_parser = promptctl::base::duration::parse)]
        older_than: std::time::Duration,
        /// Print what was removed as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(global: &GlobalArgs, args: CacheArgs) -> Result<ExitCode, CliError> {
    let project = global.project()?;
    let cache = Cache::new(&project.root);
    let failed = |e: std::io::Error| CliError::usage(format!("cannot read `{CACHE_DIR}`: {e}"));
    match args.command {
        CacheCommand::Stats { json } => {
            let stats = cache.stats().map_err(failed)?;
            if json {
                print_json(&stats)?;
            } else {
                print(&format!("{CACHE_DIR}: {}\n", describe(&stats)))?;
            }
        }
        CacheCommand::Prune { older_than, json } => {
            let removed = cache
                .prune(older_than, std::time::SystemTime::now())
                .map_err(failed)?;
            if json {
                print_json(&removed)?;
            } else {
                print(&format!("removed {}\n", describe(&removed)))?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `12 replies, 48.2 KiB, written 2026-11-02 10:00Z to 2026-12-01 09:30Z`.
fn describe(stats: &CacheStats) -> String {
    let mut text = format!(
        "{}, {}",
        match stats.entries {
            1 => "1 reply".to_owned(),
            n => format!("{n} replies"),
        },
        size(stats.bytes)
    );
    if let (Some(oldest), Some(newest)) = (stats.oldest, stats.newest) {
        text.push_str(&format!(
            ", written {} to {}",
            utc_time(oldest),
            utc_time(newest)
        ));
    }
    text
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / f64::from(1 << 20)),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / f64::from(1 << 10)),
        b => format!("{b} bytes"),
    }
}
