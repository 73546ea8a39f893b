//! `kbsearch check`: every problem of a content folder, without touching the index. Writers run
//! it before publishing and documentation repositories run it in CI; it reports what the indexer
//! would skip or warn about, what is wrong across articles (broken links and anchors, missing
//! images, links readers cannot follow, duplicate titles, missing summaries; see `lint`), in
//! `path:line: message` form or as JSON.
//!
//! With `--queries` it also builds a temporary index and runs every article's front matter
//! `queries:` through the production search (`rank_check`): a query that does not rank its
//! article within the top N is an error on that article.

use std::collections::HashMap;
use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;
use thiserror::Error;

use crate::content::article::{self, Article, ParseContext, SourceFile};
use crate::content::problem::{Problem, sort_problems};
use crate::content::products::Catalog;
use crate::content::synonyms::Synonyms;
use crate::error::{IndexError, SearchError};
use crate::ingest::indexer::{IndexOptions, Indexer};
use crate::ingest::lint::{Outline, Outlines};
use crate::ingest::progress::Silent;
use crate::ingest::scan::{self, ContentFolder};
use crate::quality::rank_check::{RankCheck, RankReport};
use crate::search::KbSearcher;

/// The rank every front matter query must reach unless told otherwise (`--top`).
pub const DEFAULT_TOP: usize = 5;
/// How deep a query is followed, in multiples of the required rank, so a miss still says where
/// the article is (at least [`MIN_DEPTH`] places).
const DEPTH_FACTOR: usize = 4;
const MIN_DEPTH: usize = 20;
/// Articles above a missed one named in its message; the report has them all.
const NAMED_ABOVE: usize = 3;

/// The outcome of checking a folder.
#[derive(Debug, Serialize)]
pub struct CheckReport {
    pub files: usize,
    /// Files that would be indexed.
    pub articles: usize,
    pub errors: usize,
    pub warnings: usize,
    pub problems: Vec<Problem>,
    /// The ranking check, when it was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queries: Option<QueriesReport>,
}

impl CheckReport {
    pub fn has_errors(&self) -> bool {
        self.errors > 0
    }
}

/// How the front matter queries ranked their articles.
#[derive(Debug, Serialize)]
pub struct QueriesReport {
    /// The rank each article must reach for its queries.
    pub top: usize,
    pub passed: usize,
    pub failed: usize,
    pub results: Vec<QueryResult>,
}

/// One front matter query of one article.
#[derive(Debug, Serialize)]
pub struct QueryResult {
    pub path: String,
    pub id: String,
    /// True when the article ranks within the top N.
    pub passed: bool,
    #[serde(flatten)]
    pub report: RankReport,
}

/// Why the ranking check could not run.
#[derive(Debug, Error)]
pub enum CheckError {
    #[error("cannot create a temporary index in {}: {error}", path.display())]
    TempDir {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Search(#[from] SearchError),
}

/// How `check` reads the folder: the file size limit, and whether links that stay inside the
/// folder are followed, as `[watch] follow_symlinks` makes the service do.
#[derive(Debug, Clone, Copy)]
pub struct CheckOptions {
    pub max_file_bytes: u64,
    pub follow_symlinks: bool,
}

impl CheckOptions {
    /// The size limit given, links not followed (the service's default).
    pub fn new(max_file_bytes: u64) -> Self {
        CheckOptions {
            max_file_bytes,
            follow_symlinks: false,
        }
    }
}

/// The parsed folder: indexable articles (first owner of each id) and every problem so far.
struct Folder {
    files: usize,
    articles: Vec<Article>,
    problems: Vec<Problem>,
}

/// Parses every article of `kb_root` and collects all problems: each file's own, duplicate ids
/// (the first file in path order keeps the id) and the cross-article ones of `lint`.
pub fn check_folder(kb_root: &Path, max_file_bytes: u64) -> CheckReport {
    check_folder_with(kb_root, CheckOptions::new(max_file_bytes))
}

/// [`check_folder`] with every option: links are judged as the indexer judges them.
pub fn check_folder_with(kb_root: &Path, options: CheckOptions) -> CheckReport {
    let folder = parse_folder(kb_root, options);
    finish(folder.files, folder.articles.len(), folder.problems, None)
}

/// [`check_folder_with`], then every front matter query run against a temporary index of the
/// folder: a query that does not rank its article within the top `top` is an error on that article.
pub fn check_queries_with(
    kb_root: &Path,
    options: CheckOptions,
    top: usize,
) -> Result<CheckReport, CheckError> {
    let mut folder = parse_folder(kb_root, options);
    let (_tmp, searcher) = index_in_temp_dir(kb_root, options)?;
    let queries = rank_queries(&searcher, &folder.articles, top, &mut folder.problems)?;
    Ok(finish(
        folder.files,
        folder.articles.len(),
        folder.problems,
        Some(queries),
    ))
}

fn finish(
    files: usize,
    articles: usize,
    mut problems: Vec<Problem>,
    queries: Option<QueriesReport>,
) -> CheckReport {
    sort_problems(&mut problems);
    let errors = problems.iter().filter(|p| p.is_error()).count();
    CheckReport {
        files,
        articles,
        errors,
        warnings: problems.len() - errors,
        problems,
        queries,
    }
}

fn parse_folder(kb_root: &Path, options: CheckOptions) -> Folder {
    let max_file_bytes = options.max_file_bytes;
    let (catalog, mut problems) = Catalog::load(kb_root);
    let (_, synonym_problems) = Synonyms::load(kb_root);
    problems.extend(synonym_problems);
    let listing = ContentFolder::new(kb_root, options.follow_symlinks).walk();
    let entries = listing.entries;
    problems.extend(listing.problems);
    let ctx = ParseContext { catalog: &catalog };
    let parsed: Vec<(Option<Article>, Vec<Problem>)> = entries
        .par_iter()
        .map(|entry| match scan::read(entry, max_file_bytes) {
            Err(problem) => (None, vec![problem]),
            Ok(bytes) => {
                let source = SourceFile {
                    path: &entry.rel_path,
                    bytes: &bytes,
                    modified: entry.modified,
                };
                let parsed = article::parse(&source, &ctx);
                (parsed.article, parsed.problems)
            }
        })
        .collect();
    let mut owners: HashMap<String, String> = HashMap::new();
    let mut articles = Vec::new();
    for (article, file_problems) in parsed {
        problems.extend(file_problems);
        let Some(article) = article else {
            continue;
        };
        match owners.get(&article.id) {
            Some(owner) => problems.push(Problem::error(
                &article.path,
                None,
                format!("duplicate id `{}`: already used by {owner}", article.id),
            )),
            None => {
                owners.insert(article.id.clone(), article.path.clone());
                articles.push(article);
            }
        }
    }
    let mut outlines = Outlines::default();
    for article in &articles {
        outlines.upsert(Outline::of(article));
    }
    problems.extend(outlines.problems(kb_root));
    Folder {
        files: entries.len(),
        articles,
        problems,
    }
}

/// Indexes `kb_root` into a temporary index (removed when the returned folder is dropped), with
/// the same file size limit and links as the check.
fn index_in_temp_dir(
    kb_root: &Path,
    options: CheckOptions,
) -> Result<(tempfile::TempDir, KbSearcher), CheckError> {
    let tmp = tempfile::tempdir().map_err(|error| CheckError::TempDir {
        path: std::env::temp_dir(),
        error,
    })?;
    let index_options = IndexOptions {
        max_file_bytes: options.max_file_bytes,
        follow_symlinks: options.follow_symlinks,
        ..IndexOptions::new(kb_root, tmp.path())
    };
    Indexer::refresh(&index_options, &Silent)?;
    let searcher = KbSearcher::open(tmp.path(), kb_root)?;
    Ok((tmp, searcher))
}

/// Runs every article's queries; each one missed becomes an error on its article.
fn rank_queries(
    searcher: &KbSearcher,
    articles: &[Article],
    top: usize,
    problems: &mut Vec<Problem>,
) -> Result<QueriesReport, CheckError> {
    let depth = top.saturating_mul(DEPTH_FACTOR).max(MIN_DEPTH);
    let asked: Vec<(&Article, &str)> = articles
        .iter()
        .flat_map(|a| a.queries.iter().map(move |q| (a, q.as_str())))
        .filter(|(_, q)| !q.trim().is_empty())
        .collect();
    let outcomes: Vec<(&Article, &str, Result<RankReport, SearchError>)> = asked
        .into_par_iter()
        .map(|(article, query)| {
            (
                article,
                query,
                RankCheck::new(searcher).rank_of(&article.id, query, depth),
            )
        })
        .collect();
    let mut results = Vec::new();
    let mut failed = 0;
    for (article, query, outcome) in outcomes {
        let report = match outcome {
            Ok(report) => report,
            Err(err @ SearchError::EmptyQuery) => {
                failed += 1;
                problems.push(Problem::error(
                    &article.path,
                    None,
                    format!("query `{query}` cannot run: {err}"),
                ));
                continue;
            }
            Err(err) => return Err(err.into()),
        };
        let passed = report.rank.is_some_and(|rank| rank <= top);
        if !passed {
            failed += 1;
            problems.push(Problem::error(
                &article.path,
                None,
                missed_message(&report, top, depth),
            ));
        }
        results.push(QueryResult {
            path: article.path.clone(),
            id: article.id.clone(),
            passed,
            report,
        });
    }
    Ok(QueriesReport {
        top,
        passed: results.iter().filter(|r| r.passed).count(),
        failed,
        results,
    })
}

/// "query `X` ranks this article 7th (top 5 required); above it: …; matched: title, body".
fn missed_message(report: &RankReport, top: usize, depth: usize) -> String {
    let query = &report.query;
    let place = match report.rank {
        Some(rank) => format!("query `{query}` ranks this article {}", ordinal(rank)),
        None => format!("query `{query}` does not rank this article in the top {depth}"),
    };
    let mut message = format!("{place} (top {top} required)");
    if !report.above.is_empty() {
        let mut named: Vec<String> = report
            .above
            .iter()
            .take(NAMED_ABOVE)
            .map(|a| format!("\"{}\"", a.title))
            .collect();
        if report.above.len() > NAMED_ABOVE {
            named.push(format!("and {} more", report.above.len() - NAMED_ABOVE));
        }
        message.push_str(&format!("; above it: {}", named.join(", ")));
    }
    let matched = if report.matched_fields.is_empty() {
        "nothing".to_string()
    } else {
        report.matched_fields.join(", ")
    };
    message.push_str(&format!("; matched: {matched}"));
    if !report.missing_terms.is_empty() {
        message.push_str(&format!(
            "; words not in the article: {} (use them in the text or `keywords:`)",
            report.missing_terms.join(", ")
        ));
    }
    message
}

/// 1st, 2nd, 3rd, 4th, …, 11th, 12th, 13th, …, 21st.
fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinals_read_as_english() {
        let got: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111]
            .into_iter()
            .map(ordinal)
            .collect();
        assert_eq!(
            got,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st",
                "111th"
            ]
        );
    }
}
