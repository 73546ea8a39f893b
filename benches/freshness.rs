//! Freshness of the live index, measured from outside over HTTP (issue 4): how long after a file
//! is saved does a search find it, and how long does a 1,000-file change (a `git checkout`) take
//! to become searchable, while searches keep coming.
//!
//! The bench copies a knowledge base into a temp dir, starts the release binary on it
//! (`kbsearch serve --bind 127.0.0.1:0`, a fresh index), and then:
//!
//! 1. **Single-file freshness**: 60 edits, one at a time. Each rewrites an existing article with a
//!    new nonsense word appended, then polls `/api/search?q=WORD` every 3 ms until the edited
//!    article comes back. Freshness is the time from just before the write to that response.
//!    100-300 ms of idle separate the edits so the debouncer never merges two of them.
//! 2. **1,000-file change**: 4 clients search in a closed loop (no think time) over realistic
//!    queries; after a warm-up and 10 s of idle load, 1,000 articles are rewritten as fast as
//!    possible, each with a shared marker word and a unique one. Absorb time runs from the first
//!    write to the first response to `/api/search?q=MARKER` with `total == 1000`. Search latency is
//!    reported for the requests sent during the change and for the same length of idle load just
//!    before it.
//!
//! Inputs (environment):
//! - `KBSEARCH_BENCH_KB`: the knowledge base (e.g. `/tmp/kbsearch-bench/kb10000`, made by
//!   `benches/index_scale.sh`). Unset: the sample `kb/`, with the bulk change capped at its size.
//! - `KBSEARCH_BENCH_QUERIES`: search load queries, one a line. Unset: `kb/judgments.tsv` for the
//!   sample, `/tmp/kbsearch-bench/kbq/short.txt` when present, else words of article titles.
//! - `KBSEARCH_BIN`: the binary (default `target/release/kbsearch`; run `cargo build --release`).
//! - `KBSEARCH_BENCH_DEBOUNCE_MS`, `KBSEARCH_BENCH_CACHE_ENTRIES`: written to the service's
//!   config (`watch.debounce_ms`, `limits.cache_entries`); unset keeps the service defaults.
//! - `KBSEARCH_BENCH_EDITS` (60), `KBSEARCH_BENCH_FILES` (1000), `KBSEARCH_BENCH_IDLE_SECS` (10),
//!   `KBSEARCH_BENCH_CLIENTS` (4), `KBSEARCH_BENCH_SAVE` (`inplace`, or `rename`: write a hidden
//!   temp file and rename it over the article, as many editors save).
//! - `KBSEARCH_BENCH_SERVER_LOG=FILE`: keep the service's log (e.g. with `RUST_LOG=debug`).
//!
//! Prints a table, then the same figures as one JSON line.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// An agent key written into the bench's config, for `/api/status` and `/metrics`.
const AGENT_KEY: &str = "freshness-bench-agent-key-0123456789";
/// Pause between two polls of the same search.
const POLL_EVERY: Duration = Duration::from_millis(3);
/// Give up waiting for a change to become searchable after this long.
const GIVE_UP: Duration = Duration::from_secs(120);
/// Search load before the idle window starts (fills the result cache, settles merges).
const LOAD_WARM_UP: Duration = Duration::from_secs(3);

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
        "p99_ms": ms(percentile(&times, 0.99)),
        "max_ms": ms(times.last().copied().unwrap_or_default()),
    })
}

/// A word found nowhere else: letters only (no digits, so it stays one plain token), long enough
/// that no typo correction or completion reaches another one.
fn nonsense(rng: &mut fastrand::Rng, prefix: &str) -> String {
    let mut word = prefix.to_string();
    for _ in 0..11 {
        word.push(rng.lowercase());
    }
    word
}

/// CPU time used so far by the whole machine, this process and the service, in clock ticks
/// (Linux `/proc`): the difference tells how much other processes took from the measurement.
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

/// An article of the copy that an anonymous search can find.
#[derive(Clone)]
struct Article {
    path: PathBuf,
    id: String,
    title: Option<String>,
    text: String,
}

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

/// `key` of a YAML (`key: value`) or TOML (`key = value`) front matter line, unquoted.
fn front_matter_value(line: &str, key: &str) -> Option<String> {
    let rest = line.strip_prefix(key)?.trim_start();
    let rest = rest.strip_prefix(':').or_else(|| rest.strip_prefix('='))?;
    let value = rest.trim().trim_matches(|c| c == '"' || c == '\'');
    Some(value.to_string())
}

/// Articles of the copy that are public and published (so an anonymous search finds them), with
/// the id the index gives them.
fn articles(kb: &Path) -> Result<Vec<Article>> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(kb).sort_by_file_name() {
        let entry = entry?;
        let rel = entry.path().strip_prefix(kb)?;
        let name = entry.file_name().to_string_lossy();
        let hidden = rel
            .components()
            .any(|c| c.as_os_str().to_string_lossy().starts_with(['.', '#', '~']));
        if !entry.file_type().is_file()
            || hidden
            || !name.ends_with(".md")
            || rel == Path::new("README.md")
        {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        let text = text.trim_start_matches('\u{feff}').to_string();
        let fence = if text.starts_with("---") {
            "---"
        } else if text.starts_with("+++") {
            "+++"
        } else {
            ""
        };
        let (mut id, mut title, mut visible) = (None, None, true);
        if !fence.is_empty() {
            for line in text.lines().skip(1) {
                let line = line.trim_end_matches('\r');
                if line == fence {
                    break;
                }
                if let Some(value) = front_matter_value(line, "id") {
                    id = Some(value);
                } else if let Some(value) = front_matter_value(line, "title") {
                    title = Some(value);
                } else if let Some(value) = front_matter_value(line, "visibility") {
                    visible &= value == "public";
                } else if let Some(value) = front_matter_value(line, "status") {
                    visible &= value == "published";
                }
            }
        }
        if !visible {
            continue;
        }
        let rel = rel.to_string_lossy().replace('\\', "/");
        let id = id.unwrap_or_else(|| rel.trim_end_matches(".md").to_string());
        let title = title.or_else(|| {
            text.lines()
                .find_map(|l| l.strip_prefix("# ").map(|t| t.trim().to_string()))
        });
        out.push(Article {
            path: entry.path().to_path_buf(),
            id,
            title,
            text,
        });
    }
    Ok(out)
}

/// The search load's queries (see the module documentation).
fn load_queries(default_kb: bool, articles: &[Article]) -> Result<(Vec<String>, String)> {
    let from_file = |path: &Path| -> Result<Vec<String>> {
        Ok(std::fs::read_to_string(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect())
    };
    if let Ok(path) = std::env::var("KBSEARCH_BENCH_QUERIES") {
        return Ok((from_file(Path::new(&path))?, path));
    }
    let judgments = Path::new(env!("CARGO_MANIFEST_DIR")).join("kb/judgments.tsv");
    if default_kb && judgments.is_file() {
        let mut queries: Vec<String> = kbsearch::quality::eval::read_judgments(&judgments)?
            .into_iter()
            .map(|j| j.query)
            .collect();
        queries.dedup();
        return Ok((queries, judgments.display().to_string()));
    }
    let short = Path::new("/tmp/kbsearch-bench/kbq/short.txt");
    if short.is_file() {
        return Ok((from_file(short)?, short.display().to_string()));
    }
    // Two or three words of each title: what someone who read the title would type.
    let queries = articles
        .iter()
        .filter_map(|a| a.title.as_deref())
        .enumerate()
        .map(|(i, title)| {
            title
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| w.len() > 2)
                .take(2 + i % 2)
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase()
        })
        .filter(|q| !q.is_empty())
        .take(2_000)
        .collect();
    Ok((queries, "words of article titles".to_string()))
}

// ---------------------------------------------------------------------------------------------
// The service

struct Server {
    child: Child,
    base: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(bin: &Path, dir: &Path, config: &Path) -> Result<Server> {
        let mut command = Command::new(bin);
        // The address comes from the `kbsearch` info line: keep it when RUST_LOG names only
        // modules (`RUST_LOG=kbsearch::ingest::live=debug`).
        if let Ok(filter) = std::env::var("RUST_LOG")
            && !filter
                .split(',')
                .any(|d| d.starts_with("kbsearch=") || !d.contains('='))
        {
            command.env("RUST_LOG", format!("kbsearch=info,{filter}"));
        }
        let mut child = command
            .arg("serve")
            .arg("--config")
            .arg(config)
            .arg("--kb")
            .arg(dir.join("kb"))
            .arg("--index")
            .arg(dir.join("index"))
            .arg("--data")
            .arg(dir.join("data"))
            .args(["--bind", "127.0.0.1:0"])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (address_tx, address_rx) = mpsc::channel();
        let keep = std::env::var("KBSEARCH_BENCH_SERVER_LOG")
            .ok()
            .map(|path| std::fs::File::create(path).expect("create KBSEARCH_BENCH_SERVER_LOG"));
        let lines = log.clone();
        // Drains the service's stderr for as long as it runs (a full pipe would block it).
        std::thread::spawn(move || {
            let mut keep = keep;
            for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
                if let Some(file) = keep.as_mut() {
                    let _ = writeln!(file, "{line}");
                }
                if let Some(at) = line.find("listening on http://") {
                    let rest = &line[at + "listening on http://".len()..];
                    let address = rest.split('/').next().unwrap_or_default().to_string();
                    let _ = address_tx.send(address);
                }
                lines.lock().unwrap().push(line);
            }
        });
        let mut server = Server {
            child,
            base: String::new(),
            log,
        };
        match address_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(address) => server.base = format!("http://{address}"),
            Err(_) => {
                return Err(format!(
                    "the service did not log its address (RUST_LOG must let kbsearch's info lines through); its log:\n{}",
                    server.log_tail(40)
                )
                .into());
            }
        }
        Ok(server)
    }

    fn log_tail(&self, lines: usize) -> String {
        let log = self.log.lock().unwrap();
        log[log.len().saturating_sub(lines)..].join("\n")
    }

    /// A `key=value` field of the service's log line containing `message`.
    fn logged_field(&self, message: &str, key: &str) -> Option<String> {
        let log = self.log.lock().unwrap();
        let line = log.iter().find(|l| l.contains(message))?;
        let at = line.find(&format!("{key}="))?;
        let value = line[at + key.len() + 1..].split_whitespace().next()?;
        Some(value.trim_matches('"').to_string())
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

fn search_url(base: &str, query: &str, per_page: Option<u32>) -> String {
    let q: String = form_urlencoded::byte_serialize(query.as_bytes()).collect();
    match per_page {
        Some(n) => format!("{base}/api/search?q={q}&per_page={n}"),
        None => format!("{base}/api/search?q={q}"),
    }
}

async fn get_json(client: &reqwest::Client, url: &str) -> Result<Value> {
    let response = client.get(url).send().await?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("GET {url}: {status}: {}", response.text().await?).into());
    }
    Ok(response.json().await?)
}

async fn status(client: &reqwest::Client, base: &str) -> Result<Value> {
    let response = client
        .get(format!("{base}/api/status"))
        .bearer_auth(AGENT_KEY)
        .send()
        .await?;
    Ok(response.error_for_status()?.json().await?)
}

/// Sum and count of the service's own `index_freshness_seconds` histogram (first file event to
/// searchable), from `/metrics`.
async fn server_freshness(client: &reqwest::Client, base: &str) -> Result<(f64, f64)> {
    let text = client
        .get(format!("{base}/metrics"))
        .bearer_auth(AGENT_KEY)
        .send()
        .await?
        .text()
        .await?;
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Ok((
        value("kbsearch_index_freshness_seconds_sum "),
        value("kbsearch_index_freshness_seconds_count "),
    ))
}

// ---------------------------------------------------------------------------------------------
// Edits

#[derive(Clone, Copy, PartialEq)]
enum Save {
    InPlace,
    Rename,
}

/// Saves `text` as `path`, the way an editor would.
fn save(path: &Path, text: &str, how: Save) -> std::io::Result<()> {
    match how {
        Save::InPlace => std::fs::write(path, text),
        Save::Rename => {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let temp = path.with_file_name(format!(".{name}.kbsearch-bench~"));
            std::fs::write(&temp, text)?;
            std::fs::rename(&temp, path)
        }
    }
}

/// The article with `word` added as a last paragraph.
fn edited(article: &Article, words: &str) -> String {
    format!("{}\n\n{words}\n", article.text.trim_end())
}

struct Edit {
    freshness: Duration,
    polls: u32,
}

/// Saves one edit and polls until a search for the new word returns the article.
async fn single_edit(
    client: &reqwest::Client,
    base: &str,
    article: &Article,
    word: &str,
    how: Save,
) -> Result<Edit> {
    let text = edited(article, &format!("Freshness probe {word}."));
    let url = search_url(base, word, Some(1));
    let saved = Instant::now();
    save(&article.path, &text, how)?;
    let mut polls = 0;
    loop {
        polls += 1;
        let found = get_json(client, &url).await?;
        let hit = found["hits"]
            .as_array()
            .is_some_and(|hits| hits.iter().any(|h| h["id"] == article.id.as_str()));
        if hit {
            return Ok(Edit {
                freshness: saved.elapsed(),
                polls,
            });
        }
        if saved.elapsed() > GIVE_UP {
            return Err(format!(
                "`{word}` in {} was not searchable after {GIVE_UP:?}",
                article.id
            )
            .into());
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// One search of the load: when it was sent, how long it took, whether it succeeded.
type Sample = (Instant, Duration, bool);

/// A closed-loop search client: sends the next query as soon as the last one is answered.
async fn load_client(
    base: String,
    queries: Arc<Vec<String>>,
    start: usize,
    stop: Arc<AtomicBool>,
) -> Vec<Sample> {
    let client = client();
    let mut samples = Vec::with_capacity(100_000);
    let mut next = start;
    while !stop.load(Ordering::Relaxed) {
        let url = search_url(&base, &queries[next % queries.len()], None);
        next += 1;
        let sent = Instant::now();
        let ok = match client.get(&url).send().await {
            Ok(response) => response.status().is_success() && response.bytes().await.is_ok(),
            Err(_) => false,
        };
        samples.push((sent, sent.elapsed(), ok));
    }
    samples
}

/// Polls the marker's total until it reaches `want` or `stop` is set; returns every change of
/// the total seen, with the time its response arrived.
async fn watch_total(
    base: String,
    marker: String,
    want: u64,
    stop: Arc<AtomicBool>,
) -> Result<Vec<(Instant, u64)>> {
    let client = client();
    let url = search_url(&base, &marker, Some(1));
    let mut seen: Vec<(Instant, u64)> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let found = get_json(&client, &url).await?;
        let total = found["total"].as_u64().ok_or("no total in the response")?;
        if seen.last().is_none_or(|(_, last)| *last != total) {
            seen.push((Instant::now(), total));
        }
        if total == want {
            break;
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    Ok(seen)
}

// ---------------------------------------------------------------------------------------------

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run only when asked.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    if let Err(err) = run().await {
        eprintln!("freshness bench failed: {err}");
        std::process::exit(1);
    }
}

async fn run() -> Result<()> {
    let bin = std::env::var("KBSEARCH_BIN").map_or_else(
        |_| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/kbsearch"),
        PathBuf::from,
    );
    if !bin.is_file() {
        return Err(format!(
            "{} is missing: run `cargo build --release` first (or set KBSEARCH_BIN)",
            bin.display()
        )
        .into());
    }
    let default_kb = std::env::var("KBSEARCH_BENCH_KB").is_err();
    let source = std::env::var("KBSEARCH_BENCH_KB").map_or_else(
        |_| Path::new(env!("CARGO_MANIFEST_DIR")).join("kb"),
        PathBuf::from,
    );
    let edits = env_number("KBSEARCH_BENCH_EDITS", 60) as usize;
    let mut files = env_number("KBSEARCH_BENCH_FILES", 1_000) as usize;
    let idle = Duration::from_secs(env_number("KBSEARCH_BENCH_IDLE_SECS", 10));
    let clients = env_number("KBSEARCH_BENCH_CLIENTS", 4) as usize;
    let how = match std::env::var("KBSEARCH_BENCH_SAVE").as_deref() {
        Ok("rename") => Save::Rename,
        Ok("inplace") | Err(_) => Save::InPlace,
        Ok(other) => {
            return Err(format!("KBSEARCH_BENCH_SAVE: `{other}`: inplace or rename").into());
        }
    };
    let mut rng = fastrand::Rng::with_seed(4);

    // The copy, the config, the service.
    let dir = tempfile::Builder::new()
        .prefix("kbsearch-freshness-")
        .tempdir()?;
    let kb = dir.path().join("kb");
    let copied = copy_kb(&source, &kb)?;
    let mut candidates = articles(&kb)?;
    if default_kb {
        println!(
            "KBSEARCH_BENCH_KB is not set: using the sample kb/ ({} searchable articles) copied to {}; \
             set KBSEARCH_BENCH_KB=/tmp/kbsearch-bench/kb10000 for the 10,000-article figures",
            candidates.len(),
            kb.display()
        );
    }
    rng.shuffle(&mut candidates);
    if candidates.len() < 2 {
        return Err(format!("{}: too few public articles to edit", source.display()).into());
    }
    // Distinct articles for the single edits and the change when there are enough.
    let singles: Vec<Article> = candidates.iter().take(edits).cloned().collect();
    let rest: Vec<Article> = if candidates.len() >= edits + files {
        candidates[edits..].to_vec()
    } else {
        candidates.clone()
    };
    if rest.len() < files {
        println!(
            "only {} searchable articles: the bulk change rewrites {} files, not {files}",
            rest.len(),
            rest.len()
        );
        files = rest.len();
    }
    let bulk: Vec<Article> = rest.into_iter().take(files).collect();
    let (queries, queries_from) = load_queries(default_kb, &candidates)?;
    if queries.is_empty() {
        return Err("no queries for the search load".into());
    }

    // The search load comes from one address: no rate limit may shape what is measured.
    let mut config = format!(
        "[rate_limit]\nenabled = false\n\n[[keys]]\nkey = \"{AGENT_KEY}\"\nrole = \"agent\"\n"
    );
    if let Ok(ms) = std::env::var("KBSEARCH_BENCH_DEBOUNCE_MS") {
        config = format!("[watch]\ndebounce_ms = {ms}\n\n{config}");
    }
    if let Ok(entries) = std::env::var("KBSEARCH_BENCH_CACHE_ENTRIES") {
        config = format!("[limits]\ncache_entries = {entries}\n\n{config}");
    }
    let config_path = dir.path().join("kbsearch.toml");
    std::fs::write(&config_path, &config)?;

    let started = Instant::now();
    let server = Server::start(&bin, dir.path(), &config_path)?;
    let base = server.base.clone();
    let http = client();
    loop {
        if let Ok(response) = http.get(format!("{base}/readyz")).send().await
            && response.status().is_success()
        {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            return Err(format!("not ready after 600 s; log:\n{}", server.log_tail(40)).into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ready_after = started.elapsed();
    let status_at_start = status(&http, &base).await?;
    let documents = status_at_start["index"]["documents"].as_u64().unwrap_or(0);
    let watching = status_at_start["index"]["watching"]
        .as_str()
        .unwrap_or("none")
        .to_string();
    // The watcher logs its debounce before the start-up reconcile; give the log thread a moment.
    let mut debounce_ms = None;
    for _ in 0..100 {
        debounce_ms = server.logged_field("watching the content folder", "debounce_ms");
        if debounce_ms.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let debounce_ms: Option<u64> = debounce_ms.and_then(|v| v.parse().ok());
    let cache = std::env::var("KBSEARCH_BENCH_CACHE_ENTRIES").unwrap_or_else(|_| "default".into());
    println!(
        "{}: {copied} files copied, {documents} documents indexed, ready after {:.1} s; \
         watcher {watching}, debounce {} ms, result cache {cache}, saves {}",
        source.display(),
        ready_after.as_secs_f64(),
        debounce_ms.map_or("?".to_string(), |d| d.to_string()),
        if how == Save::InPlace {
            "in place"
        } else {
            "by rename"
        },
    );
    // Let the start-up commit's merges finish before measuring.
    tokio::time::sleep(Duration::from_secs(2)).await;

    // 1. Single-file freshness.
    let (sum_before, count_before) = server_freshness(&http, &base).await?;
    let mut single = Vec::with_capacity(edits);
    let mut worst: Option<(Duration, String, u32)> = None;
    let server_pid = server.child.id();
    let cpu_singles = cpu(server_pid);
    let singles_started = Instant::now();
    for n in 0..edits {
        let article = &singles[n % singles.len()];
        let word = nonsense(&mut rng, "zqf");
        let edit = single_edit(&http, &base, article, &word, how).await?;
        if worst.as_ref().is_none_or(|(d, _, _)| edit.freshness > *d) {
            worst = Some((edit.freshness, article.id.clone(), n as u32));
        }
        single.push(edit);
        tokio::time::sleep(Duration::from_millis(rng.u64(100..=300))).await;
    }
    let singles_took = singles_started.elapsed();
    let others_singles = others(cpu_singles, cpu(server_pid));
    let (sum_after, count_after) = server_freshness(&http, &base).await?;
    let server_count = count_after - count_before;
    let server_mean = if server_count > 0.0 {
        (sum_after - sum_before) / server_count
    } else {
        0.0
    };
    let times: Vec<Duration> = single.iter().map(|e| e.freshness).collect();
    let single_summary = summary(times.clone());
    let polls: u32 = single.iter().map(|e| e.polls).sum();

    // 2. The 1,000-file change, under search load.
    let marker = nonsense(&mut rng, "zqm");
    let texts: Vec<(PathBuf, String)> = bulk
        .iter()
        .map(|a| {
            let unique = nonsense(&mut rng, "zqu");
            (
                a.path.clone(),
                edited(a, &format!("Checkout marker {marker}, file {unique}.")),
            )
        })
        .collect();
    let batches_before = status(&http, &base).await?["index"]["batches"]
        .as_u64()
        .unwrap_or(0);
    let stop_load = Arc::new(AtomicBool::new(false));
    let stop_watch = Arc::new(AtomicBool::new(false));
    let queries = Arc::new(queries);
    let load: Vec<_> = (0..clients)
        .map(|c| {
            tokio::spawn(load_client(
                base.clone(),
                queries.clone(),
                c * queries.len() / clients.max(1),
                stop_load.clone(),
            ))
        })
        .collect();
    // The marker is polled during the idle window too, so both windows carry the same load.
    let watcher = tokio::spawn(watch_total(
        base.clone(),
        marker.clone(),
        files as u64,
        stop_watch.clone(),
    ));
    tokio::time::sleep(LOAD_WARM_UP).await;
    let cpu_idle = cpu(server_pid);
    tokio::time::sleep(idle).await;
    let cpu_change = cpu(server_pid);
    let others_idle = others(cpu_idle, cpu_change);
    let change_started = Instant::now();
    let written = tokio::task::spawn_blocking(move || -> std::io::Result<Duration> {
        let started = Instant::now();
        for (path, text) in &texts {
            save(path, text, how)?;
        }
        Ok(started.elapsed())
    })
    .await??;
    let deadline = change_started + GIVE_UP;
    while !watcher.is_finished() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let others_change = others(cpu_change, cpu(server_pid));
    stop_watch.store(true, Ordering::Relaxed);
    let seen = watcher.await??;
    stop_load.store(true, Ordering::Relaxed);
    let mut samples: Vec<Sample> = Vec::new();
    for client in load {
        samples.extend(client.await?);
    }
    let Some(&(absorbed_at, total)) = seen.last() else {
        return Err("the marker was never searched".into());
    };
    if total != files as u64 {
        return Err(format!(
            "the {files}-file change was not searchable after {GIVE_UP:?} (total {total}); log:\n{}",
            server.log_tail(40)
        )
        .into());
    }
    let absorb = absorbed_at - change_started;
    let first_visible = seen
        .iter()
        .find(|(at, total)| *at > change_started && *total > 0)
        .map(|(at, _)| *at - change_started)
        .unwrap_or(absorb);
    let steps: Vec<u64> = seen.iter().map(|(_, t)| *t).collect();
    // Batches are counted once the last one is reported (its status follows its publish).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status_after = status(&http, &base).await?;
    let batches_after = status_after["index"]["batches"].as_u64().unwrap_or(0);
    let window = |from: Instant, to: Instant| -> (Vec<Duration>, usize) {
        let picked: Vec<&Sample> = samples
            .iter()
            .filter(|(sent, _, _)| *sent >= from && *sent < to)
            .collect();
        let errors = picked.iter().filter(|(_, _, ok)| !ok).count();
        (picked.iter().map(|(_, d, _)| *d).collect(), errors)
    };
    let idle_length = absorb.min(idle);
    let (during, during_errors) = window(change_started, absorbed_at);
    let (before, before_errors) = window(change_started - idle_length, change_started);
    let during_summary = summary(during);
    let before_summary = summary(before);
    let distinct_queries: HashSet<&str> = queries.iter().map(String::as_str).collect();
    drop(server);
    let total_took = started.elapsed();

    // Report.
    let row = |label: &str, s: &Value, errors: usize, length: Duration| {
        println!(
            "  {label:<34} {:>6} req ({:>5.0}/s) | p50 {:>6.2} ms | p95 {:>6.2} ms | p99 {:>6.2} ms | max {:>7.2} ms | errors {errors}",
            s["count"],
            s["count"].as_f64().unwrap_or(0.0) / length.as_secs_f64().max(1e-9),
            s["p50_ms"].as_f64().unwrap_or(0.0),
            s["p95_ms"].as_f64().unwrap_or(0.0),
            s["p99_ms"].as_f64().unwrap_or(0.0),
            s["max_ms"].as_f64().unwrap_or(0.0),
        );
    };
    let (worst_time, worst_id, worst_n) = worst.unwrap_or_default();
    println!();
    println!(
        "single-file freshness, {edits} edits ({} articles), save to searchable over HTTP, debounce {} ms:",
        singles.len(),
        debounce_ms.map_or("?".to_string(), |d| d.to_string())
    );
    println!(
        "  p50 {:.0} ms | p95 {:.0} ms | max {:.0} ms (edit {worst_n}, {worst_id}) | min {:.0} ms | \
         {polls} polls | service's own measure (first event to searchable): mean {:.0} ms over {server_count} paths",
        single_summary["p50_ms"].as_f64().unwrap_or(0.0),
        single_summary["p95_ms"].as_f64().unwrap_or(0.0),
        ms(worst_time),
        ms(times.iter().min().copied().unwrap_or_default()),
        server_mean * 1e3,
    );
    println!(
        "{files}-file change: written in {:.0} ms, first file searchable after {:.2} s, all {files} after {:.2} s; \
         {} batches applied; totals seen {:?}",
        ms(written),
        first_visible.as_secs_f64(),
        absorb.as_secs_f64(),
        batches_after.saturating_sub(batches_before),
        steps,
    );
    println!(
        "search load: {clients} closed-loop clients, {} queries ({} distinct) from {queries_from}, plus the marker poll",
        queries.len(),
        distinct_queries.len()
    );
    row(
        &format!("idle, {:.2} s before the change", idle_length.as_secs_f64()),
        &before_summary,
        before_errors,
        idle_length,
    );
    row(
        &format!("during the change ({:.2} s)", absorb.as_secs_f64()),
        &during_summary,
        during_errors,
        absorb,
    );
    let cores = |c: Option<f64>| c.map_or("?".to_string(), |c| format!("{c:.2}"));
    println!(
        "other processes used {} cores during the single edits, {} during the idle load, {} during the change \
         (the bench and the service excluded; {} cores in all)",
        cores(others_singles),
        cores(others_idle),
        cores(others_change),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    println!(
        "took {:.0} s (single edits {:.0} s)",
        total_took.as_secs_f64(),
        singles_took.as_secs_f64()
    );
    let report = json!({
        "bench": "freshness",
        "kb": source.display().to_string(),
        "documents": documents,
        "ready_s": (ready_after.as_secs_f64() * 100.0).round() / 100.0,
        "watching": watching,
        "debounce_ms": debounce_ms,
        "cache_entries": cache,
        "save": if how == Save::InPlace { "inplace" } else { "rename" },
        "single": {
            "edits": edits,
            "freshness": single_summary,
            "server_mean_ms": (server_mean * 1e5).round() / 100.0,
        },
        "bulk": {
            "files": files,
            "written_ms": ms(written),
            "first_visible_s": (first_visible.as_secs_f64() * 1000.0).round() / 1000.0,
            "absorb_s": (absorb.as_secs_f64() * 1000.0).round() / 1000.0,
            "batches": batches_after.saturating_sub(batches_before),
            "totals_seen": steps,
        },
        "search": {
            "clients": clients,
            "queries": queries_from,
            "idle": before_summary,
            "idle_errors": before_errors,
            "during": during_summary,
            "during_errors": during_errors,
        },
        "other_cores": {
            "single": others_singles,
            "idle": others_idle,
            "during": others_change,
        },
        "took_s": total_took.as_secs_f64().round(),
    });
    println!("{report}");
    Ok(())
}
