//! Search: turns a customer's query and filters into a tantivy query, runs it, and shapes the hits
//! with highlighted snippets and deep links to the best section.
//!
//! Ranking, in order of precedence:
//! 1. articles that match every query word (or a synonym of it) come before those matching some;
//! 2. within each tier, BM25 over title, headings, keywords, body and code, each field boosted;
//! 3. synonyms from `synonyms.toml` count as the word, at a lower weight.
//!
//! Filters (type, product, version, tags, visibility, status) restrict without scoring.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;
use std::path::Path;

use chrono::NaiveDate;
use serde::Serialize;
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, Occur, PhraseQuery, Query, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption, Value};
use tantivy::snippet::{Snippet, SnippetGenerator};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{DocAddress, Index, IndexReader, ReloadPolicy, Searcher, TantivyDocument, Term};

use crate::analysis::{self, QueryToken};
use crate::article::{ALL_VERSIONS, ArticleType, Status, Visibility};
use crate::error::{IndexError, SearchError};
use crate::index_dir::IndexDir;
use crate::markdown::Heading;
use crate::products::Catalog;
use crate::query::{self, UserQuery};
use crate::schema::KbSchema;
use crate::synonyms::Synonyms;

/// Most clauses read from one query; the rest is dropped with a notice.
pub const MAX_CLAUSES: usize = 64;
/// Queries with at most this many words rank full matches first; longer ones (pasted text) rank
/// by BM25 alone, where requiring every word would only add noise.
const MAX_TIERED_CONCEPTS: usize = 6;
/// Weight of a synonym relative to the word the customer typed.
const SYNONYM_WEIGHT: f32 = 0.8;
/// Length of a snippet in characters.
const SNIPPET_CHARS: usize = 220;

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
    /// Build highlighted snippets; ranking-only callers (evaluation) skip them.
    pub snippets: bool,
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
            snippets: true,
        }
    }
}

/// A piece of text with the byte ranges that matched the query.
#[derive(Debug, Clone, Default)]
pub struct Highlighted {
    pub text: String,
    pub ranges: Vec<Range<usize>>,
}

impl Highlighted {
    /// HTML with matches in `<mark>` and everything else escaped.
    pub fn to_html(&self) -> String {
        self.render(
            |s, out| {
                pulldown_cmark_escape::escape_html(out, s).expect("writing to a String cannot fail")
            },
            "<mark>",
            "</mark>",
        )
    }

    /// Terminal text with matches in bold yellow.
    pub fn to_ansi(&self) -> String {
        self.render_marked("\x1b[1;33m", "\x1b[0m")
    }

    /// Plain text with matches between `open` and `close`.
    pub fn render_marked(&self, open: &str, close: &str) -> String {
        self.render(|s, out| out.push_str(s), open, close)
    }

    fn render(&self, mut push: impl FnMut(&str, &mut String), open: &str, close: &str) -> String {
        let mut out = String::new();
        let mut at = 0;
        for range in &self.ranges {
            push(&self.text[at..range.start], &mut out);
            out.push_str(open);
            push(&self.text[range.clone()], &mut out);
            out.push_str(close);
            at = range.end;
        }
        push(&self.text[at..], &mut out);
        out
    }
}

impl Serialize for Highlighted {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = serializer.serialize_struct("Highlighted", 3)?;
        out.serialize_field("text", &self.text)?;
        out.serialize_field("html", &self.to_html())?;
        out.serialize_field("ranges", &self.ranges)?;
        out.end()
    }
}

/// The section of an article a hit points into.
#[derive(Debug, Clone, Serialize)]
pub struct SectionRef {
    pub heading: String,
    pub anchor: String,
}

/// One search result.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    pub id: String,
    pub title: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub path: String,
    pub product: Option<String>,
    pub versions: Vec<String>,
    pub tags: Vec<String>,
    pub visibility: String,
    pub status: String,
    pub updated: Option<NaiveDate>,
    pub summary: String,
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
    /// Things the caller should know, such as a shortened query.
    pub notices: Vec<String>,
}

/// The pieces of a built query.
struct BuiltQuery {
    /// One query per concept (word, phrase or synonym group) the customer asked for.
    concepts: Vec<Box<dyn Query>>,
    exclusions: Vec<Box<dyn Query>>,
    /// Every analysed term the customer asked for (synonyms included), to highlight snippets.
    highlight: Vec<String>,
}

/// Searches one index with the content folder's synonyms and catalog.
pub struct KbSearcher {
    reader: IndexReader,
    /// Built once: the stop-word set and stemmer are not free to construct.
    query_analyzer: TextAnalyzer,
    schema: KbSchema,
    synonyms: Synonyms,
    catalog: Catalog,
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

    pub fn new(
        index: &Index,
        synonyms: Synonyms,
        catalog: Catalog,
    ) -> Result<KbSearcher, IndexError> {
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(KbSearcher {
            reader,
            query_analyzer: analysis::query_analyzer(),
            schema: KbSchema::new(),
            synonyms,
            catalog,
        })
    }

    pub fn reader(&self) -> &IndexReader {
        &self.reader
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
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
        let built = self.build(&user_query);
        if built.concepts.is_empty() {
            return Err(SearchError::OnlyCommonWords);
        }
        let filters = self.filters(request)?;
        let searcher = self.reader.searcher();
        let any_concept: Box<dyn Query> = Box::new(BooleanQuery::union(
            built.concepts.iter().map(|q| q.box_clone()).collect(),
        ));
        let restrict = |mut clauses: Vec<(Occur, Box<dyn Query>)>| -> Box<dyn Query> {
            for filter in &filters {
                clauses.push((Occur::Must, filter.box_clone()));
            }
            for exclusion in &built.exclusions {
                clauses.push((Occur::MustNot, exclusion.box_clone()));
            }
            Box::new(BooleanQuery::new(clauses))
        };
        let matching = restrict(vec![(Occur::Must, any_concept.box_clone())]);
        let total = searcher.search(&*matching, &Count)?;

        let wanted = request.offset + request.limit;
        let mut scored: Vec<(f32, DocAddress)> = Vec::new();
        let tiered = (2..=MAX_TIERED_CONCEPTS).contains(&built.concepts.len());
        if tiered {
            let every_concept: Box<dyn Query> = Box::new(BooleanQuery::intersection(
                built.concepts.iter().map(|q| q.box_clone()).collect(),
            ));
            let full = restrict(vec![(Occur::Must, every_concept)]);
            let (full_hits, full_count) = searcher.search(
                &*full,
                &(TopDocs::with_limit(wanted.max(1)).order_by_score(), Count),
            )?;
            // Fewer full matches than wanted means all of them are in `full_hits`: the partial
            // tier is every match that is not one of them. (A `MustNot` of the intersection would
            // say the same, but trips tantivy's backward-seek assertion with phrase clauses.)
            if full_hits.len() < wanted {
                let full_set: HashSet<DocAddress> = full_hits.iter().map(|(_, a)| *a).collect();
                let rest = wanted - full_hits.len();
                let any_hits = searcher.search(
                    &*matching,
                    &TopDocs::with_limit(rest + full_count).order_by_score(),
                )?;
                scored.extend(full_hits);
                scored.extend(
                    any_hits
                        .into_iter()
                        .filter(|(_, a)| !full_set.contains(a))
                        .take(rest),
                );
            } else {
                scored.extend(full_hits);
            }
        } else {
            scored = searcher.search(
                &*matching,
                &TopDocs::with_limit(wanted.max(1)).order_by_score(),
            )?;
        }
        let page: Vec<(f32, DocAddress)> = scored
            .into_iter()
            .skip(request.offset)
            .take(request.limit)
            .collect();

        let snippets = if request.snippets {
            Some(self.snippet_generator(&searcher, &built.highlight)?)
        } else {
            None
        };
        let hits = page
            .into_iter()
            .map(|(score, address)| self.hit(&searcher, snippets.as_ref(), score, address))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SearchResults {
            total,
            hits,
            notices,
        })
    }

    /// Builds one query per concept and one per exclusion.
    fn build(&self, user_query: &UserQuery) -> BuiltQuery {
        let mut analyzer = self.query_analyzer.clone();
        let mut concepts = Vec::new();
        let mut highlight = Vec::new();
        let positive: Vec<&query::Clause> = user_query.positive().collect();
        let mut index = 0;
        while index < positive.len() {
            let clause = positive[index];
            if clause.phrase {
                concepts.extend(self.text_query(&mut analyzer, &clause.text, &mut highlight));
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
                if let Some(query) = self.text_query(&mut analyzer, &original, &mut highlight) {
                    variants.push((Occur::Should, query));
                }
                for alternative in alternatives {
                    if let Some(query) =
                        self.text_query(&mut analyzer, &alternative.join(" "), &mut highlight)
                    {
                        variants.push((
                            Occur::Should,
                            Box::new(BoostQuery::new(query, SYNONYM_WEIGHT)),
                        ));
                    }
                }
                // A short version (`7.8`) also finds the release it names (`7.8.0`).
                if let Some(release) = self.release_named(&original)
                    && let Some(query) = self.text_query(&mut analyzer, &release, &mut highlight)
                {
                    variants.push((Occur::Should, query));
                }
                match variants.len() {
                    0 => {}
                    1 => concepts.push(variants.pop().expect("one variant").1),
                    _ => concepts.push(Box::new(BooleanQuery::new(variants))),
                }
                at += len;
            }
            index = run_end;
        }
        let mut not_highlighted = Vec::new();
        let exclusions = user_query
            .negative()
            .filter_map(|clause| self.text_query(&mut analyzer, &clause.text, &mut not_highlighted))
            .collect();
        BuiltQuery {
            concepts,
            exclusions,
            highlight,
        }
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

    /// Matches `text` (a word, or several words as a phrase) in every full-text field, each with
    /// its boost, and adds its body-field form to `highlight`. `None` when the text has no
    /// searchable terms (only stop words or symbols).
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

    /// Highlights `terms` in body text. The body is stored, not indexed: terms are weighted by
    /// their rarity in the `all` field, which contains the body.
    fn snippet_generator(
        &self,
        searcher: &Searcher,
        terms: &[String],
    ) -> Result<SnippetGenerator, SearchError> {
        let mut weights = BTreeMap::new();
        for term in terms {
            let doc_freq = searcher.doc_freq(&Term::from_field_text(self.schema.all, term))?;
            if doc_freq > 0 {
                weights.insert(term.clone(), 1.0 / (1.0 + doc_freq as f32));
            }
        }
        let analyzer = searcher.index().tokenizer_for_field(self.schema.all)?;
        Ok(SnippetGenerator::new(
            weights,
            analyzer,
            self.schema.body,
            SNIPPET_CHARS,
        ))
    }

    /// Filter clauses: they restrict the matches and add nothing to the score.
    fn filters(&self, request: &SearchRequest) -> Result<Vec<Box<dyn Query>>, SearchError> {
        let schema = &self.schema;
        let mut filters: Vec<Box<dyn Query>> = Vec::new();
        let visible: Vec<&str> = Visibility::ALL
            .iter()
            .filter(|v| **v <= request.audience)
            .map(|v| v.as_str())
            .collect();
        filters.push(any_of(schema.visibility, &visible));
        if !request.include_drafts {
            filters.push(any_of(schema.status, &[Status::Published.as_str()]));
        }
        if !request.types.is_empty() {
            let types: Vec<&str> = request.types.iter().map(|t| t.as_str()).collect();
            filters.push(any_of(schema.kind, &types));
        }
        if let Some(product) = &request.product {
            let name = self
                .catalog
                .product(product)
                .map_or(product.clone(), |p| p.name.clone());
            filters.push(any_of(schema.product, &[name.as_str()]));
        }
        if let Some(version) = &request.version {
            let canonical = self.canonical_version(request.product.as_deref(), version)?;
            filters.push(any_of(schema.versions, &[canonical.as_str(), ALL_VERSIONS]));
        }
        if !request.tags.is_empty() {
            let tags: Vec<String> = request.tags.iter().map(|t| t.to_lowercase()).collect();
            let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
            filters.push(any_of(schema.tags, &tags));
        }
        Ok(filters)
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

    fn hit(
        &self,
        searcher: &Searcher,
        snippets: Option<&SnippetGenerator>,
        score: f32,
        address: DocAddress,
    ) -> Result<Hit, SearchError> {
        let schema = &self.schema;
        let doc: TantivyDocument = searcher.doc(address)?;
        let text = |field: Field| -> String {
            doc.get_first(field)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let all = |field: Field| -> Vec<String> {
            doc.get_all(field)
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        };
        let body = text(schema.body);
        let summary = text(schema.summary);
        let mut snippet =
            snippets.map_or_else(Snippet::empty, |generator| generator.snippet(&body));
        let sections: Vec<Heading> =
            serde_json::from_str(&text(schema.sections)).unwrap_or_default();
        let section = if snippet.is_empty() {
            None
        } else {
            // The section holding the first highlighted word, not where the fragment starts.
            let first_match = snippet
                .highlighted()
                .iter()
                .map(|r| r.start)
                .min()
                .unwrap_or(0);
            let start = snippet.fragment_range().start + first_match;
            sections
                .iter()
                .rev()
                .find(|h| h.text_offset <= start)
                .map(|h| SectionRef {
                    heading: h.text.clone(),
                    anchor: h.anchor.clone(),
                })
        };
        snippet.set_snippet_prefix_postfix("", "");
        let highlighted = if snippet.is_empty() {
            Highlighted {
                text: summary.clone(),
                ranges: Vec::new(),
            }
        } else {
            Highlighted {
                text: snippet.fragment().to_string(),
                ranges: tantivy::snippet::collapse_overlapped_ranges(snippet.highlighted()),
            }
        };
        let updated = doc
            .get_first(schema.updated)
            .and_then(|v| v.as_datetime())
            .and_then(|d| chrono::DateTime::from_timestamp(d.into_timestamp_secs(), 0))
            .map(|d| d.date_naive());
        Ok(Hit {
            id: text(schema.id),
            title: text(schema.title),
            kind: text(schema.kind),
            path: text(schema.path),
            product: doc
                .get_first(schema.product)
                .and_then(|v| v.as_str())
                .map(str::to_string),
            versions: all(schema.versions),
            tags: all(schema.tags),
            visibility: text(schema.visibility),
            status: text(schema.status),
            updated,
            summary,
            score,
            snippet: highlighted,
            section,
        })
    }
}

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
