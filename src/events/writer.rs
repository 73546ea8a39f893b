//! The writer thread: the one owner of the write connection. It takes every event queued, writes
//! them in one transaction and commits (one fsync for the whole group), then answers each
//! request; a failed transaction is rolled back whole and reported to every request in it.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

use super::retention::{BestEffort, PruneStep, Tally, prune};
use super::schema::migrate;
use super::sqlite::{OpenFailure, Options, store_error};
use super::{
    ClickEvent, DeflectionEvent, DeflectionOutcome, FeedbackEvent, FeedbackKind, FeedbackOutcome,
    SearchEvent, StoreError, VoteEvent, VoteOutcome,
};

/// Most events in one transaction, so a backlog is written in bounded steps.
const MAX_BATCH: usize = 2048;
/// How long the writer waits for more events before a commit when they arrive faster than it
/// commits; a request's answer waits at most this much longer. It only waits when the previous
/// batch held more than one event, so a lone request is never delayed. Each commit syncs the log,
/// which costs the writer more CPU than the rows: at about 1,500 drafts a second, 2 ms instead of
/// 0.5 ms cut the writer's CPU from 0.13-0.15 to 0.09 ms a draft, with p99 still 52-59 ms.
const LINGER: std::time::Duration = std::time::Duration::from_millis(2);

pub(super) type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// Sends a store's writer the message `message` makes with a reply channel, and waits for the
/// answer; `Closed` when the writer has stopped.
pub(super) async fn ask<M, T>(
    queue: &mpsc::Sender<M>,
    message: impl FnOnce(Reply<T>) -> M,
) -> Result<T, StoreError> {
    let (reply, answer) = oneshot::channel();
    queue
        .send(message(reply))
        .await
        .map_err(|_| StoreError::Closed)?;
    answer.await.map_err(|_| StoreError::Closed)?
}

/// What the writer thread is asked to do.
pub(super) enum Message {
    Deflection(DeflectionEvent, Reply<DeflectionOutcome>),
    Feedback(FeedbackEvent, Reply<FeedbackOutcome>),
    Search(SearchEvent),
    Vote(VoteEvent, Reply<VoteOutcome>),
    Click(ClickEvent),
    Flush(Reply<()>),
    /// Delete old events (retention, or room under the size cap): one bounded step in a
    /// transaction of its own, after the events it was queued with; the number deleted.
    Prune(PruneStep, Reply<u64>),
}

/// Opens the write connection: WAL so analytics read while it writes, `synchronous=FULL` so a
/// commit is on disk when it returns, then brings the schema up to date.
pub(super) fn open_writer(path: &Path, options: Options) -> Result<Connection, OpenFailure> {
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
    // The checkpoint thread copies the log; see `checkpoint::open_checkpointer`.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    // Take the write lock at BEGIN, where the busy timeout applies, not at the first write.
    conn.set_transaction_behavior(TransactionBehavior::Immediate);
    migrate(&mut conn)?;
    Ok(conn)
}

/// The writer thread: owns the write connection and turns queued events into transactions.
pub(super) struct Writer {
    pub(super) path: Arc<Path>,
    pub(super) conn: Connection,
    pub(super) receiver: mpsc::Receiver<Message>,
    /// Counts the search and click events of failed batches.
    pub(super) tally: Arc<Tally>,
    /// Dropped with the writer, which stops the checkpoint thread.
    pub(super) _running: std::sync::mpsc::Sender<()>,
}

impl Writer {
    pub(super) fn run(mut self) {
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

    /// Writes one batch's events in one transaction and answers every request in it, then runs
    /// its prune steps, each in a transaction of its own.
    fn write(&mut self, batch: Vec<Message>) {
        let (prunes, events): (Vec<Message>, Vec<Message>) = batch
            .into_iter()
            .partition(|message| matches!(message, Message::Prune(..)));
        if !events.is_empty() {
            self.write_events(events);
        }
        for message in prunes {
            if let Message::Prune(step, reply) = message {
                let deleted = prune(&mut self.conn, step).map_err(|err| {
                    warn!(path = %self.path.display(), "prune step rolled back: {err}");
                    store_error(&self.path, &err)
                });
                let _ = reply.send(deleted);
            }
        }
    }

    /// Writes events in one transaction and answers every request among them.
    fn write_events(&mut self, mut batch: Vec<Message>) {
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
                let lost = answer_failed(batch, &error);
                self.tally.add_dropped(BestEffort::Search, lost.searches);
                self.tally.add_dropped(BestEffort::Click, lost.clicks);
            }
        }
    }
}

/// What each draft, feedback and vote of a committed batch came to, in batch order.
#[derive(Default)]
struct Outcomes {
    deflections: Vec<DeflectionOutcome>,
    feedback: Vec<FeedbackOutcome>,
    votes: Vec<VoteOutcome>,
}

/// Writes the batch in order in one transaction; what each draft and feedback came to. On error
/// the transaction is rolled back when dropped.
fn write_batch(conn: &mut Connection, batch: &mut [Message]) -> rusqlite::Result<Outcomes> {
    let mut outcomes = Outcomes::default();
    let writes_nothing = batch
        .iter()
        .all(|m| matches!(m, Message::Flush(_) | Message::Prune(..)));
    if writes_nothing {
        return Ok(outcomes);
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for message in batch {
        match message {
            Message::Deflection(event, _) => {
                outcomes.deflections.push(insert_deflection(&tx, event)?);
            }
            Message::Feedback(event, _) => outcomes.feedback.push(insert_feedback(&tx, event)?),
            Message::Search(event) => insert_search(&tx, event)?,
            Message::Vote(event, _) => outcomes.votes.push(insert_vote(&tx, event)?),
            Message::Click(event) => insert_click(&tx, event)?,
            // Prune steps run after the batch, in transactions of their own (`Writer::write`).
            Message::Flush(_) | Message::Prune(..) => {}
        }
    }
    tx.commit()?;
    Ok(outcomes)
}

/// The creator of the draft `id`: `None` when no draft has it, `Some(None)` when the draft was
/// recorded before creators were (and matches no caller).
fn creator_of(conn: &Connection, id: &str) -> rusqlite::Result<Option<Option<String>>> {
    conn.prepare_cached("SELECT creator FROM deflections WHERE id = ?1")?
        .query_row([id], |row| row.get(0))
        .optional()
}

/// Records a draft, or updates it when its creator sends it again: the case form asks again as
/// the customer types, with the same id. The draft keeps the time it was first seen and its
/// creator; its fields and the suggestions shown are the latest ones. Another caller's draft is
/// left as it is.
pub(super) fn insert_deflection(
    conn: &Connection,
    event: &DeflectionEvent,
) -> rusqlite::Result<DeflectionOutcome> {
    let outcome = match creator_of(conn, &event.id)? {
        None => DeflectionOutcome::Created,
        Some(Some(creator)) if creator == event.creator => DeflectionOutcome::Updated,
        Some(_) => return Ok(DeflectionOutcome::NotTheCreator),
    };
    conn.prepare_cached(
        "INSERT INTO deflections (id, at_ms, case_type, severity, product, version, audience,
             creator, text, shown_any)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (id) DO UPDATE SET case_type = excluded.case_type,
             severity = excluded.severity, product = excluded.product,
             version = excluded.version, audience = excluded.audience, text = excluded.text,
             shown_any = excluded.shown_any",
    )?
    .execute(params![
        event.id,
        event.at.timestamp_millis(),
        event.case_type,
        event.severity,
        event.product,
        event.version,
        event.audience,
        event.creator,
        event.text,
        !event.suggested.is_empty(),
    ])?;
    conn.prepare_cached("DELETE FROM suggestions WHERE deflection_id = ?1")?
        .execute([&event.id])?;
    let mut insert_suggestion = conn.prepare_cached(
        "INSERT INTO suggestions (deflection_id, position, article_id) VALUES (?1, ?2, ?3)",
    )?;
    for (position, article_id) in event.suggested.iter().enumerate() {
        insert_suggestion.execute(params![event.id, position as i64, article_id])?;
    }
    Ok(outcome)
}

/// Records feedback from the draft's creator, naming (for `solved` and `not_helpful`) an article
/// among the draft's suggestions.
fn insert_feedback(conn: &Connection, event: &FeedbackEvent) -> rusqlite::Result<FeedbackOutcome> {
    let by_creator = creator_of(conn, &event.deflection_id)?
        .flatten()
        .is_some_and(|creator| creator == event.caller);
    if !by_creator {
        return Ok(FeedbackOutcome::UnknownDeflection);
    }
    let names_an_article = matches!(event.kind, FeedbackKind::Solved | FeedbackKind::NotHelpful);
    if names_an_article {
        let suggested = conn
            .prepare_cached(
                "SELECT 1 FROM suggestions WHERE deflection_id = ?1 AND article_id = ?2 LIMIT 1",
            )?
            .query_row(params![event.deflection_id, event.article_id], |_| Ok(()))
            .optional()?
            .is_some();
        if !suggested {
            return Ok(FeedbackOutcome::NotSuggested);
        }
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
    conn.prepare_cached(MARK_OUTCOME)?
        .execute(params![event.deflection_id, event.kind.as_str()])?;
    Ok(FeedbackOutcome::Recorded)
}

/// Sets the draft's flag of the feedback's kind, which the insights count (`shown_any` is set
/// with the draft's suggestions).
const MARK_OUTCOME: &str = "UPDATE deflections SET solved = solved OR ?2 = 'solved',
         not_helpful = not_helpful OR ?2 = 'not_helpful',
         submitted = submitted OR ?2 = 'case_submitted'
     WHERE id = ?1";

/// Records a search; its query arrives normalised and bounded (`bounded_search`). A search the
/// page recorded before under the same id (the customer kept typing) is replaced: its last words
/// are what was searched, and clicks name that one search.
fn insert_search(conn: &Connection, event: &SearchEvent) -> rusqlite::Result<()> {
    // SQLite integers are signed; a total beyond i64 is not a count anyone needs exactly.
    let total = i64::try_from(event.total).unwrap_or(i64::MAX);
    conn.prepare_cached(
        "INSERT INTO searches (at_ms, query, total, audience, search_id, product)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (search_id) DO UPDATE SET at_ms = excluded.at_ms, query = excluded.query,
             total = excluded.total, audience = excluded.audience, product = excluded.product",
    )?
    .execute(params![
        event.at.timestamp_millis(),
        event.query,
        total,
        event.audience,
        event.id,
        event.product,
    ])?;
    Ok(())
}

/// Records a vote, or replaces the visitor's earlier vote on the article; it arrives checked
/// (`validate_vote`).
fn insert_vote(conn: &Connection, event: &VoteEvent) -> rusqlite::Result<VoteOutcome> {
    let replaced = conn
        .prepare_cached("SELECT 1 FROM votes WHERE article_id = ?1 AND visitor = ?2")?
        .query_row(params![event.article_id, event.visitor], |_| Ok(()))
        .optional()?
        .is_some();
    conn.prepare_cached(
        "INSERT INTO votes (article_id, visitor, helpful, comment, at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (article_id, visitor) DO UPDATE SET helpful = excluded.helpful,
             comment = excluded.comment, at_ms = excluded.at_ms",
    )?
    .execute(params![
        event.article_id,
        event.visitor,
        event.helpful,
        event.comment,
        event.at.timestamp_millis(),
    ])?;
    Ok(if replaced {
        VoteOutcome::Replaced
    } else {
        VoteOutcome::Recorded
    })
}

/// Records a click when its search is recorded, once per search, article and rank, and notes it
/// on the search when it is the first (the earliest; the better rank at the same moment).
fn insert_click(conn: &Connection, event: &ClickEvent) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO clicks (search_id, article_id, rank, at_ms)
         SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM searches WHERE search_id = ?1)
         ON CONFLICT DO NOTHING",
    )?
    .execute(params![
        event.search_id,
        event.article_id,
        event.rank,
        event.at.timestamp_millis(),
    ])?;
    conn.prepare_cached(
        "UPDATE searches SET first_click_ms = ?2, first_click_rank = ?3
         WHERE search_id = ?1 AND (first_click_ms IS NULL OR first_click_ms > ?2
             OR (first_click_ms = ?2 AND first_click_rank > ?3))",
    )?
    .execute(params![
        event.search_id,
        event.at.timestamp_millis(),
        event.rank
    ])?;
    Ok(())
}

fn answer_committed(batch: Vec<Message>, outcomes: Outcomes) {
    let mut deflections = outcomes.deflections.into_iter();
    let mut feedback = outcomes.feedback.into_iter();
    let mut votes = outcomes.votes.into_iter();
    for message in batch {
        // A requester that went away (timeout, disconnect) no longer listens: its event is
        // written all the same.
        match message {
            Message::Flush(reply) => {
                let _ = reply.send(Ok(()));
            }
            Message::Deflection(_, reply) => {
                let outcome = deflections
                    .next()
                    .expect("write_batch returns one outcome per draft");
                let _ = reply.send(Ok(outcome));
            }
            Message::Feedback(_, reply) => {
                let outcome = feedback
                    .next()
                    .expect("write_batch returns one outcome per feedback event");
                let _ = reply.send(Ok(outcome));
            }
            Message::Vote(_, reply) => {
                let outcome = votes
                    .next()
                    .expect("write_batch returns one outcome per vote");
                let _ = reply.send(Ok(outcome));
            }
            Message::Search(_) | Message::Click(_) | Message::Prune(..) => {}
        }
    }
}

/// The best-effort events of a rolled-back batch.
#[derive(Default)]
struct Lost {
    searches: u64,
    clicks: u64,
}

/// Answers every request of a rolled-back batch with `error`; the best-effort events lost.
fn answer_failed(batch: Vec<Message>, error: &StoreError) -> Lost {
    let mut lost = Lost::default();
    for message in batch {
        match message {
            Message::Flush(reply) => {
                let _ = reply.send(Err(error.clone()));
            }
            Message::Deflection(_, reply) => {
                let _ = reply.send(Err(error.clone()));
            }
            Message::Feedback(_, reply) => {
                let _ = reply.send(Err(error.clone()));
            }
            Message::Vote(_, reply) => {
                let _ = reply.send(Err(error.clone()));
            }
            Message::Search(_) => lost.searches += 1,
            Message::Click(_) => lost.clicks += 1,
            Message::Prune(_, reply) => {
                let _ = reply.send(Err(error.clone()));
            }
        }
    }
    lost
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::test_support::{at, draft, feedback, rows};
    use super::super::{EVENTS_FILE, EventStore, FeedbackKind, SqliteEventStore};
    use super::*;

    fn open_short_timeout(dir: &Path) -> SqliteEventStore {
        let options = Options {
            busy_timeout: Duration::from_millis(200),
            ..Options::default()
        };
        SqliteEventStore::open_with(dir, options).unwrap()
    }

    /// A writer over a new database in `dir` that the test runs itself, batch by batch, with the
    /// write connection in reach: the tests' way to change its settings, since production
    /// messages carry only events.
    fn writer_in(dir: &Path) -> Writer {
        let path: Arc<Path> = Arc::from(dir.join(EVENTS_FILE));
        let conn = open_writer(&path, Options::default()).unwrap();
        let (_queue, receiver) = mpsc::channel(1);
        let (running, _stopped) = std::sync::mpsc::channel();
        Writer {
            path,
            conn,
            receiver,
            tally: Arc::default(),
            _running: running,
        }
    }

    /// Writes `event` in a batch of its own; the writer's answer.
    fn write_one(
        writer: &mut Writer,
        event: DeflectionEvent,
    ) -> Result<DeflectionOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        writer.write(vec![Message::Deflection(event, reply)]);
        answer
            .blocking_recv()
            .expect("the writer answers every request of its batch")
    }

    #[tokio::test]
    async fn recording_the_same_draft_again_updates_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteEventStore::open(dir.path()).unwrap();
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
        let store = SqliteEventStore::open(dir.path()).unwrap();
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
        let store = SqliteEventStore::open(dir.path()).unwrap();
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_thousand_concurrent_feedback_writes_all_land() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteEventStore::open(dir.path()).unwrap());
        let articles: Vec<String> = (0..20).map(|article| format!("a{article}")).collect();
        let shown: Vec<&str> = articles.iter().map(String::as_str).collect();
        for draft_number in 0..100 {
            let id = format!("d{draft_number}");
            store
                .record_deflection(draft(&id, 0, &shown))
                .await
                .unwrap();
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

    #[test]
    fn the_writer_commits_durably() {
        let dir = tempfile::tempdir().unwrap();
        let writer = writer_in(dir.path());
        let pragma = |name: &str| -> String {
            writer
                .conn
                .pragma_query_value(None, name, |row| row.get::<_, rusqlite::types::Value>(0))
                .map(|value| format!("{value:?}"))
                .unwrap()
        };
        let settings = [
            pragma("journal_mode"),
            pragma("synchronous"),
            pragma("foreign_keys"),
            pragma("busy_timeout"),
        ];
        // synchronous 2 is FULL: the WAL is synced at every commit.
        assert_eq!(
            settings,
            [
                r#"Text("wal")"#.to_string(),
                "Integer(2)".to_string(),
                "Integer(1)".to_string(),
                "Integer(5000)".to_string(),
            ]
        );
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

    #[test]
    fn a_full_database_is_unavailable_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = writer_in(dir.path());
        let pages: i64 = writer
            .conn
            .query_row("PRAGMA page_count", [], |row| row.get(0))
            .unwrap();
        let _: i64 = writer
            .conn
            .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |row| {
                row.get(0)
            })
            .unwrap();
        // Far more than fits in the pages the empty tables have.
        let long_ids: Vec<String> = (0..300).map(|n| format!("{n:0>200}")).collect();
        let long_refs: Vec<&str> = long_ids.iter().map(String::as_str).collect();
        let big = draft("big", 0, &long_refs);

        let full = write_one(&mut writer, big.clone());
        let Err(StoreError::Unavailable(message)) = full else {
            panic!("expected unavailable, got {full:?}");
        };
        assert!(message.contains("is full"), "{message}");
        assert_eq!(rows(dir.path(), "deflections"), 0);
        assert_eq!(rows(dir.path(), "suggestions"), 0);

        let _: i64 = writer
            .conn
            .query_row("PRAGMA max_page_count = 1000000", [], |row| row.get(0))
            .unwrap();
        write_one(&mut writer, big).unwrap();
        assert_eq!(rows(dir.path(), "suggestions"), 300);
    }

    /// Run by hand: `cargo test --release --lib events -- --ignored --nocapture`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "measures throughput; run by hand in release mode"]
    async fn feedback_throughput_with_64_writers() {
        const WRITERS: usize = 64;
        const EACH: usize = 500;
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteEventStore::open(dir.path()).unwrap());
        let articles: Vec<String> = (0..EACH).map(|article| format!("a{article}")).collect();
        let shown: Vec<&str> = articles.iter().map(String::as_str).collect();
        for writer in 0..WRITERS {
            store
                .record_deflection(draft(&format!("d{writer}"), 0, &shown))
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
