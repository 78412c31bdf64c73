//! The HTTP/1.1 server: our own accept loop over hyper, because the service
//! must survive slow, half-open and flooding clients, which needs limits that
//! `warp::serve` does not set (it builds hyper without a timer, so no header
//! timeout ever fires):
//!
//! - **header timeout**: a request's head must arrive within it, and an idle
//!   keep-alive connection is closed after it (hyper's `header_read_timeout`
//!   runs whenever the connection waits for a head, with tokio's timer);
//! - **body timeout**: the body must arrive within it (`request_timeout`,
//!   enforced where the body is read, see `read_body`);
//! - **connection age**: a connection is asked to close after this long (the
//!   request in flight finishes first), and dropped after a grace period;
//! - **connection caps**: at most `max_connections` at once (new ones wait in
//!   the kernel's backlog until one closes, so a flood never exhausts file
//!   descriptors), and at most `max_connections_per_ip` from one address (past
//!   it a connection gets an immediate 503 and is closed, so one flooding
//!   address cannot take the slots of others);
//! - **fd exhaustion**: the soft `RLIMIT_NOFILE` is raised to the hard one at
//!   start, the connection cap is lowered to fit it with room for the ledger
//!   and key files, and an accept error (EMFILE, ENFILE, …) backs off instead
//!   of spinning.
//!
//! Every request carries its connection's peer address as a [`PeerAddr`]
//! extension (warp's `warp::addr::remote()` is filled only by `warp::serve`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

use super::metrics::Metrics;

/// Connection limits (see the module documentation).
#[derive(Clone, Debug)]
pub struct Limits {
    pub header_timeout: Duration,
    pub max_connection_age: Duration,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
}

/// How long a connection asked to close may take to finish its request.
const CLOSE_GRACE: Duration = Duration::from_secs(30);
/// File descriptors kept free for the ledger, key files and logs.
const FD_RESERVE: u64 = 64;

/// The peer address of the connection a request came on (a request extension).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// Puts the connection's [`PeerAddr`] into each request's extensions.
#[derive(Clone)]
struct WithPeer<S> {
    inner: S,
    peer: SocketAddr,
}

impl<S, B> tower_service::Service<hyper::Request<B>> for WithPeer<S>
where
    S: tower_service::Service<hyper::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: hyper::Request<B>) -> Self::Future {
        req.extensions_mut().insert(PeerAddr(self.peer));
        self.inner.call(req)
    }
}

/// Open connections per peer address.
#[derive(Default)]
struct PerIp {
    counts: Mutex<HashMap<IpAddr, usize>>,
}

struct IpSlot {
    table: Arc<PerIp>,
    ip: IpAddr,
}

impl PerIp {
    fn try_take(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<IpSlot> {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let n = c.entry(ip).or_insert(0);
        if max > 0 && *n >= max {
            return None;
        }
        *n += 1;
        Some(IpSlot { table: self.clone(), ip })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut c = self.table.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = c.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                c.remove(&self.ip);
            }
        }
    }
}

/// Raises the soft open-files limit to the hard one and returns the soft limit
/// then in force (None where it cannot be read).
fn raise_fd_limit() -> Option<u64> {
    #[cfg(unix)]
    unsafe {
        let mut l = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) != 0 {
            return None;
        }
        if l.rlim_cur < l.rlim_max {
            let raised = libc::rlimit { rlim_cur: l.rlim_max, rlim_max: l.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                l.rlim_cur = l.rlim_max;
            }
        }
        Some(l.rlim_cur as u64)
    }
    #[cfg(not(unix))]
    None
}

/// The connection cap that fits the process's file descriptors.
pub fn effective_max_connections(wanted: usize) -> usize {
    match raise_fd_limit() {
        Some(fds) => {
            let fit = fds.saturating_sub(FD_RESERVE).max(1) as usize;
            if fit < wanted {
                tracing::warn!(
                    "open-files limit is {fds}: serving at most {fit} connections at once (asked for {wanted}); raise `ulimit -n` for more"
                );
            }
            wanted.min(fit)
        }
        None => wanted,
    }
}

/// Answers a connection over its address's cap and closes it (one write, never waits).
fn refuse(stream: TcpStream) {
    const BODY: &str =
        r#"{"code":"too_many_connections","message":"too many connections from your address; retry later"}"#;
    let resp = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = stream.try_write(resp.as_bytes());
}

/// Serves `service` on `listener` until `stop` turns true, then lets
/// connections finish their requests (at most [`CLOSE_GRACE`]).
pub async fn serve<S>(
    listener: TcpListener,
    service: S,
    limits: Limits,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) where
    S: tower_service::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = warp::reply::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let per_ip = Arc::new(PerIp::default());
    let mut tasks = tokio::task::JoinSet::new();
    let mut accept_errors = 0u64;
    loop {
        // Wait for a free slot before accepting: a flood queues in the kernel's
        // backlog instead of taking file descriptors.
        let permit = tokio::select! {
            _ = stop.changed() => break,
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let (stream, peer) = tokio::select! {
            _ = stop.changed() => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE/ENFILE and the like: back off, never spin or exit.
                    accept_errors += 1;
                    if accept_errors.is_power_of_two() {
                        tracing::warn!("accept error ({accept_errors} so far): {e}");
                    }
                    metrics.accept_errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    drop(permit);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        while tasks.try_join_next().is_some() {}
        let Some(ip_slot) = per_ip.try_take(peer.ip(), limits.max_connections_per_ip) else {
            metrics.connections_refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            refuse(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let svc = TowerToHyperService::new(WithPeer { inner: service.clone(), peer });
        let limits = limits.clone();
        let mut stop = stop.clone();
        let metrics = metrics.clone();
        tasks.spawn(async move {
            let _slots = (permit, ip_slot);
            metrics.connections_open.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            serve_connection(stream, peer, svc, &limits, &mut stop).await;
            metrics.connections_open.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        });
    }
    // Stop accepting; connections see `stop` and close after their request.
    drop(listener);
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(CLOSE_GRACE, drain).await.is_err() {
        tasks.abort_all();
    }
}

async fn serve_connection<S>(
    stream: TcpStream,
    peer: SocketAddr,
    svc: TowerToHyperService<WithPeer<S>>,
    limits: &Limits,
    stop: &mut watch::Receiver<bool>,
) where
    S: tower_service::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = warp::reply::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), svc);
    let mut conn = std::pin::pin!(conn);
    let age = tokio::time::sleep(limits.max_connection_age);
    tokio::pin!(age);
    let closing = tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!("connection from {peer}: {e}");
            }
            return;
        }
        _ = stop.changed() => "shutting down",
        _ = &mut age => "connection too old",
    };
    tracing::debug!("closing connection from {peer}: {closing}");
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(CLOSE_GRACE, conn).await;
}
