//! kbsearch: search for a support knowledge base kept as a folder of markdown articles.
//!
//! Data flows one way through the modules:
//!
//! ```text
//! watcher ─▶ live ─┐ (one thread owns the indexer; publishes searchers)
//! scan ──▶ front_matter + markdown ──▶ article ──▶ schema ──▶ indexer ──▶ index_dir (generations)
//!                                                                            │
//!       query ──▶ search (analysis, synonyms, products, lexicon, facets, snippet) ◀─┘
//!                    │                                   render
//!                    ▼                                     │
//!                 server (HTTP API and pages) ◀────────────┘        config
//! ```
//!
//! - [`scan`] lists the article files of the content folder and reads them within limits.
//! - [`front_matter`] splits off and parses the YAML or TOML block; [`markdown`] extracts text,
//!   code, headings with anchors, and links; [`article`] turns both into an [`article::Article`],
//!   reporting [`problem::Problem`]s.
//! - [`products`] and [`synonyms`] load the catalog and synonym groups that sit beside the articles.
//! - [`analysis`] defines how text becomes terms; [`schema`] how an article becomes a document.
//! - [`indexer`] brings the index in line with the folder; [`index_dir`] keeps its generations.
//! - [`watcher`] reports which paths may have changed; [`live`] is the thread that owns the
//!   indexer while the service runs and publishes a fresh searcher after each commit.
//! - [`query`] reads what a customer types; [`search`] ranks, filters and highlights.
//! - [`lexicon`] completes, corrects and suggests words; [`facets`] counts filter values;
//!   [`snippet`] picks and marks the passage shown; [`render`] turns an article into safe HTML.
//! - [`config`] is the service configuration; [`server`] the axum service over all of the above.
//! - [`deflect`] suggests articles for a draft case with a calibrated confidence; [`draft_eval`]
//!   measures it on judged drafts.
//! - [`events`] keeps deflection events and search analytics durably in SQLite under `data/`.
//! - [`check`] reports every problem of a folder; [`eval`] measures ranking quality;
//!   [`progress`] is the progress bar of long work.
//! - [`lint`] finds problems across articles (broken links, missing images, duplicate titles).
//! - [`rank_check`] says where an article ranks for a query and why, for the preview and `check`.

pub mod analysis;
pub mod article;
pub mod check;
pub mod config;
pub mod deflect;
pub mod draft_eval;
pub mod error;
pub mod eval;
pub mod events;
pub mod facets;
pub mod front_matter;
pub mod index_dir;
pub mod indexer;
pub mod lexicon;
pub mod lint;
pub mod live;
pub mod markdown;
pub mod maxscore;
pub mod problem;
pub mod products;
pub mod progress;
pub mod query;
pub mod rank_check;
pub mod render;
pub mod scan;
pub mod schema;
pub mod search;
pub mod server;
pub mod snippet;
pub mod synonyms;
pub mod watcher;
