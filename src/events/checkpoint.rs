//! Checkpoints: a thread of its own copies the write-ahead log into the database file, so the
//! writer never does (`wal_autocheckpoint=0`) and no answer waits for a checkpoint's sync; it
//! truncates the log when steady load keeps it from ever being copied whole.

use std::path::Path;
use std::time::Instant;

use rusqlite::Connection;
use tracing::{debug, warn};

use super::sqlite::{OpenFailure, Options};

/// How often the checkpoint thread copies the write-ahead log into the database.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// A connection for checkpoints only. The writer does not checkpoint (`wal_autocheckpoint=0`):
/// a checkpoint copies the log into the database file and syncs it, and while the writer did it,
/// every answer waiting for a durable write waited too (the tail of `/api/deflect` under load).
pub(super) fn open_checkpointer(path: &Path, options: Options) -> Result<Connection, OpenFailure> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(options.busy_timeout)?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

/// Frames (pages) of write-ahead log past which the checkpoint thread also truncates the log:
/// 16,384 frames is 64 MiB with SQLite's 4 KiB pages, reached every 12-30 s at about 1,700
/// drafts a second.
///
/// A passive checkpoint never waits for the writer, so under steady load it never reaches the
/// end of the log, and SQLite starts a log over only once it was copied whole: in a 3-minute
/// benchmark the log grew to 1.7 GB, and every page read searched its ever longer index. Right
/// after a passive pass little is left to copy, so truncating holds the writer back only briefly:
/// 34-47 ms measured, which every answer waiting for a durable write waits too. A 16 MiB limit
/// held it 13-26 ms, but every 2-3 s.
pub(super) const LOG_LIMIT_FRAMES: i64 = 16_384;

/// Runs a passive checkpoint (it never waits for the writer or readers) every
/// [`CHECKPOINT_EVERY`] until the writer stops, then one last one; truncates the log when it
/// holds more than `log_limit_frames`.
pub(super) fn checkpoint_until(
    conn: Connection,
    log_limit_frames: i64,
    stopped: &std::sync::mpsc::Receiver<()>,
) {
    // Each row is (1 if it could not finish, frames in the log, frames copied).
    let run = |mode: &str| {
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))
        })
    };
    let checkpoint = || {
        let outcome = run("PASSIVE").and_then(|(_, log_frames)| {
            if log_frames <= log_limit_frames {
                return Ok(());
            }
            let started = Instant::now();
            let (busy, _) = run("TRUNCATE")?;
            // A reader kept the log: the next period tries again.
            debug!(
                log_frames,
                truncated = busy == 0,
                elapsed_us = started.elapsed().as_micros() as u64,
                "event log truncation"
            );
            Ok(())
        });
        if let Err(err) = outcome {
            // The log keeps growing until a checkpoint succeeds; nothing written is lost.
            warn!("checkpoint of the event log failed: {err}");
        }
    };
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
        stopped.recv_timeout(CHECKPOINT_EVERY)
    {
        checkpoint();
    }
    checkpoint();
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{draft, rows};
    use super::super::{EVENTS_FILE, EventStore, SqliteEventStore};
    use super::*;

    #[tokio::test]
    async fn the_log_is_copied_into_the_database_while_the_writer_runs() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteEventStore::open(dir.path()).unwrap();
        let file = dir.path().join(EVENTS_FILE);
        let before = std::fs::metadata(&file).unwrap().len();
        for n in 0..300 {
            let id = format!("draft-{n}");
            store
                .record_deflection(draft(&id, 0, &["a", "b", "c"]))
                .await
                .unwrap();
        }
        // The writer does not checkpoint; the checkpoint thread does, within a few periods.
        let deadline = std::time::Instant::now() + CHECKPOINT_EVERY * 20;
        while std::fs::metadata(&file).unwrap().len() < before + 32 * 1024 {
            assert!(
                std::time::Instant::now() < deadline,
                "the database file stayed at {} bytes",
                std::fs::metadata(&file).unwrap().len()
            );
            tokio::time::sleep(CHECKPOINT_EVERY / 4).await;
        }
        assert_eq!(rows(dir.path(), "deflections"), 300);
    }

    #[tokio::test]
    async fn the_log_is_truncated_while_the_writer_keeps_writing() {
        let dir = tempfile::tempdir().unwrap();
        let options = Options {
            log_limit_frames: 16,
            ..Options::default()
        };
        let store = SqliteEventStore::open_with(dir.path(), options).unwrap();
        let log = dir.path().join(format!("{EVENTS_FILE}-wal"));
        let log_size = || std::fs::metadata(&log).map_or(0, |m| m.len());
        // Without truncation the log file only grows while drafts keep coming.
        let (mut largest, mut shrank) = (0, false);
        let deadline = std::time::Instant::now() + CHECKPOINT_EVERY * 20;
        let mut n = 0;
        while !shrank {
            assert!(
                std::time::Instant::now() < deadline,
                "the log only grew, to {largest} bytes"
            );
            for _ in 0..20 {
                n += 1;
                store
                    .record_deflection(draft(&format!("draft-{n}"), 0, &["a", "b", "c"]))
                    .await
                    .unwrap();
            }
            let size = log_size();
            shrank = size < largest;
            largest = largest.max(size);
        }
        assert_eq!(rows(dir.path(), "deflections"), n);
    }
}
