//! Insights: what the support managers' dashboard makes of the recorded events. The event store
//! counts (`events::Insights`); this module turns the counts into what a page shows: the series
//! per day or week, the charts, the tables and their CSV, and the groups of unanswered texts.

pub mod charts;
pub mod dashboard;
pub mod tables;
pub mod topics;
