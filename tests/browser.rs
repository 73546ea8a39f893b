//! End to end in a real browser: headless Chromium, driven through chromedriver with
//! fantoccini, against a real kbsearch HTTP server on a socket, serving an index of the
//! repository's sample knowledge base (`kb/`).
//!
//! Covered: results update while the customer types (without submitting the form), with the
//! best hit first and highlighted snippets; a type facet link filters the results; a hit's title
//! opens its article page; the search box has the focus on page load, so typing straight away
//! searches; and the page still answers with server-rendered results when no script runs.
//!
//! The case form (`/case`), on a copy of the sample knowledge base with an event store:
//! suggestions update as the customer types a draft character by character, and "This solved my
//! problem" and a submitted case show up in the deflection analytics, as one draft however often
//! the page asked; answers that come back late never replace newer ones nor split the draft;
//! severity 1 and a version past its end of support bring their notices and the version support
//! page; a draft nothing answers says so; the subject has the focus and every field a label.
//!
//! The writers' preview (`preview_router`), on a copy of the sample knowledge base with the live
//! indexer (the real watcher and writer thread) following it: a saved edit shows on the open
//! article page without a reload, at the same scroll position; a link to a missing article shows
//! in the page's problem panel and goes when the link is fixed; the article list follows articles
//! added, renamed and deleted; and (over HTTP) a save applied before a page's live-reload stream
//! connects is reported to it at once.
//!
//! Agent sign-in: an agent mistypes the key (the form says so), signs in, is sent back to the
//! page asked for, sees the internal article labelled in the results and on its page, cannot
//! read the cookie from a script, and signs out.
//!
//! Accessibility: axe-core (npm's `axe-core`, which `.ci/run` installs under `target/axe/`) runs
//! in the browser on every page (the search page empty, with results and with none, an article,
//! the case form empty and with suggestions, the sign-in page, the preview's pages) with the
//! WCAG 2.1 A and AA rules and axe's best practices, and finds no violation. Without axe-core
//! these tests are skipped, except under CI, where they fail.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian: `apt-get install chromium
//! chromium-driver`). Without them the browser tests are skipped, except under CI (`CI` set),
//! where they fail. The browser tests take turns: one Chromium at a time.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use kbsearch::config::Config;
use kbsearch::ingest::indexer::{IndexOptions, Indexer};
use kbsearch::ingest::progress::Silent;
use kbsearch::search::KbSearcher;
use kbsearch::server::{self, AppState};
use serde_json::{Value, json};

mod common;

use common::{AGENT_KEY, Kb};
use kbsearch::config::WatchMode;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Longest wait for any one condition in the page (results, navigation, start-up): generous for
/// a loaded 2-core machine running a debug build; a healthy run never waits this long.
const WAIT: Duration = Duration::from_secs(30);
/// How often a condition is checked again.
const POLL: Duration = Duration::from_millis(50);

/// The query of the sample knowledge base whose best answer is well known.
const QUERY: &str = "smb share access denied";
const BEST_TITLE: &str = "Migration fails with 0x80070005 access denied on the source SMB share";

/// One browser at a time: the machines that run this have few cores.
static ONE_BROWSER_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_update_as_you_type_without_submitting() {
    in_browser(|client, base| async move {
        open_search_page(&client, &base).await;
        // Marks this page: a form submission or any other navigation would lose the mark.
        client
            .execute(
                "window.kbsearchTestMark = 'still here'; return null;",
                vec![],
            )
            .await
            .expect("mark the page");
        type_query(&client, QUERY).await;

        let titles = hit_titles(&client).await;
        assert_eq!(
            titles.first().map(String::as_str),
            Some(BEST_TITLE),
            "best hit for `{QUERY}`; all titles: {titles:?}"
        );
        let first = first_hit(&client).await;
        let marks = first
            .find_all(Locator::Css("p.snippet mark"))
            .await
            .expect("look for highlights in the first snippet");
        assert!(
            !marks.is_empty(),
            "the first hit's snippet highlights the query words: {}",
            first.html(false).await.expect("first hit's HTML")
        );

        let mark = client
            .execute("return window.kbsearchTestMark || null;", vec![])
            .await
            .expect("read the page mark");
        assert_eq!(
            mark,
            json!("still here"),
            "results came in place, without leaving the page"
        );
        let url = client.current_url().await.expect("current URL");
        assert_eq!(url.path(), "/");
        assert_eq!(
            query_param(&url, "q").as_deref(),
            Some(QUERY),
            "the address follows the query, so the results can be shared or reloaded: {url}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn type_facet_filters_the_results() {
    in_browser(|client, base| async move {
        open_search_page(&client, &base).await;
        type_query(&client, QUERY).await;
        let unfiltered = hit_kinds(&client).await;
        assert!(
            unfiltered.iter().any(|kind| kind != "help"),
            "before filtering, the hits are not all help articles: {unfiltered:?}"
        );

        let facet = facet_link(&client, "Type", "help").await;
        let facet_text = facet.text().await.expect("facet link text");
        let expected_total = count_in_parentheses(&facet_text)
            .unwrap_or_else(|| panic!("facet link `{facet_text}` ends with a count"));
        facet.click().await.expect("click the `help` facet");
        wait_for_script(
            &client,
            "return document.readyState === 'complete' \
                 && new URLSearchParams(location.search).getAll('type').includes('help');",
            vec![],
            "the page filtered on type=help",
        )
        .await;

        let url = client.current_url().await.expect("current URL");
        assert!(url.as_str().contains("type=help"), "filtered URL: {url}");
        assert_eq!(
            query_param(&url, "q").as_deref(),
            Some(QUERY),
            "the query is kept: {url}"
        );
        let heading = page_heading(&client).await;
        assert_eq!(
            heading.as_deref(),
            Some(SEARCH_HEADING),
            "the filtered page is a results page, not an error page"
        );
        let kinds = hit_kinds(&client).await;
        assert!(!kinds.is_empty(), "the help filter leaves hits");
        assert!(
            kinds.iter().all(|kind| kind == "help"),
            "every hit is a help article: {kinds:?}"
        );
        let count = text_of(&client, "#results p.count").await;
        assert!(
            count.starts_with(&format!("{expected_total} articles")),
            "the total ({count}) is the facet's count ({facet_text})"
        );
        let chosen = facet_link(&client, "Type", "help").await;
        assert_eq!(
            chosen
                .attr("aria-current")
                .await
                .expect("aria-current")
                .as_deref(),
            Some("true"),
            "the chosen facet is marked as the current one"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hit_title_opens_the_article() {
    in_browser(|client, base| async move {
        open_search_page(&client, &base).await;
        type_query(&client, QUERY).await;
        let link = client
            .find(Locator::Css("#results li.hit a.title"))
            .await
            .expect("first hit's title link");
        let title = link.text().await.expect("first hit's title");
        let href = link
            .attr("href")
            .await
            .expect("read href")
            .expect("the title links somewhere");
        link.click().await.expect("click the first hit's title");

        let heading = client
            .wait()
            .at_most(WAIT)
            .every(POLL)
            .for_element(Locator::Css("article.kb h1"))
            .await
            .expect("the article page shows its heading");
        assert_eq!(heading.text().await.expect("heading text"), title);
        let url = client.current_url().await.expect("current URL");
        assert!(
            url.path().starts_with("/articles/"),
            "an article's address: {url}"
        );
        assert_eq!(url.path(), href, "the page the link pointed to");
        let headings = client
            .find_all(Locator::Css("h1"))
            .await
            .expect("all headings");
        assert_eq!(
            headings.len(),
            1,
            "the title is shown once, as the page's h1"
        );
        let page_title = client.title().await.expect("document title");
        assert!(
            page_title.starts_with(&title),
            "the document title names the article: {page_title}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_box_has_focus_on_load_so_typing_searches() {
    in_browser(|client, base| async move {
        open_search_page(&client, &base).await;
        let focused = client
            .execute(
                "return document.activeElement ? document.activeElement.id : null;",
                vec![],
            )
            .await
            .expect("read the focused element");
        assert_eq!(focused, json!("q"), "the search box is focused on load");

        // Type into whatever has the focus, as a customer who starts typing at once would.
        let active = client.active_element().await.expect("the focused element");
        assert_eq!(
            active
                .attr("id")
                .await
                .expect("id of the focused element")
                .as_deref(),
            Some("q")
        );
        active
            .send_keys(QUERY)
            .await
            .expect("type into the focused element");
        wait_for_results_of(&client, QUERY).await;
        let titles = hit_titles(&client).await;
        assert_eq!(
            titles.first().map(String::as_str),
            Some(BEST_TITLE),
            "{titles:?}"
        );
    })
    .await;
}

/// No browser: the plain form works without JavaScript, so the page itself carries the results.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_are_rendered_on_the_server_without_javascript() {
    let server = Server::start().await;
    let response = reqwest::get(format!("{}/?q=cutover", server.base))
        .await
        .expect("GET /?q=cutover");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let html = response.text().await.expect("page body");
    let hits = html.matches(r#"<li class="hit">"#).count();
    assert!(hits > 0, "server-rendered hits in:\n{html}");
    assert!(
        html.contains(r#"<a class="title" href="/articles/"#),
        "hits link to their articles"
    );
    assert!(html.contains("<mark>"), "snippets highlight the query");
    assert!(
        html.contains(r#"id="q""#) && html.contains(r#"value="cutover""#),
        "the search box keeps the query"
    );
    assert!(
        html.contains(r#"<form class="search" role="search" action="/" method="get">"#),
        "a plain GET form that works without script"
    );
}

// ---------------------------------------------------------------------------------------------
// The case form
// ---------------------------------------------------------------------------------------------

/// A draft the sample knowledge base answers with one well-known article.
const CUTOVER_SUBJECT: &str = "Cutover keeps failing";
const CUTOVER_DESCRIPTION: &str = "The cutover job stops every night with ERR_SHARE_LOCKED. \
     I think users still have spreadsheets open on the old filer.";
const CUTOVER_ID: &str = "cutover-fails-err-share-locked-open-files";
const CUTOVER_TITLE: &str = "Cutover fails with ERR_SHARE_LOCKED when files are open on the source";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_form_suggests_the_article_while_typing_and_records_it_solved() {
    in_browser_on(Server::with_events, |client, base| async move {
        open_case_page(&client, &base, Hold::Nothing).await;
        // Like a customer: the subject first, a pause while the page answers, then the details.
        type_slowly(&client, "#subject", CUTOVER_SUBJECT).await;
        wait_for_answer(&client, "suggestions for the subject").await;
        type_slowly(&client, "#description", CUTOVER_DESCRIPTION).await;
        wait_for_answer(&client, "suggestions for the whole draft").await;

        let titles = suggestion_titles(&client).await;
        assert_eq!(
            titles.first().map(String::as_str),
            Some(CUTOVER_TITLE),
            "the article that solves it comes first; all suggestions: {titles:?}"
        );
        let log = request_log(&client).await;
        assert_eq!(
            titles, log.last_answer,
            "the page shows the answer to the latest draft"
        );

        let button = solved_button(&client, CUTOVER_ID).await;
        assert_eq!(
            button.text().await.expect("button text"),
            "This solved my problem"
        );
        button
            .click()
            .await
            .expect("click `This solved my problem`");
        wait_for_script(
            &client,
            "return document.getElementById('case-status').textContent.includes('Glad it helped');",
            vec![],
            "the confirmation that the article solved the problem",
        )
        .await;
        let class = client
            .find(Locator::Css(&suggestion_css(CUTOVER_ID)))
            .await
            .expect("the solved suggestion")
            .attr("class")
            .await
            .expect("its class");
        assert!(
            class
                .unwrap_or_default()
                .split_whitespace()
                .any(|c| c == "solved"),
            "the suggestion shows as solved"
        );
        assert_eq!(
            client.current_url().await.expect("current URL").path(),
            "/case",
            "still on the case form"
        );

        // The page asked more than once while the customer typed, every time for the same draft.
        assert!(
            log.sent.len() >= 2,
            "the page asked again as the draft grew: {:?}",
            log.sent
        );
        log.assert_one_draft();

        let analytics = deflection_analytics(&base).await;
        assert_eq!(analytics["solved"], 1, "{analytics}");
        assert_eq!(
            analytics["drafts"], 1,
            "one draft, however often the page asked: {analytics}"
        );
        assert_eq!(analytics["case_submitted"], 0, "{analytics}");
        assert_eq!(
            analytics["top_solving"][0]["article_id"], CUTOVER_ID,
            "{analytics}"
        );
    })
    .await;
}

/// The case form without JavaScript: the browser posts it natively (`form.submit()` skips the
/// page's script, as a browser without JavaScript does), with its own `Sec-Fetch-Site` and
/// `Origin`, and the same-origin check lets it through. The same form on a page of another origin
/// (`about:blank`, an opaque one) is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_form_posted_by_the_browser_itself_is_taken_only_from_this_site() {
    in_browser_on(Server::with_events, |client, base| async move {
        client
            .goto(&format!("{base}/case"))
            .await
            .expect("open the case form");
        client
            .execute(
                "const form = document.getElementById('case-form'); \
                 form.querySelector('#subject').value = arguments[0]; \
                 form.querySelector('#description').value = arguments[1]; \
                 form.submit(); return true;",
                vec![json!(CUTOVER_SUBJECT), json!(CUTOVER_DESCRIPTION)],
            )
            .await
            .expect("post the form natively");
        wait_for_script(
            &client,
            "return document.readyState === 'complete' && document.querySelector('h1') !== null \
                 && location.pathname === '/case';",
            vec![],
            "the answer to the posted form",
        )
        .await;
        assert_eq!(
            page_heading(&client).await.as_deref(),
            Some("Your case was submitted")
        );
        let analytics = deflection_analytics(&base).await;
        assert_eq!(analytics["case_submitted"], 1, "{analytics}");

        client.goto("about:blank").await.expect("open a blank page");
        client
            .execute(
                "const form = document.createElement('form'); \
                 form.method = 'post'; form.action = arguments[0]; \
                 const subject = document.createElement('input'); \
                 subject.name = 'subject'; subject.value = 'sent from elsewhere'; \
                 form.append(subject); document.body.append(form); form.submit(); return true;",
                vec![json!(format!("{base}/case"))],
            )
            .await
            .expect("post the form from another origin");
        wait_for_script(
            &client,
            "return location.pathname === '/case' && document.querySelector('h1') !== null;",
            vec![],
            "the answer to the form from another origin",
        )
        .await;
        assert_eq!(
            page_heading(&client).await.as_deref(),
            Some("The form was sent from another site")
        );
        let analytics = deflection_analytics(&base).await;
        assert_eq!(
            analytics["case_submitted"], 1,
            "nothing recorded for the refused form: {analytics}"
        );
    })
    .await;
}

/// The first answer (which brings the draft's id) is held back in the browser while the customer
/// keeps typing: the next draft must still carry that id, and the answer shown must be the one
/// to the latest draft, never the older one arriving late.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_form_keeps_one_draft_and_the_newest_answer_when_answers_come_late() {
    in_browser_on(Server::with_events, |client, base| async move {
        open_case_page(&client, &base, Hold::FirstAnswer).await;
        type_slowly(&client, "#subject", CUTOVER_SUBJECT).await;
        wait_for_script(
            &client,
            "return window.kbTest.sent.length === 1;",
            vec![],
            "the first draft sent (its answer held back)",
        )
        .await;
        type_slowly(&client, "#description", CUTOVER_DESCRIPTION).await;
        // The page's debounce has run for the whole draft while the first answer is out.
        wait_for_script(
            &client,
            "const fired = window.kbTest.fired; \
             return fired.length > 1 && fired[fired.length - 1] === arguments[0];",
            vec![json!(CUTOVER_DESCRIPTION)],
            "the page to ask for the whole draft",
        )
        .await;
        let before = request_log(&client).await;
        assert_eq!(
            before.sent.len(),
            1,
            "no draft goes out without the id the first answer brings: {:?}",
            before.sent
        );
        client
            .execute("window.kbTest.release(); return null;", vec![])
            .await
            .expect("let the first answer through");
        wait_for_answer(&client, "suggestions for the whole draft").await;

        let titles = suggestion_titles(&client).await;
        assert_eq!(
            titles.first().map(String::as_str),
            Some(CUTOVER_TITLE),
            "{titles:?}"
        );
        let log = request_log(&client).await;
        assert_eq!(
            titles, log.last_answer,
            "the answer to the latest draft is shown, not the late one"
        );
        let last = log.sent.last().expect("a request");
        assert_eq!(last["description"], CUTOVER_DESCRIPTION, "{last}");
        log.assert_one_draft();
        let analytics = deflection_analytics(&base).await;
        assert_eq!(analytics["drafts"], 1, "{analytics}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_form_shows_policy_notices_and_submits_the_case() {
    in_browser_on(Server::with_events, |client, base| async move {
        open_case_page(&client, &base, Hold::Nothing).await;
        type_slowly(&client, "#subject", "Baseline copy is very slow").await;
        type_slowly(
            &client,
            "#description",
            "The baseline copy of our main project runs at a few MB per second.",
        )
        .await;
        wait_for_answer(&client, "suggestions for the draft").await;
        let notices = texts(&client, "#deflect-notices p.notice").await;
        assert!(notices.is_empty(), "no notice yet: {notices:?}");

        choose(&client, "severity", "1").await;
        wait_for_answer(&client, "the answer for severity 1").await;
        let notices = texts(&client, "#deflect-notices p.notice").await;
        assert!(
            notices.iter().any(|n| n.contains("4 hours")),
            "severity 1 gives the response target: {notices:?}"
        );

        choose(&client, "version", "7.6.0").await;
        wait_for_answer(&client, "the answer for version 7.6.0").await;
        let notices = texts(&client, "#deflect-notices p.notice").await;
        assert!(
            notices
                .iter()
                .any(|n| n.contains("7.6.0") && n.contains("end of general support")),
            "7.6.0 is past its end of support: {notices:?}"
        );
        assert!(
            notices.iter().any(|n| n.contains("4 hours")),
            "the severity notice stays: {notices:?}"
        );
        let ids = suggestion_ids(&client).await;
        assert!(
            !ids.iter().any(|id| id == "product-version-support"),
            "out of support is a notice, not a suggestion: {ids:?}"
        );
        let link = client
            .find(Locator::Css("#deflect-notices p.notice a"))
            .await
            .expect("the notice links the version support page");
        assert_eq!(
            link.attr("href").await.expect("href").as_deref(),
            Some("/articles/product-version-support")
        );

        let submit = client
            .find(Locator::Css("#case-form button[type=submit]"))
            .await
            .expect("the submit button");
        assert_eq!(submit.text().await.expect("button text"), "Submit case");
        submit.click().await.expect("submit the case");
        wait_for_script(
            &client,
            "return document.getElementById('case-status').textContent \
                 .includes('Your case was submitted');",
            vec![],
            "the confirmation that the case was submitted",
        )
        .await;
        assert!(
            !submit.is_enabled().await.expect("button state"),
            "a submitted case cannot be submitted twice"
        );
        let url = client.current_url().await.expect("current URL");
        assert_eq!(
            (url.path(), url.query()),
            ("/case", None),
            "submitted in place: the draft is not put in the address"
        );

        let log = request_log(&client).await;
        log.assert_one_draft();
        let last = log.sent.last().expect("a request");
        assert_eq!(
            (&last["severity"], &last["version"]),
            (&json!(1), &json!("7.6.0")),
            "the draft recorded is the case as submitted: {last}"
        );
        let analytics = deflection_analytics(&base).await;
        assert_eq!(analytics["case_submitted"], 1, "{analytics}");
        assert_eq!(analytics["drafts"], 1, "{analytics}");
        assert_eq!(analytics["solved"], 0, "{analytics}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_form_says_when_no_article_matches() {
    in_browser_on(Server::with_events, |client, base| async move {
        open_case_page(&client, &base, Hold::Nothing).await;
        type_slowly(&client, "#subject", "Invoice charged twice").await;
        type_slowly(
            &client,
            "#description",
            "Our finance team sees two charges for the annual renewal on the same credit card. \
             Please refund one of them.",
        )
        .await;
        wait_for_answer(&client, "the answer for a billing question").await;
        let empty = text_of(&client, "#deflect-empty").await;
        assert!(empty.starts_with("No article matches"), "{empty}");
        let titles = suggestion_titles(&client).await;
        assert!(titles.is_empty(), "no suggestions: {titles:?}");
        let notices = texts(&client, "#deflect-notices p.notice").await;
        assert!(notices.is_empty(), "{notices:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_form_has_focus_labels_and_works_from_the_keyboard() {
    in_browser_on(Server::with_events, |client, base| async move {
        open_case_page(&client, &base, Hold::Nothing).await;
        let focused = client
            .execute(
                "return document.activeElement ? document.activeElement.id : null;",
                vec![],
            )
            .await
            .expect("read the focused element");
        assert_eq!(
            focused,
            json!("subject"),
            "the subject has the focus on load"
        );

        // Every field has a label that names it.
        let fields = client
            .execute(
                "return Array.from(document.querySelectorAll( \
                     '#case-form input, #case-form textarea, #case-form select')) \
                   .map(function (field) { return [field.name, Array.from(field.labels || []) \
                     .map(function (label) { return label.textContent.trim(); })]; });",
                vec![],
            )
            .await
            .expect("list the fields and their labels");
        let fields: Vec<(String, Vec<String>)> =
            serde_json::from_value(fields).expect("fields and labels");
        let names: Vec<&str> = fields.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(
            names,
            [
                "subject",
                "description",
                "case_type",
                "severity",
                "product",
                "version"
            ],
            "the case form's fields"
        );
        for (name, labels) in &fields {
            assert!(
                labels.iter().any(|label| !label.is_empty()),
                "field `{name}` has a label: {fields:?}"
            );
        }
        let label_of = |name: &str| {
            fields
                .iter()
                .find(|(field, _)| field == name)
                .map(|(_, labels)| labels.join(" "))
                .unwrap_or_default()
        };
        assert!(label_of("subject").starts_with("Subject"));
        assert!(label_of("description").starts_with("Description"));
        assert!(label_of("severity").starts_with("Severity"));
        assert!(label_of("version").starts_with("Version"));

        // Typing straight away goes into the subject; Tab moves on to the description.
        let active = client.active_element().await.expect("the focused element");
        for key in "ERR_SHARE_LOCKED".chars() {
            active
                .send_keys(&key.to_string())
                .await
                .expect("type into the focused element");
        }
        active
            .send_keys(&fantoccini::key::Key::Tab)
            .await
            .expect("press Tab");
        let focused = client
            .execute(
                "return document.activeElement ? document.activeElement.id : null;",
                vec![],
            )
            .await
            .expect("read the focused element");
        assert_eq!(focused, json!("description"), "Tab goes to the description");
        wait_for_answer(&client, "suggestions for the subject typed").await;
        let ids = suggestion_ids(&client).await;
        assert_eq!(ids.first().map(String::as_str), Some(CUTOVER_ID), "{ids:?}");
        let name = solved_button(&client, CUTOVER_ID)
            .await
            .attr("aria-label")
            .await
            .expect("aria-label")
            .unwrap_or_default();
        assert_eq!(
            name,
            format!("This solved my problem: {CUTOVER_TITLE}"),
            "each button's name says which article solved it"
        );
        let status_role = client
            .find(Locator::Css("#case-status"))
            .await
            .expect("the status line")
            .attr("role")
            .await
            .expect("role");
        assert_eq!(
            status_role.as_deref(),
            Some("status"),
            "confirmations are announced"
        );
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// The writers' preview
// ---------------------------------------------------------------------------------------------

/// The sample article the preview tests edit: long enough to scroll.
const EDITED_FILE: &str = "articles/smb-share-access-denied-0x80070005.md";
const EDITED_ID: &str = "smb-share-access-denied-0x80070005";
/// How its first paragraph starts.
const EDITED_PARAGRAPH: &str = "A migration project that reads from an SMB (CIFS) share";
/// Another sample article, linked the way the sample knowledge base links (relative to the file).
const LINKED_FILE: &str = "configure-migration-service-account.md";
const LINKED_ID: &str = "configure-migration-service-account";

/// Saving an article's markdown updates its open page in place: the new text shows without a
/// reload, and the reader stays where they had scrolled to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_shows_a_saved_edit_in_place_and_keeps_the_scroll() {
    let kb = Kb::sample();
    let file = kb.path(EDITED_FILE);
    in_browser_on(
        move || Server::preview(kb),
        move |client, base| async move {
            open_preview_article(&client, &base, EDITED_ID).await;
            let scrolled = scroll_down(&client, 400).await;
            mark_page(&client).await;

            let phrase = "Violet harbour lanterns glow whenever the preview reloads in place.";
            let original = std::fs::read_to_string(&file).expect("read the article");
            save(
                &file,
                &replace_paragraph(&original, EDITED_PARAGRAPH, phrase),
            );
            wait_for_script(
                &client,
                "const article = document.querySelector('main article.kb'); \
                 return article !== null && article.textContent.includes(arguments[0]);",
                vec![json!(phrase)],
                "the saved text on the open page",
            )
            .await;

            let state = page_state(&client).await;
            assert_eq!(state["marker"], 1, "the page was not reloaded: {state}");
            let scroll = state["scrollY"].as_f64().expect("scrollY");
            assert!(
                (scroll - scrolled).abs() <= 3.0,
                "the scroll position is kept: {scrolled} before the save, {scroll} after"
            );
            assert!(
                !state["text"]
                    .as_str()
                    .unwrap_or_default()
                    .contains(EDITED_PARAGRAPH),
                "the old paragraph is gone: {state}"
            );
            assert!(
                state["generation"].as_str().is_some_and(|g| g != "0"),
                "the page counted the reload: {state}"
            );
            let url = client.current_url().await.expect("current URL");
            assert_eq!(url.path(), format!("/articles/{EDITED_ID}"));
        },
    )
    .await;
}

/// A link to an article that does not exist shows in the page's problem panel as soon as the
/// file is saved, and goes away when the link is fixed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_shows_a_broken_link_until_it_is_fixed() {
    let kb = Kb::sample();
    let file = kb.path(EDITED_FILE);
    in_browser_on(
        move || Server::preview(kb),
        move |client, base| async move {
            open_preview_article(&client, &base, EDITED_ID).await;
            let before = texts(&client, "#preview-problems li").await;
            assert!(
                !before.iter().any(|p| p.contains("missing-article")),
                "no broken link yet: {before:?}"
            );
            mark_page(&client).await;

            let original = std::fs::read_to_string(&file).expect("read the article");
            let paragraph = format!("{EDITED_PARAGRAPH} reads the source: [see](missing-article.md).");
            save(&file, &replace_paragraph(&original, EDITED_PARAGRAPH, &paragraph));
            wait_for_script(
                &client,
                "return Array.from(document.querySelectorAll('#preview-problems li')) \
                     .some(function (item) { return item.textContent.includes('missing-article'); });",
                vec![],
                "the broken link in the problem panel",
            )
            .await;
            let problem = client
                .execute(
                    "const item = Array.from(document.querySelectorAll('#preview-problems li')) \
                         .find(function (item) { return item.textContent.includes('missing-article'); }); \
                     return [item.textContent, item.className];",
                    vec![],
                )
                .await
                .expect("read the problem");
            assert!(
                problem[0]
                    .as_str()
                    .is_some_and(|text| text.contains("no such article")),
                "the problem says what is wrong: {problem}"
            );
            assert_eq!(problem[1], "error-item", "a broken link is an error: {problem}");

            let fixed = format!("{EDITED_PARAGRAPH} reads the source: [see]({LINKED_FILE}).");
            save(&file, &replace_paragraph(&original, EDITED_PARAGRAPH, &fixed));
            wait_for_script(
                &client,
                "const href = arguments[0]; \
                 const linked = Array.from(document.querySelectorAll('main article.kb a')) \
                     .some(function (a) { return a.textContent === 'see' \
                         && a.getAttribute('href') === href; }); \
                 const items = Array.from(document.querySelectorAll('#preview-problems li')); \
                 return linked && items.length > 0 && !items.some(function (item) { \
                     return item.textContent.includes('missing-article'); });",
                vec![json!(format!("/articles/{LINKED_ID}"))],
                "the fixed link on the page and the problem gone from the panel",
            )
            .await;
            let state = page_state(&client).await;
            assert_eq!(state["marker"], 1, "the page was not reloaded: {state}");
        },
    )
    .await;
}

/// The article list follows the folder: an added article appears, a renamed one moves to its new
/// path, a deleted one goes, all without reloading the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_article_list_follows_added_renamed_and_deleted_articles() {
    let kb = Kb::sample();
    let folder = kb.kb.clone();
    in_browser_on(
        move || Server::preview(kb),
        move |client, base| async move {
            client
                .goto(&format!("{base}/preview"))
                .await
                .expect("open the article list");
            wait_for_script(
                &client,
                "return document.readyState === 'complete' \
                     && document.getElementById('article-list') !== null;",
                vec![],
                "the article list",
            )
            .await;
            let listed = texts(&client, "#article-list > li > span.meta").await;
            mark_page(&client).await;

            let title = "Preview list check: an article saved a moment ago";
            let added = folder.join("articles/zz-preview-added.md");
            let renamed = folder.join("articles/zz-preview-renamed.md");
            save(
                &added,
                &format!(
                    "---\ntitle: \"{title}\"\nsummary: \"Written by the browser test.\"\n---\n\
                     # {title}\n\nA short article the preview test adds, renames and deletes.\n"
                ),
            );
            wait_for_list(
                &client,
                "articles/zz-preview-added.md",
                true,
                "the added article",
            )
            .await;
            let links = client
                .execute(
                    "const title = arguments[0]; \
                     return Array.from(document.querySelectorAll('#article-list > li > a')) \
                         .filter(function (a) { return a.textContent === title; }) \
                         .map(function (a) { return a.getAttribute('href'); });",
                    vec![json!(title)],
                )
                .await
                .expect("read the added article's link");
            assert_eq!(
                links,
                json!(["/articles/articles/zz-preview-added"]),
                "listed once, linking to its page"
            );
            assert_eq!(
                texts(&client, "#article-list > li > span.meta").await.len(),
                listed.len() + 1
            );

            std::fs::rename(&added, &renamed).expect("rename the article");
            wait_for_list(
                &client,
                "articles/zz-preview-renamed.md",
                true,
                "the renamed article",
            )
            .await;
            wait_for_list(
                &client,
                "articles/zz-preview-added.md",
                false,
                "the old path gone",
            )
            .await;
            assert_eq!(
                texts(&client, "#article-list > li > span.meta").await.len(),
                listed.len() + 1,
                "the renamed article is listed once"
            );

            std::fs::remove_file(&renamed).expect("delete the article");
            wait_for_list(
                &client,
                "articles/zz-preview-renamed.md",
                false,
                "the deleted article gone",
            )
            .await;
            assert_eq!(
                texts(&client, "#article-list > li > span.meta").await,
                listed,
                "the list is as it was"
            );
            let state = page_state(&client).await;
            assert_eq!(state["marker"], 1, "the page was not reloaded: {state}");
        },
    )
    .await;
}

/// No browser: a save applied while a preview page loads (after its HTML, before its live-reload
/// stream connects) or while its stream is down is not missed. The page names the batch it was
/// rendered at, and the stream opened with that batch (or, on a reconnect, with the id of the last
/// event received) says `changed` at once when the index has moved on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_stream_reports_a_save_made_before_it_connected() {
    let kb = Kb::sample();
    let file = kb.path(EDITED_FILE);
    let server = Server::preview(kb).await;
    let client = reqwest::Client::new();
    let page_url = format!("{}/articles/{EDITED_ID}", server.base);
    let page = get_text(&client, &page_url).await;
    let batch = page
        .split_once(r#"<body data-preview-batch=""#)
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(batch, _)| batch.to_string())
        .unwrap_or_else(|| panic!("the page names its batch:\n{page}"));

    let phrase = "Amber pelican timetables arrived before the stream connected.";
    let original = std::fs::read_to_string(&file).expect("read the article");
    save(
        &file,
        &replace_paragraph(&original, EDITED_PARAGRAPH, phrase),
    );
    let started = Instant::now();
    while !get_text(&client, &page_url).await.contains(phrase) {
        assert!(
            started.elapsed() < WAIT,
            "the edit was not applied within {WAIT:?}"
        );
        tokio::time::sleep(POLL).await;
    }

    // The page's first connection, and a reconnect after the last event it received.
    let events_url = format!("{}/preview/events", server.base);
    let first = client.get(format!("{events_url}?since={batch}"));
    let reconnect = client.get(&events_url).header("Last-Event-ID", &batch);
    for (what, request) in [("?since", first), ("Last-Event-ID", reconnect)] {
        let mut events = request.send().await.expect("open the event stream");
        assert_eq!(events.status(), reqwest::StatusCode::OK);
        let mut received = String::new();
        // One deadline for the whole wait: keep-alive comments arrive every 15 s.
        let deadline = tokio::time::Instant::now() + WAIT;
        while !received.contains("event: changed") {
            let chunk = tokio::time::timeout_at(deadline, events.chunk())
                .await
                .unwrap_or_else(|_| {
                    panic!("with {what} = {batch}: no change event within {WAIT:?}: {received:?}")
                })
                .expect("read the event stream")
                .expect("the stream stays open");
            received.push_str(&String::from_utf8_lossy(&chunk));
        }
        assert!(
            !received.contains(&format!("id: {batch}\n")),
            "the event names a later batch than the page's: {received:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Accessibility
// ---------------------------------------------------------------------------------------------

/// A query the sample knowledge base has no article for.
const NO_RESULTS_QUERY: &str = "zebra pancake telescope";

/// Every customer-facing page, in the states a customer sees it, has no axe-core violation of
/// WCAG 2.1 A and AA or of axe's best practices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_passes_axe() {
    let Some(axe) = axe_source() else { return };
    in_browser_on(Server::with_events, |client, base| async move {
        let mut report = AxeReport::default();
        for (what, path) in [
            ("search page, empty", "/".to_string()),
            (
                "search page with results",
                format!("/?q={}", urlencode(QUERY)),
            ),
            (
                "search page with no results",
                format!("/?q={}", urlencode(NO_RESULTS_QUERY)),
            ),
            ("article page", format!("/articles/{CUTOVER_ID}")),
            ("page not found", "/no-such-page".to_string()),
            ("case form, empty", "/case".to_string()),
        ] {
            open_page(&client, &format!("{base}{path}")).await;
            report.check(&client, &axe, what).await;
        }

        open_search_page(&client, &base).await;
        type_query(&client, QUERY).await;
        report
            .check(&client, &axe, "search page, results as you type")
            .await;

        open_case_page(&client, &base, Hold::Nothing).await;
        type_slowly(&client, "#subject", CUTOVER_SUBJECT).await;
        type_slowly(&client, "#description", CUTOVER_DESCRIPTION).await;
        wait_for_answer(&client, "suggestions for the draft").await;
        assert!(
            !suggestion_ids(&client).await.is_empty(),
            "the case form shows suggestions"
        );
        report
            .check(&client, &axe, "case form with suggestions")
            .await;
        report.assert_clean();
    })
    .await;
}

/// An internal article of the sample knowledge base, and a query that finds it.
const INTERNAL_ID: &str = "internal-swat-escalation-checklist";
const INTERNAL_QUERY: &str = "swat escalation checklist";

/// An agent signs in through the form (after one mistyped key), sees the internal article in
/// the results and on its page, labelled, and signs out; every page on the way passes axe-core.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_signs_in_sees_internal_articles_and_signs_out() {
    let axe = axe_source();
    in_browser_on(Server::with_events, |client, base| async move {
        let mut report = AxeReport::default();
        let search = format!("{base}/?q={}", urlencode(INTERNAL_QUERY));
        open_page(&client, &search).await;
        assert!(
            !texts(&client, "#results li.hit a.title")
                .await
                .iter()
                .any(|title| title.starts_with("Internal:")),
            "not signed in: no internal article"
        );

        open_page(
            &client,
            &format!("{base}/signin?next={}", urlencode("/case")),
        )
        .await;
        report
            .check_if(&client, axe.as_deref(), "sign-in form")
            .await;
        submit_key(&client, "not-the-right-key-0123456789").await;
        wait_for_script(
            &client,
            "return document.getElementById('signin-error') !== null;",
            vec![],
            "the wrong key's message",
        )
        .await;
        let message = text_of(&client, "#signin-error").await;
        assert!(message.contains("not accepted"), "{message}");
        report
            .check_if(&client, axe.as_deref(), "sign-in form after a wrong key")
            .await;

        submit_key(&client, AGENT_KEY).await;
        wait_for_script(
            &client,
            "return location.pathname === '/case' && document.readyState === 'complete';",
            vec![],
            "back at the page asked for, signed in",
        )
        .await;
        let cookie = client
            .execute("return document.cookie;", vec![])
            .await
            .expect("read document.cookie");
        assert_eq!(cookie, json!(""), "scripts cannot read the HttpOnly cookie");

        open_page(&client, &search).await;
        let titles = hit_titles(&client).await;
        assert!(
            titles.iter().any(|title| title.starts_with("Internal:")),
            "signed in: the internal article is found: {titles:?}"
        );
        let labels = texts(&client, "#results li.hit .badge.internal").await;
        assert!(labels.iter().any(|label| label == "Internal"), "{labels:?}");
        report
            .check_if(
                &client,
                axe.as_deref(),
                "signed-in search page with an internal article",
            )
            .await;
        open_page(&client, &format!("{base}/articles/{INTERNAL_ID}")).await;
        assert_eq!(
            text_of(&client, "article.kb .badge.internal").await,
            "Internal"
        );
        report
            .check_if(&client, axe.as_deref(), "internal article page")
            .await;

        open_page(&client, &format!("{base}/signin")).await;
        report
            .check_if(&client, axe.as_deref(), "sign-in page, signed in")
            .await;
        client
            .find(Locator::Css(r#"form[action="/signout"] button"#))
            .await
            .expect("the sign-out button")
            .click()
            .await
            .expect("sign out");
        wait_for_script(
            &client,
            "return location.pathname === '/signin' && document.getElementById('key') !== null;",
            vec![],
            "the sign-in form again",
        )
        .await;
        open_page(&client, &search).await;
        assert!(
            !hit_titles(&client)
                .await
                .iter()
                .any(|title| title.starts_with("Internal:")),
            "signed out: no internal article"
        );
        report.assert_clean();
    })
    .await;
}

/// Drafts, outcomes, searches, a click and votes made through the public routes, as customers
/// make them, are the numbers an agent's dashboard shows; the dashboard and the vote form pass
/// axe-core, and a screenshot of the dashboard is saved under `target/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_what_customers_did() {
    let axe = axe_source();
    in_browser_on(Server::with_events, |client, base| async move {
        let mut report = AxeReport::default();
        let http = reqwest::Client::new();
        // Drafts: one solved by an article; three not helped (any suggestion told not helpful)
        // and submitted, two of them about a topic the knowledge base does not cover.
        let drafts = [
            (CUTOVER_SUBJECT, CUTOVER_DESCRIPTION),
            (
                "Cutover fails again",
                "ERR_SHARE_LOCKED during the cutover of the finance share.",
            ),
            (
                "Quokka telemetry plugin",
                "Can StorageX send quokka telemetry to our quokka collector?",
            ),
            ("Quokka telemetry collector", "Is there a quokka telemetry plugin?"),
        ];
        let mut answers = Vec::new();
        for (subject, description) in drafts {
            let answer: Value = http
                .post(format!("{base}/api/deflect"))
                .json(&json!({"subject": subject, "description": description}))
                .send()
                .await
                .expect("POST /api/deflect")
                .json()
                .await
                .expect("the deflection answer");
            answers.push(answer);
        }
        let shown = answers
            .iter()
            .filter(|a| a["suggestions"].as_array().is_some_and(|s| !s.is_empty()))
            .count();
        let first_suggestion = |answer: &Value| answer["suggestions"][0]["id"].as_str().map(str::to_string);
        let outcome = |answer: &Value, body: Value| {
            let url = format!("{base}/api/deflect/{}/feedback", answer["deflection_id"].as_str().unwrap());
            let http = http.clone();
            async move {
                let response = http.post(url).json(&body).send().await.expect("feedback");
                assert!(response.status().is_success(), "{}", response.text().await.unwrap());
            }
        };
        let solving = first_suggestion(&answers[0]).expect("the cutover draft is shown an article");
        outcome(&answers[0], json!({"outcome": "solved", "article_id": solving})).await;
        for answer in &answers[1..] {
            if let Some(article) = first_suggestion(answer) {
                outcome(answer, json!({"outcome": "not_helpful", "article_id": article})).await;
            }
            outcome(answer, json!({"outcome": "case_submitted"})).await;
        }
        // Searches: three page searches over HTTP (one finds nothing), one in the browser whose
        // first result is opened.
        for query in [QUERY, QUERY, NO_RESULTS_QUERY] {
            let page = get_text(&http, &format!("{base}/?q={}", urlencode(query))).await;
            assert!(page.contains("data-search") || query == NO_RESULTS_QUERY, "{query}");
        }
        open_page(&client, &format!("{base}/?q={}", urlencode(QUERY))).await;
        first_hit(&client)
            .await
            .find(Locator::Css("a.title"))
            .await
            .expect("the first hit's link")
            .click()
            .await
            .expect("open the first hit");
        wait_for_script(
            &client,
            "return location.pathname.startsWith('/articles/') && document.readyState === 'complete';",
            vec![],
            "the first hit's article",
        )
        .await;
        let url = client.current_url().await.expect("current URL");
        assert_eq!(url.query(), None, "the article's address carries no query: {url}");
        // Votes: yes on the cutover article (twice: one vote per browser session), no with a
        // comment on another.
        for _ in 0..2 {
            open_page(&client, &format!("{base}/articles/{CUTOVER_ID}")).await;
            report.check_if(&client, axe.as_deref(), "article page with the vote form").await;
            click(&client, r#"section.vote button[value="yes"]"#).await;
            wait_for_script(&client, "return document.querySelector('.thanks') !== null;", vec![], "thanks for the vote").await;
        }
        report.check_if(&client, axe.as_deref(), "article page after a vote").await;
        open_page(&client, &format!("{base}/articles/{EDITED_ID}")).await;
        click(&client, "section.vote summary").await;
        client
            .find(Locator::Css("#comment"))
            .await
            .expect("the comment box")
            .send_keys(VOTE_COMMENT)
            .await
            .expect("type a comment");
        click(&client, r#"section.vote button[value="no"]"#).await;
        wait_for_script(&client, "return document.querySelector('.thanks') !== null;", vec![], "thanks for the vote").await;

        // The agent's dashboard.
        open_page(&client, &format!("{base}/signin?next={}", urlencode("/insights"))).await;
        submit_key(&client, AGENT_KEY).await;
        wait_for_script(
            &client,
            "return location.pathname === '/insights' && document.readyState === 'complete';",
            vec![],
            "the dashboard after signing in",
        )
        .await;
        let figure = |id: &'static str| {
            let client = client.clone();
            async move { text_of(&client, &format!("dd#{id}")).await }
        };
        assert_eq!(figure("drafts").await, "4");
        assert_eq!(figure("drafts-with-suggestions").await, shown.to_string());
        assert_eq!(figure("drafts-solved").await, "1");
        assert_eq!(figure("cases-submitted").await, "3");
        assert_eq!(figure("deflection-rate").await, "25%");
        assert_eq!(figure("searches").await, "4");
        assert_eq!(figure("zero-result-share").await, "25%");
        assert_eq!(figure("click-through-rate").await, "25%");
        assert_eq!(figure("mean-first-click-rank").await, "1.0");
        assert_eq!(figure("votes-helpful").await, "1");
        assert_eq!(figure("votes-not-helpful").await, "1");
        let charts = client
            .find_all(Locator::Css("figure.chart svg[role=img]"))
            .await
            .expect("the charts");
        assert_eq!(charts.len(), 2, "the funnel and the searches");
        let comments = texts(&client, "#lowest-rated td").await;
        assert!(
            comments.iter().any(|cell| cell == VOTE_COMMENT),
            "the not-helpful comment is shown: {comments:?}"
        );
        let queries = texts(&client, "#no-result-queries td a").await;
        assert_eq!(queries, [NO_RESULTS_QUERY]);
        let groups = texts(&client, "#write-next td").await;
        assert!(
            groups.iter().any(|cell| cell.contains("quokka")),
            "the two quokka drafts are one group to write about: {groups:?}"
        );
        report.check_if(&client, axe.as_deref(), "insights dashboard").await;
        let png = client.screenshot().await.expect("a screenshot of the dashboard");
        let shot = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/insights.png");
        std::fs::write(&shot, png).expect("save the screenshot");
        eprintln!("dashboard screenshot: {}", shot.display());
        report.assert_clean();
    })
    .await;
}

/// A "not helpful" vote's comment in the dashboard test.
const VOTE_COMMENT: &str = "The steps for Windows Server 2022 are missing";

/// Clicks the element `css` selects.
async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|err| panic!("find {css}: {err}"))
        .click()
        .await
        .unwrap_or_else(|err| panic!("click {css}: {err}"));
}

/// The writers' preview pages (the article list, an article with its problem panel) have no
/// axe-core violation either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_pages_pass_axe() {
    let Some(axe) = axe_source() else { return };
    let kb = Kb::sample();
    in_browser_on(
        move || Server::preview(kb),
        move |client, base| async move {
            let mut report = AxeReport::default();
            open_page(&client, &format!("{base}/preview")).await;
            report.check(&client, &axe, "preview article list").await;
            open_preview_article(&client, &base, EDITED_ID).await;
            report
                .check(&client, &axe, "preview article with its panel")
                .await;
            report.assert_clean();
        },
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------

/// kbsearch on a real socket; stops when dropped.
struct Server {
    base: String,
    task: tokio::task::JoinHandle<()>,
    /// The folders it serves from (a temp dir, a fixture), removed after the server stops.
    _folders: Box<dyn std::any::Any + Send>,
}

impl Server {
    /// Over a fresh index of `kb/`, recording no events.
    async fn start() -> Server {
        let dir = tempfile::tempdir().expect("temp dir for the index");
        let kb = Path::new(env!("CARGO_MANIFEST_DIR")).join("kb");
        let index = dir.path().join("index");
        let searcher = open_index(kb.clone(), index.clone()).await;
        let config = Config {
            kb,
            index,
            data: dir.path().join("data"),
            ..Config::default()
        };
        let state = AppState::new(config);
        state.searcher.store(Some(Arc::new(searcher)));
        Server::serve(state, Box::new(dir)).await
    }

    /// Over a copy of the sample knowledge base with an event store in the fixture's data
    /// folder, and the test keys (`AGENT_KEY` reads the analytics): the case form's server.
    async fn with_events() -> Server {
        let (kb, state) = tokio::task::spawn_blocking(|| {
            let kb = Kb::sample();
            let state = kb.app_state();
            (kb, state)
        })
        .await
        .expect("index a copy of the sample knowledge base");
        Server::serve(state, Box::new(kb)).await
    }

    /// The writers' preview over a copy of the sample knowledge base, with the live indexer (the
    /// real watcher and writer thread) following the folder: what `kbsearch preview` serves.
    async fn preview(kb: Kb) -> Server {
        let live = kb.live(WatchMode::Native).await;
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let state = live.state.clone().for_preview().with_stopping(stopping);
        let folders = PreviewFolders {
            stop,
            _live: live,
            _kb: kb,
        };
        Server::serve_app(server::preview_router(state), Box::new(folders)).await
    }

    /// Serves `state` on 127.0.0.1, on a free port.
    async fn serve(state: AppState, folders: Box<dyn std::any::Any + Send>) -> Server {
        Server::serve_app(server::router(state), folders).await
    }

    /// Serves `app` on 127.0.0.1, on a free port.
    async fn serve_app(app: axum::Router, folders: Box<dyn std::any::Any + Send>) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free local port");
        let address = listener.local_addr().expect("the server's address");
        let limits = kbsearch::server::ConnectionLimits::from_config(&Default::default());
        let task = tokio::spawn(kbsearch::server::serve(
            listener,
            app,
            limits,
            std::future::pending(),
        ));
        Server {
            base: format!("http://{address}"),
            task,
            _folders: folders,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the preview server holds: its live indexer and content folder, and the signal that ends
/// its live-reload streams (sent when the server is dropped; then the indexer stops, then the
/// folder goes).
struct PreviewFolders {
    stop: tokio::sync::watch::Sender<bool>,
    _live: common::Live,
    _kb: Kb,
}

impl Drop for PreviewFolders {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Indexes the content folder and opens the index, off the async threads.
async fn open_index(kb: PathBuf, index: PathBuf) -> KbSearcher {
    tokio::task::spawn_blocking(move || {
        Indexer::refresh(&IndexOptions::new(&kb, &index), &Silent)
            .expect("index the sample knowledge base");
        KbSearcher::open(&index, &kb).expect("open the fresh index")
    })
    .await
    .expect("indexing task")
}

// ---------------------------------------------------------------------------------------------
// The browser
// ---------------------------------------------------------------------------------------------

/// True when Chromium and chromedriver are installed. Under CI their absence is a failure;
/// elsewhere the caller skips.
fn browser_installed() -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|path| !Path::new(path).is_file())
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "chromium and chromium-driver are required under CI: apt-get install chromium \
         chromium-driver (missing: {})",
        missing.join(", ")
    );
    eprintln!(
        "skipped: {} not installed (apt-get install chromium chromium-driver)",
        missing.join(", ")
    );
    false
}

/// A chromedriver process on a free local port; killed when dropped.
struct ChromeDriver {
    child: Child,
    port: u16,
}

impl ChromeDriver {
    async fn start() -> ChromeDriver {
        let port = free_port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let mut driver = ChromeDriver { child, port };
        let started = Instant::now();
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return driver;
            }
            if let Some(status) = driver.child.try_wait().expect("chromedriver status") {
                panic!("chromedriver exited at start-up: {status}");
            }
            assert!(
                started.elapsed() < WAIT,
                "chromedriver did not listen on port {port} within {WAIT:?}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("find a free local port")
        .port()
}

/// Capabilities for a headless Chromium with its own throw-away profile.
fn chromium_capabilities(profile: &Path) -> serde_json::Map<String, Value> {
    let mut args: Vec<String> = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
    ]
    .map(String::from)
    .to_vec();
    args.push(format!("--user-data-dir={}", profile.display()));
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
    });
    match capabilities {
        Value::Object(map) => map,
        _ => unreachable!("capabilities are a JSON object"),
    }
}

/// Runs `scenario` in a fresh headless Chromium against a fresh server of `kb/`, and closes the
/// browser even when the scenario fails. Skips (or fails under CI) when the browser is not
/// installed.
async fn in_browser<S, F>(scenario: S)
where
    S: FnOnce(Client, String) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    in_browser_on(Server::start, scenario).await;
}

/// [`in_browser`] against the server `start` starts (once the browser's turn has come).
async fn in_browser_on<St, Fut, S, F>(start: St, scenario: S)
where
    St: FnOnce() -> Fut,
    Fut: Future<Output = Server>,
    S: FnOnce(Client, String) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    if !browser_installed() {
        return;
    }
    let _turn = ONE_BROWSER_AT_A_TIME.lock().await;
    let server = start().await;
    let driver = ChromeDriver::start().await;
    let profile = tempfile::tempdir().expect("temp dir for the browser profile");
    let client = ClientBuilder::native()
        .capabilities(chromium_capabilities(profile.path()))
        .connect(&driver.url())
        .await
        .expect("start a headless Chromium session");
    // On its own task, so that a failed assertion still lets the session close below.
    let outcome = tokio::spawn(scenario(client.clone(), server.base.clone())).await;
    let closed = client.close().await;
    drop(driver);
    drop(server);
    match outcome {
        Ok(()) => closed.expect("close the browser session"),
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        Err(err) => panic!("browser scenario did not finish: {err}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Page helpers
// ---------------------------------------------------------------------------------------------

/// Opens the search page and waits until its script has run.
async fn open_search_page(client: &Client, base: &str) {
    client
        .goto(&format!("{base}/"))
        .await
        .expect("open the search page");
    wait_for_script(
        client,
        "return document.readyState === 'complete' && document.querySelector('input#q') !== null;",
        vec![],
        "the search page loaded",
    )
    .await;
}

/// Types `query` into the search box, without submitting, and waits for its results.
async fn type_query(client: &Client, query: &str) {
    let input = client
        .find(Locator::Css("input#q"))
        .await
        .expect("the search box");
    input.send_keys(query).await.expect("type the query");
    wait_for_results_of(client, query).await;
}

/// Waits until the results block shows hits for `query` and the address names it: the script
/// changes the address only after it has put the latest results in place.
async fn wait_for_results_of(client: &Client, query: &str) {
    wait_for_script(
        client,
        "return new URLSearchParams(location.search).get('q') === arguments[0] \
             && document.querySelector('#results li.hit a.title') !== null;",
        vec![json!(query)],
        &format!("hits for `{query}` while typing"),
    )
    .await;
}

/// Polls `script` (a function body) until it returns `true`; fails after [`WAIT`].
async fn wait_for_script(client: &Client, script: &str, args: Vec<Value>, what: &str) {
    let started = Instant::now();
    loop {
        let value = client
            .execute(script, args.clone())
            .await
            .unwrap_or_else(|err| panic!("checking for {what}: {err}"));
        if value == Value::Bool(true) {
            return;
        }
        if started.elapsed() > WAIT {
            let url = client.current_url().await.map(|u| u.to_string());
            let source = client.source().await.unwrap_or_default();
            panic!("no {what} within {WAIT:?}; at {url:?}, page:\n{source}");
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn first_hit(client: &Client) -> Element {
    client
        .find(Locator::Css("#results li.hit"))
        .await
        .expect("a first hit")
}

/// The text of every element matching `css`, in page order.
async fn texts(client: &Client, css: &str) -> Vec<String> {
    let elements = client
        .find_all(Locator::Css(css))
        .await
        .unwrap_or_else(|err| panic!("find `{css}`: {err}"));
    let mut texts = Vec::with_capacity(elements.len());
    for element in elements {
        texts.push(
            element
                .text()
                .await
                .unwrap_or_else(|err| panic!("text of `{css}`: {err}")),
        );
    }
    texts
}

async fn text_of(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|err| panic!("find `{css}`: {err}"))
        .text()
        .await
        .unwrap_or_else(|err| panic!("text of `{css}`: {err}"))
}

async fn hit_titles(client: &Client) -> Vec<String> {
    texts(client, "#results li.hit a.title").await
}

async fn hit_kinds(client: &Client) -> Vec<String> {
    texts(client, "#results li.hit .meta .kind").await
}

/// The search page's `h1` (an error page has its own).
const SEARCH_HEADING: &str = "Search the knowledge base";

/// The page's `h1`, if it has one.
async fn page_heading(client: &Client) -> Option<String> {
    let headings = texts(client, "h1").await;
    headings.into_iter().next()
}

/// The link of facet `section` (its label, such as `Type`) whose text starts with `value`.
async fn facet_link(client: &Client, section: &str, value: &str) -> Element {
    let css = format!(r#"#results aside.facets section[aria-label="{section}"] a"#);
    let links = client
        .find_all(Locator::Css(&css))
        .await
        .unwrap_or_else(|err| panic!("find `{css}`: {err}"));
    let mut seen = Vec::new();
    for link in links {
        let text = link.text().await.expect("facet link text");
        if text.split_whitespace().next() == Some(value) {
            return link;
        }
        seen.push(text);
    }
    panic!("no `{value}` link among the {section} facets: {seen:?}");
}

/// `12` from `help (12)`.
fn count_in_parentheses(text: &str) -> Option<usize> {
    let inner = text.trim().strip_suffix(')')?.rsplit_once('(')?.1;
    inner.trim().parse().ok()
}

/// The first value of query parameter `name` in `url`, decoded.
fn query_param(url: &impl std::fmt::Display, name: &str) -> Option<String> {
    let url = url.to_string();
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or_default();
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

// ---------------------------------------------------------------------------------------------
// Case form helpers
// ---------------------------------------------------------------------------------------------

/// Whether the page's first answer from `/api/deflect` is held back until the test lets it
/// through (`window.kbTest.release()`).
#[derive(Clone, Copy, PartialEq)]
enum Hold {
    Nothing,
    FirstAnswer,
}

/// Watches, in the page, every request the case form sends to `/api/deflect` and every answer
/// (`window.kbTest`): the drafts sent, the ids and titles answered, and the form's description
/// each time one of the page's timers (the debounce) fires.
const WATCH_DEFLECT: &str = r#"
const hold = arguments[0];
const k = window.kbTest = { sent: [], ids: [], answers: [], answered: 0, fired: [], release: null };
const realFetch = window.fetch.bind(window);
window.fetch = function (url, options) {
  if (String(url) !== '/api/deflect') return realFetch(url, options);
  k.sent.push(JSON.parse(options.body));
  const first = k.sent.length === 1;
  const answer = realFetch(url, options).then(function (response) {
    const json = response.json.bind(response);
    response.json = function () {
      return json().then(function (body) {
        k.ids.push(body.deflection_id || null);
        k.answers.push((body.suggestions || []).map(function (s) { return s.title; }));
        k.answered += 1;
        return body;
      });
    };
    return response;
  });
  if (hold && first) {
    return new Promise(function (resolve) { k.release = function () { resolve(answer); }; });
  }
  return answer;
};
const realSetTimeout = window.setTimeout.bind(window);
window.setTimeout = function (callback, delay) {
  if (typeof callback !== 'function') return realSetTimeout.apply(null, arguments);
  return realSetTimeout(function () {
    k.fired.push(document.getElementById('description').value);
    return callback.apply(this, arguments);
  }, delay);
};
return true;
"#;

/// True once the page has an answer to the draft as the form holds it now: every request sent
/// is answered and the last one sent is the form's current draft. The page shows an answer in
/// the same turn it arrives, so when this holds the answer is on the page.
const ANSWERED: &str = r#"
const k = window.kbTest;
if (!k || k.sent.length === 0 || k.answered !== k.sent.length) return false;
const d = new FormData(document.getElementById('case-form'));
const last = k.sent[k.sent.length - 1];
return last.subject === (d.get('subject') || '')
  && last.description === (d.get('description') || '')
  && last.case_type === d.get('case_type')
  && last.severity === Number(d.get('severity'))
  && (last.product || '') === (d.get('product') || '')
  && (last.version || '') === (d.get('version') || '');
"#;

/// Opens the case form, waits until its script has run, and starts watching its requests.
async fn open_case_page(client: &Client, base: &str, hold: Hold) {
    client
        .goto(&format!("{base}/case"))
        .await
        .expect("open the case form");
    wait_for_script(
        client,
        "return document.readyState === 'complete' \
             && document.getElementById('case-form') !== null;",
        vec![],
        "the case form loaded",
    )
    .await;
    client
        .execute(WATCH_DEFLECT, vec![json!(hold == Hold::FirstAnswer)])
        .await
        .expect("watch the case form's requests");
}

/// Types `text` into the field `css` one character at a time, as a person would.
async fn type_slowly(client: &Client, css: &str, text: &str) {
    let field = client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|err| panic!("find `{css}`: {err}"));
    for key in text.chars() {
        field
            .send_keys(&key.to_string())
            .await
            .unwrap_or_else(|err| panic!("type into `{css}`: {err}"));
    }
}

/// Waits until the page shows the answer to the draft as the form holds it now.
async fn wait_for_answer(client: &Client, what: &str) {
    wait_for_script(client, ANSWERED, vec![], what).await;
}

/// Chooses `value` in the case form's select `name`.
async fn choose(client: &Client, name: &str, value: &str) {
    client
        .find(Locator::Css(&format!("#case-form select[name={name}]")))
        .await
        .unwrap_or_else(|err| panic!("find select `{name}`: {err}"))
        .select_by_value(value)
        .await
        .unwrap_or_else(|err| panic!("choose `{value}` in `{name}`: {err}"));
}

fn suggestion_css(id: &str) -> String {
    format!(r#"#deflect-suggestions li.suggestion[data-id="{id}"]"#)
}

async fn suggestion_titles(client: &Client) -> Vec<String> {
    texts(client, "#deflect-suggestions li.suggestion a.title").await
}

async fn suggestion_ids(client: &Client) -> Vec<String> {
    let ids = client
        .execute(
            "return Array.from(document.querySelectorAll('#deflect-suggestions li.suggestion')) \
                 .map(function (item) { return item.dataset.id; });",
            vec![],
        )
        .await
        .expect("read the suggestions' ids");
    serde_json::from_value(ids).expect("a list of ids")
}

/// The "This solved my problem" button of suggestion `id`.
async fn solved_button(client: &Client, id: &str) -> Element {
    let css = format!("{} button.solved", suggestion_css(id));
    client
        .find(Locator::Css(&css))
        .await
        .unwrap_or_else(|err| panic!("find `{css}`: {err}"))
}

/// What the page sent to `/api/deflect` and what it got back.
struct RequestLog {
    sent: Vec<Value>,
    ids: Vec<Value>,
    /// Titles of the suggestions in the last answer.
    last_answer: Vec<String>,
}

impl RequestLog {
    /// One draft: the first request has no id, every answer gives the same one, and every
    /// later request sends it back.
    fn assert_one_draft(&self) {
        let first = self.ids.first().expect("an answer");
        assert!(
            first.is_string(),
            "the answer names the draft: {:?}",
            self.ids
        );
        assert!(
            self.ids.iter().all(|id| id == first),
            "every answer is for the same draft: {:?}",
            self.ids
        );
        assert_eq!(
            self.sent[0].get("deflection_id"),
            None,
            "the first request has no id yet: {}",
            self.sent[0]
        );
        for later in &self.sent[1..] {
            assert_eq!(
                later.get("deflection_id"),
                Some(first),
                "a later request sends the draft's id back: {later}"
            );
        }
    }
}

async fn request_log(client: &Client) -> RequestLog {
    let log = client
        .execute(
            "const k = window.kbTest; \
             return [k.sent, k.ids, k.answers.length ? k.answers[k.answers.length - 1] : []];",
            vec![],
        )
        .await
        .expect("read the page's requests");
    let (sent, ids, last_answer): (Vec<Value>, Vec<Value>, Vec<String>) =
        serde_json::from_value(log).expect("the request log");
    RequestLog {
        sent,
        ids,
        last_answer,
    }
}

/// `GET /api/analytics/deflection` with the agent key.
async fn deflection_analytics(base: &str) -> Value {
    let response = reqwest::Client::new()
        .get(format!("{base}/api/analytics/deflection"))
        .bearer_auth(AGENT_KEY)
        .send()
        .await
        .expect("GET /api/analytics/deflection");
    let status = response.status();
    let body = response.text().await.expect("analytics body");
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|err| panic!("not JSON ({err}): {body}"))
}

// ---------------------------------------------------------------------------------------------
// Preview helpers
// ---------------------------------------------------------------------------------------------

/// Opens an article in the preview and waits until the preview's script has drawn its problem
/// panel (so the script runs and listens for changes).
async fn open_preview_article(client: &Client, base: &str, id: &str) {
    client
        .goto(&format!("{base}/articles/{id}"))
        .await
        .expect("open the article in the preview");
    wait_for_script(
        client,
        "return document.readyState === 'complete' \
             && document.querySelector('main article.kb h1') !== null \
             && document.getElementById('preview-problems') !== null;",
        vec![],
        "the article with the preview's problem panel",
    )
    .await;
}

/// Scrolls the page down by `pixels` and returns where it is now (more than a screenful less
/// than `pixels` would mean the page is too short for the test).
async fn scroll_down(client: &Client, pixels: u32) -> f64 {
    let scrolled = client
        .execute(
            "window.scrollTo(0, arguments[0]); return window.scrollY;",
            vec![json!(pixels)],
        )
        .await
        .expect("scroll down")
        .as_f64()
        .expect("scrollY is a number");
    assert!(
        scrolled >= f64::from(pixels) - 1.0,
        "the page scrolled down by {pixels} px (it did by {scrolled}): is the article long enough?"
    );
    scrolled
}

/// Marks the page: a reload (or any navigation) would lose the mark.
async fn mark_page(client: &Client) {
    client
        .execute("window.__marker = 1; return null;", vec![])
        .await
        .expect("mark the page");
}

/// The page's mark, scroll position, article text and the preview's reload count.
async fn page_state(client: &Client) -> Value {
    client
        .execute(
            "const article = document.querySelector('main article.kb'); \
             return { marker: window.__marker || null, scrollY: window.scrollY, \
                 text: article ? article.textContent : null, \
                 generation: document.body.dataset.previewGeneration || '0' };",
            vec![],
        )
        .await
        .expect("read the page's state")
}

/// Saves `content` at `path` the plain way (truncate and write), as many editors do.
fn save(path: &Path, content: &str) {
    std::fs::write(path, content).unwrap_or_else(|err| panic!("save {}: {err}", path.display()));
}

/// `markdown` with the paragraph that starts with `start` replaced by `paragraph`.
fn replace_paragraph(markdown: &str, start: &str, paragraph: &str) -> String {
    let blocks: Vec<&str> = markdown.split("\n\n").collect();
    let found = blocks
        .iter()
        .filter(|block| block.starts_with(start))
        .count();
    assert_eq!(found, 1, "one paragraph starts with `{start}`");
    blocks
        .iter()
        .map(|block| {
            if block.starts_with(start) {
                paragraph
            } else {
                block
            }
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Waits until the preview's article list has (or, with `present` false, no longer has) the
/// article at `path`.
async fn wait_for_list(client: &Client, path: &str, present: bool, what: &str) {
    wait_for_script(
        client,
        "const path = arguments[0], present = arguments[1]; \
         const list = document.getElementById('article-list'); \
         if (!list) return false; \
         const found = Array.from(list.querySelectorAll(':scope > li > span.meta')) \
             .some(function (meta) { return meta.textContent.split(' · ')[0] === path; }); \
         return found === present;",
        vec![json!(path), json!(present)],
        what,
    )
    .await;
}

/// GETs `url` and reads the body, expecting 200.
async fn get_text(client: &reqwest::Client, url: &str) -> String {
    let response = client
        .get(url)
        .send()
        .await
        .unwrap_or_else(|err| panic!("GET {url}: {err}"));
    let status = response.status();
    let body = response.text().await.expect("the body");
    assert_eq!(status, reqwest::StatusCode::OK, "GET {url}: {body}");
    body
}

// ---------------------------------------------------------------------------------------------
// Accessibility helpers
// ---------------------------------------------------------------------------------------------

/// Where `.ci/run` installs npm's `axe-core` (`npm install --prefix target/axe axe-core@…`).
const AXE_SCRIPT: &str = "target/axe/node_modules/axe-core/axe.min.js";

/// The rules axe runs: WCAG 2.0 and 2.1, levels A and AA, and axe's best practices.
const AXE_RUN: &str = r#"
const done = arguments[arguments.length - 1];
axe.run(document, { runOnly: { type: 'tag',
    values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } })
  .then(function (result) {
    done(result.violations.map(function (v) {
      return { id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.map(function (n) { return n.target.map(String).join(' '); }) };
    }));
  })
  .catch(function (err) { done({ error: String(err) }); });
"#;

/// axe-core's script, or `None` (skipped) when it is not installed; under CI (`CI` set) its
/// absence is a failure.
fn axe_source() -> Option<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(AXE_SCRIPT);
    match std::fs::read_to_string(&path) {
        Ok(source) => Some(source),
        Err(err) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "axe-core is required under CI at {}: {err} (npm install --prefix target/axe \
                 axe-core, as .ci/run does)",
                path.display()
            );
            eprintln!(
                "skipped: axe-core not installed at {} ({err}); run `npm install --prefix \
                 target/axe axe-core@4.14.1`",
                path.display()
            );
            None
        }
    }
}

/// axe-core's findings over several pages, asserted at the end so one run lists them all.
#[derive(Default)]
struct AxeReport {
    findings: Vec<String>,
}

impl AxeReport {
    /// Runs axe-core on the page the browser shows now, described as `what`.
    async fn check(&mut self, client: &Client, axe: &str, what: &str) {
        let injected = client
            .execute(&format!("{axe}\nreturn typeof window.axe;"), vec![])
            .await
            .unwrap_or_else(|err| panic!("inject axe-core into the {what}: {err}"));
        assert_eq!(injected, json!("object"), "axe-core loaded on the {what}");
        let result = client
            .execute_async(AXE_RUN, vec![])
            .await
            .unwrap_or_else(|err| panic!("run axe-core on the {what}: {err}"));
        let violations: Vec<Value> = serde_json::from_value(result.clone())
            .unwrap_or_else(|_| panic!("axe-core failed on the {what}: {result}"));
        for violation in &violations {
            let finding = format!(
                "{what}: {} ({}): {}; {}",
                violation["id"].as_str().unwrap_or("?"),
                violation["impact"].as_str().unwrap_or("?"),
                violation["help"].as_str().unwrap_or("?"),
                violation["nodes"]
            );
            eprintln!("axe: {finding}");
            self.findings.push(finding);
        }
        if violations.is_empty() {
            eprintln!("axe: {what}: no violations");
        }
    }

    /// [`AxeReport::check`] when axe-core is installed (without it the test checks the rest).
    async fn check_if(&mut self, client: &Client, axe: Option<&str>, what: &str) {
        if let Some(axe) = axe {
            self.check(client, axe, what).await;
        }
    }

    fn assert_clean(&self) {
        assert!(
            self.findings.is_empty(),
            "axe-core found {} violations:\n{}",
            self.findings.len(),
            self.findings.join("\n")
        );
    }
}

/// Types `key` into the sign-in form and sends it, as a person would.
async fn submit_key(client: &Client, key: &str) {
    let field = client
        .find(Locator::Css("input#key"))
        .await
        .expect("the key field");
    field.clear().await.expect("clear the key field");
    field.send_keys(key).await.expect("type the key");
    client
        .execute("window.kbsearchTestMark = 'before'; return null;", vec![])
        .await
        .expect("mark the page");
    client
        .find(Locator::Css(
            r#"form[action="/signin"] button[type=submit]"#,
        ))
        .await
        .expect("the sign-in button")
        .click()
        .await
        .expect("send the form");
    wait_for_script(
        client,
        "return window.kbsearchTestMark === undefined && document.readyState === 'complete';",
        vec![],
        "the answer to the sign-in form",
    )
    .await;
}

/// Opens `url` and waits until it has loaded.
async fn open_page(client: &Client, url: &str) {
    client
        .goto(url)
        .await
        .unwrap_or_else(|err| panic!("open {url}: {err}"));
    wait_for_script(
        client,
        "return document.readyState === 'complete';",
        vec![],
        &format!("{url} loaded"),
    )
    .await;
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
