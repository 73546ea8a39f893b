//! The indexer: brings the index in line with the content folder. The folder is the truth; the
//! index is derived. Each file's bytes are hashed into a fingerprint stored with its document, so
//! a reconcile parses only files that changed, deletes documents whose file is gone, and keeps the
//! last good version of a file that no longer parses — but never shown to more callers than the
//! file now allows: it is re-indexed under the most restrictive reading of the file's
//! `visibility` and `status` (fail closed), until the file is fixed.
//!
//! One [`Indexer`] owns the index writer. A reconcile walks the whole folder; [`Indexer::apply_paths`]
//! checks only the paths a watcher reported, on disk; either queues changes that
//! [`Indexer::commit`] makes visible at once, as one tantivy commit.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde::Serialize;
use tantivy::collector::TopDocs;
use tantivy::columnar::StrColumn;
use tantivy::directory::error::LockError;
use tantivy::query::TermQuery;
use tantivy::schema::IndexRecordOption;
use tantivy::{
    DocId, Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument, TantivyError,
    Term,
};
use tracing::{debug, info};

use crate::config::DEFAULT_MAX_FILE_BYTES;
use crate::content::article::{
    self, Article, Exposure, ParseContext, SourceFile, Status, Visibility,
};
use crate::content::problem::{Problem, sort_problems};
use crate::content::products::{Catalog, PRODUCTS_FILE};
use crate::error::IndexError;
use crate::index::generations::{CommitPayload, IndexDir, OpenIndex};
use crate::index::lock::IndexLock;
use crate::index::schema::KbSchema;
use crate::ingest::lint::{Outline, Outlines};
use crate::ingest::progress::{Progress, Silent};
use crate::ingest::scan::{self, ContentFolder, FileEntry, FollowedLink, OnDisk};

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
    /// Follow symbolic links that stay inside the content folder (`[watch] follow_symlinks`).
    pub follow_symlinks: bool,
}

impl IndexOptions {
    pub fn new(kb_root: impl Into<PathBuf>, index_root: impl Into<PathBuf>) -> Self {
        IndexOptions {
            kb_root: kb_root.into(),
            index_root: index_root.into(),
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            follow_symlinks: false,
        }
    }

    /// The content folder as the scanner reads it.
    pub fn content_folder(&self) -> ContentFolder {
        ContentFolder::new(&self.kb_root, self.follow_symlinks)
    }
}

/// How many files a reconcile or an update touched, and how.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Changes {
    pub added: usize,
    pub updated: usize,
    pub deleted: usize,
    pub unchanged: usize,
    /// Files left out of the index (or left at their last good version), with the reasons.
    pub skipped: usize,
    /// Of the skipped files, those whose last good version was re-indexed under a narrower
    /// visibility or status, because that is all the file now allows.
    pub restricted: usize,
}

impl Changes {
    /// True when the index content changed.
    pub fn any(&self) -> bool {
        self.added + self.updated + self.deleted + self.restricted > 0
    }

    fn add(&mut self, other: Changes) {
        self.added += other.added;
        self.updated += other.updated;
        self.deleted += other.deleted;
        self.unchanged += other.unchanged;
        self.skipped += other.skipped;
        self.restricted += other.restricted;
    }
}

/// What a `kbsearch index` run did.
#[derive(Debug, Default, Serialize)]
pub struct IndexReport {
    /// True when the index was built from scratch.
    pub rebuilt: bool,
    pub files_seen: usize,
    #[serde(flatten)]
    pub changes: Changes,
    /// Articles searchable after the refresh.
    pub documents: u64,
    pub problems: Vec<Problem>,
    #[serde(serialize_with = "serialize_secs")]
    pub elapsed: Duration,
}

fn serialize_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// A commit that made changes searchable.
#[derive(Debug, Clone, Copy)]
pub struct Commit {
    /// tantivy's operation stamp of the commit: grows with every commit of this index.
    pub opstamp: u64,
    pub changes: Changes,
    /// Articles searchable after the commit.
    pub documents: u64,
    /// Unix seconds, as recorded in the commit payload.
    pub committed_at: i64,
    /// True when this commit completed a new generation and made it current.
    pub activated: bool,
}

/// What the index holds for one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indexed {
    pub id: String,
    pub fingerprint: u64,
    /// The visibility and status the document is indexed with.
    pub exposure: Exposure,
    /// True when the document is a last good version held under a narrower exposure than its
    /// source says: the file is parsed again even when its bytes are those of that version.
    pub restricted: bool,
}

/// Every live document as `(path, indexed)`, in index order: a path listed twice would be a
/// duplicate document. Used at start-up, and by tests that compare the index with the folder.
pub fn indexed_documents(searcher: &Searcher) -> Result<Vec<(String, Indexed)>, IndexError> {
    let mut files = Vec::new();
    for segment in searcher.segment_readers() {
        let fast = segment.fast_fields();
        let (Some(paths), Some(ids)) = (fast.str("path")?, fast.str("id")?) else {
            continue;
        };
        let fingerprints = fast.u64("fingerprint")?;
        let visibilities = fast.str("visibility")?;
        let statuses = fast.str("status")?;
        // Only restricted documents have a value: a segment without one has no column.
        let restricted = fast.column_opt::<bool>("restricted")?;
        for doc in segment.doc_ids_alive() {
            let mut path = String::new();
            let mut id = String::new();
            let path_ord = paths.term_ords(doc).next();
            let id_ord = ids.term_ords(doc).next();
            let (Some(path_ord), Some(id_ord)) = (path_ord, id_ord) else {
                continue;
            };
            paths
                .ord_to_str(path_ord, &mut path)
                .map_err(TantivyError::from)?;
            ids.ord_to_str(id_ord, &mut id)
                .map_err(TantivyError::from)?;
            let fingerprint = fingerprints.first(doc).unwrap_or_default();
            // A value that does not read back is taken as the widest, so that a restriction is
            // applied again rather than taken as done.
            let exposure = Exposure {
                visibility: first_str(visibilities.as_ref(), doc)?
                    .parse()
                    .unwrap_or(Exposure::DEFAULT.visibility),
                status: first_str(statuses.as_ref(), doc)?
                    .parse()
                    .unwrap_or(Exposure::DEFAULT.status),
            };
            let restricted = restricted
                .as_ref()
                .and_then(|column| column.first(doc))
                .unwrap_or(false);
            files.push((
                path,
                Indexed {
                    id,
                    fingerprint,
                    exposure,
                    restricted,
                },
            ));
        }
    }
    Ok(files)
}

/// The first value of a keyword column for `doc`, empty when it has none.
fn first_str(column: Option<&StrColumn>, doc: DocId) -> Result<String, IndexError> {
    let mut text = String::new();
    let Some(column) = column else {
        return Ok(text);
    };
    if let Some(ord) = column.term_ords(doc).next() {
        column
            .ord_to_str(ord, &mut text)
            .map_err(TantivyError::from)?;
    }
    Ok(text)
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

/// The fingerprint the index should hold for a file of `kb_root` with these bytes.
pub fn file_fingerprint(kb_root: &Path, bytes: &[u8]) -> u64 {
    fingerprint(&catalog_hash(kb_root), bytes)
}

/// Opens a writer. The folder's lock is held already, so tantivy's own lock is busy only when a
/// kbsearch that predates the folder lock writes this generation.
fn open_writer(open: &OpenIndex, threads: usize) -> Result<IndexWriter, IndexError> {
    open.index
        .writer_with_num_threads(threads, threads * WRITER_BUDGET_PER_THREAD)
        .map_err(|err| match err {
            TantivyError::LockFailure(LockError::LockBusy, _) => IndexError::Busy {
                path: open.dir.clone(),
                holder: None,
            },
            other => IndexError::Tantivy(other),
        })
}

/// Commits with the payload every kbsearch commit carries; returns the opstamp and the payload.
fn commit(writer: &mut IndexWriter) -> Result<(u64, CommitPayload), IndexError> {
    let payload = CommitPayload::now();
    let mut prepared = writer.prepare_commit()?;
    prepared.set_payload(&payload.to_json());
    let opstamp = prepared.commit()?;
    Ok((opstamp, payload))
}

/// Writes articles that do not come from a content folder (benchmark collections such as
/// SciFact) into a new index generation under a folder of their own, with the same schema and
/// commit payload as the indexer's.
pub struct ArticleWriter {
    open: OpenIndex,
    writer: IndexWriter,
    schema: KbSchema,
    /// Held until the articles are committed; last, so it is released last.
    _lock: IndexLock,
}

impl ArticleWriter {
    /// A new generation under `index_root`, written with `threads` indexing threads.
    pub fn create(index_root: &Path, threads: usize) -> Result<ArticleWriter, IndexError> {
        let index_dir = IndexDir::new(index_root);
        let lock = index_dir.lock()?;
        let open = index_dir.create_generation(&lock)?;
        let writer = open_writer(&open, threads)?;
        Ok(ArticleWriter {
            open,
            writer,
            schema: KbSchema::new(),
            _lock: lock,
        })
    }

    pub fn add(&mut self, article: &Article) -> Result<(), IndexError> {
        self.writer.add_document(self.schema.document(article, 0))?;
        Ok(())
    }

    /// Commits everything added and returns the index, ready to search.
    pub fn finish(mut self) -> Result<Index, IndexError> {
        commit(&mut self.writer)?;
        drop(self.writer);
        Ok(self.open.index)
    }
}

/// One file after hashing and, when it changed, parsing.
struct Examined {
    entry: FileEntry,
    fingerprint: u64,
    outcome: Outcome,
}

enum Outcome {
    Unchanged,
    /// Too large or unreadable: nothing of it can be read.
    Unreadable(Problem),
    Parsed {
        parsed: Box<article::Parsed>,
        /// Who the file now allows to see it: the article's own visibility and status, or the
        /// most restrictive reading of a file that does not parse.
        reading: Exposure,
    },
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
    if previous.is_some_and(|p| p.fingerprint == fingerprint && !p.restricted) {
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
    let reading = match &parsed.article {
        Some(article) => Exposure::of(article),
        None => article::most_restrictive_reading(&bytes),
    };
    Examined {
        entry,
        fingerprint,
        outcome: Outcome::Parsed {
            parsed: Box::new(parsed),
            reading,
        },
    }
}

/// The one owner of an index's writer, and what it knows of the index between commits.
pub struct Indexer {
    opts: IndexOptions,
    folder: ContentFolder,
    /// The symbolic links followed, by path: a change under a target is a change under its link.
    links: BTreeMap<String, String>,
    schema: KbSchema,
    index_dir: IndexDir,
    open: OpenIndex,
    writer: IndexWriter,
    /// Reloaded right after each commit, so the commit is visible when [`Indexer::commit`] returns.
    reader: IndexReader,
    /// True while `open` is a new generation that `CURRENT` does not name yet.
    building: bool,
    /// What the index holds (or will hold after the next commit), by path.
    files: BTreeMap<String, Indexed>,
    /// Which path holds each id.
    owners: HashMap<String, String>,
    /// Files refused because another file holds their id, by that id: retried once it is freed.
    waiting: HashMap<String, BTreeSet<String>>,
    catalog: Catalog,
    catalog_hash: [u8; 32],
    /// Problems of the folder as a whole: `products.toml`, folders that cannot be read.
    folder_problems: Vec<Problem>,
    /// Problems of each file, as it was last examined.
    file_problems: BTreeMap<String, Vec<Problem>>,
    /// What checks across articles (links, anchors, titles) need of each indexed article.
    outlines: Outlines,
    /// Changes queued on the writer since the last commit.
    uncommitted: Changes,
    /// The index folder's one-writer lock, held as long as the writer; last, so it is released
    /// after the writer is gone.
    lock: IndexLock,
}

impl Indexer {
    /// Brings the index at `opts.index_root` in line with the content folder, building it when it is
    /// missing or unusable: what `kbsearch index` does. Reports progress to `progress`.
    pub fn refresh(
        opts: &IndexOptions,
        progress: &dyn Progress,
    ) -> Result<IndexReport, IndexError> {
        let started = Instant::now();
        let mut indexer = Indexer::open(opts.clone())?;
        let rebuilt = indexer.is_building();
        let (changes, files_seen) = indexer.reconcile(progress)?;
        progress.stage("committing", 0);
        let documents = match indexer.commit()? {
            Some(commit) => commit.documents,
            None => indexer.searcher().num_docs(),
        };
        let problems = indexer.problems();
        indexer.close()?;
        let report = IndexReport {
            rebuilt,
            files_seen,
            changes,
            documents,
            problems,
            elapsed: started.elapsed(),
        };
        info!(
            added = changes.added,
            updated = changes.updated,
            deleted = changes.deleted,
            unchanged = changes.unchanged,
            skipped = changes.skipped,
            restricted = changes.restricted,
            documents,
            elapsed_ms = report.elapsed.as_millis() as u64,
            "index refreshed"
        );
        Ok(report)
    }

    /// Opens the current generation for writing, or starts a new one when there is none or it
    /// cannot be used (the old one, if any, stays current until the first commit).
    pub fn open(opts: IndexOptions) -> Result<Indexer, IndexError> {
        if !opts.kb_root.is_dir() {
            return Err(IndexError::MissingContent(opts.kb_root.clone()));
        }
        let index_dir = IndexDir::new(&opts.index_root);
        // Before anything in the index folder is created, moved or deleted.
        let lock = index_dir.lock()?;
        let (open, building) = match index_dir.open_or_explain(&lock)? {
            Some(open) => (open, false),
            None => (index_dir.create_generation(&lock)?, true),
        };
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(4);
        let writer = open_writer(&open, threads)?;
        let reader: IndexReader = open
            .index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let files: BTreeMap<String, Indexed> =
            indexed_documents(&reader.searcher())?.into_iter().collect();
        let owners = files
            .iter()
            .map(|(path, doc)| (doc.id.clone(), path.clone()))
            .collect();
        let (catalog, folder_problems) = Catalog::load(&opts.kb_root);
        let catalog_hash = catalog_hash(&opts.kb_root);
        Ok(Indexer {
            folder: opts.content_folder(),
            links: BTreeMap::new(),
            schema: KbSchema::new(),
            index_dir,
            open,
            writer,
            reader,
            building,
            files,
            owners,
            waiting: HashMap::new(),
            catalog,
            catalog_hash,
            folder_problems,
            file_problems: BTreeMap::new(),
            outlines: Outlines::default(),
            uncommitted: Changes::default(),
            opts,
            lock,
        })
    }

    pub fn options(&self) -> &IndexOptions {
        &self.opts
    }

    /// True when this indexer started a new generation (no usable index was found).
    pub fn is_building(&self) -> bool {
        self.building
    }

    /// The product catalog the documents were last read against.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The index as of the last commit.
    pub fn searcher(&self) -> Searcher {
        self.reader.searcher()
    }

    /// Every current problem of the content folder, sorted by path and line: the files' own, and
    /// those across articles (broken links and anchors, duplicate titles) once every article has
    /// been read in this process.
    pub fn problems(&self) -> Vec<Problem> {
        let mut problems = self.folder_problems.clone();
        problems.extend(self.file_problems.values().flatten().cloned());
        if self.outlines.len() == self.files.len() {
            problems.extend(self.outlines.problems(&self.opts.kb_root));
        }
        sort_problems(&mut problems);
        problems
    }

    /// Compares the whole folder with the index and queues the differences: the start-up check,
    /// and the safety net when the watcher may have missed events.
    pub fn reconcile(&mut self, progress: &dyn Progress) -> Result<(Changes, usize), IndexError> {
        // A folder that is gone (unmounted, being replaced) must not empty the index.
        if !self.opts.kb_root.is_dir() {
            return Err(IndexError::MissingContent(self.opts.kb_root.clone()));
        }
        let (catalog, catalog_problems) = Catalog::load(&self.opts.kb_root);
        self.catalog = catalog;
        self.catalog_hash = catalog_hash(&self.opts.kb_root);
        self.folder_problems = catalog_problems;
        let listing = self.folder.walk();
        let entries = listing.entries;
        self.folder_problems.extend(listing.problems);
        self.links = links_by_path(listing.links);
        let on_disk: HashSet<&str> = entries.iter().map(|e| e.rel_path.as_str()).collect();
        let vanished: Vec<String> = self
            .files
            .keys()
            .filter(|path| !on_disk.contains(path.as_str()))
            .cloned()
            .collect();
        self.file_problems
            .retain(|path, _| on_disk.contains(path.as_str()));
        for waiting in self.waiting.values_mut() {
            waiting.retain(|path| on_disk.contains(path.as_str()));
        }
        let mut changes = Changes::default();
        // Gone files first, so their ids are free again for files that take them over.
        for path in &vanished {
            self.delete(path, &mut changes);
        }
        progress.stage("indexing", entries.len() as u64);
        let files_seen = entries.len();
        self.examine_and_apply(entries, &mut changes, progress)?;
        progress.finish();
        self.uncommitted.add(changes);
        Ok((changes, files_seen))
    }

    /// Checks `rel_paths` (files or folders, relative to the content folder, as a watcher reported
    /// them) against the disk and queues what changed. Events are only hints: a path that exists
    /// is upserted, one that does not is deleted, a folder is walked.
    pub fn apply_paths<'a>(
        &mut self,
        rel_paths: impl IntoIterator<Item = &'a str>,
    ) -> Result<Changes, IndexError> {
        // A change under the target of a followed link is a change under the link as well; the
        // watcher reports only the target (links are not watched through).
        let mut checked: BTreeSet<String> = BTreeSet::new();
        for rel_path in rel_paths {
            checked.extend(self.aliases(rel_path));
            if !scan::in_hidden_folder(Path::new(rel_path)) {
                checked.insert(rel_path.to_string());
            }
        }
        let mut present: BTreeMap<String, FileEntry> = BTreeMap::new();
        let mut absent: BTreeSet<String> = BTreeSet::new();
        let mut found_problems = Vec::new();
        for rel_path in &checked {
            // A folder that was removed or moved away takes its files with it; one that was
            // replaced may have lost some. Every indexed file below the path is checked again.
            let prefix = format!("{rel_path}/");
            for indexed in self
                .files
                .range(prefix.clone()..)
                .take_while(|(path, _)| path.starts_with(&prefix))
                .map(|(path, _)| path)
            {
                absent.insert(indexed.clone());
            }
            // The links at or below the path are found again (or not) below.
            self.links
                .retain(|link, _| link != rel_path && !link.starts_with(&prefix));
            match self.folder.stat(rel_path) {
                OnDisk::Article(entry) => {
                    if entry.abs_path != self.opts.kb_root.join(rel_path) {
                        self.links.insert(
                            rel_path.clone(),
                            link_target(&self.opts.kb_root, &entry.abs_path),
                        );
                    }
                    present.insert(entry.rel_path.clone(), entry);
                }
                OnDisk::Folder => {
                    // New nested folders (`mkdir -p`, `cp -r`, a checkout) are reported only at
                    // their top: walk the whole subtree.
                    let listing = self.folder.walk_under(Path::new(rel_path));
                    found_problems.extend(listing.problems);
                    self.links.extend(links_by_path(listing.links));
                    for entry in listing.entries {
                        present.insert(entry.rel_path.clone(), entry);
                    }
                }
                OnDisk::Refused(problem) => {
                    found_problems.push(problem);
                    absent.insert(rel_path.clone());
                }
                OnDisk::Absent => {
                    absent.insert(rel_path.clone());
                }
            }
        }
        let mut changes = Changes::default();
        for path in absent.iter().filter(|path| !present.contains_key(*path)) {
            self.file_problems.remove(path);
            for waiting in self.waiting.values_mut() {
                waiting.remove(path);
            }
            if self.files.contains_key(path) {
                self.delete(path, &mut changes);
            }
        }
        for problem in found_problems {
            self.file_problems
                .insert(problem.path.clone(), vec![problem]);
        }
        self.examine_and_apply(present.into_values().collect(), &mut changes, &Silent)?;
        self.uncommitted.add(changes);
        Ok(changes)
    }

    /// The paths under followed links that show `rel_path` (a path without links): the link
    /// itself when the path is its target or a folder above it, or the path under the link.
    fn aliases(&self, rel_path: &str) -> Vec<String> {
        self.links
            .iter()
            .filter_map(|(link, target)| {
                if rel_path == target || target.starts_with(&format!("{rel_path}/")) {
                    Some(link.clone())
                } else {
                    rel_path
                        .strip_prefix(&format!("{target}/"))
                        .map(|rest| format!("{link}/{rest}"))
                }
            })
            .collect()
    }

    /// Makes the queued changes searchable: one commit, then the reader reload. A new generation
    /// becomes current with its first commit. Returns `None` when there was nothing to commit.
    pub fn commit(&mut self) -> Result<Option<Commit>, IndexError> {
        if !self.building && !self.uncommitted.any() {
            self.uncommitted = Changes::default();
            return Ok(None);
        }
        let (opstamp, payload) = commit(&mut self.writer)?;
        let activated = self.building;
        if self.building {
            self.index_dir.activate(&self.open.dir, &self.lock)?;
            self.building = false;
        }
        self.reader.reload()?;
        let commit = Commit {
            opstamp,
            changes: std::mem::take(&mut self.uncommitted),
            documents: self.reader.searcher().num_docs(),
            committed_at: payload.committed_at,
            activated,
        };
        debug!(opstamp, documents = commit.documents, "committed");
        Ok(Some(commit))
    }

    /// Waits for background merges, so the index is left compact.
    pub fn close(self) -> Result<(), IndexError> {
        self.writer.wait_merging_threads()?;
        Ok(())
    }

    fn delete(&mut self, path: &str, changes: &mut Changes) {
        debug!(path, "file removed, deleting its document");
        self.writer
            .delete_term(Term::from_field_text(self.schema.path, path));
        if let Some(previous) = self.files.remove(path) {
            self.owners.remove(&previous.id);
        }
        self.file_problems.remove(path);
        self.outlines.remove(path);
        changes.deleted += 1;
    }

    /// Hashes and parses `entries` in parallel chunks and queues their documents; then retries
    /// files that were refused for an id that this batch freed.
    fn examine_and_apply(
        &mut self,
        entries: Vec<FileEntry>,
        changes: &mut Changes,
        progress: &dyn Progress,
    ) -> Result<(), IndexError> {
        let mut retried = HashSet::new();
        let mut entries = entries;
        loop {
            for chunk in entries.chunks(PARSE_CHUNK) {
                let ctx = ParseContext {
                    catalog: &self.catalog,
                };
                let examined: Vec<Examined> = chunk
                    .par_iter()
                    .map(|entry| {
                        examine(
                            entry.clone(),
                            self.files.get(&entry.rel_path),
                            &self.catalog_hash,
                            &ctx,
                            self.opts.max_file_bytes,
                        )
                    })
                    .collect();
                for item in examined {
                    self.apply_one(item, changes)?;
                    progress.advance(1);
                }
            }
            // Ids held by nobody now, wanted by files refused earlier.
            let freed: Vec<String> = self
                .waiting
                .iter()
                .filter(|(id, paths)| !paths.is_empty() && !self.owners.contains_key(*id))
                .flat_map(|(_, paths)| paths.iter().cloned())
                .filter(|path| retried.insert(path.clone()))
                .collect();
            if freed.is_empty() {
                return Ok(());
            }
            entries = freed
                .iter()
                .filter_map(|path| match self.folder.stat(path) {
                    OnDisk::Article(entry) => Some(entry),
                    _ => None,
                })
                .collect();
        }
    }

    fn apply_one(&mut self, item: Examined, changes: &mut Changes) -> Result<(), IndexError> {
        let path = item.entry.rel_path;
        let previous = self.files.get(&path).cloned();
        let (parsed, reading) = match item.outcome {
            Outcome::Unchanged => {
                changes.unchanged += 1;
                return Ok(());
            }
            Outcome::Unreadable(problem) => {
                // Nothing readable says otherwise: the last good version stays as it is indexed.
                let mut problems = vec![problem];
                problems.extend(self.keep_last_good(&path, None, changes)?);
                self.file_problems.insert(path, problems);
                return Ok(());
            }
            Outcome::Parsed { parsed, reading } => (*parsed, reading),
        };
        let mut problems = parsed.problems;
        for waiting in self.waiting.values_mut() {
            waiting.remove(&path);
        }
        let Some(article) = parsed.article else {
            problems.extend(self.keep_last_good(&path, Some(reading), changes)?);
            self.set_problems(path, problems);
            return Ok(());
        };
        if let Some(owner) = self.owners.get(&article.id)
            && *owner != path
        {
            problems.push(Problem::error(
                &path,
                None,
                format!("duplicate id `{}`: already used by {owner}", article.id),
            ));
            problems.extend(self.keep_last_good(&path, Some(reading), changes)?);
            self.waiting
                .entry(article.id.clone())
                .or_default()
                .insert(path.clone());
            self.set_problems(path, problems);
            return Ok(());
        }
        if let Some(previous) = &previous {
            self.owners.remove(&previous.id);
        }
        self.owners.insert(article.id.clone(), path.clone());
        // Upsert: delete the file's previous document, then add, in the same commit. A new file
        // needs no delete: its id is free (checked above) and its path was not indexed. Skipping it
        // matters for full builds, where tantivy keeps every queued delete in memory until commit.
        if previous.is_some() {
            self.writer
                .delete_term(Term::from_field_text(self.schema.path, &path));
            changes.updated += 1;
        } else {
            changes.added += 1;
        }
        self.outlines.upsert(Outline::of(&article));
        let doc: TantivyDocument = self.schema.document(&article, item.fingerprint);
        self.writer.add_document(doc)?;
        self.files.insert(
            path.clone(),
            Indexed {
                exposure: Exposure::of(&article),
                id: article.id,
                fingerprint: item.fingerprint,
                restricted: false,
            },
        );
        self.set_problems(path, problems);
        Ok(())
    }

    /// Keeps the last good version of a file that fails, if there is one, under the narrower of
    /// its indexed exposure and what the file now allows (`reading`; `None` when nothing of the
    /// file could be read); returns the warning that says so. A narrower exposure re-indexes the
    /// version, in this batch; once applied, the same reading changes nothing.
    fn keep_last_good(
        &mut self,
        path: &str,
        reading: Option<Exposure>,
        changes: &mut Changes,
    ) -> Result<Option<Problem>, IndexError> {
        changes.skipped += 1;
        let Some(previous) = self.files.get(path).cloned() else {
            return Ok(None);
        };
        let wanted = reading.map_or(previous.exposure, |r| previous.exposure.narrowest(r));
        if wanted == previous.exposure {
            return Ok(Some(last_good_warning(path, &previous.id, wanted)));
        }
        let Some(article) = self.rebuild(path, &previous, wanted)? else {
            // Keeping it as it is would show it to callers the file now excludes.
            self.delete(path, changes);
            return Ok(Some(Problem::warning(
                path,
                None,
                format!(
                    "the last good version (id `{}`) cannot be rebuilt under the file's current visibility and status: it is out of the index until the file is fixed",
                    previous.id
                ),
            )));
        };
        info!(
            path,
            id = %previous.id,
            visibility = %wanted.visibility,
            status = %wanted.status,
            "file fails: its last good version is restricted until it is fixed"
        );
        self.writer
            .delete_term(Term::from_field_text(self.schema.path, path));
        self.outlines.upsert(Outline::of(&article));
        let mut doc = self.schema.document(&article, previous.fingerprint);
        doc.add_bool(self.schema.restricted, true);
        self.writer.add_document(doc)?;
        self.files.insert(
            path.to_string(),
            Indexed {
                exposure: wanted,
                restricted: true,
                ..previous
            },
        );
        changes.restricted += 1;
        Ok(Some(last_good_warning(path, &article.id, wanted)))
    }

    /// The last good version of `path`, parsed again from the source stored with it, under
    /// `exposure`; `None` when the index holds no such version or it no longer parses.
    fn rebuild(
        &self,
        path: &str,
        previous: &Indexed,
        exposure: Exposure,
    ) -> Result<Option<Article>, IndexError> {
        // Here, not at the top: its `as_str` would shadow `String::as_str` in the whole module.
        use tantivy::schema::Value;
        // A failing file queues no version of its own and a restriction keeps the fingerprint, so
        // the last commit holds the version `previous` describes; the fingerprint check makes sure.
        let searcher = self.reader.searcher();
        let by_path = TermQuery::new(
            Term::from_field_text(self.schema.path, path),
            IndexRecordOption::Basic,
        );
        let found = searcher.search(&by_path, &TopDocs::with_limit(1).order_by_score())?;
        let Some((_, address)) = found.first() else {
            return Ok(None);
        };
        let doc: TantivyDocument = searcher.doc(*address)?;
        let stored_fingerprint = doc
            .get_first(self.schema.fingerprint)
            .and_then(|v| v.as_u64());
        let is_that_version = stored_fingerprint == Some(previous.fingerprint);
        let Some(source) = doc
            .get_first(self.schema.source)
            .and_then(|v| v.as_str())
            .filter(|_| is_that_version)
        else {
            return Ok(None);
        };
        let ctx = ParseContext {
            catalog: &self.catalog,
        };
        let file = SourceFile {
            path,
            bytes: source.as_bytes(),
            modified: None,
        };
        let Some(mut article) = article::parse(&file, &ctx)
            .article
            .filter(|article| article.id == previous.id)
        else {
            return Ok(None);
        };
        // Without an `updated` key the date came from the file's time, which the source lacks.
        if let Some(updated) = doc
            .get_first(self.schema.updated)
            .and_then(|v| v.as_datetime())
            .and_then(|d| chrono::DateTime::from_timestamp(d.into_timestamp_secs(), 0))
        {
            article.updated = updated.date_naive();
        }
        article.visibility = exposure.visibility;
        article.status = exposure.status;
        Ok(Some(article))
    }

    fn set_problems(&mut self, path: String, problems: Vec<Problem>) {
        if problems.is_empty() {
            self.file_problems.remove(&path);
        } else {
            self.file_problems.insert(path, problems);
        }
    }
}

/// The followed links of a walk as `path → target`.
fn links_by_path(links: Vec<FollowedLink>) -> BTreeMap<String, String> {
    links
        .into_iter()
        .map(|link| (link.rel_path, link.target))
        .collect()
}

/// The target of a followed file link (its canonical path) relative to the content folder.
fn link_target(kb_root: &Path, target: &Path) -> String {
    kb_root
        .canonicalize()
        .ok()
        .and_then(|root| target.strip_prefix(root).ok().map(scan::rel_path_string))
        .unwrap_or_default()
}

/// Says that the last good version of a failing file stays in the index, and who it is shown to.
fn last_good_warning(path: &str, id: &str, exposure: Exposure) -> Problem {
    let shown = match (exposure.status, exposure.visibility) {
        (Status::Draft, _) => "stays in the preview only, as a draft,",
        (Status::Published, Visibility::Public) => "stays searchable",
        (Status::Published, Visibility::Customer) => {
            "stays searchable to customers and agents only"
        }
        (Status::Published, Visibility::Internal) => "stays searchable to agents only",
    };
    Problem::warning(
        path,
        None,
        format!("the last good version (id `{id}`) {shown} until the file is fixed"),
    )
}
