//! Configuration: one typed struct with defaults, read from `kbsearch.toml` (or `--config FILE`),
//! then `KBSEARCH_*` environment variables, then command-line flags, and validated once at
//! start-up with errors that name the bad key.
//!
//! It sits at the bottom of the module graph: the defaults and the small setting types
//! ([`WatchMode`], [`WatchOptions`]) are defined here, and the modules that use them (scan,
//! watcher, search, deflection, server) import them from here, never the other way round.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize};
use thiserror::Error;

/// The file read from the working directory when no `--config` is given.
pub const DEFAULT_CONFIG_FILE: &str = "kbsearch.toml";
/// Default largest article file, in bytes (1 MiB).
pub const DEFAULT_MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Result pages kept by `KbSearcher::search_cached` (a page is a few kilobytes).
pub const DEFAULT_CACHE_ENTRIES: usize = 4_096;
/// Default lowest confidence of a deflection suggestion shown (see `search::deflect`). On
/// `kb/deflection.jsonl` it keeps 93 % of unanswerable drafts silent while 80 % of answerable
/// ones are shown an answer (precision 68 %); `kbsearch eval --drafts` prints the whole trade-off.
pub const DEFAULT_MIN_CONFIDENCE: f32 = 0.4;
/// Default number of days events are kept (a year and a month: a year-on-year comparison).
pub const DEFAULT_KEEP_DAYS: u32 = 400;
/// Default size of the event database, with its write-ahead log, past which search events are
/// dropped, in MiB.
pub const DEFAULT_MAX_DATABASE_MB: u64 = 1_024;
/// Smallest `events.max_database_mb` accepted: the write-ahead log alone may reach 64 MiB before
/// it is truncated (see `events::checkpoint`), so a smaller cap would drop every search.
pub const MIN_DATABASE_MB: u64 = 128;

/// Who holds an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A registered customer: sees public and customer articles.
    Customer,
    /// Support staff: sees internal articles, status and analytics.
    Agent,
}

impl Role {
    /// The role as the configuration writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Agent => "agent",
        }
    }
}

/// One API key, sent as `Authorization: Bearer <key>`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    pub key: String,
    pub role: Role,
    /// Who the key was issued to, for the logs.
    #[serde(default)]
    pub name: Option<String>,
}

/// Smallest `limits.max_header_bytes`: hyper's smallest read buffer.
pub const MIN_HEADER_BYTES: usize = 8 * 1024;

/// Limits that protect the service from expensive requests and from clients that hold
/// connections without using them.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Longest `q` accepted, in characters.
    pub max_query_chars: usize,
    /// Largest `per_page`.
    pub max_per_page: usize,
    /// Deepest result reachable by paging (`page * per_page`).
    pub max_result_depth: usize,
    /// Most values of one repeatable search filter (`type`, `tag`); more is a 400 naming it.
    pub max_filter_values: usize,
    /// Seconds before a request is answered with 503.
    pub request_timeout_secs: u64,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Result pages kept in memory for repeated searches (0 turns the cache off).
    pub cache_entries: usize,
    /// Connections served at once; further ones wait in the kernel's queue until one closes.
    /// Below the usual 1,024 open files a process may have, with room for the index and the
    /// event store.
    pub max_connections: usize,
    /// Seconds a client has to send a whole request head (request line and headers): from the
    /// moment it connects, or from the first byte of its next request on a kept-alive connection.
    pub header_read_timeout_secs: u64,
    /// Seconds a connection stays open waiting for its next request (0: one request per
    /// connection). Longer than the 60 s a proxy commonly keeps idle upstream connections, so the
    /// service never closes one a proxy is about to reuse.
    pub keep_alive_secs: u64,
    /// Seconds a client may leave the answer unread (the socket full) before it is disconnected.
    pub send_timeout_secs: u64,
    /// Largest request head (request line and headers), in bytes; larger ones get 431.
    pub max_header_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_query_chars: 1_000,
            max_per_page: 50,
            max_result_depth: 1_000,
            max_filter_values: 20,
            request_timeout_secs: 10,
            max_body_bytes: 64 * 1024,
            cache_entries: DEFAULT_CACHE_ENTRIES,
            max_connections: 512,
            header_read_timeout_secs: 10,
            keep_alive_secs: 75,
            send_timeout_secs: 30,
            max_header_bytes: 32 * 1024,
        }
    }
}

/// Rate limits per client address on the routes that write (and, when asked, on search).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimit {
    /// False turns every rate limit off (benchmarks, load tests).
    pub enabled: bool,
    /// Sustained requests per second per client to `POST /api/deflect`, its feedback and
    /// `POST /case` together (0: not limited).
    pub writes_per_second: f64,
    /// Requests a client may send at once before the rate applies.
    pub writes_burst: u32,
    /// Sustained requests per second per client to the search page, `/api/search` and
    /// `/api/suggest` together (0, the default: not limited; results are cached and cheap).
    pub search_per_second: f64,
    /// Searches a client may send at once before the rate applies.
    pub search_burst: u32,
    /// Sustained sign-in attempts per second per client to `POST /signin` (0: not limited).
    pub signin_per_second: f64,
    /// Sign-in attempts a client may send at once before the rate applies.
    pub signin_burst: u32,
    /// Proxies whose `X-Forwarded-For` names the client (addresses or networks, `10.0.0.0/8`);
    /// any other peer is the client itself.
    #[serde(deserialize_with = "addresses_or_networks")]
    pub trusted_proxies: Vec<IpNet>,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            enabled: true,
            // The case form sends a draft after each pause in typing, one at a time: a person
            // sends at most about three a second, and a burst of 60 lets several people behind
            // one address type at once.
            writes_per_second: 10.0,
            writes_burst: 60,
            search_per_second: 0.0,
            search_burst: 100,
            // Enough for a person who mistypes a few times; a guesser gets one try every 5 s.
            signin_per_second: 0.2,
            signin_burst: 5,
            trusted_proxies: Vec::new(),
        }
    }
}

/// Reads `["10.0.0.1", "10.1.0.0/16", "::1"]`: a bare address is a network of one.
fn addresses_or_networks<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<IpNet>, D::Error> {
    let texts = Vec::<String>::deserialize(deserializer)?;
    texts
        .iter()
        .map(|text| {
            let trimmed = text.trim();
            trimmed
                .parse::<IpNet>()
                .or_else(|_| trimmed.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    serde::de::Error::custom(format!(
                        "`{text}` is not an address (10.0.0.1) or a network (10.0.0.0/8)"
                    ))
                })
        })
        .collect()
}

/// What the service tells browsers beyond the fixed security headers.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Server {
    /// Origins that may show the pages in a frame (a portal embedding the case form, as
    /// `https://portal.example.com`); empty, the default, lets no site frame them.
    pub frame_ancestors: Vec<String>,
}

/// Default hours an agent's sign-in lasts: a working day.
pub const DEFAULT_SESSION_HOURS: u32 = 8;
/// Longest sign-in accepted for `session.hours`: a month.
pub const MAX_SESSION_HOURS: u32 = 24 * 31;
/// Shortest `session.secret`: 256 bits written as hex.
pub const MIN_SESSION_SECRET_CHARS: usize = 32;

/// Agent sign-in for pages (`/signin`): how its session cookie is signed and sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Session {
    /// Secret that signs session cookies (at least 32 characters; also `KBSEARCH_SESSION_SECRET`).
    /// Without one, each process signs with a random key of its own: sign-ins end when the
    /// service restarts, and replicas behind one load balancer do not accept each other's.
    pub secret: Option<Secret>,
    /// Hours a sign-in lasts.
    pub hours: u32,
    /// Always mark the cookie `Secure` (the service is reached over HTTPS only). Without it,
    /// the cookie is `Secure` when a trusted proxy says `X-Forwarded-Proto: https`.
    pub secure: bool,
}

impl Default for Session {
    fn default() -> Self {
        Session {
            secret: None,
            hours: DEFAULT_SESSION_HOURS,
            secure: false,
        }
    }
}

/// A value that must never be printed: its `Debug` says only that it is set.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// How the content folder is watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WatchMode {
    /// The operating system's notifications (inotify, FSEvents, ReadDirectoryChangesW); falls
    /// back to polling when they cannot be used.
    Native,
    /// Compare the folder's metadata at an interval: for network file systems, containers and
    /// machines out of inotify watches.
    Poll,
    /// Do not watch: the index changes only at start-up and on the reconcile timer.
    Off,
}

impl std::str::FromStr for WatchMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "native" => Ok(WatchMode::Native),
            "poll" => Ok(WatchMode::Poll),
            "off" => Ok(WatchMode::Off),
            _ => Err(format!("`{text}` is not a watch mode: native, poll or off")),
        }
    }
}

impl std::fmt::Display for WatchMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WatchMode::Native => "native",
            WatchMode::Poll => "poll",
            WatchMode::Off => "off",
        })
    }
}

/// How to watch: the mode, and the timings.
#[derive(Debug, Clone, Copy)]
pub struct WatchOptions {
    pub mode: WatchMode,
    /// Longest time changes that keep arriving (a `git checkout`, a copy of many files) are
    /// gathered into one commit; a single save waits only [`crate::ingest::watcher::QUIET`] (or
    /// this, when shorter).
    pub debounce: Duration,
    /// How often the polling watcher compares the folder.
    pub poll_interval: Duration,
    /// Follow symbolic links whose target stays inside the content folder (never one that leads
    /// out of it); when false, every link is left out and reported.
    pub follow_symlinks: bool,
}

/// How the service keeps the index current while writers edit.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Watch {
    /// `native` (with a fallback to polling), `poll`, or `off`.
    pub mode: WatchMode,
    /// Longest time changes that keep arriving are gathered into one commit, in milliseconds; a
    /// single save is indexed after 50 ms of quiet (or this, when shorter).
    pub debounce_ms: u64,
    /// How often the polling watcher compares the folder, in milliseconds.
    pub poll_interval_ms: u64,
    /// Compare the whole folder with the index this often, in seconds (0: only at start-up and
    /// when the watcher lost events).
    pub reconcile_interval_secs: u64,
    /// Follow symbolic links that stay inside the content folder (files and folders); links that
    /// lead out of it are never followed. Off by default: every link is reported and left out.
    pub follow_symlinks: bool,
}

impl Default for Watch {
    fn default() -> Self {
        Watch {
            mode: WatchMode::Native,
            debounce_ms: 300,
            poll_interval_ms: 1_000,
            reconcile_interval_secs: 15 * 60,
            follow_symlinks: false,
        }
    }
}

impl Watch {
    pub fn options(&self) -> WatchOptions {
        WatchOptions {
            mode: self.mode,
            debounce: Duration::from_millis(self.debounce_ms),
            poll_interval: Duration::from_millis(self.poll_interval_ms),
            follow_symlinks: self.follow_symlinks,
        }
    }

    pub fn reconcile_every(&self) -> Option<Duration> {
        (self.reconcile_interval_secs > 0)
            .then(|| Duration::from_secs(self.reconcile_interval_secs))
    }
}

/// Case deflection settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Deflect {
    /// Lowest confidence (0 to 1) of a suggestion shown on the case form.
    pub min_confidence: f32,
}

impl Default for Deflect {
    fn default() -> Self {
        Deflect {
            min_confidence: DEFAULT_MIN_CONFIDENCE,
        }
    }
}

/// The optional semantic layer (`crate::semantic`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SemanticConfig {
    /// A sentence-transformers model folder (BERT family: `config.json`, `model.safetensors`,
    /// `tokenizer.json`, the pooling folder); none: lexical ranking only.
    pub model: Option<PathBuf>,
}

/// Files a sentence-transformers model folder must hold.
pub const MODEL_FILES: [&str; 3] = ["config.json", "model.safetensors", "tokenizer.json"];
/// What the event store keeps, and for how long.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Events {
    /// Days drafts (with their outcomes) and searches are kept; older ones are pruned in the
    /// background, at start-up and hourly.
    pub keep_days: u32,
    /// Size of the event database with its write-ahead log, in MiB, past which search events are
    /// dropped and the oldest pruned to make room; drafts and outcomes are still written.
    pub max_database_mb: u64,
    /// A PostgreSQL database shared by several replicas (`postgres://user:password@host:port/db`);
    /// none: SQLite in the data folder. Its password never shows in `Debug`.
    pub url: Option<Secret>,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            keep_days: DEFAULT_KEEP_DAYS,
            max_database_mb: DEFAULT_MAX_DATABASE_MB,
            url: None,
        }
    }
}

impl Events {
    /// How long events are kept.
    pub fn keep(&self) -> Duration {
        Duration::from_secs(u64::from(self.keep_days) * 24 * 60 * 60)
    }

    /// The size cap in bytes.
    pub fn max_database_bytes(&self) -> u64 {
        self.max_database_mb.saturating_mul(1024 * 1024)
    }
}

impl Config {
    /// The bounds on what clients send and the service keeps: filter values per search
    /// parameter, the event store's retention period and size cap.
    fn validate_bounds(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: key.to_string(),
            message,
        };
        if self.limits.max_filter_values == 0 {
            return Err(invalid(
                "limits.max_filter_values",
                "must be more than 0".to_string(),
            ));
        }
        if self.events.keep_days == 0 {
            return Err(invalid(
                "events.keep_days",
                "must be more than 0".to_string(),
            ));
        }
        if let Some(url) = &self.events.url {
            check_events_url(url.expose()).map_err(|message| invalid("events.url", message))?;
        }
        if self.events.max_database_mb < MIN_DATABASE_MB {
            return Err(invalid(
                "events.max_database_mb",
                format!(
                    "{} is less than {MIN_DATABASE_MB}: the write-ahead log alone may take 64 MiB",
                    self.events.max_database_mb
                ),
            ));
        }
        Ok(())
    }
}

/// Longest `events.url` accepted.
pub const MAX_EVENTS_URL_CHARS: usize = 2048;

/// Checks a PostgreSQL URL without connecting; the message never repeats the URL, which may hold
/// a password.
fn check_events_url(url: &str) -> Result<(), String> {
    if url.chars().count() > MAX_EVENTS_URL_CHARS {
        return Err(format!("longer than {MAX_EVENTS_URL_CHARS} characters"));
    }
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(
            "is not a PostgreSQL URL: postgres://user:password@host:port/database".to_string(),
        );
    }
    let parsed = url
        .parse::<tokio_postgres::Config>()
        .map_err(|err| format!("is not a PostgreSQL URL ({err})"))?;
    if parsed.get_hosts().is_empty() {
        return Err("names no host: postgres://user:password@host:port/database".to_string());
    }
    if parsed.get_user().is_none() {
        return Err("names no user: postgres://user:password@host:port/database".to_string());
    }
    Ok(())
}

/// Everything `kbsearch serve` needs to know.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Content folder of markdown articles.
    pub kb: PathBuf,
    /// Index folder (derived).
    pub index: PathBuf,
    /// Folder for events and analytics.
    pub data: PathBuf,
    /// Address to listen on.
    pub bind: String,
    /// Largest article file read, in bytes.
    pub max_file_bytes: u64,
    pub limits: Limits,
    pub rate_limit: RateLimit,
    pub server: Server,
    pub watch: Watch,
    pub deflect: Deflect,
    pub semantic: SemanticConfig,
    pub events: Events,
    pub session: Session,
    pub keys: Vec<ApiKey>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            kb: PathBuf::from("kb"),
            index: PathBuf::from("index"),
            data: PathBuf::from("data"),
            bind: "127.0.0.1:8080".to_string(),
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            limits: Limits::default(),
            rate_limit: RateLimit::default(),
            server: Server::default(),
            watch: Watch::default(),
            deflect: Deflect::default(),
            semantic: SemanticConfig::default(),
            events: Events::default(),
            session: Session::default(),
            keys: Vec::new(),
        }
    }
}

/// Why the configuration cannot be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Parse {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    #[error("environment variable {name}: {message}")]
    Env { name: String, message: String },
    #[error("config key `{key}`: {message}")]
    Invalid { key: String, message: String },
}

/// Values given on the command line; `None` keeps the file or environment value.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub kb: Option<PathBuf>,
    pub index: Option<PathBuf>,
    pub data: Option<PathBuf>,
    pub bind: Option<String>,
    pub max_file_bytes: Option<u64>,
    pub watch: Option<WatchMode>,
    pub semantic_model: Option<PathBuf>,
    pub events_url: Option<String>,
}

impl Config {
    /// Loads the configuration: `file` (or `kbsearch.toml` when present), then the environment,
    /// then `overrides`, then validates.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let default_file = Path::new(DEFAULT_CONFIG_FILE);
        let mut config = match file {
            Some(path) => Config::from_file(path)?,
            None if default_file.is_file() => Config::from_file(default_file)?,
            None => Config::default(),
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        config.apply(overrides);
        config.validate()?;
        Ok(config)
    }

    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        Config::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|err| ConfigError::Parse {
            path: path.to_path_buf(),
            line: err.span().map(|span| line_at(text, span.start)),
            message: err.message().to_string(),
        })
    }

    /// Applies `KBSEARCH_*` variables read through `lookup`.
    pub fn apply_env(
        &mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        if let Some(value) = lookup("KBSEARCH_KB") {
            self.kb = PathBuf::from(value);
        }
        if let Some(value) = lookup("KBSEARCH_INDEX") {
            self.index = PathBuf::from(value);
        }
        if let Some(value) = lookup("KBSEARCH_DATA") {
            self.data = PathBuf::from(value);
        }
        if let Some(value) = lookup("KBSEARCH_BIND") {
            self.bind = value;
        }
        if let Some(value) = lookup("KBSEARCH_WATCH") {
            self.watch.mode = value.parse().map_err(|message| ConfigError::Env {
                name: "KBSEARCH_WATCH".to_string(),
                message,
            })?;
        }
        if let Some(value) = lookup("KBSEARCH_SEMANTIC_MODEL") {
            // Set but empty: no model, whatever the file says.
            self.semantic.model = (!value.trim().is_empty()).then(|| PathBuf::from(value));
        }
        if let Some(value) = lookup("KBSEARCH_EVENTS_URL") {
            // Set but empty: SQLite, whatever the file says.
            self.events.url = (!value.trim().is_empty()).then(|| Secret::new(value));
        }
        if let Some(value) = lookup("KBSEARCH_SESSION_SECRET") {
            // Kept out of the file, as keys in an environment often are.
            self.session.secret = (!value.trim().is_empty()).then(|| Secret::new(value));
        }
        if let Some(value) = lookup("KBSEARCH_MAX_FILE_BYTES") {
            self.max_file_bytes = value.trim().parse().map_err(|_| ConfigError::Env {
                name: "KBSEARCH_MAX_FILE_BYTES".to_string(),
                message: format!("`{value}` is not a number of bytes"),
            })?;
        }
        Ok(())
    }

    pub fn apply(&mut self, overrides: &Overrides) {
        if let Some(kb) = &overrides.kb {
            self.kb = kb.clone();
        }
        if let Some(index) = &overrides.index {
            self.index = index.clone();
        }
        if let Some(data) = &overrides.data {
            self.data = data.clone();
        }
        if let Some(bind) = &overrides.bind {
            self.bind = bind.clone();
        }
        if let Some(max) = overrides.max_file_bytes {
            self.max_file_bytes = max;
        }
        if let Some(mode) = overrides.watch {
            self.watch.mode = mode;
        }
        if let Some(model) = &overrides.semantic_model {
            self.semantic.model = Some(model.clone());
        }
        if let Some(url) = &overrides.events_url {
            self.events.url = Some(Secret::new(url.clone()));
        }
    }

    /// Checks every value once, naming the key at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: key.to_string(),
            message,
        };
        self.bind.parse::<SocketAddr>().map_err(|_| {
            invalid(
                "bind",
                format!("`{}` is not an address like 127.0.0.1:8080", self.bind),
            )
        })?;
        if self.max_file_bytes == 0 {
            return Err(invalid("max_file_bytes", "must be more than 0".to_string()));
        }
        let limits = &self.limits;
        for (key, value) in [
            ("limits.max_query_chars", limits.max_query_chars),
            ("limits.max_per_page", limits.max_per_page),
            ("limits.max_result_depth", limits.max_result_depth),
            ("limits.max_body_bytes", limits.max_body_bytes),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be more than 0".to_string()));
            }
        }
        for (key, value) in [
            ("watch.debounce_ms", self.watch.debounce_ms),
            ("watch.poll_interval_ms", self.watch.poll_interval_ms),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be more than 0".to_string()));
            }
        }
        self.validate_bounds()?;
        if !(0.0..=1.0).contains(&self.deflect.min_confidence) {
            return Err(invalid(
                "deflect.min_confidence",
                format!("{} is not between 0 and 1", self.deflect.min_confidence),
            ));
        }
        if let Some(model) = &self.semantic.model {
            if !model.is_dir() {
                return Err(invalid(
                    "semantic.model",
                    format!("{} is not a folder", model.display()),
                ));
            }
            if let Some(missing) = MODEL_FILES.iter().find(|f| !model.join(f).is_file()) {
                return Err(invalid(
                    "semantic.model",
                    format!(
                        "{} has no {missing}: give a sentence-transformers model folder",
                        model.display()
                    ),
                ));
            }
        }
        if limits.request_timeout_secs == 0 {
            return Err(invalid(
                "limits.request_timeout_secs",
                "must be more than 0".to_string(),
            ));
        }
        self.validate_connections()?;
        self.validate_rate_limit()?;
        self.validate_frame_ancestors()?;
        self.validate_session()?;
        for (index, key) in self.keys.iter().enumerate() {
            if key.key.trim().len() < 16 {
                return Err(invalid(
                    &format!("keys[{index}].key"),
                    "must be at least 16 characters (use a random token)".to_string(),
                ));
            }
            if self.keys[..index].iter().any(|other| other.key == key.key) {
                return Err(invalid(
                    &format!("keys[{index}].key"),
                    "is used twice".to_string(),
                ));
            }
        }
        Ok(())
    }

    /// The connection limits: a slot count and timeouts that end connections held without use.
    fn validate_connections(&self) -> Result<(), ConfigError> {
        let limits = &self.limits;
        let invalid = |key: &str, message: &str| ConfigError::Invalid {
            key: key.to_string(),
            message: message.to_string(),
        };
        if limits.max_connections == 0 {
            return Err(invalid("limits.max_connections", "must be more than 0"));
        }
        for (key, value) in [
            (
                "limits.header_read_timeout_secs",
                limits.header_read_timeout_secs,
            ),
            ("limits.send_timeout_secs", limits.send_timeout_secs),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be more than 0"));
            }
        }
        if limits.max_header_bytes < MIN_HEADER_BYTES {
            return Err(ConfigError::Invalid {
                key: "limits.max_header_bytes".to_string(),
                message: format!(
                    "{} is less than {MIN_HEADER_BYTES}, the smallest the HTTP parser takes",
                    limits.max_header_bytes
                ),
            });
        }
        Ok(())
    }

    /// Rates are finite and not negative; a limited route has a burst of at least one request.
    fn validate_rate_limit(&self) -> Result<(), ConfigError> {
        let rate_limit = &self.rate_limit;
        for (rate_key, rate, burst_key, burst) in [
            (
                "rate_limit.writes_per_second",
                rate_limit.writes_per_second,
                "rate_limit.writes_burst",
                rate_limit.writes_burst,
            ),
            (
                "rate_limit.search_per_second",
                rate_limit.search_per_second,
                "rate_limit.search_burst",
                rate_limit.search_burst,
            ),
            (
                "rate_limit.signin_per_second",
                rate_limit.signin_per_second,
                "rate_limit.signin_burst",
                rate_limit.signin_burst,
            ),
        ] {
            if !rate.is_finite() || !(0.0..=MAX_RATE_PER_SECOND).contains(&rate) {
                return Err(ConfigError::Invalid {
                    key: rate_key.to_string(),
                    message: format!(
                        "{rate} is not a rate between 0 (not limited) and {MAX_RATE_PER_SECOND}"
                    ),
                });
            }
            if rate > 0.0 && burst == 0 {
                return Err(ConfigError::Invalid {
                    key: burst_key.to_string(),
                    message: "must be at least 1 where a rate is set".to_string(),
                });
            }
        }
        Ok(())
    }

    /// A sign-in lasts between an hour and a month; a secret is long enough not to be guessed.
    fn validate_session(&self) -> Result<(), ConfigError> {
        let session = &self.session;
        if !(1..=MAX_SESSION_HOURS).contains(&session.hours) {
            return Err(ConfigError::Invalid {
                key: "session.hours".to_string(),
                message: format!("{} is not between 1 and {MAX_SESSION_HOURS}", session.hours),
            });
        }
        if let Some(secret) = &session.secret
            && secret.expose().trim().chars().count() < MIN_SESSION_SECRET_CHARS
        {
            return Err(ConfigError::Invalid {
                key: "session.secret".to_string(),
                message: format!(
                    "must be at least {MIN_SESSION_SECRET_CHARS} characters (use a random token, \
                     such as `openssl rand -hex 32`)"
                ),
            });
        }
        Ok(())
    }

    /// Each entry is one CSP source: `'self'`, or an origin or host pattern without spaces,
    /// quotes, commas or semicolons, which would end the directive or the header.
    fn validate_frame_ancestors(&self) -> Result<(), ConfigError> {
        for (index, source) in self.server.frame_ancestors.iter().enumerate() {
            let plain = !source.is_empty()
                && source
                    .chars()
                    .all(|c| c.is_ascii_graphic() && !matches!(c, '\'' | ',' | ';' | '"'));
            if source != "'self'" && !plain {
                return Err(ConfigError::Invalid {
                    key: format!("server.frame_ancestors[{index}]"),
                    message: format!(
                        "`{source}` is not an origin like https://portal.example.com (or 'self')"
                    ),
                });
            }
        }
        Ok(())
    }

    /// The configured key matching a bearer token. Every key is compared, each in constant time,
    /// so how long the answer takes says nothing of how much of a key a guess got right.
    pub fn key(&self, token: &str) -> Option<&ApiKey> {
        self.keys.iter().fold(None, |found, candidate| {
            let equal =
                constant_time_eq::constant_time_eq(candidate.key.as_bytes(), token.as_bytes());
            if equal { Some(candidate) } else { found }
        })
    }

    /// The role of a bearer key, if it is configured.
    pub fn role_of(&self, token: &str) -> Option<Role> {
        self.key(token).map(|k| k.role)
    }

    pub fn bind_addr(&self) -> SocketAddr {
        self.bind.parse().expect("validated at load time")
    }
}

/// Highest rate accepted for a rate limit: more is no limit at all.
const MAX_RATE_PER_SECOND: f64 = 1_000_000.0;

/// The 1-based line of a byte offset in `text`, for parse errors that say where the file is wrong.
fn line_at(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` parses, but validation refuses it with an error that names `key`.
    fn assert_refused_naming(text: &str, key: &str) {
        let error = Config::parse(text, Path::new("k.toml"))
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(error.starts_with(&format!("config key `{key}`")), "{error}");
    }

    #[test]
    fn defaults_serve_the_sample_kb_locally() {
        let config = Config::default();
        config.validate().unwrap();
        assert_eq!(config.bind_addr().ip().to_string(), "127.0.0.1");
        assert_eq!(config.kb, PathBuf::from("kb"));
    }

    #[test]
    fn events_and_filter_limits_have_defaults_and_checked_values() {
        let config = Config::parse(
            "[events]\nkeep_days = 30\nmax_database_mb = 512\n[limits]\nmax_filter_values = 5\n",
            Path::new("k.toml"),
        )
        .unwrap();
        config.validate().unwrap();
        assert_eq!(config.events.keep(), Duration::from_secs(30 * 24 * 3600));
        assert_eq!(config.events.max_database_bytes(), 512 * 1024 * 1024);
        assert_eq!(config.limits.max_filter_values, 5);
        let defaults = Config::default();
        assert_eq!(defaults.events.keep_days, DEFAULT_KEEP_DAYS);
        assert_eq!(defaults.events.max_database_mb, DEFAULT_MAX_DATABASE_MB);
        for (text, key) in [
            ("[events]\nkeep_days = 0\n", "events.keep_days"),
            ("[events]\nmax_database_mb = 10\n", "events.max_database_mb"),
            (
                "[limits]\nmax_filter_values = 0\n",
                "limits.max_filter_values",
            ),
        ] {
            assert_refused_naming(text, key);
        }
        let unknown = Config::parse("[events]\nkeep = 3\n", Path::new("k.toml")).unwrap_err();
        assert!(
            unknown.to_string().contains("unknown field `keep`"),
            "{unknown}"
        );
    }

    #[test]
    fn session_settings_have_defaults_checked_values_and_a_secret_never_printed() {
        let defaults = Config::default();
        assert_eq!(defaults.session.hours, DEFAULT_SESSION_HOURS);
        assert!(defaults.session.secret.is_none() && !defaults.session.secure);
        let secret = "0123456789abcdef0123456789abcdef";
        let text = format!("[session]\nsecret = \"{secret}\"\nhours = 12\nsecure = true\n");
        let config = Config::parse(&text, Path::new("k.toml")).unwrap();
        config.validate().unwrap();
        assert_eq!(config.session.hours, 12);
        assert!(config.session.secure);
        assert!(
            !format!("{config:?}").contains(secret),
            "Debug never shows the secret"
        );
        for (text, key) in [
            ("[session]\nhours = 0\n", "session.hours"),
            ("[session]\nhours = 745\n", "session.hours"),
            ("[session]\nsecret = \"short\"\n", "session.secret"),
            (
                "[rate_limit]\nsignin_burst = 0\n",
                "rate_limit.signin_burst",
            ),
        ] {
            assert_refused_naming(text, key);
        }
        let mut env = Config::default();
        env.apply_env(|n| (n == "KBSEARCH_SESSION_SECRET").then(|| secret.to_string()))
            .unwrap();
        assert_eq!(
            env.session.secret.as_ref().map(Secret::expose),
            Some(secret)
        );
    }

    #[test]
    fn file_then_env_then_flags() {
        let mut config = Config::parse(
            "kb = \"docs\"\nbind = \"127.0.0.1:9000\"\n[[keys]]\nkey = \"0123456789abcdef\"\nrole = \"agent\"\n",
            Path::new("kbsearch.toml"),
        )
        .unwrap();
        config
            .apply_env(|name| (name == "KBSEARCH_BIND").then(|| "127.0.0.1:9001".to_string()))
            .unwrap();
        config.apply(&Overrides {
            kb: Some("flag-kb".into()),
            ..Overrides::default()
        });
        config.validate().unwrap();
        assert_eq!(config.kb, PathBuf::from("flag-kb"));
        assert_eq!(config.bind, "127.0.0.1:9001");
        assert_eq!(config.role_of("0123456789abcdef"), Some(Role::Agent));
        assert_eq!(config.role_of("nope"), None);
    }

    #[test]
    fn errors_name_the_key() {
        let unknown = Config::parse("kb = \"a\"\nbnd = \"x\"\n", Path::new("k.toml")).unwrap_err();
        assert!(
            unknown
                .to_string()
                .starts_with("k.toml:2: unknown field `bnd`"),
            "{unknown}"
        );
        let role = Config::parse(
            "[[keys]]\nkey = \"0123456789abcdef\"\nrole = \"admin\"\n",
            Path::new("k.toml"),
        )
        .unwrap_err();
        assert!(role.to_string().contains("k.toml:3"), "{role}");
        let config = Config {
            bind: "localhost".into(),
            ..Config::default()
        };
        assert_eq!(
            config.validate().unwrap_err().to_string(),
            "config key `bind`: `localhost` is not an address like 127.0.0.1:8080"
        );
        let mut short = Config::default();
        short.keys.push(ApiKey {
            key: "abc".into(),
            role: Role::Customer,
            name: None,
        });
        assert!(
            short
                .validate()
                .unwrap_err()
                .to_string()
                .starts_with("config key `keys[0].key`")
        );
        let mut env = Config::default();
        let err = env
            .apply_env(|n| (n == "KBSEARCH_MAX_FILE_BYTES").then(|| "lots".into()))
            .unwrap_err();
        assert!(err.to_string().contains("KBSEARCH_MAX_FILE_BYTES"));
    }

    #[test]
    fn a_semantic_model_comes_from_file_env_or_flag_and_must_be_a_model_folder() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[semantic]\nmodel = {:?}\n",
            dir.path().display().to_string()
        );
        let mut config = Config::parse(&text, Path::new("k.toml")).unwrap();
        assert_eq!(config.semantic.model.as_deref(), Some(dir.path()));
        let err = config.validate().unwrap_err().to_string();
        assert!(
            err.starts_with("config key `semantic.model`") && err.contains("config.json"),
            "{err}"
        );
        for file in MODEL_FILES {
            std::fs::write(dir.path().join(file), "{}").unwrap();
        }
        config.validate().unwrap();
        config
            .apply_env(|n| (n == "KBSEARCH_SEMANTIC_MODEL").then(String::new))
            .unwrap();
        assert_eq!(config.semantic.model, None);
        config.apply(&Overrides {
            semantic_model: Some("/no/such/model".into()),
            ..Overrides::default()
        });
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("not a folder")
        );
        assert!(Config::default().semantic.model.is_none());
    }

    #[test]
    fn symlinks_are_not_followed_unless_configured() {
        assert!(!Config::default().watch.options().follow_symlinks);
        let config = Config::parse(
            "[watch]\nfollow_symlinks = true\n",
            Path::new("kbsearch.toml"),
        )
        .unwrap();
        assert!(config.watch.options().follow_symlinks);
    }

    #[test]
    fn internet_limits_have_defaults_and_errors_name_the_key() {
        let config = Config::parse(
            "[limits]\nmax_connections = 64\n[rate_limit]\nwrites_per_second = 0.5\ntrusted_proxies = [\"10.0.0.0/8\", \"192.0.2.7\", \"::1\"]\n[server]\nframe_ancestors = [\"https://portal.example.com\"]\n",
            Path::new("k.toml"),
        )
        .unwrap();
        config.validate().unwrap();
        assert_eq!(config.limits.max_connections, 64);
        assert_eq!(config.limits.header_read_timeout_secs, 10, "a default");
        assert!(config.rate_limit.enabled, "on unless turned off");
        let proxies: Vec<String> = config
            .rate_limit
            .trusted_proxies
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(proxies, ["10.0.0.0/8", "192.0.2.7/32", "::1/128"]);

        let proxy = Config::parse(
            "[rate_limit]\ntrusted_proxies = [\"10.0.0.300\"]\n",
            Path::new("k.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            proxy.starts_with("k.toml:2:") && proxy.contains("`10.0.0.300` is not an address"),
            "{proxy}"
        );
        let invalid = |edit: fn(&mut Config)| {
            let mut config = Config::default();
            edit(&mut config);
            config.validate().unwrap_err().to_string()
        };
        assert!(
            invalid(|c| c.limits.max_connections = 0)
                .starts_with("config key `limits.max_connections`")
        );
        assert!(
            invalid(|c| c.limits.header_read_timeout_secs = 0)
                .starts_with("config key `limits.header_read_timeout_secs`")
        );
        assert!(
            invalid(|c| c.limits.max_header_bytes = 4096)
                .starts_with("config key `limits.max_header_bytes`: 4096 is less than 8192")
        );
        assert!(
            invalid(|c| c.rate_limit.writes_per_second = -1.0)
                .starts_with("config key `rate_limit.writes_per_second`")
        );
        assert!(
            invalid(|c| c.rate_limit.search_per_second = f64::NAN)
                .starts_with("config key `rate_limit.search_per_second`")
        );
        assert!(
            invalid(|c| c.rate_limit.writes_burst = 0)
                .starts_with("config key `rate_limit.writes_burst`")
        );
        assert!(
            invalid(|c| c.server.frame_ancestors = vec!["https://a.example; script-src *".into()])
                .starts_with("config key `server.frame_ancestors[0]`")
        );
        let mut keep_alive_off = Config::default();
        keep_alive_off.limits.keep_alive_secs = 0;
        keep_alive_off.rate_limit.search_burst = 0;
        keep_alive_off
            .validate()
            .expect("0 turns keep-alive off; no search rate, no burst needed");
    }

    /// A regression guard for the timing leak of `==` on keys: `Config::key` must compare every
    /// key with `constant_time_eq`, never with `==` or `find`, whose time grows with the length
    /// of the prefix a guess got right.
    #[test]
    fn keys_are_compared_in_constant_time() {
        let source = include_str!("config.rs");
        let start = source.find("pub fn key(&self").expect("Config::key");
        let body = &source[start..start + source[start..].find("\n    }\n").expect("its end")];
        assert!(body.contains("constant_time_eq("), "{body}");
        assert!(!body.contains("==") && !body.contains(".find("), "{body}");

        let mut config = Config::default();
        for (key, role) in [
            ("0123456789abcdef", Role::Agent),
            ("fedcba9876543210", Role::Customer),
        ] {
            config.keys.push(ApiKey {
                key: key.into(),
                role,
                name: None,
            });
        }
        assert_eq!(config.role_of("fedcba9876543210"), Some(Role::Customer));
        assert_eq!(config.role_of("0123456789abcdef"), Some(Role::Agent));
        assert_eq!(config.role_of("0123456789abcde"), None);
        assert_eq!(config.role_of(""), None);
    }

    #[test]
    fn modes_parse_from_config_and_flags() {
        assert_eq!("Poll".parse::<WatchMode>(), Ok(WatchMode::Poll));
        assert!(
            "inotify"
                .parse::<WatchMode>()
                .unwrap_err()
                .contains("native, poll or off")
        );
    }
}
