//! "Was this helpful?" on article pages: a plain form (`POST /vote`, no script needed) with Yes
//! and No, and a short comment sent with No. One vote per article per browser session: the
//! browser gets a random visitor id in a session cookie (`HttpOnly`, `SameSite=Strict`, gone when
//! the browser closes), and voting again on the same article replaces the vote. The answer is a
//! redirect back to the article (`?voted=…#helpful`), which thanks the reader; the vote is
//! committed before it.

use axum::Form;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use chrono::Utc;
use serde::Deserialize;

use super::AppState;
use super::error::{ApiError, PageError};
use super::requests::{article_url, new_random_id, random_id};
use super::session::{Https, PageCaller};
use crate::events::{MAX_ARTICLE_ID_CHARS, MAX_COMMENT_CHARS, VoteEvent};

/// The visitor cookie's name.
pub const VISITOR_COOKIE: &str = "kbsearch_visitor";

#[derive(Debug, Deserialize)]
pub struct VoteForm {
    article: String,
    /// `yes` or `no`.
    helpful: String,
    #[serde(default)]
    comment: String,
}

/// `POST /vote`: records the vote, then back to the article.
pub async fn vote(
    State(state): State<AppState>,
    PageCaller(caller): PageCaller,
    Https(secure): Https,
    headers: HeaderMap,
    form: Result<Form<VoteForm>, FormRejection>,
) -> Result<Response, PageError> {
    let bad = |err| PageError::titled("Vote not recorded", err);
    let Form(form) = form.map_err(|rejection| bad(ApiError::from(rejection)))?;
    let helpful = match form.helpful.as_str() {
        "yes" => true,
        "no" => false,
        _ => return Err(bad(ApiError::parameter("helpful", "must be `yes` or `no`"))),
    };
    let comment_chars = form.comment.chars().count();
    if comment_chars > MAX_COMMENT_CHARS {
        return Err(bad(ApiError::parameter(
            "comment",
            format!("is {comment_chars} characters long; the limit is {MAX_COMMENT_CHARS}"),
        )));
    }
    let comment = form.comment.trim();
    let article_chars = form.article.chars().count();
    if article_chars > MAX_ARTICLE_ID_CHARS {
        return Err(bad(ApiError::parameter(
            "article",
            format!("is {article_chars} characters long; the limit is {MAX_ARTICLE_ID_CHARS}"),
        )));
    }
    let not_found = || {
        PageError::new(
            StatusCode::NOT_FOUND,
            "Article not found",
            "This article does not exist or is not available to you.",
        )
    };
    let searcher = state
        .searcher()
        .map_err(|err| PageError::titled("Starting", err))?;
    let id = form.article.clone();
    let found = tokio::task::spawn_blocking(move || {
        searcher.article(&id, caller.audience(), caller.drafts)
    })
    .await
    .map_err(|err| PageError::titled("Error", ApiError::Internal(err.to_string())))?
    .map_err(|err| PageError::titled("Error", ApiError::from(err)))?;
    let article = found.ok_or_else(not_found)?;
    let events = state.events.clone().ok_or_else(|| {
        PageError::titled(
            "Vote not recorded",
            ApiError::Unavailable("votes are not recorded by this service".into()),
        )
    })?;
    let (visitor, jar) = match visitor_of(&headers) {
        Some(visitor) => (visitor, CookieJar::new()),
        None => {
            let visitor = new_random_id();
            let jar = CookieJar::new().add(visitor_cookie(visitor.clone(), secure));
            (visitor, jar)
        }
    };
    let event = VoteEvent {
        article_id: article.info.id.clone(),
        visitor,
        helpful,
        comment: (!helpful && !comment.is_empty()).then(|| comment.to_string()),
        at: Utc::now(),
    };
    events
        .record_vote(event)
        .await
        .map_err(|err| PageError::titled("Vote not recorded", ApiError::from(err)))?;
    let back = format!(
        "{}?voted={}#helpful",
        article_url(&article.info.id),
        if helpful { "yes" } else { "no" }
    );
    Ok((jar, Redirect::to(&back)).into_response())
}

/// The visitor id the browser's cookie carries, when it is one of ours.
fn visitor_of(headers: &HeaderMap) -> Option<String> {
    let jar = CookieJar::from_headers(headers);
    random_id(jar.get(VISITOR_COOKIE)?.value())
}

/// A session cookie (no expiry): one vote per article for as long as the browser is open.
fn visitor_cookie(visitor: String, secure: bool) -> Cookie<'static> {
    Cookie::build((VISITOR_COOKIE, visitor))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .build()
}
