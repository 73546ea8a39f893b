//! Retention: how long events are kept and how large the database may grow. A thread of its own
//! measures the database every second (its pages in use plus its write-ahead log) and, at
//! start-up and then hourly, has the writer delete drafts and searches older than
//! `events.keep_days` (and votes and clicks). Past `events.max_database_mb`, search and click
//! events are dropped before they are queued (and counted), and the oldest searches are deleted,
//! with their clicks, to make room; drafts, outcomes and votes are still written, since an
//! outcome needs its draft. Every deletion is one bounded batch in a
//! transaction of its own, sent to the writer like an event, so event batches go in between and
//! no answer waits long for it. SQLite reuses the pages freed: the files stay near their largest
//! size rather than shrink.
//!
//! Deleting rows cannot shrink the write-ahead log (the checkpoints empty it, and truncate it
//! past its limit, see `checkpoint`), and deleting writes to it for a while. So room is made in
//! the pages in use, down to a share of the cap less the log's limit, and the log counts only
//! in whether the cap is passed: sized by the log's momentary length, a round could delete every
//! search.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use chrono::Utc;
use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use super::queries::{delete_oldest, for_sqlite};
use super::sqlite::{OpenFailure, Options};
use super::writer::Message;
use super::{ClickEvent, SearchEvent, StoreStats, bounded_search, valid_click};

/// How often events past the retention period are deleted, after the run at start-up.
pub(super) const PRUNE_EVERY: Duration = Duration::from_secs(60 * 60);
/// How often the database is measured against the size cap: a flood of searches overshoots the
/// cap by at most what it writes in this time.
pub(super) const MEASURE_EVERY: Duration = Duration::from_secs(1);
/// Most drafts (with their suggestions and feedback) or searches deleted in one transaction: a
/// few milliseconds of the writer's time, so answers waiting behind it barely notice.
pub(super) const PRUNE_BATCH: usize = 1_000;
/// Making room stops once the pages in use are back under this share (in tenths) of the cap less
/// the log's limit, so that searches are recorded again for a while before the next round.
const LOW_WATER_TENTHS: u64 = 9;

/// Counts shared by the store, its writer and the retention thread; read for `/metrics`.
#[derive(Debug, Default)]
pub(super) struct Tally {
    /// Set while the database is over the size cap: search events are dropped.
    over_cap: AtomicBool,
    database_bytes: AtomicU64,
    dropped_searches: AtomicU64,
    dropped_clicks: AtomicU64,
    pruned_searches: AtomicU64,
    pruned_deflections: AtomicU64,
    pruned_votes: AtomicU64,
    pruned_clicks: AtomicU64,
}

/// The events written on a best-effort basis: dropped, and counted, rather than waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BestEffort {
    Search,
    Click,
}

impl Tally {
    /// Whether search events are dropped for size now.
    pub(super) fn over_cap(&self) -> bool {
        self.over_cap.load(Ordering::Relaxed)
    }

    /// Counts `events` events of one kind lost; the total so far.
    pub(super) fn add_dropped(&self, kind: BestEffort, events: u64) -> u64 {
        let counter = match kind {
            BestEffort::Search => &self.dropped_searches,
            BestEffort::Click => &self.dropped_clicks,
        };
        counter.fetch_add(events, Ordering::Relaxed) + events
    }

    /// Queues a search event for a store's writer (normalised and bounded), or counts it
    /// dropped: over the size cap, or the queue full or closed. Never waits.
    pub(super) fn queue_search<M>(
        &self,
        queue: &mpsc::Sender<M>,
        event: SearchEvent,
        message: fn(SearchEvent) -> M,
    ) {
        self.queue_best_effort(queue, BestEffort::Search, || message(bounded_search(event)));
    }

    /// Queues a click for a store's writer like a search; one that breaks a rule of clicks
    /// (`valid_click`) is not kept, and not counted as dropped.
    pub(super) fn queue_click<M>(
        &self,
        queue: &mpsc::Sender<M>,
        event: ClickEvent,
        message: fn(ClickEvent) -> M,
    ) {
        if valid_click(&event) {
            self.queue_best_effort(queue, BestEffort::Click, || message(event));
        }
    }

    fn queue_best_effort<M>(
        &self,
        queue: &mpsc::Sender<M>,
        kind: BestEffort,
        message: impl FnOnce() -> M,
    ) {
        if self.over_cap() {
            self.drop_event(
                kind,
                "the event database is over its size cap (events.max_database_mb)",
            );
            return;
        }
        if queue.try_send(message()).is_err() {
            self.drop_event(kind, "the event queue is full or closed");
        }
    }

    /// Counts an event that is not written, and says so in the log now and then.
    fn drop_event(&self, kind: BestEffort, why: &str) {
        let dropped = self.add_dropped(kind, 1);
        if dropped % 1000 == 1 {
            warn!(dropped, ?kind, "best-effort event dropped: {why}");
        }
    }

    /// Takes a new measurement of the database and whether it is over the cap; whether it was
    /// over before.
    pub(super) fn measured(&self, bytes: u64, over_cap: bool) -> bool {
        self.database_bytes.store(bytes, Ordering::Relaxed);
        self.over_cap.swap(over_cap, Ordering::Relaxed)
    }

    /// Counts events deleted by retention or to make room.
    pub(super) fn add_pruned(&self, kind: Pruned, deleted: u64) {
        let counter = match kind {
            Pruned::Deflections => &self.pruned_deflections,
            Pruned::Searches => &self.pruned_searches,
            Pruned::Votes => &self.pruned_votes,
            Pruned::Clicks => &self.pruned_clicks,
        };
        counter.fetch_add(deleted, Ordering::Relaxed);
    }

    pub(super) fn stats(&self) -> StoreStats {
        StoreStats {
            database_bytes: self.database_bytes.load(Ordering::Relaxed),
            dropped_searches: self.dropped_searches.load(Ordering::Relaxed),
            dropped_clicks: self.dropped_clicks.load(Ordering::Relaxed),
            pruned_searches: self.pruned_searches.load(Ordering::Relaxed),
            pruned_deflections: self.pruned_deflections.load(Ordering::Relaxed),
            pruned_votes: self.pruned_votes.load(Ordering::Relaxed),
            pruned_clicks: self.pruned_clicks.load(Ordering::Relaxed),
        }
    }
}

/// What a prune step deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pruned {
    /// Drafts, each with its suggestions and feedback.
    Deflections,
    /// Searches, each with its clicks.
    Searches,
    Votes,
    Clicks,
}

impl Pruned {
    /// Every kind, in the order a retention round deletes them.
    pub(super) const ALL: [Pruned; 4] = [
        Pruned::Deflections,
        Pruned::Searches,
        Pruned::Votes,
        Pruned::Clicks,
    ];

    /// The table of the kind's events.
    pub(super) fn table(self) -> &'static str {
        match self {
            Pruned::Deflections => "deflections",
            Pruned::Searches => "searches",
            Pruned::Votes => "votes",
            Pruned::Clicks => "clicks",
        }
    }
}

/// One prune step: the oldest events of one kind recorded before `before_ms`, at most `limit`.
#[derive(Debug, Clone, Copy)]
pub(super) struct PruneStep {
    pub(super) kind: Pruned,
    pub(super) before_ms: i64,
    pub(super) limit: usize,
}

/// Deletes one step's events in one transaction; how many (drafts, searches, votes or clicks)
/// went. A draft goes with its suggestions and feedback, a search with its clicks (by cascade).
/// Run by the writer, which owns the connection.
pub(super) fn prune(conn: &mut Connection, step: PruneStep) -> rusqlite::Result<u64> {
    let limit = i64::try_from(step.limit).unwrap_or(i64::MAX);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let deleted = match step.kind {
        Pruned::Searches | Pruned::Votes | Pruned::Clicks => tx
            .prepare_cached(&for_sqlite(&delete_oldest(step.kind.table(), "rowid")))?
            .execute(params![step.before_ms, limit])?,
        Pruned::Deflections => {
            let ids = tx
                .prepare_cached(
                    "SELECT id FROM deflections WHERE at_ms < ?1 ORDER BY at_ms LIMIT ?2",
                )?
                .query_map(params![step.before_ms, limit], |row| {
                    row.get::<_, String>(0)
                })?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            for id in &ids {
                // Children first: the foreign keys are enforced.
                tx.prepare_cached("DELETE FROM feedback WHERE deflection_id = ?1")?
                    .execute([id])?;
                tx.prepare_cached("DELETE FROM suggestions WHERE deflection_id = ?1")?
                    .execute([id])?;
                tx.prepare_cached("DELETE FROM deflections WHERE id = ?1")?
                    .execute([id])?;
            }
            ids.len()
        }
    };
    tx.commit()?;
    Ok(deleted as u64)
}

/// A read-only connection that measures the database for the retention thread.
pub(super) fn open_measurer(path: &Path, options: Options) -> Result<Connection, OpenFailure> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(options.busy_timeout)?;
    Ok(conn)
}

/// The database's size, in bytes.
struct Size {
    /// Pages in use (the free pages SQLite reuses aside).
    used: u64,
    /// The write-ahead log file.
    log: u64,
    page_size: u64,
}

/// Why a round of pruning ended early.
enum Halt {
    /// The writer has stopped: so does the retention thread.
    Stopped,
    /// A step failed (logged); the next round tries again.
    Failed,
}

/// The retention thread: measures the database, keeps it under the cap and deletes what is past
/// the retention period, through the writer.
pub(super) struct Retention {
    measurer: Connection,
    log: PathBuf,
    /// Weak, so that the writer stops when the store is dropped.
    queue: mpsc::WeakSender<Message>,
    tally: Arc<Tally>,
    options: Options,
    /// Said once per stay over the cap: drafts and outcomes alone are over it.
    warned_nothing_to_prune: bool,
}

impl Retention {
    pub(super) fn new(
        measurer: Connection,
        database: &Path,
        queue: mpsc::WeakSender<Message>,
        tally: Arc<Tally>,
        options: Options,
    ) -> Retention {
        let mut log = database.as_os_str().to_owned();
        log.push("-wal");
        Retention {
            measurer,
            log: PathBuf::from(log),
            queue,
            tally,
            options,
            warned_nothing_to_prune: false,
        }
    }

    /// Prunes at once and every [`Options::prune_every`], measures every
    /// [`Options::measure_every`], until the store is dropped (`stopped` disconnects) or the
    /// writer stops.
    pub(super) fn run(mut self, stopped: &std::sync::mpsc::Receiver<()>) {
        let mut next_prune = Instant::now();
        loop {
            if Instant::now() >= next_prune {
                if let Err(Halt::Stopped) = self.prune_expired() {
                    return;
                }
                next_prune = Instant::now() + self.options.prune_every;
            }
            if let Err(Halt::Stopped) = self.keep_under_cap() {
                return;
            }
            match stopped.recv_timeout(self.options.measure_every) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// Deletes the events recorded before the retention period, kind by kind, batch by batch.
    fn prune_expired(&mut self) -> Result<(), Halt> {
        let keep_ms = i64::try_from(self.options.keep.as_millis()).unwrap_or(i64::MAX);
        let before_ms = Utc::now().timestamp_millis().saturating_sub(keep_ms);
        for kind in Pruned::ALL {
            let mut deleted = 0;
            loop {
                let step = PruneStep {
                    kind,
                    before_ms,
                    limit: self.options.prune_batch,
                };
                let batch = self.ask(step)?;
                deleted += batch;
                if batch < self.options.prune_batch as u64 {
                    break;
                }
            }
            if deleted > 0 {
                info!(
                    ?kind,
                    deleted,
                    keep_days = self.options.keep.as_secs() / 86_400,
                    "events past the retention period deleted"
                );
            }
        }
        Ok(())
    }

    /// Measures the database; over the cap, drops search events and deletes the oldest searches
    /// until the pages in use are under the low-water mark of the cap less the log's limit.
    fn keep_under_cap(&mut self) -> Result<(), Halt> {
        let Some(size) = self.measure() else {
            return Ok(());
        };
        let cap = self.options.max_bytes;
        let log_limit = u64::try_from(self.options.log_limit_frames)
            .unwrap_or(0)
            .saturating_mul(size.page_size);
        let pages_cap = cap.saturating_sub(log_limit);
        let over = |size: &Size| size.used + size.log >= cap || size.used >= pages_cap;
        if !over(&size) {
            self.tally.over_cap.store(false, Ordering::Relaxed);
            self.warned_nothing_to_prune = false;
            return Ok(());
        }
        if !self.tally.over_cap.swap(true, Ordering::Relaxed) {
            warn!(
                bytes = size.used + size.log,
                cap,
                "the event database is over its size cap (events.max_database_mb): search events \
                 are dropped and the oldest deleted to make room"
            );
        }
        let target = pages_cap / 10 * LOW_WATER_TENTHS;
        let mut now_used = size.used;
        while now_used > target {
            let step = PruneStep {
                kind: Pruned::Searches,
                before_ms: i64::MAX,
                limit: self.options.prune_batch,
            };
            if self.ask(step)? == 0 {
                if !self.warned_nothing_to_prune {
                    warn!(
                        bytes = now_used + size.log,
                        cap,
                        "the event database is over its size cap with drafts and outcomes \
                         alone: search events are dropped, drafts and outcomes still written; \
                         lower events.keep_days or raise events.max_database_mb"
                    );
                    self.warned_nothing_to_prune = true;
                }
                break;
            }
            let Some(now) = self.measure() else {
                break;
            };
            now_used = now.used;
        }
        if let Some(now) = self.measure() {
            self.tally.over_cap.store(over(&now), Ordering::Relaxed);
        }
        Ok(())
    }

    /// The database's size now; `None` (logged) when it cannot be read.
    fn measure(&self) -> Option<Size> {
        let pages = self.measurer.query_row(
            "SELECT (SELECT page_count FROM pragma_page_count())
                  - (SELECT freelist_count FROM pragma_freelist_count()),
                    (SELECT page_size FROM pragma_page_size())",
            [],
            |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)),
        );
        let (used_pages, page_size) = match pages {
            Ok(pages) => pages,
            Err(err) => {
                warn!(path = %self.log.display(), "cannot measure the event database: {err}");
                return None;
            }
        };
        let page_size = u64::try_from(page_size).unwrap_or(0);
        let used = u64::try_from(used_pages)
            .unwrap_or(0)
            .saturating_mul(page_size);
        let log = std::fs::metadata(&self.log).map_or(0, |meta| meta.len());
        self.tally
            .database_bytes
            .store(used + log, Ordering::Relaxed);
        Some(Size {
            used,
            log,
            page_size,
        })
    }

    /// Has the writer run one step, between event batches, and counts what it deleted.
    fn ask(&self, step: PruneStep) -> Result<u64, Halt> {
        let answer = {
            let queue = self.queue.upgrade().ok_or(Halt::Stopped)?;
            let (reply, answer) = oneshot::channel();
            queue
                .blocking_send(Message::Prune(step, reply))
                .map_err(|_| Halt::Stopped)?;
            answer
        };
        let started = Instant::now();
        let deleted = match answer.blocking_recv().map_err(|_| Halt::Stopped)? {
            Ok(deleted) => deleted,
            Err(err) => {
                warn!(kind = ?step.kind, "deleting old events failed: {err}");
                return Err(Halt::Failed);
            }
        };
        debug!(
            kind = ?step.kind,
            deleted,
            elapsed_us = started.elapsed().as_micros() as u64,
            "events pruned"
        );
        self.tally.add_pruned(step.kind, deleted);
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_util::future::join_all;

    use super::super::test_support::{click, draft, feedback, page_search, rows, search, vote};
    use super::super::{
        DeflectionOutcome, EVENTS_FILE, EventStore, FeedbackKind, FeedbackOutcome, SqliteEventStore,
    };
    use super::*;

    /// Minutes in `days` days, for the test events' times.
    fn days(days: i64) -> i64 {
        days * 24 * 60
    }

    /// Waits until `condition` holds, checking every 20 ms; panics naming `what` after 60 s.
    async fn wait_for(what: &str, condition: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !condition() {
            assert!(Instant::now() < deadline, "waited 60 s for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Bytes of the database's pages in use, read as another process would (the log aside).
    fn used_bytes(dir: &Path) -> u64 {
        let conn = Connection::open(dir.join(EVENTS_FILE)).unwrap();
        conn.query_row(
            "SELECT ((SELECT page_count FROM pragma_page_count())
                   - (SELECT freelist_count FROM pragma_freelist_count()))
                   * (SELECT page_size FROM pragma_page_size())",
            [],
            |row| row.get(0),
        )
        .unwrap()
    }

    /// The stored queries, oldest first.
    fn queries(dir: &Path) -> Vec<String> {
        let conn = Connection::open(dir.join(EVENTS_FILE)).unwrap();
        conn.prepare("SELECT query FROM searches ORDER BY at_ms")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<Vec<String>>>()
            .unwrap()
    }

    /// A store that measures often and keeps its log short, so that tests see the cap at once.
    fn capped(dir: &Path, max_bytes: u64) -> SqliteEventStore {
        let options = Options {
            max_bytes,
            measure_every: Duration::from_millis(20),
            log_limit_frames: 32,
            ..Options::default()
        };
        SqliteEventStore::open_with(dir, options).unwrap()
    }

    /// Issue 14: events had no retention. Drafts (with their suggestions and feedback) and
    /// searches older than the retention period go at start-up, in bounded batches; newer ones
    /// stay.
    #[tokio::test]
    async fn events_past_the_retention_period_are_deleted_at_start_up_with_their_feedback() {
        let dir = tempfile::tempdir().unwrap();
        {
            let keep_all = Options {
                keep: Duration::from_secs(100 * 365 * 24 * 3600),
                ..Options::default()
            };
            let store = SqliteEventStore::open_with(dir.path(), keep_all).unwrap();
            for n in 0..25 {
                let id = format!("old-{n}");
                store
                    .record_deflection(draft(&id, -days(500) + n, &["a", "b"]))
                    .await
                    .unwrap();
                for (kind, article) in [
                    (FeedbackKind::Solved, Some("a")),
                    (FeedbackKind::CaseSubmitted, None),
                ] {
                    let outcome = store.record_feedback(feedback(&id, kind, article)).await;
                    assert_eq!(outcome.unwrap(), FeedbackOutcome::Recorded);
                }
            }
            // Just inside 400 days, and recent.
            for (id, minutes) in [("edge", -days(398)), ("new", 0)] {
                store
                    .record_deflection(draft(id, minutes, &["a"]))
                    .await
                    .unwrap();
                let solved = feedback(id, FeedbackKind::Solved, Some("a"));
                store.record_feedback(solved).await.unwrap();
            }
            for n in 0..30 {
                store.record_search(search(-days(401) + n, "old query", 1));
            }
            store.record_search(search(-days(398), "edge query", 1));
            store.record_search(search(0, "new query", 1));
            store.flush().await.unwrap();
            assert_eq!(rows(dir.path(), "deflections"), 27);
            assert_eq!(rows(dir.path(), "searches"), 32);
        }
        let in_batches_of_7 = Options {
            prune_batch: 7,
            ..Options::default()
        };
        let store = SqliteEventStore::open_with(dir.path(), in_batches_of_7).unwrap();
        wait_for("the start-up pruning", || {
            let stats = store.stats();
            stats.pruned_deflections == 25 && stats.pruned_searches == 30
        })
        .await;
        assert_eq!(rows(dir.path(), "deflections"), 2);
        assert_eq!(rows(dir.path(), "suggestions"), 2);
        assert_eq!(
            rows(dir.path(), "feedback"),
            2,
            "feedback goes with its draft"
        );
        assert_eq!(queries(dir.path()), ["edge query", "new query"]);
        // The drafts kept are whole: their feedback is still theirs.
        let again = store.record_feedback(feedback("new", FeedbackKind::Solved, Some("a")));
        assert_eq!(again.await.unwrap(), FeedbackOutcome::Duplicate);
    }

    /// Votes and clicks past the retention period go too: a click with its search, or by its own
    /// age.
    #[tokio::test]
    async fn old_votes_and_clicks_are_deleted_at_start_up() {
        let dir = tempfile::tempdir().unwrap();
        {
            let keep_all = Options {
                keep: Duration::from_secs(100 * 365 * 24 * 3600),
                ..Options::default()
            };
            let store = SqliteEventStore::open_with(dir.path(), keep_all).unwrap();
            store.record_search(page_search(-days(401), "old", 1, "old-search", None));
            store.record_search(page_search(0, "new", 1, "new-search", None));
            for rank in 1..=3 {
                store.record_click(click("old-search", "a", rank, -days(401) + 1));
            }
            // Stamped long ago by a replica with a wrong clock: it goes by its own age.
            store.record_click(click("new-search", "a", 1, -days(401)));
            store.record_click(click("new-search", "b", 2, 1));
            store.flush().await.unwrap();
            for n in 0..9 {
                let visitor = format!("v{n}");
                store
                    .record_vote(vote("a", &visitor, false, Some("old"), -days(401) + n))
                    .await
                    .unwrap();
            }
            store
                .record_vote(vote("a", "new", true, None, 0))
                .await
                .unwrap();
            assert_eq!(rows(dir.path(), "clicks"), 5);
            assert_eq!(rows(dir.path(), "votes"), 10);
        }
        let in_batches_of_4 = Options {
            prune_batch: 4,
            ..Options::default()
        };
        let store = SqliteEventStore::open_with(dir.path(), in_batches_of_4).unwrap();
        wait_for("the start-up pruning", || {
            let stats = store.stats();
            stats.pruned_votes == 9 && stats.pruned_clicks == 1 && stats.pruned_searches == 1
        })
        .await;
        assert_eq!(rows(dir.path(), "votes"), 1);
        assert_eq!(
            rows(dir.path(), "clicks"),
            1,
            "the new search's recent click"
        );
        assert_eq!(queries(dir.path()), ["new"]);
    }

    /// Issue 14: a loop filled the disk, after which deflection and feedback failed. Over the
    /// size cap, search events are dropped (and counted); drafts and outcomes are still written.
    #[tokio::test]
    async fn over_the_size_cap_searches_are_dropped_and_outcomes_still_land() {
        let dir = tempfile::tempdir().unwrap();
        let cap = 1024 * 1024;
        let store = capped(dir.path(), cap);
        let shown: Vec<String> = (0..20).map(|n| format!("{n:0>60}")).collect();
        let shown: Vec<&str> = shown.iter().map(String::as_str).collect();
        // Drafts past the cap: nothing the store may delete to make room.
        let mut drafts = 0;
        while used_bytes(dir.path()) < cap + cap / 10 {
            let batch = (drafts..drafts + 100).map(|n| draft(&format!("d{n}"), 0, &shown));
            for outcome in join_all(batch.map(|event| store.record_deflection(event))).await {
                assert_eq!(outcome.unwrap(), DeflectionOutcome::Created);
            }
            drafts += 100;
        }
        wait_for("the store to see it is over its cap", || {
            store.record_search(search(0, "probe", 0));
            store.stats().dropped_searches > 0
        })
        .await;
        store.flush().await.unwrap();
        let before = store.stats().dropped_searches;
        for n in 0..50 {
            store.record_search(search(n, "after the cap", 1));
        }
        store.flush().await.unwrap();
        assert_eq!(store.stats().dropped_searches, before + 50);
        assert!(
            !queries(dir.path()).iter().any(|q| q == "after the cap"),
            "a search was written over the cap"
        );

        let solved = store.record_feedback(feedback("d0", FeedbackKind::Solved, Some(shown[0])));
        assert_eq!(solved.await.unwrap(), FeedbackOutcome::Recorded);
        let late = store.record_deflection(draft("late", 1, &shown)).await;
        assert_eq!(late.unwrap(), DeflectionOutcome::Created);
        let submitted = store.record_feedback(feedback("late", FeedbackKind::CaseSubmitted, None));
        assert_eq!(submitted.await.unwrap(), FeedbackOutcome::Recorded);
        assert_eq!(rows(dir.path(), "deflections"), drafts + 1);
        assert_eq!(rows(dir.path(), "feedback"), 2);
        assert!(store.stats().database_bytes >= cap, "{:?}", store.stats());
    }

    /// Over the size cap, the oldest searches are deleted until the database is back under it,
    /// and searches are recorded again.
    #[tokio::test]
    async fn the_oldest_searches_are_deleted_to_make_room() {
        let dir = tempfile::tempdir().unwrap();
        let cap = 4 * 1024 * 1024;
        let store = capped(dir.path(), cap);
        let padding = "x".repeat(400);
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut n = 0;
        // Until the pages in use pass the cap. On the way the log alone may take the database
        // over it until the next checkpoint empties it (every 500 ms), and searches are dropped
        // meanwhile: hence a deadline rather than a count, and a pause between chunks.
        while store.stats().pruned_searches == 0 {
            assert!(
                Instant::now() < deadline,
                "no search was deleted after {n}: {:?}",
                store.stats()
            );
            for _ in 0..100 {
                let query = format!("search {n:06} {padding}");
                store.record_search(search(n, &query, 1));
                n += 1;
            }
            store.flush().await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        wait_for("room under the cap", || store.stats().database_bytes < cap).await;
        let kept = queries(dir.path());
        assert!(!kept.is_empty(), "every search was deleted");
        assert!(
            !kept[0].starts_with("search 000000 "),
            "the oldest search is still there"
        );
        // Searches are recorded again once there is room.
        wait_for("a search recorded under the cap", || {
            store.record_search(search(n, "after room was made", 1));
            rows(dir.path(), "searches") > kept.len() as u64
        })
        .await;
        store.flush().await.unwrap();
        assert!(
            queries(dir.path())
                .iter()
                .any(|q| q == "after room was made")
        );
    }
}
