//! Snippets: the passage of an article body that best shows why it matched, with the matching
//! words marked. tantivy's `SnippetGenerator` picks and marks the passage; this module decides
//! which part of the body it reads. Analysing a whole body costs far more than ranking, so the
//! body is first scanned (case-insensitively, without analysis) for the first letters of the
//! query's terms, and only the region where most of them cluster is analysed.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;

use aho_corasick::AhoCorasick;
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
/// Extra context analysed on each side of the best window, in bytes.
const MARGIN_BYTES: usize = SNIPPET_CHARS;
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
    /// Finds the first letters of every term, ignoring ASCII case.
    finder: Option<AhoCorasick>,
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
        let mut weights = BTreeMap::new();
        for term in terms {
            let doc_freq = searcher.doc_freq(&Term::from_field_text(weight_field, term))?;
            if doc_freq > 0 {
                weights.insert(term.clone(), 1.0 / (1.0 + doc_freq as f32));
            }
        }
        let prefixes: HashSet<String> = weights
            .keys()
            .map(|t| t.chars().take(PREFIX_CHARS).collect())
            .collect();
        let finder = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(prefixes.iter())
            .ok()
            .filter(|_| !prefixes.is_empty());
        let analyzer = analysis::snippet_analyzer(terms);
        Ok(Highlighter {
            generator: SnippetGenerator::new(weights, analyzer, body_field, SNIPPET_CHARS),
            finder,
        })
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
        let finder = self.finder.as_ref()?;
        let hits: Vec<(usize, usize)> = finder
            .find_overlapping_iter(body)
            .map(|m| (m.start(), m.pattern().as_usize()))
            .collect();
        if hits.is_empty() {
            return None;
        }
        let mut best = (0, hits[0].0);
        let mut in_window: BTreeMap<usize, usize> = BTreeMap::new();
        let mut left = 0;
        for right in 0..hits.len() {
            *in_window.entry(hits[right].1).or_default() += 1;
            while hits[right].0 - hits[left].0 > WINDOW_BYTES {
                let pattern = hits[left].1;
                if let Some(count) = in_window.get_mut(&pattern) {
                    *count -= 1;
                    if *count == 0 {
                        in_window.remove(&pattern);
                    }
                }
                left += 1;
            }
            if in_window.len() > best.0 {
                best = (in_window.len(), hits[left].0);
            }
        }
        let start = floor_char_boundary(body, best.1.saturating_sub(MARGIN_BYTES));
        let end = ceil_char_boundary(body, (best.1 + WINDOW_BYTES + MARGIN_BYTES).min(body.len()));
        Some(start..end)
    }
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
}
