//! Deflection over HTTP: the case form asks for suggestions while the customer types, reports
//! what happened (solved by an article, not helpful, case submitted), and support staff read the
//! deflection rate and search analytics. Every draft and outcome is durable before it is answered.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum_extra::extract::Query;
use axum_extra::extract::QueryRejection;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::ApiError;
use super::requests::{DeflectBody, article_url, checked_id, deflect_and_record, event_store};
use super::{AppState, Caller};
use crate::deflect::{Notice, Suggestion};
use crate::events::{FeedbackEvent, FeedbackKind, FeedbackOutcome, TimeRange};

/// Entries in each "top" list of the analytics.
const ANALYTICS_TOP: usize = 20;

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
            end_of_support: suggestion.info.end_of_support,
        }
    }
}

/// `POST /api/deflect`: suggestions for a draft case, recorded before they are answered.
pub async fn deflect(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<DeflectBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
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
        "notices": deflection.notices.iter().map(notice_json).collect::<Vec<_>>(),
    })))
}

/// `POST /api/deflect/{deflection_id}/feedback` body.
#[derive(Debug, Deserialize)]
pub struct FeedbackBody {
    outcome: String,
    article_id: Option<String>,
}

/// `POST /api/deflect/{deflection_id}/feedback`: solved (with the article), not_helpful (with the article)
/// or case_submitted. Sending the same feedback twice records it once. Only the caller who
/// started the draft may send it (anyone else gets the 404 of an unknown draft), and an article
/// it names must be one the draft was shown (else a 400 naming `article_id`).
pub async fn feedback(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<FeedbackBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
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
    let outcome = event_store(&state)?
        .record_feedback(FeedbackEvent {
            deflection_id: id.clone(),
            caller: caller.creator(),
            kind,
            article_id,
            at: Utc::now(),
        })
        .await?;
    match outcome {
        FeedbackOutcome::UnknownDeflection => Err(ApiError::NotFound(format!("deflection {id}"))),
        FeedbackOutcome::NotSuggested => Err(ApiError::parameter(
            "article_id",
            "is not one of the articles suggested for this draft",
        )),
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
    // Only an empty value means "no bound" (a form's blank field); a blank-looking one
    // (a space, a no-break space) is not a date and is refused like any other.
    let Some(text) = value.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    // chrono skips leading spaces; the schema's `date` and `date-time` formats do not.
    let padded = text.trim() != text;
    if let Some(date) = text.parse::<NaiveDate>().ok().filter(|_| !padded) {
        return Ok(Some(date.and_hms_opt(0, 0, 0).expect("midnight").and_utc()));
    }
    DateTime::parse_from_rfc3339(text)
        .ok()
        .filter(|_| !padded)
        .map(|t| Some(t.with_timezone(&Utc)))
        .ok_or(())
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
    caller.require_agent()?;
    let Query(range_params) = query?;
    let range = range_params.range()?;
    let analytics = event_store(&state)?
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
    caller.require_agent()?;
    let Query(range_params) = query?;
    let range = range_params.range()?;
    let analytics = event_store(&state)?
        .search_analytics(range, ANALYTICS_TOP)
        .await?;
    Ok(Json(
        serde_json::to_value(analytics).map_err(|e| ApiError::Internal(e.to_string()))?,
    ))
}

/// A notice as the API sends it: its text and, when an article explains it, that article's page.
fn notice_json(notice: &Notice) -> Value {
    match &notice.article {
        Some(id) => json!({"text": notice.text, "url": article_url(id)}),
        None => json!({"text": notice.text}),
    }
}
