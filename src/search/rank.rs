//! Every ranking constant of search and deflection, side by side, each with the measurement that
//! chose it. Search ranks short typed queries; deflection ranks long drafts: the same BM25 over
//! the whole article (`all`, which counts the title [`TITLE_REPEAT`] times) under both, with
//! different extras on top, because what helped one was measured on its own judged data.
//! Figures are from `kbsearch eval` (SciFact train nDCG@10, `kb/judgments.tsv` nDCG@10) and
//! `kbsearch eval --drafts kb/deflection.jsonl` (MRR@5); `benches/README.md` has the tables.
//!
//! To make titles count more: [`TITLE_REPEAT`] weighs them inside BM25 for both (an index-time
//! setting: changing it needs a schema version bump), [`SEARCH_TITLE_BOOST`] adds to search
//! only, [`DRAFT_TITLE_WEIGHT`] to deflection only.

pub use crate::index::schema::TITLE_REPEAT;

// ---- search (typed queries) ----

/// Weight of the whole-article BM25, the base every other weight is relative to.
pub const SEARCH_ALL_BOOST: f32 = 1.0;
/// Extra weight of a query word in the title. A separately scored title field hurt SciFact
/// badly (a short field's BM25 inflates title matches): per-field sums scored 0.5785 against
/// 0.6853 for one BM25 over the article; a light 0.1 on top of the title counted twice in `all`
/// gave the chosen 0.6928.
pub const SEARCH_TITLE_BOOST: f32 = 0.1;
/// Queries of at most this many words (or phrases) take [`SEARCH_SHORT_TITLE_BOOST`].
pub const SHORT_QUERY_WORDS: usize = 2;
/// Extra weight of a title match for one- and two-word queries: `cutover` ranked a short help
/// page mentioning it twice above the articles about cutovers. Tuned on the fitting part of the
/// judged queries (blind-written, anonymous / `kb/judgments.tsv`, customer): 0.1 gave nDCG@10
/// 0.8177 / 0.9129, 0.3-0.5 the same, 1.0 0.8243 / 0.9176, 1.5 0.8250 / 0.9176, 3.0 0.8256 /
/// 0.9186 (a plateau); SciFact train, whose queries are longer, does not change.
pub const SEARCH_SHORT_TITLE_BOOST: f32 = 1.5;
/// Extra weight of a query word in a heading (chosen with the title boost: 0.6928 / 0.8994).
pub const SEARCH_HEADINGS_BOOST: f32 = 0.2;
/// Extra weight of a query word in the writer's curated keywords (chosen with the title boost).
pub const SEARCH_KEYWORDS_BOOST: f32 = 0.5;
/// Weight of a synonym relative to the word the customer typed.
pub const SYNONYM_WEIGHT: f32 = 0.8;
/// Weight of a typo correction or a completion of the last word: below any exact match.
pub const EXPANSION_WEIGHT: f32 = 0.5;
/// Queries with at most this many words rank full matches first; longer ones (pasted text) rank
/// by BM25 alone, where requiring every word would only add noise.
pub const MAX_TIERED_CONCEPTS: usize = 6;
/// Score bonus for an article about the version asked for (BM25 scores are typically 5-30).
pub const VERSION_BONUS: f32 = 1.5;
/// Score bonus for articles not only about versions past their end of general support.
pub const SUPPORTED_BONUS: f32 = 1.0;

// ---- search with a sentence-embedding model (`crate::semantic`) ----

/// Queries of at least this many words are reranked with the vectors: questions and described
/// symptoms, where meaning matters more than the exact words. Shorter ones are searched
/// lexically, at the speed they had without a model. On the fitting part of the judged queries
/// (anonymous, lexical weight 0.2), nDCG@10 0.8372 lexically; from 4 words 0.8433 (symptom
/// queries 0.807 → 0.873); from 3 words 0.8572, which would also slow 3-word queries.
pub const SEARCH_SEMANTIC_MIN_WORDS: usize = 4;
/// Lexical results reranked by fusion with the vectors (the rest keep their lexical order).
pub const SEARCH_SEMANTIC_DEPTH: usize = 50;
/// Weight of the lexical score (divided by the best of the reranked results) against the
/// cosine of query and article, fitted on the fitting part of the judged queries
/// (`kbsearch eval --judgments … --part fit --role anonymous --search-lexical-weight W`):
/// 0.2 best of 0.0-0.6 (from 4 words: 0.0 0.8122, 0.1 0.8403, 0.2 0.8433, 0.3 0.8388, 0.5 0.8354).
pub const SEARCH_SEMANTIC_LEXICAL_WEIGHT: f32 = 0.2;

// ---- deflection (draft cases) ----

/// Extra weight of a draft word found in an article's title, on top of `all` (which already
/// holds the title twice). Higher than search's title boost because it was fitted on drafts: a
/// small title preference lifted MRR@5 from 0.73 to 0.76; subject weighting and extra weight on
/// codes each scored lower.
pub const DRAFT_TITLE_WEIGHT: f32 = 0.3;
/// Weight of a quoted error message matched as a phrase, on top of its words.
pub const PHRASE_WEIGHT: f32 = 1.0;
/// Candidates reordered by version and case type before the top ones are shown. 20 and 50 gave
/// the same figures on the judged drafts (10 lost one answer) and the same suggestions on the
/// 500 benchmark drafts; 20 costs 7 % less.
pub const CANDIDATES: usize = 20;
/// Score factor for an article about the draft's version, and for one only about other
/// versions; measured on the judged drafts.
pub const SAME_VERSION_FIT: f32 = 1.1;
pub const OTHER_VERSION_FIT: f32 = 0.9;
/// Score factors for release notes and help pages answering a feature request (an answer may be
/// the release that brought the feature); measured on the judged drafts.
pub const FEATURE_RELEASE_NOTE_FIT: f32 = 1.5;
pub const FEATURE_HELP_FIT: f32 = 1.2;
/// BM25's `k1`, as tantivy uses it: a term's score is at most `idf × (k1 + 1)`, which makes the
/// draft's own maximum score that confidences are relative to.
pub const BM25_K1: f32 = 1.2;
/// The logistic mapping from score ratio to confidence, `1 / (1 + e^-(a·ratio + b))`, fitted
/// by `kbsearch eval --drafts kb/deflection.jsonl` on its judged suggestions.
pub const CALIBRATION: (f32, f32) = (14.94, -4.52);

// ---- deflection with a sentence-embedding model (`crate::semantic`) ----

/// Nearest articles by vector added to the lexical candidates.
pub const DRAFT_SEMANTIC_CANDIDATES: usize = 20;
/// Weight of the score ratio against the cosine of draft and article. Fitted on the fitting part
/// of the judged drafts with all-MiniLM-L6-v2 (`kbsearch eval --drafts … --part fit
/// --draft-lexical-weight W`): Recall@5 is flat from 0.5 to 0.8 (0.958-0.968) and the AUC of
/// the fused top-1, answerable against unanswerable drafts, peaks at 0.6 (0.862; 0.5: 0.860,
/// 0.7: 0.856; the cosine alone: 0.77-0.79).
pub const DRAFT_SEMANTIC_LEXICAL_WEIGHT: f32 = 0.6;
/// The logistic mapping from a suggestion's fused score to its confidence, `1 / (1 +
/// e^-(a·fused + b))`, fitted by `kbsearch eval --drafts … --part fit` with all-MiniLM-L6-v2
/// on the judged top-5 suggestions of the fitting part (680 suggestions).
pub const SEMANTIC_CALIBRATION: (f32, f32) = (14.89, -6.41);
