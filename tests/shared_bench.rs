//! Benchmark material from `../shared/bench`: another team's real knowledge base, and a public
//! relevance collection with a published BM25 baseline. Skipped with a message where the folder
//! is absent; required under CI.

mod common;

use common::shared_bench;
use kbsearch::config::DEFAULT_MAX_FILE_BYTES;
use kbsearch::content::article::Visibility;
use kbsearch::ingest::indexer::{IndexOptions, Indexer};
use kbsearch::ingest::progress::Silent;
use kbsearch::quality::check::check_folder;
use kbsearch::quality::eval::eval_beir;
use kbsearch::search::{KbSearcher, SearchRequest};

#[test]
fn the_real_kb_indexes_with_warnings_only_and_every_file_accounted_for() {
    let Some(bench) = shared_bench() else { return };
    let realkb = bench.join("realkb/mskb");
    let check = check_folder(&realkb, DEFAULT_MAX_FILE_BYTES);
    // The copy leaves out the vendor's shared includes and media folders: links and images into
    // them are reported, and rightly so. Every article itself must read cleanly.
    let outside_the_copy = |p: &&kbsearch::content::problem::Problem| {
        p.message.starts_with("link to `") || p.message.starts_with("image `")
    };
    let errors: Vec<_> = check
        .problems
        .iter()
        .filter(|p| p.is_error())
        .filter(|p| !outside_the_copy(p))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let cross: Vec<_> = check.problems.iter().filter(outside_the_copy).collect();
    assert!(
        cross.len() < 60,
        "a few links point outside the copy, not most: {}",
        cross.len()
    );
    assert!(
        check.warnings > 0,
        "unknown keys such as ms.date are reported"
    );
    assert!(
        check.problems.iter().all(|p| p.line.is_some()),
        "every warning names its line"
    );

    let tmp = tempfile::tempdir().unwrap();
    let report = Indexer::refresh(&IndexOptions::new(&realkb, tmp.path()), &Silent).unwrap();
    assert_eq!(
        report.documents as usize + report.changes.skipped,
        report.files_seen,
        "indexed or reported"
    );
    assert_eq!(report.changes.skipped, 0);

    let searcher = KbSearcher::open(tmp.path(), &realkb).unwrap();
    for query in [
        "backup fails 0x80070005",
        "DFSR event 2213",
        "\\\\server\\share access denied",
        "[!NOTE]",
        "vssadmin list writers",
    ] {
        let mut request = SearchRequest::new(query);
        request.audience = Visibility::Internal;
        let results = searcher.search(&request).unwrap();
        assert!(results.total > 0, "{query}");
    }
    let top = searcher
        .search(&SearchRequest::new("backup fails 0x80070005"))
        .unwrap();
    assert_eq!(
        top.hits[0].info.id,
        "articles/backup-and-storage/cannot-back-up-server-error-0x80070005"
    );
}

#[test]
fn scifact_train_reaches_the_bm25_baseline() {
    let Some(bench) = shared_bench() else { return };
    let scifact = bench.join("relevance/scifact");
    let report = eval_beir(
        &scifact.join("corpus.jsonl"),
        &scifact.join("queries-train.jsonl"),
        &scifact.join("qrels-train.tsv"),
        None,
        None,
        &Silent,
    )
    .unwrap();
    let metrics = &report.metrics;
    assert_eq!(metrics.queries, 809);
    assert!(
        metrics.scores.ndcg_10 >= 0.69,
        "nDCG@10 {:.4}",
        metrics.scores.ndcg_10
    );
    assert!(
        metrics.scores.recall_100 >= 0.92,
        "Recall@100 {:.4}",
        metrics.scores.recall_100
    );
}
