//! The live index follows the content folder: real file operations against the real watcher and
//! indexer thread, waiting on the index's own commit notifications (never on sleeps).

mod common;

use common::{AGENT_KEY, Kb, get, request};
use kbsearch::config::WatchMode;

fn article(title: &str, body: &str) -> String {
    format!("---\ntitle: \"{title}\"\n---\n# {title}\n\n{body}\n")
}

#[tokio::test]
async fn a_new_file_becomes_searchable_and_a_deleted_one_disappears() {
    let kb = Kb::new();
    kb.write("articles/first.md", article("First", "alpha words"));
    let mut live = kb.live(WatchMode::Native).await;
    assert_eq!(live.ids("alpha"), ["articles/first"]);

    kb.write("articles/second.md", article("Second", "bravo words"));
    live.wait_for_ids("bravo", &["articles/second"]).await;

    kb.remove("articles/second.md");
    live.wait_for_ids("bravo", &[]).await;
    assert_eq!(live.ids("alpha"), ["articles/first"]);
}

#[tokio::test]
async fn in_place_saves_and_truncate_then_write_replace_the_text() {
    let kb = Kb::new();
    kb.write("articles/a.md", article("Edited", "charlie"));
    let mut live = kb.live(WatchMode::Native).await;

    kb.write("articles/a.md", article("Edited", "delta"));
    live.wait_for_ids("delta", &["articles/a"]).await;
    assert!(live.ids("charlie").is_empty());

    // Truncate, then write in a second step, as some editors do.
    {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(kb.path("articles/a.md"))
            .unwrap();
        file.flush().unwrap();
        file.write_all(article("Edited", "echo").as_bytes())
            .unwrap();
    }
    live.wait_for_ids("echo", &["articles/a"]).await;
    assert!(live.ids("delta").is_empty());
    assert_eq!(live.num_docs(), 1, "an upsert never duplicates");
}

#[tokio::test]
async fn atomic_saves_through_temp_files_and_backups_are_followed() {
    let kb = Kb::new();
    kb.write("articles/a.md", article("Atomic", "foxtrot"));
    let mut live = kb.live(WatchMode::Native).await;

    // Write a temp file beside the article, then rename it over the article (VS Code, JetBrains).
    kb.write("articles/.a.md.tmp", article("Atomic", "golf"));
    std::fs::rename(kb.path("articles/.a.md.tmp"), kb.path("articles/a.md")).unwrap();
    live.wait_for_ids("golf", &["articles/a"]).await;
    assert!(live.ids("foxtrot").is_empty());

    // Vim's backup dance: move the original to `a.md~`, write a new `a.md`, delete the backup.
    std::fs::rename(kb.path("articles/a.md"), kb.path("articles/a.md~")).unwrap();
    kb.write("articles/a.md", article("Atomic", "hotel"));
    kb.remove("articles/a.md~");
    live.wait_for_ids("hotel", &["articles/a"]).await;

    // Delete, then create again.
    kb.remove("articles/a.md");
    kb.write("articles/a.md", article("Atomic", "india"));
    live.wait_for_ids("india", &["articles/a"]).await;
    assert_eq!(
        live.num_docs(),
        1,
        "temp and backup files are never indexed"
    );
}

#[tokio::test]
async fn renames_and_moves_follow_the_file() {
    let kb = Kb::new();
    kb.write("articles/old-name.md", article("Moving", "juliet"));
    std::fs::create_dir_all(kb.path("help")).unwrap();
    let mut live = kb.live(WatchMode::Native).await;

    std::fs::rename(
        kb.path("articles/old-name.md"),
        kb.path("articles/new-name.md"),
    )
    .unwrap();
    live.wait_for_ids("juliet", &["articles/new-name"]).await;

    std::fs::rename(kb.path("articles/new-name.md"), kb.path("help/moved.md")).unwrap();
    live.wait_for_ids("juliet", &["help/moved"]).await;
    assert_eq!(live.num_docs(), 1);
}

#[tokio::test]
async fn nested_new_folders_are_walked() {
    let kb = Kb::new();
    kb.write("articles/base.md", article("Base", "kilo"));
    let mut live = kb.live(WatchMode::Native).await;

    // `mkdir -p` reports only the top folder (notify#727); the files inside must still be found.
    std::fs::create_dir_all(kb.path("articles/x/y/z")).unwrap();
    kb.write("articles/x/top.md", article("Top", "lima"));
    kb.write("articles/x/y/z/deep.md", article("Deep", "lima"));
    live.wait_for_ids("lima", &["articles/x/top", "articles/x/y/z/deep"])
        .await;

    // A folder copied in whole (`cp -r`): prepared elsewhere, then moved in by one rename.
    let outside = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(outside.path().join("bundle/inner")).unwrap();
    std::fs::write(
        outside.path().join("bundle/inner/one.md"),
        article("One", "mike"),
    )
    .unwrap();
    std::fs::write(outside.path().join("bundle/two.md"), article("Two", "mike")).unwrap();
    copy_dir(&outside.path().join("bundle"), &kb.path("help/bundle"));
    live.wait_for_ids("mike", &["help/bundle/inner/one", "help/bundle/two"])
        .await;
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    // Copy beside the target, then rename into place: the content arrives all at once.
    let staging = to.with_extension("staging");
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let target = staging.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::rename(&staging, to).unwrap();
}

#[tokio::test]
async fn deleting_a_folder_removes_all_its_articles() {
    let kb = Kb::new();
    for i in 0..5 {
        kb.write(
            &format!("articles/team/sub/{i}.md"),
            article(&format!("T{i}"), "november"),
        );
    }
    kb.write("articles/keep.md", article("Keep", "november"));
    let mut live = kb.live(WatchMode::Native).await;
    assert_eq!(live.ids("november").len(), 6);

    std::fs::remove_dir_all(kb.path("articles/team")).unwrap();
    live.wait_for_ids("november", &["articles/keep"]).await;
}

#[tokio::test]
async fn renaming_a_folder_moves_all_its_articles() {
    let kb = Kb::new();
    kb.write("articles/vpn/a.md", article("A", "oscar"));
    kb.write("articles/vpn/deep/b.md", article("B", "oscar"));
    let mut live = kb.live(WatchMode::Native).await;

    std::fs::rename(kb.path("articles/vpn"), kb.path("articles/network")).unwrap();
    live.wait_for_ids("oscar", &["articles/network/a", "articles/network/deep/b"])
        .await;
    assert_eq!(live.num_docs(), 2);
}

#[tokio::test]
async fn an_invalid_save_keeps_the_last_good_version_until_fixed() {
    let kb = Kb::new();
    kb.write("articles/a.md", article("Good", "papa"));
    let mut live = kb.live(WatchMode::Native).await;
    let app = live.app();

    // A half-finished save: the front matter no longer parses.
    kb.write(
        "articles/a.md",
        "---\ntitle: [unclosed\n---\n# Broken\n\nquebec\n",
    );
    live.wait_for("the problem to be reported", |state| {
        state
            .problems
            .load()
            .iter()
            .any(|p| p.path == "articles/a.md" && p.is_error())
    })
    .await;
    assert_eq!(
        live.ids("papa"),
        ["articles/a"],
        "the last good version stays"
    );
    assert!(live.ids("quebec").is_empty());
    let status = get(&app, "/api/status", Some(AGENT_KEY)).await.json();
    let problems = status["content"]["problems"].as_array().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p["path"] == "articles/a.md" && p["severity"] == "error"),
        "{status}"
    );

    kb.write("articles/a.md", article("Fixed", "romeo"));
    live.wait_for_ids("romeo", &["articles/a"]).await;
    assert!(live.ids("papa").is_empty());
    assert!(
        live.state.problems.load().is_empty(),
        "the problem goes with the fix: {:?}",
        live.state.problems.load()
    );

    // Deleting a file that is broken removes its last good version too.
    kb.write("articles/a.md", "---\ntitle: [unclosed\n---\n");
    live.wait_for("the second problem", |state| {
        !state.problems.load().is_empty()
    })
    .await;
    kb.remove("articles/a.md");
    live.wait_for_ids("romeo", &[]).await;
    live.wait_for("the problem to go", |state| {
        state.problems.load().is_empty()
    })
    .await;
}

#[tokio::test]
async fn a_mass_change_of_a_thousand_files_is_absorbed() {
    let kb = Kb::new();
    let mut live = kb.live(WatchMode::Native).await;
    // As a `git checkout` would: a new folder tree and a thousand files, as fast as possible.
    for i in 0..1000 {
        kb.write(
            &format!("articles/batch/{}/{i}.md", i % 10),
            article(&format!("Mass {i}"), &format!("sierra unique{i}")),
        );
    }
    live.wait_for("a thousand articles", |state| {
        state
            .searcher
            .load_full()
            .is_some_and(|s| s.num_docs() == 1000)
    })
    .await;
    assert_eq!(live.ids("unique777"), ["articles/batch/7/777"]);

    // And all of them change again at once.
    for i in 0..1000 {
        kb.write(
            &format!("articles/batch/{}/{i}.md", i % 10),
            article(&format!("Mass {i}"), &format!("tango again{i}")),
        );
    }
    live.wait_for("the second version of all", |state| {
        let searcher = state.searcher.load_full().unwrap();
        let mut request = kbsearch::search::SearchRequest::new("tango");
        request.audience = kbsearch::content::article::Visibility::Internal;
        request.limit = 1;
        searcher.search(&request).is_ok_and(|r| r.total == 1000) && searcher.num_docs() == 1000
    })
    .await;
    assert!(live.ids("sierra").is_empty());
}

#[tokio::test]
async fn hidden_folders_and_editor_files_are_ignored() {
    let kb = Kb::new();
    kb.write("articles/a.md", article("Visible", "uniform"));
    let mut live = kb.live(WatchMode::Native).await;

    kb.write(".git/objects/x.md", article("Git", "victor"));
    kb.write("articles/.#a.md", article("Lock", "victor"));
    kb.write("articles/a.md.swp", article("Swap", "victor"));
    kb.write("articles/b.md~", article("Backup", "victor"));
    // A real change after the noise: once it is searchable, the noise was seen and ignored.
    kb.write("articles/c.md", article("Marker", "whiskey"));
    live.wait_for_ids("whiskey", &["articles/c"]).await;
    assert!(live.ids("victor").is_empty());
    assert_eq!(live.num_docs(), 2);
}

#[tokio::test]
async fn changes_made_while_the_service_is_stopped_are_reconciled_at_start() {
    let kb = Kb::new();
    kb.write("articles/stays.md", article("Stays", "xray"));
    kb.write("articles/changes.md", article("Changes", "yankee"));
    kb.write("articles/goes.md", article("Goes", "zulu"));
    let live = kb.live(WatchMode::Native).await;
    assert_eq!(live.num_docs(), 3);
    live.stop();

    kb.write("articles/changes.md", article("Changes", "changed-offline"));
    kb.remove("articles/goes.md");
    kb.write("articles/new/added.md", article("Added", "added-offline"));

    let mut live = kb.live(WatchMode::Native).await;
    assert_eq!(live.ids("changed-offline"), ["articles/changes"]);
    assert!(live.ids("yankee").is_empty());
    assert!(live.ids("zulu").is_empty());
    assert_eq!(live.ids("added-offline"), ["articles/new/added"]);
    assert_eq!(live.ids("xray"), ["articles/stays"]);
    assert_eq!(live.num_docs(), 3);
    let status = live.state.live.as_ref().unwrap().status();
    assert_eq!(status.pending, 0);
    assert!(status.reconciled_at.is_some());
    // The start-up reconcile applied exactly the differences.
    assert_eq!(
        (
            status.last_changes.added,
            status.last_changes.updated,
            status.last_changes.deleted
        ),
        (1, 1, 1)
    );
    live.wait_for_ids("xray", &["articles/stays"]).await;
}

#[tokio::test]
async fn the_polling_watcher_follows_changes_too() {
    let kb = Kb::new();
    kb.write("articles/a.md", article("Polled", "alpha"));
    let mut live = kb.live(WatchMode::Poll).await;
    assert_eq!(
        live.state.live.as_ref().unwrap().status().watching,
        Some(WatchMode::Poll)
    );
    kb.write("articles/b/c.md", article("Polled too", "bravo"));
    live.wait_for_ids("bravo", &["articles/b/c"]).await;
    std::fs::remove_dir_all(kb.path("articles/b")).unwrap();
    live.wait_for_ids("bravo", &[]).await;
}

#[tokio::test]
async fn a_reindex_request_reconciles_what_no_watcher_saw() {
    let kb = Kb::new();
    kb.write("articles/a.md", article("Unwatched", "charlie"));
    let mut live = kb.live(WatchMode::Off).await;
    let app = live.app();

    kb.write("articles/b.md", article("Unwatched too", "charlie"));
    assert_eq!(
        request(&app, "post", "/api/reindex", None).await.status,
        401,
        "only support staff may ask: without a key, a 401 that asks for one"
    );
    let reply = request(&app, "post", "/api/reindex", Some(AGENT_KEY)).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    live.wait_for_ids("charlie", &["articles/a", "articles/b"])
        .await;
    let status = get(&app, "/api/status", Some(AGENT_KEY)).await.json();
    assert_eq!(status["index"]["pending_changes"], 0, "{status}");
    assert_eq!(status["index"]["documents"], 2, "{status}");
    assert!(
        status["index"]["generation"].as_u64().unwrap() > 0,
        "{status}"
    );
}

#[tokio::test]
async fn a_catalog_change_renormalises_every_article() {
    let kb = Kb::new();
    kb.write(
        "articles/a.md",
        "---\ntitle: Versioned\nversions: [\"7.9\"]\n---\ndelta\n",
    );
    let mut live = kb.live(WatchMode::Native).await;
    assert!(
        live.state
            .problems
            .load()
            .iter()
            .any(|p| p.message.contains("7.9")),
        "an unknown version is reported"
    );
    let products = format!(
        "{}[[products.versions]]\nversion = \"7.9.0\"\nreleased = 2017-01-01\n",
        common::PRODUCTS
    );
    kb.write("products.toml", products);
    live.wait_for("the version to be known", |state| {
        !state
            .problems
            .load()
            .iter()
            .any(|p| p.message.contains("7.9"))
    })
    .await;
    let searcher = live.state.searcher.load_full().unwrap();
    let article = searcher
        .article(
            "articles/a",
            kbsearch::content::article::Visibility::Internal,
            false,
        )
        .unwrap()
        .unwrap();
    assert_eq!(article.info.versions, ["7.9.0"]);
}

#[tokio::test]
async fn metrics_export_freshness() {
    let kb = Kb::new();
    let mut live = kb.live(WatchMode::Native).await;
    kb.write("articles/a.md", article("Fresh", "echo"));
    live.wait_for_ids("echo", &["articles/a"]).await;
    let metrics = get(&live.app(), "/metrics", Some(AGENT_KEY)).await.body;
    let count = metrics
        .lines()
        .find(|l| l.starts_with("kbsearch_index_freshness_seconds_count"))
        .unwrap_or_else(|| panic!("no freshness histogram:\n{metrics}"));
    assert!(!count.ends_with(" 0"), "{count}");
    assert!(metrics.contains("kbsearch_index_pending_changes"));
}

#[tokio::test]
async fn an_article_made_internal_leaves_nothing_behind_for_the_public() {
    let kb = Kb::new();
    kb.write(
        "articles/a.md",
        article("Zanzibarix appliance", "the zanzibarix appliance setup"),
    );
    // Enough neighbours that the old document's segment survives its deletion.
    for i in 0..40 {
        kb.write(
            &format!("articles/other-{i}.md"),
            article("Other", "unrelated words"),
        );
    }
    let mut live = kb.live(WatchMode::Native).await;
    let app = live.app();
    let suggest = get(&app, "/api/suggest?q=zanzib", None).await.body;
    assert!(suggest.contains("zanzibarix"), "{suggest}");

    kb.write(
        "articles/a.md",
        "---\ntitle: Zanzibarix appliance\nvisibility: internal\n---\nthe zanzibarix appliance setup\n",
    );
    live.wait_for("the article to turn internal", |state| {
        let searcher = state.searcher.load_full().unwrap();
        searcher
            .article(
                "articles/a",
                kbsearch::content::article::Visibility::Public,
                false,
            )
            .unwrap()
            .is_none()
    })
    .await;
    // The old public document is deleted but its segment is not merged yet: its terms must
    // still not reach the public.
    let suggest = get(&app, "/api/suggest?q=zanzib", None).await.body;
    assert!(!suggest.contains("zanzibarix"), "{suggest}");
    for uri in ["/api/search?q=zanzibarix", "/api/search?q=zanzib"] {
        let mut reply = get(&app, uri, None).await.json();
        reply["query"] = serde_json::Value::Null;
        assert_eq!(reply["total"], 0, "{uri}: {reply}");
        assert!(!reply.to_string().contains("zanzibarix"), "{uri}: {reply}");
    }
    let agent = get(&app, "/api/suggest?q=zanzib", Some(AGENT_KEY))
        .await
        .body;
    assert!(agent.contains("zanzibarix"), "{agent}");
}
