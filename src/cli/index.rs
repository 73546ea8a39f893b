//! `kbsearch index`: builds the index, or brings it in line with the content folder, and says
//! what changed.

use std::fmt::Write as _;
use std::process::ExitCode;

use crate::cli::progress::Bar;
use anyhow::{Context, Result};
use clap::Args;
use kbsearch::ingest::indexer::{IndexOptions, IndexReport, Indexer};

use super::{Paths, emit};

#[derive(Args)]
pub struct IndexArgs {
    #[command(flatten)]
    paths: Paths,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: IndexArgs) -> Result<ExitCode> {
    let options = args.paths.index_options()?;
    let report = Indexer::refresh(&options, &Bar::new())
        .with_context(|| format!("indexing {}", options.kb_root.display()))?;
    if args.json {
        emit(&format!("{}\n", serde_json::to_string_pretty(&report)?))?;
    } else {
        for problem in &report.problems {
            eprintln!("{problem}");
        }
        emit(&summary(&report, &options))?;
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
