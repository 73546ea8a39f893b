//! Snippets: the passage of an article body that best shows why it matched, with the matching
//! words marked. tantivy's `SnippetGenerator` picks and marks the passage; this module decides
//! which part of the body it reads. Analysing a whole body costs far more than ranking, so the
//! body is first scanned (case-insensitively, without analysis) for the first letters of the
//! query's terms, and only the region where most of them cluster is analysed.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use serde::Serialize;
use tantivy::schema::Field;
use tantivy::snippet::SnippetGenerator;
use tantivy::{Searcher, Term};

use crate::analysis;
use crate::error::SearchError;

/// Length of a snippet in characters.
const SNIPPET_CHARS: usize = 220;
/// Width of the window in which term prefixes are counted to find the best region, in bytes.
const WINDOW_BYTES: usize = 2 * SNIPPET_CHARS;
/// Extra context analysed on each side of the best window, in bytes: enough for the fragment to
/// start a little before it (a quarter of a snippet cost 5 % less per deflection than a whole one).
const MARGIN_BYTES: usize = SNIPPET_CHARS / 4;
/// Letters of a term looked for in the raw body (as the snippet analyzer's stemming filter).
const PREFIX_CHARS: usize = 3;

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

/// Marks the terms of one query in article bodies.
pub struct Highlighter {
    generator: SnippetGenerator,
    /// Finds the words that start like a term.
    finder: WordPrefixes,
}

impl Highlighter {
    /// Prepares to mark `terms` (analysed query terms). Terms are weighted by their rarity in
    /// `weight_field`, the indexed field that contains the body.
    pub fn new(
        searcher: &Searcher,
        weight_field: Field,
        body_field: Field,
        terms: &[String],
    ) -> Result<Self, SearchError> {
        let doc_freqs = terms
            .iter()
            .map(|term| searcher.doc_freq(&Term::from_field_text(weight_field, term)))
            .collect::<tantivy::Result<Vec<u64>>>()?;
        Ok(Self::with_doc_freqs(body_field, terms, &doc_freqs))
    }

    /// Like [`Highlighter::new`], for a caller that already knows how many documents hold each
    /// term (`doc_freqs[i]` for `terms[i]`).
    pub fn with_doc_freqs(body_field: Field, terms: &[String], doc_freqs: &[u64]) -> Self {
        let weights: BTreeMap<String, f32> = terms
            .iter()
            .zip(doc_freqs)
            .filter(|(_, doc_freq)| **doc_freq > 0)
            .map(|(term, doc_freq)| (term.clone(), 1.0 / (1.0 + *doc_freq as f32)))
            .collect();
        let finder = WordPrefixes::new(weights.keys().map(String::as_str));
        let analyzer = analysis::snippet_analyzer(terms);
        Highlighter {
            generator: SnippetGenerator::new(weights, analyzer, body_field, SNIPPET_CHARS),
            finder,
        }
    }

    /// The best snippet of `body`, or `None` when no term occurs in it.
    pub fn highlight(&self, body: &str) -> Option<BodySnippet> {
        let region = self.region(body)?;
        let snippet = self.generator.snippet(&body[region.clone()]);
        if snippet.is_empty() {
            return None;
        }
        let ranges = tantivy::snippet::collapse_overlapped_ranges(snippet.highlighted());
        let first_match =
            region.start + snippet.fragment_range().start + ranges.first().map_or(0, |r| r.start);
        Some(BodySnippet {
            highlighted: Highlighted::collapsing_whitespace(snippet.fragment(), &ranges),
            first_match,
        })
    }

    /// The part of `body` worth analysing: around the window where the most distinct term
    /// prefixes occur.
    fn region(&self, body: &str) -> Option<Range<usize>> {
        let hits = self.finder.find(body);
        if hits.is_empty() {
            return None;
        }
        let mut best = (0, hits[0].0);
        // Hits of each prefix in the window, and how many prefixes have any.
        let mut counts = vec![0u32; self.finder.len()];
        let mut distinct = 0;
        let mut left = 0;
        for right in 0..hits.len() {
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
            }
        }
        let start = floor_char_boundary(body, best.1.saturating_sub(MARGIN_BYTES));
        let end = ceil_char_boundary(body, (best.1 + WINDOW_BYTES + MARGIN_BYTES).min(body.len()));
        Some(start..end)
    }
}

/// The first letters of a query's terms, found where words of a text begin.
///
/// Terms are analysed (lowercased, ASCII-folded, stemmed), so a body word that may match one
/// starts with the same letters, ignoring ASCII case. Words are runs of ASCII letters and digits
/// and non-ASCII characters, so `ERR_SHARE_LOCKED` holds words starting `err`, `sha` and `loc`, as
/// the tokenizer splits it.
struct WordPrefixes {
    /// Prefix (see [`prefix_key`]) → its number.
    ids: HashMap<u32, usize, foldhash::fast::RandomState>,
    /// Lengths of the prefixes shorter than [`PREFIX_CHARS`], for short terms like `ip`.
    short_lengths: Vec<usize>,
}

/// Up to [`PREFIX_CHARS`] bytes and their count, as one number.
fn prefix_key(bytes: &[u8]) -> u32 {
    bytes.iter().fold(bytes.len() as u32, |key, byte| {
        (key << 8) | u32::from(*byte)
    })
}

impl WordPrefixes {
    fn new<'a>(terms: impl Iterator<Item = &'a str>) -> WordPrefixes {
        let mut ids = HashMap::default();
        let mut short_lengths = Vec::new();
        for term in terms {
            let prefix: Vec<u8> = term.bytes().take(PREFIX_CHARS).collect();
            if prefix.len() < PREFIX_CHARS && !short_lengths.contains(&prefix.len()) {
                short_lengths.push(prefix.len());
            }
            let next = ids.len();
            ids.entry(prefix_key(&prefix)).or_insert(next);
        }
        WordPrefixes { ids, short_lengths }
    }

    fn len(&self) -> usize {
        self.ids.len()
    }

    /// Byte offset and prefix number of every word of `text` that starts with a prefix.
    fn find(&self, text: &str) -> Vec<(usize, usize)> {
        let bytes = text.as_bytes();
        let mut hits = Vec::new();
        let mut key = [0u8; PREFIX_CHARS];
        let mut previous_is_word = false;
        for (at, byte) in bytes.iter().enumerate() {
            let is_word = is_word_byte(*byte);
            if is_word && !previous_is_word {
                let word = bytes[at..]
                    .iter()
                    .take(PREFIX_CHARS)
                    .take_while(|b| is_word_byte(**b));
                let mut length = 0;
                for (slot, byte) in key.iter_mut().zip(word) {
                    *slot = byte.to_ascii_lowercase();
                    length += 1;
                }
                let found = (length == PREFIX_CHARS)
                    .then(|| self.ids.get(&prefix_key(&key)))
                    .flatten()
                    .or_else(|| {
                        self.short_lengths
                            .iter()
                            .filter(|&&short| short <= length)
                            .find_map(|&short| self.ids.get(&prefix_key(&key[..short])))
                    });
                if let Some(&id) = found {
                    hits.push((at, id));
                }
            }
            previous_is_word = is_word;
        }
        hits
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
        let prefixes = WordPrefixes::new(["share", "locked", "ip", "café"].into_iter());
        let text = "ERR_SHARE_LOCKED on IP 10.0.0.1; unshared Café";
        let found: Vec<&str> = prefixes
            .find(text)
            .iter()
            .map(|(at, _)| &text[*at..*at + 2])
            .collect();
        // `unshared` does not start like `share`; `10` does not start like `ip`.
        assert_eq!(found, ["SH", "LO", "IP", "Ca"]);
        assert!(WordPrefixes::new(std::iter::empty()).find(text).is_empty());
    }
}
