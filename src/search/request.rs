//! The search request: what a customer asks for and what the caller may see, before any index
//! work. Parameters are validated where they are read (the HTTP layer, the CLI); the index
//! checks only what needs the catalog (versions).

use crate::content::article::{ArticleType, Visibility};

/// Most clauses read from one query; the rest is dropped with a notice.
pub const MAX_CLAUSES: usize = 64;

/// How results are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    #[default]
    Relevance,
    /// Most recently updated first.
    Updated,
}

/// What to search for and what the caller may see.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub query: String,
    pub types: Vec<ArticleType>,
    pub product: Option<String>,
    pub version: Option<String>,
    pub tags: Vec<String>,
    /// The most restricted visibility the caller may see (public < customer < internal).
    pub audience: Visibility,
    pub include_drafts: bool,
    pub limit: usize,
    pub offset: usize,
    pub sort: SortOrder,
    /// Build highlighted snippets; ranking-only callers (evaluation) skip them.
    pub snippets: bool,
    /// Count facets and look for a better spelling (the portal needs them, the CLI does not).
    pub facets: bool,
}

impl SearchRequest {
    pub fn new(query: impl Into<String>) -> Self {
        SearchRequest {
            query: query.into(),
            types: Vec::new(),
            product: None,
            version: None,
            tags: Vec::new(),
            audience: Visibility::Public,
            include_drafts: false,
            limit: 10,
            offset: 0,
            sort: SortOrder::Relevance,
            snippets: true,
            facets: false,
        }
    }
}
