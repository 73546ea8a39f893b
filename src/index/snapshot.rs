//! One committed state of the index, with the product catalog and synonyms it was built with:
//! what ingest publishes after each commit and what search builds its searcher from. Ingest
//! knows nothing of searching and search nothing of indexing; both know this.

use tantivy::Searcher;

use crate::content::products::Catalog;
use crate::content::synonyms::Synonyms;

/// An index snapshot and the content-folder files that go with it.
#[derive(Clone)]
pub struct Snapshot {
    /// The reader's view right after the commit.
    pub searcher: Searcher,
    /// The catalog the documents were read against (versions are normalised with it).
    pub catalog: Catalog,
    /// The writers' synonym groups, applied at query time.
    pub synonyms: Synonyms,
}
