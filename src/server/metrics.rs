//! Prometheus metrics: request counts and latency per route, index size and freshness, and what
//! the event store dropped and deleted. Rendered as the text format at `/metrics`. Every label
//! takes a bounded set of values: routes are patterns, methods the standard ones or `other`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tracing::debug;

use super::AppState;
use crate::events::StoreStats;
use crate::semantic::EmbedStatus;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

/// The kind of event: `search` or `deflection`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    kind: &'static str,
}

/// The service's metrics and their registry.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    documents: Gauge,
    last_commit: Gauge<f64, AtomicU64>,
    freshness: Histogram,
    pending: Gauge,
    embedded: Gauge,
    embed_pending: Gauge,
    embed_rate: Gauge<f64, AtomicU64>,
    requests_busy: Gauge,
    events_dropped: Family<EventLabels, Counter>,
    events_pruned: Family<EventLabels, Counter>,
    events_database_bytes: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("kbsearch");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route, method and status",
            requests.clone(),
        );
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            // 50 µs to about 1.6 s.
            Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
        });
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            latency.clone(),
        );
        let documents = Gauge::default();
        registry.register(
            "index_documents",
            "Documents in the index (all visibilities)",
            documents.clone(),
        );
        let last_commit = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "index_last_commit_timestamp_seconds",
            "Unix time of the index's last commit",
            last_commit.clone(),
        );
        // 10 ms to about 80 s.
        let freshness = Histogram::new(exponential_buckets(0.01, 2.0, 14));
        registry.register(
            "index_freshness_seconds",
            "Time from a file change being detected to it being searchable",
            freshness.clone(),
        );
        let pending = Gauge::default();
        registry.register(
            "index_pending_changes",
            "Changed paths detected and not yet searchable",
            pending.clone(),
        );
        let embedded = Gauge::default();
        registry.register(
            "semantic_articles_embedded",
            "Documents of the index with their vector (0 without a model)",
            embedded.clone(),
        );
        let embed_pending = Gauge::default();
        registry.register(
            "semantic_articles_pending",
            "Documents of the index still waiting for their vector, ranked lexically meanwhile",
            embed_pending.clone(),
        );
        let embed_rate = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "semantic_embedding_rate",
            "Articles embedded per second, recently",
            embed_rate.clone(),
        );
        let requests_busy = Gauge::default();
        registry.register(
            "semantic_requests_busy",
            "Drafts and queries ranked lexically since the service started because the model was \
             busy embedding another request",
            requests_busy.clone(),
        );
        let events_dropped = Family::<EventLabels, Counter>::default();
        registry.register(
            "events_dropped",
            "Events not written, by kind: search and click events over the event database's \
             size cap, or when its queue was full or their batch failed; drafts answered while \
             the event database was unavailable (outcomes never are: they answer 503)",
            events_dropped.clone(),
        );
        let events_pruned = Family::<EventLabels, Counter>::default();
        registry.register(
            "events_pruned",
            "Events deleted past the retention period or to make room under the size cap, by \
             kind (a deflection goes with its suggestions and feedback, a search with its \
             clicks)",
            events_pruned.clone(),
        );
        let events_database_bytes = Gauge::default();
        registry.register(
            "events_database_bytes",
            "Bytes of the event database as last measured: pages in use and write-ahead log",
            events_database_bytes.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            documents,
            last_commit,
            freshness,
            pending,
            embedded,
            embed_pending,
            embed_rate,
            requests_busy,
            events_dropped,
            events_pruned,
            events_database_bytes,
        }
    }

    /// Takes the event store's counts, before [`Metrics::render`]. The store counts since it
    /// opened, which is when the service started, so its totals are the counters' values.
    pub fn observe_events(&self, stats: &StoreStats) {
        let set = |family: &Family<EventLabels, Counter>, kind, total| {
            family
                .get_or_create(&EventLabels { kind })
                .inner()
                .store(total, Ordering::Relaxed);
        };
        set(&self.events_dropped, "search", stats.dropped_searches);
        set(&self.events_dropped, "click", stats.dropped_clicks);
        set(&self.events_pruned, "search", stats.pruned_searches);
        set(&self.events_pruned, "deflection", stats.pruned_deflections);
        set(&self.events_pruned, "vote", stats.pruned_votes);
        set(&self.events_pruned, "click", stats.pruned_clicks);
        self.events_database_bytes
            .set(i64::try_from(stats.database_bytes).unwrap_or(i64::MAX));
    }

    /// Counts a draft answered without being recorded (the event store unavailable); the total.
    pub fn count_unrecorded_draft(&self) -> u64 {
        self.events_dropped
            .get_or_create(&EventLabels { kind: "deflection" })
            .inc()
            + 1
    }

    /// Records how long changes took to become searchable.
    pub fn observe_freshness(&self, delays: &[std::time::Duration]) {
        for delay in delays {
            self.freshness.observe(delay.as_secs_f64());
        }
    }

    /// The text exposition, after refreshing the index and embedding gauges.
    pub fn render(
        &self,
        documents: u64,
        last_commit: Option<i64>,
        pending: usize,
        semantic: Option<&EmbedStatus>,
    ) -> String {
        if let Some(status) = semantic {
            self.embedded.set(status.embedded as i64);
            self.embed_pending.set(status.pending as i64);
            self.embed_rate.set(status.per_second);
            self.requests_busy.set(status.requests_busy as i64);
        }
        self.documents.set(documents as i64);
        self.pending.set(pending as i64);
        if let Some(at) = last_commit {
            self.last_commit.set(at as f64);
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// The route label of a request that matched no route: never its path, which would add a label
/// value per path tried.
const UNMATCHED: &str = "unmatched";

/// The method as a label value: a standard method by its name, any other `other`. HTTP lets a
/// client invent methods (`FOO /api/search` is a valid request), and each one would otherwise
/// add label values for ever.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// Middleware: times every request and counts it by route (the pattern, not the raw path), and
/// by method; both labels take a bounded set of values.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED.to_string(), |m| m.as_str().to_string());
    let method = method_label(request.method()).to_string();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    debug!(
        route,
        method,
        status,
        micros = elapsed.as_micros() as u64,
        "request"
    );
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            route: route.clone(),
            method,
            status,
        })
        .inc();
    state
        .metrics
        .latency
        .get_or_create(&RouteLabels { route })
        .observe(elapsed.as_secs_f64());
    response
}
