//! Case deflection, two measurements (issue 5):
//!
//! 1. **In process** (default): the per-draft latency distribution of `KbSearcher::deflect`
//!    (p50, p95, p99, max, mean) for long, noisy drafts, without HTTP or the event store.
//! 2. **Feedback writes over HTTP** (`KBSEARCH_BENCH_URL` set): against a running
//!    `kbsearch serve --data DATA`, creates drafts with `POST /api/deflect`, then sends
//!    `POST /api/deflect/{id}/feedback` from a fixed number of connections in a closed loop, every
//!    request a new (draft, outcome, article) triple while the drafts' own suggestions last (feedback
//!    may name only an article the draft was shown), so those answers should be `recorded`; later
//!    requests repeat them and are answered `already_recorded`. It
//!    reports requests/s and latency, then counts the rows of `DATA/events.sqlite3` and checks that
//!    the `feedback` table grew by exactly the number of `recorded` answers and that every draft
//!    it was answered for is in `deflections`: nothing acknowledged is lost. Each connection
//!    finishes its request in flight at the deadline, so the counts are exact.
//!
//! `benches/http_load.sh SCRATCH N deflect` starts the service and runs both HTTP measurements
//! (`/api/deflect` with the shared wrk harness, then this feedback client), with
//! `[rate_limit] enabled = false`: every request comes from one address, and a service that
//! rate-limits it stops this bench with a message (a 429).
//!
//! Inputs (environment):
//! - `KBSEARCH_BENCH_KB`: the knowledge base (e.g. `/tmp/kbsearch-bench/kb10000`). Unset: the
//!   sample `kb/`. It is indexed into a temp dir first.
//! - `KBSEARCH_BENCH_DRAFTS`: draft cases, one JSON object a line with `subject` and
//!   `description` (other fields are ignored), e.g. the shared harness's `long_post.jsonl`.
//!   Unset: `/tmp/kbsearch-bench/kbq/long_post.jsonl` when a synthetic KB is given and it
//!   exists, else `kb/deflection.jsonl`.
//! - `KBSEARCH_BENCH_ROUNDS` (5): passes over all drafts that are measured, after one warm-up
//!   pass.
//! - `KBSEARCH_BENCH_MODEL`: a sentence-transformers folder (e.g. all-MiniLM-L6-v2): deflect
//!   with the semantic layer. Every article is embedded first (on every core, timed: the time to
//!   embed the knowledge base and the embedding rate), cached in `INDEX/vectors`, so a kept
//!   `KBSEARCH_BENCH_INDEX` embeds only once.
//! - `KBSEARCH_BENCH_INDEX`: keep the index in this folder (brought in line with the KB, which
//!   takes well under a second when nothing changed) instead of building one in a temp dir:
//!   handy for profiling only the deflection part (`perf record`).
//! - Feedback mode: `KBSEARCH_BENCH_URL` (e.g. `http://127.0.0.1:18091`), `KBSEARCH_BENCH_DATA`
//!   (the service's data folder, required), `KBSEARCH_BENCH_FEEDBACK_DRAFTS` (1000: drafts
//!   created first, from the draft bodies above), `KBSEARCH_BENCH_FEEDBACK_PHASES`
//!   (`1:10,64:30`: connections:seconds, run in order after a 2 s warm-up at the last level).
//!
//! Each draft runs as the case form would send it for a customer: default threshold, audience
//! `customer`, limit 5, case type `problem`, no product or version.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kbsearch::content::article::Visibility;
use kbsearch::deflect::{DEFAULT_LIMIT, Deflector, DraftCase};
use kbsearch::ingest::indexer::{IndexOptions, Indexer};
use kbsearch::ingest::progress::Silent;
use kbsearch::search::KbSearcher;
use kbsearch::semantic::{Semantic, catch_up};
use rusqlite::{Connection, OpenFlags};
use serde_json::{Value, json};

/// The shared harness's draft cases, used with a synthetic KB when present.
const SHARED_DRAFTS: &str = "/tmp/kbsearch-bench/kbq/long_post.jsonl";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number"))
    })
}

/// Subject and description of every draft in a JSON-lines file.
fn read_drafts(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|err| panic!("cannot read drafts {}: {err}", path.display()));
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .enumerate()
        .map(|(n, line)| {
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|err| panic!("{}:{}: {err}", path.display(), n + 1));
            let field = |name: &str| value[name].as_str().unwrap_or_default().to_string();
            (field("subject"), field("description"))
        })
        .collect()
}

/// `KBSEARCH_BENCH_DRAFTS`, else the shared draft cases (with a synthetic KB, or over HTTP)
/// when present, else the sample's judged drafts.
fn drafts_path(sample_kb: bool) -> PathBuf {
    match std::env::var("KBSEARCH_BENCH_DRAFTS") {
        Ok(path) => PathBuf::from(path),
        Err(_) if !sample_kb && Path::new(SHARED_DRAFTS).is_file() => PathBuf::from(SHARED_DRAFTS),
        Err(_) => PathBuf::from("kb/deflection.jsonl"),
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run only when asked.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    match std::env::var("KBSEARCH_BENCH_URL") {
        Ok(url) => feedback_writes(url.trim_end_matches('/')),
        Err(_) => in_process(),
    }
}

fn in_process() {
    let kb = match std::env::var("KBSEARCH_BENCH_KB") {
        Ok(kb) => PathBuf::from(kb),
        Err(_) => {
            eprintln!(
                "KBSEARCH_BENCH_KB is not set: using the sample kb/ (80 articles); set it to \
                 /tmp/kbsearch-bench/kb10000 for the 10,000-article synthetic KB"
            );
            PathBuf::from("kb")
        }
    };
    let drafts_path = drafts_path(kb == Path::new("kb"));
    let rounds = env_number("KBSEARCH_BENCH_ROUNDS", 5);
    let drafts: Vec<DraftCase> = read_drafts(&drafts_path)
        .into_iter()
        .map(|(subject, description)| DraftCase {
            audience: Visibility::Customer,
            limit: DEFAULT_LIMIT,
            ..DraftCase::new(subject, description)
        })
        .collect();
    assert!(!drafts.is_empty(), "no drafts in {}", drafts_path.display());

    let tmp = tempfile::tempdir().expect("temp dir");
    let index = std::env::var("KBSEARCH_BENCH_INDEX")
        .map_or_else(|_| tmp.path().to_path_buf(), PathBuf::from);
    let started = Instant::now();
    Indexer::refresh(&IndexOptions::new(&kb, &index), &Silent).expect("index");
    let searcher = KbSearcher::open(&index, &kb).expect("searcher");
    eprintln!(
        "indexed {} documents of {} in {:.1} s; {} drafts from {}",
        searcher.searcher().num_docs(),
        kb.display(),
        started.elapsed().as_secs_f64(),
        drafts.len(),
        drafts_path.display()
    );
    let semantic = std::env::var_os("KBSEARCH_BENCH_MODEL").map(|model| {
        let semantic = Arc::new(
            Semantic::open(
                Path::new(&model),
                Some(&index.join(kbsearch::semantic::VECTORS_DIR)),
            )
            .expect("load the model"),
        );
        let done = catch_up(&semantic, searcher.searcher(), &Silent, true).expect("embed");
        println!(
            "embedded {} articles in {:.1} s ({:.1} articles/s on every core), {} reused from the cache",
            done.embedded,
            done.seconds,
            done.embedded as f64 / done.seconds.max(1e-9),
            done.reused
        );
        semantic
    });
    let searcher = searcher.with_semantic(semantic.clone());

    let run = |draft: &DraftCase| {
        let started = Instant::now();
        let deflection = Deflector::new(&searcher).deflect(draft).expect("deflect");
        (started.elapsed(), deflection.suggestions.len())
    };
    for draft in &drafts {
        run(draft);
    }
    let mut times = Vec::with_capacity(drafts.len() * rounds);
    let mut answered = 0;
    let mut suggestions = 0;
    for round in 0..rounds {
        for draft in &drafts {
            let (elapsed, shown) = run(draft);
            times.push(elapsed);
            if round == 0 {
                answered += usize::from(shown > 0);
                suggestions += shown;
            }
        }
    }
    times.sort();
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    println!(
        "{} | {} drafts × {rounds} | deflect (customer, limit {DEFAULT_LIMIT}) | p50 {:.3} ms | \
         p95 {:.3} ms | p99 {:.3} ms | max {:.3} ms | mean {:.3} ms | {:.0} drafts/s on one thread",
        kb.display(),
        drafts.len(),
        ms(percentile(&times, 0.50)),
        ms(percentile(&times, 0.95)),
        ms(percentile(&times, 0.99)),
        ms(times.last().copied().unwrap_or_default()),
        ms(mean),
        1.0 / mean.as_secs_f64(),
    );
    println!(
        "{answered} of {} drafts shown at least one suggestion ({suggestions} suggestions in all)",
        drafts.len()
    );
    // A new searcher knows none of the drafts' words: each is looked up in the dictionaries once
    // (a live service mostly runs warm, since the case form resends a draft at each pause in the
    // typing). The index files are in the page cache by now.
    let fresh = KbSearcher::open(&index, &kb)
        .expect("searcher")
        .with_semantic(semantic);
    let cold: Duration = drafts
        .iter()
        .map(|draft| {
            let started = Instant::now();
            Deflector::new(&fresh).deflect(draft).expect("deflect");
            started.elapsed()
        })
        .sum();
    println!(
        "one pass on a new searcher (no cached dictionary entries): mean {:.3} ms",
        ms(cold / drafts.len() as u32)
    );
}

/// A draft recorded by the service, and the articles it was shown.
struct Recorded {
    id: String,
    suggested: Vec<String>,
}

/// Which feedback request number `n` is: a distinct (draft, outcome, article) triple while the
/// drafts' suggestions last.
struct Plan {
    drafts: Vec<Recorded>,
}

impl Plan {
    /// Request `n` goes to draft `n % drafts`; its `j`-th request there (`j = n / drafts`) is
    /// `solved` (j = 0), `not_helpful` (1), `case_submitted` (2, once per draft), then `solved`
    /// and `not_helpful` in turn, each time with the draft's next article, round again when they
    /// are used up. A draft shown nothing gets `case_submitted` only.
    fn request(&self, n: u64) -> (String, String) {
        let count = self.drafts.len() as u64;
        let draft = &self.drafts[(n % count) as usize];
        let j = n / count;
        let path = format!("/api/deflect/{}/feedback", draft.id);
        if j == 2 || draft.suggested.is_empty() {
            return (path, json!({"outcome": "case_submitted"}).to_string());
        }
        let j = if j > 2 { j - 1 } else { j };
        let outcome = if j % 2 == 0 { "solved" } else { "not_helpful" };
        let article = &draft.suggested[(j / 2) as usize % draft.suggested.len()];
        (
            path,
            json!({"outcome": outcome, "article_id": article}).to_string(),
        )
    }
}

/// What one load phase saw.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    recorded: u64,
    duplicate: u64,
    /// Other answers by status (0: no answer: connection error or timeout).
    errors: BTreeMap<u16, u64>,
    /// Drafts that got a `recorded` answer.
    drafts: HashSet<String>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.latencies.extend(other.latencies);
        self.recorded += other.recorded;
        self.duplicate += other.duplicate;
        for (status, count) in other.errors {
            *self.errors.entry(status).or_default() += count;
        }
        self.drafts.extend(other.drafts);
    }
}

fn count_rows(conn: &Connection, table: &str) -> u64 {
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
        row.get(0)
    })
    .expect("count rows")
}

/// Sends one JSON POST; the status and body, or status 0 when no answer came.
async fn post(client: &reqwest::Client, url: String, body: String) -> (u16, String) {
    let sent = client
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    match sent {
        Ok(response) => {
            let status = response.status().as_u16();
            assert_ne!(
                status, 429,
                "the service rate-limits this bench: start it with `[rate_limit] enabled = false`"
            );
            (status, response.text().await.unwrap_or_default())
        }
        Err(_) => (0, String::new()),
    }
}

/// Creates `count` drafts from `bodies` with `conns` requests at a time.
async fn create_drafts(
    client: &reqwest::Client,
    base: &str,
    bodies: &[String],
    count: usize,
    conns: usize,
) -> Vec<Recorded> {
    let next = Arc::new(AtomicU64::new(0));
    let created = Arc::new(Mutex::new(Vec::with_capacity(count)));
    let tasks: Vec<_> = (0..conns)
        .map(|_| {
            let (client, next, created) = (client.clone(), next.clone(), created.clone());
            let url = format!("{base}/api/deflect");
            let bodies = bodies.to_vec();
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed) as usize;
                    if n >= count {
                        break;
                    }
                    let (status, text) =
                        post(&client, url.clone(), bodies[n % bodies.len()].clone()).await;
                    assert_eq!(status, 200, "POST /api/deflect: {text}");
                    let answer: Value = serde_json::from_str(&text).expect("deflect JSON");
                    let suggested = answer["suggestions"]
                        .as_array()
                        .expect("suggestions")
                        .iter()
                        .filter_map(|s| s["id"].as_str().map(str::to_string))
                        .collect();
                    let id = answer["deflection_id"].as_str().expect("id").to_string();
                    created.lock().unwrap().push(Recorded { id, suggested });
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("draft task");
    }
    Arc::try_unwrap(created)
        .ok()
        .expect("tasks done")
        .into_inner()
        .unwrap()
}

/// `conns` connections send feedback in a closed loop for `length`; each finishes its last
/// request, so every request sent is counted.
async fn feedback_phase(
    client: &reqwest::Client,
    base: &str,
    plan: &Arc<Plan>,
    next: &Arc<AtomicU64>,
    conns: usize,
    length: Duration,
) -> (Tally, Duration) {
    let started = Instant::now();
    let deadline = started + length;
    let tasks: Vec<_> = (0..conns)
        .map(|_| {
            let (client, plan, next) = (client.clone(), plan.clone(), next.clone());
            let base = base.to_string();
            tokio::spawn(async move {
                let mut tally = Tally::default();
                while Instant::now() < deadline {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let (path, body) = plan.request(n);
                    let sent = Instant::now();
                    let (status, text) = post(&client, format!("{base}{path}"), body).await;
                    tally.latencies.push(sent.elapsed());
                    let answer = serde_json::from_str::<Value>(&text).unwrap_or_default();
                    match (status, answer["status"].as_str()) {
                        (200, Some("recorded")) => {
                            tally.recorded += 1;
                            let draft = path.split('/').nth(3).unwrap_or_default();
                            tally.drafts.insert(draft.to_string());
                        }
                        (200, Some("already_recorded")) => tally.duplicate += 1,
                        _ => *tally.errors.entry(status).or_default() += 1,
                    }
                }
                tally
            })
        })
        .collect();
    let mut tally = Tally::default();
    for task in tasks {
        tally.merge(task.await.expect("feedback task"));
    }
    (tally, started.elapsed())
}

fn feedback_writes(base: &str) {
    let data = PathBuf::from(
        std::env::var("KBSEARCH_BENCH_DATA")
            .expect("KBSEARCH_BENCH_DATA: the service's --data folder, to count rows"),
    );
    let drafts_path = drafts_path(false);
    let bodies: Vec<String> = read_drafts(&drafts_path)
        .into_iter()
        .map(|(subject, description)| {
            json!({"subject": subject, "description": description}).to_string()
        })
        .collect();
    assert!(!bodies.is_empty(), "no drafts in {}", drafts_path.display());
    let draft_count = env_number("KBSEARCH_BENCH_FEEDBACK_DRAFTS", 1000);
    let phases: Vec<(usize, u64)> = std::env::var("KBSEARCH_BENCH_FEEDBACK_PHASES")
        .unwrap_or_else(|_| "1:10,64:30".to_string())
        .split(',')
        .map(|phase| {
            let (conns, secs) = phase
                .split_once(':')
                .expect("KBSEARCH_BENCH_FEEDBACK_PHASES: connections:seconds,...");
            (
                conns.trim().parse().expect("connections"),
                secs.trim().parse().expect("seconds"),
            )
        })
        .collect();
    let most_conns = phases.iter().map(|p| p.0).max().unwrap_or(64);
    let db = data.join(kbsearch::events::EVENTS_FILE);
    let conn = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap_or_else(|err| panic!("cannot open {}: {err}", db.display()));
    let feedback_before = count_rows(&conn, "feedback");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(most_conns)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        let started = Instant::now();
        let drafts = create_drafts(&client, base, &bodies, draft_count, most_conns).await;
        let distinct: u64 = drafts
            .iter()
            .map(|d| 2 * d.suggested.len() as u64 + 1)
            .sum();
        println!(
            "created {} drafts in {:.1} s ({distinct} distinct feedback requests) from {}",
            drafts.len(),
            started.elapsed().as_secs_f64(),
            drafts_path.display()
        );
        let plan = Arc::new(Plan { drafts });
        let next = Arc::new(AtomicU64::new(0));
        let mut total = Tally::default();
        let (warm_up, _) = feedback_phase(
            &client,
            base,
            &plan,
            &next,
            most_conns,
            Duration::from_secs(2),
        )
        .await;
        total.merge(warm_up);
        let mut figures = Vec::new();
        for (conns, secs) in phases {
            let (mut tally, elapsed) = feedback_phase(
                &client,
                base,
                &plan,
                &next,
                conns,
                Duration::from_secs(secs),
            )
            .await;
            tally.latencies.sort();
            let requests = tally.latencies.len();
            let rate = requests as f64 / elapsed.as_secs_f64();
            println!(
                "feedback c={conns:<3} {secs} s | {requests} requests | {rate:.0} requests/s | \
                 p50 {:.2} ms | p99 {:.2} ms | max {:.2} ms | recorded {} | already recorded {} | \
                 other {:?}",
                ms(percentile(&tally.latencies, 0.50)),
                ms(percentile(&tally.latencies, 0.99)),
                ms(tally.latencies.last().copied().unwrap_or_default()),
                tally.recorded,
                tally.duplicate,
                tally.errors,
            );
            figures.push(json!({
                "conns": conns, "seconds": secs, "requests": requests, "rps": rate.round(),
                "p50_ms": ms(percentile(&tally.latencies, 0.50)),
                "p99_ms": ms(percentile(&tally.latencies, 0.99)),
                "recorded": tally.recorded, "already_recorded": tally.duplicate,
            }));
            total.merge(tally);
        }

        // Every `recorded` answer was durable when sent: the rows must be there, exactly.
        let feedback_rows = count_rows(&conn, "feedback") - feedback_before;
        let mut missing_drafts = 0;
        let mut find = conn
            .prepare("SELECT count(*) FROM deflections WHERE id = ?1")
            .expect("statement");
        for id in &total.drafts {
            let found: u64 = find.query_row([id], |row| row.get(0)).expect("lookup");
            missing_drafts += u64::from(found == 0);
        }
        let lost = total.recorded.abs_diff(feedback_rows);
        println!(
            "rows check: feedback rows added {feedback_rows}, `recorded` answers {} (warm-up \
             included) -> {}; already recorded {}; other answers {:?}; drafts with feedback {} \
             of {} in `deflections`",
            total.recorded,
            if lost == 0 {
                "nothing lost".to_string()
            } else {
                format!("MISMATCH by {lost}")
            },
            total.duplicate,
            total.errors,
            total.drafts.len() as u64 - missing_drafts,
            total.drafts.len(),
        );
        println!(
            "{}",
            json!({"feedback": figures, "feedback_rows_added": feedback_rows,
                   "recorded_answers": total.recorded, "missing_drafts": missing_drafts})
        );
        assert_eq!(lost, 0, "feedback rows and `recorded` answers differ");
        assert_eq!(missing_drafts, 0, "drafts missing from `deflections`");
    });
}
