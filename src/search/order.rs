//! Result order that depends on the visible content alone: score (or date), then the article
//! id's key ([`crate::index::schema::id_key`]). tantivy breaks ties by document address, which
//! depends on what else the index holds and on its segments: with it, a hidden article could
//! move a public one on a results page, and two replicas of the same content could page
//! differently, showing a customer one hit twice and missing another.
//!
//! Ranking by score keeps tantivy's pruned top-k collector: it asks for one document more than
//! needed, and only when that one ties with the last kept do the ties cross the cut; then the
//! matches are ranked by score and id key together (slower, and rare).

use tantivy::collector::TopDocs;
use tantivy::collector::sort_key::{SortBySimilarityScore, SortByStaticFastValue};
use tantivy::query::Query;
use tantivy::{DocAddress, Order, Score, Searcher};

use crate::index::schema::ID_KEY_FIELD;
use crate::search::audience::AudienceStats;

/// The `k` best matches of `query` by score under `stats`, equal scores by id key.
pub fn top_by_score(
    searcher: &Searcher,
    query: &dyn Query,
    stats: &AudienceStats,
    k: usize,
) -> tantivy::Result<Vec<(Score, DocAddress)>> {
    if k == 0 {
        return Ok(Vec::new());
    }
    let mut found = searcher.search_with_statistics_provider(
        query,
        &TopDocs::with_limit(k + 1).order_by_score(),
        stats,
    )?;
    let ties_cross_the_cut = found.len() > k && found[k].0 >= found[k - 1].0;
    if ties_cross_the_cut {
        let by_score_then_id = TopDocs::with_limit(k).order_by((
            (SortBySimilarityScore, Order::Desc),
            (
                SortByStaticFastValue::<u64>::for_field(ID_KEY_FIELD),
                Order::Asc,
            ),
        ));
        return Ok(searcher
            .search_with_statistics_provider(query, &by_score_then_id, stats)?
            .into_iter()
            .map(|((score, _), address)| (score, address))
            .collect());
    }
    found.truncate(k);
    let mut keyed = with_keys(searcher, found)?;
    keyed.sort_by(|(a_score, a_key, _), (b_score, b_key, _)| {
        b_score.total_cmp(a_score).then(a_key.cmp(b_key))
    });
    Ok(keyed
        .into_iter()
        .map(|(score, _, address)| (score, address))
        .collect())
}

/// The `k` most recently updated matches of `query`, equal dates by id key.
pub fn top_by_date(
    searcher: &Searcher,
    query: &dyn Query,
    k: usize,
) -> tantivy::Result<Vec<DocAddress>> {
    if k == 0 {
        return Ok(Vec::new());
    }
    let by_date_then_id = TopDocs::with_limit(k).order_by((
        (
            SortByStaticFastValue::<tantivy::DateTime>::for_field("updated"),
            Order::Desc,
        ),
        (
            SortByStaticFastValue::<u64>::for_field(ID_KEY_FIELD),
            Order::Asc,
        ),
    ));
    Ok(searcher
        .search(query, &by_date_then_id)?
        .into_iter()
        .map(|(_, address)| address)
        .collect())
}

/// The id key of each hit, read from the fast field.
fn with_keys(
    searcher: &Searcher,
    hits: Vec<(Score, DocAddress)>,
) -> tantivy::Result<Vec<(Score, u64, DocAddress)>> {
    hits.into_iter()
        .map(|(score, address)| {
            let keys = id_keys(searcher.segment_reader(address.segment_ord))?;
            Ok((score, keys.get_val(address.doc_id), address))
        })
        .collect()
}

/// The id keys of one segment's documents.
pub fn id_keys(
    segment: &tantivy::SegmentReader,
) -> tantivy::Result<std::sync::Arc<dyn tantivy::columnar::ColumnValues<u64>>> {
    Ok(segment
        .fast_fields()
        .u64(ID_KEY_FIELD)?
        .first_or_default_col(0))
}
