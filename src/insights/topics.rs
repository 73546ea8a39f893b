//! "What to write next": unanswered drafts and no-result queries grouped by what they are about,
//! so that a writer sees a missing article as one large group rather than forty scattered texts.
//!
//! Each text becomes the set of its analysed words (the index's English analyser: stop words
//! removed, stemmed, so "copying" and "copied" are one word), each weighted by how rare it is
//! among the texts (inverse document frequency: a word every text has, like the product's name,
//! links nothing). Two texts are as similar as the weight of the words they share over the weight
//! of the shorter text's words (an overlap coefficient: a three-word query and the draft that
//! says the same in forty words are alike). Groups form by average-linkage agglomeration: the
//! two most similar groups merge, as long as their members are on average at least
//! [`Grouping::threshold`] alike. Average linkage keeps a group about one thing (single linkage
//! would chain a group across topics through one text that mentions two); the threshold is fitted
//! on one part of `kb/write-next.jsonl` and reported on the other (`kbsearch eval --write-next`).

use std::collections::HashMap;

use tantivy::tokenizer::{TextAnalyzer, TokenStream};

use crate::index::analysis::query_analyzer;

/// The threshold fitted on the fitting part of `kb/write-next.jsonl` for words alone (best
/// B-cubed F1 there).
pub const WORDS_THRESHOLD: f32 = 0.25;
/// The threshold fitted there for words and sentence vectors together.
pub const WITH_MODEL_THRESHOLD: f32 = 0.3;
/// The weight of word overlap beside the cosine of sentence vectors (fitted with the threshold).
const WORD_WEIGHT: f32 = 0.5;

/// Most texts grouped at once: the merging costs the square of their number in memory and time.
pub const MAX_TEXTS: usize = 1_500;

/// One text to group, with how many times it was seen (a query searched five times counts five).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unanswered {
    pub text: String,
    pub weight: u64,
}

/// Texts about one thing.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Indexes into the texts grouped, the most typical (most alike to the others) first.
    pub members: Vec<usize>,
    /// The members' weights summed: groups are listed by it, largest first.
    pub weight: u64,
    /// Words at least half of the members have, as most of them spell them, most shared first.
    pub shared_words: Vec<String>,
}

/// How texts are grouped.
#[derive(Debug, Clone, Copy)]
pub struct Grouping {
    /// The least average similarity at which two groups still merge.
    pub threshold: f32,
}

impl Grouping {
    /// The fitted grouping: by words, or by words and sentence vectors.
    pub fn fitted(with_model: bool) -> Grouping {
        let threshold = if with_model {
            WITH_MODEL_THRESHOLD
        } else {
            WORDS_THRESHOLD
        };
        Grouping { threshold }
    }
}

impl Grouping {
    /// Groups `texts` (at most [`MAX_TEXTS`]; the rest are left out), largest group first;
    /// a text alike to no other is a group of one.
    pub fn group(&self, texts: &[Unanswered]) -> Vec<Group> {
        self.group_with(texts, None)
    }

    /// As [`Grouping::group`], with each text's sentence vector (normalised) when a model is
    /// configured: two texts are then as alike as the mean of their word overlap and the cosine
    /// of their vectors, which links texts that say the same in other words.
    pub fn group_with(&self, texts: &[Unanswered], vectors: Option<&[Vec<f32>]>) -> Vec<Group> {
        let texts = &texts[..texts.len().min(MAX_TEXTS)];
        let vocabulary = Vocabulary::of(texts);
        let mut similarity = vocabulary.similarities();
        if let Some(vectors) = vectors {
            for i in 0..texts.len() {
                for j in 0..texts.len() {
                    if i != j {
                        let cos = crate::semantic::model::dot(&vectors[i], &vectors[j]);
                        similarity[i][j] =
                            WORD_WEIGHT * similarity[i][j] + (1.0 - WORD_WEIGHT) * cos;
                    }
                }
            }
        }
        let clusters = average_linkage(similarity.clone(), self.threshold);
        let mut groups: Vec<Group> = clusters
            .into_iter()
            .map(|members| vocabulary.describe(members, &similarity, texts))
            .collect();
        groups.sort_by(|a, b| {
            b.weight
                .cmp(&a.weight)
                .then(b.members.len().cmp(&a.members.len()))
                .then(a.members[0].cmp(&b.members[0]))
        });
        groups
    }
}

/// Every text's words, and the words' weights over all texts.
struct Vocabulary {
    /// Per text: its stems' ids, sorted, once each.
    texts: Vec<Vec<usize>>,
    /// Per stem: its weight (inverse document frequency).
    idf: Vec<f32>,
    /// Per stem: how it was written, with counts.
    spellings: Vec<HashMap<String, u32>>,
}

impl Vocabulary {
    fn of(texts: &[Unanswered]) -> Vocabulary {
        let mut analyzer: TextAnalyzer = query_analyzer();
        let mut ids: HashMap<String, usize> = HashMap::new();
        let mut spellings: Vec<HashMap<String, u32>> = Vec::new();
        let mut document_frequency: Vec<u32> = Vec::new();
        let mut analysed = Vec::with_capacity(texts.len());
        for unanswered in texts {
            let mut stems = Vec::new();
            let mut stream = analyzer.token_stream(&unanswered.text);
            while stream.advance() {
                let token = stream.token();
                let next = ids.len();
                let id = *ids.entry(token.text.clone()).or_insert(next);
                if id == spellings.len() {
                    spellings.push(HashMap::new());
                    document_frequency.push(0);
                }
                let written = unanswered.text[token.offset_from..token.offset_to].to_lowercase();
                *spellings[id].entry(written).or_default() += 1;
                stems.push(id);
            }
            stems.sort_unstable();
            stems.dedup();
            for &stem in &stems {
                document_frequency[stem] += 1;
            }
            analysed.push(stems);
        }
        let n = texts.len() as f32;
        let idf = document_frequency
            .iter()
            .map(|&df| ((1.0 + n) / (1.0 + df as f32)).ln())
            .collect();
        Vocabulary {
            texts: analysed,
            idf,
            spellings,
        }
    }

    fn weight(&self, stems: &[usize]) -> f32 {
        stems.iter().map(|&s| self.idf[s]).sum()
    }

    /// The overlap coefficient of every pair, weighted by rarity: shared weight over the lighter
    /// text's weight. A full square matrix, row-major.
    fn similarities(&self) -> Vec<Vec<f32>> {
        let n = self.texts.len();
        let weights: Vec<f32> = self.texts.iter().map(|t| self.weight(t)).collect();
        let mut matrix = vec![vec![0.0; n]; n];
        for i in 0..n {
            for j in i + 1..n {
                let shared = shared_weight(&self.texts[i], &self.texts[j], &self.idf);
                let lighter = weights[i].min(weights[j]);
                let similarity = if lighter > 0.0 { shared / lighter } else { 0.0 };
                matrix[i][j] = similarity;
                matrix[j][i] = similarity;
            }
        }
        matrix
    }

    /// A cluster as a group: its most typical member first, its weight, its shared words.
    fn describe(
        &self,
        mut members: Vec<usize>,
        similarity: &[Vec<f32>],
        texts: &[Unanswered],
    ) -> Group {
        let typicality: HashMap<usize, f32> = members
            .iter()
            .map(|&m| (m, members.iter().map(|&o| similarity[m][o]).sum()))
            .collect();
        members.sort_by(|a, b| typicality[b].total_cmp(&typicality[a]).then(a.cmp(b)));
        let weight = members.iter().map(|&m| texts[m].weight.max(1)).sum();
        let mut counts: HashMap<usize, usize> = HashMap::new();
        for &m in &members {
            for &stem in &self.texts[m] {
                *counts.entry(stem).or_default() += 1;
            }
        }
        let mut shared: Vec<(usize, usize)> = if members.len() < 2 {
            Vec::new()
        } else {
            counts
                .into_iter()
                .filter(|&(_, count)| count * 2 >= members.len())
                .collect()
        };
        shared.sort_by(|a, b| {
            b.1.cmp(&a.1)
                .then(self.idf[b.0].total_cmp(&self.idf[a.0]))
                .then(a.0.cmp(&b.0))
        });
        let shared_words = shared
            .into_iter()
            .map(|(stem, _)| self.spelling(stem))
            .collect();
        Group {
            members,
            weight,
            shared_words,
        }
    }

    /// How a stem is most often written (the first in alphabetical order among equals).
    fn spelling(&self, stem: usize) -> String {
        self.spellings[stem]
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(word, _)| word.clone())
            .unwrap_or_default()
    }
}

/// The summed weight of the stems two sorted lists share.
fn shared_weight(a: &[usize], b: &[usize], idf: &[f32]) -> f32 {
    let (mut i, mut j, mut sum) = (0, 0, 0.0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                sum += idf[a[i]];
                i += 1;
                j += 1;
            }
        }
    }
    sum
}

/// Average-linkage agglomeration: merges the two most alike clusters while their average
/// similarity is at least `threshold`. Each row remembers its best partner, so a merge costs a
/// pass over the rows rather than over every pair.
fn average_linkage(mut similarity: Vec<Vec<f32>>, threshold: f32) -> Vec<Vec<usize>> {
    let n = similarity.len();
    let mut members: Vec<Vec<usize>> = (0..n).map(|i| vec![i]).collect();
    let mut alive = vec![true; n];
    let best_of = |row: &[f32], alive: &[bool], i: usize| -> Option<(usize, f32)> {
        row.iter()
            .enumerate()
            .filter(|&(j, _)| j != i && alive[j])
            .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
            .map(|(j, &s)| (j, s))
    };
    let mut best: Vec<Option<(usize, f32)>> =
        (0..n).map(|i| best_of(&similarity[i], &alive, i)).collect();
    loop {
        let pair = (0..n)
            .filter(|&i| alive[i])
            .filter_map(|i| best[i].map(|(j, s)| (i, j, s)))
            .max_by(|a, b| a.2.total_cmp(&b.2).then(b.0.cmp(&a.0)));
        let Some((keep, gone, score)) = pair else {
            break;
        };
        if score < threshold {
            break;
        }
        let (size_keep, size_gone) = (members[keep].len() as f32, members[gone].len() as f32);
        for k in 0..n {
            if !alive[k] || k == keep || k == gone {
                continue;
            }
            let merged = (size_keep * similarity[keep][k] + size_gone * similarity[gone][k])
                / (size_keep + size_gone);
            similarity[keep][k] = merged;
            similarity[k][keep] = merged;
        }
        alive[gone] = false;
        let moved = std::mem::take(&mut members[gone]);
        members[keep].extend(moved);
        for i in 0..n {
            if !alive[i] {
                continue;
            }
            let stale = matches!(best[i], Some((j, _)) if j == keep || j == gone);
            if i == keep || stale {
                best[i] = best_of(&similarity[i], &alive, i);
            } else if let Some((_, s)) = best[i]
                && similarity[i][keep] > s
            {
                best[i] = Some((keep, similarity[i][keep]));
            }
        }
    }
    (0..n)
        .filter(|&i| alive[i])
        .map(|i| std::mem::take(&mut members[i]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(items: &[&str]) -> Vec<Unanswered> {
        items
            .iter()
            .map(|text| Unanswered {
                text: text.to_string(),
                weight: 1,
            })
            .collect()
    }

    #[test]
    fn texts_about_one_thing_form_one_group_with_their_shared_words() {
        let items = texts(&[
            "SharePoint Online migration fails with throttling",
            "Invoice address change for our licence",
            "migrating to sharepoint online gets throttled",
            "How do I change the billing address on the invoice?",
            "sharepoint online",
            "Scheduled report email never arrives",
        ]);
        let groups = Grouping::fitted(false).group(&items);
        let sharepoint = groups
            .iter()
            .find(|g| g.members.contains(&0))
            .expect("every text is in a group");
        let mut members = sharepoint.members.clone();
        members.sort();
        assert_eq!(members, [0, 2, 4], "{groups:#?}");
        assert_eq!(groups[0], *sharepoint, "the largest group comes first");
        assert!(
            sharepoint.shared_words.contains(&"sharepoint".to_string()),
            "{:?}",
            sharepoint.shared_words
        );
        let invoice = groups.iter().find(|g| g.members.contains(&1)).unwrap();
        let mut members = invoice.members.clone();
        members.sort();
        assert_eq!(members, [1, 3]);
        let alone = groups.iter().find(|g| g.members.contains(&5)).unwrap();
        assert_eq!(alone.members, [5], "a text alike to none is alone");
        assert!(alone.shared_words.is_empty());
    }

    #[test]
    fn weights_order_the_groups() {
        let mut items = texts(&[
            "vpn drops",
            "vpn drops again",
            "proxy auth",
            "proxy auth fails",
        ]);
        items[2].weight = 10;
        let groups = Grouping::fitted(false).group(&items);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].weight, 11);
        assert!(groups[0].members.contains(&2));
    }

    #[test]
    fn nothing_to_group_is_no_group() {
        assert!(Grouping::fitted(false).group(&[]).is_empty());
        let blank = texts(&["", "the and of"]);
        let groups = Grouping::fitted(false).group(&blank);
        assert_eq!(
            groups.len(),
            2,
            "texts without words stay apart: {groups:?}"
        );
    }

    /// The merge with remembered best partners gives what merging the best pair of all pairs
    /// gives, on generated similarity matrices.
    #[test]
    fn the_fast_merge_equals_the_plain_one() {
        let mut seed = 7u64;
        let mut random = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % 1000) as f32 / 1000.0
        };
        for n in [1, 2, 5, 30, 60] {
            let mut matrix = vec![vec![0.0; n]; n];
            for (i, j) in (0..n).flat_map(|i| (i + 1..n).map(move |j| (i, j))) {
                let s = random();
                matrix[i][j] = s;
                matrix[j][i] = s;
            }
            for threshold in [0.2, 0.5, 0.9] {
                let mut fast = average_linkage(matrix.clone(), threshold);
                let mut plain = plain_average_linkage(&matrix, threshold);
                for cluster in fast.iter_mut().chain(plain.iter_mut()) {
                    cluster.sort();
                }
                fast.sort();
                plain.sort();
                assert_eq!(fast, plain, "n {n}, threshold {threshold}");
            }
        }
    }

    /// Average linkage by its definition: the pair of clusters with the highest mean pairwise
    /// similarity merges, until none reaches the threshold.
    fn plain_average_linkage(matrix: &[Vec<f32>], threshold: f32) -> Vec<Vec<usize>> {
        let mut clusters: Vec<Vec<usize>> = (0..matrix.len()).map(|i| vec![i]).collect();
        loop {
            let mut best: Option<(usize, usize, f32)> = None;
            for a in 0..clusters.len() {
                for b in a + 1..clusters.len() {
                    let sum: f32 = clusters[a]
                        .iter()
                        .flat_map(|&i| clusters[b].iter().map(move |&j| matrix[i][j]))
                        .sum();
                    let mean = sum / (clusters[a].len() * clusters[b].len()) as f32;
                    if best.is_none_or(|(_, _, s)| mean > s) {
                        best = Some((a, b, mean));
                    }
                }
            }
            match best {
                Some((a, b, mean)) if mean >= threshold => {
                    let moved = clusters.remove(b);
                    clusters[a].extend(moved);
                }
                _ => return clusters,
            }
        }
    }
}
