//! `kbsearch index`: builds the index, or brings it in line with the content folder, and says
//! what changed.

use std::fmt::Write as _;
use std::process::ExitCode;

use crate::cli::progress::Bar;
use anyhow::{Context, Result};
use clap::Args;
use kbsearch::config::Overrides;
use kbsearch::ingest::indexer::{IndexOptions, IndexReport, Indexer};
use kbsearch::search::KbSearcher;

use super::{ModelArg, Paths, emit, open_semantic};

#[derive(Args)]
pub struct IndexArgs {
    #[command(flatten)]
    paths: Paths,
    #[command(flatten)]
    model: ModelArg,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: IndexArgs) -> Result<ExitCode> {
    let config = args.paths.config(args.model.over(Overrides::default()))?;
    let options = super::index_options(&config);
    let report = Indexer::refresh(&options, &Bar::new())
        .with_context(|| format!("indexing {}", options.kb_root.display()))?;
    // With a model, every article's vector too (cached: only new and changed articles cost).
    let embedded = if config.semantic.model.is_some() {
        let searcher = KbSearcher::open(&config.index, &config.kb)?;
        open_semantic(&config, searcher.searcher(), true)?.map(|(_, caught_up)| caught_up)
    } else {
        None
    };
    if args.json {
        let mut json = serde_json::to_value(&report)?;
        json["embedding"] = serde_json::to_value(embedded)?;
        emit(&format!("{}\n", serde_json::to_string_pretty(&json)?))?;
    } else {
        for problem in &report.problems {
            eprintln!("{problem}");
        }
        let mut out = summary(&report, &options);
        if let Some(done) = embedded {
            let rate = if done.seconds > 0.0 {
                done.embedded as f64 / done.seconds
            } else {
                0.0
            };
            let _ = writeln!(
                out,
                "vectors: {} articles embedded in {:.1}s ({rate:.1}/s), {} reused from the cache",
                done.embedded, done.seconds, done.reused
            );
        }
        emit(&out)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// What changed, how many articles are searchable, and how many problems were found.
fn summary(report: &IndexReport, options: &IndexOptions) -> String {
    let mut out = String::new();
    let action = if report.rebuilt { "built" } else { "refreshed" };
    let restricted = match report.changes.restricted {
        0 => String::new(),
        n => format!(", {n} of them restricted"),
    };
    let _ = writeln!(
        out,
        "index {action} in {:.2}s: {} articles searchable ({} added, {} updated, {} deleted, {} unchanged, {} skipped{}) from {} files in {}",
        report.elapsed.as_secs_f64(),
        report.documents,
        report.changes.added,
        report.changes.updated,
        report.changes.deleted,
        report.changes.unchanged,
        report.changes.skipped,
        restricted,
        report.files_seen,
        options.kb_root.display(),
    );
    let errors = report.problems.iter().filter(|p| p.is_error()).count();
    if !report.problems.is_empty() {
        let _ = writeln!(
            out,
            "{errors} errors, {} warnings (listed above; `kbsearch check` lists all)",
            report.problems.len() - errors
        );
    }
    out
}
