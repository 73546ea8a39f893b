//! The writers' preview over HTTP: everything shown and labelled, live-reload events after each
//! commit, the article list with problems first, and the article details the page shows.

mod common;

use common::{Kb, get};
use kbsearch::config::WatchMode;

fn article(title: &str, front: &str, body: &str) -> String {
    format!("---\ntitle: \"{title}\"\n{front}---\n# {title}\n\n{body}\n")
}

/// The preview app over a live index of `kb`.
async fn preview(kb: &Kb) -> (common::Live, axum::Router) {
    let live = kb.live(WatchMode::Native).await;
    let state = live.state.clone().for_preview();
    let app = kbsearch::server::preview_router(state);
    (live, app)
}

#[tokio::test]
async fn drafts_and_internal_articles_are_shown_and_labelled() {
    let kb = Kb::new();
    kb.write(
        "articles/draft.md",
        article("Draft one", "status: draft\n", "alpha words"),
    );
    kb.write(
        "articles/secret.md",
        article("Internal one", "visibility: internal\n", "alpha words"),
    );
    let (_live, app) = preview(&kb).await;
    for id in ["articles/draft", "articles/secret"] {
        let page = get(&app, &format!("/articles/{id}"), None).await;
        assert_eq!(page.status, 200, "{id}: {}", page.body);
        assert!(page.body.contains("preview-banner"), "{}", page.body);
        assert!(page.body.contains("/assets/preview.js"));
    }
    let search = get(&app, "/api/search?q=alpha", None).await.json();
    assert_eq!(search["total"], 2, "{search}");
    let list = get(&app, "/preview", None).await;
    assert!(list.body.contains("Draft one") && list.body.contains("Internal one"));
    // JSON is left alone.
    assert!(
        !get(&app, "/api/search?q=alpha", None)
            .await
            .body
            .contains("preview-banner")
    );
}

#[tokio::test]
async fn the_article_list_puts_problems_first() {
    let kb = Kb::new();
    kb.write("articles/a-good.md", article("Good", "", "fine"));
    kb.write(
        "articles/z-unknown-version.md",
        article("Versioned", "versions: [\"9.9\"]\n", "text"),
    );
    kb.write("articles/broken.md", "---\ntitle: [unclosed\n---\nbody\n");
    let (_live, app) = preview(&kb).await;
    let list = get(&app, "/preview", None).await.body;
    let versioned = list.find("Versioned").expect("listed");
    let good = list.find(">Good<").expect("listed");
    assert!(versioned < good, "problems first:\n{list}");
    assert!(
        list.contains("articles/broken.md"),
        "files that do not parse are listed: {list}"
    );
}

#[tokio::test]
async fn article_details_give_problems_and_query_ranks() {
    let kb = Kb::new();
    kb.write(
        "articles/a.md",
        article(
            "Cutover fails with locked files",
            "queries: [\"cutover locked files\"]\nversions: [\"9.9\"]\n",
            "Close the open files before the cutover.",
        ),
    );
    let (_live, app) = preview(&kb).await;
    let details = get(&app, "/preview/api/article?id=articles/a", None).await;
    assert_eq!(details.status, 200, "{}", details.body);
    let details = details.json();
    let problems = details["problems"].to_string();
    assert!(problems.contains("9.9"), "{details}");
    assert_eq!(
        details["queries"][0]["query"], "cutover locked files",
        "{details}"
    );
    assert_eq!(details["queries"][0]["rank"], 1, "{details}");
    let rank = get(&app, "/preview/api/rank?id=articles/a&q=open+files", None).await;
    assert_eq!(rank.status, 200, "{}", rank.body);
    assert_eq!(rank.json()["rank"], 1, "{}", rank.body);
    let empty = get(&app, "/preview/api/rank?id=articles/a&q=+", None).await;
    assert_eq!(empty.status, 400);
    let missing = get(&app, "/preview/api/article?id=nope", None).await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn each_commit_sends_a_change_event_and_streams_end_at_shutdown() {
    let kb = Kb::new();
    kb.write("articles/a.md", article("Live", "", "first text"));
    let live = kb.live(WatchMode::Native).await;
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let state = live.state.clone().for_preview().with_stopping(stopping);
    let app = kbsearch::server::preview_router(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stopped_tx, stopped_rx) = tokio::sync::oneshot::channel::<()>();
    let limits = kbsearch::server::ConnectionLimits::from_config(&Default::default());
    let server = tokio::spawn(kbsearch::server::serve(listener, app, limits, async move {
        let _ = stopped_rx.await;
        let _ = stop.send(true);
    }));
    let client = reqwest::Client::new();
    let mut events = client
        .get(format!("http://{address}/preview/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);

    kb.write("articles/a.md", article("Live", "", "second text"));
    let deadline = tokio::time::Instant::now() + common::LIVE_TIMEOUT;
    let mut received = String::new();
    while !received.contains("event: changed") {
        let chunk = tokio::time::timeout_at(deadline, events.chunk())
            .await
            .expect("a change event before the timeout")
            .unwrap()
            .expect("the stream stays open");
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
    // The event comes after the commit: the page fetched now has the new text.
    let page = client
        .get(format!("http://{address}/articles/articles/a"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("second text"), "{page}");

    // Stopping ends the open stream, so the server finishes.
    stopped_tx.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .expect("shutdown is not held up by the open stream")
        .unwrap();
}

/// DNS rebinding: a page of another site whose name resolves to 127.0.0.1 reaches the preview
/// with its own name in `Host`. Only localhost names at the preview's own port are answered.
#[tokio::test]
async fn only_requests_for_localhost_at_its_port_are_answered() {
    let kb = Kb::new();
    kb.write(
        "articles/a.md",
        article("Secret draft", "status: draft\n", "text"),
    );
    let (_live, app) = preview(&kb).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let port = address.port();
    let limits = kbsearch::server::ConnectionLimits::from_config(&Default::default());
    let server = tokio::spawn(kbsearch::server::serve(
        listener,
        app,
        limits,
        std::future::pending(),
    ));
    let client = reqwest::Client::new();
    let ask = |host: String, path: &'static str| {
        let request = client
            .get(format!("http://{address}{path}"))
            .header("host", host);
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
    ] {
        let (status, body) = ask(host.clone(), "/preview").await;
        assert_eq!(status, 200, "{host}: {body}");
        assert!(body.contains("Secret draft"), "{host}");
    }
    for host in [
        format!("rebind.example:{port}"),
        format!("127.0.0.1.nip.io:{port}"),
        format!("localhost:{}", port.wrapping_add(1)),
        "localhost".to_string(),
    ] {
        for path in ["/preview", "/api/search?q=secret", "/preview/events"] {
            let (status, body) = ask(host.clone(), path).await;
            assert_eq!(status, 421, "{host}{path}: {body}");
            assert!(
                body.contains(&format!("http://localhost:{port}/")) && !body.contains("Secret"),
                "{host}{path}: {body}"
            );
        }
    }
    server.abort();
}
