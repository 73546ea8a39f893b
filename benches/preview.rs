//! Save-to-updated-page time of the writers' preview (issue 6), measured from outside as the
//! page's script sees it.
//!
//! The bench copies a knowledge base into a temp dir, starts the release binary on it
//! (`kbsearch preview --kb COPY --port FREE`, whose index lives in its own temp dir), waits until
//! `/preview` answers 200, opens the live-reload stream `/preview/events`, and then, one edit at a
//! time: rewrites a random article with a new nonsense word appended, waits for the next `changed`
//! event, and GETs the article's page; if the page does not have the word yet, it waits for the
//! next event and tries again. One sample is the time from just before the write to the GET that
//! shows the word: what `assets/preview.js` does (event, then fetch of the page). 200-400 ms of
//! idle separate the edits, as between a writer's saves. The service is stopped at the end (SIGTERM,
//! then SIGKILL), also when the bench fails; its temp folder is inside the bench's, which goes too.
//!
//! Inputs (environment):
//! - `KBSEARCH_BENCH_KB`: the knowledge base (e.g. `/tmp/kbsearch-bench/kb10000`, made by
//!   `benches/index_scale.sh`). Unset: the sample `kb/`.
//! - `KBSEARCH_BIN`: the binary (default `target/release/kbsearch`; run `cargo build --release`).
//! - `KBSEARCH_BENCH_EDITS` (40): edits measured.
//! - `KBSEARCH_BENCH_SERVER_LOG=FILE`: keep the service's log (with `RUST_LOG=kbsearch=debug`,
//!   every indexing step with its time).
//!
//! Prints a table, then the same figures as one JSON line.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kbsearch::config::DEFAULT_MAX_FILE_BYTES;
use kbsearch::content::article::{self, ParseContext, SourceFile};
use kbsearch::content::products::Catalog;
use kbsearch::ingest::scan;
use serde_json::{Value, json};

/// Give up waiting for the service to answer, or for an edit to show, after this long.
const GIVE_UP: Duration = Duration::from_secs(300);
/// Pause between two checks that the service is up.
const POLL_EVERY: Duration = Duration::from_millis(20);
/// The preview's debounce (`PREVIEW_DEBOUNCE` in `src/main.rs`), printed with the figures.
const PREVIEW_DEBOUNCE_MS: u64 = 100;

type Error = Box<dyn std::error::Error + Send + Sync>;
type Result<T> = std::result::Result<T, Error>;

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(value) => value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}: `{value}` is not a number")),
        Err(_) => default,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank]
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e5).round() / 100.0
}

/// Distribution of a set of durations, in milliseconds.
fn summary(mut times: Vec<Duration>) -> Value {
    times.sort();
    json!({
        "count": times.len(),
        "p50_ms": ms(percentile(&times, 0.50)),
        "p95_ms": ms(percentile(&times, 0.95)),
        "max_ms": ms(times.last().copied().unwrap_or_default()),
    })
}

/// A word found nowhere else: letters only, so it is one plain token and needs no escaping.
fn nonsense(rng: &mut fastrand::Rng) -> String {
    let mut word = "pvbench".to_string();
    for _ in 0..10 {
        word.push(rng.lowercase());
    }
    word
}

/// CPU time used so far by the whole machine and by this process and the service, in clock
/// ticks (Linux `/proc`): the difference tells how much other processes took meanwhile.
#[derive(Clone, Copy)]
struct Cpu {
    at: Instant,
    machine: u64,
    ours: u64,
}

fn proc_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (in parentheses): utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn cpu(server: u32) -> Option<Cpu> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal: everything but idle and iowait.
    let machine = ticks.iter().take(8).sum::<u64>() - ticks.get(3)? - ticks.get(4)?;
    Some(Cpu {
        at: Instant::now(),
        machine,
        ours: proc_ticks(std::process::id())? + proc_ticks(server)?,
    })
}

/// Cores used on average by other processes between two snapshots (100 ticks a second).
fn others(from: Option<Cpu>, to: Option<Cpu>) -> Option<f64> {
    let (from, to) = (from?, to?);
    let seconds = (to.at - from.at).as_secs_f64();
    let others = (to.machine - from.machine).saturating_sub(to.ours - from.ours);
    (seconds > 0.0).then(|| (others as f64 / 100.0 / seconds * 100.0).round() / 100.0)
}

// ---------------------------------------------------------------------------------------------
// The knowledge base copy

/// Copies `from` into `to`, leaving out the JSONL copies `gen_corpus.py` writes beside the
/// markdown (the service ignores them; they are large).
fn copy_kb(from: &Path, to: &Path) -> Result<usize> {
    let from = &from
        .canonicalize()
        .map_err(|e| format!("{}: {e}", from.display()))?;
    let mut files = 0;
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry?;
        let rel = entry.path().strip_prefix(from)?;
        let target = to.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target)?;
        } else if entry.path().extension().is_none_or(|e| e != "jsonl") {
            std::fs::copy(entry.path(), &target)
                .map_err(|e| format!("copying {}: {e}", entry.path().display()))?;
            files += 1;
        }
    }
    Ok(files)
}

/// An article of the copy, with the id the preview gives it (its page is `/articles/{id}`).
struct Article {
    path: PathBuf,
    id: String,
}

/// Every article of the copy, read by kbsearch's own parser (so ids are exactly the service's:
/// the front matter `id:`, else the path without `.md`).
fn articles(kb: &Path) -> Vec<Article> {
    let (catalog, _) = Catalog::load(kb);
    let ctx = ParseContext { catalog: &catalog };
    let (entries, _) = scan::walk(kb);
    entries
        .iter()
        .filter_map(|entry| {
            let bytes = scan::read(entry, DEFAULT_MAX_FILE_BYTES).ok()?;
            let source = SourceFile {
                path: &entry.rel_path,
                bytes: &bytes,
                modified: entry.modified,
            };
            let parsed = article::parse(&source, &ctx).article?;
            Some(Article {
                path: kb.join(&entry.rel_path),
                id: parsed.id,
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The service

/// `kbsearch preview` on a free port; stopped when dropped, whatever happened.
struct Preview {
    child: Child,
    base: String,
}

impl Drop for Preview {
    /// SIGTERM first, so the preview shuts down and removes its scratch folder (index and event
    /// store); SIGKILL if it has not stopped within 20 s.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Preview {
    /// Starts the preview on `kb`, with its temp folder under `tmp` (the bench's own scratch
    /// folder, removed at the end even if the preview had to be killed).
    fn start(bin: &Path, kb: &Path, tmp: &Path) -> Result<Preview> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let stderr = match std::env::var_os("KBSEARCH_BENCH_SERVER_LOG") {
            Some(file) => Stdio::from(std::fs::File::create(file)?),
            None => Stdio::null(),
        };
        let child = Command::new(bin)
            .arg("preview")
            .arg("--kb")
            .arg(kb)
            .arg("--port")
            .arg(port.to_string())
            .env("TMPDIR", tmp)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("starting {}: {e} (cargo build --release)", bin.display()))?;
        Ok(Preview {
            child,
            base: format!("http://127.0.0.1:{port}"),
        })
    }

    /// Waits until `/preview` answers 200: the start-up index is built and searchable.
    async fn wait_until_ready(&mut self, client: &reqwest::Client) -> Result<Duration> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(format!("kbsearch preview exited at start-up: {status}").into());
            }
            if let Ok(response) = client.get(format!("{}/preview", self.base)).send().await
                && response.status() == reqwest::StatusCode::OK
            {
                return Ok(started.elapsed());
            }
            if started.elapsed() > GIVE_UP {
                return Err(format!("/preview did not answer 200 within {GIVE_UP:?}").into());
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }
}

/// The live-reload stream, read as the page's `EventSource` reads it.
struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    async fn open(client: &reqwest::Client, base: &str) -> Result<Events> {
        let response = client.get(format!("{base}/preview/events")).send().await?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(format!("/preview/events answered {}", response.status()).into());
        }
        Ok(Events {
            response,
            buffer: String::new(),
        })
    }

    /// Waits for the next `changed` event (events end with a blank line; keep-alive comments and
    /// other events are skipped).
    async fn next_changed(&mut self, deadline: tokio::time::Instant) -> Result<()> {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let event: String = self.buffer.drain(..end + 2).collect();
                if event.lines().any(|line| line == "event: changed") {
                    return Ok(());
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .map_err(|_| format!("no change event within {GIVE_UP:?}"))??
                .ok_or("the event stream ended")?;
            self.buffer
                .push_str(&String::from_utf8_lossy(&chunk).replace("\r\n", "\n"));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The measurement

/// One edit: the time from the save to the page that shows it, split at the event it came with.
struct Sample {
    /// Wall-clock time of the save, to match the edit with the service's log.
    saved_at: chrono::DateTime<chrono::Utc>,
    total: Duration,
    to_event: Duration,
    /// Events received before the one whose page showed the edit.
    extra_events: usize,
}

async fn measure(
    client: &reqwest::Client,
    base: &str,
    events: &mut Events,
    article: &Article,
    rng: &mut fastrand::Rng,
) -> Result<Sample> {
    let word = nonsense(rng);
    let mut text = std::fs::read_to_string(&article.path)?;
    text.push_str(&format!("\nEdited by the preview bench: {word}.\n"));
    let deadline = tokio::time::Instant::now() + GIVE_UP;
    let saved_at = chrono::Utc::now();
    let started = Instant::now();
    std::fs::write(&article.path, text)?;
    let mut extra_events = 0;
    loop {
        events.next_changed(deadline).await?;
        let to_event = started.elapsed();
        let url = format!("{base}/articles/{}", article.id);
        let response = client.get(&url).send().await?;
        let status = response.status();
        let page = response.text().await?;
        if status == reqwest::StatusCode::OK && page.contains(&word) {
            return Ok(Sample {
                saved_at,
                total: started.elapsed(),
                to_event,
                extra_events,
            });
        }
        extra_events += 1;
    }
}

async fn run(kb_source: &Path, bin: &Path, edits: usize) -> Result<Value> {
    let scratch = tempfile::Builder::new()
        .prefix("kbsearch-preview-bench-")
        .tempdir()?;
    let kb = scratch.path().join("kb");
    let files = copy_kb(kb_source, &kb)?;
    let articles = articles(&kb);
    if articles.is_empty() {
        return Err(format!("no articles in {}", kb_source.display()).into());
    }
    eprintln!(
        "{}: {files} files, {} articles, copied to {}",
        kb_source.display(),
        articles.len(),
        kb.display()
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let mut preview = Preview::start(bin, &kb, scratch.path())?;
    let ready = preview.wait_until_ready(&client).await?;
    eprintln!("preview ready after {ready:?} on {}", preview.base);
    let client_stream = reqwest::Client::new();
    let mut events = Events::open(&client_stream, &preview.base).await?;

    let mut rng = fastrand::Rng::with_seed(6);
    let mut samples = Vec::with_capacity(edits);
    let cpu_before = cpu(preview.child.id());
    for edit in 0..edits {
        tokio::time::sleep(Duration::from_millis(rng.u64(200..=400))).await;
        let article = &articles[rng.usize(..articles.len())];
        let sample = measure(&client, &preview.base, &mut events, article, &mut rng).await?;
        eprintln!(
            "edit {:>2}: saved {}, {:>7.1} ms to the page ({:>7.1} ms to its event{}) {}",
            edit + 1,
            sample.saved_at.format("%H:%M:%S%.3f"),
            ms(sample.total),
            ms(sample.to_event),
            match sample.extra_events {
                0 => String::new(),
                n => format!(", after {n} earlier events"),
            },
            article.id
        );
        samples.push(sample);
    }
    let others = others(cpu_before, cpu(preview.child.id()));
    drop(events);
    drop(preview);
    Ok(json!({
        "kb": kb_source.display().to_string(),
        "articles": articles.len(),
        "ready_ms": ms(ready),
        "debounce_ms": PREVIEW_DEBOUNCE_MS,
        "save_to_page": summary(samples.iter().map(|s| s.total).collect()),
        "save_to_event": summary(samples.iter().map(|s| s.to_event).collect()),
        "edits_needing_a_second_event": samples.iter().filter(|s| s.extra_events > 0).count(),
        "other_processes_cores": others,
    }))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes `--bench`; there is nothing to filter.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let kb = std::env::var_os("KBSEARCH_BENCH_KB")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("kb"));
    let bin = std::env::var_os("KBSEARCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/release/kbsearch"));
    let edits = env_number("KBSEARCH_BENCH_EDITS", 40) as usize;
    let report = match run(&kb, &bin, edits).await {
        Ok(report) => report,
        Err(err) => {
            eprintln!("preview bench failed: {err}");
            std::process::exit(1);
        }
    };
    let page = &report["save_to_page"];
    let event = &report["save_to_event"];
    println!();
    println!(
        "{} ({} articles), {} edits, debounce {} ms",
        report["kb"], report["articles"], page["count"], report["debounce_ms"]
    );
    println!("| measure | p50 | p95 | max |");
    println!("| --- | --- | --- | --- |");
    for (name, figures) in [
        ("save → updated page", page),
        ("save → change event", event),
    ] {
        println!(
            "| {name} | {} ms | {} ms | {} ms |",
            figures["p50_ms"], figures["p95_ms"], figures["max_ms"]
        );
    }
    println!(
        "edits whose first event did not show them: {}; other processes used {} cores",
        report["edits_needing_a_second_event"], report["other_processes_cores"]
    );
    println!("{report}");
}
