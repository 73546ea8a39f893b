//! Analytics: what the recorded events say, read through a read-only connection of their own that
//! WAL mode lets run while the writer commits. Each answer reads one snapshot, so its numbers
//! agree with each other. The statements are the ones PostgreSQL runs too (`queries`).

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};
use tracing::warn;

use super::insights_queries::{self as insights, Columns, InsightsParams, InsightsRows};
use super::queries::{self, Bounds, DeflectionCounts};
use super::sqlite::{OpenFailure, Options, store_error};
use super::{
    ArticleCount, DeflectionAnalytics, Insights, InsightsQuery, QueryCount, SearchAnalytics,
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

    pub(super) fn insights(&self, query: &InsightsQuery) -> Result<Insights, StoreError> {
        self.read(|conn| read_insights(conn, &InsightsParams::from(query)))
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

/// Runs one statement of [`queries`] that answers one row of counts.
fn counts<const N: usize>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<[u64; N]> {
    conn.prepare_cached(&queries::for_sqlite(sql))?
        .query_row(params, |row| {
            let mut counts = [0; N];
            for (column, count) in counts.iter_mut().enumerate() {
                *count = row.get(column)?;
            }
            Ok(counts)
        })
}

fn read_deflection_analytics(
    conn: &Connection,
    range: TimeRange,
    top: usize,
) -> rusqlite::Result<DeflectionAnalytics> {
    let Bounds { from_ms, to_ms } = range.into();
    let range = params![from_ms, to_ms];
    let numbers = DeflectionCounts {
        drafts: counts(conn, queries::DRAFTS, range)?,
        suggestions: counts(conn, queries::SUGGESTIONS, range)?,
        feedback: counts(conn, queries::FEEDBACK_KINDS, range)?,
        outcomes: counts(conn, queries::OUTCOMES, range)?,
    };
    let ranked = params![from_ms, to_ms, queries::limit(top), queries::MIN_SHOWN];
    let top_solving = article_counts(conn, queries::TOP_SOLVING, &ranked[..3])?;
    let shown_never_helpful = article_counts(conn, queries::SHOWN_NEVER_HELPFUL, ranked)?;
    Ok(queries::deflection_analytics(
        numbers,
        top_solving,
        shown_never_helpful,
    ))
}

fn article_counts(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<Vec<ArticleCount>> {
    conn.prepare_cached(&queries::for_sqlite(sql))?
        .query_map(params, |row| {
            Ok(ArticleCount {
                article_id: row.get(0)?,
                count: row.get(1)?,
            })
        })?
        .collect()
}

fn read_search_analytics(
    conn: &Connection,
    range: TimeRange,
    top: usize,
) -> rusqlite::Result<SearchAnalytics> {
    let Bounds { from_ms, to_ms } = range.into();
    let [searches, zero_results] = counts(conn, queries::SEARCHES, params![from_ms, to_ms])?;
    let ranked = params![from_ms, to_ms, queries::limit(top)];
    Ok(SearchAnalytics {
        searches,
        zero_result_share: queries::zero_result_share(searches, zero_results),
        top_queries: query_counts(conn, queries::TOP_QUERIES, ranked)?,
        zero_result_queries: query_counts(conn, queries::ZERO_RESULT_QUERIES, ranked)?,
    })
}

/// The most frequent queries of one statement of [`queries`].
fn query_counts(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<Vec<QueryCount>> {
    conn.prepare_cached(&queries::for_sqlite(sql))?
        .query_map(params, |row| {
            Ok(QueryCount {
                query: row.get(0)?,
                count: row.get(1)?,
            })
        })?
        .collect()
}

impl Columns for rusqlite::Row<'_> {
    type Error = rusqlite::Error;

    fn int(&self, column: usize) -> rusqlite::Result<i64> {
        self.get(column)
    }

    fn text(&self, column: usize) -> rusqlite::Result<String> {
        self.get(column)
    }
}

/// Runs the statements of [`insights`] and assembles their answer.
fn read_insights(conn: &Connection, query: &InsightsParams) -> rusqlite::Result<Insights> {
    let InsightsParams {
        from_ms,
        to_ms,
        product,
        top,
        texts,
    } = query;
    let matching = params![from_ms, to_ms, product];
    let rows = InsightsRows {
        draft_days: read_rows(conn, insights::DRAFT_DAYS, matching, |row| {
            insights::day_row(row)
        })?,
        search_days: read_rows(conn, insights::SEARCH_DAYS, matching, |row| {
            insights::day_row(row)
        })?,
        query_lists: read_rows(
            conn,
            insights::QUERY_LISTS,
            params![from_ms, to_ms, product, top],
            |row| insights::query_row(row),
        )?,
        articles: read_rows(
            conn,
            insights::ARTICLES,
            params![from_ms, to_ms, product, top],
            |row| insights::article_row(row),
        )?,
        comments: read_rows(
            conn,
            insights::COMMENTS,
            params![from_ms, to_ms, top],
            |row| insights::comment_row(row),
        )?,
        texts: read_rows(
            conn,
            insights::UNANSWERED,
            params![from_ms, to_ms, product, texts],
            |row| insights::text_row(row),
        )?,
    };
    Ok(insights::insights(rows))
}

/// Every row of one statement, each read by `read`.
fn read_rows<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    read: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<T>> {
    conn.prepare_cached(&queries::for_sqlite(sql))?
        .query_map(params, |row| read(row))?
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
