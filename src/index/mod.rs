//! The index: the contract between the side that writes it ([`crate::ingest`]) and the side that
//! reads it ([`crate::search`]). Neither of those imports the other; both import this.
//!
//! - [`analysis`] defines how text becomes terms, the same for articles and queries;
//!   [`stem_cache`] makes its stemming cheaper for indexing.
//! - [`schema`] lists the fields and turns an article into a document.
//! - [`generations`] keeps generations of the index on disk and which one is current.
//! - [`lock`] is the one-writer lock every writer takes before it changes the index folder.
//! - [`snapshot`] is one committed state with the catalog and synonyms it goes with: what ingest
//!   publishes and search reads.

pub mod analysis;
pub mod generations;
pub mod lock;
pub mod schema;
pub mod snapshot;
pub mod stem_cache;
