//! `kbsearch search`: runs a query on the index (building it first if there is none) and prints
//! ranked, highlighted hits.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use kbsearch::config::Overrides;
use kbsearch::content::article::ArticleType;
use kbsearch::search::{SearchRequest, SearchResults};

use super::{ModelArg, Paths, Role, emit, open_searcher};

#[derive(Args)]
pub struct SearchArgs {
    /// What to search for: words, "a phrase", -excluded.
    query: String,
    #[command(flatten)]
    paths: Paths,
    #[command(flatten)]
    model: ModelArg,
    /// Only this type (kb, help, release-note); repeat for several.
    #[arg(long = "type", value_name = "TYPE")]
    types: Vec<String>,
    #[arg(long)]
    product: Option<String>,
    /// Only articles for this version (or for all versions).
    #[arg(long)]
    version: Option<String>,
    /// Only articles with this tag; repeat for several (any of them).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    #[arg(long, default_value_t = 10)]
    limit: usize,
    /// Page of results, from 1.
    #[arg(long, default_value_t = 1)]
    page: usize,
    /// Whose view to search with: the CLI defaults to support staff, who see everything.
    #[arg(long, value_enum, default_value_t = Role::Agent)]
    role: Role,
    /// Include drafts.
    #[arg(long)]
    drafts: bool,
    /// Print results as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: SearchArgs) -> Result<ExitCode> {
    let config = args.paths.config(args.model.over(Overrides::default()))?;
    let searcher = open_searcher(&config)?;
    let types = args
        .types
        .iter()
        .map(|t| t.parse::<ArticleType>().map_err(anyhow::Error::msg))
        .collect::<Result<Vec<_>>>()
        .context("--type")?;
    let request = SearchRequest {
        types,
        product: args.product.clone(),
        version: args.version.clone(),
        tags: args.tags.clone(),
        audience: args.role.audience(),
        include_drafts: args.drafts,
        limit: args.limit,
        offset: args.limit * args.page.saturating_sub(1),
        ..SearchRequest::new(args.query.clone())
    };
    let results = searcher.search(&request)?;
    if args.json {
        emit(&format!("{}\n", serde_json::to_string_pretty(&results)?))?;
    } else {
        for notice in &results.notices {
            eprintln!("note: {notice}");
        }
        emit(&format_results(&results, &request))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Hits with their rank, flags, id, versions and snippet (bold or `**`-marked matches).
fn format_results(results: &SearchResults, request: &SearchRequest) -> String {
    let mut out = String::new();
    if results.hits.is_empty() {
        let _ = writeln!(out, "no articles match `{}`", request.query);
        return out;
    }
    let terminal = std::io::stdout().is_terminal();
    for (rank, hit) in results.hits.iter().enumerate() {
        let section = hit
            .section
            .as_ref()
            .map(|s| format!(" · #{} ({})", s.anchor, s.heading))
            .unwrap_or_default();
        let flags = match (hit.info.visibility.as_str(), hit.info.status.as_str()) {
            ("public", "published") => String::new(),
            (visibility, "published") => format!(" [{visibility}]"),
            (visibility, status) => format!(" [{visibility}, {status}]"),
        };
        let _ = writeln!(
            out,
            "{:>2}. {}{flags}",
            request.offset + rank + 1,
            hit.info.title
        );
        let _ = writeln!(
            out,
            "    {} · {} · versions {} · score {:.2}{section}",
            hit.info.id,
            hit.info.kind,
            hit.info.versions.join(", "),
            hit.score
        );
        let snippet = if terminal {
            hit.snippet.to_ansi()
        } else {
            hit.snippet.render_marked("**", "**")
        };
        let snippet = snippet.split_whitespace().collect::<Vec<_>>().join(" ");
        let _ = writeln!(out, "    {snippet}\n");
    }
    let shown_to = request.offset + results.hits.len();
    let _ = writeln!(
        out,
        "{}-{} of {} articles",
        request.offset + 1,
        shown_to,
        results.total
    );
    out
}
