//! Rate limits over real sockets, clients told apart by their loopback address (127.0.0.1,
//! 127.0.0.2, ...): 429 with `Retry-After` past the burst, per address; `X-Forwarded-For`
//! believed only from a trusted proxy; `enabled = false` never limits.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use common::Kb;
use kbsearch::config::RateLimit;
use kbsearch::server::{AppState, ConnectionLimits};
use serde_json::json;

/// The service over a one-article folder with an event store, rate limits edited by `edit`.
struct Running {
    address: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    _kb: Kb,
}

impl Running {
    async fn start(edit: impl FnOnce(&mut RateLimit) + Send + 'static) -> Running {
        let (kb, state) = tokio::task::spawn_blocking(move || {
            let kb = Kb::new();
            kb.article(
                "articles/locked.md",
                "Cutover fails with ERR_SHARE_LOCKED",
                "",
                "Close the open files on the source share before the cutover.",
            );
            kb.index();
            let mut config = kb.app_config();
            edit(&mut config.rate_limit);
            let state = AppState::new(config).with_events(kb.events());
            state.searcher.store(Some(Arc::new(kb.searcher())));
            (kb, state)
        })
        .await
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let limits = ConnectionLimits::from_config(&state.config.limits);
        let app = kbsearch::server::router(state);
        let task = tokio::spawn(kbsearch::server::serve(
            listener,
            app,
            limits,
            std::future::pending(),
        ));
        Running {
            address,
            task,
            _kb: kb,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A client whose connections come from `address` (any of 127.0.0.0/8).
fn client_from(address: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(address.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// Posts a draft; the status and the `Retry-After` header.
async fn draft(
    client: &reqwest::Client,
    server: &Running,
    forwarded_for: Option<&str>,
) -> (u16, Option<u64>) {
    let mut request = client
        .post(server.url("/api/deflect"))
        .json(&json!({"subject": "cutover fails", "description": "ERR_SHARE_LOCKED"}));
    if let Some(forwarded_for) = forwarded_for {
        request = request.header("x-forwarded-for", forwarded_for);
    }
    let response = request.send().await.unwrap();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().unwrap().parse().unwrap());
    (response.status().as_u16(), retry_after)
}

fn slow_refill(burst: u32) -> impl FnOnce(&mut RateLimit) + Send + 'static {
    move |rate_limit: &mut RateLimit| {
        // One request back every 100 s: nothing refills while a test runs.
        rate_limit.writes_per_second = 0.01;
        rate_limit.writes_burst = burst;
    }
}

#[tokio::test]
async fn writes_past_the_burst_get_429_with_retry_after_per_address() {
    let server = Running::start(slow_refill(3)).await;
    let first = client_from("127.0.0.1");
    for n in 0..3 {
        assert_eq!(draft(&first, &server, None).await.0, 200, "request {n}");
    }
    let (status, retry_after) = draft(&first, &server, None).await;
    assert_eq!(status, 429);
    let retry_after = retry_after.expect("a Retry-After header");
    assert!((1..=100).contains(&retry_after), "{retry_after}");
    let refused = first
        .post(server.url("/api/deflect"))
        .json(&json!({"subject": "cutover"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");

    // Feedback and the plain case form draw on the same budget; the form gets a page.
    let feedback = first
        .post(server.url("/api/deflect/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b/feedback"))
        .json(&json!({"outcome": "case_submitted"}))
        .send()
        .await
        .unwrap();
    assert_eq!(feedback.status(), 429);
    let form = first
        .post(server.url("/case"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("subject=cutover+fails")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 429);
    assert!(form.headers().contains_key("retry-after"));
    assert!(form.text().await.unwrap().contains("Too many requests"));

    // Reading is not limited by default, and another address has its own budget.
    let search = first
        .get(server.url("/api/search?q=cutover"))
        .send()
        .await
        .unwrap();
    assert_eq!(search.status(), 200);
    let second = client_from("127.0.0.2");
    assert_eq!(draft(&second, &server, None).await.0, 200);
}

#[tokio::test]
async fn search_is_limited_only_when_configured() {
    let server = Running::start(|rate_limit| {
        rate_limit.search_per_second = 0.01;
        rate_limit.search_burst = 2;
    })
    .await;
    let client = client_from("127.0.0.3");
    for path in ["/api/search?q=cutover", "/api/suggest?q=cut"] {
        let answer = client.get(server.url(path)).send().await.unwrap();
        assert_eq!(answer.status(), 200, "{path}");
    }
    let page = client.get(server.url("/?q=cutover")).send().await.unwrap();
    assert_eq!(page.status(), 429);
    assert!(page.headers().contains_key("retry-after"));
    let article = client
        .get(server.url("/api/articles/articles/locked"))
        .send()
        .await
        .unwrap();
    assert_eq!(article.status(), 200, "articles are not search");
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
    let server = Running::start(|rate_limit| {
        slow_refill(2)(rate_limit);
        rate_limit.trusted_proxies = vec!["127.0.0.4/32".parse().unwrap()];
    })
    .await;
    // Not a trusted proxy: what it writes in X-Forwarded-For does not make it someone else.
    let untrusted = client_from("127.0.0.5");
    for forwarded in ["198.51.100.1", "198.51.100.2"] {
        assert_eq!(draft(&untrusted, &server, Some(forwarded)).await.0, 200);
    }
    assert_eq!(
        draft(&untrusted, &server, Some("198.51.100.3")).await.0,
        429
    );

    // The trusted proxy: each forwarded client has its own budget, the proxy none of its own.
    let proxy = client_from("127.0.0.4");
    for _ in 0..2 {
        assert_eq!(draft(&proxy, &server, Some("203.0.113.1")).await.0, 200);
    }
    assert_eq!(draft(&proxy, &server, Some("203.0.113.1")).await.0, 429);
    // A client cannot escape by writing an address of its own to the left of the proxy's entry.
    assert_eq!(
        draft(&proxy, &server, Some("192.0.2.99, 203.0.113.1"))
            .await
            .0,
        429
    );
    assert_eq!(draft(&proxy, &server, Some("203.0.113.2")).await.0, 200);
}

#[tokio::test]
async fn disabled_means_never() {
    let server = Running::start(|rate_limit| {
        slow_refill(1)(rate_limit);
        rate_limit.search_per_second = 0.01;
        rate_limit.search_burst = 1;
        rate_limit.enabled = false;
    })
    .await;
    let client = client_from("127.0.0.6");
    for _ in 0..10 {
        assert_eq!(draft(&client, &server, None).await.0, 200);
        let search = client
            .get(server.url("/api/search?q=cutover"))
            .send()
            .await
            .unwrap();
        assert_eq!(search.status(), 200);
    }
}
