//! The analytics as SQL that SQLite and PostgreSQL both run, so that the two stores give the same
//! answers from one text: parameters are written `$1`, `$2`… (PostgreSQL's spelling; SQLite's
//! `?1` is [`for_sqlite`]), aggregates count with `FILTER`, and a time range is two plain bounds
//! (an open end is the extreme value, see [`Bounds`]). Each store runs the statements and hands
//! the numbers to [`deflection_analytics`].

use super::{ArticleCount, DeflectionAnalytics, NEVER_HELPFUL_MIN_SHOWN, TimeRange};

/// Drafts in range: `$1` from (inclusive), `$2` to (exclusive), on `d.at_ms`.
macro_rules! draft_in_range {
    () => {
        "d.at_ms >= $1 AND d.at_ms < $2"
    };
}

/// Drafts: one count.
pub(super) const DRAFTS: &str = concat!(
    "SELECT count(*) FROM deflections d WHERE ",
    draft_in_range!()
);

/// Suggestions shown, and drafts shown any.
pub(super) const SUGGESTIONS: &str = concat!(
    "SELECT count(*), count(DISTINCT s.deflection_id)
     FROM suggestions s JOIN deflections d ON d.id = s.deflection_id WHERE ",
    draft_in_range!()
);

/// Feedback of each kind: solved, not helpful, case submitted.
pub(super) const FEEDBACK_KINDS: &str = concat!(
    "SELECT count(*) FILTER (WHERE f.kind = 'solved'),
            count(*) FILTER (WHERE f.kind = 'not_helpful'),
            count(*) FILTER (WHERE f.kind = 'case_submitted')
     FROM feedback f JOIN deflections d ON d.id = f.deflection_id WHERE ",
    draft_in_range!()
);

/// Drafts with an outcome, and those solved without a case submitted.
pub(super) const OUTCOMES: &str = concat!(
    "SELECT count(*), count(*) FILTER (WHERE solved = 1 AND submitted = 0) FROM (
         SELECT max(CASE WHEN f.kind = 'solved' THEN 1 ELSE 0 END) AS solved,
                max(CASE WHEN f.kind = 'case_submitted' THEN 1 ELSE 0 END) AS submitted
         FROM feedback f JOIN deflections d ON d.id = f.deflection_id
         WHERE f.kind IN ('solved', 'case_submitted') AND ",
    draft_in_range!(),
    " GROUP BY f.deflection_id
     ) AS outcomes"
);

/// Articles by `solved` feedback, most first; `$3` the limit.
pub(super) const TOP_SOLVING: &str = concat!(
    "SELECT f.article_id, count(*) AS n
     FROM feedback f JOIN deflections d ON d.id = f.deflection_id
     WHERE f.kind = 'solved' AND ",
    draft_in_range!(),
    " GROUP BY f.article_id ORDER BY n DESC, f.article_id LIMIT $3"
);

/// Articles shown at least `$4` times and never `solved`, by times shown; `$3` the limit.
pub(super) const SHOWN_NEVER_HELPFUL: &str = concat!(
    "SELECT s.article_id, count(*) AS shown
     FROM suggestions s JOIN deflections d ON d.id = s.deflection_id
     WHERE ",
    draft_in_range!(),
    " GROUP BY s.article_id
     HAVING count(*) >= $4 AND NOT EXISTS (
         SELECT 1 FROM feedback f JOIN deflections d ON d.id = f.deflection_id
         WHERE f.kind = 'solved' AND f.article_id = s.article_id AND ",
    draft_in_range!(),
    " )
     ORDER BY shown DESC, s.article_id LIMIT $3"
);

/// Searches in range: `$1` from, `$2` to, on `at_ms`.
macro_rules! search_in_range {
    () => {
        "at_ms >= $1 AND at_ms < $2"
    };
}

/// Searches, and those that found nothing.
pub(super) const SEARCHES: &str = concat!(
    "SELECT count(*), count(*) FILTER (WHERE total = 0) FROM searches WHERE ",
    search_in_range!()
);

/// Normalised queries by count, most first; `$3` the limit.
pub(super) const TOP_QUERIES: &str = concat!(
    "SELECT query, count(*) AS n FROM searches WHERE ",
    search_in_range!(),
    " GROUP BY query ORDER BY n DESC, query LIMIT $3"
);

/// Normalised queries that found nothing, by count; `$3` the limit.
pub(super) const ZERO_RESULT_QUERIES: &str = concat!(
    "SELECT query, count(*) AS n FROM searches WHERE total = 0 AND ",
    search_in_range!(),
    " GROUP BY query ORDER BY n DESC, query LIMIT $3"
);

/// The same statement with SQLite's numbered parameters (`?1`): the texts hold no other `$`.
pub(super) fn for_sqlite(sql: &str) -> String {
    sql.replace('$', "?")
}

/// A time range as the two bounds the statements take, in milliseconds: an open end is the
/// extreme value, so that both databases see a plain integer (PostgreSQL cannot type a `NULL`
/// parameter that is only compared with `IS NULL`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Bounds {
    pub(super) from_ms: i64,
    pub(super) to_ms: i64,
}

impl From<TimeRange> for Bounds {
    fn from(range: TimeRange) -> Self {
        Bounds {
            from_ms: range.from.map_or(i64::MIN, |at| at.timestamp_millis()),
            to_ms: range.to.map_or(i64::MAX, |at| at.timestamp_millis()),
        }
    }
}

/// `LIMIT` takes an i64; `top` beyond it means "all".
pub(super) fn limit(top: usize) -> i64 {
    i64::try_from(top).unwrap_or(i64::MAX)
}

/// The smallest number of showings for "shown, never helpful", as a parameter.
pub(super) const MIN_SHOWN: i64 = NEVER_HELPFUL_MIN_SHOWN as i64;

/// The counts of [`DRAFTS`], [`SUGGESTIONS`], [`FEEDBACK_KINDS`] and [`OUTCOMES`], as read.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct DeflectionCounts {
    pub(super) drafts: [u64; 1],
    pub(super) suggestions: [u64; 2],
    pub(super) feedback: [u64; 3],
    pub(super) outcomes: [u64; 2],
}

/// The answer both stores give, from what their statements read.
pub(super) fn deflection_analytics(
    counts: DeflectionCounts,
    top_solving: Vec<ArticleCount>,
    shown_never_helpful: Vec<ArticleCount>,
) -> DeflectionAnalytics {
    let [drafts] = counts.drafts;
    let [suggestions_shown, drafts_with_suggestions] = counts.suggestions;
    let [solved, not_helpful, case_submitted] = counts.feedback;
    let [drafts_with_outcome, drafts_deflected] = counts.outcomes;
    let deflection_rate =
        (drafts_with_outcome > 0).then(|| drafts_deflected as f64 / drafts_with_outcome as f64);
    DeflectionAnalytics {
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
    }
}

/// Share of searches that found nothing; `None` without searches.
pub(super) fn zero_result_share(searches: u64, zero_results: u64) -> Option<f64> {
    (searches > 0).then(|| zero_results as f64 / searches as f64)
}

/// Deletes the oldest rows of `table` recorded before `$1`, at most `$2`, found by `key` (SQLite's
/// `rowid`, PostgreSQL's `id` column): one bounded batch of retention.
pub(super) fn delete_oldest(table: &str, key: &str) -> String {
    format!(
        "DELETE FROM {table} WHERE {key} IN
             (SELECT {key} FROM {table} WHERE at_ms < $1 ORDER BY at_ms LIMIT $2)"
    )
}
