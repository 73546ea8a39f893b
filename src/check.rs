//! `kbsearch check`: every problem of a content folder, without touching the index. Writers run
//! it before publishing and documentation repositories run it in CI; it reports what the indexer
//! would skip or warn about, in `path:line: message` form or as JSON.

use std::collections::HashMap;
use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;

use crate::article::{self, Article, ParseContext, SourceFile};
use crate::problem::{Problem, sort_problems};
use crate::products::Catalog;
use crate::scan;
use crate::synonyms::Synonyms;

/// The outcome of checking a folder.
#[derive(Debug, Serialize)]
pub struct CheckReport {
    pub files: usize,
    /// Files that would be indexed.
    pub articles: usize,
    pub errors: usize,
    pub warnings: usize,
    pub problems: Vec<Problem>,
}

impl CheckReport {
    pub fn has_errors(&self) -> bool {
        self.errors > 0
    }
}

/// Parses every article of `kb_root` and collects all problems, including duplicate ids
/// (the first file in path order keeps the id).
pub fn check_folder(kb_root: &Path, max_file_bytes: u64) -> CheckReport {
    let (catalog, mut problems) = Catalog::load(kb_root);
    let (_, synonym_problems) = Synonyms::load(kb_root);
    problems.extend(synonym_problems);
    let (entries, walk_problems) = scan::walk(kb_root);
    problems.extend(walk_problems);
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
    let mut articles = 0;
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
                articles += 1;
            }
        }
    }
    sort_problems(&mut problems);
    let errors = problems.iter().filter(|p| p.is_error()).count();
    CheckReport {
        files: entries.len(),
        articles,
        errors,
        warnings: problems.len() - errors,
        problems,
    }
}
