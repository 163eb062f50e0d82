//! `promptctl serve`: the HTTP API services resolve and render prompts with.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use promptctl::serve::{ControllerOptions, ServeOptions, listener, serve};
use promptctl::served::Origin;

use super::{CliError, GlobalArgs};

/// Shown at the end of `--help`, one example per line.
const EXAMPLES: &str = "Examples:\n  promptctl serve\n  promptctl serve --env staging --remote git@github.com:acme/prompts.git --state-dir /srv/promptctl\n  promptctl serve --controller --controller-interval 30s";

/// Serve the release state of an environment over HTTP: list, resolve (sticky by key),
/// render, the whole state with long poll, feedback, Prometheus metrics and health.
///
/// The state is polled every --poll and swapped in whole once it has loaded completely; if
/// the source becomes unreachable, the last good state keeps serving and /healthz says it
/// is stale. Routes and shapes: openapi.json and docs/serve.md.
#[derive(Debug, Args)]
#[command(after_long_help = EXAMPLES, after_help = super::SEE_LONG_HELP)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7070")]
    addr: SocketAddr,

    /// Read the release branch from this remote (mirrored into the state folder) instead of
    /// the local repository.
    #[arg(long, value_name = "URL")]
    remote: Option<String>,

    /// How often to check for a new state: `5s`, `500ms`, `1m`.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    poll: Duration,

    /// The environment variable holding the bearer token that write routes require.
    #[arg(long, value_name = "VAR")]
    token_env: Option<String>,

    /// Where to keep the last good state (and the mirror of --remote), to start from when
    /// the source is unreachable.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,

    /// Longest a request may take, reading its body included; slower clients get a 408.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    request_timeout: Duration,

    /// Most client connections open at once; past it a new connection is answered 503
    /// with Retry-After and closed. Lowered to fit the open-files limit.
    #[arg(long, value_name = "N", default_value_t = listener::DEFAULT_MAX_CONNECTIONS as u32,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_connections: u32,

    /// Most connections one client address may hold at once (default: half of
    /// --max-connections), so that one client cannot take them all; past it that client
    /// is answered 503. Behind a proxy every client has its address: raise it to the cap.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_connections_per_client: Option<u32>,

    /// Longest a client may take to send a request's headers, and longest a kept-alive
    /// connection may sit idle before it is closed.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    header_timeout: Duration,

    /// Run the rollout controller: judge every rollout on the feedback this server gets,
    /// and advance, promote or revert it with a release commit (docs/rollout.md).
    #[arg(long)]
    controller: bool,

    /// How often the controller judges every rollout.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "30s",
        value_parser = parse_duration,
        requires = "controller"
    )]
    controller_interval: Duration,

    /// Push each of the controller's decisions to this remote, fetching first.
    #[arg(long, value_name = "REMOTE", requires = "controller")]
    controller_push: Option<String>,

    /// Judge rollouts on the fleet's series in this Prometheus server instead of this
    /// server's own feedback (overrides `[rollout] prometheus`).
    #[arg(long, value_name = "URL", requires = "controller")]
    prometheus: Option<String>,

    /// Threads that answer requests (default: one per core). Fewer keep latency low when
    /// the server shares its cores with other busy processes.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    workers: Option<u16>,

    /// How log lines are written on stderr: `text`, or `json` (one object per line) for a
    /// log collector. `PROMPTCTL_LOG` sets the level (`warn`, `debug`).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// An interval or a timeout, in the one duration grammar (`500ms`, `5s`, `1m`, `1h30m`):
/// at least 10 ms so that nothing spins, at most a day.
fn parse_duration(text: &str) -> Result<Duration, promptctl::base::duration::DurationError> {
    promptctl::base::duration::Bounds::between(
        Duration::from_millis(10),
        Duration::from_secs(86_400),
    )
    .parse(text)
}

/// How the server's log lines are written on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// One line per event, for people.
    Text,
    /// One JSON object per event, for log collectors.
    Json,
}

/// Sends the library's `tracing` events to stderr, at `info` unless `PROMPTCTL_LOG` says
/// otherwise (`warn`, `promptctl=debug`).
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PROMPTCTL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    // A second subscriber (in tests that call this twice) is refused, harmlessly.
    let _ = match format {
        LogFormat::Text => builder.with_ansi(false).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

pub fn run(global: &GlobalArgs, args: ServeArgs) -> Result<ExitCode, CliError> {
    init_logging(args.log_format);
    let token = match &args.token_env {
        Some(var) => Some(
            std::env::var(var)
                .ok()
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    CliError::usage(format!("--token-env names `{var}`, which is not set"))
                        .hint(format!("export {var}=<a long random token>"))
                })?,
        ),
        None => None,
    };
    if args.controller && args.remote.is_some() {
        return Err(CliError::usage(
            "--controller writes release commits, so it serves a repository, not --remote",
        )
        .hint("serve the repository with --repo DIR --controller --controller-push origin, or run `promptctl rollout step --from URL --push` from cron"));
    }
    let origin = match &args.remote {
        Some(url) => {
            let dir = args.state_dir.clone().ok_or_else(|| {
                CliError::usage("--remote needs --state-dir, where the remote is mirrored")
            })?;
            Origin::Remote {
                url: url.clone(),
                mirror: dir.join("mirror.git"),
            }
        }
        None => {
            let project = global.project()?;
            Origin::Repo(project.root)
        }
    };
    let options = ServeOptions {
        addr: args.addr,
        env: global.env.clone(),
        origin,
        poll: args.poll,
        token,
        state_dir: args.state_dir,
        request_timeout: args.request_timeout,
        max_connections: args.max_connections as usize,
        max_connections_per_client: args.max_connections_per_client.map(|n| n as usize),
        header_timeout: args.header_timeout,
        controller: args.controller.then(|| ControllerOptions {
            interval: args.controller_interval,
            push: args.controller_push.clone(),
            prometheus: args.prometheus.clone(),
        }),
    };
    let runtime = super::async_runtime_with(args.workers.map(usize::from))?;
    let served = runtime.block_on(serve(options));
    // A fetch stuck on a silent remote runs on the blocking pool until its own deadline;
    // the server has stopped, so it is not waited for (dropping the runtime would).
    runtime.shutdown_background();
    served.map_err(|e| CliError::usage(e.to_string()))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("1ms").is_err() && parse_duration("x").is_err());
    }
}
