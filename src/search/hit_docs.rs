//! The stored fields of documents shown as hits, kept in memory for the life of a snapshot.
//!
//! Reading a hit from tantivy's document store decompresses a block of about 16 KB and copies
//! every stored field of the article, its whole source file included, for the few fields a
//! result shows: about a tenth of an uncached search's CPU on 10,000 articles. Searches with few
//! repeated queries still show the same articles again and again, so what a hit needs is parsed
//! once per document and kept here, up to [`HIT_DOCS_BYTES`]; the least recently shown go first.

use std::sync::{Arc, Mutex};

use lru::LruCache;
use tantivy::index::SegmentId;
use tantivy::{DocAddress, DocId, Searcher, TantivyDocument};

use crate::search::stored::DocFields;

/// Memory kept for hits per snapshot: the bodies of about 6,000 articles of the synthetic KB.
const HIT_DOCS_BYTES: usize = 32 * 1024 * 1024;

/// Recently shown documents by segment and document number (segments never change, so an
/// address names the same document in every snapshot that holds its segment).
pub struct HitDocs {
    cache: Mutex<Cache>,
}

struct Cache {
    docs: LruCache<(SegmentId, DocId), Arc<DocFields>, foldhash::fast::RandomState>,
    bytes: usize,
}

impl Default for HitDocs {
    fn default() -> Self {
        HitDocs {
            cache: Mutex::new(Cache {
                docs: LruCache::unbounded_with_hasher(Default::default()),
                bytes: 0,
            }),
        }
    }
}

impl HitDocs {
    /// The fields of the document at `address`, read from the store with `read` on first use.
    pub fn get(
        &self,
        searcher: &Searcher,
        address: DocAddress,
        read: impl FnOnce(&TantivyDocument) -> DocFields,
    ) -> tantivy::Result<Arc<DocFields>> {
        let segment = searcher.segment_reader(address.segment_ord).segment_id();
        let key = (segment, address.doc_id);
        if let Some(found) = self.cache.lock().expect("hit docs lock").docs.get(&key) {
            return Ok(found.clone());
        }
        let fields = Arc::new(read(&searcher.doc(address)?));
        let size = fields.size();
        let mut cache = self.cache.lock().expect("hit docs lock");
        if let Some(previous) = cache.docs.put(key, fields.clone()) {
            cache.bytes -= previous.size();
        }
        cache.bytes += size;
        while cache.bytes > HIT_DOCS_BYTES {
            let Some((_, evicted)) = cache.docs.pop_lru() else {
                break;
            };
            cache.bytes -= evicted.size();
        }
        Ok(fields)
    }
}
