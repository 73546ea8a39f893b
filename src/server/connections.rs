//! Connections: the service's own accept loop, and how long it lets a client hold a connection
//! without using it. `axum::serve` reads request heads without a time limit, so a client that
//! sends half a request line keeps its connection (and a file descriptor) forever, and a few
//! thousand of them leave nothing to answer with, not even `/healthz`.
//!
//! Each connection takes one of `limits.max_connections` slots before it is accepted; while every
//! slot is taken, new connections wait in the kernel's listen queue, which costs the process no
//! file descriptor. A per-connection watchdog frees slots held without use:
//!
//! - a new connection must send a whole request head within `header_read_timeout`;
//! - between requests, a kept-alive connection waits `keep_alive` for the first byte of the next
//!   one, and then has `header_read_timeout` for the rest of its head; while every slot is taken
//!   it is closed at once (it has been answered; a client opens a new connection when it needs
//!   one), so idle connections never keep a new one waiting;
//! - a client that leaves its answer unread (writes blocked) for `send_timeout` is disconnected.
//!
//! What is left holding a slot is a request being answered, which the request timeout bounds.
//! Slow clients are therefore closed within the header timeout, and a health check waits at
//! most that long for a slot even while slow connections keep arriving; it never gets a refusal
//! (a 503 from `/healthz` would tell an orchestrator to restart a healthy process).
//!
//! hyper's own `header_read_timeout` is not used: it runs from the end of the previous answer,
//! so it would also end kept-alive connections after the header timeout and could not tell an
//! idle connection from a slow head. HTTP/1 only: browsers speak HTTP/2 to the TLS proxy in
//! front, and hyper's HTTP/2 has no header timeout to apply. The peer address is put in each
//! request's extensions as axum's `ConnectInfo<SocketAddr>`, the local one as [`LocalAddr`].

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::ServiceExt;
use tracing::{debug, error, warn};

use crate::config::Limits;

/// How often, at most, the log says that every connection slot is taken.
const FULL_WARNING_EVERY: Duration = Duration::from_secs(60);

/// What the accept loop allows each connection, from `[limits]`.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    /// `None`: one request per connection.
    pub keep_alive: Option<Duration>,
    pub send_timeout: Duration,
    pub max_header_bytes: usize,
    /// How long connections still open at shutdown may finish their answers.
    pub shutdown_grace: Duration,
}

impl ConnectionLimits {
    pub fn from_config(limits: &Limits) -> Self {
        ConnectionLimits {
            max_connections: limits.max_connections,
            header_read_timeout: Duration::from_secs(limits.header_read_timeout_secs),
            keep_alive: (limits.keep_alive_secs > 0)
                .then(|| Duration::from_secs(limits.keep_alive_secs)),
            send_timeout: Duration::from_secs(limits.send_timeout_secs),
            max_header_bytes: limits.max_header_bytes,
            // Every request under way has had its whole time when this runs out.
            shutdown_grace: Duration::from_secs(limits.request_timeout_secs),
        }
    }
}

/// The address a request came in on: the preview checks `Host` against its port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalAddr(pub SocketAddr);

/// Serves `app` on `listener` until `shutdown` resolves, then lets open connections finish
/// their answers (at most `limits.shutdown_grace`) and closes the rest.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let limits = Arc::new(limits);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    // True while every slot is taken: idle kept-alive connections close to make room.
    let (full, full_seen) = watch::channel(false);
    let (stop, stop_seen) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = pin!(shutdown);
    let mut warned_at: Option<Instant> = None;
    loop {
        while connections.try_join_next().is_some() {}
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if warned_at.is_none_or(|at| at.elapsed() >= FULL_WARNING_EVERY) {
                    warn!(
                        max_connections = limits.max_connections,
                        "every connection slot is taken: idle connections are closed and new ones wait"
                    );
                    warned_at = Some(Instant::now());
                }
                full.send_replace(true);
                let slot = tokio::select! {
                    slot = slots.clone().acquire_owned() => slot.expect("the slots are never closed"),
                    () = &mut shutdown => break,
                };
                full.send_replace(false);
                slot
            }
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    wait_after_accept_error(err).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        connections.spawn(serve_connection(
            stream,
            peer,
            app.clone(),
            Arc::clone(&limits),
            Watchers {
                slot,
                full: full_seen.clone(),
                stop: stop_seen.clone(),
            },
        ));
    }
    // New connections are refused from here on.
    drop(listener);
    stop.send_replace(true);
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        warn!(
            open = connections.len(),
            grace_secs = limits.shutdown_grace.as_secs(),
            "closing connections still open after the shutdown grace"
        );
        connections.shutdown().await;
    }
}

/// After a failed accept: a client that gave up is nothing; anything else (out of file
/// descriptors) is logged and waited out, as hyper and axum do.
async fn wait_after_accept_error(err: io::Error) {
    if matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    error!("cannot accept a connection: {err}");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// What a connection holds and listens to besides its socket.
struct Watchers {
    /// Returned when the connection task ends.
    slot: OwnedSemaphorePermit,
    /// True while every slot is taken.
    full: watch::Receiver<bool>,
    /// True once the service stops.
    stop: watch::Receiver<bool>,
}

/// Serves one connection until the client closes it, the watchdog finds it held without use, or
/// the service stops.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: Arc<ConnectionLimits>,
    mut watchers: Watchers,
) {
    let local = stream.local_addr().ok();
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        stream,
        activity: Arc::clone(&activity),
    });
    let requests = Arc::clone(&activity);
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        if let Some(local) = local {
            request.extensions_mut().insert(LocalAddr(local));
        }
        let answering = RequestGuard::start(&requests);
        let response = app.clone().oneshot(request);
        async move {
            let response = response.await.unwrap_or_else(|never| match never {});
            Ok::<_, Infallible>(response.map(|body| {
                Body::new(GuardedBody {
                    body,
                    _answering: answering,
                })
            }))
        }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.keep_alive(limits.keep_alive.is_some())
        .max_buf_size(limits.max_header_bytes)
        .max_header_size(limits.max_header_bytes);
    let mut connection = pin!(http.serve_connection(io, service));
    let mut stopping = false;
    loop {
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(err) = served {
                    debug!(%peer, "connection ended: {err}");
                }
                break;
            }
            expiry = activity.expired(&limits, &mut watchers.full) => {
                debug!(%peer, "closing the connection: {expiry}");
                break;
            }
            _ = watchers.stop.wait_for(|stop| *stop), if !stopping => {
                stopping = true;
                // Answers under way are finished, with `Connection: close`; idle ones end now.
                connection.as_mut().graceful_shutdown();
            }
        }
    }
    drop(watchers.slot);
}

/// Why the watchdog closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    HeaderTimeout,
    KeepAlive,
    Reclaimed,
    SendTimeout,
}

impl std::fmt::Display for Expiry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Expiry::HeaderTimeout => "the request head did not arrive in time",
            Expiry::KeepAlive => "idle for the keep-alive time",
            Expiry::Reclaimed => "idle while every connection slot is taken",
            Expiry::SendTimeout => "the client does not read its answer",
        })
    }
}

/// What a connection is doing, as its socket and its requests tell the watchdog.
struct Activity {
    state: Mutex<ActivityState>,
    /// Wakes the watchdog when a deadline may have come closer.
    changed: Notify,
}

struct ActivityState {
    /// Requests handed to the router whose answers are not finished.
    answering: usize,
    /// Whether the connection has been answered at least once: a new connection is never
    /// reclaimed and has the header timeout from the start.
    answered: bool,
    /// Since when the connection has waited for a request head: accepted, or its last answer done.
    waiting_since: Instant,
    /// The first byte of the next request head, while waiting.
    first_byte: Option<Instant>,
    /// Since when writes to the client have not gone through.
    write_blocked: Option<Instant>,
}

impl Activity {
    fn new() -> Self {
        Activity {
            state: Mutex::new(ActivityState {
                answering: 0,
                answered: false,
                waiting_since: Instant::now(),
                first_byte: None,
                write_blocked: None,
            }),
            changed: Notify::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ActivityState> {
        // The state stays consistent even if a holder panicked: every update is one assignment.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn read_some(&self) {
        let mut state = self.state();
        if state.answering == 0 && state.answered && state.first_byte.is_none() {
            state.first_byte = Some(Instant::now());
            drop(state);
            self.changed.notify_one();
        }
    }

    fn write_blocked(&self) {
        let mut state = self.state();
        if state.write_blocked.is_none() {
            state.write_blocked = Some(Instant::now());
            drop(state);
            self.changed.notify_one();
        }
    }

    fn wrote_some(&self) {
        self.state().write_blocked = None;
    }

    fn request_started(&self) {
        self.state().answering += 1;
    }

    fn request_finished(&self) {
        let mut state = self.state();
        state.answering = state.answering.saturating_sub(1);
        if state.answering == 0 {
            state.answered = true;
            state.waiting_since = Instant::now();
            state.first_byte = None;
        }
        drop(state);
        self.changed.notify_one();
    }

    /// The earliest deadline the connection must meet and what missing it means, and whether it
    /// is idle between requests (and may be closed when every slot is taken).
    fn deadline(&self, limits: &ConnectionLimits) -> (Option<(Instant, Expiry)>, bool) {
        let state = self.state();
        let sending = state
            .write_blocked
            .map(|blocked| (blocked + limits.send_timeout, Expiry::SendTimeout));
        if state.answering > 0 {
            return (sending, false);
        }
        let waiting = match (state.answered, state.first_byte, limits.keep_alive) {
            (false, _, _) => (
                state.waiting_since + limits.header_read_timeout,
                Expiry::HeaderTimeout,
            ),
            (true, Some(first), _) => (first + limits.header_read_timeout, Expiry::HeaderTimeout),
            (true, None, Some(keep_alive)) => (state.waiting_since + keep_alive, Expiry::KeepAlive),
            // hyper closes the connection after its answer; this only bounds the close.
            (true, None, None) => (
                state.waiting_since + limits.header_read_timeout,
                Expiry::KeepAlive,
            ),
        };
        let earliest = match sending {
            Some(sending) if sending.0 < waiting.0 => sending,
            _ => waiting,
        };
        let idle = state.answered && state.first_byte.is_none();
        (Some(earliest), idle)
    }

    /// Resolves when the connection has missed a deadline, or is idle while every slot is taken.
    async fn expired(&self, limits: &ConnectionLimits, full: &mut watch::Receiver<bool>) -> Expiry {
        loop {
            let changed = self.changed.notified();
            let (deadline, idle) = self.deadline(limits);
            if let Some((at, expiry)) = deadline
                && at <= Instant::now()
            {
                return expiry;
            }
            let due = async {
                match deadline {
                    Some((at, _)) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let reclaimed = async {
                // A closed channel means the accept loop is gone: nothing waits for a slot.
                if !idle || full.wait_for(|full| *full).await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                () = due => {}
                () = changed => {}
                () = reclaimed => return Expiry::Reclaimed,
            }
        }
    }
}

/// Counts one request as being answered from the moment the router gets it until its response
/// body is dropped (hyper drops it once the last byte is handed to the socket).
struct RequestGuard(Arc<Activity>);

impl RequestGuard {
    fn start(activity: &Arc<Activity>) -> Self {
        activity.request_started();
        RequestGuard(Arc::clone(activity))
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// A response body that keeps its request counted as being answered while it is sent.
struct GuardedBody {
    body: Body,
    _answering: RequestGuard,
}

impl HttpBody for GuardedBody {
    type Data = <Body as HttpBody>::Data;
    type Error = <Body as HttpBody>::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The socket, telling the connection's [`Activity`] when bytes arrive and when writes stall.
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl Watched {
    fn after_write<T>(&self, polled: &Poll<io::Result<T>>) {
        match polled {
            Poll::Pending => self.activity.write_blocked(),
            Poll::Ready(_) => self.activity.wrote_some(),
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.read_some();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.after_write(&polled);
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.after_write(&polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_flush(cx);
        this.after_write(&polled);
        polled
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
