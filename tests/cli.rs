//! The `kbsearch` binary end to end: real files, real index, real process.

mod common;

use std::process::{Command, Output};

use common::Kb;

fn kbsearch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kbsearch"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run kbsearch")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn index_then_search_prints_ranked_highlighted_hits() {
    let kb = Kb::new();
    kb.article(
        "articles/a.md",
        "Cutover fails with ERR_SHARE_LOCKED",
        "versions: [7.8.0]\n",
        "## Resolution\n\nClose the open files on the share.",
    );
    kb.article("articles/b.md", "Other", "", "Nothing to see about files.");
    let (kb_dir, index_dir) = (kb.kb.to_str().unwrap(), kb.index.to_str().unwrap());

    let index = kbsearch(&["index", "--kb", kb_dir, "--index", index_dir]);
    assert!(index.status.success(), "{}", stderr(&index));
    assert!(
        stdout(&index).contains("2 articles searchable (2 added"),
        "{}",
        stdout(&index)
    );

    let search = kbsearch(&[
        "search",
        "open files share",
        "--kb",
        kb_dir,
        "--index",
        index_dir,
    ]);
    assert!(search.status.success(), "{}", stderr(&search));
    let text = stdout(&search);
    let first = text.lines().next().unwrap();
    assert!(
        first.contains("1. Cutover fails with ERR_SHARE_LOCKED"),
        "{text}"
    );
    assert!(text.contains("articles/a · kb · versions 7.8.0"), "{text}");
    assert!(text.contains("**open** **files**"), "highlighted: {text}");
    assert!(text.contains("#resolution"), "{text}");

    let json = kbsearch(&[
        "search",
        "ERR_SHARE_LOCKED",
        "--kb",
        kb_dir,
        "--index",
        index_dir,
        "--json",
        "--type",
        "kb",
    ]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(value["total"], 1);
    assert_eq!(value["hits"][0]["id"], "articles/a");
}

#[test]
fn search_builds_a_missing_index_first() {
    let kb = Kb::new();
    kb.article("articles/a.md", "Auto built", "", "serval");
    let output = kbsearch(&[
        "search",
        "serval",
        "--kb",
        kb.kb.to_str().unwrap(),
        "--index",
        kb.index.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("Auto built"));
}

#[test]
fn bad_queries_and_filters_give_clear_messages() {
    let kb = Kb::new();
    kb.article("articles/a.md", "A", "", "x");
    let (kb_dir, index_dir) = (kb.kb.to_str().unwrap(), kb.index.to_str().unwrap());
    let empty = kbsearch(&["search", "", "--kb", kb_dir, "--index", index_dir]);
    assert!(!empty.status.success());
    assert!(
        stderr(&empty).contains("the query is empty"),
        "{}",
        stderr(&empty)
    );
    let bad_type = kbsearch(&[
        "search", "x", "--type", "faq", "--kb", kb_dir, "--index", index_dir,
    ]);
    assert!(
        stderr(&bad_type).contains("`faq` is not one of: kb, help, release-note"),
        "{}",
        stderr(&bad_type)
    );
    let bad_version = kbsearch(&[
        "search",
        "x",
        "--version",
        "1.0",
        "--kb",
        kb_dir,
        "--index",
        index_dir,
    ]);
    assert!(
        stderr(&bad_version).contains("unknown version `1.0`"),
        "{}",
        stderr(&bad_version)
    );
    let nothing = kbsearch(&["search", "zzzz", "--kb", kb_dir, "--index", index_dir]);
    assert!(nothing.status.success());
    assert!(stdout(&nothing).contains("no articles match `zzzz`"));
}

#[test]
fn check_exits_1_on_errors_and_0_with_warnings_only() {
    let kb = Kb::new();
    kb.article("articles/a.md", "A", "colour: blue\n", "x");
    let kb_dir = kb.kb.to_str().unwrap();
    let warnings_only = kbsearch(&["check", "--kb", kb_dir]);
    assert_eq!(warnings_only.status.code(), Some(0));
    assert!(
        stdout(&warnings_only)
            .contains("articles/a.md:3: warning: unknown front matter key `colour` is ignored")
    );

    kb.write("articles/empty.md", "");
    let with_error = kbsearch(&["check", "--kb", kb_dir, "--format", "json"]);
    assert_eq!(with_error.status.code(), Some(1));
    let value: serde_json::Value = serde_json::from_slice(&with_error.stdout).expect("json");
    assert_eq!(value["errors"], 1);
    assert_eq!(value["problems"][0]["path"], "articles/a.md");
    assert_eq!(value["problems"][0]["line"], 3);

    let missing = kbsearch(&["check", "--kb", "/nonexistent/kb"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("does not exist"));
}

/// `kbsearch eval` of the kb's `judgments.tsv`, with `extra` arguments.
fn eval_kb_judgments(kb: &Kb, extra: &[&str]) -> Output {
    let judgments = kb.path("judgments.tsv");
    let mut args = vec![
        "eval",
        "--judgments",
        judgments.to_str().unwrap(),
        "--kb",
        kb.kb.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    kbsearch(&args)
}

#[test]
fn eval_scores_the_kb_judgments() {
    let kb = Kb::new();
    kb.article("articles/a.md", "Cutover open files", "", "x");
    kb.article("articles/b.md", "Baseline copy slow", "", "x");
    kb.write(
        "judgments.tsv",
        "query\tarticle_id\tgrade\nopen files\tarticles/a\t3\nslow copy\tarticles/b\t2\n",
    );
    let output = eval_kb_judgments(&kb, &["--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(value["metrics"]["ndcg@10"], 1.0);
    assert_eq!(value["metrics"]["queries"], 2);
}

/// A role's ranking is judged on the articles that role may see: an anonymous caller is never
/// shown a customer article, so its grade is left out rather than counted as a miss.
#[test]
fn eval_judges_a_role_on_the_articles_it_may_see() {
    let kb = Kb::new();
    kb.article("articles/a.md", "Cutover open files", "", "x");
    kb.article(
        "articles/b.md",
        "Open files during cutover",
        "visibility: customer\n",
        "x",
    );
    kb.write(
        "judgments.tsv",
        "query\tarticle_id\tgrade\nopen files\tarticles/b\t3\nopen files\tarticles/a\t1\n",
    );
    let eval = |role: &str| {
        let output = eval_kb_judgments(&kb, &["--role", role, "--json"]);
        assert!(output.status.success(), "{}", stderr(&output));
        serde_json::from_slice::<serde_json::Value>(&output.stdout).expect("json")
    };
    let anonymous = eval("anonymous");
    assert_eq!(anonymous["unseen"], 1);
    assert_eq!(anonymous["metrics"]["ndcg@10"], 1.0, "{anonymous}");
    assert_eq!(anonymous["unanswerable"], 1, "grade 1 is not an answer");
    let customer = eval("customer");
    assert_eq!(customer["unseen"], 0);
    assert_eq!(customer["unanswerable"], 0);
}

#[test]
fn eval_names_the_line_of_a_judged_id_that_does_not_exist() {
    let kb = Kb::new();
    kb.article("articles/a.md", "Cutover open files", "", "x");
    kb.write(
        "judgments.tsv",
        "query\tarticle_id\tgrade\nopen files\tarticles/a\t3\nopen files\tarticles/typo\t2\n",
    );
    let output = eval_kb_judgments(&kb, &[]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("judgments.tsv:3: article id `articles/typo` is not in"),
        "{message}"
    );
}

#[test]
fn eval_on_a_beir_collection_writes_a_trec_run() {
    let kb = Kb::new();
    kb.write("corpus.jsonl", "{\"_id\": \"d1\", \"title\": \"Stale handles\", \"text\": \"NFS stale file handle\"}\n{\"_id\": \"d2\", \"title\": \"Quotas\", \"text\": \"disk quota full\"}\n");
    kb.write("queries.jsonl", "{\"_id\": \"q1\", \"text\": \"stale nfs handle\"}\n{\"_id\": \"q2\", \"text\": \"quota\"}\n");
    kb.write(
        "qrels.tsv",
        "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n",
    );
    let run = kb.path("run.txt");
    let output = kbsearch(&[
        "eval",
        "--corpus",
        kb.path("corpus.jsonl").to_str().unwrap(),
        "--queries",
        kb.path("queries.jsonl").to_str().unwrap(),
        "--qrels",
        kb.path("qrels.tsv").to_str().unwrap(),
        "--run-out",
        run.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("nDCG@10 1.0000"),
        "{}",
        stdout(&output)
    );
    let lines = std::fs::read_to_string(run).unwrap();
    assert_eq!(
        lines,
        "q1 Q0 d1 1 100.0 kbsearch\nq2 Q0 d2 1 100.0 kbsearch\n"
    );
    let bad = kbsearch(&[
        "eval",
        "--corpus",
        kb.path("qrels.tsv").to_str().unwrap(),
        "--queries",
        kb.path("queries.jsonl").to_str().unwrap(),
        "--qrels",
        kb.path("qrels.tsv").to_str().unwrap(),
    ]);
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("qrels.tsv:1:"),
        "names the file and line: {}",
        stderr(&bad)
    );
}
