//! The one-writer lock of an index folder. Whatever writes an index — `serve`, `preview`,
//! `index`, a search that builds a missing index, `check --queries`, `eval` — takes it before
//! anything in the folder is created, moved or deleted, and holds it for as long as it writes, so
//! two writers never build generations side by side and delete each other's.
//!
//! It is an OS advisory lock (`flock` on Unix, `LockFileEx` on Windows, through `fs4`) on
//! `.kbsearch.lock` in the index folder: it goes with its process, so a crash leaves nothing to
//! clean up. The file names the holder (`serve, pid 1234`) for the error the next writer gets.
//! tantivy's own `.tantivy-writer.lock` lives inside one generation and cannot see a second
//! writer that builds another generation beside it; this lock covers the whole folder.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use fs4::fs_std::FileExt;

use crate::error::IndexError;

/// The lock file's name in the index folder.
pub const LOCK_FILE: &str = ".kbsearch.lock";

/// Longest holder description read back from a lock file.
const MAX_HOLDER_CHARS: usize = 200;

/// The held lock of one index folder; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct IndexLock {
    root: PathBuf,
    _file: File,
}

impl IndexLock {
    /// Takes the lock of `index_root` (creating the folder, never anything else), or says who
    /// holds it.
    pub fn acquire(index_root: &Path) -> Result<IndexLock, IndexError> {
        let io_error = |path: &Path, error: std::io::Error| IndexError::Io {
            path: path.to_path_buf(),
            error,
        };
        std::fs::create_dir_all(index_root).map_err(|e| io_error(index_root, e))?;
        let path = index_root.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io_error(&path, e))?;
        let locked = FileExt::try_lock_exclusive(&file).map_err(|e| io_error(&path, e))?;
        if !locked {
            return Err(IndexError::Busy {
                path: index_root.to_path_buf(),
                holder: read_holder(&mut file),
            });
        }
        // The file may still name a holder that is gone: this process replaces it.
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{}", this_process()))
            .and_then(|()| file.flush())
            .map_err(|e| io_error(&path, e))?;
        Ok(IndexLock {
            root: index_root.to_path_buf(),
            _file: file,
        })
    }

    /// The index folder this lock holds.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// Who holds a lock, as its file says; `None` when it says nothing readable.
fn read_holder(file: &mut File) -> Option<String> {
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    let holder: String = text
        .lines()
        .next()?
        .trim()
        .chars()
        .take(MAX_HOLDER_CHARS)
        .collect();
    (!holder.is_empty()).then_some(holder)
}

/// This process as the lock file names it: the command (`serve`, `index`, …) and the pid.
fn this_process() -> String {
    let mut args = std::env::args_os();
    let program = args
        .next()
        .and_then(|p| {
            Path::new(&p)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "kbsearch".to_string());
    let command = args
        .next()
        .map(|a| a.to_string_lossy().into_owned())
        .filter(|a| !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .filter(|a| !a.starts_with('-'));
    let pid = std::process::id();
    match command {
        Some(command) => format!("{command}, pid {pid}"),
        None => format!("{program}, pid {pid}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_with_the_holder_named_until_the_first_lets_go() {
        let tmp = tempfile::tempdir().unwrap();
        let first = IndexLock::acquire(tmp.path()).unwrap();
        let err = IndexLock::acquire(tmp.path()).unwrap_err();
        let pid = std::process::id().to_string();
        match &err {
            IndexError::Busy {
                holder: Some(holder),
                ..
            } => assert!(holder.ends_with(&format!("pid {pid}")), "{holder}"),
            other => panic!("expected busy, got {other:?}"),
        }
        assert!(
            err.to_string().starts_with(&format!(
                "another kbsearch ({}",
                this_process().split(',').next().unwrap()
            )),
            "{err}"
        );
        drop(first);
        let again = IndexLock::acquire(tmp.path()).unwrap();
        assert_eq!(again.root(), tmp.path());
    }
}
