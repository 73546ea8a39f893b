//! The index folder: where generations of the tantivy index live and which one is current.
//!
//! ```text
//! index/
//!   .kbsearch.lock          the one-writer lock (see `lock`)
//!   CURRENT                 name of the live generation, replaced atomically
//!   gen-1-1732617000123/    a complete tantivy index (schema version 1)
//!   aside-corrupt-…/        a generation that could not be opened, kept for inspection
//!   vectors/                the semantic layer's article vectors, one file per model: a cache
//!                           keyed by article text, shared by every generation
//!   lost+found/             anything else is not kbsearch's: left alone
//! ```
//!
//! A rebuild writes a new generation beside the live one and switches `CURRENT` only when it is
//! complete, so readers never see a half-built index. The index is derived data: anything that
//! cannot be opened (missing, corrupt, another schema version) is rebuilt from the content folder.
//!
//! The folder itself is never moved or deleted — it may be a mount point — and inside it only
//! what kbsearch writes (the names above) is ever moved or deleted, and only by a writer that
//! holds the [`IndexLock`]: every method that changes the folder asks for it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tantivy::Index;
use tracing::{info, warn};

use crate::error::IndexError;
use crate::index::lock::{IndexLock, LOCK_FILE};
use crate::index::schema::{KbSchema, SCHEMA_VERSION};

const CURRENT_FILE: &str = "CURRENT";
const GENERATION_PREFIX: &str = "gen-";
/// Prefix of generations moved aside because they could not be opened.
const ASIDE_PREFIX: &str = "aside-";
/// The folder of cached article vectors (`crate::semantic::store`), beside the generations.
pub const VECTORS_DIR: &str = "vectors";

/// What every commit records in tantivy's `meta.json` payload.
#[derive(Debug, Serialize, Deserialize)]
pub struct CommitPayload {
    pub schema_version: u32,
    /// Unix seconds of the commit.
    pub committed_at: i64,
}

impl CommitPayload {
    pub fn now() -> Self {
        CommitPayload {
            schema_version: SCHEMA_VERSION,
            committed_at: chrono::Utc::now().timestamp(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("payload serializes")
    }
}

/// An open generation of the index.
pub struct OpenIndex {
    pub index: Index,
    pub dir: PathBuf,
    /// Payload of the last commit, if any commit happened.
    pub payload: Option<CommitPayload>,
}

/// Why the current generation was not usable, for the rebuild log line.
#[derive(Debug)]
pub enum Unusable {
    Missing,
    Unreadable(String),
    OtherSchema {
        found: Option<u32>,
    },
    /// Same version number, different fields: a development build changed the schema.
    SchemaChanged,
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unusable::Missing => write!(f, "no index yet"),
            Unusable::Unreadable(reason) => write!(f, "index cannot be read: {reason}"),
            Unusable::OtherSchema { found: Some(v) } => {
                write!(
                    f,
                    "index has schema version {v}, this build needs {SCHEMA_VERSION}"
                )
            }
            Unusable::OtherSchema { found: None } => {
                write!(
                    f,
                    "index has no schema version, this build needs {SCHEMA_VERSION}"
                )
            }
            Unusable::SchemaChanged => write!(f, "index fields differ from this build's schema"),
        }
    }
}

/// Opens every segment of `index` and the fast fields the indexer reads first.
fn check_segments(index: &Index) -> tantivy::Result<()> {
    let reader = index
        .reader_builder()
        .reload_policy(tantivy::ReloadPolicy::Manual)
        .try_into()?;
    let reader: tantivy::IndexReader = reader;
    for segment in reader.searcher().segment_readers() {
        let fast = segment.fast_fields();
        fast.str("path")?;
        fast.str("id")?;
        fast.u64("fingerprint")?;
    }
    Ok(())
}

/// The index folder and its generations.
pub struct IndexDir {
    root: PathBuf,
}

impl IndexDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        IndexDir { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn io_error(path: &Path, error: std::io::Error) -> IndexError {
        IndexError::Io {
            path: path.to_path_buf(),
            error,
        }
    }

    /// Opens the current generation, or says why it cannot be used.
    pub fn open_current(&self) -> Result<OpenIndex, Unusable> {
        let current_file = self.root.join(CURRENT_FILE);
        let name = match std::fs::read_to_string(&current_file) {
            Ok(name) => name.trim().to_string(),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(Unusable::Missing);
            }
            Err(err) => {
                return Err(Unusable::Unreadable(format!(
                    "{}: {err}",
                    current_file.display()
                )));
            }
        };
        let dir = self.root.join(&name);
        let index = Index::open_in_dir(&dir)
            .map_err(|err| Unusable::Unreadable(format!("{}: {err}", dir.display())))?;
        let metas = index
            .load_metas()
            .map_err(|err| Unusable::Unreadable(format!("{}: {err}", dir.display())))?;
        let payload: Option<CommitPayload> = metas
            .payload
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok());
        let found = payload.as_ref().map(|p| p.schema_version);
        if found != Some(SCHEMA_VERSION) {
            return Err(Unusable::OtherSchema { found });
        }
        if index.schema() != KbSchema::new().schema {
            return Err(Unusable::SchemaChanged);
        }
        KbSchema::register_analyzers(&index);
        // `meta.json` can be fine while a segment file is damaged (disk trouble, a partial copy):
        // open every segment and its fast fields now, so such a generation is set aside and
        // rebuilt instead of failing every later write.
        check_segments(&index)
            .map_err(|err| Unusable::Unreadable(format!("{}: {err}", dir.display())))?;
        Ok(OpenIndex {
            index,
            dir,
            payload,
        })
    }

    /// Takes the folder's one-writer lock, which every change to the folder needs.
    pub fn lock(&self) -> Result<IndexLock, IndexError> {
        IndexLock::acquire(&self.root)
    }

    /// Opens the current generation, or logs why not and returns `None` so the caller builds a
    /// new one. A corrupt generation is moved aside inside the folder, never deleted: it may hold
    /// something someone wants to look at. What kbsearch did not write is left where it is.
    pub fn open_or_explain(&self, lock: &IndexLock) -> Result<Option<OpenIndex>, IndexError> {
        self.check_lock(lock);
        match self.open_current() {
            Ok(open) => return Ok(Some(open)),
            Err(Unusable::Missing) => {
                let foreign = self.foreign_entries();
                if foreign.is_empty() {
                    info!(index = %self.root.display(), "no index yet, building it from the content folder");
                } else {
                    warn!(
                        index = %self.root.display(),
                        foreign = %foreign.join(", "),
                        "the index folder holds files kbsearch did not write; they are left alone and the index is built beside them"
                    );
                }
            }
            Err(reason @ Unusable::Unreadable(_)) => {
                match self.current_generation().filter(|dir| dir.is_dir()) {
                    Some(dir) => {
                        let aside = self.aside_path(&dir, "corrupt");
                        std::fs::rename(&dir, &aside).map_err(|e| Self::io_error(&dir, e))?;
                        warn!(
                            index = %self.root.display(),
                            moved_to = %aside.display(),
                            "{reason}; moved it aside and rebuilding from the content folder"
                        );
                    }
                    None => {
                        warn!(index = %self.root.display(), "{reason}; rebuilding from the content folder");
                    }
                }
            }
            Err(reason) => {
                // Another schema: the old generation stays current (an older kbsearch may still
                // serve it) until the new one is complete.
                warn!(index = %self.root.display(), "{reason}; building a new generation beside it");
            }
        }
        Ok(None)
    }

    /// Makes sure `lock` is this folder's: a change under another folder's lock is a bug.
    fn check_lock(&self, lock: &IndexLock) {
        debug_assert_eq!(
            lock.root(),
            self.root,
            "the index folder is changed under the lock of another folder"
        );
    }

    /// The generation `CURRENT` names, if it names one.
    fn current_generation(&self) -> Option<PathBuf> {
        let name = std::fs::read_to_string(self.root.join(CURRENT_FILE)).ok()?;
        let name = name.trim();
        is_generation_name(name).then(|| self.root.join(name))
    }

    /// The names in the index folder that kbsearch did not write (`lost+found` of a mount point,
    /// another program's files, a wrong folder), sorted.
    fn foreign_entries(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let mut foreign: Vec<String> = entries
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| !is_kbsearch_name(name))
            .collect();
        foreign.sort();
        foreign
    }

    /// A free name inside the index folder for moving a generation aside:
    /// `aside-<why>-<millis>-<name>`.
    fn aside_path(&self, path: &Path, why: &str) -> PathBuf {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.root
            .join(format!("{ASIDE_PREFIX}{why}-{millis}-{name}"))
    }

    /// Creates an empty generation beside the live one.
    pub fn create_generation(&self, lock: &IndexLock) -> Result<OpenIndex, IndexError> {
        self.check_lock(lock);
        std::fs::create_dir_all(&self.root).map_err(|e| Self::io_error(&self.root, e))?;
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        let mut name = format!("{GENERATION_PREFIX}{SCHEMA_VERSION}-{millis}");
        let mut suffix = 0;
        while self.root.join(&name).exists() {
            suffix += 1;
            name = format!("{GENERATION_PREFIX}{SCHEMA_VERSION}-{millis}-{suffix}");
        }
        let dir = self.root.join(&name);
        std::fs::create_dir_all(&dir).map_err(|e| Self::io_error(&dir, e))?;
        let index = Index::create_in_dir(&dir, KbSchema::new().schema)?;
        KbSchema::register_analyzers(&index);
        Ok(OpenIndex {
            index,
            dir,
            payload: None,
        })
    }

    /// Makes `generation` the current one (atomic rename of `CURRENT`) and removes the other
    /// generations (never anything else).
    pub fn activate(&self, generation: &Path, lock: &IndexLock) -> Result<(), IndexError> {
        self.check_lock(lock);
        let name = generation
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| IndexError::BadGeneration(generation.to_path_buf()))?;
        let tmp = self.root.join(format!("{CURRENT_FILE}.tmp"));
        {
            let mut file = std::fs::File::create(&tmp).map_err(|e| Self::io_error(&tmp, e))?;
            file.write_all(name.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| Self::io_error(&tmp, e))?;
        }
        let current = self.root.join(CURRENT_FILE);
        std::fs::rename(&tmp, &current).map_err(|e| Self::io_error(&current, e))?;
        if let Ok(dir) = std::fs::File::open(&self.root) {
            // Makes the rename durable; not every platform supports syncing a directory.
            let _ = dir.sync_all();
        }
        self.remove_other_generations(name);
        Ok(())
    }

    fn remove_other_generations(&self, keep: &str) {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if is_generation_name(&name)
                && name != keep
                && is_dir
                && let Err(err) = std::fs::remove_dir_all(entry.path())
            {
                warn!(path = %entry.path().display(), "cannot remove old index generation: {err}");
            }
        }
    }
}

/// True for the names of generation folders kbsearch creates: `gen-<schema>-<millis>`, with
/// `-<n>` when two were created in the same millisecond.
fn is_generation_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(GENERATION_PREFIX) else {
        return false;
    };
    let parts: Vec<&str> = rest.split('-').collect();
    (2..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
}

/// True for what kbsearch writes in the index folder: its lock, its pointer (and the pointer's
/// temporary file), its generations and the generations it moved aside.
fn is_kbsearch_name(name: &str) -> bool {
    name == LOCK_FILE
        || name == CURRENT_FILE
        || name == format!("{CURRENT_FILE}.tmp")
        || is_generation_name(name)
        || name.starts_with(ASIDE_PREFIX)
        || name == VECTORS_DIR
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_kbsearch_writes_are_its_own() {
        for ours in ["gen-1-1732617000123", "gen-12-1732617000123-2"] {
            assert!(is_generation_name(ours), "{ours}");
        }
        for theirs in [
            "gen-",
            "gen-1",
            "gen-x-1",
            "gen-1-2-3-4",
            "gen-1--2",
            "generic",
        ] {
            assert!(!is_generation_name(theirs), "{theirs}");
        }
        for ours in [
            ".kbsearch.lock",
            "CURRENT",
            "CURRENT.tmp",
            "aside-corrupt-1-gen-1-2",
        ] {
            assert!(is_kbsearch_name(ours), "{ours}");
        }
        for theirs in [
            "lost+found",
            "meta.json",
            ".tantivy-writer.lock",
            "notes.txt",
        ] {
            assert!(!is_kbsearch_name(theirs), "{theirs}");
        }
    }
}
