//! Front matter: the metadata block at the very start of an article, YAML between `---` lines or
//! TOML between `+++` lines. It is split off by hand, only at the start of the file, before any
//! markdown parsing: pulldown-cmark's metadata option accepts a block at any unindented position
//! and would swallow body text after a `---` thematic break (pulldown-cmark#1000).
//!
//! This module only finds the block and turns it into a map of keys with the line of each key;
//! `article` gives the keys their meaning. [`scan_values`] reads single keys line by line without
//! parsing, for files whose block does not parse.

use std::collections::HashMap;

use serde_json::{Map, Value};
use thiserror::Error;

use crate::content::problem::line_of_offset;

/// Which syntax the front matter block uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Toml,
}

impl Format {
    /// The format a block opened by `line` (without its line ending) uses, if it opens one.
    fn opened_by(line: &str) -> Option<Format> {
        match line {
            "---" => Some(Format::Yaml),
            "+++" => Some(Format::Toml),
            _ => None,
        }
    }

    fn delimiter(self) -> &'static str {
        match self {
            Format::Yaml => "---",
            Format::Toml => "+++",
        }
    }

    /// True when `line` (without its line ending) closes a block of this format.
    fn closed_by(self, line: &str) -> bool {
        line == self.delimiter() || (self == Format::Yaml && line == "...")
    }
}

/// A file cut into its front matter text and its markdown body.
#[derive(Debug)]
pub struct Split<'a> {
    /// The front matter text (without delimiters) and its syntax, when the file has one.
    pub front: Option<(Format, &'a str)>,
    /// 1-based line of the first front matter line (the one after the opening delimiter).
    pub front_first_line: usize,
    pub body: &'a str,
    /// 1-based line of the first body line, so body problems can name file lines.
    pub body_first_line: usize,
}

/// Why a front matter block could not be read.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FrontMatterError {
    #[error(
        "front matter opened with `{delimiter}` on line 1 is never closed: add a `{delimiter}` line after the last key"
    )]
    Unclosed { delimiter: &'static str },
    #[error("front matter does not parse as {format}: {message}")]
    Syntax {
        format: &'static str,
        line: Option<usize>,
        message: String,
    },
    #[error("front matter must be a mapping of keys to values, found {found}")]
    NotAMapping { found: &'static str },
}

impl FrontMatterError {
    /// The 1-based file line the error points at, when known.
    pub fn line(&self) -> Option<usize> {
        match self {
            FrontMatterError::Unclosed { .. } | FrontMatterError::NotAMapping { .. } => Some(1),
            FrontMatterError::Syntax { line, .. } => *line,
        }
    }
}

/// Parsed front matter: every key with its value and the file line it is on.
#[derive(Debug, Default)]
pub struct FrontMatter {
    pub fields: Map<String, Value>,
    pub key_lines: HashMap<String, usize>,
}

impl FrontMatter {
    pub fn line_of(&self, key: &str) -> Option<usize> {
        self.key_lines.get(key).copied()
    }
}

/// Strips one line ending (`\n` or `\r\n`) and trailing blanks, for delimiter comparison.
fn bare_line(line: &str) -> &str {
    line.trim_end_matches(['\n', '\r', ' ', '\t'])
}

/// Cuts `text` into front matter and body. Only a delimiter on the very first line opens a block.
pub fn split(text: &str) -> Result<Split<'_>, FrontMatterError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first_line_end = text.find('\n').map_or(text.len(), |i| i + 1);
    let Some(format) = Format::opened_by(bare_line(&text[..first_line_end])) else {
        return Ok(Split {
            front: None,
            front_first_line: 1,
            body: text,
            body_first_line: 1,
        });
    };
    let mut offset = first_line_end;
    let mut line_number = 2;
    while offset < text.len() {
        let line_end = text[offset..]
            .find('\n')
            .map_or(text.len(), |i| offset + i + 1);
        if format.closed_by(bare_line(&text[offset..line_end])) {
            return Ok(Split {
                front: Some((format, &text[first_line_end..offset])),
                front_first_line: 2,
                body: &text[line_end..],
                body_first_line: line_number + 1,
            });
        }
        offset = line_end;
        line_number += 1;
    }
    Err(FrontMatterError::Unclosed {
        delimiter: format.delimiter(),
    })
}

/// The markdown body of a file: the text after its front matter, or all of it when it has no
/// block (or one that is never closed).
pub fn body_of(text: &str) -> &str {
    split(text).map_or(text, |split| split.body)
}

/// Every value written for `key` in the front matter block at the start of `text`, read line by
/// line without parsing: it works on a block that does not parse, and on one that is never closed
/// (read to the end of the file). A line counts when, after any indentation, it starts with the
/// key (in any case, quoted or not) followed by `:` (YAML) or `=` (TOML). A quoted value is read
/// up to its closing quote; an unquoted one loses a trailing `# comment`. Empty and null values
/// are left out, as the parser leaves them out; quoted ones are kept, even empty.
pub fn scan_values<'a>(text: &'a str, key: &str) -> Vec<&'a str> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines();
    let Some(format) = lines.next().map(bare_line).and_then(Format::opened_by) else {
        return Vec::new();
    };
    lines
        .map(bare_line)
        .take_while(|line| !format.closed_by(line))
        .filter_map(|line| scanned_value(line, key))
        .collect()
}

/// The value of `key` on one front matter line, if the line sets that key.
fn scanned_value<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let line = line.trim_start();
    let key_start = line.strip_prefix(['"', '\'']).unwrap_or(line);
    let written_key = key_start.get(..key.len())?;
    if !written_key.eq_ignore_ascii_case(key) {
        return None;
    }
    let after_key = &key_start[key.len()..];
    let after_key = after_key.strip_prefix(['"', '\'']).unwrap_or(after_key);
    let value = after_key.trim_start().strip_prefix([':', '='])?.trim();
    if let Some(quote) = value.chars().next().filter(|c| matches!(c, '"' | '\'')) {
        let inner = &value[1..];
        return Some(inner.find(quote).map_or(inner, |end| &inner[..end]));
    }
    let comment = value
        .match_indices('#')
        .map(|(at, _)| at)
        .find(|&at| value[..at].ends_with([' ', '\t']));
    let value = comment.map_or(value, |at| &value[..at]).trim_end();
    let is_null = value.is_empty() || value == "~" || value.eq_ignore_ascii_case("null");
    (!is_null).then_some(value)
}

/// Parses the front matter text of a [`Split`] into keys and values.
pub fn parse(
    format: Format,
    text: &str,
    first_line: usize,
) -> Result<FrontMatter, FrontMatterError> {
    let value = match format {
        Format::Yaml => parse_yaml(text, first_line)?,
        Format::Toml => parse_toml(text, first_line)?,
    };
    let fields = match value {
        Value::Object(map) => map,
        Value::Null => Map::new(),
        Value::Array(_) => return Err(FrontMatterError::NotAMapping { found: "a list" }),
        _ => {
            return Err(FrontMatterError::NotAMapping {
                found: "a single value",
            });
        }
    };
    Ok(FrontMatter {
        fields,
        key_lines: key_lines(text, first_line),
    })
}

fn parse_yaml(text: &str, first_line: usize) -> Result<Value, FrontMatterError> {
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_saphyr::from_str::<Value>(text).map_err(|err| FrontMatterError::Syntax {
        format: "YAML",
        line: err
            .location()
            .map(|loc| first_line + usize::try_from(loc.line()).unwrap_or(1).saturating_sub(1)),
        message: first_line_of(&err.to_string()),
    })
}

fn parse_toml(text: &str, first_line: usize) -> Result<Value, FrontMatterError> {
    let table: toml::Table = toml::from_str(text).map_err(|err| FrontMatterError::Syntax {
        format: "TOML",
        line: err
            .span()
            .map(|span| first_line + line_of_offset(text, span.start) - 1),
        message: first_line_of(err.message()),
    })?;
    Ok(toml_to_json(toml::Value::Table(table)))
}

/// Keeps the first line of a parser message: the rest repeats the source with carets.
fn first_line_of(message: &str) -> String {
    message.lines().next().unwrap_or(message).trim().to_string()
}

/// Converts TOML to JSON values, turning dates into their text form like YAML gives them.
fn toml_to_json(value: toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(f) => Value::from(f),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(dt) => Value::String(dt.to_string()),
        toml::Value::Array(items) => Value::Array(items.into_iter().map(toml_to_json).collect()),
        toml::Value::Table(table) => Value::Object(
            table
                .into_iter()
                .map(|(k, v)| (k, toml_to_json(v)))
                .collect(),
        ),
    }
}

/// Finds the line of each top-level key: unindented lines of the form `key:` (YAML) or `key =`
/// (TOML), keys optionally quoted.
fn key_lines(text: &str, first_line: usize) -> HashMap<String, usize> {
    let mut lines = HashMap::new();
    for (index, line) in text.lines().enumerate() {
        if line.starts_with([' ', '\t', '#', '-', '[']) {
            continue;
        }
        let Some(end) = line.find([':', '=']) else {
            continue;
        };
        let key = line[..end].trim().trim_matches(['"', '\'']);
        if !key.is_empty() {
            lines.entry(key.to_string()).or_insert(first_line + index);
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_yaml_with_crlf() {
        let text = "---\r\ntitle: A\r\ntags: [x]\r\n---\r\n# A\r\nbody\r\n";
        let split = split(text).unwrap();
        let (format, front) = split.front.unwrap();
        assert_eq!(format, Format::Yaml);
        assert_eq!(split.body, "# A\r\nbody\r\n");
        assert_eq!(split.body_first_line, 5);
        let fm = parse(format, front, split.front_first_line).unwrap();
        assert_eq!(fm.fields["title"], "A");
        assert_eq!(fm.line_of("tags"), Some(3));
    }

    #[test]
    fn splits_toml() {
        let text = "+++\ntitle = \"A\"\nupdated = 2016-01-02\n+++\nbody";
        let split = split(text).unwrap();
        let (format, front) = split.front.unwrap();
        assert_eq!(format, Format::Toml);
        let fm = parse(format, front, split.front_first_line).unwrap();
        assert_eq!(fm.fields["updated"], "2016-01-02");
        assert_eq!(split.body, "body");
    }

    #[test]
    fn no_front_matter_keeps_whole_body() {
        let split = split("# Title\n\ntext\n---\nmore\n---\n").unwrap();
        assert!(split.front.is_none());
        assert!(split.body.contains("more"));
    }

    #[test]
    fn unclosed_block_is_an_error_on_line_one() {
        let err = split("---\ntitle: A\n# body").unwrap_err();
        assert_eq!(err.line(), Some(1));
        assert!(err.to_string().contains("never closed"));
    }

    #[test]
    fn body_of_drops_the_front_matter() {
        assert_eq!(body_of("---\ntitle: A\n---\n# A\n"), "# A\n");
        assert_eq!(body_of("+++\ntitle = \"A\"\n+++\nbody"), "body");
        assert_eq!(body_of("# A\n\n---\nx\n---\n"), "# A\n\n---\nx\n---\n");
    }

    #[test]
    fn scan_values_reads_yaml_and_toml_lines_quoted_or_not() {
        let yaml = "---\ntitle: A\nvisibility: internal # staff only\nstatus: \"draft\"\n---\nvisibility: public\n";
        assert_eq!(scan_values(yaml, "visibility"), ["internal"]);
        assert_eq!(scan_values(yaml, "status"), ["draft"]);
        let toml = "+++\r\ntitle = \"A\"\r\n'visibility' = 'customer'\r\n\"status\" = \"dr#aft\"\r\n+++\r\nbody";
        assert_eq!(scan_values(toml, "visibility"), ["customer"]);
        assert_eq!(scan_values(toml, "status"), ["dr#aft"]);
    }

    #[test]
    fn scan_values_reads_blocks_that_do_not_parse() {
        // A YAML error on another line, an indented key, a key written twice, an unclosed block.
        let broken = "\u{feff}---\ntags: [a, b\n  Visibility: interal\nvisibility: public\n";
        assert_eq!(scan_values(broken, "visibility"), ["interal", "public"]);
        assert_eq!(
            scan_values("---\nstatus:draft\n...\nstatus: x\n", "status"),
            ["draft"]
        );
    }

    #[test]
    fn scan_values_skips_other_keys_null_values_and_files_without_a_block() {
        let text = "---\nvisibility_note: internal\nvisibility:\nstatus: ~\nsummary: visibility: internal\n---\n";
        assert!(scan_values(text, "visibility").is_empty());
        assert!(scan_values(text, "status").is_empty());
        assert_eq!(scan_values("---\nstatus: ''\n---\n", "status"), [""]);
        assert!(scan_values("# Title\n\nvisibility: internal\n", "visibility").is_empty());
        assert!(scan_values("", "visibility").is_empty());
    }

    #[test]
    fn yaml_syntax_error_names_the_file_line() {
        let text = "---\ntitle: A\ntags: [a, b\nversions: all\n---\nbody";
        let split = split(text).unwrap();
        let (format, front) = split.front.unwrap();
        let err = parse(format, front, split.front_first_line).unwrap_err();
        let line = err.line().unwrap();
        assert!((3..=5).contains(&line), "line {line}");
    }
}
