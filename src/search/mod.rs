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

pub mod deflect;
pub mod facets;
pub mod lexicon;
pub mod maxscore;
pub mod query;
pub mod rank_check;
pub mod snippet;

use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use lru::LruCache;

use chrono::{NaiveDate, Utc};
use serde::Serialize;
use tantivy::collector::TopDocs;
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, EnableScoring, Occur, PhraseQuery, Query, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption, Value};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{
    BitSet, DocAddress, Index, IndexReader, Order, ReloadPolicy, Searcher, TantivyDocument, Term,
};

use crate::config::DEFAULT_CACHE_ENTRIES;
use crate::content::article::{ALL_VERSIONS, ArticleType, Status, Visibility};
use crate::content::markdown::Heading;
use crate::content::products::{Catalog, SupportStatus};
use crate::content::synonyms::Synonyms;
use crate::error::{IndexError, SearchError};
use crate::index::analysis::{self, QueryToken, is_code_like};
use crate::index::generations::{CommitPayload, IndexDir};
use crate::index::schema::KbSchema;
use crate::search::facets::{FACET_FIELDS, FacetCache, FacetCollector, Facets, sorted};
use crate::search::lexicon::{Lexicon, Suggestion};
use crate::search::maxscore::TermInfoCache;
use crate::search::query::{Clause, UserQuery};
use crate::search::snippet::{Highlighted, Highlighter};

/// Most clauses read from one query; the rest is dropped with a notice.
pub const MAX_CLAUSES: usize = 64;
/// Queries with at most this many words rank full matches first; longer ones (pasted text) rank
/// by BM25 alone, where requiring every word would only add noise.
const MAX_TIERED_CONCEPTS: usize = 6;
/// Weight of a synonym relative to the word the customer typed.
const SYNONYM_WEIGHT: f32 = 0.8;
/// Weight of a typo correction or a completion of the last word: below any exact match.
const EXPANSION_WEIGHT: f32 = 0.5;
/// Corrections tried for a word the index does not know.
const MAX_CORRECTIONS: usize = 3;
/// Completions tried for the last word, for search-as-you-type.
const MAX_COMPLETIONS: usize = 5;
/// Score bonus for an article about the version asked for (BM25 scores are typically 5-30).
const VERSION_BONUS: f32 = 1.5;
/// Score bonus for articles not only about versions past their end of general support.
const SUPPORTED_BONUS: f32 = 1.0;

/// Why a query that can match nothing has no results.
pub const ONLY_COMMON_WORDS: &str =
    "the query has only common words (like `the`, `to`, `is`) or symbols: add a more specific word";
/// Values listed per facet (the most frequent), besides those chosen as filters.
const MAX_FACET_VALUES: usize = 20;
/// Audience and product: what decides which documents a draft may be shown.
type AllowedKey = (Visibility, Option<String>);
/// Terms whose dictionary entries a searcher keeps: a few megabytes at most.
const TERM_INFO_CACHE_ENTRIES: NonZeroUsize = NonZeroUsize::new(50_000).expect("not zero");

/// How results are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    #[default]
    Relevance,
    /// Most recently updated first.
    Updated,
}

/// What to search for and what the caller may see.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub query: String,
    pub types: Vec<ArticleType>,
    pub product: Option<String>,
    pub version: Option<String>,
    pub tags: Vec<String>,
    /// The most restricted visibility the caller may see (public < customer < internal).
    pub audience: Visibility,
    pub include_drafts: bool,
    pub limit: usize,
    pub offset: usize,
    pub sort: SortOrder,
    /// Build highlighted snippets; ranking-only callers (evaluation) skip them.
    pub snippets: bool,
    /// Count facets and look for a better spelling (the portal needs them, the CLI does not).
    pub facets: bool,
}

impl SearchRequest {
    pub fn new(query: impl Into<String>) -> Self {
        SearchRequest {
            query: query.into(),
            types: Vec::new(),
            product: None,
            version: None,
            tags: Vec::new(),
            audience: Visibility::Public,
            include_drafts: false,
            limit: 10,
            offset: 0,
            sort: SortOrder::Relevance,
            snippets: true,
            facets: false,
        }
    }
}

/// The section of an article a hit points into.
#[derive(Debug, Clone, Serialize)]
pub struct SectionRef {
    pub heading: String,
    pub anchor: String,
}

/// Where one version of an article stands in its lifecycle.
#[derive(Debug, Clone, Serialize)]
pub struct VersionSupport {
    pub version: String,
    pub status: SupportStatus,
}

/// What results and article pages show about an article.
#[derive(Debug, Clone, Serialize)]
pub struct ArticleInfo {
    pub id: String,
    pub title: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub path: String,
    pub product: Option<String>,
    pub versions: Vec<String>,
    /// Support status of each version the article is for.
    pub support: Vec<VersionSupport>,
    /// True when every version the article is for is past its end of general support.
    pub end_of_support: bool,
    pub tags: Vec<String>,
    pub visibility: String,
    pub status: String,
    pub updated: Option<NaiveDate>,
    pub summary: String,
}

/// One search result.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    #[serde(flatten)]
    pub info: ArticleInfo,
    pub score: f32,
    pub snippet: Highlighted,
    pub section: Option<SectionRef>,
}

/// A page of results.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResults {
    /// Articles matching the query and filters, over all pages.
    pub total: usize,
    pub hits: Vec<Hit>,
    /// Counts per facet value over all matches, each ignoring its own filter.
    pub facets: Option<Facets>,
    /// A better-spelled query that has results, when the query had unknown words.
    pub did_you_mean: Option<String>,
    /// Things the caller should know, such as a shortened query.
    pub notices: Vec<String>,
}

/// An article as stored in the index, for article pages and the API.
#[derive(Debug, Clone, Serialize)]
pub struct StoredArticle {
    #[serde(flatten)]
    pub info: ArticleInfo,
    pub sections: Vec<Heading>,
    /// The markdown body of the indexed (last good) version.
    pub markdown: String,
    /// Queries the article should answer (front matter `queries:`), for ranking checks.
    pub queries: Vec<String>,
}

/// The pieces of a built query.
struct BuiltQuery {
    /// One query per concept (word, phrase or synonym group) the customer asked for.
    concepts: Vec<Box<dyn Query>>,
    exclusions: Vec<Box<dyn Query>>,
    /// Every analysed term the customer asked for, expansions included, to highlight snippets.
    highlight: Vec<String>,
    /// Unknown words and their best correction, for "did you mean".
    corrections: HashMap<String, String>,
}

/// Reads stored fields of one document.
struct Stored<'a> {
    doc: &'a TantivyDocument,
}

impl Stored<'_> {
    fn text(&self, field: Field) -> String {
        self.doc
            .get_first(field)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    }

    fn optional(&self, field: Field) -> Option<String> {
        self.doc
            .get_first(field)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    }

    fn all(&self, field: Field) -> Vec<String> {
        self.doc
            .get_all(field)
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    }

    fn date(&self, field: Field) -> Option<NaiveDate> {
        self.doc
            .get_first(field)
            .and_then(|v| v.as_datetime())
            .and_then(|d| chrono::DateTime::from_timestamp(d.into_timestamp_secs(), 0))
            .map(|d| d.date_naive())
    }
}

/// Searches one committed state of an index with the content folder's synonyms and catalog.
/// Immutable: the live indexer builds a new one after each commit and swaps it in, so a search
/// sees one commit from start to end, and suggestions always match the documents.
pub struct KbSearcher {
    pub(crate) searcher: Searcher,
    /// Unix seconds of the commit this searcher shows, from the commit payload.
    committed_at: Option<i64>,
    /// Built once: the stop-word set and stemmer are not free to construct.
    pub(crate) query_analyzer: TextAnalyzer,
    vocab_analyzer: TextAnalyzer,
    pub(crate) schema: KbSchema,
    synonyms: Synonyms,
    catalog: Catalog,
    /// Built on the first suggestion request, not at each commit: a commit becomes searchable
    /// without waiting for it (0.1-0.4 s on 10,000 articles).
    lexicon: OnceLock<Lexicon>,
    /// Shared with the searchers of later commits: segments outlive commits.
    facet_cache: Arc<FacetCache>,
    /// Documents each audience may see; see [`KbSearcher::allowed_documents`].
    allowed: Mutex<HashMap<AllowedKey, Arc<Vec<BitSet>>>>,
    /// Dictionary entries of the words of recent drafts; see [`TermInfoCache`].
    pub(crate) term_infos: TermInfoCache,
    /// Recent results by request; see [`KbSearcher::search_cached`].
    results_cache: Option<Mutex<LruCache<String, Arc<SearchResults>>>>,
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

    /// A searcher over one snapshot of an index (the indexer's reader after a commit), reusing
    /// the facet tables of the segments it shares with the previous snapshot.
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
            term_infos: TermInfoCache::new(TERM_INFO_CACHE_ENTRIES),
            results_cache: NonZeroUsize::new(DEFAULT_CACHE_ENTRIES)
                .map(|n| Mutex::new(LruCache::new(n))),
        })
    }

    /// The index snapshot this searcher reads.
    pub fn searcher(&self) -> &Searcher {
        &self.searcher
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
        format!("{request:?}")
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
        cache
            .lock()
            .expect("results cache lock")
            .put(key, results.clone());
        Ok(results)
    }

    /// Runs `request` and returns one page of hits.
    pub fn search(&self, request: &SearchRequest) -> Result<SearchResults, SearchError> {
        let user_query = query::parse(&request.query, MAX_CLAUSES);
        let mut notices = Vec::new();
        if user_query.truncated {
            notices.push(format!(
                "the query was shortened to its first {MAX_CLAUSES} words"
            ));
        }
        if user_query.positive().next().is_none() {
            return Err(SearchError::EmptyQuery);
        }
        let searcher = &self.searcher;
        let built = self.build(searcher, &user_query, true);
        if built.concepts.is_empty() {
            // A valid query that cannot match anything: no results, and a word on why.
            notices.push(ONLY_COMMON_WORDS.to_string());
            return Ok(SearchResults {
                total: 0,
                hits: Vec::new(),
                facets: request.facets.then(Facets::default),
                did_you_mean: None,
                notices,
            });
        }
        let filters = self.filters(request)?;
        let any_concept: Box<dyn Query> = Box::new(BooleanQuery::union(
            built.concepts.iter().map(|q| q.box_clone()).collect(),
        ));
        let bonuses = self.bonuses(request)?;
        let restrict = |core: Box<dyn Query>, skip: Option<FilterKind>| -> Box<dyn Query> {
            let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, core)];
            for (kind, filter) in &filters {
                if Some(*kind) != skip {
                    clauses.push((Occur::Must, filter.box_clone()));
                }
            }
            for exclusion in &built.exclusions {
                clauses.push((Occur::MustNot, exclusion.box_clone()));
            }
            for bonus in &bonuses {
                clauses.push((Occur::Should, bonus.box_clone()));
            }
            Box::new(BooleanQuery::new(clauses))
        };
        let matching = restrict(any_concept.box_clone(), None);
        let (total, facets) =
            self.count_and_facets(searcher, request, &matching, &any_concept, &restrict)?;

        let wanted = request.offset + request.limit;
        let tiered = request.sort == SortOrder::Relevance
            && (2..=MAX_TIERED_CONCEPTS).contains(&built.concepts.len());
        let scored: Vec<(f32, DocAddress)> = if request.sort == SortOrder::Updated {
            let by_date = TopDocs::with_limit(wanted.max(1))
                .order_by_fast_field::<tantivy::DateTime>("updated", Order::Desc);
            searcher
                .search(&*matching, &by_date)?
                .into_iter()
                .map(|(_, address)| (0.0, address))
                .collect()
        } else if tiered {
            let every_concept: Box<dyn Query> = Box::new(BooleanQuery::intersection(
                built.concepts.iter().map(|q| q.box_clone()).collect(),
            ));
            let full = restrict(every_concept, None);
            let full_hits =
                searcher.search(&*full, &TopDocs::with_limit(wanted.max(1)).order_by_score())?;
            // Fewer full matches than wanted means all of them are in `full_hits`: the partial
            // tier is every match that is not one of them. (A `MustNot` of the intersection would
            // say the same, but trips tantivy's backward-seek assertion with phrase clauses.)
            if full_hits.len() < wanted {
                let full_set: HashSet<DocAddress> = full_hits.iter().map(|(_, a)| *a).collect();
                let rest = wanted - full_hits.len();
                let any_hits = searcher.search(
                    &*matching,
                    &TopDocs::with_limit(rest + full_hits.len()).order_by_score(),
                )?;
                let partial = any_hits
                    .into_iter()
                    .filter(|(_, a)| !full_set.contains(a))
                    .take(rest);
                full_hits.into_iter().chain(partial).collect()
            } else {
                full_hits
            }
        } else {
            searcher.search(
                &*matching,
                &TopDocs::with_limit(wanted.max(1)).order_by_score(),
            )?
        };
        let page: Vec<(f32, DocAddress)> = scored
            .into_iter()
            .skip(request.offset)
            .take(request.limit)
            .collect();

        let snippets = if request.snippets {
            Some(Highlighter::new(
                searcher,
                self.schema.all,
                self.schema.body,
                &built.highlight,
            )?)
        } else {
            None
        };
        let hits = page
            .into_iter()
            .map(|(score, address)| self.hit(searcher, snippets.as_ref(), score, address))
            .collect::<Result<Vec<_>, _>>()?;
        let did_you_mean = if request.facets && !built.corrections.is_empty() {
            self.did_you_mean(searcher, &user_query, &built.corrections, request)?
        } else {
            None
        };
        Ok(SearchResults {
            total,
            hits,
            facets,
            did_you_mean,
            notices,
        })
    }

    /// Counts all matches and, when asked, the facets: one pass per distinct filter set.
    fn count_and_facets(
        &self,
        searcher: &Searcher,
        request: &SearchRequest,
        matching: &dyn Query,
        any_concept: &dyn Query,
        restrict: &dyn Fn(Box<dyn Query>, Option<FilterKind>) -> Box<dyn Query>,
    ) -> Result<(usize, Option<Facets>), SearchError> {
        // The filter that each of FACET_FIELDS ignores.
        let facet_filters = [
            FilterKind::Type,
            FilterKind::Product,
            FilterKind::Version,
            FilterKind::Tag,
        ];
        let active = |kind: FilterKind| match kind {
            FilterKind::Type => !request.types.is_empty(),
            FilterKind::Product => request.product.is_some(),
            FilterKind::Version => request.version.is_some(),
            FilterKind::Tag => !request.tags.is_empty(),
            FilterKind::Visibility | FilterKind::Status => true,
        };
        let shared: Vec<usize> = if request.facets {
            (0..FACET_FIELDS.len())
                .filter(|f| !active(facet_filters[*f]))
                .collect()
        } else {
            Vec::new()
        };
        let collector = FacetCollector::new(self.facet_cache.clone(), shared.clone());
        let fruit = searcher.search(matching, &collector)?;
        let total = fruit.matches as usize;
        if !request.facets {
            return Ok((total, None));
        }
        let mut counts: HashMap<usize, HashMap<String, u64>> =
            shared.into_iter().zip(fruit.counts).collect();
        for field in (0..FACET_FIELDS.len()).filter(|f| active(facet_filters[*f])) {
            let query = restrict(any_concept.box_clone(), Some(facet_filters[field]));
            let own = searcher.search(
                &*query,
                &FacetCollector::new(self.facet_cache.clone(), vec![field]),
            )?;
            counts.insert(field, own.counts.into_iter().next().unwrap_or_default());
        }
        // The largest values of each facet, and always the ones chosen as filters.
        let chosen: [Vec<String>; 4] = [
            request
                .types
                .iter()
                .map(|t| t.as_str().to_string())
                .collect(),
            request.product.iter().cloned().collect(),
            request
                .version
                .iter()
                .map(|v| {
                    self.canonical_version(request.product.as_deref(), v)
                        .unwrap_or_else(|_| v.clone())
                })
                .collect(),
            request.tags.iter().map(|t| t.to_lowercase()).collect(),
        ];
        let mut take = |field: usize| {
            let mut values = sorted(counts.remove(&field).unwrap_or_default());
            let mut position = 0;
            values.retain(|v| {
                position += 1;
                position <= MAX_FACET_VALUES || chosen[field].contains(&v.value)
            });
            values
        };
        let facets = Facets {
            kind: take(0),
            product: take(1),
            version: take(2),
            tag: take(3),
        };
        Ok((total, Some(facets)))
    }

    /// Builds one query per concept and one per exclusion; `expand` adds typo corrections and
    /// completions of the last word.
    fn build(&self, searcher: &Searcher, user_query: &UserQuery, expand: bool) -> BuiltQuery {
        let mut analyzer = self.query_analyzer.clone();
        let mut built = BuiltQuery {
            concepts: Vec::new(),
            exclusions: Vec::new(),
            highlight: Vec::new(),
            corrections: HashMap::new(),
        };
        let positive: Vec<&Clause> = user_query.positive().collect();
        let last_word = positive
            .last()
            .filter(|c| !c.phrase)
            .map(|c| c.text.as_str());
        let mut index = 0;
        while index < positive.len() {
            let clause = positive[index];
            if clause.phrase {
                built.concepts.extend(self.text_query(
                    &mut analyzer,
                    &clause.text,
                    &mut built.highlight,
                ));
                index += 1;
                continue;
            }
            // Consecutive plain words are where synonym groups (one or more words) are found.
            let run_end = positive[index..]
                .iter()
                .position(|c| c.phrase)
                .map_or(positive.len(), |p| index + p);
            let words: Vec<String> = positive[index..run_end]
                .iter()
                .map(|c| c.text.to_lowercase())
                .collect();
            let mut at = 0;
            while at < words.len() {
                let (len, alternatives) = self
                    .synonyms
                    .match_at(&words, at)
                    .map_or((1, &[][..]), |(len, alts)| (len, alts));
                let original = words[at..at + len].join(" ");
                let mut variants: Vec<(Occur, Box<dyn Query>)> = Vec::new();
                if let Some(query) = self.text_query(&mut analyzer, &original, &mut built.highlight)
                {
                    variants.push((Occur::Should, query));
                }
                for alternative in alternatives {
                    if let Some(query) =
                        self.text_query(&mut analyzer, &alternative.join(" "), &mut built.highlight)
                    {
                        variants.push((
                            Occur::Should,
                            Box::new(BoostQuery::new(query, SYNONYM_WEIGHT)),
                        ));
                    }
                }
                // A short version (`7.8`) also finds the release it names (`7.8.0`).
                if let Some(release) = self.release_named(&original)
                    && let Some(query) =
                        self.text_query(&mut analyzer, &release, &mut built.highlight)
                {
                    variants.push((Occur::Should, query));
                }
                if expand && len == 1 {
                    let is_last = index + at + 1 == positive.len() && last_word.is_some();
                    for expansion in
                        self.expansions(searcher, &original, is_last, &mut built.corrections)
                    {
                        if let Some(query) =
                            self.text_query(&mut analyzer, &expansion, &mut built.highlight)
                        {
                            variants.push((
                                Occur::Should,
                                Box::new(BoostQuery::new(query, EXPANSION_WEIGHT)),
                            ));
                        }
                    }
                }
                match variants.len() {
                    0 => {}
                    1 => built.concepts.push(variants.pop().expect("one variant").1),
                    _ => built.concepts.push(Box::new(BooleanQuery::new(variants))),
                }
                at += len;
            }
            index = run_end;
        }
        let mut not_highlighted = Vec::new();
        built.exclusions = user_query
            .negative()
            .filter_map(|clause| self.text_query(&mut analyzer, &clause.text, &mut not_highlighted))
            .collect();
        built
    }

    /// Other words to search for `word`: corrections when the index does not know it, and
    /// completions when it is the last word (the customer may still be typing it).
    fn expansions(
        &self,
        searcher: &Searcher,
        word: &str,
        is_last: bool,
        corrections: &mut HashMap<String, String>,
    ) -> Vec<String> {
        let mut analyzer = self.vocab_analyzer.clone();
        let tokens = analysis::analyze(&mut analyzer, word);
        let [token] = tokens.as_slice() else {
            return Vec::new();
        };
        if is_code_like(&token.text) {
            return Vec::new();
        }
        let vocab = self.schema.vocab;
        let mut out = Vec::new();
        if lexicon::doc_freq(searcher, vocab, &token.text) == 0 {
            let found = lexicon::corrections(searcher, vocab, &token.text, MAX_CORRECTIONS);
            if let Some((best, _)) = found.first() {
                corrections.insert(word.to_string(), best.clone());
            }
            out.extend(found.into_iter().map(|(w, _)| w));
        }
        if is_last {
            let found = lexicon::completions(searcher, vocab, &token.text, MAX_COMPLETIONS);
            out.extend(found.into_iter().map(|(w, _)| w));
        }
        out
    }

    /// The query with unknown words replaced by their corrections, if that query has results.
    fn did_you_mean(
        &self,
        searcher: &Searcher,
        user_query: &UserQuery,
        corrections: &HashMap<String, String>,
        request: &SearchRequest,
    ) -> Result<Option<String>, SearchError> {
        let corrected: Vec<String> = user_query
            .clauses
            .iter()
            .map(|clause| {
                let text = corrections
                    .get(&clause.text.to_lowercase())
                    .cloned()
                    .unwrap_or_else(|| clause.text.clone());
                match (clause.negated, clause.phrase) {
                    (true, true) => format!("-\"{text}\""),
                    (true, false) => format!("-{text}"),
                    (false, true) => format!("\"{text}\""),
                    (false, false) => text,
                }
            })
            .collect();
        let suggestion = corrected.join(" ");
        let parsed = query::parse(&suggestion, MAX_CLAUSES);
        let built = self.build(searcher, &parsed, false);
        if built.concepts.is_empty() {
            return Ok(None);
        }
        let mut clauses: Vec<(Occur, Box<dyn Query>)> =
            vec![(Occur::Must, Box::new(BooleanQuery::union(built.concepts)))];
        for (_, filter) in self.filters(request)? {
            clauses.push((Occur::Must, filter));
        }
        for exclusion in built.exclusions {
            clauses.push((Occur::MustNot, exclusion));
        }
        let found = searcher.search(
            &BooleanQuery::new(clauses),
            &TopDocs::with_limit(1).order_by_score(),
        )?;
        Ok((!found.is_empty()).then_some(suggestion))
    }

    /// The catalog version a version-like word stands for, when it is spelled differently.
    fn release_named(&self, word: &str) -> Option<String> {
        let looks_like_version = word
            .trim_start_matches(['v', 'V'])
            .starts_with(|c: char| c.is_ascii_digit())
            && word.contains('.');
        if !looks_like_version {
            return None;
        }
        self.catalog
            .canonical_version(None, word)
            .filter(|release| release != word)
    }

    /// Matches `text` (a word, or several words as a phrase) in every scoring field, each with
    /// its boost, and adds its terms to `highlight`. `None` when the text has no searchable
    /// terms (only stop words or symbols).
    fn text_query(
        &self,
        analyzer: &mut TextAnalyzer,
        text: &str,
        highlight: &mut Vec<String>,
    ) -> Option<Box<dyn Query>> {
        let tokens = analysis::analyze(analyzer, text);
        if tokens.is_empty() {
            return None;
        }
        highlight.extend(tokens.iter().map(|t| t.text.clone()));
        let per_field: Vec<(Occur, Box<dyn Query>)> = self
            .schema
            .scoring_fields()
            .into_iter()
            .map(|(field, boost)| {
                let query = field_query(field, &tokens);
                let boosted: Box<dyn Query> = Box::new(BoostQuery::new(query, boost));
                (Occur::Should, boosted)
            })
            .collect();
        Some(Box::new(BooleanQuery::new(per_field)))
    }

    /// Filter clauses, each tagged with the facet it belongs to: they restrict the matches and
    /// add nothing to the score.
    pub(crate) fn filters(&self, request: &SearchRequest) -> Result<Vec<Filter>, SearchError> {
        let schema = &self.schema;
        let mut filters: Vec<Filter> = Vec::new();
        let visible: Vec<&str> = Visibility::ALL
            .iter()
            .filter(|v| **v <= request.audience)
            .map(|v| v.as_str())
            .collect();
        filters.push((FilterKind::Visibility, any_of(schema.visibility, &visible)));
        if !request.include_drafts {
            filters.push((
                FilterKind::Status,
                any_of(schema.status, &[Status::Published.as_str()]),
            ));
        }
        if !request.types.is_empty() {
            let types: Vec<&str> = request.types.iter().map(|t| t.as_str()).collect();
            filters.push((FilterKind::Type, any_of(schema.kind, &types)));
        }
        if let Some(product) = &request.product {
            let name = self
                .catalog
                .product(product)
                .map_or(product.clone(), |p| p.name.clone());
            filters.push((
                FilterKind::Product,
                any_of(schema.product, &[name.as_str()]),
            ));
        }
        if let Some(version) = &request.version {
            let canonical = self.canonical_version(request.product.as_deref(), version)?;
            filters.push((
                FilterKind::Version,
                any_of(schema.versions, &[canonical.as_str(), ALL_VERSIONS]),
            ));
        }
        if !request.tags.is_empty() {
            let tags: Vec<String> = request.tags.iter().map(|t| t.to_lowercase()).collect();
            let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
            filters.push((FilterKind::Tag, any_of(schema.tags, &tags)));
        }
        Ok(filters)
    }

    /// Per segment, the live published documents `audience` may see, of `product` if given, for
    /// scoring loops that run outside a tantivy query. Kept per snapshot: a few kilobytes per
    /// audience and product, and computing them took 2 % of a deflection.
    pub(crate) fn allowed_documents(
        &self,
        audience: Visibility,
        product: Option<&str>,
    ) -> Result<Arc<Vec<BitSet>>, SearchError> {
        let key = (audience, product.map(str::to_string));
        if let Some(allowed) = self.allowed.lock().expect("allowed lock").get(&key) {
            return Ok(allowed.clone());
        }
        let filters: Vec<(Occur, Box<dyn Query>)> = self
            .filters(&SearchRequest {
                audience,
                product: key.1.clone(),
                ..SearchRequest::new("")
            })?
            .into_iter()
            .map(|(_, filter)| (Occur::Must, filter))
            .collect();
        let weight = BooleanQuery::new(filters)
            .weight(EnableScoring::disabled_from_searcher(&self.searcher))?;
        let mut allowed = Vec::with_capacity(self.searcher.segment_readers().len());
        for reader in self.searcher.segment_readers() {
            let mut documents = BitSet::with_max_value(reader.max_doc());
            let alive = reader.alive_bitset();
            weight.for_each_no_score(reader, &mut |docs| {
                for &doc in docs {
                    if alive.is_none_or(|alive| alive.is_alive(doc)) {
                        documents.insert(doc);
                    }
                }
            })?;
            allowed.push(documents);
        }
        let allowed = Arc::new(allowed);
        self.allowed
            .lock()
            .expect("allowed lock")
            .insert(key, allowed.clone());
        Ok(allowed)
    }

    /// Score bonuses: the version asked for, and articles not only about unsupported versions.
    fn bonuses(&self, request: &SearchRequest) -> Result<Vec<Box<dyn Query>>, SearchError> {
        let mut bonuses: Vec<Box<dyn Query>> = Vec::new();
        let today = Utc::now().date_naive();
        let asked = match &request.version {
            Some(version) => Some(self.canonical_version(request.product.as_deref(), version)?),
            None => None,
        };
        if let Some(version) = &asked {
            let term = Term::from_field_text(self.schema.versions, version);
            let query = TermQuery::new(term, IndexRecordOption::Basic);
            bonuses.push(Box::new(ConstScoreQuery::new(
                Box::new(query),
                VERSION_BONUS,
            )));
        }
        let asked_is_unsupported = asked
            .as_deref()
            .is_some_and(|v| self.catalog.support_status(v, today) == SupportStatus::EndOfSupport);
        let versions = self.catalog.all_versions();
        let any_unsupported = versions
            .iter()
            .any(|v| self.catalog.support_status(v, today) == SupportStatus::EndOfSupport);
        if any_unsupported && !asked_is_unsupported {
            let mut current: Vec<&str> = versions
                .iter()
                .filter(|v| self.catalog.support_status(v, today) != SupportStatus::EndOfSupport)
                .map(String::as_str)
                .collect();
            current.push(ALL_VERSIONS);
            let query = BooleanQuery::new(
                current
                    .into_iter()
                    .map(|v| {
                        let term = Term::from_field_text(self.schema.versions, v);
                        let query: Box<dyn Query> =
                            Box::new(TermQuery::new(term, IndexRecordOption::Basic));
                        (Occur::Should, query)
                    })
                    .collect(),
            );
            bonuses.push(Box::new(ConstScoreQuery::new(
                Box::new(query),
                SUPPORTED_BONUS,
            )));
        }
        Ok(bonuses)
    }

    /// The catalog spelling of a version filter; unknown versions are an error when a catalog exists.
    pub fn canonical_version(
        &self,
        product: Option<&str>,
        version: &str,
    ) -> Result<String, SearchError> {
        if self.catalog.products.is_empty() {
            return Ok(version.trim().to_string());
        }
        self.catalog
            .canonical_version(product, version)
            .ok_or_else(|| SearchError::BadFilter {
                parameter: "version",
                value: version.to_string(),
                expected: self.catalog.all_versions().join(", "),
            })
    }

    /// Support status of each version, and whether all of them are past end of support.
    fn support(&self, versions: &[String]) -> (Vec<VersionSupport>, bool) {
        let today = Utc::now().date_naive();
        let support: Vec<VersionSupport> = versions
            .iter()
            .filter(|v| String::as_str(v) != ALL_VERSIONS)
            .map(|v| VersionSupport {
                version: v.clone(),
                status: self.catalog.support_status(v, today),
            })
            .collect();
        let end_of_support = !support.is_empty()
            && support
                .iter()
                .all(|s| s.status == SupportStatus::EndOfSupport);
        (support, end_of_support)
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

    /// The article with `id`, if `audience` may see it (drafts only when `include_drafts`).
    pub fn article(
        &self,
        id: &str,
        audience: Visibility,
        include_drafts: bool,
    ) -> Result<Option<StoredArticle>, SearchError> {
        let searcher = &self.searcher;
        let Some(doc) = self.visible_doc(searcher, self.schema.id, id, audience, include_drafts)?
        else {
            return Ok(None);
        };
        let stored = Stored { doc: &doc };
        let schema = &self.schema;
        let extras: serde_json::Value =
            serde_json::from_str(&stored.text(schema.extras)).unwrap_or_default();
        Ok(Some(StoredArticle {
            info: self.info(&stored),
            sections: serde_json::from_str(&stored.text(schema.sections)).unwrap_or_default(),
            markdown: stored.text(schema.markdown),
            queries: serde_json::from_value(extras["queries"].clone()).unwrap_or_default(),
        }))
    }

    /// Every article of the index, drafts and all visibilities: the preview's article list.
    pub fn list_articles(&self) -> Result<Vec<ArticleInfo>, SearchError> {
        let mut articles = Vec::new();
        for segment in self.searcher.segment_readers() {
            let store = segment
                .get_store_reader(64)
                .map_err(tantivy::TantivyError::from)?;
            for doc_id in segment.doc_ids_alive() {
                let doc: TantivyDocument = store.get(doc_id)?;
                articles.push(self.info(&Stored { doc: &doc }));
            }
        }
        articles.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(articles)
    }

    /// The fields shown about the article in `stored`.
    fn info(&self, stored: &Stored<'_>) -> ArticleInfo {
        let schema = &self.schema;
        let versions = stored.all(schema.versions);
        let (support, end_of_support) = self.support(&versions);
        ArticleInfo {
            id: stored.text(schema.id),
            title: stored.text(schema.title),
            kind: stored.text(schema.kind),
            path: stored.text(schema.path),
            product: stored.optional(schema.product),
            versions,
            support,
            end_of_support,
            tags: stored.all(schema.tags),
            visibility: stored.text(schema.visibility),
            status: stored.text(schema.status),
            updated: stored.date(schema.updated),
            summary: stored.text(schema.summary),
        }
    }

    /// The id of the article stored from `path`, if `audience` may see it.
    pub fn id_for_path(
        &self,
        path: &str,
        audience: Visibility,
        include_drafts: bool,
    ) -> Result<Option<String>, SearchError> {
        let searcher = &self.searcher;
        let doc = self.visible_doc(searcher, self.schema.path, path, audience, include_drafts)?;
        Ok(doc.map(|doc| Stored { doc: &doc }.text(self.schema.id)))
    }

    fn visible_doc(
        &self,
        searcher: &Searcher,
        key_field: Field,
        key: &str,
        audience: Visibility,
        include_drafts: bool,
    ) -> Result<Option<TantivyDocument>, SearchError> {
        let mut request = SearchRequest::new("");
        request.audience = audience;
        request.include_drafts = include_drafts;
        let term = Term::from_field_text(key_field, key);
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(
            Occur::Must,
            Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
        )];
        clauses.extend(
            self.filters(&request)?
                .into_iter()
                .map(|(_, f)| (Occur::Must, f)),
        );
        let found = searcher.search(
            &BooleanQuery::new(clauses),
            &TopDocs::with_limit(1).order_by_score(),
        )?;
        match found.first() {
            Some((_, address)) => Ok(Some(searcher.doc(*address)?)),
            None => Ok(None),
        }
    }

    pub(crate) fn hit(
        &self,
        searcher: &Searcher,
        snippets: Option<&Highlighter>,
        score: f32,
        address: DocAddress,
    ) -> Result<Hit, SearchError> {
        let schema = &self.schema;
        let doc: TantivyDocument = searcher.doc(address)?;
        let stored = Stored { doc: &doc };
        let body = stored.text(schema.body);
        let found = snippets.and_then(|highlighter| highlighter.highlight(&body));
        let section = found.as_ref().and_then(|snippet| {
            let sections: Vec<Heading> =
                serde_json::from_str(&stored.text(schema.sections)).unwrap_or_default();
            // The section holding the first highlighted word, not where the fragment starts.
            sections
                .iter()
                .rev()
                .find(|h| h.text_offset <= snippet.first_match)
                .map(|h| SectionRef {
                    heading: h.text.clone(),
                    anchor: h.anchor.clone(),
                })
        });
        let highlighted = match found {
            Some(snippet) => snippet.highlighted,
            None => Highlighted {
                text: stored.text(schema.summary),
                ranges: Vec::new(),
            },
        };
        Ok(Hit {
            info: self.info(&stored),
            score,
            snippet: highlighted,
            section,
        })
    }
}

/// Which request parameter a filter comes from; facets skip their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FilterKind {
    Visibility,
    Status,
    Type,
    Product,
    Version,
    Tag,
}

/// A filter clause and the request parameter it comes from.
pub(crate) type Filter = (FilterKind, Box<dyn Query>);

/// A term query on each token, or a phrase query over them when there are several.
fn field_query(field: Field, tokens: &[QueryToken]) -> Box<dyn Query> {
    if let [only] = tokens {
        let term = Term::from_field_text(field, &only.text);
        return Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs));
    }
    let first = tokens[0].position;
    let terms = tokens
        .iter()
        .map(|t| (t.position - first, Term::from_field_text(field, &t.text)))
        .collect();
    Box::new(PhraseQuery::new_with_offset(terms))
}

/// Matches documents whose keyword `field` holds any of `values`, without scoring.
fn any_of(field: Field, values: &[&str]) -> Box<dyn Query> {
    let terms: Vec<(Occur, Box<dyn Query>)> = values
        .iter()
        .map(|value| {
            let term = Term::from_field_text(field, value);
            let query: Box<dyn Query> = Box::new(TermQuery::new(term, IndexRecordOption::Basic));
            (Occur::Should, query)
        })
        .collect();
    Box::new(ConstScoreQuery::new(
        Box::new(BooleanQuery::new(terms)),
        0.0,
    ))
}
