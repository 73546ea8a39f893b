//! How good deflection is, measured on judged draft cases (`kb/deflection.jsonl`,
//! `kb/deflection-blind.jsonl`): one JSON object per line with the draft's fields and `relevant`,
//! either article id → grade 0-3 or a list of ids (empty for a draft no article answers); other
//! keys, such as `kind`, are read where useful and otherwise ignored. Only the drafts of the
//! chosen [`Part`] are read.
//!
//! - Recall@5 and MRR@5 over answerable drafts, counting as answers the articles with the draft's
//!   highest grade: once for the ranking alone (no confidence threshold) and once for what the
//!   customer is shown (threshold applied).
//! - The share of unanswerable drafts that get no suggestion, and the precision of what is shown
//!   (a suggestion judged relevant at any grade).
//! - How well the score ratio separates answerable from unanswerable drafts (AUC of the top
//!   suggestion, against the raw BM25 score), and the logistic fit that calibrates confidence.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::content::article::Visibility;
use crate::deflect::{self, CaseType, Deflector, DraftCase, Severity};
use crate::ingest::progress::Progress;
use crate::quality::eval::{ANSWER_GRADE, EvalError, EvalModel, index_in_temp_dir, with_model};
use crate::quality::split::Part;
use crate::search::KbSearcher;

/// Suggestions scored per draft.
const DEPTH: usize = 5;

/// One judged draft, as written in the file.
#[derive(Debug, Deserialize)]
struct JudgedDraft {
    id: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    description: String,
    #[serde(default = "default_case_type")]
    case_type: String,
    #[serde(default = "default_severity")]
    severity: i64,
    product: Option<String>,
    version: Option<String>,
    #[serde(default, deserialize_with = "graded_or_listed")]
    relevant: HashMap<String, u32>,
    /// How the draft is written (vague, multi, log, panic, typo...), for figures per kind.
    #[serde(default)]
    kind: Option<String>,
}

/// `relevant` as a graded map, or as a list of ids (each then of grade 1).
fn graded_or_listed<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<HashMap<String, u32>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Relevant {
        Graded(HashMap<String, u32>),
        Listed(Vec<String>),
    }
    Ok(match Relevant::deserialize(deserializer)? {
        Relevant::Graded(graded) => graded,
        Relevant::Listed(ids) => ids.into_iter().map(|id| (id, 1)).collect(),
    })
}

fn default_case_type() -> String {
    "problem".to_string()
}

fn default_severity() -> i64 {
    3
}

/// What one draft got.
#[derive(Debug, Serialize)]
pub struct DraftOutcome {
    pub id: String,
    pub answerable: bool,
    /// Ids ranked without a threshold, best first.
    pub ranked: Vec<String>,
    /// Ids shown with the threshold applied.
    pub shown: Vec<String>,
    /// Shown suggestions found by their words (not added by policy).
    pub shown_matches: usize,
    pub top_ratio: Option<f32>,
    pub top_score: Option<f32>,
    /// With a model: the top suggestion's cosine with the draft, and its fused score.
    pub top_similarity: Option<f32>,
    pub top_fused: Option<f32>,
    /// Per ranked suggestion: its score ratio, and with a model its cosine and fused score (for
    /// fitting the abstention outside).
    pub ranked_ratio: Vec<f32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ranked_similarity: Vec<f32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ranked_fused: Vec<f32>,
}

/// Ranking measures of the drafts of one kind.
#[derive(Debug, Serialize)]
pub struct KindScores {
    pub drafts: usize,
    pub answerable: usize,
    #[serde(rename = "ranking_recall@5")]
    pub ranking_recall_5: f64,
    #[serde(rename = "ranking_mrr@5")]
    pub ranking_mrr_5: f64,
}

/// The measures over all drafts.
#[derive(Debug, Serialize)]
pub struct DraftEvalReport {
    /// Which part of the judged drafts was read.
    pub part: Part,
    pub drafts: usize,
    pub answerable: usize,
    pub unanswerable: usize,
    pub min_confidence: f32,
    #[serde(rename = "ranking_recall@5")]
    pub ranking_recall_5: f64,
    #[serde(rename = "ranking_mrr@5")]
    pub ranking_mrr_5: f64,
    #[serde(rename = "shown_recall@5")]
    pub shown_recall_5: f64,
    #[serde(rename = "shown_mrr@5")]
    pub shown_mrr_5: f64,
    /// Unanswerable drafts that were shown nothing.
    pub unanswerable_silent: f64,
    /// Shown suggestions judged relevant (any grade ≥ 1).
    pub shown_precision: Option<f64>,
    pub shown_suggestions: usize,
    /// Separation of answerable from unanswerable drafts by the top suggestion's score ratio.
    pub auc_ratio: Option<f64>,
    /// The same by the raw BM25 score.
    pub auc_raw_score: Option<f64>,
    /// With a model: the same by the top suggestion's cosine with the draft, and by its fused
    /// score.
    pub auc_similarity: Option<f64>,
    pub auc_fused: Option<f64>,
    /// Recall, silence and precision at confidence thresholds 0.1 to 0.9.
    pub sweep: Vec<ThresholdPoint>,
    /// Logistic fit `confidence = 1 / (1 + e^-(a·x + b))` on the judged top-5 suggestions, where
    /// x is the score ratio, or with a model the fused score.
    pub calibration: (f64, f64),
    /// Ranking measures per kind of draft, where the drafts name kinds.
    pub per_kind: BTreeMap<String, KindScores>,
    pub per_draft: Vec<DraftOutcome>,
    pub seconds: f64,
}

/// What customers would see at one confidence threshold.
#[derive(Debug, Serialize)]
pub struct ThresholdPoint {
    pub threshold: f32,
    /// Answerable drafts shown an answer (an article of their highest grade).
    pub answered: f64,
    /// Unanswerable drafts shown no suggestion found by its words.
    pub unanswerable_silent: f64,
    /// Shown suggestions (found by their words) judged relevant at any grade.
    pub precision: Option<f64>,
    pub suggestions: usize,
}

/// The ids shown at `threshold`: suggestions at or above it.
fn shown(ranked: &[deflect::Suggestion], threshold: f32) -> Vec<String> {
    ranked
        .iter()
        .filter(|s| s.confidence >= threshold)
        .map(|s| s.info.id.clone())
        .collect()
}

fn threshold_point(
    threshold: f32,
    ranked: &[Vec<deflect::Suggestion>],
    drafts: &[&JudgedDraft],
) -> ThresholdPoint {
    let (mut answered, mut answerable, mut silent, mut unanswerable) = (0, 0, 0, 0);
    let (mut relevant, mut suggestions) = (0, 0);
    for (ranked, draft) in ranked.iter().zip(drafts) {
        let matches: Vec<&deflect::Suggestion> = ranked
            .iter()
            .filter(|s| s.confidence >= threshold)
            .collect();
        suggestions += matches.len();
        relevant += matches
            .iter()
            .filter(|s| draft.relevant.get(&s.info.id).is_some_and(|g| *g >= 1))
            .count();
        if draft.relevant.values().any(|g| *g >= ANSWER_GRADE) {
            answerable += 1;
            let best = answers(draft);
            if shown(ranked, threshold).iter().any(|id| best.contains(id)) {
                answered += 1;
            }
        } else {
            unanswerable += 1;
            if matches.is_empty() {
                silent += 1;
            }
        }
    }
    let share = |n: usize, of: usize| if of == 0 { 0.0 } else { n as f64 / of as f64 };
    ThresholdPoint {
        threshold,
        answered: share(answered, answerable),
        unanswerable_silent: share(silent, unanswerable),
        precision: (suggestions > 0).then(|| relevant as f64 / suggestions as f64),
        suggestions,
    }
}

fn read_drafts(path: &Path) -> Result<Vec<(usize, JudgedDraft)>, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|error| EvalError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    let bad_line = |line: usize, message: String| EvalError::BadLine {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut drafts = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let draft: JudgedDraft =
            serde_json::from_str(line).map_err(|err| bad_line(index + 1, err.to_string()))?;
        if let Some((id, grade)) = draft.relevant.iter().find(|(_, g)| **g > 3) {
            return Err(bad_line(
                index + 1,
                format!("grade {grade} of `{id}` is not 0, 1, 2 or 3"),
            ));
        }
        drafts.push((index + 1, draft));
    }
    Ok(drafts)
}

fn draft_case(line: usize, judged: &JudgedDraft, path: &Path) -> Result<DraftCase, EvalError> {
    let bad = |err: deflect::DraftError| EvalError::BadLine {
        path: path.to_path_buf(),
        line,
        message: err.to_string(),
    };
    Ok(DraftCase {
        case_type: judged.case_type.parse::<CaseType>().map_err(bad)?,
        severity: Severity::new(judged.severity).map_err(bad)?,
        product: judged.product.clone(),
        version: judged.version.clone(),
        audience: Visibility::Customer,
        limit: DEPTH,
        ..DraftCase::new(judged.subject.clone(), judged.description.clone())
    })
}

/// Indexes `kb_root` and measures deflection on the judged drafts of `part` in `draft_files`.
pub fn eval_drafts(
    kb_root: &Path,
    draft_files: &[PathBuf],
    part: Part,
    min_confidence: f32,
    model: Option<&EvalModel>,
    progress: &dyn Progress,
) -> Result<DraftEvalReport, EvalError> {
    let started = std::time::Instant::now();
    let (_tmp, searcher) = index_in_temp_dir(kb_root)?;
    let searcher = with_model(searcher, model, progress)?;
    let fusion = model.and_then(|m| m.fusion).unwrap_or_default();
    let mut drafts: Vec<(PathBuf, usize, JudgedDraft)> = Vec::new();
    for path in draft_files {
        let read = read_drafts(path)?;
        check_ids(&searcher, &read, path, kb_root)?;
        drafts.extend(
            read.into_iter()
                .filter(|(_, draft)| part.includes(&draft.id))
                .map(|(line, draft)| (path.clone(), line, draft)),
        );
    }
    progress.stage("drafts", drafts.len() as u64);
    let mut outcomes = Vec::new();
    let mut labelled: Vec<(f64, bool)> = Vec::new();
    let mut ranked_per_draft = Vec::new();
    for (path, line, judged) in &drafts {
        let case = draft_case(*line, judged, path)?;
        // Ranked without a threshold; what is shown is the part above it (plus policy additions).
        let ranked = Deflector::new(&searcher)
            .with_fusion(fusion)
            .deflect(&DraftCase {
                min_confidence: 0.0,
                ..case
            })?
            .suggestions;
        for suggestion in &ranked {
            let relevant = judged
                .relevant
                .get(&suggestion.info.id)
                .is_some_and(|g| *g >= 1);
            let feature = suggestion.fused_score.unwrap_or(suggestion.score_ratio);
            labelled.push((f64::from(feature), relevant));
        }
        let first_match = ranked.first();
        outcomes.push(DraftOutcome {
            id: judged.id.clone(),
            answerable: judged.relevant.values().any(|g| *g >= ANSWER_GRADE),
            shown: shown(&ranked, min_confidence),
            shown_matches: 0,
            top_ratio: first_match.map(|s| s.score_ratio),
            top_score: first_match.map(|s| s.score),
            top_similarity: first_match.and_then(|s| s.similarity),
            top_fused: first_match.and_then(|s| s.fused_score),
            ranked: ranked.iter().map(|s| s.info.id.clone()).collect(),
            ranked_ratio: ranked.iter().map(|s| s.score_ratio).collect(),
            ranked_similarity: ranked.iter().filter_map(|s| s.similarity).collect(),
            ranked_fused: ranked.iter().filter_map(|s| s.fused_score).collect(),
        });
        ranked_per_draft.push(ranked);
    }
    progress.finish();
    for (outcome, ranked) in outcomes.iter_mut().zip(&ranked_per_draft) {
        outcome.shown_matches = ranked
            .iter()
            .filter(|s| s.confidence >= min_confidence)
            .count();
    }
    let judged: Vec<&JudgedDraft> = drafts.iter().map(|(_, _, d)| d).collect();
    let sweep: Vec<ThresholdPoint> = (1..=9)
        .map(|tenth| {
            let threshold = tenth as f32 / 10.0;
            threshold_point(threshold, &ranked_per_draft, &judged)
        })
        .collect();
    let at_default = threshold_point(min_confidence, &ranked_per_draft, &judged);
    let answerable: Vec<(&DraftOutcome, &JudgedDraft)> = outcomes
        .iter()
        .zip(drafts.iter().map(|(_, _, d)| d))
        .filter(|(o, _)| o.answerable)
        .collect();
    let unanswerable: Vec<&DraftOutcome> = outcomes.iter().filter(|o| !o.answerable).collect();
    let mean = |values: Vec<f64>| -> f64 {
        if values.is_empty() {
            0.0
        } else {
            values.iter().sum::<f64>() / values.len() as f64
        }
    };
    let recall = |pick: fn(&DraftOutcome) -> &Vec<String>| {
        mean(
            answerable
                .iter()
                .map(|(o, d)| recall_at(pick(o), &answers(d)))
                .collect(),
        )
    };
    let mrr = |pick: fn(&DraftOutcome) -> &Vec<String>| {
        mean(
            answerable
                .iter()
                .map(|(o, d)| reciprocal_rank(pick(o), &answers(d)))
                .collect(),
        )
    };
    let auc_of = |top: fn(&DraftOutcome) -> Option<f32>| {
        let value = |o: &DraftOutcome| top(o).map_or(0.0, f64::from);
        auc(
            &answerable.iter().map(|(o, _)| value(o)).collect::<Vec<_>>(),
            &unanswerable.iter().map(|o| value(o)).collect::<Vec<_>>(),
        )
    };
    let with_model = outcomes.iter().any(|o| o.top_similarity.is_some());
    let mut per_kind = BTreeMap::new();
    let mut kinds: Vec<&String> = judged.iter().filter_map(|d| d.kind.as_ref()).collect();
    kinds.sort();
    kinds.dedup();
    for kind in kinds {
        let of_kind: Vec<&(&DraftOutcome, &JudgedDraft)> = answerable
            .iter()
            .filter(|(_, d)| d.kind.as_ref() == Some(kind))
            .collect();
        per_kind.insert(
            kind.clone(),
            KindScores {
                drafts: judged
                    .iter()
                    .filter(|d| d.kind.as_ref() == Some(kind))
                    .count(),
                answerable: of_kind.len(),
                ranking_recall_5: mean(
                    of_kind
                        .iter()
                        .map(|(o, d)| recall_at(&o.ranked, &answers(d)))
                        .collect(),
                ),
                ranking_mrr_5: mean(
                    of_kind
                        .iter()
                        .map(|(o, d)| reciprocal_rank(&o.ranked, &answers(d)))
                        .collect(),
                ),
            },
        );
    }
    Ok(DraftEvalReport {
        part,
        drafts: outcomes.len(),
        answerable: answerable.len(),
        unanswerable: unanswerable.len(),
        min_confidence,
        ranking_recall_5: recall(|o| &o.ranked),
        ranking_mrr_5: mrr(|o| &o.ranked),
        shown_recall_5: recall(|o| &o.shown),
        shown_mrr_5: mrr(|o| &o.shown),
        unanswerable_silent: if unanswerable.is_empty() {
            0.0
        } else {
            unanswerable.iter().filter(|o| o.shown_matches == 0).count() as f64
                / unanswerable.len() as f64
        },
        shown_precision: at_default.precision,
        shown_suggestions: at_default.suggestions,
        sweep,
        auc_ratio: auc_of(|o| o.top_ratio),
        auc_raw_score: auc_of(|o| o.top_score),
        auc_similarity: with_model.then(|| auc_of(|o| o.top_similarity)).flatten(),
        auc_fused: with_model.then(|| auc_of(|o| o.top_fused)).flatten(),
        calibration: fit_logistic(&labelled),
        per_kind,
        seconds: started.elapsed().as_secs_f64(),
        per_draft: outcomes,
    })
}

/// Every judged id must be an article of the knowledge base: a typo would count as a miss.
fn check_ids(
    searcher: &KbSearcher,
    drafts: &[(usize, JudgedDraft)],
    path: &Path,
    kb_root: &Path,
) -> Result<(), EvalError> {
    for (line, draft) in drafts {
        for id in draft.relevant.keys() {
            if !matches!(
                searcher.article(id, Visibility::Internal, true),
                Ok(Some(_))
            ) {
                return Err(EvalError::BadLine {
                    path: PathBuf::from(path),
                    line: *line,
                    message: format!("article id `{id}` is not in {}", kb_root.display()),
                });
            }
        }
    }
    Ok(())
}

/// The articles with the draft's highest grade, when it is an answer ([`ANSWER_GRADE`]): what
/// solves it.
fn answers(draft: &JudgedDraft) -> Vec<String> {
    let best = draft.relevant.values().copied().max().unwrap_or(0);
    draft
        .relevant
        .iter()
        .filter(|(_, g)| **g == best && best >= ANSWER_GRADE)
        .map(|(id, _)| id.clone())
        .collect()
}

fn recall_at(ranked: &[String], answers: &[String]) -> f64 {
    if answers.is_empty() {
        return 0.0;
    }
    let found = answers
        .iter()
        .filter(|a| ranked.iter().take(DEPTH).any(|r| r == *a))
        .count();
    found as f64 / answers.len() as f64
}

fn reciprocal_rank(ranked: &[String], answers: &[String]) -> f64 {
    ranked
        .iter()
        .take(DEPTH)
        .position(|r| answers.contains(r))
        .map_or(0.0, |rank| 1.0 / (rank as f64 + 1.0))
}

/// Probability that a random positive outscores a random negative (ties count half).
fn auc(positives: &[f64], negatives: &[f64]) -> Option<f64> {
    if positives.is_empty() || negatives.is_empty() {
        return None;
    }
    let mut wins = 0.0;
    for p in positives {
        for n in negatives {
            wins += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    Some(wins / (positives.len() * negatives.len()) as f64)
}

/// Fits `P(relevant) = 1 / (1 + e^-(a·x + b))` by Newton's method on (x, relevant) pairs.
fn fit_logistic(points: &[(f64, bool)]) -> (f64, f64) {
    let (mut a, mut b) = (0.0f64, 0.0f64);
    for _ in 0..50 {
        let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (x, y) in points {
            let p = 1.0 / (1.0 + (-(a * x + b)).exp());
            let err = p - if *y { 1.0 } else { 0.0 };
            ga += err * x;
            gb += err;
            let w = (p * (1.0 - p)).max(1e-9);
            haa += w * x * x;
            hab += w * x;
            hbb += w;
        }
        // A little ridge keeps the fit finite when the classes separate perfectly.
        haa += 1e-3;
        hbb += 1e-3;
        let det = haa * hbb - hab * hab;
        if det.abs() < 1e-12 {
            break;
        }
        let da = (hbb * ga - hab * gb) / det;
        let db = (haa * gb - hab * ga) / det;
        a -= da;
        b -= db;
        if da.abs() < 1e-9 && db.abs() < 1e-9 {
            break;
        }
    }
    (a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recall_and_rank_count_only_the_best_graded_answers() {
        let ranked = vec!["x".to_string(), "a".to_string()];
        assert_eq!(recall_at(&ranked, &["a".into(), "b".into()]), 0.5);
        assert_eq!(reciprocal_rank(&ranked, &["a".into()]), 0.5);
        assert_eq!(reciprocal_rank(&ranked, &["z".into()]), 0.0);
    }

    #[test]
    fn auc_and_logistic_fit_behave() {
        assert_eq!(auc(&[0.9, 0.8], &[0.1, 0.2]), Some(1.0));
        assert_eq!(auc(&[0.5], &[0.5]), Some(0.5));
        let points: Vec<(f64, bool)> = (0..100)
            .map(|i| (i as f64 / 100.0, (i * 7919 % 100) < i))
            .collect();
        let (a, _) = fit_logistic(&points);
        assert!(a > 0.0, "a higher ratio means more likely relevant: {a}");
    }
}
