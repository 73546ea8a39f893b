//! Quality: checking content and measuring ranking.
//!
//! - [`check`] reports every problem of a content folder, and whether articles rank for the
//!   queries their writers listed.
//! - [`rank_check`] says where an article ranks for a query and why.
//! - [`split`] deals judged data into a fitting part and a test part, once, by a fixed seed.
//! - [`eval`] measures ranking with trec_eval's definitions; [`draft_eval`] measures deflection
//!   on judged draft cases; [`topics_eval`] measures how "what to write next" groups unanswered
//!   texts on a labelled set.

pub mod check;
pub mod draft_eval;
pub mod eval;
pub mod rank_check;
pub mod split;
pub mod topics_eval;
