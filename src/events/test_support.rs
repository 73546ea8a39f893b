//! Events and helpers shared by the tests of the event store's modules: drafts, feedback,
//! searches, votes and clicks at fixed times, the insights dashboard's scenario that both stores
//! are checked against, and row counts read as another process would.

use std::path::Path;
use std::sync::OnceLock;

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::Connection;

use super::{
    ClickEvent, DeflectionEvent, EVENTS_FILE, EventStore, FeedbackEvent, FeedbackKind,
    FeedbackOutcome, SearchEvent, TimeRange, VoteEvent, VoteOutcome,
};

/// The caller who sends the drafts and feedback of these helpers.
pub const CREATOR: &str = "key:test-portal";

/// `minutes` after yesterday's midnight (UTC, taken once per test run): recent, so that no
/// retention period deletes the tests' events, and the same for every test of a run.
pub fn at(minutes: i64) -> DateTime<Utc> {
    static START: OnceLock<DateTime<Utc>> = OnceLock::new();
    let start = START.get_or_init(|| {
        let today = Utc::now().date_naive();
        let yesterday = today
            .pred_opt()
            .expect("today is not the first day of time");
        Utc.from_utc_datetime(&yesterday.and_hms_opt(0, 0, 0).expect("midnight exists"))
    });
    *start + chrono::Duration::minutes(minutes)
}

pub fn draft(id: &str, minutes: i64, suggested: &[&str]) -> DeflectionEvent {
    DeflectionEvent {
        id: id.to_string(),
        creator: CREATOR.to_string(),
        at: at(minutes),
        case_type: "incident".to_string(),
        severity: 3,
        product: Some("backup".to_string()),
        version: Some("7.8".to_string()),
        audience: "customer".to_string(),
        suggested: suggested.iter().map(|id| id.to_string()).collect(),
        text: format!("subject of {id}\n\ndescription of {id}"),
    }
}

pub fn feedback(deflection_id: &str, kind: FeedbackKind, article: Option<&str>) -> FeedbackEvent {
    FeedbackEvent {
        deflection_id: deflection_id.to_string(),
        caller: CREATOR.to_string(),
        kind,
        article_id: article.map(str::to_string),
        at: at(0),
    }
}

pub fn search(minutes: i64, query: &str, total: u64) -> SearchEvent {
    SearchEvent {
        at: at(minutes),
        query: query.to_string(),
        total,
        audience: "customer".to_string(),
        id: None,
        product: None,
    }
}

/// A search from the search page: with the id its clicks name, and a product filter.
pub fn page_search(
    minutes: i64,
    query: &str,
    total: u64,
    id: &str,
    product: Option<&str>,
) -> SearchEvent {
    SearchEvent {
        id: Some(id.to_string()),
        product: product.map(str::to_string),
        ..search(minutes, query, total)
    }
}

pub fn click(search_id: &str, article: &str, rank: u32, minutes: i64) -> ClickEvent {
    ClickEvent {
        search_id: search_id.to_string(),
        article_id: article.to_string(),
        rank,
        at: at(minutes),
    }
}

pub fn vote(
    article: &str,
    visitor: &str,
    helpful: bool,
    comment: Option<&str>,
    minutes: i64,
) -> VoteEvent {
    VoteEvent {
        article_id: article.to_string(),
        visitor: visitor.to_string(),
        helpful,
        comment: comment.map(str::to_string),
        at: at(minutes),
    }
}

/// Minutes from [`at`]'s start to the second day of the insights scenario.
pub const SECOND_DAY: i64 = 24 * 60;

/// The two days of [`insights_scenario`]: `[at(0), at(2 * SECOND_DAY))`.
pub fn insights_range() -> TimeRange {
    TimeRange {
        from: Some(at(0)),
        to: Some(at(2 * SECOND_DAY)),
    }
}

/// The insights dashboard's events over two days (and some outside them), for both stores;
/// `insights_queries`' tests say what every number comes to.
///
/// Drafts (product `backup` unless said): on the first day d1 shown a, b and solved by a; d2
/// shown a, c, told a was not helpful, then submitted; d3 shown nothing; d4 shown b, solved by
/// b and submitted anyway; d5 (`mail`) shown nothing; d6 shown nothing, with no text. On the
/// second day (d7 at its first minute) d7 shown c, told c was not helpful, then submitted; d8
/// shown a. Outside: d0 the minute before, d9 on the fourth day.
///
/// Searches (s1…s9 with ids, two from the API without): the first day "VPN error" (s1, s2,
/// backup), "xyzzy" (s3, backup, nothing found), "printer" (s4 mail, and one from the API); the
/// second day "vpn error" (s6), "xyzzy" (API, backup, nothing found), "restore" (s8); s9 the
/// day before. Clicks: s1 on a at rank 2 then b at rank 1, s2 a at 1, s4 c at 3, s6 a at 4
/// (twice, one row), s9 z at 1 within the range; none kept for an unknown search or a rank
/// outside 1 to 1,000.
///
/// Votes: a helpful (v1; v4 with a comment, not kept), b not helpful from v6 (replacing a
/// helpful vote, with a comment), c not helpful from v2 (blank comment) and v3 (the second day,
/// with a comment), z not helpful before the range.
pub async fn insights_scenario(store: &dyn EventStore) {
    let with = |event: DeflectionEvent, product: &str, text: &str| DeflectionEvent {
        product: Some(product.to_string()),
        text: text.to_string(),
        ..event
    };
    let drafts = [
        with(draft("d0", -1, &["z"]), "backup", "too early"),
        with(
            draft("d1", 0, &["a", "b"]),
            "backup",
            "VPN drops\n\nevery hour",
        ),
        with(draft("d2", 10, &["a", "c"]), "backup", "Printer offline"),
        with(draft("d3", 20, &[]), "backup", "Restore fails with E42"),
        with(draft("d4", 30, &["b"]), "backup", "Quota"),
        with(draft("d5", 40, &[]), "mail", "Mail bounces"),
        with(draft("d6", 50, &[]), "backup", ""),
        with(draft("d7", SECOND_DAY, &["c"]), "backup", "Disk full"),
        with(
            draft("d8", SECOND_DAY + 20, &["a"]),
            "backup",
            "Slow backup",
        ),
        with(draft("d9", 3 * SECOND_DAY, &["a"]), "backup", "too late"),
    ];
    for event in drafts {
        store.record_deflection(event).await.unwrap();
    }
    for (id, kind, article) in [
        ("d1", FeedbackKind::Solved, Some("a")),
        ("d2", FeedbackKind::NotHelpful, Some("a")),
        ("d2", FeedbackKind::CaseSubmitted, None),
        ("d4", FeedbackKind::Solved, Some("b")),
        ("d4", FeedbackKind::CaseSubmitted, None),
        ("d7", FeedbackKind::NotHelpful, Some("c")),
        ("d7", FeedbackKind::CaseSubmitted, None),
        ("d9", FeedbackKind::Solved, Some("a")),
    ] {
        let outcome = store.record_feedback(feedback(id, kind, article)).await;
        assert_eq!(outcome.unwrap(), FeedbackOutcome::Recorded, "{id}");
    }
    let backup = Some("backup");
    for event in [
        page_search(-10, "old", 1, "s9", None),
        page_search(1, "VPN error", 3, "s1", backup),
        page_search(2, "vpn  error", 3, "s2", backup),
        page_search(3, "xyzzy", 0, "s3", backup),
        page_search(4, "printer", 5, "s4", Some("mail")),
        search(5, "printer", 5),
        page_search(SECOND_DAY + 10, "vpn error", 2, "s6", backup),
        SearchEvent {
            product: Some("backup".to_string()),
            ..search(SECOND_DAY + 11, "xyzzy", 0)
        },
        page_search(SECOND_DAY + 12, "restore", 4, "s8", backup),
    ] {
        store.record_search(event);
    }
    for event in [
        click("s1", "a", 2, 6),
        click("s1", "b", 1, 7),
        click("s2", "a", 1, 8),
        click("s4", "c", 3, 9),
        click("s9", "z", 1, 12),
        click("s6", "a", 4, SECOND_DAY + 15),
        click("s6", "a", 4, SECOND_DAY + 16),
        click("unknown", "a", 1, 13),
        click("s8", "a", 0, SECOND_DAY + 17),
        click("s8", "a", 1001, SECOND_DAY + 17),
    ] {
        store.record_click(event);
    }
    store.flush().await.unwrap();
    let votes = [
        (
            vote("z", "v5", false, Some("before the range"), -30),
            VoteOutcome::Recorded,
        ),
        (vote("a", "v1", true, None, 15), VoteOutcome::Recorded),
        (
            vote("c", "v2", false, Some("   "), 16),
            VoteOutcome::Recorded,
        ),
        (
            vote("a", "v4", true, Some("great"), 17),
            VoteOutcome::Recorded,
        ),
        (vote("b", "v6", true, None, 18), VoteOutcome::Recorded),
        (
            vote("b", "v6", false, Some("Missing step 3"), 19),
            VoteOutcome::Replaced,
        ),
        (
            vote("c", "v3", false, Some("Wrong version"), SECOND_DAY + 20),
            VoteOutcome::Recorded,
        ),
    ];
    for (event, expected) in votes {
        assert_eq!(store.record_vote(event).await.unwrap(), expected);
    }
}

/// Rows of `table`, read through a connection of its own as another process would.
pub fn rows(dir: &Path, table: &str) -> u64 {
    let conn = Connection::open(dir.join(EVENTS_FILE)).unwrap();
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
        row.get(0)
    })
    .unwrap()
}
