//! The support dashboard's routes over the sample knowledge base, through the router: who may
//! open `/insights` and its CSV, what each bad parameter answers, votes (one per article per
//! browser session, comments bounded) and clicks (only for searches the page recorded), and the
//! charts with no data and with one day of data.

mod common;

use common::{AGENT_KEY, CUSTOMER_KEY, Kb, Reply, get, post_form, send_with_headers};

const ARTICLE: &str = "cutover-fails-err-share-locked-open-files";
const OTHER_ARTICLE: &str = "smb-share-access-denied-0x80070005";

/// Posts a form with a `Cookie` header.
async fn post_form_with_cookie(
    app: &axum::Router,
    uri: &str,
    cookie: &str,
    form: &[(&str, &str)],
) -> Reply {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    send_with_headers(
        app,
        "post",
        uri,
        None,
        &[("cookie", cookie)],
        Some(("application/x-www-form-urlencoded", body)),
    )
    .await
}

/// The dashboard's figure with this element id, read from the page.
fn figure(page: &str, id: &str) -> String {
    let marker = format!("<dd id=\"{id}\">");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no figure {id}"))
        + marker.len();
    page[start..][..page[start..].find("</dd>").unwrap()].to_string()
}

#[tokio::test]
async fn only_agents_open_the_dashboard_and_its_downloads() {
    let kb = Kb::sample();
    let app = kb.app();
    for path in ["/insights", "/insights/funnel.csv"] {
        let anonymous = get(&app, path, None).await;
        assert_eq!(anonymous.status, 303, "{path}");
        let to = anonymous.header("location").unwrap();
        assert!(to.starts_with("/signin?next="), "{path}: {to}");
        let customer = get(&app, path, Some(CUSTOMER_KEY)).await;
        assert_eq!(customer.status, 403, "{path}");
        let agent = get(&app, path, Some(AGENT_KEY)).await;
        assert_eq!(agent.status, 200, "{path}: {}", agent.body);
    }
}

#[tokio::test]
async fn every_chart_renders_with_no_data_and_with_one_day_of_data() {
    let kb = Kb::sample();
    let app = kb.app();
    let empty = get(&app, "/insights", Some(AGENT_KEY)).await;
    assert_eq!(empty.status, 200, "{}", empty.body);
    assert_eq!(empty.body.matches("<svg role=\"img\"").count(), 2);
    assert_eq!(figure(&empty.body, "drafts"), "0");
    assert_eq!(figure(&empty.body, "deflection-rate"), "–");
    assert!(empty.body.contains("Nothing in this period."));

    let today = chrono::Utc::now().date_naive().to_string();
    get(&app, "/?q=cutover", None).await;
    kb.events().flush().await.unwrap();
    let one_day = format!("/insights?from={today}&to={today}");
    let page = get(&app, &one_day, Some(AGENT_KEY)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.body.matches("<svg role=\"img\"").count(), 2);
    assert_eq!(figure(&page.body, "searches"), "1");
    assert!(page.body.contains("1 days") || page.body.contains("1 day"));
    assert!(page.body.contains("<circle"), "one day is a marked point");
}

#[tokio::test]
async fn bad_dashboard_parameters_are_400_pages_naming_them() {
    let kb = Kb::sample();
    let app = kb.app();
    for (query, named) in [
        ("from=2026-13-01", "from"),
        ("to=yesterday", "to"),
        ("from=2026-12-01&to=2026-11-01", "from"),
        ("from=2024-01-01&to=2026-01-01", "from"),
        ("product=NoSuchProduct", "product"),
        ("from=%C2%A02026-11-01", "from"),
    ] {
        let reply = get(&app, &format!("/insights?{query}"), Some(AGENT_KEY)).await;
        assert_eq!(reply.status, 400, "{query}: {}", reply.body);
        assert!(reply.body.contains(named), "{query} names `{named}`");
    }
    let unknown = get(&app, "/insights/no-such-table.csv", Some(AGENT_KEY)).await;
    assert_eq!(unknown.status, 404);
    let not_csv = get(&app, "/insights/funnel", Some(AGENT_KEY)).await;
    assert_eq!(not_csv.status, 404);
}

#[tokio::test]
async fn a_table_downloads_as_csv_with_the_period_in_its_name() {
    let kb = Kb::sample();
    let app = kb.app();
    get(&app, "/?q=zebra+pancake+telescope", None).await;
    kb.events().flush().await.unwrap();
    let reply = get(&app, "/insights/no-result-queries.csv", Some(AGENT_KEY)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.content_type, "text/csv; charset=utf-8");
    let disposition = reply.header("content-disposition").unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"kbsearch-no-result-queries-"),
        "{disposition}"
    );
    assert_eq!(reply.body, "Query,Searches\nzebra pancake telescope,1\n");
}

#[tokio::test]
async fn a_vote_is_one_per_article_per_browser_session() {
    let kb = Kb::sample();
    let app = kb.app();
    let first = post_form(&app, "/vote", &[("article", ARTICLE), ("helpful", "yes")]).await;
    assert_eq!(first.status, 303, "{}", first.body);
    assert_eq!(
        first.header("location"),
        Some(format!("/articles/{ARTICLE}?voted=yes#helpful").as_str())
    );
    let cookie = first
        .header("set-cookie")
        .expect("a visitor cookie")
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Max-Age") && !cookie.contains("Expires"),
        "a session cookie"
    );
    let visitor = cookie.split(';').next().unwrap().to_string();
    // The same browser changes its mind: one vote, now "no" with a comment.
    let again = post_form_with_cookie(
        &app,
        "/vote",
        &visitor,
        &[
            ("article", ARTICLE),
            ("helpful", "no"),
            ("comment", "  Step 3 is unclear  "),
        ],
    )
    .await;
    assert_eq!(again.status, 303);
    assert_eq!(again.header("set-cookie"), None, "the visitor keeps its id");
    // Another browser votes too.
    post_form(&app, "/vote", &[("article", ARTICLE), ("helpful", "yes")]).await;
    let page = get(&app, "/insights", Some(AGENT_KEY)).await;
    assert_eq!(figure(&page.body, "votes-helpful"), "1");
    assert_eq!(figure(&page.body, "votes-not-helpful"), "1");
    assert!(
        page.body.contains("Step 3 is unclear"),
        "the comment, trimmed"
    );
    let thanks = get(&app, &format!("/articles/{ARTICLE}?voted=no"), None).await;
    assert!(thanks.body.contains("class=\"thanks\""), "{}", thanks.body);
}

#[tokio::test]
async fn bad_votes_are_refused_and_nothing_is_recorded() {
    let kb = Kb::sample();
    let app = kb.app();
    let long = "x".repeat(kbsearch::events::MAX_COMMENT_CHARS + 1);
    for (form, status, named) in [
        (
            vec![("article", ARTICLE), ("helpful", "maybe")],
            400,
            "helpful",
        ),
        (vec![("article", ARTICLE)], 400, "helpful"),
        (
            vec![
                ("article", ARTICLE),
                ("helpful", "no"),
                ("comment", long.as_str()),
            ],
            400,
            "comment",
        ),
        (
            vec![("article", "no-such-article"), ("helpful", "yes")],
            404,
            "not found",
        ),
        (
            vec![
                ("article", "internal-swat-escalation-checklist"),
                ("helpful", "yes"),
            ],
            404,
            "not found",
        ),
    ] {
        let reply = post_form(&app, "/vote", &form).await;
        assert_eq!(reply.status, status, "{form:?}: {}", reply.body);
        assert!(reply.body.contains(named), "{form:?} says `{named}`");
    }
    let page = get(&app, "/insights", Some(AGENT_KEY)).await;
    assert_eq!(figure(&page.body, "votes-helpful"), "0");
    assert_eq!(figure(&page.body, "votes-not-helpful"), "0");
}

#[tokio::test]
async fn a_click_counts_for_the_search_the_page_recorded() {
    let kb = Kb::sample();
    let app = kb.app();
    let page = get(&app, "/?q=cutover", None).await;
    let marker = "data-search=\"";
    let start = page.body.find(marker).expect("the search's id") + marker.len();
    let search = &page.body[start..start + 36];
    let click = |search: String, article: &'static str, rank: &'static str| {
        let app = app.clone();
        async move {
            post_form(
                &app,
                "/click",
                &[("search", &search), ("article", article), ("rank", rank)],
            )
            .await
        }
    };
    let counted = click(search.to_string(), ARTICLE, "2").await;
    assert_eq!(counted.status, 204, "{}", counted.body);
    // Unknown search, hidden article: the same answer, nothing kept.
    let unknown = uuid::Uuid::new_v4().to_string();
    assert_eq!(click(unknown, OTHER_ARTICLE, "1").await.status, 204);
    let hidden = click(
        search.to_string(),
        "internal-swat-escalation-checklist",
        "1",
    )
    .await;
    assert_eq!(hidden.status, 204);
    for (search, rank, named) in [
        ("not-an-id", "1", "search"),
        (search, "0", "rank"),
        (search, "1001", "rank"),
        (search, "one", "rank"),
    ] {
        let reply = click(search.to_string(), ARTICLE, rank).await;
        assert_eq!(reply.status, 400, "{search} {rank}");
        assert!(reply.body.contains(named), "{}", reply.body);
    }
    kb.events().flush().await.unwrap();
    let dashboard = get(&app, "/insights", Some(AGENT_KEY)).await;
    assert_eq!(figure(&dashboard.body, "searches"), "1");
    assert_eq!(figure(&dashboard.body, "click-through-rate"), "100%");
    assert_eq!(figure(&dashboard.body, "mean-first-click-rank"), "2.0");
}
