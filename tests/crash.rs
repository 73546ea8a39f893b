//! Crash safety of the service (issue 4): `kbsearch serve` is killed with SIGKILL at random
//! moments while it indexes a folder of 2,000 articles — during the first build, during the
//! start-up reconcile, during a commit, during a live batch after a large change, during the
//! rebuild of a corrupt or foreign index folder — and restarted each time, with files changed
//! while it is down. After every kill the committed index holds no path and no id twice; in the end
//! it holds exactly the folder: every article once, none that is gone, each at the fingerprint of
//! its current bytes.
//!
//! Kill times are spread over the work they are meant to interrupt: the test first measures, in
//! process, how long a full build and an incremental refresh take on this machine, and draws each
//! kill delay from 0 to 1.2 times the expected duration of the phase it aims at. The random choices
//! come from one seed, printed at the start; `KBSEARCH_CRASH_SEED=<seed>` replays them (the timing
//! of the machine still varies).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kbsearch::index::generations::IndexDir;
use kbsearch::ingest::indexer::{self, IndexOptions, Indexer};
use kbsearch::ingest::progress::Silent;
use kbsearch::ingest::scan;

/// Articles in the folder at the start.
const FILES: usize = 2_000;
/// Rounds of start and SIGKILL, besides the final start.
const ROUNDS: usize = 20;
const AGENT_KEY: &str = "agent-key-0123456789abc";
/// Quiet time before the watcher hands a change to the indexer.
const DEBOUNCE_MS: u64 = 200;
/// Longest wait for anything a healthy service does in a round (start, ready, a log line).
const STEP_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait for the final start to be ready with nothing pending.
const FINAL_TIMEOUT: Duration = Duration::from_secs(120);
/// Lines of the service's log quoted in a failure.
const LOG_TAIL: usize = 40;
/// Kill delays are drawn from 0 to this many times the expected duration of the phase.
const SPREAD: f64 = 1.2;
/// Start-up of the process before it touches the index (exec, runtime, watcher).
const PROCESS_START: Duration = Duration::from_millis(50);

const FOLDERS: &[&str] = &[
    "articles/g0",
    "articles/g1",
    "articles/g2",
    "articles/g3",
    "articles/g4",
    "articles/g5",
    "articles/nested/deeper/g6",
    "help/g0",
    "help/g1",
    "help/g2",
    "release-notes",
];

const FILLER: &[&str] = &[
    "migration",
    "cutover",
    "share",
    "replication",
    "agent",
    "volume",
    "snapshot",
    "permissions",
    "baseline",
    "copy",
    "policy",
    "schedule",
    "retry",
    "network",
    "storage",
    "quota",
    "report",
    "console",
    "license",
    "upgrade",
];

// ---------------------------------------------------------------------------------------------
// The service's log, read on a thread.

#[derive(Default)]
struct LogLines {
    lines: Vec<String>,
    /// The pipe reached its end: the process is gone.
    closed: bool,
}

#[derive(Default)]
struct Log {
    state: Mutex<LogLines>,
    changed: Condvar,
}

impl Log {
    fn push(&self, line: String) {
        self.state.lock().unwrap().lines.push(line);
        self.changed.notify_all();
    }

    fn close(&self) {
        self.state.lock().unwrap().closed = true;
        self.changed.notify_all();
    }

    /// Waits for the first line containing `pattern`; `None` at the deadline or when the process
    /// is gone without writing it.
    fn wait_for(&self, pattern: &str, deadline: Instant) -> Option<String> {
        let mut state = self.state.lock().unwrap();
        loop {
            if let Some(line) = state.lines.iter().find(|l| l.contains(pattern)) {
                return Some(line.clone());
            }
            let now = Instant::now();
            if state.closed || now >= deadline {
                return None;
            }
            state = self.changed.wait_timeout(state, deadline - now).unwrap().0;
        }
    }

    fn contains(&self, pattern: &str) -> bool {
        let state = self.state.lock().unwrap();
        state.lines.iter().any(|l| l.contains(pattern))
    }

    fn tail(&self, n: usize) -> String {
        let state = self.state.lock().unwrap();
        let start = state.lines.len().saturating_sub(n);
        state.lines[start..].join("\n")
    }
}

// ---------------------------------------------------------------------------------------------
// One run of `kbsearch serve`, killed when dropped.

struct Server {
    child: Option<Child>,
    log: Arc<Log>,
    reader: Option<JoinHandle<()>>,
    spawned: Instant,
    base: Option<String>,
}

impl Server {
    fn start(setup: &Setup) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kbsearch"));
        command
            .arg("serve")
            .arg("--kb")
            .arg(&setup.kb)
            .arg("--index")
            .arg(&setup.index)
            .arg("--data")
            .arg(&setup.data)
            .arg("--config")
            .arg(&setup.config)
            .args(["--bind", "127.0.0.1:0", "--watch", "native"])
            .current_dir(setup.root())
            .env("RUST_LOG", "warn,kbsearch=info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("KBSEARCH_") {
                command.env_remove(name);
            }
        }
        let spawned = Instant::now();
        let mut child = command.spawn().expect("start kbsearch serve");
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Log::default());
        let sink = log.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                match line {
                    Ok(line) => sink.push(line),
                    Err(_) => break,
                }
            }
            sink.close();
        });
        Server {
            child: Some(child),
            log,
            reader: Some(reader),
            spawned,
            base: None,
        }
    }

    /// A failure message with the end of this run's log.
    fn fail(&self, message: impl std::fmt::Display) -> String {
        format!(
            "{message}\n--- last lines of the service's log ---\n{}",
            self.log.tail(LOG_TAIL)
        )
    }

    /// `http://127.0.0.1:PORT`, from the log line that announces it.
    fn base(&mut self, deadline: Instant) -> Result<String, String> {
        if let Some(base) = &self.base {
            return Ok(base.clone());
        }
        let marker = "listening on http://";
        let line = self
            .log
            .wait_for(marker, deadline)
            .ok_or_else(|| self.fail("the service did not say where it listens"))?;
        let rest = &line[line.find(marker).unwrap() + marker.len()..];
        let host = rest.split('/').next().unwrap_or_default();
        let base = format!("http://{host}");
        self.base = Some(base.clone());
        Ok(base)
    }

    /// Polls `/readyz` every 20 ms until it answers 200.
    fn wait_ready(&mut self, http: &Http, deadline: Instant) -> Result<String, String> {
        let base = self.base(deadline)?;
        loop {
            if let Ok((200, _)) = http.get(&format!("{base}/readyz"), None) {
                return Ok(base);
            }
            if Instant::now() >= deadline {
                return Err(self.fail("the service did not become ready in time"));
            }
            if self.exited() {
                return Err(self.fail("the service exited before it was ready"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `index` of `/api/status`.
    fn status(&mut self, http: &Http) -> Result<serde_json::Value, String> {
        let base = self.base(Instant::now() + STEP_TIMEOUT)?;
        let (code, body) = http.get(&format!("{base}/api/status"), Some(AGENT_KEY))?;
        if code != 200 {
            return Err(self.fail(format!("/api/status answered {code}: {body}")));
        }
        let value: serde_json::Value = serde_json::from_str(&body)
            .map_err(|err| self.fail(format!("/api/status is not JSON ({err}): {body}")))?;
        Ok(value["index"].clone())
    }

    fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_none_or(|child| child.try_wait().ok().flatten().is_some())
    }

    /// SIGKILL, then waits for the process and for its log to end.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }

    /// SIGTERM, then waits (bounded) for a graceful exit.
    fn terminate(&mut self, timeout: Duration) -> Result<ExitStatus, String> {
        let pid = self.child.as_ref().expect("running").id();
        let sent = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .map_err(|err| format!("running kill -TERM: {err}"))?;
        if !sent.success() {
            return Err(self.fail(format!("kill -TERM {pid} failed: {sent}")));
        }
        let deadline = Instant::now() + timeout;
        loop {
            let child = self.child.as_mut().expect("running");
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                self.child = None;
                if let Some(reader) = self.reader.take() {
                    let _ = reader.join();
                }
                return Ok(status);
            }
            if Instant::now() >= deadline {
                return Err(self.fail(format!("the service did not stop within {timeout:?}")));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Where the process was in its work, judged from everything it logged before it died.
    fn phase(&self) -> &'static str {
        let has = |pattern: &str| self.log.contains(pattern);
        if has("index ready") {
            "after ready"
        } else if has("content folder compared") {
            "committing"
        } else if has("comparing the content folder") {
            "reconciling"
        } else if has("listening on") {
            "opening the index"
        } else {
            "process start"
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP from a synchronous test.

struct Http {
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl Http {
    fn new() -> Http {
        Http {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("HTTP client"),
        }
    }

    fn get(&self, url: &str, key: Option<&str>) -> Result<(u16, String), String> {
        self.runtime.block_on(async {
            let mut request = self.client.get(url);
            if let Some(key) = key {
                request = request.bearer_auth(key);
            }
            let response = request
                .send()
                .await
                .map_err(|e| format!("GET {url}: {e}"))?;
            let status = response.status().as_u16();
            let body = response
                .text()
                .await
                .map_err(|e| format!("GET {url}: {e}"))?;
            Ok((status, body))
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The content folder, the index folder, and changes to the articles.

struct Setup {
    tmp: tempfile::TempDir,
    kb: PathBuf,
    index: PathBuf,
    data: PathBuf,
    config: PathBuf,
    rng: fastrand::Rng,
    /// Source of unique file names and words.
    next: u64,
}

/// What one change set did.
#[derive(Default)]
struct Changed {
    modified: usize,
    added: usize,
    deleted: usize,
    renamed_folder: Option<String>,
}

impl std::fmt::Display for Changed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} modified, {} added, {} deleted",
            self.modified, self.added, self.deleted
        )?;
        if let Some(folder) = &self.renamed_folder {
            write!(f, ", folder {folder} renamed")?;
        }
        Ok(())
    }
}

impl Setup {
    fn new(seed: u64) -> Setup {
        let tmp = tempfile::tempdir().expect("temp dir");
        let kb = tmp.path().join("kb");
        let index = tmp.path().join("index");
        let data = tmp.path().join("data");
        let config = tmp.path().join("kbsearch.toml");
        std::fs::create_dir_all(&kb).expect("create kb");
        std::fs::write(
            &config,
            format!(
                "[watch]\ndebounce_ms = {DEBOUNCE_MS}\n\n[[keys]]\nkey = \"{AGENT_KEY}\"\nrole = \"agent\"\n"
            ),
        )
        .expect("write config");
        let mut setup = Setup {
            tmp,
            kb,
            index,
            data,
            config,
            rng: fastrand::Rng::with_seed(seed),
            next: 0,
        };
        for _ in 0..FILES {
            setup.add();
        }
        setup
    }

    fn root(&self) -> &Path {
        self.tmp.path()
    }

    fn unique(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// A valid article whose body carries one word no other file has.
    fn text(&mut self) -> (String, String) {
        let n = self.unique();
        let word = format!("UQ-{n}");
        let mut body = String::new();
        for _ in 0..self.rng.usize(15..80) {
            body.push_str(FILLER[self.rng.usize(..FILLER.len())]);
            body.push(' ');
        }
        let text = format!(
            "---\ntitle: \"Crash article {n}\"\n---\n# Crash article {n}\n\nThis article mentions {word} once. {body}\n\n## Steps\n\n{body}\n"
        );
        (text, word)
    }

    fn write(&mut self, rel: &str, atomic: bool) {
        let (text, _) = self.text();
        let path = self.kb.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).expect("create folder");
        if atomic {
            // An editor's save: a hidden temp file renamed over the article.
            let tmp = path.with_file_name(format!(".save-{}.tmp", self.unique()));
            std::fs::write(&tmp, text).expect("write temp file");
            std::fs::rename(&tmp, &path).expect("rename over the article");
        } else {
            std::fs::write(&path, text).expect("write article");
        }
    }

    fn add(&mut self) {
        let folder = FOLDERS[self.rng.usize(..FOLDERS.len())];
        let rel = format!("{folder}/crash-{}.md", self.unique());
        let atomic = self.rng.bool();
        self.write(&rel, atomic);
    }

    fn files(&self) -> Vec<String> {
        scan::walk(&self.kb)
            .0
            .into_iter()
            .map(|entry| entry.rel_path)
            .collect()
    }

    /// Modifies, adds and deletes files (and renames a folder when asked), in random order.
    fn change(&mut self, modify: usize, add: usize, delete: usize, rename: bool) -> Changed {
        let mut files = self.files();
        self.rng.shuffle(&mut files);
        let delete = delete.min(files.len() / 4);
        let modify = modify.min(files.len() - delete);
        let mut ops: Vec<u8> = std::iter::repeat_n(0, modify)
            .chain(std::iter::repeat_n(1, add))
            .chain(std::iter::repeat_n(2, delete))
            .collect();
        self.rng.shuffle(&mut ops);
        let (mut to_modify, mut to_delete) = (files[..modify].to_vec(), files[modify..].to_vec());
        let mut changed = Changed::default();
        for op in ops {
            match op {
                0 => {
                    let rel = to_modify.pop().unwrap();
                    let atomic = self.rng.bool();
                    self.write(&rel, atomic);
                    changed.modified += 1;
                }
                1 => {
                    self.add();
                    changed.added += 1;
                }
                _ => {
                    let rel = to_delete.pop().unwrap();
                    std::fs::remove_file(self.kb.join(&rel)).expect("delete article");
                    changed.deleted += 1;
                }
            }
        }
        if rename {
            // A whole folder moves: every article in it gets a new path.
            let from = FOLDERS[self.rng.usize(..FOLDERS.len())];
            if self.kb.join(from).is_dir() {
                let to = format!("{from}-moved-{}", self.unique());
                std::fs::rename(self.kb.join(from), self.kb.join(&to)).expect("rename folder");
                changed.renamed_folder = Some(format!("{from} -> {to}"));
            }
        }
        changed
    }

    /// The changes made while the service is down.
    fn change_while_down(&mut self) -> Changed {
        let (modify, add, delete) = (
            self.rng.usize(50..=250),
            self.rng.usize(20..=100),
            self.rng.usize(20..=100),
        );
        self.change(modify, add, delete, false)
    }

    /// A large change while the service runs: a few hundred files, sometimes a folder moved.
    fn change_live(&mut self) -> Changed {
        let (modify, add, delete) = (
            self.rng.usize(150..=300),
            self.rng.usize(50..=150),
            self.rng.usize(50..=150),
        );
        let rename = self.rng.bool();
        self.change(modify, add, delete, rename)
    }

    /// The unique word of a file as it is now.
    fn word_of(&self, rel: &str) -> String {
        let text = std::fs::read_to_string(self.kb.join(rel)).expect("read article");
        text.split_whitespace()
            .find(|w| w.starts_with("UQ-"))
            .expect("a unique word")
            .to_string()
    }

    fn kill_delay(&mut self, expected: Duration) -> Duration {
        expected.mul_f64(SPREAD * self.rng.f64())
    }
}

// ---------------------------------------------------------------------------------------------
// Comparing the index with the folder, from this process.

/// What the index on disk holds, compared with the folder.
struct IndexState {
    documents: usize,
    /// The index holds exactly the folder's articles at their current fingerprints.
    matches_folder: bool,
    /// How many files it misses, has in excess, or holds at an old fingerprint.
    counts: String,
    /// The counts, with examples.
    differences: String,
}

/// Opens the current generation and checks what must hold after any crash: no path and no id
/// twice. `Ok(None)` when there is no usable index (no build has completed yet).
fn inspect_index(kb: &Path, index: &Path) -> Result<Option<IndexState>, String> {
    let open = match IndexDir::new(index).open_current() {
        Ok(open) => open,
        Err(_) => return Ok(None),
    };
    let reader: tantivy::IndexReader = open
        .index
        .reader_builder()
        .reload_policy(tantivy::ReloadPolicy::Manual)
        .try_into()
        .map_err(|e: tantivy::TantivyError| format!("opening a reader: {e}"))?;
    let searcher = reader.searcher();
    let documents = indexer::indexed_documents(&searcher)
        .map_err(|e| format!("listing the indexed documents: {e}"))?;
    if searcher.num_docs() as usize != documents.len() {
        return Err(format!(
            "the index counts {} live documents but lists {}",
            searcher.num_docs(),
            documents.len()
        ));
    }
    let mut by_path: HashMap<&str, usize> = HashMap::new();
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    for (path, indexed) in &documents {
        *by_path.entry(path).or_default() += 1;
        *by_id.entry(&indexed.id).or_default() += 1;
    }
    let twice = |counts: &HashMap<&str, usize>| {
        let mut dups: Vec<String> = counts
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(k, n)| format!("{k} ×{n}"))
            .collect();
        dups.sort();
        dups
    };
    let (dup_paths, dup_ids) = (twice(&by_path), twice(&by_id));
    if !dup_paths.is_empty() || !dup_ids.is_empty() {
        return Err(format!(
            "duplicates in the index: {} paths {:?}, {} ids {:?}",
            dup_paths.len(),
            &dup_paths[..dup_paths.len().min(10)],
            dup_ids.len(),
            &dup_ids[..dup_ids.len().min(10)],
        ));
    }

    let indexed: BTreeMap<&str, u64> = documents
        .iter()
        .map(|(path, doc)| (path.as_str(), doc.fingerprint))
        .collect();
    let (entries, problems) = scan::walk(kb);
    assert!(problems.is_empty(), "walking the folder: {problems:?}");
    let mut missing = Vec::new();
    let mut stale = Vec::new();
    let mut on_disk = HashSet::new();
    for entry in &entries {
        on_disk.insert(entry.rel_path.as_str());
        let bytes = std::fs::read(&entry.abs_path).expect("read article");
        let expected = indexer::file_fingerprint(kb, &bytes);
        match indexed.get(entry.rel_path.as_str()) {
            None => missing.push(entry.rel_path.clone()),
            Some(&fingerprint) if fingerprint != expected => stale.push(entry.rel_path.clone()),
            Some(_) => {}
        }
    }
    let extra: Vec<&str> = indexed
        .keys()
        .copied()
        .filter(|path| !on_disk.contains(path))
        .collect();
    let matches_folder = missing.is_empty() && stale.is_empty() && extra.is_empty();
    let counts = format!(
        "{} files on disk, {} documents: {} missing, {} not on disk, {} stale",
        entries.len(),
        documents.len(),
        missing.len(),
        extra.len(),
        stale.len(),
    );
    let differences = format!(
        "{counts}; missing from the index {:?}, indexed but not on disk {:?}, at an old fingerprint {:?}",
        &missing[..missing.len().min(5)],
        &extra[..extra.len().min(5)],
        &stale[..stale.len().min(5)],
    );
    Ok(Some(IndexState {
        documents: documents.len(),
        matches_folder,
        counts,
        differences,
    }))
}

/// The generation folders (`gen-*`) in the index folder, and the one `CURRENT` names.
fn generations(index: &Path) -> (Vec<String>, Option<String>) {
    let mut names: Vec<String> = std::fs::read_dir(index)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with("gen-"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let current = std::fs::read_to_string(index.join("CURRENT"))
        .ok()
        .map(|s| s.trim().to_string());
    (names, current)
}

// ---------------------------------------------------------------------------------------------
// How long the work takes on this machine.

struct Timings {
    /// Open, reconcile and commit of a build from nothing.
    full: Duration,
    /// The commit of that build.
    full_commit: Duration,
    /// Open, reconcile and commit after a typical change made while the service is down.
    incremental: Duration,
    incremental_commit: Duration,
}

impl Timings {
    /// Builds a scratch index of the folder in this process (the same library and profile as the
    /// binary), then refreshes it after a change set; three times, keeping the medians, so one
    /// slow moment of a busy machine does not set the kill times.
    fn measure(setup: &mut Setup) -> Timings {
        const SAMPLES: usize = 3;
        let scratch = setup.root().join("calibration-index");
        let options = IndexOptions::new(&setup.kb, &scratch);
        let run = |options: &IndexOptions| {
            let started = Instant::now();
            let mut indexer = Indexer::open(options.clone()).expect("open scratch index");
            indexer.reconcile(&Silent).expect("reconcile scratch index");
            let committing = Instant::now();
            indexer.commit().expect("commit scratch index");
            let done = Instant::now();
            indexer.close().expect("close scratch index");
            [done - started, done - committing]
        };
        let mut samples = Vec::new();
        let mut changes = Vec::new();
        for _ in 0..SAMPLES {
            if scratch.exists() {
                std::fs::remove_dir_all(&scratch).expect("remove scratch index");
            }
            let full = run(&options);
            changes.push(setup.change_while_down().to_string());
            let incremental = run(&options);
            samples.push([full[0], full[1], incremental[0], incremental[1]]);
        }
        std::fs::remove_dir_all(&scratch).expect("remove scratch index");
        let median = |i: usize| {
            let mut values: Vec<Duration> = samples.iter().map(|s| s[i]).collect();
            values.sort();
            values[SAMPLES / 2]
        };
        let timings = Timings {
            full: median(0),
            full_commit: median(1),
            incremental: median(2),
            incremental_commit: median(3),
        };
        eprintln!(
            "calibration (median of {SAMPLES}): full build of {FILES} files {:.2?} (commit {:.2?}); refresh after a change while down ({}) {:.2?} (commit {:.2?})",
            timings.full,
            timings.full_commit,
            changes.join(" / "),
            timings.incremental,
            timings.incremental_commit
        );
        timings
    }
}

// ---------------------------------------------------------------------------------------------
// The rounds.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Killed at a random moment after the start.
    Startup,
    /// Killed at a random moment after the start-up reconcile, while its commit is written.
    Commit,
    /// Ready, then a large change; killed while the resulting batches are applied.
    Batch,
    /// `meta.json` of the current generation is garbage: killed during the rebuild.
    CorruptMeta,
    /// `CURRENT` is garbage: killed during the rebuild.
    CorruptCurrent,
    /// The index folder holds another program's files: killed during the build beside them.
    Foreign,
}

struct Crash {
    setup: Setup,
    timings: Timings,
    http: Http,
    /// One line per round, quoted in failures.
    history: Vec<String>,
}

impl Crash {
    fn fail(&self, message: impl std::fmt::Display) -> ! {
        panic!(
            "{message}\n--- rounds so far ---\n{}",
            self.history.join("\n")
        );
    }

    fn usable(&self) -> bool {
        IndexDir::new(&self.setup.index).open_current().is_ok()
    }

    /// Runs one round; returns what happened and whether the kill cut work short: it came before
    /// the service was ready, or before the index on disk caught up with the folder.
    fn round(&mut self, number: usize, kind: Kind) -> Result<(String, bool), String> {
        let usable = self.usable();
        let (expected, expected_commit) = if usable {
            (self.timings.incremental, self.timings.incremental_commit)
        } else {
            (self.timings.full, self.timings.full_commit)
        };
        let mut note = String::new();
        if matches!(
            kind,
            Kind::CorruptMeta | Kind::CorruptCurrent | Kind::Foreign
        ) {
            note = self.corrupt(kind)?;
        }
        let mut server = Server::start(&self.setup);
        let deadline = Instant::now() + STEP_TIMEOUT;
        let (delay, after) = match kind {
            Kind::Startup => {
                let delay = self.setup.kill_delay(expected + PROCESS_START);
                std::thread::sleep(delay.saturating_sub(server.spawned.elapsed()));
                (delay, "the start".to_string())
            }
            Kind::Commit => {
                server
                    .log
                    .wait_for("content folder compared", deadline)
                    .ok_or_else(|| server.fail("no `content folder compared` line"))?;
                let delay = self.setup.kill_delay(expected_commit);
                std::thread::sleep(delay);
                (delay, "`content folder compared`".to_string())
            }
            Kind::Batch => {
                server.wait_ready(&self.http, deadline)?;
                let before = server.status(&self.http)?["generation"].clone();
                let changed = self.setup.change_live();
                // The batch is under way once the watcher has handed it over (pending), or done
                // already when the generation moved on.
                loop {
                    let status = server.status(&self.http)?;
                    if status["pending_changes"].as_u64().unwrap_or(0) > 0
                        || status["generation"] != before
                    {
                        break;
                    }
                    if Instant::now() >= deadline {
                        return Err(server.fail(format!(
                            "the change ({changed}) never reached the indexer: {status}"
                        )));
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                let delay = self.setup.kill_delay(self.timings.incremental);
                std::thread::sleep(delay);
                note = format!("live change: {changed}; ");
                (delay, "the batch was pending".to_string())
            }
            Kind::CorruptMeta | Kind::CorruptCurrent | Kind::Foreign => {
                let pattern = match kind {
                    Kind::CorruptMeta => "moved it aside and rebuilding from the content folder",
                    Kind::CorruptCurrent => "rebuilding from the content folder",
                    _ => "holds files kbsearch did not write; they are left alone",
                };
                server.log.wait_for(pattern, deadline).ok_or_else(|| {
                    server.fail(format!("no log line saying `{pattern}` for the bad index"))
                })?;
                let delay = self.setup.kill_delay(self.timings.full);
                std::thread::sleep(delay);
                (delay, format!("`{pattern}`"))
            }
        };
        server.kill();
        let phase = server.phase();
        let state = inspect_index(&self.setup.kb, &self.setup.index)
            .map_err(|err| server.fail(format!("after the kill: {err}")))?;
        // What was moved aside is kept for inspection, never deleted.
        let kept_aside = |folder: &Path, prefix: &str| {
            std::fs::read_dir(folder).is_ok_and(|entries| {
                entries
                    .flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with(prefix))
            })
        };
        if kind == Kind::CorruptMeta && !kept_aside(&self.setup.index, "aside-corrupt-") {
            return Err(server.fail("the corrupt generation was not kept aside"));
        }
        // Another program's files are never moved, nor the index folder itself.
        if kind == Kind::Foreign
            && std::fs::read_to_string(self.setup.index.join("segments/_0.cfs"))
                .ok()
                .as_deref()
                != Some("not a kbsearch index")
        {
            return Err(server.fail("another program's files in the index folder were moved"));
        }
        let (matches_folder, index) = match &state {
            None => (false, "no usable index".to_string()),
            Some(state) if state.matches_folder => {
                (true, format!("index = folder ({} docs)", state.documents))
            }
            Some(state) => (false, format!("index behind: {}", state.counts)),
        };
        // Killed before the start-up work was published, or before a live batch was committed.
        let interrupted = phase != "after ready" || !matches_folder;
        let summary = format!(
            "round {number:>2} {kind:?} (index usable before: {usable}): {note}killed {:.0} ms after {after}, phase: {phase}; {index}",
            delay.as_secs_f64() * 1000.0
        );
        Ok((summary, interrupted))
    }

    /// Spoils the index folder so the next start must build a new index: garbage in `CURRENT` or in
    /// the current generation's `meta.json`, or another program's files instead of the folder.
    /// `meta.json` needs a current generation: when no build has completed yet, one is completed
    /// first.
    fn corrupt(&mut self, kind: Kind) -> Result<String, String> {
        let index = self.setup.index.clone();
        if kind == Kind::CorruptCurrent {
            std::fs::create_dir_all(&index).map_err(|e| e.to_string())?;
            std::fs::write(
                index.join("CURRENT"),
                "\u{0}\u{1}garbage, not a generation\n",
            )
            .map_err(|e| e.to_string())?;
            return Ok("CURRENT overwritten with garbage; ".to_string());
        }
        if kind == Kind::Foreign {
            // Another program's index where ours should be: no CURRENT, files kbsearch never
            // writes.
            if index.exists() {
                std::fs::remove_dir_all(&index).map_err(|e| e.to_string())?;
            }
            std::fs::create_dir_all(index.join("segments")).map_err(|e| e.to_string())?;
            std::fs::write(index.join("segments/_0.cfs"), "not a kbsearch index")
                .map_err(|e| e.to_string())?;
            std::fs::write(index.join("write.lock"), "").map_err(|e| e.to_string())?;
            return Ok("index folder replaced by another program's files; ".to_string());
        }
        let mut note = String::new();
        if !self.usable() {
            let mut server = Server::start(&self.setup);
            server.wait_ready(&self.http, Instant::now() + STEP_TIMEOUT)?;
            server.kill();
            note.push_str("built first, ");
        }
        let (_, current) = generations(&index);
        let current = current.ok_or("no CURRENT after a completed build")?;
        std::fs::write(
            index.join(&current).join("meta.json"),
            "{ this is not a tantivy meta.json",
        )
        .map_err(|e| e.to_string())?;
        note.push_str(&format!("{current}/meta.json overwritten with garbage; "));
        Ok(note)
    }

    /// Starts the service once more, waits until it is ready with nothing pending, and checks
    /// that the index is exactly the folder.
    fn finish(&mut self) -> Result<String, String> {
        let started = Instant::now();
        let deadline = started + FINAL_TIMEOUT;
        let mut server = Server::start(&self.setup);
        let base = server.wait_ready(&self.http, deadline)?;
        let status = loop {
            let status = server.status(&self.http)?;
            if status["ready"] == true && status["pending_changes"] == 0 {
                break status;
            }
            if Instant::now() >= deadline {
                return Err(server.fail(format!("still not settled: {status}")));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let ready_after = started.elapsed();
        if !status["last_error"].is_null() {
            return Err(server.fail(format!("the indexer reports an error: {status}")));
        }
        let files = self.setup.files();
        let check = |when: &str| -> Result<usize, String> {
            let state = inspect_index(&self.setup.kb, &self.setup.index)
                .map_err(|err| format!("{when}: {err}"))?
                .ok_or_else(|| format!("{when}: no usable index"))?;
            if !state.matches_folder {
                return Err(format!(
                    "{when}: the index is not the folder: {}",
                    state.differences
                ));
            }
            Ok(state.documents)
        };
        let documents = check("after the final start").map_err(|e| server.fail(e))?;
        if status["documents"].as_u64() != Some(files.len() as u64) {
            return Err(server.fail(format!(
                "/api/status counts {} documents, the folder has {} articles",
                status["documents"],
                files.len()
            )));
        }
        // The service answers from what it indexed: a few articles found by their unique word.
        for _ in 0..5 {
            let rel = &files[self.setup.rng.usize(..files.len())];
            let word = self.setup.word_of(rel);
            let (code, body) = self.http.get(
                &format!("{base}/api/search?q={word}&per_page=5"),
                Some(AGENT_KEY),
            )?;
            let results: serde_json::Value =
                serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
            let expected = rel.trim_end_matches(".md");
            if code != 200 || results["hits"][0]["id"] != expected {
                return Err(server.fail(format!(
                    "searching {word} should find {expected} first: {code} {body}"
                )));
            }
        }
        let exit = server.terminate(STEP_TIMEOUT)?;
        if !exit.success() {
            return Err(server.fail(format!("the service exited with {exit} after SIGTERM")));
        }
        check("after a graceful stop").map_err(|e| server.fail(e))?;
        let (generations, current) = generations(&self.setup.index);
        if generations.len() != 1 || current.as_ref() != generations.first() {
            return Err(server.fail(format!(
                "the index folder should hold only the current generation {current:?}: {generations:?}"
            )));
        }
        Ok(format!(
            "final start ready and settled in {ready_after:.2?}: {documents} documents = {} files, fingerprints match",
            files.len()
        ))
    }
}

#[test]
fn sigkill_at_random_moments_never_loses_or_duplicates_articles() {
    let started = Instant::now();
    let seed = match std::env::var("KBSEARCH_CRASH_SEED") {
        Ok(seed) => seed
            .trim()
            .parse()
            .expect("KBSEARCH_CRASH_SEED is an unsigned number"),
        Err(_) => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_nanos() as u64,
    };
    eprintln!("crash test seed: {seed} (KBSEARCH_CRASH_SEED={seed} replays the random choices)");
    let mut setup = Setup::new(seed);
    let timings = Timings::measure(&mut setup);

    // The first rounds start without an index and are killed during the first build (unless a
    // kill comes late enough to let it finish); then every kind in random order.
    let mut plan = vec![Kind::Startup; 4];
    let mut rest = vec![
        Kind::Startup,
        Kind::Startup,
        Kind::Startup,
        Kind::Startup,
        Kind::Commit,
        Kind::Commit,
        Kind::Commit,
        Kind::Commit,
        Kind::Batch,
        Kind::Batch,
        Kind::Batch,
        Kind::Batch,
        Kind::Batch,
        Kind::CorruptMeta,
        Kind::CorruptCurrent,
        Kind::Foreign,
    ];
    setup.rng.shuffle(&mut rest);
    plan.extend(rest);
    plan.resize(ROUNDS, Kind::Startup);

    let mut crash = Crash {
        setup,
        timings,
        http: Http::new(),
        history: Vec::new(),
    };
    let mut interrupted = 0;
    for (number, kind) in plan.into_iter().enumerate() {
        match crash.round(number + 1, kind) {
            Ok((summary, cut_short)) => {
                eprintln!("{summary}");
                crash.history.push(summary);
                interrupted += usize::from(cut_short);
            }
            Err(err) => crash.fail(format!("round {} ({kind:?}): {err}", number + 1)),
        }
        let changed = crash.setup.change_while_down();
        let line = format!("   while down: {changed}");
        eprintln!("{line}");
        crash.history.push(line);
    }
    match crash.finish() {
        Ok(summary) => eprintln!("{summary}"),
        Err(err) => crash.fail(err),
    }
    eprintln!(
        "{ROUNDS} kills, {interrupted} of them cut work short; {:.1?} in all",
        started.elapsed()
    );
    // The test only means something if the kills land during work, not after it.
    if interrupted < ROUNDS / 4 {
        crash.fail(format!(
            "only {interrupted} of {ROUNDS} kills interrupted indexing: the kill times miss the work"
        ));
    }
}
