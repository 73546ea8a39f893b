//! What the support managers' dashboard (`/insights`) reads from the event store in one call:
//! the deflection funnel and searches per day, the queries and articles that matter, the vote
//! comments, and the texts of unanswered drafts that "what to write next" groups. Both stores
//! answer it from the same statements (`queries`); the server draws and groups, the store
//! counts.
//!
//! Also the two events the dashboard adds: a customer's vote on an article ("Was this helpful?")
//! and a click on a search result.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::TimeRange;

/// Longest vote comment kept, in characters; longer ones are cut and marked like free text.
pub const MAX_COMMENT_CHARS: usize = 500;
/// Longest draft text kept for "what to write next" (subject, a blank line, description), in
/// characters; longer text is cut and marked like free text.
pub const MAX_DRAFT_TEXT_CHARS: usize = 1_000;
/// Highest rank a click may name: a search shows at most 1,000 hits across its pages.
pub const MAX_CLICK_RANK: u32 = 1_000;
/// Most days one insights call covers: the route refuses longer periods, so that the series
/// stays bounded.
pub const MAX_INSIGHTS_DAYS: i64 = 366;

/// A customer's answer to "Was this helpful?" on an article page. One per article per browser
/// session: the same `visitor` voting again on the same article replaces the earlier vote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoteEvent {
    pub article_id: String,
    /// The browser session's random id (a cookie), at most `MAX_ID_CHARS`.
    pub visitor: String,
    pub helpful: bool,
    /// Only with `helpful == false`; empty means none.
    pub comment: Option<String>,
    pub at: DateTime<Utc>,
}

/// What [`super::EventStore::record_vote`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VoteOutcome {
    /// The visitor's first vote on this article.
    Recorded,
    /// The visitor had voted on this article: the vote and comment are the new ones.
    Replaced,
}

/// A click on a search result: which hit, at which rank, for which search. Best effort, like
/// searches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClickEvent {
    /// The id the search page gave the search ([`super::SearchEvent::id`]); a click naming no
    /// recorded search is not kept.
    pub search_id: String,
    pub article_id: String,
    /// 1 for the first hit of the first page; from 1 to [`MAX_CLICK_RANK`], or the click is not
    /// kept.
    pub rank: u32,
    pub at: DateTime<Utc>,
}

/// What the dashboard asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsightsQuery {
    pub range: TimeRange,
    /// Drafts and searches for this product only (as the catalog spells it); `None` for all.
    pub product: Option<String>,
    /// Entries in each list of queries, and articles at most.
    pub top: usize,
    /// Unanswered draft texts at most, most recent first.
    pub texts: usize,
}

/// One UTC day's counts; days with no event are left out (the page fills them in).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DayActivity {
    pub day: NaiveDate,
    /// Drafts first recorded that day.
    pub drafts: u64,
    pub drafts_with_suggestions: u64,
    /// Drafts an article solved.
    pub drafts_solved: u64,
    /// Drafts whose case was submitted.
    pub cases_submitted: u64,
    /// Drafts with an outcome (solved or submitted), and those solved with no case submitted:
    /// their ratio is the day's deflection rate.
    pub drafts_with_outcome: u64,
    pub drafts_deflected: u64,
    pub searches: u64,
    pub zero_result_searches: u64,
    /// Searches with at least one click.
    pub clicked_searches: u64,
    /// Sum over clicked searches of the rank of their first click (the mean is this over
    /// `clicked_searches`).
    pub first_click_rank_sum: u64,
}

/// A normalised query and what came of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueryActivity {
    pub query: String,
    pub searches: u64,
    /// Searches of it that found nothing.
    pub zero_results: u64,
    /// Searches of it with at least one click.
    pub clicked: u64,
}

/// What happened to one article in the period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ArticleActivity {
    pub article_id: String,
    /// Times suggested to a draft (in the draft's latest suggestions).
    pub shown: u64,
    pub solved: u64,
    pub not_helpful: u64,
    /// Clicks from search results.
    pub clicks: u64,
    pub votes_helpful: u64,
    pub votes_not_helpful: u64,
}

/// A "not helpful" vote's comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VoteComment {
    pub article_id: String,
    pub comment: String,
    pub at: DateTime<Utc>,
}

/// Everything the dashboard shows for one [`InsightsQuery`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Insights {
    /// Ascending by day.
    pub days: Vec<DayActivity>,
    /// By searches, most first, at most `top`.
    pub top_queries: Vec<QueryActivity>,
    /// Queries that found nothing, by searches that found nothing, most first, at most `top`.
    pub zero_result_queries: Vec<QueryActivity>,
    /// Queries that found something and were never clicked, by searches, most first, at most
    /// `top`. Only searches from the search page count as found (they have an id that clicks
    /// name; the API's cannot be clicked).
    pub unclicked_queries: Vec<QueryActivity>,
    /// Articles with any activity, by shown + clicks + votes, most first, at most `top`.
    pub articles: Vec<ArticleActivity>,
    /// Comments of "not helpful" votes, most recent first, at most `top`.
    pub comments: Vec<VoteComment>,
    /// Texts of unanswered drafts, most recent first, at most `texts`: drafts shown no
    /// suggestion, or told an article was not helpful and then submitted with none solving it.
    pub unanswered_drafts: Vec<String>,
}
