//! A query that matches a set of documents found beforehand, one bit set per segment.
//!
//! Exclusions (`-word`, `-"a phrase"`) are matched this way: their documents are collected
//! first, then left out as one set. As a `MustNot` clause, tantivy 0.27 seeks a phrase scorer
//! in a way its own debug assertion refuses (`PhraseScorer::seek_danger`), which turned some
//! `-"phrase"` searches into errors depending on how documents fell into segments.

use std::collections::HashMap;
use std::sync::Arc;

use tantivy::index::SegmentId;
use tantivy::query::{
    BitSetDocSet, ConstScorer, EmptyScorer, EnableScoring, Explanation, Query, Scorer, Weight,
};
use tantivy::{BitSet, DocId, Score, Searcher, SegmentReader, TantivyError};

/// The documents of each segment, by segment id.
#[derive(Clone, Debug)]
pub struct DocsQuery {
    docs: Arc<HashMap<SegmentId, BitSet>>,
}

impl DocsQuery {
    /// The documents of `searcher`'s snapshot that match `query` (scores ignored).
    pub fn matching(searcher: &Searcher, query: &dyn Query) -> tantivy::Result<DocsQuery> {
        let weight = query.weight(EnableScoring::disabled_from_searcher(searcher))?;
        let mut docs = HashMap::new();
        for reader in searcher.segment_readers() {
            let mut set = BitSet::with_max_value(reader.max_doc());
            weight.for_each_no_score(reader, &mut |found| {
                for &doc in found {
                    set.insert(doc);
                }
            })?;
            docs.insert(reader.segment_id(), set);
        }
        Ok(DocsQuery {
            docs: Arc::new(docs),
        })
    }
}

impl Query for DocsQuery {
    fn weight(&self, _scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(DocsWeight {
            docs: self.docs.clone(),
        }))
    }
}

struct DocsWeight {
    docs: Arc<HashMap<SegmentId, BitSet>>,
}

impl Weight for DocsWeight {
    fn scorer(&self, reader: &SegmentReader, _boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        match self.docs.get(&reader.segment_id()) {
            Some(set) if set.len() > 0 => Ok(Box::new(ConstScorer::new(
                BitSetDocSet::from(set.clone()),
                0.0,
            ))),
            _ => Ok(Box::new(EmptyScorer)),
        }
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let found = self
            .docs
            .get(&reader.segment_id())
            .is_some_and(|set| set.contains(doc));
        if found {
            Ok(Explanation::new(
                "one of the documents found beforehand",
                0.0,
            ))
        } else {
            Err(TantivyError::InvalidArgument(format!(
                "document {doc} is not in the set"
            )))
        }
    }
}
