//! Issue 13, "fail closed": a file that stops parsing keeps its last good version searchable, but
//! never to more callers than the file now allows. A writer who hides a public article with a
//! typo (`visibility: interal`) hides it from everyone but agents until the typo is fixed; a
//! half-finished save that still reads `public` (or says nothing) leaves the article public.
//! Checked through a full reconcile (`Indexer::refresh`, as `kbsearch index` and the service's
//! start-up do) and through the live indexer following the watcher.

mod common;

use common::{AGENT_KEY, CUSTOMER_KEY, Kb, get};
use kbsearch::config::WatchMode;
use kbsearch::content::article::Visibility;
use serde_json::Value;

const PATH: &str = "articles/wombatgate.md";
const ID: &str = "wombatgate-reset";
const TITLE: &str = "Reset the wombatgate tunnel";

/// The article with `front` added to its front matter; `source("")` is the good public version.
fn source(front: &str) -> String {
    format!(
        "---\nid: {ID}\ntitle: {TITLE}\ntags: [vpn]\n{front}---\n# {TITLE}\n\nRestart the wombatgate service to reset the tunnel.\n"
    )
}

/// The public article among neighbours: enough that the segment of a deleted version survives
/// its deletion, so its terms are there to leak if anything reads them.
fn fixture() -> Kb {
    let kb = Kb::new();
    kb.write(PATH, source(""));
    for i in 0..40 {
        kb.article(
            &format!("articles/other-{i}.md"),
            &format!("Other tunnel {i}"),
            "",
            "unrelated tunnel words",
        );
    }
    kb
}

/// What one caller gets of the article on every route that could show it.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    /// Status of `/api/articles/{id}`.
    api: u16,
    /// Status of the page `/articles/{id}`.
    page: u16,
    /// Hits of `/api/search` for its unique word.
    hits: u64,
    /// Whether `/api/suggest` completes its unique word.
    suggested: bool,
}

const SHOWN: Seen = Seen {
    api: 200,
    page: 200,
    hits: 1,
    suggested: true,
};

const HIDDEN: Seen = Seen {
    api: 404,
    page: 404,
    hits: 0,
    suggested: false,
};

async fn seen_by(app: &axum::Router, key: Option<&str>) -> Seen {
    let search = get(app, "/api/search?q=wombatgate", key).await.json();
    let suggest = get(app, "/api/suggest?q=wombatg", key).await.json();
    Seen {
        api: get(app, &format!("/api/articles/{ID}"), key).await.status,
        page: get(app, &format!("/articles/{ID}"), key).await.status,
        hits: search["total"].as_u64().expect("a total"),
        suggested: suggest["suggestions"].to_string().contains("wombatgate"),
    }
}

/// Anonymous visitors, customers and agents, as `(name, key)`.
const CALLERS: [(&str, Option<&str>); 3] = [
    ("anonymous", None),
    ("customer", Some(CUSTOMER_KEY)),
    ("agent", Some(AGENT_KEY)),
];

/// Checks what each caller gets: `shown_to` lists the callers who see the article.
async fn assert_shown_to(app: &axum::Router, shown_to: &[&str], context: &str) {
    for (name, key) in CALLERS {
        let expected = if shown_to.contains(&name) {
            SHOWN
        } else {
            HIDDEN
        };
        assert_eq!(seen_by(app, key).await, expected, "{context}: as {name}");
    }
}

/// The problems of the article's file in `/api/status`, as `(severity, message)`.
async fn status_problems(app: &axum::Router) -> Vec<(String, String)> {
    let status = get(app, "/api/status", Some(AGENT_KEY)).await.json();
    status["content"]["problems"]
        .as_array()
        .unwrap_or_else(|| panic!("no problem list: {status}"))
        .iter()
        .filter(|p| p["path"] == PATH)
        .map(|p| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
            (text(&p["severity"]), text(&p["message"]))
        })
        .collect()
}

fn has(problems: &[(String, String)], severity: &str, words: &str) -> bool {
    problems
        .iter()
        .any(|(s, message)| s == severity && message.contains(words))
}

#[tokio::test]
async fn a_visibility_typo_hides_a_public_article_from_all_but_agents_until_fixed() {
    let kb = fixture();
    assert_shown_to(&kb.app(), &["anonymous", "customer", "agent"], "public").await;

    kb.write(PATH, source("visibility: interal\n"));
    let app = kb.app();
    assert_shown_to(&app, &["agent"], "after the typo").await;
    let problems = status_problems(&app).await;
    assert!(
        has(&problems, "error", "`interal` is not one of"),
        "{problems:?}"
    );
    assert!(
        has(
            &problems,
            "warning",
            &format!(
                "the last good version (id `{ID}`) stays searchable to agents only until the file is fixed"
            )
        ),
        "{problems:?}"
    );

    // Comparing again finds the restriction in place and changes nothing.
    let again = kb.index();
    assert_eq!(
        (again.changes.skipped, again.changes.restricted),
        (1, 0),
        "{:?}",
        again.changes
    );
    assert_shown_to(&kb.app(), &["agent"], "after a second refresh").await;

    // Undoing the typo gives back the very bytes of the last good version: still picked up.
    kb.write(PATH, source(""));
    let app = kb.app();
    assert_shown_to(&app, &["anonymous", "customer", "agent"], "after the fix").await;
    assert!(status_problems(&app).await.is_empty());
}

#[tokio::test]
async fn a_status_typo_makes_the_last_good_version_a_draft_until_fixed() {
    let kb = fixture();
    kb.index();
    kb.write(PATH, source("status: drafty\n"));
    let state = kb.app_state();
    let app = kbsearch::server::router(state.clone());
    assert_shown_to(&app, &[], "after the typo").await;
    let problems = status_problems(&app).await;
    assert!(
        has(&problems, "error", "`drafty` is not one of"),
        "{problems:?}"
    );
    assert!(
        has(
            &problems,
            "warning",
            "stays in the preview only, as a draft,"
        ),
        "{problems:?}"
    );
    // Writers still see it in the preview, marked as a draft.
    let preview = kbsearch::server::preview_router(state.for_preview());
    let page = get(&preview, &format!("/api/articles/{ID}"), None).await;
    assert_eq!(page.status, 200, "{}", page.body);

    kb.write(PATH, source("status: published\n"));
    assert_shown_to(
        &kb.app(),
        &["anonymous", "customer", "agent"],
        "after the fix",
    )
    .await;
}

#[tokio::test]
async fn a_half_finished_save_is_read_for_its_visibility_line() {
    let kb = fixture();
    kb.index();
    // A YAML syntax error on another line: `visibility: internal` is still readable.
    kb.write(PATH, source("tags: [vpn\nvisibility: internal\n"));
    let app = kb.app();
    assert_shown_to(&app, &["agent"], "broken, reading internal").await;
    let problems = status_problems(&app).await;
    assert!(
        has(&problems, "error", "does not parse as YAML"),
        "{problems:?}"
    );

    // The same error with `visibility: public`, or no visibility at all: a writer's half-finished
    // save does not take a live article away from customers. (The article is restored first.)
    for front in ["tags: [vpn\nvisibility: public\n", "tags: [vpn\n"] {
        kb.write(PATH, source(""));
        kb.index();
        kb.write(PATH, source(front));
        let app = kb.app();
        let context = format!("broken, with {front:?}");
        assert_shown_to(&app, &["anonymous", "customer", "agent"], &context).await;
        let problems = status_problems(&app).await;
        assert!(
            has(
                &problems,
                "warning",
                &format!(
                    "the last good version (id `{ID}`) stays searchable until the file is fixed"
                )
            ),
            "{context}: {problems:?}"
        );
    }
}

#[tokio::test]
async fn the_live_indexer_restricts_a_failing_file_and_restores_it_when_fixed() {
    let kb = fixture();
    let mut live = kb.live(WatchMode::Native).await;
    let app = live.app();
    assert_shown_to(&app, &["anonymous", "customer", "agent"], "public").await;
    let shown_to = |audience: Visibility| {
        move |state: &kbsearch::server::AppState| {
            let searcher = state.searcher.load_full().expect("searcher published");
            searcher
                .article(ID, audience, false)
                .expect("article lookup")
                .is_some()
        }
    };

    kb.write(PATH, source("visibility: interal\n"));
    // The problem is published with the batch that restricts the article.
    live.wait_for("the typo to be reported", |state| {
        state.problems.load().iter().any(|p| p.is_error())
    })
    .await;
    assert_shown_to(&app, &["agent"], "after the typo").await;
    let problems = status_problems(&app).await;
    assert!(
        has(&problems, "error", "`interal` is not one of"),
        "{problems:?}"
    );
    assert!(
        has(&problems, "warning", "stays searchable to agents only"),
        "{problems:?}"
    );

    kb.write(PATH, source("visibility: public\n"));
    live.wait_for(
        "the fix to restore the article",
        shown_to(Visibility::Public),
    )
    .await;
    assert_shown_to(&app, &["anonymous", "customer", "agent"], "after the fix").await;
    live.wait_for("the problems to go", |state| {
        state.problems.load().is_empty()
    })
    .await;

    // A half-finished save that still reads `public` leaves it public.
    kb.write(PATH, source("tags: [vpn\nvisibility: public\n"));
    live.wait_for("the half-finished save to be reported", |state| {
        state.problems.load().iter().any(|p| p.is_error())
    })
    .await;
    assert_shown_to(&app, &["anonymous", "customer", "agent"], "half-finished").await;
}

/// Regression: `Visibility: internal` (another letter case) was an unknown key, ignored with a
/// warning, so the article stayed public.
#[tokio::test]
async fn an_access_key_in_another_letter_case_is_an_error_and_read_as_written() {
    let kb = fixture();
    assert_shown_to(&kb.app(), &["anonymous", "customer", "agent"], "public").await;

    kb.write(PATH, source("Visibility: internal\n"));
    let app = kb.app();
    assert_shown_to(&app, &["agent"], "after `Visibility: internal`").await;
    let problems = status_problems(&app).await;
    assert!(
        has(
            &problems,
            "error",
            "`Visibility` must be written `visibility`"
        ),
        "{problems:?}"
    );

    kb.write(PATH, source("visibility: internal\n"));
    assert_shown_to(&kb.app(), &["agent"], "written as meant").await;
}
