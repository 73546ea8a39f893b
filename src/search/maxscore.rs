//! The best `k` documents for a long disjunction of weighted terms, by MaxScore.
//!
//! A draft case becomes a query of 50-120 terms, and most of its postings belong to words nearly
//! every article holds: on the 10,000-article benchmark a draft touches about 170,000 postings,
//! and 93 % of them belong to terms whose highest possible scores, added up, stay below the 50th
//! best score. tantivy's union scores every posting; its block-max WAND, used for pure
//! disjunctions, re-sorts its cursors at every step and was 5 times slower at this length.
//!
//! MaxScore (Turtle and Flood, 1995) sorts the terms by their highest possible score. Once the
//! k-th best score so far exceeds the sum of the smallest maxima, those terms alone cannot lift a
//! document into the top `k`: they become *non-essential*. Documents are found through the
//! essential terms only, a window at a time, and the non-essential terms' postings are looked up
//! for those documents alone, largest first, only while the document can still make it. The
//! result is the same top `k` as scoring every posting, with the same BM25 as tantivy's.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::io;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;

use tantivy::fieldnorm::FieldNormReader;
use tantivy::index::InvertedIndexReader;
use tantivy::postings::{BlockSegmentPostings, Postings, SegmentPostings, TermInfo};
use tantivy::query::{Bm25StatisticsProvider, Bm25Weight};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{
    BitSet, DocAddress, DocId, DocSet, Score, Searcher, SegmentReader, TERMINATED, Term,
};

use crate::search::audience::AudienceStats;

/// Documents scored together: small enough that the threshold rises after the first window,
/// large enough that moving every cursor to the next window costs little.
const WINDOW: u32 = 1024;
/// Fraction of the threshold the pruning floor must rise by before candidates are pruned again.
const PRUNE_STEP: Score = 0.05;
/// Most members a 64-document word of a [`WindowSet`] may hold and still be pruned one by one.
const SPARSE_WORD: u32 = 16;
/// A seek costs about as much as reading this many postings one after the other.
const SEEK_COST: u64 = 8;

/// Where each term is in each segment's dictionary, for the terms looked up lately: the case
/// form sends the same draft again at every pause in the typing, with a word or two more, and a
/// dictionary lookup costs about as much as scoring a thousand postings. One cache per index
/// snapshot, since term infos belong to its segments.
pub struct TermInfoCache {
    entries: Mutex<LruCache<Term, SegmentInfos, foldhash::fast::RandomState>>,
}

/// A term's dictionary entry in each segment, `None` where the segment lacks it.
type SegmentInfos = Arc<[Option<TermInfo>]>;

impl TermInfoCache {
    pub fn new(capacity: NonZeroUsize) -> TermInfoCache {
        TermInfoCache {
            entries: Mutex::new(LruCache::with_hasher(capacity, Default::default())),
        }
    }

    /// The term infos of `terms` in every segment of `searcher`, from the cache or the
    /// dictionaries.
    fn infos(&self, searcher: &Searcher, terms: &[Term]) -> tantivy::Result<Vec<SegmentInfos>> {
        let mut found: Vec<Option<SegmentInfos>> = {
            let mut entries = self.entries.lock().expect("term info cache lock");
            terms
                .iter()
                .map(|term| entries.get(term).cloned())
                .collect()
        };
        let mut looked_up = Vec::new();
        for (term, slot) in terms.iter().zip(&mut found) {
            if slot.is_none() {
                let infos = searcher
                    .segment_readers()
                    .iter()
                    .map(|reader| Ok(reader.inverted_index(term.field())?.get_term_info(term)?))
                    .collect::<tantivy::Result<SegmentInfos>>()?;
                looked_up.push((term.clone(), infos.clone()));
                *slot = Some(infos);
            }
        }
        if !looked_up.is_empty() {
            let mut entries = self.entries.lock().expect("term info cache lock");
            for (term, infos) in looked_up {
                entries.put(term, infos);
            }
        }
        Ok(found.into_iter().flatten().collect())
    }
}

/// Terms and where they are in every segment, with their document frequencies.
pub struct TermLookup {
    terms: Vec<Term>,
    /// `infos[term][segment]`.
    infos: Vec<SegmentInfos>,
    doc_freqs: Vec<u64>,
}

impl TermLookup {
    /// Looks up `terms`; their document frequencies count what the audience of `stats` sees.
    pub fn new(
        stats: &AudienceStats,
        cache: &TermInfoCache,
        terms: Vec<Term>,
    ) -> tantivy::Result<TermLookup> {
        let mut lookup = TermLookup {
            terms: Vec::new(),
            infos: Vec::new(),
            doc_freqs: Vec::new(),
        };
        lookup.extend(stats, cache, terms)?;
        Ok(lookup)
    }

    /// Looks up more terms; they are numbered after the ones already held.
    pub fn extend(
        &mut self,
        stats: &AudienceStats,
        cache: &TermInfoCache,
        terms: Vec<Term>,
    ) -> tantivy::Result<()> {
        let searcher = stats.searcher();
        let infos = cache.infos(searcher, &terms)?;
        for (term, segments) in terms.iter().zip(&infos) {
            let mut doc_freq = 0;
            for (segment_ord, info) in segments.iter().enumerate() {
                if let Some(info) = info {
                    let reader = searcher.segment_reader(segment_ord as u32);
                    doc_freq += stats.segment_doc_freq(segment_ord, reader, term.field(), info)?;
                }
            }
            self.doc_freqs.push(doc_freq);
        }
        self.infos.extend(infos);
        self.terms.extend(terms);
        Ok(())
    }

    /// The terms numbered `picked`, renumbered from 0 in that order.
    pub fn pick(&self, picked: &[usize]) -> TermLookup {
        TermLookup {
            terms: picked.iter().map(|&i| self.terms[i].clone()).collect(),
            infos: picked.iter().map(|&i| self.infos[i].clone()).collect(),
            doc_freqs: picked.iter().map(|&i| self.doc_freqs[i]).collect(),
        }
    }

    /// Documents holding term `i` among those the audience sees.
    pub fn doc_freq(&self, i: usize) -> u64 {
        self.doc_freqs[i]
    }

    /// The postings of term `i` in one segment, if the segment holds it.
    pub fn postings(
        &self,
        segment_ord: usize,
        reader: &SegmentReader,
        i: usize,
        option: IndexRecordOption,
    ) -> tantivy::Result<Option<SegmentPostings>> {
        let Some(info) = &self.infos[i][segment_ord] else {
            return Ok(None);
        };
        let index = reader.inverted_index(self.terms[i].field())?;
        Ok(Some(index.read_postings_from_terminfo(info, option)?))
    }
}

/// The BM25 statistics of one field, read once per query rather than once per term.
pub struct FieldStats {
    documents: u64,
    average_length: Score,
}

impl FieldStats {
    pub fn new(stats: &dyn Bm25StatisticsProvider, field: Field) -> tantivy::Result<FieldStats> {
        let documents = stats.total_num_docs()?;
        let average_length = stats.total_num_tokens(field)? as Score / documents.max(1) as Score;
        Ok(FieldStats {
            documents,
            average_length,
        })
    }

    /// A term's BM25 weight as tantivy computes it for a `TermQuery` boosted by `boost`.
    pub fn weight(&self, doc_freq: u64, boost: Score) -> Bm25Weight {
        Bm25Weight::for_one_term_without_explain(doc_freq, self.documents, self.average_length)
            .boost_by(boost)
    }
}

/// One clause of the disjunction: term `term` of a [`TermLookup`], scored with `weight`.
pub struct Clause {
    pub term: usize,
    pub weight: Bm25Weight,
}

/// A scored document, ordered by score, then by the smaller tie key (then address, should two
/// keys collide).
#[derive(PartialEq)]
struct Ranked(Score, Reverse<u64>, Reverse<DocAddress>);

impl Eq for Ranked {}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0
            .total_cmp(&other.0)
            .then_with(|| self.1.cmp(&other.1))
            .then_with(|| self.2.cmp(&other.2))
    }
}

/// The best `k` so far; its threshold is the score a document must reach to enter (equal
/// scores compete by tie key). tantivy's
/// `TopNComputer` raises its threshold only when its buffer of 2k fills up, which would leave
/// MaxScore pruning with a stale one.
struct TopK {
    k: usize,
    heap: BinaryHeap<Reverse<Ranked>>,
}

impl TopK {
    fn threshold(&self) -> Score {
        if self.heap.len() < self.k {
            Score::MIN
        } else {
            self.heap
                .peek()
                .map_or(Score::MIN, |Reverse(worst)| worst.0)
        }
    }

    fn push(&mut self, score: Score, key: u64, address: DocAddress) {
        if score < self.threshold() {
            return;
        }
        self.heap
            .push(Reverse(Ranked(score, Reverse(key), Reverse(address))));
        if self.heap.len() > self.k {
            self.heap.pop();
        }
    }
}

/// A clause in one segment, its postings read a block at a time.
struct Cursor {
    /// Opened on first use: the clauses with the smallest scores are often never read.
    postings: Option<Box<BlockSegmentPostings>>,
    info: TermInfo,
    index: Arc<InvertedIndexReader>,
    /// Index, in the loaded block, of the first document not yet passed.
    at: usize,
    weight: Bm25Weight,
    fieldnorms: FieldNormReader,
}

impl Cursor {
    /// Called for every posting looked up, so the check is inlined and the opening is not.
    #[inline]
    fn postings(&mut self) -> io::Result<&mut BlockSegmentPostings> {
        if self.postings.is_none() {
            self.open()?;
        }
        Ok(self.postings.as_mut().expect("opened above"))
    }

    #[cold]
    fn open(&mut self) -> io::Result<()> {
        let postings = self
            .index
            .read_block_postings_from_terminfo(&self.info, IndexRecordOption::WithFreqs)?;
        self.postings = Some(Box::new(postings));
        Ok(())
    }

    /// The current document, past the end of a block if need be.
    fn doc(&mut self) -> io::Result<DocId> {
        let mut at = self.at;
        let postings = self.postings()?;
        let doc = loop {
            match postings.docs() {
                [] => break TERMINATED,
                docs if at < docs.len() => break docs[at],
                _ => {
                    postings.advance();
                    at = 0;
                }
            }
        };
        self.at = at;
        Ok(doc)
    }

    /// Moves to the first document at or after `target`; never moves back.
    fn seek(&mut self, target: DocId) -> io::Result<DocId> {
        let doc = self.doc()?;
        if doc >= target {
            return Ok(doc);
        }
        let at = self.at;
        let postings = self.postings()?;
        let docs = postings.docs();
        self.at = if docs.last().is_some_and(|&last| last >= target) {
            at + docs[at..].partition_point(|&doc| doc < target)
        } else {
            postings.seek(target)
        };
        self.doc()
    }

    fn score(&mut self, doc: DocId) -> io::Result<Score> {
        let at = self.at;
        let freq = self.postings()?.freqs()[at];
        Ok(self.weight.score(self.fieldnorms.fieldnorm_id(doc), freq))
    }

    /// Adds the score of every document before `end` to `scores` (indexed from `start`) and
    /// marks it in `seen`, moving past them.
    fn accumulate(
        &mut self,
        start: DocId,
        end: DocId,
        scores: &mut [Score],
        seen: &mut WindowSet,
    ) -> io::Result<()> {
        self.walk(
            start,
            end,
            |_| true,
            |offset, score| {
                scores[offset as usize] += score;
                seen.insert(offset);
            },
        )
    }

    /// Reads the postings from `start` to before `end`, moving past them, and gives `found` the
    /// offset from `start` and the score of each document that `wanted` asks for.
    #[inline]
    fn walk(
        &mut self,
        start: DocId,
        end: DocId,
        wanted: impl Fn(u32) -> bool,
        mut found: impl FnMut(u32, Score),
    ) -> io::Result<()> {
        self.seek(start)?;
        let (weight, fieldnorms, mut at) = (&self.weight, &self.fieldnorms, self.at);
        let postings = self.postings.as_mut().expect("opened by seek");
        loop {
            let docs = postings.docs();
            if docs.is_empty() {
                break;
            }
            let freqs = postings.freqs();
            while let Some(&doc) = docs.get(at) {
                if doc >= end {
                    self.at = at;
                    return Ok(());
                }
                let offset = doc - start;
                if wanted(offset) {
                    found(
                        offset,
                        weight.score(fieldnorms.fieldnorm_id(doc), freqs[at]),
                    );
                }
                at += 1;
            }
            postings.advance();
            at = 0;
        }
        self.at = at;
        Ok(())
    }

    /// Adds the score of each document of `candidates` (offsets from `start`) that this clause
    /// holds. With few candidates it seeks each one; otherwise it reads every posting up to
    /// `end`, which costs less than a seek apiece.
    fn add_to(
        &mut self,
        start: DocId,
        end: DocId,
        max_doc: DocId,
        scores: &mut [Score],
        candidates: &WindowSet,
        count: u32,
    ) -> io::Result<()> {
        let expected = u64::from(self.info.doc_freq) * u64::from(end - start) / u64::from(max_doc);
        if u64::from(count) * SEEK_COST < expected {
            for offset in candidates.iter() {
                let doc = start + offset;
                if self.seek(doc)? == doc {
                    scores[offset as usize] += self.score(doc)?;
                }
            }
            return Ok(());
        }
        self.walk(
            start,
            end,
            |offset| candidates.contains(offset),
            |offset, score| scores[offset as usize] += score,
        )
    }
}

/// Documents of one window, by their offset from its start.
#[derive(Clone, Copy)]
struct WindowSet([u64; (WINDOW / 64) as usize]);

impl WindowSet {
    fn insert(&mut self, offset: u32) {
        self.0[(offset / 64) as usize] |= 1 << (offset % 64);
    }

    fn contains(&self, offset: u32) -> bool {
        self.0[(offset / 64) as usize] & (1 << (offset % 64)) != 0
    }

    fn len(&self) -> u32 {
        self.0.iter().map(|word| word.count_ones()).sum()
    }

    /// Members in increasing order.
    fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().enumerate().flat_map(|(bucket, &word)| {
            let mut word = word;
            std::iter::from_fn(move || {
                (word != 0).then(|| {
                    let bit = word.trailing_zeros();
                    word &= word - 1;
                    bucket as u32 * 64 + bit
                })
            })
        })
    }

    /// Keeps the members of `allowed` (a segment-wide set; `start` is a multiple of 64).
    fn retain_allowed(&mut self, allowed: &BitSet, start: DocId) {
        for (bucket, word) in self.0.iter_mut().enumerate() {
            let global = start / 64 + bucket as u32;
            if *word != 0 && global < allowed.max_value().div_ceil(64) {
                *word &= u64::from_le_bytes(allowed.tinyset(global).into_bytes());
            }
        }
    }

    /// Keeps the members whose score reaches `floor`. A word with many members is compared
    /// whole, in a loop the compiler vectorises; a sparse one member by member (after the first
    /// prunings most words hold a few candidates, and this runs several times per window).
    fn retain_reaching(&mut self, scores: &[Score], floor: Score) {
        for (word, scores) in self.0.iter_mut().zip(scores.chunks_exact(64)) {
            if word.count_ones() > SPARSE_WORD {
                let mut above = 0u64;
                for (bit, score) in scores.iter().enumerate() {
                    above |= u64::from(*score >= floor) << bit;
                }
                *word &= above;
            } else {
                let mut members = *word;
                while members != 0 {
                    let bit = members.trailing_zeros();
                    members &= members - 1;
                    if scores[bit as usize] < floor {
                        *word &= !(1 << bit);
                    }
                }
            }
        }
    }
}

/// The `k` best documents matching any clause, best first, among the documents `allowed[segment]`
/// holds (deleted documents must already be left out of it).
/// Equal scores are ordered by `tie_key(segment, document)`, smaller first.
pub fn top_k(
    searcher: &Searcher,
    lookup: &TermLookup,
    clauses: &[Clause],
    allowed: &[BitSet],
    k: usize,
    tie_key: &dyn Fn(u32, DocId) -> u64,
) -> tantivy::Result<Vec<(Score, DocAddress)>> {
    let mut best = TopK {
        k,
        heap: BinaryHeap::with_capacity(k + 1),
    };
    if k == 0 {
        return Ok(Vec::new());
    }
    let mut order: Vec<&Clause> = clauses.iter().collect();
    order.sort_by(|a, b| a.weight.max_score().total_cmp(&b.weight.max_score()));
    for (segment_ord, reader) in searcher.segment_readers().iter().enumerate() {
        let mut fieldnorms: Vec<(Field, FieldNormReader)> = Vec::new();
        let mut cursors = Vec::with_capacity(clauses.len());
        for clause in &order {
            let Some(info) = &lookup.infos[clause.term][segment_ord] else {
                continue;
            };
            let field = lookup.terms[clause.term].field();
            let norms = match fieldnorms.iter().find(|(f, _)| *f == field) {
                Some((_, norms)) => norms.clone(),
                None => {
                    let norms = reader.get_fieldnorms_reader(field)?;
                    fieldnorms.push((field, norms.clone()));
                    norms
                }
            };
            cursors.push(Cursor {
                postings: None,
                info: info.clone(),
                index: reader.inverted_index(field)?,
                at: 0,
                weight: clause.weight.clone(),
                fieldnorms: norms,
            });
        }
        let segment = segment_ord as u32;
        search_segment(
            segment,
            reader.max_doc(),
            &mut cursors,
            &allowed[segment_ord],
            &mut best,
            &|doc| tie_key(segment, doc),
        )?;
    }
    let mut ranked: Vec<Ranked> = best.heap.into_iter().map(|Reverse(r)| r).collect();
    ranked.sort_by(|a, b| b.cmp(a));
    Ok(ranked
        .into_iter()
        .map(|Ranked(score, _, Reverse(address))| (score, address))
        .collect())
}

/// The scores of the documents at `addresses` (in that order) under `clauses`, each clause's
/// BM25 added in clause order: for documents found by other means (the nearest articles by
/// vector), whatever their rank among all matches.
pub fn score_documents(
    searcher: &Searcher,
    lookup: &TermLookup,
    clauses: &[Clause],
    addresses: &[DocAddress],
) -> tantivy::Result<Vec<Score>> {
    let mut scores = vec![0.0; addresses.len()];
    // Documents of each segment in order, as postings only move forward.
    let mut order: Vec<usize> = (0..addresses.len()).collect();
    order.sort_by_key(|&i| addresses[i]);
    for clause in clauses {
        let field = lookup.terms[clause.term].field();
        let mut current: Option<(u32, Option<SegmentPostings>, FieldNormReader)> = None;
        for &i in &order {
            let address = addresses[i];
            if current
                .as_ref()
                .is_none_or(|(segment, _, _)| *segment != address.segment_ord)
            {
                let reader = searcher.segment_reader(address.segment_ord);
                let postings = lookup.postings(
                    address.segment_ord as usize,
                    reader,
                    clause.term,
                    IndexRecordOption::WithFreqs,
                )?;
                let norms = reader.get_fieldnorms_reader(field)?;
                current = Some((address.segment_ord, postings, norms));
            }
            let Some((_, Some(postings), norms)) = current.as_mut() else {
                continue;
            };
            let doc = if postings.doc() >= address.doc_id {
                postings.doc()
            } else {
                postings.seek(address.doc_id)
            };
            if doc == address.doc_id {
                scores[i] += clause
                    .weight
                    .score(norms.fieldnorm_id(doc), postings.term_freq());
            }
        }
    }
    Ok(scores)
}

/// MaxScore over one segment, a window of documents at a time; `cursors` are sorted by their
/// maximum, smallest first.
fn search_segment(
    segment_ord: u32,
    max_doc: DocId,
    cursors: &mut [Cursor],
    allowed: &BitSet,
    best: &mut TopK,
    tie_key: &dyn Fn(DocId) -> u64,
) -> io::Result<()> {
    // `bound[i]`: the most the cursors before `i` can add together.
    let mut bound = Vec::with_capacity(cursors.len() + 1);
    bound.push(0.0);
    for cursor in cursors.iter() {
        bound.push(bound.last().copied().unwrap_or(0.0) + cursor.weight.max_score());
    }
    let mut scores = vec![0.0 as Score; WINDOW as usize];
    let mut candidates = WindowSet([0; (WINDOW / 64) as usize]);
    let mut start = 0;
    while start < max_doc {
        let threshold = best.threshold();
        // Cursors before `essential` cannot lift a document into the top k on their own.
        let essential = bound.partition_point(|&b| b < threshold).saturating_sub(1);
        if essential == cursors.len() {
            return Ok(());
        }
        let end = start.saturating_add(WINDOW).min(max_doc);
        scores.fill(0.0);
        candidates.0.fill(0);
        for cursor in &mut cursors[essential..] {
            cursor.accumulate(start, end, &mut scores, &mut candidates)?;
        }
        candidates.retain_allowed(allowed, start);
        // Largest first: each non-essential cursor is read only for the documents that can
        // still beat the threshold with it and the smaller ones.
        // Candidates are pruned again only once the floor has risen by a step worth a pass over
        // the window's scores.
        let step = threshold.max(0.0) * PRUNE_STEP + Score::EPSILON;
        let mut pruned_at = Score::MIN;
        let mut count = candidates.len();
        for j in (1..=essential).rev() {
            let floor = threshold - bound[j];
            if floor >= pruned_at + step {
                candidates.retain_reaching(&scores, floor);
                count = candidates.len();
                pruned_at = floor;
            }
            if count == 0 {
                break;
            }
            cursors[j - 1].add_to(start, end, max_doc, &mut scores, &candidates, count)?;
        }
        candidates.retain_reaching(&scores, threshold);
        for offset in candidates.iter() {
            let doc = start + offset;
            best.push(
                scores[offset as usize],
                tie_key(doc),
                DocAddress::new(segment_ord, doc),
            );
        }
        start = end;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use tantivy::collector::TopDocs;
    use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
    use tantivy::schema::{STRING, Schema, TEXT};
    use tantivy::{DocSet, Index, IndexWriter, TantivyDocument};

    use super::*;

    /// Ties by document address, as tantivy breaks them, so results compare with its own.
    fn by_address(segment: u32, doc: DocId) -> u64 {
        (u64::from(segment) << 32) | u64::from(doc)
    }

    /// A few thousand documents of words drawn with a skewed frequency, in several segments,
    /// some deleted, some marked `hidden`.
    fn index(rng: &mut fastrand::Rng) -> (Index, Field, Field, Field) {
        let mut builder = Schema::builder();
        let body = builder.add_text_field("body", TEXT);
        let title = builder.add_text_field("title", TEXT);
        let kind = builder.add_text_field("kind", STRING);
        let index = Index::create_in_ram(builder.build());
        let mut writer: IndexWriter = index.writer_with_num_threads(1, 15_000_000).unwrap();
        // Word `i` is drawn about 1/(i+1) as often as word 0, as in prose.
        let word = |rng: &mut fastrand::Rng| {
            let rank = (300f64.powf(rng.f64()) - 1.0) as usize;
            format!("w{rank}")
        };
        for segment in 0..3 {
            for doc in 0..1500 {
                let length = rng.usize(5..400);
                let text: Vec<String> = (0..length).map(|_| word(rng)).collect();
                let heading: Vec<String> = (0..rng.usize(1..6)).map(|_| word(rng)).collect();
                let mut document = TantivyDocument::default();
                document.add_text(body, text.join(" "));
                document.add_text(title, heading.join(" "));
                document.add_text(kind, if doc % 7 == 0 { "hidden" } else { "shown" });
                document.add_text(kind, format!("s{segment}d{doc}"));
                writer.add_document(document).unwrap();
            }
            writer.commit().unwrap();
        }
        for doc in (0..1500).step_by(11) {
            writer.delete_term(Term::from_field_text(kind, &format!("s1d{doc}")));
        }
        writer.commit().unwrap();
        (index, body, title, kind)
    }

    #[test]
    fn finds_the_same_top_k_as_scoring_every_posting() {
        let mut rng = fastrand::Rng::with_seed(7);
        let (index, body, title, kind) = index(&mut rng);
        let searcher = index.reader().unwrap().searcher();
        assert!(searcher.segment_readers().len() > 1);
        let hidden = Term::from_field_text(kind, "hidden");
        let allowed: Vec<BitSet> = searcher
            .segment_readers()
            .iter()
            .map(|reader| {
                let mut set = BitSet::with_max_value(reader.max_doc());
                let mut hidden_docs = reader
                    .inverted_index(kind)
                    .unwrap()
                    .read_postings(&hidden, IndexRecordOption::Basic)
                    .unwrap()
                    .map(|postings| {
                        let mut docs = Vec::new();
                        let mut postings = postings;
                        while postings.doc() != tantivy::TERMINATED {
                            docs.push(postings.doc());
                            postings.advance();
                        }
                        docs
                    })
                    .unwrap_or_default();
                hidden_docs.sort();
                for doc in reader.doc_ids_alive() {
                    if hidden_docs.binary_search(&doc).is_err() {
                        set.insert(doc);
                    }
                }
                set
            })
            .collect();
        // The filter and the deletions both take documents out.
        for (set, reader) in allowed.iter().zip(searcher.segment_readers()) {
            assert!((set.len() as u32) < reader.num_docs());
        }
        assert!(
            searcher
                .segment_readers()
                .iter()
                .any(|r| r.num_deleted_docs() > 0)
        );
        let audience = AudienceStats::new(&searcher, Arc::new(allowed.clone()));
        let cache = TermInfoCache::new(NonZeroUsize::new(64).unwrap());
        for round in 0..40 {
            let words = rng.usize(1..120);
            let mut terms = Vec::new();
            let mut boosts = Vec::new();
            for _ in 0..words {
                let word = format!("w{}", rng.usize(0..320));
                let field = if rng.bool() { body } else { title };
                terms.push(Term::from_field_text(field, &word));
                boosts.push(0.2 + rng.f32() * 2.0);
            }
            let lookup = TermLookup::new(&audience, &cache, terms.clone()).unwrap();
            let (body_stats, title_stats) = (
                FieldStats::new(&audience, body).unwrap(),
                FieldStats::new(&audience, title).unwrap(),
            );
            let clauses: Vec<Clause> = (0..terms.len())
                .filter(|&i| lookup.doc_freq(i) > 0)
                .map(|i| {
                    let stats = if terms[i].field() == body {
                        &body_stats
                    } else {
                        &title_stats
                    };
                    Clause {
                        term: i,
                        weight: stats.weight(lookup.doc_freq(i), boosts[i]),
                    }
                })
                .collect();
            let k = [1, 5, 50, 200][round % 4];
            let found = top_k(&searcher, &lookup, &clauses, &allowed, k, &by_address).unwrap();
            // The same scores for the same documents when they are scored one by one.
            let addresses: Vec<DocAddress> = found.iter().map(|(_, a)| *a).collect();
            let one_by_one = score_documents(&searcher, &lookup, &clauses, &addresses).unwrap();
            for ((score, _), alone) in found.iter().zip(&one_by_one) {
                assert!(
                    (score - alone).abs() <= 1e-4 * score.abs().max(1.0),
                    "{score} {alone}"
                );
            }

            let text: Vec<(Occur, Box<dyn Query>)> = terms
                .iter()
                .zip(&boosts)
                .map(|(term, boost)| {
                    let query: Box<dyn Query> = Box::new(BoostQuery::new(
                        Box::new(TermQuery::new(term.clone(), IndexRecordOption::WithFreqs)),
                        *boost,
                    ));
                    (Occur::Should, query)
                })
                .collect();
            let query = BooleanQuery::new(vec![
                (
                    Occur::Must,
                    Box::new(BooleanQuery::new(text)) as Box<dyn Query>,
                ),
                (
                    Occur::MustNot,
                    Box::new(TermQuery::new(hidden.clone(), IndexRecordOption::Basic)),
                ),
            ]);
            let expected = searcher
                .search_with_statistics_provider(
                    &query,
                    &TopDocs::with_limit(k).order_by_score(),
                    &audience,
                )
                .unwrap();
            assert_eq!(found.len(), expected.len(), "round {round}");
            for ((score, address), (expected_score, expected_address)) in
                found.iter().zip(&expected)
            {
                assert!(
                    (score - expected_score).abs() <= 1e-4 * expected_score.abs().max(1.0),
                    "round {round}: {score} against {expected_score}"
                );
                // Documents may only differ where scores tie (summed in another order).
                if address != expected_address {
                    assert!((score - expected_score).abs() <= 1e-4, "round {round}");
                }
            }
        }
    }

    #[test]
    fn pruning_a_window_keeps_exactly_the_members_reaching_the_floor() {
        let mut rng = fastrand::Rng::with_seed(7);
        for density in [0.01, 0.1, 0.3, 0.9] {
            let scores: Vec<Score> = (0..WINDOW).map(|_| rng.f32()).collect();
            let mut set = WindowSet([0; (WINDOW / 64) as usize]);
            for offset in 0..WINDOW {
                if rng.f64() < density {
                    set.insert(offset);
                }
            }
            let before: Vec<u32> = set.iter().collect();
            set.retain_reaching(&scores, 0.5);
            let expected: Vec<u32> = before
                .into_iter()
                .filter(|&offset| scores[offset as usize] >= 0.5)
                .collect();
            assert_eq!(
                set.iter().collect::<Vec<_>>(),
                expected,
                "density {density}"
            );
        }
    }

    #[test]
    fn an_empty_query_or_k_finds_nothing() {
        let mut rng = fastrand::Rng::with_seed(3);
        let (index, _, _, _) = index(&mut rng);
        let searcher = index.reader().unwrap().searcher();
        let cache = TermInfoCache::new(NonZeroUsize::new(4).unwrap());
        let allowed: Vec<BitSet> = searcher
            .segment_readers()
            .iter()
            .map(|reader| BitSet::with_max_value_and_full(reader.max_doc()))
            .collect();
        let audience = AudienceStats::new(&searcher, Arc::new(allowed.clone()));
        let lookup = TermLookup::new(&audience, &cache, Vec::new()).unwrap();
        assert!(
            top_k(&searcher, &lookup, &[], &allowed, 10, &by_address)
                .unwrap()
                .is_empty()
        );
        assert!(
            top_k(&searcher, &lookup, &[], &allowed, 0, &by_address)
                .unwrap()
                .is_empty()
        );
    }
}
