//! Deflection over HTTP: the case form asks for suggestions while the customer types, reports
//! what happened (solved by an article, not helpful, case submitted), and support staff read the
//! deflection rate and search analytics. Every draft and outcome is durable before it is answered.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum_extra::extract::Query;
use axum_extra::extract::QueryRejection;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::api::{article_url, params};
use super::error::ApiError;
use super::{AppState, Caller};
use crate::deflect::{self, CaseType, Deflector, DraftCase, DraftError, Severity, Suggestion};
use crate::events::{
    DeflectionEvent, EventStore, FeedbackEvent, FeedbackKind, FeedbackOutcome, StoreError,
    TimeRange,
};

/// Longest subject accepted, in characters; the description is bounded by the body limit.
const MAX_SUBJECT_CHARS: usize = 1_000;
/// Entries in each "top" list of the analytics.
const ANALYTICS_TOP: usize = 20;

/// `POST /api/deflect` body. Fields are read loosely and checked one by one, so a wrong value
/// is a 400 that names its field rather than a generic JSON error.
#[derive(Debug, Deserialize)]
pub struct DeflectBody {
    #[serde(default)]
    subject: String,
    #[serde(default)]
    description: String,
    case_type: Option<String>,
    severity: Option<Value>,
    product: Option<String>,
    version: Option<String>,
    limit: Option<Value>,
    /// The id of an earlier answer for the same draft: the case form sends it back as the
    /// customer keeps typing, so one case is one draft in the analytics.
    deflection_id: Option<String>,
}

#[derive(Serialize)]
struct ApiSuggestion {
    id: String,
    title: String,
    #[serde(rename = "type")]
    kind: String,
    url: String,
    /// HTML: matches in `<mark>`, everything else escaped.
    snippet: String,
    section: Option<Value>,
    confidence: f32,
    matched_terms: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    end_of_support: bool,
}

impl From<Suggestion> for ApiSuggestion {
    fn from(suggestion: Suggestion) -> Self {
        let url = article_url(&suggestion.info.id);
        ApiSuggestion {
            section: suggestion.section.map(|s| {
                json!({"heading": s.heading, "anchor": s.anchor, "url": format!("{url}#{}", s.anchor)})
            }),
            snippet: suggestion.snippet.to_html(),
            id: suggestion.info.id,
            title: suggestion.info.title,
            kind: suggestion.info.kind,
            url,
            confidence: (suggestion.confidence * 1000.0).round() / 1000.0,
            matched_terms: suggestion.matched_terms,
            reason: suggestion.reason,
            end_of_support: suggestion.info.end_of_support,
        }
    }
}

fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(value)| value)
        .map_err(|rejection| match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(
                "the draft is larger than the request limit (limits.max_body_bytes); shorten the description or attach logs to the case instead".to_string(),
            ),
            _ => ApiError::BadRequest(format!("request body: {}", rejection.body_text())),
        })
}

impl DeflectBody {
    fn to_draft(&self, caller: Caller, state: &AppState) -> Result<DraftCase, ApiError> {
        if self.subject.chars().count() > MAX_SUBJECT_CHARS {
            return Err(ApiError::PayloadTooLarge(format!(
                "field `subject` is longer than {MAX_SUBJECT_CHARS} characters"
            )));
        }
        let case_type = match &self.case_type {
            Some(text) if !text.trim().is_empty() => text.parse::<CaseType>()?,
            _ => CaseType::Problem,
        };
        let severity = match &self.severity {
            None | Some(Value::Null) => Severity::default(),
            Some(value) => Severity::new(whole_number(value).ok_or_else(|| {
                ApiError::parameter("severity", format!("{value} is not a severity: 1 to 4"))
            })?)?,
        };
        let limit = match &self.limit {
            None | Some(Value::Null) => deflect::DEFAULT_LIMIT,
            Some(value) => whole_number(value)
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| (1..=deflect::MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    ApiError::parameter(
                        "limit",
                        format!("{value} is not a number from 1 to {}", deflect::MAX_LIMIT),
                    )
                })?,
        };
        Ok(DraftCase {
            case_type,
            severity,
            product: self.product.clone().filter(|p| !p.trim().is_empty()),
            version: self.version.clone().filter(|v| !v.trim().is_empty()),
            limit,
            min_confidence: state.config.deflect.min_confidence,
            audience: caller.audience(),
            ..DraftCase::new(self.subject.clone(), self.description.clone())
        })
    }
}

fn whole_number(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
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
            StoreError::Open { .. } | StoreError::Failed(_) => ApiError::Internal(err.to_string()),
        }
    }
}

fn store(state: &AppState) -> Result<&dyn EventStore, ApiError> {
    state.events.as_deref().ok_or_else(|| {
        ApiError::Unavailable("this service records no events (no data folder)".to_string())
    })
}

/// A deflection id as the client sent it back: ours are UUIDs, anything else is refused.
fn checked_id(id: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(id)
        .map(|uuid| uuid.to_string())
        .map_err(|_| ApiError::parameter("deflection_id", format!("`{id}` is not a deflection id")))
}

/// `POST /api/deflect`: suggestions for a draft case, recorded before they are answered.
pub async fn deflect(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<DeflectBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = json_body(body)?;
    let started = std::time::Instant::now();
    let (id, deflection) = deflect_and_record(&state, caller, &body).await?;
    let suggestions: Vec<ApiSuggestion> = deflection
        .suggestions
        .into_iter()
        .map(ApiSuggestion::from)
        .collect();
    Ok(Json(json!({
        "deflection_id": id,
        "took_ms": started.elapsed().as_millis() as u64,
        "suggestions": suggestions,
        "notices": deflection.notices,
    })))
}

/// Runs deflection for a draft on the search threads and records the draft; returns its id.
async fn deflect_and_record(
    state: &AppState,
    caller: Caller,
    body: &DeflectBody,
) -> Result<(String, deflect::Deflection), ApiError> {
    let draft = body.to_draft(caller, state)?;
    let id = match &body.deflection_id {
        Some(id) => checked_id(id)?,
        // Time-ordered: new drafts land at the end of the table's index, not on random pages.
        None => uuid::Uuid::now_v7().to_string(),
    };
    let searcher = state.searcher()?;
    let deflection = {
        let draft = draft.clone();
        state
            .search_pool
            .run(move || Deflector::new(&searcher).deflect(&draft))
            .await??
    };
    store(state)?
        .record_deflection(DeflectionEvent {
            id: id.clone(),
            at: Utc::now(),
            case_type: serde_json::to_value(draft.case_type)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            severity: draft.severity.level(),
            product: draft.product.clone(),
            version: draft.version.clone(),
            audience: draft.audience.as_str().to_string(),
            suggested: deflection
                .suggestions
                .iter()
                .map(|s| s.info.id.clone())
                .collect(),
        })
        .await?;
    Ok((id, deflection))
}

/// The case form as a browser posts it without JavaScript.
#[derive(Debug, Deserialize)]
pub struct CaseForm {
    #[serde(default)]
    subject: String,
    #[serde(default)]
    description: String,
    case_type: Option<String>,
    severity: Option<String>,
    product: Option<String>,
    version: Option<String>,
}

/// `POST /case`: the case form submitted without JavaScript. The draft and its `case_submitted`
/// outcome are recorded as the script would; the page confirms and lists what may help meanwhile.
pub async fn submit_case(
    State(state): State<AppState>,
    caller: Caller,
    axum::Form(form): axum::Form<CaseForm>,
) -> Result<(String, deflect::Deflection), ApiError> {
    let body = DeflectBody {
        subject: form.subject,
        description: form.description,
        case_type: form.case_type,
        severity: form.severity.map(Value::String),
        product: form.product,
        version: form.version,
        limit: None,
        deflection_id: None,
    };
    let (id, deflection) = deflect_and_record(&state, caller, &body).await?;
    store(&state)?
        .record_feedback(FeedbackEvent {
            deflection_id: id.clone(),
            kind: FeedbackKind::CaseSubmitted,
            article_id: None,
            at: Utc::now(),
        })
        .await?;
    Ok((id, deflection))
}

/// `POST /api/deflect/{id}/feedback` body.
#[derive(Debug, Deserialize)]
pub struct FeedbackBody {
    outcome: String,
    article_id: Option<String>,
}

/// `POST /api/deflect/{id}/feedback`: solved (with the article), not_helpful (with the article)
/// or case_submitted. Sending the same feedback twice records it once.
pub async fn feedback(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<FeedbackBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = json_body(body)?;
    let id = checked_id(&id)?;
    let kind = match body.outcome.trim() {
        "solved" => FeedbackKind::Solved,
        "not_helpful" => FeedbackKind::NotHelpful,
        "case_submitted" => FeedbackKind::CaseSubmitted,
        other => {
            return Err(ApiError::parameter(
                "outcome",
                format!("`{other}` is not an outcome: solved, not_helpful or case_submitted"),
            ));
        }
    };
    let article_id = body.article_id.filter(|a| !a.trim().is_empty());
    if kind != FeedbackKind::CaseSubmitted && article_id.is_none() {
        return Err(ApiError::parameter(
            "article_id",
            format!("is required with `{}`", body.outcome.trim()),
        ));
    }
    let outcome = store(&state)?
        .record_feedback(FeedbackEvent {
            deflection_id: id.clone(),
            kind,
            article_id,
            at: Utc::now(),
        })
        .await?;
    match outcome {
        FeedbackOutcome::UnknownDeflection => Err(ApiError::NotFound(format!("deflection {id}"))),
        FeedbackOutcome::Recorded => Ok(Json(json!({"status": "recorded"}))),
        FeedbackOutcome::Duplicate => Ok(Json(json!({"status": "already_recorded"}))),
    }
}

/// `from` and `to` of the analytics routes: dates (`2026-11-01`) or RFC 3339 times.
#[derive(Debug, Default, Deserialize)]
pub struct RangeParams {
    from: Option<String>,
    to: Option<String>,
}

fn instant(parameter: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    let Some(text) = value.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if let Ok(date) = text.parse::<NaiveDate>() {
        return Ok(Some(date.and_hms_opt(0, 0, 0).expect("midnight").and_utc()));
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|_| {
            ApiError::parameter(
                parameter,
                format!("`{text}` is not a date (2026-11-01) or a time (2026-11-01T12:00:00Z)"),
            )
        })
}

impl RangeParams {
    fn range(&self) -> Result<TimeRange, ApiError> {
        let range = TimeRange {
            from: instant("from", self.from.as_deref())?,
            to: instant("to", self.to.as_deref())?,
        };
        if let (Some(from), Some(to)) = (range.from, range.to)
            && from > to
        {
            return Err(ApiError::parameter("to", "is before `from`"));
        }
        Ok(range)
    }
}

/// `GET /api/analytics/deflection` (agent key): drafts, outcomes, deflection rate, articles that
/// solve most and those shown often but never helpful.
pub async fn deflection_analytics(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<RangeParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    if !caller.is_agent() {
        return Err(ApiError::Forbidden);
    }
    let range = params(query)?.range()?;
    let analytics = store(&state)?
        .deflection_analytics(range, ANALYTICS_TOP)
        .await?;
    Ok(Json(
        serde_json::to_value(analytics).map_err(|e| ApiError::Internal(e.to_string()))?,
    ))
}

/// `GET /api/analytics/search` (agent key): top queries and queries without results.
pub async fn search_analytics(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<RangeParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    if !caller.is_agent() {
        return Err(ApiError::Forbidden);
    }
    let range = params(query)?.range()?;
    let analytics = store(&state)?
        .search_analytics(range, ANALYTICS_TOP)
        .await?;
    Ok(Json(
        serde_json::to_value(analytics).map_err(|e| ApiError::Internal(e.to_string()))?,
    ))
}
