//! The PostgreSQL event store, for several replicas behind a load balancer: every replica writes
//! its drafts, outcomes and searches to one database, and every analytics query reads them all.
//! Chosen by `[events] url`; SQLite stays the default.
//!
//! It keeps the promises of [`EventStore`] with the database's own means: each draft and each
//! outcome is one transaction, answered after its commit; the draft's row is locked while its
//! creator and suggestions are checked, and feedback is unique by an index, so the same feedback
//! sent to two replicas at the same moment is one row (the second insert waits for the first
//! commit and then does nothing), and so is a visitor's vote on an article. Search and click
//! events are queued and written in batches by a task of their own, and dropped (counted) when
//! the queue is full or the database fails. Connections
//! come from a pool with short time-outs, so that a database that is down or slow makes writes
//! fail fast as [`StoreError::Unavailable`] (503 and `Retry-After` for the client) rather than
//! hold requests; the pool opens new connections when it is back, with no restart.
//! `pg_retention` keeps the database within its retention period and size cap.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use futures_util::future::BoxFuture;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_postgres::NoTls;
use tokio_postgres::types::ToSql;
use tracing::{info, warn};

use super::insights_queries::{self as insights, Columns, InsightsParams, InsightsRows};
use super::pg_retention::keep_bounded;
use super::pg_schema::{MigrateError, migrate};
use super::queries::{self, Bounds, DeflectionCounts};
use super::retention::{BestEffort, Tally};
use super::writer::{Reply, ask};
use super::{
    ArticleCount, ClickEvent, DeflectionAnalytics, DeflectionEvent, DeflectionOutcome, EventStore,
    FeedbackEvent, FeedbackKind, FeedbackOutcome, Insights, InsightsQuery, QueryCount,
    SearchAnalytics, SearchEvent, StoreError, StoreStats, StoreStatus, TimeRange, VoteEvent,
    VoteOutcome, bounded_deflection, validate_deflection, validate_feedback, validate_vote,
};
use crate::config;

/// Connections per replica: writes are one short transaction each, so a few carry hundreds of
/// requests a second, and ten replicas stay within PostgreSQL's default of 100 connections.
const POOL_SIZE: usize = 8;
/// How long a request waits for a connection, or for a new one to open, before it is answered
/// "unavailable": the case form retries, and a database that is down answers nothing.
const POOL_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest statement: a slow database fails the request rather than holding it.
const STATEMENT_TIMEOUT_MS: u64 = 5_000;
/// Search and click events waiting for the writer task; beyond this they are dropped.
const QUEUE_CAPACITY: usize = 8192;
/// Most search and click events in one transaction.
const MAX_BATCH: usize = 1000;

/// Settings of the store: retention and the size cap come from `[events]`.
#[derive(Debug, Clone, Copy)]
pub(super) struct PgOptions {
    pub(super) keep: Duration,
    pub(super) max_bytes: u64,
}

/// Whether the database answers, as the last request saw it, for `/api/status`.
#[derive(Debug, Default)]
pub(super) struct Health {
    down: AtomicBool,
    last_error: Mutex<Option<String>>,
}

impl Health {
    /// Notes what an operation came to: an unavailable database is down until one succeeds.
    pub(super) fn saw<T>(&self, result: &Result<T, StoreError>) {
        match result {
            Ok(_) => {
                if self.down.swap(false, Ordering::Relaxed) {
                    info!("event database available again");
                }
            }
            Err(StoreError::Unavailable(message)) => {
                if !self.down.swap(true, Ordering::Relaxed) {
                    warn!("event database unavailable: {message}");
                }
                *self
                    .last_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(message.clone());
            }
            Err(_) => {}
        }
    }

    fn status(&self) -> StoreStatus {
        StoreStatus {
            kind: "postgresql",
            available: !self.down.load(Ordering::Relaxed),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }
}

/// What the search writer task is asked to do.
enum Message {
    Search(SearchEvent),
    Click(ClickEvent),
    Flush(Reply<()>),
}

/// The event store on PostgreSQL: a pool of connections, the search writer task and the
/// retention task, both stopped when the store is dropped.
pub struct PgEventStore {
    pool: Pool,
    /// Set once the schema is known to be this build's (migrated at start-up, or once the
    /// database came back when it was down then); until then every write is unavailable.
    schema: Arc<AtomicBool>,
    queue: mpsc::Sender<Message>,
    tally: Arc<Tally>,
    health: Arc<Health>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for PgEventStore {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The URL as it may be shown: without its password.
pub fn redacted(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((user, host)) => {
                let user = user.split(':').next().unwrap_or_default();
                format!("{scheme}://{user}@{host}")
            }
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

impl PgEventStore {
    /// Connects, migrates the schema (once across replicas) and starts the store's tasks. Fails
    /// when the URL is unusable or the database refuses (newer than this build, a failed step);
    /// a database that cannot be reached is migrated once it can, writes unavailable until then.
    pub async fn open(url: &str, events: &config::Events) -> Result<PgEventStore, StoreError> {
        let options = PgOptions {
            keep: events.keep(),
            max_bytes: events.max_database_bytes(),
        };
        let open_error = |reason: String| StoreError::Connect {
            target: redacted(url),
            reason,
        };
        let mut pg_config =
            tokio_postgres::Config::from_str(url).map_err(|err| open_error(err.to_string()))?;
        pg_config
            .connect_timeout(POOL_TIMEOUT)
            .application_name("kbsearch")
            .options(format!("-c statement_timeout={STATEMENT_TIMEOUT_MS}"));
        let manager = Manager::from_config(
            pg_config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_TIMEOUT))
            .create_timeout(Some(POOL_TIMEOUT))
            .recycle_timeout(Some(POOL_TIMEOUT))
            .build()
            .map_err(|err| open_error(err.to_string()))?;
        let schema = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        match migrate_pooled(&pool).await {
            Ok(()) => schema.store(true, Ordering::Relaxed),
            // Down at start-up: serve searches now, and record events once it is back.
            Err(Unreached(reason)) => {
                warn!(
                    database = %redacted(url),
                    "event database unreachable at start-up ({reason}): searches are answered, \
                     events wait until it is back"
                );
                tasks.push(tokio::spawn(migrate_when_back(
                    pool.clone(),
                    schema.clone(),
                )));
            }
            Err(Refused(reason)) => return Err(open_error(reason)),
        }

        let tally = Arc::new(Tally::default());
        let health = Arc::new(Health::default());
        let (queue, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let writer = tokio::spawn(write_searches(
            pool.clone(),
            receiver,
            tally.clone(),
            health.clone(),
        ));
        let retention = tokio::spawn(keep_bounded(pool.clone(), tally.clone(), options));
        tasks.extend([writer, retention]);
        info!(database = %redacted(url), "events recorded in PostgreSQL");
        Ok(PgEventStore {
            pool,
            schema,
            queue,
            tally,
            health,
            tasks,
        })
    }

    /// Runs `operation` on a pooled connection: its failure worded for the request, and the
    /// database's state noted for `/api/status`.
    async fn on_client<T>(
        &self,
        operation: impl for<'c> FnOnce(
            &'c mut deadpool_postgres::Client,
        ) -> BoxFuture<'c, Result<T, tokio_postgres::Error>>,
    ) -> Result<T, StoreError> {
        let result = match self.pool.get().await {
            Ok(_) if !self.schema.load(Ordering::Relaxed) => Err(StoreError::Unavailable(
                "the event database has not been reached since start-up; nothing was written"
                    .to_string(),
            )),
            Ok(mut client) => operation(&mut client)
                .await
                .map_err(|err| database_error(&err)),
            Err(err) => Err(pool_error(&err)),
        };
        self.health.saw(&result);
        result
    }
}

impl EventStore for PgEventStore {
    fn record_deflection(
        &self,
        event: DeflectionEvent,
    ) -> BoxFuture<'_, Result<DeflectionOutcome, StoreError>> {
        Box::pin(async move {
            validate_deflection(&event)?;
            let bounded = bounded_deflection(event);
            self.on_client(move |client| {
                Box::pin(async move { insert_deflection(client, &bounded).await })
            })
            .await
        })
    }

    fn record_feedback(
        &self,
        event: FeedbackEvent,
    ) -> BoxFuture<'_, Result<FeedbackOutcome, StoreError>> {
        Box::pin(async move {
            let checked = validate_feedback(event)?;
            self.on_client(move |client| {
                Box::pin(async move { insert_feedback(client, &checked).await })
            })
            .await
        })
    }

    fn record_search(&self, event: SearchEvent) {
        self.tally.queue_search(&self.queue, event, Message::Search);
    }

    fn record_vote(&self, event: VoteEvent) -> BoxFuture<'_, Result<VoteOutcome, StoreError>> {
        Box::pin(async move {
            let checked = validate_vote(event)?;
            self.on_client(move |client| {
                Box::pin(async move { insert_vote(client, &checked).await })
            })
            .await
        })
    }

    fn record_click(&self, event: ClickEvent) {
        self.tally.queue_click(&self.queue, event, Message::Click);
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(ask(&self.queue, Message::Flush))
    }

    fn stats(&self) -> StoreStats {
        self.tally.stats()
    }

    fn status(&self) -> StoreStatus {
        let mut status = self.health.status();
        if !self.schema.load(Ordering::Relaxed) {
            status.available = false;
            status.last_error.get_or_insert_with(|| {
                "the event database has not been reached since start-up".to_string()
            });
        }
        status
    }

    fn deflection_analytics(
        &self,
        range: TimeRange,
        top: usize,
    ) -> BoxFuture<'_, Result<DeflectionAnalytics, StoreError>> {
        Box::pin(
            self.on_client(move |client| Box::pin(read_deflection_analytics(client, range, top))),
        )
    }

    fn search_analytics(
        &self,
        range: TimeRange,
        top: usize,
    ) -> BoxFuture<'_, Result<SearchAnalytics, StoreError>> {
        Box::pin(self.on_client(move |client| Box::pin(read_search_analytics(client, range, top))))
    }

    fn insights(&self, query: InsightsQuery) -> BoxFuture<'_, Result<Insights, StoreError>> {
        let params = InsightsParams::from(&query);
        Box::pin(
            self.on_client(move |client| {
                Box::pin(async move { read_insights(client, &params).await })
            }),
        )
    }
}

/// Why the schema could not be checked at start-up.
enum MigrateFailure {
    /// The database cannot be reached now: try again later.
    Unreached(String),
    /// It answered, and refused or failed: a newer schema, a failed step, no permission.
    Refused(String),
}
use MigrateFailure::{Refused, Unreached};

/// Brings the schema up to date on a pooled connection.
async fn migrate_pooled(pool: &Pool) -> Result<(), MigrateFailure> {
    let unreached_or_refused = |error: StoreError, refused: String| match error {
        StoreError::Unavailable(reason) => Unreached(reason),
        _ => Refused(refused),
    };
    let mut client = pool.get().await.map_err(|err| {
        let error = pool_error(&err);
        let refused = error.to_string();
        unreached_or_refused(error, refused)
    })?;
    migrate(&mut client).await.map_err(|err| match err {
        MigrateError::Database(err) => {
            unreached_or_refused(database_error(&err), format!("migration failed: {err}"))
        }
        newer @ MigrateError::Newer { .. } => Refused(newer.to_string()),
    })
}

/// Retries the start-up migration every few seconds until the database answers; a database that
/// then refuses (a newer schema) stays refused, and says so in the log.
async fn migrate_when_back(pool: Pool, schema: Arc<AtomicBool>) {
    loop {
        tokio::time::sleep(POOL_TIMEOUT).await;
        match migrate_pooled(&pool).await {
            Ok(()) => {
                schema.store(true, Ordering::Relaxed);
                info!("event database reached: events are recorded again");
                return;
            }
            Err(Unreached(_)) => {}
            Err(Refused(reason)) => {
                tracing::error!("event database refused: {reason}; no events are recorded");
                return;
            }
        }
    }
}

/// Records a draft, or updates it when its creator sends it again, in one transaction. The
/// insert that finds the id taken waits for the transaction that took it, so two replicas
/// creating the same id agree on one creator.
async fn insert_deflection(
    client: &mut deadpool_postgres::Client,
    event: &DeflectionEvent,
) -> Result<DeflectionOutcome, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    let severity = i32::from(event.severity);
    let inserted = tx
        .execute(
            &tx.prepare_cached(
                "INSERT INTO deflections (id, at_ms, case_type, severity, product, version,
                     audience, creator, text, shown_any)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING",
            )
            .await?,
            &[
                &event.id,
                &event.at.timestamp_millis(),
                &event.case_type,
                &severity,
                &event.product,
                &event.version,
                &event.audience,
                &event.creator,
                &event.text,
                &!event.suggested.is_empty(),
            ],
        )
        .await?;
    let outcome = if inserted == 1 {
        DeflectionOutcome::Created
    } else {
        let creator: Option<String> = tx
            .query_one(
                &tx.prepare_cached("SELECT creator FROM deflections WHERE id = $1 FOR UPDATE")
                    .await?,
                &[&event.id],
            )
            .await?
            .get(0);
        if creator.as_deref() != Some(event.creator.as_str()) {
            return Ok(DeflectionOutcome::NotTheCreator);
        }
        tx.execute(
            &tx.prepare_cached(
                "UPDATE deflections SET case_type = $2, severity = $3, product = $4,
                     version = $5, audience = $6, text = $7, shown_any = $8
                 WHERE id = $1",
            )
            .await?,
            &[
                &event.id,
                &event.case_type,
                &severity,
                &event.product,
                &event.version,
                &event.audience,
                &event.text,
                &!event.suggested.is_empty(),
            ],
        )
        .await?;
        tx.execute(
            &tx.prepare_cached("DELETE FROM suggestions WHERE deflection_id = $1")
                .await?,
            &[&event.id],
        )
        .await?;
        DeflectionOutcome::Updated
    };
    tx.execute(
        &tx.prepare_cached(
            "INSERT INTO suggestions (deflection_id, position, article_id)
             SELECT $1, (shown.position - 1)::integer, shown.article_id
             FROM unnest($2::text[]) WITH ORDINALITY AS shown (article_id, position)",
        )
        .await?,
        &[&event.id, &event.suggested],
    )
    .await?;
    tx.commit().await?;
    Ok(outcome)
}

/// Records feedback from the draft's creator, naming (for `solved` and `not_helpful`) an article
/// among the draft's suggestions; the draft's row is locked so its suggestions hold still, for
/// update since its outcome flag is then set (two feedbacks on one draft sharing the lock would
/// deadlock on that update).
async fn insert_feedback(
    client: &mut deadpool_postgres::Client,
    event: &FeedbackEvent,
) -> Result<FeedbackOutcome, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    let creator: Option<Option<String>> = tx
        .query_opt(
            &tx.prepare_cached("SELECT creator FROM deflections WHERE id = $1 FOR NO KEY UPDATE")
                .await?,
            &[&event.deflection_id],
        )
        .await?
        .map(|row| row.get(0));
    if creator.flatten().as_deref() != Some(event.caller.as_str()) {
        return Ok(FeedbackOutcome::UnknownDeflection);
    }
    if matches!(event.kind, FeedbackKind::Solved | FeedbackKind::NotHelpful) {
        let suggested = tx
            .query_opt(
                &tx.prepare_cached(
                    "SELECT 1 FROM suggestions WHERE deflection_id = $1 AND article_id = $2
                     LIMIT 1",
                )
                .await?,
                &[&event.deflection_id, &event.article_id],
            )
            .await?
            .is_some();
        if !suggested {
            return Ok(FeedbackOutcome::NotSuggested);
        }
    }
    let inserted = tx
        .execute(
            &tx.prepare_cached(
                "INSERT INTO feedback (deflection_id, kind, article_id, at_ms)
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .await?,
            &[
                &event.deflection_id,
                &event.kind.as_str(),
                &event.article_id,
                &event.at.timestamp_millis(),
            ],
        )
        .await?;
    if inserted == 0 {
        tx.commit().await?;
        return Ok(FeedbackOutcome::Duplicate);
    }
    // The draft's flag of this kind, which the insights count.
    tx.execute(
        &tx.prepare_cached(
            "UPDATE deflections SET solved = solved OR $2 = 'solved',
                 not_helpful = not_helpful OR $2 = 'not_helpful',
                 submitted = submitted OR $2 = 'case_submitted'
             WHERE id = $1",
        )
        .await?,
        &[&event.deflection_id, &event.kind.as_str()],
    )
    .await?;
    tx.commit().await?;
    Ok(FeedbackOutcome::Recorded)
}

/// The search writer task: takes what is queued, inserts it in one transaction (searches, then
/// the clicks that name them), and answers the flushes queued with it.
async fn write_searches(
    pool: Pool,
    mut receiver: mpsc::Receiver<Message>,
    tally: Arc<Tally>,
    health: Arc<Health>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let mut searches = Vec::new();
        let mut clicks = Vec::new();
        let mut flushes = Vec::new();
        for message in batch.drain(..) {
            match message {
                Message::Search(event) => searches.push(event),
                Message::Click(event) => clicks.push(event),
                Message::Flush(reply) => flushes.push(reply),
            }
        }
        let written = if searches.is_empty() && clicks.is_empty() {
            Ok(())
        } else {
            insert_best_effort(&pool, &searches, &clicks).await
        };
        health.saw(&written);
        if let Err(err) = &written {
            tally.add_dropped(BestEffort::Search, searches.len() as u64);
            tally.add_dropped(BestEffort::Click, clicks.len() as u64);
            warn!(
                searches = searches.len(),
                clicks = clicks.len(),
                "search and click events not written: {err}"
            );
        }
        for reply in flushes {
            let _ = reply.send(written.clone());
        }
    }
}

/// Inserts searches and then clicks in one transaction; a second search with the same id
/// replaces the first (the customer kept typing), and a click naming no recorded search is not
/// kept.
async fn insert_best_effort(
    pool: &Pool,
    searches: &[SearchEvent],
    clicks: &[ClickEvent],
) -> Result<(), StoreError> {
    let mut client = pool.get().await.map_err(|err| pool_error(&err))?;
    let insert = async {
        let tx = client.transaction().await?;
        if !searches.is_empty() {
            insert_searches(&tx, searches).await?;
        }
        if !clicks.is_empty() {
            insert_clicks(&tx, clicks).await?;
        }
        tx.commit().await
    };
    insert.await.map_err(|err| database_error(&err))
}

/// The searches of a batch with only the last of those that share an id, in order.
fn last_of_each_search(searches: &[SearchEvent]) -> Vec<&SearchEvent> {
    let mut last_index = std::collections::HashMap::new();
    for (i, search) in searches.iter().enumerate() {
        if let Some(id) = &search.id {
            last_index.insert(id.as_str(), i);
        }
    }
    searches
        .iter()
        .enumerate()
        .filter(|(i, s)| s.id.as_deref().is_none_or(|id| last_index[id] == *i))
        .map(|(_, s)| s)
        .collect()
}

async fn insert_searches(
    tx: &deadpool_postgres::Transaction<'_>,
    searches: &[SearchEvent],
) -> Result<(), tokio_postgres::Error> {
    // One statement may update a row once only: of a search typed several times in one batch,
    // the last words are what was searched.
    let searches = last_of_each_search(searches);
    let at: Vec<i64> = searches.iter().map(|s| s.at.timestamp_millis()).collect();
    let query: Vec<&str> = searches.iter().map(|s| s.query.as_str()).collect();
    // A total beyond i64 is not a count anyone needs exactly.
    let total: Vec<i64> = searches
        .iter()
        .map(|s| i64::try_from(s.total).unwrap_or(i64::MAX))
        .collect();
    let audience: Vec<&str> = searches.iter().map(|s| s.audience.as_str()).collect();
    let id: Vec<Option<&str>> = searches.iter().map(|s| s.id.as_deref()).collect();
    let product: Vec<Option<&str>> = searches.iter().map(|s| s.product.as_deref()).collect();
    let statement = tx
        .prepare_cached(
            "INSERT INTO searches (at_ms, query, total, audience, search_id, product)
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[],
                 $5::text[], $6::text[])
             ON CONFLICT (search_id) DO UPDATE SET at_ms = excluded.at_ms,
                 query = excluded.query, total = excluded.total,
                 audience = excluded.audience, product = excluded.product",
        )
        .await?;
    tx.execute(&statement, &[&at, &query, &total, &audience, &id, &product])
        .await?;
    Ok(())
}

async fn insert_clicks(
    tx: &deadpool_postgres::Transaction<'_>,
    clicks: &[ClickEvent],
) -> Result<(), tokio_postgres::Error> {
    let search_id: Vec<&str> = clicks.iter().map(|c| c.search_id.as_str()).collect();
    let article_id: Vec<&str> = clicks.iter().map(|c| c.article_id.as_str()).collect();
    // Ranks are at most `MAX_CLICK_RANK` (`valid_click`).
    let rank: Vec<i32> = clicks
        .iter()
        .map(|c| i32::try_from(c.rank).unwrap_or(i32::MAX))
        .collect();
    let at: Vec<i64> = clicks.iter().map(|c| c.at.timestamp_millis()).collect();
    let statement = tx
        .prepare_cached(
            "INSERT INTO clicks (search_id, article_id, rank, at_ms)
             SELECT c.search_id, c.article_id, c.rank, c.at_ms
             FROM unnest($1::text[], $2::text[], $3::integer[], $4::bigint[])
                 AS c (search_id, article_id, rank, at_ms)
             WHERE EXISTS (SELECT 1 FROM searches s WHERE s.search_id = c.search_id)
             ON CONFLICT DO NOTHING",
        )
        .await?;
    tx.execute(&statement, &[&search_id, &article_id, &rank, &at])
        .await?;
    // Each search's first click (the earliest; the better rank at the same moment), as the
    // SQLite writer notes it click by click.
    let first = tx
        .prepare_cached(
            "UPDATE searches s SET first_click_ms = c.at_ms, first_click_rank = c.rank
             FROM (SELECT DISTINCT ON (search_id) search_id, rank, at_ms
                   FROM unnest($1::text[], $2::integer[], $3::bigint[])
                       AS c (search_id, rank, at_ms)
                   ORDER BY search_id, at_ms, rank) AS c
             WHERE s.search_id = c.search_id AND (s.first_click_ms IS NULL
                 OR s.first_click_ms > c.at_ms
                 OR (s.first_click_ms = c.at_ms AND s.first_click_rank > c.rank))",
        )
        .await?;
    tx.execute(&first, &[&search_id, &rank, &at]).await?;
    Ok(())
}

/// Records a vote, or replaces the visitor's earlier vote on the article, in one statement: two
/// replicas voting at once agree on one row.
async fn insert_vote(
    client: &mut deadpool_postgres::Client,
    event: &VoteEvent,
) -> Result<VoteOutcome, tokio_postgres::Error> {
    // `xmax` is 0 on a row this statement inserted, and set on one it updated.
    let inserted: bool = client
        .query_one(
            &client
                .prepare_cached(
                    "INSERT INTO votes (article_id, visitor, helpful, comment, at_ms)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (article_id, visitor) DO UPDATE SET helpful = excluded.helpful,
                         comment = excluded.comment, at_ms = excluded.at_ms
                     RETURNING xmax = 0",
                )
                .await?,
            &[
                &event.article_id,
                &event.visitor,
                &event.helpful,
                &event.comment,
                &event.at.timestamp_millis(),
            ],
        )
        .await?
        .try_get(0)?;
    Ok(if inserted {
        VoteOutcome::Recorded
    } else {
        VoteOutcome::Replaced
    })
}

/// Runs one statement of [`queries`] that answers one row of counts.
async fn counts<const N: usize>(
    tx: &deadpool_postgres::Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<[u64; N], tokio_postgres::Error> {
    let row = tx.query_one(&tx.prepare_cached(sql).await?, params).await?;
    let mut counts = [0; N];
    for (column, count) in counts.iter_mut().enumerate() {
        *count = u64::try_from(row.try_get::<_, i64>(column)?).unwrap_or(0);
    }
    Ok(counts)
}

/// Runs one ranked statement of [`queries`]: names and counts, best first.
async fn ranked(
    tx: &deadpool_postgres::Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<(String, u64)>, tokio_postgres::Error> {
    let rows = tx.query(&tx.prepare_cached(sql).await?, params).await?;
    rows.iter()
        .map(|row| {
            let count = row.try_get::<_, i64>(1)?;
            Ok((row.try_get(0)?, u64::try_from(count).unwrap_or(0)))
        })
        .collect()
}

/// One read-only snapshot, so that every number of an answer agrees with the others.
async fn snapshot(
    client: &mut deadpool_postgres::Client,
) -> Result<deadpool_postgres::Transaction<'_>, tokio_postgres::Error> {
    client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
}

async fn read_deflection_analytics(
    client: &mut deadpool_postgres::Client,
    range: TimeRange,
    top: usize,
) -> Result<DeflectionAnalytics, tokio_postgres::Error> {
    let tx = snapshot(client).await?;
    let Bounds { from_ms, to_ms } = range.into();
    let limit = queries::limit(top);
    let range: &[&(dyn ToSql + Sync)] = &[&from_ms, &to_ms];
    let numbers = DeflectionCounts {
        drafts: counts(&tx, queries::DRAFTS, range).await?,
        suggestions: counts(&tx, queries::SUGGESTIONS, range).await?,
        feedback: counts(&tx, queries::FEEDBACK_KINDS, range).await?,
        outcomes: counts(&tx, queries::OUTCOMES, range).await?,
    };
    let articles = |pairs: Vec<(String, u64)>| -> Vec<ArticleCount> {
        pairs
            .into_iter()
            .map(|(article_id, count)| ArticleCount { article_id, count })
            .collect()
    };
    let top_solving = ranked(&tx, queries::TOP_SOLVING, &[&from_ms, &to_ms, &limit]).await?;
    let shown_never_helpful = ranked(
        &tx,
        queries::SHOWN_NEVER_HELPFUL,
        &[&from_ms, &to_ms, &limit, &queries::MIN_SHOWN],
    )
    .await?;
    tx.commit().await?;
    Ok(queries::deflection_analytics(
        numbers,
        articles(top_solving),
        articles(shown_never_helpful),
    ))
}

async fn read_search_analytics(
    client: &mut deadpool_postgres::Client,
    range: TimeRange,
    top: usize,
) -> Result<SearchAnalytics, tokio_postgres::Error> {
    let tx = snapshot(client).await?;
    let Bounds { from_ms, to_ms } = range.into();
    let limit = queries::limit(top);
    let [searches, zero_results] = counts(&tx, queries::SEARCHES, &[&from_ms, &to_ms]).await?;
    let ranked_params: &[&(dyn ToSql + Sync)] = &[&from_ms, &to_ms, &limit];
    let query_counts = |pairs: Vec<(String, u64)>| -> Vec<QueryCount> {
        pairs
            .into_iter()
            .map(|(query, count)| QueryCount { query, count })
            .collect()
    };
    let top_queries = ranked(&tx, queries::TOP_QUERIES, ranked_params).await?;
    let zero_result_queries = ranked(&tx, queries::ZERO_RESULT_QUERIES, ranked_params).await?;
    tx.commit().await?;
    Ok(SearchAnalytics {
        searches,
        zero_result_share: queries::zero_result_share(searches, zero_results),
        top_queries: query_counts(top_queries),
        zero_result_queries: query_counts(zero_result_queries),
    })
}

impl Columns for tokio_postgres::Row {
    type Error = tokio_postgres::Error;

    fn int(&self, column: usize) -> Result<i64, tokio_postgres::Error> {
        self.try_get(column)
    }

    fn text(&self, column: usize) -> Result<String, tokio_postgres::Error> {
        self.try_get(column)
    }
}

/// Every row of one statement, each read by `read`.
async fn read_rows<T>(
    tx: &deadpool_postgres::Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    read: impl Fn(&tokio_postgres::Row) -> Result<T, tokio_postgres::Error>,
) -> Result<Vec<T>, tokio_postgres::Error> {
    let rows = tx.query(&tx.prepare_cached(sql).await?, params).await?;
    rows.iter().map(read).collect()
}

/// Runs the statements of [`insights`] in one snapshot and assembles their answer.
async fn read_insights(
    client: &mut deadpool_postgres::Client,
    query: &InsightsParams,
) -> Result<Insights, tokio_postgres::Error> {
    let tx = snapshot(client).await?;
    let InsightsParams {
        from_ms,
        to_ms,
        product,
        top,
        texts,
    } = query;
    let matching: &[&(dyn ToSql + Sync)] = &[from_ms, to_ms, product];
    let ranked: &[&(dyn ToSql + Sync)] = &[from_ms, to_ms, product, top];
    let rows = InsightsRows {
        draft_days: read_rows(&tx, insights::DRAFT_DAYS, matching, insights::day_row).await?,
        search_days: read_rows(&tx, insights::SEARCH_DAYS, matching, insights::day_row).await?,
        query_lists: read_rows(&tx, insights::QUERY_LISTS, ranked, insights::query_row).await?,
        articles: read_rows(&tx, insights::ARTICLES, ranked, insights::article_row).await?,
        comments: read_rows(
            &tx,
            insights::COMMENTS,
            &[from_ms, to_ms, top],
            insights::comment_row,
        )
        .await?,
        texts: read_rows(
            &tx,
            insights::UNANSWERED,
            &[from_ms, to_ms, product, texts],
            insights::text_row,
        )
        .await?,
    };
    tx.commit().await?;
    Ok(insights::insights(rows))
}

/// Words a pool failure for the request that met it: no connection could be had in time, so the
/// database is down, slow or out of connections; try again later.
pub(super) fn pool_error(err: &PoolError) -> StoreError {
    match err {
        PoolError::Backend(err) => database_error(err),
        other => StoreError::Unavailable(format!(
            "the event database cannot be reached now ({other}); nothing was written"
        )),
    }
}

/// Words a PostgreSQL failure for the request that met it: a lost connection, a server shutting
/// down or starting, a time-out, a conflict or a full disk are [`StoreError::Unavailable`] (503),
/// anything else [`StoreError::Failed`].
pub(super) fn database_error(err: &tokio_postgres::Error) -> StoreError {
    let Some(code) = err.code() else {
        // No SQL state: the connection failed or closed.
        return StoreError::Unavailable(format!(
            "the event database cannot be reached now ({err}); nothing was written"
        ));
    };
    // Classes 08 connection, 40 rollback (serialization, deadlock), 53 insufficient resources,
    // 57 operator intervention (shutdown, statement time-out), 55P03 lock not available.
    let passing = ["08", "40", "53", "57"]
        .iter()
        .any(|class| code.code().starts_with(class))
        || code.code() == "55P03";
    let detail = err
        .as_db_error()
        .map_or_else(|| err.to_string(), |db| db.message().to_string());
    if passing {
        StoreError::Unavailable(format!(
            "the event database cannot write now ({detail}); nothing was written"
        ))
    } else {
        StoreError::Failed(format!("the event database failed: {detail}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One `INSERT … ON CONFLICT DO UPDATE` may not touch a row twice: a batch keeps the last
    /// search of each id (the words typed last), and every search without an id.
    #[test]
    fn a_batch_keeps_the_last_search_of_each_id() {
        use super::super::test_support::page_search;
        let mut anonymous = page_search(0, "api search", 1, "", None);
        anonymous.id = None;
        let batch = [
            page_search(0, "vp", 1, "s1", None),
            anonymous.clone(),
            page_search(0, "other", 1, "s2", None),
            page_search(0, "vpn", 1, "s1", None),
            anonymous,
        ];
        let kept: Vec<&str> = last_of_each_search(&batch)
            .iter()
            .map(|s| s.query.as_str())
            .collect();
        assert_eq!(kept, ["api search", "other", "vpn", "api search"]);
    }

    #[test]
    fn urls_are_shown_without_their_password() {
        assert_eq!(
            redacted("postgres://kb:s3cret@db.internal:5432/events"),
            "postgres://kb@db.internal:5432/events"
        );
        assert_eq!(
            redacted("postgresql://kb@127.0.0.1/events"),
            "postgresql://kb@127.0.0.1/events"
        );
        assert_eq!(
            redacted("postgres://localhost/events"),
            "postgres://localhost/events"
        );
    }
}
