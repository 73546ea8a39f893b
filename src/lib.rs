//! kbsearch: search for a support knowledge base kept as a folder of markdown articles.
//!
//! Data flows one way through the modules; `ls src` reads as that flow:
//!
//! ```text
//! content ──▶ ingest ──▶ index ◀── search ◀── deflect
//! (articles,   (scan, watch,  (schema,   (queries, filters,  (draft cases)
//!  catalog,     indexer,       analysis,  facets, snippets,       │
//!  rendering)   lint, live)    snapshots) ranking)                ▼
//!                                    server (HTTP API, pages, preview) ──▶ events
//! ```
//!
//! - [`content`] reads what writers write: front matter, markdown, articles, the product catalog
//!   and synonyms, and renders article pages.
//! - [`ingest`] keeps the index in line with the content folder while writers edit it.
//! - [`index`] is the contract between writing and reading the index: analysis, schema and
//!   generations on disk.
//! - [`search`] ranks, filters and highlights; [`deflect`] suggests articles for draft cases.
//! - [`semantic`] is the optional sentence-embedding layer both of them fuse with lexical ranking
//!   when a model is configured: article vectors computed in the background and cached.
//! - [`events`] keeps deflection events, search analytics, votes and clicks durably; [`insights`]
//!   makes the support managers' dashboard of them (series, charts, groups of unanswered texts).
//! - [`server`] is the axum service over all of the above.
//! - [`quality`] checks content, says why an article ranks where it does, and measures ranking.
//! - [`config`] is the service configuration and [`error`] the library's error types.
//!
//! The `kbsearch` binary (`src/main.rs` and `src/cli/`, one module per command) is a thin layer over
//! the library: flags, context on errors (`anyhow`, only there) and printing.

pub mod config;
pub mod content;
pub mod deflect;
pub mod error;
pub mod events;
pub mod index;
pub mod ingest;
pub mod insights;
pub mod quality;
pub mod search;
pub mod semantic;
pub mod server;
