//! Ranking quality, measured. Two kinds of judged collections go through the very schema and
//! query path customers use:
//!
//! - public BEIR collections (`corpus.jsonl`, `queries.jsonl`, `qrels.tsv`), to compare with
//!   published baselines; a TREC run can be written so `score_run.py` checks our numbers;
//! - the knowledge base's own `judgments.tsv` (query, article id, grade 0-3).
//!
//! Metrics follow trec_eval as `bench/score_run.py` does: nDCG@10 with graded gains and the ideal
//! ranking built from all judged grades, Recall@10/@100 and MRR@10 over relevant (grade ≥ 1)
//! documents, averaged over every judged query with a relevant document.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::content::article::{Article, ArticleType, Status, Visibility};
use crate::content::products::Catalog;
use crate::content::synonyms::Synonyms;
use crate::error::{IndexError, SearchError};
use crate::ingest::indexer::{ArticleWriter, IndexOptions, Indexer};
use crate::ingest::progress::{Progress, Silent};
use crate::quality::split::Part;
use crate::search::{KbSearcher, SearchRequest};

/// The lowest grade of an article that answers a query or a draft ("substantially helps");
/// grade 1 is only related.
pub const ANSWER_GRADE: u32 = 2;

/// Depth of the ranking that is scored (Recall@100 needs 100).
const RUN_DEPTH: usize = 100;

/// Why an evaluation could not run.
#[derive(Debug, Error)]
pub enum EvalError {
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}:{line}: {message}", path.display())]
    BadLine {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Search(#[from] SearchError),
    #[error(transparent)]
    Draft(#[from] crate::deflect::DraftError),
    #[error("tantivy: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error(transparent)]
    Model(#[from] crate::semantic::ModelError),
}

/// A sentence-embedding model to evaluate with, and where its vectors are cached (keyed by text
/// and model, so one cache serves every collection and run).
#[derive(Debug, Clone)]
pub struct EvalModel {
    pub folder: PathBuf,
    pub cache: PathBuf,
    /// Search: weight of the lexical score in the fusion, instead of the tuned constant.
    pub search_lexical_weight: Option<f32>,
    /// Search: fewest words of a reranked query, instead of the tuned constant.
    pub search_min_words: Option<usize>,
    /// Deflection: the fusion, instead of the tuned one.
    pub fusion: Option<crate::deflect::Fusion>,
}

/// `searcher` with the model of `model` (every article embedded first), or as it is.
pub(crate) fn with_model(
    searcher: KbSearcher,
    model: Option<&EvalModel>,
    progress: &dyn Progress,
) -> Result<KbSearcher, EvalError> {
    let Some(model) = model else {
        return Ok(searcher);
    };
    let semantic = std::sync::Arc::new(crate::semantic::Semantic::open(
        &model.folder,
        Some(&model.cache),
    )?);
    crate::semantic::catch_up(&semantic, searcher.searcher(), progress, false)?;
    let searcher = searcher.with_semantic(Some(semantic));
    let searcher = match model.search_lexical_weight {
        Some(weight) => searcher.with_search_lexical_weight(weight),
        None => searcher,
    };
    Ok(match model.search_min_words {
        Some(words) => searcher.with_search_min_words(words),
        None => searcher,
    })
}

/// The four measures, for one query or averaged over all.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Scores {
    #[serde(rename = "ndcg@10")]
    pub ndcg_10: f64,
    #[serde(rename = "recall@10")]
    pub recall_10: f64,
    #[serde(rename = "recall@100")]
    pub recall_100: f64,
    #[serde(rename = "mrr@10")]
    pub mrr_10: f64,
}

/// Mean scores over the judged queries.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Metrics {
    #[serde(flatten)]
    pub scores: Scores,
    pub queries: usize,
    pub queries_with_results: usize,
}

/// Scores of one query, for finding the ones that rank badly.
#[derive(Debug, Clone, Serialize)]
pub struct QueryMetrics {
    pub query_id: String,
    pub query: String,
    #[serde(flatten)]
    pub scores: Scores,
    /// The top results, for reading why a query failed.
    pub top: Vec<String>,
}

/// Everything an evaluation produced.
#[derive(Debug, Serialize)]
pub struct EvalReport {
    pub collection: String,
    pub documents: u64,
    /// Which part of the judged data was read (see [`Part`]).
    pub part: Part,
    pub metrics: Metrics,
    /// The same measures per kind of query, where the judgments name kinds.
    pub per_kind: BTreeMap<String, Metrics>,
    /// Judged queries no article answers (none judged [`ANSWER_GRADE`] or more); those with a
    /// marginally relevant article (grade 1) are still in the measures, as in trec_eval.
    pub unanswerable: usize,
    /// Judgments of articles the audience may not see (or drafts), left out: such an article is
    /// not in that audience's collection (an anonymous caller is never shown a customer
    /// article), so no ranking could earn its grade, and a query left with no visible answer is
    /// unanswerable for that audience.
    pub unseen: usize,
    pub per_query: Vec<QueryMetrics>,
    pub seconds: f64,
}

/// Judged grades: query id → document id → grade.
pub type Qrels = HashMap<String, HashMap<String, u32>>;

/// Scores one query's ranking against its judgments.
fn score_query(judged: &HashMap<String, u32>, ranking: &[String]) -> Scores {
    let relevant: HashMap<&str, u32> = judged
        .iter()
        .filter(|(_, g)| **g >= 1)
        .map(|(d, g)| (d.as_str(), *g))
        .collect();
    let gain = |doc: &String| f64::from(relevant.get(doc.as_str()).copied().unwrap_or(0));
    let dcg: f64 = ranking
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, d)| gain(d) / (i as f64 + 2.0).log2())
        .sum();
    let mut ideal: Vec<u32> = relevant.values().copied().collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, g)| f64::from(*g) / (i as f64 + 2.0).log2())
        .sum();
    let found = |depth: usize| {
        ranking
            .iter()
            .take(depth)
            .filter(|d| relevant.contains_key(d.as_str()))
            .count() as f64
            / relevant.len() as f64
    };
    let mrr = ranking
        .iter()
        .take(10)
        .position(|d| relevant.contains_key(d.as_str()))
        .map_or(0.0, |i| 1.0 / (i as f64 + 1.0));
    Scores {
        ndcg_10: if idcg > 0.0 { dcg / idcg } else { 0.0 },
        recall_10: found(10),
        recall_100: found(100),
        mrr_10: mrr,
    }
}

/// Scores rankings (query id → document ids, best first) against `qrels`.
pub fn evaluate(
    qrels: &Qrels,
    rankings: &HashMap<String, Vec<String>>,
    query_texts: &HashMap<String, String>,
) -> (Metrics, Vec<QueryMetrics>) {
    let mut per_query = Vec::new();
    let mut ids: Vec<&String> = qrels.keys().collect();
    ids.sort();
    for query_id in ids {
        let judged = &qrels[query_id];
        if !judged.values().any(|g| *g >= 1) {
            continue;
        }
        let ranking = rankings
            .get(query_id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        per_query.push(QueryMetrics {
            query_id: query_id.clone(),
            query: query_texts.get(query_id).cloned().unwrap_or_default(),
            scores: score_query(judged, ranking),
            top: ranking.iter().take(5).cloned().collect(),
        });
    }
    let n = per_query.len().max(1) as f64;
    let mean = |f: fn(&Scores) -> f64| per_query.iter().map(|q| f(&q.scores)).sum::<f64>() / n;
    let metrics = Metrics {
        scores: Scores {
            ndcg_10: mean(|s| s.ndcg_10),
            recall_10: mean(|s| s.recall_10),
            recall_100: mean(|s| s.recall_100),
            mrr_10: mean(|s| s.mrr_10),
        },
        queries: per_query.len(),
        queries_with_results: per_query
            .iter()
            .filter(|q| rankings.get(&q.query_id).is_some_and(|r| !r.is_empty()))
            .count(),
    };
    (metrics, per_query)
}

fn open_lines(
    path: &Path,
) -> Result<impl Iterator<Item = (usize, std::io::Result<String>)>, EvalError> {
    let file = std::fs::File::open(path).map_err(|error| EvalError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    Ok(BufReader::new(file)
        .lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line)))
}

fn read_line(path: &Path, line: std::io::Result<String>) -> Result<String, EvalError> {
    line.map_err(|error| EvalError::Io {
        path: path.to_path_buf(),
        error,
    })
}

#[derive(Deserialize)]
struct BeirDoc {
    #[serde(rename = "_id")]
    id: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    text: String,
}

#[derive(Deserialize)]
struct BeirQuery {
    #[serde(rename = "_id")]
    id: String,
    text: String,
}

fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>, EvalError> {
    let mut items = Vec::new();
    for (number, line) in open_lines(path)? {
        let line = read_line(path, line)?;
        if line.trim().is_empty() {
            continue;
        }
        let item = serde_json::from_str(&line).map_err(|err| EvalError::BadLine {
            path: path.to_path_buf(),
            line: number,
            message: err.to_string(),
        })?;
        items.push(item);
    }
    Ok(items)
}

/// Reads BEIR qrels (`query-id<TAB>corpus-id<TAB>score` with a header) or TREC qrels.
pub fn read_qrels(path: &Path) -> Result<Qrels, EvalError> {
    let mut qrels: Qrels = HashMap::new();
    for (number, line) in open_lines(path)? {
        let line = read_line(path, line)?;
        let parts: Vec<&str> = line.split_whitespace().collect();
        let (query, doc, grade) = match parts.as_slice() {
            [] => continue,
            [q, d, g] | [q, _, d, g] => (*q, *d, *g),
            _ => {
                return Err(EvalError::BadLine {
                    path: path.to_path_buf(),
                    line: number,
                    message: "expected `query-id corpus-id score`".to_string(),
                });
            }
        };
        let Ok(grade) = grade.parse::<f64>() else {
            if number == 1 {
                continue;
            }
            return Err(EvalError::BadLine {
                path: path.to_path_buf(),
                line: number,
                message: format!("grade `{grade}` is not a number"),
            });
        };
        qrels
            .entry(query.to_string())
            .or_default()
            .insert(doc.to_string(), grade.max(0.0) as u32);
    }
    Ok(qrels)
}

/// A BEIR document as an article: title and text, public, for all versions.
fn beir_article(doc: BeirDoc) -> Article {
    Article {
        path: doc.id.clone(),
        id: doc.id,
        title: doc.title,
        kind: ArticleType::Kb,
        product: None,
        versions: vec![crate::content::article::ALL_VERSIONS.to_string()],
        tags: Vec::new(),
        visibility: Visibility::Public,
        status: Status::Published,
        updated: NaiveDate::default(),
        summary: String::new(),
        keywords: Vec::new(),
        queries: Vec::new(),
        source: String::new(),
        text: doc.text,
        code: String::new(),
        headings: Vec::new(),
        links: Vec::new(),
        images: Vec::new(),
    }
}

/// Runs every query and returns query id → ranked document ids.
fn run_queries(
    searcher: &KbSearcher,
    queries: &[(String, String)],
    audience: Visibility,
    progress: &dyn Progress,
) -> Result<HashMap<String, Vec<String>>, EvalError> {
    progress.stage("querying", queries.len() as u64);
    let mut rankings = HashMap::new();
    for (id, text) in queries {
        let mut request = SearchRequest::new(text.clone());
        request.limit = RUN_DEPTH;
        request.audience = audience;
        request.snippets = false;
        let ranking = match searcher.search(&request) {
            Ok(results) => results.hits.into_iter().map(|h| h.info.id).collect(),
            Err(SearchError::EmptyQuery) => Vec::new(),
            Err(err) => return Err(err.into()),
        };
        rankings.insert(id.clone(), ranking);
        progress.advance(1);
    }
    progress.finish();
    Ok(rankings)
}

/// Writes rankings as a TREC run. Scores encode kbsearch's order (rank 1 scores highest), so any
/// trec_eval-style scorer sees exactly the ranking kbsearch returned.
pub fn write_run(path: &Path, rankings: &HashMap<String, Vec<String>>) -> Result<(), EvalError> {
    let io = |error| EvalError::Io {
        path: path.to_path_buf(),
        error,
    };
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    let ordered: BTreeMap<&String, &Vec<String>> = rankings.iter().collect();
    for (query, docs) in ordered {
        for (rank, doc) in docs.iter().enumerate() {
            let score = (RUN_DEPTH - rank) as f64;
            writeln!(out, "{query} Q0 {doc} {} {score:.1} kbsearch", rank + 1).map_err(io)?;
        }
    }
    out.flush().map_err(io)
}

/// Indexes a BEIR collection into a temporary index and scores its queries.
pub fn eval_beir(
    corpus: &Path,
    queries: &Path,
    qrels: &Path,
    run_out: Option<&Path>,
    model: Option<&EvalModel>,
    progress: &dyn Progress,
) -> Result<EvalReport, EvalError> {
    let started = std::time::Instant::now();
    let qrels = read_qrels(qrels)?;
    let queries: Vec<BeirQuery> = read_jsonl(queries)?;
    let docs: Vec<BeirDoc> = read_jsonl(corpus)?;
    let tmp = tempfile::tempdir().map_err(|error| EvalError::Io {
        path: std::env::temp_dir(),
        error,
    })?;
    let mut writer = ArticleWriter::create(tmp.path(), 2)?;
    progress.stage("indexing", docs.len() as u64);
    for doc in docs {
        writer.add(&beir_article(doc))?;
        progress.advance(1);
    }
    let index = writer.finish()?;
    let searcher = KbSearcher::new(&index, Synonyms::default(), Catalog::default())?;
    let searcher = with_model(searcher, model, progress)?;
    let documents = searcher.num_docs();
    let judged: Vec<(String, String)> = queries
        .into_iter()
        .filter(|q| qrels.contains_key(&q.id))
        .map(|q| (q.id, q.text))
        .collect();
    let rankings = run_queries(&searcher, &judged, Visibility::Internal, progress)?;
    if let Some(path) = run_out {
        write_run(path, &rankings)?;
    }
    let texts = judged.into_iter().collect();
    let (metrics, per_query) = evaluate(&qrels, &rankings, &texts);
    Ok(EvalReport {
        collection: corpus.display().to_string(),
        documents,
        part: Part::All,
        metrics,
        per_kind: BTreeMap::new(),
        unanswerable: 0,
        unseen: 0,
        per_query,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// One line of `judgments.tsv`.
#[derive(Debug, Clone)]
pub struct Judgment {
    pub line: usize,
    pub query: String,
    /// The article judged, or `None` on a line saying the knowledge base has no answer.
    pub id: Option<String>,
    pub grade: u32,
    /// What kind of query it is (topic, symptom, error code, how-to, typo, version, policy).
    pub kind: Option<String>,
}

/// Reads `judgments.tsv`: a header, then `query<TAB>article id<TAB>grade[<TAB>kind]` lines. An
/// article id of `-` (grade 0) says that nothing in the knowledge base answers the query.
pub fn read_judgments(path: &Path) -> Result<Vec<Judgment>, EvalError> {
    let mut judgments = Vec::new();
    for (number, line) in open_lines(path)? {
        let line = read_line(path, line)?;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let parts: Vec<&str> = line.split('\t').map(str::trim).collect();
        let (query, id, grade, kind) = match parts.as_slice() {
            [query, id, grade] => (query, id, grade, None),
            [query, id, grade, kind] => (query, id, grade, Some(kind.to_string())),
            _ => {
                return Err(EvalError::BadLine {
                    path: path.to_path_buf(),
                    line: number,
                    message: "expected `query<TAB>article id<TAB>grade[<TAB>kind]`".to_string(),
                });
            }
        };
        match grade.parse::<u32>() {
            Ok(grade) if *id == "-" && grade > 0 => {
                return Err(EvalError::BadLine {
                    path: path.to_path_buf(),
                    line: number,
                    message: format!("`-` (no answer) goes with grade 0, not {grade}"),
                });
            }
            Ok(grade) if grade <= 3 => judgments.push(Judgment {
                line: number,
                query: query.to_string(),
                id: (*id != "-").then(|| id.to_string()),
                grade,
                kind: kind.filter(|k| !k.is_empty()),
            }),
            _ if number == 1 => continue,
            _ => {
                return Err(EvalError::BadLine {
                    path: path.to_path_buf(),
                    line: number,
                    message: format!("grade `{grade}` is not 0, 1, 2 or 3"),
                });
            }
        }
    }
    Ok(judgments)
}

/// Indexes `kb_root` into a temporary index (removed when the returned folder is dropped).
pub(crate) fn index_in_temp_dir(
    kb_root: &Path,
) -> Result<(tempfile::TempDir, KbSearcher), EvalError> {
    let tmp = tempfile::tempdir().map_err(|error| EvalError::Io {
        path: std::env::temp_dir(),
        error,
    })?;
    let options = IndexOptions::new(kb_root, tmp.path());
    Indexer::refresh(&options, &Silent)?;
    let searcher = KbSearcher::open(tmp.path(), kb_root)?;
    Ok((tmp, searcher))
}

/// Where a judged article stands for the audience whose searches are scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    /// A published article the audience may be shown.
    Visible,
    /// In the knowledge base, but not searchable by the audience (its visibility, or a draft).
    Hidden,
    /// Not in the knowledge base at all.
    Unknown,
}

impl Standing {
    fn of(searcher: &KbSearcher, id: &str, audience: Visibility) -> Result<Standing, SearchError> {
        if searcher.article(id, audience, false)?.is_some() {
            Ok(Standing::Visible)
        } else if searcher.article(id, Visibility::Internal, true)?.is_some() {
            Ok(Standing::Hidden)
        } else {
            Ok(Standing::Unknown)
        }
    }
}

/// Indexes the knowledge base into a temporary index and scores the judgments of every file of
/// `judgment_files` in `part`, as `audience` sees the portal.
pub fn eval_judgments(
    kb_root: &Path,
    judgment_files: &[PathBuf],
    part: Part,
    audience: Visibility,
    model: Option<&EvalModel>,
    progress: &dyn Progress,
) -> Result<EvalReport, EvalError> {
    let started = std::time::Instant::now();
    let (_tmp, searcher) = index_in_temp_dir(kb_root)?;
    let searcher = with_model(searcher, model, progress)?;
    let documents = searcher.num_docs();
    let mut qrels: Qrels = HashMap::new();
    let mut queries: Vec<(String, String)> = Vec::new();
    let mut kinds: HashMap<String, String> = HashMap::new();
    let mut unseen = 0;
    for path in judgment_files {
        let judgments = read_judgments(path)?;
        let standings = judgments
            .iter()
            .map(|j| {
                j.id.as_deref()
                    .map(|id| Standing::of(&searcher, id, audience))
                    .transpose()
            })
            .collect::<Result<Vec<_>, _>>()?;
        // A judged id that is not in the knowledge base (a typo, a renamed article) would
        // silently count as a miss; say so instead.
        let unknown: Vec<&Judgment> = judgments
            .iter()
            .zip(&standings)
            .filter(|(_, standing)| **standing == Some(Standing::Unknown))
            .map(|(judgment, _)| judgment)
            .collect();
        if let Some(first) = unknown.first() {
            let others = match unknown.len() - 1 {
                0 => String::new(),
                n => format!(" (and {n} more lines)"),
            };
            return Err(EvalError::BadLine {
                path: path.clone(),
                line: first.line,
                message: format!(
                    "article id `{}` is not in {}{others}",
                    first.id.as_deref().unwrap_or_default(),
                    kb_root.display()
                ),
            });
        }
        for (judgment, standing) in judgments.into_iter().zip(standings) {
            if !part.includes(&judgment.query) {
                continue;
            }
            if !qrels.contains_key(&judgment.query) {
                queries.push((judgment.query.clone(), judgment.query.clone()));
            }
            if let Some(kind) = &judgment.kind {
                kinds.insert(judgment.query.clone(), kind.clone());
            }
            let judged = qrels.entry(judgment.query).or_default();
            if let Some(id) = judgment.id {
                if standing == Some(Standing::Visible) {
                    judged.insert(id, judgment.grade);
                } else {
                    unseen += 1;
                }
            }
        }
    }
    let unanswerable = qrels
        .values()
        .filter(|judged| !judged.values().any(|g| *g >= ANSWER_GRADE))
        .count();
    let rankings = run_queries(&searcher, &queries, audience, progress)?;
    let texts = queries.into_iter().collect();
    let (metrics, per_query) = evaluate(&qrels, &rankings, &texts);
    let mut per_kind = BTreeMap::new();
    let mut kind_names: Vec<&String> = kinds.values().collect();
    kind_names.sort();
    kind_names.dedup();
    for kind in kind_names {
        let of_kind: Qrels = qrels
            .iter()
            .filter(|(query, _)| kinds.get(*query) == Some(kind))
            .map(|(query, judged)| (query.clone(), judged.clone()))
            .collect();
        per_kind.insert(kind.clone(), evaluate(&of_kind, &rankings, &texts).0);
    }
    Ok(EvalReport {
        collection: judgment_files
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        documents,
        part,
        metrics,
        per_kind,
        unanswerable,
        unseen,
        per_query,
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_match_trec_eval_definitions() {
        let mut qrels: Qrels = HashMap::new();
        qrels.insert(
            "q".into(),
            HashMap::from([("a".into(), 2), ("b".into(), 1), ("z".into(), 0)]),
        );
        let rankings = HashMap::from([(
            "q".to_string(),
            vec!["x".to_string(), "a".to_string(), "y".to_string()],
        )]);
        let (metrics, _) = evaluate(&qrels, &rankings, &HashMap::new());
        let dcg = 2.0 / 3f64.log2();
        let idcg = 2.0 + 1.0 / 3f64.log2();
        assert!((metrics.scores.ndcg_10 - dcg / idcg).abs() < 1e-9);
        assert!((metrics.scores.recall_10 - 0.5).abs() < 1e-9);
        assert!((metrics.scores.mrr_10 - 0.5).abs() < 1e-9);
        assert_eq!(metrics.queries, 1);
    }

    #[test]
    fn unanswered_queries_count_as_zero() {
        let mut qrels: Qrels = HashMap::new();
        qrels.insert("q1".into(), HashMap::from([("a".into(), 1)]));
        qrels.insert("q2".into(), HashMap::from([("b".into(), 1)]));
        let rankings = HashMap::from([("q1".to_string(), vec!["a".to_string()])]);
        let (metrics, _) = evaluate(&qrels, &rankings, &HashMap::new());
        assert!((metrics.scores.mrr_10 - 0.5).abs() < 1e-9);
        assert_eq!(metrics.queries_with_results, 1);
    }
}
