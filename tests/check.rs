//! Checks across articles (links, anchors, images, visibility, drafts, titles, summaries) and the
//! ranking check of front matter queries: through `check_folder`, `Outlines`, `rank_of`, and the
//! `kbsearch check` binary.

mod common;

use std::process::{Command, Output};

use common::{Kb, sample_kb};
use kbsearch::config::DEFAULT_MAX_FILE_BYTES;
use kbsearch::content::article::{self, ParseContext, SourceFile};
use kbsearch::content::problem::Severity;
use kbsearch::content::products::Catalog;
use kbsearch::ingest::lint::{Outline, Outlines};
use kbsearch::quality::check::check_folder;
use kbsearch::quality::rank_check::RankCheck;

fn kbsearch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kbsearch"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run kbsearch")
}

/// Every problem `check` reports, as `path:line: severity: message`.
fn checked(kb: &Kb) -> Vec<String> {
    check_folder(&kb.kb, DEFAULT_MAX_FILE_BYTES)
        .problems
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// The outline of the article at `rel`, parsed as the indexer would.
fn outline(kb: &Kb, rel: &str) -> Outline {
    let bytes = std::fs::read(kb.path(rel)).expect("read article");
    let (catalog, _) = Catalog::load(&kb.kb);
    let source = SourceFile {
        path: rel,
        bytes: &bytes,
        modified: None,
    };
    let parsed = article::parse(&source, &ParseContext { catalog: &catalog });
    Outline::of(&parsed.article.expect("article parses"))
}

// Fixture articles: `---` (1), title (2), extra front matter lines, `---`, `# title`, blank, body.
// With no extra front matter the body starts on line 6.

#[test]
fn a_link_to_a_missing_article_is_an_error_on_its_line() {
    let kb = Kb::new();
    kb.article(
        "articles/a.md",
        "A",
        "",
        "See [b](b.md) and [c](../help/c.md).",
    );
    kb.article("articles/b.md", "B", "", "text");
    assert_eq!(
        checked(&kb),
        ["articles/a.md:6: error: link to `../help/c.md`: no such article"]
    );
}

#[test]
fn a_link_to_a_missing_heading_of_another_article_is_an_error() {
    let kb = Kb::new();
    kb.article(
        "articles/a.md",
        "A",
        "",
        "Intro.\n\nSee [fix](b.md#resolution) and [gone](b.md#workaround).",
    );
    kb.article("articles/b.md", "B", "", "text\n\n## Resolution\n\nDo it.");
    assert_eq!(
        checked(&kb),
        [
            "articles/a.md:8: error: link to `b.md#workaround`: no heading `#workaround` in articles/b.md"
        ]
    );
}

#[test]
fn a_missing_in_page_anchor_is_an_error() {
    let kb = Kb::new();
    kb.article(
        "articles/a.md",
        "A",
        "",
        "Go to [steps](#steps) or [cause](#cause).\n\n## Steps\n\nDo it.",
    );
    assert_eq!(
        checked(&kb),
        ["articles/a.md:6: error: link to `#cause`: no heading `#cause` in this article"]
    );
}

#[test]
fn a_missing_image_is_an_error_and_an_existing_one_is_not() {
    let kb = Kb::new();
    kb.article(
        "articles/a.md",
        "A",
        "",
        "Text.\n\n![ok](img/ok.png)\n\n![gone](img/gone.png)\n\n![web](https://example.com/x.png)",
    );
    kb.write("articles/img/ok.png", b"\x89PNG");
    assert_eq!(
        checked(&kb),
        ["articles/a.md:10: error: image `img/gone.png` not found"]
    );
}

#[test]
fn a_public_article_linking_to_an_internal_one_is_warned() {
    let kb = Kb::new();
    kb.article("articles/a.md", "A", "", "See [notes](notes.md).");
    kb.article(
        "articles/notes.md",
        "Notes",
        "visibility: internal\n",
        "See [a](a.md).",
    );
    let report = check_folder(&kb.kb, DEFAULT_MAX_FILE_BYTES);
    assert_eq!((report.errors, report.warnings), (0, 1));
    let problem = &report.problems[0];
    assert_eq!(problem.path, "articles/a.md");
    assert_eq!(problem.line, Some(6));
    assert_eq!(problem.severity, Severity::Warning);
    assert_eq!(
        problem.message,
        "link to `notes.md`: internal article, shown as plain text to readers of this public one"
    );
}

#[test]
fn a_published_article_linking_to_a_draft_is_warned() {
    let kb = Kb::new();
    kb.article("articles/a.md", "A", "", "See [new](new.md).");
    kb.article(
        "articles/new.md",
        "New",
        "status: draft\n",
        "See [a](a.md).",
    );
    assert_eq!(
        checked(&kb),
        [
            "articles/a.md:6: warning: link to `new.md`: draft article, shown as plain text until it is published"
        ]
    );
}

#[test]
fn duplicate_titles_are_warned_on_each_article_naming_the_other() {
    let kb = Kb::new();
    kb.article("articles/a.md", "Reset the password", "", "text");
    kb.write(
        "help/b.md",
        "---\ntitle: \"  reset the PASSWORD \"\n---\nOther text.\n",
    );
    kb.article("articles/c.md", "Another title", "", "text");
    assert_eq!(
        checked(&kb),
        [
            "articles/a.md: warning: title also used by `help/b.md`: make titles distinct so readers can tell results apart",
            "help/b.md: warning: title also used by `articles/a.md`: make titles distinct so readers can tell results apart",
        ]
    );
}

#[test]
fn an_article_without_summary_or_first_paragraph_is_warned() {
    let kb = Kb::new();
    kb.article("articles/a.md", "A", "", "## Steps\n\n```\nrestart\n```");
    kb.article(
        "articles/b.md",
        "B",
        "summary: \"Restart the service.\"\n",
        "## Steps\n\n- restart",
    );
    kb.article("articles/c.md", "C", "summary: \"\"\n", "Restart it.");
    assert_eq!(
        checked(&kb),
        [
            "articles/a.md: warning: no summary: add `summary:` to the front matter or start the body with a paragraph"
        ]
    );
}

#[test]
fn fixing_a_link_makes_its_problem_go_away() {
    let kb = Kb::new();
    kb.article("articles/a.md", "A", "", "See [b](b.md#resolutoin).");
    kb.article("articles/b.md", "B", "", "text\n\n## Resolution\n\nDo it.");
    let mut outlines = Outlines::default();
    outlines.upsert(outline(&kb, "articles/a.md"));
    outlines.upsert(outline(&kb, "articles/b.md"));
    let before = outlines.problems_of("articles/a.md", &kb.kb);
    assert_eq!(before.len(), 1, "{before:?}");
    assert!(before[0].message.contains("no heading `#resolutoin`"));
    assert!(outlines.problems_of("articles/b.md", &kb.kb).is_empty());

    kb.article("articles/a.md", "A", "", "See [b](b.md#resolution).");
    outlines.upsert(outline(&kb, "articles/a.md"));
    assert!(outlines.problems(&kb.kb).is_empty());

    // Deleting the target breaks the link again, on the article that holds it.
    outlines.remove("articles/b.md");
    let after = outlines.problems(&kb.kb);
    assert_eq!(
        after.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["articles/a.md:6: error: link to `b.md#resolution`: no such article"]
    );
}

/// Three public articles about open files where `session.md` has the words in its body only, an
/// internal one that would outrank it for an audience that cannot see it, and a draft.
fn open_files_kb() -> Kb {
    let kb = Kb::new();
    kb.article(
        "articles/close.md",
        "Close open files before cutover",
        "",
        "Ask users to close the open files.",
    );
    kb.article(
        "articles/report.md",
        "Open files report",
        "",
        "The report lists open files.",
    );
    kb.article(
        "articles/session.md",
        "Session list",
        "keywords: [sessions]\n",
        "The session list shows who is connected, and their open files as well.",
    );
    kb.article(
        "articles/internal.md",
        "Open files open files internal",
        "visibility: internal\n",
        "Open files.",
    );
    kb.article(
        "articles/draft.md",
        "Draft notes",
        "status: draft\n",
        "Open files.",
    );
    kb.article("articles/other.md", "Unrelated", "", "Nothing here.");
    kb
}

#[test]
fn rank_of_reports_the_rank_the_articles_above_and_the_matched_fields() {
    let kb = open_files_kb();
    kb.index();
    let searcher = kb.searcher();
    let check = RankCheck::new(&searcher);

    let report = check.rank_of("articles/session", "open files", 10).unwrap();
    assert_eq!(report.query, "open files");
    assert_eq!(report.rank, Some(3), "{report:?}");
    let mut above: Vec<&str> = report.above.iter().map(|a| a.id.as_str()).collect();
    above.sort();
    assert_eq!(above, ["articles/close", "articles/report"]);
    assert_eq!(report.matched_fields, ["body"]);
    assert!(report.missing_terms.is_empty());

    let by_title = check
        .rank_of("articles/session", "sessions quokka", 10)
        .unwrap();
    assert_eq!(by_title.rank, Some(1));
    assert!(by_title.above.is_empty());
    assert_eq!(by_title.matched_fields, ["title", "keywords", "body"]);
    assert_eq!(by_title.missing_terms, ["quokka"]);

    let too_shallow = check.rank_of("articles/session", "open files", 2).unwrap();
    assert_eq!(too_shallow.rank, None);
    assert_eq!(too_shallow.above.len(), 2);

    assert!(check.rank_of("articles/nope", "open files", 10).is_err());
}

#[test]
fn rank_of_a_draft_counts_only_published_articles_above_it() {
    let kb = open_files_kb();
    kb.article(
        "articles/draft-two.md",
        "Open files open files open files second draft",
        "status: draft\n",
        "Open files.",
    );
    kb.index();
    let searcher = kb.searcher();
    // What a reader with drafts shown would see: the second draft comes first.
    let mut request = kbsearch::search::SearchRequest::new("open files");
    request.include_drafts = true;
    let shown: Vec<(String, String)> = searcher
        .search(&request)
        .unwrap()
        .hits
        .into_iter()
        .map(|h| (h.info.id, h.info.status))
        .collect();
    let at = shown
        .iter()
        .position(|(id, _)| id == "articles/draft")
        .expect("the draft matches");
    assert!(
        shown[..at].iter().any(|(id, _)| id == "articles/draft-two"),
        "{shown:?}"
    );
    let published_above = shown[..at].iter().filter(|(_, s)| s == "published").count();
    assert!(published_above > 0, "{shown:?}");

    let report = RankCheck::new(&searcher)
        .rank_of("articles/draft", "open files", 10)
        .unwrap();
    assert_eq!(report.rank, Some(published_above + 1), "{report:?}");
    assert_eq!(report.above.len(), published_above);
    assert!(
        report
            .above
            .iter()
            .all(|a| a.id != "articles/draft-two" && a.id != "articles/internal"),
        "only published articles its audience sees: {report:?}"
    );
}

#[test]
fn check_queries_passes_when_every_query_ranks_its_article_in_the_top_n() {
    let kb = open_files_kb();
    kb.article(
        "articles/report.md",
        "Open files report",
        "queries: [\"open files report\", \"list of open files\"]\n",
        "The report lists open files.",
    );
    let kb_dir = kb.kb.to_str().unwrap();
    let output = kbsearch(&["check", "--kb", kb_dir, "--queries", "--format", "json"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(value["errors"], 0);
    let queries = &value["queries"];
    assert_eq!(queries["top"], 5);
    assert_eq!(
        (&queries["passed"], &queries["failed"]),
        (&2.into(), &0.into())
    );
    let first = &queries["results"][0];
    assert_eq!(first["path"], "articles/report.md");
    assert_eq!(first["id"], "articles/report");
    assert_eq!(first["query"], "open files report");
    assert_eq!(first["passed"], true);
    assert_eq!(first["rank"], 1);
    assert_eq!(first["above"], serde_json::json!([]));
    assert_eq!(
        first["matched_fields"],
        serde_json::json!(["title", "body"])
    );
    assert_eq!(first["missing_terms"], serde_json::json!([]));

    let text = kbsearch(&["check", "--kb", kb_dir, "--queries"]);
    assert_eq!(text.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&text.stdout)
            .contains("2 of 2 front matter queries rank their article in the top 5")
    );
}

#[test]
fn check_queries_fails_when_an_article_is_not_in_the_top_n() {
    let kb = open_files_kb();
    kb.article(
        "articles/session.md",
        "Session list",
        "queries: [\"open files\"]\n",
        "The session list shows who is connected, and their open files as well.",
    );
    let kb_dir = kb.kb.to_str().unwrap();
    let plain = kbsearch(&["check", "--kb", kb_dir]);
    assert_eq!(plain.status.code(), Some(0), "no ranking without --queries");

    let output = kbsearch(&[
        "check",
        "--kb",
        kb_dir,
        "--queries",
        "--top",
        "2",
        "--format",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(value["errors"], 1);
    let problem = &value["problems"][0];
    assert_eq!(problem["path"], "articles/session.md");
    assert_eq!(problem["severity"], "error");
    let message = problem["message"].as_str().unwrap();
    assert!(
        message
            .starts_with("query `open files` ranks this article 3rd (top 2 required); above it: "),
        "{message}"
    );
    assert!(message.ends_with("; matched: body"), "{message}");
    let result = &value["queries"]["results"][0];
    assert_eq!(result["passed"], false);
    assert_eq!(result["rank"], 3);
    assert_eq!(result["above"].as_array().unwrap().len(), 2);
    assert!(result["above"][0]["title"].is_string());

    let text = kbsearch(&["check", "--kb", kb_dir, "--queries", "--top", "2"]);
    assert_eq!(text.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.contains("articles/session.md: error: query `open files` ranks this article 3rd"),
        "{stdout}"
    );
    assert!(stdout.contains("0 of 1 front matter queries rank their article in the top 2"));

    let top_alone = kbsearch(&["check", "--kb", kb_dir, "--top", "2"]);
    assert!(!top_alone.status.success(), "--top needs --queries");
}

#[test]
fn the_sample_kb_checks_clean() {
    let output = kbsearch(&["check", "--kb", sample_kb().to_str().unwrap()]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains(" 0 errors, 0 warnings"));
}

/// Regression: a step's code block written at column 0 ended the numbered list, and the steps
/// after it rendered as a new list starting at 2 (34 sample articles had this).
#[test]
fn a_numbered_list_broken_by_an_unindented_code_block_is_a_warning_on_its_line() {
    let kb = Kb::new();
    kb.article(
        "articles/steps.md",
        "Steps",
        "",
        "Do this.\n\n1. Stop the service.\n\n```\nnet stop x\n```\n\n2. Start it.\n",
    );
    kb.article(
        "articles/fine.md",
        "Fine",
        "",
        "Do this.\n\n1. Stop the service.\n\n   ```\n   net stop x\n   ```\n\n2. Start it.\n",
    );
    let problems = checked(&kb);
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("articles/steps.md:14: warning: a numbered list starts at 2")),
        "{problems:?}"
    );
    assert!(
        !problems.iter().any(|p| p.starts_with("articles/fine.md")),
        "{problems:?}"
    );
}
