//! Ingest: keeping the index in line with the content folder.
//!
//! - [`scan`] lists the article files and reads them within limits.
//! - [`watcher`] reports which paths may have changed.
//! - [`indexer`] brings the index in line with the folder, file by file, and [`lint`] finds
//!   the problems that only show across articles.
//! - [`live`] is the thread that owns the indexer while the service runs and publishes each new
//!   index snapshot with what it read; [`progress`] reports long work to whoever listens.

pub mod indexer;
pub mod lint;
pub mod live;
pub mod progress;
pub mod scan;
pub mod watcher;
