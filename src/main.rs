//! The `kbsearch` command: a thin layer that reads flags, calls the library and prints.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use tracing_subscriber::EnvFilter;

/// mimalloc instead of the system allocator: under load the service's requests allocate and free
/// from several threads at once, and glibc's malloc took a tenth of the service's CPU
/// (`/api/deflect` at 64 connections, measured with perf).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use kbsearch::config::{
    Config, DEFAULT_MAX_FILE_BYTES, DEFAULT_MIN_CONFIDENCE, Overrides, WatchMode,
};
use kbsearch::content::article::{ArticleType, Visibility};
use kbsearch::index::generations::IndexDir;
use kbsearch::ingest::indexer::{self, IndexOptions, IndexReport};
use kbsearch::ingest::progress;
use kbsearch::quality::check;
use kbsearch::quality::draft_eval;
use kbsearch::quality::eval::{self, EvalReport};
use kbsearch::search::deflect::{self, CaseType, DraftCase, Severity};
use kbsearch::search::{KbSearcher, SearchRequest, SearchResults};
use kbsearch::server::{Mode, Service};

#[derive(Parser)]
#[command(
    name = "kbsearch",
    version,
    about = "Search for a support knowledge base kept as markdown"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve search, article pages and the API over HTTP (default: the sample kb/ on 127.0.0.1:8080).
    Serve(ServeArgs),
    /// Preview the content folder as you write: drafts and internal articles, live reload,
    /// problems and ranking checks, on 127.0.0.1 with a temporary index.
    Preview(PreviewArgs),
    /// Build the index, or bring it in line with the content folder.
    Index(IndexArgs),
    /// Search the index and print ranked, highlighted hits.
    Search(SearchArgs),
    /// List every problem of the content folder; exits 1 when there are errors.
    Check(CheckArgs),
    /// Suggest the articles that may answer a support case before it is filed.
    Deflect(DeflectArgs),
    /// Measure ranking quality on judged queries or judged draft cases.
    Eval(EvalArgs),
}

/// Where things are: flags override `KBSEARCH_*` variables, which override the config file.
#[derive(Args, Clone)]
struct Paths {
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
    fn config(&self, extra: Overrides) -> Result<Config> {
        let overrides = Overrides {
            kb: self.kb.clone(),
            index: self.index.clone(),
            max_file_bytes: self.max_file_bytes,
            ..extra
        };
        Ok(Config::load(self.config.as_deref(), &overrides)?)
    }

    fn index_options(&self) -> Result<IndexOptions> {
        let config = self.config(Overrides::default())?;
        Ok(index_options(&config))
    }
}

fn index_options(config: &Config) -> IndexOptions {
    IndexOptions {
        max_file_bytes: config.max_file_bytes,
        ..IndexOptions::new(&config.kb, &config.index)
    }
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    paths: Paths,
    /// Folder for events and analytics [default: data].
    #[arg(long)]
    data: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long)]
    bind: Option<String>,
    /// How to follow changes of the content folder: native (falls back to poll when the OS
    /// cannot watch), poll (network file systems, containers), or off [default: native].
    #[arg(long, value_name = "MODE")]
    watch: Option<WatchMode>,
}

#[derive(Args)]
struct PreviewArgs {
    /// Content folder of markdown articles [default: kb].
    #[arg(long)]
    kb: Option<PathBuf>,
    /// Port on 127.0.0.1.
    #[arg(long, default_value_t = 8090)]
    port: u16,
    /// Open the preview in the default browser.
    #[arg(long)]
    open: bool,
    /// Configuration file [default: kbsearch.toml when present].
    #[arg(long)]
    config: Option<PathBuf>,
    /// How to follow changes: native, poll or off [default: native].
    #[arg(long, value_name = "MODE")]
    watch: Option<WatchMode>,
}

#[derive(Args)]
struct IndexArgs {
    #[command(flatten)]
    paths: Paths,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// Who the search is for: decides which visibility levels are shown.
#[derive(Clone, Copy, ValueEnum)]
enum Role {
    Anonymous,
    Customer,
    Agent,
}

impl Role {
    fn audience(self) -> Visibility {
        match self {
            Role::Anonymous => Visibility::Public,
            Role::Customer => Visibility::Customer,
            Role::Agent => Visibility::Internal,
        }
    }
}

#[derive(Args)]
struct SearchArgs {
    /// What to search for: words, "a phrase", -excluded.
    query: String,
    #[command(flatten)]
    paths: Paths,
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

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Args)]
struct CheckArgs {
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
    /// The rank N each article must reach for its queries.
    #[arg(long, default_value_t = check::DEFAULT_TOP, requires = "queries")]
    top: usize,
}

#[derive(Args)]
struct DeflectArgs {
    #[command(flatten)]
    paths: Paths,
    /// The case subject.
    #[arg(long, default_value = "")]
    subject: String,
    /// The case description.
    #[arg(long, default_value = "")]
    description: String,
    /// problem, question, feature_request or request.
    #[arg(long, default_value = "problem")]
    case_type: String,
    /// 1 (critical) to 4 (low).
    #[arg(long, default_value_t = 3)]
    severity: i64,
    #[arg(long)]
    product: Option<String>,
    #[arg(long)]
    version: Option<String>,
    #[arg(long, default_value_t = deflect::DEFAULT_LIMIT)]
    limit: usize,
    /// Lowest confidence shown, 0 to 1.
    #[arg(long, default_value_t = DEFAULT_MIN_CONFIDENCE)]
    min_confidence: f32,
    /// Whose view to search with.
    #[arg(long, value_enum, default_value_t = Role::Customer)]
    role: Role,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
#[command(group = clap::ArgGroup::new("collection").required(true).args(["corpus", "judgments", "drafts"]))]
struct EvalArgs {
    /// BEIR corpus (`corpus.jsonl`); needs --queries and --qrels.
    #[arg(long, requires_all = ["queries", "qrels"])]
    corpus: Option<PathBuf>,
    /// BEIR queries (`queries-<split>.jsonl`).
    #[arg(long)]
    queries: Option<PathBuf>,
    /// BEIR qrels (`qrels-<split>.tsv`).
    #[arg(long)]
    qrels: Option<PathBuf>,
    /// Write the ranking as a TREC run, for checking with `score_run.py`.
    #[arg(long)]
    run_out: Option<PathBuf>,
    /// The knowledge base's judgments (`kb/judgments.tsv`).
    #[arg(long)]
    judgments: Option<PathBuf>,
    /// Judged draft cases for deflection (`kb/deflection.jsonl`).
    #[arg(long)]
    drafts: Option<PathBuf>,
    /// Lowest confidence shown, for --drafts.
    #[arg(long, default_value_t = DEFAULT_MIN_CONFIDENCE)]
    min_confidence: f32,
    /// Content folder the judgments refer to.
    #[arg(long, default_value = "kb")]
    kb: PathBuf,
    /// Also list the worst queries (nDCG@10 below this).
    #[arg(long)]
    show_below: Option<f64>,
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The service says where it listens and when it is ready; the other commands stay quiet.
    let default_filter = match cli.command {
        Command::Serve(_) | Command::Preview(_) => "warn,kbsearch=info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let outcome = match cli.command {
        Command::Serve(args) => run_serve(args),
        Command::Preview(args) => run_preview(args),
        Command::Index(args) => run_index(args),
        Command::Search(args) => run_search(args),
        Command::Check(args) => run_check(args),
        Command::Deflect(args) => run_deflect(args),
        Command::Eval(args) => run_eval(args),
    };
    match outcome {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Writes command output to stdout; a closed pipe (`kbsearch check | head`) ends output quietly.
fn emit(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

fn run_serve(args: ServeArgs) -> Result<ExitCode> {
    let config = args.paths.config(Overrides {
        data: args.data.clone(),
        bind: args.bind.clone(),
        watch: args.watch,
        ..Overrides::default()
    })?;
    run_service(config, Mode::Serve, false)?;
    Ok(ExitCode::SUCCESS)
}

fn run_preview(args: PreviewArgs) -> Result<ExitCode> {
    // Never the production index or event store: both live in a folder removed on exit.
    let scratch = tempfile::Builder::new()
        .prefix("kbsearch-preview-")
        .tempdir()
        .context("creating the preview's temporary folder")?;
    let config = Config::load(
        args.config.as_deref(),
        &Overrides {
            kb: args.kb.clone(),
            index: Some(scratch.path().join("index")),
            data: Some(scratch.path().join("data")),
            bind: Some(format!("127.0.0.1:{}", args.port)),
            watch: args.watch,
            ..Overrides::default()
        },
    )?;
    anyhow::ensure!(
        config.kb.is_dir(),
        "content folder {} does not exist (use --kb DIR)",
        config.kb.display()
    );
    run_service(config, Mode::Preview, args.open)?;
    drop(scratch);
    Ok(ExitCode::SUCCESS)
}

/// Runs the service until Ctrl-C or SIGTERM; `open` opens it in the default browser first.
fn run_service(config: Config, mode: Mode, open: bool) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let service = Service::start(config, mode).await?;
        let url = service.url();
        if open && let Err(err) = open::that(&url) {
            tracing::warn!("cannot open a browser: {err}; open {url} yourself");
        }
        Ok(service.run().await?)
    })
}

fn run_index(args: IndexArgs) -> Result<ExitCode> {
    let options = args.paths.index_options()?;
    let report = indexer::refresh(&options, &progress::bar())
        .with_context(|| format!("indexing {}", options.kb_root.display()))?;
    if args.json {
        emit(&format!("{}\n", serde_json::to_string_pretty(&report)?))?;
    } else {
        for problem in &report.problems {
            eprintln!("{problem}");
        }
        emit(&index_summary(&report, &options))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn index_summary(report: &IndexReport, options: &IndexOptions) -> String {
    let mut out = String::new();
    let action = if report.rebuilt { "built" } else { "refreshed" };
    let _ = writeln!(
        out,
        "index {action} in {:.2}s: {} articles searchable ({} added, {} updated, {} deleted, {} unchanged, {} skipped) from {} files in {}",
        report.elapsed.as_secs_f64(),
        report.documents,
        report.changes.added,
        report.changes.updated,
        report.changes.deleted,
        report.changes.unchanged,
        report.changes.skipped,
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

fn run_search(args: SearchArgs) -> Result<ExitCode> {
    let config = args.paths.config(Overrides::default())?;
    if IndexDir::new(&config.index).open_current().is_err() {
        indexer::refresh(&index_options(&config), &progress::bar())
            .with_context(|| format!("building the index from {}", config.kb.display()))?;
    }
    let searcher = KbSearcher::open(&config.index, &config.kb)?;
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

fn run_check(args: CheckArgs) -> Result<ExitCode> {
    anyhow::ensure!(
        args.kb.is_dir(),
        "content folder {} does not exist",
        args.kb.display()
    );
    anyhow::ensure!(args.top >= 1, "--top must be at least 1");
    let report = if args.queries {
        check::check_folder_with_queries(&args.kb, args.max_file_bytes, args.top)
            .context("ranking check")?
    } else {
        check::check_folder(&args.kb, args.max_file_bytes)
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

fn run_deflect(args: DeflectArgs) -> Result<ExitCode> {
    let config = args.paths.config(Overrides::default())?;
    if IndexDir::new(&config.index).open_current().is_err() {
        indexer::refresh(&index_options(&config), &progress::bar())
            .with_context(|| format!("building the index from {}", config.kb.display()))?;
    }
    let searcher = KbSearcher::open(&config.index, &config.kb)?;
    let draft = DraftCase {
        case_type: args.case_type.parse::<CaseType>()?,
        severity: Severity::new(args.severity)?,
        product: args.product,
        version: args.version,
        limit: args.limit,
        min_confidence: args.min_confidence,
        audience: args.role.audience(),
        ..DraftCase::new(args.subject, args.description)
    };
    let deflection = searcher.deflect(&draft)?;
    if args.json {
        emit(&format!("{}\n", serde_json::to_string_pretty(&deflection)?))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    for notice in &deflection.notices {
        let _ = writeln!(out, "note: {notice}");
    }
    if deflection.suggestions.is_empty() {
        let _ = writeln!(out, "no article answers this draft confidently enough");
    }
    for (rank, suggestion) in deflection.suggestions.iter().enumerate() {
        let why = match &suggestion.reason {
            Some(reason) => reason.clone(),
            None => format!("matched: {}", suggestion.matched_terms.join(", ")),
        };
        let _ = writeln!(
            out,
            "{:>2}. {} ({:.0}%)\n    {} · {}\n",
            rank + 1,
            suggestion.info.title,
            suggestion.confidence * 100.0,
            suggestion.info.id,
            why
        );
    }
    emit(&out)?;
    Ok(ExitCode::SUCCESS)
}

fn run_eval(args: EvalArgs) -> Result<ExitCode> {
    let progress = progress::bar();
    if let Some(drafts) = &args.drafts {
        let report = draft_eval::eval_drafts(&args.kb, drafts, args.min_confidence, &progress)?;
        if args.json {
            emit(&format!("{}\n", serde_json::to_string_pretty(&report)?))?;
        } else {
            emit(&format_draft_eval(&report, args.show_below.is_some()))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let report = match (&args.corpus, &args.judgments) {
        (Some(corpus), _) => {
            let queries = args
                .queries
                .as_deref()
                .context("--queries is required with --corpus")?;
            let qrels = args
                .qrels
                .as_deref()
                .context("--qrels is required with --corpus")?;
            eval::eval_beir(corpus, queries, qrels, args.run_out.as_deref(), &progress)?
        }
        (None, Some(judgments)) => eval::eval_judgments(&args.kb, judgments, &progress)?,
        (None, None) => anyhow::bail!("give --corpus/--queries/--qrels, --judgments or --drafts"),
    };
    if args.json {
        emit(&format!("{}\n", serde_json::to_string_pretty(&report)?))?;
    } else {
        emit(&format_eval(&report, args.show_below))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn format_draft_eval(report: &draft_eval::DraftEvalReport, details: bool) -> String {
    let mut out = String::new();
    let percent = |x: f64| format!("{:.0}%", x * 100.0);
    let _ = writeln!(
        out,
        "{} drafts ({} answerable, {} unanswerable), {:.1}s",
        report.drafts, report.answerable, report.unanswerable, report.seconds
    );
    let _ = writeln!(
        out,
        "ranking:             Recall@5 {:.4}  MRR@5 {:.4}",
        report.ranking_recall_5, report.ranking_mrr_5
    );
    let _ = writeln!(
        out,
        "shown (conf ≥ {:.2}): Recall@5 {:.4}  MRR@5 {:.4}  precision {}  ({} suggestions)",
        report.min_confidence,
        report.shown_recall_5,
        report.shown_mrr_5,
        report.shown_precision.map_or("-".to_string(), percent),
        report.shown_suggestions
    );
    let _ = writeln!(
        out,
        "unanswerable drafts shown nothing: {}",
        percent(report.unanswerable_silent)
    );
    let auc = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.3}"));
    let _ = writeln!(
        out,
        "AUC answerable vs not: score ratio {}, raw score {}",
        auc(report.auc_ratio),
        auc(report.auc_raw_score)
    );
    let _ = writeln!(
        out,
        "calibration fit: a = {:.3}, b = {:.3}",
        report.calibration.0, report.calibration.1
    );
    let _ = writeln!(
        out,
        "threshold  answered  unanswerable silent  precision  shown"
    );
    for point in &report.sweep {
        let _ = writeln!(
            out,
            "     {:.1}      {:>4}       {:>4}               {:>4}     {:>4}",
            point.threshold,
            percent(point.answered),
            percent(point.unanswerable_silent),
            point.precision.map_or("-".to_string(), percent),
            point.suggestions
        );
    }
    if details {
        for draft in &report.per_draft {
            let _ = writeln!(
                out,
                "  {} {} ratio {:.3}  shown [{}]  ranked [{}]",
                draft.id,
                if draft.answerable { "A" } else { "U" },
                draft.top_ratio.unwrap_or(0.0),
                draft.shown.join(", "),
                draft.ranked.join(", ")
            );
        }
    }
    out
}

fn format_eval(report: &EvalReport, show_below: Option<f64>) -> String {
    let mut out = String::new();
    let m = &report.metrics;
    let _ = writeln!(
        out,
        "{}: {} documents, {} judged queries ({} with results), {:.1}s",
        report.collection, report.documents, m.queries, m.queries_with_results, report.seconds
    );
    let _ = writeln!(
        out,
        "nDCG@10 {:.4}  Recall@10 {:.4}  Recall@100 {:.4}  MRR@10 {:.4}",
        m.scores.ndcg_10, m.scores.recall_10, m.scores.recall_100, m.scores.mrr_10
    );
    if let Some(threshold) = show_below {
        for q in report
            .per_query
            .iter()
            .filter(|q| q.scores.ndcg_10 < threshold)
        {
            let _ = writeln!(
                out,
                "  {:.3}  {}  →  {}",
                q.scores.ndcg_10,
                q.query,
                q.top.join(", ")
            );
        }
    }
    out
}
