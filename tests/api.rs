//! The HTTP API through the router (`oneshot`, no socket) and, where it matters, over a real
//! socket: responses, errors, limits, ranking rules a customer sees, and the operations routes.

mod common;

use common::{AGENT_KEY, CUSTOMER_KEY, Kb, get, post_json, request};
use kbsearch::server::ROUTES;

/// A small knowledge base with versions, types, tags and an end-of-support article.
fn fixture() -> Kb {
    let kb = Kb::new();
    kb.article(
        "articles/open-files.md",
        "Cutover fails with ERR_SHARE_LOCKED",
        "id: locked\ntags: [cutover, smb]\n",
        "## Resolution\n\nClose the open files on the source share before the cutover.",
    );
    kb.article(
        "articles/permissions.md",
        "Access denied on the source share",
        "id: denied\ntags: [smb, permissions]\n",
        "Error 0x80070005 means the migration account lacks permissions on the share.",
    );
    kb.article(
        "help/cutover.md",
        "Plan the cutover window",
        "id: plan-cutover\n",
        "A cutover moves users to the destination share.",
    );
    kb.article(
        "articles/v77.md",
        "Scan stalls on large shares",
        "id: scan-77\nversions: [\"7.7.0\"]\n",
        "The scan phase stalls when the share has millions of files.",
    );
    kb.article(
        "articles/all.md",
        "Scan is slow on large shares",
        "id: scan-all\n",
        "The scan phase is slow when the share has millions of files.",
    );
    kb.article(
        "articles/old.md",
        "Console crashes at start-up",
        "id: old-console\nversions: [\"7.6.0\"]\n",
        "The console crashes at start-up because of the dotnet runtime.",
    );
    kb.article(
        "articles/new.md",
        "Console hangs at start-up",
        "id: new-console\n",
        "The console hangs at start-up because of the dotnet runtime.",
    );
    kb.article("articles/unsafe.md", "Unsafe markup", "id: unsafe\n", "<script>alert('x')</script>\n\n[bad](javascript:alert(1)) <img src=x onerror=alert(2)>\n\nSafe text.");
    kb
}

#[tokio::test]
async fn search_returns_ranked_highlighted_hits_with_facets() {
    let kb = fixture();
    let app = kb.app();
    let reply = get(&app, "/api/search?q=open+files+cutover", None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.content_type.starts_with("application/json"));
    let body = reply.json();
    assert_eq!(body["hits"][0]["id"], "locked");
    assert_eq!(body["hits"][0]["url"], "/articles/locked");
    assert!(
        body["hits"][0]["snippet"]
            .as_str()
            .unwrap()
            .contains("<mark>open</mark>")
    );
    assert_eq!(body["hits"][0]["section"]["anchor"], "resolution");
    assert_eq!(
        body["hits"][0]["section"]["url"],
        "/articles/locked#resolution"
    );
    assert!(body["took_ms"].is_u64());
    let types = &body["facets"]["type"];
    assert!(
        types
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["value"] == "help")
    );
}

#[tokio::test]
async fn a_facet_ignores_its_own_filter_but_not_the_others() {
    let kb = fixture();
    let app = kb.app();
    let body = get(&app, "/api/search?q=cutover&type=help", None)
        .await
        .json();
    assert_eq!(body["total"], 1);
    let types: Vec<String> = body["facets"]["type"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["value"].as_str().unwrap().to_string())
        .collect();
    assert!(
        types.contains(&"kb".to_string()) && types.contains(&"help".to_string()),
        "{types:?}"
    );
    let tags = body["facets"]["tag"].as_array().unwrap();
    assert!(
        tags.is_empty(),
        "tags are counted within type=help: {tags:?}"
    );
}

#[tokio::test]
async fn typos_prefixes_and_did_you_mean() {
    let kb = fixture();
    let app = kb.app();
    let typo = get(&app, "/api/search?q=permisions", None).await.json();
    assert_eq!(typo["hits"][0]["id"], "denied");
    assert_eq!(typo["did_you_mean"], "permissions");
    assert!(
        typo["hits"][0]["snippet"]
            .as_str()
            .unwrap()
            .contains("<mark>permissions</mark>"),
        "corrections are highlighted"
    );
    let prefix = get(&app, "/api/search?q=cutov", None).await.json();
    assert!(
        prefix["total"].as_u64().unwrap() >= 2,
        "the last word is completed as you type"
    );
    let joined = get(&app, "/api/search?q=migrationaccount", None)
        .await
        .json();
    assert_eq!(
        joined["hits"][0]["id"], "denied",
        "a missing space is restored"
    );
    assert_eq!(
        joined["total"], 1,
        "as the phrase, not either word: {joined}"
    );
    assert_eq!(joined["did_you_mean"], "migration account");
    let unknown_half = get(&app, "/api/search?q=migrationquokka", None)
        .await
        .json();
    assert_eq!(unknown_half["total"], 0, "both halves must be known words");
    let exact = get(&app, "/api/search?q=share+locked", None).await.json();
    assert!(exact["did_you_mean"].is_null());
    let code = get(&app, "/api/search?q=0x80070004", None).await.json();
    assert_eq!(code["total"], 0, "error codes are never typo-corrected");
}

#[tokio::test]
async fn exact_matches_rank_above_completions() {
    let kb = Kb::new();
    kb.article(
        "articles/b.md",
        "Notes",
        "id: completion\n",
        "The scanner finished the folder.",
    );
    kb.article(
        "articles/a.md",
        "Notes",
        "id: exact\n",
        "The scan finished the folder.",
    );
    let app = kb.app();
    let body = get(&app, "/api/search?q=scan", None).await.json();
    assert_eq!(body["total"], 2, "the last word is also completed: {body}");
    assert_eq!(body["hits"][0]["id"], "exact");
    assert!(
        body["hits"][1]["snippet"]
            .as_str()
            .unwrap()
            .contains("<mark>scanner</mark>"),
        "completions still get snippets"
    );
}

#[tokio::test]
async fn the_version_asked_for_ranks_above_all_versions() {
    let kb = fixture();
    let app = kb.app();
    let body = get(&app, "/api/search?q=scan+large+shares&version=7.7", None)
        .await
        .json();
    assert_eq!(body["hits"][0]["id"], "scan-77", "{body}");
    assert_eq!(body["hits"][1]["id"], "scan-all");
    let other = get(&app, "/api/search?q=scan+large+shares&version=7.8", None)
        .await
        .json();
    let ids: Vec<&str> = other["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"scan-all") && !ids.contains(&"scan-77"),
        "7.7-only articles are filtered out for 7.8: {ids:?}"
    );
}

#[tokio::test]
async fn end_of_support_articles_are_marked_and_ranked_lower_unless_asked_for() {
    let kb = fixture();
    let app = kb.app();
    let body = get(&app, "/api/search?q=console+start-up+dotnet+runtime", None)
        .await
        .json();
    assert_eq!(body["hits"][0]["id"], "new-console");
    assert_eq!(body["hits"][1]["id"], "old-console");
    assert_eq!(body["hits"][1]["end_of_support"], true);
    assert_eq!(body["hits"][1]["support"][0]["status"], "end_of_support");
    let asked = get(
        &app,
        "/api/search?q=console+start-up+dotnet+runtime&version=7.6.0",
        None,
    )
    .await
    .json();
    assert_eq!(asked["hits"][0]["id"], "old-console");
}

#[tokio::test]
async fn bad_parameters_are_json_400s_that_name_the_parameter() {
    let kb = fixture();
    let app = kb.app();
    let long = "x".repeat(1_001);
    let cases = [
        ("/api/search?q=", "q"),
        ("/api/search?q=share&per_page=500", "per_page"),
        ("/api/search?q=share&per_page=0", "per_page"),
        ("/api/search?q=share&page=%203", "page"),
        ("/api/search?q=share&page=abc", "page"),
        ("/api/search?q=share&page=1000", "page"),
        ("/api/search?q=share&type=faq", "type"),
        // Names exactly as the schema's enum writes them: not padded, not in capitals.
        ("/api/search?q=share&type=%20kb", "type"),
        ("/api/search?q=share&type=KB", "type"),
        ("/api/search?q=share&type=%09", "type"),
        ("/api/search?q=share&sort=random", "sort"),
        ("/api/search?q=share&version=9.9", "version"),
        (&format!("/api/search?q={long}"), "q"),
    ];
    for (uri, parameter) in cases {
        let reply = get(&app, uri, None).await;
        assert_eq!(reply.status, 400, "{uri}: {}", reply.body);
        let body = reply.json();
        assert_eq!(body["error"]["code"], "bad_parameter", "{uri}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("parameter `{parameter}`")),
            "{uri}: {message}"
        );
    }
    let malformed = get(
        &app,
        "/api/search?q=share&tag=a&tag[x]=b&page=1&page=2",
        None,
    )
    .await;
    assert_eq!(malformed.status, 400, "{}", malformed.body);
    assert_eq!(malformed.json()["error"]["code"], "bad_request");
}

/// Issue 14: `tag`, `type` and `product` could be repeated without limit (thousands of `tag=`
/// values built a filter of as many clauses and a key of the whole URL in the result cache), and
/// each value was as long as the URL allowed (64 KiB).
#[tokio::test]
async fn repeated_and_long_filter_values_are_400s_that_name_the_parameter() {
    let kb = fixture();
    let app = kb.app();
    let limit = kbsearch::config::Limits::default().max_filter_values;
    let repeat = |pair: &str, times: usize| vec![pair; times].join("&");
    let at_limit = [
        format!("/api/search?q=share&{}", repeat("tag=smb", limit)),
        format!("/api/search?q=share&{}", repeat("type=kb", limit)),
    ];
    for uri in &at_limit {
        let reply = get(&app, uri, None).await;
        assert_eq!(reply.status, 200, "{uri}: {}", reply.body);
    }
    let long = "x".repeat(101);
    let cases = [
        (format!("q=share&{}", repeat("tag=smb", limit + 1)), "tag"),
        (format!("q=share&{}", repeat("tag=a", 10_000)), "tag"),
        (format!("q=share&{}", repeat("type=kb", limit + 1)), "type"),
        (
            "q=share&product=StorageX&product=StorageX".to_string(),
            "product",
        ),
        ("q=share&version=7.7&version=7.8".to_string(), "version"),
        (format!("q=share&tag={long}"), "tag"),
        (format!("q=share&product={long}"), "product"),
        (format!("q=share&version={long}"), "version"),
        (format!("q=share&type={long}"), "type"),
    ];
    for (query, parameter) in cases {
        let uri = format!("/api/search?{query}");
        let reply = get(&app, &uri, None).await;
        let shown = &query[..query.len().min(80)];
        assert_eq!(reply.status, 400, "{shown}: {}", reply.body);
        let body = reply.json();
        assert_eq!(body["error"]["code"], "bad_parameter", "{shown}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("parameter `{parameter}`")),
            "{shown}: {message}"
        );
    }
    // One value, and an empty one, are as they were.
    let empty = get(&app, "/api/search?q=share&product=&version=", None).await;
    assert_eq!(empty.status, 200, "{}", empty.body);
    let one = get(
        &app,
        "/api/search?q=share&product=StorageX&version=7.7",
        None,
    )
    .await;
    assert_eq!(one.status, 200, "{}", one.body);
}

#[tokio::test]
async fn a_query_of_only_common_words_has_no_results_and_says_why() {
    let kb = fixture();
    let app = kb.app();
    let body = get(&app, "/api/search?q=the+to", None).await.json();
    assert_eq!(body["total"], 0);
    assert!(
        body["notices"][0]
            .as_str()
            .unwrap()
            .contains("only common words")
    );
}

#[tokio::test]
async fn unknown_routes_and_articles_are_404s() {
    let kb = fixture();
    let app = kb.app();
    let route = get(&app, "/api/nope", None).await;
    assert_eq!(
        (route.status, route.json()["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let article = get(&app, "/api/articles/missing", None).await;
    assert_eq!(article.status, 404);
    assert_eq!(article.json()["error"]["code"], "not_found");
    let page = get(&app, "/articles/missing", None).await;
    assert_eq!(page.status, 404);
    assert!(page.content_type.starts_with("text/html"));
    assert!(page.body.contains("Article not found"));
}

#[tokio::test]
async fn keys_decide_access_and_a_wrong_key_is_refused() {
    let kb = fixture();
    let app = kb.app();
    let wrong = get(&app, "/api/search?q=share", Some("not-a-key-at-all")).await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.json()["error"]["code"], "unauthorized");
    let anonymous = get(&app, "/api/status", None).await;
    assert_eq!(anonymous.status, 401, "no key: say that one is needed");
    assert_eq!(
        get(&app, "/api/status", Some(CUSTOMER_KEY)).await.status,
        403
    );
    let status = get(&app, "/api/status", Some(AGENT_KEY)).await;
    assert_eq!(status.status, 200);
    let body = status.json();
    assert_eq!(body["index"]["documents"], 8);
    assert_eq!(body["content"]["errors"], 0);
}

#[tokio::test]
async fn status_lists_per_file_problems() {
    let kb = fixture();
    kb.write("articles/broken.md", "---\ntitle: [oops\n---\n");
    let app = kb.app();
    let body = get(&app, "/api/status", Some(AGENT_KEY)).await.json();
    assert_eq!(body["content"]["errors"], 1);
    assert_eq!(body["content"]["problems"][0]["path"], "articles/broken.md");
    assert_eq!(body["content"]["problems"][0]["line"], 2);
}

#[tokio::test]
async fn article_routes_render_safe_html_with_the_search_anchors() {
    let kb = fixture();
    let app = kb.app();
    let page = get(&app, "/articles/locked", None).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("<h2 id=\"resolution\">Resolution</h2>"),
        "{}",
        page.body
    );
    let json = get(&app, "/api/articles/locked", None).await.json();
    assert_eq!(json["sections"][0]["anchor"], "resolution");
    assert_eq!(json["title"], "Cutover fails with ERR_SHARE_LOCKED");
    let unsafe_page = get(&app, "/articles/unsafe", None).await;
    for bad in ["<script>alert", "javascript:", "onerror", "alert("] {
        assert!(!unsafe_page.body.contains(bad), "{bad} reached the page");
    }
    assert!(unsafe_page.body.contains("Safe text."));
    let unsafe_json = get(&app, "/api/articles/unsafe", None).await.json();
    assert!(!unsafe_json["html"].as_str().unwrap().contains("<script"));
}

#[tokio::test]
async fn suggestions_complete_titles_and_terms() {
    let kb = fixture();
    let app = kb.app();
    let body = get(&app, "/api/suggest?q=cuto", None).await.json();
    let texts: Vec<&str> = body["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["text"].as_str().unwrap())
        .collect();
    assert!(
        texts.contains(&"Cutover fails with ERR_SHARE_LOCKED"),
        "{texts:?}"
    );
    assert!(texts.contains(&"cutover"), "{texts:?}");
    let whole = get(&app, "/api/suggest?q=cutover", None).await.json();
    let whole: Vec<&str> = whole["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["text"].as_str().unwrap())
        .collect();
    assert!(
        !whole.contains(&"cutover"),
        "the word already typed is not suggested: {whole:?}"
    );
    assert!(texts.len() <= 8);
    let none = get(&app, "/api/suggest?q=", None).await.json();
    assert_eq!(none["suggestions"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn the_search_page_works_as_a_plain_form() {
    let kb = fixture();
    let app = kb.app();
    let page = get(&app, "/?q=open+files&type=kb", None).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<form class=\"search\""));
    assert!(page.body.contains("href=\"/articles/locked\""));
    assert!(page.body.contains("<mark>open</mark>"));
    let fragment = get(&app, "/?q=open+files&fragment=results", None).await;
    assert!(
        !fragment.body.contains("<form"),
        "the fragment is only the results"
    );
    assert!(fragment.body.contains("href=\"/articles/locked\""));
    let hostile = get(&app, "/?q=%3Cscript%3Ealert(1)%3C/script%3E", None).await;
    assert!(
        !hostile.body.contains("<script>alert"),
        "the query is escaped in the page"
    );
    let paged = get(&app, "/?q=share&per_page=2", None).await;
    assert!(paged.body.contains("rel=\"next\""), "{}", paged.body);
}

#[tokio::test]
async fn operations_routes() {
    let kb = fixture();
    let app = kb.app();
    assert_eq!(get(&app, "/healthz", None).await.json()["status"], "ok");
    assert_eq!(get(&app, "/readyz", None).await.json()["documents"], 8);
    get(&app, "/api/search?q=share", None).await;
    let metrics = get(&app, "/metrics", Some(AGENT_KEY)).await;
    assert_eq!(metrics.status, 200, "{}", metrics.body);
    assert!(
        metrics.body.contains(
            "kbsearch_http_requests_total{route=\"/api/search\",method=\"GET\",status=\"200\"} 1"
        ),
        "{}",
        metrics.body
    );
    assert!(
        metrics
            .body
            .contains("kbsearch_http_request_duration_seconds_bucket")
    );
    assert!(metrics.body.contains("kbsearch_index_documents 8"));
    assert!(
        metrics
            .body
            .contains("kbsearch_index_last_commit_timestamp_seconds")
    );

    let starting = kbsearch::server::router(kbsearch::server::AppState::new(
        kbsearch::config::Config::default(),
    ));
    assert_eq!(get(&starting, "/healthz", None).await.status, 200);
    assert_eq!(get(&starting, "/readyz", None).await.status, 503);
    assert_eq!(
        get(&starting, "/api/search?q=x", None).await.json()["error"]["code"],
        "not_ready"
    );
}

/// Issue 14: the `method` label was the raw HTTP method, so every invented method (HTTP allows
/// any token) added label values for ever; the route label must not take paths either.
#[tokio::test]
async fn metrics_labels_take_a_bounded_set_of_values() {
    let kb = fixture();
    let app = kb.app();
    for n in 0..5 {
        let invented = format!("INVENTED{n}");
        request(&app, &invented, "/api/search?q=share", None).await;
        request(&app, &invented, &format!("/nowhere-{n}"), None).await;
        get(&app, &format!("/nowhere-{n}/deeper"), None).await;
        get(&app, &format!("/api/nowhere-{n}"), None).await;
        get(&app, &format!("/articles/nowhere-{n}"), None).await;
        get(&app, &format!("/assets/nowhere-{n}.css"), None).await;
    }
    request(&app, "delete", "/api/search?q=share", None).await;
    let metrics = get(&app, "/metrics", Some(AGENT_KEY)).await;
    assert_eq!(metrics.status, 200, "{}", metrics.body);
    let series: Vec<&str> = metrics
        .body
        .lines()
        .filter(|line| line.starts_with("kbsearch_http_request"))
        .collect();
    assert!(
        series.iter().all(|line| !line.contains("nowhere")),
        "a path became a label value:\n{}",
        series.join("\n")
    );
    assert!(
        series.iter().all(|line| !line.contains("INVENTED")),
        "a method became a label value:\n{}",
        series.join("\n")
    );
    assert!(
        metrics.body.contains(
            "kbsearch_http_requests_total{route=\"/api/search\",method=\"other\",status=\"405\"} 5"
        ),
        "{}",
        series.join("\n")
    );
    assert!(
        metrics.body.contains("method=\"DELETE\""),
        "{}",
        series.join("\n")
    );
}

#[tokio::test]
async fn every_route_is_in_the_openapi_document_and_answers() {
    let kb = fixture();
    let live = kb.live(kbsearch::config::WatchMode::Off).await;
    let app = live.app();
    let spec = get(&app, "/api/openapi.json", None).await.json();
    assert_eq!(spec["openapi"], "3.0.3");
    let paths = spec["paths"].as_object().unwrap();
    for (method, route) in ROUTES {
        assert!(
            paths.get(*route).and_then(|p| p.get(*method)).is_some(),
            "{method} {route} is not documented"
        );
        let uri = route.replace("{id}", "locked");
        let uri = if uri.contains("search") || uri.contains("suggest") {
            format!("{uri}?q=share")
        } else {
            uri
        };
        let (reply, expected) = match *route {
            "/api/reindex" => (request(&app, method, &uri, Some(AGENT_KEY)).await, 202),
            "/case" if *method == "post" => {
                let form = [("subject", "share access denied"), ("severity", "3")];
                (common::post_form(&app, "/case", &form).await, 200)
            }
            "/signin" if *method == "post" => {
                let form = [("key", AGENT_KEY), ("next", "/")];
                (common::post_form(&app, "/signin", &form).await, 303)
            }
            "/signout" => (request(&app, method, &uri, None).await, 303),
            "/insights/{file}" => (
                get(&app, "/insights/funnel.csv", Some(AGENT_KEY)).await,
                200,
            ),
            "/vote" => {
                let form = [("article", "locked"), ("helpful", "yes")];
                (common::post_form(&app, "/vote", &form).await, 303)
            }
            "/click" => {
                let search = uuid::Uuid::new_v4().to_string();
                let form = [
                    ("search", search.as_str()),
                    ("article", "locked"),
                    ("rank", "1"),
                ];
                (common::post_form(&app, "/click", &form).await, 204)
            }
            "/api/deflect" => {
                let draft = serde_json::json!({"subject": "share access denied"});
                (post_json(&app, &uri, Some(AGENT_KEY), &draft).await, 200)
            }
            "/api/deflect/{deflection_id}/feedback" => {
                let draft = serde_json::json!({"subject": "share access denied"});
                let answer = post_json(&app, "/api/deflect", None, &draft).await.json();
                let id = answer["deflection_id"].as_str().unwrap();
                let uri = route.replace("{deflection_id}", id);
                let outcome = serde_json::json!({"outcome": "case_submitted"});
                (post_json(&app, &uri, None, &outcome).await, 200)
            }
            _ => (request(&app, method, &uri, Some(AGENT_KEY)).await, 200),
        };
        assert_eq!(reply.status, expected, "{method} {uri}: {}", reply.body);
    }
    let operations: usize = paths
        .values()
        .map(|p| p.as_object().map_or(0, |methods| methods.len()))
        .sum();
    assert_eq!(
        operations,
        ROUTES.len(),
        "no undocumented extras, no stale entries"
    );
}

#[tokio::test]
async fn served_over_a_real_socket_and_shut_down_gracefully() {
    let kb = fixture();
    let app = kb.app();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let limits = kbsearch::server::ConnectionLimits::from_config(&Default::default());
    let server = tokio::spawn(kbsearch::server::serve(listener, app, limits, async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let body: serde_json::Value = client
        .get(format!("http://{address}/api/search?q=ERR_SHARE_LOCKED"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["hits"][0]["id"], "locked");
    let page = client
        .get(format!("http://{address}/articles/locked"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    stop.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), server)
        .await
        .expect("stops within 5 s")
        .unwrap();
}

/// What OpenAPI says of `q` holds: a blank query is a 400 naming `q`; a query that is not
/// blank but has nothing to find (excluded words only, or symbols) is a 200 without hits whose
/// notice says why.
#[tokio::test]
async fn a_query_of_exclusions_only_finds_nothing_with_a_notice() {
    let kb = fixture();
    let app = kb.app();
    for blank in ["", "%20%20", "%C2%85"] {
        let reply = get(&app, &format!("/api/search?q={blank}"), None).await;
        assert_eq!(reply.status, 400, "{blank}: {}", reply.body);
        assert_eq!(reply.json()["error"]["code"], "bad_parameter");
    }
    for nothing in ["-share", "-", "%2B", "-%22share%20access%22"] {
        let reply = get(&app, &format!("/api/search?q={nothing}"), None).await;
        assert_eq!(reply.status, 200, "{nothing}: {}", reply.body);
        let body = reply.json();
        assert_eq!(body["total"], 0, "{nothing}");
        assert_eq!(
            body["notices"].as_array().unwrap().len(),
            1,
            "{nothing}: {body}"
        );
    }
}

/// A case form that does not parse is a 400 page naming the problem, a form that is not one is
/// a 415 page, and an empty severity (the form's "not chosen") is the default one.
#[tokio::test]
async fn the_case_form_refuses_what_does_not_parse_as_a_page() {
    let kb = fixture();
    let app = kb.live(kbsearch::config::WatchMode::Off).await.app();
    let twice = common::post_form(
        &app,
        "/case",
        &[
            ("subject", "share access denied"),
            ("version", "7.8.0"),
            ("version", "7.7.0"),
        ],
    )
    .await;
    assert_eq!(twice.status, 400, "{}", twice.body);
    assert!(
        twice
            .body
            .contains("<h1>The case could not be submitted</h1>"),
        "{}",
        twice.body
    );
    assert!(twice.body.contains("version"), "{}", twice.body);

    let json = common::send_with(
        &app,
        "post",
        "/case",
        None,
        Some(("application/json", r#"{"subject": "share"}"#.to_string())),
    )
    .await;
    assert_eq!(json.status, 415, "{}", json.body);
    assert!(
        json.body.contains("application/x-www-form-urlencoded"),
        "{}",
        json.body
    );

    let no_severity = common::post_form(
        &app,
        "/case",
        &[("subject", "share access denied"), ("severity", "")],
    )
    .await;
    assert_eq!(no_severity.status, 200, "{}", no_severity.body);

    // Blank-looking is not empty: the form never sends it (found by schemathesis).
    for blank in ["\u{c}", " ", " 3", "\u{a0}"] {
        let padded = common::post_form(
            &app,
            "/case",
            &[("subject", "share access denied"), ("severity", blank)],
        )
        .await;
        assert_eq!(padded.status, 400, "{blank:?}: {}", padded.body);
        assert!(padded.body.contains("severity"), "{}", padded.body);
    }
}
