//! How well "what to write next" groups unanswered texts, on a labelled set
//! (`kb/write-next.jsonl`: drafts and queries about topics the knowledge base does not cover,
//! written blind from the articles' titles and summaries, and one-offs that belong to no topic).
//!
//! The figures are B-cubed precision and recall, the usual measures of a clustering against
//! labels: for each text, the share of its group that has its topic (precision) and the share of
//! its topic that is in its group (recall); a one-off is its own topic. Beside them, in words a
//! writer would use: the share of each topic's texts that land in its largest group, and the
//! share of one-offs left alone. The set is split by topic (a one-off by its text), so that the
//! threshold is fitted on topics the reported part never saw.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::eval::EvalError;
use super::split::Part;
use crate::insights::topics::{Grouping, Unanswered};

/// One labelled text.
#[derive(Debug, Clone, Deserialize)]
pub struct LabelledText {
    /// `draft` or `query`; read for the report only.
    pub kind: String,
    /// The missing topic it asks about; `None` for a one-off.
    pub topic: Option<String>,
    pub text: String,
}

impl LabelledText {
    /// The key the split deals by: the topic, or a one-off's text.
    fn split_key(&self) -> &str {
        self.topic.as_deref().unwrap_or(&self.text)
    }
}

/// The figures for one threshold.
#[derive(Debug, Clone, Serialize)]
pub struct GroupingScore {
    pub threshold: f32,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Mean over topics of the share of the topic's texts in its largest group.
    pub topic_together: f64,
    /// Share of one-offs in a group of their own.
    pub one_offs_alone: f64,
    /// Groups of two or more texts.
    pub groups: usize,
}

/// The report of `kbsearch eval --write-next`.
#[derive(Debug, Clone, Serialize)]
pub struct GroupingReport {
    pub part: Part,
    pub texts: usize,
    pub topics: usize,
    pub one_offs: usize,
    /// At the threshold the service uses.
    pub score: GroupingScore,
    /// Other thresholds, for fitting (on the fitting part only).
    pub sweep: Vec<GroupingScore>,
}

/// Reads a labelled set; a line that is not a labelled text is an error naming the line.
pub fn read_labelled(path: &Path) -> Result<Vec<LabelledText>, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|error| EvalError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| {
            serde_json::from_str(line).map_err(|err| EvalError::BadLine {
                path: path.to_path_buf(),
                line: n + 1,
                message: err.to_string(),
            })
        })
        .collect()
}

/// Groups the part's texts at `threshold` and at the sweep's thresholds, and scores each.
pub fn eval_grouping(
    labelled: &[LabelledText],
    part: Part,
    threshold: f32,
    encoder: Option<&crate::semantic::Encoder>,
) -> Result<GroupingReport, EvalError> {
    let texts: Vec<&LabelledText> = labelled
        .iter()
        .filter(|t| part.includes(t.split_key()))
        .collect();
    let mut topics: Vec<&str> = texts.iter().filter_map(|t| t.topic.as_deref()).collect();
    topics.sort_unstable();
    topics.dedup();
    let vectors = match encoder {
        Some(encoder) => Some(
            texts
                .iter()
                .map(|t| encoder.encode_within(&t.text, crate::semantic::REQUEST_TOKENS))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => None,
    };
    let vectors = vectors.as_deref();
    let sweep = (1..=16)
        .map(|step| score(&texts, step as f32 * 0.05, vectors))
        .collect();
    Ok(GroupingReport {
        part,
        texts: texts.len(),
        topics: topics.len(),
        one_offs: texts.iter().filter(|t| t.topic.is_none()).count(),
        score: score(&texts, threshold, vectors),
        sweep,
    })
}

fn score(texts: &[&LabelledText], threshold: f32, vectors: Option<&[Vec<f32>]>) -> GroupingScore {
    let items: Vec<Unanswered> = texts
        .iter()
        .map(|t| Unanswered {
            text: t.text.clone(),
            weight: 1,
        })
        .collect();
    let groups = Grouping { threshold }.group_with(&items, vectors);
    let mut group_of = vec![0; texts.len()];
    for (g, group) in groups.iter().enumerate() {
        for &member in &group.members {
            group_of[member] = g;
        }
    }
    // A one-off's label is its own index, so that it agrees with no other text.
    let labels: Vec<String> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| t.topic.clone().unwrap_or_else(|| format!("one-off {i}")))
        .collect();
    let (mut precision, mut recall) = (0.0, 0.0);
    for i in 0..texts.len() {
        let same_group = (0..texts.len()).filter(|&j| group_of[j] == group_of[i]);
        let same_label = (0..texts.len()).filter(|&j| labels[j] == labels[i]);
        let both = same_group
            .clone()
            .filter(|&j| labels[j] == labels[i])
            .count() as f64;
        precision += both / same_group.count() as f64;
        recall += both / same_label.count() as f64;
    }
    let n = texts.len().max(1) as f64;
    let (precision, recall) = (precision / n, recall / n);
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    let mut per_topic: HashMap<&str, HashMap<usize, usize>> = HashMap::new();
    for (i, t) in texts.iter().enumerate() {
        if let Some(topic) = t.topic.as_deref() {
            *per_topic
                .entry(topic)
                .or_default()
                .entry(group_of[i])
                .or_default() += 1;
        }
    }
    let topic_together = mean(per_topic.values().map(|groups| {
        let largest = groups.values().max().copied().unwrap_or(0);
        largest as f64 / groups.values().sum::<usize>() as f64
    }));
    let one_offs_alone = mean(
        texts
            .iter()
            .enumerate()
            .filter(|(_, t)| t.topic.is_none())
            .map(|(i, _)| f64::from(u8::from(groups[group_of[i]].members.len() == 1))),
    );
    GroupingScore {
        threshold,
        precision,
        recall,
        f1,
        topic_together,
        one_offs_alone,
        groups: groups.iter().filter(|g| g.members.len() > 1).count(),
    }
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(sum, n), v| (sum + v, n + 1));
    if n == 0 { 0.0 } else { sum / n as f64 }
}
