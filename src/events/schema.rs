//! The event database's schema: the migration steps, applied in order at start-up, and the
//! refusal of a database written by a newer build.

use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};
use tracing::info;

use super::sqlite::OpenFailure;

/// The schema, one step per release that changed it; `PRAGMA user_version` counts steps applied.
/// Never edit a step that has shipped: add one.
const MIGRATION_STEPS: &[M<'static>] = &[
    M::up(
        "CREATE TABLE deflections (
        id TEXT PRIMARY KEY NOT NULL,
        at_ms INTEGER NOT NULL,
        case_type TEXT NOT NULL,
        severity INTEGER NOT NULL,
        product TEXT,
        version TEXT,
        audience TEXT NOT NULL
    ) STRICT;
    CREATE INDEX deflections_at ON deflections (at_ms);

    CREATE TABLE suggestions (
        deflection_id TEXT NOT NULL REFERENCES deflections (id),
        position INTEGER NOT NULL,
        article_id TEXT NOT NULL,
        PRIMARY KEY (deflection_id, position)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX suggestions_article ON suggestions (article_id);

    CREATE TABLE feedback (
        deflection_id TEXT NOT NULL REFERENCES deflections (id),
        kind TEXT NOT NULL CHECK (kind IN ('solved', 'not_helpful', 'case_submitted')),
        article_id TEXT,
        at_ms INTEGER NOT NULL
    ) STRICT;
    -- the same feedback twice is one row; NULL articles compare equal here, unlike in UNIQUE
    CREATE UNIQUE INDEX feedback_once ON feedback (deflection_id, kind, ifnull(article_id, ''));
    CREATE INDEX feedback_article ON feedback (kind, article_id);

    CREATE TABLE searches (
        at_ms INTEGER NOT NULL,
        query TEXT NOT NULL,
        total INTEGER NOT NULL,
        audience TEXT NOT NULL
    ) STRICT;
    CREATE INDEX searches_at ON searches (at_ms);",
    ),
    // Every draft inserted three entries on random pages of this index, and no query used it
    // (analytics group the suggestions of a time range). Without it the log grew by 1,500-2,500
    // pages a second at 64 connections instead of about 9,000.
    M::up("DROP INDEX suggestions_article;"),
    // Who created each draft: `anonymous`, or `key:` and a fingerprint of the key (never the
    // key). Only the same caller may update a draft or send its feedback. Drafts recorded before
    // were created without a key exactly when their audience is public; for the others the key
    // is unknown, and NULL matches no caller.
    M::up(
        "ALTER TABLE deflections ADD COLUMN creator TEXT;
    UPDATE deflections SET creator = 'anonymous' WHERE audience = 'public';",
    ),
    // The insights dashboard (issue 18): drafts keep their text (subject and description) for
    // "what to write next", and what came of them as flags the writer sets with each draft and
    // outcome (so that the dashboard counts a range of drafts without looking up their
    // suggestions and feedback); searches their product filter, the id the search page gave
    // them, which clicks name (unique, so that a click finds its search and goes with it; NULLs,
    // the API's searches, are many), and their first click; customers' votes on articles, one
    // per visitor and article; and clicks on search results.
    M::up(SQLITE_INSIGHTS_STEP),
];

const SQLITE_INSIGHTS_STEP: &str =
    "ALTER TABLE deflections ADD COLUMN text TEXT NOT NULL DEFAULT '';
    ALTER TABLE deflections ADD COLUMN shown_any INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE deflections ADD COLUMN solved INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE deflections ADD COLUMN not_helpful INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE deflections ADD COLUMN submitted INTEGER NOT NULL DEFAULT 0;
    UPDATE deflections SET
        shown_any = EXISTS (SELECT 1 FROM suggestions s WHERE s.deflection_id = deflections.id),
        solved = EXISTS (SELECT 1 FROM feedback f
                         WHERE f.deflection_id = deflections.id AND f.kind = 'solved'),
        not_helpful = EXISTS (SELECT 1 FROM feedback f
                              WHERE f.deflection_id = deflections.id AND f.kind = 'not_helpful'),
        submitted = EXISTS (SELECT 1 FROM feedback f
                            WHERE f.deflection_id = deflections.id AND f.kind = 'case_submitted');
    ALTER TABLE searches ADD COLUMN search_id TEXT;
    ALTER TABLE searches ADD COLUMN product TEXT;
    ALTER TABLE searches ADD COLUMN first_click_ms INTEGER;
    ALTER TABLE searches ADD COLUMN first_click_rank INTEGER;
    CREATE UNIQUE INDEX searches_search_id ON searches (search_id);

    CREATE TABLE votes (
        article_id TEXT NOT NULL,
        visitor TEXT NOT NULL,
        helpful INTEGER NOT NULL,
        comment TEXT,
        at_ms INTEGER NOT NULL,
        UNIQUE (article_id, visitor)
    ) STRICT;
    CREATE INDEX votes_at ON votes (at_ms);

    CREATE TABLE clicks (
        search_id TEXT NOT NULL REFERENCES searches (search_id) ON DELETE CASCADE,
        article_id TEXT NOT NULL,
        rank INTEGER NOT NULL,
        at_ms INTEGER NOT NULL
    ) STRICT;
    CREATE UNIQUE INDEX clicks_once ON clicks (search_id, article_id, rank);
    CREATE INDEX clicks_at ON clicks (at_ms);";

const MIGRATIONS: Migrations<'static> = Migrations::from_slice(MIGRATION_STEPS);

/// Applies the migration steps this database has not seen; refuses a database from a newer build.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), OpenFailure> {
    let known = MIGRATION_STEPS.len();
    let found: usize = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if found > known {
        return Err(OpenFailure::Other(format!(
            "its schema version {found} is newer than this build knows ({known}); run a newer \
             kbsearch, or move the file aside to start a new one"
        )));
    }
    if found == known {
        return Ok(());
    }
    MIGRATIONS.to_latest(conn).map_err(|err| match err {
        rusqlite_migration::Error::RusqliteError { err, .. } => OpenFailure::Sqlite(err),
        other => OpenFailure::Other(format!("migration failed: {other}")),
    })?;
    info!(from = found, to = known, "event database migrated");
    Ok(())
}

#[cfg(test)]
mod tests {
    use rusqlite::OptionalExtension;

    use super::super::test_support::{
        at, click, draft, feedback, insights_range, page_search, rows, vote,
    };
    use super::super::{
        ANONYMOUS_CREATOR, EVENTS_FILE, EventStore, FeedbackEvent, FeedbackKind, FeedbackOutcome,
        InsightsQuery, SqliteEventStore, StoreError, TimeRange, VoteOutcome,
    };
    use super::*;

    #[test]
    fn migrations_apply_to_an_empty_database() {
        MIGRATIONS.validate().unwrap();
    }

    #[tokio::test]
    async fn reopening_a_migrated_database_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let schema = || -> (usize, Vec<String>) {
            let conn = Connection::open(dir.path().join(EVENTS_FILE)).unwrap();
            let version = conn
                .pragma_query_value(None, "user_version", |row| row.get(0))
                .unwrap();
            let sql = conn
                .prepare("SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY name")
                .unwrap()
                .query_map([], |row| row.get(0))
                .unwrap()
                .collect::<rusqlite::Result<Vec<String>>>()
                .unwrap();
            (version, sql)
        };
        {
            let store = SqliteEventStore::open(dir.path()).unwrap();
            store
                .record_deflection(draft("d1", 0, &["a"]))
                .await
                .unwrap();
        }
        let migrated = schema();
        assert_eq!(migrated.0, MIGRATION_STEPS.len());
        let store = SqliteEventStore::open(dir.path()).unwrap();
        assert_eq!(schema(), migrated);
        assert_eq!(
            store
                .deflection_analytics(TimeRange::default(), 1)
                .await
                .unwrap()
                .drafts,
            1
        );
    }

    #[tokio::test]
    async fn a_database_of_the_first_schema_is_brought_up_to_date_with_its_events() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(EVENTS_FILE);
        {
            let mut conn = Connection::open(&path).unwrap();
            Migrations::from_slice(&MIGRATION_STEPS[..1])
                .to_latest(&mut conn)
                .unwrap();
            // The first schema's rows, as a build of that time wrote them: one draft without a
            // key (audience public), one with a customer key; recent, so retention keeps them.
            conn.execute(
                "INSERT INTO deflections (id, at_ms, case_type, severity, audience)
                     VALUES ('old', ?1, 'problem', 3, 'public'),
                            ('keyed', ?1, 'problem', 3, 'customer')",
                [at(0).timestamp_millis()],
            )
            .unwrap();
            conn.execute_batch(
                "INSERT INTO suggestions (deflection_id, position, article_id)
                     VALUES ('old', 0, 'a'), ('old', 1, 'b');",
            )
            .unwrap();
        }
        let store = SqliteEventStore::open(dir.path()).unwrap();
        store
            .record_deflection(draft("new", 1, &["c"]))
            .await
            .unwrap();
        assert_eq!(rows(dir.path(), "deflections"), 3);
        assert_eq!(rows(dir.path(), "suggestions"), 3);
        // Old drafts without a key stay open to callers without a key; the key of the others
        // is unknown, so no caller may continue them.
        let anonymous = FeedbackEvent {
            caller: ANONYMOUS_CREATOR.to_string(),
            ..feedback("old", FeedbackKind::Solved, Some("b"))
        };
        assert_eq!(
            store.record_feedback(anonymous).await.unwrap(),
            FeedbackOutcome::Recorded
        );
        let keyed = feedback("keyed", FeedbackKind::CaseSubmitted, None);
        assert_eq!(
            store.record_feedback(keyed).await.unwrap(),
            FeedbackOutcome::UnknownDeflection
        );
        let conn = Connection::open(&path).unwrap();
        let version: usize = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(version, MIGRATION_STEPS.len());
        let index: Option<String> = conn
            .query_row(
                "SELECT name FROM sqlite_master WHERE name = 'suggestions_article'",
                [],
                |row| row.get(0),
            )
            .optional()
            .unwrap();
        assert_eq!(index, None);
    }

    /// Issue 18: the dashboard's step keeps the drafts, outcomes and searches of the schema
    /// before it; they count in the insights, with no text, product or id.
    #[tokio::test]
    async fn a_database_of_the_third_schema_is_brought_up_to_date_with_its_events() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut conn = Connection::open(dir.path().join(EVENTS_FILE)).unwrap();
            Migrations::from_slice(&MIGRATION_STEPS[..3])
                .to_latest(&mut conn)
                .unwrap();
            conn.execute(
                "INSERT INTO deflections (id, at_ms, case_type, severity, audience, creator)
                     VALUES ('old', ?1, 'problem', 3, 'public', 'anonymous')",
                [at(0).timestamp_millis()],
            )
            .unwrap();
            conn.execute_batch(
                "INSERT INTO suggestions (deflection_id, position, article_id)
                     VALUES ('old', 0, 'a'), ('old', 1, 'b');",
            )
            .unwrap();
            conn.execute(
                "INSERT INTO feedback (deflection_id, kind, article_id, at_ms)
                     VALUES ('old', 'solved', 'a', ?1)",
                [at(1).timestamp_millis()],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO searches (at_ms, query, total, audience)
                     VALUES (?1, 'vpn', 0, 'public')",
                [at(2).timestamp_millis()],
            )
            .unwrap();
        }
        let store = SqliteEventStore::open(dir.path()).unwrap();
        store.record_search(page_search(3, "vpn", 2, "s1", None));
        store.record_click(click("s1", "b", 2, 4));
        store.flush().await.unwrap();
        let voted = store.record_vote(vote("a", "v1", true, None, 5)).await;
        assert_eq!(voted.unwrap(), VoteOutcome::Recorded);
        let insights = store
            .insights(InsightsQuery {
                range: insights_range(),
                product: None,
                top: 10,
                texts: 10,
            })
            .await
            .unwrap();
        let [day] = insights.days.as_slice() else {
            panic!("one day: {:?}", insights.days);
        };
        assert_eq!(
            (day.drafts, day.drafts_solved, day.drafts_deflected),
            (1, 1, 1)
        );
        assert_eq!((day.searches, day.zero_result_searches), (2, 1));
        assert_eq!((day.clicked_searches, day.first_click_rank_sum), (1, 2));
        let ids: Vec<&str> = insights
            .articles
            .iter()
            .map(|a| a.article_id.as_str())
            .collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(rows(dir.path(), "deflections"), 1);
        assert!(insights.unanswered_drafts.is_empty());
    }

    #[test]
    fn a_database_from_a_newer_build_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(SqliteEventStore::open(dir.path()).unwrap());
        let conn = Connection::open(dir.path().join(EVENTS_FILE)).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let error = SqliteEventStore::open(dir.path()).err().expect("refused");
        let message = error.to_string();
        assert!(matches!(error, StoreError::Open { .. }), "{error:?}");
        assert!(message.contains(EVENTS_FILE), "{message}");
        assert!(message.contains("schema version 99"), "{message}");
    }
}
