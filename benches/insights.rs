//! The insights dashboard on one million events (issue 18: "insights queries on 1,000,000 events
//! answer in under 500 ms on SQLite").
//!
//! Writes about a million events over the last 90 days into a new SQLite store in a temp dir,
//! through the store's public API as the service records them: 250,000 drafts (five suggestions
//! each, most with feedback), 600,000 searches (most from the search page, with an id), 100,000
//! clicks and 50,000 votes. Then times [`EventStore::insights`] for the dashboard's default
//! period (the last 30 days), for all 90 days and for one product over 30 days: one warm-up call,
//! then the median of three.
//!
//! Inputs (environment):
//! - `KBSEARCH_BENCH_SCALE` (1.0): multiplies every count (0.1 for a quick run).
//! - `KBSEARCH_BENCH_EVENTS_URL`: a PostgreSQL URL (an empty database): the same events and
//!   timings on the PostgreSQL store as well.
//! - `KBSEARCH_BENCH_DATA`: write the SQLite store in this (new) folder and keep it, to look at
//!   its query plans afterwards, instead of a temp dir.
//!
//! `cargo bench --bench insights`

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use kbsearch::config::Events;
use kbsearch::events::{
    ClickEvent, DeflectionEvent, EventStore, FeedbackEvent, FeedbackKind, InsightsQuery,
    PgEventStore, SearchEvent, SqliteEventStore, TimeRange, VoteEvent,
};

const DAYS: i64 = 90;
const DRAFTS: usize = 250_000;
const SEARCHES: usize = 600_000;
const CLICKS: usize = 100_000;
const VOTES: usize = 50_000;
const ARTICLES: usize = 2_000;
const QUERIES: usize = 5_000;
const PRODUCTS: [&str; 5] = ["backup", "mail", "storage", "vpn", "portal"];
/// Events sent before waiting for them: well under the store's queue of 8,192.
const CHUNK: usize = 4_000;
const DAY_MS: i64 = 86_400_000;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run only when asked.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let scale: f64 = std::env::var("KBSEARCH_BENCH_SCALE").map_or(1.0, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("KBSEARCH_BENCH_SCALE={v} is not a number"))
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    // No event may be dropped for size or deleted for age while the bench writes.
    let events = Events {
        keep_days: 400,
        max_database_mb: 64 * 1024,
        ..Events::default()
    };
    let now = Utc::now();
    runtime.block_on(async {
        let temp = tempfile::tempdir().expect("a temp dir");
        let dir = std::env::var_os("KBSEARCH_BENCH_DATA")
            .map_or_else(|| temp.path().to_path_buf(), std::path::PathBuf::from);
        let sqlite = SqliteEventStore::open_configured(&dir, &events).expect("the store");
        println!("SQLite store in {}", dir.display());
        measure(&sqlite, scale, now).await;
        let bytes = std::fs::metadata(sqlite.path()).map_or(0, |meta| meta.len());
        println!("database file: {:.0} MB", bytes as f64 / 1e6);
        if let Ok(url) = std::env::var("KBSEARCH_BENCH_EVENTS_URL") {
            let pg = PgEventStore::open(&url, &events)
                .await
                .expect("the PostgreSQL store");
            println!("PostgreSQL store");
            measure(&pg, scale, now).await;
        }
    });
}

/// Writes the events into `store`, then times the dashboard's calls.
async fn measure(store: &dyn EventStore, scale: f64, now: DateTime<Utc>) {
    let count = |n: usize| ((n as f64 * scale) as usize).max(1);
    let started = Instant::now();
    let written = write_events(
        store,
        Counts {
            drafts: count(DRAFTS),
            searches: count(SEARCHES),
            clicks: count(CLICKS),
            votes: count(VOTES),
        },
        now,
    )
    .await;
    let elapsed = started.elapsed();
    println!(
        "{written} events written in {elapsed:.1?} ({:.0}/s); dropped: {:?}",
        written as f64 / elapsed.as_secs_f64(),
        store.stats().dropped_searches + store.stats().dropped_clicks
    );
    let days_ago = |days: i64| Some(now - chrono::Duration::days(days));
    let cases = [
        ("last 30 days", days_ago(30), None),
        ("all 90 days", days_ago(DAYS), None),
        ("last 30 days, one product", days_ago(30), Some("backup")),
    ];
    for (name, from, product) in cases {
        let query = InsightsQuery {
            range: TimeRange { from, to: None },
            product: product.map(str::to_string),
            top: 20,
            texts: 50,
        };
        let warm = store.insights(query.clone()).await.expect("insights");
        let mut times = Vec::new();
        for _ in 0..3 {
            let started = Instant::now();
            store.insights(query.clone()).await.expect("insights");
            times.push(started.elapsed());
        }
        times.sort();
        let drafts: u64 = warm.days.iter().map(|day| day.drafts).sum();
        let searches: u64 = warm.days.iter().map(|day| day.searches).sum();
        println!(
            "insights, {name}: median {:.1} ms (min {:.1}, max {:.1}); {drafts} drafts, \
             {searches} searches, {} days",
            ms(times[1]),
            ms(times[0]),
            ms(times[2]),
            warm.days.len()
        );
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

struct Counts {
    drafts: usize,
    searches: usize,
    clicks: usize,
    votes: usize,
}

/// A number from 0 to `n - 1`, small ones far more often (roughly Zipf-like), as article and
/// query popularity is.
fn skewed(rng: &mut fastrand::Rng, n: usize) -> usize {
    let x = rng.f64();
    ((n as f64).powf(x * x) as usize)
        .saturating_sub(1)
        .min(n - 1)
}

/// Writes the events through the store's API; how many.
async fn write_events(store: &dyn EventStore, counts: Counts, now: DateTime<Utc>) -> usize {
    let mut rng = fastrand::Rng::with_seed(18);
    let start_ms = now.timestamp_millis() - DAYS * DAY_MS;
    // Each kind's events in the order of their times, as a service records them.
    let times = |rng: &mut fastrand::Rng, n: usize| {
        let mut times: Vec<DateTime<Utc>> = (0..n)
            .map(|_| {
                DateTime::from_timestamp_millis(start_ms + rng.i64(0..DAYS * DAY_MS))
                    .expect("a time")
            })
            .collect();
        times.sort();
        times
    };
    let creator = "key:bench".to_string();
    let mut written = 0;

    let mut draft_ids = Vec::with_capacity(counts.drafts);
    let mut drafts = Vec::with_capacity(CHUNK);
    let draft_times = times(&mut rng, counts.drafts);
    for (n, at) in draft_times.into_iter().enumerate() {
        let suggested: Vec<String> = (0..5)
            .map(|_| format!("articles/{:04}.md", skewed(&mut rng, ARTICLES)))
            .collect();
        let id = format!("draft-{n:07}");
        let event = DeflectionEvent {
            id: id.clone(),
            creator: creator.clone(),
            at,
            case_type: "problem".to_string(),
            severity: 3,
            product: Some(PRODUCTS[rng.usize(0..PRODUCTS.len())].to_string()),
            version: Some("7.8.0".to_string()),
            audience: "customer".to_string(),
            suggested: suggested.clone(),
            text: format!(
                "Error {} after upgrade\n\nThe job stops at {}% with code {} since this morning; \
                 restarting the agent does not help.",
                rng.u32(100..999),
                rng.u32(1..100),
                rng.u32(1000..9999)
            ),
        };
        draft_ids.push((id, suggested));
        drafts.push(event);
        if drafts.len() == CHUNK || n + 1 == counts.drafts {
            let outcomes = join_all(drafts.drain(..).map(|e| store.record_deflection(e))).await;
            written += outcomes.into_iter().filter(|o| o.is_ok()).count();
        }
    }

    let mut feedback = Vec::with_capacity(CHUNK);
    for (n, (id, suggested)) in draft_ids.iter().enumerate() {
        let roll = rng.u32(0..100);
        let article = Some(suggested[skewed(&mut rng, suggested.len())].clone());
        let event = |kind, article_id| FeedbackEvent {
            deflection_id: id.clone(),
            caller: creator.clone(),
            kind,
            article_id,
            at: Utc::now(),
        };
        match roll {
            0..40 => feedback.push(event(FeedbackKind::Solved, article)),
            40..60 => {
                feedback.push(event(FeedbackKind::NotHelpful, article));
                feedback.push(event(FeedbackKind::CaseSubmitted, None));
            }
            60..75 => feedback.push(event(FeedbackKind::CaseSubmitted, None)),
            _ => {}
        }
        if feedback.len() >= CHUNK || n + 1 == draft_ids.len() {
            let outcomes = join_all(feedback.drain(..).map(|e| store.record_feedback(e))).await;
            written += outcomes.into_iter().filter(|o| o.is_ok()).count();
        }
    }

    let mut search_ids = Vec::with_capacity(counts.searches);
    let search_times = times(&mut rng, counts.searches);
    for (n, at) in search_times.into_iter().enumerate() {
        let from_page = rng.u32(0..100) < 80;
        let id = from_page.then(|| format!("search-{n:07}"));
        let query = skewed(&mut rng, QUERIES);
        let event = SearchEvent {
            at,
            query: format!("query {query}"),
            // One query in seven finds nothing, always.
            total: if query.is_multiple_of(7) {
                0
            } else {
                rng.u64(1..200)
            },
            audience: "customer".to_string(),
            id: id.clone(),
            product: (rng.u32(0..100) < 60)
                .then(|| PRODUCTS[rng.usize(0..PRODUCTS.len())].to_string()),
        };
        if let Some(id) = id {
            search_ids.push((id, event.at));
        }
        store.record_search(event);
        written += 1;
        if (n + 1) % CHUNK == 0 {
            store.flush().await.expect("searches written");
        }
    }
    store.flush().await.expect("searches written");

    let mut clicks: Vec<ClickEvent> = (0..counts.clicks)
        .map(|_| {
            let (search_id, at) = &search_ids[rng.usize(0..search_ids.len())];
            ClickEvent {
                search_id: search_id.clone(),
                article_id: format!("articles/{:04}.md", skewed(&mut rng, ARTICLES)),
                rank: 1 + skewed(&mut rng, 20) as u32,
                at: *at + chrono::Duration::seconds(rng.i64(1..120)),
            }
        })
        .collect();
    clicks.sort_by_key(|click| click.at);
    for (n, event) in clicks.into_iter().enumerate() {
        store.record_click(event);
        written += 1;
        if (n + 1) % CHUNK == 0 {
            store.flush().await.expect("clicks written");
        }
    }
    store.flush().await.expect("clicks written");

    let mut votes = Vec::with_capacity(CHUNK);
    let vote_times = times(&mut rng, counts.votes);
    for (n, at) in vote_times.into_iter().enumerate() {
        let helpful = rng.u32(0..100) < 70;
        let comment = (!helpful && rng.bool())
            .then(|| format!("Step {} does not match version 7.8", rng.u32(1..9)));
        votes.push(VoteEvent {
            article_id: format!("articles/{:04}.md", skewed(&mut rng, ARTICLES)),
            visitor: format!("visitor-{n:07}"),
            helpful,
            comment,
            at,
        });
        if votes.len() == CHUNK || n + 1 == counts.votes {
            let outcomes = join_all(votes.drain(..).map(|e| store.record_vote(e))).await;
            written += outcomes.into_iter().filter(|o| o.is_ok()).count();
        }
    }
    written
}
