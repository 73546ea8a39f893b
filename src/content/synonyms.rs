//! Writer-maintained synonym groups from `kb/synonyms.toml`, applied at query time: a query word or
//! phrase that belongs to a group also searches for the group's other members, at a lower weight.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use crate::content::problem::{Problem, line_of_offset, load_optional};

/// File name of the synonym groups inside the content folder.
pub const SYNONYMS_FILE: &str = "synonyms.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SynonymsFile {
    #[serde(default)]
    groups: Vec<Vec<String>>,
}

/// Synonym groups, looked up by any member written as lowercase words.
#[derive(Debug, Clone, Default)]
pub struct Synonyms {
    /// Member (words joined by one space) → the other members of its groups.
    alternatives: HashMap<String, Vec<Vec<String>>>,
    /// Longest member, in words, so lookups know how far to look ahead.
    longest: usize,
}

fn words_of(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

impl Synonyms {
    /// Loads `synonyms.toml`; a missing file means no synonyms, a broken one is reported.
    pub fn load(kb_root: &Path) -> (Synonyms, Vec<Problem>) {
        load_optional(kb_root, SYNONYMS_FILE, Synonyms::parse)
    }

    /// Parses the text of a `synonyms.toml`.
    pub fn parse(text: &str) -> Result<Synonyms, Problem> {
        let file: SynonymsFile = toml::from_str(text).map_err(|err| {
            let line = err.span().map(|span| line_of_offset(text, span.start));
            Problem::error(
                SYNONYMS_FILE,
                line,
                format!("does not parse: {}", err.message()),
            )
        })?;
        Ok(Synonyms::from_groups(&file.groups))
    }

    pub fn from_groups(groups: &[Vec<String>]) -> Synonyms {
        let mut synonyms = Synonyms::default();
        for group in groups {
            let members: Vec<Vec<String>> = group
                .iter()
                .map(|m| words_of(m))
                .filter(|w| !w.is_empty())
                .collect();
            for member in &members {
                let others = members.iter().filter(|m| *m != member).cloned();
                synonyms
                    .alternatives
                    .entry(member.join(" "))
                    .or_default()
                    .extend(others);
                synonyms.longest = synonyms.longest.max(member.len());
            }
        }
        synonyms
    }

    pub fn is_empty(&self) -> bool {
        self.alternatives.is_empty()
    }

    /// Finds the longest group member starting at `words[start]`: its length in words and the
    /// alternatives to search for.
    pub fn match_at(&self, words: &[String], start: usize) -> Option<(usize, &[Vec<String>])> {
        let max_len = self.longest.min(words.len().saturating_sub(start));
        (1..=max_len).rev().find_map(|len| {
            let key = words[start..start + len].join(" ");
            self.alternatives
                .get(&key)
                .map(|alternatives| (len, alternatives.as_slice()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_find_each_other_longest_first() {
        let synonyms = Synonyms::parse(
            "groups = [[\"smb\", \"cifs\"], [\"data mover\", \"replication agent\", \"dm\"]]",
        )
        .unwrap();
        let words: Vec<String> = ["restart", "data", "mover"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (len, alternatives) = synonyms.match_at(&words, 1).unwrap();
        assert_eq!(len, 2);
        assert!(alternatives.contains(&vec!["dm".to_string()]));
        assert!(synonyms.match_at(&words, 0).is_none());
    }

    #[test]
    fn broken_file_names_the_line() {
        let err = Synonyms::parse("groups = [[\"a\"\n").unwrap_err();
        assert_eq!(err.path, SYNONYMS_FILE);
        assert!(err.line.is_some());
    }
}
