//! The repository's own sample knowledge base: clean, well ranked, and internal articles stay
//! internal.

mod common;

use common::sample_kb;
use kbsearch::config::DEFAULT_MAX_FILE_BYTES;
use kbsearch::content::article::Visibility;
use kbsearch::ingest::indexer::{IndexOptions, Indexer};
use kbsearch::ingest::progress::Silent;
use kbsearch::quality::check::check_folder;
use kbsearch::quality::draft_eval::eval_drafts;
use kbsearch::quality::eval::eval_judgments;
use kbsearch::quality::split::Part;
use kbsearch::search::{KbSearcher, SearchRequest};

#[test]
fn the_sample_kb_has_no_problems() {
    let report = check_folder(&sample_kb(), DEFAULT_MAX_FILE_BYTES);
    assert!(report.problems.is_empty(), "{:#?}", report.problems);
    assert!(report.articles >= 60, "{} articles", report.articles);
}

fn sample_searcher() -> (tempfile::TempDir, KbSearcher) {
    let tmp = tempfile::tempdir().unwrap();
    let options = IndexOptions::new(sample_kb(), tmp.path());
    Indexer::refresh(&options, &Silent).unwrap();
    let searcher = KbSearcher::open(tmp.path(), &sample_kb()).unwrap();
    (tmp, searcher)
}

#[test]
fn the_demo_query_finds_the_access_denied_article_first() {
    let (_tmp, searcher) = sample_searcher();
    let results = searcher
        .search(&SearchRequest::new("smb share access denied"))
        .unwrap();
    assert_eq!(
        results.hits[0].info.id,
        "smb-share-access-denied-0x80070005"
    );
    assert!(results.hits[0].snippet.to_html().contains("<mark>"));
}

#[test]
fn internal_words_never_reach_customers() {
    let (_tmp, searcher) = sample_searcher();
    for word in ["quokkaflow", "marmotdump", "DEF-88213", "orcawatch"] {
        for audience in [Visibility::Public, Visibility::Customer] {
            let mut request = SearchRequest::new(word);
            request.audience = audience;
            let results = searcher.search(&request).unwrap();
            assert_eq!(results.total, 0, "{word} leaked to {audience}");
        }
        let mut agent = SearchRequest::new(word);
        agent.audience = Visibility::Internal;
        assert!(
            searcher.search(&agent).unwrap().total > 0,
            "{word} is in an internal article"
        );
    }
}

#[test]
fn the_hand_judged_queries_rank_well() {
    let kb = sample_kb();
    let report = eval_judgments(
        &kb,
        &[kb.join("judgments.tsv")],
        Part::All,
        Visibility::Customer,
        None,
        &Silent,
    )
    .unwrap();
    assert!(
        report.metrics.queries >= 40,
        "{} judged queries",
        report.metrics.queries
    );
    assert!(
        report.metrics.scores.ndcg_10 >= 0.85,
        "nDCG@10 {:.4}",
        report.metrics.scores.ndcg_10
    );
}

#[test]
fn the_blind_judgments_read_with_kinds_unanswered_queries_and_both_parts() {
    let kb = sample_kb();
    let files = [kb.join("judgments-blind.tsv")];
    let all = eval_judgments(&kb, &files, Part::All, Visibility::Public, None, &Silent).unwrap();
    let fit = eval_judgments(&kb, &files, Part::Fit, Visibility::Public, None, &Silent).unwrap();
    let test = eval_judgments(&kb, &files, Part::Test, Visibility::Public, None, &Silent).unwrap();
    assert!(all.unanswerable >= 50, "{} unanswered", all.unanswerable);
    assert_eq!(
        fit.metrics.queries + test.metrics.queries,
        all.metrics.queries,
        "every answerable query is in exactly one part"
    );
    assert!(fit.metrics.queries > 30 && test.metrics.queries > 30);
    for kind in [
        "symptom",
        "error code",
        "how-to",
        "topic",
        "typo",
        "version",
        "policy",
    ] {
        assert!(all.per_kind.contains_key(kind), "kind {kind}");
    }
}

#[test]
fn the_blind_drafts_read_with_kinds_and_parts() {
    let kb = sample_kb();
    let files = [kb.join("deflection-blind.jsonl")];
    let all = eval_drafts(&kb, &files, Part::All, 0.4, None, &Silent).unwrap();
    let fit = eval_drafts(&kb, &files, Part::Fit, 0.4, None, &Silent).unwrap();
    assert_eq!(all.drafts, 170);
    assert!(all.unanswerable * 3 >= all.drafts, "a third unanswerable");
    assert!(
        fit.drafts > 50 && fit.drafts < 120,
        "{} in the fitting part",
        fit.drafts
    );
    assert!(all.per_kind.contains_key("vague"));
}
