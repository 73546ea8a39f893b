//! Connections over real sockets: slow clients are closed by the header timeout and cannot hold
//! every slot, idle kept-alive connections make room when the slots are taken, oversized heads
//! get 431, and a client that does not read its answer is disconnected. Each test fails with
//! `axum::serve` (no header timeout, no cap) or with the protection it names removed.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use kbsearch::config::{Config, Limits};
use kbsearch::server::{AppState, ConnectionLimits};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// A running server and the signal that stops it.
struct Running {
    address: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Serves `app` on a free local port with `limits`.
    async fn start(app: Router, limits: &Limits) -> Running {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let limits = ConnectionLimits::from_config(limits);
        let task = tokio::spawn(kbsearch::server::serve(listener, app, limits, async move {
            let _ = stopped.await;
        }));
        Running {
            address,
            stop: Some(stop),
            task,
        }
    }

    /// The production router (no index needed for `/healthz`) under `limits`.
    async fn service(limits: Limits) -> Running {
        let config = Config {
            limits: limits.clone(),
            ..Config::default()
        };
        Running::start(kbsearch::server::router(AppState::new(config)), &limits).await
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    async fn stop(mut self) {
        let _ = self.stop.take().expect("stopped once").send(());
        tokio::time::timeout(Duration::from_secs(15), &mut self.task)
            .await
            .expect("the server stops")
            .unwrap();
    }
}

/// Writes all of `bytes` (tokio's `io-util` extension traits are not among the features built).
async fn write_all(stream: &TcpStream, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        stream.writable().await.unwrap();
        match stream.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(err) => panic!("write: {err}"),
        }
    }
}

/// Reads what is there (waiting for something); `Ok(0)` when the peer closed.
async fn read(stream: &TcpStream, buffer: &mut [u8]) -> std::io::Result<usize> {
    loop {
        stream.readable().await?;
        match stream.try_read(buffer) {
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
            other => return other,
        }
    }
}

/// A client that sends `head` and then nothing.
async fn send_head(address: SocketAddr, head: &str) -> TcpStream {
    let stream = TcpStream::connect(address).await.unwrap();
    write_all(&stream, head.as_bytes()).await;
    stream
}

/// Reads until the server closes the connection (or resets it); the bytes read.
async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 64 * 1024];
    loop {
        match read(stream, &mut buffer).await {
            Ok(0) | Err(_) => return received,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
        }
    }
}

/// One whole request on `stream`, and its status and body (`Content-Length` framed).
async fn exchange(stream: &mut TcpStream, path: &str) -> (u16, String) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n");
    write_all(stream, request.as_bytes()).await;
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let n = read(stream, &mut buffer).await.unwrap();
        assert!(n > 0, "closed before the answer");
        received.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&received).into_owned();
        let Some(end) = text.find("\r\n\r\n") else {
            continue;
        };
        let length: usize = text[..end]
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .expect("a content length");
        if received.len() >= end + 4 + length {
            let status = text[9..12].parse().unwrap();
            return (status, text[end + 4..end + 4 + length].to_string());
        }
    }
}

fn limits(edit: impl FnOnce(&mut Limits)) -> Limits {
    let mut limits = Limits::default();
    edit(&mut limits);
    limits
}

/// Regression test for issue 14: connections that sent half a request line stayed open for
/// good (seen after 40 s), and enough of them left nothing to answer, not even `/healthz`.
#[tokio::test]
async fn slow_connections_past_the_cap_are_closed_and_healthz_still_answers() {
    let server = Running::service(limits(|l| {
        l.max_connections = 4;
        l.header_read_timeout_secs = 1;
    }))
    .await;
    let started = Instant::now();
    let mut slow = Vec::new();
    for _ in 0..8 {
        slow.push(send_head(server.address, "GET /healthz HT").await);
    }
    // Past the cap: the health check waits for a slot, which the header timeout frees.
    let health = tokio::time::timeout(
        Duration::from_secs(10),
        reqwest::Client::new().get(server.url("/healthz")).send(),
    )
    .await
    .expect("/healthz answers while slow connections keep every slot")
    .unwrap();
    assert_eq!(health.status(), 200);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "the health check did wait for a slow connection to be closed: {:?}",
        started.elapsed()
    );

    let mut closed_after = Vec::new();
    for mut stream in slow {
        let received = tokio::time::timeout(Duration::from_secs(10), read_to_close(&mut stream))
            .await
            .expect("a slow connection is closed");
        assert!(received.is_empty(), "closed without an answer");
        closed_after.push(started.elapsed());
    }
    // The first four had slots from the start: closed one header timeout after they connected.
    let first = closed_after[3];
    assert!(
        first >= Duration::from_millis(900) && first < Duration::from_secs(4),
        "closed by the header timeout: {closed_after:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn idle_kept_alive_connections_make_room_when_every_slot_is_taken() {
    let server = Running::service(limits(|l| {
        l.max_connections = 2;
        l.header_read_timeout_secs = 30;
        l.keep_alive_secs = 60;
    }))
    .await;
    let mut idle = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(server.address).await.unwrap();
        let (status, body) = exchange(&mut stream, "/healthz").await;
        assert_eq!(status, 200, "{body}");
        idle.push(stream);
    }
    // Both slots hold answered, idle connections: without reclaiming them, this request would
    // wait for the 60 s keep-alive.
    let health = tokio::time::timeout(
        Duration::from_secs(10),
        reqwest::Client::new().get(server.url("/healthz")).send(),
    )
    .await
    .expect("an idle connection made room")
    .unwrap();
    assert_eq!(health.status(), 200);
    let mut reclaimed = 0;
    for mut stream in idle {
        if tokio::time::timeout(Duration::from_secs(1), read_to_close(&mut stream))
            .await
            .is_ok()
        {
            reclaimed += 1;
        }
    }
    assert!(reclaimed >= 1, "an idle connection was closed");
    server.stop().await;
}

#[tokio::test]
async fn kept_alive_connections_serve_several_requests_and_close_when_idle() {
    let server = Running::service(limits(|l| {
        l.keep_alive_secs = 1;
        l.header_read_timeout_secs = 30;
    }))
    .await;
    let mut stream = TcpStream::connect(server.address).await.unwrap();
    for _ in 0..3 {
        let (status, _) = exchange(&mut stream, "/healthz").await;
        assert_eq!(status, 200);
    }
    let idle_since = Instant::now();
    let rest = tokio::time::timeout(Duration::from_secs(10), read_to_close(&mut stream))
        .await
        .expect("closed after the keep-alive time");
    assert!(rest.is_empty());
    let idle = idle_since.elapsed();
    assert!(
        idle >= Duration::from_millis(900) && idle < Duration::from_secs(5),
        "{idle:?}"
    );

    // Once its next request has begun, a kept-alive connection has the header timeout, not the
    // keep-alive time, for the rest of the head.
    let mut stream = TcpStream::connect(server.address).await.unwrap();
    assert_eq!(exchange(&mut stream, "/healthz").await.0, 200);
    write_all(&stream, b"GET /heal").await;
    let slow = tokio::time::timeout(Duration::from_secs(3), read_to_close(&mut stream)).await;
    assert!(
        slow.is_err(),
        "a started head is not cut at the keep-alive time"
    );
    drop(stream);
    server.stop().await;
}

#[tokio::test]
async fn a_request_head_over_the_limit_gets_431() {
    let server = Running::service(limits(|l| l.max_header_bytes = 8 * 1024)).await;
    let client = reqwest::Client::new();
    let big = client
        .get(server.url("/healthz"))
        .header("x-padding", "x".repeat(12 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), 431);
    let fits = client
        .get(server.url("/healthz"))
        .header("x-padding", "x".repeat(6 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(fits.status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_does_not_read_its_answer_is_disconnected() {
    const BIG: usize = 64 * 1024 * 1024;
    let app = Router::new().route("/big", get(|| async { vec![b'x'; BIG] }));
    let server = Running::start(
        app,
        &limits(|l| {
            l.send_timeout_secs = 1;
        }),
    )
    .await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(server.address).await.unwrap();
    write_all(&stream, b"GET /big HTTP/1.1\r\nHost: test\r\n\r\n").await;
    // Not reading: the server's writes block, and after the send timeout it gives up.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let received = tokio::time::timeout(Duration::from_secs(20), read_to_close(&mut stream))
        .await
        .expect("the connection was closed");
    assert!(
        received.len() < BIG,
        "the answer was cut off: {} bytes",
        received.len()
    );
    server.stop().await;
}

#[tokio::test]
async fn requests_carry_the_peer_and_local_addresses() {
    let app = Router::new().route(
        "/who",
        get(
            |axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<SocketAddr>,
             axum::Extension(kbsearch::server::LocalAddr(local)): axum::Extension<
                kbsearch::server::LocalAddr,
            >| async move { format!("{peer} {local}") },
        ),
    );
    let server = Running::start(app, &Limits::default()).await;
    let text = reqwest::get(server.url("/who"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (peer, local) = text.split_once(' ').unwrap();
    assert!(peer.starts_with("127.0.0.1:"), "{text}");
    assert_eq!(local, server.address.to_string());
    server.stop().await;
}
