//! Text analysis: how article text and queries become index terms. Words are lowercased,
//! ASCII-folded, stop-worded and stemmed (English). Identifier-like compounds — error codes,
//! versions, constants such as `0x80070005`, `7.8.0`, `ERR_SHARE_LOCKED`, `SXE-4012` — are kept
//! whole so a query for one matches it as one token and never its neighbours (`7.7.0`).
//!
//! At index time a compound is emitted whole *and* as its parts (at the parts' positions), so
//! `share locked` still finds `ERR_SHARE_LOCKED`. At query time only the whole compound is
//! emitted, which is what makes `7.8.0` exact.

use std::collections::HashMap;

use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, Stemmer, StopWordFilter,
    TextAnalyzer, TextAnalyzerBuilder, Token, TokenStream, Tokenizer,
};

use crate::index::stem_cache::CachedStemmer;

/// Tokenizer name registered on the index for every full-text field.
pub const INDEX_ANALYZER: &str = "kb_en";

/// Words too common to search for: Lucene's English list, plus the question words, pronouns and
/// auxiliaries customers type in questions ("how do I ...", "what's new in ...").
const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with", // Lucene
    "what", "how", "why", "where", "which", "who", "do", "does", "did", "can", "i", "me", "my",
    "we", "our", "you", "your",
];

/// Whether `word` (lowercased) is too common to search for.
pub fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.contains(&word)
}

/// Tokenizer name of the unstemmed vocabulary field.
pub const VOCAB_ANALYZER: &str = "kb_vocab";

/// Longest token kept; longer ones are hashes or base64 noise.
const MAX_TOKEN_CHARS: usize = 64;

/// Characters that join the parts of an identifier-like compound when letters or digits follow.
fn is_connector(c: char) -> bool {
    matches!(c, '.' | '_' | '-')
}

/// Splits text into words and identifier-like compounds.
#[derive(Clone, Copy)]
pub struct KbTokenizer {
    /// Emit a compound's parts beside the compound itself (index side).
    emit_parts: bool,
}

impl KbTokenizer {
    pub fn for_index() -> Self {
        KbTokenizer { emit_parts: true }
    }

    pub fn for_query() -> Self {
        KbTokenizer { emit_parts: false }
    }
}

/// Consumes `'s`, `'t` (straight or curly apostrophe) when they end a word.
fn skip_clitic(text: &str, chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>) {
    let Some(&(offset, apostrophe)) = chars.peek() else {
        return;
    };
    if apostrophe != '\'' && apostrophe != '’' {
        return;
    }
    let rest = &text[offset + apostrophe.len_utf8()..];
    let mut after = rest.chars();
    let ending = after.next();
    let word_ends = after.next().is_none_or(|c| !c.is_alphanumeric());
    if matches!(ending, Some('s' | 'S' | 't' | 'T')) && word_ends {
        chars.next();
        chars.next();
    }
}

/// The tokens of one text, produced as they are read; a compound's parts wait in `pending`.
pub struct KbTokenStream<'a> {
    text: &'a str,
    chars: std::iter::Peekable<std::str::CharIndices<'a>>,
    emit_parts: bool,
    /// Position of the next word.
    position: usize,
    token: Token,
    /// Tokens still to hand out for the current compound.
    pending: Vec<Pending>,
    pending_at: usize,
}

/// A token waiting to be handed out: a byte range of the text at a position, or (for a joined
/// form) other text over that range.
#[derive(Clone)]
struct Pending {
    from: usize,
    to: usize,
    position: usize,
    joined: Option<String>,
}

impl Pending {
    fn part(from: usize, to: usize, position: usize) -> Pending {
        Pending {
            from,
            to,
            position,
            joined: None,
        }
    }
}

/// Where a word of letters then digits splits, as a customer may write it apart: `nfsv4` is
/// `nfs v4`, `smb1` is `smb 1`, `sql2016` is `sql 2016`. At least two letters come first, so
/// codes like `x64` or `0x80070005` stay whole.
pub fn letters_digits_split(word: &str) -> Option<usize> {
    let digits_at = word.find(|c: char| c.is_ascii_digit())?;
    let (letters, digits) = word.split_at(digits_at);
    if !letters.chars().all(|c| c.is_ascii_alphabetic())
        || !digits.chars().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let version_v = letters.len() > 2 && letters.ends_with(['v', 'V']);
    let split = if version_v { digits_at - 1 } else { digits_at };
    (split >= 2).then_some(split)
}

impl KbTokenStream<'_> {
    fn set_token(&mut self, pending: &Pending) {
        self.token.offset_from = pending.from;
        self.token.offset_to = pending.to;
        self.token.position = pending.position;
        self.token.position_length = 1;
        self.token.text.clear();
        match &pending.joined {
            Some(joined) => self.token.text.push_str(joined),
            None => self
                .token
                .text
                .push_str(&self.text[pending.from..pending.to]),
        }
    }

    /// Reads the next word or compound; false at the end of the text.
    fn next_compound(&mut self) -> bool {
        let text = self.text;
        let Some((start, first)) = self.chars.by_ref().find(|(_, c)| c.is_alphanumeric()) else {
            return false;
        };
        // Extend over alphanumerics and single connectors followed by an alphanumeric.
        let mut end = start + first.len_utf8();
        let mut has_digit_or_underscore = first.is_numeric();
        let mut has_connector = false;
        while let Some(&(offset, next)) = self.chars.peek() {
            if next.is_alphanumeric() {
                has_digit_or_underscore |= next.is_numeric();
                end = offset + next.len_utf8();
                self.chars.next();
                continue;
            }
            let after = text[offset + next.len_utf8()..].chars().next();
            if is_connector(next) && after.is_some_and(char::is_alphanumeric) {
                has_digit_or_underscore |= next == '_';
                has_connector = true;
                self.chars.next();
                continue;
            }
            break;
        }
        // English possessive and contraction endings (`server's`, `what's`, `can't`) belong to
        // the word before them and are dropped rather than searched as `s` or `t`.
        skip_clitic(text, &mut self.chars);
        self.pending.clear();
        self.pending_at = 0;
        let mut part_start = start;
        let mut index = 0;
        // Most words have no connector: they are one part, and are not read again for parts.
        if has_connector {
            for (offset, c) in text[start..end].char_indices() {
                if is_connector(c) {
                    if start + offset > part_start {
                        self.pending.push(Pending::part(
                            part_start,
                            start + offset,
                            self.position + index,
                        ));
                        index += 1;
                    }
                    part_start = start + offset + c.len_utf8();
                }
            }
        }
        if end > part_start {
            self.pending
                .push(Pending::part(part_start, end, self.position + index));
            index += 1;
        }
        // A word of letters then digits is kept whole and, on the index side, also split as a
        // customer may write it apart (`NFSv4` and `NFS v4`); the query side keeps it whole
        // and searches the split form as an alternative.
        // Only a word with a digit can split: the flag spares most words the scan.
        let split = (index == 1 && has_digit_or_underscore)
            .then(|| letters_digits_split(&text[start..end]))
            .flatten();
        if let Some(at) = split {
            self.pending = vec![
                Pending::part(start, start + at, self.position),
                Pending::part(start + at, end, self.position + 1),
            ];
            index = 2;
        }
        let keep_whole = index > 1 && (has_digit_or_underscore || split.is_some());
        if keep_whole {
            self.set_token(&Pending::part(start, end, self.position));
            if !self.emit_parts {
                self.pending.clear();
            }
        } else {
            // Words joined by hyphens or dots (`re-copies`, `part-way`) are also indexed
            // written together, as customers type them (`recopied`).
            if self.emit_parts && index > 1 {
                let joined: String = self.pending.iter().map(|p| &text[p.from..p.to]).collect();
                self.pending.push(Pending {
                    from: start,
                    to: end,
                    position: self.position,
                    joined: Some(joined),
                });
            }
            let first = self.pending[0].clone();
            self.set_token(&first);
            self.pending_at = 1;
        }
        self.position += index;
        true
    }
}

impl TokenStream for KbTokenStream<'_> {
    fn advance(&mut self) -> bool {
        if let Some(pending) = self.pending.get(self.pending_at).cloned() {
            self.pending_at += 1;
            self.set_token(&pending);
            return true;
        }
        self.next_compound()
    }

    fn token(&self) -> &Token {
        &self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.token
    }
}

impl Tokenizer for KbTokenizer {
    type TokenStream<'a> = KbTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> KbTokenStream<'a> {
        KbTokenStream {
            text,
            chars: text.char_indices().peekable(),
            emit_parts: self.emit_parts,
            position: 0,
            token: Token::default(),
            pending: Vec::new(),
            pending_at: 0,
        }
    }
}

/// Every step of analysis but stemming: words and compounds, long ones dropped, lowercased,
/// folded to ASCII, stop words removed.
fn unstemmed(tokenizer: KbTokenizer) -> TextAnalyzerBuilder<impl Tokenizer> {
    TextAnalyzer::builder(tokenizer)
        .filter(RemoveLongFilter::limit(MAX_TOKEN_CHARS))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(StopWordFilter::remove(
            STOP_WORDS.iter().map(|w| w.to_string()),
        ))
}

/// The analyzer for indexed text. It remembers stems ([`CachedStemmer`]): articles repeat their
/// words, and indexing stems every one of them.
pub fn index_analyzer() -> TextAnalyzer {
    unstemmed(KbTokenizer::for_index())
        .filter(CachedStemmer)
        .build()
}

/// The analyzer for query text: the same filters, compounds kept whole.
pub fn query_analyzer() -> TextAnalyzer {
    unstemmed(KbTokenizer::for_query())
        .filter(Stemmer::new(Language::English))
        .build()
}

/// The analyzer snippets are highlighted with: the index analyzer's steps, except that only
/// words that could stem to one of `terms` are stemmed. Stemming is the costliest step of
/// analysis and almost no word of a body can match, so this makes snippets several times
/// cheaper with the same highlights (a stem keeps the first letters of its word).
pub fn snippet_analyzer(terms: &[String]) -> TextAnalyzer {
    TextAnalyzer::builder(KbTokenizer::for_index())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_CHARS))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(SelectiveStemmer::new(terms))
        .build()
}

/// Letters a word must share with a term before it may match it: a stem keeps the first letters
/// of its word, so words that start otherwise are neither stemmed for snippets nor looked at.
const PREFIX_CHARS: usize = 3;

/// A stemming filter that only stems words starting like one of its terms.
#[derive(Clone)]
pub struct SelectiveStemmer {
    prefixes: std::sync::Arc<TermPrefixes>,
}

impl SelectiveStemmer {
    pub fn new(terms: &[String]) -> Self {
        SelectiveStemmer {
            prefixes: std::sync::Arc::new(TermPrefixes::new(terms.iter().map(String::as_str))),
        }
    }
}

/// The first [`PREFIX_CHARS`] letters of some analysed terms, each with a number, looked up by a
/// word's own first letters: a set, since a draft case has dozens of terms and every word of a
/// snippet is checked. Most words start like no term, so a table of the prefixes' first two
/// bytes turns them away before the set is asked. ASCII case is ignored, as the analyser
/// lowercases, so raw body text can be looked up.
pub struct TermPrefixes {
    /// Keyed by the prefix's bytes as one integer (see [`WordStart`]).
    ids: HashMap<u128, usize, foldhash::fast::RandomState>,
    /// The lengths in characters of the prefixes held, longest first (short terms such as `ip`
    /// give short prefixes).
    lengths: Vec<usize>,
    /// Bit `first << 8 | second` is set for the first two bytes of every prefix of two or more
    /// bytes.
    pairs: Box<[u64; 1 << 10]>,
    /// Bit `byte` is set for every one-byte prefix: any word starting with it may match.
    singles: [u64; 4],
}

impl TermPrefixes {
    pub fn new<'a>(terms: impl IntoIterator<Item = &'a str>) -> TermPrefixes {
        let mut ids: HashMap<u128, usize, _> = HashMap::default();
        let mut lengths = Vec::new();
        let mut pairs = Box::new([0u64; 1 << 10]);
        let mut singles = [0u64; 4];
        for term in terms {
            let start = WordStart::of(term);
            let Some(key) = start.key(start.chars) else {
                continue;
            };
            let next = ids.len();
            ids.entry(key).or_insert(next);
            lengths.push(start.chars);
            match *start.bytes() {
                [only] => singles[usize::from(only >> 6)] |= 1 << (only & 63),
                [first, second, ..] => {
                    let bit = usize::from(first) << 8 | usize::from(second);
                    pairs[bit >> 6] |= 1 << (bit & 63);
                }
                [] => {}
            }
        }
        lengths.sort_unstable_by(|a, b| b.cmp(a));
        lengths.dedup();
        TermPrefixes {
            ids,
            lengths,
            pairs,
            singles,
        }
    }

    /// How many distinct prefixes there are; their numbers run from 0 to this.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// False when no prefix can start a word whose first bytes (lowercase) are `first` and
    /// `second` (`None` for a one-byte word); true means "ask the set".
    fn may_start(&self, first: u8, second: Option<u8>) -> bool {
        if self.singles[usize::from(first >> 6)] & (1 << (first & 63)) != 0 {
            return true;
        }
        second.is_some_and(|second| {
            let bit = usize::from(first) << 8 | usize::from(second);
            self.pairs[bit >> 6] & (1 << (bit & 63)) != 0
        })
    }

    /// The number of the prefix that `word` starts with, ignoring ASCII case, if any.
    pub fn find(&self, word: &str) -> Option<usize> {
        let (&first, rest) = word.as_bytes().split_first()?;
        let second = rest.first().map(u8::to_ascii_lowercase);
        if !self.may_start(first.to_ascii_lowercase(), second) {
            return None;
        }
        let start = WordStart::of(word);
        self.lengths
            .iter()
            .filter(|&&length| length <= start.chars)
            .find_map(|&length| self.ids.get(&start.key(length)?).copied())
    }
}

/// The first [`PREFIX_CHARS`] characters of a word, ASCII lowercased as the analyser does.
#[derive(Default)]
struct WordStart {
    bytes: [u8; PREFIX_CHARS * 4],
    /// `ends[i]`: the byte length of the first `i + 1` characters.
    ends: [usize; PREFIX_CHARS],
    chars: usize,
}

impl WordStart {
    /// The first letters of `word`.
    fn of(word: &str) -> WordStart {
        let mut start = WordStart::default();
        for c in word.chars() {
            if !start.push(c) {
                break;
            }
        }
        start
    }

    /// Adds the next character of the word; false once [`PREFIX_CHARS`] are held.
    fn push(&mut self, c: char) -> bool {
        if self.chars == PREFIX_CHARS {
            return false;
        }
        let at = self.chars.checked_sub(1).map_or(0, |last| self.ends[last]);
        let length = c
            .to_ascii_lowercase()
            .encode_utf8(&mut self.bytes[at..])
            .len();
        self.ends[self.chars] = at + length;
        self.chars += 1;
        true
    }

    /// The bytes of all the characters held.
    fn bytes(&self) -> &[u8] {
        &self.bytes[..self.chars.checked_sub(1).map_or(0, |last| self.ends[last])]
    }

    /// The first `chars` characters as one integer: their bytes, zero-padded (no word holds a
    /// zero byte, so prefixes of different lengths never share a key). `None` for no characters.
    fn key(&self, chars: usize) -> Option<u128> {
        let length = self.ends[chars.checked_sub(1)?];
        let mut padded = [0u8; 16];
        padded[..length].copy_from_slice(&self.bytes[..length]);
        Some(u128::from_le_bytes(padded))
    }
}

impl tantivy::tokenizer::TokenFilter for SelectiveStemmer {
    type Tokenizer<T: Tokenizer> = SelectiveStemmerFilter<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> SelectiveStemmerFilter<T> {
        SelectiveStemmerFilter {
            inner: tokenizer,
            prefixes: self.prefixes,
            stemmer: TextAnalyzer::builder(tantivy::tokenizer::RawTokenizer::default())
                .filter(Stemmer::new(Language::English))
                .build(),
        }
    }
}

#[derive(Clone)]
pub struct SelectiveStemmerFilter<T> {
    inner: T,
    prefixes: std::sync::Arc<TermPrefixes>,
    stemmer: TextAnalyzer,
}

impl<T: Tokenizer> Tokenizer for SelectiveStemmerFilter<T> {
    type TokenStream<'a> = SelectiveStemmerStream<'a, T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        SelectiveStemmerStream {
            tail: self.inner.token_stream(text),
            prefixes: &self.prefixes,
            stemmer: &mut self.stemmer,
        }
    }
}

pub struct SelectiveStemmerStream<'a, T> {
    tail: T,
    prefixes: &'a TermPrefixes,
    stemmer: &'a mut TextAnalyzer,
}

impl<T: TokenStream> TokenStream for SelectiveStemmerStream<'_, T> {
    fn advance(&mut self) -> bool {
        if !self.tail.advance() {
            return false;
        }
        let token = self.tail.token_mut();
        if self.prefixes.find(&token.text).is_some() {
            let mut stemmed = self.stemmer.token_stream(&token.text);
            let stem = stemmed.advance().then(|| stemmed.token().text.clone());
            drop(stemmed);
            if let Some(stem) = stem {
                token.text = stem;
            }
        }
        true
    }

    fn token(&self) -> &Token {
        self.tail.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.tail.token_mut()
    }
}

/// The analyzer of the vocabulary: words and compounds as written, lowercased and folded, so
/// completions and corrections can be shown to people.
pub fn vocab_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(KbTokenizer::for_query())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_CHARS))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// True for words that are never typo-corrected or completed: numbers, versions, codes.
pub fn is_code_like(word: &str) -> bool {
    word.chars().any(|c| c.is_ascii_digit() || c == '_')
}

/// A term of analysed query text and its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryToken {
    pub text: String,
    pub position: usize,
    /// Byte range of the word in the analysed text.
    pub offsets: std::ops::Range<usize>,
}

/// Runs query text through `analyzer`.
pub fn analyze(analyzer: &mut TextAnalyzer, text: &str) -> Vec<QueryToken> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while let Some(token) = stream.next() {
        out.push(QueryToken {
            text: token.text.clone(),
            position: token.position,
            offsets: token.offset_from..token.offset_to,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn term_prefixes_match_words_starting_like_a_term() {
        let prefixes = TermPrefixes::new(["replication", "ip", "café", "replica"]);
        assert_eq!(prefixes.len(), 3);
        assert_eq!(prefixes.find("replicas"), Some(0));
        assert_eq!(prefixes.find("ipconfig"), Some(1));
        assert_eq!(prefixes.find("cafés"), Some(2));
        assert_eq!(prefixes.find("re"), None);
        assert_eq!(prefixes.find("i"), None);
        assert_eq!(prefixes.find("network"), None);
        assert!(TermPrefixes::new([]).is_empty());
    }

    fn texts(analyzer: &mut TextAnalyzer, text: &str) -> Vec<(String, usize)> {
        analyze(analyzer, text)
            .into_iter()
            .map(|t| (t.text, t.position))
            .collect()
    }

    #[test]
    fn the_index_analyzer_gives_the_tokens_of_plain_stemming_on_the_sample_kb() {
        let mut plain = unstemmed(KbTokenizer::for_index())
            .filter(Stemmer::new(Language::English))
            .build();
        let mut index = index_analyzer();
        let kb = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("kb");
        let mut files = 0;
        for entry in walkdir::WalkDir::new(kb) {
            let entry = entry.expect("the sample kb is readable");
            if entry.path().extension().is_none_or(|ext| ext != "md") {
                continue;
            }
            let text = std::fs::read_to_string(entry.path()).expect("articles are UTF-8");
            let expected = analyze(&mut plain, &text);
            // Twice: stems made on first sight, then stems remembered.
            for _ in 0..2 {
                assert_eq!(analyze(&mut index, &text), expected, "{:?}", entry.path());
            }
            files += 1;
        }
        assert!(files > 50, "the sample kb has its articles ({files})");
    }

    #[test]
    fn codes_and_versions_stay_whole_at_query_time() {
        let mut query = query_analyzer();
        assert_eq!(texts(&mut query, "7.8.0"), [("7.8.0".to_string(), 0)]);
        assert_eq!(
            texts(&mut query, "ERR_SHARE_LOCKED"),
            [("err_share_lock".to_string(), 0)]
        );
        assert_eq!(
            texts(&mut query, "0x80070005"),
            [("0x80070005".to_string(), 0)]
        );
        assert_eq!(
            texts(&mut query, "SXE-4012 error")[1],
            ("error".to_string(), 2)
        );
    }

    #[test]
    fn index_side_keeps_parts_for_word_queries() {
        let mut index = index_analyzer();
        let tokens = texts(&mut index, "Cutover failed: ERR_SHARE_LOCKED on 7.8.0.");
        let words: Vec<&str> = tokens.iter().map(|(t, _)| t.as_str()).collect();
        assert!(words.contains(&"err_share_lock"));
        assert!(words.contains(&"share"));
        assert!(words.contains(&"7.8.0"));
        assert!(!words.contains(&"on"), "stop words are removed");
    }

    #[test]
    fn the_snippet_analyzer_stems_only_what_can_match() {
        let terms = vec!["permiss".to_string(), "0x80070005".to_string()];
        let mut snippet = snippet_analyzer(&terms);
        let words: Vec<String> = texts(&mut snippet, "Permissions denied: 0x80070005 running")
            .into_iter()
            .map(|t| t.0)
            .collect();
        assert_eq!(words, ["permiss", "denied", "0x80070005", "running"]);
    }

    #[test]
    fn letters_then_digits_are_also_indexed_apart_and_hyphenated_words_together() {
        let mut index = index_analyzer();
        assert_eq!(
            texts(&mut index, "NFSv4 share"),
            [
                ("nfsv4".to_string(), 0),
                ("nfs".to_string(), 0),
                ("v4".to_string(), 1),
                ("share".to_string(), 2)
            ]
        );
        let smb: Vec<String> = texts(&mut index, "SMB1").into_iter().map(|t| t.0).collect();
        assert_eq!(smb, ["smb1", "smb", "1"]);
        let copies: Vec<(String, usize)> = texts(&mut index, "re-copies");
        assert!(copies.contains(&("recopi".to_string(), 0)), "{copies:?}");
        assert!(copies.contains(&("copi".to_string(), 1)), "{copies:?}");
        // Codes stay as they were.
        let code: Vec<String> = texts(&mut index, "0x80070005 x64")
            .into_iter()
            .map(|t| t.0)
            .collect();
        assert_eq!(code, ["0x80070005", "x64"]);
        let mut query = query_analyzer();
        assert_eq!(
            texts(&mut query, "nfsv4 mount"),
            [("nfsv4".to_string(), 0), ("mount".to_string(), 2)],
            "the query side keeps the word whole, at the same positions"
        );
    }

    #[test]
    fn plain_hyphenated_words_split() {
        let mut query = query_analyzer();
        let words: Vec<String> = texts(&mut query, "data-mover e.g. 🙂 foo:(")
            .into_iter()
            .map(|t| t.0)
            .collect();
        assert_eq!(words, ["data", "mover", "e", "g", "foo"]);
    }

    #[test]
    fn possessives_and_question_words_are_not_searched() {
        let mut query = query_analyzer();
        let words: Vec<String> = texts(&mut query, "What's new in the server’s console? can't")
            .into_iter()
            .map(|t| t.0)
            .collect();
        assert_eq!(words, ["new", "server", "consol"]);
    }
}
