//! Watching the content folder. File-system events are only hints of which paths may have changed:
//! the indexer checks each one on disk. Events are debounced (notify-debouncer-full pairs renames
//! and drops duplicate creates), the whole folder is watched recursively (a watch on a single file
//! dies with an editor's atomic save), and when native watching is not possible (inotify watch
//! limit, network file systems) a polling watcher takes over with a log line that says why.
//!
//! A watch follows the folder it was set on, not its name: after `mv kb kb.old; cp -r kb.old kb`
//! (as deploy scripts do) or a symbolic link switched to a new release, it would keep reporting
//! the old folder. So a guard thread compares the identity of the configured path (device and
//! inode, or the volume and file id on Windows, and the creation time) with the watched one every
//! [`ROOT_CHECK_EVERY`], and at once when an event says the folder itself was moved or removed.
//! When the folder is gone it reports [`Change::Missing`]; when another folder (or the same one,
//! back again) is there, it drops the old watch, sets a new one and reports [`Change::Rearmed`],
//! after which the indexer compares the whole folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use notify::{ErrorKind, EventKind, PollWatcher, RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{
    DebounceEventResult, DebouncedEvent, Debouncer, NoCache, RecommendedCache, new_debouncer_opt,
};
use thiserror::Error;
use tracing::{debug, error, info, warn};

use crate::config::{WatchMode, WatchOptions};

/// How often the guard checks that the watched folder is still the one at the configured path.
pub const ROOT_CHECK_EVERY: Duration = Duration::from_secs(1);

/// Quiet time per path before its events are handed over (at most the configured debounce). An
/// editor's save (truncate and write, or temp file and rename) takes a few milliseconds, so one
/// save is still one batch, and a single save is searchable well under 300 ms; changes that keep
/// arriving are gathered into one commit by the indexer for up to the debounce
/// ([`crate::ingest::live`]). A 300 ms quiet time made every save wait 300-375 ms.
pub const QUIET: Duration = Duration::from_millis(50);

/// The quiet time the debouncer runs with under `options`.
fn quiet(options: &WatchOptions) -> Duration {
    QUIET.min(options.debounce)
}

/// What the watcher tells the indexer.
#[derive(Debug)]
pub enum Change {
    /// These paths (relative to the content folder) may have changed; each with the time its
    /// first event arrived, for the freshness measure.
    Paths(Vec<(String, Instant)>),
    /// Events were lost or the watcher failed: compare the whole folder.
    Rescan(String),
    /// The content folder is gone (moved away, deleted, unmounted): nothing is watched until a
    /// folder is back at its path.
    Missing,
    /// A folder is at the configured path again (replaced, or back after it was gone) and is
    /// watched now, in this mode: compare the whole folder.
    Rearmed(WatchMode),
}

/// Why the folder cannot be watched at all.
#[derive(Debug, Error)]
pub enum WatchError {
    #[error("cannot watch {}: {error}", path.display())]
    Start { path: PathBuf, error: notify::Error },
}

/// A running watcher; watching stops when it is dropped.
pub struct Watcher {
    /// The mode in effect at start, after any fallback; a re-arm reports its own.
    pub mode: WatchMode,
    guard: Option<(Sender<GuardMessage>, JoinHandle<()>)>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        if let Some((tx, thread)) = self.guard.take() {
            let _ = tx.send(GuardMessage::Stop);
            if thread.join().is_err() {
                error!("the watcher's guard thread panicked");
            }
        }
    }
}

/// What the guard thread is told.
enum GuardMessage {
    /// Check the folder now; `moved` when an event said the folder itself was moved or removed,
    /// so it is watched again even if its identity looks the same (inode numbers are reused).
    Check {
        moved: bool,
    },
    Stop,
}

/// Who a folder is: it changes when another folder takes the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FolderIdentity {
    id: file_id::FileId,
    created: Option<SystemTime>,
}

impl FolderIdentity {
    /// The identity of the folder at `path` (following links), or `None` when there is none.
    fn of(path: &Path) -> Option<FolderIdentity> {
        let metadata = std::fs::metadata(path).ok().filter(|m| m.is_dir())?;
        let id = file_id::get_file_id(path).ok()?;
        Some(FolderIdentity {
            id,
            created: metadata.created().ok(),
        })
    }
}

type Sink = Arc<dyn Fn(Change) + Send + Sync>;

/// One watch set on one folder; dropping it stops watching.
struct Armed {
    mode: WatchMode,
    identity: Option<FolderIdentity>,
    _native: Option<Debouncer<RecommendedWatcher, RecommendedCache>>,
    _poll: Option<Debouncer<PollWatcher, NoCache>>,
}

/// Starts watching `kb_root` recursively; `sink` receives every batch, on the watcher's threads.
/// Returns `None` in mode `off`.
pub fn start(
    kb_root: &Path,
    options: WatchOptions,
    sink: impl Fn(Change) + Send + Sync + 'static,
) -> Result<Option<Watcher>, WatchError> {
    if options.mode == WatchMode::Off {
        return Ok(None);
    }
    let sink: Sink = Arc::new(sink);
    let (guard_tx, guard_rx) = mpsc::channel();
    let armed = arm(kb_root, options, &sink, &guard_tx)?;
    let mode = armed.mode;
    let guard = Guard {
        kb_root: kb_root.to_path_buf(),
        options,
        sink,
        tx: guard_tx.clone(),
        rx: guard_rx,
    };
    let thread = std::thread::Builder::new()
        .name("kbsearch-watch-guard".to_string())
        .spawn(move || guard.run(armed))
        .map_err(|error| WatchError::Start {
            path: kb_root.to_path_buf(),
            error: notify::Error::io(error),
        })?;
    Ok(Some(Watcher {
        mode,
        guard: Some((guard_tx, thread)),
    }))
}

/// Sets a recursive watch on the folder now at `kb_root`: native (falling back to polling) or
/// polling, as `options` say.
fn arm(
    kb_root: &Path,
    options: WatchOptions,
    sink: &Sink,
    guard: &Sender<GuardMessage>,
) -> Result<Armed, WatchError> {
    // Taken before the watch: a folder replaced in between is seen as replaced at the next check.
    let identity = FolderIdentity::of(kb_root);
    // Events carry absolute paths; compare them with the canonical root.
    let root = kb_root.canonicalize().map_err(|error| WatchError::Start {
        path: kb_root.to_path_buf(),
        error: notify::Error::io(error),
    })?;
    let handler = |root: PathBuf| {
        let sink = sink.clone();
        let guard = guard.clone();
        move |result: DebounceEventResult| {
            if let Ok(events) = &result
                && let Some(moved) = touches_root(&root, events)
            {
                let _ = guard.send(GuardMessage::Check { moved });
            }
            if let Some(change) = to_change(&root, result) {
                sink(change);
            }
        }
    };
    if options.mode == WatchMode::Native {
        let native = new_debouncer_opt::<_, RecommendedWatcher, RecommendedCache>(
            quiet(&options),
            None,
            handler(root.clone()),
            RecommendedCache::new(),
            notify_config(),
        )
        .and_then(|mut debouncer| {
            debouncer.watch(&root, RecursiveMode::Recursive)?;
            Ok(debouncer)
        });
        match native {
            Ok(debouncer) => {
                return Ok(Armed {
                    mode: WatchMode::Native,
                    identity,
                    _native: Some(debouncer),
                    _poll: None,
                });
            }
            Err(error) => warn!(
                folder = %root.display(),
                "native file watching is not available ({}); polling every {:?} instead. {}",
                error,
                options.poll_interval,
                remedy(&error)
            ),
        }
    }
    let poll = start_polling(&root, options, handler(root.clone()))?;
    Ok(Armed {
        mode: WatchMode::Poll,
        identity,
        _native: None,
        _poll: Some(poll),
    })
}

/// The thread that keeps the watch on the folder at the configured path.
struct Guard {
    kb_root: PathBuf,
    options: WatchOptions,
    sink: Sink,
    tx: Sender<GuardMessage>,
    rx: Receiver<GuardMessage>,
}

impl Guard {
    fn run(self, armed: Armed) {
        let mut armed = Some(armed);
        // Set after a failed re-arm, so the failure is logged once, not every second.
        let mut failing = false;
        loop {
            let mut moved = match self.rx.recv_timeout(ROOT_CHECK_EVERY) {
                Ok(GuardMessage::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                Ok(GuardMessage::Check { moved }) => moved,
                Err(RecvTimeoutError::Timeout) => false,
            };
            // Events about the folder come in bursts: one check for all of them.
            while let Ok(message) = self.rx.try_recv() {
                match message {
                    GuardMessage::Stop => return,
                    GuardMessage::Check { moved: also } => moved |= also,
                }
            }
            let now = FolderIdentity::of(&self.kb_root);
            let watched = armed.as_ref().and_then(|a| a.identity);
            match (now, armed.is_some()) {
                (None, true) => {
                    armed = None;
                    warn!(folder = %self.kb_root.display(), "the content folder is gone; watching it again when it is back");
                    (self.sink)(Change::Missing);
                }
                (Some(identity), true) if Some(identity) == watched && !moved => {}
                (Some(_), _) => {
                    // Replaced, back, or the watch may be dead: the old watch goes first.
                    armed = None;
                    match arm(&self.kb_root, self.options, &self.sink, &self.tx) {
                        Ok(new) => {
                            info!(folder = %self.kb_root.display(), mode = %new.mode, "the content folder was replaced or is back; watching it again");
                            failing = false;
                            let mode = new.mode;
                            armed = Some(new);
                            (self.sink)(Change::Rearmed(mode));
                        }
                        Err(err) if !failing => {
                            failing = true;
                            warn!("{err}; trying again every {ROOT_CHECK_EVERY:?}");
                        }
                        Err(_) => {}
                    }
                }
                (None, false) => {}
            }
        }
    }
}

/// Whether a batch has an event on the watched folder itself: `Some(true)` when it was moved or
/// removed, `Some(false)` for anything else done to it.
fn touches_root(root: &Path, events: &[DebouncedEvent]) -> Option<bool> {
    let on_root: Vec<&DebouncedEvent> = events
        .iter()
        .filter(|event| event.paths.iter().any(|path| path == root))
        .collect();
    if on_root.is_empty() {
        return None;
    }
    Some(on_root.iter().any(|event| {
        matches!(
            event.kind,
            EventKind::Remove(_) | EventKind::Modify(notify::event::ModifyKind::Name(_))
        )
    }))
}

fn start_polling(
    root: &Path,
    options: WatchOptions,
    handler: impl FnMut(DebounceEventResult) + Send + 'static,
) -> Result<Debouncer<PollWatcher, NoCache>, WatchError> {
    let config = notify_config()
        .with_poll_interval(options.poll_interval)
        .with_compare_contents(false);
    let mut debouncer = new_debouncer_opt::<_, PollWatcher, NoCache>(
        quiet(&options),
        None,
        handler,
        NoCache,
        config,
    )
    .map_err(|error| WatchError::Start {
        path: root.to_path_buf(),
        error,
    })?;
    debouncer
        .watch(root, RecursiveMode::Recursive)
        .map_err(|error| WatchError::Start {
            path: root.to_path_buf(),
            error,
        })?;
    Ok(debouncer)
}

/// The watcher never follows symbolic links: a link to `/` would otherwise watch the whole file
/// system. Links that the indexer follows stay inside the folder, whose real paths are watched;
/// the indexer maps a change there to the links that show it.
fn notify_config() -> notify::Config {
    notify::Config::default().with_follow_symlinks(false)
}

/// What an operator can do about a native watcher that failed.
fn remedy(error: &notify::Error) -> &'static str {
    let out_of_watches = matches!(error.kind, ErrorKind::MaxFilesWatch)
        || matches!(&error.kind, ErrorKind::Io(io) if io.raw_os_error() == Some(28));
    if out_of_watches {
        "The inotify watch limit is reached: raise it with `sysctl fs.inotify.max_user_watches=524288` (and fs.inotify.max_user_instances), or set `watch.mode = \"poll\"` to keep polling without this warning."
    } else {
        "Set `watch.mode = \"poll\"` (or `--watch poll`) to choose polling explicitly."
    }
}

/// One debouncer batch as a change: the paths under the root, or a rescan when events were lost.
fn to_change(root: &Path, result: DebounceEventResult) -> Option<Change> {
    let events = match result {
        Ok(events) => events,
        Err(errors) => {
            let reason = errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            warn!("file watcher error ({reason}); comparing the whole folder");
            return Some(Change::Rescan(format!("watcher error: {reason}")));
        }
    };
    if events.iter().any(|event| event.need_rescan()) {
        warn!("the file watcher lost events (queue overflow); comparing the whole folder");
        return Some(Change::Rescan("watcher queue overflow".to_string()));
    }
    let mut paths = Vec::new();
    // Reads change nothing, and the indexer's own reads would otherwise feed back as events.
    for event in events.iter().filter(|event| !event.kind.is_access()) {
        debug!(kind = ?event.kind, paths = ?event.paths, "file event");
        for path in &event.paths {
            match path.strip_prefix(root) {
                Ok(rel) if rel.as_os_str().is_empty() => {
                    // The folder itself was touched (moved, replaced): only a rescan can tell.
                    return Some(Change::Rescan(
                        "the content folder itself changed".to_string(),
                    ));
                }
                Ok(rel) => paths.push((crate::ingest::scan::rel_path_string(rel), event.time)),
                Err(_) => {}
            }
        }
    }
    (!paths.is_empty()).then_some(Change::Paths(paths))
}

#[cfg(test)]
mod tests {
    use notify::event::{AccessKind, CreateKind, Flag, ModifyKind, RenameMode};
    use notify::{Event, EventKind};
    use notify_debouncer_full::DebouncedEvent;

    use super::*;

    fn event(kind: EventKind, paths: &[&str]) -> DebouncedEvent {
        let mut event = Event::new(kind);
        for path in paths {
            event = event.add_path(PathBuf::from(path));
        }
        DebouncedEvent::new(event, Instant::now())
    }

    fn paths(change: Option<Change>) -> Vec<String> {
        match change {
            Some(Change::Paths(paths)) => paths.into_iter().map(|(p, _)| p).collect(),
            other => panic!("expected paths, got {other:?}"),
        }
    }

    #[test]
    fn events_become_paths_relative_to_the_folder() {
        let root = Path::new("/kb");
        let change = to_change(
            root,
            Ok(vec![
                event(EventKind::Create(CreateKind::File), &["/kb/articles/a.md"]),
                event(
                    EventKind::Modify(ModifyKind::Name(RenameMode::Both)),
                    &["/kb/articles/old", "/kb/help/new"],
                ),
            ]),
        );
        assert_eq!(paths(change), ["articles/a.md", "articles/old", "help/new"]);
    }

    #[test]
    fn reads_are_not_changes() {
        let root = Path::new("/kb");
        let change = to_change(
            root,
            Ok(vec![event(
                EventKind::Access(AccessKind::Any),
                &["/kb/products.toml"],
            )]),
        );
        assert!(change.is_none());
    }

    #[test]
    fn lost_events_errors_and_the_folder_itself_ask_for_a_rescan() {
        let root = Path::new("/kb");
        let overflow = Event::new(EventKind::Other).set_flag(Flag::Rescan);
        let overflow = DebouncedEvent::new(overflow, Instant::now());
        assert!(matches!(
            to_change(root, Ok(vec![overflow])),
            Some(Change::Rescan(_))
        ));
        assert!(matches!(
            to_change(root, Err(vec![notify::Error::generic("boom")])),
            Some(Change::Rescan(reason)) if reason.contains("boom")
        ));
        let moved = event(
            EventKind::Modify(ModifyKind::Name(RenameMode::Any)),
            &["/kb"],
        );
        assert!(matches!(
            to_change(root, Ok(vec![moved])),
            Some(Change::Rescan(_))
        ));
    }

    #[test]
    fn the_watch_limit_message_names_the_sysctl() {
        let limit = notify::Error::new(ErrorKind::MaxFilesWatch);
        assert!(remedy(&limit).contains("fs.inotify.max_user_watches"));
        let enospc = notify::Error::io(std::io::Error::from_raw_os_error(28));
        assert!(remedy(&enospc).contains("fs.inotify.max_user_watches"));
        assert!(remedy(&notify::Error::generic("other")).contains("poll"));
    }
}
