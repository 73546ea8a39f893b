//! Content: what a writer puts in the content folder, read into typed values. Nothing here knows
//! of tantivy or HTTP.
//!
//! - [`front_matter`] splits off and parses the YAML or TOML block; [`markdown`] extracts text,
//!   code, headings with anchors, and links; [`article`] turns both into an [`article::Article`],
//!   reporting [`problem::Problem`]s.
//! - [`products`] and [`synonyms`] load the catalog and synonym groups that sit beside the articles.
//! - [`render`] turns an article's markdown into safe HTML for its page.

pub mod article;
pub mod front_matter;
pub mod markdown;
pub mod problem;
pub mod products;
pub mod render;
pub mod synonyms;
