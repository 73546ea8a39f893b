//! Case deflection: while a customer writes a case, find the articles that may already answer it.
//!
//! A draft is long, noisy prose, so it is not parsed as a search query. Every analysed word of
//! the subject and description becomes one optional term of a BM25 query over the `all` field
//! (dropping to the top terms by IDF lowers recall on real cases, so nothing is dropped), weighted
//! by how often the customer wrote it (1 + ln tf), with a small extra weight for title matches.
//! Error codes and versions are whole tokens of the index, so they match exactly and their IDF
//! makes them count; quoted error messages are matched as phrases. Product and visibility filter
//! the candidates; the version and the case type reorder them (a feature request is answered by
//! release notes and help pages first; an article for the customer's version comes before one
//! for another version). Measured on `kb/deflection.jsonl`: subject weighting, an extra weight on
//! codes and plain term counts (no log) each scored lower. The candidates come from
//! [`crate::search::maxscore`], which finds the same top k as scoring every posting at a fraction of the
//! cost.
//!
//! Raw BM25 scores do not compare across drafts, so each score is divided by the draft's own
//! maximum — the sum of its terms' weighted IDF — and that ratio is mapped to a calibrated
//! confidence (fitted on the judged drafts of `kb/deflection.jsonl`, see `kbsearch eval
//! --drafts`). Suggestions below the threshold are not shown: a draft that nothing answers gets
//! an empty list instead of noise.

pub mod draft;

use std::collections::HashMap;

use chrono::{NaiveDate, Utc};
use serde::Serialize;
use tantivy::postings::SegmentPostings;
use tantivy::query::{BoostQuery, PhraseQuery, Query};
use tantivy::schema::IndexRecordOption;
use tantivy::{BitSet, DocAddress, DocId, DocSet, Searcher, Term};

use crate::content::article::{ALL_VERSIONS, ArticleType};
use crate::content::products::SupportStatus;
use crate::error::SearchError;
use crate::index::analysis::{self, QueryToken};
use crate::search::audience::AudienceStats;
use crate::search::facets::FACET_FIELDS;
use crate::search::maxscore::{self, Clause, FieldStats, TermLookup};
use crate::search::order;
use crate::search::rank::{
    BM25_K1, CALIBRATION, CANDIDATES, DRAFT_SEMANTIC_CANDIDATES, DRAFT_SEMANTIC_LEXICAL_WEIGHT,
    DRAFT_TITLE_WEIGHT, FEATURE_HELP_FIT, FEATURE_RELEASE_NOTE_FIT, OTHER_VERSION_FIT,
    PHRASE_WEIGHT, SAME_VERSION_FIT, SEMANTIC_CALIBRATION,
};
use crate::search::snippet::{Highlighted, Highlighter};
use crate::search::{ArticleInfo, KbSearcher, SectionRef};
use crate::semantic::RequestEmbedError;
use crate::semantic::model::dot;

/// Most suggestions a caller may ask for.
pub const MAX_LIMIT: usize = 20;
/// Suggestions returned when the caller does not say.
pub const DEFAULT_LIMIT: usize = 5;
/// Most distinct terms taken from a draft; a pasted log can hold thousands.
const MAX_TERMS: usize = 256;
/// Longest quoted passage treated as an exact message.
const MAX_PHRASE_WORDS: usize = 16;
/// Matched words reported per suggestion.
const MAX_MATCHED_TERMS: usize = 8;

pub use crate::deflect::draft::{CaseType, DraftCase, DraftError, Severity};

/// One article suggested for a draft.
#[derive(Debug, Clone, Serialize)]
pub struct Suggestion {
    #[serde(flatten)]
    pub info: ArticleInfo,
    pub snippet: Highlighted,
    pub section: Option<SectionRef>,
    /// How likely the article answers the case, in [0, 1].
    pub confidence: f32,
    /// The draft's words the article contains, most telling first.
    pub matched_terms: Vec<String>,
    /// BM25 score divided by the draft's own maximum: what the confidence is computed from.
    pub score_ratio: f32,
    /// The raw BM25 score, comparable only within one draft.
    pub score: f32,
    /// With a sentence-embedding model: the cosine of the draft and the article.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub similarity: Option<f32>,
    /// With a sentence-embedding model: the fused score the suggestions are ordered by, which
    /// the confidence is computed from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fused_score: Option<f32>,
}

/// A candidate article for a draft, before it is shown.
struct Candidate {
    /// What candidates are ordered by: the lexical score, or the fused score with a model.
    rank: f32,
    key: u64,
    address: DocAddress,
    /// Lexical score, after the policy's factor.
    score: f32,
    ratio: f32,
    similarity: Option<f32>,
}

impl Candidate {
    fn confidence(&self) -> f32 {
        match self.similarity {
            // The fused score, which orders the candidates: what is shown is always the top of
            // the ranking, and a draft nothing answers is left alone when its fused top-1 is low.
            Some(_) => semantic_confidence(self.rank),
            None => confidence(self.ratio),
        }
    }
}

/// How deflection fuses the lexical score with the vectors.
#[derive(Debug, Clone, Copy)]
pub struct Fusion {
    /// Weight of the lexical score ratio; the cosine gets the rest.
    pub lexical_weight: f32,
}

impl Default for Fusion {
    fn default() -> Self {
        Fusion {
            lexical_weight: DRAFT_SEMANTIC_LEXICAL_WEIGHT,
        }
    }
}

impl Fusion {
    fn fuse(&self, ratio: f32, similarity: f32) -> f32 {
        self.lexical_weight * ratio.min(1.0) + (1.0 - self.lexical_weight) * similarity
    }
}

/// What deflection found for a draft.
#[derive(Debug, Clone, Serialize)]
pub struct Deflection {
    pub suggestions: Vec<Suggestion>,
    pub notices: Vec<Notice>,
}

/// One weighted term of a draft.
struct DraftTerm {
    text: String,
    /// The word as the customer wrote it, for "matched terms".
    surface: String,
    weight: f32,
    idf: f32,
}

/// A draft's terms, and where they are in the index.
struct DraftTerms {
    /// Term `i` is `terms[i]` in the `all` field; term `terms.len() + i`, the same in the title.
    lookup: TermLookup,
    terms: Vec<DraftTerm>,
}

/// The help article about versions and end of support, linked from the notice a draft gets when
/// it names a version past its end of general support.
pub const LIFECYCLE_ARTICLE: &str = "product-version-support";

/// Something the customer should know from the support policy, with the article that says more
/// (when the customer may see it). A notice is not a suggestion: it says nothing about whether
/// an article answers the case, so it never takes a suggestion's place or confidence.
#[derive(Debug, Clone, Serialize)]
pub struct Notice {
    pub text: String,
    /// The id of the article that explains the notice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub article: Option<String>,
}

impl Notice {
    fn text(text: String) -> Notice {
        Notice {
            text,
            article: None,
        }
    }
}

/// Deflection over one index snapshot. It borrows the searcher and reads the index only through
/// the searcher's public API, so search's internals stay its own.
pub struct Deflector<'a> {
    kb: &'a KbSearcher,
    fusion: Fusion,
}

impl<'a> Deflector<'a> {
    pub fn new(kb: &'a KbSearcher) -> Self {
        Deflector {
            kb,
            fusion: Fusion::default(),
        }
    }

    /// The same deflector with another fusion of lexical score and vectors (for measurements).
    pub fn with_fusion(self, fusion: Fusion) -> Self {
        Deflector { fusion, ..self }
    }

    /// With a model and every lexical candidate's vector at hand: the cosine of the draft with
    /// each candidate, lexical ones first, then the nearest allowed articles by vector that are
    /// not among them. `None` means ranking lexically: no model, a lexical candidate still
    /// waiting for its vector (its neighbours would be ranked on other terms), or the model
    /// failing on the draft.
    fn semantic_inputs(
        &self,
        draft: &DraftCase,
        pool: &[(f32, DocAddress)],
        allowed: &[BitSet],
        tie_key: &dyn Fn(u32, DocId) -> u64,
    ) -> Option<(Vec<f32>, Vec<DocAddress>)> {
        let semantic = self.kb.semantic()?;
        let vectors = self.kb.vectors()?;
        if pool
            .iter()
            .any(|(_, address)| vectors.get(*address).is_none())
        {
            return None;
        }
        let text = format!("{}\n{}", draft.subject, draft.description);
        let query = match semantic.embed_request(&text) {
            Ok(query) => query,
            Err(RequestEmbedError::Busy) => return None,
            Err(err) => {
                tracing::warn!("cannot embed the draft: {err}; ranked lexically");
                return None;
            }
        };
        let mut addresses: Vec<DocAddress> = pool.iter().map(|(_, address)| *address).collect();
        let mut similarities: Vec<f32> = addresses
            .iter()
            .map(|address| dot(&query, vectors.get(*address).expect("checked above")))
            .collect();
        for (similarity, address) in vectors.nearest(
            &query,
            allowed,
            DRAFT_SEMANTIC_CANDIDATES,
            &order::quantize,
            tie_key,
        ) {
            if !addresses.contains(&address) {
                addresses.push(address);
                similarities.push(similarity);
            }
        }
        Some((similarities, addresses))
    }

    /// Suggests articles that may answer `draft`, with notices from the support policy.
    pub fn deflect(&self, draft: &DraftCase) -> Result<Deflection, DraftError> {
        if draft.subject.trim().is_empty() && draft.description.trim().is_empty() {
            return Err(DraftError::Empty);
        }
        let today = Utc::now().date_naive();
        let mut notices = Vec::new();
        if draft.severity.level() == 1 {
            notices.push(Notice::text(
                "Severity 1 (critical: data loss, product down, no workaround): submit the case now \
                 rather than searching further; Technical Support responds within 4 hours. The \
                 articles below may help meanwhile."
                    .to_string(),
            ));
        }
        let version = self.draft_version(draft, &mut notices);
        let past_end_of_support = version.as_deref().and_then(|v| {
            (self.kb.catalog().support_status(v, today) == SupportStatus::EndOfSupport)
                .then(|| (v.to_string(), self.kb.catalog().support_ends(v)))
        });
        if let Some((version, ends)) = &past_end_of_support {
            let page = self
                .kb
                .article(LIFECYCLE_ARTICLE, draft.audience, false)?
                .map(|article| article.info.id);
            notices.push(Notice {
                text: end_of_support_notice(version, *ends),
                article: page,
            });
        }

        let searcher = self.kb.searcher();
        // Every statistic (document frequencies, lengths, counts) is over what this customer
        // may see, so neither suggestions nor confidences depend on hidden articles.
        let stats = self.kb.audience(draft.audience, false)?;
        let DraftTerms { lookup, terms } = self.draft_terms(&stats, draft)?;
        let phrases = self.quoted_phrases(&draft.subject, &draft.description);
        let mut suggestions = Vec::new();
        let with_vectors = self.kb.semantic().is_some();
        if !terms.is_empty() || with_vectors {
            let max_score: f32 = terms
                .iter()
                .map(|t| t.weight * t.idf * (BM25_K1 + 1.0))
                .sum::<f32>()
                .max(f32::EPSILON);
            // Visibility, status and product filter; the version and the case type only reorder
            // (an answer may be the release that brought a fix or a feature).
            let product = draft
                .product
                .as_deref()
                .filter(|p| self.kb.catalog().product(p).is_some());
            let allowed = self.kb.allowed_documents(draft.audience, product)?;
            let clauses = self.draft_clauses(&stats, &lookup, &terms)?;
            let keys = searcher
                .segment_readers()
                .iter()
                .map(order::id_keys)
                .collect::<tantivy::Result<Vec<_>>>()
                .map_err(SearchError::from)?;
            let tie_key = |segment: u32, doc: DocId| keys[segment as usize].get_val(doc);
            let pool = if terms.is_empty() {
                Vec::new()
            } else {
                maxscore::top_k(searcher, &lookup, &clauses, &allowed, CANDIDATES, &tie_key)
                    .map_err(SearchError::from)?
            };
            let lexical_only =
                |pool: Vec<(f32, DocAddress)>| -> Result<Vec<Candidate>, SearchError> {
                    let phrase_scores = phrase_scores(&stats, &phrases, &pool)?;
                    pool.into_iter()
                        .zip(phrase_scores)
                        .map(|((score, address), phrase_score)| {
                            let fit =
                                self.policy_fit(searcher, address, draft, version.as_deref())?;
                            let score = order::quantize((score + phrase_score) * fit);
                            Ok(Candidate {
                                rank: score,
                                key: tie_key(address.segment_ord, address.doc_id),
                                address,
                                score,
                                ratio: order::quantize(score / max_score),
                                similarity: None,
                            })
                        })
                        .collect()
                };
            let mut ranked = match self.semantic_inputs(draft, &pool, &allowed, &tie_key) {
                None => lexical_only(pool)?,
                Some((similarities, addresses)) => {
                    // Every candidate, lexical or by vector, scored the same way.
                    let scores = maxscore::score_documents(searcher, &lookup, &clauses, &addresses)
                        .map_err(SearchError::from)?;
                    let scored: Vec<(f32, DocAddress)> =
                        scores.into_iter().zip(addresses).collect();
                    let phrase_scores = phrase_scores(&stats, &phrases, &scored)?;
                    scored
                        .into_iter()
                        .zip(phrase_scores)
                        .zip(similarities)
                        .map(|(((score, address), phrase_score), similarity)| {
                            let fit =
                                self.policy_fit(searcher, address, draft, version.as_deref())?;
                            let lexical = score + phrase_score;
                            let ratio = order::quantize(lexical / max_score);
                            let fused = self.fusion.fuse(ratio, similarity) * fit;
                            Ok(Candidate {
                                rank: order::quantize(fused),
                                key: tie_key(address.segment_ord, address.doc_id),
                                address,
                                score: order::quantize(lexical * fit),
                                ratio,
                                similarity: Some(similarity),
                            })
                        })
                        .collect::<Result<_, SearchError>>()?
                }
            };
            ranked.sort_by(|a, b| b.rank.total_cmp(&a.rank).then(a.key.cmp(&b.key)));
            let shown: Vec<Candidate> = ranked
                .into_iter()
                .take(draft.limit.clamp(1, MAX_LIMIT))
                .filter(|c| c.confidence() >= draft.min_confidence)
                .collect();
            // Built only when something is shown: a third of drafts show nothing.
            let highlighter = (!shown.is_empty()).then(|| {
                let words: Vec<String> = terms.iter().map(|t| t.text.clone()).collect();
                let doc_freqs: Vec<u64> = (0..terms.len()).map(|i| lookup.doc_freq(i)).collect();
                Highlighter::with_doc_freqs(&words, &doc_freqs)
            });
            let addresses: Vec<DocAddress> = shown.iter().map(|c| c.address).collect();
            let matched = matched_terms(searcher, &lookup, &addresses, &terms)?;
            for (candidate, matched_terms) in shown.into_iter().zip(matched) {
                let hit = self.kb.hit(
                    searcher,
                    highlighter.as_ref(),
                    candidate.score,
                    candidate.address,
                )?;
                suggestions.push(Suggestion {
                    info: hit.info,
                    snippet: hit.snippet,
                    section: hit.section,
                    confidence: candidate.confidence(),
                    matched_terms,
                    score_ratio: candidate.ratio,
                    score: candidate.score,
                    similarity: candidate.similarity,
                    fused_score: candidate.similarity.map(|_| candidate.rank),
                });
            }
        }
        suggestions.truncate(draft.limit.clamp(1, MAX_LIMIT));
        Ok(Deflection {
            suggestions,
            notices,
        })
    }

    /// The catalog spelling of the draft's version; an unknown version becomes a notice, not an
    /// error: the customer may simply mistype it.
    fn draft_version(&self, draft: &DraftCase, notices: &mut Vec<Notice>) -> Option<String> {
        let written = draft.version.as_deref()?.trim();
        if written.is_empty() {
            return None;
        }
        match self.kb.canonical_version(draft.product.as_deref(), written) {
            Ok(version) => Some(version),
            Err(_) => {
                notices.push(Notice::text(format!(
                    "version `{written}` is not a known release ({}); suggestions are not limited to a version",
                    self.kb.catalog().all_versions().join(", ")
                )));
                None
            }
        }
    }

    /// How well an article fits the draft beyond its words: the version the customer runs, and
    /// what kind of article answers this kind of case. A factor on the BM25 score.
    fn policy_fit(
        &self,
        searcher: &Searcher,
        address: DocAddress,
        draft: &DraftCase,
        version: Option<&str>,
    ) -> Result<f32, SearchError> {
        let table = self
            .kb
            .facet_cache()
            .table(searcher.segment_reader(address.segment_ord))?;
        let values = |field: &str| {
            let index = FACET_FIELDS
                .iter()
                .position(|f| *f == field)
                .expect("a facet field");
            table.values(index, address.doc_id)
        };
        let mut fit = 1.0;
        let is = |t: ArticleType| values("type").any(|k| k == t.as_str());
        if draft.case_type == CaseType::FeatureRequest {
            if is(ArticleType::ReleaseNote) {
                fit *= FEATURE_RELEASE_NOTE_FIT;
            } else if is(ArticleType::Help) {
                fit *= FEATURE_HELP_FIT;
            }
        } else if let Some(version) = version {
            if values("versions").any(|v| v == version) {
                fit *= SAME_VERSION_FIT;
            } else if !values("versions").any(|v| v == ALL_VERSIONS) {
                fit *= OTHER_VERSION_FIT;
            }
        }
        Ok(fit)
    }

    /// The draft's distinct analysed words with their weights and IDF, most telling first; words
    /// the index does not hold cannot match and are left out. Each word is looked up in the
    /// `all` field, then the kept ones in the title.
    fn draft_terms(
        &self,
        stats: &AudienceStats,
        draft: &DraftCase,
    ) -> Result<DraftTerms, SearchError> {
        let text = format!("{}\n{}", draft.subject, draft.description);
        let mut analyzer = self.kb.query_analyzer();
        let tokens = analysis::analyze(&mut analyzer, &text);
        let mut counts: HashMap<&str, (u32, &QueryToken), foldhash::fast::RandomState> =
            HashMap::default();
        for token in &tokens {
            counts.entry(&token.text).or_insert((0, token)).0 += 1;
        }
        let words: Vec<(&str, u32, &QueryToken)> = counts
            .into_iter()
            .map(|(word, (count, token))| (word, count, token))
            .collect();
        let all_terms = words
            .iter()
            .map(|(word, _, _)| Term::from_field_text(self.kb.schema().all, word))
            .collect();
        let words_lookup = TermLookup::new(stats, self.kb.term_infos(), all_terms)?;
        let documents = stats.documents().max(1) as f32;
        // Each kept word with its number in `words_lookup`.
        let mut terms: Vec<(usize, DraftTerm)> = words
            .iter()
            .enumerate()
            .filter_map(|(i, (word, count, token))| {
                let df = words_lookup.doc_freq(i) as f32;
                if df == 0.0 {
                    return None;
                }
                let idf = (1.0 + (documents - df.min(documents) + 0.5) / (df + 0.5)).ln();
                Some((
                    i,
                    DraftTerm {
                        text: word.to_string(),
                        surface: text[token.offsets.clone()].to_string(),
                        weight: 1.0 + (*count as f32).ln(),
                        idf,
                    },
                ))
            })
            .collect();
        // The most telling first, so a cap keeps them and "matched terms" lists them first.
        // Equal weights by word: the map's order is random, and the draft's maximum score (a sum
        // in this order) and its matched words must not be.
        terms.sort_by(|(_, a), (_, b)| {
            (b.idf * b.weight)
                .total_cmp(&(a.idf * a.weight))
                .then_with(|| a.text.cmp(&b.text))
        });
        terms.truncate(MAX_TERMS);
        let (kept, terms): (Vec<usize>, Vec<DraftTerm>) = terms.into_iter().unzip();
        // Term `i` of the lookup is `terms[i]` in `all`; term `terms.len() + i`, in the title.
        let mut lookup = words_lookup.pick(&kept);
        lookup.extend(
            stats,
            self.kb.term_infos(),
            terms
                .iter()
                .map(|t| Term::from_field_text(self.kb.schema().title, &t.text))
                .collect(),
        )?;
        Ok(DraftTerms { lookup, terms })
    }

    /// The weighted BM25 clauses of a draft: each word in `all`, and with a small weight in the
    /// title.
    fn draft_clauses(
        &self,
        stats: &AudienceStats,
        lookup: &TermLookup,
        terms: &[DraftTerm],
    ) -> Result<Vec<Clause>, SearchError> {
        let all = FieldStats::new(stats, self.kb.schema().all)?;
        let title = FieldStats::new(stats, self.kb.schema().title)?;
        let mut clauses = Vec::with_capacity(terms.len() * 2);
        for (i, term) in terms.iter().enumerate() {
            clauses.push(Clause {
                term: i,
                weight: all.weight(lookup.doc_freq(i), term.weight),
            });
            let in_title = terms.len() + i;
            if lookup.doc_freq(in_title) > 0 {
                clauses.push(Clause {
                    term: in_title,
                    weight: title
                        .weight(lookup.doc_freq(in_title), term.weight * DRAFT_TITLE_WEIGHT),
                });
            }
        }
        Ok(clauses)
    }

    /// Quoted passages (`"Access is denied"`), matched as exact phrases: customers paste error
    /// messages between quotes.
    fn quoted_phrases(&self, subject: &str, description: &str) -> Vec<Box<dyn Query>> {
        let mut phrases: Vec<Box<dyn Query>> = Vec::new();
        let mut analyzer = self.kb.query_analyzer();
        for text in [subject, description] {
            for quoted in quoted_passages(text) {
                let tokens = analysis::analyze(&mut analyzer, quoted);
                if tokens.len() < 2 || tokens.len() > MAX_PHRASE_WORDS {
                    continue;
                }
                let first = tokens[0].position;
                let terms = tokens
                    .iter()
                    .map(|t| {
                        (
                            t.position - first,
                            Term::from_field_text(self.kb.schema().all, &t.text),
                        )
                    })
                    .collect();
                phrases.push(Box::new(BoostQuery::new(
                    Box::new(PhraseQuery::new_with_offset(terms)),
                    PHRASE_WEIGHT,
                )));
            }
        }
        phrases
    }
}

/// The phrase queries' scores of each candidate, in `candidates` order. Quoted messages are
/// scored on the candidates the words found, not inside the union: a phrase clause there checks
/// positions in every document holding all its words, which doubled the cost of a draft on the
/// 10,000-article benchmark for the same top 5.
fn phrase_scores(
    stats: &AudienceStats,
    phrases: &[Box<dyn Query>],
    candidates: &[(f32, DocAddress)],
) -> Result<Vec<f32>, SearchError> {
    let searcher = stats.searcher();
    let mut scores = vec![0.0; candidates.len()];
    if phrases.is_empty() {
        return Ok(scores);
    }
    // Candidates of each segment in document order, as scorers only move forward.
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_by_key(|&i| (candidates[i].1.segment_ord, candidates[i].1.doc_id));
    for phrase in phrases {
        let weight = phrase.weight(
            tantivy::query::EnableScoring::enabled_from_statistics_provider(stats, searcher),
        )?;
        let mut current: Option<(u32, Box<dyn tantivy::query::Scorer>)> = None;
        for &i in &order {
            let address = candidates[i].1;
            if current
                .as_ref()
                .is_none_or(|(segment, _)| *segment != address.segment_ord)
            {
                let reader = searcher.segment_reader(address.segment_ord);
                current = Some((address.segment_ord, weight.scorer(reader, 1.0)?));
            }
            let (_, scorer) = current.as_mut().expect("set above");
            let doc = scorer.doc();
            let at = if doc >= address.doc_id {
                doc
            } else {
                scorer.seek(address.doc_id)
            };
            if at == address.doc_id {
                scores[i] += scorer.score();
            }
        }
    }
    Ok(scores)
}

/// The draft's words each document of `addresses` contains, most telling first. Each word's
/// postings are opened once per segment and read forward through the documents in order.
fn matched_terms(
    searcher: &Searcher,
    lookup: &TermLookup,
    addresses: &[DocAddress],
    terms: &[DraftTerm],
) -> Result<Vec<Vec<String>>, SearchError> {
    let mut matched = vec![Vec::new(); addresses.len()];
    let mut order: Vec<usize> = (0..addresses.len()).collect();
    order.sort_by_key(|&i| addresses[i]);
    for (term_index, term) in terms.iter().enumerate() {
        if matched.iter().all(|m| m.len() == MAX_MATCHED_TERMS) {
            break;
        }
        let mut current: Option<(u32, Option<SegmentPostings>)> = None;
        for &i in &order {
            let address = addresses[i];
            if current
                .as_ref()
                .is_none_or(|(segment, _)| *segment != address.segment_ord)
            {
                let reader = searcher.segment_reader(address.segment_ord);
                let postings = lookup.postings(
                    address.segment_ord as usize,
                    reader,
                    term_index,
                    IndexRecordOption::Basic,
                )?;
                current = Some((address.segment_ord, postings));
            }
            let Some((_, Some(postings))) = current.as_mut() else {
                continue;
            };
            // `seek` only moves forward; the documents come in order.
            let doc = if postings.doc() >= address.doc_id {
                postings.doc()
            } else {
                postings.seek(address.doc_id)
            };
            if doc == address.doc_id && matched[i].len() < MAX_MATCHED_TERMS {
                matched[i].push(term.surface.clone());
            }
        }
    }
    Ok(matched)
}

/// The calibrated probability that a suggestion with this score ratio answers the case.
pub fn confidence(ratio: f32) -> f32 {
    let (slope, intercept) = CALIBRATION;
    1.0 / (1.0 + (-(slope * ratio + intercept)).exp())
}

/// With a sentence-embedding model: the calibrated probability that a suggestion with this
/// fused score answers the case.
pub fn semantic_confidence(fused: f32) -> f32 {
    let (slope, intercept) = SEMANTIC_CALIBRATION;
    1.0 / (1.0 + (-(slope * fused + intercept)).exp())
}

fn end_of_support_notice(version: &str, ends: Option<NaiveDate>) -> String {
    let ended = ends.map_or_else(String::new, |d| format!(" on {}", d.format("%B %-d, %Y")));
    format!(
        "Version {version} reached the end of general support{ended}. Technical Support may ask you \
         to upgrade to a supported version."
    )
}

/// Text between double quotes (straight or curly), outside which customers write prose.
fn quoted_passages(text: &str) -> Vec<&str> {
    let mut passages = Vec::new();
    let mut open: Option<usize> = None;
    for (at, c) in text.char_indices() {
        match (c, open) {
            ('"' | '\u{201c}' | '\u{201d}', None) => open = Some(at + c.len_utf8()),
            ('"' | '\u{201c}' | '\u{201d}', Some(start)) => {
                passages.push(&text[start..at]);
                open = None;
            }
            ('\n', Some(_)) => open = None,
            _ => {}
        }
    }
    passages
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_types_and_severities_are_read_leniently_and_named_when_wrong() {
        assert_eq!(
            "Feature Request".parse::<CaseType>().unwrap(),
            CaseType::FeatureRequest
        );
        assert_eq!(
            "feature-request".parse::<CaseType>().unwrap(),
            CaseType::FeatureRequest
        );
        let err = "bug".parse::<CaseType>().unwrap_err().to_string();
        assert!(err.starts_with("field `case_type`"), "{err}");
        assert_eq!(Severity::new(1).unwrap().level(), 1);
        assert!(
            Severity::new(5)
                .unwrap_err()
                .to_string()
                .contains("severity")
        );
        assert!(Severity::new(0).is_err());
    }

    #[test]
    fn quoted_messages_are_found_on_one_line() {
        assert_eq!(
            quoted_passages("it says \"Access is denied\" and “file in use”"),
            ["Access is denied", "file in use"]
        );
        assert!(quoted_passages("an \"unclosed\nquote\"").is_empty());
    }

    #[test]
    fn confidence_grows_with_the_ratio_within_bounds() {
        assert!(confidence(0.0) < confidence(0.3));
        assert!(confidence(0.3) < confidence(1.0));
        assert!((0.0..=1.0).contains(&confidence(5.0)));
    }
}
