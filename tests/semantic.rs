//! The semantic layer on the real model (all-MiniLM-L6-v2): the encoder agrees with the
//! published model, vectors are cached and reused, and the layer never blocks the lexical index.
//! Skipped with a message when the model is absent (see `common::test_model`); required under CI.

mod common;

use std::sync::Arc;

use common::{Kb, test_encoder, test_model};
use kbsearch::content::article::Visibility;
use kbsearch::deflect::{Deflector, DraftCase, semantic_confidence};
use kbsearch::ingest::progress::Silent;
use kbsearch::search::SearchRequest;
use kbsearch::semantic::model::cosine;
use kbsearch::semantic::{Embedder, Encoder, Pooling, REQUEST_TOKENS, Semantic, catch_up};

#[test]
fn the_encoder_agrees_with_the_published_model() {
    let Some(encoder) = test_encoder() else {
        return;
    };
    assert_eq!(encoder.dimensions(), 384);
    // sentence_bert_config.json's length, not the tokenizer file's 128.
    assert_eq!(encoder.max_tokens(), 256);
    assert_eq!(encoder.pooling(), Pooling::Mean);
    assert!(encoder.normalizes());
    let vectors = encoder
        .encode(&[
            "How do I reset my password",
            "I forgot my password",
            "The cat sat on the mat",
        ])
        .unwrap();
    let similar = cosine(&vectors[0], &vectors[1]);
    let unrelated = cosine(&vectors[0], &vectors[2]);
    assert!(
        (similar - 0.79).abs() <= 0.02,
        "cos(reset, forgot) = {similar}"
    );
    assert!(
        (unrelated - 0.09).abs() <= 0.02,
        "cos(reset, cat) = {unrelated}"
    );
    let norm: f32 = vectors[0].iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4, "normalised: {norm}");
}

#[test]
fn padding_in_a_batch_does_not_change_a_vector() {
    let Some(encoder) = test_encoder() else {
        return;
    };
    let short = "Cutover fails";
    let long = "The baseline copy of the SMB share stops after an hour with access denied on \
                every file below the projects folder, although the service account is an admin";
    let alone = encoder.encode_one(short).unwrap();
    let batched = encoder.encode(&[long, short]).unwrap();
    assert!(cosine(&alone, &batched[1]) > 0.9999);
}

#[test]
fn texts_longer_than_the_model_reads_are_cut_to_its_length() {
    let Some(encoder) = test_encoder() else {
        return;
    };
    // 256 tokens: everything past them must not change the vector.
    let words: Vec<String> = (0..400).map(|i| format!("word{i}")).collect();
    let long = words.join(" ");
    let longer = format!("{long} and a very different ending about cats and the sea");
    let a = encoder.encode_one(&long).unwrap();
    let b = encoder.encode_one(&longer).unwrap();
    assert!(cosine(&a, &b) > 0.9999);

    // A request's text is read to REQUEST_TOKENS: what follows does not count, what precedes
    // does (the cut is not at the model's 256).
    let short_cut = |text: &str| encoder.encode_within(text, REQUEST_TOKENS).unwrap();
    assert!(cosine(&short_cut(&long), &short_cut(&longer)) > 0.9999);
    assert!(
        cosine(&short_cut(&long), &a) < 0.9999,
        "the request cut reads less"
    );
}

#[test]
fn model_identity_changes_with_its_files() {
    let Some(model) = test_model() else {
        return;
    };
    // The folder itself may be a link (a shared download): copy what it points to.
    let model = model.canonicalize().unwrap();
    let copy = tempfile::tempdir().unwrap();
    for entry in walkdir::WalkDir::new(&model) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(&model).unwrap();
        let target = copy.path().join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else if rel.to_str() == Some("model.safetensors") {
            std::os::unix::fs::symlink(entry.path(), &target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
    let same = Encoder::load(copy.path()).unwrap();
    let original = test_encoder().unwrap();
    assert_eq!(same.id(), original.id());
    std::fs::write(
        copy.path().join("sentence_bert_config.json"),
        r#"{"max_seq_length": 128, "do_lower_case": false}"#,
    )
    .unwrap();
    let shorter = Encoder::load(copy.path()).unwrap();
    assert_ne!(shorter.id(), original.id());
    assert_eq!(shorter.max_tokens(), 128);
}

#[test]
fn vectors_are_computed_once_and_reused_across_restarts_and_rebuilds() {
    let Some(encoder) = test_encoder() else {
        return;
    };
    let kb = Kb::new();
    kb.article(
        "a.md",
        "Cutover fails with open files",
        "",
        "Close the files and retry.",
    );
    kb.article(
        "b.md",
        "Slow baseline copy",
        "",
        "Raise the number of threads.",
    );
    // The same text as a.md: embedded once.
    kb.article(
        "c.md",
        "Cutover fails with open files",
        "",
        "Close the files and retry.",
    );
    kb.index();
    let cache = kb.index.join("vectors");
    let semantic = Arc::new(Semantic::with_cache(encoder.clone(), &cache).unwrap());
    let searcher = kb.searcher();
    let first = catch_up(&semantic, searcher.searcher(), &Silent, true).unwrap();
    assert_eq!((first.embedded, first.reused), (2, 0));
    assert_eq!(semantic.status().embedded, 3);
    let vectors = semantic.vectors().for_searcher(searcher.searcher());
    assert!(vectors.get(tantivy::DocAddress::new(0, 0)).is_some());
    assert_eq!(semantic.status().pending, 0);

    // A restart, one article edited: only it is embedded again.
    kb.article(
        "b.md",
        "Slow baseline copy",
        "",
        "Raise the number of copy threads.",
    );
    kb.index();
    let again = Arc::new(Semantic::with_cache(encoder.clone(), &cache).unwrap());
    let second = catch_up(&again, kb.searcher().searcher(), &Silent, true).unwrap();
    assert_eq!((second.embedded, second.reused), (1, 2));

    // The index deleted and rebuilt: nothing to embed.
    std::fs::remove_dir_all(
        kb.index.join(
            std::fs::read_to_string(kb.index.join("CURRENT"))
                .unwrap()
                .trim(),
        ),
    )
    .unwrap();
    std::fs::remove_file(kb.index.join("CURRENT")).unwrap();
    kb.index();
    let rebuilt = Arc::new(Semantic::with_cache(encoder, &cache).unwrap());
    let third = catch_up(&rebuilt, kb.searcher().searcher(), &Silent, true).unwrap();
    assert_eq!((third.embedded, third.reused), (0, 3));
}

/// The sample knowledge base, indexed, with the test model over it (every article embedded),
/// and the same searcher without a model.
fn sample_with_model() -> Option<(
    Kb,
    kbsearch::search::KbSearcher,
    kbsearch::search::KbSearcher,
)> {
    let model = common::Model::for_tests()?;
    let kb = Kb::sample();
    kb.index();
    let with = kb.searcher();
    let semantic = model.semantic(&with);
    let without = kb.searcher();
    Some((kb, with.with_semantic(Some(semantic)), without))
}

/// A customer's draft about a cutover that open files stop, shown every suggestion.
fn open_files_draft() -> DraftCase {
    DraftCase {
        audience: Visibility::Customer,
        min_confidence: 0.0,
        ..DraftCase::new(
            "cutover keeps failing",
            "the final cutover stops because users still have files open on the source share",
        )
    }
}

#[test]
fn deflection_fuses_words_and_vectors_and_keeps_its_confidence_a_probability() {
    let Some((_kb, with, _without)) = sample_with_model() else {
        return;
    };
    let draft = open_files_draft();
    let deflection = Deflector::new(&with).deflect(&draft).unwrap();
    assert!(!deflection.suggestions.is_empty());
    let first = &deflection.suggestions[0];
    assert_eq!(first.info.id, "cutover-fails-err-share-locked-open-files");
    for pair in deflection.suggestions.windows(2) {
        assert!(
            pair[0].fused_score >= pair[1].fused_score,
            "ordered by fused score"
        );
    }
    for suggestion in &deflection.suggestions {
        let similarity = suggestion.similarity.expect("a cosine with a model");
        assert!((-1.0..=1.0).contains(&similarity));
        let fused = suggestion.fused_score.expect("a fused score with a model");
        assert_eq!(suggestion.confidence, semantic_confidence(fused));
    }
    // Nothing the knowledge base covers: nothing shown at the default threshold.
    let unrelated = DraftCase {
        audience: Visibility::Customer,
        ..DraftCase::new(
            "recipe for dinner",
            "what should I cook tonight, something with pasta and tomatoes for four people",
        )
    };
    assert!(
        Deflector::new(&with)
            .deflect(&unrelated)
            .unwrap()
            .suggestions
            .is_empty()
    );
}

#[test]
fn a_draft_in_other_words_still_finds_its_article_by_meaning() {
    let Some((_kb, with, without)) = sample_with_model() else {
        return;
    };
    // None of the article's distinctive words ("ERR_SHARE_LOCKED", "open files", "cutover").
    let draft = DraftCase {
        audience: Visibility::Customer,
        min_confidence: 0.0,
        limit: 5,
        ..DraftCase::new(
            "switch-over to the new filer refused",
            "people are still working in their documents on the old server so the move at the end cannot complete",
        )
    };
    let ids = |searcher| -> Vec<String> {
        Deflector::new(searcher)
            .deflect(&draft)
            .unwrap()
            .suggestions
            .into_iter()
            .map(|s| s.info.id)
            .collect()
    };
    let by_meaning = ids(&with);
    eprintln!(
        "with the model: {by_meaning:?}\nwithout: {:?}",
        ids(&without)
    );
    assert!(
        by_meaning
            .iter()
            .any(|id| id == "cutover-fails-err-share-locked-open-files"),
        "{by_meaning:?}"
    );
}

#[test]
fn until_its_candidates_have_vectors_a_draft_is_ranked_lexically() {
    let Some(encoder) = test_encoder() else {
        return;
    };
    let kb = Kb::sample();
    kb.index();
    // A model, but no vector computed yet.
    let empty = Arc::new(Semantic::with_encoder(
        encoder,
        kbsearch::semantic::store::VectorStore::in_memory("test", 384),
    ));
    let waiting = kb.searcher().with_semantic(Some(empty));
    let lexical = kb.searcher();
    let draft = DraftCase {
        audience: Visibility::Customer,
        ..DraftCase::new("cutover fails", "ERR_SHARE_LOCKED when files are open")
    };
    let a = Deflector::new(&waiting).deflect(&draft).unwrap();
    let b = Deflector::new(&lexical).deflect(&draft).unwrap();
    assert_eq!(
        serde_json::to_value(&a.suggestions).unwrap(),
        serde_json::to_value(&b.suggestions).unwrap()
    );
    // Search too.
    let mut request = SearchRequest::new("why does the cutover fail with open files");
    request.audience = Visibility::Customer;
    let ids = |searcher: &kbsearch::search::KbSearcher| -> Vec<String> {
        searcher
            .search(&request)
            .unwrap()
            .hits
            .into_iter()
            .map(|h| h.info.id)
            .collect()
    };
    assert_eq!(ids(&waiting), ids(&lexical));
}

#[test]
fn long_queries_are_reranked_and_short_ones_are_left_alone() {
    let Some((_kb, with, without)) = sample_with_model() else {
        return;
    };
    let run = |searcher: &kbsearch::search::KbSearcher, query: &str, limit: usize| {
        let mut request = SearchRequest::new(query);
        request.audience = Visibility::Customer;
        request.limit = limit;
        searcher.search(&request).unwrap()
    };
    let ids = |results: &kbsearch::search::SearchResults| -> Vec<String> {
        results.hits.iter().map(|h| h.info.id.clone()).collect()
    };
    for short in ["cutover", "smb access denied", "0x80070005"] {
        assert_eq!(
            serde_json::to_value(run(&with, short, 10).hits).unwrap(),
            serde_json::to_value(run(&without, short, 10).hits).unwrap(),
            "{short}"
        );
    }
    let question = "how do I make the baseline copy go faster";
    let reranked = run(&with, question, 50);
    let lexical = run(&without, question, 50);
    assert_eq!(reranked.total, lexical.total);
    let mut a = ids(&reranked);
    let mut b = ids(&lexical);
    assert_eq!(a[0], "baseline-copy-slow-throughput", "{a:?}");
    a.sort();
    b.sort();
    assert_eq!(a, b, "the same results, reordered");
    // Pages agree with the whole ranking.
    let mut second = SearchRequest::new(question);
    second.audience = Visibility::Customer;
    second.limit = 5;
    second.offset = 5;
    let page: Vec<String> = with
        .search(&second)
        .unwrap()
        .hits
        .into_iter()
        .map(|h| h.info.id)
        .collect();
    assert_eq!(page, ids(&reranked)[5..10].to_vec());
}

/// One request's text is embedded at a time: while the model is busy, drafts and long queries
/// are answered lexically at once (not queued), counted, and such a search is not cached.
#[test]
fn while_the_model_is_busy_requests_are_answered_lexically_and_not_cached() {
    let Some((_kb, with, without)) = sample_with_model() else {
        return;
    };
    let with = with.with_cache_entries(16);
    let semantic = with.semantic().unwrap().clone();
    let draft = open_files_draft();
    let mut question = SearchRequest::new("how do I make the baseline copy go faster");
    question.audience = Visibility::Customer;
    let ids = |results: &kbsearch::search::SearchResults| -> Vec<String> {
        results.hits.iter().map(|h| h.info.id.clone()).collect()
    };
    let by_vectors = ids(&with.search(&question).unwrap());
    let lexical = ids(&without.search(&question).unwrap());
    assert_ne!(by_vectors, lexical, "a query the vectors reorder");

    let before = semantic.status();
    {
        let _busy = semantic.hold_request_slot();
        let deflection = Deflector::new(&with).deflect(&draft).unwrap();
        assert!(!deflection.suggestions.is_empty());
        assert!(
            deflection
                .suggestions
                .iter()
                .all(|s| s.similarity.is_none()),
            "ranked lexically while the model is busy"
        );
        let expected = Deflector::new(&without).deflect(&draft).unwrap();
        assert_eq!(
            serde_json::to_value(&deflection.suggestions).unwrap(),
            serde_json::to_value(&expected.suggestions).unwrap()
        );
        assert_eq!(ids(&with.search_cached(&question).unwrap()), lexical);
    }
    let after = semantic.status();
    assert_eq!(after.requests_busy, before.requests_busy + 2);
    // The lexical answer was not cached: the same search, the model free again, uses it.
    assert_eq!(ids(&with.search_cached(&question).unwrap()), by_vectors);
    assert!(after.requests_embedded >= before.requests_embedded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_embedder_catches_up_and_reports_its_progress() {
    let Some(encoder) = test_encoder() else {
        return;
    };
    let kb = Kb::new();
    for i in 0..20 {
        kb.article(
            &format!("articles/a{i}.md"),
            &format!("Article number {i} about migrations"),
            "",
            &format!("Body {i}: the migration copies shares from the source to the destination."),
        );
    }
    kb.index();
    let cache = tempfile::tempdir().unwrap();
    let semantic = Arc::new(Semantic::with_cache(encoder, cache.path()).unwrap());
    let embedder = Embedder::start(semantic.clone()).unwrap();
    let searcher = kb.searcher();
    let state = kbsearch::server::AppState::new(kb.app_config())
        .with_semantic(semantic.clone(), Some(embedder.handle()));
    // What the live indexer does after a commit.
    state.searcher.store(Some(Arc::new(
        kb.searcher().with_semantic(Some(semantic.clone())),
    )));
    embedder.handle().offer(searcher.searcher().clone());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while semantic.status().embedded < 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            semantic.status()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let status = semantic.status();
    assert_eq!((status.documents, status.pending), (20, 0));
    assert!(status.per_second > 0.0);
    assert!(std::fs::read_dir(cache.path()).unwrap().any(|e| {
        e.unwrap()
            .path()
            .extension()
            .is_some_and(|x| x == "vectors")
    }));
    let app = kbsearch::server::router(state);
    let reply = common::get(&app, "/api/status", Some(common::AGENT_KEY)).await;
    let json = reply.json();
    assert_eq!(json["semantic"]["embedded"], 20);
    assert_eq!(json["semantic"]["pending"], 0);
    assert_eq!(json["semantic"]["dimensions"], 384);
    let metrics = common::get(&app, "/metrics", Some(common::AGENT_KEY)).await;
    assert!(
        metrics
            .body
            .contains("kbsearch_semantic_articles_embedded 20"),
        "{}",
        metrics.body
    );
    assert!(
        metrics
            .body
            .contains("kbsearch_semantic_articles_pending 0")
    );
    embedder.shutdown();
}
