//! What the service tells browsers and checks of them: a Content-Security-Policy without inline
//! code on every page (and pages that need none), `nosniff` and a referrer policy everywhere,
//! framing only for configured portals, the case form refusing posts from other sites, and the
//! agent routes answering 401 with `WWW-Authenticate: Bearer` when no key is sent. The browser
//! tests (`tests/browser.rs`) show the pages still work under this policy.

mod common;

use axum::body::Body;
use axum::http::{HeaderMap, Request};
use common::{AGENT_KEY, CUSTOMER_KEY, Kb};
use http_body_util::BodyExt;
use kbsearch::config::WatchMode;
use tower::ServiceExt;

/// A response read whole, with its headers.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|value| value.to_str().unwrap())
            .unwrap_or_default()
    }
}

async fn send(app: &axum::Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

async fn get(app: &axum::Router, uri: &str) -> Answer {
    send(app, Request::get(uri).body(Body::empty()).unwrap()).await
}

/// The policy every page must have: only the service's own scripts and styles, nothing inline,
/// no framing.
fn assert_page_policy(uri: &str, page: &Answer) {
    let policy = page.header("content-security-policy");
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(
            policy.contains(directive),
            "{uri}: {directive} in {policy:?}"
        );
    }
    assert!(!policy.contains("unsafe"), "{uri}: {policy}");
    assert_eq!(page.header("x-frame-options"), "DENY", "{uri}");
    assert_eq!(page.header("x-content-type-options"), "nosniff", "{uri}");
    assert_eq!(page.header("referrer-policy"), "same-origin", "{uri}");
}

/// Fails on anything the policy would block: inline scripts, style elements or attributes,
/// event-handler attributes, `javascript:` links. maud and ammonia escape every `<` of text, so
/// each `<` starts a tag.
fn assert_no_inline_code(uri: &str, html: &str) {
    for tag in html.split('<').skip(1) {
        let tag = tag
            .split('>')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let name: String = tag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        assert!(
            name != "script" || tag.contains(" src="),
            "{uri}: inline script <{tag}>"
        );
        assert_ne!(name, "style", "{uri}: a style element");
        let attributes = tag.split_whitespace().skip(1);
        for attribute in attributes {
            let key = attribute.split('=').next().unwrap_or_default();
            assert!(
                key != "style" && !(key.starts_with("on") && attribute.contains('=')),
                "{uri}: <{tag}>"
            );
        }
        assert!(!tag.contains("javascript:"), "{uri}: <{tag}>");
    }
}

#[tokio::test]
async fn every_page_has_the_policy_and_needs_no_inline_code() {
    let (kb, ids) = tokio::task::spawn_blocking(|| {
        let kb = Kb::sample();
        kb.index();
        let ids: Vec<String> = kb
            .searcher()
            .list_articles()
            .unwrap()
            .into_iter()
            .map(|article| article.id)
            .collect();
        (kb, ids)
    })
    .await
    .unwrap();
    assert!(ids.len() > 50, "the sample knowledge base: {}", ids.len());
    let app = kb.app();
    let mut pages: Vec<String> = [
        "/",
        "/?q=cutover+locked&type=kb",
        "/?q=cutover&fragment=results",
        "/?q=zzzzqqq",
        "/case",
        "/no-such-page",
        "/articles/no-such-article",
    ]
    .map(String::from)
    .to_vec();
    pages.extend(ids.iter().map(|id| format!("/articles/{id}")));
    for uri in &pages {
        let page = get(&app, uri).await;
        assert!(
            page.header("content-type").starts_with("text/html"),
            "{uri}"
        );
        assert_page_policy(uri, &page);
        assert_no_inline_code(uri, &page.body);
    }
    // JSON, scripts and styles are never sniffed into something else.
    for uri in [
        "/api/search?q=cutover",
        "/healthz",
        "/api/openapi.json",
        "/assets/app.js",
        "/assets/style.css",
        "/api/no-such-route",
    ] {
        let answer = get(&app, uri).await;
        assert_eq!(answer.header("x-content-type-options"), "nosniff", "{uri}");
    }
}

#[tokio::test]
async fn the_preview_pages_have_the_policy_too() {
    let kb = Kb::new();
    kb.article(
        "articles/a.md",
        "Draft one",
        "status: draft\n",
        "alpha words",
    );
    let live = kb.live(WatchMode::Off).await;
    let app = kbsearch::server::preview_router(live.state.clone().for_preview());
    for uri in ["/preview", "/articles/articles/a"] {
        let page = get(&app, uri).await;
        assert_eq!(page.status, 200, "{uri}");
        assert!(page.body.contains("/assets/preview.js"), "{uri}");
        assert_page_policy(uri, &page);
        assert_no_inline_code(uri, &page.body);
    }
    let details = get(&app, "/preview/api/article?id=articles/a").await;
    assert_eq!(details.header("x-content-type-options"), "nosniff");
}

#[tokio::test]
async fn configured_portals_may_frame_the_pages() {
    let kb = Kb::new();
    kb.article("articles/a.md", "Alpha", "", "alpha words");
    kb.index();
    let mut config = kb.app_config();
    config.server.frame_ancestors = vec!["https://portal.example.com".into()];
    let state = kbsearch::server::AppState::new(config);
    state
        .searcher
        .store(Some(std::sync::Arc::new(kb.searcher())));
    let app = kbsearch::server::router(state);
    let page = get(&app, "/case").await;
    let policy = page.header("content-security-policy");
    assert!(
        policy.contains("frame-ancestors https://portal.example.com"),
        "{policy}"
    );
    assert_eq!(
        page.header("x-frame-options"),
        "",
        "X-Frame-Options cannot name a portal: the policy does"
    );
}

/// Posts the case form with `headers`, as sent to the host `kb.example.com`.
async fn post_case(app: &axum::Router, headers: &[(&str, &str)]) -> Answer {
    let mut request = Request::post("/case")
        .header("host", "kb.example.com")
        .header("content-type", "application/x-www-form-urlencoded");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let body = Body::from("subject=cutover+fails&description=ERR_SHARE_LOCKED&severity=3");
    send(app, request.body(body).unwrap()).await
}

#[tokio::test]
async fn the_case_form_refuses_posts_from_other_sites() {
    let kb = Kb::new();
    kb.article(
        "articles/a.md",
        "Cutover fails with ERR_SHARE_LOCKED",
        "",
        "Close the open files.",
    );
    let app = kb.app();
    for (headers, what) in [
        (vec![("sec-fetch-site", "cross-site")], "another site"),
        (vec![("sec-fetch-site", "same-site")], "a sibling subdomain"),
        (
            vec![("origin", "https://evil.example")],
            "an older browser on another site",
        ),
        (vec![("origin", "null")], "a sandboxed or opaque origin"),
    ] {
        let refused = post_case(&app, &headers).await;
        assert_eq!(refused.status, 403, "{what}: {}", refused.body);
        assert!(
            refused.body.contains("another site"),
            "{what}: {}",
            refused.body
        );
    }
    for (headers, what) in [
        (
            vec![
                ("sec-fetch-site", "same-origin"),
                ("origin", "https://kb.example.com"),
            ],
            "this site's own form",
        ),
        (
            vec![
                ("sec-fetch-site", "same-origin"),
                ("origin", "https://public-name.example.com"),
            ],
            "this site behind a proxy that rewrites the host",
        ),
        (
            vec![("origin", "http://kb.example.com")],
            "an older browser on this site",
        ),
        (vec![], "not a browser"),
    ] {
        let taken = post_case(&app, &headers).await;
        assert_eq!(taken.status, 200, "{what}: {}", taken.body);
        assert!(taken.body.contains("Your case was submitted"), "{what}");
    }
}

#[tokio::test]
async fn agent_routes_ask_for_a_key_with_401() {
    let kb = Kb::new();
    kb.article("articles/a.md", "Alpha", "", "alpha words");
    let app = kb.app();
    for (method, uri) in [
        ("GET", "/api/status"),
        ("POST", "/api/reindex"),
        ("GET", "/api/analytics/deflection"),
        ("GET", "/api/analytics/search"),
        ("GET", "/metrics"),
    ] {
        let request = |key: Option<&str>| {
            let mut request = Request::builder().method(method).uri(uri);
            if let Some(key) = key {
                request = request.header("authorization", format!("Bearer {key}"));
            }
            request.body(Body::empty()).unwrap()
        };
        let anonymous = send(&app, request(None)).await;
        assert_eq!(anonymous.status, 401, "{method} {uri}: {}", anonymous.body);
        assert_eq!(anonymous.header("www-authenticate"), "Bearer", "{uri}");
        let wrong = send(&app, request(Some("not-a-configured-key"))).await;
        assert_eq!(wrong.status, 401, "{method} {uri}");
        let customer = send(&app, request(Some(CUSTOMER_KEY))).await;
        assert_eq!(customer.status, 403, "{method} {uri}: {}", customer.body);
        let agent = send(&app, request(Some(AGENT_KEY))).await;
        assert!(
            ![401, 403].contains(&agent.status),
            "{method} {uri}: {} {}",
            agent.status,
            agent.body
        );
    }
}
