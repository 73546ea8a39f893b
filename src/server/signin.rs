//! The agents' sign-in page. `GET /signin` shows the form (or, to a signed-in agent, who is
//! signed in and a sign-out button), `POST /signin` takes an agent key and answers with the
//! session cookie of `session`, `POST /signout` clears it. The key is read from the form body
//! only: never from the address, never echoed back, never logged (the log names the key by its
//! configured name). Both posts are plain forms behind the same-origin check of the case form,
//! and sign-in attempts have a budget of their own (`rate_limit.signin_*`).

use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::{Query, QueryRejection};
use maud::html;
use serde::Deserialize;
use tracing::info;

use super::AppState;
use super::error::{ApiError, PageError};
use super::layout::layout;
use super::session::{Https, Session, key_name, return_path};
use crate::config::Role;

#[derive(Debug, Default, Deserialize)]
pub struct SignInQuery {
    /// The page to return to after signing in.
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct SignInForm {
    key: String,
    next: Option<String>,
}

/// What went wrong with a sign-in, as the form says it.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    UnknownKey,
    NotAnAgent,
}

impl Refusal {
    fn status(self) -> StatusCode {
        match self {
            Refusal::UnknownKey => StatusCode::UNAUTHORIZED,
            Refusal::NotAnAgent => StatusCode::FORBIDDEN,
        }
    }

    fn message(self) -> &'static str {
        match self {
            Refusal::UnknownKey => {
                "This key was not accepted: it is not one of the service's keys. Check that it \
                 was copied whole, or ask the administrator for your agent key."
            }
            Refusal::NotAnAgent => {
                "This is a customer key. Only support agents sign in here, with an agent key."
            }
        }
    }
}

/// `GET /signin`: the form, or who is signed in.
pub async fn signin_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<SignInQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let Query(query) =
        query.map_err(|rejection| PageError::titled("Bad request", ApiError::from(rejection)))?;
    let next =
        return_path(query.next.as_deref()).map_err(|err| PageError::titled("Bad request", err))?;
    let session = state.sessions.current(&headers);
    Ok(page(&state, session.as_ref(), next, None))
}

/// `POST /signin`: signs an agent key in and returns to `next`; any other key gets the form
/// again with what was wrong.
pub async fn sign_in(
    State(state): State<AppState>,
    Https(secure): Https,
    form: Result<axum::Form<SignInForm>, FormRejection>,
) -> Result<Response, PageError> {
    let axum::Form(form) =
        form.map_err(|err| PageError::titled("Sign-in failed", ApiError::from(err)))?;
    let next = return_path(form.next.as_deref())
        .map_err(|err| PageError::titled("Sign-in failed", err))?;
    let Some(key) = state.config.key(form.key.trim()) else {
        info!("sign-in refused: not a configured key");
        return Ok(page(&state, None, next, Some(Refusal::UnknownKey)));
    };
    if key.role != Role::Agent {
        info!(key = %key_name(key), "sign-in refused: not an agent key");
        return Ok(page(&state, None, next, Some(Refusal::NotAnAgent)));
    }
    info!(key = %key_name(key), secure, "agent signed in");
    let cookie = state.sessions.sign_in(key, secure);
    Ok((cookie, Redirect::to(next)).into_response())
}

/// `POST /signout`: clears the session cookie and shows the sign-in form.
pub async fn sign_out(State(state): State<AppState>, Https(secure): Https) -> Response {
    (
        [(header::SET_COOKIE, state.sessions.sign_out(secure))],
        Redirect::to("/signin"),
    )
        .into_response()
}

/// The sign-in page: the form (with `refusal` said, if any), or the session and a way out.
fn page(
    state: &AppState,
    session: Option<&Session>,
    next: &str,
    refusal: Option<Refusal>,
) -> Response {
    let hours = state.config.session.hours;
    let body = html! {
        h1 { "Agent sign-in" }
        @if let Some(session) = session {
            p { "You are signed in as " strong { (session.name) } " until " (until(session.expires)) "." }
            p { "The search and article pages show internal articles, labelled “Internal”. " a href="/" { "Search the knowledge base" } }
            form.signin method="post" action="/signout" {
                button type="submit" { "Sign out" }
            }
        } @else {
            p { "Support agents sign in with their agent key to see internal articles on these pages." }
            @if let Some(refusal) = refusal {
                p #signin-error.error role="alert" { (refusal.message()) }
            }
            form.signin method="post" action="/signin" {
                label for="key" { "Agent key" }
                input #key name="key" type="password" required autofocus autocomplete="current-password"
                    aria-invalid=[refusal.map(|_| "true")] aria-describedby=[refusal.map(|_| "signin-error")];
                input type="hidden" name="next" value=(next);
                button type="submit" { "Sign in" }
            }
            p.meta { "The key is checked once. This browser then keeps a signed session cookie, never the key, for " (hours) " hours or until you sign out." }
        }
    };
    let status = refusal.map_or(StatusCode::OK, Refusal::status);
    (
        status,
        // The form may hold a key as typed; no cache keeps it, nor the signed-in state.
        [(header::CACHE_CONTROL, "no-store")],
        layout("Agent sign-in", body),
    )
        .into_response()
}

/// When a session ends, for people: `2026-12-05 08:30 UTC`.
fn until(expires: u64) -> String {
    i64::try_from(expires)
        .ok()
        .and_then(|seconds| chrono::DateTime::from_timestamp(seconds, 0))
        .map_or_else(
            || "the end of the session".to_string(),
            |time| time.format("%Y-%m-%d %H:%M UTC").to_string(),
        )
}
