//! Who may see what: an internal-only article's unique words reach no anonymous or customer
//! caller by any route — not in hits, totals, facet counts, suggestions, did-you-mean, snippets
//! or article routes (which answer 404 exactly as for a missing article).

mod common;

use common::{AGENT_KEY, CUSTOMER_KEY, Kb, Reply, get};

/// Words that appear only in the internal article (and its tag and id).
const SECRETS: &[&str] = &["quokkaflow", "zebratrace", "defect-77341", "swatonly"];

fn fixture() -> Kb {
    let kb = Kb::new();
    kb.article(
        "articles/public.md",
        "Data Mover heartbeat lost",
        "id: heartbeat\ntags: [data-mover]\n",
        "The Data Mover stops sending its heartbeat when the service hangs. Restart the service.",
    );
    kb.article(
        "articles/customer.md",
        "Download hotfix 7.8.0 HF1",
        "id: hotfix\nvisibility: customer\ntags: [hotfix]\n",
        "Registered customers download the hotfix from the portal. Data Mover upgrade included.",
    );
    kb.article(
        "articles/internal.md",
        "Quokkaflow zebratrace for heartbeat escalations",
        "id: internal-zebratrace\nvisibility: internal\ntags: [swatonly]\nkeywords: [defect-77341]\n",
        "## Quokkaflow\n\nSupport engineers run quokkaflow with zebratrace to decode the Data Mover heartbeat. Defect-77341 is the known cause.",
    );
    kb.article(
        "articles/draft.md",
        "Draft quokkaflow notes",
        "id: draft-notes\nstatus: draft\n",
        "quokkaflow zebratrace draft",
    );
    kb
}

/// Fails when a secret word is in the response, unless the request itself sent it (a search
/// echoes its query).
fn assert_no_secret(reply: &Reply, context: &str) {
    let body = reply.body.to_lowercase();
    for secret in SECRETS.iter().filter(|s| !context.contains(**s)) {
        assert!(
            !body.contains(secret),
            "{context}: `{secret}` leaked in {}",
            reply.body
        );
    }
    assert!(
        !body.contains("internal-zebratrace"),
        "{context}: the internal id leaked"
    );
}

/// Every request an outsider could make that touches the secret words.
fn probes() -> Vec<String> {
    let mut uris = Vec::new();
    for secret in SECRETS {
        uris.push(format!("/api/search?q={secret}"));
        uris.push(format!("/api/search?q=heartbeat+{secret}"));
        uris.push(format!("/api/search?q=heartbeat&tag={secret}"));
        uris.push(format!("/api/suggest?q={}", &secret[..4]));
        uris.push(format!("/api/suggest?q={secret}"));
        uris.push(format!("/?q={secret}"));
    }
    // Misspellings whose only correction is a secret word: no did-you-mean may reveal it.
    uris.extend(
        ["quokkaflaw", "zebratrase", "quokkaflo"]
            .iter()
            .map(|typo| format!("/api/search?q={typo}")),
    );
    uris.extend([
        "/api/search?q=heartbeat".to_string(),
        "/api/search?q=data+mover&per_page=50".to_string(),
        "/api/suggest?q=heart".to_string(),
        "/api/suggest?q=data+mover+h".to_string(),
        "/api/articles/heartbeat".to_string(),
        "/articles/heartbeat".to_string(),
        "/?q=heartbeat".to_string(),
    ]);
    uris
}

#[tokio::test]
async fn internal_words_reach_no_anonymous_or_customer_response() {
    let kb = fixture();
    let app = kb.app();
    for key in [None, Some(CUSTOMER_KEY)] {
        for uri in probes() {
            let reply = get(&app, &uri, key).await;
            assert_no_secret(&reply, &format!("{uri} as {key:?}"));
            if uri.starts_with("/api/search")
                && SECRETS.iter().any(|s| uri.contains(s))
                && !uri.contains("heartbeat")
            {
                assert_eq!(reply.json()["total"], 0, "{uri}");
            }
        }
    }
}

#[tokio::test]
async fn totals_and_facets_count_only_visible_articles() {
    let kb = fixture();
    let app = kb.app();
    let anonymous = get(&app, "/api/search?q=heartbeat", None).await.json();
    assert_eq!(anonymous["total"], 1);
    let tags: Vec<&str> = anonymous["facets"]["tag"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["value"].as_str().unwrap())
        .collect();
    assert_eq!(tags, ["data-mover"]);
    let customer = get(&app, "/api/search?q=data+mover", Some(CUSTOMER_KEY))
        .await
        .json();
    assert_eq!(customer["total"], 2, "customers also see customer articles");
    let agent = get(&app, "/api/search?q=heartbeat", Some(AGENT_KEY))
        .await
        .json();
    assert_eq!(agent["total"], 2, "agents see the internal article");
    let secret = get(&app, "/api/search?q=quokkaflow", None).await.json();
    assert_eq!(secret["total"], 0);
    assert!(secret["did_you_mean"].is_null());
}

#[tokio::test]
async fn hidden_articles_are_404_exactly_like_missing_ones() {
    let kb = fixture();
    let app = kb.app();
    for key in [None, Some(CUSTOMER_KEY)] {
        let hidden = get(&app, "/api/articles/internal-zebratrace", key).await;
        let missing = get(&app, "/api/articles/no-such-article", key).await;
        assert_eq!((hidden.status, missing.status), (404, 404));
        assert_eq!(
            hidden.body.replace("internal-zebratrace", "ID"),
            missing.body.replace("no-such-article", "ID"),
            "the two 404s must not be told apart"
        );
        let hidden_page = get(&app, "/articles/internal-zebratrace", key).await;
        let missing_page = get(&app, "/articles/no-such-article", key).await;
        assert_eq!((hidden_page.status, missing_page.status), (404, 404));
        assert_eq!(hidden_page.body, missing_page.body);
        assert_eq!(
            get(&app, "/api/articles/draft-notes", key).await.status,
            404,
            "drafts are not published"
        );
    }
    assert_eq!(
        get(&app, "/api/articles/hotfix", None).await.status,
        404,
        "customer articles need a key"
    );
    assert_eq!(
        get(&app, "/api/articles/hotfix", Some(CUSTOMER_KEY))
            .await
            .status,
        200
    );
    assert_eq!(
        get(&app, "/api/articles/internal-zebratrace", Some(AGENT_KEY))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn agents_get_internal_suggestions_and_did_you_mean() {
    let kb = fixture();
    let app = kb.app();
    let suggest = get(&app, "/api/suggest?q=quok", Some(AGENT_KEY)).await;
    assert!(
        suggest.body.to_lowercase().contains("quokkaflow"),
        "{}",
        suggest.body
    );
    let typo = get(&app, "/api/search?q=quokkaflaw", Some(AGENT_KEY))
        .await
        .json();
    assert_eq!(typo["did_you_mean"], "quokkaflow");
    let anonymous_page = get(&app, "/?q=quokkaflaw", None).await;
    assert_no_secret(&anonymous_page, "search page");
}

#[tokio::test]
async fn links_to_hidden_articles_are_reduced_to_text() {
    let kb = fixture();
    kb.article(
        "articles/linker.md",
        "Linking page",
        "id: linker\n",
        "See [the escalation notes](internal.md) and [the heartbeat fix](public.md#restart).",
    );
    let app = kb.app();
    let page = get(&app, "/articles/linker", None).await;
    assert!(
        page.body.contains("See the escalation notes and"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("href=\"/articles/heartbeat#restart\""),
        "{}",
        page.body
    );
    let agent_page = get(&app, "/articles/linker", Some(AGENT_KEY)).await;
    assert!(
        agent_page
            .body
            .contains("href=\"/articles/internal-zebratrace\"")
    );
}

/// Issue 13: `/api/articles/{id}` sent everyone the raw markdown, and with it the file name of
/// the internal article a public one links to and the writers' HTML comments. Links written as
/// raw HTML or as site paths kept naming the hidden article in the rendered HTML too.
#[tokio::test]
async fn only_agents_get_the_markdown_source_of_an_article() {
    let kb = fixture();
    kb.article(
        "articles/checklist.md",
        "Heartbeat checklist",
        "id: checklist\n",
        "<!-- note for writers: the swatonly steps live in internal.md -->\n\n\
         Check the heartbeat first. See [the escalation notes](internal.md), \
         <a href=\"internal.md\">the raw notes</a> and [the page](/articles/internal-zebratrace).",
    );
    let app = kb.app();
    for key in [None, Some(CUSTOMER_KEY)] {
        let reply = get(&app, "/api/articles/checklist", key).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let article = reply.json();
        assert!(article.get("markdown").is_none(), "{key:?}: {article}");
        assert_no_secret(&reply, &format!("article JSON as {key:?}"));
        assert!(
            !reply.body.contains("internal.md"),
            "{key:?}: {}",
            reply.body
        );
        assert!(!reply.body.contains("note for writers"), "{}", reply.body);
        let html = article["html"].as_str().unwrap();
        assert!(
            html.contains("See the escalation notes,") && html.contains("the page."),
            "the words stay, the links go: {html}"
        );
        let page = get(&app, "/articles/checklist", key).await;
        assert_no_secret(&page, &format!("article page as {key:?}"));
        assert!(!page.body.contains("internal.md"), "{}", page.body);
        assert!(!page.body.contains("note for writers"), "{}", page.body);
    }
    let agent = get(&app, "/api/articles/checklist", Some(AGENT_KEY))
        .await
        .json();
    let markdown = agent["markdown"].as_str().expect("agents get the source");
    assert!(markdown.contains("<!-- note for writers"), "{markdown}");
    assert!(markdown.contains("(internal.md)"), "{markdown}");
    let html = agent["html"].as_str().unwrap();
    assert_eq!(
        html.matches("href=\"/articles/internal-zebratrace\"")
            .count(),
        3,
        "every spelling of the link leads agents to the page: {html}"
    );
}

/// Issue 13: `/readyz` counted every document of the index, hidden and draft ones included, so
/// anyone could watch internal articles come and go.
#[tokio::test]
async fn readyz_counts_only_what_an_anonymous_caller_may_see() {
    let kb = Kb::new();
    kb.article(
        "articles/public.md",
        "Data Mover heartbeat lost",
        "id: heartbeat\n",
        "Restart the service.",
    );
    let before = get(&kb.app(), "/readyz", None).await;
    assert_eq!(before.status, 200, "{}", before.body);
    assert_eq!(before.json()["status"], "ready");
    for (rel, front) in [
        ("articles/internal.md", "visibility: internal\n"),
        ("articles/customer.md", "visibility: customer\n"),
        ("articles/draft.md", "status: draft\n"),
    ] {
        kb.article(rel, "Hidden", front, "quokkaflow");
        let after = get(&kb.app(), "/readyz", None).await;
        assert_eq!(after.status, 200, "{}", after.body);
        assert_eq!(after.body, before.body, "after adding {rel}");
    }
    assert_eq!(before.json()["documents"], 1, "{}", before.body);
}

/// Issue 13: `/metrics` exported the size of the whole index and signals (last commit, pending
/// changes, freshness) that move when only hidden articles change: support staff only.
#[tokio::test]
async fn metrics_need_an_agent_key() {
    use tower::ServiceExt;
    let kb = fixture();
    let app = kb.app();
    let without_key = app
        .clone()
        .oneshot(
            axum::http::Request::get("/metrics")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(without_key.status(), 401);
    assert_eq!(
        without_key.headers().get("www-authenticate").unwrap(),
        "Bearer",
        "Prometheus is told to send a bearer token"
    );
    let customer = get(&app, "/metrics", Some(CUSTOMER_KEY)).await;
    assert_eq!(customer.status, 403, "{}", customer.body);
    assert!(!customer.body.contains("kbsearch_"), "{}", customer.body);
    assert_eq!(get(&app, "/metrics", Some("no-such-key")).await.status, 401);
    let agent = get(&app, "/metrics", Some(AGENT_KEY)).await;
    assert_eq!(agent.status, 200, "{}", agent.body);
    assert!(
        agent.body.contains("kbsearch_index_documents 4"),
        "{}",
        agent.body
    );
}
