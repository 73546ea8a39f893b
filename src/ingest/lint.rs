//! Lint: the problems that only show across articles — a link to an article or heading that does
//! not exist, an image missing on disk, a public article linking to an internal one or a
//! published one to a draft, two articles with one title, an article with no summary. It sits
//! beside `article` (which checks one file on its own) and before `check` and the live indexer,
//! which keep an [`Outlines`] of every indexed article: an [`Outline`] is the little of an article
//! these checks need, so the live indexer can update one per changed file and list every problem
//! after each batch without reparsing anything.
//!
//! Each problem is reported on the file (and line) where the writer fixes it: a broken link on the
//! article that holds the link, not on the one it misses.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;

use crate::content::article::{Article, Status, Visibility};
use crate::content::markdown::{Reference, is_external};
use crate::content::problem::{Problem, sort_problems};
use crate::content::render;

/// Other articles named in a duplicate-title warning before the list is cut short.
const MAX_NAMED_DUPLICATES: usize = 3;

/// What the cross-article checks need of one article.
#[derive(Debug, Clone)]
pub struct Outline {
    /// Path relative to the content folder, `/`-separated.
    pub path: String,
    pub id: String,
    pub title: String,
    pub visibility: Visibility,
    pub status: Status,
    /// Anchors of the article's headings, as its page has them (the title heading has none).
    pub anchors: HashSet<String>,
    /// Links that stay on the site, as written, with their lines.
    pub links: Vec<Reference>,
    /// Image targets as written, with their lines.
    pub images: Vec<Reference>,
    /// False when the article has neither a `summary:` nor a first paragraph to show in results.
    pub has_summary: bool,
}

impl Outline {
    pub fn of(article: &Article) -> Outline {
        Outline {
            path: article.path.clone(),
            id: article.id.clone(),
            title: article.title.clone(),
            visibility: article.visibility,
            status: article.status,
            anchors: article.headings.iter().map(|h| h.anchor.clone()).collect(),
            links: article.links.clone(),
            images: article.images.clone(),
            has_summary: !article.summary.trim().is_empty(),
        }
    }
}

/// The outlines of every indexed article, by path, with an index of titles for duplicates.
#[derive(Debug, Default)]
pub struct Outlines {
    by_path: HashMap<String, Outline>,
    /// Normalised title → paths of the articles with that title.
    by_title: HashMap<String, BTreeSet<String>>,
}

impl Outlines {
    /// Adds the outline of an article, replacing the one from the same path.
    pub fn upsert(&mut self, outline: Outline) {
        self.remove(&outline.path);
        self.by_title
            .entry(title_key(&outline.title))
            .or_default()
            .insert(outline.path.clone());
        self.by_path.insert(outline.path.clone(), outline);
    }

    /// Forgets the article at `path` (deleted, or no longer indexable).
    pub fn remove(&mut self, path: &str) {
        let Some(old) = self.by_path.remove(path) else {
            return;
        };
        let key = title_key(&old.title);
        if let Some(paths) = self.by_title.get_mut(&key) {
            paths.remove(path);
            if paths.is_empty() {
                self.by_title.remove(&key);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.by_path.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_path.is_empty()
    }

    /// Every cross-article problem, each on the file (and line) where the writer fixes it.
    pub fn problems(&self, kb_root: &Path) -> Vec<Problem> {
        let mut problems = Vec::new();
        for outline in self.by_path.values() {
            self.collect(outline, kb_root, &mut problems);
        }
        sort_problems(&mut problems);
        problems
    }

    /// The same, only for one article (the preview's problem panel).
    pub fn problems_of(&self, path: &str, kb_root: &Path) -> Vec<Problem> {
        let mut problems = Vec::new();
        if let Some(outline) = self.by_path.get(path) {
            self.collect(outline, kb_root, &mut problems);
        }
        sort_problems(&mut problems);
        problems
    }

    /// Pushes the problems of one article: its links, images, title and summary.
    fn collect(&self, outline: &Outline, kb_root: &Path, problems: &mut Vec<Problem>) {
        for link in &outline.links {
            self.check_link(outline, link, problems);
        }
        for image in &outline.images {
            if let Some(problem) = check_image(outline, image, kb_root) {
                problems.push(problem);
            }
        }
        if let Some(problem) = self.check_title(outline) {
            problems.push(problem);
        }
        if !outline.has_summary {
            problems.push(Problem::warning(
                &outline.path,
                None,
                "no summary: add `summary:` to the front matter or start the body with a paragraph",
            ));
        }
    }

    /// Pushes what is wrong with one link: where it leads, and who may follow it.
    fn check_link(&self, outline: &Outline, link: &Reference, problems: &mut Vec<Problem>) {
        let written = link.target.as_str();
        let path = outline.path.as_str();
        let line = Some(link.line);
        if let Some(anchor) = written.strip_prefix('#') {
            if !anchor.is_empty() && !outline.anchors.contains(anchor) {
                problems.push(Problem::error(
                    path,
                    line,
                    format!("link to `{written}`: no heading `#{anchor}` in this article"),
                ));
            }
            return;
        }
        let Some((target_path, anchor)) = render::linked_path(path, written) else {
            // `linked_path` also refuses a relative `.md` link that climbs out of the folder.
            if !written.starts_with('/') && is_markdown_file(written) {
                problems.push(no_such_article(path, line, written));
            }
            return;
        };
        let Some(target) = self.by_path.get(&target_path) else {
            problems.push(no_such_article(path, line, written));
            return;
        };
        if let Some(anchor) = anchor.filter(|a| !a.is_empty())
            && !target.anchors.contains(&anchor)
        {
            problems.push(Problem::error(
                path,
                line,
                format!(
                    "link to `{written}`: no heading `#{anchor}` in {}",
                    target.path
                ),
            ));
        }
        if target.visibility == Visibility::Internal && outline.visibility != Visibility::Internal {
            problems.push(Problem::warning(
                path,
                line,
                format!(
                    "link to `{written}`: internal article, shown as plain text to readers of this {} one",
                    outline.visibility
                ),
            ));
        }
        if target.status == Status::Draft && outline.status == Status::Published {
            problems.push(Problem::warning(
                path,
                line,
                format!(
                    "link to `{written}`: draft article, shown as plain text until it is published"
                ),
            ));
        }
    }

    fn check_title(&self, outline: &Outline) -> Option<Problem> {
        let same = self.by_title.get(&title_key(&outline.title))?;
        let others: Vec<&str> = same
            .iter()
            .map(String::as_str)
            .filter(|p| *p != outline.path)
            .collect();
        if others.is_empty() {
            return None;
        }
        let mut named: Vec<String> = others
            .iter()
            .take(MAX_NAMED_DUPLICATES)
            .map(|p| format!("`{p}`"))
            .collect();
        if others.len() > MAX_NAMED_DUPLICATES {
            named.push(format!("and {} more", others.len() - MAX_NAMED_DUPLICATES));
        }
        Some(Problem::warning(
            &outline.path,
            None,
            format!(
                "title also used by {}: make titles distinct so readers can tell results apart",
                named.join(", ")
            ),
        ))
    }
}

fn no_such_article(path: &str, line: Option<usize>, written: &str) -> Problem {
    Problem::error(path, line, format!("link to `{written}`: no such article"))
}

/// Titles compare trimmed and case-insensitively.
fn title_key(title: &str) -> String {
    title.trim().to_lowercase()
}

fn is_markdown_file(target: &str) -> bool {
    let file = target.split(['#', '?']).next().unwrap_or_default();
    file.to_ascii_lowercase().ends_with(".md")
}

/// A relative image must exist under the content folder; external and site-absolute images are
/// not checked.
fn check_image(outline: &Outline, image: &Reference, kb_root: &Path) -> Option<Problem> {
    let written = image.target.as_str();
    if written.is_empty() || is_external(written) || written.starts_with('/') {
        return None;
    }
    let line = Some(image.line);
    let Some(rel) = resolve_relative(&outline.path, written) else {
        return Some(Problem::error(
            &outline.path,
            line,
            format!("image `{written}` is outside the content folder: move it inside"),
        ));
    };
    if kb_root.join(&rel).is_file() {
        return None;
    }
    Some(Problem::error(
        &outline.path,
        line,
        format!("image `{written}` not found"),
    ))
}

/// The content-folder path a relative file reference from the article at `path` names, without
/// its query or fragment and with `%XX` escapes decoded; `None` when it climbs out of the folder.
fn resolve_relative(path: &str, target: &str) -> Option<String> {
    let file = target.split(['#', '?']).next().unwrap_or_default();
    let decoded = percent_decode(file);
    let mut parts: Vec<&str> = path.split('/').collect();
    parts.pop();
    for part in decoded.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

/// Decodes `%XX` escapes (`my%20screen.png`); anything else stays as written.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = (bytes[index] == b'%')
            .then(|| text.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                index += 3;
            }
            None => {
                out.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outline(path: &str, title: &str) -> Outline {
        Outline {
            path: path.to_string(),
            id: path.trim_end_matches(".md").to_string(),
            title: title.to_string(),
            visibility: Visibility::Public,
            status: Status::Published,
            anchors: ["resolution".to_string()].into(),
            links: Vec::new(),
            images: Vec::new(),
            has_summary: true,
        }
    }

    fn link(target: &str, line: usize) -> Reference {
        Reference {
            target: target.to_string(),
            line,
        }
    }

    #[test]
    fn links_resolve_against_paths_and_anchors() {
        let mut outlines = Outlines::default();
        let mut a = outline("articles/a.md", "A");
        a.links = vec![
            link("b.md#resolution", 3),
            link("b.md#missing", 4),
            link("../help/c.md", 5),
            link("#resolution", 6),
            link("#nope", 7),
            link("../../out.md", 8),
            link("files/guide.pdf", 9),
            link("/articles/b.md", 10),
        ];
        outlines.upsert(a);
        outlines.upsert(outline("articles/b.md", "B"));
        let problems = outlines.problems(Path::new("/nonexistent"));
        let lines: Vec<(Option<usize>, &str)> = problems
            .iter()
            .map(|p| (p.line, p.message.as_str()))
            .collect();
        assert_eq!(
            lines,
            vec![
                (
                    Some(4),
                    "link to `b.md#missing`: no heading `#missing` in articles/b.md"
                ),
                (Some(5), "link to `../help/c.md`: no such article"),
                (
                    Some(7),
                    "link to `#nope`: no heading `#nope` in this article"
                ),
                (Some(8), "link to `../../out.md`: no such article"),
            ]
        );
        assert!(problems.iter().all(|p| p.is_error()));
    }

    #[test]
    fn titles_are_tracked_through_upserts_and_removals() {
        let mut outlines = Outlines::default();
        outlines.upsert(outline("a.md", "Same Title"));
        outlines.upsert(outline("b.md", " same title "));
        assert_eq!(outlines.problems(Path::new("/")).len(), 2);
        outlines.upsert(outline("b.md", "Another title"));
        assert!(outlines.problems(Path::new("/")).is_empty());
        outlines.upsert(outline("c.md", "same TITLE"));
        outlines.remove("c.md");
        assert!(outlines.problems(Path::new("/")).is_empty());
        assert_eq!(outlines.len(), 2);
    }

    #[test]
    fn relative_image_paths_are_decoded_and_kept_inside() {
        assert_eq!(
            resolve_relative("articles/a.md", "img/my%20shot.png?v=2"),
            Some("articles/img/my shot.png".to_string())
        );
        assert_eq!(
            resolve_relative("articles/a.md", "../assets/x.png"),
            Some("assets/x.png".to_string())
        );
        assert_eq!(resolve_relative("a.md", "../x.png"), None);
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
    }
}
