//! In-process search latency: query building, ranking, snippets and result shaping, on one
//! thread, over a real index.
//!
//! By default it indexes the sample `kb/` and cycles through the queries of `kb/judgments.tsv`.
//! For the synthetic knowledge bases of `../shared/bench` set
//! `KBSEARCH_BENCH_KB=/path/to/kb10000` and `KBSEARCH_BENCH_QUERIES=/path/to/short.txt`
//! (one query a line, from `gen_corpus.py queries`); see `benches/README.md`.

use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use kbsearch::content::article::Visibility;
use kbsearch::ingest::indexer::{IndexOptions, Indexer};
use kbsearch::ingest::progress::Silent;
use kbsearch::search::{KbSearcher, SearchRequest};

fn queries() -> Vec<String> {
    if let Ok(path) = std::env::var("KBSEARCH_BENCH_QUERIES") {
        let text = std::fs::read_to_string(&path).expect("read KBSEARCH_BENCH_QUERIES");
        return text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect();
    }
    let judgments = kbsearch::quality::eval::read_judgments(&PathBuf::from("kb/judgments.tsv"))
        .expect("judgments");
    let mut queries: Vec<String> = judgments
        .into_iter()
        .map(|judgment| judgment.query)
        .collect();
    queries.dedup();
    queries
}

fn search(c: &mut Criterion) {
    let kb = std::env::var("KBSEARCH_BENCH_KB").map_or_else(|_| PathBuf::from("kb"), PathBuf::from);
    let tmp = tempfile::tempdir().expect("temp dir");
    Indexer::refresh(&IndexOptions::new(&kb, tmp.path()), &Silent).expect("index");
    let searcher = KbSearcher::open(tmp.path(), &kb).expect("searcher");
    let queries = queries();
    let mut next = queries.iter().cycle();
    let mut group = c.benchmark_group("search");
    group.measurement_time(Duration::from_secs(10));
    group.bench_function(format!("top10_with_snippets/{}", kb.display()), |b| {
        b.iter(|| {
            let mut request = SearchRequest::new(next.next().expect("queries cycle").as_str());
            request.audience = Visibility::Internal;
            // Queries of only common words are a clear error, not a failure of the benchmark.
            let _ = searcher.search(&request);
        });
    });
    group.finish();
}

criterion_group!(benches, search);
criterion_main!(benches);
