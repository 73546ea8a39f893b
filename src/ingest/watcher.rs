//! Watching the content folder. File-system events are only hints of which paths may have changed:
//! the indexer checks each one on disk. Events are debounced (notify-debouncer-full pairs renames
//! and drops duplicate creates), the whole folder is watched recursively (a watch on a single file
//! dies with an editor's atomic save), and when native watching is not possible (inotify watch
//! limit, network file systems) a polling watcher takes over with a log line that says why.

use std::path::{Path, PathBuf};
use std::time::Instant;

use notify::{ErrorKind, PollWatcher, RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{
    DebounceEventResult, Debouncer, NoCache, RecommendedCache, new_debouncer_opt,
};
use thiserror::Error;
use tracing::{debug, warn};

use crate::config::{WatchMode, WatchOptions};

/// What the watcher tells the indexer.
#[derive(Debug)]
pub enum Change {
    /// These paths (relative to the content folder) may have changed; each with the time its
    /// first event arrived, for the freshness measure.
    Paths(Vec<(String, Instant)>),
    /// Events were lost or the watcher failed: compare the whole folder.
    Rescan(String),
}

/// Why the folder cannot be watched at all.
#[derive(Debug, Error)]
pub enum WatchError {
    #[error("cannot watch {}: {error}", path.display())]
    Start { path: PathBuf, error: notify::Error },
}

/// A running watcher; watching stops when it is dropped.
pub struct Watcher {
    /// The mode in effect, after any fallback.
    pub mode: WatchMode,
    _native: Option<Debouncer<RecommendedWatcher, RecommendedCache>>,
    _poll: Option<Debouncer<PollWatcher, NoCache>>,
}

/// Starts watching `kb_root` recursively; `sink` receives every batch, on the watcher's thread.
/// Returns `None` in mode `off`.
pub fn start(
    kb_root: &Path,
    options: WatchOptions,
    sink: impl Fn(Change) + Send + Sync + 'static,
) -> Result<Option<Watcher>, WatchError> {
    // Events carry absolute paths; compare them with the canonical root.
    let root = kb_root.canonicalize().map_err(|error| WatchError::Start {
        path: kb_root.to_path_buf(),
        error: notify::Error::io(error),
    })?;
    let sink = std::sync::Arc::new(sink);
    let handler = |root: PathBuf, sink: std::sync::Arc<dyn Fn(Change) + Send + Sync>| {
        move |result: DebounceEventResult| {
            if let Some(change) = to_change(&root, result) {
                sink(change);
            }
        }
    };
    match options.mode {
        WatchMode::Off => Ok(None),
        WatchMode::Native => {
            let native = new_debouncer_opt::<_, RecommendedWatcher, RecommendedCache>(
                options.debounce,
                None,
                handler(root.clone(), sink.clone()),
                RecommendedCache::new(),
                notify_config(),
            )
            .and_then(|mut debouncer| {
                debouncer.watch(&root, RecursiveMode::Recursive)?;
                Ok(debouncer)
            });
            match native {
                Ok(debouncer) => Ok(Some(Watcher {
                    mode: WatchMode::Native,
                    _native: Some(debouncer),
                    _poll: None,
                })),
                Err(error) => {
                    warn!(
                        folder = %root.display(),
                        "native file watching is not available ({}); polling every {:?} instead. {}",
                        error,
                        options.poll_interval,
                        remedy(&error)
                    );
                    start_polling(&root, options, handler(root.clone(), sink))
                }
            }
        }
        WatchMode::Poll => start_polling(&root, options, handler(root.clone(), sink)),
    }
}

fn start_polling(
    root: &Path,
    options: WatchOptions,
    handler: impl FnMut(DebounceEventResult) + Send + 'static,
) -> Result<Option<Watcher>, WatchError> {
    let config = notify_config()
        .with_poll_interval(options.poll_interval)
        .with_compare_contents(false);
    let mut debouncer = new_debouncer_opt::<_, PollWatcher, NoCache>(
        options.debounce,
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
    Ok(Some(Watcher {
        mode: WatchMode::Poll,
        _native: None,
        _poll: Some(debouncer),
    }))
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
