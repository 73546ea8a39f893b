//! Events: the durable record of case deflection (a customer's case draft, the articles it was
//! shown, and what happened next) and of searches. It sits at the end of the flow: the server
//! records here after answering from `search` and `deflect`, and reads analytics back.
//!
//! Callers hold an [`EventStore`] trait object, so which store keeps the events is decided once,
//! where the service starts. Every store keeps the same promises: a draft or an outcome is
//! acknowledged only after it is committed, the same feedback twice is recorded once, a draft is
//! updated and given feedback only by the caller who created it, feedback names only articles the
//! draft was shown, every stored field has a size bound, events are kept for a retention period
//! and the database has a size cap that only search events give way to, the schema is migrated
//! when the store opens, and the analytics give the same answers. Search events are best effort.
//! This module holds the trait, the events' types and the rules every store applies to them.
//!
//! [`SqliteEventStore`] keeps them in an embedded SQLite database beside the index: `sqlite`
//! opens it and words its failures, `schema` migrates it, `writer` is the thread that commits
//! events in groups, `checkpoint` the thread that copies the write-ahead log into the database,
//! `retention` the thread that deletes old events and keeps the database under its cap, and
//! `analytics` the read connection and its queries.
//!
//! [`PgEventStore`] keeps them in PostgreSQL, shared by several replicas (`[events] url`):
//! `postgres` holds the pool and the writes, `pg_schema` migrates under an advisory lock, and
//! `pg_retention` keeps the same bounds. Both stores run the analytics of `queries`.

mod analytics;
mod checkpoint;
mod insights;
mod insights_queries;
mod pg_retention;
mod pg_schema;
mod postgres;
mod queries;
mod retention;
mod schema;
mod sqlite;
/// Events at fixed times for the tests of both stores (unit tests here, `tests/postgres_store.rs`).
#[doc(hidden)]
pub mod test_support;
mod writer;

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use self::insights::{
    ArticleActivity, ClickEvent, DayActivity, Insights, InsightsQuery, MAX_CLICK_RANK,
    MAX_COMMENT_CHARS, MAX_DRAFT_TEXT_CHARS, MAX_INSIGHTS_DAYS, QueryActivity, VoteComment,
    VoteEvent, VoteOutcome,
};
pub use self::postgres::{PgEventStore, redacted};
pub use self::sqlite::{EVENTS_FILE, SqliteEventStore};

/// Articles shown fewer times than this are too new to call never helpful.
pub const NEVER_HELPFUL_MIN_SHOWN: u64 = 3;

/// What a store keeps in place of a name it does not keep as sent (see [`EventStore`]): a
/// product or version the catalog does not know, or any name longer than [`MAX_NAME_CHARS`].
pub const OTHER: &str = "other";
/// Longest name kept (case type, product, version, audience), in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Longest free text kept (a search's query, once normalised), in characters; longer text is
/// cut there, on a character boundary, and [`TRUNCATED`] follows.
pub const MAX_TEXT_CHARS: usize = 500;
/// Marks free text cut at [`MAX_TEXT_CHARS`].
pub const TRUNCATED: &str = "…[truncated]";
/// Longest id kept (a draft's id, who created it or sends its feedback, a vote's visitor, a
/// search's id), in characters; a longer one is invalid. Ours are 36 (a UUID; `key:` and 32 hex
/// digits).
pub const MAX_ID_CHARS: usize = 128;
/// Longest article id a vote or a click may name, in characters; a longer one is invalid. Article
/// ids are their files' paths, far shorter; this bounds what a client can send.
pub const MAX_ARTICLE_ID_CHARS: usize = 512;
/// Most suggestions kept per draft, best first (deflection shows at most 20).
pub const MAX_SUGGESTIONS: usize = 50;

/// Why the event store could not open, write or read.
#[derive(Debug, Clone, Error)]
pub enum StoreError {
    /// At start-up: the file cannot be created, is not a SQLite database, or is newer than this
    /// build.
    #[error("event database {} cannot be opened: {reason}", path.display())]
    Open { path: PathBuf, reason: String },
    /// Busy, locked, full or failing storage; nothing of the request was written. Try again later.
    #[error("{0}")]
    Unavailable(String),
    /// The event breaks a rule of the store (see [`FeedbackEvent`]); nothing was written.
    #[error("invalid event: {0}")]
    Invalid(String),
    /// The database refused a statement for another reason: a bug, not a condition to wait out.
    #[error("{0}")]
    Failed(String),
    /// The writer thread has stopped.
    #[error("the event writer has stopped")]
    Closed,
    /// At start-up: the URL cannot be used, or the database server refuses the connection (a
    /// wrong password) or has a schema newer than this build. One that cannot be reached is not
    /// an error: the store waits for it. `target` is the URL without its password.
    #[error("event database {target} cannot be opened: {reason}")]
    Connect { target: String, reason: String },
}

/// Which store keeps the events and whether it answers now, for `/api/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreStatus {
    /// `sqlite` or `postgresql`.
    pub kind: &'static str,
    /// False since a request found the database unreachable, until one succeeds again.
    pub available: bool,
    /// The last reason it was unavailable, if ever.
    pub last_error: Option<String>,
}

/// A half-open time window `[from, to)` on when drafts and searches happened; `None` is unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Who created a draft, as [`DeflectionEvent::creator`] and [`FeedbackEvent::caller`] name
/// callers: without a key.
pub const ANONYMOUS_CREATOR: &str = "anonymous";

/// A case draft that was shown suggested articles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeflectionEvent {
    /// Unique per draft and unguessable (a UUID of version 4 or 7); recording the same id again
    /// updates the draft, when the same caller sends it.
    pub id: String,
    /// Who sends the draft: [`ANONYMOUS_CREATOR`], or a name for the key it came with that is
    /// not the key (`key:` and a fingerprint). The first to record an id owns the draft.
    pub creator: String,
    pub at: DateTime<Utc>,
    pub case_type: String,
    pub severity: u8,
    pub product: Option<String>,
    pub version: Option<String>,
    pub audience: String,
    /// Article ids shown, best first.
    pub suggested: Vec<String>,
    /// The draft's subject, a blank line, and its description, for the dashboard's "what to
    /// write next" (agents only); stored trimmed and cut at [`MAX_DRAFT_TEXT_CHARS`]. May be
    /// empty.
    pub text: String,
}

/// What a customer did about a draft's suggestions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackKind {
    /// An article solved the problem; names the article.
    Solved,
    /// An article did not help; names the article.
    NotHelpful,
    /// The customer submitted the case anyway; names no article.
    CaseSubmitted,
}

impl FeedbackKind {
    /// The name stored in the database, the same as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            FeedbackKind::Solved => "solved",
            FeedbackKind::NotHelpful => "not_helpful",
            FeedbackKind::CaseSubmitted => "case_submitted",
        }
    }
}

/// Feedback on a recorded draft. `solved` and `not_helpful` must name an article the draft was
/// shown; `case_submitted` may, and the article is then ignored: a case is submitted once per
/// draft.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedbackEvent {
    pub deflection_id: String,
    /// Who sends the feedback, named as [`DeflectionEvent::creator`]: only the draft's creator
    /// may.
    pub caller: String,
    pub kind: FeedbackKind,
    pub article_id: Option<String>,
    pub at: DateTime<Utc>,
}

/// What [`EventStore::record_deflection`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeflectionOutcome {
    /// No draft had this id: it is a new draft, owned by its creator.
    Created,
    /// The draft's creator sent it again: its fields and suggestions are the new ones.
    Updated,
    /// Another caller created the draft with this id (or it was created before creators were
    /// recorded, with a key); nothing was written.
    NotTheCreator,
}

/// What [`EventStore::record_feedback`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackOutcome {
    Recorded,
    /// The same feedback was recorded before; nothing changed.
    Duplicate,
    /// No draft has this id, or another caller created it: the same answer, so that feedback
    /// cannot tell another caller's draft from none. Nothing was written.
    UnknownDeflection,
    /// `solved` or `not_helpful` names an article that is not among the draft's suggestions
    /// (the latest ones recorded); nothing was written.
    NotSuggested,
}

/// One search as the analytics see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchEvent {
    pub at: DateTime<Utc>,
    /// As typed; normalised (trimmed, lowercased, whitespace collapsed) and cut at
    /// [`MAX_TEXT_CHARS`] when stored.
    pub query: String,
    /// Matching articles.
    pub total: u64,
    pub audience: String,
    /// The id the search page gave this rendered search (a UUID v7), which its clicks name;
    /// `None` for searches no click can name (the API). Stored as none when empty or longer than
    /// [`MAX_ID_CHARS`].
    pub id: Option<String>,
    /// The product filter of the search, as the catalog spells it; a bounded name.
    pub product: Option<String>,
}

/// An article and how often something happened to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArticleCount {
    pub article_id: String,
    pub count: u64,
}

/// A normalised query and how often it was searched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueryCount {
    pub query: String,
    pub count: u64,
}

/// How deflection went over the drafts written in a time range; feedback counts with its draft.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeflectionAnalytics {
    pub drafts: u64,
    /// Suggestions shown, summed over drafts.
    pub suggestions_shown: u64,
    pub drafts_with_suggestions: u64,
    /// Feedback of each kind (one draft may have several `solved` or `not_helpful`).
    pub solved: u64,
    pub not_helpful: u64,
    pub case_submitted: u64,
    /// Drafts with an outcome: an article solved it, or the case was submitted (or both).
    pub drafts_with_outcome: u64,
    /// Drafts an article solved with no case submitted.
    pub drafts_deflected: u64,
    /// `drafts_deflected / drafts_with_outcome`: among drafts that got an outcome, the share
    /// solved by an article without a case being submitted. `None` when no draft has an outcome.
    pub deflection_rate: Option<f64>,
    /// Articles by `solved` feedback, most first.
    pub top_solving: Vec<ArticleCount>,
    /// Articles shown at least `never_helpful_min_shown` times that never got `solved`, by times
    /// shown, most first.
    pub shown_never_helpful: Vec<ArticleCount>,
    pub never_helpful_min_shown: u64,
}

/// What customers searched for in a time range.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchAnalytics {
    pub searches: u64,
    /// Share of searches that found nothing; `None` when there were no searches.
    pub zero_result_share: Option<f64>,
    /// Normalised queries by count, most first.
    pub top_queries: Vec<QueryCount>,
    /// Normalised queries that found nothing, by count, most first.
    pub zero_result_queries: Vec<QueryCount>,
}

/// What a store has measured, dropped and deleted, for `/metrics`. Counts are since the store
/// opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StoreStats {
    /// Bytes the database takes, as last measured (for SQLite: the pages in use and the
    /// write-ahead log).
    pub database_bytes: u64,
    /// Search events not written: over the size cap, the queue full, or their batch failed.
    pub dropped_searches: u64,
    /// Click events not written, for the same reasons as searches.
    pub dropped_clicks: u64,
    /// Searches deleted, past the retention period or to make room under the size cap.
    pub pruned_searches: u64,
    /// Drafts deleted past the retention period, each with its suggestions and feedback.
    pub pruned_deflections: u64,
    /// Votes deleted past the retention period.
    pub pruned_votes: u64,
    /// Clicks deleted past the retention period (those that go with their search aside).
    pub pruned_clicks: u64,
}

/// Where events are recorded and analytics read. Callers hold an `Arc<dyn EventStore>`.
///
/// Every store checks events with the same rules (`validate_deflection`, `validate_feedback`)
/// before writing, answers a draft or feedback only once it is committed, and keeps blocking work
/// off the async runtime.
///
/// Every store also keeps two rules of ownership, checked in the same transaction as the write
/// so that no concurrent update slips between check and write:
/// - a draft belongs to the caller who first recorded its id ([`DeflectionEvent::creator`]):
///   only that caller may update it or send feedback on it. Ids are unguessable (the server
///   makes version 7 UUIDs and accepts version 4 or 7 from clients), so a client that picks its
///   id may start a draft with it, and cannot write over another caller's;
/// - `solved` and `not_helpful` feedback names an article the draft was shown (its latest
///   suggestions): no one can record "solved by" an article that was never suggested, hidden
///   ones included, or probe article ids through feedback.
///
/// Every stored field has a size bound, applied by the store whoever the caller is
/// (`bounded_deflection`, `bounded_search`), so that what clients send cannot fill the disk:
/// - names (case type, product, version, audience) longer than [`MAX_NAME_CHARS`] are stored as
///   [`OTHER`]. Callers map products and versions to the catalog's spelling first (the server
///   uses the searcher's catalog: `7.8` is stored as `7.8.0`) and send [`OTHER`] for values the
///   catalog does not know; the store does not know the catalog, only the bound;
/// - free text is cut on a character boundary and followed by [`TRUNCATED`]: a search's query
///   at [`MAX_TEXT_CHARS`] characters, a vote's comment at [`MAX_COMMENT_CHARS`], and a draft's
///   subject and description, stored together as its `text` for the agents' dashboard, at
///   [`MAX_DRAFT_TEXT_CHARS`];
/// - ids (a draft's id, its creator, feedback's caller, a vote's visitor) longer than
///   [`MAX_ID_CHARS`] are `Invalid`, and so are article ids of votes and clicks longer than
///   [`MAX_ARTICLE_ID_CHARS`]; a search's id that long is not kept; a draft keeps at most
///   [`MAX_SUGGESTIONS`] suggestions; feedback stores an article only when it is among the
///   draft's suggestions, and a click only when it names a recorded search, at a rank from 1 to
///   [`MAX_CLICK_RANK`]; a visitor keeps one vote per article.
///
/// Every store keeps events for a retention period and under a size cap (`[events]` in the
/// configuration), in the background, never on a request's path:
/// - drafts, searches, votes and clicks older than `keep_days` are deleted at start-up and then
///   hourly, in bounded batches so that no write waits long behind them; a draft goes with its
///   suggestions and feedback (an outcome is kept as long as its draft, counted from the draft's
///   first time), a search with its clicks;
/// - past `max_database_mb`, search and click events are dropped before they are written
///   (counted in [`StoreStats::dropped_searches`] and [`StoreStats::dropped_clicks`]) and the
///   oldest searches, with their clicks, are deleted to make room;
/// - drafts, outcomes and votes are never dropped or refused because of the cap: an outcome
///   needs its draft (feedback on a draft that was not kept would be refused as unknown), so
///   they are written while the disk has room, and only retention deletes them. A store fails
///   them only as it fails any write (a full disk, a lock: [`StoreError::Unavailable`]).
///
/// The async methods return boxed futures rather than being `async fn`s: a trait with `async fn`
/// cannot be used as `dyn EventStore`, and the `async-trait` macro would write these same
/// signatures behind a macro and another dependency. One allocation per call is nothing beside
/// the commit the call waits for.
pub trait EventStore: Send + Sync {
    /// Records a draft and the articles it was shown (`Created`), or updates it when its creator
    /// sends its id again (`Updated`: the case form asks again as the customer types). A draft
    /// another caller created is left as it was: `NotTheCreator`, nothing written. Durable when
    /// it returns Ok.
    fn record_deflection(
        &self,
        event: DeflectionEvent,
    ) -> BoxFuture<'_, Result<DeflectionOutcome, StoreError>>;

    /// Durable when it returns Ok. Unknown deflection id, or a draft `event.caller` did not
    /// create: `UnknownDeflection`, nothing written; `solved` or `not_helpful` for an article
    /// the draft was not shown: `NotSuggested`, nothing written; the same feedback twice:
    /// `Duplicate`, one row. `Invalid` when `solved` or `not_helpful` names no article.
    fn record_feedback(
        &self,
        event: FeedbackEvent,
    ) -> BoxFuture<'_, Result<FeedbackOutcome, StoreError>>;

    /// Best effort, never blocks a search: written later, and dropped (counted) rather than
    /// waited for when the store falls behind or the database is over its size cap.
    fn record_search(&self, event: SearchEvent);

    /// A customer's vote on an article: `Recorded`, or `Replaced` when this visitor had voted on
    /// it. Durable when it returns Ok; `Invalid` without an article or a visitor.
    fn record_vote(&self, event: VoteEvent) -> BoxFuture<'_, Result<VoteOutcome, StoreError>>;

    /// Best effort like [`EventStore::record_search`], on the same queue: dropped (counted) when
    /// the store falls behind or is over its size cap, and not kept when it names no recorded
    /// search, an invalid article id or a rank outside 1 to [`MAX_CLICK_RANK`].
    fn record_click(&self, event: ClickEvent);

    /// Waits until everything recorded so far is written, or has failed and been answered (for
    /// shutdown and tests); the error when the batch it was written with failed.
    fn flush(&self) -> BoxFuture<'_, Result<(), StoreError>>;

    /// What the store has measured, dropped and deleted; cheap, never blocks.
    fn stats(&self) -> StoreStats;

    /// Which store this is and whether it answers now; cheap, never blocks. A file beside the
    /// index is taken to answer: its failures are counted and answered where they happen.
    fn status(&self) -> StoreStatus {
        StoreStatus {
            kind: "sqlite",
            available: true,
            last_error: None,
        }
    }

    /// How deflection went for the drafts in `range`, with the `top` articles of each list.
    fn deflection_analytics(
        &self,
        range: TimeRange,
        top: usize,
    ) -> BoxFuture<'_, Result<DeflectionAnalytics, StoreError>>;

    /// What was searched in `range`, with the `top` queries of each list.
    fn search_analytics(
        &self,
        range: TimeRange,
        top: usize,
    ) -> BoxFuture<'_, Result<SearchAnalytics, StoreError>>;

    /// What the dashboard shows for `query`, every number read from one snapshot. Drafts and
    /// searches count when they happened in the range (and match the product, when given);
    /// clicks, votes and comments count by their own time, clicks only for searches of the
    /// product; votes name no product and count whatever the product.
    fn insights(&self, query: InsightsQuery) -> BoxFuture<'_, Result<Insights, StoreError>>;
}

/// Checks the rules of drafts: they have an id and a creator, neither longer than
/// [`MAX_ID_CHARS`].
fn validate_deflection(event: &DeflectionEvent) -> Result<(), StoreError> {
    if event.id.is_empty() {
        return Err(StoreError::Invalid("a deflection needs an id".to_string()));
    }
    if event.creator.is_empty() {
        return Err(StoreError::Invalid(
            "a deflection needs its creator".to_string(),
        ));
    }
    check_id_length("deflection id", &event.id)?;
    check_id_length("creator", &event.creator)
}

fn check_id_length(what: &str, id: &str) -> Result<(), StoreError> {
    let chars = id.chars().count();
    if chars > MAX_ID_CHARS {
        return Err(StoreError::Invalid(format!(
            "the {what} is {chars} characters long; the limit is {MAX_ID_CHARS}"
        )));
    }
    Ok(())
}

/// A draft as every store keeps it: names longer than [`MAX_NAME_CHARS`] become [`OTHER`], only
/// the first [`MAX_SUGGESTIONS`] suggestions are kept, and its text is trimmed and cut at
/// [`MAX_DRAFT_TEXT_CHARS`].
fn bounded_deflection(event: DeflectionEvent) -> DeflectionEvent {
    let mut suggested = event.suggested;
    suggested.truncate(MAX_SUGGESTIONS);
    DeflectionEvent {
        case_type: bounded_name(event.case_type),
        product: event.product.map(bounded_name),
        version: event.version.map(bounded_name),
        audience: bounded_name(event.audience),
        suggested,
        text: cut_text(event.text.trim(), MAX_DRAFT_TEXT_CHARS),
        ..event
    }
}

/// A search as every store keeps it: the query normalised and cut at [`MAX_TEXT_CHARS`], the
/// audience and product names, and no id when it is empty or longer than [`MAX_ID_CHARS`].
fn bounded_search(event: SearchEvent) -> SearchEvent {
    let id = event
        .id
        .filter(|id| (1..=MAX_ID_CHARS).contains(&id.chars().count()));
    SearchEvent {
        query: bounded_text(&normalize_query(&event.query)),
        audience: bounded_name(event.audience),
        product: event.product.map(bounded_name),
        id,
        ..event
    }
}

/// A name as stored: itself, or [`OTHER`] when longer than [`MAX_NAME_CHARS`] (a prefix of a
/// name is another name, so names are never cut).
pub fn bounded_name(name: String) -> String {
    if name.chars().count() > MAX_NAME_CHARS {
        return OTHER.to_string();
    }
    name
}

/// Free text as stored: its first [`MAX_TEXT_CHARS`] characters, and [`TRUNCATED`] when there
/// were more.
pub fn bounded_text(text: &str) -> String {
    cut_text(text, MAX_TEXT_CHARS)
}

/// `text`'s first `max_chars` characters, and [`TRUNCATED`] when there were more.
fn cut_text(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}{TRUNCATED}", &text[..cut]),
    }
}

/// Checks the rules of votes (an article and a visitor, both bounded) and keeps a comment only on
/// a "not helpful" vote, trimmed, cut at [`MAX_COMMENT_CHARS`]; a blank one is none.
fn validate_vote(event: VoteEvent) -> Result<VoteEvent, StoreError> {
    if event.article_id.is_empty() {
        return Err(StoreError::Invalid(
            "a vote needs an article id".to_string(),
        ));
    }
    if event.visitor.is_empty() {
        return Err(StoreError::Invalid("a vote needs its visitor".to_string()));
    }
    check_article_id(&event.article_id)?;
    check_id_length("visitor", &event.visitor)?;
    let comment = event
        .comment
        .as_deref()
        .map(str::trim)
        .filter(|comment| !event.helpful && !comment.is_empty())
        .map(|comment| cut_text(comment, MAX_COMMENT_CHARS));
    Ok(VoteEvent { comment, ..event })
}

/// Whether a click may be kept (the store also needs its search): an article id within
/// [`MAX_ARTICLE_ID_CHARS`], a search id within [`MAX_ID_CHARS`], a rank from 1 to
/// [`MAX_CLICK_RANK`].
fn valid_click(event: &ClickEvent) -> bool {
    let search_id = event.search_id.chars().count();
    let article_id = event.article_id.chars().count();
    (1..=MAX_ID_CHARS).contains(&search_id)
        && (1..=MAX_ARTICLE_ID_CHARS).contains(&article_id)
        && (1..=MAX_CLICK_RANK).contains(&event.rank)
}

fn check_article_id(id: &str) -> Result<(), StoreError> {
    let chars = id.chars().count();
    if chars > MAX_ARTICLE_ID_CHARS {
        return Err(StoreError::Invalid(format!(
            "the article id is {chars} characters long; the limit is {MAX_ARTICLE_ID_CHARS}"
        )));
    }
    Ok(())
}

/// Checks the rules the HTTP layer relies on, and drops the article of `case_submitted`.
fn validate_feedback(event: FeedbackEvent) -> Result<FeedbackEvent, StoreError> {
    if event.deflection_id.is_empty() {
        return Err(StoreError::Invalid(
            "feedback needs a deflection id".to_string(),
        ));
    }
    if event.caller.is_empty() {
        return Err(StoreError::Invalid("feedback needs its caller".to_string()));
    }
    check_id_length("deflection id", &event.deflection_id)?;
    check_id_length("caller", &event.caller)?;
    let names_article = event.article_id.as_deref().is_some_and(|id| !id.is_empty());
    match event.kind {
        FeedbackKind::Solved | FeedbackKind::NotHelpful if !names_article => {
            Err(StoreError::Invalid(format!(
                "`{}` feedback must name the article (article_id)",
                event.kind.as_str()
            )))
        }
        FeedbackKind::CaseSubmitted => Ok(FeedbackEvent {
            article_id: None,
            ..event
        }),
        FeedbackKind::Solved | FeedbackKind::NotHelpful => Ok(event),
    }
}

/// Trimmed, lowercased, whitespace collapsed: how queries are counted as the same.
fn normalize_query(query: &str) -> String {
    query
        .split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::test_support::{click, draft, feedback, page_search, rows, search, vote};
    use super::*;

    /// One column of every row of `table`, read as another process would.
    fn column(dir: &std::path::Path, table: &str, column: &str) -> Vec<Option<String>> {
        let conn = rusqlite::Connection::open(dir.join(EVENTS_FILE)).unwrap();
        conn.prepare(&format!("SELECT {column} FROM {table} ORDER BY rowid"))
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<Vec<_>>>()
            .unwrap()
    }

    #[test]
    fn text_is_cut_on_a_character_boundary_and_marked() {
        assert_eq!(bounded_text("short"), "short");
        let exact = "é".repeat(MAX_TEXT_CHARS);
        assert_eq!(bounded_text(&exact), exact, "at the limit: kept whole");
        let long = format!("{}€€€", "é".repeat(MAX_TEXT_CHARS - 1));
        let cut = bounded_text(&long);
        assert_eq!(
            cut,
            format!("{}€{TRUNCATED}", "é".repeat(MAX_TEXT_CHARS - 1))
        );
        assert_eq!(
            cut.chars().count(),
            MAX_TEXT_CHARS + TRUNCATED.chars().count()
        );
        assert_eq!(bounded_name("StorageX".to_string()), "StorageX");
        assert_eq!(bounded_name("x".repeat(MAX_NAME_CHARS + 1)), OTHER);
    }

    /// Issue 14: product and version were stored verbatim, 30 KB each accepted.
    #[tokio::test]
    async fn a_draft_is_stored_with_bounded_fields() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteEventStore::open(dir.path()).unwrap();
        let huge = "7".repeat(30_000);
        let many: Vec<String> = (0..MAX_SUGGESTIONS + 10).map(|n| format!("a{n}")).collect();
        let event = DeflectionEvent {
            case_type: huge.clone(),
            product: Some(huge.clone()),
            version: Some(huge.clone()),
            audience: huge.clone(),
            suggested: many,
            ..draft("d1", 0, &[])
        };
        let outcome = store.record_deflection(event).await.unwrap();
        assert_eq!(outcome, DeflectionOutcome::Created);
        for field in ["case_type", "product", "version", "audience"] {
            assert_eq!(
                column(dir.path(), "deflections", field),
                [Some(OTHER.to_string())],
                "{field}"
            );
        }
        assert_eq!(rows(dir.path(), "suggestions"), MAX_SUGGESTIONS as u64);
        // Names within the limit are kept as they are: mapping them to the catalog is the
        // caller's part, the store's is the size.
        store
            .record_deflection(draft("d2", 0, &["a"]))
            .await
            .unwrap();
        assert_eq!(
            column(dir.path(), "deflections", "version")[1].as_deref(),
            Some("7.8")
        );
    }

    #[tokio::test]
    async fn a_long_query_is_stored_cut_and_marked() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteEventStore::open(dir.path()).unwrap();
        let query = format!("  Cutover {}", "ERR_SHARE_LOCKED ".repeat(2_000));
        store.record_search(search(0, &query, 1));
        store.record_search(search(0, "  VPN   error ", 1));
        store.flush().await.unwrap();
        let stored = column(dir.path(), "searches", "query");
        let long = stored[0].as_deref().unwrap();
        assert!(long.starts_with("cutover err_share_locked "), "{long}");
        assert!(long.ends_with(TRUNCATED), "{long}");
        assert_eq!(
            long.chars().count(),
            MAX_TEXT_CHARS + TRUNCATED.chars().count()
        );
        assert_eq!(stored[1].as_deref(), Some("vpn error"));
    }

    #[tokio::test]
    async fn ids_longer_than_the_limit_are_invalid() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteEventStore::open(dir.path()).unwrap();
        let long = "d".repeat(MAX_ID_CHARS + 1);
        let by_id = store.record_deflection(draft(&long, 0, &["a"])).await;
        assert!(matches!(by_id, Err(StoreError::Invalid(_))), "{by_id:?}");
        let by_creator = DeflectionEvent {
            creator: long.clone(),
            ..draft("d1", 0, &["a"])
        };
        let by_creator = store.record_deflection(by_creator).await;
        assert!(
            matches!(by_creator, Err(StoreError::Invalid(_))),
            "{by_creator:?}"
        );
        let feedback = store
            .record_feedback(feedback(&long, FeedbackKind::CaseSubmitted, None))
            .await;
        assert!(
            matches!(feedback, Err(StoreError::Invalid(_))),
            "{feedback:?}"
        );
        assert_eq!(rows(dir.path(), "deflections"), 0);
    }

    #[tokio::test]
    async fn only_the_creator_updates_a_draft_or_sends_its_feedback() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteEventStore::open(dir.path()).unwrap();
        let first = store.record_deflection(draft("d1", 0, &["a"])).await;
        assert_eq!(first.unwrap(), DeflectionOutcome::Created);
        let again = store.record_deflection(draft("d1", 1, &["a", "b"])).await;
        assert_eq!(again.unwrap(), DeflectionOutcome::Updated);
        for stranger in [ANONYMOUS_CREATOR, "key:another"] {
            let takeover = DeflectionEvent {
                creator: stranger.to_string(),
                ..draft("d1", 2, &["secret"])
            };
            let outcome = store.record_deflection(takeover).await.unwrap();
            assert_eq!(outcome, DeflectionOutcome::NotTheCreator);
            let solved = FeedbackEvent {
                caller: stranger.to_string(),
                ..feedback("d1", FeedbackKind::Solved, Some("a"))
            };
            let outcome = store.record_feedback(solved).await.unwrap();
            assert_eq!(outcome, FeedbackOutcome::UnknownDeflection, "like no draft");
        }
        assert_eq!(rows(dir.path(), "suggestions"), 2, "the creator's latest");
        assert_eq!(rows(dir.path(), "feedback"), 0);
    }

    #[tokio::test]
    async fn feedback_names_only_articles_the_draft_was_shown() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteEventStore::open(dir.path()).unwrap();
        store
            .record_deflection(draft("d1", 0, &["a", "b"]))
            .await
            .unwrap();
        store
            .record_deflection(draft("d2", 0, &["c"]))
            .await
            .unwrap();
        for kind in [FeedbackKind::Solved, FeedbackKind::NotHelpful] {
            for article in ["c", "internal-secret"] {
                let outcome = store.record_feedback(feedback("d1", kind, Some(article)));
                assert_eq!(outcome.await.unwrap(), FeedbackOutcome::NotSuggested);
            }
        }
        assert_eq!(rows(dir.path(), "feedback"), 0);
        let shown = store.record_feedback(feedback("d1", FeedbackKind::Solved, Some("b")));
        assert_eq!(shown.await.unwrap(), FeedbackOutcome::Recorded);
        // The suggestions that count are the latest: an update that no longer shows `b`.
        store
            .record_deflection(draft("d1", 1, &["a"]))
            .await
            .unwrap();
        let stale = store.record_feedback(feedback("d1", FeedbackKind::NotHelpful, Some("b")));
        assert_eq!(stale.await.unwrap(), FeedbackOutcome::NotSuggested);
        assert_eq!(rows(dir.path(), "feedback"), 1);
    }

    #[tokio::test]
    async fn solved_and_not_helpful_must_name_an_article() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteEventStore::open(dir.path()).unwrap();
        store
            .record_deflection(draft("d1", 0, &["a"]))
            .await
            .unwrap();
        for kind in [FeedbackKind::Solved, FeedbackKind::NotHelpful] {
            let missing = store.record_feedback(feedback("d1", kind, None)).await;
            assert!(
                matches!(missing, Err(StoreError::Invalid(_))),
                "{missing:?}"
            );
            let empty = store.record_feedback(feedback("d1", kind, Some(""))).await;
            assert!(matches!(empty, Err(StoreError::Invalid(_))), "{empty:?}");
        }
        assert_eq!(rows(dir.path(), "feedback"), 0);
    }

    #[tokio::test]
    async fn a_second_vote_of_a_visitor_replaces_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteEventStore::open(dir.path()).unwrap();
        let first = store.record_vote(vote("a", "v1", false, Some("old"), 0));
        assert_eq!(first.await.unwrap(), VoteOutcome::Recorded);
        let other_article = store.record_vote(vote("b", "v1", true, None, 0));
        assert_eq!(other_article.await.unwrap(), VoteOutcome::Recorded);
        let again = store.record_vote(vote("a", "v1", true, None, 1));
        assert_eq!(again.await.unwrap(), VoteOutcome::Replaced);
        assert_eq!(rows(dir.path(), "votes"), 2);
        let conn = rusqlite::Connection::open(dir.path().join(EVENTS_FILE)).unwrap();
        let (helpful, comment, at_ms): (bool, Option<String>, i64) = conn
            .query_row(
                "SELECT helpful, comment, at_ms FROM votes WHERE article_id = 'a'",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .unwrap();
        assert_eq!(
            (helpful, comment),
            (true, None),
            "the new vote, without comment"
        );
        assert_eq!(at_ms, test_support::at(1).timestamp_millis());
    }

    #[tokio::test]
    async fn a_vote_keeps_a_comment_only_when_not_helpful_and_cut_at_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteEventStore::open(dir.path()).unwrap();
        let long = format!("  {}  ", "é".repeat(MAX_COMMENT_CHARS + 20));
        let votes = [
            vote("a", "v1", true, Some("kept? no: helpful"), 0),
            vote("b", "v1", false, Some("   "), 0),
            vote("c", "v1", false, Some(" Step 3 is wrong "), 0),
            vote("d", "v1", false, Some(&long), 0),
        ];
        for event in votes {
            store.record_vote(event).await.unwrap();
        }
        let cut = format!("{}{TRUNCATED}", "é".repeat(MAX_COMMENT_CHARS));
        assert_eq!(
            column(dir.path(), "votes", "comment"),
            [None, None, Some("Step 3 is wrong".to_string()), Some(cut)]
        );
    }

    #[tokio::test]
    async fn votes_without_an_article_or_visitor_or_too_long_are_invalid() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteEventStore::open(dir.path()).unwrap();
        let long_article = "a".repeat(MAX_ARTICLE_ID_CHARS + 1);
        let long_visitor = "v".repeat(MAX_ID_CHARS + 1);
        for event in [
            vote("", "v1", true, None, 0),
            vote("a", "", true, None, 0),
            vote(&long_article, "v1", true, None, 0),
            vote("a", &long_visitor, true, None, 0),
        ] {
            let refused = store.record_vote(event).await;
            assert!(
                matches!(refused, Err(StoreError::Invalid(_))),
                "{refused:?}"
            );
        }
        assert_eq!(rows(dir.path(), "votes"), 0);
    }

    #[tokio::test]
    async fn a_click_is_kept_only_for_a_recorded_search_and_a_rank_in_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteEventStore::open(dir.path()).unwrap();
        store.record_search(page_search(0, "vpn", 3, "s1", None));
        for event in [
            click("s1", "a", 1, 1),
            click("s1", "a", 1, 2),
            click("s1", "b", 2, 2),
            click("unknown", "a", 1, 1),
            click("s1", "a", 0, 1),
            click("s1", "a", MAX_CLICK_RANK + 1, 1),
            click("s1", &"a".repeat(MAX_ARTICLE_ID_CHARS + 1), 1, 1),
        ] {
            store.record_click(event);
        }
        store.flush().await.unwrap();
        assert_eq!(
            column(dir.path(), "clicks", "article_id"),
            [Some("a".to_string()), Some("b".to_string())],
            "one row per search, article and rank"
        );
        assert_eq!(store.stats().dropped_clicks, 0);
    }

    #[tokio::test]
    async fn a_search_keeps_its_id_and_product_within_bounds_and_a_draft_its_text() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteEventStore::open(dir.path()).unwrap();
        let long_id = "s".repeat(MAX_ID_CHARS + 1);
        store.record_search(page_search(0, "a", 1, "s1", Some("backup")));
        store.record_search(page_search(0, "b", 1, &long_id, Some(&"p".repeat(100))));
        store.record_search(page_search(0, "c", 1, "", None));
        store.record_search(page_search(0, "d", 1, "s1", None));
        store.flush().await.unwrap();
        assert_eq!(
            column(dir.path(), "searches", "search_id"),
            [Some("s1".to_string()), None, None],
            "a second search with the same id replaces the first"
        );
        assert_eq!(
            column(dir.path(), "searches", "query"),
            [
                Some("d".to_string()),
                Some("b".to_string()),
                Some("c".to_string())
            ],
            "the last words typed are what was searched"
        );
        assert_eq!(
            column(dir.path(), "searches", "product"),
            [None, Some(OTHER.to_string()), None]
        );
        let long_text = format!("  {}", "x".repeat(MAX_DRAFT_TEXT_CHARS + 5));
        let event = DeflectionEvent {
            text: long_text,
            ..draft("d1", 0, &["a"])
        };
        store.record_deflection(event).await.unwrap();
        let stored = column(dir.path(), "deflections", "text")[0]
            .clone()
            .unwrap();
        assert_eq!(
            stored,
            format!("{}{TRUNCATED}", "x".repeat(MAX_DRAFT_TEXT_CHARS))
        );
    }
}
