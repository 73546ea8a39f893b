//! Front matter: the metadata block at the very start of an article, YAML between `---` lines or
//! TOML between `+++` lines. It is split off by hand, only at the start of the file, before any
//! markdown parsing: pulldown-cmark's metadata option accepts a block at any unindented position
//! and would swallow body text after a `---` thematic break (pulldown-cmark#1000).
//!
//! This module only finds the block and turns it into a map of keys with the line of each key;
//! `article` gives the keys their meaning.

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
    let (format, delimiter) = match bare_line(&text[..first_line_end]) {
        "---" => (Format::Yaml, "---"),
        "+++" => (Format::Toml, "+++"),
        _ => {
            return Ok(Split {
                front: None,
                front_first_line: 1,
                body: text,
                body_first_line: 1,
            });
        }
    };
    let mut offset = first_line_end;
    let mut line_number = 2;
    while offset < text.len() {
        let line_end = text[offset..]
            .find('\n')
            .map_or(text.len(), |i| offset + i + 1);
        let line = bare_line(&text[offset..line_end]);
        let closes = line == delimiter || (format == Format::Yaml && line == "...");
        if closes {
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
    Err(FrontMatterError::Unclosed { delimiter })
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
    fn yaml_syntax_error_names_the_file_line() {
        let text = "---\ntitle: A\ntags: [a, b\nversions: all\n---\nbody";
        let split = split(text).unwrap();
        let (format, front) = split.front.unwrap();
        let err = parse(format, front, split.front_first_line).unwrap_err();
        let line = err.line().unwrap();
        assert!((3..=5).contains(&line), "line {line}");
    }
}
