//! The writers' preview: the production routes and pages over a temporary index of the content
//! folder, with drafts and every visibility level shown, plus what writers need beside them:
//! a banner on every page, live reload after each index commit (Server-Sent Events), the list of
//! articles with their problems, a problem panel and a ranking box on each article page.
//!
//! Production rendering is not touched: the preview adds its banner and script to the HTML
//! responses on the way out, and `assets/preview.js` asks the `/preview/api/…` routes for the
//! problems and ranks it shows. `preview_router` (in `mod.rs`, beside the production router)
//! adds these routes and the banner to the production ones.
//!
//! The preview shows drafts and internal articles to whoever asks, which is safe only because it
//! listens on 127.0.0.1. A web page can still reach it through DNS rebinding (its own name made
//! to resolve to 127.0.0.1, so the browser lets it read the answers); such requests carry the
//! page's name in `Host`, so the preview answers only `localhost`, `127.0.0.1` and `[::1]` with
//! its own port, and 421 to any other name.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use maud::html;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_stream::wrappers::WatchStream;

use super::AppState;
use super::connections::LocalAddr;
use super::error::{ApiError, PageError};
use super::layout::layout;
use super::requests::article_url;
use crate::content::problem::Problem;
use crate::ingest::live::IndexStatus;
use crate::quality::rank_check::RankCheck;

/// Largest HTML page the banner is added to; bigger bodies pass through unchanged.
const MAX_INJECT_BYTES: usize = 8 * 1024 * 1024;
/// Deepest rank the ranking box looks at.
const RANK_DEPTH: usize = 50;

/// Middleware: answers only requests for `localhost`, `127.0.0.1` or `[::1]` at the port the
/// request came in on; any other `Host` gets 421. A request without `Host` is not from a browser
/// (every browser sends it), so no rebinding page can be behind it.
pub async fn only_local_hosts(request: Request, next: Next) -> Response {
    let port = request
        .extensions()
        .get::<LocalAddr>()
        .map(|LocalAddr(address)| address.port());
    let host = match request.headers().get(header::HOST) {
        Some(value) => value.to_str().ok(),
        None => match request.uri().authority() {
            Some(authority) => Some(authority.as_str()),
            None => return next.run(request).await,
        },
    };
    if host.is_some_and(|host| is_local_host(host, port)) {
        return next.run(request).await;
    }
    let address = port.map_or_else(|| "its own port".to_string(), |port| port.to_string());
    PageError::new(
        StatusCode::MISDIRECTED_REQUEST,
        "Open the preview at localhost",
        format!(
            "The preview answers only at http://127.0.0.1:{address}/ or http://localhost:{address}/; \
             this request was for `{}`. Drafts and internal articles are not shown to pages of \
             other sites.",
            host.unwrap_or("an unreadable host")
        ),
    )
    .into_response()
}

/// Whether `host` (a `Host` header) names this machine's loopback at `port` (`None`: any port).
fn is_local_host(host: &str, port: Option<u16>) -> bool {
    let (name, written_port) = match host.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((address, rest)) => (address, rest.strip_prefix(':')),
            None => return false,
        },
        None => match host.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        },
    };
    let local_name = name.eq_ignore_ascii_case("localhost") || name == "127.0.0.1" || name == "::1";
    // Browsers leave out only the default port.
    let written_port = match written_port {
        Some(text) => text.parse::<u16>().ok(),
        None => Some(80),
    };
    local_name && port.is_none_or(|port| written_port == Some(port))
}

/// The live indexer's count of applied batches, if the preview has one.
fn batches(state: &AppState) -> Option<u64> {
    state.live.as_ref().map(|live| live.status().batches)
}

/// Adds the preview banner and script to every HTML page, and marks the page with the batch it
/// is at least as new as (`data-preview-batch`), so its live-reload stream can tell it about a
/// batch applied before the stream connected.
pub async fn add_banner(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // Read before the page is rendered: a searcher is published before its batch is counted, so
    // the page has every batch up to this one (and possibly more; one reload too many is harmless).
    let batch = batches(&state);
    let response = next.run(request).await;
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if !is_html {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_INJECT_BYTES).await else {
        return (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "page too large",
        )
            .into_response();
    };
    let page = String::from_utf8_lossy(&bytes);
    let banner = html! {
        // A landmark of its own: everything on a page belongs to one.
        aside.preview-banner aria-label="Writers' preview" {
            strong { "Preview" }
            " · drafts and internal articles are shown; customers see only published articles for their level. "
            a href="/preview" { "All articles and problems" }
        }
    }
    .into_string();
    let script = r#"<script src="/assets/preview.js" defer></script>"#;
    let body = match batch {
        Some(batch) => format!(r#"<body data-preview-batch="{batch}">"#),
        None => "<body>".to_string(),
    };
    let page = page
        .replacen("<body>", &format!("{body}{banner}"), 1)
        .replacen("</body>", &format!("{script}</body>"), 1);
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(page))
}

#[derive(Deserialize)]
pub struct EventsQuery {
    /// The batch the page was rendered at (`data-preview-batch`).
    since: Option<String>,
}

/// One `changed` event; its id is the batch count, which the browser sends back as
/// `Last-Event-ID` when it reconnects.
fn changed_event(status: &IndexStatus) -> Result<Event, Infallible> {
    Ok(Event::default()
        .event("changed")
        .id(status.batches.to_string())
        .data(json!({"batches": status.batches, "generation": status.opstamp}).to_string()))
}

/// `GET /preview/events[?since=BATCH]`: one `changed` event after each batch the indexer applied
/// (the page reloads its content then, so it never shows text the index does not have yet). When
/// the page says which batch it has (`since`, or `Last-Event-ID` on a reconnect) and the index
/// has moved on since, the first event comes at once: a save made while the page loaded, or while
/// its stream was down, is not missed. The stream ends when the service stops, so open pages
/// never hold up shutdown.
pub async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<EventsQuery>,
) -> Response {
    let Some(live) = &state.live else {
        return ApiError::Conflict("the preview has no live indexer".to_string()).into_response();
    };
    let mut status = live.subscribe();
    let current = status.borrow_and_update().clone();
    let seen = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .or(query.since.as_deref())
        .and_then(|v| v.trim().parse::<u64>().ok());
    // Different, not only older: a restarted preview counts batches from zero again.
    let missed = seen
        .filter(|seen| *seen != current.batches)
        .map(|_| changed_event(&current));
    // Then only batches after the page connected.
    let changes = futures_util::stream::iter(missed)
        .chain(WatchStream::from_changes(status).map(|status| changed_event(&status)));
    let mut stopping = state.stopping.clone();
    let stopped = async move {
        // A state without a stop signal (tests) never stops the stream.
        while !*stopping.borrow_and_update() {
            if stopping.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    };
    Sse::new(changes.take_until(Box::pin(stopped)))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

fn problem_json(problem: &Problem) -> Value {
    json!({"line": problem.line, "severity": problem.severity, "message": problem.message})
}

/// `GET /preview`: every article, those with problems first, and problems of files that are not
/// articles (a file that does not parse at all, `products.toml`).
pub async fn article_list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let searcher = state.searcher()?;
    let articles = tokio::task::spawn_blocking(move || searcher.list_articles()).await??;
    let problems = state.problems.load_full();
    let problems_of =
        |path: &str| -> Vec<&Problem> { problems.iter().filter(|p| p.path == path).collect() };
    let mut rows: Vec<_> = articles.iter().map(|a| (a, problems_of(&a.path))).collect();
    rows.sort_by_key(|(article, problems)| {
        (
            !problems.iter().any(|p| p.is_error()),
            problems.is_empty(),
            article.path.clone(),
        )
    });
    let indexed: std::collections::HashSet<&str> =
        articles.iter().map(|a| a.path.as_str()).collect();
    let mut orphans: Vec<&Problem> = problems
        .iter()
        .filter(|p| !indexed.contains(p.path.as_str()))
        .collect();
    orphans.sort_by(|a, b| a.path.cmp(&b.path));
    let page = layout(
        "Preview",
        html! {
            h1 { "Articles" }
            p.meta { (articles.len()) " articles · " (problems.len()) " problems" }
            @if !orphans.is_empty() {
                h2 { "Files that are not indexed" }
                ul.problems {
                    @for problem in &orphans {
                        li class=(if problem.is_error() { "error-item" } else { "warning-item" }) {
                            code { (problem.path) @if let Some(line) = problem.line { ":" (line) } }
                            " " (problem.message)
                        }
                    }
                }
            }
            ol.articles #article-list {
                @for (article, problems) in &rows {
                    li {
                        a href=(article_url(&article.id)) { (article.title) }
                        " "
                        span.meta { (article.path) " · " (article.kind) " · " (article.visibility) " · " (article.status) }
                        @if !problems.is_empty() {
                            ul.problems {
                                @for problem in problems {
                                    li class=(if problem.is_error() { "error-item" } else { "warning-item" }) {
                                        @if let Some(line) = problem.line { "line " (line) ": " }
                                        (problem.message)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    );
    Ok(page.into_response())
}

#[derive(Deserialize)]
pub struct ArticleQuery {
    id: String,
}

/// `GET /preview/api/article?id=`: the article's problems and how it ranks for its own
/// front matter `queries:`.
pub async fn article_details(
    State(state): State<AppState>,
    Query(query): Query<ArticleQuery>,
) -> Result<Json<Value>, ApiError> {
    let searcher = state.searcher()?;
    let problems = state.problems.load_full();
    let id = query.id.clone();
    let (article, ranks) = tokio::task::spawn_blocking(move || {
        let article = searcher
            .article(&id, crate::content::article::Visibility::Internal, true)?
            .ok_or_else(|| ApiError::NotFound(format!("article `{id}`")))?;
        let ranks = article
            .queries
            .iter()
            .map(|q| RankCheck::new(&searcher).rank_of(&id, q, RANK_DEPTH))
            .collect::<Result<Vec<_>, _>>()?;
        Ok::<_, ApiError>((article, ranks))
    })
    .await??;
    let own: Vec<Value> = problems
        .iter()
        .filter(|p| p.path == article.info.path)
        .map(problem_json)
        .collect();
    Ok(Json(json!({
        "id": article.info.id,
        "path": article.info.path,
        "visibility": article.info.visibility,
        "status": article.info.status,
        "problems": own,
        "queries": ranks,
    })))
}

#[derive(Deserialize)]
pub struct RankQuery {
    id: String,
    q: String,
}

/// `GET /preview/api/rank?id=&q=`: where the article ranks for a query the writer types.
pub async fn rank(
    State(state): State<AppState>,
    Query(query): Query<RankQuery>,
) -> Result<Json<Value>, ApiError> {
    if query.q.trim().is_empty() {
        return Err(ApiError::parameter("q", "type a query"));
    }
    let searcher = state.searcher()?;
    let report = tokio::task::spawn_blocking(move || {
        RankCheck::new(&searcher).rank_of(&query.id, &query.q, RANK_DEPTH)
    })
    .await??;
    Ok(Json(
        serde_json::to_value(report).map_err(|e| ApiError::Internal(e.to_string()))?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_names_with_the_preview_port_are_local() {
        for host in [
            "localhost:8090",
            "LOCALHOST:8090",
            "127.0.0.1:8090",
            "[::1]:8090",
        ] {
            assert!(is_local_host(host, Some(8090)), "{host}");
        }
        for host in [
            "evil.example:8090",
            "localhost.evil.example:8090",
            "127.0.0.1.nip.io:8090",
            "localhost:8091",
            "127.0.0.1",
            "[::1]",
            "[::1:8090",
            "localhost:port",
            "192.168.1.10:8090",
        ] {
            assert!(!is_local_host(host, Some(8090)), "{host}");
        }
        assert!(
            is_local_host("localhost", Some(80)),
            "the default port is left out"
        );
        assert!(
            is_local_host("127.0.0.1:1234", None),
            "any port when not known"
        );
    }
}
