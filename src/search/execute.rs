//! Running a search: the built query, filtered, counted with its facets, ranked (full matches
//! first for short queries), cut to one page, with snippets and a better spelling when a word
//! was unknown.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query};
use tantivy::{DocAddress, Score, Searcher};

use crate::error::SearchError;
use crate::search::audience::AudienceStats;
use crate::search::facets::{FACET_FIELDS, FacetCollector, FacetCount, Facets, Listed};
use crate::search::filters::FilterKind;
use crate::search::order::{self, TopByScoreThenKey};
use crate::search::query::{self, UserQuery};
use crate::search::rank::{MAX_TIERED_CONCEPTS, SEARCH_SEMANTIC_DEPTH};
use crate::search::snippet::Highlighter;
use crate::search::{KbSearcher, MAX_CLAUSES, SearchRequest, SearchResults, SortOrder};
use crate::semantic::RequestEmbedError;

/// Why a query that can match nothing has no results.
pub const ONLY_COMMON_WORDS: &str =
    "the query has only common words (like `the`, `to`, `is`) or symbols: add a more specific word";
/// Why a query of excluded words only (`-foo`) has no results.
pub const ONLY_EXCLUSIONS: &str =
    "the query only excludes words (`-word`): add a word to search for";
/// Values listed per facet (the most frequent), besides those chosen as filters.
const MAX_FACET_VALUES: usize = 20;

/// What the counting pass found.
struct Counted {
    total: usize,
    facets: Option<Facets>,
    /// The best matches, best first, when the pass was asked to rank them.
    ranked: Vec<(Score, DocAddress)>,
}

/// What counting a search's matches needs: the query, its parts and the filters.
#[derive(Clone, Copy)]
struct Counting<'a> {
    searcher: &'a Searcher,
    stats: &'a AudienceStats,
    request: &'a SearchRequest,
    matching: &'a dyn Query,
    any_concept: &'a dyn Query,
    restrict: &'a dyn Fn(Box<dyn Query>, Option<FilterKind>) -> Box<dyn Query>,
}

impl KbSearcher {
    /// Runs `request` and returns one page of hits.
    pub fn search(&self, request: &SearchRequest) -> Result<SearchResults, SearchError> {
        let user_query = query::parse(&request.query, MAX_CLAUSES);
        let mut notices = Vec::new();
        if user_query.truncated {
            notices.push(format!(
                "the query was shortened to its first {MAX_CLAUSES} words"
            ));
        }
        if request.query.trim().is_empty() {
            return Err(SearchError::EmptyQuery);
        }
        let searcher = &self.searcher;
        let stats = self.audience(request.audience, request.include_drafts)?;
        let built = match user_query.positive().next() {
            Some(_) => Some(self.build(&stats, &user_query, true)?),
            None => None,
        };
        let built = match built {
            Some(built) if built.concept_count() > 0 => built,
            nothing => {
                // A query that cannot match anything: no results, and a word on why.
                notices.push(
                    match nothing {
                        None => ONLY_EXCLUSIONS,
                        Some(_) => ONLY_COMMON_WORDS,
                    }
                    .to_string(),
                );
                return Ok(SearchResults {
                    total: 0,
                    hits: Vec::new(),
                    facets: request.facets.then(Facets::default),
                    did_you_mean: None,
                    notices,
                    provisional: false,
                });
            }
        };
        let filters = self.filters(request)?;
        let any_concept: Box<dyn Query> = Box::new(built.any_concept());
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
        let counting = Counting {
            searcher,
            stats: &stats,
            request,
            matching: &*matching,
            any_concept: &*any_concept,
            restrict: &restrict,
        };

        let semantic = self.may_use_vectors(request);
        let wanted = if semantic {
            (request.offset + request.limit).max(SEARCH_SEMANTIC_DEPTH)
        } else {
            request.offset + request.limit
        };
        let tiered = request.sort == SortOrder::Relevance
            && (2..=MAX_TIERED_CONCEPTS).contains(&built.concept_count());
        // The pass that counts matches and facets also ranks them whenever the page needs the
        // ranking of all matches: the union of the concepts is then read once, not twice.
        let (total, facets, scored) = if request.sort == SortOrder::Updated {
            let Counted { total, facets, .. } = self.count_and_facets(&counting, 0)?;
            let by_date = order::top_by_date(searcher, &*matching, wanted)?
                .into_iter()
                .map(|address| (0.0, address))
                .collect();
            (total, facets, by_date)
        } else if tiered {
            let every_concept: Box<dyn Query> = Box::new(built.every_concept());
            let full = restrict(every_concept, None);
            let full_hits = order::top_by_score(searcher, &*full, &stats, wanted)?;
            // Fewer full matches than wanted means all of them are in `full_hits`: the partial
            // tier is every match that is not one of them. (A `MustNot` of the intersection would
            // say the same, but trips tantivy's backward-seek assertion with phrase clauses.)
            if full_hits.len() < wanted {
                let full_set: HashSet<DocAddress> = full_hits.iter().map(|(_, a)| *a).collect();
                let rest = wanted - full_hits.len();
                let Counted {
                    total,
                    facets,
                    ranked,
                } = self.count_and_facets(&counting, rest + full_hits.len())?;
                let partial = ranked
                    .into_iter()
                    .filter(|(_, a)| !full_set.contains(a))
                    .take(rest);
                (
                    total,
                    facets,
                    full_hits.into_iter().chain(partial).collect(),
                )
            } else {
                let Counted { total, facets, .. } = self.count_and_facets(&counting, 0)?;
                (total, facets, full_hits)
            }
        } else {
            let counted = self.count_and_facets(&counting, wanted)?;
            (counted.total, counted.facets, counted.ranked)
        };
        let (scored, provisional) = if semantic {
            self.rerank_by_vectors(&request.query, scored)
        } else {
            (scored, false)
        };
        let page: Vec<(f32, DocAddress)> = scored
            .into_iter()
            .skip(request.offset)
            .take(request.limit)
            .collect();

        let snippets = if request.snippets {
            Some(Highlighter::new(
                &*stats,
                self.schema.all,
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
            self.did_you_mean(&stats, &user_query, &built.corrections, request)?
        } else {
            None
        };
        Ok(SearchResults {
            total,
            hits,
            facets,
            did_you_mean,
            notices,
            provisional,
        })
    }

    /// Whether `request` is one the vectors may rank: a question or a described symptom (enough
    /// words for meaning to matter) ranked by relevance, with a model configured. Short queries
    /// never are, so they cost what they cost without a model.
    pub(crate) fn may_use_vectors(&self, request: &SearchRequest) -> bool {
        self.semantic.is_some()
            && request.sort == SortOrder::Relevance
            && request
                .query
                .split_whitespace()
                .filter(|word| word.chars().any(char::is_alphanumeric))
                .count()
                >= self.search_min_words
    }

    /// The first [`SEARCH_SEMANTIC_DEPTH`] results reordered by a linear fusion of their
    /// lexical score (divided by the best of them) with the cosine of the query and the
    /// article; the rest keep their lexical order. Unchanged when one of them has no vector
    /// yet (it would be ranked on other terms than its neighbours) or the model fails. The flag
    /// says the model was busy with another request, so this ranking is lexical for now only.
    fn rerank_by_vectors(
        &self,
        query: &str,
        scored: Vec<(f32, DocAddress)>,
    ) -> (Vec<(f32, DocAddress)>, bool) {
        let (Some(semantic), Some(vectors)) = (&self.semantic, self.vectors()) else {
            return (scored, false);
        };
        let depth = scored.len().min(SEARCH_SEMANTIC_DEPTH);
        if depth < 2
            || scored[..depth]
                .iter()
                .any(|(_, address)| vectors.get(*address).is_none())
        {
            return (scored, false);
        }
        let query_vector = match semantic.embed_request(query) {
            Ok(vector) => vector,
            Err(RequestEmbedError::Busy) => return (scored, true),
            Err(err) => {
                tracing::warn!("cannot embed the query: {err}; ranked lexically");
                return (scored, false);
            }
        };
        let best = scored[..depth]
            .iter()
            .map(|(score, _)| *score)
            .fold(f32::MIN_POSITIVE, f32::max);
        let keys: Vec<_> = match self
            .searcher
            .segment_readers()
            .iter()
            .map(order::id_keys)
            .collect::<tantivy::Result<Vec<_>>>()
        {
            Ok(keys) => keys,
            Err(_) => return (scored, false),
        };
        let mut rest = scored;
        let tail = rest.split_off(depth);
        let mut fused: Vec<(f32, u64, DocAddress)> = rest
            .into_iter()
            .map(|(score, address)| {
                let vector = vectors.get(address).expect("checked above");
                let similarity = crate::semantic::model::dot(&query_vector, vector);
                let fused = self.search_lexical_weight * (score / best)
                    + (1.0 - self.search_lexical_weight) * similarity;
                let key = keys[address.segment_ord as usize].get_val(address.doc_id);
                (order::quantize(fused), key, address)
            })
            .collect();
        fused.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let reranked = fused
            .into_iter()
            .map(|(score, _, address)| (score, address))
            .chain(tail)
            .collect();
        (reranked, false)
    }

    /// Counts all matches and, when asked, the facets: one pass per distinct filter set. With
    /// `top` above 0 the first pass also ranks the matches and returns the best `top`.
    fn count_and_facets(
        &self,
        counting: &Counting<'_>,
        top: usize,
    ) -> Result<Counted, SearchError> {
        let Counting {
            searcher,
            stats,
            request,
            matching,
            any_concept,
            restrict,
        } = *counting;
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
        // The largest values of each facet, and always the ones chosen as filters.
        let listed = Listed {
            top: MAX_FACET_VALUES,
            chosen: Arc::new([
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
            ]),
        };
        let collector =
            FacetCollector::new(self.facet_cache.clone(), shared.clone(), listed.clone());
        let (fruit, ranked) = if top > 0 {
            searcher.search_with_statistics_provider(
                matching,
                &(collector, TopByScoreThenKey::new(top)),
                stats,
            )?
        } else {
            (searcher.search(matching, &collector)?, Vec::new())
        };
        let total = fruit.matches as usize;
        if !request.facets {
            return Ok(Counted {
                total,
                facets: None,
                ranked,
            });
        }
        let mut counts: HashMap<usize, Vec<FacetCount>> =
            shared.into_iter().zip(fruit.counts).collect();
        for field in (0..FACET_FIELDS.len()).filter(|f| active(facet_filters[*f])) {
            let query = restrict(any_concept.box_clone(), Some(facet_filters[field]));
            let own = searcher.search(
                &*query,
                &FacetCollector::new(self.facet_cache.clone(), vec![field], listed.clone()),
            )?;
            counts.insert(field, own.counts.into_iter().next().unwrap_or_default());
        }
        let mut take = |field: usize| counts.remove(&field).unwrap_or_default();
        let facets = Facets {
            kind: take(0),
            product: take(1),
            version: take(2),
            tag: take(3),
        };
        Ok(Counted {
            total,
            facets: Some(facets),
            ranked,
        })
    }

    /// The query with unknown words replaced by their corrections, if that query has results.
    fn did_you_mean(
        &self,
        stats: &AudienceStats,
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
        let built = self.build(stats, &parsed, false)?;
        if built.concept_count() == 0 {
            return Ok(None);
        }
        let mut clauses: Vec<(Occur, Box<dyn Query>)> =
            vec![(Occur::Must, Box::new(built.any_concept()))];
        for (_, filter) in self.filters(request)? {
            clauses.push((Occur::Must, filter));
        }
        for exclusion in built.exclusions {
            clauses.push((Occur::MustNot, exclusion));
        }
        let found = self.searcher.search(
            &BooleanQuery::new(clauses),
            &TopDocs::with_limit(1).order_by_score(),
        )?;
        Ok((!found.is_empty()).then_some(suggestion))
    }
}
