//! `kbsearch eval`: ranking quality on judged queries (BEIR collections, `kb/judgments.tsv`) or
//! deflection quality on judged draft cases (`kb/deflection.jsonl`).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::progress::Bar;
use anyhow::{Context, Result};
use clap::Args;
use kbsearch::config::{Config, DEFAULT_MIN_CONFIDENCE, Overrides};
use kbsearch::deflect::Fusion;
use kbsearch::insights::topics;
use kbsearch::quality::draft_eval;
use kbsearch::quality::eval::{self, EvalModel, EvalReport};
use kbsearch::quality::split::Part;
use kbsearch::quality::topics_eval;

use super::{Role, emit};

#[derive(Args)]
#[command(group = clap::ArgGroup::new("collection").required(true).args(["corpus", "judgments", "drafts", "write_next"]))]
pub struct EvalArgs {
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
    /// The knowledge base's judgments (`kb/judgments.tsv`; repeat for several files).
    #[arg(long)]
    judgments: Vec<PathBuf>,
    /// Judged draft cases for deflection (`kb/deflection.jsonl`; repeat for several files).
    #[arg(long)]
    drafts: Vec<PathBuf>,
    /// Unanswered texts labelled by missing topic (`kb/write-next.jsonl`): how "what to write
    /// next" groups them.
    #[arg(long, value_name = "FILE")]
    write_next: Option<PathBuf>,
    /// Grouping: least average similarity at which groups merge (for fitting).
    #[arg(long, hide = true)]
    group_threshold: Option<f32>,
    /// Which part of the judged queries and drafts to read: `fit` (what weights are tuned on),
    /// `test` (what is reported) or `all`.
    #[arg(long, default_value = "all")]
    part: Part,
    /// Whose view the judged queries are searched with.
    #[arg(long, value_enum, default_value = "customer")]
    role: Role,
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
    #[command(flatten)]
    model: super::ModelArg,
    /// Where vectors are cached [default: INDEX/vectors of the configuration].
    #[arg(long, value_name = "DIR")]
    vector_cache: Option<PathBuf>,
    /// Search: weight of the lexical score in the fusion with the vectors (for tuning).
    #[arg(long, hide = true)]
    search_lexical_weight: Option<f32>,
    /// Search: fewest words of a query reranked with the vectors (for tuning).
    #[arg(long, hide = true)]
    search_min_words: Option<usize>,
    /// Deflection: weight of the lexical score ratio in the fusion with the vectors (for tuning).
    #[arg(long, hide = true)]
    draft_lexical_weight: Option<f32>,
    /// Configuration file [default: kbsearch.toml when present].
    #[arg(long)]
    config: Option<PathBuf>,
}

pub fn run(args: EvalArgs) -> Result<ExitCode> {
    let progress = Bar::new();
    let config = Config::load(
        args.config.as_deref(),
        &args.model.over(Overrides::default()),
    )?;
    let model = config.semantic.model.as_ref().map(|folder| EvalModel {
        folder: folder.clone(),
        cache: args
            .vector_cache
            .clone()
            .unwrap_or_else(|| config.index.join(kbsearch::semantic::VECTORS_DIR)),
        search_lexical_weight: args.search_lexical_weight,
        search_min_words: args.search_min_words,
        fusion: args
            .draft_lexical_weight
            .map(|lexical_weight| Fusion { lexical_weight }),
    });
    let model = model.as_ref();
    if let Some(path) = &args.write_next {
        let labelled = topics_eval::read_labelled(path)?;
        let encoder = match &config.semantic.model {
            Some(folder) => Some(kbsearch::semantic::Encoder::load(folder)?),
            None => None,
        };
        let fitted = topics::Grouping::fitted(encoder.is_some()).threshold;
        let threshold = args.group_threshold.unwrap_or(fitted);
        let report = topics_eval::eval_grouping(&labelled, args.part, threshold, encoder.as_ref())?;
        if args.json {
            emit(&format!("{}\n", serde_json::to_string_pretty(&report)?))?;
        } else {
            emit(&format_grouping_eval(&report))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !args.drafts.is_empty() {
        let report = draft_eval::eval_drafts(
            &args.kb,
            &args.drafts,
            args.part,
            args.min_confidence,
            model,
            &progress,
        )?;
        if args.json {
            emit(&format!("{}\n", serde_json::to_string_pretty(&report)?))?;
        } else {
            emit(&format_draft_eval(&report, args.show_below.is_some()))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let report = match (&args.corpus, args.judgments.is_empty()) {
        (Some(corpus), _) => {
            let queries = args
                .queries
                .as_deref()
                .context("--queries is required with --corpus")?;
            let qrels = args
                .qrels
                .as_deref()
                .context("--qrels is required with --corpus")?;
            eval::eval_beir(
                corpus,
                queries,
                qrels,
                args.run_out.as_deref(),
                model,
                &progress,
            )?
        }
        (None, false) => eval::eval_judgments(
            &args.kb,
            &args.judgments,
            args.part,
            args.role.audience(),
            model,
            &progress,
        )?,
        (None, true) => anyhow::bail!("give --corpus/--queries/--qrels, --judgments or --drafts"),
    };
    if args.json {
        emit(&format!("{}\n", serde_json::to_string_pretty(&report)?))?;
    } else {
        emit(&format_eval(&report, args.show_below))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The grouping's figures at the service's threshold, then the sweep.
fn format_grouping_eval(report: &topics_eval::GroupingReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} texts ({} topics, {} one-offs; part {:?})",
        report.texts, report.topics, report.one_offs, report.part
    );
    let _ = writeln!(
        out,
        "threshold  B3 precision  B3 recall  B3 F1  topic together  one-offs alone  groups"
    );
    for (i, score) in std::iter::once(&report.score)
        .chain(&report.sweep)
        .enumerate()
    {
        if i == 1 {
            let _ = writeln!(out, "sweep:");
        }
        let _ = writeln!(
            out,
            "{:>9.2}  {:>12.3}  {:>9.3}  {:>5.3}  {:>14.0}%  {:>14.0}%  {:>6}",
            score.threshold,
            score.precision,
            score.recall,
            score.f1,
            score.topic_together * 100.0,
            score.one_offs_alone * 100.0,
            score.groups
        );
    }
    out
}

/// Ranking and shown-suggestion scores, the confidence sweep and, with `details`, each draft.
fn format_draft_eval(report: &draft_eval::DraftEvalReport, details: bool) -> String {
    let mut out = String::new();
    let percent = |x: f64| format!("{:.0}%", x * 100.0);
    let _ = writeln!(
        out,
        "{} drafts ({} answerable, {} unanswerable; part {:?}), {:.1}s",
        report.drafts, report.answerable, report.unanswerable, report.part, report.seconds
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
    if report.auc_similarity.is_some() {
        let _ = writeln!(
            out,
            "AUC with the model: top cosine {}, top fused score {}",
            auc(report.auc_similarity),
            auc(report.auc_fused)
        );
    }
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
    for (kind, scores) in &report.per_kind {
        let _ = writeln!(
            out,
            "  kind {kind:<12} {:>3} drafts ({:>3} answerable)  Recall@5 {:.4}  MRR@5 {:.4}",
            scores.drafts, scores.answerable, scores.ranking_recall_5, scores.ranking_mrr_5
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

/// The collection's scores and, below `show_below`, the worst queries with what ranked first.
fn format_eval(report: &EvalReport, show_below: Option<f64>) -> String {
    let mut out = String::new();
    let m = &report.metrics;
    let _ = writeln!(
        out,
        "{}: {} documents, {} judged queries ({} with results, {} not answered by the knowledge base; part {:?}), {:.1}s",
        report.collection,
        report.documents,
        m.queries,
        m.queries_with_results,
        report.unanswerable,
        report.part,
        report.seconds
    );
    if report.unseen > 0 {
        let _ = writeln!(
            out,
            "{} judgments of articles this role may not see are left out",
            report.unseen
        );
    }
    let _ = writeln!(
        out,
        "nDCG@10 {:.4}  Recall@10 {:.4}  Recall@100 {:.4}  MRR@10 {:.4}",
        m.scores.ndcg_10, m.scores.recall_10, m.scores.recall_100, m.scores.mrr_10
    );
    for (kind, metrics) in &report.per_kind {
        let _ = writeln!(
            out,
            "  kind {kind:<11} {:>3} queries  nDCG@10 {:.4}  Recall@10 {:.4}  MRR@10 {:.4}",
            metrics.queries,
            metrics.scores.ndcg_10,
            metrics.scores.recall_10,
            metrics.scores.mrr_10
        );
    }
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
