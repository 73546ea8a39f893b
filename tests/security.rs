//! What the service tells browsers and checks of them: a Content-Security-Policy without inline
//! code on every page (and pages that need none), `nosniff` and a referrer policy everywhere,
//! framing only for configured portals, the case form refusing posts from other sites, and the
//! agent routes answering 401 with `WWW-Authenticate: Bearer` when no key is sent. Agent sign-in
//! for pages: the session cookie's attributes (and `Secure` over HTTPS), the key never in a
//! cookie or an answer, forged, tampered, foreign and revoked cookies read as anonymous, sign-out,
//! wrong keys, cross-site posts and guessing refused, internal articles shown (labelled) only to
//! a signed-in agent, and agent pages sending others to `/signin`. The browser
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

// ---------------------------------------------------------------------------------------------
// Agent sign-in for pages
// ---------------------------------------------------------------------------------------------

/// A public and an internal article that share the word `zephyr`.
fn signin_fixture() -> Kb {
    let kb = Kb::new();
    kb.article(
        "articles/public.md",
        "Zephyr public answer",
        "",
        "zephyr words for everyone",
    );
    kb.article(
        "articles/runbook.md",
        "Zephyr internal runbook",
        "visibility: internal\n",
        "zephyr words for support staff",
    );
    kb
}

/// Posts the sign-in form with `key`, as this site's own page would.
async fn sign_in(app: &axum::Router, key: &str, next: &str) -> Answer {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("key", key)
        .append_pair("next", next)
        .finish();
    let request = Request::post("/signin")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "same-origin")
        .body(Body::from(body))
        .unwrap();
    send(app, request).await
}

/// The `name=value` part of the answer's session cookie, as a browser sends it back.
fn session_cookie(answer: &Answer) -> String {
    let set_cookie = answer.header("set-cookie");
    assert!(
        set_cookie.starts_with("kbsearch_session="),
        "a session cookie: {set_cookie:?} ({})",
        answer.status
    );
    set_cookie.split(';').next().unwrap().to_string()
}

async fn get_with_cookie(app: &axum::Router, uri: &str, cookie: &str) -> Answer {
    let request = Request::get(uri)
        .header("cookie", cookie)
        .body(Body::empty())
        .unwrap();
    send(app, request).await
}

/// Everything of an answer a browser or a proxy could keep: status line, headers and body.
fn whole(answer: &Answer) -> String {
    let headers: Vec<String> = answer
        .headers
        .iter()
        .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap_or_default()))
        .collect();
    format!("{}\n{}\n{}", answer.status, headers.join("\n"), answer.body)
}

#[tokio::test]
async fn signing_in_sets_a_signed_http_only_strict_cookie_that_never_holds_the_key() {
    let kb = signin_fixture();
    let app = kb.app();
    let form = get(&app, "/signin?next=%2F%3Fq%3Dzephyr").await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains(r#"type="password""#), "{}", form.body);
    assert!(form.body.contains(r#"value="/?q=zephyr""#), "{}", form.body);
    assert_page_policy("/signin", &form);
    assert_no_inline_code("/signin", &form.body);

    let signed_in = sign_in(&app, AGENT_KEY, "/?q=zephyr").await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert_eq!(signed_in.header("location"), "/?q=zephyr");
    let set_cookie = signed_in.header("set-cookie");
    let attributes: Vec<&str> = set_cookie.split("; ").skip(1).collect();
    for expected in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=28800"] {
        assert!(attributes.contains(&expected), "{expected}: {set_cookie}");
    }
    assert!(
        !attributes.contains(&"Secure"),
        "plain HTTP without a proxy saying otherwise: {set_cookie}"
    );
    assert!(
        !whole(&signed_in).contains(AGENT_KEY),
        "{}",
        whole(&signed_in)
    );
    let cookie = session_cookie(&signed_in);
    assert!(cookie.len() > "kbsearch_session=".len() + 40, "{cookie}");

    let page = get_with_cookie(&app, "/signin", &cookie).await;
    assert!(page.body.contains("You are signed in as"), "{}", page.body);
    assert!(page.body.contains(r#"action="/signout""#));
    assert!(page.header("cache-control").contains("no-store"));
    assert!(!whole(&page).contains(AGENT_KEY));

    // The key is taken from the form body only, never from the address.
    let in_url = get(&app, &format!("/signin?key={AGENT_KEY}")).await;
    assert_eq!(in_url.header("set-cookie"), "", "{}", whole(&in_url));
    assert!(!in_url.body.contains(AGENT_KEY));
}

#[tokio::test]
async fn the_cookie_is_secure_over_https_by_configuration_or_from_a_trusted_proxy() {
    let kb = signin_fixture();
    kb.index();
    let app_with = |configure: &dyn Fn(&mut kbsearch::config::Config)| {
        let mut config = kb.app_config();
        configure(&mut config);
        let state = kbsearch::server::AppState::new(config);
        state
            .searcher
            .store(Some(std::sync::Arc::new(kb.searcher())));
        kbsearch::server::router(state)
    };
    let configured = app_with(&|config| config.session.secure = true);
    let answer = sign_in(&configured, AGENT_KEY, "/").await;
    assert!(
        answer.header("set-cookie").contains("; Secure"),
        "{}",
        answer.header("set-cookie")
    );

    let behind_proxy = app_with(&|config| {
        config.rate_limit.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()];
    });
    let via = |peer: &str, proto: &str| {
        signin_from(peer, Some(proto), format!("key={AGENT_KEY}&next=%2F"))
    };
    let trusted = send(&behind_proxy, via("10.0.0.5:40000", "https")).await;
    assert!(
        trusted.header("set-cookie").contains("; Secure"),
        "{}",
        trusted.header("set-cookie")
    );
    let stranger = send(&behind_proxy, via("203.0.113.9:40000", "https")).await;
    assert_eq!(stranger.status, 303);
    assert!(
        !stranger.header("set-cookie").contains("Secure"),
        "a header anyone can write: {}",
        stranger.header("set-cookie")
    );
}

#[tokio::test]
async fn a_signed_in_agent_sees_internal_articles_labelled_and_anonymous_callers_do_not() {
    let kb = signin_fixture();
    let app = kb.app();
    let anonymous = get(&app, "/?q=zephyr").await;
    assert!(anonymous.body.contains("Zephyr public answer"));
    assert!(!anonymous.body.contains("Zephyr internal runbook"));
    assert!(!anonymous.body.contains("badge internal"));
    assert_eq!(get(&app, "/articles/articles/runbook").await.status, 404);

    let cookie = session_cookie(&sign_in(&app, AGENT_KEY, "/").await);
    let agent = get_with_cookie(&app, "/?q=zephyr", &cookie).await;
    assert_eq!(agent.status, 200);
    assert!(
        agent.body.contains("Zephyr public answer"),
        "{}",
        agent.body
    );
    assert!(
        agent.body.contains("Zephyr internal runbook"),
        "{}",
        agent.body
    );
    assert!(
        agent
            .body
            .contains(r#"<span class="badge internal">Internal</span>"#),
        "{}",
        agent.body
    );
    assert_eq!(
        agent.header("cache-control"),
        "private, no-store",
        "no shared cache keeps a signed-in page"
    );
    // The as-you-type fragment the page's script fetches is the same search.
    let fragment = get_with_cookie(&app, "/?q=zephyr&fragment=results", &cookie).await;
    assert!(fragment.body.contains("Zephyr internal runbook"));
    let article = get_with_cookie(&app, "/articles/articles/runbook", &cookie).await;
    assert_eq!(article.status, 200, "{}", article.body);
    assert!(
        article
            .body
            .contains(r#"<span class="badge internal">Internal</span>"#)
    );

    // The JSON API keeps bearer keys: the cookie alone opens nothing there.
    let api = get_with_cookie(&app, "/api/search?q=zephyr", &cookie).await;
    assert!(api.body.contains("Zephyr public answer"), "{}", api.body);
    assert!(!api.body.contains("runbook"), "{}", api.body);
    let analytics = get_with_cookie(&app, "/api/analytics/search", &cookie).await;
    assert_eq!(analytics.status, 401);
}

#[tokio::test]
async fn forged_tampered_and_foreign_cookies_are_anonymous() {
    let kb = signin_fixture();
    let app = kb.app();
    let cookie = session_cookie(&sign_in(&app, AGENT_KEY, "/").await);
    let (name, value) = cookie.split_once('=').unwrap();
    // The value is the signature (base64, ending in a percent-encoded `=`), then the token.
    let (_, token) = value.split_once("%3D").expect("a signed value");
    assert!(token.starts_with("v1."), "{value}");
    assert!(!token.contains(AGENT_KEY));
    let flipped = {
        let mut bytes = value.as_bytes().to_vec();
        let last = bytes.len() - 1;
        bytes[last] = if bytes[last] == b'9' { b'8' } else { b'9' };
        String::from_utf8(bytes).unwrap()
    };
    // Another service with its own (random) signing key, and the same kb.
    let other = kb.app();
    let foreign = session_cookie(&sign_in(&other, AGENT_KEY, "/").await);
    for (what, forged) in [
        ("the token without its signature", format!("{name}={token}")),
        ("a changed expiry", format!("{name}={flipped}")),
        ("signed by another service", foreign),
        ("garbage", format!("{name}=v1.agent.agent.99999999999")),
        ("empty", format!("{name}=")),
    ] {
        let page = get_with_cookie(&app, "/?q=zephyr", &forged).await;
        assert_eq!(page.status, 200, "{what}: {}", page.body);
        assert!(
            !page.body.contains("Zephyr internal runbook"),
            "{what}: {forged}"
        );
        assert!(page.body.contains("Zephyr public answer"), "{what}");
        let article = get_with_cookie(&app, "/articles/articles/runbook", &forged).await;
        assert_eq!(article.status, 404, "{what}");
    }

    // A key taken out of the configuration ends its sessions, with the same secret.
    let secret = "a-shared-secret-for-replicas-0123456789";
    let with_keys = |keys: bool| {
        let mut config = kb.app_config();
        config.session.secret = Some(kbsearch::config::Secret::new(secret));
        if !keys {
            config.keys.retain(|key| key.key != AGENT_KEY);
        }
        let state = kbsearch::server::AppState::new(config);
        state
            .searcher
            .store(Some(std::sync::Arc::new(kb.searcher())));
        kbsearch::server::router(state)
    };
    let replica_cookie = session_cookie(&sign_in(&with_keys(true), AGENT_KEY, "/").await);
    let replica = get_with_cookie(&with_keys(true), "/?q=zephyr", &replica_cookie).await;
    assert!(
        replica.body.contains("Zephyr internal runbook"),
        "a replica with the same secret accepts it"
    );
    let revoked = get_with_cookie(&with_keys(false), "/?q=zephyr", &replica_cookie).await;
    assert!(!revoked.body.contains("Zephyr internal runbook"));
}

#[tokio::test]
async fn signing_out_clears_the_cookie() {
    let kb = signin_fixture();
    let app = kb.app();
    let cookie = session_cookie(&sign_in(&app, AGENT_KEY, "/").await);
    let request = Request::post("/signout")
        .header("cookie", &cookie)
        .header("sec-fetch-site", "same-origin")
        .body(Body::empty())
        .unwrap();
    let out = send(&app, request).await;
    assert_eq!(out.status, 303, "{}", out.body);
    assert_eq!(out.header("location"), "/signin");
    let cleared = out.header("set-cookie");
    assert!(cleared.starts_with("kbsearch_session=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert!(cleared.contains("Path=/"), "{cleared}");
    // A browser that sends no cookie, or a forged one, gets the same clearing answer.
    let anonymous = Request::post("/signout").body(Body::empty()).unwrap();
    let out = send(&app, anonymous).await;
    assert!(out.header("set-cookie").starts_with("kbsearch_session=;"));
}

#[tokio::test]
async fn a_wrong_key_is_a_401_page_and_a_customer_key_403() {
    let kb = signin_fixture();
    let app = kb.app();
    let guess = "not-a-configured-key-0123456789";
    let wrong = sign_in(&app, guess, "/").await;
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    assert!(wrong.header("content-type").starts_with("text/html"));
    assert!(
        wrong.body.contains("This key was not accepted"),
        "{}",
        wrong.body
    );
    assert!(wrong.body.contains(r#"role="alert""#));
    assert!(wrong.body.contains(r#"aria-invalid="true""#));
    assert_eq!(wrong.header("set-cookie"), "");
    assert!(!whole(&wrong).contains(guess), "the guess is not echoed");

    let customer = sign_in(&app, CUSTOMER_KEY, "/").await;
    assert_eq!(customer.status, 403, "{}", customer.body);
    assert!(customer.body.contains("customer key"), "{}", customer.body);
    assert_eq!(customer.header("set-cookie"), "");
    assert!(!whole(&customer).contains(CUSTOMER_KEY));

    // Only paths on this site are followed after signing in.
    let elsewhere = sign_in(&app, AGENT_KEY, "//evil.example/").await;
    assert_eq!(elsewhere.header("location"), "/");
}

#[tokio::test]
async fn sign_in_and_out_refuse_posts_from_other_sites() {
    let kb = signin_fixture();
    let app = kb.app();
    for uri in ["/signin", "/signout"] {
        let request = Request::post(uri)
            .header("host", "kb.example.com")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", "https://evil.example")
            .body(Body::from(format!("key={AGENT_KEY}")))
            .unwrap();
        let refused = send(&app, request).await;
        assert_eq!(refused.status, 403, "{uri}: {}", refused.body);
        assert!(refused.body.contains("another site"), "{uri}");
        assert_eq!(refused.header("set-cookie"), "", "{uri}");
    }
}

#[tokio::test]
async fn sign_in_attempts_are_rate_limited_per_client() {
    let kb = signin_fixture();
    let app = kb.app();
    let attempt = |peer: &str| signin_from(peer, None, "key=guess-0123456789abcdef".to_string());
    let burst = kbsearch::config::RateLimit::default().signin_burst;
    for n in 0..burst {
        let answer = send(&app, attempt("198.51.100.7:5000")).await;
        assert_eq!(answer.status, 401, "attempt {n}");
    }
    let limited = send(&app, attempt("198.51.100.7:5001")).await;
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert!(!limited.header("retry-after").is_empty());
    let other = send(&app, attempt("198.51.100.8:5000")).await;
    assert_eq!(other.status, 401, "another client has its own budget");
}

#[tokio::test]
async fn agent_pages_send_browsers_that_are_not_signed_in_to_signin() {
    use axum::routing::get as route_get;
    use kbsearch::server::AgentPage;
    let kb = signin_fixture();
    let state = kb.app_state();
    let agents_only = axum::Router::new()
        .route(
            "/agents-only",
            route_get(|AgentPage(_): AgentPage| async { "for agents" }),
        )
        .with_state(state.clone());
    let app = kbsearch::server::router(state).merge(agents_only);

    let anonymous = get(&app, "/agents-only?period=7").await;
    assert_eq!(anonymous.status, 303);
    assert_eq!(
        anonymous.header("location"),
        "/signin?next=%2Fagents-only%3Fperiod%3D7"
    );
    let customer = send(
        &app,
        Request::get("/agents-only")
            .header("authorization", format!("Bearer {CUSTOMER_KEY}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(customer.status, 403);
    let signed_in = sign_in(&app, AGENT_KEY, "/agents-only?period=7").await;
    assert_eq!(signed_in.header("location"), "/agents-only?period=7");
    let page = get_with_cookie(&app, "/agents-only?period=7", &session_cookie(&signed_in)).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.body, "for agents");
}

/// Log lines written while the test runs, at every level.
#[derive(Clone, Default)]
struct CapturedLog(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_key_never_reaches_the_log() {
    let kb = signin_fixture();
    let app = kb.app();
    let log = CapturedLog::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // This test's runtime polls every request on this thread, so the subscriber sees them all.
    let _guard = tracing::subscriber::set_default(subscriber);
    let guess = "not-a-configured-key-0123456789";
    let cookie = session_cookie(&sign_in(&app, AGENT_KEY, "/").await);
    sign_in(&app, guess, "/").await;
    sign_in(&app, CUSTOMER_KEY, "/").await;
    get_with_cookie(&app, "/?q=zephyr", &cookie).await;
    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("agent signed in"), "the log says who: {text}");
    for secret in [AGENT_KEY, CUSTOMER_KEY, guess] {
        assert!(!text.contains(secret), "`{secret}` in the log:\n{text}");
    }
}

/// A `POST /signin` of `form` from the client at `peer`, through a proxy that says the client
/// used `proto` when there is one.
fn signin_from(peer: &str, proto: Option<&str>, form: String) -> Request<Body> {
    let mut builder =
        Request::post("/signin").header("content-type", "application/x-www-form-urlencoded");
    if let Some(proto) = proto {
        builder = builder.header("x-forwarded-proto", proto);
    }
    let mut request = builder.body(Body::from(form)).unwrap();
    let peer: std::net::SocketAddr = peer.parse().unwrap();
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(peer));
    request
}
