//! JSON endpoints: search, suggestions, articles, status, and the operations probes.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::Query;
use axum_extra::extract::QueryRejection;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::ApiError;
use super::{AppState, Caller};
use crate::content::article::{ArticleType, Visibility};
use crate::events::SearchEvent;
use crate::search::lexicon::Suggestion;
use crate::search::{Hit, SearchRequest, SearchResults, SortOrder, VersionSupport};

/// Most suggestions returned by `/api/suggest`.
const MAX_SUGGESTIONS: usize = 8;

/// Query parameters of `/api/search` and of the search page, as received.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SearchParams {
    #[serde(default)]
    pub q: String,
    #[serde(default, rename = "type")]
    pub types: Vec<String>,
    pub product: Option<String>,
    pub version: Option<String>,
    #[serde(default)]
    pub tag: Vec<String>,
    pub page: Option<String>,
    pub per_page: Option<String>,
    pub sort: Option<String>,
}

/// Query string parsing whose failures are JSON 400s, not axum's plain-text rejections.
pub fn params<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query.map(|Query(params)| params).map_err(|rejection| {
        ApiError::BadRequest(format!("query string: {}", rejection.body_text()))
    })
}

fn positive(parameter: &str, value: Option<&str>, default: usize) -> Result<usize, ApiError> {
    let Some(text) = value.filter(|v| !v.trim().is_empty()) else {
        return Ok(default);
    };
    match text.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(ApiError::parameter(
            parameter,
            format!("`{text}` is not a whole number from 1"),
        )),
    }
}

impl SearchParams {
    /// Checks every parameter against the limits and builds the library request.
    pub fn to_request(&self, caller: Caller, state: &AppState) -> Result<SearchRequest, ApiError> {
        let limits = &state.config.limits;
        let chars = self.q.chars().count();
        if chars > limits.max_query_chars {
            return Err(ApiError::parameter(
                "q",
                format!(
                    "is {chars} characters long; the limit is {}",
                    limits.max_query_chars
                ),
            ));
        }
        let per_page = positive("per_page", self.per_page.as_deref(), 10)?;
        if per_page > limits.max_per_page {
            return Err(ApiError::parameter(
                "per_page",
                format!("{per_page} is over the limit of {}", limits.max_per_page),
            ));
        }
        let page = positive("page", self.page.as_deref(), 1)?;
        let depth = page.saturating_mul(per_page);
        if depth > limits.max_result_depth {
            return Err(ApiError::parameter(
                "page",
                format!(
                    "results beyond the first {} cannot be paged to; refine the query",
                    limits.max_result_depth
                ),
            ));
        }
        let types = self
            .types
            .iter()
            .filter(|t| !t.is_empty())
            .map(|t| {
                t.parse::<ArticleType>()
                    .map_err(|reason| ApiError::parameter("type", reason))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let sort = match self.sort.as_deref().unwrap_or("relevance") {
            "" | "relevance" => SortOrder::Relevance,
            "updated" => SortOrder::Updated,
            other => {
                return Err(ApiError::parameter(
                    "sort",
                    format!("`{other}` is not one of: relevance, updated"),
                ));
            }
        };
        let non_empty = |value: &Option<String>| value.clone().filter(|v| !v.trim().is_empty());
        Ok(SearchRequest {
            types,
            product: non_empty(&self.product),
            version: non_empty(&self.version),
            tags: self.tag.iter().filter(|t| !t.is_empty()).cloned().collect(),
            audience: caller.audience(),
            include_drafts: caller.drafts,
            limit: per_page,
            offset: (page - 1) * per_page,
            sort,
            facets: true,
            ..SearchRequest::new(self.q.clone())
        })
    }
}

/// Path of an article page.
pub fn article_url(id: &str) -> String {
    format!("/articles/{id}")
}

#[derive(Serialize)]
struct ApiSection {
    heading: String,
    anchor: String,
    url: String,
}

#[derive(Serialize)]
struct ApiHit {
    id: String,
    title: String,
    #[serde(rename = "type")]
    kind: String,
    url: String,
    /// HTML: matches in `<mark>`, everything else escaped.
    snippet: String,
    section: Option<ApiSection>,
    score: f32,
    product: Option<String>,
    versions: Vec<String>,
    support: Vec<VersionSupport>,
    end_of_support: bool,
    tags: Vec<String>,
    updated: Option<chrono::NaiveDate>,
    summary: String,
}

impl From<Hit> for ApiHit {
    fn from(hit: Hit) -> Self {
        let url = article_url(&hit.info.id);
        ApiHit {
            section: hit.section.map(|s| ApiSection {
                url: format!("{url}#{}", s.anchor),
                heading: s.heading,
                anchor: s.anchor,
            }),
            snippet: hit.snippet.to_html(),
            id: hit.info.id,
            title: hit.info.title,
            kind: hit.info.kind,
            url,
            score: hit.score,
            product: hit.info.product,
            versions: hit.info.versions,
            support: hit.info.support,
            end_of_support: hit.info.end_of_support,
            tags: hit.info.tags,
            updated: hit.info.updated,
            summary: hit.info.summary,
        }
    }
}

/// Runs a search on the search threads; shared by the API and the search page.
pub async fn run_search(
    state: &AppState,
    request: SearchRequest,
) -> Result<(Arc<SearchResults>, u64), ApiError> {
    let searcher = state.searcher()?;
    let started = std::time::Instant::now();
    let results = match searcher.cached(&request) {
        Some(results) => results,
        None => {
            state
                .search_pool
                .run(move || searcher.search_cached(&request))
                .await??
        }
    };
    Ok((results, started.elapsed().as_millis() as u64))
}

/// Counts a search for the analytics (top queries, queries without results); never waits.
pub fn record_search(state: &AppState, query: &str, total: usize, audience: Visibility) {
    if let Some(events) = &state.events {
        events.record_search(SearchEvent {
            at: chrono::Utc::now(),
            query: query.to_string(),
            total: total as u64,
            audience: audience.as_str().to_string(),
        });
    }
}

/// `GET /api/search`
pub async fn search(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let params = params(query)?;
    let request = params.to_request(caller, &state)?;
    let (page, per_page) = (request.offset / request.limit + 1, request.limit);
    let audience = request.audience;
    let (results, took_ms) = run_search(&state, request).await?;
    record_search(&state, &params.q, results.total, audience);
    let hits: Vec<ApiHit> = results.hits.iter().cloned().map(ApiHit::from).collect();
    Ok(Json(json!({
        "query": params.q,
        "total": results.total,
        "page": page,
        "per_page": per_page,
        "took_ms": took_ms,
        "hits": hits,
        "facets": results.facets,
        "did_you_mean": results.did_you_mean,
        "notices": results.notices,
    })))
}

#[derive(Deserialize)]
pub struct SuggestParams {
    #[serde(default)]
    q: String,
}

/// `GET /api/suggest`
pub async fn suggest(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<SuggestParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let params = params(query)?;
    let limit = state.config.limits.max_query_chars;
    if params.q.chars().count() > limit {
        return Err(ApiError::parameter(
            "q",
            format!("is longer than {limit} characters"),
        ));
    }
    let searcher = state.searcher()?;
    // In-memory lookups of a few microseconds: no need for the blocking pool.
    let suggestions: Vec<Suggestion> =
        searcher.suggest(&params.q, caller.audience(), MAX_SUGGESTIONS);
    Ok(Json(
        json!({ "query": params.q, "suggestions": suggestions }),
    ))
}

/// `GET /api/articles/{id}`: the article as JSON, rendered HTML included.
pub async fn article(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let searcher = state.searcher()?;
    let page = tokio::task::spawn_blocking(move || {
        super::pages::load_article(&searcher, &id, caller.audience(), caller.drafts)
    })
    .await??;
    let (article, html) = page;
    Ok(Json(json!({
        "id": article.info.id,
        "title": article.info.title,
        "type": article.info.kind,
        "url": article_url(&article.info.id),
        "product": article.info.product,
        "versions": article.info.versions,
        "support": article.info.support,
        "end_of_support": article.info.end_of_support,
        "tags": article.info.tags,
        "updated": article.info.updated,
        "summary": article.info.summary,
        "sections": article.sections.iter().map(|s| json!({"heading": s.text, "anchor": s.anchor, "level": s.level})).collect::<Vec<_>>(),
        "html": html,
        "markdown": article.markdown,
    })))
}

/// `GET /api/status` (agent key): index state, watcher, pending changes and per-file problems.
pub async fn status(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    if !caller.is_agent() {
        return Err(ApiError::Forbidden);
    }
    let problems = state.problems.load_full();
    let errors = problems.iter().filter(|p| p.is_error()).count();
    let searcher = state.searcher.load_full();
    let mut index = json!({
        "ready": searcher.is_some(),
        "folder": state.config.index.display().to_string(),
        "documents": searcher.as_ref().map(|s| s.num_docs()),
        "last_commit": searcher.as_ref().and_then(|s| s.last_commit()),
    });
    if let Some(live) = &state.live {
        let status = live.status();
        index["generation"] = json!(status.opstamp);
        index["batches"] = json!(status.batches);
        index["pending_changes"] = json!(status.pending);
        index["watching"] = json!(status.watching);
        index["reconciled_at"] = json!(status.reconciled_at);
        index["last_changes"] = json!(status.last_changes);
        index["last_error"] = json!(status.last_error);
    }
    Ok(Json(json!({
        "index": index,
        "content": {
            "folder": state.config.kb.display().to_string(),
            "errors": errors,
            "warnings": problems.len() - errors,
            "problems": *problems,
        },
    })))
}

/// `POST /api/reindex` (agent key): compare the whole content folder with the index now, as
/// `kbsearch index` would; answered at once, the work runs on the indexer thread.
pub async fn reindex(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if !caller.is_agent() {
        return Err(ApiError::Forbidden);
    }
    let Some(live) = &state.live else {
        return Err(ApiError::Conflict(
            "this service does not own its index (it was started without the live indexer)"
                .to_string(),
        ));
    };
    if !live.reconcile("requested over HTTP") {
        return Err(ApiError::NotReady);
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"status": "accepted", "generation": live.status().opstamp})),
    ))
}

/// `GET /healthz`: the process is up.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: the index is open and answers.
pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.searcher.load_full() {
        Some(searcher) => {
            Json(json!({"status": "ready", "documents": searcher.num_docs()})).into_response()
        }
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "starting"})),
        )
            .into_response(),
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let searcher = state.searcher.load_full();
    let documents = searcher.as_ref().map_or(0, |s| s.num_docs());
    let last_commit = searcher.as_ref().and_then(|s| s.last_commit());
    let pending = state.live.as_ref().map_or(0, |live| live.status().pending);
    let body = state.metrics.render(documents, last_commit, pending);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// Unknown routes under `/api`.
pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("route {}", uri.path()))
}
