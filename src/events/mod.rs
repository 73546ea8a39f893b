//! Events: the durable record of case deflection (a customer's case draft, the articles it was
//! shown, and what happened next) and of searches, kept in an embedded SQLite database
//! (`data/events.sqlite3`) beside the index. It sits at the end of the flow: the server records
//! here after answering from `search` and `deflect`, and reads analytics back.
//!
//! One writer thread owns the write connection. A request sends its event with a reply channel;
//! the writer takes everything queued, writes it in one transaction and commits (one fsync for
//! the whole group), then answers each request. So an event is durable before its request is
//! answered, many requests share one fsync, and a failed transaction is rolled back whole and
//! reported to every request in it: nothing is half-written. Search events are best effort and
//! ride along with the next batch. Analytics read through a separate read-only connection, which
//! WAL mode lets run while the writer commits.
//!
//! This module holds the handle and the events' types; [`schema`] the migrations, [`writer`] the
//! writer thread, [`checkpoint`] the thread that copies the write-ahead log into the database,
//! and [`analytics`] the read connection and its queries.

mod analytics;
mod checkpoint;
mod schema;
#[cfg(test)]
mod test_support;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, ErrorCode, TransactionBehavior};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

use self::analytics::{open_reader, read_deflection_analytics, read_search_analytics};
use self::checkpoint::{LOG_LIMIT_FRAMES, checkpoint_until, open_checkpointer};
use self::writer::{Message, Writer, open_writer};

/// The database file inside the data folder.
pub const EVENTS_FILE: &str = "events.sqlite3";

/// Articles shown fewer times than this are too new to call never helpful.
pub const NEVER_HELPFUL_MIN_SHOWN: u64 = 3;

/// How long a write waits for another process's lock before answering "unavailable".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Events waiting for the writer; beyond this, durable writes wait and search events are dropped.
const QUEUE_CAPACITY: usize = 8192;

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
}

/// A half-open time window `[from, to)` on when drafts and searches happened; `None` is unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// A case draft that was shown suggested articles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeflectionEvent {
    /// Unique per draft; recording the same id again is a no-op (a retried request).
    pub id: String,
    pub at: DateTime<Utc>,
    pub case_type: String,
    pub severity: u8,
    pub product: Option<String>,
    pub version: Option<String>,
    pub audience: String,
    /// Article ids shown, best first.
    pub suggested: Vec<String>,
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

/// Feedback on a recorded draft. `solved` and `not_helpful` must name an article;
/// `case_submitted` may, and the article is then ignored: a case is submitted once per draft.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedbackEvent {
    pub deflection_id: String,
    pub kind: FeedbackKind,
    pub article_id: Option<String>,
    pub at: DateTime<Utc>,
}

/// What [`EventStore::record_feedback`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackOutcome {
    Recorded,
    /// The same feedback was recorded before; nothing changed.
    Duplicate,
    /// No draft has this id; nothing was written.
    UnknownDeflection,
}

/// One search as the analytics see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchEvent {
    pub at: DateTime<Utc>,
    /// As typed; normalised (trimmed, lowercased, whitespace collapsed) when stored.
    pub query: String,
    /// Matching articles.
    pub total: u64,
    pub audience: String,
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

/// Settings that tests change; the service uses the defaults.
#[derive(Debug, Clone, Copy)]
struct Options {
    busy_timeout: Duration,
    /// See [`LOG_LIMIT_FRAMES`].
    log_limit_frames: i64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            busy_timeout: BUSY_TIMEOUT,
            log_limit_frames: LOG_LIMIT_FRAMES,
        }
    }
}

/// A cheap handle to the event database: clones share one writer thread and one read connection.
/// The writer stops when the last clone is dropped, after writing what was queued.
#[derive(Clone)]
pub struct EventStore {
    path: Arc<Path>,
    queue: mpsc::Sender<Message>,
    reader: Arc<Mutex<Connection>>,
    dropped_searches: Arc<AtomicU64>,
}

impl EventStore {
    /// Opens (creating the folder and file) and migrates the database; starts the writer thread.
    pub fn open(data_dir: &Path) -> Result<EventStore, StoreError> {
        EventStore::open_with(data_dir, Options::default())
    }

    fn open_with(data_dir: &Path, options: Options) -> Result<EventStore, StoreError> {
        let path = data_dir.join(EVENTS_FILE);
        let open_error = |reason: String| StoreError::Open {
            path: path.clone(),
            reason,
        };
        std::fs::create_dir_all(data_dir)
            .map_err(|err| open_error(format!("cannot create its folder: {err}")))?;
        let writer = open_writer(&path, options).map_err(|err| open_error(open_reason(&err)))?;
        let reader = open_reader(&path, options).map_err(|err| open_error(open_reason(&err)))?;

        let checkpoints =
            open_checkpointer(&path, options).map_err(|err| open_error(open_reason(&err)))?;

        let (queue, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let dropped_searches = Arc::new(AtomicU64::new(0));
        let file: Arc<Path> = Arc::from(path.as_path());
        let (running, stopped) = std::sync::mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("kbsearch-checkpoints".to_string())
            .spawn(move || checkpoint_until(checkpoints, options.log_limit_frames, &stopped))
            .map_err(|err| open_error(format!("cannot start the checkpoint thread: {err}")))?;
        let worker = Writer {
            path: file.clone(),
            conn: writer,
            receiver,
            dropped_searches: dropped_searches.clone(),
            _running: running,
        };
        std::thread::Builder::new()
            .name("kbsearch-events".to_string())
            .spawn(move || worker.run())
            .map_err(|err| open_error(format!("cannot start the writer thread: {err}")))?;
        Ok(EventStore {
            path: file,
            queue,
            reader: Arc::new(Mutex::new(reader)),
            dropped_searches,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Durable when it returns Ok.
    pub async fn record_deflection(&self, event: DeflectionEvent) -> Result<(), StoreError> {
        if event.id.is_empty() {
            return Err(StoreError::Invalid("a deflection needs an id".to_string()));
        }
        let (reply, answer) = oneshot::channel();
        self.send(Message::Deflection(event, reply)).await?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Durable when it returns Ok. Unknown deflection id: `UnknownDeflection`, nothing written;
    /// the same feedback twice: `Duplicate`, one row. `Invalid` when `solved` or `not_helpful`
    /// names no article.
    pub async fn record_feedback(
        &self,
        event: FeedbackEvent,
    ) -> Result<FeedbackOutcome, StoreError> {
        let event = validate_feedback(event)?;
        let (reply, answer) = oneshot::channel();
        self.send(Message::Feedback(event, reply)).await?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Best effort, never blocks a search: queued and written with the next batch; dropped (and
    /// counted, see [`EventStore::dropped_searches`]) when the queue is full.
    pub fn record_search(&self, event: SearchEvent) {
        if self.queue.try_send(Message::Search(event)).is_err() {
            let dropped = self.dropped_searches.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped % 1000 == 1 {
                warn!(
                    dropped,
                    "search event dropped: the event queue is full or closed"
                );
            }
        }
    }

    /// Search events lost so far (queue full, writer stopped, or their batch failed).
    pub fn dropped_searches(&self) -> u64 {
        self.dropped_searches.load(Ordering::Relaxed)
    }

    /// Waits until everything queued so far is written, or has failed and been answered (for
    /// shutdown and tests); the error when the batch it was written with failed.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send(Message::Flush(reply)).await?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Blocking read: call from `spawn_blocking`.
    pub fn deflection_analytics(
        &self,
        range: TimeRange,
        top: usize,
    ) -> Result<DeflectionAnalytics, StoreError> {
        self.read(|conn| read_deflection_analytics(conn, range, top))
    }

    /// Blocking read: call from `spawn_blocking`.
    pub fn search_analytics(
        &self,
        range: TimeRange,
        top: usize,
    ) -> Result<SearchAnalytics, StoreError> {
        self.read(|conn| read_search_analytics(conn, range, top))
    }

    async fn send(&self, message: Message) -> Result<(), StoreError> {
        self.queue
            .send(message)
            .await
            .map_err(|_| StoreError::Closed)
    }

    /// Runs `query` in one read transaction, so every number comes from the same snapshot.
    fn read<T>(
        &self,
        query: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        // A panic in another read leaves nothing behind: its transaction rolled back on unwind.
        let mut conn = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        let read = || -> rusqlite::Result<T> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
            query(&tx)
        };
        read().map_err(|err| {
            let error = store_error(&self.path, &err);
            warn!(path = %self.path.display(), "event analytics failed: {error}");
            error
        })
    }
}

/// Checks the rules the HTTP layer relies on, and drops the article of `case_submitted`.
fn validate_feedback(event: FeedbackEvent) -> Result<FeedbackEvent, StoreError> {
    if event.deflection_id.is_empty() {
        return Err(StoreError::Invalid(
            "feedback needs a deflection id".to_string(),
        ));
    }
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

/// Why opening failed, before it is worded for the person starting the service.
#[derive(Debug)]
enum OpenFailure {
    Sqlite(rusqlite::Error),
    Other(String),
}

impl From<rusqlite::Error> for OpenFailure {
    fn from(err: rusqlite::Error) -> Self {
        OpenFailure::Sqlite(err)
    }
}

fn open_reason(failure: &OpenFailure) -> String {
    let err = match failure {
        OpenFailure::Other(reason) => return reason.clone(),
        OpenFailure::Sqlite(err) => err,
    };
    match err.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => "it is not a SQLite database; move it aside (a new one \
                                          is created on the next start) or point the data folder \
                                          elsewhere"
            .to_string(),
        Some(ErrorCode::DatabaseCorrupt) => {
            format!("it is damaged ({err}); move it aside to start a new one")
        }
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            "it is locked by another process; stop that process and start again".to_string()
        }
        _ => err.to_string(),
    }
}

/// Words a SQLite failure for the request that met it: conditions to wait out are
/// [`StoreError::Unavailable`] (503), anything else [`StoreError::Failed`].
fn store_error(path: &Path, err: &rusqlite::Error) -> StoreError {
    let file = path.display();
    match err.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Unavailable(
            format!("the event database {file} is locked by another process; try again later"),
        ),
        Some(ErrorCode::DiskFull) => StoreError::Unavailable(format!(
            "the event database {file} is full (no space left); nothing was written"
        )),
        Some(
            ErrorCode::SystemIoFailure
            | ErrorCode::ReadOnly
            | ErrorCode::CannotOpen
            | ErrorCode::PermissionDenied
            | ErrorCode::OutOfMemory,
        ) => StoreError::Unavailable(format!(
            "the event database {file} cannot be written ({err}); nothing was written"
        )),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => StoreError::Unavailable(
            format!("the event database {file} is damaged ({err}); nothing was written"),
        ),
        _ => StoreError::Failed(format!("the event database {file} failed: {err}")),
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
    use super::test_support::{draft, feedback, rows, search};
    use super::*;

    #[tokio::test]
    async fn events_survive_closing_and_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        {
            let store = EventStore::open(&data).unwrap();
            assert_eq!(store.path(), data.join(EVENTS_FILE));
            store
                .record_deflection(draft("d1", 0, &["a", "b"]))
                .await
                .unwrap();
            let outcome = store
                .record_feedback(feedback("d1", FeedbackKind::Solved, Some("a")))
                .await
                .unwrap();
            assert_eq!(outcome, FeedbackOutcome::Recorded);
            store.record_search(search(0, "vpn", 2));
            store.flush().await.unwrap();
        }
        let store = EventStore::open(&data).unwrap();
        let deflection = store
            .deflection_analytics(TimeRange::default(), 10)
            .unwrap();
        assert_eq!(deflection.drafts, 1);
        assert_eq!(deflection.suggestions_shown, 2);
        assert_eq!(deflection.solved, 1);
        let searches = store.search_analytics(TimeRange::default(), 10).unwrap();
        assert_eq!(searches.searches, 1);
    }

    #[tokio::test]
    async fn solved_and_not_helpful_must_name_an_article() {
        let dir = tempfile::tempdir().unwrap();
        let store = EventStore::open(dir.path()).unwrap();
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

    #[test]
    fn a_file_that_is_not_sqlite_is_an_open_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(EVENTS_FILE);
        std::fs::write(&path, "these are notes, not a database\n".repeat(100)).unwrap();
        let error = EventStore::open(dir.path()).err().expect("refused");
        let message = error.to_string();
        assert!(
            matches!(&error, StoreError::Open { path: at, .. } if *at == path),
            "{error:?}"
        );
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("not a SQLite database"), "{message}");
    }
}
