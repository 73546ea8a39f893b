//! The vector cache on disk: one file per model under the index folder
//! (`index/vectors/<model id>.vectors`), keyed by a hash of the text embedded. Vectors are
//! derived data like the index, but costly (a tenth of a second of CPU per article), so they
//! outlive restarts, index generations and rebuilds: an article whose text did not change is
//! never embedded twice by the same model, and another model gets a file of its own.
//!
//! ```text
//! header  "KBVECTOR" (8) · version u32 · dimensions u32 · model id (16, ASCII hex)
//! record  key (16: BLAKE3 of the text) · vector (dimensions × f32 LE) · check u32
//! ```
//!
//! Records have a fixed size and are only appended, each with one `write`; the check (the first
//! bytes of the record's hash) catches a torn or garbled record, which is skipped, and a partial
//! last record (a crash mid-write) is cut off at open. Nothing is ever read that was not
//! written whole. [`VectorStore::compact`] rewrites the file with only the vectors still used.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tracing::{info, warn};

const MAGIC: &[u8; 8] = b"KBVECTOR";
const VERSION: u32 = 1;
const HEADER_BYTES: usize = 8 + 4 + 4 + 16;

/// The key of a text: the first 16 bytes of its BLAKE3 hash.
pub type TextKey = [u8; 16];

/// The key of `text`.
pub fn text_key(text: &str) -> TextKey {
    let hash = blake3::hash(text.as_bytes());
    let mut key = [0u8; 16];
    key.copy_from_slice(&hash.as_bytes()[..16]);
    key
}

/// Vectors of one model, in memory and in their file.
pub struct VectorStore {
    path: PathBuf,
    dimensions: usize,
    model_id: String,
    vectors: HashMap<TextKey, Arc<[f32]>>,
    file: Option<File>,
    /// Records in the file, live or not: compaction is worth it when many are dead.
    records: usize,
}

fn io_error(path: &Path, err: std::io::Error) -> std::io::Error {
    std::io::Error::new(err.kind(), format!("{}: {err}", path.display()))
}

impl VectorStore {
    /// Opens (or creates) the file of `model_id` in `dir`; a file that does not belong to this
    /// model or format is replaced.
    pub fn open(dir: &Path, model_id: &str, dimensions: usize) -> std::io::Result<VectorStore> {
        std::fs::create_dir_all(dir).map_err(|err| io_error(dir, err))?;
        let path = dir.join(format!("{model_id}.vectors"));
        let mut store = VectorStore {
            path,
            dimensions,
            model_id: model_id.to_string(),
            vectors: HashMap::new(),
            file: None,
            records: 0,
        };
        store.load()?;
        Ok(store)
    }

    /// An in-memory store (nothing is written): for tests and one-off evaluations.
    pub fn in_memory(model_id: &str, dimensions: usize) -> VectorStore {
        VectorStore {
            path: PathBuf::new(),
            dimensions,
            model_id: model_id.to_string(),
            vectors: HashMap::new(),
            file: None,
            records: 0,
        }
    }

    fn record_bytes(&self) -> usize {
        16 + self.dimensions * 4 + 4
    }

    fn header(&self) -> Vec<u8> {
        let mut header = Vec::with_capacity(HEADER_BYTES);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&VERSION.to_le_bytes());
        header.extend_from_slice(&(self.dimensions as u32).to_le_bytes());
        let mut id = [b'0'; 16];
        for (slot, byte) in id.iter_mut().zip(self.model_id.bytes()) {
            *slot = byte;
        }
        header.extend_from_slice(&id);
        header
    }

    fn load(&mut self) -> std::io::Result<()> {
        let path = self.path.clone();
        let mut bytes = Vec::new();
        match File::open(&path) {
            Ok(mut file) => {
                file.read_to_end(&mut bytes)
                    .map_err(|err| io_error(&path, err))?;
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(io_error(&path, err)),
        }
        let header = self.header();
        if bytes.len() < HEADER_BYTES || bytes[..HEADER_BYTES] != header[..] {
            if !bytes.is_empty() {
                warn!(path = %path.display(), "vector file of another format or model; starting it again");
            }
            let mut file = File::create(&path).map_err(|err| io_error(&path, err))?;
            file.write_all(&header)
                .map_err(|err| io_error(&path, err))?;
            self.file = Some(file);
            return Ok(());
        }
        let size = self.record_bytes();
        let body = &bytes[HEADER_BYTES..];
        let whole = body.len() / size;
        let mut garbled = 0;
        for record in body.chunks_exact(size) {
            match self.decode(record) {
                Some((key, vector)) => {
                    self.vectors.insert(key, vector);
                }
                None => garbled += 1,
            }
        }
        self.records = whole;
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|err| io_error(&path, err))?;
        if body.len() % size != 0 {
            // A crash mid-write: the partial last record goes.
            file.set_len((HEADER_BYTES + whole * size) as u64)
                .map_err(|err| io_error(&path, err))?;
            warn!(path = %path.display(), "cut off a partial vector record");
        }
        if garbled > 0 {
            warn!(path = %path.display(), garbled, "skipped garbled vector records");
        }
        info!(path = %path.display(), vectors = self.vectors.len(), "vector cache opened");
        self.file = Some(file);
        Ok(())
    }

    fn decode(&self, record: &[u8]) -> Option<(TextKey, Arc<[f32]>)> {
        let (body, check) = record.split_at(record.len() - 4);
        if blake3::hash(body).as_bytes()[..4] != *check {
            return None;
        }
        let mut key = [0u8; 16];
        key.copy_from_slice(&body[..16]);
        let vector: Arc<[f32]> = body[16..]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Some((key, vector))
    }

    fn encode(&self, key: &TextKey, vector: &[f32]) -> Vec<u8> {
        let mut record = Vec::with_capacity(self.record_bytes());
        record.extend_from_slice(key);
        for value in vector {
            record.extend_from_slice(&value.to_le_bytes());
        }
        let check = blake3::hash(&record);
        record.extend_from_slice(&check.as_bytes()[..4]);
        record
    }

    /// The vector of a text key, if it was computed by this model.
    pub fn get(&self, key: &TextKey) -> Option<Arc<[f32]>> {
        self.vectors.get(key).cloned()
    }

    /// Vectors held.
    pub fn len(&self) -> usize {
        self.vectors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vectors.is_empty()
    }

    /// Adds vectors and appends them to the file (one write for all); a write that fails is
    /// logged and the vectors are kept in memory: the cache never blocks anything.
    pub fn insert(&mut self, entries: Vec<(TextKey, Arc<[f32]>)>) {
        let mut bytes = Vec::with_capacity(entries.len() * self.record_bytes());
        for (key, vector) in &entries {
            if vector.len() != self.dimensions {
                continue;
            }
            bytes.extend(self.encode(key, vector));
        }
        if let Some(file) = self.file.as_mut() {
            match file.write_all(&bytes) {
                Ok(()) => self.records += entries.len(),
                Err(err) => {
                    warn!(path = %self.path.display(), "cannot write the vector cache: {err}");
                    // A partial write would misalign what follows: stop writing until restart.
                    self.file = None;
                }
            }
        }
        for (key, vector) in entries {
            self.vectors.insert(key, vector);
        }
    }

    /// Keeps only the vectors of `live` keys when at least half the file is dead, rewriting the
    /// file atomically (a new file renamed over the old one).
    pub fn compact(&mut self, live: &std::collections::HashSet<TextKey>) {
        if self.file.is_none() || self.records < 64 || live.len() * 2 > self.records {
            return;
        }
        self.vectors.retain(|key, _| live.contains(key));
        let tmp = self.path.with_extension("vectors.tmp");
        let mut bytes = self.header();
        let mut keys: Vec<&TextKey> = self.vectors.keys().collect();
        keys.sort();
        for key in keys {
            bytes.extend(self.encode(key, &self.vectors[key]));
        }
        let written = std::fs::write(&tmp, &bytes)
            .and_then(|()| std::fs::rename(&tmp, &self.path))
            .and_then(|()| OpenOptions::new().append(true).open(&self.path));
        match written {
            Ok(file) => {
                info!(path = %self.path.display(), before = self.records, after = self.vectors.len(), "vector cache compacted");
                self.records = self.vectors.len();
                self.file = Some(file);
            }
            Err(err) => {
                warn!(path = %self.path.display(), "cannot compact the vector cache: {err}");
                self.file = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(seed: f32) -> Arc<[f32]> {
        vec![seed, seed + 1.0, -seed].into()
    }

    #[test]
    fn vectors_survive_reopening_and_a_torn_last_record() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = VectorStore::open(dir.path(), "abcdef0123456789", 3).unwrap();
        store.insert(vec![
            (text_key("one"), vector(1.0)),
            (text_key("two"), vector(2.0)),
        ]);
        drop(store);
        let path = dir.path().join("abcdef0123456789.vectors");
        // A crash in the middle of a third record.
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&[7u8; 10]).unwrap();
        drop(file);
        let mut store = VectorStore::open(dir.path(), "abcdef0123456789", 3).unwrap();
        assert_eq!(store.len(), 2);
        assert_eq!(&*store.get(&text_key("two")).unwrap(), &[2.0, 3.0, -2.0]);
        // The torn bytes are gone: what is appended now reads back.
        store.insert(vec![(text_key("three"), vector(3.0))]);
        drop(store);
        let store = VectorStore::open(dir.path(), "abcdef0123456789", 3).unwrap();
        assert_eq!(store.len(), 3);
    }

    #[test]
    fn a_garbled_record_is_skipped_and_another_model_starts_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = VectorStore::open(dir.path(), "model-a", 3).unwrap();
        store.insert(vec![
            (text_key("one"), vector(1.0)),
            (text_key("two"), vector(2.0)),
        ]);
        drop(store);
        let path = dir.path().join("model-a.vectors");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[HEADER_BYTES + 20] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let store = VectorStore::open(dir.path(), "model-a", 3).unwrap();
        assert_eq!(store.len(), 1);
        assert!(store.get(&text_key("two")).is_some());
        let other = VectorStore::open(dir.path(), "model-b", 3).unwrap();
        assert!(other.is_empty());
        // Another dimension with the same id is another format: started again.
        let resized = VectorStore::open(dir.path(), "model-a", 4).unwrap();
        assert!(resized.is_empty());
    }

    #[test]
    fn compaction_keeps_only_live_vectors() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = VectorStore::open(dir.path(), "m", 3).unwrap();
        let entries: Vec<_> = (0..100)
            .map(|i| (text_key(&i.to_string()), vector(i as f32)))
            .collect();
        store.insert(entries);
        let live: std::collections::HashSet<TextKey> =
            (0..10).map(|i| text_key(&i.to_string())).collect();
        store.compact(&live);
        assert_eq!(store.len(), 10);
        store.insert(vec![(text_key("new"), vector(9.0))]);
        drop(store);
        let store = VectorStore::open(dir.path(), "m", 3).unwrap();
        assert_eq!(store.len(), 11);
        assert!(store.get(&text_key("5")).is_some());
        assert!(store.get(&text_key("50")).is_none());
    }
}
