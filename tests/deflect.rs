//! Case deflection over HTTP on the sample knowledge base: suggestions, policy notices, feedback,
//! analytics, and every kind of bad input.

mod common;

use common::{AGENT_KEY, CUSTOMER_KEY, Kb, get, post_json, send};
use serde_json::{Value, json};

fn sample() -> (Kb, axum::Router) {
    let kb = Kb::sample();
    let app = kb.app();
    (kb, app)
}

async fn deflect(app: &axum::Router, draft: Value) -> Value {
    let reply = post_json(app, "/api/deflect", None, &draft).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}

fn ids(answer: &Value) -> Vec<String> {
    answer["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_draft_with_an_error_code_gets_the_article_that_solves_it() {
    let (_kb, app) = sample();
    let answer = deflect(
        &app,
        json!({
            "subject": "cutover keeps failing",
            "description": "Our cutover job stops every night with ERR_SHARE_LOCKED. Users still have \
                            spreadsheets open on the old filer I think. We are on 7.8.0.",
            "case_type": "problem",
            "severity": 3,
            "product": "StorageX",
            "version": "7.8.0"
        }),
    )
    .await;
    assert!(
        uuid::Uuid::parse_str(answer["deflection_id"].as_str().unwrap()).is_ok(),
        "{answer}"
    );
    let first = &answer["suggestions"][0];
    assert_eq!(
        first["id"], "cutover-fails-err-share-locked-open-files",
        "{answer}"
    );
    let confidence = first["confidence"].as_f64().unwrap();
    assert!((0.4..=1.0).contains(&confidence), "{answer}");
    let matched: Vec<&str> = first["matched_terms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(matched.contains(&"ERR_SHARE_LOCKED"), "{matched:?}");
    assert!(
        first["snippet"].as_str().unwrap().contains("<mark>"),
        "{answer}"
    );
    assert_eq!(
        first["url"],
        "/articles/cutover-fails-err-share-locked-open-files"
    );
    assert!(answer["notices"].as_array().unwrap().is_empty(), "{answer}");
}

#[tokio::test]
async fn a_draft_nothing_answers_gets_no_suggestions() {
    let (_kb, app) = sample();
    let answer = deflect(
        &app,
        json!({
            "subject": "Invoice charged twice",
            "description": "Our finance team sees two charges for the annual renewal on the same \
                            credit card. Please refund one of them.",
            "case_type": "request",
            "severity": 4
        }),
    )
    .await;
    assert_eq!(ids(&answer), Vec::<String>::new(), "{answer}");
}

#[tokio::test]
async fn severity_one_says_to_submit_now_with_the_response_target() {
    let (_kb, app) = sample();
    let answer = deflect(
        &app,
        json!({"subject": "data mover heartbeat lost, migrations stopped", "severity": 1}),
    )
    .await;
    let notices = answer["notices"].to_string();
    assert!(
        notices.contains("4 hours") && notices.contains("submit"),
        "{answer}"
    );
    assert!(
        !ids(&answer).is_empty(),
        "suggestions are still returned: {answer}"
    );
}

#[tokio::test]
async fn a_version_past_end_of_support_is_a_notice_linking_the_support_page_not_a_suggestion() {
    let (_kb, app) = sample();
    let answer = deflect(
        &app,
        json!({"subject": "baseline copy is very slow", "version": "7.6.0", "product": "StorageX"}),
    )
    .await;
    let notice = answer["notices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| {
            n["text"]
                .as_str()
                .unwrap()
                .contains("end of general support")
        })
        .unwrap_or_else(|| panic!("an end-of-support notice: {answer}"));
    assert!(
        notice["text"].as_str().unwrap().contains("7.6.0"),
        "{answer}"
    );
    assert_eq!(
        notice["url"], "/articles/product-version-support",
        "{answer}"
    );
    // Out of support is a notice: the page is not pinned among the suggestions, which are the
    // articles about the draft.
    assert!(
        !ids(&answer).contains(&"product-version-support".to_string()),
        "{answer}"
    );
    assert!(
        ids(&answer).contains(&"baseline-copy-slow-throughput".to_string()),
        "{answer}"
    );

    let supported = deflect(
        &app,
        json!({"subject": "baseline copy is very slow", "version": "7.8"}),
    )
    .await;
    assert!(
        supported["notices"].as_array().unwrap().is_empty(),
        "{supported}"
    );
}

#[tokio::test]
async fn feature_requests_get_release_notes_first() {
    let (_kb, app) = sample();
    let answer = deflect(
        &app,
        json!({
            "subject": "Please support paths longer than 260 characters",
            "description": "We have deep folder trees and the migration skips long paths. Could a \
                            future version handle them?",
            "case_type": "Feature Request",
            "version": "7.7.0"
        }),
    )
    .await;
    // The release that brought the feature comes first.
    let kinds: Vec<&str> = answer["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"release-note"), "{answer}");
    assert_eq!(answer["suggestions"][0]["id"], "storagex-7-8-0", "{answer}");
}

#[tokio::test]
async fn internal_articles_are_never_suggested_to_customers() {
    let (_kb, app) = sample();
    let draft = json!({"subject": "quokkaflow marmotdump keysmith orcawatch", "description": "DEF-88213 SXENG"});
    let public = post_json(&app, "/api/deflect", None, &draft).await.json();
    let customer = post_json(&app, "/api/deflect", Some(CUSTOMER_KEY), &draft)
        .await
        .json();
    for answer in [&public, &customer] {
        for suggestion in answer["suggestions"].as_array().unwrap() {
            assert!(
                !suggestion.to_string().to_lowercase().contains("quokkaflow"),
                "{answer}"
            );
            assert!(
                !suggestion["id"].as_str().unwrap().starts_with("internal-"),
                "{answer}"
            );
        }
    }
    let agent = post_json(&app, "/api/deflect", Some(AGENT_KEY), &draft)
        .await
        .json();
    assert!(
        ids(&agent).iter().any(|id| id.starts_with("internal-")),
        "support staff see internal articles: {agent}"
    );
}

#[tokio::test]
async fn outcomes_are_recorded_once_and_feed_the_analytics() {
    let (kb, app) = sample();
    let solved = deflect(&app, json!({"subject": "license expired SXE-1001"})).await;
    let solved_id = solved["deflection_id"].as_str().unwrap();
    let article = solved["suggestions"][0]["id"].as_str().unwrap();
    // The case form asks again as the customer types: the same draft, not a new one.
    let again = deflect(
        &app,
        json!({"subject": "license expired SXE-1001 after renewal", "deflection_id": solved_id}),
    )
    .await;
    assert_eq!(again["deflection_id"], solved_id);
    let submitted = deflect(&app, json!({"subject": "console crashes on start"})).await;
    let submitted_id = submitted["deflection_id"].as_str().unwrap();

    let feedback = |id: &str| format!("/api/deflect/{id}/feedback");
    let body = json!({"outcome": "solved", "article_id": article});
    let first = post_json(&app, &feedback(solved_id), None, &body).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.json()["status"], "recorded");
    let repeat = post_json(&app, &feedback(solved_id), None, &body).await;
    assert_eq!(repeat.status, 200, "duplicate feedback is idempotent");
    assert_eq!(repeat.json()["status"], "already_recorded");
    let case = post_json(
        &app,
        &feedback(submitted_id),
        None,
        &json!({"outcome": "case_submitted"}),
    )
    .await;
    assert_eq!(case.status, 200, "{}", case.body);

    // Durable before the answer: the rows are in the database file now.
    let db = rusqlite::Connection::open(kb.data.join(kbsearch::events::EVENTS_FILE)).unwrap();
    let count = |sql: &str| -> i64 { db.query_row(sql, [], |row| row.get(0)).unwrap() };
    assert_eq!(count("SELECT count(*) FROM deflections"), 2);
    assert_eq!(count("SELECT count(*) FROM feedback"), 2);

    assert_eq!(
        get(&app, "/api/analytics/deflection", Some(CUSTOMER_KEY))
            .await
            .status,
        403
    );
    let analytics = get(&app, "/api/analytics/deflection", Some(AGENT_KEY))
        .await
        .json();
    assert_eq!(analytics["drafts"], 2, "{analytics}");
    assert_eq!(analytics["solved"], 1, "{analytics}");
    assert_eq!(analytics["case_submitted"], 1, "{analytics}");
    assert_eq!(analytics["deflection_rate"], 0.5, "{analytics}");
    assert_eq!(
        analytics["top_solving"][0]["article_id"], article,
        "{analytics}"
    );
    let future = get(
        &app,
        "/api/analytics/deflection?from=2999-01-01",
        Some(AGENT_KEY),
    )
    .await
    .json();
    assert_eq!(future["drafts"], 0, "{future}");
}

#[tokio::test]
async fn searches_feed_top_and_zero_result_queries() {
    let (kb, app) = sample();
    for q in ["cutover", "Cutover ", "zzqxv"] {
        let uri = format!("/api/search?q={}", q.replace(' ', "+"));
        assert_eq!(get(&app, &uri, None).await.status, 200);
    }
    kb.events().flush().await.unwrap();
    let analytics = get(&app, "/api/analytics/search", Some(AGENT_KEY))
        .await
        .json();
    assert_eq!(analytics["searches"], 3, "{analytics}");
    assert_eq!(
        analytics["top_queries"][0]["query"], "cutover",
        "{analytics}"
    );
    assert_eq!(analytics["top_queries"][0]["count"], 2, "{analytics}");
    assert_eq!(
        analytics["zero_result_queries"][0]["query"], "zzqxv",
        "{analytics}"
    );
}

#[tokio::test]
async fn bad_drafts_are_refused_with_the_field_named() {
    let (_kb, app) = sample();
    for (draft, field) in [
        (json!({"subject": " ", "description": ""}), "subject"),
        (json!({"subject": "x", "case_type": "bug"}), "case_type"),
        (json!({"subject": "x", "severity": 7}), "severity"),
        (json!({"subject": "x", "severity": "high"}), "severity"),
        (json!({"subject": "x", "severity": "2"}), "severity"),
        (json!({"subject": "x", "limit": " 3"}), "limit"),
        (json!({"subject": "x", "limit": 0}), "limit"),
        (json!({"subject": "x", "limit": 500}), "limit"),
        (
            json!({"subject": "x", "deflection_id": "not-an-id"}),
            "deflection_id",
        ),
    ] {
        let reply = post_json(&app, "/api/deflect", None, &draft).await;
        assert_eq!(reply.status, 400, "{draft}: {}", reply.body);
        let error = reply.json()["error"].clone();
        assert_eq!(error["code"], "bad_parameter", "{draft}: {error}");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains(&format!("`{field}`")),
            "{error}"
        );
    }
    let not_json = send(
        &app,
        "post",
        "/api/deflect",
        None,
        Some("{subject".to_string()),
    )
    .await;
    assert_eq!(not_json.status, 400, "{}", not_json.body);
    assert_eq!(not_json.json()["error"]["code"], "bad_request");

    let huge = json!({"subject": "big", "description": "word ".repeat(20_000)});
    let reply = post_json(&app, "/api/deflect", None, &huge).await;
    assert_eq!(reply.status, 413, "{}", reply.body);
    assert_eq!(reply.json()["error"]["code"], "payload_too_large");
    let long_subject = json!({"subject": "s".repeat(1_001)});
    let reply = post_json(&app, "/api/deflect", None, &long_subject).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("parameter `subject`: is 1001 characters long"),
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn bad_feedback_is_refused_and_unknown_drafts_are_404() {
    let (_kb, app) = sample();
    let answer = deflect(&app, json!({"subject": "share access denied"})).await;
    let uri = format!(
        "/api/deflect/{}/feedback",
        answer["deflection_id"].as_str().unwrap()
    );
    for (body, field) in [
        (json!({"outcome": "fixed"}), "outcome"),
        (json!({"outcome": "solved"}), "article_id"),
        (
            json!({"outcome": "not_helpful", "article_id": " "}),
            "article_id",
        ),
    ] {
        let reply = post_json(&app, &uri, None, &body).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.body);
        assert!(reply.body.contains(&format!("`{field}`")), "{}", reply.body);
    }
    let unknown = format!("/api/deflect/{}/feedback", uuid::Uuid::now_v7());
    let reply = post_json(&app, &unknown, None, &json!({"outcome": "case_submitted"})).await;
    assert_eq!(reply.status, 404, "{}", reply.body);
    let malformed = post_json(
        &app,
        "/api/deflect/42/feedback",
        None,
        &json!({"outcome": "case_submitted"}),
    )
    .await;
    assert_eq!(malformed.status, 400, "{}", malformed.body);
    let dates = get(
        &app,
        "/api/analytics/deflection?from=yesterday",
        Some(AGENT_KEY),
    )
    .await;
    assert_eq!(dates.status, 400, "{}", dates.body);
    assert!(dates.body.contains("`from`"));
    // Only an empty bound is no bound; a blank-looking one is not a date (found by schemathesis).
    for (blank, status) in [
        ("", 200),
        ("%C2%A0", 400),
        ("%20", 400),
        ("%202026-11-01", 400),
    ] {
        let reply = get(
            &app,
            &format!("/api/analytics/deflection?from={blank}"),
            Some(AGENT_KEY),
        )
        .await;
        assert_eq!(reply.status, status, "from={blank}: {}", reply.body);
    }
}

#[tokio::test]
async fn a_locked_event_database_is_a_clear_503_and_nothing_is_half_written() {
    let (kb, app) = sample();
    let answer = deflect(&app, json!({"subject": "share access denied"})).await;
    let uri = format!(
        "/api/deflect/{}/feedback",
        answer["deflection_id"].as_str().unwrap()
    );
    // Another process holds the database: the write waits its busy timeout, then gives up.
    let holder = rusqlite::Connection::open(kb.data.join(kbsearch::events::EVENTS_FILE)).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let reply = post_json(&app, &uri, None, &json!({"outcome": "case_submitted"})).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(reply.json()["error"]["code"], "unavailable");
    assert!(reply.body.contains("locked"), "{}", reply.body);
    holder.execute_batch("ROLLBACK").unwrap();
    let count: i64 = holder
        .query_row("SELECT count(*) FROM feedback", [], |row| row.get(0))
        .unwrap();
    assert_eq!(count, 0);
    // Once the lock is gone, the same request goes through.
    let retry = post_json(&app, &uri, None, &json!({"outcome": "case_submitted"})).await;
    assert_eq!(retry.status, 200, "{}", retry.body);
}

#[tokio::test]
async fn the_case_form_works_without_javascript() {
    let (_kb, app) = sample();
    let form = [
        ("subject", "cutover fails with ERR_SHARE_LOCKED"),
        ("description", "users keep files open"),
        ("case_type", "problem"),
        ("severity", "2"),
        ("product", "StorageX"),
        ("version", "7.8.0"),
    ];
    let page = common::post_form(&app, "/case", &form).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("Your case was submitted"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("/articles/cutover-fails-err-share-locked-open-files")
    );
    let analytics = get(&app, "/api/analytics/deflection", Some(AGENT_KEY))
        .await
        .json();
    assert_eq!(analytics["drafts"], 1, "{analytics}");
    assert_eq!(analytics["case_submitted"], 1, "{analytics}");
    let bad = common::post_form(&app, "/case", &[("subject", "x"), ("severity", "9")]).await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("severity"), "{}", bad.body);
}

/// The rows the event database holds for one draft: its fields, and its suggestions in order.
fn stored_draft(kb: &Kb, id: &str) -> (String, i64, Vec<String>) {
    let db = rusqlite::Connection::open(kb.data.join(kbsearch::events::EVENTS_FILE)).unwrap();
    let (case_type, severity) = db
        .query_row(
            "SELECT case_type, severity FROM deflections WHERE id = ?1",
            [id],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    let suggested = db
        .prepare("SELECT article_id FROM suggestions WHERE deflection_id = ?1 ORDER BY position")
        .unwrap()
        .query_map([id], |row| row.get(0))
        .unwrap()
        .collect::<rusqlite::Result<Vec<String>>>()
        .unwrap();
    (case_type, severity, suggested)
}

fn rows(kb: &Kb, table: &str) -> i64 {
    let db = rusqlite::Connection::open(kb.data.join(kbsearch::events::EVENTS_FILE)).unwrap();
    db.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
        row.get(0)
    })
    .unwrap()
}

/// Issue 13: any article id was recorded as `solved`, so anyone could record "solved by" an
/// internal article, or probe article ids, on any draft.
#[tokio::test]
async fn feedback_for_an_article_the_draft_was_not_shown_is_refused() {
    let (kb, app) = sample();
    let answer = deflect(&app, json!({"subject": "license expired SXE-1001"})).await;
    let shown = ids(&answer);
    assert!(!shown.is_empty(), "{answer}");
    let uri = format!(
        "/api/deflect/{}/feedback",
        answer["deflection_id"].as_str().unwrap()
    );
    let internal = post_json(
        &app,
        "/api/deflect",
        Some(AGENT_KEY),
        &json!({"subject": "quokkaflow marmotdump keysmith orcawatch"}),
    )
    .await
    .json();
    let hidden = ids(&internal)
        .into_iter()
        .find(|id| id.starts_with("internal-"))
        .expect("an internal article to name");
    for (outcome, article) in [
        ("solved", hidden.as_str()),
        ("solved", "cutover-fails-err-share-locked-open-files"),
        ("solved", "no-such-article"),
        ("not_helpful", hidden.as_str()),
    ] {
        let body = json!({"outcome": outcome, "article_id": article});
        let reply = post_json(&app, &uri, None, &body).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.body);
        assert_eq!(reply.json()["error"]["code"], "bad_parameter");
        assert!(reply.body.contains("`article_id`"), "{}", reply.body);
        assert!(!reply.body.contains(&hidden), "{}", reply.body);
    }
    assert_eq!(rows(&kb, "feedback"), 0, "nothing recorded");
    let solved = json!({"outcome": "solved", "article_id": shown[0]});
    assert_eq!(post_json(&app, &uri, None, &solved).await.status, 200);
    assert_eq!(rows(&kb, "feedback"), 1);
}

/// Issue 13: any UUID was accepted as a draft's id, so a client could pick a predictable one,
/// or send another caller's id and write over that draft.
#[tokio::test]
async fn predictable_and_foreign_deflection_ids_are_refused() {
    let (kb, app) = sample();
    for predictable in [
        "00000000-0000-0000-0000-000000000000",
        "ffffffff-ffff-ffff-ffff-ffffffffffff",
        "00000000-0000-0000-0000-000000000001",
        "c232ab00-9414-11ec-b3c8-9f6bdeced846", // version 1: time and node
        "6fa459ea-ee8a-3ca4-894e-db77e160355e", // version 3: a name's MD5
    ] {
        let draft = json!({"subject": "share access denied", "deflection_id": predictable});
        let reply = post_json(&app, "/api/deflect", None, &draft).await;
        assert_eq!(reply.status, 400, "{predictable}: {}", reply.body);
        assert!(reply.body.contains("`deflection_id`"), "{}", reply.body);
    }
    assert_eq!(rows(&kb, "deflections"), 0);

    // A random id of the client's choosing starts a draft: an idempotency key.
    let chosen = uuid::Uuid::new_v4().to_string();
    let draft = json!({"subject": "license expired SXE-1001", "deflection_id": chosen});
    let started = post_json(&app, "/api/deflect", Some(CUSTOMER_KEY), &draft).await;
    assert_eq!(started.status, 200, "{}", started.body);
    assert_eq!(started.json()["deflection_id"], chosen.as_str());
    let original = stored_draft(&kb, &chosen);
    assert!(!original.2.is_empty(), "{original:?}");

    // Anyone else sending that id is refused, and the draft stays as its creator left it.
    let takeover = json!({
        "subject": "console crashes on start", "case_type": "question", "severity": 1,
        "deflection_id": chosen,
    });
    for key in [None, Some(AGENT_KEY)] {
        let reply = post_json(&app, "/api/deflect", key, &takeover).await;
        assert_eq!(reply.status, 400, "{key:?}: {}", reply.body);
        assert!(reply.body.contains("`deflection_id`"), "{}", reply.body);
        assert!(reply.json().get("suggestions").is_none());
        assert_eq!(stored_draft(&kb, &chosen), original, "{key:?}");
    }
    // Their feedback on it is the 404 of a draft that does not exist.
    let feedback = |id: &str| format!("/api/deflect/{id}/feedback");
    let submitted = json!({"outcome": "case_submitted"});
    let foreign = post_json(&app, &feedback(&chosen), None, &submitted).await;
    let unknown_id = uuid::Uuid::new_v4().to_string();
    let unknown = post_json(&app, &feedback(&unknown_id), None, &submitted).await;
    assert_eq!((foreign.status, unknown.status), (404, 404));
    assert_eq!(
        foreign.body.replace(&chosen, "ID"),
        unknown.body.replace(&unknown_id, "ID")
    );
    assert_eq!(rows(&kb, "feedback"), 0);

    // Its creator goes on as before.
    let update =
        json!({"subject": "license expired SXE-1001 after renewal", "deflection_id": chosen});
    let again = post_json(&app, "/api/deflect", Some(CUSTOMER_KEY), &update).await;
    assert_eq!(again.status, 200, "{}", again.body);
    let mine = post_json(&app, &feedback(&chosen), Some(CUSTOMER_KEY), &submitted).await;
    assert_eq!(mine.status, 200, "{}", mine.body);
    assert_eq!(rows(&kb, "deflections"), 1);
}

/// The product and version a draft is stored with.
fn stored_product_version(kb: &Kb, id: &str) -> (Option<String>, Option<String>) {
    let db = rusqlite::Connection::open(kb.data.join(kbsearch::events::EVENTS_FILE)).unwrap();
    db.query_row(
        "SELECT product, version FROM deflections WHERE id = ?1",
        [id],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
    .unwrap()
}

/// Issue 14: a draft's product and version were stored as sent (30 KB each were accepted), so a
/// loop could fill the disk. They are stored as the catalog spells them, or as `other`.
#[tokio::test]
async fn products_and_versions_are_stored_as_the_catalog_knows_them_or_as_other() {
    let (kb, app) = sample();
    let huge = "7".repeat(30_000);
    let cases = [
        (
            json!("storagex"),
            json!("7.8"),
            Some("StorageX"),
            Some("7.8.0"),
        ),
        (
            json!("StorageX"),
            json!("v7.7.0"),
            Some("StorageX"),
            Some("7.7.0"),
        ),
        (
            json!("Acme Backup"),
            json!("7.8"),
            Some("other"),
            Some("7.8.0"),
        ),
        (
            json!("StorageX"),
            json!("9.9"),
            Some("StorageX"),
            Some("other"),
        ),
        (json!(huge), json!(huge), Some("other"), Some("other")),
        (json!(null), json!(""), None, None),
    ];
    for (product, version, stored_product, stored_version) in cases {
        let draft = json!({
            "subject": "cutover fails with ERR_SHARE_LOCKED",
            "product": product,
            "version": version,
        });
        let answer = deflect(&app, draft).await;
        let id = answer["deflection_id"].as_str().unwrap();
        let (product_row, version_row) = stored_product_version(&kb, id);
        let shown = |value: &Value| value.to_string().chars().take(40).collect::<String>();
        assert_eq!(
            (product_row.as_deref(), version_row.as_deref()),
            (stored_product, stored_version),
            "product {}, version {}",
            shown(&product),
            shown(&version)
        );
    }
}

/// Issue 14: the query text of a search is stored cut at `MAX_TEXT_CHARS`, and marked.
#[tokio::test]
async fn a_long_query_is_stored_cut_and_marked() {
    let (kb, app) = sample();
    let words = "cutover ".repeat(110);
    let uri = format!("/api/search?q={}", words.trim().replace(' ', "+"));
    assert_eq!(get(&app, &uri, None).await.status, 200);
    kb.events().flush().await.unwrap();
    let db = rusqlite::Connection::open(kb.data.join(kbsearch::events::EVENTS_FILE)).unwrap();
    let stored: String = db
        .query_row("SELECT query FROM searches", [], |row| row.get(0))
        .unwrap();
    assert!(stored.ends_with(kbsearch::events::TRUNCATED), "{stored}");
    assert_eq!(
        stored.chars().count(),
        kbsearch::events::MAX_TEXT_CHARS + kbsearch::events::TRUNCATED.chars().count()
    );
}

/// Issue 14: a loop filled the disk, after which deflection and feedback failed. Past the size
/// cap (here 0: no room at all) searches are dropped and counted in `/metrics`; drafts and their
/// outcomes are still recorded.
#[tokio::test]
async fn over_the_size_cap_searches_are_dropped_and_counted_and_outcomes_still_land() {
    use kbsearch::events::EventStore;
    let kb = Kb::sample();
    let no_room = kbsearch::config::Events {
        max_database_mb: 0,
        ..kbsearch::config::Events::default()
    };
    let store = std::sync::Arc::new(
        kbsearch::events::SqliteEventStore::open_configured(&kb.data, &no_room).unwrap(),
    );
    let events: std::sync::Arc<dyn kbsearch::events::EventStore> = store.clone();
    let app = kbsearch::server::router(kb.app_state_with(events));
    // The store measures itself in the background, at once and every second.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while store.dropped_searches() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no search was dropped"
        );
        assert_eq!(get(&app, "/api/search?q=cutover", None).await.status, 200);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    store.flush().await.unwrap();
    let (searches, dropped) = (rows(&kb, "searches"), store.dropped_searches());
    for _ in 0..3 {
        assert_eq!(get(&app, "/api/search?q=cutover", None).await.status, 200);
    }
    store.flush().await.unwrap();
    assert_eq!(
        rows(&kb, "searches"),
        searches,
        "a search was written over the cap"
    );
    assert_eq!(store.dropped_searches(), dropped + 3);

    let answer = deflect(&app, json!({"subject": "license expired SXE-1001"})).await;
    let shown = ids(&answer);
    assert!(!shown.is_empty(), "{answer}");
    let uri = format!(
        "/api/deflect/{}/feedback",
        answer["deflection_id"].as_str().unwrap()
    );
    let solved = post_json(
        &app,
        &uri,
        None,
        &json!({"outcome": "solved", "article_id": shown[0]}),
    )
    .await;
    assert_eq!(solved.status, 200, "{}", solved.body);
    assert_eq!(solved.json()["status"], "recorded");
    assert_eq!(rows(&kb, "deflections"), 1);
    assert_eq!(rows(&kb, "feedback"), 1);

    let metrics = get(&app, "/metrics", Some(AGENT_KEY)).await;
    let expected = format!(
        "kbsearch_events_dropped_total{{kind=\"search\"}} {}",
        store.dropped_searches()
    );
    assert!(metrics.body.contains(&expected), "{}", metrics.body);
    assert!(
        metrics.body.contains("kbsearch_events_database_bytes "),
        "{}",
        metrics.body
    );
    assert!(
        metrics
            .body
            .contains("kbsearch_events_pruned_total{kind=\"deflection\"} 0"),
        "{}",
        metrics.body
    );
}
