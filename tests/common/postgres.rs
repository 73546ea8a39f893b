//! A PostgreSQL cluster of the test's own: `initdb` in a temp folder, the server on a free
//! loopback port, stopped and removed with the value. Debian's server binaries live in
//! `/usr/lib/postgresql/VERSION/bin`; `initdb` refuses to run as root, so under root the cluster
//! belongs to `nobody`. Without the binaries the tests that need it are skipped with a message,
//! except under `CI`, where `.ci/run` installs them and their absence is a failure.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The user the cluster runs as when the tests run as root.
const UNPRIVILEGED: &str = "nobody";
/// The database the tests' events go to.
pub const DATABASE: &str = "events";

/// A running cluster.
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_root: bool,
}

/// The highest installed version's binaries, or `None`.
fn server_binaries() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("KBSEARCH_TEST_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// Skips (prints why, returns `None`) or, under `CI`, fails when a tool is missing.
pub fn missing<T>(what: &str) -> Option<T> {
    let message = format!("{what}; install it (as .ci/run does) to run this test");
    if std::env::var_os("CI").is_some() {
        panic!("{message}");
    }
    eprintln!("skipped: {message}");
    None
}

/// A free loopback port (the listener is closed at once: a small race, fine for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free loopback port")
}

fn checked(output: std::io::Result<Output>, what: &str) -> Output {
    let output = output.unwrap_or_else(|err| panic!("{what}: {err}"));
    assert!(
        output.status.success(),
        "{what}: {}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

impl Postgres {
    /// Creates and starts a cluster with an `events` database; `None` (skipped) without the
    /// binaries outside CI.
    pub fn start() -> Option<Postgres> {
        let Some(bin) = server_binaries() else {
            return missing("PostgreSQL server binaries (/usr/lib/postgresql/*/bin) not found");
        };
        let as_root = unsafe { libc::geteuid() } == 0;
        let dir = tempfile::Builder::new()
            .prefix("kbsearch-pg-")
            .tempdir_in(std::env::temp_dir())
            .expect("temp dir");
        if as_root {
            checked(
                Command::new("chown")
                    .arg(UNPRIVILEGED)
                    .arg(dir.path())
                    .output(),
                "chown the cluster's folder",
            );
        }
        let cluster = Postgres {
            port: free_port(),
            dir,
            bin,
            as_root,
        };
        cluster.run(
            "initdb",
            &[
                "-D",
                &cluster.data().display().to_string(),
                "-U",
                "kbsearch",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        cluster.start_server();
        cluster.psql("postgres", &format!("CREATE DATABASE {DATABASE}"));
        Some(cluster)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn log(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// One of the server's binaries, to run as `nobody` under root.
    fn command(&self, tool: &str) -> Command {
        let program = self.bin.join(tool);
        let mut command = if self.as_root {
            let mut command = Command::new("runuser");
            command.args(["-u", UNPRIVILEGED, "--"]).arg(&program);
            command
        } else {
            Command::new(&program)
        };
        command.current_dir(self.dir.path());
        command
    }

    /// Runs one of the server's binaries; fails the test when it fails.
    fn run(&self, tool: &str, args: &[&str]) -> Output {
        let output = self.command(tool).args(args).output();
        checked(output, &format!("{tool} {}", args.join(" ")))
    }

    /// `postgres://kbsearch@127.0.0.1:PORT/events`.
    pub fn url(&self) -> String {
        format!("postgres://kbsearch@127.0.0.1:{}/{DATABASE}", self.port)
    }

    /// Starts the server (again) and waits until it takes connections.
    pub fn start_server(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=60 \
             -c shared_buffers=32MB",
            self.port,
            self.dir.path().display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-l",
                &self.log().display().to_string(),
                "-w",
                "-t",
                "30",
                "-o",
                &options,
                "start",
            ],
        );
    }

    /// Stops the server: connections are closed, and new ones refused until `start_server`.
    pub fn stop_server(&self) {
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
        );
    }

    /// Runs SQL with `psql` on `database`; its unaligned output.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let output = self.run(
            "psql",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "kbsearch",
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-At",
                "-c",
                sql,
            ],
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    /// A count of the events database.
    pub fn count(&self, sql: &str) -> u64 {
        let text = self.psql(DATABASE, sql);
        text.parse()
            .unwrap_or_else(|_| panic!("{sql}: not a count: {text}"))
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}
