//! Problems found in the content folder: what `kbsearch check`, the index summary and (later) the
//! status endpoint report. A problem names the file, the line where known, and says what is wrong;
//! errors keep a file out of the index, warnings do not.

use std::fmt;

use serde::Serialize;

/// How bad a problem is: an error keeps the file out of the index, a warning only informs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One thing wrong with one file of the content folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Path relative to the content folder, with `/` separators.
    pub path: String,
    /// 1-based line in the file, when the problem has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    pub severity: Severity,
    pub message: String,
}

impl Problem {
    pub fn error(path: impl Into<String>, line: Option<usize>, message: impl Into<String>) -> Self {
        Problem {
            path: path.into(),
            line,
            severity: Severity::Error,
            message: message.into(),
        }
    }

    pub fn warning(
        path: impl Into<String>,
        line: Option<usize>,
        message: impl Into<String>,
    ) -> Self {
        Problem {
            path: path.into(),
            line,
            severity: Severity::Warning,
            message: message.into(),
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        match self.line {
            Some(line) => write!(f, "{}:{}: {}: {}", self.path, line, severity, self.message),
            None => write!(f, "{}: {}: {}", self.path, severity, self.message),
        }
    }
}

/// Sorts problems the way a writer reads them: by file, then line, errors first.
pub fn sort_problems(problems: &mut [Problem]) {
    problems.sort_by(|a, b| {
        (&a.path, a.line.unwrap_or(0), a.severity, &a.message).cmp(&(
            &b.path,
            b.line.unwrap_or(0),
            b.severity,
            &b.message,
        ))
    });
}

/// Loads an optional file of the content folder with `parse`: a missing file is `T::default()`,
/// an unreadable or unparsable one is reported and also yields the default, so articles still
/// index. Used for `products.toml` and `synonyms.toml`.
pub fn load_optional<T: Default>(
    kb_root: &std::path::Path,
    name: &str,
    parse: impl FnOnce(&str) -> Result<T, Problem>,
) -> (T, Vec<Problem>) {
    let text = match std::fs::read_to_string(kb_root.join(name)) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return (T::default(), Vec::new());
        }
        Err(err) => {
            return (
                T::default(),
                vec![Problem::error(name, None, format!("cannot read: {err}"))],
            );
        }
    };
    match parse(&text) {
        Ok(value) => (value, Vec::new()),
        Err(problem) => (T::default(), vec![problem]),
    }
}

/// The 1-based line of a byte offset in `text`.
pub fn line_of_offset(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}
