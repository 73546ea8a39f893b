//! Analytics: what the recorded events say, read through a read-only connection of their own that
//! WAL mode lets run while the writer commits. Each answer reads one snapshot, so its numbers
//! agree with each other.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};
use tracing::warn;

use super::sqlite::{OpenFailure, Options, store_error};
use super::{
    ArticleCount, DeflectionAnalytics, NEVER_HELPFUL_MIN_SHOWN, QueryCount, SearchAnalytics,
    StoreError, TimeRange,
};

/// The read connection of the analytics. Reads are blocking: run them off the async runtime.
pub(super) struct Reader {
    path: Arc<Path>,
    conn: Mutex<Connection>,
}

impl Reader {
    pub(super) fn open(path: Arc<Path>, options: Options) -> Result<Reader, OpenFailure> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags)?;
        conn.busy_timeout(options.busy_timeout)?;
        Ok(Reader {
            path,
            conn: Mutex::new(conn),
        })
    }

    pub(super) fn deflection_analytics(
        &self,
        range: TimeRange,
        top: usize,
    ) -> Result<DeflectionAnalytics, StoreError> {
        self.read(|conn| read_deflection_analytics(conn, range, top))
    }

    pub(super) fn search_analytics(
        &self,
        range: TimeRange,
        top: usize,
    ) -> Result<SearchAnalytics, StoreError> {
        self.read(|conn| read_search_analytics(conn, range, top))
    }

    /// Runs `query` in one read transaction, so every number comes from the same snapshot.
    fn read<T>(
        &self,
        query: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        // A panic in another read leaves nothing behind: its transaction rolled back on unwind.
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
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
    use super::super::test_support::{at, draft, feedback, search};
    use super::super::{EventStore, FeedbackKind, FeedbackOutcome, SqliteEventStore};
    use super::*;

    /// Six drafts: d1 and d5 solved, d2 submitted after a "not helpful", d3 solved and submitted
    /// anyway, d4 shown nothing, d6 solved ten days later.
    async fn known_deflections(store: &dyn EventStore) {
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
        let store = SqliteEventStore::open(dir.path()).unwrap();
        known_deflections(&store).await;

        let all = store
            .deflection_analytics(TimeRange::default(), 10)
            .await
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
        let day = store.deflection_analytics(first_day, 1).await.unwrap();
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
        let two = store.deflection_analytics(middle, 10).await.unwrap();
        assert_eq!((two.drafts, two.drafts_with_outcome), (2, 2));
        assert_eq!(two.deflection_rate, Some(0.0));
        assert_eq!(two.shown_never_helpful, Vec::new());

        let empty = TimeRange {
            from: Some(at(-100)),
            to: Some(at(-1)),
        };
        let none = store.deflection_analytics(empty, 10).await.unwrap();
        assert_eq!(none.drafts, 0);
        assert_eq!(none.deflection_rate, None);
    }

    #[tokio::test]
    async fn search_analytics_normalise_queries() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteEventStore::open(dir.path()).unwrap();
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
        let day = store.search_analytics(first_day, 2).await.unwrap();
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

        let all = store
            .search_analytics(TimeRange::default(), 10)
            .await
            .unwrap();
        assert_eq!(all.searches, 8);
        let nothing = TimeRange {
            from: Some(at(-10)),
            to: Some(at(-5)),
        };
        assert_eq!(
            store
                .search_analytics(nothing, 10)
                .await
                .unwrap()
                .zero_result_share,
            None
        );
    }
}
