//! The HTTP service: the search API, article pages, the search page and the operations
//! endpoints, over one [`KbSearcher`]. Handlers only extract, call the library and serialize;
//! searches and deflections run on the search threads (`search_pool`), other tantivy work on
//! the blocking pool, never on the async runtime.
//!
//! Only this file names the handler modules (`api`, `pages`, `deflect`, `preview`, `signin`), to
//! route to them; they never import one another. What they share is in `requests` (parameters,
//! searches, articles, cases, links), `session` (who is signed in on pages), `layout` (the page
//! shell) and `error` (the one place errors become responses). [`Service`] starts and stops the
//! whole service for `kbsearch serve` and `kbsearch preview`.

mod api;
mod auth;
mod clicks;
pub mod connections;
mod deflect;
mod error;
mod insights;
mod layout;
pub mod metrics;
mod openapi;
mod pages;
mod preview;
mod rate_limit;
mod requests;
mod search_pool;
mod security;
mod session;
mod signin;
mod start;
mod votes;

pub use self::connections::{ConnectionLimits, LocalAddr, serve};
pub use self::start::{Mode, Service, StartError};

use std::sync::Arc;
use std::time::Duration;

use arc_swap::{ArcSwap, ArcSwapOption};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnFailure, TraceLayer};
use tracing::Level;

pub use self::auth::Caller;
pub use self::error::ApiError;
use self::metrics::Metrics;
use self::rate_limit::{Budget, RateLimits};
use self::search_pool::SearchPool;
use self::security::BrowserPolicy;
/// The guard of pages only agents may open (none yet: the dashboard will be the first).
pub use self::session::AgentPage;
use self::session::Sessions;
use crate::config::Config;
use crate::content::problem::Problem;
use crate::events::EventStore;
use crate::ingest::live::{LiveHandle, Published};
use crate::search::KbSearcher;
use crate::search::facets::FacetCache;
use crate::semantic::{EmbedderHandle, Semantic};

/// Every route the service answers, as documented in `/api/openapi.json`.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/"),
    ("get", "/articles/{id}"),
    ("get", "/api/search"),
    ("get", "/api/suggest"),
    ("get", "/api/articles/{id}"),
    ("get", "/api/status"),
    ("post", "/api/reindex"),
    ("post", "/api/deflect"),
    ("post", "/api/deflect/{deflection_id}/feedback"),
    ("get", "/api/analytics/deflection"),
    ("get", "/api/analytics/search"),
    ("get", "/case"),
    ("post", "/case"),
    ("get", "/signin"),
    ("post", "/signin"),
    ("post", "/signout"),
    ("get", "/insights"),
    ("get", "/insights/{file}"),
    ("post", "/vote"),
    ("post", "/click"),
    ("get", "/api/openapi.json"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
];

/// Shared state of all handlers: cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    /// Empty until the index is open; replaced when a new generation is swapped in.
    pub searcher: Arc<ArcSwapOption<KbSearcher>>,
    /// Facet tables of index segments, shared by the searchers of successive commits.
    facet_cache: Arc<FacetCache>,
    /// Problems of the content folder, as the last index refresh reported them.
    pub problems: Arc<ArcSwap<Vec<Problem>>>,
    pub metrics: Arc<Metrics>,
    /// Budgets per client address for the routes that write, sign-in attempts and, if
    /// configured, search.
    rate_limits: Arc<RateLimits>,
    /// Signs and reads the agents' session cookies.
    sessions: Arc<Sessions>,
    /// The threads that compute searches and deflections, one per core.
    pub search_pool: SearchPool,
    /// The live indexer, when this service keeps the index current itself.
    pub live: Option<LiveHandle>,
    /// Where deflection events and search analytics are recorded.
    pub events: Option<Arc<dyn EventStore>>,
    /// The writers' preview: drafts and every visibility level, labelled as such.
    pub preview: bool,
    /// Becomes true when the service is asked to stop, so long-lived streams end.
    pub stopping: tokio::sync::watch::Receiver<bool>,
    /// The sentence-embedding layer, when a model is configured.
    pub semantic: Option<Arc<Semantic>>,
    /// Where new snapshots go to have their articles embedded.
    embedder: Option<EmbedderHandle>,
}

impl AppState {
    pub fn new(config: Config) -> Self {
        AppState {
            rate_limits: Arc::new(RateLimits::new(&config.rate_limit)),
            sessions: Arc::new(Sessions::new(&config)),
            config: Arc::new(config),
            searcher: Arc::new(ArcSwapOption::empty()),
            facet_cache: Arc::default(),
            problems: Arc::new(ArcSwap::from_pointee(Vec::new())),
            metrics: Arc::new(Metrics::new()),
            search_pool: SearchPool::for_cores(),
            live: None,
            events: None,
            preview: false,
            stopping: tokio::sync::watch::channel(false).1,
            semantic: None,
            embedder: None,
        }
    }

    /// The same state, ranking with `semantic` and handing each new snapshot to `embedder`.
    pub fn with_semantic(self, semantic: Arc<Semantic>, embedder: Option<EmbedderHandle>) -> Self {
        AppState {
            semantic: Some(semantic),
            embedder,
            ..self
        }
    }

    /// The same state, as the writers' preview: drafts and every visibility level are shown.
    pub fn for_preview(self) -> Self {
        AppState {
            preview: true,
            ..self
        }
    }

    /// The same state, ending long-lived streams when `stopping` turns true.
    pub fn with_stopping(self, stopping: tokio::sync::watch::Receiver<bool>) -> Self {
        AppState { stopping, ..self }
    }

    /// The same state, recording events in `events`.
    pub fn with_events(self, events: Arc<dyn EventStore>) -> Self {
        AppState {
            events: Some(events),
            ..self
        }
    }

    /// The same state, with the live indexer's handle for status and reindex requests.
    pub fn with_live(self, live: LiveHandle) -> Self {
        AppState {
            live: Some(live),
            ..self
        }
    }

    /// Takes what the live indexer published after a batch: a new snapshot (its searcher is
    /// swapped in whole), the folder's problems, and how fresh the changes are.
    pub fn publish(&self, published: Published) {
        if let Some(snapshot) = published.snapshot {
            // The preview shows each save at once; caching pages there would only cost memory.
            let cache_entries = if self.preview {
                0
            } else {
                self.config.limits.cache_entries
            };
            if let Some(embedder) = &self.embedder {
                embedder.offer(snapshot.searcher.clone());
            }
            match KbSearcher::from_snapshot(snapshot, self.facet_cache.clone(), cache_entries) {
                Ok(searcher) => self.searcher.store(Some(Arc::new(
                    searcher.with_semantic(self.semantic.clone()),
                ))),
                Err(err) => tracing::error!("cannot search the new commit: {err}"),
            }
        }
        self.problems.store(published.problems);
        self.metrics.observe_freshness(&published.freshness);
    }

    /// The searcher, or 503 while the index is still being opened.
    pub fn searcher(&self) -> Result<Arc<KbSearcher>, ApiError> {
        self.searcher.load_full().ok_or(ApiError::NotReady)
    }
}

/// The whole application: routes, rate limits, limits, timeouts, metrics, security headers and
/// request logs.
pub fn router(state: AppState) -> Router {
    let limits = &state.config.limits;
    let writes =
        axum::middleware::from_fn_with_state((state.clone(), Budget::Writes), rate_limit::limit);
    let searches =
        axum::middleware::from_fn_with_state((state.clone(), Budget::Search), rate_limit::limit);
    let sign_ins =
        axum::middleware::from_fn_with_state((state.clone(), Budget::SignIn), rate_limit::limit);
    // Outermost on every form post: a form from another site is refused before it costs a budget.
    let same_origin = || axum::middleware::from_fn(security::same_origin_form);
    let api = Router::new()
        .route("/search", get(api::search).layer(searches.clone()))
        .route("/suggest", get(api::suggest).layer(searches.clone()))
        .route("/articles/{*id}", get(api::article))
        .route("/status", get(api::status))
        .route("/reindex", post(api::reindex))
        .route("/deflect", post(deflect::deflect).layer(writes.clone()))
        .route(
            "/deflect/{deflection_id}/feedback",
            post(deflect::feedback).layer(writes.clone()),
        )
        .route("/analytics/deflection", get(deflect::deflection_analytics))
        .route("/analytics/search", get(deflect::search_analytics))
        .route("/openapi.json", get(openapi::document))
        .fallback(api::not_found);
    let app = Router::new()
        .route("/", get(pages::search_page).layer(searches))
        .route("/articles/{*id}", get(pages::article_page))
        .route(
            "/case",
            get(pages::case_page).merge(
                post(pages::case_submitted)
                    .layer(writes.clone())
                    .layer(same_origin()),
            ),
        )
        .route(
            "/signin",
            get(signin::signin_page)
                .merge(post(signin::sign_in).layer(sign_ins).layer(same_origin())),
        )
        .route("/signout", post(signin::sign_out).layer(same_origin()))
        .route("/insights", get(insights::insights_page))
        .route("/insights/{file}", get(insights::insights_csv))
        .route(
            "/vote",
            post(votes::vote).layer(writes.clone()).layer(same_origin()),
        )
        .route(
            "/click",
            post(clicks::click)
                .layer(writes.clone())
                .layer(same_origin()),
        )
        .route("/assets/{file}", get(pages::asset))
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .route("/metrics", get(api::metrics))
        .nest("/api", api)
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn(session::private_when_signed_in))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(limits.request_timeout_secs),
        ));
    with_security_headers(app, &state.config)
        // Request spans and failures at debug: a 503 from /readyz while starting is not an
        // error, and real internal errors are logged once, where they become responses.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::DEBUG))
                .on_failure(DefaultOnFailure::new().level(Level::DEBUG)),
        )
        .with_state(state)
}

/// `router` with the security headers (`security`) on every response.
fn with_security_headers<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    config: &Config,
) -> Router<S> {
    router.layer(axum::middleware::from_fn_with_state(
        Arc::new(BrowserPolicy::new(&config.server)),
        security::add_headers,
    ))
}

/// The production router with the writers' preview routes, its banner on every page, and only
/// for requests to localhost.
pub fn preview_router(state: AppState) -> Router {
    let preview = Router::new()
        .route("/preview", get(preview::article_list))
        .route("/preview/events", get(preview::events))
        .route("/preview/api/article", get(preview::article_details))
        .route("/preview/api/rank", get(preview::rank))
        .with_state(state.clone());
    let app = router(state.clone())
        .merge(preview)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            preview::add_banner,
        ))
        // Before anything else: a page of another site reaching the preview by DNS rebinding.
        .layer(axum::middleware::from_fn(preview::only_local_hosts));
    // Layers apply to the routes already there: the preview's own routes need the headers too
    // (the production ones get the same values again).
    with_security_headers(app, &state.config)
}
