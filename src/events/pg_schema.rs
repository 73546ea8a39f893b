//! The PostgreSQL event database's schema: the migration steps, applied in order when a replica
//! opens the store, under an advisory lock so that replicas starting together migrate once, and
//! the refusal of a database written by a newer build. Text that analytics sort is kept in the
//! "C" collation, which orders bytes as SQLite does, so both stores rank ties the same way.

use deadpool_postgres::Client;
use tracing::info;

/// The advisory lock key of migrations (any constant; "kbsearch" in ASCII, truncated).
const MIGRATION_LOCK: i64 = 0x6b62_7365_6172_6368;

/// The schema, one step per release that changed it; `kbsearch_schema.version` counts steps
/// applied. Never edit a step that has shipped: add one.
pub(super) const MIGRATION_STEPS: &[&str] = &[
    // The SQLite schema as it stands after its third step, with the cascades PostgreSQL enforces.
    r#"CREATE TABLE deflections (
        id TEXT COLLATE "C" PRIMARY KEY,
        at_ms BIGINT NOT NULL,
        case_type TEXT NOT NULL,
        severity INTEGER NOT NULL,
        product TEXT,
        version TEXT,
        audience TEXT NOT NULL,
        creator TEXT
    );
    CREATE INDEX deflections_at ON deflections (at_ms);

    CREATE TABLE suggestions (
        deflection_id TEXT COLLATE "C" NOT NULL REFERENCES deflections (id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        article_id TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (deflection_id, position)
    );

    CREATE TABLE feedback (
        deflection_id TEXT COLLATE "C" NOT NULL REFERENCES deflections (id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('solved', 'not_helpful', 'case_submitted')),
        article_id TEXT COLLATE "C",
        at_ms BIGINT NOT NULL
    );
    -- the same feedback twice is one row, even from two replicas at once; NULL articles compare
    -- equal here, unlike in UNIQUE
    CREATE UNIQUE INDEX feedback_once ON feedback (deflection_id, kind, coalesce(article_id, ''));
    CREATE INDEX feedback_article ON feedback (kind, article_id);

    CREATE TABLE searches (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at_ms BIGINT NOT NULL,
        query TEXT COLLATE "C" NOT NULL,
        total BIGINT NOT NULL,
        audience TEXT NOT NULL
    );
    CREATE INDEX searches_at ON searches (at_ms);"#,
    // The insights dashboard (issue 18), as the SQLite schema's fourth step: drafts' text and
    // outcome flags, searches' product, page id (unique, which clicks name) and first click,
    // votes and clicks. Votes and
    // clicks have an id of their own, as searches do, for retention's bounded deletes.
    r#"ALTER TABLE deflections ADD COLUMN text TEXT NOT NULL DEFAULT '';
    ALTER TABLE deflections ADD COLUMN shown_any BOOLEAN NOT NULL DEFAULT FALSE;
    ALTER TABLE deflections ADD COLUMN solved BOOLEAN NOT NULL DEFAULT FALSE;
    ALTER TABLE deflections ADD COLUMN not_helpful BOOLEAN NOT NULL DEFAULT FALSE;
    ALTER TABLE deflections ADD COLUMN submitted BOOLEAN NOT NULL DEFAULT FALSE;
    UPDATE deflections SET
        shown_any = EXISTS (SELECT 1 FROM suggestions s WHERE s.deflection_id = deflections.id),
        solved = EXISTS (SELECT 1 FROM feedback f
                         WHERE f.deflection_id = deflections.id AND f.kind = 'solved'),
        not_helpful = EXISTS (SELECT 1 FROM feedback f
                              WHERE f.deflection_id = deflections.id AND f.kind = 'not_helpful'),
        submitted = EXISTS (SELECT 1 FROM feedback f
                            WHERE f.deflection_id = deflections.id AND f.kind = 'case_submitted');
    ALTER TABLE searches ADD COLUMN search_id TEXT COLLATE "C";
    ALTER TABLE searches ADD COLUMN product TEXT;
    ALTER TABLE searches ADD COLUMN first_click_ms BIGINT;
    ALTER TABLE searches ADD COLUMN first_click_rank INTEGER;
    CREATE UNIQUE INDEX searches_search_id ON searches (search_id);

    CREATE TABLE votes (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        article_id TEXT COLLATE "C" NOT NULL,
        visitor TEXT COLLATE "C" NOT NULL,
        helpful BOOLEAN NOT NULL,
        comment TEXT,
        at_ms BIGINT NOT NULL,
        UNIQUE (article_id, visitor)
    );
    CREATE INDEX votes_at ON votes (at_ms);

    CREATE TABLE clicks (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        search_id TEXT COLLATE "C" NOT NULL
            REFERENCES searches (search_id) ON DELETE CASCADE,
        article_id TEXT COLLATE "C" NOT NULL,
        rank INTEGER NOT NULL,
        at_ms BIGINT NOT NULL
    );
    CREATE UNIQUE INDEX clicks_once ON clicks (search_id, article_id, rank);
    CREATE INDEX clicks_at ON clicks (at_ms);"#,
];

/// Why migrating failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum MigrateError {
    #[error(transparent)]
    Database(#[from] tokio_postgres::Error),
    #[error(
        "its schema version {found} is newer than this build knows ({known}); run a newer \
         kbsearch on every replica"
    )]
    Newer { found: i64, known: i64 },
}

/// Applies the steps this database has not seen, in one transaction holding the migration lock:
/// a second replica waits, then finds nothing left to do. Refuses a database from a newer build.
pub(super) async fn migrate(client: &mut Client) -> Result<(), MigrateError> {
    let known = MIGRATION_STEPS.len() as i64;
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS kbsearch_schema (version BIGINT NOT NULL)")
        .await?;
    let found: i64 = tx
        .query_opt("SELECT version FROM kbsearch_schema", &[])
        .await?
        .map_or(0, |row| row.get(0));
    if found > known {
        return Err(MigrateError::Newer { found, known });
    }
    if found == known {
        return Ok(());
    }
    let start = usize::try_from(found).unwrap_or(0);
    for step in &MIGRATION_STEPS[start..] {
        tx.batch_execute(step).await?;
    }
    tx.execute("DELETE FROM kbsearch_schema", &[]).await?;
    tx.execute(
        "INSERT INTO kbsearch_schema (version) VALUES ($1)",
        &[&known],
    )
    .await?;
    tx.commit().await?;
    info!(from = found, to = known, "event database migrated");
    Ok(())
}
