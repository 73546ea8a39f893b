//! Result order that depends on the visible content alone: score (or date), then the article
//! id's key ([`crate::index::schema::id_key`]). tantivy breaks ties by document address, which
//! depends on what else the index holds and on its segments: with it, a hidden article could
//! move a public one on a results page, and two replicas of the same content could page
//! differently, showing a customer one hit twice and missing another.
//!
//! Searches here never use tantivy's block-max pruning (their filters are required clauses, so
//! every match is scored anyway); the collector below keeps the top k by score and key in one
//! pass and reads a key only for documents that reach the current k-th score.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use tantivy::collector::sort_key::SortByStaticFastValue;
use tantivy::collector::{Collector, SegmentCollector, TopDocs};
use tantivy::columnar::ColumnValues;
use tantivy::query::Query;
use tantivy::{DocAddress, DocId, Order, Score, Searcher, SegmentReader};

use crate::index::schema::ID_KEY_FIELD;
use crate::search::audience::AudienceStats;

/// A score with its last 8 bits of mantissa dropped: relative differences under 1.5e-5 are
/// ties. tantivy adds a document's clause scores in an order that depends on how documents fall
/// into segments, so the same document can score a bit differently on two indexes of the same
/// content; ranked and shown at this precision, it does not.
pub fn quantize(score: Score) -> Score {
    Score::from_bits(score.to_bits() & !0xFF)
}

/// The `k` best matches of `query` by (quantized) score under `stats`, equal scores by id key.
pub fn top_by_score(
    searcher: &Searcher,
    query: &dyn Query,
    stats: &AudienceStats,
    k: usize,
) -> tantivy::Result<Vec<(Score, DocAddress)>> {
    if k == 0 {
        return Ok(Vec::new());
    }
    searcher.search_with_statistics_provider(query, &TopByScoreThenKey { k }, stats)
}

/// The top `k` by score, then smaller id key, then address (should two keys collide). The key
/// is read only for documents that reach the current k-th score. Run it with the audience's
/// statistics ([`Searcher::search_with_statistics_provider`]), as [`top_by_score`] does; on its
/// own or beside another collector in the same pass.
pub struct TopByScoreThenKey {
    k: usize,
}

impl TopByScoreThenKey {
    pub fn new(k: usize) -> Self {
        TopByScoreThenKey { k }
    }
}

/// A candidate: ordered by score, then smaller key first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ranked {
    score: Score,
    key: u64,
    address: DocAddress,
}

impl Eq for Ranked {}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.key.cmp(&self.key))
            .then_with(|| other.address.cmp(&self.address))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

pub struct SegmentTop {
    k: usize,
    segment_ord: u32,
    keys: Arc<dyn ColumnValues<u64>>,
    /// The best so far, worst on top.
    heap: BinaryHeap<Reverse<Ranked>>,
}

impl Collector for TopByScoreThenKey {
    type Fruit = Vec<(Score, DocAddress)>;
    type Child = SegmentTop;

    fn for_segment(
        &self,
        segment_ord: u32,
        segment: &SegmentReader,
    ) -> tantivy::Result<SegmentTop> {
        Ok(SegmentTop {
            k: self.k,
            segment_ord,
            keys: id_keys(segment)?,
            heap: BinaryHeap::with_capacity(self.k + 1),
        })
    }

    fn requires_scoring(&self) -> bool {
        true
    }

    fn merge_fruits(&self, segments: Vec<Vec<Ranked>>) -> tantivy::Result<Self::Fruit> {
        let mut all: Vec<Ranked> = segments.into_iter().flatten().collect();
        all.sort_by(|a, b| b.cmp(a));
        Ok(all
            .into_iter()
            .take(self.k)
            .map(|ranked| (ranked.score, ranked.address))
            .collect())
    }
}

impl SegmentCollector for SegmentTop {
    type Fruit = Vec<Ranked>;

    fn collect(&mut self, doc: DocId, score: Score) {
        let score = quantize(score);
        if self.heap.len() == self.k
            && self
                .heap
                .peek()
                .is_some_and(|Reverse(worst)| score < worst.score)
        {
            return;
        }
        self.heap.push(Reverse(Ranked {
            score,
            key: self.keys.get_val(doc),
            address: DocAddress::new(self.segment_ord, doc),
        }));
        if self.heap.len() > self.k {
            self.heap.pop();
        }
    }

    fn harvest(self) -> Vec<Ranked> {
        self.heap
            .into_iter()
            .map(|Reverse(ranked)| ranked)
            .collect()
    }
}

/// The `k` most recently updated matches of `query`, equal dates by id key.
pub fn top_by_date(
    searcher: &Searcher,
    query: &dyn Query,
    k: usize,
) -> tantivy::Result<Vec<DocAddress>> {
    if k == 0 {
        return Ok(Vec::new());
    }
    let by_date_then_id = TopDocs::with_limit(k).order_by((
        (
            SortByStaticFastValue::<tantivy::DateTime>::for_field("updated"),
            Order::Desc,
        ),
        (
            SortByStaticFastValue::<u64>::for_field(ID_KEY_FIELD),
            Order::Asc,
        ),
    ));
    Ok(searcher
        .search(query, &by_date_then_id)?
        .into_iter()
        .map(|(_, address)| address)
        .collect())
}

/// The id keys of one segment's documents.
pub fn id_keys(segment: &SegmentReader) -> tantivy::Result<Arc<dyn ColumnValues<u64>>> {
    Ok(segment
        .fast_fields()
        .u64(ID_KEY_FIELD)?
        .first_or_default_col(0))
}
