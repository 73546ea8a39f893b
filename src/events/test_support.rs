//! Events and helpers shared by the tests of the event store's modules: drafts, feedback and
//! searches at fixed times, and row counts read as another process would.

use std::path::Path;
use std::sync::OnceLock;

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::Connection;

use super::{DeflectionEvent, EVENTS_FILE, FeedbackEvent, FeedbackKind, SearchEvent};

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
