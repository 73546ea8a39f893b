//! Library errors. Problems with individual articles are not errors (see `problem`); these are
//! the failures that stop an operation.

use std::path::PathBuf;

use thiserror::Error;

/// Why indexing or opening the index failed.
#[derive(Debug, Error)]
pub enum IndexError {
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("content folder {} does not exist or is not a folder", .0.display())]
    MissingContent(PathBuf),
    /// Another process holds the index folder's one-writer lock.
    #[error("another kbsearch{} is writing the index in {}; wait until it is done. A running `kbsearch serve` keeps the index current by itself: to compare the whole folder now, send `POST /api/reindex` with an agent key", holder.as_deref().map(|h| format!(" ({h})")).unwrap_or_default(), path.display())]
    Busy {
        path: PathBuf,
        /// The holder's command and pid, as its lock file records them.
        holder: Option<String>,
    },
    #[error("index {} cannot be used: {reason}; run `kbsearch index` to rebuild it", path.display())]
    Unusable { path: PathBuf, reason: String },
    #[error("{} is not an index generation folder", .0.display())]
    BadGeneration(PathBuf),
    #[error("tantivy: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
}

/// Why a search could not run.
#[derive(Debug, Error)]
pub enum SearchError {
    #[error("the query is empty: type a few words, an error code or a message")]
    EmptyQuery,
    #[error("unknown {parameter} `{value}`: expected one of {expected}")]
    BadFilter {
        parameter: &'static str,
        value: String,
        expected: String,
    },
    #[error("tantivy: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
}
