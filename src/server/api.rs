//! JSON endpoints: search, suggestions, articles, status, and the operations probes.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::Query;
use axum_extra::extract::QueryRejection;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::ApiError;
use super::requests::{SearchParams, article_url, load_article, record_search_with, run_search};
use super::{AppState, Caller};
use crate::content::article::Visibility;
use crate::search::Hit;
use crate::search::VersionSupport;
use crate::search::lexicon::Suggestion;

/// Most suggestions returned by `/api/suggest`.
const MAX_SUGGESTIONS: usize = 8;

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

/// `GET /api/search`
pub async fn search(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = query?;
    let request = params.to_request(caller, &state)?;
    let (page, per_page) = (request.offset / request.limit + 1, request.limit);
    let audience = request.audience;
    let (results, took_ms) = run_search(&state, request).await?;
    record_search_with(
        &state,
        &params.q,
        results.total,
        audience,
        None,
        params.product.as_deref(),
    );
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
    let Query(params) = query?;
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

/// `GET /api/articles/{id}`: the article as JSON, rendered HTML included. Only agents get the
/// `markdown` source: it carries what the page leaves out (links to articles the caller may not
/// see, writers' HTML comments), so everyone else gets only what the page shows.
pub async fn article(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let searcher = state.searcher()?;
    let page = tokio::task::spawn_blocking(move || {
        load_article(&searcher, &id, caller.audience(), caller.drafts)
    })
    .await??;
    let (article, html) = page;
    let mut body = json!({
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
    });
    if caller.is_agent() {
        body["markdown"] = json!(article.markdown);
    }
    Ok(Json(body))
}

/// `GET /api/status` (agent key): index state, watcher, pending changes, the semantic layer's
/// progress (articles embedded, pending, per second) and per-file problems.
pub async fn status(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.require_agent()?;
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
        index["rearmed_at"] = json!(status.rearmed_at);
        index["rearms"] = json!(status.rearms);
        index["reconciled_at"] = json!(status.reconciled_at);
        index["last_changes"] = json!(status.last_changes);
        index["last_error"] = json!(status.last_error);
    }
    // Without a model: `null`, everything is lexical.
    let semantic = state.semantic.as_ref().map(|semantic| semantic.status());
    // Which store keeps the events and whether it answers; `null` without one.
    let events = state.events.as_ref().map(|events| events.status());
    Ok(Json(json!({
        "index": index,
        "semantic": semantic,
        "events": events,
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
    caller.require_agent()?;
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

/// `GET /readyz`: the index is open and answers. Anyone may ask, so it counts only the articles
/// an anonymous caller may see: adding or changing a hidden or draft article changes nothing here.
pub async fn readyz(State(state): State<AppState>) -> Result<Response, ApiError> {
    let Some(searcher) = state.searcher.load_full() else {
        return Ok((
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "starting"})),
        )
            .into_response());
    };
    let documents =
        tokio::task::spawn_blocking(move || searcher.documents_visible_to(Visibility::Public))
            .await??;
    Ok(Json(json!({"status": "ready", "documents": documents})).into_response())
}

/// `GET /metrics` (agent key): Prometheus text format. It counts every document and every
/// request, and its index gauges move when any article changes, hidden ones included, so only
/// support staff (and the Prometheus that scrapes with an agent key) may read it.
pub async fn metrics(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require_agent()?;
    let searcher = state.searcher.load_full();
    let documents = searcher.as_ref().map_or(0, |s| s.num_docs());
    let last_commit = searcher.as_ref().and_then(|s| s.last_commit());
    let pending = state.live.as_ref().map_or(0, |live| live.status().pending);
    if let Some(events) = &state.events {
        state.metrics.observe_events(&events.stats());
    }
    let semantic = state.semantic.as_ref().map(|semantic| semantic.status());
    let body = state
        .metrics
        .render(documents, last_commit, pending, semantic.as_ref());
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response())
}

/// Unknown routes under `/api`.
pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("route {}", uri.path()))
}
