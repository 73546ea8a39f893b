//! The dashboard of one period: the store's counts per day folded into days or weeks, the
//! headline figures, the two charts, the tables, and the groups of unanswered texts. Pure: the
//! server reads the counts and the articles' titles, this module decides what they show.

use chrono::{Datelike, Duration, NaiveDate};
use serde::Serialize;

use super::charts::{Axis, Line, LineChart};
use super::tables::{Cell, Table};
use super::topics::{Grouping, Unanswered};
use crate::events::{
    ArticleActivity, DayActivity, Insights, NEVER_HELPFUL_MIN_SHOWN, QueryActivity,
};

/// The ids of the dashboard's tables, in the page's order (their CSV is `/insights/{id}.csv`).
pub const DASHBOARD_TABLES: [&str; 10] = [
    "funnel",
    "searches",
    "top-queries",
    "no-result-queries",
    "unclicked-queries",
    "helpful-articles",
    "never-helpful",
    "lowest-rated",
    "end-of-support",
    "write-next",
];

/// Periods longer than this many days are shown per week.
const MAX_DAILY_POINTS: i64 = 62;
/// Example texts shown per group, and comments per article.
const EXAMPLES: usize = 3;
/// Groups shown in "what to write next".
const GROUPS_SHOWN: usize = 15;

/// The days a dashboard covers, both ends included (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Period {
    pub first: NaiveDate,
    pub last: NaiveDate,
}

impl Period {
    pub fn days(&self) -> i64 {
        (self.last - self.first).num_days() + 1
    }
}

/// What the dashboard needs of an article: the server looks it up in the index, as the agent
/// sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticleSummary {
    pub title: String,
    pub url: String,
    pub product: Option<String>,
    /// Every version it is for is past its end of general support.
    pub end_of_support: bool,
}

/// The period's totals, as the page's headline shows them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Headline {
    pub drafts: u64,
    pub drafts_with_suggestions: u64,
    pub drafts_solved: u64,
    pub cases_submitted: u64,
    /// Drafts solved by an article with no case submitted, over drafts with an outcome.
    pub deflection_rate: Option<f64>,
    pub searches: u64,
    pub zero_result_share: Option<f64>,
    /// Searches with a click, over searches.
    pub click_through_rate: Option<f64>,
    pub mean_first_click_rank: Option<f64>,
    pub votes_helpful: u64,
    pub votes_not_helpful: u64,
}

/// Everything the page shows.
#[derive(Debug, Clone)]
pub struct Dashboard {
    pub period: Period,
    /// "day" or "week".
    pub bucket: &'static str,
    pub headline: Headline,
    pub funnel_chart: LineChart,
    pub search_chart: LineChart,
    /// In the page's order; "what to write next" last.
    pub tables: Vec<Table>,
}

/// One point of the series: a day, or a week from its Monday.
struct Bucket {
    label: String,
    counts: DayActivity,
}

impl Dashboard {
    /// The dashboard of `insights` over `period`; `article` looks an article up (`None` when it
    /// is gone or not visible), `product` is the period's product filter, if any.
    pub fn build(
        period: Period,
        product: Option<&str>,
        insights: &Insights,
        article: &dyn Fn(&str) -> Option<ArticleSummary>,
    ) -> Dashboard {
        let weekly = period.days() > MAX_DAILY_POINTS;
        let buckets = buckets(period, &insights.days, weekly);
        let totals = buckets
            .iter()
            .fold(DayActivity::default(), |sum, b| add(sum, &b.counts));
        let articles: Vec<(&ArticleActivity, ArticleSummary)> = insights
            .articles
            .iter()
            .filter_map(|a| article(&a.article_id).map(|summary| (a, summary)))
            .filter(|(_, summary)| {
                product.is_none_or(|p| summary.product.as_deref().is_none_or(|own| own == p))
            })
            .collect();
        let headline = Headline {
            drafts: totals.drafts,
            drafts_with_suggestions: totals.drafts_with_suggestions,
            drafts_solved: totals.drafts_solved,
            cases_submitted: totals.cases_submitted,
            deflection_rate: ratio(totals.drafts_deflected, totals.drafts_with_outcome),
            searches: totals.searches,
            zero_result_share: ratio(totals.zero_result_searches, totals.searches),
            click_through_rate: ratio(totals.clicked_searches, totals.searches),
            mean_first_click_rank: ratio(totals.first_click_rank_sum, totals.clicked_searches),
            votes_helpful: articles.iter().map(|(a, _)| a.votes_helpful).sum(),
            votes_not_helpful: articles.iter().map(|(a, _)| a.votes_not_helpful).sum(),
        };
        let mut tables = vec![
            funnel_table(&buckets, weekly),
            searches_table(&buckets, weekly),
            query_table("top-queries", "Top queries", &insights.top_queries, true),
            query_table(
                "no-result-queries",
                "Top queries with no results",
                &insights.zero_result_queries,
                false,
            ),
            query_table(
                "unclicked-queries",
                "Top queries with results but no clicks",
                &insights.unclicked_queries,
                false,
            ),
        ];
        tables.extend(article_tables(&articles, insights));
        tables.push(write_next_table(insights));
        Dashboard {
            period,
            bucket: if weekly { "week" } else { "day" },
            headline,
            funnel_chart: funnel_chart(&buckets),
            search_chart: search_chart(&buckets),
            tables,
        }
    }
}

/// Every day (or week) of the period, in order, with the counts of the days in it; days with no
/// event count zero.
fn buckets(period: Period, days: &[DayActivity], weekly: bool) -> Vec<Bucket> {
    let start_of = |day: NaiveDate| -> NaiveDate {
        if weekly {
            day - Duration::days(i64::from(day.weekday().num_days_from_monday()))
        } else {
            day
        }
    };
    let step = Duration::days(if weekly { 7 } else { 1 });
    let mut buckets = Vec::new();
    let mut start = start_of(period.first);
    while start <= period.last {
        let label = if weekly {
            format!("w/c {}", start.format("%b %-d"))
        } else {
            start.format("%b %-d").to_string()
        };
        buckets.push((
            start,
            Bucket {
                label,
                counts: DayActivity {
                    day: start,
                    ..DayActivity::default()
                },
            },
        ));
        start += step;
    }
    for day in days {
        let start = start_of(day.day);
        if let Some((_, bucket)) = buckets.iter_mut().find(|(s, _)| *s == start) {
            bucket.counts = add(bucket.counts.clone(), day);
        }
    }
    buckets.into_iter().map(|(_, bucket)| bucket).collect()
}

fn add(sum: DayActivity, day: &DayActivity) -> DayActivity {
    DayActivity {
        day: sum.day,
        drafts: sum.drafts + day.drafts,
        drafts_with_suggestions: sum.drafts_with_suggestions + day.drafts_with_suggestions,
        drafts_solved: sum.drafts_solved + day.drafts_solved,
        cases_submitted: sum.cases_submitted + day.cases_submitted,
        drafts_with_outcome: sum.drafts_with_outcome + day.drafts_with_outcome,
        drafts_deflected: sum.drafts_deflected + day.drafts_deflected,
        searches: sum.searches + day.searches,
        zero_result_searches: sum.zero_result_searches + day.zero_result_searches,
        clicked_searches: sum.clicked_searches + day.clicked_searches,
        first_click_rank_sum: sum.first_click_rank_sum + day.first_click_rank_sum,
    }
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// A share as the page and the CSV write it; "–" when undefined.
pub fn percent(share: Option<f64>) -> String {
    share.map_or("–".to_string(), |s| format!("{:.0}%", s * 100.0))
}

fn decimal(value: Option<f64>) -> String {
    value.map_or("–".to_string(), |v| format!("{v:.1}"))
}

fn series(buckets: &[Bucket], value: impl Fn(&DayActivity) -> Option<f64>) -> Vec<Option<f64>> {
    buckets.iter().map(|b| value(&b.counts)).collect()
}

fn funnel_chart(buckets: &[Bucket]) -> LineChart {
    let count = |f: fn(&DayActivity) -> u64| series(buckets, move |d| Some(f(d) as f64));
    LineChart {
        labels: buckets.iter().map(|b| b.label.clone()).collect(),
        lines: vec![
            Line::new("Drafts", Axis::Count, count(|d| d.drafts)),
            Line::new(
                "Shown a suggestion",
                Axis::Count,
                count(|d| d.drafts_with_suggestions),
            ),
            Line::new(
                "Solved by an article",
                Axis::Count,
                count(|d| d.drafts_solved),
            ),
            Line::new("Cases submitted", Axis::Count, count(|d| d.cases_submitted)),
            Line::new(
                "Deflection rate",
                Axis::Share,
                series(buckets, |d| {
                    ratio(d.drafts_deflected, d.drafts_with_outcome)
                }),
            ),
        ],
    }
}

fn search_chart(buckets: &[Bucket]) -> LineChart {
    LineChart {
        labels: buckets.iter().map(|b| b.label.clone()).collect(),
        lines: vec![
            Line::new(
                "Searches",
                Axis::Count,
                series(buckets, |d| Some(d.searches as f64)),
            ),
            Line::new(
                "No results",
                Axis::Share,
                series(buckets, |d| ratio(d.zero_result_searches, d.searches)),
            ),
            Line::new(
                "Click-through",
                Axis::Share,
                series(buckets, |d| ratio(d.clicked_searches, d.searches)),
            ),
        ],
    }
}

fn funnel_table(buckets: &[Bucket], weekly: bool) -> Table {
    let columns = [
        "Drafts",
        "Shown a suggestion",
        "Solved by an article",
        "Cases submitted",
        "Deflection rate",
    ];
    period_table(
        "funnel",
        "Deflection funnel",
        buckets,
        weekly,
        &columns,
        |d| {
            vec![
                d.drafts.into(),
                d.drafts_with_suggestions.into(),
                d.drafts_solved.into(),
                d.cases_submitted.into(),
                Cell::text(percent(ratio(d.drafts_deflected, d.drafts_with_outcome))),
            ]
        },
    )
}

fn searches_table(buckets: &[Bucket], weekly: bool) -> Table {
    let columns = [
        "Searches",
        "No results",
        "Share with no results",
        "Searches with a click",
        "Click-through rate",
        "Mean rank of first click",
    ];
    period_table("searches", "Searches", buckets, weekly, &columns, |d| {
        vec![
            d.searches.into(),
            d.zero_result_searches.into(),
            Cell::text(percent(ratio(d.zero_result_searches, d.searches))),
            d.clicked_searches.into(),
            Cell::text(percent(ratio(d.clicked_searches, d.searches))),
            Cell::text(decimal(ratio(d.first_click_rank_sum, d.clicked_searches))),
        ]
    })
}

/// A row per day or week: the period's first day, then `cells` of its counts.
fn period_table(
    id: &'static str,
    caption: &'static str,
    buckets: &[Bucket],
    weekly: bool,
    columns: &[&'static str],
    cells: impl Fn(&DayActivity) -> Vec<Cell>,
) -> Table {
    let period = if weekly { "Week" } else { "Day" };
    Table {
        id,
        caption,
        columns: std::iter::once(period)
            .chain(columns.iter().copied())
            .collect(),
        rows: buckets
            .iter()
            .map(|b| {
                let mut row = vec![Cell::text(b.counts.day.to_string())];
                row.extend(cells(&b.counts));
                row
            })
            .collect(),
    }
}

/// The search page's URL for a query, as a customer sees it.
pub fn search_link(query: &str) -> String {
    let query: String = form_urlencoded::byte_serialize(query.as_bytes()).collect();
    format!("/?q={query}&view=public")
}

fn query_table(
    id: &'static str,
    caption: &'static str,
    queries: &[QueryActivity],
    all_columns: bool,
) -> Table {
    let columns = if all_columns {
        vec!["Query", "Searches", "No results", "Searches with a click"]
    } else {
        vec!["Query", "Searches"]
    };
    let rows = queries
        .iter()
        .map(|q| {
            let mut row = vec![
                Cell::link(&q.query, search_link(&q.query)),
                q.searches.into(),
            ];
            if all_columns {
                row.extend([q.zero_results.into(), q.clicked.into()]);
            }
            row
        })
        .collect();
    Table {
        id,
        caption,
        columns,
        rows,
    }
}

fn article_cell(summary: &ArticleSummary) -> Cell {
    Cell::link(&summary.title, &summary.url)
}

/// Most helpful, shown but never helpful, lowest rated with comments, past end of support.
fn article_tables(
    articles: &[(&ArticleActivity, ArticleSummary)],
    insights: &Insights,
) -> [Table; 4] {
    let helpful = |a: &ArticleActivity| a.votes_helpful + a.solved;
    let mut most_helpful: Vec<_> = articles.iter().filter(|(a, _)| helpful(a) > 0).collect();
    most_helpful.sort_by_key(|(a, _)| std::cmp::Reverse(helpful(a)));
    let mut never_helpful: Vec<_> = articles
        .iter()
        .filter(|(a, _)| helpful(a) == 0 && a.shown + a.clicks >= NEVER_HELPFUL_MIN_SHOWN)
        .collect();
    never_helpful.sort_by_key(|(a, _)| std::cmp::Reverse(a.shown + a.clicks));
    let votes = |a: &ArticleActivity| a.votes_helpful + a.votes_not_helpful;
    let helpful_ratio = |a: &ArticleActivity| a.votes_helpful as f64 / votes(a).max(1) as f64;
    let mut lowest: Vec<_> = articles.iter().filter(|(a, _)| votes(a) > 0).collect();
    lowest.sort_by(|(a, _), (b, _)| {
        helpful_ratio(a)
            .total_cmp(&helpful_ratio(b))
            .then(votes(b).cmp(&votes(a)))
    });
    let comments_of = |id: &str| -> String {
        insights
            .comments
            .iter()
            .filter(|c| c.article_id == id)
            .take(EXAMPLES)
            .map(|c| c.comment.as_str())
            .collect::<Vec<_>>()
            .join(" | ")
    };
    let past_support: Vec<_> = articles.iter().filter(|(_, s)| s.end_of_support).collect();
    [
        Table {
            id: "helpful-articles",
            caption: "Most helpful articles",
            columns: vec![
                "Article",
                "Helpful votes",
                "Not helpful votes",
                "Solved cases",
            ],
            rows: most_helpful
                .iter()
                .map(|(a, s)| {
                    vec![
                        article_cell(s),
                        a.votes_helpful.into(),
                        a.votes_not_helpful.into(),
                        a.solved.into(),
                    ]
                })
                .collect(),
        },
        Table {
            id: "never-helpful",
            caption: "Most shown, never helpful",
            columns: vec!["Article", "Suggested to drafts", "Clicks from search"],
            rows: never_helpful
                .iter()
                .map(|(a, s)| vec![article_cell(s), a.shown.into(), a.clicks.into()])
                .collect(),
        },
        Table {
            id: "lowest-rated",
            caption: "Lowest helpful ratio, with comments",
            columns: vec!["Article", "Helpful", "Votes", "Comments"],
            rows: lowest
                .iter()
                .map(|(a, s)| {
                    vec![
                        article_cell(s),
                        Cell::text(percent(Some(helpful_ratio(a)))),
                        votes(a).into(),
                        Cell::text(comments_of(&a.article_id)),
                    ]
                })
                .collect(),
        },
        Table {
            id: "end-of-support",
            caption: "Articles for versions past end of support that still get traffic",
            columns: vec![
                "Article",
                "Suggested to drafts",
                "Clicks from search",
                "Votes",
            ],
            rows: past_support
                .iter()
                .map(|(a, s)| {
                    vec![
                        article_cell(s),
                        a.shown.into(),
                        a.clicks.into(),
                        votes(a).into(),
                    ]
                })
                .collect(),
        },
    ]
}

/// Unanswered drafts and no-result queries, grouped; groups of one are left out.
fn write_next_table(insights: &Insights) -> Table {
    let texts: Vec<Unanswered> = insights
        .unanswered_drafts
        .iter()
        .map(|text| Unanswered {
            text: text.clone(),
            weight: 1,
        })
        .chain(insights.zero_result_queries.iter().map(|q| Unanswered {
            text: q.query.clone(),
            weight: q.searches,
        }))
        .collect();
    let groups = Grouping::fitted(false).group(&texts);
    let rows = groups
        .iter()
        .filter(|g| g.members.len() > 1)
        .take(GROUPS_SHOWN)
        .map(|g| {
            let examples: Vec<&str> = g
                .members
                .iter()
                .take(EXAMPLES)
                .map(|&m| first_line(&texts[m].text))
                .collect();
            vec![
                g.weight.into(),
                (g.members.len() as u64).into(),
                Cell::text(g.shared_words.join(", ")),
                Cell::text(examples.join(" | ")),
            ]
        })
        .collect();
    Table {
        id: "write-next",
        caption: "What to write next",
        columns: vec![
            "Drafts and searches",
            "Distinct texts",
            "Shared words",
            "Examples",
        ],
        rows,
    }
}

/// A draft's subject (its text up to the first line break).
fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::VoteComment;
    use chrono::{TimeZone, Utc};

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
    }

    fn activity(d: u32, drafts: u64, searches: u64) -> DayActivity {
        DayActivity {
            day: day(d),
            drafts,
            drafts_with_suggestions: drafts,
            drafts_solved: 1,
            cases_submitted: 1,
            drafts_with_outcome: 2,
            drafts_deflected: 1,
            searches,
            zero_result_searches: 1,
            clicked_searches: 2,
            first_click_rank_sum: 3,
        }
    }

    fn summary(id: &str) -> Option<ArticleSummary> {
        (id != "gone").then(|| ArticleSummary {
            title: format!("Title of {id}"),
            url: format!("/articles/{id}"),
            product: Some("StorageX".to_string()),
            end_of_support: id == "old",
        })
    }

    fn insights() -> Insights {
        let article = |id: &str, shown, solved, clicks, yes, no| ArticleActivity {
            article_id: id.to_string(),
            shown,
            solved,
            not_helpful: 0,
            clicks,
            votes_helpful: yes,
            votes_not_helpful: no,
        };
        Insights {
            days: vec![activity(3, 4, 10), activity(5, 2, 6)],
            articles: vec![
                article("good", 5, 2, 3, 4, 1),
                article("ignored", 7, 0, 2, 0, 0),
                article("old", 1, 0, 0, 0, 2),
                article("gone", 9, 9, 9, 9, 9),
            ],
            comments: vec![VoteComment {
                article_id: "old".to_string(),
                comment: "=outdated".to_string(),
                at: Utc.with_ymd_and_hms(2026, 11, 5, 0, 0, 0).unwrap(),
            }],
            unanswered_drafts: vec![
                "SharePoint Online throttling\n\nMigration to SharePoint stalls".to_string(),
                "sharepoint online throttled".to_string(),
                "invoice address".to_string(),
            ],
            ..Insights::default()
        }
    }

    fn rows<'a>(dashboard: &'a Dashboard, id: &str) -> &'a [Vec<Cell>] {
        &dashboard.tables.iter().find(|t| t.id == id).unwrap().rows
    }

    #[test]
    fn the_tables_are_the_listed_ones_in_order() {
        let period = Period {
            first: day(1),
            last: day(7),
        };
        let dashboard = Dashboard::build(period, None, &insights(), &summary);
        let ids: Vec<&str> = dashboard.tables.iter().map(|t| t.id).collect();
        assert_eq!(ids, DASHBOARD_TABLES);
    }

    #[test]
    fn the_headline_sums_the_days_and_empty_days_count_zero() {
        let period = Period {
            first: day(1),
            last: day(7),
        };
        let dashboard = Dashboard::build(period, None, &insights(), &summary);
        assert_eq!(dashboard.bucket, "day");
        let h = &dashboard.headline;
        assert_eq!((h.drafts, h.searches, h.drafts_solved), (6, 16, 2));
        assert_eq!(h.deflection_rate, Some(0.5));
        assert_eq!(h.click_through_rate, Some(4.0 / 16.0));
        assert_eq!(h.mean_first_click_rank, Some(1.5));
        assert_eq!(
            (h.votes_helpful, h.votes_not_helpful),
            (4, 3),
            "gone is left out"
        );
        let funnel = rows(&dashboard, "funnel");
        assert_eq!(funnel.len(), 7, "a row per day of the period");
        assert_eq!(funnel[0][1].text, "0");
        assert_eq!(funnel[2][1].text, "4");
        assert_eq!(funnel[0][5].text, "–", "no outcome, no rate");
        assert_eq!(dashboard.funnel_chart.labels.len(), 7);
    }

    #[test]
    fn long_periods_are_shown_by_week() {
        let period = Period {
            first: day(1) - Duration::days(80),
            last: day(7),
        };
        let dashboard = Dashboard::build(period, None, &insights(), &summary);
        assert_eq!(dashboard.bucket, "week");
        let funnel = rows(&dashboard, "funnel");
        let drafts: u64 = funnel
            .iter()
            .map(|r| r[1].text.parse::<u64>().unwrap())
            .sum();
        assert_eq!(drafts, 6);
        // Nov 3 (Tuesday) and Nov 5 (Thursday) are the week of Monday Nov 2.
        let week = funnel.iter().find(|r| r[0].text == "2026-11-02").unwrap();
        assert_eq!(week[1].text, "6");
    }

    #[test]
    fn article_tables_sort_and_filter_as_their_captions_say() {
        let period = Period {
            first: day(1),
            last: day(7),
        };
        let dashboard = Dashboard::build(period, None, &insights(), &summary);
        let titles = |id| -> Vec<String> {
            rows(&dashboard, id)
                .iter()
                .map(|r| r[0].text.clone())
                .collect()
        };
        assert_eq!(titles("helpful-articles"), ["Title of good"]);
        assert_eq!(titles("never-helpful"), ["Title of ignored"]);
        assert_eq!(titles("lowest-rated"), ["Title of old", "Title of good"]);
        assert_eq!(rows(&dashboard, "lowest-rated")[0][3].text, "=outdated");
        assert_eq!(titles("end-of-support"), ["Title of old"]);
        let other_product = Dashboard::build(period, Some("Other"), &insights(), &summary);
        assert!(
            other_product
                .tables
                .iter()
                .find(|t| t.id == "helpful-articles")
                .unwrap()
                .rows
                .is_empty()
        );
    }

    #[test]
    fn unanswered_texts_are_grouped_largest_first() {
        let mut insights = insights();
        insights.zero_result_queries = vec![QueryActivity {
            query: "sharepoint throttling".to_string(),
            searches: 4,
            zero_results: 4,
            clicked: 0,
        }];
        let period = Period {
            first: day(1),
            last: day(7),
        };
        let dashboard = Dashboard::build(period, None, &insights, &summary);
        let groups = rows(&dashboard, "write-next");
        assert_eq!(groups.len(), 1, "{groups:?}");
        assert_eq!(groups[0][0].text, "6", "two drafts and four searches");
        assert!(
            groups[0][2].text.contains("sharepoint"),
            "{:?}",
            groups[0][2]
        );
        assert!(
            !groups[0][3].text.contains("stalls"),
            "drafts by their subject"
        );
    }
}
