//! The folders kbsearch reads and writes (issue 14), with real folders, links and renames in temp
//! dirs: symbolic links in the content folder, a content folder replaced or gone while the
//! service runs, an index folder that is a mount point, and two writers on one index.

#![cfg(unix)]

mod common;

use std::os::unix::fs::{MetadataExt, symlink};
use std::path::{Path, PathBuf};

use common::{AGENT_KEY, Kb, get};
use kbsearch::config::WatchMode;
use kbsearch::content::problem::Problem;
use kbsearch::ingest::indexer::{IndexOptions, IndexReport, Indexer};
use kbsearch::ingest::progress::Silent;
use kbsearch::quality::check::{self, CheckOptions};

fn article(title: &str, body: &str) -> String {
    format!("---\ntitle: \"{title}\"\n---\n# {title}\n\n{body}\n")
}

/// A folder beside the content folder, outside it, with an article-looking file in it.
fn outside(kb: &Kb) -> PathBuf {
    let outside = kb.kb.parent().unwrap().join("elsewhere");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.md"), article("Secret", "platypus")).unwrap();
    outside
}

fn index(kb: &Kb, follow_symlinks: bool) -> IndexReport {
    let options = IndexOptions {
        follow_symlinks,
        ..IndexOptions::new(&kb.kb, &kb.index)
    };
    Indexer::refresh(&options, &Silent).expect("index refresh")
}

/// The warning on `path`, if there is one.
fn warning<'a>(problems: &'a [Problem], path: &str) -> Option<&'a Problem> {
    problems.iter().find(|p| p.path == path && !p.is_error())
}

// ---------------------------------------------------------------------------------------------
// Symbolic links.

#[test]
fn links_are_not_followed_by_default_and_are_reported() {
    let kb = Kb::new();
    kb.write("articles/real.md", article("Real", "numbat"));
    kb.write("shared/inside.md", article("Inside", "quokka"));
    let outside = outside(&kb);
    symlink(&outside, kb.path("articles/elsewhere")).unwrap();
    symlink(outside.join("secret.md"), kb.path("articles/secret.md")).unwrap();
    symlink("../shared", kb.path("articles/shared")).unwrap();
    symlink("../shared/inside.md", kb.path("articles/inside.md")).unwrap();

    let report = index(&kb, false);
    assert!(kb.ids("platypus").is_empty(), "nothing from outside");
    assert_eq!(kb.ids("quokka"), ["shared/inside"], "only the real file");
    assert_eq!(report.documents, 2);
    for (link, points_to) in [
        ("articles/elsewhere", "outside the content folder"),
        ("articles/secret.md", "outside the content folder"),
        ("articles/shared", "`shared`"),
        ("articles/inside.md", "`shared/inside.md`"),
    ] {
        let problem = warning(&report.problems, link)
            .unwrap_or_else(|| panic!("no warning for {link}: {:?}", report.problems));
        assert!(
            problem.message.contains("not followed") && problem.message.contains(points_to),
            "{problem}"
        );
    }

    // `kbsearch check` says the same.
    let checked = check::check_folder(&kb.kb, kbsearch::config::DEFAULT_MAX_FILE_BYTES);
    for link in [
        "articles/elsewhere",
        "articles/secret.md",
        "articles/shared",
    ] {
        assert!(
            warning(&checked.problems, link).is_some(),
            "{link}: {:?}",
            checked.problems
        );
    }
    assert_eq!(checked.articles, 2);
}

#[test]
fn with_follow_symlinks_links_inside_are_followed_and_links_outside_never() {
    let kb = Kb::new();
    kb.write("shared/inside.md", article("Inside", "quokka"));
    kb.write("shared/deeper/more.md", article("More", "bilby"));
    std::fs::create_dir_all(kb.path("articles")).unwrap();
    let outside = outside(&kb);
    symlink(&outside, kb.path("articles/elsewhere")).unwrap();
    symlink(outside.join("secret.md"), kb.path("articles/secret.md")).unwrap();
    // A relative link that climbs out of the folder through `..`.
    symlink("../../elsewhere", kb.path("articles/climbs")).unwrap();
    symlink("../shared", kb.path("articles/shared")).unwrap();
    symlink("../shared/inside.md", kb.path("articles/inside.md")).unwrap();

    let report = index(&kb, true);
    assert!(kb.ids("platypus").is_empty(), "nothing from outside");
    let mut quokka = kb.ids("quokka");
    quokka.sort();
    assert_eq!(
        quokka,
        ["articles/inside", "articles/shared/inside", "shared/inside"]
    );
    let mut bilby = kb.ids("bilby");
    bilby.sort();
    assert_eq!(bilby, ["articles/shared/deeper/more", "shared/deeper/more"]);
    for link in [
        "articles/elsewhere",
        "articles/secret.md",
        "articles/climbs",
    ] {
        let problem = warning(&report.problems, link)
            .unwrap_or_else(|| panic!("no warning for {link}: {:?}", report.problems));
        assert!(
            problem.message.contains("outside the content folder"),
            "{problem}"
        );
    }
    assert!(warning(&report.problems, "articles/shared").is_none());

    let checked = check::check_folder_with(
        &kb.kb,
        CheckOptions {
            follow_symlinks: true,
            ..CheckOptions::new(kbsearch::config::DEFAULT_MAX_FILE_BYTES)
        },
    );
    assert_eq!(checked.articles, 5, "{:?}", checked.problems);
    assert!(warning(&checked.problems, "articles/elsewhere").is_some());
}

#[test]
fn folder_links_that_loop_are_reported_not_walked_forever() {
    let kb = Kb::new();
    kb.write("a/one.md", article("One", "dingo"));
    kb.write("b/two.md", article("Two", "emu"));
    // A link to the folder that holds it, and two folders that link to each other.
    symlink("..", kb.path("a/up")).unwrap();
    symlink("../b", kb.path("a/to-b")).unwrap();
    symlink("../a", kb.path("b/to-a")).unwrap();
    // A link to itself resolves to nothing.
    symlink("self.md", kb.path("a/self.md")).unwrap();

    let report = index(&kb, true);
    // Each folder is entered at most once per chain of links: the walk ends.
    let mut dingo = kb.ids("dingo");
    dingo.sort();
    assert_eq!(dingo, ["a/one", "a/to-b/to-a/one", "b/to-a/one"]);
    let mut emu = kb.ids("emu");
    emu.sort();
    assert_eq!(emu, ["a/to-b/two", "b/to-a/to-b/two", "b/two"]);
    for link in [
        "a/up",
        "a/to-b/to-a/to-b",
        "a/to-b/to-a/up",
        "b/to-a/to-b/to-a",
        "b/to-a/up",
    ] {
        let problem = warning(&report.problems, link)
            .unwrap_or_else(|| panic!("no warning for {link}: {:?}", report.problems));
        assert!(problem.message.contains("loop"), "{problem}");
    }
    assert!(
        warning(&report.problems, "a/self.md").is_some_and(|p| p.message.contains("nothing")),
        "{:?}",
        report.problems
    );
}

#[tokio::test]
async fn links_are_not_followed_while_serving_and_are_shown_in_status() {
    let kb = Kb::new();
    kb.write("articles/real.md", article("Real", "numbat"));
    let outside = outside(&kb);
    symlink(&outside, kb.path("articles/elsewhere")).unwrap();
    let mut live = kb.live(WatchMode::Native).await;

    // Written outside while the service runs: a watcher that followed the link would report it
    // as `articles/elsewhere/later.md`.
    std::fs::write(outside.join("later.md"), article("Later", "platypus")).unwrap();
    // A link made while the service runs is judged as one found at start.
    symlink(outside.join("secret.md"), kb.path("articles/secret.md")).unwrap();
    // Once a later article is searchable, all of the above was seen.
    kb.write("articles/marker.md", article("Marker", "wallaby"));
    live.wait_for_ids("wallaby", &["articles/marker"]).await;
    assert!(live.ids("platypus").is_empty(), "nothing from outside");

    let status = get(&live.app(), "/api/status", Some(AGENT_KEY))
        .await
        .json();
    let problems = status["content"]["problems"].as_array().unwrap();
    for link in ["articles/elsewhere", "articles/secret.md"] {
        assert!(
            problems.iter().any(|p| p["path"] == link
                && p["severity"] == "warning"
                && p["message"]
                    .as_str()
                    .unwrap()
                    .contains("outside the content folder")),
            "{link}: {status}"
        );
    }
}

#[tokio::test]
async fn a_change_under_a_followed_link_reaches_the_link_too() {
    let kb = Kb::new();
    kb.write("shared/inside.md", article("Inside", "quokka"));
    symlink("shared", kb.path("linked")).unwrap();
    let mut options = kb.live_options(WatchMode::Native);
    options.watch.follow_symlinks = true;
    let mut live = kb.live_with(options).await;
    live.wait_for_ids("quokka", &["linked/inside", "shared/inside"])
        .await;

    kb.write("shared/inside.md", article("Inside", "echidna"));
    live.wait_for_ids("echidna", &["linked/inside", "shared/inside"])
        .await;
    kb.write("shared/new/added.md", article("Added", "cassowary"));
    live.wait_for_ids("cassowary", &["linked/new/added", "shared/new/added"])
        .await;
    std::fs::remove_file(kb.path("linked")).unwrap();
    live.wait_for_ids("echidna", &["shared/inside"]).await;
    symlink("shared/inside.md", kb.path("linked.md")).unwrap();
    live.wait_for_ids("echidna", &["linked", "shared/inside"])
        .await;
}

// ---------------------------------------------------------------------------------------------
// The index folder: a mount point, and one writer at a time.

/// The entries of a folder, sorted, with the lock file left out.
fn names(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name != ".kbsearch.lock")
        .collect();
    names.sort();
    names
}

fn generation_names(folder: &Path) -> Vec<String> {
    names(folder)
        .into_iter()
        .filter(|name| name.starts_with("gen-"))
        .collect()
}

#[tokio::test]
async fn an_index_folder_with_foreign_content_is_used_in_place() {
    let kb = Kb::new();
    kb.write("articles/a.md", article("Mounted", "pangolin"));
    // A freshly formatted file system mounted as the index folder: only `lost+found`. Here the
    // temp dir itself stands for it; nothing may rename it.
    let mount = tempfile::tempdir().unwrap();
    let lost = mount.path().join("lost+found");
    std::fs::create_dir(&lost).unwrap();
    std::fs::write(lost.join("#1234"), "recovered").unwrap();
    let identity = std::fs::metadata(mount.path()).unwrap().ino();

    let mut options = kb.live_options(WatchMode::Native);
    options.index.index_root = mount.path().to_path_buf();
    let mut live = kb.live_with(options).await;
    live.wait_for_ids("pangolin", &["articles/a"]).await;
    live.stop();

    assert_eq!(std::fs::metadata(mount.path()).unwrap().ino(), identity);
    assert_eq!(
        std::fs::read_to_string(lost.join("#1234")).unwrap(),
        "recovered"
    );
    let inside = names(mount.path());
    assert_eq!(inside.len(), 3, "{inside:?}");
    assert_eq!(inside[0], "CURRENT");
    assert!(inside[1].starts_with("gen-"), "{inside:?}");
    assert_eq!(inside[2], "lost+found");
    let beside: Vec<String> = names(mount.path().parent().unwrap())
        .into_iter()
        .filter(|name| {
            name.starts_with(&format!(
                "{}.",
                mount.path().file_name().unwrap().to_string_lossy()
            ))
        })
        .collect();
    assert!(beside.is_empty(), "moved aside: {beside:?}");

    // `kbsearch index` on the same folder later keeps it as it is too.
    let options = IndexOptions::new(&kb.kb, mount.path());
    let report = Indexer::refresh(&options, &Silent).unwrap();
    assert!(!report.rebuilt);
    assert_eq!(names(mount.path()), inside);
}

#[test]
fn a_second_writer_is_refused_while_the_first_builds_and_deletes_nothing() {
    let kb = Kb::new();
    for n in 0..20 {
        kb.write(
            &format!("articles/a{n}.md"),
            article(&format!("Article {n}"), "tarsier"),
        );
    }
    let options = IndexOptions::new(&kb.kb, &kb.index);
    // The first writer (as `serve` at start-up) has started a generation and not finished it.
    let mut first = Indexer::open(options.clone()).unwrap();
    assert!(first.is_building());
    let building = generation_names(&kb.index);
    assert_eq!(building.len(), 1);

    // The second (as `kbsearch index`) stops before it creates, moves or deletes anything.
    let err = match Indexer::refresh(&options, &Silent) {
        Err(err) => err,
        Ok(report) => panic!("a second writer ran: {report:?}"),
    };
    let pid = std::process::id();
    assert!(
        err.to_string().starts_with("another kbsearch (")
            && err.to_string().contains(&format!("pid {pid})")),
        "{err}"
    );
    assert!(
        matches!(&err, kbsearch::error::IndexError::Busy { .. }),
        "{err:?}"
    );
    assert_eq!(generation_names(&kb.index), building);

    // The first finishes its generation, which becomes current.
    first.reconcile(&Silent).unwrap();
    first.commit().unwrap();
    first.close().unwrap();
    assert_eq!(generation_names(&kb.index), building);
    assert_eq!(
        std::fs::read_to_string(kb.index.join("CURRENT")).unwrap(),
        building[0]
    );
    assert_eq!(kb.ids("tarsier").len(), 20);

    // Once the first is done, the lock is free again.
    let report = Indexer::refresh(&options, &Silent).unwrap();
    assert_eq!(report.changes.unchanged, 20);
}

#[test]
fn kbsearch_index_is_refused_while_serve_writes_and_names_it() {
    use std::process::{Command, Stdio};
    let kb = Kb::new();
    kb.write("articles/a.md", article("Served", "serval"));
    let bin = env!("CARGO_BIN_EXE_kbsearch");
    let (kb_dir, index_dir) = (kb.kb.to_str().unwrap(), kb.index.to_str().unwrap());
    let data_dir = kb.data.to_str().unwrap();
    let mut serve = Command::new(bin)
        .args([
            "serve",
            "--kb",
            kb_dir,
            "--index",
            index_dir,
            "--data",
            data_dir,
            "--bind",
            "127.0.0.1:0",
        ])
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start kbsearch serve");
    let holder = format!("serve, pid {}", serve.id());
    let deadline = std::time::Instant::now() + common::LIVE_TIMEOUT;
    let lock_file = kb.index.join(".kbsearch.lock");
    while std::fs::read_to_string(&lock_file).map_or(true, |text| !text.contains(&holder)) {
        assert!(
            std::time::Instant::now() < deadline,
            "serve never took the lock"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let before = generation_names(&kb.index);

    let index = Command::new(bin)
        .args(["index", "--kb", kb_dir, "--index", index_dir])
        .env_remove("RUST_LOG")
        .output()
        .expect("run kbsearch index");
    let _ = serve.kill();
    let _ = serve.wait();
    let stderr = String::from_utf8_lossy(&index.stderr);
    assert!(!index.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("another kbsearch ({holder}) is writing the index")),
        "{stderr}"
    );
    assert_eq!(generation_names(&kb.index), before);
}

// ---------------------------------------------------------------------------------------------
// The content folder replaced or gone while the service runs.

fn copy_dir(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn status(live: &common::Live) -> kbsearch::ingest::live::IndexStatus {
    live.state.live.as_ref().unwrap().status()
}

/// `mv kb kb.old; cp -r kb.old kb`, then a new article: searchable in seconds, not at the next
/// reconcile (there is none in these tests).
async fn replace_the_folder_while_watching(mode: WatchMode) {
    let kb = Kb::new();
    kb.write("articles/a.md", article("Before", "aardvark"));
    let mut live = kb.live(mode).await;
    assert_eq!(status(&live).watching, Some(mode));

    let old = kb.kb.with_file_name("kb.old");
    std::fs::rename(&kb.kb, &old).unwrap();
    copy_dir(&old, &kb.kb);
    let replaced = std::time::Instant::now();
    kb.write("articles/new.md", article("After", "okapi"));
    live.wait_for_ids("okapi", &["articles/new"]).await;
    let took = replaced.elapsed();
    assert!(took < std::time::Duration::from_secs(20), "{took:?}");
    // The new folder is watched, not only compared once.
    kb.write("articles/later.md", article("Later", "ibex"));
    live.wait_for_ids("ibex", &["articles/later"]).await;
    // A polling watcher compares paths and may see new articles before the guard's check; the
    // watch is set again on the new folder all the same.
    live.wait_for("the watch set again", |state| {
        state.live.as_ref().unwrap().status().rearms >= 1
    })
    .await;
    let after = status(&live);
    assert!(after.rearmed_at.is_some(), "{after:?}");
    assert_eq!(after.watching, Some(mode), "{after:?}");
    // And the old one no longer is: a file removed there stays in the index.
    std::fs::remove_file(old.join("articles/a.md")).unwrap();
    kb.write("articles/marker.md", article("Marker", "gazelle"));
    live.wait_for_ids("gazelle", &["articles/marker"]).await;
    assert_eq!(live.ids("aardvark"), ["articles/a"]);
}

#[tokio::test]
async fn a_replaced_content_folder_is_watched_again_and_compared_at_once() {
    replace_the_folder_while_watching(WatchMode::Native).await;
}

#[tokio::test]
async fn a_replaced_content_folder_is_polled_again_too() {
    replace_the_folder_while_watching(WatchMode::Poll).await;
}

#[tokio::test]
async fn a_content_folder_that_vanishes_is_reported_and_watched_again_when_back() {
    let kb = Kb::new();
    kb.write("articles/a.md", article("Stays", "aardvark"));
    let mut live = kb.live(WatchMode::Native).await;

    let away = kb.kb.with_file_name("kb.away");
    std::fs::rename(&kb.kb, &away).unwrap();
    let missing = |state: &kbsearch::server::AppState| {
        state
            .problems
            .load()
            .iter()
            .any(|p| p.is_error() && p.message.starts_with("the content folder is gone"))
    };
    live.wait_for("the folder reported gone", missing).await;
    let gone = status(&live);
    assert_eq!(gone.watching, None, "{gone:?}");
    assert!(gone.folder_missing_since.is_some(), "{gone:?}");
    // Searches still answer from the last index.
    assert_eq!(live.ids("aardvark"), ["articles/a"]);
    let reply = get(&live.app(), "/api/status", Some(AGENT_KEY))
        .await
        .json();
    assert_eq!(
        reply["index"]["watching"],
        serde_json::Value::Null,
        "{reply}"
    );

    std::fs::write(away.join("articles/b.md"), article("Back", "okapi")).unwrap();
    std::fs::rename(&away, &kb.kb).unwrap();
    live.wait_for_ids("okapi", &["articles/b"]).await;
    live.wait_for("the folder back", |state| !missing(state))
        .await;
    let back = status(&live);
    assert_eq!(back.watching, Some(WatchMode::Native), "{back:?}");
    assert_eq!(back.folder_missing_since, None);
    kb.write("articles/c.md", article("Watched", "ibex"));
    live.wait_for_ids("ibex", &["articles/c"]).await;
}

#[tokio::test]
async fn a_content_folder_link_switched_to_a_new_release_is_followed() {
    let kb = Kb::new();
    let releases = kb.kb.with_file_name("releases");
    let v1 = releases.join("v1");
    let v2 = releases.join("v2");
    std::fs::create_dir_all(v1.join("articles")).unwrap();
    std::fs::write(v1.join("articles/a.md"), article("One", "aardvark")).unwrap();
    copy_dir(&v1, &v2);
    std::fs::write(v2.join("articles/b.md"), article("Two", "okapi")).unwrap();
    let current = kb.kb.with_file_name("current");
    symlink(&v1, &current).unwrap();
    let mut options = kb.live_options(WatchMode::Native);
    options.index.kb_root = current.clone();
    let mut live = kb.live_with(options).await;
    assert_eq!(live.ids("aardvark"), ["articles/a"]);

    // `ln -sfn v2 current`, atomically.
    let next = kb.kb.with_file_name("current.next");
    symlink(&v2, &next).unwrap();
    std::fs::rename(&next, &current).unwrap();
    live.wait_for_ids("okapi", &["articles/b"]).await;
    std::fs::write(v2.join("articles/c.md"), article("Three", "ibex")).unwrap();
    live.wait_for_ids("ibex", &["articles/c"]).await;
}
