//! Snippets: the passage of an article body that best shows why it matched, with the matching
//! words marked. Analysing a whole body costs far more than ranking, so the body is first
//! scanned (case-insensitively, without analysis) for the first letters of the query's terms,
//! and only the region where most of them cluster is analysed. The passage is then chosen as
//! tantivy's `SnippetGenerator` chooses it (the same fragments, scores and ties), without its
//! per-word copies and its copy of the analyser per snippet.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::Range;

use serde::Serialize;
use tantivy::query::Bm25StatisticsProvider;
use tantivy::schema::Field;
use tantivy::snippet::collapse_overlapped_ranges;
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Score, Term};

use crate::error::SearchError;
use crate::index::analysis::{self, TermPrefixes};

/// Length of a snippet in characters.
const SNIPPET_CHARS: usize = 220;
/// Width of the window in which term prefixes are counted to find the best region, in bytes.
const WINDOW_BYTES: usize = 2 * SNIPPET_CHARS;
/// Extra context analysed on each side of the best window, in bytes: enough for the fragment to
/// start a little before it (a quarter of a snippet cost 5 % less per deflection than a whole one).
const MARGIN_BYTES: usize = SNIPPET_CHARS / 4;

/// A piece of text with the byte ranges that matched the query.
#[derive(Debug, Clone, Default)]
pub struct Highlighted {
    pub text: String,
    pub ranges: Vec<Range<usize>>,
}

impl Highlighted {
    /// `text` with every run of whitespace (line breaks of the body) as one space, and `ranges`
    /// moved along.
    pub fn collapsing_whitespace(text: &str, ranges: &[Range<usize>]) -> Highlighted {
        let mut out = String::with_capacity(text.len());
        // New offset of every old byte offset, plus the end.
        let mut moved = Vec::with_capacity(text.len() + 1);
        let mut in_space = false;
        for (offset, c) in text.char_indices() {
            while moved.len() < offset {
                moved.push(out.len());
            }
            moved.push(out.len());
            if c.is_whitespace() {
                if !in_space {
                    out.push(' ');
                }
                in_space = true;
            } else {
                out.push(c);
                in_space = false;
            }
        }
        while moved.len() <= text.len() {
            moved.push(out.len());
        }
        let ranges = ranges
            .iter()
            .map(|r| moved[r.start]..moved[r.end])
            .collect();
        Highlighted { text: out, ranges }
    }

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

/// A snippet of a body and where its first marked word is in that body.
pub struct BodySnippet {
    pub highlighted: Highlighted,
    /// Byte offset of the first marked word in the body, to find its section.
    pub first_match: usize,
}

/// Marks the terms of one query in article bodies, one body after the other.
pub struct Highlighter {
    /// Analysed query terms and their weights: rarer terms weigh more.
    weights: HashMap<String, Score, foldhash::fast::RandomState>,
    /// Borrowed for one body at a time.
    analyzer: RefCell<TextAnalyzer>,
    /// The first letters of the terms, to find the words of a body that may match one.
    prefixes: TermPrefixes,
}

/// A passage that may become the snippet: tokens that fit in [`SNIPPET_CHARS`].
struct Fragment {
    score: Score,
    start: usize,
    stop: usize,
    highlighted: Vec<Range<usize>>,
}

impl Fragment {
    fn new(start: usize) -> Fragment {
        Fragment {
            score: 0.0,
            start,
            stop: start,
            highlighted: Vec::new(),
        }
    }
}

impl Highlighter {
    /// Prepares to mark `terms` (analysed query terms). Terms are weighted by their rarity in
    /// `weight_field`, the indexed field that contains the body, among the documents `stats`
    /// counts (the caller's audience: which passage is shown must not depend on hidden ones).
    pub fn new(
        stats: &dyn Bm25StatisticsProvider,
        weight_field: Field,
        terms: &[String],
    ) -> Result<Self, SearchError> {
        let doc_freqs = terms
            .iter()
            .map(|term| stats.doc_freq(&Term::from_field_text(weight_field, term)))
            .collect::<tantivy::Result<Vec<u64>>>()?;
        Ok(Self::with_doc_freqs(terms, &doc_freqs))
    }

    /// Like [`Highlighter::new`], for a caller that already knows how many documents hold each
    /// term (`doc_freqs[i]` for `terms[i]`).
    pub fn with_doc_freqs(terms: &[String], doc_freqs: &[u64]) -> Self {
        let weights: HashMap<String, Score, _> = terms
            .iter()
            .zip(doc_freqs)
            .filter(|(_, doc_freq)| **doc_freq > 0)
            .map(|(term, doc_freq)| (term.clone(), 1.0 / (1.0 + *doc_freq as f32)))
            .collect();
        let prefixes = TermPrefixes::new(weights.keys().map(String::as_str));
        Highlighter {
            weights,
            analyzer: RefCell::new(analysis::snippet_analyzer(terms)),
            prefixes,
        }
    }

    /// The best snippet of `body`, or `None` when no term occurs in it.
    pub fn highlight(&self, body: &str) -> Option<BodySnippet> {
        let region = self.region(body)?;
        let text = &body[region.clone()];
        let best = self.best_fragment(text)?;
        let highlighted: Vec<Range<usize>> = best
            .highlighted
            .iter()
            .map(|r| r.start - best.start..r.end - best.start)
            .collect();
        let ranges = collapse_overlapped_ranges(&highlighted);
        let first_match = region.start + best.start + ranges.first().map_or(0, |r| r.start);
        Some(BodySnippet {
            highlighted: Highlighted::collapsing_whitespace(&text[best.start..best.stop], &ranges),
            first_match,
        })
    }

    /// The passage of `text` whose marked words weigh most, the first of equals, as tantivy's
    /// `SnippetGenerator` picks it: a fragment starts at a token and takes the tokens that end
    /// within [`SNIPPET_CHARS`] bytes of its start. `None` when no term occurs.
    fn best_fragment(&self, text: &str) -> Option<Fragment> {
        let mut analyzer = self.analyzer.borrow_mut();
        let mut stream = analyzer.token_stream(text);
        let mut best: Option<Fragment> = None;
        let mut keep = |fragment: Fragment| {
            if fragment.score > 0.0 && best.as_ref().is_none_or(|b| fragment.score > b.score) {
                best = Some(fragment);
            }
        };
        let mut fragment = Fragment::new(0);
        while let Some(token) = stream.next() {
            if token.offset_to - fragment.start > SNIPPET_CHARS {
                keep(std::mem::replace(
                    &mut fragment,
                    Fragment::new(token.offset_from),
                ));
            }
            fragment.stop = token.offset_to;
            // The analyser lowercases; only what it could not fold is looked up lowercased.
            let weight = if token
                .text
                .bytes()
                .any(|b| b.is_ascii_uppercase() || !b.is_ascii())
            {
                self.weights.get(&token.text.to_lowercase())
            } else {
                self.weights.get(&token.text)
            };
            if let Some(weight) = weight {
                fragment.score += weight;
                fragment
                    .highlighted
                    .push(token.offset_from..token.offset_to);
            }
        }
        keep(fragment);
        best
    }

    /// The part of `body` worth analysing: around the first window where the most distinct term
    /// prefixes occur. The body is scanned only until a window holds every prefix: no later
    /// window can hold more, so the rest of the body would not change the choice.
    fn region(&self, body: &str) -> Option<Range<usize>> {
        let mut starts = WordStarts::new(&self.prefixes, body);
        let first = starts.next()?;
        let mut hits = vec![first];
        let mut best = (0, first.0);
        // Hits of each prefix in the window, and how many prefixes have any.
        let mut counts = vec![0u32; self.prefixes.len()];
        let mut distinct = 0;
        let mut left = 0;
        let mut right = 0;
        loop {
            let pattern = hits[right].1;
            counts[pattern] += 1;
            distinct += usize::from(counts[pattern] == 1);
            while hits[right].0 - hits[left].0 > WINDOW_BYTES {
                let pattern = hits[left].1;
                counts[pattern] -= 1;
                distinct -= usize::from(counts[pattern] == 0);
                left += 1;
            }
            if distinct > best.0 {
                best = (distinct, hits[left].0);
                if distinct == self.prefixes.len() {
                    break;
                }
            }
            let Some(next) = starts.next() else {
                break;
            };
            hits.push(next);
            right += 1;
        }
        let start = floor_char_boundary(body, best.1.saturating_sub(MARGIN_BYTES));
        let end = ceil_char_boundary(body, (best.1 + WINDOW_BYTES + MARGIN_BYTES).min(body.len()));
        Some(start..end)
    }
}

/// Byte offset and prefix number of every word of `text` that starts like a term.
#[cfg(test)]
fn word_starts(prefixes: &TermPrefixes, text: &str) -> Vec<(usize, usize)> {
    WordStarts::new(prefixes, text).collect()
}

/// The words of a text that start like a term: byte offset and prefix number, in order.
///
/// Words are runs of ASCII letters and digits and non-ASCII characters, so `ERR_SHARE_LOCKED`
/// holds words starting `err`, `sha` and `loc`, as the tokenizer splits it; ASCII case is ignored,
/// as the analyser lowercases. Three bodies are scanned per deflection and ten per search, so the
/// scan skips whole runs of bytes and turns most words away by their first two bytes.
struct WordStarts<'a> {
    prefixes: &'a TermPrefixes,
    text: &'a str,
    at: usize,
}

impl<'a> WordStarts<'a> {
    fn new(prefixes: &'a TermPrefixes, text: &'a str) -> Self {
        // No prefix can match: start past the end.
        let at = if prefixes.is_empty() { text.len() } else { 0 };
        WordStarts { prefixes, text, at }
    }
}

impl Iterator for WordStarts<'_> {
    type Item = (usize, usize);

    fn next(&mut self) -> Option<(usize, usize)> {
        let bytes = self.text.as_bytes();
        while let Some(skipped) = bytes[self.at..].iter().position(|&b| is_word_byte(b)) {
            let at = self.at + skipped;
            let word_length = bytes[at..]
                .iter()
                .position(|&b| !is_word_byte(b))
                .unwrap_or(bytes.len() - at);
            self.at = at + word_length;
            // A word starts after an ASCII byte (or at the start), so `at` is a character
            // boundary, and so is its end.
            if let Some(id) = self.prefixes.find(&self.text[at..at + word_length]) {
                return Some((at, id));
            }
        }
        self.at = bytes.len();
        None
    }
}

fn is_word_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || !byte.is_ascii()
}

fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn ceil_char_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapsing_whitespace_keeps_highlights_on_their_words() {
        let text = "open  files\n\nblock the\tcutover";
        let highlighted = Highlighted::collapsing_whitespace(text, &[0..4, 23..30]);
        assert_eq!(highlighted.text, "open files block the cutover");
        assert_eq!(
            highlighted.to_html(),
            "<mark>open</mark> files block the <mark>cutover</mark>"
        );
    }

    #[test]
    fn term_prefixes_are_found_where_words_begin_ignoring_case() {
        let prefixes = TermPrefixes::new(["share", "locked", "ip", "café"]);
        let text = "ERR_SHARE_LOCKED on IP 10.0.0.1; unshared Café";
        let found: Vec<&str> = word_starts(&prefixes, text)
            .iter()
            .map(|(at, _)| &text[*at..*at + 2])
            .collect();
        // `unshared` does not start like `share`; `10` does not start like `ip`.
        assert_eq!(found, ["SH", "LO", "IP", "Ca"]);
        assert!(word_starts(&TermPrefixes::new([]), text).is_empty());
    }

    #[test]
    fn short_and_non_ascii_prefixes_are_found_and_short_words_are_not_mistaken() {
        // `x` is a one-letter term: every word starting with it may match; `ip` needs two.
        let prefixes = TermPrefixes::new(["x", "ip", "élan", "ñu"]);
        let text = "i xyz X ipv6 ÉLAN élan ñu";
        let found: Vec<&str> = word_starts(&prefixes, text)
            .iter()
            .map(|(at, _)| text[*at..].split(' ').next().unwrap())
            .collect();
        // `i` is shorter than `ip`; `ÉLAN` is not lowercased (only ASCII case is ignored).
        assert_eq!(found, ["xyz", "X", "ipv6", "élan", "ñu"]);
        assert_eq!(prefixes.find("xylophone"), prefixes.find("x"));
        assert_eq!(prefixes.find("i"), None);
        assert_eq!(prefixes.find(""), None);
    }

    /// The passage and marks are tantivy's `SnippetGenerator`'s, on generated bodies and term
    /// sets: mixed case, accents, compounds, numbers, long words, repeated terms, ties.
    #[test]
    fn best_fragment_is_the_one_tantivy_picks() {
        use tantivy::snippet::SnippetGenerator;
        let words = [
            "share",
            "Shares",
            "SHARED",
            "locked",
            "ERR_SHARE_LOCKED",
            "cutover",
            "Cutovers",
            "café",
            "Élan",
            "naïve",
            "nfsv4",
            "NFS",
            "v4",
            "re-copies",
            "the",
            "a",
            "of",
            "to",
            "0x80070005",
            "7.8.0",
            "migration",
            "Migrating",
            "permissions",
            "ACL",
            "mover",
            "data-mover",
            "SXE-1002",
            "ﬁle",
            "Straße",
            "x",
            "supercalifragilisticexpialidocious",
        ];
        let mut rng = fastrand::Rng::with_seed(15);
        for round in 0..400 {
            let body: String = (0..rng.usize(0..160))
                .map(|_| {
                    let word = words[rng.usize(0..words.len())];
                    let gap = [" ", " ", "  ", ", ", ".\n\n", "\t", " — "][rng.usize(0..7)];
                    format!("{word}{gap}")
                })
                .collect();
            let mut analyzer = analysis::query_analyzer();
            let terms: Vec<String> = (0..rng.usize(1..6))
                .flat_map(|_| analysis::analyze(&mut analyzer, words[rng.usize(0..words.len())]))
                .map(|token| token.text)
                .collect();
            let doc_freqs: Vec<u64> = terms.iter().map(|_| rng.u64(0..4)).collect();
            let ours = Highlighter::with_doc_freqs(&terms, &doc_freqs);
            let weights: std::collections::BTreeMap<String, f32> = ours
                .weights
                .iter()
                .map(|(term, weight)| (term.clone(), *weight))
                .collect();
            let theirs = SnippetGenerator::new(
                weights,
                analysis::snippet_analyzer(&terms),
                Field::from_field_id(0),
                SNIPPET_CHARS,
            )
            .snippet(&body);
            match ours.best_fragment(&body) {
                None => assert!(theirs.is_empty(), "round {round}: {body:?} {terms:?}"),
                Some(fragment) => {
                    assert_eq!(fragment.start..fragment.stop, theirs.fragment_range());
                    let marks: Vec<Range<usize>> = fragment
                        .highlighted
                        .iter()
                        .map(|r| r.start - fragment.start..r.end - fragment.start)
                        .collect();
                    assert_eq!(marks, theirs.highlighted(), "round {round}: {terms:?}");
                }
            }
        }
    }
}
