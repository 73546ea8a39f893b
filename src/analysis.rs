//! Text analysis: how article text and queries become index terms. Words are lowercased,
//! ASCII-folded, stop-worded and stemmed (English). Identifier-like compounds — error codes,
//! versions, constants such as `0x80070005`, `7.8.0`, `ERR_SHARE_LOCKED`, `SXE-4012` — are kept
//! whole so a query for one matches it as one token and never its neighbours (`7.7.0`).
//!
//! At index time a compound is emitted whole *and* as its parts (at the parts' positions), so
//! `share locked` still finds `ERR_SHARE_LOCKED`. At query time only the whole compound is
//! emitted, which is what makes `7.8.0` exact.

use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, Stemmer, StopWordFilter,
    TextAnalyzer, Token, TokenStream, Tokenizer,
};

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

    fn tokenize(self, text: &str) -> Vec<Token> {
        let mut tokens = Vec::new();
        let mut position = 0;
        let mut chars = text.char_indices().peekable();
        while let Some((start, c)) = chars.next() {
            if !c.is_alphanumeric() {
                continue;
            }
            // Extend over alphanumerics and single connectors followed by an alphanumeric.
            let mut end = start + c.len_utf8();
            let mut has_digit_or_underscore = c.is_numeric();
            while let Some(&(offset, next)) = chars.peek() {
                if next.is_alphanumeric() {
                    has_digit_or_underscore |= next.is_numeric();
                    end = offset + next.len_utf8();
                    chars.next();
                    continue;
                }
                let after = text[offset + next.len_utf8()..].chars().next();
                if is_connector(next) && after.is_some_and(char::is_alphanumeric) {
                    has_digit_or_underscore |= next == '_';
                    chars.next();
                    continue;
                }
                break;
            }
            // English possessive and contraction endings (`server's`, `what's`, `can't`) belong to
            // the word before them and are dropped rather than searched as `s` or `t`.
            skip_clitic(text, &mut chars);
            let compound = &text[start..end];
            let parts: Vec<(usize, &str)> = compound
                .split(is_connector)
                .scan(start, |offset, part| {
                    let at = *offset;
                    *offset += part.len() + 1;
                    Some((at, part))
                })
                .filter(|(_, part)| !part.is_empty())
                .collect();
            let keep_whole = parts.len() > 1 && has_digit_or_underscore;
            if keep_whole {
                tokens.push(token(compound, start, end, position));
            }
            if !keep_whole || self.emit_parts {
                for (index, (offset, part)) in parts.iter().enumerate() {
                    tokens.push(token(part, *offset, offset + part.len(), position + index));
                }
            }
            position += parts.len();
        }
        tokens
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

fn token(text: &str, from: usize, to: usize, position: usize) -> Token {
    Token {
        offset_from: from,
        offset_to: to,
        position,
        text: text.to_string(),
        position_length: 1,
    }
}

/// The tokens of one text, handed out one by one.
pub struct VecTokenStream {
    tokens: Vec<Token>,
    /// Index of the current token plus one; 0 before the first `advance`.
    cursor: usize,
}

impl TokenStream for VecTokenStream {
    fn advance(&mut self) -> bool {
        self.cursor += 1;
        self.cursor <= self.tokens.len()
    }

    fn token(&self) -> &Token {
        &self.tokens[self.cursor - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.cursor - 1]
    }
}

impl Tokenizer for KbTokenizer {
    type TokenStream<'a> = VecTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream {
        VecTokenStream {
            tokens: self.tokenize(text),
            cursor: 0,
        }
    }
}

fn analyzer(tokenizer: KbTokenizer) -> TextAnalyzer {
    TextAnalyzer::builder(tokenizer)
        .filter(RemoveLongFilter::limit(MAX_TOKEN_CHARS))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(StopWordFilter::remove(
            STOP_WORDS.iter().map(|w| w.to_string()),
        ))
        .filter(Stemmer::new(Language::English))
        .build()
}

/// The analyzer for indexed text.
pub fn index_analyzer() -> TextAnalyzer {
    analyzer(KbTokenizer::for_index())
}

/// The analyzer for query text: the same filters, compounds kept whole.
pub fn query_analyzer() -> TextAnalyzer {
    analyzer(KbTokenizer::for_query())
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
}

/// Runs query text through `analyzer`.
pub fn analyze(analyzer: &mut TextAnalyzer, text: &str) -> Vec<QueryToken> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while let Some(token) = stream.next() {
        out.push(QueryToken {
            text: token.text.clone(),
            position: token.position,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(analyzer: &mut TextAnalyzer, text: &str) -> Vec<(String, usize)> {
        analyze(analyzer, text)
            .into_iter()
            .map(|t| (t.text, t.position))
            .collect()
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
