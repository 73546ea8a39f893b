//! Facet counts: how many of a query's matches fall under each type, product, version and tag.
//! The search runs one pass per distinct set of filters, because each facet ignores its own
//! filter (so choosing `help` still shows how many `kb` articles match).
//!
//! Segments never change, so each segment's facet values are read once from the fast fields into
//! a flat table (document → value ordinals, ordinal → text) and kept in a [`FacetCache`]; a
//! counting pass is then a few array reads per matching document.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde::Serialize;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::index::SegmentId;
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};

/// The keyword fields facets are counted on, in the order [`Facets`] lists them.
pub const FACET_FIELDS: [&str; 4] = ["type", "product", "versions", "tags"];

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

/// The values of one keyword field in one segment.
#[derive(Debug, Default)]
struct FieldTable {
    /// `ords[offsets[doc]..offsets[doc + 1]]` are the value ordinals of `doc`.
    offsets: Vec<u32>,
    ords: Vec<u32>,
    /// Ordinal → value.
    values: Vec<String>,
}

impl FieldTable {
    fn read(segment: &SegmentReader, field: &str) -> tantivy::Result<FieldTable> {
        let Some(column) = segment.fast_fields().str(field)? else {
            return Ok(FieldTable {
                offsets: vec![0; segment.max_doc() as usize + 1],
                ..FieldTable::default()
            });
        };
        let mut values = Vec::with_capacity(column.num_terms());
        let mut stream = column.dictionary().stream()?;
        while stream.advance() {
            values.push(String::from_utf8_lossy(stream.key()).into_owned());
        }
        let mut offsets = Vec::with_capacity(segment.max_doc() as usize + 1);
        let mut ords = Vec::new();
        offsets.push(0);
        for doc in 0..segment.max_doc() {
            ords.extend(column.term_ords(doc).map(|ord| ord as u32));
            offsets.push(ords.len() as u32);
        }
        Ok(FieldTable {
            offsets,
            ords,
            values,
        })
    }
}

/// All facet fields of one segment.
#[derive(Debug)]
pub struct SegmentTable {
    fields: Vec<FieldTable>,
    /// Every facet value of each document in one list, as ordinals of one space (field `f`'s
    /// ordinal `o` is `bases[f] + o`): counting all facets of a match, the usual search, reads
    /// one list instead of one per field.
    all: FieldTable,
    bases: Vec<usize>,
}

impl SegmentTable {
    fn new(fields: Vec<FieldTable>) -> SegmentTable {
        let mut bases = Vec::with_capacity(fields.len());
        let mut next = 0;
        for table in &fields {
            bases.push(next);
            next += table.values.len();
        }
        let docs = fields
            .first()
            .map_or(0, |t| t.offsets.len().saturating_sub(1));
        let mut all = FieldTable {
            offsets: Vec::with_capacity(docs + 1),
            ords: Vec::with_capacity(fields.iter().map(|t| t.ords.len()).sum()),
            values: Vec::new(),
        };
        all.offsets.push(0);
        for doc in 0..docs {
            for (table, base) in fields.iter().zip(&bases) {
                let (from, to) = (table.offsets[doc] as usize, table.offsets[doc + 1] as usize);
                all.ords
                    .extend(table.ords[from..to].iter().map(|ord| *ord + *base as u32));
            }
            all.offsets.push(all.ords.len() as u32);
        }
        SegmentTable { fields, all, bases }
    }

    /// The values of keyword field `field` (an index into [`FACET_FIELDS`]) for `doc`.
    pub fn values(&self, field: usize, doc: DocId) -> impl Iterator<Item = &str> {
        let table = &self.fields[field];
        let (from, to) = (
            table.offsets[doc as usize] as usize,
            table.offsets[doc as usize + 1] as usize,
        );
        table.ords[from..to]
            .iter()
            .map(|ord| table.values[*ord as usize].as_str())
    }
}

/// Facet tables of the segments seen so far, shared by all searches of one index.
#[derive(Debug, Default)]
pub struct FacetCache {
    segments: RwLock<HashMap<SegmentId, Arc<SegmentTable>>>,
}

impl FacetCache {
    /// The facet values of `segment`'s documents, read on first use.
    pub fn table(&self, segment: &SegmentReader) -> tantivy::Result<Arc<SegmentTable>> {
        let id = segment.segment_id();
        if let Some(table) = self.segments.read().expect("facet cache lock").get(&id) {
            return Ok(table.clone());
        }
        let fields = FACET_FIELDS
            .iter()
            .map(|field| FieldTable::read(segment, field))
            .collect::<tantivy::Result<Vec<_>>>()?;
        let table = Arc::new(SegmentTable::new(fields));
        self.segments
            .write()
            .expect("facet cache lock")
            .insert(id, table.clone());
        Ok(table)
    }

    /// Forgets segments that are no longer part of the index (merged away or deleted).
    pub fn retain(&self, live: &[SegmentId]) {
        self.segments
            .write()
            .expect("facet cache lock")
            .retain(|id, _| live.contains(id));
    }
}

/// Counts matches and the values of some facet fields (indexes into [`FACET_FIELDS`]).
pub struct FacetCollector {
    cache: Arc<FacetCache>,
    fields: Vec<usize>,
    listed: Listed,
}

/// Which values of a facet are listed: the `top` most frequent, and always the `chosen` ones
/// (the caller's filters, indexed like [`FACET_FIELDS`]), so a filter in use stays visible.
#[derive(Debug, Clone)]
pub struct Listed {
    pub top: usize,
    pub chosen: Arc<[Vec<String>; FACET_FIELDS.len()]>,
}

impl FacetCollector {
    pub fn new(cache: Arc<FacetCache>, fields: Vec<usize>, listed: Listed) -> Self {
        FacetCollector {
            cache,
            fields,
            listed,
        }
    }
}

/// What one pass found: the number of matches and, per requested field, the listed values
/// (see [`Listed`]), largest first (then by value).
#[derive(Debug, Default)]
pub struct FacetFruit {
    pub matches: u64,
    pub counts: Vec<Vec<FacetCount>>,
}

/// What one segment found: counts by value ordinal of that segment's table. Values become text
/// only once, when segments are merged, for the values that matched.
pub struct SegmentFacets {
    table: Arc<SegmentTable>,
    /// Per requested field, count per value ordinal.
    by_ord: Vec<Vec<u64>>,
    matches: u64,
}

pub struct FacetSegmentCollector {
    table: Arc<SegmentTable>,
    fields: Vec<usize>,
    /// Per requested field, count per value ordinal.
    by_ord: Vec<Vec<u64>>,
    /// When every field is requested: counts per ordinal of the table's one space, split by
    /// field at harvest.
    all: Option<Vec<u64>>,
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
        let table = self.cache.table(segment)?;
        let every_field = self.fields.iter().copied().eq(0..FACET_FIELDS.len());
        let (by_ord, all) = if every_field {
            let space = table.fields.iter().map(|t| t.values.len()).sum();
            (Vec::new(), Some(vec![0; space]))
        } else {
            let by_ord = self
                .fields
                .iter()
                .map(|f| vec![0; table.fields[*f].values.len()])
                .collect();
            (by_ord, None)
        };
        Ok(FacetSegmentCollector {
            table,
            fields: self.fields.clone(),
            by_ord,
            all,
            matches: 0,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, segments: Vec<SegmentFacets>) -> tantivy::Result<FacetFruit> {
        let matches = segments.iter().map(|s| s.matches).sum();
        let counts = self
            .fields
            .iter()
            .enumerate()
            .map(|(position, field)| {
                // Keyed by the tables' own strings: only a listed value is copied.
                let largest = segments
                    .iter()
                    .map(|s| s.table.fields[*field].values.len())
                    .max()
                    .unwrap_or(0);
                let mut merged: HashMap<&str, u64, foldhash::fast::RandomState> =
                    HashMap::with_capacity_and_hasher(largest, Default::default());
                for segment in &segments {
                    let values = &segment.table.fields[*field].values;
                    for (ord, count) in segment.by_ord[position].iter().enumerate() {
                        if *count > 0 {
                            *merged.entry(values[ord].as_str()).or_default() += count;
                        }
                    }
                }
                self.listed
                    .pick(*field, merged.into_iter().collect())
                    .into_iter()
                    .map(|(value, count)| FacetCount {
                        value: value.to_string(),
                        count,
                    })
                    .collect()
            })
            .collect();
        Ok(FacetFruit { matches, counts })
    }
}

impl SegmentCollector for FacetSegmentCollector {
    type Fruit = SegmentFacets;

    fn collect(&mut self, doc: DocId, _: Score) {
        self.matches += 1;
        let doc = doc as usize;
        if let Some(counts) = &mut self.all {
            let table = &self.table.all;
            let (from, to) = (table.offsets[doc] as usize, table.offsets[doc + 1] as usize);
            for ord in &table.ords[from..to] {
                counts[*ord as usize] += 1;
            }
            return;
        }
        for (field, counts) in self.fields.iter().zip(self.by_ord.iter_mut()) {
            let table = &self.table.fields[*field];
            let (from, to) = (table.offsets[doc] as usize, table.offsets[doc + 1] as usize);
            for ord in &table.ords[from..to] {
                counts[*ord as usize] += 1;
            }
        }
    }

    fn harvest(self) -> SegmentFacets {
        let by_ord = match self.all {
            Some(all) => self
                .table
                .fields
                .iter()
                .zip(&self.table.bases)
                .map(|(field, base)| all[*base..*base + field.values.len()].to_vec())
                .collect(),
            None => self.by_ord,
        };
        SegmentFacets {
            table: self.table,
            by_ord,
            matches: self.matches,
        }
    }
}

/// Largest counts first, then by value.
impl Listed {
    /// The listed values of `field` among `counts`, largest first (then by value). A field has
    /// hundreds of tags, of which a page lists twenty: a partial selection, not a sort of all.
    fn pick<'a>(&self, field: usize, mut counts: Vec<(&'a str, u64)>) -> Vec<(&'a str, u64)> {
        let order = |a: &(&str, u64), b: &(&str, u64)| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0));
        if counts.len() > self.top {
            if self.top > 0 {
                counts.select_nth_unstable_by(self.top - 1, order);
            }
            let chosen = &self.chosen[field];
            let rest = counts.split_off(self.top);
            counts.extend(
                rest.into_iter()
                    .filter(|(value, _)| chosen.iter().any(|c| c == value)),
            );
        }
        counts.sort_unstable_by(order);
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The partial selection lists what sorting every value and keeping the first `top` and the
    /// chosen ones lists, on generated counts with many ties.
    #[test]
    fn listed_values_are_the_top_of_a_full_sort_plus_the_chosen() {
        let mut rng = fastrand::Rng::with_seed(16);
        for _ in 0..500 {
            let names: Vec<String> = (0..rng.usize(0..60)).map(|i| format!("v{i}")).collect();
            let counts: Vec<(&str, u64)> = names
                .iter()
                .map(|name| (name.as_str(), rng.u64(1..6)))
                .collect();
            let chosen: Vec<String> = names
                .iter()
                .filter(|_| rng.usize(0..10) == 0)
                .cloned()
                .collect();
            let top = rng.usize(0..25);
            let listed = Listed {
                top,
                chosen: Arc::new([Vec::new(), Vec::new(), Vec::new(), chosen.clone()]),
            };
            let mut expected = counts.clone();
            expected.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
            let expected: Vec<(&str, u64)> = expected
                .into_iter()
                .enumerate()
                .filter(|(i, (value, _))| *i < top || chosen.iter().any(|c| c == value))
                .map(|(_, pair)| pair)
                .collect();
            assert_eq!(listed.pick(3, counts), expected, "top {top}");
        }
    }
}
