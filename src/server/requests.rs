//! What the handlers share: search parameters and draft cases read into the library's requests
//! (checked against the configured limits), those requests run off the async runtime, the events
//! they record and the links they print. The JSON API, the pages and the preview all go through
//! here, so a search or a case is the same whichever route it came in by, and no handler module
//! needs another.

use std::sync::Arc;

use chrono::Utc;
use serde::Deserialize;
use serde_json::Value;
use tracing::warn;

use super::error::ApiError;
use super::{AppState, Caller};
use crate::content::article::{ArticleType, Visibility};
use crate::content::products::Catalog;
use crate::content::render::{self, LinkTarget, LinkedArticle};
use crate::deflect::{self, CaseType, Deflection, Deflector, DraftCase, Severity};
use crate::events::{
    DeflectionEvent, DeflectionOutcome, EventStore, FeedbackEvent, FeedbackKind, OTHER,
    SearchEvent, StoreError,
};
use crate::search::{KbSearcher, SearchRequest, SearchResults, SortOrder, StoredArticle};

/// Longest subject accepted, in characters; the description is bounded by the body limit.
pub(super) const MAX_SUBJECT_CHARS: usize = 1_000;

/// Path of an article page.
pub fn article_url(id: &str) -> String {
    format!("/articles/{id}")
}

/// Longest value of a search filter (`type`, `product`, `version`, `tag`), in characters:
/// names and tags are short, and every value becomes part of the result cache's key.
pub(super) const MAX_FILTER_VALUE_CHARS: usize = 100;

/// Query parameters of `/api/search` and of the search page, as received.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(from = "ReceivedParams")]
pub struct SearchParams {
    pub q: String,
    pub types: Vec<String>,
    pub product: Option<String>,
    pub version: Option<String>,
    pub tag: Vec<String>,
    pub page: Option<String>,
    pub per_page: Option<String>,
    pub sort: Option<String>,
    /// Filters that take one value (`product`, `version`) and came several times, with how
    /// many: [`SearchParams::to_request`] refuses them by name. The first value is kept above,
    /// so the search page can still print its links.
    pub(super) repeated: Vec<(&'static str, usize)>,
}

/// The query string as sent: every filter as a list, so that a repeated one can be counted
/// and refused by name rather than failing the whole query string.
#[derive(Deserialize)]
struct ReceivedParams {
    #[serde(default)]
    q: String,
    #[serde(default, rename = "type")]
    types: Vec<String>,
    #[serde(default)]
    product: Vec<String>,
    #[serde(default)]
    version: Vec<String>,
    #[serde(default)]
    tag: Vec<String>,
    page: Option<String>,
    per_page: Option<String>,
    sort: Option<String>,
}

impl From<ReceivedParams> for SearchParams {
    fn from(received: ReceivedParams) -> Self {
        let repeated = [
            ("product", received.product.len()),
            ("version", received.version.len()),
        ]
        .into_iter()
        .filter(|&(_, times)| times > 1)
        .collect();
        // As before these were lists: an empty value is no value.
        let first = |values: Vec<String>| values.into_iter().next().filter(|v| !v.is_empty());
        SearchParams {
            q: received.q,
            types: received.types,
            product: first(received.product),
            version: first(received.version),
            tag: received.tag,
            page: received.page,
            per_page: received.per_page,
            sort: received.sort,
            repeated,
        }
    }
}

fn positive(parameter: &str, value: Option<&str>, default: usize) -> Result<usize, ApiError> {
    // Only empty is the default; " 3" is not the schema's integer, so it is refused too.
    let Some(text) = value.filter(|v| !v.is_empty()) else {
        return Ok(default);
    };
    match text.parse::<usize>() {
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
        self.check_filter_sizes(limits.max_filter_values)?;
        let types = self
            .types
            .iter()
            .filter(|t| !t.is_empty())
            // Exactly as the schema's enum names them, not as leniently as front matter.
            .map(|t| {
                ArticleType::from_exact(t).map_err(|reason| ApiError::parameter("type", reason))
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

    /// Refuses, by name, a filter given more often than it may be or with a value too long:
    /// without these, 30,000 `tag=` values built a 30,000-clause filter and a 300 KB cache key.
    fn check_filter_sizes(&self, max_values: usize) -> Result<(), ApiError> {
        if let Some(&(parameter, times)) = self.repeated.first() {
            return Err(ApiError::parameter(
                parameter,
                format!("is given {times} times; it takes one value"),
            ));
        }
        for (parameter, values) in [("type", &self.types), ("tag", &self.tag)] {
            if values.len() > max_values {
                return Err(ApiError::parameter(
                    parameter,
                    format!(
                        "is given {} times; the limit is {max_values} (limits.max_filter_values)",
                        values.len()
                    ),
                ));
            }
        }
        let single = [("product", &self.product), ("version", &self.version)]
            .into_iter()
            .filter_map(|(parameter, value)| Some((parameter, value.as_ref()?)));
        let types = self.types.iter().map(|value| ("type", value));
        let tags = self.tag.iter().map(|value| ("tag", value));
        for (parameter, value) in single.chain(types).chain(tags) {
            let chars = value.chars().count();
            if chars > MAX_FILTER_VALUE_CHARS {
                return Err(ApiError::parameter(
                    parameter,
                    format!(
                        "a value is {chars} characters long; the limit is {MAX_FILTER_VALUE_CHARS}"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Runs a search on the search threads; returns the results and the milliseconds they took.
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
pub fn record_search(
    state: &AppState,
    query: &str,
    total: usize,
    audience: Visibility,
    searched: Searched,
) {
    let Some(events) = &state.events else {
        return;
    };
    // The catalog's spelling (or `other`) like a draft's, so one product is one name.
    let product = searched.product.and_then(|written| {
        let searcher = state.searcher().ok()?;
        known_product(searcher.catalog(), Some(&written))
    });
    events.record_search(SearchEvent {
        at: Utc::now(),
        query: query.to_string(),
        total: total as u64,
        audience: audience.as_str().to_string(),
        id: searched.id,
        product,
    });
}

/// What a search event records beside its query and count.
#[derive(Debug, Clone, Default)]
pub struct Searched {
    /// The id the search page gave the search (clicks name it); none for the API.
    pub id: Option<String>,
    /// The search's product filter, as sent.
    pub product: Option<String>,
}

/// Loads an article the audience may see and renders its body; `NotFound` otherwise, the same
/// for a missing and a hidden article. A link to another article stays a link only when the
/// audience may see that article too. Blocking: call from `spawn_blocking`.
pub fn load_article(
    searcher: &Arc<KbSearcher>,
    id: &str,
    audience: Visibility,
    drafts: bool,
) -> Result<(StoredArticle, String), ApiError> {
    let not_found = || ApiError::NotFound(format!("article `{id}`"));
    let article = searcher
        .article(id, audience, drafts)
        .map_err(ApiError::from)?
        .ok_or_else(not_found)?;
    let links = searcher.clone();
    let html = render::article_html(
        &article.info.path,
        &article.info.id,
        &article.info.title,
        &article.markdown,
        move |linked, anchor| {
            let target = match linked {
                LinkedArticle::File(path) => links.id_for_path(path, audience, drafts),
                LinkedArticle::Page(id) => links
                    .article(id, audience, drafts)
                    .map(|found| found.map(|article| article.info.id)),
            };
            match target {
                Ok(Some(target)) => {
                    let fragment = anchor.map(|a| format!("#{a}")).unwrap_or_default();
                    LinkTarget::Page(format!("{}{fragment}", article_url(&target)))
                }
                // Missing, hidden from this reader, or unreadable: the text stays, the link goes.
                _ => LinkTarget::Drop,
            }
        },
    );
    Ok((article, html))
}

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
    /// customer keeps typing, so one case is one draft in the analytics. A client may also
    /// choose it (a random UUID, as an idempotency key); see [`checked_id`].
    deflection_id: Option<String>,
}

impl DeflectBody {
    fn to_draft(&self, caller: Caller, state: &AppState) -> Result<DraftCase, ApiError> {
        let subject_chars = self.subject.chars().count();
        if subject_chars > MAX_SUBJECT_CHARS {
            return Err(ApiError::parameter(
                "subject",
                format!("is {subject_chars} characters long; the limit is {MAX_SUBJECT_CHARS}"),
            ));
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

/// A JSON integer; a string of digits is not one (the schema says `integer`).
fn whole_number(value: &Value) -> Option<i64> {
    value.as_i64()
}

/// The event store, or 503 when this service records no events.
pub fn event_store(state: &AppState) -> Result<&dyn EventStore, ApiError> {
    state.events.as_deref().ok_or_else(|| {
        ApiError::Unavailable("this service records no events (no data folder)".to_string())
    })
}

/// A deflection id as a client sent it, in its one spelling. Ours are version 7 UUIDs; a
/// client that picks its own must pick as unguessable a one: a well-formed UUID of version 4 or
/// 7 (random bits), never nil, max, or another version (time- or name-based ones can be
/// predicted). Anything else is refused.
pub fn checked_id(id: &str) -> Result<String, ApiError> {
    random_id(id).ok_or_else(|| {
        ApiError::parameter(
            "deflection_id",
            format!(
                "`{id}` is not a deflection id: send back the id of an earlier answer, or a \
                 random UUID (version 4 or 7)"
            ),
        )
    })
}

/// `id` as we write ids, when it is a random UUID (version 4 or 7): drafts', searches' and
/// visitors' ids are unguessable, so a caller can only name its own.
pub fn random_id(id: &str) -> Option<String> {
    let uuid = uuid::Uuid::parse_str(id.trim()).ok()?;
    let random = matches!(uuid.get_version_num(), 4 | 7)
        && uuid.get_variant() == uuid::Variant::RFC4122
        && !uuid.is_nil()
        && !uuid.is_max();
    random.then(|| uuid.hyphenated().to_string())
}

/// A new id for a draft, a search or a visitor: a version 7 UUID (time-ordered, so new rows
/// land at the end of the table's index, not on random pages) whose other 74 bits are all
/// random. `Uuid::now_v7` spends 42 of them on a counter that the next id in the same
/// millisecond continues, which would let one caller guess the id made just after theirs.
pub fn new_random_id() -> String {
    let now = uuid::Timestamp::now(uuid::NoContext);
    uuid::Uuid::new_v7(now).hyphenated().to_string()
}

/// A draft's product as the events keep it: the catalog's spelling, or `other` when the
/// catalog does not know it, so that whatever a customer types is not what fills the database.
fn known_product(catalog: &Catalog, written: Option<&str>) -> Option<String> {
    let written = written.map(str::trim).filter(|w| !w.is_empty())?;
    let known = catalog.product(written).map(|product| product.name.clone());
    Some(known.unwrap_or_else(|| OTHER.to_string()))
}

/// A draft's version as the events keep it: the catalog's spelling (`7.8` is `7.8.0`), looked
/// up in the draft's product when the catalog knows that product, or `other`.
fn known_version(
    catalog: &Catalog,
    product: Option<&str>,
    written: Option<&str>,
) -> Option<String> {
    let written = written.map(str::trim).filter(|w| !w.is_empty())?;
    let product = product
        .and_then(|name| catalog.product(name))
        .map(|known| known.name.as_str());
    let known = catalog.canonical_version(product, written);
    Some(known.unwrap_or_else(|| OTHER.to_string()))
}

/// A draft's text as the events keep it for the dashboard: the subject, a blank line, the
/// description, each trimmed; either alone when the other is blank.
fn draft_text(subject: &str, description: &str) -> String {
    [subject.trim(), description.trim()]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Runs deflection for a draft on the search threads and records the draft; returns its id.
pub async fn deflect_and_record(
    state: &AppState,
    caller: Caller,
    body: &DeflectBody,
) -> Result<(String, Deflection), ApiError> {
    let draft = body.to_draft(caller, state)?;
    let id = match &body.deflection_id {
        Some(id) => checked_id(id)?,
        None => new_random_id(),
    };
    let searcher = state.searcher()?;
    let catalog_of = searcher.clone();
    let deflection = {
        let draft = draft.clone();
        state
            .search_pool
            .run(move || Deflector::new(&searcher).deflect(&draft))
            .await??
    };
    let catalog = catalog_of.catalog();
    let product = known_product(catalog, draft.product.as_deref());
    let version = known_version(catalog, draft.product.as_deref(), draft.version.as_deref());
    let recorded = event_store(state)?
        .record_deflection(DeflectionEvent {
            id: id.clone(),
            creator: caller.creator(),
            at: Utc::now(),
            case_type: serde_json::to_value(draft.case_type)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            severity: draft.severity.level(),
            product,
            version,
            audience: draft.audience.as_str().to_string(),
            suggested: deflection
                .suggestions
                .iter()
                .map(|s| s.info.id.clone())
                .collect(),
            text: draft_text(&body.subject, &body.description),
        })
        .await;
    let outcome = match recorded {
        Ok(outcome) => outcome,
        // Suggestions do not depend on the event store: a draft it cannot take now is answered
        // all the same, unrecorded (counted), and its feedback will be refused as unknown.
        Err(err @ (StoreError::Unavailable(_) | StoreError::Closed)) => {
            let skipped = state.metrics.count_unrecorded_draft();
            if skipped % 100 == 1 {
                warn!(skipped, "draft answered without being recorded: {err}");
            }
            return Ok((id, deflection));
        }
        Err(err) => return Err(err.into()),
    };
    // Another caller's draft: refused without a word about it. A 400 rather than a 404: an
    // unused id starts a draft, so any refusal tells the sender that the id is taken, and a
    // 404 would claim the opposite; beyond that, the sender already held the id, and learns
    // nothing of the draft, its creator or what it was shown.
    if outcome == DeflectionOutcome::NotTheCreator {
        return Err(ApiError::parameter(
            "deflection_id",
            format!("`{id}` is not a draft you started; leave it out to start a new one"),
        ));
    }
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

/// The form's select sends exactly `""` (no choice: the default severity) or a digit from 1
/// to 4; anything else, blank-looking or padded, did not come from the form and is refused.
fn form_severity(written: Option<&str>) -> Result<Option<Value>, ApiError> {
    match written {
        None | Some("") => Ok(None),
        Some(text @ ("1" | "2" | "3" | "4")) => {
            Ok(Some(Value::from(text.parse::<u8>().expect("a digit"))))
        }
        Some(other) => Err(ApiError::parameter(
            "severity",
            format!("{other:?} is not a severity: 1 to 4, or empty for the default"),
        )),
    }
}

/// A case submitted without JavaScript: the draft and its `case_submitted` outcome are recorded
/// as the case form's script would record them; returns the draft's id and its suggestions.
pub async fn submit_case(
    state: &AppState,
    caller: Caller,
    form: CaseForm,
) -> Result<(String, Deflection), ApiError> {
    let body = DeflectBody {
        subject: form.subject,
        description: form.description,
        case_type: form.case_type,
        severity: form_severity(form.severity.as_deref())?,
        product: form.product,
        version: form.version,
        limit: None,
        deflection_id: None,
    };
    let (id, deflection) = deflect_and_record(state, caller, &body).await?;
    event_store(state)?
        .record_feedback(FeedbackEvent {
            deflection_id: id.clone(),
            caller: caller.creator(),
            kind: FeedbackKind::CaseSubmitted,
            article_id: None,
            at: Utc::now(),
        })
        .await?;
    Ok((id, deflection))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drafts_text_is_its_subject_a_blank_line_and_its_description() {
        assert_eq!(
            draft_text(" VPN drops ", "\nevery hour\n"),
            "VPN drops\n\nevery hour"
        );
        assert_eq!(draft_text("VPN drops", "  "), "VPN drops");
        assert_eq!(draft_text("", "every hour"), "every hour");
        assert_eq!(draft_text(" ", ""), "");
    }
}
