//! Rank check: why an article is, or is not, found for a query. Writers list the queries an
//! article should answer (front matter `queries:`); for each, this runs the production search as
//! the article's own audience would and reports where the article ranks among published
//! articles, which articles are above it, which of its fields hold the query's terms, and which
//! query words it does not contain at all. The writers' preview shows it per query and
//! `kbsearch check --queries` fails when an article is not in the top N.
//!
//! It sits after `search`: it reads one committed index through a [`KbSearcher`]'s public API
//! and changes nothing.

use std::collections::HashSet;

use serde::Serialize;
use tantivy::collector::TopDocs;
use tantivy::query::TermQuery;
use tantivy::schema::{Field, IndexRecordOption, Value};
use tantivy::{TantivyDocument, Term};

use crate::content::article::{Status, Visibility};
use crate::content::{front_matter, markdown};
use crate::error::SearchError;
use crate::index::analysis;
use crate::search::query;
use crate::search::{KbSearcher, MAX_CLAUSES, SearchRequest};

/// An article ranked above the one checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RankedArticle {
    pub id: String,
    pub title: String,
}

/// Where one article ranks for one query, and why.
#[derive(Debug, Clone, Serialize)]
pub struct RankReport {
    pub query: String,
    /// 1-based among the published articles visible to the article's own audience; `None` when
    /// not in the top `depth`.
    pub rank: Option<usize>,
    /// The articles ranked above it (all of the top `depth` when it is not among them).
    pub above: Vec<RankedArticle>,
    /// Which of `title`, `headings`, `keywords`, `body` hold any of the query's analysed terms.
    pub matched_fields: Vec<String>,
    /// Query words (as typed) the article does not contain in any field.
    pub missing_terms: Vec<String>,
}

/// The article fields matched fields are reported for, in the order they are listed.
const FIELD_NAMES: [&str; 4] = ["title", "headings", "keywords", "body"];

/// Rank checks over one index snapshot, through the searcher's public API.
pub struct RankCheck<'a> {
    kb: &'a KbSearcher,
}

impl<'a> RankCheck<'a> {
    pub fn new(kb: &'a KbSearcher) -> Self {
        RankCheck { kb }
    }

    /// Ranks the article `article_id` for `query`, looking at most `depth` places deep.
    ///
    /// The search is the production one (`SearchRequest` with the article's visibility as the
    /// audience, published articles only), so a published article's rank is the one its readers
    /// see. For a draft, the search also includes drafts and counts only published articles
    /// above it (other drafts are skipped): the rank it would have once published, if nothing
    /// else changed. Matched fields and missing terms compare the query's terms (query analyzer)
    /// with the article's (index analyzer, which also splits compounds such as
    /// `ERR_SHARE_LOCKED`); synonyms, typo corrections and completions, which search also uses,
    /// are not counted there. An id that is not in the index is a `BadFilter` error on `id`.
    pub fn rank_of(
        &self,
        article_id: &str,
        query: &str,
        depth: usize,
    ) -> Result<RankReport, SearchError> {
        let Some(doc) = self.doc_with_id(article_id)? else {
            return Err(SearchError::BadFilter {
                parameter: "id",
                value: article_id.to_string(),
                expected: "the id of an indexed article".to_string(),
            });
        };
        let schema = self.kb.schema();
        let visibility = stored_text(&doc, schema.visibility)
            .parse()
            .unwrap_or(Visibility::Public);
        let is_draft = stored_text(&doc, schema.status) == Status::Draft.as_str();
        let (rank, above) = self.position(article_id, query, visibility, is_draft, depth)?;
        let (matched_fields, missing_terms) = self.explain(&doc, query);
        Ok(RankReport {
            query: query.to_string(),
            rank,
            above,
            matched_fields,
            missing_terms,
        })
    }

    /// The stored document of the article with `id`, whatever its visibility and status.
    fn doc_with_id(&self, id: &str) -> Result<Option<TantivyDocument>, SearchError> {
        let term = Term::from_field_text(self.kb.schema().id, id);
        let query = TermQuery::new(term, IndexRecordOption::Basic);
        let searcher = self.kb.searcher();
        let found = searcher.search(&query, &TopDocs::with_limit(1).order_by_score())?;
        match found.first() {
            Some((_, address)) => Ok(Some(searcher.doc(*address)?)),
            None => Ok(None),
        }
    }

    /// The article's 1-based rank within `depth`, and the published articles above it.
    fn position(
        &self,
        article_id: &str,
        query: &str,
        audience: Visibility,
        is_draft: bool,
        depth: usize,
    ) -> Result<(Option<usize>, Vec<RankedArticle>), SearchError> {
        let mut request = SearchRequest::new(query);
        request.audience = audience;
        request.include_drafts = is_draft;
        request.snippets = false;
        request.facets = false;
        let mut limit = depth;
        loop {
            request.limit = limit;
            let results = self.kb.search(&request)?;
            let mut above = Vec::new();
            for hit in &results.hits {
                if above.len() == depth {
                    return Ok((None, above));
                }
                if hit.info.id == article_id {
                    return Ok((Some(above.len() + 1), above));
                }
                // Only with a draft checked: other drafts are not what readers would see.
                if hit.info.status == Status::Draft.as_str() {
                    continue;
                }
                above.push(RankedArticle {
                    id: hit.info.id.clone(),
                    title: hit.info.title.clone(),
                });
            }
            let exhausted = results.hits.len() < limit;
            if above.len() >= depth || exhausted {
                return Ok((None, above));
            }
            // Skipped drafts took places: look deeper.
            limit *= 2;
        }
    }

    /// Which fields of the article hold the query's terms, and which query words it lacks.
    fn explain(&self, doc: &TantivyDocument, query: &str) -> (Vec<String>, Vec<String>) {
        let schema = self.kb.schema();
        let source = stored_text(doc, schema.source);
        let extract = markdown::extract(front_matter::body_of(&source), 1);
        let body = format!("{}\n{}", extract.text, extract.code);
        let texts = [
            stored_text(doc, schema.title),
            stored_text(doc, schema.headings),
            stored_text(doc, schema.keywords),
            body,
        ];
        let mut index_analyzer = analysis::index_analyzer();
        let field_terms: Vec<HashSet<String>> = texts
            .iter()
            .map(|text| {
                analysis::analyze(&mut index_analyzer, text)
                    .into_iter()
                    .map(|t| t.text)
                    .collect()
            })
            .collect();

        let mut query_analyzer = self.kb.query_analyzer();
        let words: Vec<String> = query::parse(query, MAX_CLAUSES)
            .positive()
            .flat_map(|clause| {
                clause
                    .text
                    .split_whitespace()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect();
        let word_terms: Vec<(String, Vec<String>)> = words
            .into_iter()
            .map(|word| {
                let terms = analysis::analyze(&mut query_analyzer, &word)
                    .into_iter()
                    .map(|t| t.text)
                    .collect();
                (word, terms)
            })
            .collect();
        let query_terms: HashSet<&str> = word_terms
            .iter()
            .flat_map(|(_, terms)| terms.iter().map(String::as_str))
            .collect();

        let matched_fields = FIELD_NAMES
            .iter()
            .zip(&field_terms)
            .filter(|(_, terms)| query_terms.iter().any(|t| terms.contains(*t)))
            .map(|(name, _)| name.to_string())
            .collect();
        // Stop words analyse to nothing: they are never missing.
        let missing_terms = word_terms
            .into_iter()
            .filter(|(_, terms)| {
                !terms.is_empty()
                    && !terms
                        .iter()
                        .any(|t| field_terms.iter().any(|field| field.contains(t)))
            })
            .map(|(word, _)| word)
            .collect();
        (matched_fields, missing_terms)
    }
}

fn stored_text(doc: &TantivyDocument, field: Field) -> String {
    doc.get_first(field)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string()
}
