//! Ranking and query handling: what a customer typing into the search box should get.

mod common;

use common::Kb;
use kbsearch::content::article::{ArticleType, Visibility};
use kbsearch::error::SearchError;
use kbsearch::search::SearchRequest;

#[test]
fn a_title_match_outranks_a_body_only_match() {
    let kb = Kb::new();
    kb.article(
        "articles/body.md",
        "Scanning large shares",
        "",
        "When the scan phase stalls, the migration journal may be full. Check the journal size \
         and other settings of the source server before you restart the project.",
    );
    kb.article(
        "articles/title.md",
        "Migration journal is full",
        "",
        "Free space on the destination volume.",
    );
    kb.index();
    assert_eq!(
        kb.ids("migration journal"),
        ["articles/title", "articles/body"]
    );
}

#[test]
fn all_query_words_beat_some() {
    let kb = Kb::new();
    // Many mentions of one word, none of the other: must still rank below the article with both.
    kb.article(
        "articles/some.md",
        "Heartbeat heartbeat",
        "",
        &"heartbeat lost again. ".repeat(30),
    );
    kb.article(
        "articles/all.md",
        "Agent status",
        "",
        "The heartbeat of the data mover was lost once.",
    );
    kb.index();
    assert_eq!(kb.ids("heartbeat mover"), ["articles/all", "articles/some"]);
}

#[test]
fn drafts_never_appear_in_normal_search() {
    let kb = Kb::new();
    kb.article(
        "articles/draft.md",
        "Draft about dingo",
        "status: draft\n",
        "x",
    );
    kb.article("articles/live.md", "Live about dingo", "", "x");
    kb.index();
    assert_eq!(kb.ids("dingo"), ["articles/live"]);
    let mut request = SearchRequest::new("dingo");
    request.include_drafts = true;
    request.audience = Visibility::Internal;
    assert_eq!(
        kb.searcher().search(&request).unwrap().total,
        2,
        "preview sees drafts"
    );
}

#[test]
fn synonyms_apply_at_query_time() {
    let kb = Kb::new();
    kb.write(
        "synonyms.toml",
        "groups = [[\"smb\", \"cifs\"], [\"data mover\", \"replication agent\"]]\n",
    );
    kb.article("articles/cifs.md", "CIFS share permissions", "", "x");
    kb.article(
        "articles/agent.md",
        "Restart the replication agent",
        "",
        "x",
    );
    kb.index();
    assert_eq!(kb.ids("smb share"), ["articles/cifs"]);
    assert_eq!(kb.ids("data mover restart"), ["articles/agent"]);
}

#[test]
fn error_codes_versions_and_constants_match_as_whole_tokens() {
    let kb = Kb::new();
    kb.article(
        "articles/denied.md",
        "Access denied",
        "",
        "Windows error 0x80070005 on 7.8.0.",
    );
    kb.article(
        "articles/inuse.md",
        "File in use",
        "",
        "Windows error 0x80070020 on 7.7.0.",
    );
    kb.article(
        "articles/locked.md",
        "Share locked",
        "",
        "Cutover stops with ERR_SHARE_LOCKED.",
    );
    kb.article(
        "articles/words.md",
        "Share access",
        "",
        "The share is locked by a user.",
    );
    kb.index();
    assert_eq!(kb.ids("0x80070005"), ["articles/denied"]);
    assert_eq!(kb.ids("7.8.0"), ["articles/denied"]);
    assert_eq!(kb.ids("7.7.0"), ["articles/inuse"]);
    assert_eq!(kb.ids("ERR_SHARE_LOCKED"), ["articles/locked"]);
    assert_eq!(
        kb.ids("err_share_locked"),
        ["articles/locked"],
        "case does not matter"
    );
    let words = kb.ids("share locked");
    assert!(
        words.contains(&"articles/locked".to_string()),
        "the parts still match words: {words:?}"
    );
    assert_eq!(
        kb.ids("7.8"),
        ["articles/denied"],
        "a short version finds its release"
    );
}

#[test]
fn phrases_and_exclusions() {
    let kb = Kb::new();
    kb.article(
        "articles/a.md",
        "Open files",
        "",
        "The open files block the cutover.",
    );
    kb.article(
        "articles/b.md",
        "Files",
        "",
        "Files that are open elsewhere are skipped.",
    );
    kb.index();
    assert_eq!(kb.ids("\"open files\""), ["articles/a"]);
    assert_eq!(kb.ids("files -cutover"), ["articles/b"]);
}

#[test]
fn any_characters_give_results_or_a_clear_message_never_a_panic() {
    let kb = Kb::new();
    kb.article(
        "articles/a.md",
        "Access denied on a share",
        "",
        "http://example.com/path?q=1 foo bar",
    );
    kb.index();
    let searcher = kb.searcher();
    let long = "share ".repeat(1000);
    let odd = [
        "foo:(",
        "\"unbalanced quote",
        "-",
        "--",
        "+",
        "http://example.com/path?q=1",
        &long,
        "🙂🙃 share",
        "a:b:c",
        "((((",
        "\\",
        "*",
        "~2",
        "^3",
        "NOT AND OR",
        "\u{0}",
        "share\u{200b}access",
    ];
    for query in odd {
        let request = SearchRequest::new(query);
        match searcher.search(&request) {
            Ok(_) | Err(SearchError::EmptyQuery) => {}
            Err(other) => panic!("{query:?}: unexpected error {other}"),
        }
    }
    let empty = searcher.search(&SearchRequest::new("")).unwrap_err();
    assert!(empty.to_string().contains("empty"));
    let stop = searcher.search(&SearchRequest::new("the to is")).unwrap();
    assert_eq!(stop.total, 0);
    assert!(
        stop.notices[0].contains("common words"),
        "{:?}",
        stop.notices
    );
    let shortened = searcher.search(&SearchRequest::new(long.as_str())).unwrap();
    assert_eq!(
        shortened.notices.len(),
        1,
        "a long query is shortened with a notice"
    );
    assert!(
        !searcher
            .search(&SearchRequest::new("🙂 share"))
            .unwrap()
            .hits
            .is_empty()
    );
}

#[test]
fn filters_by_type_version_tag_and_visibility() {
    let kb = Kb::new();
    kb.article("articles/all.md", "Emu for all", "tags: [nfs]\n", "x");
    kb.article(
        "articles/v77.md",
        "Emu on 7.7",
        "versions: [7.7.0]\ntags: [smb]\n",
        "x",
    );
    kb.article("help/help.md", "Emu help", "visibility: customer\n", "x");
    kb.article(
        "articles/int.md",
        "Emu internal",
        "visibility: internal\n",
        "x",
    );
    kb.index();
    let searcher = kb.searcher();
    let run = |request: SearchRequest| -> Vec<String> {
        let mut ids: Vec<String> = searcher
            .search(&request)
            .unwrap()
            .hits
            .into_iter()
            .map(|h| h.info.id)
            .collect();
        ids.sort();
        ids
    };
    let base = || {
        let mut request = SearchRequest::new("emu");
        request.audience = Visibility::Internal;
        request
    };
    let mut by_version = base();
    by_version.version = Some("7.8".into());
    assert_eq!(
        run(by_version),
        ["articles/all", "articles/int", "help/help"],
        "7.8 excludes the 7.7-only article"
    );
    let mut by_type = base();
    by_type.types = vec![ArticleType::Help];
    assert_eq!(run(by_type), ["help/help"]);
    let mut by_tag = base();
    by_tag.tags = vec!["SMB".into()];
    assert_eq!(run(by_tag), ["articles/v77"]);
    let mut anonymous = base();
    anonymous.audience = Visibility::Public;
    assert_eq!(run(anonymous), ["articles/all", "articles/v77"]);
    let mut customer = base();
    customer.audience = Visibility::Customer;
    assert_eq!(run(customer), ["articles/all", "articles/v77", "help/help"]);
    let mut unknown = base();
    unknown.version = Some("9.1".into());
    let err = searcher.search(&unknown).unwrap_err();
    assert!(err.to_string().contains("unknown version `9.1`"), "{err}");
}

#[test]
fn snippets_highlight_matches_and_point_to_the_section() {
    let kb = Kb::new();
    kb.article(
        "articles/a.md",
        "Naïve façade",
        "",
        "Intro about other things.\n\n## Resolution\n\nRestart the café service — the cœur of the fix when a < b & c.",
    );
    kb.index();
    let hit = &kb.search("cafe service").hits[0];
    let html = hit.snippet.to_html();
    assert!(html.contains("<mark>café</mark>"), "{html}");
    assert!(
        html.contains("a &lt; b &amp; c"),
        "body text is escaped: {html}"
    );
    let section = hit.section.as_ref().expect("a section");
    assert_eq!(
        (section.heading.as_str(), section.anchor.as_str()),
        ("Resolution", "resolution")
    );
}

#[test]
fn pages_do_not_overlap() {
    let kb = Kb::new();
    for i in 0..12 {
        kb.article(
            &format!("articles/a{i:02}.md"),
            &format!("Page {i} koala"),
            "",
            &"koala ".repeat(i + 1),
        );
    }
    kb.index();
    let searcher = kb.searcher();
    let mut seen = Vec::new();
    for page in 0..3 {
        let mut request = SearchRequest::new("koala");
        request.limit = 5;
        request.offset = page * 5;
        let results = searcher.search(&request).unwrap();
        assert_eq!(results.total, 12);
        seen.extend(results.hits.into_iter().map(|h| h.info.id));
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (12, 12));
}
