//! Shared test support: a content folder in a temp dir, filled file by file, with a real index
//! beside it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use indicatif::ProgressBar;
use kbsearch::article::Visibility;
use kbsearch::indexer::{self, IndexOptions, IndexReport};
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
    pub max_file_bytes: u64,
}

impl Kb {
    pub fn new() -> Kb {
        let tmp = tempfile::tempdir().expect("temp dir");
        let kb = tmp.path().join("kb");
        let index = tmp.path().join("index");
        std::fs::create_dir_all(&kb).expect("create kb");
        let fixture = Kb {
            _tmp: tmp,
            kb,
            index,
            max_file_bytes: kbsearch::scan::DEFAULT_MAX_FILE_BYTES,
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
        indexer::refresh(&options, &ProgressBar::hidden()).expect("index refresh")
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

/// A customer key and an agent key used by the HTTP fixtures.
pub const CUSTOMER_KEY: &str = "customer-key-0123456789";
pub const AGENT_KEY: &str = "agent-key-0123456789abc";

impl Kb {
    /// The service over this folder (indexed first), with one customer and one agent key.
    pub fn app(&self) -> axum::Router {
        kbsearch::server::router(self.app_state())
    }

    pub fn app_state(&self) -> kbsearch::server::AppState {
        let report = self.index();
        let config = kbsearch::config::Config {
            kb: self.kb.clone(),
            index: self.index.clone(),
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
        };
        let state = kbsearch::server::AppState::new(config);
        state.problems.store(std::sync::Arc::new(report.problems));
        state
            .searcher
            .store(Some(std::sync::Arc::new(self.searcher())));
        state
    }
}

/// A response read whole.
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {}", self.body))
    }
}

/// Sends one GET through the router without a socket, with an optional bearer key.
pub async fn get(app: &axum::Router, uri: &str, key: Option<&str>) -> Reply {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let mut request = axum::http::Request::get(uri);
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    let response = app
        .clone()
        .oneshot(request.body(axum::body::Body::empty()).expect("request"))
        .await
        .expect("infallible router");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
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
    }
}
