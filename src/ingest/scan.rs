//! Scanning the content folder: which files are articles, and reading them safely. The walker and
//! the watcher share [`is_candidate`], so editor temp files and hidden folders are ignored
//! the same way everywhere.
//!
//! Symbolic links are judged here from `symlink_metadata`, before anything is read through them.
//! By default none is followed: a link that would matter (to a folder, or named like an article)
//! is reported as a warning and left out, so a link to `/` or to another team's folder never
//! publishes what is there. With `follow_symlinks`, a link is followed when its canonical target
//! lies under the canonical content folder: a file is read under the link's own path, a folder is
//! walked under it. A link that leads out of the folder, points to nothing or loops back to a
//! folder that contains it is never followed, and is reported.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use chrono::{DateTime, Utc};
use walkdir::WalkDir;

use crate::content::problem::Problem;

/// Folder links followed inside one another before the walk refuses to go deeper.
const MAX_LINK_DEPTH: usize = 16;

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
/// files that could not be read and for links, which are not followed.
pub fn walk(kb_root: &Path) -> (Vec<FileEntry>, Vec<Problem>) {
    let listing = ContentFolder::new(kb_root, false).walk();
    (listing.entries, listing.problems)
}

/// True when a path (relative to the content folder) lies in a hidden folder such as `.git/`,
/// which the walker never enters and the watcher ignores.
pub fn in_hidden_folder(rel_path: &Path) -> bool {
    rel_path.components().any(|c| match c {
        Component::Normal(name) => name.to_string_lossy().starts_with('.'),
        _ => false,
    })
}

/// The content folder, and whether symbolic links inside it are followed.
#[derive(Debug, Clone)]
pub struct ContentFolder {
    root: PathBuf,
    follow_symlinks: bool,
}

/// A symbolic link a walk followed: where it is and where it leads, both relative to the content
/// folder. Changes under the target are changes under the link too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowedLink {
    /// The link's path, possibly through other followed links.
    pub rel_path: String,
    /// The target's path, without links.
    pub target: String,
}

/// What a walk found: candidate articles in walk order (each folder's entries sorted by name, a
/// followed folder link walked where it stands), problems, and the links it followed.
#[derive(Debug, Default)]
pub struct Listing {
    pub entries: Vec<FileEntry>,
    pub problems: Vec<Problem>,
    pub links: Vec<FollowedLink>,
}

/// What is at `rel_path` on disk now: the truth a watcher event is checked against.
pub enum OnDisk {
    /// A candidate article file (or a followed link to one).
    Article(FileEntry),
    /// A folder (or a followed link to one).
    Folder,
    /// A symbolic link that is not followed, with the warning that says why.
    Refused(Problem),
    /// Nothing, or something that is not an article (temp file, other extension).
    Absent,
}

/// Where a path of the content folder really is, once its links are judged.
enum Located {
    Absent,
    Refused(Problem),
    File {
        path: PathBuf,
        metadata: std::fs::Metadata,
    },
    Dir {
        /// The path to walk.
        path: PathBuf,
        /// Its canonical form, for loop checks.
        canonical: PathBuf,
        /// Set when the path itself is a followed link.
        link: Option<FollowedLink>,
    },
}

/// The verdict on one symbolic link.
enum LinkVerdict {
    Refused(String),
    File {
        target: PathBuf,
        metadata: std::fs::Metadata,
    },
    Dir {
        target: PathBuf,
    },
    /// Leads to something that is neither a file nor a folder: nothing to index, nothing to say.
    Ignored,
}

impl ContentFolder {
    pub fn new(root: impl Into<PathBuf>, follow_symlinks: bool) -> Self {
        ContentFolder {
            root: root.into(),
            follow_symlinks,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Lists every candidate article of the folder, sorted by path, with problems for folders or
    /// files that could not be read and for links that are not followed.
    pub fn walk(&self) -> Listing {
        self.walk_under(Path::new(""))
    }

    /// Like [`ContentFolder::walk`], for the folder `rel_dir` only (a folder that was just
    /// created, moved in or replaced, or a link to one).
    pub fn walk_under(&self, rel_dir: &Path) -> Listing {
        let mut listing = Listing::default();
        if in_hidden_folder(rel_dir) {
            return listing;
        }
        let canonical_root = match self.root.canonicalize() {
            Ok(root) => root,
            Err(err) => {
                listing.problems.push(Problem::error(
                    self.root.display().to_string(),
                    None,
                    format!("cannot read: {err}"),
                ));
                return listing;
            }
        };
        let (dir, canonical_dir) = if rel_dir.as_os_str().is_empty() {
            (self.root.clone(), canonical_root.clone())
        } else {
            match self.locate(&canonical_root, rel_dir) {
                Located::Dir {
                    path,
                    canonical,
                    link,
                } => {
                    listing.links.extend(link);
                    (path, canonical)
                }
                Located::Refused(problem) => {
                    listing.problems.push(problem);
                    return listing;
                }
                Located::Absent | Located::File { .. } => return listing,
            }
        };
        let mut chain = vec![canonical_dir.clone()];
        self.walk_dir(
            &mut listing,
            &dir,
            &canonical_dir,
            rel_dir,
            &canonical_root,
            &mut chain,
        );
        listing
    }

    /// Walks the real folder `dir` (whose canonical form is `canonical_dir`), which is `rel_dir`
    /// of the content folder; `chain` holds the folders being walked through links, outermost
    /// first, so a link back to one of them is a loop.
    fn walk_dir(
        &self,
        listing: &mut Listing,
        dir: &Path,
        canonical_dir: &Path,
        rel_dir: &Path,
        canonical_root: &Path,
        chain: &mut Vec<PathBuf>,
    ) {
        let walker = WalkDir::new(dir)
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
                        .and_then(|p| p.strip_prefix(dir).ok())
                        .map(|p| rel_path_string(&rel_dir.join(p)))
                        .unwrap_or_else(|| self.root.display().to_string());
                    listing.problems.push(Problem::error(
                        path,
                        None,
                        format!("cannot read: {err}"),
                    ));
                    continue;
                }
            };
            if entry.depth() == 0 {
                continue;
            }
            let Ok(inner) = entry.path().strip_prefix(dir) else {
                continue;
            };
            let rel = rel_dir.join(inner);
            if entry.path_is_symlink() {
                let location = canonical_dir.join(inner);
                self.visit_link(
                    listing,
                    entry.path(),
                    &rel,
                    &location,
                    canonical_root,
                    chain,
                );
                continue;
            }
            if !entry.file_type().is_file() || !is_candidate(&rel) {
                continue;
            }
            let rel_path = rel_path_string(&rel);
            match entry.metadata() {
                Ok(metadata) => {
                    listing
                        .entries
                        .push(FileEntry::new(rel_path, entry.path(), &metadata))
                }
                Err(err) => listing.problems.push(Problem::error(
                    rel_path,
                    None,
                    format!("cannot read: {err}"),
                )),
            }
        }
    }

    /// A link met by a walk: followed (a file listed, a folder walked under the link's path) or
    /// reported, when it matters for articles.
    fn visit_link(
        &self,
        listing: &mut Listing,
        link: &Path,
        rel: &Path,
        location: &Path,
        canonical_root: &Path,
        chain: &mut Vec<PathBuf>,
    ) {
        if !link_matters(link, rel) {
            return;
        }
        let rel_path = rel_path_string(rel);
        match self.judge_link(link, location, canonical_root, chain) {
            LinkVerdict::Refused(message) => listing
                .problems
                .push(Problem::warning(rel_path, None, message)),
            LinkVerdict::Ignored => {}
            LinkVerdict::File { target, metadata } => {
                if is_candidate(rel) {
                    listing.links.push(FollowedLink {
                        rel_path: rel_path.clone(),
                        target: relative_to(&target, canonical_root),
                    });
                    listing
                        .entries
                        .push(FileEntry::new(rel_path, &target, &metadata));
                }
            }
            LinkVerdict::Dir { target } => {
                listing.links.push(FollowedLink {
                    rel_path,
                    target: relative_to(&target, canonical_root),
                });
                chain.push(target.clone());
                self.walk_dir(listing, &target, &target, rel, canonical_root, chain);
                chain.pop();
            }
        }
    }

    /// Decides whether the link at `link` (really at `location`, canonical) is followed.
    /// `chain` holds the folders being walked through links, so a link back to one is a loop.
    fn judge_link(
        &self,
        link: &Path,
        location: &Path,
        canonical_root: &Path,
        chain: &[PathBuf],
    ) -> LinkVerdict {
        let refused = |reason: String| {
            LinkVerdict::Refused(format!("symbolic link is not followed: {reason}"))
        };
        let target = match link.canonicalize() {
            Ok(target) => target,
            Err(err) => return refused(format!("it points to nothing ({err})")),
        };
        let Ok(inside) = target.strip_prefix(canonical_root) else {
            return refused("it points outside the content folder".to_string());
        };
        if !self.follow_symlinks {
            let named = match rel_path_string(inside) {
                rel if rel.is_empty() => "the content folder itself".to_string(),
                rel => format!("`{rel}`"),
            };
            return refused(format!(
                "it points to {named} (set `follow_symlinks = true` under `[watch]` to follow links that stay inside the content folder)"
            ));
        }
        let metadata = match std::fs::metadata(&target) {
            Ok(metadata) => metadata,
            Err(err) => return refused(format!("its target cannot be read ({err})")),
        };
        if metadata.is_file() {
            return LinkVerdict::File { target, metadata };
        }
        if !metadata.is_dir() {
            return LinkVerdict::Ignored;
        }
        if location.starts_with(&target) || chain.contains(&target) {
            return refused(format!(
                "it points to `{}`, a folder that contains it (a loop)",
                rel_path_string(inside)
            ));
        }
        if chain.len() > MAX_LINK_DEPTH {
            return refused(format!(
                "more than {MAX_LINK_DEPTH} folder links are nested here"
            ));
        }
        LinkVerdict::Dir { target }
    }

    /// Finds where `rel` really is. Its parent folders must be reached without links or, when
    /// links are followed, through links that stay inside the folder; the path itself may be a
    /// link, judged as the walker judges it.
    fn locate(&self, canonical_root: &Path, rel: &Path) -> Located {
        let path = self.root.join(rel);
        let Ok(metadata) = std::fs::symlink_metadata(&path) else {
            return Located::Absent;
        };
        let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
            return Located::Absent;
        };
        let Ok(canonical_parent) = self.root.join(parent).canonicalize() else {
            return Located::Absent;
        };
        let through_link = canonical_parent != canonical_root.join(parent);
        if through_link && (!self.follow_symlinks || !canonical_parent.starts_with(canonical_root))
        {
            return Located::Absent;
        }
        let location = canonical_parent.join(name);
        // A path reached through a followed link is read at its real place.
        let real = if through_link {
            location.clone()
        } else {
            path.clone()
        };
        if metadata.is_symlink() {
            if !link_matters(&path, rel) {
                return Located::Absent;
            }
            let rel_path = rel_path_string(rel);
            let chain = [canonical_root.to_path_buf()];
            return match self.judge_link(&path, &location, canonical_root, &chain) {
                LinkVerdict::Refused(message) => {
                    Located::Refused(Problem::warning(rel_path, None, message))
                }
                LinkVerdict::Ignored => Located::Absent,
                LinkVerdict::File { target, metadata } => Located::File {
                    path: target,
                    metadata,
                },
                LinkVerdict::Dir { target } => Located::Dir {
                    path: target.clone(),
                    link: Some(FollowedLink {
                        rel_path,
                        target: relative_to(&target, canonical_root),
                    }),
                    canonical: target,
                },
            };
        }
        if metadata.is_dir() {
            return Located::Dir {
                path: real,
                canonical: location,
                link: None,
            };
        }
        if metadata.is_file() {
            return Located::File {
                path: real,
                metadata,
            };
        }
        Located::Absent
    }

    /// Looks at one path of the content folder, judging links as [`ContentFolder::walk`] does.
    pub fn stat(&self, rel_path: &str) -> OnDisk {
        let Ok(canonical_root) = self.root.canonicalize() else {
            return OnDisk::Absent;
        };
        let rel = Path::new(rel_path);
        match self.locate(&canonical_root, rel) {
            Located::Dir { .. } => OnDisk::Folder,
            Located::File { path, metadata } if is_candidate(rel) => {
                OnDisk::Article(FileEntry::new(rel_path.to_string(), &path, &metadata))
            }
            Located::Refused(problem) => OnDisk::Refused(problem),
            Located::File { .. } | Located::Absent => OnDisk::Absent,
        }
    }
}

/// True for links worth following or reporting: to a folder, or named like an article.
fn link_matters(link: &Path, rel: &Path) -> bool {
    let to_folder = std::fs::metadata(link).is_ok_and(|m| m.is_dir());
    to_folder || is_candidate(rel)
}

/// `path` (under `canonical_root`) as a `/`-separated path of the content folder.
fn relative_to(path: &Path, canonical_root: &Path) -> String {
    path.strip_prefix(canonical_root)
        .map(rel_path_string)
        .unwrap_or_default()
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
    let bytes = read_no_follow(&entry.abs_path)
        .map_err(|err| Problem::error(&entry.rel_path, None, format!("cannot read: {err}")))?;
    // The file may have grown between the listing and the read.
    if bytes.len() as u64 > max_bytes {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Reads a file that must not be a symbolic link: the walk decided what to read (a followed link
/// is read at its checked target), so a file swapped for a link since then is refused, not
/// followed.
fn read_no_follow(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW);
    }
    let mut file = options.open(path)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
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
