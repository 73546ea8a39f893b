//! The optional semantic layer: a small sentence-embedding model the operator installs
//! (`[semantic] model = "DIR"`, a sentence-transformers folder), run in-process on the CPU.
//! Without one, everything is lexical, exactly as before.
//!
//! - [`model`] loads the folder and turns texts into vectors (BERT through candle, the folder's
//!   pooling, normalisation and input length).
//! - [`store`] caches article vectors on disk by the hash of their text, one file per model.
//! - [`embed`] computes what a snapshot lacks: in the background while serving ([`Embedder`]),
//!   or at once for `kbsearch index` and evaluations ([`catch_up`]).
//! - [`vectors`] holds the published vectors by index segment, and finds the nearest articles.
//!
//! Vectors are a cache, never a blocker: the lexical index is searchable before the first
//! vector exists; an article without its vector yet is ranked lexically. Search and deflection
//! (`crate::search`, `crate::deflect`) read a [`Semantic`] through their searcher.

pub mod embed;
pub mod model;
pub mod store;
pub mod vectors;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, TryLockError};

use arc_swap::ArcSwap;
use serde::Serialize;

pub use self::embed::{CatchUp, Embedder, EmbedderHandle, catch_up, embedding_text};
pub use self::model::{Encoder, ModelError, Pooling};
use self::store::VectorStore;
use self::vectors::DocVectors;

/// The folder under the index folder that holds the vector files (see [`store`]).
pub use crate::index::generations::VECTORS_DIR;

/// Tokens of a request's text (a draft, a query) the model reads. Drafts longer than this are
/// pasted logs and long stories whose tail moves the vector little, and a forward pass over 256
/// tokens costs about twice one over 128 while the customer waits.
pub const REQUEST_TOKENS: usize = 128;

/// Why a request's text has no vector: it is then ranked lexically.
#[derive(Debug, thiserror::Error)]
pub enum RequestEmbedError {
    /// Another request's text is being embedded: one at a time, since one forward pass already
    /// keeps the machine's cores busy and a queue behind it would only add latency.
    #[error("the model is busy with another request")]
    Busy,
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// How far the article vectors are, for `/api/status` and `/metrics`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EmbedStatus {
    /// The model folder's name.
    pub model: String,
    /// The model's identity (a hash of its files).
    pub model_id: String,
    pub dimensions: usize,
    /// Tokens of an article the model reads.
    pub max_tokens: usize,
    /// Documents of the latest snapshot (every visibility and status).
    pub documents: u64,
    /// Of those, with their vector.
    pub embedded: u64,
    /// Of those, still without.
    pub pending: u64,
    /// Articles embedded per second, recently.
    pub per_second: f64,
    /// Articles embedded since the service started.
    pub embedded_since_start: u64,
    /// True while the embedder is computing.
    pub computing: bool,
    /// The last failure of the model, until a batch succeeds again.
    pub last_error: Option<String>,
    /// Drafts and queries embedded since the service started.
    pub requests_embedded: u64,
    /// Drafts and queries ranked lexically since the service started because the model was
    /// busy with another request.
    pub requests_busy: u64,
}

/// A loaded model with its vector cache and the vectors published for searches.
pub struct Semantic {
    encoder: Arc<Encoder>,
    store: Mutex<VectorStore>,
    vectors: ArcSwap<DocVectors>,
    /// Bumped at every publication: result caches key on it.
    version: AtomicU64,
    status: Mutex<EmbedStatus>,
    /// Held while a request's text is embedded; see [`RequestEmbedError::Busy`].
    request_slot: Mutex<()>,
    requests_embedded: AtomicU64,
    requests_busy: AtomicU64,
}

impl std::fmt::Debug for Semantic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Semantic")
            .field("encoder", &self.encoder)
            .finish_non_exhaustive()
    }
}

impl Semantic {
    /// Loads the model folder `model`; vectors are cached in `cache_dir` (usually
    /// `index/vectors`), or only in memory when it is `None`.
    pub fn open(model: &Path, cache_dir: Option<&Path>) -> Result<Semantic, ModelError> {
        let encoder = Encoder::load(model)?;
        let store = match cache_dir {
            Some(dir) => {
                VectorStore::open(dir, encoder.id(), encoder.dimensions()).map_err(|err| {
                    ModelError::Load {
                        path: dir.to_path_buf(),
                        message: format!("vector cache: {err}"),
                    }
                })?
            }
            None => VectorStore::in_memory(encoder.id(), encoder.dimensions()),
        };
        Ok(Semantic::with_encoder(Arc::new(encoder), store))
    }

    /// A layer over an encoder already loaded (tests share one between knowledge bases).
    pub fn with_encoder(encoder: Arc<Encoder>, store: VectorStore) -> Semantic {
        let status = EmbedStatus {
            model: encoder.name(),
            model_id: encoder.id().to_string(),
            dimensions: encoder.dimensions(),
            max_tokens: encoder.max_tokens(),
            ..EmbedStatus::default()
        };
        Semantic {
            encoder,
            store: Mutex::new(store),
            vectors: ArcSwap::from_pointee(DocVectors::default()),
            version: AtomicU64::new(0),
            status: Mutex::new(status),
            request_slot: Mutex::new(()),
            requests_embedded: AtomicU64::new(0),
            requests_busy: AtomicU64::new(0),
        }
    }

    /// A layer over an encoder already loaded, caching vectors in `cache_dir`.
    pub fn with_cache(encoder: Arc<Encoder>, cache_dir: &Path) -> Result<Semantic, ModelError> {
        let store =
            VectorStore::open(cache_dir, encoder.id(), encoder.dimensions()).map_err(|err| {
                ModelError::Load {
                    path: cache_dir.to_path_buf(),
                    message: format!("vector cache: {err}"),
                }
            })?;
        Ok(Semantic::with_encoder(encoder, store))
    }

    pub fn encoder(&self) -> &Arc<Encoder> {
        &self.encoder
    }

    /// The vectors as last published.
    pub fn vectors(&self) -> Arc<DocVectors> {
        self.vectors.load_full()
    }

    /// Changes with every publication of vectors.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// How far the vectors are.
    pub fn status(&self) -> EmbedStatus {
        EmbedStatus {
            requests_embedded: self.requests_embedded.load(Ordering::Relaxed),
            requests_busy: self.requests_busy.load(Ordering::Relaxed),
            ..self.status.lock().expect("status lock").clone()
        }
    }

    /// Keeps the model to the caller until the guard drops: requests meanwhile are answered
    /// lexically, as when another request is being embedded (for tests of that path).
    pub fn hold_request_slot(&self) -> std::sync::MutexGuard<'_, ()> {
        self.request_slot
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The vector of a request's text (its first [`REQUEST_TOKENS`] tokens), computed at once or
    /// not at all: while another request's text is being embedded this answers
    /// [`RequestEmbedError::Busy`] and the caller ranks lexically. So a burst of drafts costs at
    /// most one forward pass at a time, and the others answer at lexical speed.
    pub fn embed_request(&self, text: &str) -> Result<Vec<f32>, RequestEmbedError> {
        let _slot = match self.request_slot.try_lock() {
            Ok(slot) => slot,
            // The slot guards no data: a panic while it was held leaves nothing half-done.
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => {
                self.requests_busy.fetch_add(1, Ordering::Relaxed);
                tracing::debug!("model busy: a request ranked lexically");
                return Err(RequestEmbedError::Busy);
            }
        };
        let vector = self.encoder.encode_within(text, REQUEST_TOKENS)?;
        self.requests_embedded.fetch_add(1, Ordering::Relaxed);
        Ok(vector)
    }

    fn publish(&self, vectors: DocVectors) {
        self.vectors.store(Arc::new(vectors));
        self.version.fetch_add(1, Ordering::AcqRel);
    }

    fn update_status(&self, change: impl FnOnce(&mut EmbedStatus)) {
        change(&mut self.status.lock().expect("status lock"));
    }
}
