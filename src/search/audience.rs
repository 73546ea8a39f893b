//! What one audience may see, and the statistics of only that.
//!
//! BM25 weighs a word by how many documents hold it and an article by how long it is against
//! the average. Computed over the whole index (tantivy's default), those numbers include
//! internal articles and drafts: a word that only hidden articles use changes a public search's
//! scores, its confidences and even which passage a snippet shows, and a typo correction can
//! name a word of an internal article. So every statistic a caller's results depend on is
//! computed here over the live documents that caller may see, and nothing else:
//!
//! - the number of documents, and each scored field's total length (the sum of the documents'
//!   field norms, as tantivy stores them), read once per snapshot and audience;
//! - each term's document frequency, counted from its postings against the visible set (by
//!   reading the postings when they are short, else by looking up the few documents the
//!   audience may not see), kept in a bounded cache per snapshot and audience.
//!
//! Deleted documents count nowhere either, so two indexes of the same visible content give the
//! same scores whatever their history (replicas agree).

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;
use tantivy::postings::TermInfo;
use tantivy::query::Bm25StatisticsProvider;
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{BitSet, DocId, DocSet, Searcher, SegmentReader, TERMINATED, Term};

/// Terms whose visible document frequency an audience view keeps: a few megabytes at most.
const DOC_FREQ_CACHE_ENTRIES: NonZeroUsize = NonZeroUsize::new(50_000).expect("not zero");
/// Reading a posting costs about this fraction of a seek: postings shorter than this many times
/// the documents an audience may not see are read through, longer ones are probed by seeks.
const SEEK_COST: usize = 8;

/// The documents one audience may see in one snapshot, and BM25 statistics over only those.
pub struct AudienceStats {
    searcher: Searcher,
    /// Per segment: live documents the audience may see.
    visible: Arc<Vec<BitSet>>,
    /// Per segment: every other document (hidden, draft, deleted), ascending.
    unseen: Vec<Vec<DocId>>,
    documents: u64,
    /// Total field length of the visible documents, per field, computed on first use.
    lengths: Mutex<Vec<(Field, u64)>>,
    doc_freqs: Mutex<LruCache<Term, u64, foldhash::fast::RandomState>>,
}

impl AudienceStats {
    /// Statistics over the documents of `visible` (one bit set per segment of `searcher`).
    pub fn new(searcher: &Searcher, visible: Arc<Vec<BitSet>>) -> AudienceStats {
        let mut documents = 0;
        let mut unseen = Vec::with_capacity(visible.len());
        for (reader, seen) in searcher.segment_readers().iter().zip(visible.iter()) {
            documents += seen.len() as u64;
            unseen.push(
                (0..reader.max_doc())
                    .filter(|doc| !seen.contains(*doc))
                    .collect(),
            );
        }
        AudienceStats {
            searcher: searcher.clone(),
            visible,
            unseen,
            documents,
            lengths: Mutex::default(),
            doc_freqs: Mutex::new(LruCache::with_hasher(
                DOC_FREQ_CACHE_ENTRIES,
                Default::default(),
            )),
        }
    }

    /// The snapshot these statistics are of.
    pub fn searcher(&self) -> &Searcher {
        &self.searcher
    }

    /// Per segment, the live documents this audience may see.
    pub fn visible(&self) -> &Arc<Vec<BitSet>> {
        &self.visible
    }

    /// Whether the audience may see document `doc` of segment `segment_ord`.
    pub fn sees(&self, segment_ord: usize, doc: DocId) -> bool {
        self.visible[segment_ord].contains(doc)
    }

    /// Number of documents the audience may see.
    pub fn documents(&self) -> u64 {
        self.documents
    }

    /// How many visible documents of one segment hold the term whose dictionary entry is `info`.
    pub fn segment_doc_freq(
        &self,
        segment_ord: usize,
        reader: &SegmentReader,
        field: Field,
        info: &TermInfo,
    ) -> tantivy::Result<u64> {
        let unseen = &self.unseen[segment_ord];
        if unseen.is_empty() {
            return Ok(u64::from(info.doc_freq));
        }
        let seen = &self.visible[segment_ord];
        let mut postings = reader
            .inverted_index(field)?
            .read_postings_from_terminfo(info, IndexRecordOption::Basic)?;
        if (info.doc_freq as usize) <= unseen.len().saturating_mul(SEEK_COST) {
            let mut count = 0;
            let mut doc = postings.doc();
            while doc != TERMINATED {
                if seen.contains(doc) {
                    count += 1;
                }
                doc = postings.advance();
            }
            return Ok(count);
        }
        let mut hidden = 0;
        for &doc in unseen {
            if postings.doc() > doc {
                continue;
            }
            if postings.seek(doc) == doc {
                hidden += 1;
            }
            if postings.doc() == TERMINATED {
                break;
            }
        }
        Ok(u64::from(info.doc_freq) - hidden)
    }

    /// Whether any visible document holds `term`: the test for words offered to people
    /// (corrections, completions), cheaper than counting.
    pub fn holds(&self, term: &Term) -> tantivy::Result<bool> {
        for (segment_ord, reader) in self.searcher.segment_readers().iter().enumerate() {
            let index = reader.inverted_index(term.field())?;
            let Some(info) = index.get_term_info(term)? else {
                continue;
            };
            let seen = &self.visible[segment_ord];
            let mut postings =
                index.read_postings_from_terminfo(&info, IndexRecordOption::Basic)?;
            let mut doc = postings.doc();
            while doc != TERMINATED {
                if seen.contains(doc) {
                    return Ok(true);
                }
                doc = postings.advance();
            }
        }
        Ok(false)
    }

    /// Total length of `field` over the visible documents.
    fn field_length(&self, field: Field) -> tantivy::Result<u64> {
        if let Some((_, total)) = self
            .lengths
            .lock()
            .expect("lengths lock")
            .iter()
            .find(|(f, _)| *f == field)
        {
            return Ok(*total);
        }
        let mut total = 0u64;
        for (reader, seen) in self
            .searcher
            .segment_readers()
            .iter()
            .zip(self.visible.iter())
        {
            let norms = reader.get_fieldnorms_reader(field)?;
            for doc in 0..reader.max_doc() {
                if seen.contains(doc) {
                    total += u64::from(norms.fieldnorm(doc));
                }
            }
        }
        self.lengths
            .lock()
            .expect("lengths lock")
            .push((field, total));
        Ok(total)
    }
}

impl Bm25StatisticsProvider for AudienceStats {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        self.field_length(field)
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        Ok(self.documents)
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        if let Some(found) = self.doc_freqs.lock().expect("doc freq lock").get(term) {
            return Ok(*found);
        }
        let mut total = 0;
        for (segment_ord, reader) in self.searcher.segment_readers().iter().enumerate() {
            let index = reader.inverted_index(term.field())?;
            if let Some(info) = index.get_term_info(term)? {
                total += self.segment_doc_freq(segment_ord, reader, term.field(), &info)?;
            }
        }
        self.doc_freqs
            .lock()
            .expect("doc freq lock")
            .put(term.clone(), total);
        Ok(total)
    }
}
