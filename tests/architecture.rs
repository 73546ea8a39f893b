//! The import rules of `src/`, checked on the source so that a change that breaks one fails here
//! instead of in review. ARCHITECTURE.md explains them; this file is their definition.
//!
//! - Each stage folder may use only the stages before it in the data flow (the table in
//!   [`ALLOWED`]); `config` and `error` sit at the bottom and use nothing above them.
//! - No HTTP handler module imports another: they share `server::requests`, `server::error`
//!   and `server::layout`.
//! - The library reports progress and errors as types: `indicatif` and `anyhow` are for the
//!   binary (`src/main.rs`, `src/cli/`) only.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// The modules each top-level module of the library may use (besides itself).
const ALLOWED: &[(&str, &[&str])] = &[
    ("error", &[]),
    ("config", &["error"]),
    ("content", &["error", "config"]),
    ("index", &["error", "config", "content"]),
    ("ingest", &["error", "config", "content", "index"]),
    // `ingest` only for its `Progress` trait (embedding is long work too).
    (
        "semantic",
        &["error", "config", "content", "index", "ingest"],
    ),
    (
        "search",
        &["error", "config", "content", "index", "semantic"],
    ),
    (
        "deflect",
        &["error", "config", "content", "index", "search", "semantic"],
    ),
    ("events", &["error", "config"]),
    // What the dashboard makes of the events; groups texts with the index's analyser.
    (
        "insights",
        &["error", "config", "index", "events", "semantic"],
    ),
    (
        "quality",
        &[
            "error", "config", "content", "index", "ingest", "search", "deflect", "semantic",
            "insights",
        ],
    ),
    (
        "server",
        &[
            "error", "config", "content", "index", "ingest", "search", "deflect", "events",
            "quality", "semantic", "insights",
        ],
    ),
];

/// The HTTP handler modules of `src/server/`: none may import another.
const HANDLERS: &[&str] = &[
    "api", "pages", "deflect", "preview", "signin", "insights", "votes", "clicks",
];

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The code lines of a file, without comments (doc comments name other modules freely).
fn code_lines(path: &Path) -> Vec<(usize, String)> {
    fs::read_to_string(path)
        .expect("read source")
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
        .map(|(number, line)| (number + 1, line.to_string()))
        .collect()
}

/// Every `crate::<module>` a line names.
fn crate_modules(line: &str) -> Vec<String> {
    line.match_indices("crate::")
        .map(|(at, _)| {
            line[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level module a library file belongs to (`src/search/execute.rs` → `search`).
fn top_module(path: &Path) -> Option<String> {
    let relative = path.strip_prefix(src()).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    match first {
        "main.rs" | "lib.rs" | "cli" => None,
        file => Some(file.trim_end_matches(".rs").to_string()),
    }
}

#[test]
fn each_stage_uses_only_the_stages_before_it() {
    let mut broken = Vec::new();
    for path in rust_files(&src()) {
        let Some(module) = top_module(&path) else {
            continue;
        };
        let allowed: BTreeSet<&str> = ALLOWED
            .iter()
            .find(|(name, _)| *name == module)
            .unwrap_or_else(|| panic!("{module} is not in ALLOWED: add it with its rules"))
            .1
            .iter()
            .copied()
            .chain([module.as_str()])
            .collect();
        for (number, line) in code_lines(&path) {
            for used in crate_modules(&line) {
                if !allowed.contains(used.as_str()) {
                    broken.push(format!(
                        "{}:{number}: `{module}` uses `crate::{used}`",
                        path.display()
                    ));
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "import rules broken:\n{}",
        broken.join("\n")
    );
}

#[test]
fn no_http_handler_imports_another() {
    let mut broken = Vec::new();
    for handler in HANDLERS {
        let path = src().join("server").join(format!("{handler}.rs"));
        for (number, line) in code_lines(&path) {
            for other in HANDLERS.iter().filter(|other| *other != handler) {
                let named = [
                    format!("super::{other}"),
                    format!("crate::server::{other}"),
                    format!("super::{{{other}"),
                ];
                if named.iter().any(|name| line.contains(name.as_str())) {
                    broken.push(format!("{}:{number}: {line}", path.display()));
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "handlers import each other:\n{}",
        broken.join("\n")
    );
}

#[test]
fn terminal_output_and_error_context_stay_in_the_binary() {
    let mut broken = Vec::new();
    for path in rust_files(&src()) {
        if top_module(&path).is_none() {
            continue;
        }
        for (number, line) in code_lines(&path) {
            if line.contains("indicatif") || line.contains("anyhow") {
                broken.push(format!("{}:{number}: {line}", path.display()));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "the library uses the binary's crates:\n{}",
        broken.join("\n")
    );
}
