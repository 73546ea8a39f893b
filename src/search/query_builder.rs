//! Query building: a parsed customer query becomes one tantivy query per concept (a word, a
//! phrase, or a synonym group), each matched in every scoring field with its weight, with typo
//! corrections and completions of the last word as lower-weighted alternatives.

use std::collections::HashMap;

use tantivy::Term;
use tantivy::query::{BooleanQuery, BoostQuery, PhraseQuery, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::TextAnalyzer;

use crate::error::SearchError;
use crate::index::analysis::{self, QueryToken, is_code_like};
use crate::search::KbSearcher;
use crate::search::audience::AudienceStats;
use crate::search::docs_query::DocsQuery;
use crate::search::lexicon;
use crate::search::query::{Clause, UserQuery};
use crate::search::rank::{
    EXPANSION_WEIGHT, SEARCH_ALL_BOOST, SEARCH_HEADINGS_BOOST, SEARCH_KEYWORDS_BOOST,
    SEARCH_SHORT_TITLE_BOOST, SEARCH_TITLE_BOOST, SHORT_QUERY_WORDS, SYNONYM_WEIGHT,
};

/// Corrections tried for a word the index does not know.
const MAX_CORRECTIONS: usize = 3;
/// Completions tried for the last word, for search-as-you-type.
const MAX_COMPLETIONS: usize = 5;

/// The pieces of a built query.
pub(super) struct BuiltQuery {
    /// Per concept (word, phrase or synonym group) the customer asked for, the clauses that
    /// match it: every variant of it over every scoring field. A concept matches what any of its
    /// clauses matches; the queries are built from these on demand, each a flat union.
    concepts: Vec<Vec<Box<dyn Query>>>,
    pub(super) exclusions: Vec<Box<dyn Query>>,
    /// Every analysed term the customer asked for, expansions included, to highlight snippets.
    pub(super) highlight: Vec<String>,
    /// Unknown words and their best correction, for "did you mean".
    pub(super) corrections: HashMap<String, String>,
}

impl BuiltQuery {
    /// Adds a concept matched by any of `clauses` (none: a concept of stop words only).
    fn add_concept(&mut self, clauses: Vec<Box<dyn Query>>) {
        if !clauses.is_empty() {
            self.concepts.push(clauses);
        }
    }

    /// How many concepts have searchable terms.
    pub(super) fn concept_count(&self) -> usize {
        self.concepts.len()
    }

    /// Matches what any concept matches, with the sum of their scores: one union of every
    /// concept's clauses, not a union of unions (tantivy builds a buffer per nested union and
    /// segment for each search).
    pub(super) fn any_concept(&self) -> BooleanQuery {
        BooleanQuery::union(
            self.concepts
                .iter()
                .flatten()
                .map(|q| q.box_clone())
                .collect(),
        )
    }

    /// Matches what every concept matches.
    pub(super) fn every_concept(&self) -> BooleanQuery {
        BooleanQuery::intersection(
            self.concepts
                .iter()
                .map(|clauses| {
                    Box::new(BooleanQuery::union(
                        clauses.iter().map(|q| q.box_clone()).collect(),
                    )) as Box<dyn Query>
                })
                .collect(),
        )
    }
}

/// What else a word of the query is searched as.
#[derive(Default)]
struct Expansions {
    /// An unknown word read as two known ones (`sharepermissions` → `share permissions`).
    broken: Option<String>,
    /// Corrections of an unknown word and completions of the last one, weighted lower.
    similar: Vec<String>,
}

impl KbSearcher {
    /// The fields a query is scored on, with their weights: the whole article, plus extra weight
    /// where the words are in the title (`title_boost`), a heading or a curated keyword.
    fn scoring_fields(&self, title_boost: f32) -> [(Field, f32); 4] {
        [
            (self.schema.all, SEARCH_ALL_BOOST),
            (self.schema.title, title_boost),
            (self.schema.headings, SEARCH_HEADINGS_BOOST),
            (self.schema.keywords, SEARCH_KEYWORDS_BOOST),
        ]
    }

    /// Builds one query per concept and one per exclusion; `expand` adds typo corrections and
    /// completions of the last word.
    pub(super) fn build(
        &self,
        stats: &AudienceStats,
        user_query: &UserQuery,
        expand: bool,
    ) -> Result<BuiltQuery, SearchError> {
        let mut analyzer = self.query_analyzer.clone();
        let mut built = BuiltQuery {
            concepts: Vec::new(),
            exclusions: Vec::new(),
            highlight: Vec::new(),
            corrections: HashMap::new(),
        };
        let positive: Vec<&Clause> = user_query.positive().collect();
        // One or two words name a topic, and the article whose title they are is the answer.
        let title_boost = if positive.len() <= SHORT_QUERY_WORDS {
            SEARCH_SHORT_TITLE_BOOST
        } else {
            SEARCH_TITLE_BOOST
        };
        let last_word = positive
            .last()
            .filter(|c| !c.phrase)
            .map(|c| c.text.as_str());
        let mut index = 0;
        while index < positive.len() {
            let clause = positive[index];
            if clause.phrase {
                let clauses = self.field_clauses(
                    title_boost,
                    1.0,
                    &mut analyzer,
                    &clause.text,
                    &mut built.highlight,
                );
                built.add_concept(clauses);
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
                // Every variant's field clauses, in the one list of the concept.
                let mut variants: Vec<Box<dyn Query>> = Vec::new();
                let mut variant = |text: &str, weight: f32, highlight: &mut Vec<String>| {
                    variants.extend(self.field_clauses(
                        title_boost,
                        weight,
                        &mut analyzer,
                        text,
                        highlight,
                    ));
                };
                variant(&original, 1.0, &mut built.highlight);
                for alternative in alternatives {
                    variant(&alternative.join(" "), SYNONYM_WEIGHT, &mut built.highlight);
                }
                // `nfsv4` also finds `NFS v4`: the split form as a phrase, at full weight (the
                // index holds joined words split too, so the phrase finds both spellings).
                if len == 1
                    && let Some(at) = analysis::letters_digits_split(&original)
                {
                    let split = format!("{} {}", &original[..at], &original[at..]);
                    variant(&split, 1.0, &mut built.highlight);
                }
                // A short version (`7.8`) also finds the release it names (`7.8.0`).
                if let Some(release) = self.release_named(&original) {
                    variant(&release, 1.0, &mut built.highlight);
                }
                if expand && len == 1 {
                    let is_last = index + at + 1 == positive.len() && last_word.is_some();
                    let expansions =
                        self.expansions(stats, &original, is_last, &mut built.corrections)?;
                    // A word with its space restored is the word typed, at full weight.
                    let weighted = expansions
                        .broken
                        .into_iter()
                        .map(|words| (words, 1.0))
                        .chain(
                            expansions
                                .similar
                                .into_iter()
                                .map(|w| (w, EXPANSION_WEIGHT)),
                        );
                    for (expansion, weight) in weighted {
                        variant(&expansion, weight, &mut built.highlight);
                    }
                }
                built.add_concept(variants);
                at += len;
            }
            index = run_end;
        }
        let mut not_highlighted = Vec::new();
        let exclusions: Vec<Box<dyn Query>> = user_query
            .negative()
            .filter_map(|clause| {
                self.text_query(
                    title_boost,
                    &mut analyzer,
                    &clause.text,
                    &mut not_highlighted,
                )
            })
            .collect();
        if !exclusions.is_empty() {
            let excluded = DocsQuery::matching(&self.searcher, &BooleanQuery::union(exclusions))?;
            built.exclusions = vec![Box::new(excluded)];
        }
        Ok(built)
    }

    /// Other words to search for `word`: when the index does not know it, the two words it may
    /// be without their space and its corrections; completions when it is the last word (the
    /// customer may still be typing it). The best reading of an unknown word goes to
    /// `corrections`, for "did you mean": the broken word before a correction.
    fn expansions(
        &self,
        stats: &AudienceStats,
        word: &str,
        is_last: bool,
        corrections: &mut HashMap<String, String>,
    ) -> Result<Expansions, SearchError> {
        let mut out = Expansions::default();
        let mut analyzer = self.vocab_analyzer.clone();
        let tokens = analysis::analyze(&mut analyzer, word);
        let [token] = tokens.as_slice() else {
            return Ok(out);
        };
        if is_code_like(&token.text) {
            return Ok(out);
        }
        let vocab = self.schema.vocab;
        if !stats.holds(&Term::from_field_text(vocab, &token.text))? {
            out.broken = lexicon::word_break(stats, vocab, &token.text)?;
            let found = lexicon::corrections(stats, vocab, &token.text, MAX_CORRECTIONS)?;
            if let Some(best) = out.broken.as_ref().or(found.first().map(|(w, _)| w)) {
                corrections.insert(word.to_string(), best.clone());
            }
            out.similar.extend(found.into_iter().map(|(w, _)| w));
        }
        if is_last {
            let found = lexicon::completions(stats, vocab, &token.text, MAX_COMPLETIONS)?;
            out.similar.extend(found.into_iter().map(|(w, _)| w));
        }
        Ok(out)
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
        title_boost: f32,
        analyzer: &mut TextAnalyzer,
        text: &str,
        highlight: &mut Vec<String>,
    ) -> Option<Box<dyn Query>> {
        let per_field = self.field_clauses(title_boost, 1.0, analyzer, text, highlight);
        (!per_field.is_empty()).then(|| Box::new(BooleanQuery::union(per_field)) as Box<dyn Query>)
    }

    /// One clause per scoring field matching `text`, each boosted by the field's boost times
    /// `weight`; adds the terms to `highlight`. Empty when the text has no searchable terms.
    fn field_clauses(
        &self,
        title_boost: f32,
        weight: f32,
        analyzer: &mut TextAnalyzer,
        text: &str,
        highlight: &mut Vec<String>,
    ) -> Vec<Box<dyn Query>> {
        let tokens = analysis::analyze(analyzer, text);
        if tokens.is_empty() {
            return Vec::new();
        }
        highlight.extend(tokens.iter().map(|t| t.text.clone()));
        self.scoring_fields(title_boost)
            .into_iter()
            .map(|(field, boost)| {
                let query = field_query(field, &tokens);
                Box::new(BoostQuery::new(query, boost * weight)) as Box<dyn Query>
            })
            .collect()
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
