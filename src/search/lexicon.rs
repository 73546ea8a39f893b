//! The words of the index, for people: completions of a half-typed word, corrections of a
//! misspelt one, the two words of one typed without its space, and the suggestions shown under
//! the search box.
//!
//! Corrections, word breaks and completions read the unstemmed `vocab` field's term dictionary directly, so
//! they are always current, and offer only words of documents the caller may see, ranked by
//! how many of those hold them: a typo must never be corrected to a word of an internal article. Suggestions are answered from memory (a [`Lexicon`] built when the
//! reader is loaded), per audience, from fields that only ever hold what that audience may see.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use tantivy::query::FuzzyTermQuery;
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{DocSet, Searcher, TERMINATED, Term};

use crate::content::article::{Status, Visibility};
use crate::index::analysis::{self, is_code_like};
use crate::index::schema::KbSchema;
use crate::search::audience::AudienceStats;

/// Most visible words ranked for one completion; bounds the cost of a two-letter prefix.
const MAX_PREFIX_SCAN: usize = 1_000;
/// Most words only hidden documents hold that one completion steps over, per segment.
const MAX_HIDDEN_SCAN: usize = 10 * MAX_PREFIX_SCAN;
/// Shortest word completed or corrected.
const MIN_COMPLETION_CHARS: usize = 2;

/// Edits allowed when correcting `word`: none under 5 letters, 1 from 5, 2 from 9; never on
/// numbers, versions or codes.
pub fn typo_distance(word: &str) -> u8 {
    if is_code_like(word) {
        return 0;
    }
    match word.chars().count() {
        0..=4 => 0,
        5..=8 => 1,
        _ => 2,
    }
}

/// Words of `field` within the typo distance of `word` that the audience of `stats` may see,
/// most frequent (in what it may see) first, without `word`.
pub fn corrections(
    stats: &AudienceStats,
    field: Field,
    word: &str,
    limit: usize,
) -> tantivy::Result<Vec<(String, u64)>> {
    let distance = typo_distance(word);
    if distance == 0 {
        return Ok(Vec::new());
    }
    let query = FuzzyTermQuery::new(Term::from_field_text(field, word), distance, true);
    let mut found: HashMap<String, u64> = HashMap::new();
    for (segment_ord, segment) in stats.searcher().segment_readers().iter().enumerate() {
        let automaton = query.automaton()?;
        let index = segment.inverted_index(field)?;
        let mut stream = index.terms().search(automaton).into_stream()?;
        while stream.advance() {
            if let Ok(text) = std::str::from_utf8(stream.key())
                && text != word
            {
                let visible =
                    stats.segment_doc_freq(segment_ord, segment, field, stream.value())?;
                *found.entry(text.to_string()).or_default() += visible;
            }
        }
    }
    found.retain(|_, doc_freq| *doc_freq > 0);
    Ok(top(found, limit))
}

/// Shortest part an unknown word is broken into: `logfile` becomes `log file`, but no word is
/// read as a letter or two and the rest.
const MIN_BREAK_PART_CHARS: usize = 3;

/// `word`, which the audience's articles do not hold, read as two words they do: customers
/// drop the space (`sharepermissions`, `datamover`), which no edit distance repairs. Of the
/// splits whose halves are both visible words (and not stop words), the one whose rarer half
/// is most frequent wins, so `passwordreset` is `password reset`, not `pass wordreset`.
pub fn word_break(
    stats: &AudienceStats,
    field: Field,
    word: &str,
) -> tantivy::Result<Option<String>> {
    let chars: Vec<(usize, char)> = word.char_indices().collect();
    if is_code_like(word) || chars.len() < 2 * MIN_BREAK_PART_CHARS {
        return Ok(None);
    }
    let mut best: Option<(u64, usize)> = None;
    for &(at, _) in &chars[MIN_BREAK_PART_CHARS..=chars.len() - MIN_BREAK_PART_CHARS] {
        let (left, right) = word.split_at(at);
        if analysis::is_stop_word(left) || analysis::is_stop_word(right) {
            continue;
        }
        let left_freq = visible_doc_freq(stats, &Term::from_field_text(field, left))?;
        if left_freq == 0 || best.is_some_and(|(freq, _)| left_freq <= freq) {
            continue;
        }
        let rarer = left_freq.min(visible_doc_freq(
            stats,
            &Term::from_field_text(field, right),
        )?);
        if rarer > 0 && best.is_none_or(|(freq, _)| rarer > freq) {
            best = Some((rarer, at));
        }
    }
    Ok(best.map(|(_, at)| format!("{} {}", &word[..at], &word[at..])))
}

/// How many documents the audience may see hold `term`.
fn visible_doc_freq(stats: &AudienceStats, term: &Term) -> tantivy::Result<u64> {
    let mut total = 0;
    for (segment_ord, segment) in stats.searcher().segment_readers().iter().enumerate() {
        if let Some(info) = segment.inverted_index(term.field())?.get_term_info(term)? {
            total += stats.segment_doc_freq(segment_ord, segment, term.field(), &info)?;
        }
    }
    Ok(total)
}

/// Words of `field` that start with `prefix` and that the audience of `stats` may see, most
/// frequent first, without `prefix` itself. Only the first [`MAX_PREFIX_SCAN`] visible words in
/// dictionary order are ranked: per segment, the first that many visible words hold every one of
/// the first that many overall, so the answer does not depend on how documents fall into
/// segments, nor on words only hidden documents hold (up to [`MAX_HIDDEN_SCAN`] of them).
pub fn completions(
    stats: &AudienceStats,
    field: Field,
    prefix: &str,
    limit: usize,
) -> tantivy::Result<Vec<(String, u64)>> {
    if prefix.chars().count() < MIN_COMPLETION_CHARS {
        return Ok(Vec::new());
    }
    let upper = prefix_upper_bound(prefix);
    let mut found: BTreeMap<String, u64> = BTreeMap::new();
    for (segment_ord, segment) in stats.searcher().segment_readers().iter().enumerate() {
        let index = segment.inverted_index(field)?;
        let terms = index.terms();
        let mut range = terms.range().ge(prefix.as_bytes());
        if let Some(upper) = &upper {
            range = range.lt(upper);
        }
        let mut stream = range.into_stream()?;
        let (mut visible_words, mut hidden_words) = (0, 0);
        while visible_words < MAX_PREFIX_SCAN && hidden_words < MAX_HIDDEN_SCAN && stream.advance()
        {
            let Ok(text) = std::str::from_utf8(stream.key()) else {
                continue;
            };
            let visible = stats.segment_doc_freq(segment_ord, segment, field, stream.value())?;
            if visible == 0 {
                hidden_words += 1;
                continue;
            }
            visible_words += 1;
            if text != prefix {
                *found.entry(text.to_string()).or_default() += visible;
            }
        }
    }
    let first: HashMap<String, u64> = found.into_iter().take(MAX_PREFIX_SCAN).collect();
    Ok(top(first, limit))
}

/// The smallest byte string greater than every string starting with `prefix`.
fn prefix_upper_bound(prefix: &str) -> Option<Vec<u8>> {
    let mut bytes = prefix.as_bytes().to_vec();
    while let Some(last) = bytes.pop() {
        if last < u8::MAX {
            bytes.push(last + 1);
            return Some(bytes);
        }
    }
    None
}

fn top(found: HashMap<String, u64>, limit: usize) -> Vec<(String, u64)> {
    let mut words: Vec<(String, u64)> = found.into_iter().collect();
    words.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    words.truncate(limit);
    words
}

/// One suggestion under the search box.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suggestion {
    /// What to put in the search box.
    pub text: String,
    /// `title` (an article) or `term` (a completed query).
    pub kind: &'static str,
    /// The article, for `title` suggestions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// Suggestions one audience may see.
#[derive(Debug, Default)]
struct AudienceWords {
    /// Words of visible titles, headings and keywords with their document counts, sorted.
    terms: Vec<(String, u32)>,
    /// Visible published titles, their ids and their words.
    titles: Vec<(String, String, Vec<String>)>,
    /// (word of a title, index into `titles`), sorted by word.
    title_words: Vec<(String, u32)>,
}

/// In-memory suggestion data for every audience, built from one searcher.
pub struct Lexicon {
    audiences: [AudienceWords; 3],
    /// Splits typed text the way the vocabulary was built; cloned per call (it is not `Sync`).
    analyzer: TextAnalyzer,
}

impl Default for Lexicon {
    fn default() -> Self {
        Lexicon {
            audiences: Default::default(),
            analyzer: analysis::vocab_analyzer(),
        }
    }
}

impl std::fmt::Debug for Lexicon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lexicon")
            .field("audiences", &self.audiences)
            .finish_non_exhaustive()
    }
}

fn words(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    analysis::analyze(analyzer, text)
        .into_iter()
        .map(|t| t.text)
        .collect()
}

/// Every value of a string column, by ordinal.
fn dictionary(column: &tantivy::columnar::StrColumn) -> tantivy::Result<Vec<String>> {
    let mut values = Vec::with_capacity(column.num_terms());
    let mut stream = column.dictionary().stream()?;
    while stream.advance() {
        values.push(String::from_utf8_lossy(stream.key()).into_owned());
    }
    Ok(values)
}

/// Documents of `segment` that still hold a term. A term dictionary keeps the terms of deleted
/// documents until their segment is merged: an article just made internal must not leave its
/// words suggested to the public, and counts must not depend on what was deleted, so in
/// segments with deletions the postings are read.
fn live_doc_freq(
    segment: &tantivy::SegmentReader,
    index: &tantivy::InvertedIndexReader,
    info: &tantivy::postings::TermInfo,
) -> tantivy::Result<u32> {
    let Some(alive) = segment.alive_bitset() else {
        return Ok(info.doc_freq);
    };
    let mut postings = index.read_postings_from_terminfo(info, IndexRecordOption::Basic)?;
    let mut live = 0;
    let mut doc = postings.doc();
    while doc != TERMINATED {
        if alive.is_alive(doc) {
            live += 1;
        }
        doc = postings.advance();
    }
    Ok(live)
}

impl Lexicon {
    /// Reads the suggestion fields' dictionaries and the titles of visible published articles.
    pub fn build(searcher: &Searcher, schema: &KbSchema) -> tantivy::Result<Lexicon> {
        let mut lexicon = Lexicon::default();
        for audience in Visibility::ALL {
            let slot = &mut lexicon.audiences[*audience as usize];
            let mut counts: HashMap<String, u32> = HashMap::new();
            for segment in searcher.segment_readers() {
                let index = segment.inverted_index(schema.suggest[*audience as usize])?;
                let mut stream = index.terms().stream()?;
                while stream.advance() {
                    if let Ok(text) = std::str::from_utf8(stream.key())
                        && text.chars().count() >= 3
                        && !is_code_like(text)
                    {
                        let live = live_doc_freq(segment, &index, stream.value())?;
                        if live > 0 {
                            *counts.entry(text.to_string()).or_default() += live;
                        }
                    }
                }
            }
            slot.terms = counts.into_iter().collect();
            slot.terms.sort();
        }
        for segment in searcher.segment_readers() {
            let fast = segment.fast_fields();
            let columns = (
                fast.str("title")?,
                fast.str("id")?,
                fast.str("visibility")?,
                fast.str("status")?,
            );
            let (Some(titles), Some(ids), Some(visibilities), Some(statuses)) = columns else {
                continue;
            };
            // Each column's dictionary is read once per segment: looking ordinals up one by one
            // decompresses a dictionary block per call, 0.4 s per commit on 10,000 articles.
            let (titles_text, ids_text, visibilities_text, statuses_text) = (
                dictionary(&titles)?,
                dictionary(&ids)?,
                dictionary(&visibilities)?,
                dictionary(&statuses)?,
            );
            let text = |column: &tantivy::columnar::StrColumn, values: &[String], doc| -> String {
                column
                    .term_ords(doc)
                    .next()
                    .and_then(|ord| values.get(ord as usize))
                    .cloned()
                    .unwrap_or_default()
            };
            for doc in segment.doc_ids_alive() {
                if text(&statuses, &statuses_text, doc) != Status::Published.as_str() {
                    continue;
                }
                let Ok(visibility) =
                    text(&visibilities, &visibilities_text, doc).parse::<Visibility>()
                else {
                    continue;
                };
                let title = text(&titles, &titles_text, doc);
                let id = text(&ids, &ids_text, doc);
                let title_words = words(&mut lexicon.analyzer, &title);
                for audience in Visibility::ALL.iter().filter(|a| **a >= visibility) {
                    let slot = &mut lexicon.audiences[*audience as usize];
                    let position = slot.titles.len() as u32;
                    for word in &title_words {
                        slot.title_words.push((word.clone(), position));
                    }
                    slot.titles
                        .push((title.clone(), id.clone(), title_words.clone()));
                }
            }
        }
        // In order of title and id, not of the index: suggestions with equal rank come out the
        // same whatever else the index holds.
        for slot in &mut lexicon.audiences {
            slot.titles.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
            slot.title_words = slot
                .titles
                .iter()
                .enumerate()
                .flat_map(|(position, (_, _, words))| {
                    words
                        .iter()
                        .map(move |word| (word.clone(), position as u32))
                })
                .collect();
            slot.title_words.sort();
        }
        Ok(lexicon)
    }

    /// Up to `limit` suggestions for what `audience` has typed so far: titles first, then the
    /// query with its last word completed by frequent terms.
    pub fn suggest(&self, audience: Visibility, input: &str, limit: usize) -> Vec<Suggestion> {
        let slot = &self.audiences[audience as usize];
        let typed = words(&mut self.analyzer.clone(), input);
        let Some((last, before)) = typed.split_last() else {
            return Vec::new();
        };
        let still_typing = !input.ends_with(char::is_whitespace);
        let mut out: Vec<Suggestion> = Vec::new();

        // Titles holding every typed word, the last one as a prefix.
        let start = slot
            .title_words
            .partition_point(|(w, _)| w.as_str() < last.as_str());
        let mut candidates: Vec<u32> = slot.title_words[start..]
            .iter()
            .take_while(|(w, _)| w.starts_with(last.as_str()) && (still_typing || w == last))
            .map(|(_, t)| *t)
            .take(256)
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        let mut titles: Vec<&(String, String, Vec<String>)> = candidates
            .into_iter()
            .map(|t| &slot.titles[t as usize])
            .filter(|(_, _, title_words)| {
                before
                    .iter()
                    .all(|w| title_words.iter().any(|tw| tw.starts_with(w.as_str())))
            })
            .collect();
        // Titles that start with what was typed first (their words are lowercase), then short ones.
        let typed_words: Vec<&str> = typed.iter().map(String::as_str).collect();
        titles.sort_by_key(|(title, _, title_words)| {
            let starts_with_input = title_words.len() >= typed_words.len()
                && title_words
                    .iter()
                    .zip(&typed_words)
                    .all(|(t, w)| t.starts_with(*w));
            (!starts_with_input, title.len())
        });
        for (title, id, _) in titles.into_iter().take(limit.div_ceil(2)) {
            out.push(Suggestion {
                text: title.clone(),
                kind: "title",
                id: Some(id.clone()),
            });
        }

        // The typed query with its last word completed, most frequent completions first.
        if still_typing && last.chars().count() >= MIN_COMPLETION_CHARS {
            let start = slot
                .terms
                .partition_point(|(w, _)| w.as_str() < last.as_str());
            // The most frequent completions, kept in a short sorted list while scanning.
            let mut completed: Vec<&(String, u32)> = Vec::with_capacity(limit + 1);
            let completions = slot.terms[start..]
                .iter()
                .take_while(|(w, _)| w.starts_with(last.as_str()))
                .filter(|(w, _)| w != last);
            for entry in completions {
                if completed.len() == limit
                    && completed.last().is_some_and(|worst| worst.1 >= entry.1)
                {
                    continue;
                }
                let at = completed.partition_point(|c| c.1 >= entry.1);
                completed.insert(at, entry);
                completed.truncate(limit);
            }
            let head: String = before.iter().map(|w| format!("{w} ")).collect();
            for (word, _) in completed {
                if out.len() >= limit {
                    break;
                }
                let text = format!("{head}{word}");
                if !out.iter().any(|s| s.text.eq_ignore_ascii_case(&text)) {
                    out.push(Suggestion {
                        text,
                        kind: "term",
                        id: None,
                    });
                }
            }
        }
        out.truncate(limit);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typo_distance_follows_word_length_and_spares_codes() {
        assert_eq!(typo_distance("share"), 1);
        assert_eq!(typo_distance("nfs"), 0);
        assert_eq!(typo_distance("permissions"), 2);
        assert_eq!(typo_distance("0x80070005"), 0);
        assert_eq!(typo_distance("7.8.0"), 0);
        assert_eq!(typo_distance("err_share_locked"), 0);
    }

    #[test]
    fn prefix_upper_bound_is_the_next_string() {
        assert_eq!(prefix_upper_bound("ab").unwrap(), b"ac");
        assert_eq!(prefix_upper_bound("a\u{7f}").unwrap(), b"a\x80");
    }
}
