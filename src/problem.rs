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

/// The 1-based line of a byte offset in `text`.
pub fn line_of_offset(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}
