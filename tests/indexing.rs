//! The index follows the content folder: upserts never duplicate, deletions remove, a file that
//! turns bad keeps its last good version, and an unusable index is rebuilt.

mod common;

use common::Kb;
use kbsearch::index::generations::IndexDir;

#[test]
fn reindexing_never_duplicates_and_unchanged_files_are_skipped() {
    let kb = Kb::new();
    kb.article(
        "articles/a.md",
        "Cutover with open files",
        "",
        "ERR_SHARE_LOCKED appears.",
    );
    let first = kb.index();
    assert!(first.rebuilt);
    assert_eq!((first.changes.added, first.documents), (1, 1));
    let second = kb.index();
    assert!(!second.rebuilt);
    assert_eq!(
        (
            second.changes.unchanged,
            second.changes.added,
            second.changes.updated,
            second.documents
        ),
        (1, 0, 0, 1)
    );
    assert_eq!(kb.search("ERR_SHARE_LOCKED").total, 1);
}

#[test]
fn an_edited_file_replaces_its_document() {
    let kb = Kb::new();
    kb.article("articles/a.md", "Old title", "", "old words capybara");
    kb.index();
    kb.article("articles/a.md", "New title", "", "new words okapi");
    let report = kb.index();
    assert_eq!((report.changes.updated, report.documents), (1, 1));
    assert!(kb.ids("capybara").is_empty());
    assert_eq!(kb.search("okapi").hits[0].info.title, "New title");
}

#[test]
fn a_deleted_file_leaves_the_index() {
    let kb = Kb::new();
    kb.article("articles/a.md", "Keep", "", "keep");
    kb.article("help/b.md", "Gone gecko", "", "gone");
    kb.index();
    kb.remove("help/b.md");
    let report = kb.index();
    assert_eq!((report.changes.deleted, report.documents), (1, 1));
    assert!(kb.ids("gecko").is_empty());
}

#[test]
fn a_file_that_turns_invalid_keeps_its_last_good_version_until_fixed_or_deleted() {
    let kb = Kb::new();
    kb.article("articles/a.md", "Good version", "", "searchable marmoset");
    kb.index();
    kb.write("articles/a.md", "---\ntitle: [broken\n---\nhalf-saved\n");
    let report = kb.index();
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.is_error() && p.path == "articles/a.md")
    );
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.message.contains("last good version"))
    );
    assert_eq!(
        kb.ids("marmoset"),
        ["articles/a"],
        "the last good version is still served"
    );

    kb.article("articles/a.md", "Fixed version", "", "fixed meerkat");
    kb.index();
    assert!(kb.ids("marmoset").is_empty());
    assert_eq!(kb.ids("meerkat"), ["articles/a"]);

    kb.remove("articles/a.md");
    kb.index();
    assert!(kb.ids("meerkat").is_empty());
}

#[test]
fn changing_an_id_frees_the_old_one() {
    let kb = Kb::new();
    kb.article("articles/a.md", "A", "id: first\n", "aardvark");
    kb.index();
    kb.article("articles/a.md", "A", "id: second\n", "aardvark");
    kb.article("articles/b.md", "B", "id: first\n", "bonobo");
    let report = kb.index();
    assert!(
        report.problems.iter().all(|p| !p.is_error()),
        "{:?}",
        report.problems
    );
    assert_eq!(kb.ids("aardvark"), ["second"]);
    assert_eq!(kb.ids("bonobo"), ["first"]);
}

#[test]
fn type_comes_from_the_folder_unless_front_matter_says_otherwise() {
    let kb = Kb::new();
    kb.article("articles/a.md", "Kb page llama", "", "x");
    kb.article("help/b.md", "Help page llama", "", "x");
    kb.article("release-notes/c.md", "Notes llama", "", "x");
    kb.article("help/d.md", "Override llama", "type: kb\n", "x");
    kb.index();
    let mut kinds: Vec<(String, String)> = kb
        .search("llama")
        .hits
        .into_iter()
        .map(|h| (h.info.id, h.info.kind))
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            ("articles/a".to_string(), "kb".to_string()),
            ("help/b".to_string(), "help".to_string()),
            ("help/d".to_string(), "kb".to_string()),
            ("release-notes/c".to_string(), "release-note".to_string()),
        ]
    );
}

#[test]
fn toml_front_matter_and_crlf_line_endings_are_read() {
    let kb = Kb::new();
    kb.write("articles/toml.md", "+++\r\ntitle = \"Toml tarsier\"\r\ntags = [\"NFS\"]\r\nupdated = 2016-09-01\r\n+++\r\nBody.\r\n");
    let report = kb.index();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let hit = &kb.search("tarsier").hits[0];
    assert_eq!(hit.info.title, "Toml tarsier");
    assert_eq!(hit.info.tags, ["nfs"]);
    assert_eq!(
        hit.info.updated.map(|d| d.to_string()).as_deref(),
        Some("2016-09-01")
    );
}

#[test]
fn editor_temp_files_and_hidden_folders_are_not_articles() {
    let kb = Kb::new();
    kb.article("articles/real.md", "Real quokka", "", "x");
    kb.article("articles/.#real.md", "Lock quokka", "", "x");
    kb.article("articles/real.md~", "Backup quokka", "", "x");
    kb.article(".git/quokka.md", "Git quokka", "", "x");
    kb.write("README.md", "# About this folder quokka\n");
    let report = kb.index();
    assert_eq!(report.files_seen, 1);
    assert_eq!(kb.ids("quokka"), ["articles/real"]);
}

#[test]
fn an_index_of_another_schema_version_is_rebuilt() {
    let kb = Kb::new();
    kb.article("articles/a.md", "Rebuilt ocelot", "", "x");
    kb.index();
    // Rewrite the commit payload as an older build would have left it.
    let dir = IndexDir::new(&kb.index).open_current().expect("open").dir;
    let meta_path = dir.join("meta.json");
    let meta = std::fs::read_to_string(&meta_path).expect("meta.json");
    let version = kbsearch::index::schema::SCHEMA_VERSION;
    let older = meta.replace(
        &format!("\\\"schema_version\\\":{version}"),
        "\\\"schema_version\\\":0",
    );
    assert_ne!(meta, older, "the payload carries the schema version");
    std::fs::write(&meta_path, older).expect("write meta");

    let report = kb.index();
    assert!(report.rebuilt);
    assert_eq!(kb.ids("ocelot"), ["articles/a"]);
    assert_ne!(
        IndexDir::new(&kb.index).open_current().expect("open").dir,
        dir,
        "a new generation"
    );
    assert!(!dir.exists(), "the old generation is removed");
}

#[test]
fn a_corrupt_index_is_rebuilt() {
    let kb = Kb::new();
    kb.article("articles/a.md", "Corrupt jerboa", "", "x");
    kb.index();
    let dir = IndexDir::new(&kb.index).open_current().expect("open").dir;
    std::fs::write(dir.join("meta.json"), "{ not json").expect("corrupt meta");
    let report = kb.index();
    assert!(report.rebuilt);
    assert_eq!(kb.ids("jerboa"), ["articles/a"]);
    // Moved aside for inspection, not deleted.
    let aside: Vec<_> = std::fs::read_dir(&kb.index)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("aside-corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    let kept = kb.index.join(&aside[0]).join("meta.json");
    assert_eq!(std::fs::read_to_string(kept).unwrap(), "{ not json");
    // A second refresh uses the new generation and leaves the set-aside one alone.
    assert!(!kb.index().rebuilt);
}

#[test]
fn foreign_files_in_the_index_folder_are_left_alone() {
    let kb = Kb::new();
    kb.article("articles/a.md", "Foreign tapir", "", "x");
    // Someone else's files where the index should go: another program's index, or a typo.
    std::fs::create_dir_all(&kb.index).unwrap();
    std::fs::write(kb.index.join("meta.json"), "{}").unwrap();
    std::fs::write(kb.index.join("notes.txt"), "precious").unwrap();
    let report = kb.index();
    assert!(report.rebuilt);
    assert_eq!(kb.ids("tapir"), ["articles/a"]);
    // Neither the folder nor what kbsearch did not write was moved.
    assert_eq!(
        std::fs::read_to_string(kb.index.join("notes.txt")).unwrap(),
        "precious"
    );
    assert_eq!(
        std::fs::read_to_string(kb.index.join("meta.json")).unwrap(),
        "{}"
    );
    let parent = kb.index.parent().unwrap();
    let beside: Vec<_> = std::fs::read_dir(parent)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("index."))
        .collect();
    assert!(beside.is_empty(), "{beside:?}");
    // A second refresh keeps both.
    assert!(!kb.index().rebuilt);
    assert!(kb.index.join("notes.txt").exists());
}

#[test]
fn a_damaged_segment_file_is_set_aside_and_rebuilt() {
    let kb = Kb::new();
    kb.article("articles/a.md", "Damaged okapi", "", "x");
    kb.index();
    let dir = IndexDir::new(&kb.index).open_current().expect("open").dir;
    // `meta.json` is intact; one segment's fast fields are cut short, as a bad copy would.
    let fast = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "fast"))
        .expect("a fast field file");
    std::fs::write(&fast, b"truncated!").unwrap();
    let report = kb.index();
    assert!(report.rebuilt);
    assert_eq!(kb.ids("okapi"), ["articles/a"]);
    assert!(
        std::fs::read_dir(&kb.index).unwrap().flatten().any(|e| e
            .file_name()
            .to_string_lossy()
            .starts_with("aside-corrupt-")),
        "the damaged generation is kept aside"
    );
}
