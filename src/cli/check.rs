//! `kbsearch check`: lists every problem of the content folder without an index (and, with
//! `--queries`, where articles rank for their own queries); exits 1 when there are errors.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use kbsearch::config::DEFAULT_MAX_FILE_BYTES;
use kbsearch::quality::check;

use super::emit;

/// How the report is printed.
#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Args)]
pub struct CheckArgs {
    /// Content folder of markdown articles.
    #[arg(long, default_value = "kb", env = "KBSEARCH_KB")]
    kb: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Largest article file read, in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_FILE_BYTES, env = "KBSEARCH_MAX_FILE_BYTES")]
    max_file_bytes: u64,
    /// Also run each article's front matter `queries:` on a temporary index; a query that does
    /// not rank its article within the top N is an error.
    #[arg(long)]
    queries: bool,
    /// Judge symbolic links as `[watch] follow_symlinks = true` makes the service do: links
    /// that stay inside the folder are read, the others are warnings.
    #[arg(long, env = "KBSEARCH_FOLLOW_SYMLINKS")]
    follow_symlinks: bool,
    /// The rank N each article must reach for its queries.
    #[arg(long, default_value_t = check::DEFAULT_TOP, requires = "queries")]
    top: usize,
}

pub fn run(args: CheckArgs) -> Result<ExitCode> {
    anyhow::ensure!(
        args.kb.is_dir(),
        "content folder {} does not exist",
        args.kb.display()
    );
    anyhow::ensure!(args.top >= 1, "--top must be at least 1");
    let options = check::CheckOptions {
        follow_symlinks: args.follow_symlinks,
        ..check::CheckOptions::new(args.max_file_bytes)
    };
    let report = if args.queries {
        check::check_queries_with(&args.kb, options, args.top).context("ranking check")?
    } else {
        check::check_folder_with(&args.kb, options)
    };
    match args.format {
        Format::Json => emit(&format!("{}\n", serde_json::to_string_pretty(&report)?))?,
        Format::Text => emit(&format_check(&report))?,
    }
    Ok(if report.has_errors() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Problems one per line, then the most frequent kinds, then the counts (and queries answered).
fn format_check(report: &check::CheckReport) -> String {
    let mut out = String::new();
    for problem in &report.problems {
        let _ = writeln!(out, "{problem}");
    }
    let mut kinds: HashMap<(&str, bool), usize> = HashMap::new();
    for problem in &report.problems {
        *kinds
            .entry((problem.message.as_str(), problem.is_error()))
            .or_default() += 1;
    }
    let mut repeated: Vec<_> = kinds.into_iter().filter(|(_, n)| *n > 1).collect();
    repeated.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    if !repeated.is_empty() {
        let _ = writeln!(out, "\nmost frequent:");
        for ((message, is_error), count) in repeated.into_iter().take(10) {
            let severity = if is_error { "error" } else { "warning" };
            let _ = writeln!(out, "  {count:>5} × {severity}: {message}");
        }
    }
    let _ = writeln!(
        out,
        "{} files, {} articles indexable, {} errors, {} warnings",
        report.files, report.articles, report.errors, report.warnings
    );
    if let Some(queries) = &report.queries {
        let _ = writeln!(
            out,
            "{} of {} front matter queries rank their article in the top {}",
            queries.passed,
            queries.passed + queries.failed,
            queries.top
        );
    }
    out
}
