//! The SQLite event store: one database file (`data/events.sqlite3`) beside the index, in WAL mode
//! with `synchronous=FULL`. Opening it migrates the schema and starts two threads: the writer, the
//! one owner of the write connection, and the checkpoints. A request sends its event to the writer
//! with a reply channel and is answered after the commit that holds it, so many requests share
//! one fsync and a failed transaction is reported to every request in it; search events ride
//! along with the next batch. Analytics read through a read-only connection of their own, which
//! WAL mode lets run while the writer commits, on tokio's blocking pool. This is also the one
//! place SQLite's failures are worded for whoever meets them.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use rusqlite::ErrorCode;
use thiserror::Error;
use tokio::sync::mpsc;

use super::analytics::Reader;
use super::checkpoint::{LOG_LIMIT_FRAMES, checkpoint_until, open_checkpointer};
use super::retention::{MEASURE_EVERY, PRUNE_BATCH, PRUNE_EVERY, Retention, Tally, open_measurer};
use super::writer::{Message, Writer, ask, open_writer};
use super::{
    ClickEvent, DeflectionAnalytics, DeflectionEvent, DeflectionOutcome, EventStore, FeedbackEvent,
    FeedbackOutcome, Insights, InsightsQuery, SearchAnalytics, SearchEvent, StoreError, StoreStats,
    TimeRange, VoteEvent, VoteOutcome, bounded_deflection, validate_deflection, validate_feedback,
    validate_vote,
};
use crate::config;

/// The database file inside the data folder.
pub const EVENTS_FILE: &str = "events.sqlite3";

/// How long a write waits for another process's lock before answering "unavailable".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Events waiting for the writer; beyond this, durable writes wait and search events are dropped.
const QUEUE_CAPACITY: usize = 8192;

/// Settings of the store: retention and the size cap come from `[events]`, the rest are
/// constants that tests change.
#[derive(Debug, Clone, Copy)]
pub(super) struct Options {
    pub(super) busy_timeout: Duration,
    /// See [`LOG_LIMIT_FRAMES`].
    pub(super) log_limit_frames: i64,
    /// Events older than this are deleted (`events.keep_days`).
    pub(super) keep: Duration,
    /// Bytes of database and log past which search events are dropped
    /// (`events.max_database_mb`).
    pub(super) max_bytes: u64,
    /// See [`MEASURE_EVERY`].
    pub(super) measure_every: Duration,
    /// See [`PRUNE_EVERY`].
    pub(super) prune_every: Duration,
    /// See [`PRUNE_BATCH`].
    pub(super) prune_batch: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options::for_events(&config::Events::default())
    }
}

impl Options {
    fn for_events(events: &config::Events) -> Options {
        Options {
            busy_timeout: BUSY_TIMEOUT,
            log_limit_frames: LOG_LIMIT_FRAMES,
            keep: events.keep(),
            max_bytes: events.max_database_bytes(),
            measure_every: MEASURE_EVERY,
            prune_every: PRUNE_EVERY,
            prune_batch: PRUNE_BATCH,
        }
    }
}

/// The event database: one writer thread, one read connection, and the threads that copy its
/// log and keep it within its retention period and size. They stop when the store is dropped,
/// the writer after writing what was queued.
pub struct SqliteEventStore {
    path: Arc<Path>,
    queue: mpsc::Sender<Message>,
    reader: Arc<Reader>,
    tally: Arc<Tally>,
    /// Dropped with the store, which stops the retention thread.
    _retention_running: std::sync::mpsc::Sender<()>,
}

impl SqliteEventStore {
    /// Opens (creating the folder and file) and migrates the database, with the default
    /// retention period and size cap; starts its threads.
    pub fn open(data_dir: &Path) -> Result<SqliteEventStore, StoreError> {
        SqliteEventStore::open_with(data_dir, Options::default())
    }

    /// Opens the database with the retention period and size cap of `[events]`. A cap of 0
    /// drops every search event (the configuration refuses less than
    /// [`config::MIN_DATABASE_MB`]).
    pub fn open_configured(
        data_dir: &Path,
        events: &config::Events,
    ) -> Result<SqliteEventStore, StoreError> {
        SqliteEventStore::open_with(data_dir, Options::for_events(events))
    }

    pub(super) fn open_with(
        data_dir: &Path,
        options: Options,
    ) -> Result<SqliteEventStore, StoreError> {
        let path = data_dir.join(EVENTS_FILE);
        let open_error = |reason: String| StoreError::Open {
            path: path.clone(),
            reason,
        };
        std::fs::create_dir_all(data_dir)
            .map_err(|err| open_error(format!("cannot create its folder: {err}")))?;
        let writer = open_writer(&path, options).map_err(|err| open_error(open_reason(&err)))?;
        let file: Arc<Path> = Arc::from(path.as_path());
        let reader =
            Reader::open(file.clone(), options).map_err(|err| open_error(open_reason(&err)))?;

        let checkpoints =
            open_checkpointer(&path, options).map_err(|err| open_error(open_reason(&err)))?;
        let measurer =
            open_measurer(&path, options).map_err(|err| open_error(open_reason(&err)))?;

        let (queue, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let tally = Arc::new(Tally::default());
        let (running, stopped) = std::sync::mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("kbsearch-checkpoints".to_string())
            .spawn(move || checkpoint_until(checkpoints, options.log_limit_frames, &stopped))
            .map_err(|err| open_error(format!("cannot start the checkpoint thread: {err}")))?;
        let worker = Writer {
            path: file.clone(),
            conn: writer,
            receiver,
            tally: tally.clone(),
            _running: running,
        };
        std::thread::Builder::new()
            .name("kbsearch-events".to_string())
            .spawn(move || worker.run())
            .map_err(|err| open_error(format!("cannot start the writer thread: {err}")))?;
        let retention = Retention::new(measurer, &path, queue.downgrade(), tally.clone(), options);
        let (retention_running, retention_stopped) = std::sync::mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("kbsearch-retention".to_string())
            .spawn(move || retention.run(&retention_stopped))
            .map_err(|err| open_error(format!("cannot start the retention thread: {err}")))?;
        Ok(SqliteEventStore {
            path: file,
            queue,
            reader: Arc::new(reader),
            tally,
            _retention_running: retention_running,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Search events lost so far (over the size cap, queue full, writer stopped, or their batch
    /// failed).
    pub fn dropped_searches(&self) -> u64 {
        self.tally.stats().dropped_searches
    }
}

impl EventStore for SqliteEventStore {
    fn record_deflection(
        &self,
        event: DeflectionEvent,
    ) -> BoxFuture<'_, Result<DeflectionOutcome, StoreError>> {
        Box::pin(async move {
            validate_deflection(&event)?;
            let bounded = bounded_deflection(event);
            ask(&self.queue, |reply| Message::Deflection(bounded, reply)).await
        })
    }

    fn record_feedback(
        &self,
        event: FeedbackEvent,
    ) -> BoxFuture<'_, Result<FeedbackOutcome, StoreError>> {
        Box::pin(async move {
            let checked = validate_feedback(event)?;
            ask(&self.queue, |reply| Message::Feedback(checked, reply)).await
        })
    }

    /// Queued and written with the next batch; dropped (and counted, see
    /// [`SqliteEventStore::dropped_searches`]) while the database is over its size cap or when
    /// the queue is full.
    fn record_search(&self, event: SearchEvent) {
        self.tally.queue_search(&self.queue, event, Message::Search);
    }

    fn record_vote(&self, event: VoteEvent) -> BoxFuture<'_, Result<VoteOutcome, StoreError>> {
        Box::pin(async move {
            let checked = validate_vote(event)?;
            ask(&self.queue, |reply| Message::Vote(checked, reply)).await
        })
    }

    /// Queued and written with the next batch, like a search; the writer keeps it only when its
    /// search is recorded.
    fn record_click(&self, event: ClickEvent) {
        self.tally.queue_click(&self.queue, event, Message::Click);
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(ask(&self.queue, Message::Flush))
    }

    fn stats(&self) -> StoreStats {
        self.tally.stats()
    }

    fn deflection_analytics(
        &self,
        range: TimeRange,
        top: usize,
    ) -> BoxFuture<'_, Result<DeflectionAnalytics, StoreError>> {
        let reader = self.reader.clone();
        Box::pin(off_runtime(move || reader.deflection_analytics(range, top)))
    }

    fn search_analytics(
        &self,
        range: TimeRange,
        top: usize,
    ) -> BoxFuture<'_, Result<SearchAnalytics, StoreError>> {
        let reader = self.reader.clone();
        Box::pin(off_runtime(move || reader.search_analytics(range, top)))
    }

    fn insights(&self, query: InsightsQuery) -> BoxFuture<'_, Result<Insights, StoreError>> {
        let reader = self.reader.clone();
        Box::pin(off_runtime(move || reader.insights(&query)))
    }
}

/// Runs a blocking read on tokio's blocking pool, never on the async runtime.
async fn off_runtime<T: Send + 'static>(
    read: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(read)
        .await
        .map_err(|err| StoreError::Failed(format!("event analytics failed: {err}")))?
}

/// Why opening failed, before [`open_reason`] words it for the person starting the service.
#[derive(Debug, Error)]
pub(super) enum OpenFailure {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error("{0}")]
    Other(String),
}

/// Words an open failure for the person starting the service: what is wrong and what to do.
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
pub(super) fn store_error(path: &Path, err: &rusqlite::Error) -> StoreError {
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

#[cfg(test)]
mod tests {
    use super::super::test_support::{draft, feedback, search};
    use super::super::{FeedbackKind, FeedbackOutcome};
    use super::*;

    #[tokio::test]
    async fn events_survive_closing_and_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        {
            let store = SqliteEventStore::open(&data).unwrap();
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
        let store = SqliteEventStore::open(&data).unwrap();
        let deflection = store
            .deflection_analytics(TimeRange::default(), 10)
            .await
            .unwrap();
        assert_eq!(deflection.drafts, 1);
        assert_eq!(deflection.suggestions_shown, 2);
        assert_eq!(deflection.solved, 1);
        let searches = store
            .search_analytics(TimeRange::default(), 10)
            .await
            .unwrap();
        assert_eq!(searches.searches, 1);
    }

    #[test]
    fn a_file_that_is_not_sqlite_is_an_open_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(EVENTS_FILE);
        std::fs::write(&path, "these are notes, not a database\n".repeat(100)).unwrap();
        let error = SqliteEventStore::open(dir.path()).err().expect("refused");
        let message = error.to_string();
        assert!(
            matches!(&error, StoreError::Open { path: at, .. } if *at == path),
            "{error:?}"
        );
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("not a SQLite database"), "{message}");
    }
}
