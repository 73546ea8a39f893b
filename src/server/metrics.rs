//! Prometheus metrics: request counts and latency per route, index size and freshness. Rendered
//! as the text format at `/metrics`.

use std::sync::atomic::AtomicU64;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
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
        }
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

/// Middleware: times every request and counts it by route (the pattern, not the raw path).
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let method = request.method().to_string();
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
