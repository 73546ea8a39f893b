//! Retention on PostgreSQL: the same bounds as the SQLite store's (`retention`), kept by a task
//! of each replica. At start-up and then hourly it deletes drafts (their suggestions and feedback
//! go with them, by cascade), searches (their clicks go with them), votes and clicks older than
//! `events.keep_days`; every few seconds it measures the events and, past
//! `events.max_database_mb`, has search and click events dropped before they are queued and
//! deletes the oldest searches to make room. Each deletion is one bounded batch
//! in a transaction of its own. Several replicas may run the same round at once: a row deleted
//! by one is skipped by the other.
//!
//! PostgreSQL keeps the space of deleted rows for its own reuse rather than shrink its files, so
//! the cap is held against the live rows' size as its statistics estimate it (rows times average
//! width, refreshed by autovacuum's analyses), not against the files, which would stay over the
//! cap after room is made. `events_database_bytes` reports the files.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use deadpool_postgres::Pool;
use tracing::{info, warn};

use super::StoreError;
use super::postgres::{PgOptions, database_error, pool_error};
use super::queries::delete_oldest;
use super::retention::{PRUNE_BATCH, PRUNE_EVERY, Pruned, Tally};

/// How often the events are measured against the size cap.
const MEASURE_EVERY: Duration = Duration::from_secs(5);
/// Room is made down to this share (in tenths) of the cap.
const LOW_WATER_TENTHS: u64 = 9;
/// Bytes PostgreSQL adds to each row (tuple header and line pointer) beside its columns.
const ROW_OVERHEAD: u64 = 28;
/// Most batches of one kind deleted in a round, so that one round ends.
const MAX_BATCHES: usize = 1_000;

/// The events as measured: the files, and the estimated live rows.
#[derive(Debug, Clone, Copy)]
struct Size {
    files: u64,
    live: u64,
    /// Estimated bytes of one search row.
    search_row: u64,
}

/// Measures and prunes until the store drops its task.
pub(super) async fn keep_bounded(pool: Pool, tally: Arc<Tally>, options: PgOptions) {
    let mut next_prune = Instant::now();
    loop {
        if Instant::now() >= next_prune {
            prune_expired(&pool, &tally, options).await;
            next_prune = Instant::now() + PRUNE_EVERY;
        }
        keep_under_cap(&pool, &tally, options).await;
        tokio::time::sleep(MEASURE_EVERY).await;
    }
}

/// Deletes the events past the retention period, kind by kind, batch by batch.
async fn prune_expired(pool: &Pool, tally: &Tally, options: PgOptions) {
    let keep = chrono::Duration::from_std(options.keep).unwrap_or(chrono::Duration::MAX);
    let before_ms = Utc::now()
        .checked_sub_signed(keep)
        .map_or(i64::MIN, |at| at.timestamp_millis());
    for kind in Pruned::ALL {
        let mut deleted = 0;
        for _ in 0..MAX_BATCHES {
            match delete_batch(pool, kind, before_ms).await {
                Ok(0) => break,
                Ok(batch) => {
                    tally.add_pruned(kind, batch);
                    deleted += batch;
                }
                Err(err) => {
                    warn!(?kind, "deleting old events failed: {err}");
                    return;
                }
            }
        }
        if deleted > 0 {
            info!(
                ?kind,
                deleted,
                keep_days = options.keep.as_secs() / 86_400,
                "events past the retention period deleted"
            );
        }
    }
}

/// Deletes the oldest events of one kind recorded before `before_ms`, at most a batch.
async fn delete_batch(pool: &Pool, kind: Pruned, before_ms: i64) -> Result<u64, StoreError> {
    let client = pool.get().await.map_err(|err| pool_error(&err))?;
    // Every table has an `id` key here; a draft's suggestions and feedback, and a search's
    // clicks, go by cascade.
    let sql = delete_oldest(kind.table(), "id");
    let limit = PRUNE_BATCH as i64;
    client
        .execute(&sql, &[&before_ms, &limit])
        .await
        .map_err(|err| database_error(&err))
}

/// Measures; over the cap, drops search events and deletes the oldest searches until the
/// estimate is under the low-water mark.
async fn keep_under_cap(pool: &Pool, tally: &Tally, options: PgOptions) {
    let size = match measure(pool).await {
        Ok(size) => size,
        Err(err) => {
            warn!("cannot measure the event database: {err}");
            return;
        }
    };
    let cap = options.max_bytes;
    let over = size.live >= cap;
    let was_over = tally.measured(size.files, over);
    if !over {
        return;
    }
    if !was_over {
        warn!(
            bytes = size.live,
            cap,
            "the event database is over its size cap (events.max_database_mb): search events \
             are dropped and the oldest deleted to make room"
        );
    }
    let excess = size.live - cap / 10 * LOW_WATER_TENTHS;
    let batches = excess
        .div_ceil(size.search_row.max(1))
        .div_ceil(PRUNE_BATCH as u64);
    for _ in 0..batches.min(MAX_BATCHES as u64) {
        match delete_batch(pool, Pruned::Searches, i64::MAX).await {
            Ok(0) => {
                warn!(
                    bytes = size.live,
                    cap,
                    "the event database is over its size cap with drafts and outcomes alone: \
                     search events are dropped, drafts and outcomes still written; lower \
                     events.keep_days or raise events.max_database_mb"
                );
                break;
            }
            Ok(deleted) => tally.add_pruned(Pruned::Searches, deleted),
            Err(err) => {
                warn!("making room in the event database failed: {err}");
                break;
            }
        }
    }
}

/// The event tables' files and their live rows' estimated size.
async fn measure(pool: &Pool) -> Result<Size, StoreError> {
    let client = pool.get().await.map_err(|err| pool_error(&err))?;
    let rows = client
        .query(
            "SELECT c.relname::text, pg_total_relation_size(c.oid),
                    coalesce(s.n_live_tup, 0),
                    (SELECT sum(p.avg_width)::bigint FROM pg_stats p
                     WHERE p.schemaname = n.nspname AND p.tablename = c.relname)
             FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
             LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
             WHERE c.relname IN ('deflections', 'suggestions', 'feedback', 'searches', 'votes',
                                 'clicks')
               AND c.relkind = 'r'",
            &[],
        )
        .await
        .map_err(|err| database_error(&err))?;
    let mut size = Size {
        files: 0,
        live: 0,
        search_row: ROW_OVERHEAD,
    };
    for row in rows {
        let table: String = row.get(0);
        let files = u64::try_from(row.get::<_, i64>(1)).unwrap_or(0);
        let live_rows = u64::try_from(row.get::<_, i64>(2)).unwrap_or(0);
        let width: Option<i64> = row.get(3);
        // Before the first analysis there is no width: count the files, which then hold few
        // deleted rows.
        let live = match width {
            Some(width) => {
                let row_bytes = u64::try_from(width).unwrap_or(0) + ROW_OVERHEAD;
                if table == "searches" {
                    size.search_row = row_bytes;
                }
                live_rows.saturating_mul(row_bytes)
            }
            None => files,
        };
        size.files += files;
        size.live += live;
    }
    Ok(size)
}
