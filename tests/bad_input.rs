//! Every kind of bad input: the file is reported with its path (and line where known), and the
//! good files beside it are always indexed.

mod common;

use common::Kb;
use kbsearch::content::problem::{Problem, Severity};
use kbsearch::quality::check::check_folder;

/// A fixture with one good article, so each test can show good files survive.
fn kb_with_good_article() -> Kb {
    let kb = Kb::new();
    kb.article(
        "articles/good.md",
        "Good article about zebrafinch",
        "",
        "Body of the good article.",
    );
    kb
}

fn problems_for<'a>(problems: &'a [Problem], path: &str) -> Vec<&'a Problem> {
    problems.iter().filter(|p| p.path == path).collect()
}

fn assert_good_article_indexed(kb: &Kb) {
    assert_eq!(
        kb.ids("zebrafinch"),
        ["articles/good"],
        "the good article stays searchable"
    );
}

#[test]
fn front_matter_that_does_not_parse_is_an_error_with_its_line() {
    let kb = kb_with_good_article();
    kb.write(
        "articles/bad.md",
        "---\ntitle: Bad\ntags: [smb, nfs\nversions: all\n---\n# Bad\n\nquagga text\n",
    );
    let report = kb.index();
    let problems = problems_for(&report.problems, "articles/bad.md");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].severity, Severity::Error);
    assert!(
        problems[0].message.contains("does not parse as YAML"),
        "{}",
        problems[0].message
    );
    let line = problems[0].line.expect("a line");
    assert!((3..=5).contains(&line), "line {line}");
    assert!(kb.ids("quagga").is_empty());
    assert_good_article_indexed(&kb);
}

#[test]
fn unclosed_front_matter_is_an_error_on_line_one() {
    let kb = kb_with_good_article();
    kb.write("articles/open.md", "---\ntitle: Open\n\n# Open\n\nquagga\n");
    let report = kb.index();
    let problems = problems_for(&report.problems, "articles/open.md");
    assert_eq!(problems[0].line, Some(1));
    assert!(problems[0].message.contains("never closed"));
    assert_good_article_indexed(&kb);
}

#[test]
fn unknown_keys_are_warnings_and_the_article_is_indexed() {
    let kb = kb_with_good_article();
    kb.article(
        "articles/extra.md",
        "Extra keys okapi",
        "ms.date: 09/24/2021\nauthor: someone\n",
        "text",
    );
    let report = kb.index();
    let problems = problems_for(&report.problems, "articles/extra.md");
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems.iter().all(|p| p.severity == Severity::Warning));
    assert_eq!(problems[0].line, Some(3), "ms.date is on line 3");
    assert!(problems[0].message.contains("`ms.date`"));
    assert_eq!(kb.ids("okapi"), ["articles/extra"]);
}

#[test]
fn missing_title_falls_back_to_the_first_heading() {
    let kb = kb_with_good_article();
    kb.write(
        "articles/h1.md",
        "---\ntags: [x]\n---\nIntro line.\n\n# Heading title ibex\n\ntext\n",
    );
    let report = kb.index();
    assert!(problems_for(&report.problems, "articles/h1.md").is_empty());
    let hits = kb.search("ibex").hits;
    assert_eq!(hits[0].info.title, "Heading title ibex");
}

#[test]
fn no_title_and_no_heading_is_an_error() {
    let kb = kb_with_good_article();
    kb.write(
        "articles/untitled.md",
        "---\ntags: [x]\n---\nJust a paragraph about a tapir.\n\n## Only a level two heading\n",
    );
    let report = kb.index();
    let problems = problems_for(&report.problems, "articles/untitled.md");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].message.contains("no title"));
    assert!(kb.ids("tapir").is_empty());
    assert_good_article_indexed(&kb);
}

#[test]
fn non_utf8_file_is_an_error_with_its_line() {
    let kb = kb_with_good_article();
    kb.write(
        "articles/latin1.md",
        b"---\ntitle: Caf\xe9\n---\n# x\n".as_slice(),
    );
    let report = kb.index();
    let problems = problems_for(&report.problems, "articles/latin1.md");
    assert_eq!(problems.len(), 1);
    assert!(problems[0].message.contains("not valid UTF-8"));
    assert_eq!(problems[0].line, Some(2));
    assert_good_article_indexed(&kb);
}

#[test]
fn file_over_the_size_limit_is_skipped_and_the_limit_is_configurable() {
    let mut kb = kb_with_good_article();
    let big_body = "lemming ".repeat(400);
    kb.article("articles/big.md", "Big", "", &big_body);
    kb.max_file_bytes = 1024;
    let report = kb.index();
    let problems = problems_for(&report.problems, "articles/big.md");
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].message.contains("over the limit of 1024 bytes"),
        "{}",
        problems[0].message
    );
    assert!(kb.ids("lemming").is_empty());
    assert_good_article_indexed(&kb);

    kb.max_file_bytes = 1024 * 1024;
    kb.index();
    assert_eq!(
        kb.ids("lemming"),
        ["articles/big"],
        "a larger limit admits the file"
    );
}

#[test]
fn duplicate_ids_keep_the_first_file_and_report_the_second() {
    let kb = kb_with_good_article();
    kb.article("articles/a.md", "First narwhal", "id: same-id\n", "alpha");
    kb.article("articles/b.md", "Second narwhal", "id: same-id\n", "beta");
    let report = kb.index();
    let problems = problems_for(&report.problems, "articles/b.md");
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0]
            .message
            .contains("duplicate id `same-id`: already used by articles/a.md")
    );
    let hits = kb.search("narwhal").hits;
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].info.title, "First narwhal");
    // `check` agrees without an index.
    let check = check_folder(&kb.kb, kbsearch::config::DEFAULT_MAX_FILE_BYTES);
    assert_eq!(check.errors, 1);
}

#[test]
fn unknown_version_is_a_warning_and_the_article_is_indexed() {
    let kb = kb_with_good_article();
    kb.article(
        "articles/v.md",
        "Version wombat",
        "versions: [\"7.7\", \"9.9\"]\n",
        "text",
    );
    let report = kb.index();
    let problems = problems_for(&report.problems, "articles/v.md");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].severity, Severity::Warning);
    assert!(
        problems[0]
            .message
            .contains("`9.9` is not in products.toml")
    );
    assert_eq!(problems[0].line, Some(3));
    let hit = &kb.search("wombat").hits[0];
    assert_eq!(
        hit.info.versions,
        ["7.7.0", "9.9"],
        "7.7 is normalised to the catalog's 7.7.0"
    );
}

#[test]
fn empty_file_is_an_error() {
    let kb = kb_with_good_article();
    kb.write("articles/empty.md", "");
    kb.write("articles/blank.md", "  \n\n");
    let report = kb.index();
    for path in ["articles/empty.md", "articles/blank.md"] {
        let problems = problems_for(&report.problems, path);
        assert_eq!(problems.len(), 1, "{path}");
        assert_eq!(problems[0].message, "file is empty");
    }
    assert_good_article_indexed(&kb);
}

#[test]
fn thematic_break_in_the_body_does_not_swallow_text() {
    // pulldown-cmark#1000: with metadata blocks enabled, text between two `---` lines in the body
    // would be taken for front matter and vanish.
    let kb = kb_with_good_article();
    kb.write(
        "articles/rules.md",
        "---\ntitle: Rules\n---\n# Rules\n\nIntro.\n\n---\n\nhidden: axolotl text between rules\n\n---\n\nEnd.\n",
    );
    let report = kb.index();
    assert!(problems_for(&report.problems, "articles/rules.md").is_empty());
    assert_eq!(kb.ids("axolotl"), ["articles/rules"]);
}

#[test]
fn a_visibility_typo_is_an_error_never_a_public_article() {
    let kb = kb_with_good_article();
    kb.article(
        "articles/secret.md",
        "Secret pangolin",
        "visibility: interal\n",
        "internal only",
    );
    let report = kb.index();
    let problems = problems_for(&report.problems, "articles/secret.md");
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0]
            .message
            .contains("`interal` is not one of: public, customer, internal")
    );
    assert!(kb.ids("pangolin").is_empty());
}

#[test]
fn a_wrongly_typed_key_is_an_error_naming_the_key() {
    let kb = kb_with_good_article();
    kb.write(
        "articles/typed.md",
        "---\ntitle: [a, b]\n---\n# T\n\nbody\n",
    );
    let report = kb.index();
    let problems = problems_for(&report.problems, "articles/typed.md");
    assert!(
        problems[0]
            .message
            .contains("`title` must be a single value"),
        "{problems:?}"
    );
    assert_eq!(problems[0].line, Some(2));
}

#[test]
fn a_broken_products_file_is_reported_and_articles_still_index() {
    let kb = kb_with_good_article();
    kb.write("products.toml", "[[products]]\nname = \n");
    let report = kb.index();
    let problems = problems_for(&report.problems, "products.toml");
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].line, Some(2));
    assert_good_article_indexed(&kb);
}

#[test]
fn check_lists_every_problem_and_counts_errors_and_warnings() {
    let kb = kb_with_good_article();
    kb.write("articles/empty.md", "");
    kb.article("articles/extra.md", "Extra", "colour: blue\n", "text");
    let report = check_folder(&kb.kb, kbsearch::config::DEFAULT_MAX_FILE_BYTES);
    assert_eq!((report.errors, report.warnings), (1, 1));
    assert_eq!(report.articles, 2);
    let lines: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "articles/empty.md: error: file is empty",
            "articles/extra.md:3: warning: unknown front matter key `colour` is ignored",
        ]
    );
}
