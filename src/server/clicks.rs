//! `POST /click`: which search result a customer opened, sent by the search page's script as a
//! beacon (`navigator.sendBeacon`) as the link is followed. The query stays out of the article's
//! address, so what is shared or bookmarked is the plain article URL; the beacon names the
//! search by the id its page was given, and the store keeps a click only for a search it
//! recorded. Best effort, like searches: the answer is `204` whether or not the click was kept,
//! and the same for an article the caller may not see (it is dropped), so a click tells nothing
//! about hidden articles. Without JavaScript no click is recorded; the links work the same.

use axum::Form;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::StatusCode;
use chrono::Utc;
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use super::requests::random_id;
use super::session::PageCaller;
use crate::events::{ClickEvent, MAX_ARTICLE_ID_CHARS, MAX_CLICK_RANK};

#[derive(Debug, Deserialize)]
pub struct ClickForm {
    /// The search's id, from the results' `data-search`.
    search: String,
    article: String,
    /// 1 for the first result of the first page.
    rank: String,
}

/// `POST /click`: records a click on a search result.
pub async fn click(
    State(state): State<AppState>,
    PageCaller(caller): PageCaller,
    form: Result<Form<ClickForm>, FormRejection>,
) -> Result<StatusCode, ApiError> {
    let Form(form) = form?;
    // Exactly as the page writes them: a hyphenated UUID, a number without sign or zeros first.
    let search_id = (form.search.len() == 36)
        .then(|| random_id(&form.search))
        .flatten()
        .ok_or_else(|| ApiError::parameter("search", "is not the id of a search"))?;
    let rank: u32 = Some(&form.rank)
        .filter(|rank| rank.bytes().all(|b| b.is_ascii_digit()) && !rank.starts_with('0'))
        .and_then(|rank| rank.parse().ok())
        .filter(|rank| (1..=MAX_CLICK_RANK).contains(rank))
        .ok_or_else(|| ApiError::parameter("rank", format!("must be 1 to {MAX_CLICK_RANK}")))?;
    let article_chars = form.article.chars().count();
    if form.article.is_empty() || article_chars > MAX_ARTICLE_ID_CHARS {
        return Err(ApiError::parameter(
            "article",
            format!("must be an article id of 1 to {MAX_ARTICLE_ID_CHARS} characters"),
        ));
    }
    let (Some(events), Ok(searcher)) = (state.events.clone(), state.searcher()) else {
        return Ok(StatusCode::NO_CONTENT);
    };
    let article = form.article;
    let visible = tokio::task::spawn_blocking(move || {
        searcher
            .article(&article, caller.audience(), caller.drafts)
            .ok()
            .flatten()
            .map(|found| found.info.id)
    })
    .await
    .map_err(|err| ApiError::Internal(err.to_string()))?;
    if let Some(article_id) = visible {
        events.record_click(ClickEvent {
            search_id,
            article_id,
            rank,
            at: Utc::now(),
        });
    }
    Ok(StatusCode::NO_CONTENT)
}
