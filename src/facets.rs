//! Facet counts: how many of a query's matches fall under each type, product, version and tag.
//! Counted from the keyword fields' fast columns in one pass over the matches; the search runs one
//! pass per distinct set of filters, because each facet ignores its own filter (so choosing
//! `help` still shows how many `kb` articles match).

use std::collections::HashMap;

use serde::Serialize;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::StrColumn;
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};

/// One facet value and how many matches carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FacetCount {
    pub value: String,
    pub count: u64,
}

/// Counts of every facet, largest first.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Facets {
    #[serde(rename = "type")]
    pub kind: Vec<FacetCount>,
    pub product: Vec<FacetCount>,
    pub version: Vec<FacetCount>,
    pub tag: Vec<FacetCount>,
}

/// Counts matches and the values of some keyword fields among them.
pub struct FacetCollector {
    fields: Vec<&'static str>,
}

impl FacetCollector {
    pub fn new(fields: Vec<&'static str>) -> Self {
        FacetCollector { fields }
    }
}

/// What one pass found: the number of matches and, per field, value → count.
#[derive(Debug, Default)]
pub struct FacetFruit {
    pub matches: u64,
    pub counts: Vec<HashMap<String, u64>>,
}

pub struct FacetSegmentCollector {
    columns: Vec<Option<StrColumn>>,
    /// Per field, count per term ordinal of this segment.
    by_ord: Vec<Vec<u64>>,
    matches: u64,
}

impl Collector for FacetCollector {
    type Fruit = FacetFruit;
    type Child = FacetSegmentCollector;

    fn for_segment(
        &self,
        _: SegmentOrdinal,
        segment: &SegmentReader,
    ) -> tantivy::Result<Self::Child> {
        let mut columns = Vec::new();
        let mut by_ord = Vec::new();
        for field in &self.fields {
            let column = segment.fast_fields().str(field)?;
            let terms = column.as_ref().map_or(0, |c| c.num_terms());
            by_ord.push(vec![0; terms]);
            columns.push(column);
        }
        Ok(FacetSegmentCollector {
            columns,
            by_ord,
            matches: 0,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<FacetFruit>) -> tantivy::Result<FacetFruit> {
        let mut merged = FacetFruit {
            matches: 0,
            counts: vec![HashMap::new(); self.fields.len()],
        };
        for fruit in fruits {
            merged.matches += fruit.matches;
            for (into, from) in merged.counts.iter_mut().zip(fruit.counts) {
                for (value, count) in from {
                    *into.entry(value).or_default() += count;
                }
            }
        }
        Ok(merged)
    }
}

impl SegmentCollector for FacetSegmentCollector {
    type Fruit = FacetFruit;

    fn collect(&mut self, doc: DocId, _: Score) {
        self.matches += 1;
        for (column, counts) in self.columns.iter().zip(self.by_ord.iter_mut()) {
            if let Some(column) = column {
                for ord in column.term_ords(doc) {
                    counts[ord as usize] += 1;
                }
            }
        }
    }

    fn harvest(self) -> FacetFruit {
        let mut counts = Vec::new();
        for (column, by_ord) in self.columns.iter().zip(self.by_ord) {
            let mut values = HashMap::new();
            if let Some(column) = column {
                // One sorted pass over the dictionary: looking ords up one by one would open
                // (and decompress) a dictionary block per value.
                let (ords, ord_counts): (Vec<u64>, Vec<u64>) = by_ord
                    .into_iter()
                    .enumerate()
                    .filter(|(_, c)| *c > 0)
                    .map(|(ord, count)| (ord as u64, count))
                    .unzip();
                let mut next = ord_counts.into_iter();
                let _ = column.dictionary().sorted_ords_to_term_cb(&ords, |bytes| {
                    if let Some(count) = next.next() {
                        values.insert(String::from_utf8_lossy(bytes).into_owned(), count);
                    }
                });
            }
            counts.push(values);
        }
        FacetFruit {
            matches: self.matches,
            counts,
        }
    }
}

/// Largest counts first, then by value.
pub fn sorted(counts: HashMap<String, u64>) -> Vec<FacetCount> {
    let mut out: Vec<FacetCount> = counts
        .into_iter()
        .map(|(value, count)| FacetCount { value, count })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    out
}
