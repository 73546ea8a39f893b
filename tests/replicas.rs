//! Two replicas behind nginx with PostgreSQL as their shared event store, as real processes on
//! loopback: a PostgreSQL cluster of the test's own (`common/postgres.rs`), two `kbsearch serve`
//! on copies of the sample knowledge base, and nginx with `deploy/nginx/kbsearch.conf` as it is
//! shipped, ports replaced. It checks that
//! - a draft deflected through one replica and its feedback sent through the other are in the
//!   analytics of both, and both replicas page the same results in the same order;
//! - under a steady load of drafts, feedback and searches through nginx, a replica killed with
//!   SIGKILL and started again loses no acknowledged draft or feedback, searches fail at most for
//!   the requests in flight, and the restarted replica takes requests again;
//! - while PostgreSQL is stopped, searches and suggestions still answer (the drafts' recording
//!   skipped and counted), feedback and cases answer 503 with `Retry-After`, `/readyz` stays
//!   ready and `/api/status` says the store is unavailable; once it is back, everything works
//!   without a restart.
//!
//! Skipped with a message when the PostgreSQL or nginx binaries are absent, failed under `CI`.

#[path = "common/postgres.rs"]
mod postgres;

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use postgres::{Postgres, free_port, missing};
use serde_json::{Value, json};

const AGENT_KEY: &str = "agent-key-0123456789abc";
/// Longest wait for a process to be ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Concurrent clients of the load.
const CLIENTS: usize = 6;
/// Queries of the load, all answered by the sample knowledge base.
const QUERIES: [&str; 5] = ["share", "vpn", "backup", "password", "cutover"];

/// Where the test's processes keep their files.
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Copies a folder, recursively.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// One `kbsearch serve` on its own copy of the content, index and log.
struct Replica {
    name: &'static str,
    port: u16,
    root: PathBuf,
    url: String,
    child: Option<Child>,
}

impl Replica {
    fn new(site: &Site, name: &'static str, events_url: &str) -> Replica {
        let root = site.path(name);
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("kb"),
            &root.join("kb"),
        );
        std::fs::write(
            root.join("kbsearch.toml"),
            format!(
                "[rate_limit]\nwrites_per_second = 0\ntrusted_proxies = [\"127.0.0.1\"]\n\n\
                 [[keys]]\nkey = \"{AGENT_KEY}\"\nrole = \"agent\"\n"
            ),
        )
        .unwrap();
        let mut replica = Replica {
            name,
            port: free_port(),
            root,
            url: events_url.to_string(),
            child: None,
        };
        replica.spawn();
        replica
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.root.join("serve.log"))
            .unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_kbsearch"));
        command
            .arg("serve")
            .args(["--kb", "kb", "--index", "index", "--data", "data"])
            .args(["--config", "kbsearch.toml", "--watch", "off"])
            .arg("--bind")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--events-url")
            .arg(&self.url)
            .current_dir(&self.root)
            .env("RUST_LOG", "warn,kbsearch=info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("KBSEARCH_") {
                command.env_remove(name);
            }
        }
        self.child = Some(command.spawn().expect("start kbsearch serve"));
    }

    /// SIGKILL: no shutdown, no last flush.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("serve.log")).unwrap_or_default()
    }

    async fn wait_ready(&mut self, http: &reqwest::Client) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let answer = http.get(format!("{}/readyz", self.base())).send().await;
            if answer.is_ok_and(|reply| reply.status() == 200) {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!("{} exited ({status}):\n{}", self.name, self.log());
            }
            assert!(
                Instant::now() < deadline,
                "{} not ready:\n{}",
                self.name,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

/// nginx with the shipped configuration, ports replaced.
struct Nginx {
    port: u16,
    root: PathBuf,
    child: Child,
}

impl Nginx {
    fn start(site: &Site, replicas: &[&Replica]) -> Option<Nginx> {
        let binary = ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .map(PathBuf::from)
            .find(|path| path.is_file());
        let Some(binary) = binary else {
            return missing("nginx not found (/usr/sbin/nginx; Debian package nginx-light)");
        };
        let root = site.path("nginx");
        std::fs::create_dir_all(&root).unwrap();
        let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/nginx");
        let port = free_port();
        let shipped = std::fs::read_to_string(deploy.join("kbsearch.conf")).unwrap();
        let upstreams: String = replicas
            .iter()
            .map(|replica| {
                format!(
                    "    server 127.0.0.1:{} max_fails=1 fail_timeout=2s;\n",
                    replica.port
                )
            })
            .collect();
        let shipped_upstreams = "    server 127.0.0.1:8081 max_fails=1 fail_timeout=2s;\n    \
                                 server 127.0.0.1:8082 max_fails=1 fail_timeout=2s;\n";
        assert!(shipped.contains(shipped_upstreams), "{shipped}");
        assert!(shipped.contains("listen 127.0.0.1:8080;"), "{shipped}");
        let config = shipped.replace(shipped_upstreams, &upstreams).replace(
            "listen 127.0.0.1:8080;",
            &format!("listen 127.0.0.1:{port};"),
        );
        std::fs::write(root.join("kbsearch.conf"), config).unwrap();
        std::fs::copy(
            deploy.join("kbsearch-proxy.conf"),
            root.join("kbsearch-proxy.conf"),
        )
        .unwrap();
        let dir = root.display();
        std::fs::write(
            root.join("nginx.conf"),
            format!(
                "pid {dir}/nginx.pid;\nerror_log {dir}/error.log warn;\nworker_processes 1;\n\
                 events {{ worker_connections 512; }}\n\
                 http {{\n  access_log off;\n  client_body_temp_path {dir}/body;\n  \
                 proxy_temp_path {dir}/proxy;\n  fastcgi_temp_path {dir}/fastcgi;\n  \
                 uwsgi_temp_path {dir}/uwsgi;\n  scgi_temp_path {dir}/scgi;\n  \
                 include kbsearch.conf;\n}}\n"
            ),
        )
        .unwrap();
        let child = Command::new(binary)
            .arg("-p")
            .arg(&root)
            .arg("-c")
            .arg(root.join("nginx.conf"))
            .arg("-e")
            .arg(root.join("error.log"))
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(root.join("stderr.log")).unwrap())
            .spawn()
            .expect("start nginx");
        Some(Nginx { port, root, child })
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        let read = |name| std::fs::read_to_string(self.root.join(name)).unwrap_or_default();
        format!("{}{}", read("stderr.log"), read("error.log"))
    }
}

impl Drop for Nginx {
    /// SIGTERM, not SIGKILL: the master then stops its workers, which a killed master would
    /// leave running (and listening) behind it.
    fn drop(&mut self) {
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let _ = self.child.wait();
    }
}

/// A status and its JSON body (or `null`).
async fn send(request: reqwest::RequestBuilder) -> (u16, Value, Option<String>) {
    match request.send().await {
        Ok(reply) => {
            let status = reply.status().as_u16();
            let retry_after = reply
                .headers()
                .get("retry-after")
                .and_then(|value| value.to_str().ok())
                .map(str::to_string);
            let body = reply.json().await.unwrap_or(Value::Null);
            (status, body, retry_after)
        }
        Err(_) => (0, Value::Null, None),
    }
}

async fn deflect(http: &reqwest::Client, base: &str, subject: &str) -> (u16, Value) {
    let body = json!({"subject": subject, "description": "it fails since this morning"});
    let (status, answer, _) = send(http.post(format!("{base}/api/deflect")).json(&body)).await;
    (status, answer)
}

async fn send_feedback(
    http: &reqwest::Client,
    base: &str,
    id: &str,
    outcome: &str,
    article: &str,
) -> (u16, Option<String>) {
    let body = json!({"outcome": outcome, "article_id": article});
    let (status, _, retry_after) = send(
        http.post(format!("{base}/api/deflect/{id}/feedback"))
            .json(&body),
    )
    .await;
    (status, retry_after)
}

async fn analytics(http: &reqwest::Client, base: &str) -> Value {
    let (status, body, _) = send(
        http.get(format!("{base}/api/analytics/deflection"))
            .bearer_auth(AGENT_KEY),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The `id` of each entry of `answer[list]` (`suggestions` or `hits`).
fn ids(answer: &Value, list: &str) -> Vec<String> {
    answer[list]
        .as_array()
        .map(|all| {
            all.iter()
                .filter_map(|s| s["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A replica's `/metrics` text.
struct Metrics(String);

impl Metrics {
    fn lines(&self) -> std::str::Lines<'_> {
        self.0.lines()
    }

    /// Drafts answered without being recorded.
    fn skipped_drafts(&self) -> u64 {
        self.lines()
            .find(|line| line.starts_with("kbsearch_events_dropped_total{kind=\"deflection\"}"))
            .and_then(|line| line.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0)
    }
}

impl std::fmt::Display for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

async fn metrics_of(http: &reqwest::Client, replica: &Replica) -> Metrics {
    let reply = http
        .get(format!("{}/metrics", replica.base()))
        .bearer_auth(AGENT_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    Metrics(reply.text().await.unwrap())
}

/// What the load saw: acknowledged drafts and feedback, and searches by outcome.
#[derive(Default)]
struct Tally {
    drafts: HashSet<String>,
    feedback: HashSet<String>,
    searches_ok: u64,
    searches_failed: Vec<u16>,
    /// Statuses of drafts and feedback not acknowledged (not retried by nginx once sent).
    writes_failed: Vec<u16>,
}

/// One client of the load until `stop`: a draft, a search, feedback on each suggestion.
async fn client(
    http: reqwest::Client,
    base: String,
    number: usize,
    stop: Instant,
    tally: Arc<Mutex<Tally>>,
) {
    let mut round = 0;
    while Instant::now() < stop {
        round += 1;
        let query = QUERIES[(number + round) % QUERIES.len()];
        let (status, answer) =
            deflect(&http, &base, &format!("{query} error {number}-{round}")).await;
        let id = answer["deflection_id"].as_str().map(str::to_string);
        match (status, &id) {
            (200, Some(id)) => {
                tally.lock().unwrap().drafts.insert(id.clone());
            }
            _ => tally.lock().unwrap().writes_failed.push(status),
        }
        let (status, body, _) = send(http.get(format!("{base}/api/search?q={query}"))).await;
        {
            let mut seen = tally.lock().unwrap();
            if status == 200 && body["hits"].is_array() {
                seen.searches_ok += 1;
            } else {
                seen.searches_failed.push(status);
            }
        }
        let Some(id) = id.filter(|_| status == 200) else {
            continue;
        };
        for article in ids(&answer, "suggestions").iter().take(3) {
            let (status, _) = send_feedback(&http, &base, &id, "not_helpful", article).await;
            let mut seen = tally.lock().unwrap();
            if status == 200 {
                seen.feedback.insert(format!("{id} not_helpful {article}"));
            } else {
                seen.writes_failed.push(status);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_behind_nginx_share_postgres_and_survive_failures() {
    let started = Instant::now();
    let Some(cluster) = Postgres::start() else {
        return;
    };
    let site = Site {
        dir: tempfile::tempdir().unwrap(),
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let url = cluster.url();
    // Started together: the migrations run once, under the advisory lock.
    let mut a = Replica::new(&site, "a", &url);
    let mut b = Replica::new(&site, "b", &url);
    a.wait_ready(&http).await;
    b.wait_ready(&http).await;
    let Some(nginx) = Nginx::start(&site, &[&a, &b]) else {
        return;
    };
    let front = nginx.base();
    let deadline = Instant::now() + READY_TIMEOUT;
    while send(http.get(format!("{front}/readyz"))).await.0 != 200 {
        assert!(
            Instant::now() < deadline,
            "nginx not ready:\n{}",
            nginx.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A draft through one replica, its feedback through the other: both analytics count it.
    let (status, answer) = deflect(&http, &a.base(), "share access denied after cutover").await;
    assert_eq!(status, 200, "{answer}");
    let id = answer["deflection_id"].as_str().unwrap().to_string();
    let article = ids(&answer, "suggestions")
        .into_iter()
        .next()
        .expect("the sample kb has an answer");
    let (status, _) = send_feedback(&http, &b.base(), &id, "solved", &article).await;
    assert_eq!(status, 200);
    let (again, _) = send_feedback(&http, &a.base(), &id, "solved", &article).await;
    assert_eq!(
        again, 200,
        "the same feedback again is answered, and recorded once"
    );
    for replica in [&a, &b] {
        let numbers = analytics(&http, &replica.base()).await;
        assert_eq!(numbers["drafts"], 1, "{}: {numbers}", replica.name);
        assert_eq!(numbers["solved"], 1, "{}: {numbers}", replica.name);
        assert_eq!(numbers["top_solving"][0]["article_id"], article.as_str());
    }
    // The same content pages the same on both replicas.
    for query in QUERIES {
        let page =
            |base: String| send(http.get(format!("{base}/api/search?q={query}&per_page=5&page=2")));
        let (from_a, from_b) = (page(a.base()).await.1, page(b.base()).await.1);
        assert_eq!(ids(&from_a, "hits"), ids(&from_b, "hits"), "{query}");
    }

    // Steady load through nginx; one replica killed with SIGKILL and started again.
    let tally = Arc::new(Mutex::new(Tally::default()));
    let load_for = Duration::from_secs(8);
    let stop = Instant::now() + load_for;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|number| {
            tokio::spawn(client(
                http.clone(),
                front.clone(),
                number,
                stop,
                tally.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    a.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.spawn();
    a.wait_ready(&http).await;
    for client in clients {
        client.await.unwrap();
    }
    let load = Arc::try_unwrap(tally).ok().unwrap().into_inner().unwrap();
    let recorded_drafts: HashSet<String> = cluster
        .psql(postgres::DATABASE, "SELECT id FROM deflections")
        .lines()
        .map(str::to_string)
        .collect();
    let recorded_feedback: HashSet<String> = cluster
        .psql(
            postgres::DATABASE,
            "SELECT deflection_id || ' ' || kind || ' ' || coalesce(article_id, '') FROM feedback",
        )
        .lines()
        .map(str::to_string)
        .collect();
    let lost_drafts: Vec<_> = load.drafts.difference(&recorded_drafts).collect();
    let lost_feedback: Vec<_> = load.feedback.difference(&recorded_feedback).collect();
    eprintln!(
        "load: {} drafts and {} feedback acknowledged, {} not ({:?}); {} searches answered, {} \
         failed ({:?})",
        load.drafts.len(),
        load.feedback.len(),
        load.writes_failed.len(),
        load.writes_failed,
        load.searches_ok,
        load.searches_failed.len(),
        load.searches_failed
    );
    assert!(
        lost_drafts.is_empty(),
        "acknowledged drafts lost: {lost_drafts:?}"
    );
    assert!(
        lost_feedback.is_empty(),
        "acknowledged feedback lost: {lost_feedback:?}"
    );
    assert!(
        load.feedback.len() > 20,
        "the load ran: {}",
        load.feedback.len()
    );
    // Only requests in flight on the killed replica may fail: at most one per client.
    assert!(
        load.searches_failed.len() <= CLIENTS,
        "searches failed: {:?}\n{}",
        load.searches_failed,
        nginx.log()
    );
    // The restarted replica takes requests again, through nginx.
    for round in 0..20 {
        let query = QUERIES[round % QUERIES.len()];
        let (status, _, _) = send(http.get(format!("{front}/api/search?q={query}"))).await;
        assert_eq!(status, 200);
    }
    let metrics = metrics_of(&http, &a).await;
    assert!(
        metrics
            .lines()
            .any(|line| line.contains("route=\"/api/search\"")
                && line.starts_with("kbsearch_http_requests")),
        "the restarted replica got no search through nginx:\n{metrics}"
    );

    // PostgreSQL stopped: searches and suggestions answer, outcomes 503 with Retry-After.
    cluster.stop_server();
    let outage = Instant::now();
    for query in QUERIES {
        let (status, body, _) = send(http.get(format!("{front}/api/search?q={query}"))).await;
        assert_eq!(status, 200, "search while the database is down: {body}");
    }
    let (status, answer) = deflect(&http, &front, "vpn error 809 while database down").await;
    assert_eq!(
        status, 200,
        "suggestions while the database is down: {answer}"
    );
    assert!(answer["suggestions"].is_array(), "{answer}");
    let (status, retry_after) = send_feedback(&http, &front, &id, "not_helpful", &article).await;
    assert_eq!(status, 503, "feedback while the database is down");
    assert!(retry_after.is_some(), "503 without Retry-After");
    let case = http
        .post(format!("{front}/case"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("subject=vpn+error+809&description=it+fails")
        .send()
        .await
        .unwrap();
    assert_eq!(
        case.status().as_u16(),
        503,
        "a case while the database is down"
    );
    assert!(case.headers().contains_key("retry-after"));
    for replica in [&a, &b] {
        let (status, _, _) = send(http.get(format!("{}/readyz", replica.base()))).await;
        assert_eq!(status, 200, "{} stays ready", replica.name);
    }
    let (_, status_a, _) = send(
        http.get(format!("{}/api/status", a.base()))
            .bearer_auth(AGENT_KEY),
    )
    .await;
    assert_eq!(status_a["events"]["kind"], "postgresql", "{status_a}");
    assert_eq!(status_a["events"]["available"], false, "{status_a}");
    let skipped =
        metrics_of(&http, &a).await.skipped_drafts() + metrics_of(&http, &b).await.skipped_drafts();
    // The draft of `POST /api/deflect`, and the one of `POST /case` before its outcome's 503.
    assert_eq!(skipped, 2, "the drafts' recording skipped and counted");
    let down_for = Duration::from_secs(3).saturating_sub(outage.elapsed());
    tokio::time::sleep(down_for).await;

    // Back: the same feedback goes through without a restart, and the replicas say so.
    cluster.start_server();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, _) = send_feedback(&http, &front, &id, "not_helpful", &article).await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "no recovery: {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, answer) = deflect(&http, &front, "share access denied again").await;
    assert_eq!(status, 200, "{answer}");
    let new_id = answer["deflection_id"].as_str().unwrap();
    let new_article = ids(&answer, "suggestions").into_iter().next().unwrap();
    for replica in [&a, &b] {
        let (status, _) =
            send_feedback(&http, &replica.base(), new_id, "not_helpful", &new_article).await;
        assert_eq!(status, 200, "{}", replica.name);
        let (_, status_now, _) = send(
            http.get(format!("{}/api/status", replica.base()))
                .bearer_auth(AGENT_KEY),
        )
        .await;
        assert_eq!(status_now["events"]["available"], true, "{status_now}");
    }
    assert_eq!(
        cluster.count(&format!(
            "SELECT count(*) FROM feedback WHERE deflection_id = '{new_id}'"
        )),
        1
    );
    let numbers = analytics(&http, &b.base()).await;
    assert_eq!(numbers, analytics(&http, &a.base()).await);
    drop(nginx);
    eprintln!("replicas test took {:.1?}", started.elapsed());
}
