//! English stemming for the index analyzer, with a memory of the words already stemmed. Stemming
//! was the costliest step of indexing after the postings themselves (about 12 % of a full build),
//! and a knowledge base repeats a small vocabulary: most words of an article were stemmed for an
//! earlier one. A miss is stemmed by tantivy's own [`Stemmer`], so every stem is the one the
//! plain filter gives; the memory only saves doing it again.
//!
//! Each analyzer keeps its own memory (tantivy clones the registered analyzer per field and per
//! indexing thread), so no lock is taken; a clone starts empty. The memory has a fixed size.

use tantivy::tokenizer::{
    Language, RawTokenizer, Stemmer, TextAnalyzer, Token, TokenFilter, TokenStream, Tokenizer,
};

/// The memory holds up to `2^SLOT_BITS` words: 512 KB, which the words that make up most of a
/// knowledge base's text fit in (the 16,384 most frequent words are 95 % of the synthetic 10,000
/// articles' words).
const SLOT_BITS: u32 = 14;
const SLOTS: usize = 1 << SLOT_BITS;

/// A token filter that stems English words as [`Stemmer`] does, remembering each word's stem.
#[derive(Clone, Copy, Default)]
pub struct CachedStemmer;

impl TokenFilter for CachedStemmer {
    type Tokenizer<T: Tokenizer> = CachedStemmerFilter<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> CachedStemmerFilter<T> {
        CachedStemmerFilter {
            inner: tokenizer,
            stems: Stems::default(),
        }
    }
}

pub struct CachedStemmerFilter<T> {
    inner: T,
    stems: Stems,
}

/// A clone (tantivy makes one per field and indexing thread) starts with an empty memory, so
/// cloning a registered analyzer stays cheap.
impl<T: Clone> Clone for CachedStemmerFilter<T> {
    fn clone(&self) -> Self {
        CachedStemmerFilter {
            inner: self.inner.clone(),
            stems: Stems::default(),
        }
    }
}

impl<T: Tokenizer> Tokenizer for CachedStemmerFilter<T> {
    type TokenStream<'a> = CachedStemmerStream<'a, T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        CachedStemmerStream {
            tail: self.inner.token_stream(text),
            stems: &mut self.stems,
        }
    }
}

pub struct CachedStemmerStream<'a, T> {
    tail: T,
    stems: &'a mut Stems,
}

impl<T: TokenStream> TokenStream for CachedStemmerStream<'_, T> {
    fn advance(&mut self) -> bool {
        if !self.tail.advance() {
            return false;
        }
        self.stems.stem_in_place(&mut self.tail.token_mut().text);
        true
    }

    fn token(&self) -> &Token {
        self.tail.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.tail.token_mut()
    }
}

/// The stems of some words seen, and the stemmer that makes new ones. The memory is a table of
/// [`SLOTS`] slots, each word in the slot its hash picks: a newer word takes the slot of an older
/// one. Lookups are then one probe of a table that stays in the CPU cache; a hash map of every
/// word seen outgrew the cache, and its lookups cost two thirds of the stemming they saved.
/// Words and stems are packed in integers ([`pack`]), so no pointer is followed either.
struct Stems {
    /// `(word, stem)` per slot, packed; a word of 0 marks an empty slot (no word is empty).
    slots: Box<[(u128, u128)]>,
    stemmer: TextAnalyzer,
}

impl Default for Stems {
    fn default() -> Self {
        Stems {
            slots: vec![(0, 0); SLOTS].into_boxed_slice(),
            stemmer: TextAnalyzer::builder(RawTokenizer::default())
                .filter(Stemmer::new(Language::English))
                .build(),
        }
    }
}

/// The slot of a packed word: a multiplicative hash of its bytes.
fn slot_of(key: u128) -> usize {
    let folded = (key as u64) ^ ((key >> 64) as u64).rotate_left(29);
    let mixed = folded.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (mixed >> (64 - SLOT_BITS)) as usize
}

/// Bytes of the longest word (or stem) remembered; longer ones, rare, are stemmed every time.
const PACKED_BYTES: usize = 16;

/// A word of up to [`PACKED_BYTES`] bytes as one integer: its bytes, zero-padded. No token holds
/// a zero byte (the tokenizer keeps letters, digits and connectors), so the padding is where the
/// word ends.
fn pack(word: &str) -> Option<u128> {
    let bytes = word.as_bytes();
    if bytes.len() > PACKED_BYTES {
        return None;
    }
    let mut padded = [0u8; PACKED_BYTES];
    padded[..bytes.len()].copy_from_slice(bytes);
    Some(u128::from_le_bytes(padded))
}

/// Writes the word packed in `packed` to `out`, in place of what it held.
fn unpack_into(packed: u128, out: &mut String) {
    let bytes = packed.to_le_bytes();
    let length = bytes.iter().position(|&b| b == 0).unwrap_or(PACKED_BYTES);
    let word = std::str::from_utf8(&bytes[..length]).expect("only whole UTF-8 words are packed");
    out.clear();
    out.push_str(word);
}

impl Stems {
    /// Replaces `word` with its stem.
    fn stem_in_place(&mut self, word: &mut String) {
        let key = pack(word);
        if let Some(key) = key {
            let (held, stem) = self.slots[slot_of(key)];
            if held == key {
                unpack_into(stem, word);
                return;
            }
        }
        let mut stream = self.stemmer.token_stream(word);
        // The raw tokenizer hands out the whole word as its one token.
        let Some(stem) = stream.next().map(|token| token.text.clone()) else {
            return;
        };
        drop(stream);
        if let (Some(key), Some(packed_stem)) = (key, pack(&stem)) {
            self.slots[slot_of(key)] = (key, packed_stem);
        }
        *word = stem;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stem_all(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while let Some(token) = stream.next() {
            out.push(token.text.clone());
        }
        out
    }

    #[test]
    fn stems_as_the_plain_stemmer_does_on_first_sight_and_from_memory() {
        let text = "running runs ran easily replication replicated copies copying the \
                    generously generous connection connections connected";
        let mut plain = TextAnalyzer::builder(tantivy::tokenizer::SimpleTokenizer::default())
            .filter(Stemmer::new(Language::English))
            .build();
        let mut cached = TextAnalyzer::builder(tantivy::tokenizer::SimpleTokenizer::default())
            .filter(CachedStemmer)
            .build();
        let expected = stem_all(&mut plain, text);
        assert_eq!(stem_all(&mut cached, text), expected, "first sight");
        assert_eq!(stem_all(&mut cached, text), expected, "from memory");
        assert_eq!(stem_all(&mut cached.clone(), text), expected, "a clone");
    }

    #[test]
    fn words_that_share_a_slot_take_it_over_and_stems_stay_right() {
        let mut plain = Stems::default().stemmer;
        let mut stems = Stems::default();
        let words: Vec<String> = (0..SLOTS + 100).map(|n| format!("w{n}ings")).collect();
        for word in words.iter().chain(&words) {
            let expected = stem_all(&mut plain, word);
            let mut stemmed = word.clone();
            stems.stem_in_place(&mut stemmed);
            assert_eq!([stemmed], *expected, "{word}");
        }
    }

    #[test]
    fn words_too_long_to_remember_and_non_ascii_words_are_stemmed_too() {
        let mut plain = Stems::default().stemmer;
        let mut stems = Stems::default();
        for text in ["internationalizations", "naïvetés", "überwachungssysteme"] {
            let expected = stem_all(&mut plain, text);
            for _ in 0..2 {
                let mut word = text.to_string();
                stems.stem_in_place(&mut word);
                assert_eq!([word], *expected, "{text}");
            }
        }
    }
}
