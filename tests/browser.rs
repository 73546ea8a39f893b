//! End to end in a real browser: headless Chromium, driven through chromedriver with
//! fantoccini, against a real kbsearch HTTP server on a socket, serving an index of the
//! repository's sample knowledge base (`kb/`).
//!
//! Covered: results update while the customer types (without submitting the form), with the
//! best hit first and highlighted snippets; a type facet link filters the results; a hit's title
//! opens its article page; the search box has the focus on page load, so typing straight away
//! searches; and the page still answers with server-rendered results when no script runs.
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
use indicatif::ProgressBar;
use kbsearch::config::Config;
use kbsearch::indexer::{self, IndexOptions};
use kbsearch::search::KbSearcher;
use kbsearch::server::{self, AppState};
use serde_json::{Value, json};
use tempfile::TempDir;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Longest wait for any one condition in the page (results, navigation, start-up).
const WAIT: Duration = Duration::from_secs(10);
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
            heading, None,
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
                .attr("aria-pressed")
                .await
                .expect("aria-pressed")
                .as_deref(),
            Some("true"),
            "the chosen facet shows as pressed"
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
// The server
// ---------------------------------------------------------------------------------------------

/// kbsearch on a real socket, over a fresh index of `kb/`; stops when dropped.
struct Server {
    base: String,
    task: tokio::task::JoinHandle<()>,
    _dir: TempDir,
}

impl Server {
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
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free local port");
        let address = listener.local_addr().expect("the server's address");
        let task = tokio::spawn(async move {
            axum::serve(listener, server::router(state))
                .await
                .expect("serve HTTP");
        });
        Server {
            base: format!("http://{address}"),
            task,
            _dir: dir,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Indexes the content folder and opens the index, off the async threads.
async fn open_index(kb: PathBuf, index: PathBuf) -> KbSearcher {
    tokio::task::spawn_blocking(move || {
        indexer::refresh(&IndexOptions::new(&kb, &index), &ProgressBar::hidden())
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

/// Runs `scenario` in a fresh headless Chromium against a fresh server, and closes the browser
/// even when the scenario fails. Skips (or fails under CI) when the browser is not installed.
async fn in_browser<S, F>(scenario: S)
where
    S: FnOnce(Client, String) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    if !browser_installed() {
        return;
    }
    let _turn = ONE_BROWSER_AT_A_TIME.lock().await;
    let server = Server::start().await;
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

/// The page's `h1`, if it has one (error pages do; the search page does not).
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
