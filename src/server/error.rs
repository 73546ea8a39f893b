//! The one place errors become HTTP responses: [`ApiError`] is JSON `{"error": {"code",
//! "message"}}` with the fitting status for the API, [`PageError`] a small page for browsers.
//! The library's errors and axum's rejections are mapped to a status and a code here, and
//! nowhere else.

use axum::Json;
use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::QueryRejection;
use maud::html;
use serde_json::json;
use thiserror::Error;
use tracing::error;

use super::layout::layout;
use super::search_pool::PoolError;
use crate::deflect::DraftError;
use crate::error::SearchError;
use crate::events::StoreError;

/// Everything a request can fail with.
#[derive(Debug, Error)]
pub enum ApiError {
    #[error("parameter `{parameter}`: {message}")]
    BadParameter { parameter: String, message: String },
    #[error("{0}")]
    BadRequest(String),
    #[error(
        "invalid API key: send `Authorization: Bearer <key>` with a configured key, or no header"
    )]
    Unauthorized,
    /// No key was sent to a route that needs one.
    #[error("this needs an agent key: send `Authorization: Bearer <key>`")]
    KeyRequired,
    #[error("this needs an agent key")]
    Forbidden,
    #[error("{0} not found")]
    NotFound(String),
    #[error("the index is not ready yet; try again in a moment")]
    NotReady,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("too many requests from your address; try again in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("internal error: {0}")]
    Internal(String),
}

/// `Retry-After` of a 503 for a store that is down or busy: long enough for a restart of the
/// database or a fail-over, short enough that the case form's retry finds it back.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 5;

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadParameter { .. } | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized | ApiError::KeyRequired => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::NotReady => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadParameter { .. } => "bad_parameter",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized | ApiError::KeyRequired => "unauthorized",
            ApiError::Forbidden => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::NotReady => "not_ready",
            ApiError::Conflict(_) => "conflict",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Internal(_) => "internal",
        }
    }

    /// Seconds to send as `Retry-After`, for errors that pass.
    fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            ApiError::Unavailable(_) => Some(UNAVAILABLE_RETRY_AFTER_SECS),
            // A replica starting up: a load balancer or client tries another or comes back soon.
            ApiError::NotReady => Some(1),
            _ => None,
        }
    }

    pub fn parameter(parameter: &str, message: impl Into<String>) -> Self {
        ApiError::BadParameter {
            parameter: parameter.to_string(),
            message: message.into(),
        }
    }
}

impl From<SearchError> for ApiError {
    fn from(err: SearchError) -> Self {
        match err {
            SearchError::EmptyQuery => ApiError::parameter("q", err.to_string()),
            SearchError::BadFilter { parameter, .. } => {
                ApiError::parameter(parameter, err.to_string())
            }
            SearchError::Tantivy(inner) => ApiError::Internal(inner.to_string()),
        }
    }
}

impl From<DraftError> for ApiError {
    fn from(err: DraftError) -> Self {
        match err {
            DraftError::Empty => ApiError::parameter("subject", err.to_string()),
            DraftError::Field { field, message } => ApiError::parameter(field, message),
            DraftError::Search(inner) => inner.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) | StoreError::Closed => {
                ApiError::Unavailable(format!("events cannot be recorded now: {err}"))
            }
            StoreError::Invalid(message) => ApiError::BadRequest(message),
            StoreError::Open { .. } | StoreError::Connect { .. } | StoreError::Failed(_) => {
                ApiError::Internal(err.to_string())
            }
        }
    }
}

/// A query string that does not parse: a JSON 400, not axum's plain-text rejection.
impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::BadRequest(format!("query string: {}", rejection.body_text()))
    }
}

/// A JSON body that does not parse or is too large. Only drafts and their feedback are posted
/// as JSON, so the size message speaks of the draft.
impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(
                "the draft is larger than the request limit (limits.max_body_bytes); shorten the description or attach logs to the case instead".to_string(),
            ),
            _ => ApiError::BadRequest(format!("request body: {}", rejection.body_text())),
        }
    }
}

/// A form that does not parse (a field given twice, bytes that are not UTF-8) is a 400
/// like any bad field; a form too large stays a 413 and one not sent as a form a 415.
impl From<FormRejection> for ApiError {
    fn from(rejection: FormRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(
                "the form is larger than the request limit (limits.max_body_bytes)".to_string(),
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(
                "send the form as application/x-www-form-urlencoded".to_string(),
            ),
            _ => ApiError::BadRequest(format!("form: {}", rejection.body_text())),
        }
    }
}

impl From<PoolError> for ApiError {
    fn from(err: PoolError) -> Self {
        ApiError::Internal(err.to_string())
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(err: tokio::task::JoinError) -> Self {
        ApiError::Internal(format!("search task failed: {err}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(message) = &self {
            error!(message, "request failed");
        }
        let body = json!({"error": {"code": self.code(), "message": self.to_string()}});
        let mut response = (self.status(), Json(body)).into_response();
        if matches!(self, ApiError::Unauthorized | ApiError::KeyRequired) {
            response.headers_mut().insert(
                "www-authenticate",
                "Bearer".parse().expect("a valid header value"),
            );
        }
        insert_retry_after(&mut response, self.retry_after());
        response
    }
}

/// `Retry-After: seconds`, when there is a time to wait.
fn insert_retry_after(response: &mut Response, seconds: Option<u64>) {
    if let Some(seconds) = seconds {
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(seconds),
        );
    }
}

/// A page request that failed, shown to a browser as a page: a title, what went wrong, and a
/// way back to the search.
#[derive(Debug, Error)]
#[error("{title}: {message}")]
pub struct PageError {
    status: StatusCode,
    title: &'static str,
    message: String,
    /// `Retry-After` seconds, for a rate-limited request.
    retry_after: Option<u64>,
}

impl PageError {
    pub fn new(status: StatusCode, title: &'static str, message: impl Into<String>) -> Self {
        PageError {
            status,
            title,
            message: message.into(),
            retry_after: None,
        }
    }

    /// `err` on a page titled `title`, with the status (and `Retry-After`) the API would answer.
    pub fn titled(title: &'static str, err: ApiError) -> Self {
        PageError {
            retry_after: err.retry_after(),
            ..PageError::new(err.status(), title, err.to_string())
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let page = layout(
            self.title,
            html! {
                h1 { (self.title) }
                p { (self.message) }
                p { a href="/" { "Search the knowledge base" } }
            },
        );
        let mut response = (self.status, page).into_response();
        insert_retry_after(&mut response, self.retry_after);
        response
    }
}
