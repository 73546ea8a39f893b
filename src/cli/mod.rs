//! The commands of the `kbsearch` binary, one module each: its flags (clap), the library calls it
//! makes and what it prints. What several commands share is here: the [`Paths`] flags (which
//! override `KBSEARCH_*` variables, which override the configuration file), the search [`Role`],
//! opening a searcher, running the service, writing to stdout. This layer is the only user of
//! `anyhow`: library errors get their context here, and `main` prints them once.

pub mod check;
pub mod deflect;
pub mod eval;
pub mod index;
pub mod preview;
pub mod progress;
pub mod search;
pub mod serve;

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use crate::cli::progress::Bar;
use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use kbsearch::config::{Config, Overrides};
use kbsearch::content::article::Visibility;
use kbsearch::index::generations::IndexDir;
use kbsearch::ingest::indexer::{IndexOptions, Indexer};
use kbsearch::search::KbSearcher;
use kbsearch::semantic::{CatchUp, Semantic};
use kbsearch::server::{Mode, Service};

#[derive(Parser)]
#[command(
    name = "kbsearch",
    version,
    about = "Search for a support knowledge base kept as markdown"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve search, article pages and the API over HTTP (default: the sample kb/ on 127.0.0.1:8080).
    Serve(serve::ServeArgs),
    /// Preview the content folder as you write: drafts and internal articles, live reload,
    /// problems and ranking checks, on 127.0.0.1 with a temporary index.
    Preview(preview::PreviewArgs),
    /// Build the index, or bring it in line with the content folder.
    Index(index::IndexArgs),
    /// Search the index and print ranked, highlighted hits.
    Search(search::SearchArgs),
    /// List every problem of the content folder; exits 1 when there are errors.
    Check(check::CheckArgs),
    /// Suggest the articles that may answer a support case before it is filed.
    Deflect(deflect::DeflectArgs),
    /// Measure ranking quality on judged queries or judged draft cases.
    Eval(eval::EvalArgs),
}

/// Where things are: flags override `KBSEARCH_*` variables, which override the config file.
#[derive(Args, Clone)]
pub struct Paths {
    /// Content folder of markdown articles [default: kb].
    #[arg(long)]
    kb: Option<PathBuf>,
    /// Index folder, derived and safe to delete [default: index].
    #[arg(long)]
    index: Option<PathBuf>,
    /// Largest article file read, in bytes [default: 1048576].
    #[arg(long)]
    max_file_bytes: Option<u64>,
    /// Configuration file [default: kbsearch.toml when present].
    #[arg(long)]
    config: Option<PathBuf>,
}

impl Paths {
    /// The configuration with these flags over `extra` (the command's own flags), loaded and
    /// validated.
    pub fn config(&self, extra: Overrides) -> Result<Config> {
        let overrides = Overrides {
            kb: self.kb.clone(),
            index: self.index.clone(),
            max_file_bytes: self.max_file_bytes,
            ..extra
        };
        Ok(Config::load(self.config.as_deref(), &overrides)?)
    }
}

/// The configured folders, file size limit and link rule, as the indexer takes them (the same
/// as `serve`'s, so `kbsearch index` never publishes what the service would not).
fn index_options(config: &Config) -> IndexOptions {
    IndexOptions {
        max_file_bytes: config.max_file_bytes,
        follow_symlinks: config.watch.follow_symlinks,
        ..IndexOptions::new(&config.kb, &config.index)
    }
}

/// The optional sentence-embedding model: the flag overrides `KBSEARCH_SEMANTIC_MODEL`, which
/// overrides `[semantic] model` in the configuration file.
#[derive(Args, Clone, Default)]
pub struct ModelArg {
    /// A sentence-transformers model folder (e.g. all-MiniLM-L6-v2): ranks with its vectors
    /// besides the words [default: none, lexical only].
    #[arg(long, value_name = "DIR")]
    pub semantic_model: Option<PathBuf>,
}

impl ModelArg {
    /// `extra` with this flag.
    pub fn over(&self, extra: Overrides) -> Overrides {
        Overrides {
            semantic_model: self.semantic_model.clone().or(extra.semantic_model),
            ..extra
        }
    }
}

/// The configured model with its vector cache under the index folder, every article of
/// `searcher` embedded (with a progress bar); `None` without a model.
pub fn open_semantic(
    config: &Config,
    searcher: &tantivy::Searcher,
    compact: bool,
) -> Result<Option<(Arc<Semantic>, CatchUp)>> {
    let Some(model) = &config.semantic.model else {
        return Ok(None);
    };
    let semantic = Arc::new(Semantic::open(
        model,
        Some(&config.index.join(kbsearch::semantic::VECTORS_DIR)),
    )?);
    let caught_up = kbsearch::semantic::catch_up(&semantic, searcher, &Bar::new(), compact)
        .context("embedding the articles")?;
    Ok(Some((semantic, caught_up)))
}

/// Who the search is for: decides which visibility levels are shown.
#[derive(Clone, Copy, ValueEnum)]
pub enum Role {
    Anonymous,
    Customer,
    Agent,
}

impl Role {
    /// The most restricted visibility this role may see.
    pub fn audience(self) -> Visibility {
        match self {
            Role::Anonymous => Visibility::Public,
            Role::Customer => Visibility::Customer,
            Role::Agent => Visibility::Internal,
        }
    }
}

/// A searcher over the configured index, built from the content folder first if there is none;
/// with a model configured, every article embedded first.
pub fn open_searcher(config: &Config) -> Result<KbSearcher> {
    if IndexDir::new(&config.index).open_current().is_err() {
        Indexer::refresh(&index_options(config), &Bar::new())
            .with_context(|| format!("building the index from {}", config.kb.display()))?;
    }
    let searcher = KbSearcher::open(&config.index, &config.kb)?;
    let semantic = open_semantic(config, searcher.searcher(), false)?;
    Ok(searcher.with_semantic(semantic.map(|(semantic, _)| semantic)))
}

/// Runs the service until Ctrl-C or SIGTERM; `open` opens it in the default browser first.
pub fn run_service(config: Config, mode: Mode, open: bool) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let service = Service::start(config, mode, Box::new(Bar::new())).await?;
        let url = service.url();
        if open && let Err(err) = open::that(&url) {
            tracing::warn!("cannot open a browser: {err}; open {url} yourself");
        }
        Ok(service.run().await?)
    })
}

/// Writes command output to stdout; a closed pipe (`kbsearch check | head`) ends output quietly.
pub fn emit(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
