//! Search: turns a customer's query and filters into a tantivy query, runs it, and shapes the
//! results: hits with highlighted snippets and deep links, facet counts, a spelling suggestion.
//!
//! Ranking, in order of precedence:
//! 1. for short queries, articles matching every query word (or a synonym, correction or
//!    completion of it) come before those matching some;
//! 2. BM25 over the whole article, plus small boosts for words in the title, headings, keywords;
//! 3. synonyms, typo corrections and completions of the last word count less than the word typed;
//! 4. a small bonus for articles about the version asked for, and for articles that are not only
//!    about versions past their end of general support.
//!
//! Filters (type, product, version, tags, visibility, status) restrict without scoring.

pub mod audience;
pub mod docs_query;
pub mod execute;
pub mod facets;
pub mod filters;
pub mod hit_docs;
pub mod lexicon;
pub mod maxscore;
pub mod order;
pub mod query;
pub mod query_builder;
pub mod rank;
pub mod request;
pub mod results;
pub mod snippet;
pub mod stored;

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use lru::LruCache;
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{BitSet, Index, IndexReader, ReloadPolicy, Searcher};

use crate::config::DEFAULT_CACHE_ENTRIES;
use crate::content::article::Visibility;
use crate::content::products::Catalog;
use crate::content::synonyms::Synonyms;
use crate::error::{IndexError, SearchError};
use crate::index::analysis;
use crate::index::generations::{CommitPayload, IndexDir};
use crate::index::schema::KbSchema;
use crate::index::snapshot::Snapshot;
use crate::search::audience::AudienceStats;
use crate::search::facets::FacetCache;
use crate::search::filters::AllowedKey;
use crate::search::hit_docs::HitDocs;
use crate::search::lexicon::{Lexicon, Suggestion};
use crate::search::maxscore::TermInfoCache;
use crate::semantic::Semantic;
use crate::semantic::vectors::SnapshotVectors;

pub use crate::search::execute::ONLY_COMMON_WORDS;
pub use crate::search::request::{MAX_CLAUSES, SearchRequest, SortOrder};
pub use crate::search::results::{
    ArticleInfo, Hit, SearchResults, SectionRef, StoredArticle, VersionSupport,
};

/// Terms whose dictionary entries a searcher keeps: a few megabytes at most.
const TERM_INFO_CACHE_ENTRIES: NonZeroUsize = NonZeroUsize::new(50_000).expect("not zero");

/// Searches one committed state of an index with the content folder's synonyms and catalog.
/// Immutable: the live indexer builds a new one after each commit and swaps it in, so a search
/// sees one commit from start to end, and suggestions always match the documents.
pub struct KbSearcher {
    searcher: Searcher,
    /// Unix seconds of the commit this searcher shows, from the commit payload.
    committed_at: Option<i64>,
    /// Built once: the stop-word set and stemmer are not free to construct.
    query_analyzer: TextAnalyzer,
    vocab_analyzer: TextAnalyzer,
    schema: KbSchema,
    synonyms: Synonyms,
    catalog: Catalog,
    /// Built on the first suggestion request, not at each commit: a commit becomes searchable
    /// without waiting for it (0.1-0.4 s on 10,000 articles).
    lexicon: OnceLock<Lexicon>,
    /// Shared with the searchers of later commits: segments outlive commits.
    facet_cache: Arc<FacetCache>,
    /// Documents each audience may see; see [`KbSearcher::allowed_documents`].
    allowed: Mutex<HashMap<AllowedKey, Arc<Vec<BitSet>>>>,
    /// Statistics per audience (and with or without drafts); see [`AudienceStats`].
    audiences: Mutex<HashMap<(Visibility, bool), Arc<AudienceStats>>>,
    /// Dictionary entries of the words of recent drafts; see [`TermInfoCache`].
    term_infos: TermInfoCache,
    /// What hits show of recently shown documents; see [`HitDocs`].
    hit_docs: HitDocs,
    /// Recent results by request; see [`KbSearcher::search_cached`].
    results_cache: Option<Mutex<LruCache<String, Arc<SearchResults>>>>,
    /// The sentence-embedding layer, when a model is configured.
    semantic: Option<Arc<Semantic>>,
    /// Weight of the lexical score when long queries are reranked with the vectors.
    search_lexical_weight: f32,
    /// Fewest words of a query reranked with the vectors.
    search_min_words: usize,
}

impl KbSearcher {
    /// Opens the current index generation under `index_root`; synonyms and products come from
    /// `kb_root`.
    pub fn open(index_root: &Path, kb_root: &Path) -> Result<KbSearcher, IndexError> {
        let open =
            IndexDir::new(index_root)
                .open_current()
                .map_err(|reason| IndexError::Unusable {
                    path: index_root.to_path_buf(),
                    reason: reason.to_string(),
                })?;
        let (synonyms, _) = Synonyms::load(kb_root);
        let (catalog, _) = Catalog::load(kb_root);
        KbSearcher::new(&open.index, synonyms, catalog)
    }

    /// A searcher over the last commit of `index`.
    pub fn new(
        index: &Index,
        synonyms: Synonyms,
        catalog: Catalog,
    ) -> Result<KbSearcher, IndexError> {
        let reader: IndexReader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        KbSearcher::from_searcher(reader.searcher(), synonyms, catalog, Arc::default())
    }

    /// A searcher over a snapshot the indexer published, reusing the facet tables of the
    /// segments it shares with the previous snapshot; keeps up to `cache_entries` result pages.
    pub fn from_snapshot(
        snapshot: Snapshot,
        facet_cache: Arc<FacetCache>,
        cache_entries: usize,
    ) -> Result<KbSearcher, IndexError> {
        let Snapshot {
            searcher,
            catalog,
            synonyms,
        } = snapshot;
        Ok(
            KbSearcher::from_searcher(searcher, synonyms, catalog, facet_cache)?
                .with_cache_entries(cache_entries),
        )
    }

    /// A searcher over one snapshot of an index, reusing the facet tables of the segments it
    /// shares with the previous snapshot.
    pub fn from_searcher(
        searcher: Searcher,
        synonyms: Synonyms,
        catalog: Catalog,
        facet_cache: Arc<FacetCache>,
    ) -> Result<KbSearcher, IndexError> {
        let schema = KbSchema::new();
        let live: Vec<_> = searcher
            .segment_readers()
            .iter()
            .map(|segment| segment.segment_id())
            .collect();
        facet_cache.retain(&live);
        let committed_at = searcher
            .index()
            .load_metas()
            .ok()
            .and_then(|metas| metas.payload)
            .and_then(|payload| serde_json::from_str::<CommitPayload>(&payload).ok())
            .map(|payload| payload.committed_at);
        Ok(KbSearcher {
            searcher,
            committed_at,
            query_analyzer: analysis::query_analyzer(),
            vocab_analyzer: analysis::vocab_analyzer(),
            schema,
            synonyms,
            catalog,
            lexicon: OnceLock::new(),
            facet_cache,
            allowed: Mutex::default(),
            audiences: Mutex::default(),
            term_infos: TermInfoCache::new(TERM_INFO_CACHE_ENTRIES),
            hit_docs: HitDocs::default(),
            results_cache: NonZeroUsize::new(DEFAULT_CACHE_ENTRIES)
                .map(|n| Mutex::new(LruCache::new(n))),
            semantic: None,
            search_lexical_weight: rank::SEARCH_SEMANTIC_LEXICAL_WEIGHT,
            search_min_words: rank::SEARCH_SEMANTIC_MIN_WORDS,
        })
    }

    /// The same searcher with another weight of the lexical score in the fusion with the
    /// vectors (for measurements; the service uses the tuned constant).
    pub fn with_search_lexical_weight(mut self, weight: f32) -> Self {
        self.search_lexical_weight = weight;
        self
    }

    /// The same searcher, reranking queries of at least `words` words with the vectors (for
    /// measurements; the service uses the tuned constant).
    pub fn with_search_min_words(mut self, words: usize) -> Self {
        self.search_min_words = words;
        self
    }

    /// The same searcher, ranking with the sentence-embedding layer where it helps.
    pub fn with_semantic(mut self, semantic: Option<Arc<Semantic>>) -> Self {
        self.semantic = semantic;
        self
    }

    /// The sentence-embedding layer, when a model is configured.
    pub fn semantic(&self) -> Option<&Arc<Semantic>> {
        self.semantic.as_ref()
    }

    /// The article vectors of this snapshot as last published, when a model is configured.
    pub fn vectors(&self) -> Option<SnapshotVectors> {
        self.semantic
            .as_ref()
            .map(|semantic| semantic.vectors().for_searcher(&self.searcher))
    }

    /// The index snapshot this searcher reads.
    pub fn searcher(&self) -> &Searcher {
        &self.searcher
    }

    /// The fields of the index this searcher reads.
    pub fn schema(&self) -> &KbSchema {
        &self.schema
    }

    /// The analyzer queries and drafts go through (a clone: analyzers hold per-use state).
    pub fn query_analyzer(&self) -> TextAnalyzer {
        self.query_analyzer.clone()
    }

    /// What `audience` may see (drafts too when `include_drafts`, as in the preview), with the
    /// ranking statistics of only that: every score, confidence, correction and snippet a
    /// caller gets is computed from these, so hidden articles change none of them.
    pub fn audience(
        &self,
        audience: Visibility,
        include_drafts: bool,
    ) -> Result<Arc<AudienceStats>, SearchError> {
        let key = (audience, include_drafts);
        if let Some(stats) = self.audiences.lock().expect("audiences lock").get(&key) {
            return Ok(stats.clone());
        }
        let visible = self.visible_documents(audience, include_drafts, None)?;
        let stats = Arc::new(AudienceStats::new(&self.searcher, visible));
        self.audiences
            .lock()
            .expect("audiences lock")
            .insert(key, stats.clone());
        Ok(stats)
    }

    /// Dictionary entries of recently looked-up words, kept for this snapshot.
    pub fn term_infos(&self) -> &TermInfoCache {
        &self.term_infos
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn facet_cache(&self) -> Arc<FacetCache> {
        self.facet_cache.clone()
    }

    /// Unix time of the commit this searcher shows.
    pub fn last_commit(&self) -> Option<i64> {
        self.committed_at
    }

    /// Number of searchable documents (all visibilities and statuses).
    pub fn num_docs(&self) -> u64 {
        self.searcher.num_docs()
    }

    /// The cached results of `request`, if any: a lookup cheap enough for an async task.
    pub fn cached(&self, request: &SearchRequest) -> Option<Arc<SearchResults>> {
        let cache = self.results_cache.as_ref()?;
        let key = self.cache_key(request);
        cache.lock().expect("results cache lock").get(&key).cloned()
    }

    /// Keeps up to `entries` result pages (0: no cache, every request is computed).
    pub fn with_cache_entries(mut self, entries: usize) -> Self {
        self.results_cache = NonZeroUsize::new(entries).map(|n| Mutex::new(LruCache::new(n)));
        self
    }

    fn cache_key(&self, request: &SearchRequest) -> String {
        // Vectors arrive after the commit: an answer that may use them is keyed by their version.
        match &self.semantic {
            Some(semantic) if self.may_use_vectors(request) => {
                format!("{request:?} vectors {}", semantic.version())
            }
            _ => format!("{request:?}"),
        }
    }

    /// Like [`KbSearcher::search`], answered from a cache of recent results when the same request
    /// was made against the same index state. Portal traffic repeats a few queries very often;
    /// each searcher shows one commit and has its own cache, so a commit starts an empty one.
    pub fn search_cached(
        &self,
        request: &SearchRequest,
    ) -> Result<Arc<SearchResults>, SearchError> {
        let Some(cache) = &self.results_cache else {
            return Ok(Arc::new(self.search(request)?));
        };
        let key = self.cache_key(request);
        if let Some(hit) = cache.lock().expect("results cache lock").get(&key) {
            return Ok(hit.clone());
        }
        let results = Arc::new(self.search(request)?);
        if !results.provisional {
            cache
                .lock()
                .expect("results cache lock")
                .put(key, results.clone());
        }
        Ok(results)
    }

    fn lexicon(&self) -> tantivy::Result<&Lexicon> {
        if let Some(lexicon) = self.lexicon.get() {
            return Ok(lexicon);
        }
        let built = Lexicon::build(&self.searcher, &self.schema)?;
        Ok(self.lexicon.get_or_init(|| built))
    }

    /// Search-as-you-type suggestions for `audience`.
    pub fn suggest(&self, input: &str, audience: Visibility, limit: usize) -> Vec<Suggestion> {
        match self.lexicon() {
            Ok(lexicon) => lexicon.suggest(audience, input, limit),
            Err(err) => {
                tracing::warn!("cannot read the suggestion words: {err}");
                Vec::new()
            }
        }
    }
}
