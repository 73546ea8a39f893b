//! The PostgreSQL event store against a real server of the test's own (see
//! `common/postgres.rs`): the same analytics and insights answers as the SQLite store for the
//! same events,
//! the same feedback from two replicas at once recorded once, migrations run once when replicas
//! start together, a newer schema refused, a database down at start-up waited for, ownership
//! rules, retention, and the bad inputs of `[events] url`.

#[path = "common/postgres.rs"]
mod postgres;

use std::sync::Arc;

use chrono::{Duration, Utc};
use kbsearch::config::{Config, Events, Secret};
use kbsearch::events::test_support::{
    SECOND_DAY, at, click, draft, feedback, insights_range, insights_scenario, page_search, search,
    vote,
};
use kbsearch::events::{
    DeflectionEvent, DeflectionOutcome, EventStore, FeedbackEvent, FeedbackKind, FeedbackOutcome,
    InsightsQuery, PgEventStore, SqliteEventStore, StoreError, TimeRange, VoteOutcome,
};
use postgres::Postgres;

/// A database of its own on the cluster, and its URL.
fn database(cluster: &Postgres, name: &str) -> String {
    cluster.psql("postgres", &format!("CREATE DATABASE {name}"));
    cluster.url().replace(postgres::DATABASE, name)
}

/// The events of the SQLite store's analytics test, with ties among articles and queries.
async fn known_events(store: &dyn EventStore) {
    for event in [
        draft("d1", 0, &["a", "b", "c"]),
        draft("d2", 60, &["a", "b"]),
        draft("d3", 120, &["b", "c"]),
        draft("d4", 180, &[]),
        draft("d5", 240, &["b", "a", "Z"]),
        draft("d6", 10 * 24 * 60, &["z"]),
    ] {
        store.record_deflection(event).await.unwrap();
    }
    for event in [
        feedback("d1", FeedbackKind::Solved, Some("a")),
        feedback("d2", FeedbackKind::NotHelpful, Some("a")),
        feedback("d2", FeedbackKind::CaseSubmitted, None),
        feedback("d3", FeedbackKind::Solved, Some("c")),
        feedback("d3", FeedbackKind::CaseSubmitted, None),
        feedback("d5", FeedbackKind::Solved, Some("a")),
        feedback("d5", FeedbackKind::Solved, Some("Z")),
        feedback("d6", FeedbackKind::Solved, Some("z")),
    ] {
        assert_eq!(
            store.record_feedback(event).await.unwrap(),
            FeedbackOutcome::Recorded
        );
    }
    for (minutes, query, total) in [
        (0, "  Printer Offline ", 5),
        (1, "printer \t  offline", 5),
        (2, "VPN error 809", 0),
        (3, "vpn  error 809", 0),
        (4, "Reset password", 2),
        (5, "reset password", 2),
        (6, "xyzzy", 0),
        (7, "Ärger", 0),
        (60 * 24, "late", 0),
    ] {
        store.record_search(search(minutes, query, total));
    }
    store.flush().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_store_keeps_the_promises_of_the_sqlite_store() {
    let Some(cluster) = Postgres::start() else {
        return;
    };
    let events = Events::default();

    // The same events give the same answers, ties and all, for every range.
    let url = database(&cluster, "same_answers");
    let pg = PgEventStore::open(&url, &events).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteEventStore::open(dir.path()).unwrap();
    known_events(&pg).await;
    known_events(&sqlite).await;
    let ranges = [
        TimeRange::default(),
        TimeRange {
            from: Some(at(0)),
            to: Some(at(24 * 60)),
        },
        TimeRange {
            from: Some(at(60)),
            to: Some(at(180)),
        },
        TimeRange {
            from: Some(at(-100)),
            to: Some(at(-1)),
        },
    ];
    for range in ranges {
        for top in [1, 2, 10] {
            let expected = sqlite.deflection_analytics(range, top).await.unwrap();
            assert_eq!(
                pg.deflection_analytics(range, top).await.unwrap(),
                expected,
                "{range:?} top {top}"
            );
            let expected = sqlite.search_analytics(range, top).await.unwrap();
            assert_eq!(
                pg.search_analytics(range, top).await.unwrap(),
                expected,
                "{range:?} top {top}"
            );
        }
    }
    let all = pg
        .deflection_analytics(TimeRange::default(), 10)
        .await
        .unwrap();
    assert_eq!((all.drafts, all.solved, all.case_submitted), (6, 5, 2));

    // The insights scenario gives the same answers on both stores, for every product, range and
    // limit (the SQLite store's unit tests say what each number is).
    let url = database(&cluster, "insights");
    let pg_insights = PgEventStore::open(&url, &events).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sqlite_insights = SqliteEventStore::open(dir.path()).unwrap();
    insights_scenario(&pg_insights).await;
    insights_scenario(&sqlite_insights).await;
    let second_day = TimeRange {
        from: Some(at(SECOND_DAY)),
        to: Some(at(2 * SECOND_DAY)),
    };
    for range in [insights_range(), second_day, TimeRange::default()] {
        for product in [None, Some("backup"), Some("mail"), Some("unknown")] {
            for (top, texts) in [(10, 10), (1, 2), (0, 0)] {
                let query = InsightsQuery {
                    range,
                    product: product.map(str::to_string),
                    top,
                    texts,
                };
                let expected = sqlite_insights.insights(query.clone()).await.unwrap();
                let answer = pg_insights.insights(query.clone()).await.unwrap();
                assert_eq!(answer, expected, "{query:?}");
            }
        }
    }
    let all = pg_insights
        .insights(InsightsQuery {
            range: insights_range(),
            product: None,
            top: 10,
            texts: 10,
        })
        .await
        .unwrap();
    assert_eq!(all.days.len(), 2);
    assert_eq!(all.articles.len(), 4);
    assert_eq!(all.unanswered_drafts.len(), 4);
    assert_eq!(
        cluster.psql("insights", "SELECT count(*) FROM clicks"),
        "6",
        "no click for an unknown search or a rank out of bounds, one row per rank"
    );
    drop(pg_insights);

    // Ownership: only the creator updates a draft or sends its feedback; feedback names only
    // articles the draft was shown; the same feedback twice is one row.
    let stranger = DeflectionEvent {
        creator: "anonymous".to_string(),
        ..draft("d1", 1, &["secret"])
    };
    assert_eq!(
        pg.record_deflection(stranger).await.unwrap(),
        DeflectionOutcome::NotTheCreator
    );
    assert_eq!(
        pg.record_deflection(draft("d1", 1, &["a", "b"]))
            .await
            .unwrap(),
        DeflectionOutcome::Updated
    );
    let by_stranger = FeedbackEvent {
        caller: "anonymous".to_string(),
        ..feedback("d1", FeedbackKind::Solved, Some("b"))
    };
    assert_eq!(
        pg.record_feedback(by_stranger).await.unwrap(),
        FeedbackOutcome::UnknownDeflection
    );
    let not_shown = feedback("d1", FeedbackKind::Solved, Some("c"));
    assert_eq!(
        pg.record_feedback(not_shown).await.unwrap(),
        FeedbackOutcome::NotSuggested
    );
    let again = feedback("d1", FeedbackKind::Solved, Some("a"));
    assert_eq!(
        pg.record_feedback(again).await.unwrap(),
        FeedbackOutcome::Duplicate
    );
    let unknown = feedback("nope", FeedbackKind::CaseSubmitted, None);
    assert_eq!(
        pg.record_feedback(unknown).await.unwrap(),
        FeedbackOutcome::UnknownDeflection
    );
    let invalid = pg
        .record_feedback(feedback("d1", FeedbackKind::Solved, None))
        .await;
    assert!(
        matches!(invalid, Err(StoreError::Invalid(_))),
        "{invalid:?}"
    );
    assert_eq!(
        cluster.psql("same_answers", "SELECT count(*) FROM feedback"),
        "8"
    );
    drop(pg);

    // Replicas starting together migrate once, then share one schema.
    let url = database(&cluster, "together");
    let opened =
        futures_util::future::join_all((0..4).map(|_| PgEventStore::open(&url, &events))).await;
    let replicas: Vec<Arc<PgEventStore>> = opened
        .into_iter()
        .map(|store| Arc::new(store.unwrap()))
        .collect();
    assert_eq!(
        cluster.psql("together", "SELECT version FROM kbsearch_schema"),
        "2"
    );

    // The same feedback sent to two replicas at the same moment is recorded once.
    let shown: Vec<String> = (0..20).map(|n| format!("a{n}")).collect();
    let shown: Vec<&str> = shown.iter().map(String::as_str).collect();
    replicas[0]
        .record_deflection(draft("race", 0, &shown))
        .await
        .unwrap();
    for article in &shown {
        let event = feedback("race", FeedbackKind::Solved, Some(article));
        let (first, second) = tokio::join!(
            replicas[0].record_feedback(event.clone()),
            replicas[1].record_feedback(event)
        );
        let mut outcomes = [first.unwrap(), second.unwrap()];
        outcomes.sort_by_key(|outcome| *outcome == FeedbackOutcome::Duplicate);
        assert_eq!(
            outcomes,
            [FeedbackOutcome::Recorded, FeedbackOutcome::Duplicate]
        );
    }
    // Two replicas creating the same draft id agree on one draft.
    let (first, second) = tokio::join!(
        replicas[2].record_deflection(draft("twice", 0, &["a"])),
        replicas[3].record_deflection(draft("twice", 0, &["b"]))
    );
    let mut outcomes = [first.unwrap(), second.unwrap()];
    outcomes.sort_by_key(|outcome| *outcome == DeflectionOutcome::Updated);
    assert_eq!(
        outcomes,
        [DeflectionOutcome::Created, DeflectionOutcome::Updated]
    );
    assert_eq!(
        cluster.psql("together", "SELECT count(*) FROM feedback"),
        "20"
    );
    assert_eq!(
        cluster.psql(
            "together",
            "SELECT count(*) FROM suggestions WHERE deflection_id = 'twice'"
        ),
        "1"
    );
    drop(replicas);

    // A database written by a newer build is refused, by name and without the password.
    cluster.psql("together", "UPDATE kbsearch_schema SET version = 99");
    let with_password = url.replace("kbsearch@", "kbsearch:hunter2@");
    let newer = PgEventStore::open(&with_password, &events)
        .await
        .err()
        .expect("refused");
    let message = newer.to_string();
    assert!(matches!(newer, StoreError::Connect { .. }), "{newer:?}");
    assert!(message.contains("schema version 99"), "{message}");
    assert!(message.contains("/together"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");

    // A replica started while the database is down records events once it is back.
    let url = database(&cluster, "late");
    cluster.stop_server();
    let late = PgEventStore::open(&url, &events).await.unwrap();
    let down = late.record_deflection(draft("late", 0, &["a"])).await;
    assert!(matches!(down, Err(StoreError::Unavailable(_))), "{down:?}");
    cluster.start_server();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while late
        .record_deflection(draft("late", 0, &["a"]))
        .await
        .is_err()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "not recorded once back"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(late.status().available, "{:?}", late.status());
    drop(late);

    // Retention: drafts older than keep_days go at start-up, with their suggestions and feedback.
    let url = database(&cluster, "retention");
    let store = PgEventStore::open(&url, &events).await.unwrap();
    let old = DeflectionEvent {
        at: Utc::now() - Duration::days(3),
        ..draft("old", 0, &["a"])
    };
    store.record_deflection(old).await.unwrap();
    store
        .record_feedback(feedback("old", FeedbackKind::Solved, Some("a")))
        .await
        .unwrap();
    let new = DeflectionEvent {
        at: Utc::now(),
        ..draft("new", 0, &["a"])
    };
    store.record_deflection(new).await.unwrap();
    // Votes and clicks too: a click with its search, or by its own age.
    let three_days_ago =
        |minutes| -> i64 { (Utc::now() - Duration::days(3) - at(0)).num_minutes() + minutes };
    store.record_search(page_search(three_days_ago(0), "old", 1, "old-s", None));
    store.record_search(page_search(
        three_days_ago(24 * 60 * 3),
        "new",
        1,
        "new-s",
        None,
    ));
    store.record_click(click("old-s", "a", 1, three_days_ago(1)));
    store.record_click(click("new-s", "a", 1, three_days_ago(2)));
    store.record_click(click("new-s", "b", 2, three_days_ago(24 * 60 * 3)));
    store.flush().await.unwrap();
    let old_vote = vote("a", "v1", false, Some("old"), three_days_ago(0));
    assert_eq!(
        store.record_vote(old_vote).await.unwrap(),
        VoteOutcome::Recorded
    );
    let new_vote = vote("a", "v2", true, None, three_days_ago(24 * 60 * 3));
    store.record_vote(new_vote.clone()).await.unwrap();
    assert_eq!(
        store.record_vote(new_vote).await.unwrap(),
        VoteOutcome::Replaced
    );
    drop(store);
    let short = Events {
        keep_days: 1,
        ..Events::default()
    };
    let store = PgEventStore::open(&url, &short).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while store.stats().pruned_clicks == 0 {
        assert!(std::time::Instant::now() < deadline, "nothing pruned");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        (store.stats().pruned_deflections, store.stats().pruned_votes),
        (1, 1)
    );
    assert_eq!(
        cluster.psql("retention", "SELECT string_agg(visitor, ',') FROM votes"),
        "v2"
    );
    assert_eq!(
        cluster.psql(
            "retention",
            "SELECT string_agg(article_id, ',') FROM clicks"
        ),
        "b"
    );
    assert_eq!(
        cluster.psql("retention", "SELECT string_agg(query, ',') FROM searches"),
        "new"
    );
    assert_eq!(
        cluster.psql("retention", "SELECT string_agg(id, ',') FROM deflections"),
        "new"
    );
    assert_eq!(
        cluster.psql("retention", "SELECT count(*) FROM feedback"),
        "0"
    );
}

/// A slow database: a write held up by a lock gives up at the statement timeout as unavailable
/// (the route answers 503 and the form retries), never waits without end and never reports a
/// success; once the lock is gone the same write is recorded, with no restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_held_up_by_a_slow_database_is_unavailable_then_recorded() {
    let Some(cluster) = Postgres::start() else {
        return;
    };
    let url = database(&cluster, "slow");
    let store = PgEventStore::open(&url, &Events::default()).await.unwrap();
    store
        .record_deflection(draft("d1", 0, &["a"]))
        .await
        .unwrap();
    // Another session holds the feedback table, as a long migration or a vacuum full would.
    let (holder, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    holder
        .batch_execute("BEGIN; LOCK TABLE feedback IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let held = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        store.record_feedback(feedback("d1", FeedbackKind::CaseSubmitted, None)),
    )
    .await
    .expect("gave up at the statement timeout, not later");
    let Err(StoreError::Unavailable(_)) = held else {
        panic!("expected unavailable while the table is locked, got {held:?}");
    };
    holder.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(
        store
            .record_feedback(feedback("d1", FeedbackKind::CaseSubmitted, None))
            .await
            .unwrap(),
        FeedbackOutcome::Recorded
    );
    assert_eq!(cluster.psql("slow", "SELECT count(*) FROM feedback"), "1");
}

#[tokio::test]
async fn a_database_unreachable_at_start_up_is_unavailable_not_fatal() {
    let port = postgres::free_port();
    let url = format!("postgres://kb:hunter2@127.0.0.1:{port}/events");
    let store = PgEventStore::open(&url, &Events::default())
        .await
        .expect("a replica starts while its database is down");
    let status = store.status();
    assert!(!status.available, "{status:?}");
    let refused = store.record_deflection(draft("d1", 0, &["a"])).await;
    let Err(StoreError::Unavailable(message)) = refused else {
        panic!("expected unavailable, got {refused:?}");
    };
    assert!(!message.contains("hunter2"), "{message}");
}

#[test]
fn a_bad_events_url_is_refused_naming_the_setting() {
    for (url, expected) in [
        ("mysql://kb@db/events", "not a PostgreSQL URL"),
        (
            "postgres://kb:hunter2@db:notaport/events",
            "not a PostgreSQL URL",
        ),
        ("postgres:///events", "names no host"),
        ("postgres://kb:hunter2@", ""),
    ] {
        let text = format!("[events]\nurl = \"{url}\"\n");
        let config = Config::parse(&text, std::path::Path::new("k.toml")).unwrap();
        let error = config.validate().expect_err(url).to_string();
        assert!(error.contains("events.url"), "{url}: {error}");
        assert!(error.contains(expected), "{url}: {error}");
        assert!(!error.contains("hunter2"), "{url}: {error}");
    }
    let long = format!("postgres://kb@db/{}", "e".repeat(3000));
    let mut config = Config::default();
    config.events.url = Some(Secret::new(long));
    let error = config.validate().unwrap_err().to_string();
    assert!(error.contains("events.url"), "{error}");
    let mut config = Config::default();
    config.events.url = Some(Secret::new("postgres://kb:hunter2@db/events"));
    assert!(!format!("{config:?}").contains("hunter2"));
    // The environment's value is checked the same way.
    let mut config = Config::default();
    config
        .apply_env(|name| (name == "KBSEARCH_EVENTS_URL").then(|| "nonsense".to_string()))
        .unwrap();
    let error = config.validate().unwrap_err().to_string();
    assert!(error.contains("events.url"), "{error}");
}

#[test]
fn serve_with_a_bad_events_url_says_which_setting() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_kbsearch"))
        .args(["serve", "--bind", "127.0.0.1:0", "--events-url"])
        .arg("http://kb:hunter2@db/events")
        .current_dir(dir.path())
        .env_remove("KBSEARCH_EVENTS_URL")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("events.url"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

/// A search recorded again under its id (the customer kept typing) is replaced, whether the two
/// come in one batch or in two, and its first click stays with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_recorded_again_under_its_id_is_replaced() {
    let Some(cluster) = Postgres::start() else {
        return;
    };
    let url = database(&cluster, "typed");
    let store = PgEventStore::open(&url, &Events::default()).await.unwrap();
    store.record_search(page_search(0, "vp", 1, "s1", None));
    store.record_search(page_search(0, "vpn", 2, "s1", None));
    store.flush().await.unwrap();
    store.record_click(click("s1", "a", 1, 1));
    store.flush().await.unwrap();
    store.record_search(page_search(1, "vpn error", 3, "s1", None));
    store.flush().await.unwrap();
    assert_eq!(
        cluster.psql("typed", "SELECT query || ' ' || total FROM searches"),
        "vpn error 3"
    );
    assert_eq!(cluster.psql("typed", "SELECT count(*) FROM clicks"), "1");
}
