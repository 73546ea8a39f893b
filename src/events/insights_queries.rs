//! The insights dashboard's statements, which SQLite and PostgreSQL both run (the rules of
//! `queries` hold: `$1` parameters, `FILTER` aggregates, plain bounds), and the one function that
//! turns what they read into [`Insights`], so that both stores answer alike.
//!
//! Every statement takes the range as `$1` (from, inclusive) and `$2` (to, exclusive), in
//! milliseconds; those about drafts and searches take the product as `$3`, `''` for every
//! product. A day is `at_ms / 86400000`, the UTC day in both databases.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::queries::{Bounds, limit};
use super::{ArticleActivity, DayActivity, Insights, InsightsQuery, QueryActivity, VoteComment};

/// Drafts in range, of the product `$3` unless it is `''`.
macro_rules! draft_matches {
    () => {
        "d.at_ms >= $1 AND d.at_ms < $2 AND (CAST($3 AS TEXT) = '' OR d.product = $3)"
    };
}

/// Searches in range, of the product `$3` unless it is `''`.
macro_rules! search_matches {
    () => {
        "s.at_ms >= $1 AND s.at_ms < $2 AND (CAST($3 AS TEXT) = '' OR s.product = $3)"
    };
}

/// Per day: drafts, those shown suggestions, solved, submitted, with an outcome, deflected; from
/// the flags the writers keep on each draft.
pub(super) const DRAFT_DAYS: &str = concat!(
    "SELECT d.at_ms / 86400000 AS day, count(*), count(*) FILTER (WHERE d.shown_any),
            count(*) FILTER (WHERE d.solved), count(*) FILTER (WHERE d.submitted),
            count(*) FILTER (WHERE d.solved OR d.submitted),
            count(*) FILTER (WHERE d.solved AND NOT d.submitted)
     FROM deflections d WHERE ",
    draft_matches!(),
    " GROUP BY day ORDER BY day"
);

/// Per day: searches, those that found nothing, those clicked, and the sum of the rank of each
/// clicked one's first click (noted on the search by the writers).
pub(super) const SEARCH_DAYS: &str = concat!(
    "SELECT s.at_ms / 86400000 AS day, count(*), count(*) FILTER (WHERE s.total = 0),
            count(s.first_click_rank), coalesce(sum(s.first_click_rank), 0)
     FROM searches s WHERE ",
    search_matches!(),
    " GROUP BY day ORDER BY day"
);

/// The three lists of queries, at most `$4` entries each, in order: `list` (`top`, `zero`,
/// `unclicked`), query, searches, those that found nothing, those clicked. A query is unclicked
/// when searches of it from the page (with an id, which clicks name) found something and none
/// was clicked.
pub(super) const QUERY_LISTS: &str = concat!(
    "WITH per_query AS MATERIALIZED (
         SELECT query, count(*) AS searches, count(*) FILTER (WHERE total = 0) AS zero_results,
                count(*) FILTER (WHERE clicked) AS clicked,
                count(*) FILTER (WHERE clickable) AS clickable
         FROM (SELECT s.query, s.total,
                      s.first_click_rank IS NOT NULL AS clicked,
                      s.total > 0 AND s.search_id IS NOT NULL AS clickable
               FROM searches s WHERE ",
    search_matches!(),
    ") AS found GROUP BY query
     )
     SELECT list, query, searches, zero_results, clicked FROM (
         SELECT 'top' AS list, query, searches, zero_results, clicked,
                row_number() OVER (ORDER BY searches DESC, query) AS position
         FROM per_query
         UNION ALL
         SELECT 'zero', query, searches, zero_results, clicked,
                row_number() OVER (ORDER BY zero_results DESC, query)
         FROM per_query WHERE zero_results > 0
         UNION ALL
         SELECT 'unclicked', query, searches, zero_results, clicked,
                row_number() OVER (ORDER BY searches DESC, query)
         FROM per_query WHERE clickable > 0 AND clicked = 0
     ) AS lists
     WHERE position <= $4 ORDER BY list, position"
);

/// Articles with any activity, by shown + clicks + votes, most first, at most `$4`: article,
/// shown, solved, not helpful, clicks, helpful votes, not helpful votes. Clicks and votes count
/// by their own time; clicks of searches of the product only; votes name no product. Each kind
/// is counted on its own first, so that the last grouping sorts a few rows per article rather
/// than every one; `CROSS JOIN` keeps SQLite reading the drafts in range first (it would
/// otherwise read every `solved` and `not_helpful` feedback, and look its draft up), and is a
/// plain join to PostgreSQL, whose `sum` of counts is a `numeric`, cast back.
pub(super) const ARTICLES: &str = concat!(
    "SELECT article_id, CAST(sum(shown) AS BIGINT), CAST(sum(solved) AS BIGINT),
            CAST(sum(not_helpful) AS BIGINT), CAST(sum(clicks) AS BIGINT),
            CAST(sum(helpful) AS BIGINT), CAST(sum(unhelpful) AS BIGINT)
     FROM (SELECT s.article_id, count(*) AS shown, 0 AS solved, 0 AS not_helpful, 0 AS clicks,
                  0 AS helpful, 0 AS unhelpful
           FROM deflections d CROSS JOIN suggestions s
           WHERE s.deflection_id = d.id AND ",
    draft_matches!(),
    "      GROUP BY s.article_id
           UNION ALL
           SELECT f.article_id, 0, count(*) FILTER (WHERE f.kind = 'solved'),
                  count(*) FILTER (WHERE f.kind = 'not_helpful'), 0, 0, 0
           FROM deflections d CROSS JOIN feedback f
           WHERE (d.solved OR d.not_helpful) AND f.deflection_id = d.id
               AND f.kind IN ('solved', 'not_helpful') AND ",
    draft_matches!(),
    "      GROUP BY f.article_id
           UNION ALL
           SELECT c.article_id, 0, 0, 0, count(*), 0, 0 FROM clicks c
           WHERE c.at_ms >= $1 AND c.at_ms < $2 AND (CAST($3 AS TEXT) = '' OR EXISTS (
               SELECT 1 FROM searches s WHERE s.search_id = c.search_id AND s.product = $3))
           GROUP BY c.article_id
           UNION ALL
           SELECT v.article_id, 0, 0, 0, 0, count(*) FILTER (WHERE v.helpful),
                  count(*) FILTER (WHERE NOT v.helpful)
           FROM votes v WHERE v.at_ms >= $1 AND v.at_ms < $2
           GROUP BY v.article_id
     ) AS activity
     GROUP BY article_id
     ORDER BY sum(shown) + sum(clicks) + sum(helpful) + sum(unhelpful) DESC, article_id
     LIMIT $4"
);

/// Comments of votes in range, most recent first, at most `$3`: article, comment, time.
pub(super) const COMMENTS: &str = "SELECT v.article_id, v.comment, v.at_ms FROM votes v
     WHERE v.at_ms >= $1 AND v.at_ms < $2 AND v.comment IS NOT NULL
     ORDER BY v.at_ms DESC, v.article_id, v.visitor LIMIT $3";

/// Texts of unanswered drafts, most recent first, at most `$4`: shown no suggestion, or told an
/// article was not helpful and submitted with none solving it.
pub(super) const UNANSWERED: &str = concat!(
    "SELECT d.text FROM deflections d WHERE ",
    draft_matches!(),
    " AND d.text <> ''
       AND (NOT d.shown_any OR (d.not_helpful AND d.submitted AND NOT d.solved))
     ORDER BY d.at_ms DESC, d.id LIMIT $4"
);

/// The parameters of the statements, from the dashboard's query.
#[derive(Debug, Clone)]
pub(super) struct InsightsParams {
    pub(super) from_ms: i64,
    pub(super) to_ms: i64,
    /// `''` for every product.
    pub(super) product: String,
    pub(super) top: i64,
    pub(super) texts: i64,
}

impl From<&InsightsQuery> for InsightsParams {
    fn from(query: &InsightsQuery) -> Self {
        let Bounds { from_ms, to_ms } = query.range.into();
        InsightsParams {
            from_ms,
            to_ms,
            product: query.product.clone().unwrap_or_default(),
            top: limit(query.top),
            texts: limit(query.texts),
        }
    }
}

/// A row as both databases' clients read it: integers and text by column.
pub(super) trait Columns {
    type Error;
    fn int(&self, column: usize) -> Result<i64, Self::Error>;
    fn text(&self, column: usize) -> Result<String, Self::Error>;
}

/// A count as read; a negative one (never written) is none.
fn count<R: Columns>(row: &R, column: usize) -> Result<u64, R::Error> {
    Ok(u64::try_from(row.int(column)?).unwrap_or(0))
}

/// A day's row of [`DRAFT_DAYS`] or [`SEARCH_DAYS`]: the day, then its counts.
pub(super) fn day_row<const N: usize, R: Columns>(row: &R) -> Result<(i64, [u64; N]), R::Error> {
    let mut counts = [0; N];
    for (column, value) in counts.iter_mut().enumerate() {
        *value = count(row, column + 1)?;
    }
    Ok((row.int(0)?, counts))
}

/// A row of [`QUERY_LISTS`]: its list and the query.
pub(super) fn query_row<R: Columns>(row: &R) -> Result<(String, QueryActivity), R::Error> {
    let activity = QueryActivity {
        query: row.text(1)?,
        searches: count(row, 2)?,
        zero_results: count(row, 3)?,
        clicked: count(row, 4)?,
    };
    Ok((row.text(0)?, activity))
}

/// A row of [`ARTICLES`].
pub(super) fn article_row<R: Columns>(row: &R) -> Result<ArticleActivity, R::Error> {
    Ok(ArticleActivity {
        article_id: row.text(0)?,
        shown: count(row, 1)?,
        solved: count(row, 2)?,
        not_helpful: count(row, 3)?,
        clicks: count(row, 4)?,
        votes_helpful: count(row, 5)?,
        votes_not_helpful: count(row, 6)?,
    })
}

/// A row of [`COMMENTS`].
pub(super) fn comment_row<R: Columns>(row: &R) -> Result<VoteComment, R::Error> {
    Ok(VoteComment {
        article_id: row.text(0)?,
        comment: row.text(1)?,
        at: DateTime::from_timestamp_millis(row.int(2)?).unwrap_or_default(),
    })
}

/// A row of [`UNANSWERED`].
pub(super) fn text_row<R: Columns>(row: &R) -> Result<String, R::Error> {
    row.text(0)
}

/// What the statements read, row by row.
#[derive(Debug, Default)]
pub(super) struct InsightsRows {
    pub(super) draft_days: Vec<(i64, [u64; 6])>,
    pub(super) search_days: Vec<(i64, [u64; 4])>,
    pub(super) query_lists: Vec<(String, QueryActivity)>,
    pub(super) articles: Vec<ArticleActivity>,
    pub(super) comments: Vec<VoteComment>,
    pub(super) texts: Vec<String>,
}

/// The answer both stores give, from what their statements read.
pub(super) fn insights(rows: InsightsRows) -> Insights {
    let mut days: BTreeMap<i64, DayActivity> = BTreeMap::new();
    for (number, counts) in rows.draft_days {
        let [drafts, shown, solved, submitted, with_outcome, deflected] = counts;
        let activity = day_entry(&mut days, number);
        activity.drafts = drafts;
        activity.drafts_with_suggestions = shown;
        activity.drafts_solved = solved;
        activity.cases_submitted = submitted;
        activity.drafts_with_outcome = with_outcome;
        activity.drafts_deflected = deflected;
    }
    for (number, counts) in rows.search_days {
        let [searches, zero_results, clicked, rank_sum] = counts;
        let activity = day_entry(&mut days, number);
        activity.searches = searches;
        activity.zero_result_searches = zero_results;
        activity.clicked_searches = clicked;
        activity.first_click_rank_sum = rank_sum;
    }
    let mut insights = Insights {
        days: days.into_values().collect(),
        articles: rows.articles,
        comments: rows.comments,
        unanswered_drafts: rows.texts,
        ..Insights::default()
    };
    for (list, activity) in rows.query_lists {
        let entries = match list.as_str() {
            "top" => &mut insights.top_queries,
            "zero" => &mut insights.zero_result_queries,
            _ => &mut insights.unclicked_queries,
        };
        entries.push(activity);
    }
    insights
}

/// The counts of the day `number`, new when it has none yet.
fn day_entry(days: &mut BTreeMap<i64, DayActivity>, number: i64) -> &mut DayActivity {
    days.entry(number).or_insert_with(|| DayActivity {
        day: day_date(number),
        ..DayActivity::default()
    })
}

/// The UTC day `number` days after 1970-01-01.
fn day_date(number: i64) -> chrono::NaiveDate {
    DateTime::<Utc>::from_timestamp(number.saturating_mul(86_400), 0)
        .unwrap_or_default()
        .date_naive()
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{SECOND_DAY, at, insights_range, insights_scenario};
    use super::super::{EventStore, SqliteEventStore, TimeRange};
    use super::*;

    fn query(range: TimeRange, product: Option<&str>) -> InsightsQuery {
        InsightsQuery {
            range,
            product: product.map(str::to_string),
            top: 10,
            texts: 10,
        }
    }

    fn queries(entries: &[(&str, u64, u64, u64)]) -> Vec<QueryActivity> {
        entries
            .iter()
            .map(|&(query, searches, zero_results, clicked)| QueryActivity {
                query: query.to_string(),
                searches,
                zero_results,
                clicked,
            })
            .collect()
    }

    /// Article, shown, solved, not helpful, clicks, helpful votes, not helpful votes.
    fn articles(entries: &[(&str, [u64; 6])]) -> Vec<ArticleActivity> {
        entries
            .iter()
            .map(|&(article_id, counts)| {
                let [
                    shown,
                    solved,
                    not_helpful,
                    clicks,
                    votes_helpful,
                    votes_not_helpful,
                ] = counts;
                ArticleActivity {
                    article_id: article_id.to_string(),
                    shown,
                    solved,
                    not_helpful,
                    clicks,
                    votes_helpful,
                    votes_not_helpful,
                }
            })
            .collect()
    }

    fn comment(article: &str, text: &str, minutes: i64) -> VoteComment {
        VoteComment {
            article_id: article.to_string(),
            comment: text.to_string(),
            at: at(minutes),
        }
    }

    fn texts(entries: &[&str]) -> Vec<String> {
        entries.iter().map(|text| text.to_string()).collect()
    }

    /// The scenario's first day for every product: d1…d6 and s1…s5 with s5 from the API.
    fn first_day() -> DayActivity {
        DayActivity {
            day: at(0).date_naive(),
            drafts: 6,
            drafts_with_suggestions: 3,
            drafts_solved: 2,
            cases_submitted: 2,
            drafts_with_outcome: 3,
            drafts_deflected: 1,
            searches: 5,
            zero_result_searches: 1,
            clicked_searches: 3,
            // s1's first click was at rank 2 (the click at rank 1 came after), s2 1, s4 3.
            first_click_rank_sum: 6,
        }
    }

    fn second_day() -> DayActivity {
        DayActivity {
            day: at(SECOND_DAY).date_naive(),
            drafts: 2,
            drafts_with_suggestions: 2,
            drafts_solved: 0,
            cases_submitted: 1,
            drafts_with_outcome: 1,
            drafts_deflected: 0,
            searches: 3,
            zero_result_searches: 1,
            clicked_searches: 1,
            first_click_rank_sum: 4,
        }
    }

    #[tokio::test]
    async fn insights_count_every_number_of_a_known_set() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteEventStore::open(dir.path()).unwrap();
        insights_scenario(&store).await;

        let all = store.insights(query(insights_range(), None)).await.unwrap();
        let expected = Insights {
            days: vec![first_day(), second_day()],
            top_queries: queries(&[
                ("vpn error", 3, 0, 3),
                ("printer", 2, 0, 1),
                ("xyzzy", 2, 2, 0),
                ("restore", 1, 0, 0),
            ]),
            zero_result_queries: queries(&[("xyzzy", 2, 2, 0)]),
            unclicked_queries: queries(&[("restore", 1, 0, 0)]),
            articles: articles(&[
                ("a", [3, 1, 1, 3, 2, 0]),
                ("c", [2, 0, 1, 1, 0, 2]),
                ("b", [2, 1, 0, 1, 0, 1]),
                ("z", [0, 0, 0, 1, 0, 0]),
            ]),
            comments: vec![
                comment("c", "Wrong version", SECOND_DAY + 20),
                comment("b", "Missing step 3", 19),
            ],
            unanswered_drafts: texts(&[
                "Disk full",
                "Mail bounces",
                "Restore fails with E42",
                "Printer offline",
            ]),
        };
        assert_eq!(all, expected);

        // One product: d5, s4 and the API's s5 go, and with them s4's click; votes stay.
        let backup = store
            .insights(query(insights_range(), Some("backup")))
            .await
            .unwrap();
        let first = DayActivity {
            drafts: 5,
            searches: 3,
            clicked_searches: 2,
            first_click_rank_sum: 3,
            ..first_day()
        };
        assert_eq!(backup.days, [first, second_day()]);
        assert_eq!(
            backup.top_queries,
            queries(&[
                ("vpn error", 3, 0, 3),
                ("xyzzy", 2, 2, 0),
                ("restore", 1, 0, 0)
            ])
        );
        assert_eq!(backup.zero_result_queries, queries(&[("xyzzy", 2, 2, 0)]));
        assert_eq!(backup.unclicked_queries, queries(&[("restore", 1, 0, 0)]));
        assert_eq!(
            backup.articles,
            articles(&[
                ("a", [3, 1, 1, 3, 2, 0]),
                ("b", [2, 1, 0, 1, 0, 1]),
                ("c", [2, 0, 1, 0, 0, 2]),
            ])
        );
        assert_eq!(backup.comments, expected.comments);
        assert_eq!(
            backup.unanswered_drafts,
            texts(&["Disk full", "Restore fails with E42", "Printer offline"])
        );

        // Bounds: `to` is exclusive, `from` inclusive (d7 is at the second day's first minute).
        let first_only = TimeRange {
            from: Some(at(0)),
            to: Some(at(SECOND_DAY)),
        };
        let day = store.insights(query(first_only, None)).await.unwrap();
        assert_eq!(day.days, [first_day()]);
        assert_eq!(
            day.unanswered_drafts,
            texts(&["Mail bounces", "Restore fails with E42", "Printer offline"])
        );
        assert_eq!(day.comments, [comment("b", "Missing step 3", 19)]);
        let second_only = TimeRange {
            from: Some(at(SECOND_DAY)),
            to: Some(at(2 * SECOND_DAY)),
        };
        let day = store.insights(query(second_only, None)).await.unwrap();
        assert_eq!(day.days, [second_day()]);
        assert_eq!(day.unanswered_drafts, texts(&["Disk full"]));
        assert_eq!(
            day.articles,
            articles(&[("a", [1, 0, 0, 1, 0, 0]), ("c", [1, 0, 1, 0, 0, 1])])
        );

        // Limits: `top` for each list, `texts` for the drafts' texts.
        let short = InsightsQuery {
            top: 1,
            texts: 2,
            ..query(insights_range(), None)
        };
        let short = store.insights(short).await.unwrap();
        assert_eq!(short.top_queries, expected.top_queries[..1]);
        assert_eq!(short.articles, expected.articles[..1]);
        assert_eq!(short.comments, expected.comments[..1]);
        assert_eq!(short.unanswered_drafts, expected.unanswered_drafts[..2]);

        let nothing = TimeRange {
            from: Some(at(-5 * SECOND_DAY)),
            to: Some(at(-4 * SECOND_DAY)),
        };
        let empty = store.insights(query(nothing, None)).await.unwrap();
        assert_eq!(empty, Insights::default());
    }
}
