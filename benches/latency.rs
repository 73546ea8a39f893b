//! Per-query latency distribution of in-process search (p50, p95, p99, max), the numbers the
//! service targets are stated in. Criterion (`benches/search.rs`) reports means; this reports
//! tails.
//!
//! Same inputs as `benches/search.rs`: the sample `kb/` and its judged queries by default, or
//! `KBSEARCH_BENCH_KB` and `KBSEARCH_BENCH_QUERIES` for a synthetic knowledge base. Each query
//! runs as an anonymous portal search would: top 10, snippets, facets, spelling.
//!
//! `KBSEARCH_BENCH_MODEL` (a sentence-transformers folder): search with the semantic layer, every
//! article embedded first (cached in the index folder's `vectors/`; keep it with
//! `KBSEARCH_BENCH_INDEX`). Queries of four words or more are then reranked by the vectors; the
//! figures are also given for short and long queries apart.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use kbsearch::ingest::indexer::{IndexOptions, Indexer};
use kbsearch::ingest::progress::Silent;
use kbsearch::search::{KbSearcher, SearchRequest};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run only when asked.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let kb = std::env::var("KBSEARCH_BENCH_KB").map_or_else(|_| PathBuf::from("kb"), PathBuf::from);
    let queries: Vec<String> = match std::env::var("KBSEARCH_BENCH_QUERIES") {
        Ok(path) => std::fs::read_to_string(path)
            .expect("read queries")
            .lines()
            .map(str::to_string)
            .collect(),
        Err(_) => kbsearch::quality::eval::read_judgments(&PathBuf::from("kb/judgments.tsv"))
            .expect("judgments")
            .into_iter()
            .map(|judgment| judgment.query)
            .collect(),
    };
    let tmp = tempfile::tempdir().expect("temp dir");
    let index = std::env::var("KBSEARCH_BENCH_INDEX")
        .map_or_else(|_| tmp.path().to_path_buf(), PathBuf::from);
    Indexer::refresh(&IndexOptions::new(&kb, &index), &Silent).expect("index");
    let searcher = KbSearcher::open(&index, &kb).expect("searcher");
    let semantic = std::env::var_os("KBSEARCH_BENCH_MODEL").map(|model| {
        let semantic = std::sync::Arc::new(
            kbsearch::semantic::Semantic::open(
                std::path::Path::new(&model),
                Some(&index.join(kbsearch::semantic::VECTORS_DIR)),
            )
            .expect("load the model"),
        );
        kbsearch::semantic::catch_up(&semantic, searcher.searcher(), &Silent, true).expect("embed");
        semantic
    });
    let searcher = searcher.with_semantic(semantic);
    let run = |query: &str, snippets: bool, facets: bool| {
        let mut request = SearchRequest::new(query);
        request.facets = facets;
        request.snippets = snippets;
        let started = Instant::now();
        let _ = searcher.search(&request);
        started.elapsed()
    };
    for query in queries.iter().take(200) {
        run(query, true, true);
    }
    let only = std::env::var("KBSEARCH_BENCH_VARIANT").ok();
    let variants = [
        ("top 10 + snippets + facets + spelling", true, true),
        ("top 10 + snippets", true, false),
        ("top 10 + facets + spelling", false, true),
        ("top 10 only", false, false),
    ];
    for (label, snippets, facets) in variants
        .into_iter()
        .filter(|(label, _, _)| only.as_deref().is_none_or(|o| label.contains(o)))
    {
        let times: Vec<Duration> = queries.iter().map(|q| run(q, snippets, facets)).collect();
        print_distribution(
            &format!("{} | {} queries | {label}", kb.display(), times.len()),
            times,
        );
    }
    // Short and long queries apart: only long ones may use the vectors.
    let words = |q: &String| q.split_whitespace().count();
    for (label, long) in [
        ("queries under 4 words", false),
        ("queries of 4+ words", true),
    ] {
        let times: Vec<Duration> = queries
            .iter()
            .filter(|q| (words(q) >= 4) == long)
            .map(|q| run(q, true, true))
            .collect();
        if times.is_empty() {
            continue;
        }
        let what = format!("{} | {} {label} | full", kb.display(), times.len());
        print_distribution(&what, times);
    }
}

/// One line of the report: `what`, then the distribution of `times`.
fn print_distribution(what: &str, mut times: Vec<Duration>) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{what} | p50 {:.3} ms | p95 {:.3} ms | p99 {:.3} ms | max {:.3} ms",
        ms(percentile(&times, 0.50)),
        ms(percentile(&times, 0.95)),
        ms(percentile(&times, 0.99)),
        ms(times.last().copied().unwrap_or_default()),
    );
}
