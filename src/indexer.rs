//! The indexer: brings the index in line with the content folder. The folder is the truth; the
//! index is derived. Each file's bytes are hashed into a fingerprint stored with its document, so
//! a refresh parses only files that changed, deletes documents whose file is gone, and keeps the
//! last good version of a file that no longer parses. One refresh is one commit.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use rayon::prelude::*;
use tantivy::directory::error::LockError;
use tantivy::{IndexWriter, TantivyDocument, TantivyError, Term};
use tracing::{debug, info};

use crate::article::{self, ParseContext, SourceFile};
use crate::error::IndexError;
use crate::index_dir::{CommitPayload, IndexDir, OpenIndex};
use crate::problem::{Problem, sort_problems};
use crate::products::{Catalog, PRODUCTS_FILE};
use crate::scan::{self, FileEntry};
use crate::schema::KbSchema;

/// Files parsed in parallel before their documents are handed to the writer; bounds memory.
const PARSE_CHUNK: usize = 1024;

/// Memory tantivy may use per indexing thread before it flushes a segment.
const WRITER_BUDGET_PER_THREAD: usize = 64 * 1024 * 1024;

/// Where to index from and to, and the limits that apply.
#[derive(Debug, Clone)]
pub struct IndexOptions {
    pub kb_root: PathBuf,
    pub index_root: PathBuf,
    pub max_file_bytes: u64,
}

impl IndexOptions {
    pub fn new(kb_root: impl Into<PathBuf>, index_root: impl Into<PathBuf>) -> Self {
        IndexOptions {
            kb_root: kb_root.into(),
            index_root: index_root.into(),
            max_file_bytes: scan::DEFAULT_MAX_FILE_BYTES,
        }
    }
}

/// What a refresh did.
#[derive(Debug, Default, serde::Serialize)]
pub struct IndexReport {
    /// True when the index was built from scratch.
    pub rebuilt: bool,
    pub files_seen: usize,
    pub added: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub deleted: usize,
    /// Files left out of the index (or left at their last good version), with the reasons.
    pub skipped: usize,
    /// Articles searchable after the refresh.
    pub documents: u64,
    pub problems: Vec<Problem>,
    #[serde(serialize_with = "serialize_secs")]
    pub elapsed: Duration,
}

fn serialize_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// What the index holds for one file.
#[derive(Debug, Clone)]
struct Indexed {
    id: String,
    fingerprint: u64,
}

/// Reads `path → (id, fingerprint)` for every live document from the fast fields.
fn indexed_files(open: &OpenIndex) -> Result<HashMap<String, Indexed>, IndexError> {
    let reader = open.index.reader()?;
    let searcher = reader.searcher();
    let mut files = HashMap::new();
    for segment in searcher.segment_readers() {
        let fast = segment.fast_fields();
        let (Some(paths), Some(ids)) = (fast.str("path")?, fast.str("id")?) else {
            continue;
        };
        let fingerprints = fast.u64("fingerprint")?;
        let mut path = String::new();
        let mut id = String::new();
        for doc in segment.doc_ids_alive() {
            path.clear();
            id.clear();
            let path_ord = paths.term_ords(doc).next();
            let id_ord = ids.term_ords(doc).next();
            let (Some(path_ord), Some(id_ord)) = (path_ord, id_ord) else {
                continue;
            };
            paths
                .ord_to_str(path_ord, &mut path)
                .map_err(tantivy::TantivyError::from)?;
            ids.ord_to_str(id_ord, &mut id)
                .map_err(tantivy::TantivyError::from)?;
            let fingerprint = fingerprints.first(doc).unwrap_or_default();
            files.insert(
                path.clone(),
                Indexed {
                    id: id.clone(),
                    fingerprint,
                },
            );
        }
    }
    Ok(files)
}

/// A fingerprint of the bytes of a file and of the catalog they were read against: a change to
/// `products.toml` changes every fingerprint, so versions are normalised again.
fn fingerprint(catalog_hash: &[u8; 32], bytes: &[u8]) -> u64 {
    let mut hasher = blake3::Hasher::new();
    hasher.update(catalog_hash);
    hasher.update(bytes);
    let digest = hasher.finalize();
    u64::from_le_bytes(
        digest.as_bytes()[..8]
            .try_into()
            .expect("a blake3 digest has 32 bytes"),
    )
}

fn catalog_hash(kb_root: &Path) -> [u8; 32] {
    let bytes = std::fs::read(kb_root.join(PRODUCTS_FILE)).unwrap_or_default();
    *blake3::hash(&bytes).as_bytes()
}

/// Opens a writer, turning "someone else holds the lock" into a message that says who.
pub fn open_writer(open: &OpenIndex, threads: usize) -> Result<IndexWriter, IndexError> {
    open.index
        .writer_with_num_threads(threads, threads * WRITER_BUDGET_PER_THREAD)
        .map_err(|err| match err {
            TantivyError::LockFailure(LockError::LockBusy, _) => {
                IndexError::Locked(open.dir.clone())
            }
            other => IndexError::Tantivy(other),
        })
}

/// Commits with the payload every kbsearch commit carries.
pub fn commit(writer: &mut IndexWriter) -> Result<(), IndexError> {
    let mut prepared = writer.prepare_commit()?;
    prepared.set_payload(&CommitPayload::now().to_json());
    prepared.commit()?;
    Ok(())
}

/// One file of this refresh after hashing and, when it changed, parsing.
struct Examined {
    entry: FileEntry,
    fingerprint: u64,
    outcome: Outcome,
}

enum Outcome {
    Unchanged,
    Unreadable(Problem),
    Parsed(Box<article::Parsed>),
}

fn examine(
    entry: FileEntry,
    previous: Option<&Indexed>,
    catalog_hash: &[u8; 32],
    ctx: &ParseContext<'_>,
    max_file_bytes: u64,
) -> Examined {
    let bytes = match scan::read(&entry, max_file_bytes) {
        Ok(bytes) => bytes,
        Err(problem) => {
            return Examined {
                entry,
                fingerprint: 0,
                outcome: Outcome::Unreadable(problem),
            };
        }
    };
    let fingerprint = fingerprint(catalog_hash, &bytes);
    if previous.is_some_and(|p| p.fingerprint == fingerprint) {
        return Examined {
            entry,
            fingerprint,
            outcome: Outcome::Unchanged,
        };
    }
    let source = SourceFile {
        path: &entry.rel_path,
        bytes: &bytes,
        modified: entry.modified,
    };
    let parsed = article::parse(&source, ctx);
    Examined {
        entry,
        fingerprint,
        outcome: Outcome::Parsed(Box::new(parsed)),
    }
}

/// Brings the index at `opts.index_root` in line with the content folder, building it when it is
/// missing or unusable. Shows progress on `progress` (pass a hidden bar to stay quiet).
pub fn refresh(opts: &IndexOptions, progress: &ProgressBar) -> Result<IndexReport, IndexError> {
    let started = Instant::now();
    if !opts.kb_root.is_dir() {
        return Err(IndexError::MissingContent(opts.kb_root.clone()));
    }
    let index_dir = IndexDir::new(&opts.index_root);
    let (open, rebuilt) = match index_dir.open_or_explain() {
        Some(open) => (open, false),
        None => (index_dir.create_generation()?, true),
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4);
    let mut writer = open_writer(&open, threads)?;
    let mut report = IndexReport {
        rebuilt,
        ..IndexReport::default()
    };
    apply_changes(opts, &open, &writer, &mut report, progress)?;
    progress.set_message("committing");
    commit(&mut writer)?;
    writer.wait_merging_threads()?;
    if rebuilt {
        index_dir.activate(&open.dir)?;
    }
    report.documents = open.index.reader()?.searcher().num_docs();
    report.elapsed = started.elapsed();
    sort_problems(&mut report.problems);
    info!(
        added = report.added,
        updated = report.updated,
        deleted = report.deleted,
        unchanged = report.unchanged,
        skipped = report.skipped,
        documents = report.documents,
        elapsed_ms = report.elapsed.as_millis() as u64,
        "index refreshed"
    );
    Ok(report)
}

/// Walks the folder, parses what changed and queues upserts and deletes on `writer`.
fn apply_changes(
    opts: &IndexOptions,
    open: &OpenIndex,
    writer: &IndexWriter,
    report: &mut IndexReport,
    progress: &ProgressBar,
) -> Result<(), IndexError> {
    let schema = KbSchema::new();
    let (catalog, catalog_problems) = Catalog::load(&opts.kb_root);
    report.problems.extend(catalog_problems);
    let catalog_hash = catalog_hash(&opts.kb_root);
    let ctx = ParseContext { catalog: &catalog };
    let mut indexed = indexed_files(open)?;
    let (entries, walk_problems) = scan::walk(&opts.kb_root);
    report.problems.extend(walk_problems);
    report.files_seen = entries.len();

    // Files that are gone: delete their documents first, so their ids are free again.
    let on_disk: std::collections::HashSet<&str> =
        entries.iter().map(|e| e.rel_path.as_str()).collect();
    let vanished: Vec<String> = indexed
        .keys()
        .filter(|path| !on_disk.contains(path.as_str()))
        .cloned()
        .collect();
    for path in vanished {
        debug!(path, "file removed, deleting its document");
        writer.delete_term(Term::from_field_text(schema.path, &path));
        indexed.remove(&path);
        report.deleted += 1;
    }
    // Which file holds each id: an id already held by another existing file stays with it.
    let mut owners: HashMap<String, String> = indexed
        .iter()
        .map(|(path, doc)| (doc.id.clone(), path.clone()))
        .collect();

    progress.set_length(entries.len() as u64);
    progress.set_message("indexing");
    for chunk in entries.chunks(PARSE_CHUNK) {
        let examined: Vec<Examined> = chunk
            .par_iter()
            .map(|entry| {
                examine(
                    entry.clone(),
                    indexed.get(&entry.rel_path),
                    &catalog_hash,
                    &ctx,
                    opts.max_file_bytes,
                )
            })
            .collect();
        for item in examined {
            apply_one(item, &schema, writer, &mut indexed, &mut owners, report)?;
            progress.inc(1);
        }
    }
    progress.finish_and_clear();
    Ok(())
}

fn apply_one(
    item: Examined,
    schema: &KbSchema,
    writer: &IndexWriter,
    indexed: &mut HashMap<String, Indexed>,
    owners: &mut HashMap<String, String>,
    report: &mut IndexReport,
) -> Result<(), IndexError> {
    let path = item.entry.rel_path;
    let previous = indexed.get(&path).cloned();
    let keeps_last_good = |problems: &mut Vec<Problem>| {
        if let Some(previous) = &previous {
            problems.push(Problem::warning(
                &path,
                None,
                format!(
                    "the last good version (id `{}`) stays searchable until the file is fixed",
                    previous.id
                ),
            ));
        }
    };
    let parsed = match item.outcome {
        Outcome::Unchanged => {
            report.unchanged += 1;
            return Ok(());
        }
        Outcome::Unreadable(problem) => {
            report.problems.push(problem);
            keeps_last_good(&mut report.problems);
            report.skipped += 1;
            return Ok(());
        }
        Outcome::Parsed(parsed) => *parsed,
    };
    report.problems.extend(parsed.problems);
    let Some(article) = parsed.article else {
        keeps_last_good(&mut report.problems);
        report.skipped += 1;
        return Ok(());
    };
    if let Some(owner) = owners.get(&article.id)
        && *owner != path
    {
        report.problems.push(Problem::error(
            &path,
            None,
            format!("duplicate id `{}`: already used by {owner}", article.id),
        ));
        keeps_last_good(&mut report.problems);
        report.skipped += 1;
        return Ok(());
    }
    if let Some(previous) = &previous {
        owners.remove(&previous.id);
    }
    owners.insert(article.id.clone(), path.clone());
    // Upsert: delete the file's previous document, then add, in the same commit. A new file
    // needs no delete: its id is free (checked above) and its path was not indexed. Skipping it
    // matters for full builds, where tantivy keeps every queued delete in memory until commit.
    if previous.is_some() {
        writer.delete_term(Term::from_field_text(schema.path, &path));
    }
    let doc: TantivyDocument = schema.document(&article, item.fingerprint);
    writer.add_document(doc)?;
    if previous.is_some() {
        report.updated += 1;
    } else {
        report.added += 1;
    }
    indexed.insert(
        path,
        Indexed {
            id: article.id,
            fingerprint: item.fingerprint,
        },
    );
    Ok(())
}
