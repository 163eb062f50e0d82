//! Accepting connections: a cap on open connections with a graceful refusal past it, a
//! share of that cap per client address so that one client cannot hold it all, a deadline
//! for a request's headers that is also the idle keep-alive timeout, and a shutdown that
//! finishes the requests in flight.
//!
//! `axum::serve` has none of these: 200 slowloris connections stayed open for good, and
//! 1,100 idle ones under a 1,024 file limit left the server unable to accept anything.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// Connections open at once, by default.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;

/// How long a client may take to send a request's headers, and how long a kept-alive
/// connection may sit idle, by default.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// File descriptors kept free for everything but client connections: the release
/// repository, the state folder, git subprocesses and refusals.
const RESERVED_FILES: usize = 64;

/// How long a refusal may take to write before the connection is just closed.
const REFUSAL_WRITE: Duration = Duration::from_secs(1);

/// The bounds of the listener.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    /// Connections one client address may hold at once.
    pub max_per_client: usize,
    pub header_timeout: Duration,
    /// How long a stopping server waits for requests in flight.
    pub shutdown_grace: Duration,
}

/// Serves `app` (the router, or the router behind the server's front) on `listener` until
/// `stop` resolves, then stops accepting and waits up to the grace period for the
/// connections in flight.
pub async fn run<S>(listener: TcpListener, app: S, limits: Limits, stop: impl Future<Output = ()>)
where
    S: tower_service::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let shares = Arc::new(PeerShares::new(limits.max_per_client));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let mut stop = std::pin::pin!(stop);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors (or a connection reset before it was
                    // accepted): wait for connections to close rather than spin.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let (stream, peer) = stream;
        let Some(share) = PeerShares::take(&shares, peer.ip()) else {
            tokio::spawn(refuse(stream));
            continue;
        };
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            tokio::spawn(refuse(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
            drop((permit, share));
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!("requests still in flight after {:?}; stopping anyway", limits.shutdown_grace);
        }
    }
}

/// The connections each client address holds, each bounded by the share.
struct PeerShares {
    limit: usize,
    held: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection of a client address, counted until it closes.
struct PeerShare {
    shares: Arc<PeerShares>,
    peer: IpAddr,
}

impl PeerShares {
    fn new(limit: usize) -> Self {
        PeerShares {
            limit: limit.max(1),
            held: Mutex::new(HashMap::new()),
        }
    }

    fn take(shares: &Arc<PeerShares>, peer: IpAddr) -> Option<PeerShare> {
        let mut held = shares.held.lock().unwrap_or_else(|e| e.into_inner());
        let count = held.entry(peer).or_insert(0);
        if *count >= shares.limit {
            return None;
        }
        *count += 1;
        Some(PeerShare {
            shares: Arc::clone(shares),
            peer,
        })
    }
}

impl Drop for PeerShare {
    fn drop(&mut self) {
        let mut held = self.shares.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = held.get_mut(&self.peer) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.peer);
            }
        }
    }
}

/// The share of the cap one client address may hold by default: half of it, so that one
/// client flooding the server leaves the other half to everyone else.
pub fn default_share(max_connections: usize) -> usize {
    (max_connections / 2).max(1)
}

/// Answers a connection past the cap with a 503 and closes it.
async fn refuse(mut stream: TcpStream) {
    const BODY: &str = r#"{"error":{"code":"busy","message":"the server has as many connections open as it allows; try again shortly"}}"#;
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let write = async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(REFUSAL_WRITE, write).await;
}

/// The connection cap this process can hold: `wanted`, lowered to fit the open-files
/// limit (raised to its hard limit first, as servers do), with room for everything else.
pub fn fit_to_file_limit(wanted: usize) -> usize {
    let Some(files) = raise_file_limit() else {
        return wanted;
    };
    let fits = files.saturating_sub(RESERVED_FILES).max(1);
    if fits < wanted {
        tracing::warn!(
            wanted,
            fits,
            "the open-files limit ({files}) holds only {fits} connections; raise it (ulimit -n) to allow more"
        );
    }
    wanted.min(fits)
}

/// Raises the soft open-files limit to the hard one; returns the soft limit after.
#[cfg(unix)]
fn raise_file_limit() -> Option<usize> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    usize::try_from(limit.rlim_cur).ok()
}

#[cfg(not(unix))]
fn raise_file_limit() -> Option<usize> {
    None
}
