//! Computing article vectors: what a snapshot still lacks, embedded in batches, published after
//! each batch. Two drivers share it:
//!
//! - [`Embedder`], the background thread of `serve` and `preview`: it takes each snapshot the
//!   indexer publishes, embeds what is missing on one thread at the lowest priority (searches
//!   need the cores more than vectors do), and never holds anything up: the lexical index is
//!   searchable before the first vector exists, and stays so if the model fails.
//! - [`catch_up`], for `kbsearch index`, evaluations and the command line: the same work on the
//!   calling thread with every core, reporting to a [`Progress`].
//!
//! An article's text for the model is its title and body ([`embedding_text`]); the model reads
//! the first `max_seq_length` tokens of it. Its key is the hash of that text, so an unchanged
//! article keeps its vector across commits, restarts and rebuilds.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tantivy::index::SegmentId;
use tantivy::schema::Value;
use tantivy::{DocId, Searcher, TantivyDocument};
use tracing::{debug, error, info, warn};

use crate::index::schema::KbSchema;
use crate::ingest::progress::Progress;
use crate::semantic::Semantic;
use crate::semantic::model::{MAX_TEXT_BYTES, ModelError, cut_text};
use crate::semantic::store::{TextKey, text_key};
use crate::semantic::vectors::{DocVectors, SegmentVectors};

/// Articles embedded between two publications of the vectors (and two looks at the queue):
/// two of the encoder's batches, so `kbsearch index` keeps both cores busy.
const BATCH: usize = 32;
/// Weight of the newest batch in the embedding rate's moving average.
const RATE_SMOOTHING: f64 = 0.2;

/// The text of an article the model reads: its title, then its body, cut to what a model could
/// read.
pub fn embedding_text(title: &str, body: &str) -> String {
    let text = format!("{title}\n{body}");
    cut_text(&text, MAX_TEXT_BYTES).to_string()
}

/// An article that has no vector yet.
struct Missing {
    segment: SegmentId,
    doc: DocId,
    key: TextKey,
    text: String,
}

/// The vectors of the segments of recent snapshots, and what they still lack.
struct Work {
    semantic: Arc<Semantic>,
    table: HashMap<SegmentId, Arc<SegmentVectors>>,
    /// Keys of every live document of the current snapshot, for compaction.
    live_keys: HashMap<SegmentId, Vec<TextKey>>,
    missing: VecDeque<Missing>,
    /// Segments of the current snapshot; the previous snapshot's are kept too, for searches
    /// still running on it.
    current: Vec<SegmentId>,
    previous: Vec<SegmentId>,
    documents: u64,
    compacted: bool,
}

impl Work {
    fn new(semantic: Arc<Semantic>) -> Work {
        Work {
            semantic,
            table: HashMap::new(),
            live_keys: HashMap::new(),
            missing: VecDeque::new(),
            current: Vec::new(),
            previous: Vec::new(),
            documents: 0,
            compacted: false,
        }
    }

    /// Takes a new snapshot: reads the texts of segments not seen before, fills what the cache
    /// already holds, queues the rest, and forgets segments no snapshot uses any more.
    fn map(&mut self, searcher: &Searcher) -> tantivy::Result<()> {
        let schema = KbSchema::new();
        let segments: Vec<SegmentId> = searcher
            .segment_readers()
            .iter()
            .map(|reader| reader.segment_id())
            .collect();
        self.previous = std::mem::replace(&mut self.current, segments.clone());
        let keep: HashSet<SegmentId> = self.current.iter().chain(&self.previous).copied().collect();
        self.table.retain(|id, _| keep.contains(id));
        self.live_keys.retain(|id, _| self.current.contains(id));
        self.missing.retain(|m| segments.contains(&m.segment));
        self.documents = searcher.num_docs();
        let mut added = 0;
        for reader in searcher.segment_readers() {
            let segment = reader.segment_id();
            if self.table.contains_key(&segment) {
                continue;
            }
            let store = reader.get_store_reader(0)?;
            let alive = reader.alive_bitset();
            let mut vectors = SegmentVectors {
                vectors: vec![None; reader.max_doc() as usize],
            };
            let mut keys = Vec::new();
            let cache = self.semantic.store.lock().expect("vector store lock");
            for doc in 0..reader.max_doc() {
                if alive.is_some_and(|alive| !alive.is_alive(doc)) {
                    continue;
                }
                let stored: TantivyDocument = store.get(doc)?;
                let text_of = |field| {
                    stored
                        .get_first(field)
                        .and_then(|v| v.as_str())
                        .unwrap_or_default()
                        .to_string()
                };
                let text = embedding_text(&text_of(schema.title), &text_of(schema.body));
                let key = text_key(&text);
                keys.push(key);
                match cache.get(&key) {
                    Some(vector) => vectors.vectors[doc as usize] = Some(vector),
                    None => {
                        added += 1;
                        self.missing.push_back(Missing {
                            segment,
                            doc,
                            key,
                            text,
                        });
                    }
                }
            }
            drop(cache);
            self.table.insert(segment, Arc::new(vectors));
            self.live_keys.insert(segment, keys);
        }
        if added > 0 {
            self.compacted = false;
            debug!(added, pending = self.missing.len(), "articles to embed");
        }
        self.publish();
        Ok(())
    }

    /// The next batch of missing articles, filling those whose text another document already
    /// had embedded.
    fn next_batch(&mut self) -> Vec<Missing> {
        let mut batch = Vec::with_capacity(BATCH);
        let mut keys = HashSet::new();
        // The same text twice in one batch: the second waits for the first one's vector.
        let mut again = Vec::new();
        while batch.len() < BATCH {
            let Some(missing) = self.missing.pop_front() else {
                break;
            };
            let cached = self
                .semantic
                .store
                .lock()
                .expect("vector store lock")
                .get(&missing.key);
            match cached {
                Some(vector) => self.fill(&missing, vector),
                None if keys.insert(missing.key) => batch.push(missing),
                None => again.push(missing),
            }
        }
        for missing in again.into_iter().rev() {
            self.missing.push_front(missing);
        }
        batch
    }

    fn fill(&mut self, missing: &Missing, vector: Arc<[f32]>) {
        if let Some(segment) = self.table.get_mut(&missing.segment) {
            Arc::make_mut(segment).vectors[missing.doc as usize] = Some(vector);
        }
    }

    /// Embeds one batch; `encode` runs the model (on whichever threads the caller chose).
    fn embed(
        &mut self,
        batch: Vec<Missing>,
        encode: impl FnOnce(&[&str]) -> Result<Vec<Vec<f32>>, ModelError>,
    ) -> Result<usize, ModelError> {
        let texts: Vec<&str> = batch.iter().map(|m| m.text.as_str()).collect();
        let vectors = encode(&texts)?;
        let mut entries = Vec::with_capacity(batch.len());
        for (missing, vector) in batch.iter().zip(vectors) {
            let vector: Arc<[f32]> = vector.into();
            entries.push((missing.key, vector.clone()));
            self.fill(missing, vector);
        }
        self.semantic
            .store
            .lock()
            .expect("vector store lock")
            .insert(entries);
        Ok(batch.len())
    }

    /// Publishes the vectors for searches, and the counts for the status.
    fn publish(&mut self) {
        let vectors = DocVectors {
            segments: self.table.clone(),
        };
        self.semantic.publish(vectors);
        let pending = self.missing.len() as u64;
        self.semantic.update_status(|status| {
            status.documents = self.documents;
            status.pending = pending;
            status.embedded = self.documents.saturating_sub(pending);
        });
    }

    /// Drops cached vectors no current article uses, once everything is embedded.
    fn compact(&mut self) {
        if self.compacted || !self.missing.is_empty() {
            return;
        }
        let live: HashSet<TextKey> = self.live_keys.values().flatten().copied().collect();
        self.semantic
            .store
            .lock()
            .expect("vector store lock")
            .compact(&live);
        self.compacted = true;
    }
}

/// What [`catch_up`] did.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct CatchUp {
    /// Articles embedded now.
    pub embedded: usize,
    /// Articles whose vector was already cached.
    pub reused: usize,
    pub seconds: f64,
}

/// Embeds every article of `searcher` that has no vector yet, on the calling thread (the model
/// uses every core), reporting to `progress`; publishes the vectors. `compact` drops cached
/// vectors of articles that no longer exist (not for a cache shared between collections).
pub fn catch_up(
    semantic: &Arc<Semantic>,
    searcher: &Searcher,
    progress: &dyn Progress,
    compact: bool,
) -> Result<CatchUp, ModelError> {
    let started = Instant::now();
    let mut work = Work::new(semantic.clone());
    work.map(searcher)
        .map_err(|err| ModelError::Run(format!("reading articles: {err}")))?;
    let total = work.missing.len();
    let reused = searcher.num_docs() as usize - total.min(searcher.num_docs() as usize);
    progress.stage("embedding", total as u64);
    let mut embedded = 0;
    loop {
        let before = work.missing.len();
        let batch = work.next_batch();
        if batch.is_empty() {
            progress.advance((before - work.missing.len()) as u64);
            break;
        }
        let count = work.embed(batch, |texts| semantic.encoder().encode(texts))?;
        embedded += count;
        progress.advance((before - work.missing.len()) as u64);
        work.publish();
    }
    progress.finish();
    work.publish();
    if compact {
        work.compact();
    }
    let seconds = started.elapsed().as_secs_f64();
    semantic.update_status(|status| {
        status.embedded_since_start += embedded as u64;
        if embedded > 0 && seconds > 0.0 {
            status.per_second = embedded as f64 / seconds;
        }
    });
    Ok(CatchUp {
        embedded,
        reused,
        seconds,
    })
}

enum Message {
    Snapshot(Searcher),
    Stop,
}

/// The background embedder of a running service.
pub struct Embedder {
    tx: Sender<Message>,
    thread: Option<JoinHandle<()>>,
}

/// A cheap handle that hands snapshots to the embedder.
#[derive(Clone)]
pub struct EmbedderHandle {
    tx: Sender<Message>,
}

impl EmbedderHandle {
    /// Hands over a new snapshot; the embedder works on the newest it has.
    pub fn offer(&self, searcher: Searcher) {
        let _ = self.tx.send(Message::Snapshot(searcher));
    }
}

impl Embedder {
    /// Starts the embedder thread.
    pub fn start(semantic: Arc<Semantic>) -> std::io::Result<Embedder> {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("kbsearch-embedder".to_string())
            .spawn(move || run(semantic, rx))?;
        Ok(Embedder {
            tx,
            thread: Some(thread),
        })
    }

    pub fn handle(&self) -> EmbedderHandle {
        EmbedderHandle {
            tx: self.tx.clone(),
        }
    }

    /// Stops after the batch in hand (vectors computed so far are kept in the cache).
    pub fn shutdown(mut self) {
        let _ = self.tx.send(Message::Stop);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            error!("the embedder thread panicked");
        }
    }
}

impl Drop for Embedder {
    fn drop(&mut self) {
        let _ = self.tx.send(Message::Stop);
    }
}

/// Lowers the calling thread's scheduling priority to the lowest (nice 19): embedding runs only
/// on what searches leave of the cores. Linux only; elsewhere the thread keeps its priority.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain system calls on the calling thread's own id; on Linux `setpriority` with
        // a thread id changes that thread alone.
        let changed = unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::setpriority(libc::PRIO_PROCESS, tid, 19)
        };
        if changed != 0 {
            warn!(
                "cannot lower the embedder's priority: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

fn run(semantic: Arc<Semantic>, rx: Receiver<Message>) {
    lower_priority();
    // One thread for the model's matrix products too: they run in the pool they are called
    // from, and this pool has only this thread's sibling, at the same low priority.
    let pool = match rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .thread_name(|_| "kbsearch-embed".to_string())
        .start_handler(|_| lower_priority())
        .build()
    {
        Ok(pool) => pool,
        Err(err) => {
            error!("cannot start the embedding thread: {err}; searches stay lexical");
            return;
        }
    };
    let mut work = Work::new(semantic.clone());
    loop {
        // Wait for work when there is none; otherwise only look at the queue between batches.
        let message = if work.missing.is_empty() {
            match rx.recv() {
                Ok(message) => Some(message),
                Err(_) => return,
            }
        } else {
            match rx.recv_timeout(Duration::ZERO) {
                Ok(message) => Some(message),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        };
        match message {
            Some(Message::Stop) => return,
            Some(Message::Snapshot(searcher)) => {
                let mut latest = searcher;
                // The newest snapshot only.
                while let Ok(message) = rx.try_recv() {
                    match message {
                        Message::Snapshot(searcher) => latest = searcher,
                        Message::Stop => return,
                    }
                }
                if let Err(err) = work.map(&latest) {
                    warn!("reading articles to embed: {err}");
                }
                continue;
            }
            None => {}
        }
        let batch = work.next_batch();
        if batch.is_empty() {
            work.publish();
            work.compact();
            continue;
        }
        let started = Instant::now();
        semantic.update_status(|status| status.computing = true);
        let encoder = semantic.encoder();
        let outcome = work.embed(batch, |texts| pool.install(|| encoder.encode(texts)));
        let seconds = started.elapsed().as_secs_f64();
        match outcome {
            Ok(count) => {
                work.publish();
                semantic.update_status(|status| {
                    status.computing = !work.missing.is_empty();
                    status.embedded_since_start += count as u64;
                    status.last_error = None;
                    let rate = count as f64 / seconds.max(1e-6);
                    status.per_second = if status.per_second > 0.0 {
                        RATE_SMOOTHING * rate + (1.0 - RATE_SMOOTHING) * status.per_second
                    } else {
                        rate
                    };
                });
                if work.missing.is_empty() {
                    info!(documents = work.documents, "every article has its vector");
                }
            }
            Err(err) => {
                // The model failed on these texts: they stay lexical; the rest goes on.
                error!("embedding failed: {err}; those articles are ranked lexically");
                semantic.update_status(|status| status.last_error = Some(err.to_string()));
            }
        }
    }
}
