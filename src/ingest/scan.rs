//! Scanning the content folder: which files are articles, and reading them safely. The walker and
//! the watcher share [`is_candidate`], so editor temp files and hidden folders are ignored
//! the same way everywhere.

use std::path::{Component, Path, PathBuf};

use chrono::{DateTime, Utc};
use walkdir::WalkDir;

use crate::content::problem::Problem;

/// A candidate article file found on disk.
#[derive(Debug, Clone)]
pub struct FileEntry {
    /// Path relative to the content folder, `/`-separated: the same on every OS.
    pub rel_path: String,
    pub abs_path: PathBuf,
    pub size: u64,
    pub modified: Option<DateTime<Utc>>,
}

/// True for paths (relative to the content folder) that are articles: `.md` files outside hidden
/// folders, not editor temp or backup files, and not the folder's own `README.md`.
///
/// Editors save through temp files (`.#a.md`, `#a.md#`, `a.md~`, `a.md.swp`, `a.md___jb_tmp___`);
/// requiring the exact `.md` extension and no leading `.`/`#`/`~` excludes all of them.
pub fn is_candidate(rel_path: &Path) -> bool {
    let mut components = rel_path.components().peekable();
    let mut depth = 0;
    while let Some(component) = components.next() {
        let Component::Normal(name) = component else {
            return false;
        };
        let Some(name) = name.to_str() else {
            return false;
        };
        if name.starts_with(['.', '#', '~']) {
            return false;
        }
        depth += 1;
        if components.peek().is_none() {
            let is_markdown = Path::new(name)
                .extension()
                .is_some_and(|ext| ext.eq_ignore_ascii_case("md"));
            let is_root_readme = depth == 1 && name.eq_ignore_ascii_case("README.md");
            return is_markdown && !is_root_readme;
        }
    }
    false
}

/// The `/`-separated form of a path relative to the content folder.
pub fn rel_path_string(rel_path: &Path) -> String {
    rel_path
        .components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Lists every candidate article under `kb_root`, sorted by path, with problems for folders or
/// files that could not be read. Symlinks are not followed.
pub fn walk(kb_root: &Path) -> (Vec<FileEntry>, Vec<Problem>) {
    walk_under(kb_root, Path::new(""))
}

/// Like [`walk`], for the folder `rel_dir` of the content folder only (a folder that was just
/// created, moved in or replaced).
pub fn walk_under(kb_root: &Path, rel_dir: &Path) -> (Vec<FileEntry>, Vec<Problem>) {
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    if in_hidden_folder(rel_dir) {
        return (entries, problems);
    }
    let walker = WalkDir::new(kb_root.join(rel_dir))
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|entry| {
            entry.depth() == 0 || !entry.file_name().to_string_lossy().starts_with('.')
        });
    for item in walker {
        let entry = match item {
            Ok(entry) => entry,
            Err(err) => {
                let path = err
                    .path()
                    .and_then(|p| p.strip_prefix(kb_root).ok())
                    .map(rel_path_string)
                    .unwrap_or_else(|| kb_root.display().to_string());
                problems.push(Problem::error(path, None, format!("cannot read: {err}")));
                continue;
            }
        };
        if !entry.file_type().is_file() {
            continue;
        }
        let Ok(rel) = entry.path().strip_prefix(kb_root) else {
            continue;
        };
        if !is_candidate(rel) {
            continue;
        }
        let rel_path = rel_path_string(rel);
        match entry.metadata() {
            Ok(metadata) => entries.push(FileEntry::new(rel_path, entry.path(), &metadata)),
            Err(err) => problems.push(Problem::error(
                rel_path,
                None,
                format!("cannot read: {err}"),
            )),
        }
    }
    (entries, problems)
}

/// True when a path (relative to the content folder) lies in a hidden folder such as `.git/`,
/// which the walker never enters and the watcher ignores.
pub fn in_hidden_folder(rel_path: &Path) -> bool {
    rel_path.components().any(|c| match c {
        Component::Normal(name) => name.to_string_lossy().starts_with('.'),
        _ => false,
    })
}

/// What is at `rel_path` on disk now: the truth a watcher event is checked against.
pub enum OnDisk {
    /// A candidate article file.
    Article(FileEntry),
    Folder,
    /// Nothing, or something that is not an article (temp file, other extension, symlink).
    Absent,
}

/// Looks at one path of the content folder. Symlinks are not followed, as in [`walk`].
pub fn stat(kb_root: &Path, rel_path: &str) -> OnDisk {
    let abs_path = kb_root.join(rel_path);
    match std::fs::symlink_metadata(&abs_path) {
        Ok(metadata) if metadata.is_dir() => OnDisk::Folder,
        Ok(metadata) if metadata.is_file() && is_candidate(Path::new(rel_path)) => {
            OnDisk::Article(FileEntry::new(rel_path.to_string(), &abs_path, &metadata))
        }
        _ => OnDisk::Absent,
    }
}

impl FileEntry {
    fn new(rel_path: String, abs_path: &Path, metadata: &std::fs::Metadata) -> Self {
        FileEntry {
            rel_path,
            abs_path: abs_path.to_path_buf(),
            size: metadata.len(),
            modified: metadata.modified().ok().map(DateTime::<Utc>::from),
        }
    }
}

/// Reads an article file, refusing files over `max_bytes` before reading them.
pub fn read(entry: &FileEntry, max_bytes: u64) -> Result<Vec<u8>, Problem> {
    let too_large = |size: u64| {
        Problem::error(
            &entry.rel_path,
            None,
            format!(
                "file is {size} bytes, over the limit of {max_bytes} bytes (max_file_bytes); split the article"
            ),
        )
    };
    if entry.size > max_bytes {
        return Err(too_large(entry.size));
    }
    let bytes = std::fs::read(&entry.abs_path)
        .map_err(|err| Problem::error(&entry.rel_path, None, format!("cannot read: {err}")))?;
    // The file may have grown between the listing and the read.
    if bytes.len() as u64 > max_bytes {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_markdown_outside_hidden_and_temp_names() {
        for good in ["articles/a.md", "help/x/B.MD", "a.md"] {
            assert!(is_candidate(Path::new(good)), "{good}");
        }
        for bad in [
            "README.md",
            "articles/.#a.md",
            "articles/#a.md#",
            "articles/a.md~",
            "articles/a.md.swp",
            "articles/a.md___jb_tmp___",
            ".git/a.md",
            "articles/.hidden/a.md",
            "articles/a.txt",
            "articles/4913",
        ] {
            assert!(!is_candidate(Path::new(bad)), "{bad}");
        }
        assert!(is_candidate(Path::new("help/README.md")));
    }
}
