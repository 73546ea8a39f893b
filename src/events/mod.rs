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

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior, params};
use rusqlite_migration::{M, Migrations};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

/// The database file inside the data folder.
pub const EVENTS_FILE: &str = "events.sqlite3";

/// Articles shown fewer times than this are too new to call never helpful.
pub const NEVER_HELPFUL_MIN_SHOWN: u64 = 3;

/// How long a write waits for another process's lock before answering "unavailable".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Events waiting for the writer; beyond this, durable writes wait and search events are dropped.
const QUEUE_CAPACITY: usize = 8192;

/// Most events in one transaction, so a backlog is written in bounded steps.
const MAX_BATCH: usize = 2048;
/// How long the writer waits for more events before a commit when they arrive faster than it
/// commits; a request's answer waits at most this much longer. It only waits when the previous
/// batch held more than one event, so a lone request is never delayed. Each commit syncs the log,
/// which costs the writer more CPU than the rows: at about 1,500 drafts a second, 2 ms instead of
/// 0.5 ms cut the writer's CPU from 0.13-0.15 to 0.09 ms a draft, with p99 still 52-59 ms.
const LINGER: std::time::Duration = std::time::Duration::from_millis(2);

/// The schema, one step per release that changed it; `PRAGMA user_version` counts steps applied.
/// Never edit a step that has shipped: add one.
const MIGRATION_STEPS: &[M<'static>] = &[
    M::up(
        "CREATE TABLE deflections (
        id TEXT PRIMARY KEY NOT NULL,
        at_ms INTEGER NOT NULL,
        case_type TEXT NOT NULL,
        severity INTEGER NOT NULL,
        product TEXT,
        version TEXT,
        audience TEXT NOT NULL
    ) STRICT;
    CREATE INDEX deflections_at ON deflections (at_ms);

    CREATE TABLE suggestions (
        deflection_id TEXT NOT NULL REFERENCES deflections (id),
        position INTEGER NOT NULL,
        article_id TEXT NOT NULL,
        PRIMARY KEY (deflection_id, position)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX suggestions_article ON suggestions (article_id);

    CREATE TABLE feedback (
        deflection_id TEXT NOT NULL REFERENCES deflections (id),
        kind TEXT NOT NULL CHECK (kind IN ('solved', 'not_helpful', 'case_submitted')),
        article_id TEXT,
        at_ms INTEGER NOT NULL
    ) STRICT;
    -- the same feedback twice is one row; NULL articles compare equal here, unlike in UNIQUE
    CREATE UNIQUE INDEX feedback_once ON feedback (deflection_id, kind, ifnull(article_id, ''));
    CREATE INDEX feedback_article ON feedback (kind, article_id);

    CREATE TABLE searches (
        at_ms INTEGER NOT NULL,
        query TEXT NOT NULL,
        total INTEGER NOT NULL,
        audience TEXT NOT NULL
    ) STRICT;
    CREATE INDEX searches_at ON searches (at_ms);",
    ),
    // Every draft inserted three entries on random pages of this index, and no query used it
    // (analytics group the suggestions of a time range). Without it the log grew by 1,500-2,500
    // pages a second at 64 connections instead of about 9,000.
    M::up("DROP INDEX suggestions_article;"),
];

const MIGRATIONS: Migrations<'static> = Migrations::from_slice(MIGRATION_STEPS);

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

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// Test code run on the write connection.
#[cfg(test)]
type Hook = Box<dyn FnOnce(&Connection) + Send>;

/// What the writer thread is asked to do.
enum Message {
    Deflection(DeflectionEvent, Reply<()>),
    Feedback(FeedbackEvent, Reply<FeedbackOutcome>),
    Search(SearchEvent),
    Flush(Reply<()>),
    /// Runs on the write connection inside the next transaction (tests simulate failures).
    #[cfg(test)]
    Exec(Option<Hook>, Reply<()>),
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

    /// Runs `f` on the write connection inside the next transaction.
    #[cfg(test)]
    async fn on_writer(&self, f: impl FnOnce(&Connection) + Send + 'static) {
        let (reply, answer) = oneshot::channel();
        self.send(Message::Exec(Some(Box::new(f)), reply))
            .await
            .expect("writer runs");
        answer.await.expect("writer answers").expect("hook ran");
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

/// How often the checkpoint thread copies the write-ahead log into the database.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// A connection for checkpoints only. The writer does not checkpoint (`wal_autocheckpoint=0`):
/// a checkpoint copies the log into the database file and syncs it, and while the writer did it,
/// every answer waiting for a durable write waited too (the tail of `/api/deflect` under load).
fn open_checkpointer(path: &Path, options: Options) -> Result<Connection, OpenFailure> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(options.busy_timeout)?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

/// Frames (pages) of write-ahead log past which the checkpoint thread also truncates the log:
/// 16,384 frames is 64 MiB with SQLite's 4 KiB pages, reached every 12-30 s at about 1,700
/// drafts a second.
///
/// A passive checkpoint never waits for the writer, so under steady load it never reaches the
/// end of the log, and SQLite starts a log over only once it was copied whole: in a 3-minute
/// benchmark the log grew to 1.7 GB, and every page read searched its ever longer index. Right
/// after a passive pass little is left to copy, so truncating holds the writer back only briefly:
/// 34-47 ms measured, which every answer waiting for a durable write waits too. A 16 MiB limit
/// held it 13-26 ms, but every 2-3 s.
const LOG_LIMIT_FRAMES: i64 = 16_384;

/// Runs a passive checkpoint (it never waits for the writer or readers) every
/// [`CHECKPOINT_EVERY`] until the writer stops, then one last one; truncates the log when it
/// holds more than `log_limit_frames`.
fn checkpoint_until(
    conn: Connection,
    log_limit_frames: i64,
    stopped: &std::sync::mpsc::Receiver<()>,
) {
    // Each row is (1 if it could not finish, frames in the log, frames copied).
    let run = |mode: &str| {
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))
        })
    };
    let checkpoint = || {
        let outcome = run("PASSIVE").and_then(|(_, log_frames)| {
            if log_frames <= log_limit_frames {
                return Ok(());
            }
            let started = Instant::now();
            let (busy, _) = run("TRUNCATE")?;
            // A reader kept the log: the next period tries again.
            debug!(
                log_frames,
                truncated = busy == 0,
                elapsed_us = started.elapsed().as_micros() as u64,
                "event log truncation"
            );
            Ok(())
        });
        if let Err(err) = outcome {
            // The log keeps growing until a checkpoint succeeds; nothing written is lost.
            warn!("checkpoint of the event log failed: {err}");
        }
    };
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
        stopped.recv_timeout(CHECKPOINT_EVERY)
    {
        checkpoint();
    }
    checkpoint();
}

/// Opens the write connection: WAL so analytics read while it writes, `synchronous=FULL` so a
/// commit is on disk when it returns, then brings the schema up to date.
fn open_writer(path: &Path, options: Options) -> Result<Connection, OpenFailure> {
    let mut conn = Connection::open(path)?;
    conn.busy_timeout(options.busy_timeout)?;
    let journal_mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0))?;
    if !journal_mode.eq_ignore_ascii_case("wal") {
        return Err(OpenFailure::Other(format!(
            "it cannot use write-ahead logging (journal mode stays `{journal_mode}`)"
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // The checkpoint thread copies the log; see `open_checkpointer`.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    // Take the write lock at BEGIN, where the busy timeout applies, not at the first write.
    conn.set_transaction_behavior(TransactionBehavior::Immediate);
    migrate(&mut conn)?;
    Ok(conn)
}

/// Applies the migration steps this database has not seen; refuses a database from a newer build.
fn migrate(conn: &mut Connection) -> Result<(), OpenFailure> {
    let known = MIGRATION_STEPS.len();
    let found: usize = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if found > known {
        return Err(OpenFailure::Other(format!(
            "its schema version {found} is newer than this build knows ({known}); run a newer \
             kbsearch, or move the file aside to start a new one"
        )));
    }
    if found == known {
        return Ok(());
    }
    MIGRATIONS.to_latest(conn).map_err(|err| match err {
        rusqlite_migration::Error::RusqliteError { err, .. } => OpenFailure::Sqlite(err),
        other => OpenFailure::Other(format!("migration failed: {other}")),
    })?;
    info!(from = found, to = known, "event database migrated");
    Ok(())
}

fn open_reader(path: &Path, options: Options) -> Result<Connection, OpenFailure> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(options.busy_timeout)?;
    Ok(conn)
}

/// Why opening failed, before it is worded for the person starting the service.
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

/// The writer thread: owns the write connection and turns queued events into transactions.
struct Writer {
    path: Arc<Path>,
    conn: Connection,
    receiver: mpsc::Receiver<Message>,
    dropped_searches: Arc<AtomicU64>,
    /// Dropped with the writer, which stops the checkpoint thread.
    _running: std::sync::mpsc::Sender<()>,
}

impl Writer {
    fn run(mut self) {
        let mut busy = false;
        while let Some(first) = self.receiver.blocking_recv() {
            let mut batch = vec![first];
            self.drain_into(&mut batch);
            if busy && batch.len() < MAX_BATCH {
                // Events come faster than commits: wait a moment so that one commit (and one
                // fsync) covers more of them.
                std::thread::sleep(LINGER);
                self.drain_into(&mut batch);
            }
            busy = batch.len() > 1;
            self.write(batch);
        }
        debug!(path = %self.path.display(), "event writer stopped");
    }

    /// Adds the events already queued, up to [`MAX_BATCH`].
    fn drain_into(&mut self, batch: &mut Vec<Message>) {
        while batch.len() < MAX_BATCH {
            match self.receiver.try_recv() {
                Ok(message) => batch.push(message),
                Err(_) => break,
            }
        }
    }

    /// Writes one batch in one transaction and answers every request in it.
    fn write(&mut self, mut batch: Vec<Message>) {
        let started = Instant::now();
        let size = batch.len();
        match write_batch(&mut self.conn, &mut batch) {
            Ok(outcomes) => {
                debug!(
                    events = size,
                    elapsed_us = started.elapsed().as_micros() as u64,
                    "event batch committed"
                );
                answer_committed(batch, outcomes);
            }
            Err(err) => {
                let error = store_error(&self.path, &err);
                warn!(
                    events = size,
                    path = %self.path.display(),
                    "event batch rolled back: {err}"
                );
                let searches = answer_failed(batch, &error);
                self.dropped_searches.fetch_add(searches, Ordering::Relaxed);
            }
        }
    }
}

/// Writes the batch in order in one transaction; the feedback outcomes, in order. On error the
/// transaction is rolled back when dropped.
fn write_batch(
    conn: &mut Connection,
    batch: &mut [Message],
) -> rusqlite::Result<Vec<FeedbackOutcome>> {
    let mut outcomes = Vec::new();
    let writes_nothing = batch.iter().all(|m| matches!(m, Message::Flush(_)));
    if writes_nothing {
        return Ok(outcomes);
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for message in batch {
        match message {
            Message::Deflection(event, _) => insert_deflection(&tx, event)?,
            Message::Feedback(event, _) => outcomes.push(insert_feedback(&tx, event)?),
            Message::Search(event) => insert_search(&tx, event)?,
            Message::Flush(_) => {}
            #[cfg(test)]
            Message::Exec(hook, _) => {
                if let Some(hook) = hook.take() {
                    hook(&tx);
                }
            }
        }
    }
    tx.commit()?;
    Ok(outcomes)
}

/// Records a draft, or updates it: the case form asks again as the customer types, with the same
/// id. The draft keeps the time it was first seen; its fields and the suggestions shown are the
/// latest ones.
fn insert_deflection(conn: &Connection, event: &DeflectionEvent) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO deflections (id, at_ms, case_type, severity, product, version, audience)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (id) DO UPDATE SET case_type = excluded.case_type,
             severity = excluded.severity, product = excluded.product,
             version = excluded.version, audience = excluded.audience",
    )?
    .execute(params![
        event.id,
        event.at.timestamp_millis(),
        event.case_type,
        event.severity,
        event.product,
        event.version,
        event.audience,
    ])?;
    conn.prepare_cached("DELETE FROM suggestions WHERE deflection_id = ?1")?
        .execute([&event.id])?;
    let mut insert_suggestion = conn.prepare_cached(
        "INSERT INTO suggestions (deflection_id, position, article_id) VALUES (?1, ?2, ?3)",
    )?;
    for (position, article_id) in event.suggested.iter().enumerate() {
        insert_suggestion.execute(params![event.id, position as i64, article_id])?;
    }
    Ok(())
}

fn insert_feedback(conn: &Connection, event: &FeedbackEvent) -> rusqlite::Result<FeedbackOutcome> {
    let known = conn
        .prepare_cached("SELECT 1 FROM deflections WHERE id = ?1")?
        .query_row([&event.deflection_id], |_| Ok(()))
        .optional()?
        .is_some();
    if !known {
        return Ok(FeedbackOutcome::UnknownDeflection);
    }
    let inserted = conn
        .prepare_cached(
            "INSERT INTO feedback (deflection_id, kind, article_id, at_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            event.deflection_id,
            event.kind.as_str(),
            event.article_id,
            event.at.timestamp_millis(),
        ])?;
    if inserted == 0 {
        return Ok(FeedbackOutcome::Duplicate);
    }
    Ok(FeedbackOutcome::Recorded)
}

fn insert_search(conn: &Connection, event: &SearchEvent) -> rusqlite::Result<()> {
    // SQLite integers are signed; a total beyond i64 is not a count anyone needs exactly.
    let total = i64::try_from(event.total).unwrap_or(i64::MAX);
    conn.prepare_cached(
        "INSERT INTO searches (at_ms, query, total, audience) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        event.at.timestamp_millis(),
        normalize_query(&event.query),
        total,
        event.audience,
    ])?;
    Ok(())
}

/// Trimmed, lowercased, whitespace collapsed: how queries are counted as the same.
fn normalize_query(query: &str) -> String {
    query
        .split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

fn answer_committed(batch: Vec<Message>, outcomes: Vec<FeedbackOutcome>) {
    let mut outcomes = outcomes.into_iter();
    for message in batch {
        // A requester that went away (timeout, disconnect) no longer listens: its event is
        // written all the same.
        match message {
            Message::Deflection(_, reply) | Message::Flush(reply) => {
                let _ = reply.send(Ok(()));
            }
            Message::Feedback(_, reply) => {
                let outcome = outcomes
                    .next()
                    .expect("write_batch returns one outcome per feedback event");
                let _ = reply.send(Ok(outcome));
            }
            Message::Search(_) => {}
            #[cfg(test)]
            Message::Exec(_, reply) => {
                let _ = reply.send(Ok(()));
            }
        }
    }
}

/// Answers every request of a rolled-back batch with `error`; the search events lost.
fn answer_failed(batch: Vec<Message>, error: &StoreError) -> u64 {
    let mut searches = 0;
    for message in batch {
        match message {
            Message::Deflection(_, reply) | Message::Flush(reply) => {
                let _ = reply.send(Err(error.clone()));
            }
            Message::Feedback(_, reply) => {
                let _ = reply.send(Err(error.clone()));
            }
            Message::Search(_) => searches += 1,
            #[cfg(test)]
            Message::Exec(_, reply) => {
                let _ = reply.send(Err(error.clone()));
            }
        }
    }
    searches
}

/// The range as bounds on `at_ms`, unbounded ends as `NULL`.
fn range_params(range: TimeRange) -> (Option<i64>, Option<i64>) {
    (
        range.from.map(|at| at.timestamp_millis()),
        range.to.map(|at| at.timestamp_millis()),
    )
}

/// `LIMIT` takes an i64; `top` beyond it means "all".
fn limit(top: usize) -> i64 {
    i64::try_from(top).unwrap_or(i64::MAX)
}

/// Drafts in range, as a SQL condition on `d` with `?1` = from and `?2` = to.
const DRAFT_IN_RANGE: &str = "(?1 IS NULL OR d.at_ms >= ?1) AND (?2 IS NULL OR d.at_ms < ?2)";

fn read_deflection_analytics(
    conn: &Connection,
    range: TimeRange,
    top: usize,
) -> rusqlite::Result<DeflectionAnalytics> {
    let (from, to) = range_params(range);
    let drafts: u64 = conn.query_row(
        &format!("SELECT count(*) FROM deflections d WHERE {DRAFT_IN_RANGE}"),
        params![from, to],
        |row| row.get(0),
    )?;
    let (suggestions_shown, drafts_with_suggestions): (u64, u64) = conn.query_row(
        &format!(
            "SELECT count(*), count(DISTINCT s.deflection_id)
             FROM suggestions s JOIN deflections d ON d.id = s.deflection_id
             WHERE {DRAFT_IN_RANGE}"
        ),
        params![from, to],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    let (solved, not_helpful, case_submitted): (u64, u64, u64) = conn.query_row(
        &format!(
            "SELECT ifnull(sum(f.kind = 'solved'), 0), ifnull(sum(f.kind = 'not_helpful'), 0),
                    ifnull(sum(f.kind = 'case_submitted'), 0)
             FROM feedback f JOIN deflections d ON d.id = f.deflection_id
             WHERE {DRAFT_IN_RANGE}"
        ),
        params![from, to],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )?;
    let (drafts_with_outcome, drafts_deflected): (u64, u64) = conn.query_row(
        &format!(
            "SELECT count(*), ifnull(sum(solved AND NOT submitted), 0) FROM (
                 SELECT max(f.kind = 'solved') AS solved, max(f.kind = 'case_submitted') AS submitted
                 FROM feedback f JOIN deflections d ON d.id = f.deflection_id
                 WHERE {DRAFT_IN_RANGE} AND f.kind IN ('solved', 'case_submitted')
                 GROUP BY f.deflection_id
             )"
        ),
        params![from, to],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    let top_solving = article_counts(
        conn,
        &format!(
            "SELECT f.article_id, count(*) AS n
             FROM feedback f JOIN deflections d ON d.id = f.deflection_id
             WHERE {DRAFT_IN_RANGE} AND f.kind = 'solved'
             GROUP BY f.article_id ORDER BY n DESC, f.article_id LIMIT ?3"
        ),
        params![from, to, limit(top)],
    )?;
    let shown_never_helpful = article_counts(
        conn,
        &format!(
            "SELECT s.article_id, count(*) AS shown
             FROM suggestions s JOIN deflections d ON d.id = s.deflection_id
             WHERE {DRAFT_IN_RANGE}
             GROUP BY s.article_id
             HAVING shown >= ?4 AND NOT EXISTS (
                 SELECT 1 FROM feedback f JOIN deflections d ON d.id = f.deflection_id
                 WHERE f.kind = 'solved' AND f.article_id = s.article_id AND {DRAFT_IN_RANGE}
             )
             ORDER BY shown DESC, s.article_id LIMIT ?3"
        ),
        params![from, to, limit(top), NEVER_HELPFUL_MIN_SHOWN as i64],
    )?;
    let deflection_rate =
        (drafts_with_outcome > 0).then(|| drafts_deflected as f64 / drafts_with_outcome as f64);
    Ok(DeflectionAnalytics {
        drafts,
        suggestions_shown,
        drafts_with_suggestions,
        solved,
        not_helpful,
        case_submitted,
        drafts_with_outcome,
        drafts_deflected,
        deflection_rate,
        top_solving,
        shown_never_helpful,
        never_helpful_min_shown: NEVER_HELPFUL_MIN_SHOWN,
    })
}

fn article_counts(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<Vec<ArticleCount>> {
    conn.prepare(sql)?
        .query_map(params, |row| {
            Ok(ArticleCount {
                article_id: row.get(0)?,
                count: row.get(1)?,
            })
        })?
        .collect()
}

/// Searches in range, as a SQL condition with `?1` = from and `?2` = to.
const SEARCH_IN_RANGE: &str = "(?1 IS NULL OR at_ms >= ?1) AND (?2 IS NULL OR at_ms < ?2)";

fn read_search_analytics(
    conn: &Connection,
    range: TimeRange,
    top: usize,
) -> rusqlite::Result<SearchAnalytics> {
    let (from, to) = range_params(range);
    let (searches, zero_results): (u64, u64) = conn.query_row(
        &format!(
            "SELECT count(*), ifnull(sum(total = 0), 0) FROM searches WHERE {SEARCH_IN_RANGE}"
        ),
        params![from, to],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    let top_queries = query_counts(conn, "1", from, to, top)?;
    let zero_result_queries = query_counts(conn, "total = 0", from, to, top)?;
    let zero_result_share = (searches > 0).then(|| zero_results as f64 / searches as f64);
    Ok(SearchAnalytics {
        searches,
        zero_result_share,
        top_queries,
        zero_result_queries,
    })
}

/// The most frequent queries in range among searches matching `condition` (fixed SQL, not input).
fn query_counts(
    conn: &Connection,
    condition: &str,
    from: Option<i64>,
    to: Option<i64>,
    top: usize,
) -> rusqlite::Result<Vec<QueryCount>> {
    conn.prepare(&format!(
        "SELECT query, count(*) AS n FROM searches WHERE {SEARCH_IN_RANGE} AND {condition}
         GROUP BY query ORDER BY n DESC, query LIMIT ?3"
    ))?
    .query_map(params![from, to, limit(top)], |row| {
        Ok(QueryCount {
            query: row.get(0)?,
            count: row.get(1)?,
        })
    })?
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use chrono::TimeZone;

    fn at(minutes: i64) -> DateTime<Utc> {
        let start = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
        start + chrono::Duration::minutes(minutes)
    }

    fn draft(id: &str, minutes: i64, suggested: &[&str]) -> DeflectionEvent {
        DeflectionEvent {
            id: id.to_string(),
            at: at(minutes),
            case_type: "incident".to_string(),
            severity: 3,
            product: Some("backup".to_string()),
            version: Some("7.8".to_string()),
            audience: "customer".to_string(),
            suggested: suggested.iter().map(|id| id.to_string()).collect(),
        }
    }

    fn feedback(deflection_id: &str, kind: FeedbackKind, article: Option<&str>) -> FeedbackEvent {
        FeedbackEvent {
            deflection_id: deflection_id.to_string(),
            kind,
            article_id: article.map(str::to_string),
            at: at(0),
        }
    }

    fn search(minutes: i64, query: &str, total: u64) -> SearchEvent {
        SearchEvent {
            at: at(minutes),
            query: query.to_string(),
            total,
            audience: "customer".to_string(),
        }
    }

    /// Rows of `table`, read through a connection of its own as another process would.
    fn rows(dir: &Path, table: &str) -> u64 {
        let conn = Connection::open(dir.join(EVENTS_FILE)).unwrap();
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
            row.get(0)
        })
        .unwrap()
    }

    fn open_short_timeout(dir: &Path) -> EventStore {
        let options = Options {
            busy_timeout: Duration::from_millis(200),
            ..Options::default()
        };
        EventStore::open_with(dir, options).unwrap()
    }

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
    async fn the_log_is_copied_into_the_database_while_the_writer_runs() {
        let dir = tempfile::tempdir().unwrap();
        let store = EventStore::open(dir.path()).unwrap();
        let file = dir.path().join(EVENTS_FILE);
        let before = std::fs::metadata(&file).unwrap().len();
        for n in 0..300 {
            let id = format!("draft-{n}");
            store
                .record_deflection(draft(&id, 0, &["a", "b", "c"]))
                .await
                .unwrap();
        }
        // The writer does not checkpoint; the checkpoint thread does, within a few periods.
        let deadline = std::time::Instant::now() + CHECKPOINT_EVERY * 20;
        while std::fs::metadata(&file).unwrap().len() < before + 32 * 1024 {
            assert!(
                std::time::Instant::now() < deadline,
                "the database file stayed at {} bytes",
                std::fs::metadata(&file).unwrap().len()
            );
            tokio::time::sleep(CHECKPOINT_EVERY / 4).await;
        }
        assert_eq!(rows(dir.path(), "deflections"), 300);
    }

    #[tokio::test]
    async fn the_log_is_truncated_while_the_writer_keeps_writing() {
        let dir = tempfile::tempdir().unwrap();
        let options = Options {
            log_limit_frames: 16,
            ..Options::default()
        };
        let store = EventStore::open_with(dir.path(), options).unwrap();
        let log = dir.path().join(format!("{EVENTS_FILE}-wal"));
        let log_size = || std::fs::metadata(&log).map_or(0, |m| m.len());
        // Without truncation the log file only grows while drafts keep coming.
        let (mut largest, mut shrank) = (0, false);
        let deadline = std::time::Instant::now() + CHECKPOINT_EVERY * 20;
        let mut n = 0;
        while !shrank {
            assert!(
                std::time::Instant::now() < deadline,
                "the log only grew, to {largest} bytes"
            );
            for _ in 0..20 {
                n += 1;
                store
                    .record_deflection(draft(&format!("draft-{n}"), 0, &["a", "b", "c"]))
                    .await
                    .unwrap();
            }
            let size = log_size();
            shrank = size < largest;
            largest = largest.max(size);
        }
        assert_eq!(rows(dir.path(), "deflections"), n);
    }

    #[tokio::test]
    async fn recording_the_same_draft_again_updates_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = EventStore::open(dir.path()).unwrap();
        store
            .record_deflection(draft("d1", 0, &["a", "b"]))
            .await
            .unwrap();
        store
            .record_deflection(draft("d1", 5, &["c"]))
            .await
            .unwrap();
        assert_eq!(rows(dir.path(), "deflections"), 1);
        // The latest suggestions replace the earlier ones; the draft keeps its first time.
        assert_eq!(rows(dir.path(), "suggestions"), 1);
        let at: i64 = Connection::open(dir.path().join(EVENTS_FILE))
            .unwrap()
            .query_row("SELECT at_ms FROM deflections", [], |row| row.get(0))
            .unwrap();
        assert_eq!(at, draft("d1", 0, &[]).at.timestamp_millis());
    }

    #[tokio::test]
    async fn feedback_for_an_unknown_draft_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = EventStore::open(dir.path()).unwrap();
        let outcome = store
            .record_feedback(feedback("nope", FeedbackKind::CaseSubmitted, None))
            .await
            .unwrap();
        assert_eq!(outcome, FeedbackOutcome::UnknownDeflection);
        assert_eq!(rows(dir.path(), "feedback"), 0);
    }

    #[tokio::test]
    async fn duplicate_feedback_is_one_row_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let store = EventStore::open(dir.path()).unwrap();
        store
            .record_deflection(draft("d1", 0, &["a"]))
            .await
            .unwrap();
        let solved = feedback("d1", FeedbackKind::Solved, Some("a"));
        let first = store.record_feedback(solved.clone()).await.unwrap();
        let again = FeedbackEvent {
            at: at(3),
            ..solved
        };
        let second = store.record_feedback(again).await.unwrap();
        assert_eq!(first, FeedbackOutcome::Recorded);
        assert_eq!(second, FeedbackOutcome::Duplicate);

        // No article is a value too: `case_submitted` twice is still one row.
        let submitted = feedback("d1", FeedbackKind::CaseSubmitted, None);
        let with_article = feedback("d1", FeedbackKind::CaseSubmitted, Some("a"));
        assert_eq!(
            store.record_feedback(submitted).await.unwrap(),
            FeedbackOutcome::Recorded
        );
        assert_eq!(
            store.record_feedback(with_article).await.unwrap(),
            FeedbackOutcome::Duplicate
        );
        assert_eq!(rows(dir.path(), "feedback"), 2);
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_thousand_concurrent_feedback_writes_all_land() {
        let dir = tempfile::tempdir().unwrap();
        let store = EventStore::open(dir.path()).unwrap();
        for draft_number in 0..100 {
            let id = format!("d{draft_number}");
            store.record_deflection(draft(&id, 0, &[])).await.unwrap();
        }
        let mut writes = tokio::task::JoinSet::new();
        for draft_number in 0..100 {
            for article in 0..20 {
                let store = store.clone();
                let event = feedback(
                    &format!("d{draft_number}"),
                    FeedbackKind::Solved,
                    Some(&format!("a{article}")),
                );
                writes.spawn(async move { store.record_feedback(event).await });
            }
        }
        let outcomes = writes.join_all().await;
        assert_eq!(outcomes.len(), 2000);
        assert!(
            outcomes
                .iter()
                .all(|outcome| matches!(outcome, Ok(FeedbackOutcome::Recorded)))
        );
        assert_eq!(rows(dir.path(), "feedback"), 2000);
    }

    /// Six drafts: d1 and d5 solved, d2 submitted after a "not helpful", d3 solved and submitted
    /// anyway, d4 shown nothing, d6 solved ten days later.
    async fn known_deflections(store: &EventStore) {
        let drafts = [
            draft("d1", 0, &["a", "b", "c"]),
            draft("d2", 60, &["a", "b"]),
            draft("d3", 120, &["b", "c"]),
            draft("d4", 180, &[]),
            draft("d5", 240, &["b", "a"]),
            draft("d6", 10 * 24 * 60, &["z"]),
        ];
        for event in drafts {
            store.record_deflection(event).await.unwrap();
        }
        let feedback_events = [
            feedback("d1", FeedbackKind::Solved, Some("a")),
            feedback("d2", FeedbackKind::NotHelpful, Some("a")),
            feedback("d2", FeedbackKind::CaseSubmitted, None),
            feedback("d3", FeedbackKind::Solved, Some("c")),
            feedback("d3", FeedbackKind::CaseSubmitted, None),
            feedback("d5", FeedbackKind::Solved, Some("a")),
            feedback("d6", FeedbackKind::Solved, Some("z")),
        ];
        for event in feedback_events {
            let outcome = store.record_feedback(event).await.unwrap();
            assert_eq!(outcome, FeedbackOutcome::Recorded);
        }
    }

    fn counts(pairs: &[(&str, u64)]) -> Vec<ArticleCount> {
        pairs
            .iter()
            .map(|(article_id, count)| ArticleCount {
                article_id: article_id.to_string(),
                count: *count,
            })
            .collect()
    }

    #[tokio::test]
    async fn deflection_analytics_count_a_known_set() {
        let dir = tempfile::tempdir().unwrap();
        let store = EventStore::open(dir.path()).unwrap();
        known_deflections(&store).await;

        let all = store
            .deflection_analytics(TimeRange::default(), 10)
            .unwrap();
        assert_eq!(all.drafts, 6);
        assert_eq!(all.suggestions_shown, 10);
        assert_eq!(all.drafts_with_suggestions, 5);
        assert_eq!((all.solved, all.not_helpful, all.case_submitted), (4, 1, 2));
        assert_eq!((all.drafts_with_outcome, all.drafts_deflected), (5, 3));
        assert_eq!(all.deflection_rate, Some(0.6));
        assert_eq!(all.top_solving, counts(&[("a", 2), ("c", 1), ("z", 1)]));
        assert_eq!(all.shown_never_helpful, counts(&[("b", 4)]));

        let first_day = TimeRange {
            from: Some(at(0)),
            to: Some(at(24 * 60)),
        };
        let day = store.deflection_analytics(first_day, 1).unwrap();
        assert_eq!(day.drafts, 5);
        assert_eq!(day.suggestions_shown, 9);
        assert_eq!(day.solved, 3);
        assert_eq!(day.deflection_rate, Some(0.5));
        assert_eq!(day.top_solving, counts(&[("a", 2)]));

        // `to` is exclusive: d2 and d3 only, neither deflected.
        let middle = TimeRange {
            from: Some(at(60)),
            to: Some(at(180)),
        };
        let two = store.deflection_analytics(middle, 10).unwrap();
        assert_eq!((two.drafts, two.drafts_with_outcome), (2, 2));
        assert_eq!(two.deflection_rate, Some(0.0));
        assert_eq!(two.shown_never_helpful, Vec::new());

        let empty = TimeRange {
            from: Some(at(-100)),
            to: Some(at(-1)),
        };
        let none = store.deflection_analytics(empty, 10).unwrap();
        assert_eq!(none.drafts, 0);
        assert_eq!(none.deflection_rate, None);
    }

    #[tokio::test]
    async fn search_analytics_normalise_queries() {
        let dir = tempfile::tempdir().unwrap();
        let store = EventStore::open(dir.path()).unwrap();
        let searches = [
            search(0, "  Printer Offline ", 5),
            search(1, "printer \t  offline", 5),
            search(2, "PRINTER offline", 4),
            search(3, "VPN error 809", 0),
            search(4, "vpn  error 809", 0),
            search(5, "reset password", 2),
            search(6, "xyzzy", 0),
            search(60 * 24, "late", 0),
        ];
        for event in searches {
            store.record_search(event);
        }
        store.flush().await.unwrap();

        let first_day = TimeRange {
            from: None,
            to: Some(at(60 * 24)),
        };
        let day = store.search_analytics(first_day, 2).unwrap();
        assert_eq!(day.searches, 7);
        assert_eq!(day.zero_result_share, Some(3.0 / 7.0));
        let query_counts = |pairs: &[(&str, u64)]| -> Vec<QueryCount> {
            pairs
                .iter()
                .map(|(query, count)| QueryCount {
                    query: query.to_string(),
                    count: *count,
                })
                .collect()
        };
        assert_eq!(
            day.top_queries,
            query_counts(&[("printer offline", 3), ("vpn error 809", 2)])
        );
        assert_eq!(
            day.zero_result_queries,
            query_counts(&[("vpn error 809", 2), ("xyzzy", 1)])
        );
        assert_eq!(store.dropped_searches(), 0);

        let all = store.search_analytics(TimeRange::default(), 10).unwrap();
        assert_eq!(all.searches, 8);
        let nothing = TimeRange {
            from: Some(at(-10)),
            to: Some(at(-5)),
        };
        assert_eq!(
            store
                .search_analytics(nothing, 10)
                .unwrap()
                .zero_result_share,
            None
        );
    }

    #[tokio::test]
    async fn reopening_a_migrated_database_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let schema = || -> (usize, Vec<String>) {
            let conn = Connection::open(dir.path().join(EVENTS_FILE)).unwrap();
            let version = conn
                .pragma_query_value(None, "user_version", |row| row.get(0))
                .unwrap();
            let sql = conn
                .prepare("SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY name")
                .unwrap()
                .query_map([], |row| row.get(0))
                .unwrap()
                .collect::<rusqlite::Result<Vec<String>>>()
                .unwrap();
            (version, sql)
        };
        {
            let store = EventStore::open(dir.path()).unwrap();
            store
                .record_deflection(draft("d1", 0, &["a"]))
                .await
                .unwrap();
        }
        let migrated = schema();
        assert_eq!(migrated.0, MIGRATION_STEPS.len());
        let store = EventStore::open(dir.path()).unwrap();
        assert_eq!(schema(), migrated);
        assert_eq!(
            store
                .deflection_analytics(TimeRange::default(), 1)
                .unwrap()
                .drafts,
            1
        );
    }

    #[tokio::test]
    async fn the_writer_commits_durably() {
        let dir = tempfile::tempdir().unwrap();
        let store = EventStore::open(dir.path()).unwrap();
        let (settings, seen) = oneshot::channel();
        store
            .on_writer(move |conn| {
                let pragma = |name: &str| -> String {
                    conn.pragma_query_value(None, name, |row| {
                        row.get::<_, rusqlite::types::Value>(0)
                    })
                    .map(|value| format!("{value:?}"))
                    .unwrap()
                };
                let _ = settings.send([
                    pragma("journal_mode"),
                    pragma("synchronous"),
                    pragma("foreign_keys"),
                    pragma("busy_timeout"),
                ]);
            })
            .await;
        // synchronous 2 is FULL: the WAL is synced at every commit.
        assert_eq!(
            seen.await.unwrap(),
            [
                r#"Text("wal")"#.to_string(),
                "Integer(2)".to_string(),
                "Integer(1)".to_string(),
                "Integer(5000)".to_string(),
            ]
        );
    }

    #[test]
    fn migrations_apply_to_an_empty_database() {
        MIGRATIONS.validate().unwrap();
    }

    #[tokio::test]
    async fn a_database_of_the_first_schema_is_brought_up_to_date_with_its_events() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(EVENTS_FILE);
        {
            let mut conn = Connection::open(&path).unwrap();
            Migrations::from_slice(&MIGRATION_STEPS[..1])
                .to_latest(&mut conn)
                .unwrap();
            insert_deflection(&conn, &draft("old", 0, &["a", "b"])).unwrap();
        }
        let store = EventStore::open(dir.path()).unwrap();
        store
            .record_deflection(draft("new", 1, &["c"]))
            .await
            .unwrap();
        assert_eq!(rows(dir.path(), "deflections"), 2);
        assert_eq!(rows(dir.path(), "suggestions"), 3);
        let conn = Connection::open(&path).unwrap();
        let version: usize = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(version, MIGRATION_STEPS.len());
        let index: Option<String> = conn
            .query_row(
                "SELECT name FROM sqlite_master WHERE name = 'suggestions_article'",
                [],
                |row| row.get(0),
            )
            .optional()
            .unwrap();
        assert_eq!(index, None);
    }

    #[test]
    fn a_database_from_a_newer_build_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(EventStore::open(dir.path()).unwrap());
        let conn = Connection::open(dir.path().join(EVENTS_FILE)).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let error = EventStore::open(dir.path()).err().expect("refused");
        let message = error.to_string();
        assert!(matches!(error, StoreError::Open { .. }), "{error:?}");
        assert!(message.contains(EVENTS_FILE), "{message}");
        assert!(message.contains("schema version 99"), "{message}");
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

    #[tokio::test]
    async fn a_locked_database_is_unavailable_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_short_timeout(dir.path());
        let other = Connection::open(dir.path().join(EVENTS_FILE)).unwrap();
        other.execute_batch("BEGIN EXCLUSIVE").unwrap();

        let started = Instant::now();
        let locked = store.record_deflection(draft("d1", 0, &["a", "b"])).await;
        let waited = started.elapsed();
        let Err(StoreError::Unavailable(message)) = locked else {
            panic!("expected unavailable, got {locked:?}");
        };
        assert!(message.contains("locked by another process"), "{message}");
        assert!(message.contains(EVENTS_FILE), "{message}");
        // It waited for the lock (the busy timeout), but not for ever.
        assert!(waited >= Duration::from_millis(150), "waited {waited:?}");
        assert!(waited < Duration::from_secs(3), "waited {waited:?}");

        other.execute_batch("COMMIT").unwrap();
        assert_eq!(rows(dir.path(), "deflections"), 0);
        assert_eq!(rows(dir.path(), "suggestions"), 0);
        store
            .record_deflection(draft("d1", 0, &["a", "b"]))
            .await
            .unwrap();
        assert_eq!(rows(dir.path(), "suggestions"), 2);
    }

    #[tokio::test]
    async fn a_full_database_is_unavailable_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = EventStore::open(dir.path()).unwrap();
        store
            .on_writer(|conn| {
                let pages: i64 = conn
                    .query_row("PRAGMA page_count", [], |row| row.get(0))
                    .unwrap();
                let _: i64 = conn
                    .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |row| {
                        row.get(0)
                    })
                    .unwrap();
            })
            .await;
        // Far more than fits in the pages the empty tables have.
        let long_ids: Vec<String> = (0..300).map(|n| format!("{n:0>200}")).collect();
        let long_refs: Vec<&str> = long_ids.iter().map(String::as_str).collect();
        let big = draft("big", 0, &long_refs);

        let full = store.record_deflection(big.clone()).await;
        let Err(StoreError::Unavailable(message)) = full else {
            panic!("expected unavailable, got {full:?}");
        };
        assert!(message.contains("is full"), "{message}");
        assert_eq!(rows(dir.path(), "deflections"), 0);
        assert_eq!(rows(dir.path(), "suggestions"), 0);

        store
            .on_writer(|conn| {
                let _: i64 = conn
                    .query_row("PRAGMA max_page_count = 1000000", [], |row| row.get(0))
                    .unwrap();
            })
            .await;
        store.record_deflection(big).await.unwrap();
        assert_eq!(rows(dir.path(), "suggestions"), 300);
    }

    /// Run by hand: `cargo test --release --lib events -- --ignored --nocapture`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "measures throughput; run by hand in release mode"]
    async fn feedback_throughput_with_64_writers() {
        const WRITERS: usize = 64;
        const EACH: usize = 500;
        let dir = tempfile::tempdir().unwrap();
        let store = EventStore::open(dir.path()).unwrap();
        for writer in 0..WRITERS {
            store
                .record_deflection(draft(&format!("d{writer}"), 0, &[]))
                .await
                .unwrap();
        }
        let started = Instant::now();
        let mut writers = tokio::task::JoinSet::new();
        for writer in 0..WRITERS {
            let store = store.clone();
            writers.spawn(async move {
                for article in 0..EACH {
                    let event = feedback(
                        &format!("d{writer}"),
                        FeedbackKind::NotHelpful,
                        Some(&format!("a{article}")),
                    );
                    let outcome = store.record_feedback(event).await.unwrap();
                    assert_eq!(outcome, FeedbackOutcome::Recorded);
                }
            });
        }
        writers.join_all().await;
        let elapsed = started.elapsed();
        let total = WRITERS * EACH;
        assert_eq!(rows(dir.path(), "feedback"), total as u64);
        println!(
            "{total} durable feedback writes by {WRITERS} writers in {elapsed:.2?}: {:.0}/s",
            total as f64 / elapsed.as_secs_f64()
        );
    }
}
