//! Live indexing: one thread owns the [`Indexer`] (and so the index writer) for as long as the
//! service runs. It reconciles at start-up, applies each watcher batch as one commit, reconciles
//! again when events were lost, on request and on a timer, and after every batch publishes the
//! new index [`Snapshot`] (with the catalog and synonyms it already read) and the folder's
//! problems. Whoever serves searches builds its searcher from the snapshot; a search never sees
//! half a batch, since the snapshot is the reader reloaded right after the commit.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

use crate::config::{WatchMode, WatchOptions};
use crate::content::problem::Problem;
use crate::content::products::PRODUCTS_FILE;
use crate::content::synonyms::{SYNONYMS_FILE, Synonyms};
use crate::error::IndexError;
use crate::index::snapshot::Snapshot;
use crate::ingest::indexer::{Changes, Commit, IndexOptions, Indexer};
use crate::ingest::progress::{Progress, Silent};
use crate::ingest::watcher::{self, Change};

/// What the watcher said last about the folder itself, in a batch.
#[derive(Debug, Clone, Copy)]
enum FolderState {
    Missing,
    Rearmed(WatchMode),
}

/// How long to wait before trying again after the index could not be opened or written.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// What the live indexer needs; `watch.follow_symlinks` overrides `index.follow_symlinks`.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    pub index: IndexOptions,
    pub watch: WatchOptions,
    /// Compare the whole folder with the index this often, whatever the watcher says.
    pub reconcile_every: Option<Duration>,
}

/// The state of the live index, as `/api/status` shows it. Every applied batch sends a new one.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IndexStatus {
    /// True once the first searcher is published.
    pub ready: bool,
    /// Batches applied (watcher batches and reconciles), whether or not they changed anything.
    pub batches: u64,
    /// tantivy's stamp of the last commit.
    pub opstamp: u64,
    /// Unix seconds of the last commit.
    pub committed_at: Option<i64>,
    pub documents: u64,
    /// Changed paths reported by the watcher and not yet searchable.
    pub pending: usize,
    /// How the folder is watched (after any fallback); `None` when it is not watched: mode
    /// `off`, no watch could be set, or the folder is gone.
    pub watching: Option<WatchMode>,
    /// Unix seconds of the last time the watch was set again on a folder that was replaced or
    /// came back.
    pub rearmed_at: Option<i64>,
    /// How many times the watch was set again.
    pub rearms: u64,
    /// Unix seconds since when the content folder is gone, while it is.
    pub folder_missing_since: Option<i64>,
    /// Unix seconds of the last whole-folder reconcile.
    pub reconciled_at: Option<i64>,
    /// Changes of the last batch.
    pub last_changes: Changes,
    /// The last failure to open or write the index, until a batch succeeds again.
    pub last_error: Option<String>,
}

/// What the indexer hands the service after a batch.
pub struct Published {
    /// The new commit; `None` when the batch changed nothing searchable.
    pub snapshot: Option<Snapshot>,
    pub problems: Arc<Vec<Problem>>,
    /// Time from each change's first event to it being searchable.
    pub freshness: Vec<Duration>,
}

enum Message {
    Change(Change),
    Reconcile(String),
    Shutdown,
}

/// A cheap handle to the live indexer: ask for a reconcile, read or await its status.
#[derive(Clone)]
pub struct LiveHandle {
    tx: Sender<Message>,
    pending: Arc<AtomicUsize>,
    status: watch::Receiver<IndexStatus>,
}

impl LiveHandle {
    /// Asks for a whole-folder reconcile; false when the indexer has stopped.
    pub fn reconcile(&self, reason: &str) -> bool {
        self.pending.fetch_add(1, Ordering::SeqCst);
        self.tx.send(Message::Reconcile(reason.to_string())).is_ok()
    }

    pub fn status(&self) -> IndexStatus {
        let mut status = self.status.borrow().clone();
        status.pending = self.pending.load(Ordering::SeqCst);
        status
    }

    /// A receiver that wakes on every applied batch: what tests and live reload wait on.
    pub fn subscribe(&self) -> watch::Receiver<IndexStatus> {
        self.status.clone()
    }
}

/// The running live indexer; [`LiveIndex::shutdown`] commits what is pending and stops it.
pub struct LiveIndex {
    handle: LiveHandle,
    thread: Option<JoinHandle<()>>,
}

impl LiveIndex {
    /// Starts the indexer thread; it watches the folder, reconciles and publishes through
    /// `publish`, which runs on that thread. The start-up reconcile reports to `progress`.
    pub fn start(
        options: LiveOptions,
        progress: Box<dyn Progress + Send>,
        publish: impl FnMut(Published) + Send + 'static,
    ) -> std::io::Result<LiveIndex> {
        // `[watch] follow_symlinks` decides for the indexer as well as for the watcher.
        let mut options = options;
        options.index.follow_symlinks = options.watch.follow_symlinks;
        let (tx, rx) = mpsc::channel();
        let pending = Arc::new(AtomicUsize::new(0));
        let (status_tx, status_rx) = watch::channel(IndexStatus::default());
        let handle = LiveHandle {
            tx: tx.clone(),
            pending: pending.clone(),
            status: status_rx,
        };
        let worker = Worker {
            options,
            tx,
            rx,
            pending,
            status: status_tx,
            publish: Box::new(publish),
            first_progress: Some(progress),
            synonyms: None,
            logged_errors: HashSet::new(),
            problems: Arc::new(Vec::new()),
            folder_missing: None,
        };
        let thread = std::thread::Builder::new()
            .name("kbsearch-indexer".to_string())
            .spawn(move || worker.run())?;
        Ok(LiveIndex {
            handle,
            thread: Some(thread),
        })
    }

    pub fn handle(&self) -> LiveHandle {
        self.handle.clone()
    }

    /// Applies what is queued, commits, waits for merges and stops watching.
    pub fn shutdown(mut self) {
        let _ = self.handle.tx.send(Message::Shutdown);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            error!("the indexer thread panicked");
        }
    }
}

impl Drop for LiveIndex {
    fn drop(&mut self) {
        let _ = self.handle.tx.send(Message::Shutdown);
    }
}

/// What one loop turn has to do.
#[derive(Default)]
struct Batch {
    /// Changed paths with the time of their first event.
    paths: BTreeMap<String, Instant>,
    /// Why the whole folder must be compared, if it must.
    reconcile: Option<String>,
    /// Synonyms changed: republish even if no document did.
    republish: bool,
    /// The watcher's last word on the folder itself, not yet shown in the status.
    folder: Option<FolderState>,
    /// Messages taken from the queue, for the pending count.
    taken: usize,
    shutdown: bool,
}

impl Batch {
    fn add(&mut self, message: Message) {
        match message {
            Message::Change(Change::Paths(paths)) => {
                self.taken += paths.len();
                for (path, seen) in paths {
                    if path == PRODUCTS_FILE {
                        // Versions are normalised against the catalog: every file is affected.
                        self.reconcile = Some(format!("{PRODUCTS_FILE} changed"));
                    } else if path == SYNONYMS_FILE {
                        self.republish = true;
                    }
                    let first = self.paths.entry(path).or_insert(seen);
                    *first = (*first).min(seen);
                }
            }
            Message::Change(Change::Rescan(reason)) | Message::Reconcile(reason) => {
                self.taken += 1;
                self.reconcile = Some(reason);
            }
            Message::Change(Change::Missing) => {
                self.taken += 1;
                self.folder = Some(FolderState::Missing);
            }
            Message::Change(Change::Rearmed(mode)) => {
                self.taken += 1;
                self.folder = Some(FolderState::Rearmed(mode));
                // Whatever happened while the folder was gone or being replaced, the watch saw
                // none of it.
                self.reconcile = Some("the content folder was replaced or is back".to_string());
            }
            Message::Shutdown => self.shutdown = true,
        }
    }
}

struct Worker {
    options: LiveOptions,
    tx: Sender<Message>,
    rx: Receiver<Message>,
    pending: Arc<AtomicUsize>,
    status: watch::Sender<IndexStatus>,
    publish: Box<dyn FnMut(Published) + Send>,
    /// Where the start-up reconcile reports; later ones are quiet.
    first_progress: Option<Box<dyn Progress + Send>>,
    /// The synonym groups of the last publish; read again when their file changes.
    synonyms: Option<Synonyms>,
    /// Errors already logged, so each is logged once when it appears and once when it goes.
    logged_errors: HashSet<(String, String)>,
    /// The problems of the last publish, republished with the folder's own while it is gone.
    problems: Arc<Vec<Problem>>,
    /// The error that says the folder is gone, while it is.
    folder_missing: Option<Problem>,
}

impl Worker {
    fn run(mut self) {
        let watcher = self.start_watcher();
        self.status
            .send_modify(|s| s.watching = watcher.as_ref().map(|w| w.mode));
        let mut indexer: Option<Indexer> = None;
        let mut next_reconcile = self.next_reconcile();
        // The first turn is the start-up reconcile.
        let mut batch = Batch {
            reconcile: Some("start-up".to_string()),
            ..Batch::default()
        };
        loop {
            self.note_folder(&mut batch);
            let opened = match indexer.take() {
                Some(open) => Ok(open),
                None => Indexer::open(self.options.index.clone()),
            };
            let outcome = opened.and_then(|mut open| {
                self.apply(&mut open, &batch)?;
                Ok(open)
            });
            match outcome {
                Ok(open) => {
                    indexer = Some(open);
                    if batch.reconcile.is_some() {
                        next_reconcile = self.next_reconcile();
                    }
                    if batch.shutdown {
                        break;
                    }
                    batch = self.next_batch(next_reconcile);
                }
                Err(err) => {
                    // Dropping the writer discarded the uncommitted batch; the retry compares the
                    // whole folder, so nothing is lost.
                    error!("indexing failed: {err}; trying again in {RETRY_AFTER:?}");
                    self.status
                        .send_modify(|s| s.last_error = Some(err.to_string()));
                    batch.reconcile = Some("retry after a failure".to_string());
                    self.wait(RETRY_AFTER, &mut batch);
                    if batch.shutdown {
                        break;
                    }
                }
            }
        }
        drop(watcher);
        if let Some(indexer) = indexer
            && let Err(err) = indexer.close()
        {
            warn!("waiting for index merges: {err}");
        }
        info!("indexer stopped");
    }

    fn start_watcher(&self) -> Option<watcher::Watcher> {
        let tx = self.tx.clone();
        let pending = self.pending.clone();
        let sink = move |change: Change| {
            let count = match &change {
                Change::Paths(paths) => paths.len(),
                Change::Rescan(_) | Change::Missing | Change::Rearmed(_) => 1,
            };
            pending.fetch_add(count, Ordering::SeqCst);
            let _ = tx.send(Message::Change(change));
        };
        match watcher::start(&self.options.index.kb_root, self.options.watch, sink) {
            Ok(watcher) => {
                if let Some(watcher) = &watcher {
                    info!(mode = %watcher.mode, debounce_ms = self.options.watch.debounce.as_millis() as u64, "watching the content folder");
                }
                watcher
            }
            Err(err) => {
                error!(
                    "{err}; the index follows the folder only at start-up and on the reconcile timer"
                );
                None
            }
        }
    }

    fn next_reconcile(&self) -> Option<Instant> {
        self.options
            .reconcile_every
            .map(|every| Instant::now() + every)
    }

    /// Waits `duration` before a retry, queueing what arrives meanwhile, unless asked to stop or
    /// the folder is back.
    fn wait(&mut self, duration: Duration, batch: &mut Batch) {
        let deadline = Instant::now() + duration;
        while !batch.shutdown {
            match self
                .rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(message) => {
                    batch.add(message);
                    // A folder that is gone is shown at once; one that is back is compared at once.
                    let back = matches!(batch.folder, Some(FolderState::Rearmed(_)));
                    self.note_folder(batch);
                    if back {
                        break;
                    }
                }
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => batch.shutdown = true,
            }
        }
    }

    /// Shows what the watcher said about the folder itself: gone (not watched, an error in the
    /// problems until it is back) or watched again.
    fn note_folder(&mut self, batch: &mut Batch) {
        let Some(state) = batch.folder.take() else {
            return;
        };
        let now = chrono::Utc::now();
        match state {
            FolderState::Missing => {
                let folder = self.options.index.kb_root.display().to_string();
                let problem = Problem::error(
                    folder,
                    None,
                    format!(
                        "the content folder is gone (moved, deleted or unmounted) since {}; searches use the last index, and the folder is watched again as soon as it is back",
                        now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    ),
                );
                self.folder_missing = Some(problem);
                let problems = self.with_folder_problem(&self.problems);
                (self.publish)(Published {
                    snapshot: None,
                    problems,
                    freshness: Vec::new(),
                });
                // After the publish: whoever wakes on the status sees the problem.
                self.status.send_modify(|s| {
                    s.watching = None;
                    s.folder_missing_since = Some(now.timestamp());
                });
            }
            FolderState::Rearmed(mode) => {
                self.folder_missing = None;
                self.status.send_modify(|s| {
                    s.watching = Some(mode);
                    s.rearmed_at = Some(now.timestamp());
                    s.rearms += 1;
                    s.folder_missing_since = None;
                });
            }
        }
    }

    /// `problems` with the error that says the folder is gone, while it is.
    fn with_folder_problem(&self, problems: &Arc<Vec<Problem>>) -> Arc<Vec<Problem>> {
        match &self.folder_missing {
            None => problems.clone(),
            Some(missing) => {
                let mut all = vec![missing.clone()];
                all.extend(problems.iter().cloned());
                Arc::new(all)
            }
        }
    }

    /// Waits for the next message (or the reconcile timer), then takes everything else queued.
    /// When more changes were queued behind the first, a burst is under way (a checkout, a copy
    /// of many files): they are gathered while they keep coming, for up to the debounce, so the
    /// burst becomes a few commits, not one per watcher batch. A single save is applied at once.
    fn next_batch(&self, next_reconcile: Option<Instant>) -> Batch {
        let mut batch = Batch::default();
        let first = match next_reconcile {
            Some(at) => match self
                .rx
                .recv_timeout(at.saturating_duration_since(Instant::now()))
            {
                Ok(message) => Some(message),
                Err(RecvTimeoutError::Timeout) => {
                    batch.reconcile = Some("reconcile timer".to_string());
                    None
                }
                Err(RecvTimeoutError::Disconnected) => Some(Message::Shutdown),
            },
            None => Some(self.rx.recv().unwrap_or(Message::Shutdown)),
        };
        let gather_until = Instant::now() + self.options.watch.debounce;
        let mut messages = 0;
        if let Some(message) = first {
            batch.add(message);
            messages += 1;
        }
        messages += self.take_queued(&mut batch);
        let burst = messages > 1;
        while burst && batch.reconcile.is_none() && !batch.shutdown {
            let left = gather_until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match self.rx.recv_timeout(left.min(watcher::QUIET)) {
                Ok(message) => {
                    batch.add(message);
                    self.take_queued(&mut batch);
                }
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => batch.shutdown = true,
            }
        }
        batch
    }

    /// Adds every message already queued to `batch`; returns how many there were.
    fn take_queued(&self, batch: &mut Batch) -> usize {
        let mut taken = 0;
        while let Ok(message) = self.rx.try_recv() {
            batch.add(message);
            taken += 1;
        }
        taken
    }

    /// Applies one batch: a reconcile or the changed paths, one commit, one publish.
    fn apply(&mut self, indexer: &mut Indexer, batch: &Batch) -> Result<(), IndexError> {
        let first_publish = !self.status.borrow().ready;
        let reconciled = match &batch.reconcile {
            Some(reason) => {
                info!(reason = %reason, "comparing the content folder with the index");
                let progress = self.first_progress.take();
                let (changes, files) =
                    indexer.reconcile(progress.as_deref().map_or(&Silent, |p| p as _))?;
                info!(
                    files,
                    added = changes.added,
                    updated = changes.updated,
                    deleted = changes.deleted,
                    skipped = changes.skipped,
                    restricted = changes.restricted,
                    "content folder compared"
                );
                true
            }
            None if batch.paths.is_empty() => false,
            None => {
                let changes = indexer.apply_paths(batch.paths.keys().map(String::as_str))?;
                debug!(paths = batch.paths.len(), ?changes, "changes applied");
                false
            }
        };
        if batch.reconcile.is_none() && batch.paths.is_empty() && !batch.republish {
            self.pending.fetch_sub(batch.taken, Ordering::SeqCst);
            return Ok(());
        }
        let started = Instant::now();
        let commit = indexer.commit()?;
        let committed = started.elapsed();
        if batch.republish || self.synonyms.is_none() {
            self.synonyms = Some(Synonyms::load(&indexer.options().kb_root).0);
        }
        let snapshot = (commit.is_some() || batch.republish || first_publish).then(|| Snapshot {
            searcher: indexer.searcher(),
            catalog: indexer.catalog().clone(),
            synonyms: self.synonyms.clone().unwrap_or_default(),
        });
        let searcher_built = started.elapsed();
        let problems = Arc::new(indexer.problems());
        self.log_problem_changes(&problems);
        self.problems = problems.clone();
        let problems = self.with_folder_problem(&problems);
        debug!(
            commit_ms = committed.as_millis() as u64,
            snapshot_ms = (searcher_built - committed).as_millis() as u64,
            problems_ms = (started.elapsed() - searcher_built).as_millis() as u64,
            "batch committed and published"
        );
        let now = Instant::now();
        let freshness = batch
            .paths
            .values()
            .map(|seen| now.saturating_duration_since(*seen))
            .collect();
        (self.publish)(Published {
            snapshot,
            problems,
            freshness,
        });
        // Before the status goes out: whoever wakes on it sees nothing pending for this batch.
        self.pending.fetch_sub(batch.taken, Ordering::SeqCst);
        self.report(indexer, commit, reconciled);
        Ok(())
    }

    /// Logs errors of the content folder as they appear and when they are fixed.
    fn log_problem_changes(&mut self, problems: &[Problem]) {
        let current: HashSet<(String, String)> = problems
            .iter()
            .filter(|p| p.is_error())
            .map(|p| (p.path.clone(), p.message.clone()))
            .collect();
        for problem in problems.iter().filter(|p| p.is_error()) {
            if !self
                .logged_errors
                .contains(&(problem.path.clone(), problem.message.clone()))
            {
                warn!(path = %problem.path, line = problem.line, "{}", problem.message);
            }
        }
        for (path, message) in self.logged_errors.difference(&current) {
            info!(path = %path, "fixed: {message}");
        }
        self.logged_errors = current;
    }

    fn report(&self, indexer: &Indexer, commit: Option<Commit>, reconciled: bool) {
        let documents = indexer.searcher().num_docs();
        self.status.send_modify(|status| {
            if !status.ready {
                info!(documents, "index ready");
            }
            status.ready = true;
            status.batches += 1;
            status.documents = documents;
            status.last_error = None;
            if let Some(commit) = commit {
                status.opstamp = commit.opstamp;
                status.committed_at = Some(commit.committed_at);
                status.last_changes = commit.changes;
            } else {
                status.last_changes = Changes::default();
            }
            if reconciled {
                status.reconciled_at = Some(chrono::Utc::now().timestamp());
            }
        });
    }
}
