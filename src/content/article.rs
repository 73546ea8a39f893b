//! Articles: one markdown file of the content folder, read into the fields search works with.
//! Front matter gives the metadata (with the defaults of DESIGN.md), the body gives text, code,
//! headings and links. Everything wrong with a file becomes a [`Problem`] naming its line; errors
//! keep the file out of the index, warnings do not. For a file that does not parse,
//! [`most_restrictive_reading`] still says who it may be shown to.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::content::front_matter::{self, FrontMatter};
use crate::content::markdown::{self, Heading, Reference};
use crate::content::problem::Problem;
use crate::content::products::Catalog;

/// Which part of the portal an article belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ArticleType {
    #[serde(rename = "kb")]
    Kb,
    #[serde(rename = "help")]
    Help,
    #[serde(rename = "release-note")]
    ReleaseNote,
}

/// Who may see an article: anonymous visitors, registered customers, or support staff. Ordered
/// from the widest audience to the narrowest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    Public,
    Customer,
    Internal,
}

/// Whether an article is live; drafts appear only in the writers' preview. Ordered from the
/// widest audience to the narrowest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Published,
    Draft,
}

macro_rules! keyword_enum {
    ($ty:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }
            /// The value named exactly as written here: what an API request must send, where
            /// front matter (`from_str`) also takes `KB` or ` help`.
            pub fn from_exact(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($ty::$variant),)+
                    _ => Err(Self::unknown(s)),
                }
            }
            fn unknown(s: &str) -> String {
                format!("`{}` is not one of: {}", s, [$($text),+].join(", "))
            }
        }
        impl FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                Self::from_exact(&s.trim().to_ascii_lowercase()).map_err(|_| Self::unknown(s))
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

keyword_enum!(ArticleType { Kb => "kb", Help => "help", ReleaseNote => "release-note" });
keyword_enum!(Visibility { Public => "public", Customer => "customer", Internal => "internal" });
keyword_enum!(Status { Published => "published", Draft => "draft" });

/// Who an article is shown to: the two keys that decide which callers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exposure {
    pub visibility: Visibility,
    pub status: Status,
}

impl Exposure {
    /// What front matter without `visibility` and `status` means.
    pub const DEFAULT: Exposure = Exposure {
        visibility: Visibility::Public,
        status: Status::Published,
    };

    pub fn of(article: &Article) -> Exposure {
        Exposure {
            visibility: article.visibility,
            status: article.status,
        }
    }

    /// The more restrictive of the two, key by key.
    pub fn narrowest(self, other: Exposure) -> Exposure {
        Exposure {
            visibility: self.visibility.max(other.visibility),
            status: self.status.max(other.status),
        }
    }
}

/// The most restrictive reading of what a file says about `visibility` and `status`, for a file
/// that does not parse (its YAML or TOML, or another key, is wrong): each line setting one of the
/// two keys is read on its own (`front_matter::scan_values`). A valid value counts as written, an
/// invalid one as the narrowest (`internal`, `draft`), an absent one as the default (`public`,
/// `published`); a key written twice counts at its narrowest. Bytes that are not UTF-8 are read
/// lossily.
pub fn most_restrictive_reading(bytes: &[u8]) -> Exposure {
    let text = String::from_utf8_lossy(bytes);
    let visibility = front_matter::scan_values(&text, "visibility")
        .into_iter()
        .map(|value| value.parse().unwrap_or(Visibility::Internal))
        .max()
        .unwrap_or(Exposure::DEFAULT.visibility);
    let status = front_matter::scan_values(&text, "status")
        .into_iter()
        .map(|value| value.parse().unwrap_or(Status::Draft))
        .max()
        .unwrap_or(Exposure::DEFAULT.status);
    Exposure { visibility, status }
}

/// The token stored for articles that apply to every version.
pub const ALL_VERSIONS: &str = "all";

/// Front matter keys this version understands, with the aliases other site generators use.
/// The keys that decide who may see an article: a misspelt case of one is an error, not a
/// warning.
const ACCESS_KEYS: &[&str] = &["visibility", "status"];

pub const KNOWN_KEYS: &[&str] = &[
    "id",
    "title",
    "type",
    "product",
    "versions",
    "tags",
    "visibility",
    "status",
    "updated",
    "summary",
    "keywords",
    "queries",
];
const ALIASES: &[(&str, &str)] = &[
    ("description", "summary"),
    ("date", "updated"),
    ("lastmod", "updated"),
];

/// Longest summary kept when it comes from the first paragraph.
const SUMMARY_CHARS: usize = 280;

/// One article, ready to index.
#[derive(Debug, Clone, Serialize)]
pub struct Article {
    pub id: String,
    /// Path relative to the content folder, `/`-separated.
    pub path: String,
    pub title: String,
    #[serde(rename = "type")]
    pub kind: ArticleType,
    pub product: Option<String>,
    /// Catalog spellings of the versions, or `["all"]`.
    pub versions: Vec<String>,
    pub tags: Vec<String>,
    pub visibility: Visibility,
    pub status: Status,
    pub updated: NaiveDate,
    pub summary: String,
    pub keywords: Vec<String>,
    pub queries: Vec<String>,
    /// The file as read, front matter and body: stored, so that the indexed version can be
    /// rebuilt and its page rendered (`front_matter::body_of` gives the body).
    pub source: String,
    /// Plain text of the body, without headings and code blocks.
    pub text: String,
    pub code: String,
    pub headings: Vec<Heading>,
    pub links: Vec<Reference>,
    pub images: Vec<Reference>,
}

/// What an article is parsed against.
pub struct ParseContext<'a> {
    pub catalog: &'a Catalog,
}

/// A file's bytes and where they came from, as read by `scan`.
pub struct SourceFile<'a> {
    pub path: &'a str,
    pub bytes: &'a [u8],
    pub modified: Option<DateTime<Utc>>,
}

/// The result of parsing one file: the article when it has no errors, and every problem found.
pub struct Parsed {
    pub article: Option<Article>,
    pub problems: Vec<Problem>,
}

/// The type given by the top folder: `articles/`, `help/`, `release-notes/`.
pub fn type_from_path(path: &str) -> ArticleType {
    match path.split('/').next() {
        Some("help") => ArticleType::Help,
        Some("release-notes") => ArticleType::ReleaseNote,
        _ => ArticleType::Kb,
    }
}

/// The default id: the path without its `.md` extension.
pub fn id_from_path(path: &str) -> String {
    path.strip_suffix(".md")
        .or_else(|| path.strip_suffix(".MD"))
        .unwrap_or(path)
        .to_string()
}

/// Parses one file into an article, collecting every problem instead of stopping at the first.
pub fn parse(source: &SourceFile<'_>, ctx: &ParseContext<'_>) -> Parsed {
    let path = source.path;
    let fail = |line, message: String| Parsed {
        article: None,
        problems: vec![Problem::error(path, line, message)],
    };
    let text = match std::str::from_utf8(source.bytes) {
        Ok(text) => text,
        Err(err) => {
            let valid = &source.bytes[..err.valid_up_to()];
            let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
            return fail(
                Some(line),
                format!(
                    "file is not valid UTF-8 (invalid byte at offset {}): save it as UTF-8",
                    err.valid_up_to()
                ),
            );
        }
    };
    if text.trim().is_empty() {
        return fail(None, "file is empty".to_string());
    }
    let split = match front_matter::split(text) {
        Ok(split) => split,
        Err(err) => return fail(err.line(), err.to_string()),
    };
    let front = match split.front {
        Some((format, front_text)) => {
            match front_matter::parse(format, front_text, split.front_first_line) {
                Ok(front) => front,
                Err(err) => return fail(err.line(), err.to_string()),
            }
        }
        None => FrontMatter::default(),
    };
    let extract = markdown::extract(split.body, split.body_first_line);
    Builder {
        path,
        front: &front,
        problems: Vec::new(),
        ctx,
    }
    .build(source, text, extract)
}

/// Turns front matter values into article fields, recording problems as it goes.
struct Builder<'a> {
    path: &'a str,
    front: &'a FrontMatter,
    problems: Vec<Problem>,
    ctx: &'a ParseContext<'a>,
}

impl Builder<'_> {
    fn build(mut self, source: &SourceFile<'_>, text: &str, extract: markdown::Extract) -> Parsed {
        self.warn_unknown_keys();
        for (line, start) in &extract.restarted_lists {
            self.problems.push(Problem::warning(
                self.path,
                Some(*line),
                format!(
                    "a numbered list starts at {start}: a code block or paragraph of the step \
                     above is probably not indented under it, which ends the list (indent it to \
                     the step's text)"
                ),
            ));
        }
        let id = self.string("id").unwrap_or_else(|| id_from_path(self.path));
        self.check_id(&id);
        let title = match self.string("title") {
            Some(title) if !title.trim().is_empty() => Some(title.trim().to_string()),
            _ => extract.first_h1().map(|h| h.text.clone()),
        };
        if title.is_none() {
            self.error(
                "title",
                "no title: add `title:` to the front matter or start the body with a `# Heading`",
            );
        }
        let kind = self
            .keyword("type")
            .unwrap_or_else(|| type_from_path(self.path));
        let visibility = self
            .keyword("visibility")
            .unwrap_or(Exposure::DEFAULT.visibility);
        let status = self.keyword("status").unwrap_or(Exposure::DEFAULT.status);
        let product = self
            .string("product")
            .or_else(|| self.ctx.catalog.default_product().map(str::to_string));
        self.check_product(product.as_deref());
        let versions = self.versions(product.as_deref());
        let updated = self.updated(source.modified);
        let summary = self
            .string_with_alias("summary")
            .filter(|s| !s.trim().is_empty())
            .or_else(|| extract.first_paragraph.clone())
            .map(|s| truncate_chars(s.trim(), SUMMARY_CHARS))
            .unwrap_or_default();
        let tags = self
            .list("tags")
            .into_iter()
            .map(|t| t.to_lowercase())
            .collect();
        let keywords = self.list("keywords");
        let queries = self.list("queries");

        let has_errors = self.problems.iter().any(Problem::is_error);
        let Some(title) = title.filter(|_| !has_errors) else {
            return Parsed {
                article: None,
                problems: self.problems,
            };
        };
        // The H1 repeats the title; keeping it out of `headings` avoids counting it twice.
        let headings = extract
            .headings
            .into_iter()
            .filter(|h| !(h.level == 1 && h.text == title))
            .collect();
        Parsed {
            article: Some(Article {
                id,
                path: self.path.to_string(),
                title,
                kind,
                product,
                versions,
                tags,
                visibility,
                status,
                updated,
                summary,
                keywords,
                queries,
                source: text.to_string(),
                text: extract.text,
                code: extract.code,
                headings,
                links: extract.links,
                images: extract.images,
            }),
            problems: self.problems,
        }
    }

    fn line(&self, key: &str) -> Option<usize> {
        self.front.line_of(key)
    }

    fn error(&mut self, key: &str, message: impl Into<String>) {
        let line = self.line(key);
        self.problems.push(Problem::error(self.path, line, message));
    }

    fn warning(&mut self, key: &str, message: impl Into<String>) {
        let line = self.line(key);
        self.problems
            .push(Problem::warning(self.path, line, message));
    }

    fn warn_unknown_keys(&mut self) {
        let unknown: Vec<String> = self
            .front
            .fields
            .keys()
            .filter(|k| !KNOWN_KEYS.contains(&k.as_str()) && !ALIASES.iter().any(|(a, _)| a == k))
            .cloned()
            .collect();
        for key in unknown {
            // A key that decides who may see the article, written with other letter cases, must
            // not be ignored: the article would be shown to everyone.
            if let Some(meant) = ACCESS_KEYS.iter().find(|k| k.eq_ignore_ascii_case(&key)) {
                self.error(
                    &key,
                    format!("front matter key `{key}` must be written `{meant}`"),
                );
            } else {
                self.warning(&key, format!("unknown front matter key `{key}` is ignored"));
            }
        }
    }

    fn value(&self, key: &str) -> Option<&Value> {
        self.front.fields.get(key).filter(|v| !v.is_null())
    }

    /// A scalar value as text; lists and maps are an error for keys that need one value.
    fn string(&mut self, key: &str) -> Option<String> {
        let value = self.value(key)?.clone();
        match scalar_text(&value) {
            Some(text) => Some(text),
            None => {
                self.error(
                    key,
                    format!("`{key}` must be a single value, not a list or map"),
                );
                None
            }
        }
    }

    fn string_with_alias(&mut self, key: &str) -> Option<String> {
        if self.value(key).is_some() {
            return self.string(key);
        }
        let alias = ALIASES.iter().find(|(_, target)| *target == key)?.0;
        self.string(alias)
    }

    fn keyword<T: FromStr<Err = String>>(&mut self, key: &str) -> Option<T> {
        let text = self.string(key)?;
        match text.parse() {
            Ok(value) => Some(value),
            Err(reason) => {
                self.error(key, format!("`{key}`: {reason}"));
                None
            }
        }
    }

    /// A list value; a single string is split on commas (`tags: smb, nfs`).
    fn list(&mut self, key: &str) -> Vec<String> {
        let Some(value) = self.value(key).cloned() else {
            return Vec::new();
        };
        let items: Vec<String> = match &value {
            Value::Array(items) => items.iter().filter_map(scalar_text).collect(),
            other => match scalar_text(other) {
                Some(text) => text.split(',').map(str::to_string).collect(),
                None => {
                    self.warning(key, format!("`{key}` must be a list of values; ignored"));
                    Vec::new()
                }
            },
        };
        items
            .into_iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    }

    fn check_id(&mut self, id: &str) {
        let valid = !id.is_empty()
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
        if !valid {
            self.error(
                "id",
                format!("id `{id}` may only use letters, digits, `-`, `_`, `.` and `/`"),
            );
        }
    }

    fn check_product(&mut self, product: Option<&str>) {
        let catalog = self.ctx.catalog;
        if let Some(name) = product
            && !catalog.products.is_empty()
            && catalog.product(name).is_none()
        {
            self.warning(
                "product",
                format!("product `{name}` is not in products.toml"),
            );
        }
    }

    fn versions(&mut self, product: Option<&str>) -> Vec<String> {
        let written = self.list("versions");
        if written.is_empty() || written.iter().any(|v| v.eq_ignore_ascii_case(ALL_VERSIONS)) {
            return vec![ALL_VERSIONS.to_string()];
        }
        let catalog = self.ctx.catalog;
        let mut versions = Vec::new();
        for version in written {
            match catalog.canonical_version(product, &version) {
                Some(canonical) => versions.push(canonical),
                None => {
                    if !catalog.products.is_empty() {
                        let known = catalog.all_versions().join(", ");
                        self.warning(
                            "versions",
                            format!("version `{version}` is not in products.toml (known: {known})"),
                        );
                    }
                    versions.push(version);
                }
            }
        }
        versions.sort();
        versions.dedup();
        versions
    }

    fn updated(&mut self, modified: Option<DateTime<Utc>>) -> NaiveDate {
        let fallback = modified.unwrap_or_else(Utc::now).date_naive();
        let Some(text) = self.string_with_alias("updated") else {
            return fallback;
        };
        match parse_date(&text) {
            Some(date) => date,
            None => {
                let key = if self.value("updated").is_some() {
                    "updated"
                } else {
                    "date"
                };
                self.warning(
                    key,
                    format!("date `{text}` is not YYYY-MM-DD; using the file's modification time"),
                );
                fallback
            }
        }
    }
}

/// A scalar as text: strings as they are, numbers and booleans in their written form.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Reads the date formats found in real front matter: ISO dates and datetimes, `MM/DD/YYYY`.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Some(date);
    }
    if let Ok(datetime) = DateTime::parse_from_rfc3339(text) {
        return Some(datetime.date_naive());
    }
    if let Some(prefix) = text.get(..10)
        && let Ok(date) = NaiveDate::parse_from_str(prefix, "%Y-%m-%d")
    {
        return Some(date);
    }
    NaiveDate::parse_from_str(text, "%m/%d/%Y").ok()
}

fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", text[..cut].trim_end()),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(text: &[u8]) -> (Visibility, Status) {
        let exposure = most_restrictive_reading(text);
        (exposure.visibility, exposure.status)
    }

    #[test]
    fn a_valid_value_counts_as_written_even_when_the_block_does_not_parse() {
        let broken = b"---\ntitle: [unclosed\nvisibility: customer\nstatus: Draft\n---\nbody\n";
        assert_eq!(reading(broken), (Visibility::Customer, Status::Draft));
        let toml = b"+++\ntitle = \"A\"\nvisibility = \"internal\"\nversions = [\n+++\n";
        assert_eq!(reading(toml), (Visibility::Internal, Status::Published));
    }

    #[test]
    fn an_invalid_value_counts_as_the_narrowest() {
        let typos = b"---\nvisibility: interal\nstatus: drafty\n---\n";
        assert_eq!(reading(typos), (Visibility::Internal, Status::Draft));
        let lists = b"---\nvisibility: [public]\nstatus: \"\"\n---\n";
        assert_eq!(reading(lists), (Visibility::Internal, Status::Draft));
    }

    #[test]
    fn an_absent_value_counts_as_the_default() {
        let defaults = (Visibility::Public, Status::Published);
        assert_eq!(reading(b"---\ntitle: [unclosed\n---\n"), defaults);
        assert_eq!(reading(b"---\nvisibility:\nstatus: null\n---\n"), defaults);
        assert_eq!(
            reading(b"# No front matter\n\nvisibility: internal\n"),
            defaults
        );
        assert_eq!(reading(b""), defaults);
    }

    #[test]
    fn a_key_written_twice_counts_at_its_narrowest() {
        let twice = b"---\nvisibility: internal\nvisibility: public\nstatus: published\nstatus: draft\n---\n";
        assert_eq!(reading(twice), (Visibility::Internal, Status::Draft));
    }

    #[test]
    fn bytes_that_are_not_utf8_are_read_lossily() {
        let latin1 = b"---\ntitle: Caf\xe9\nvisibility: customer\n---\n";
        assert_eq!(reading(latin1), (Visibility::Customer, Status::Published));
    }

    #[test]
    fn narrowest_takes_each_key_at_its_narrowest() {
        let customer_draft = Exposure {
            visibility: Visibility::Customer,
            status: Status::Draft,
        };
        let internal = Exposure {
            visibility: Visibility::Internal,
            status: Status::Published,
        };
        assert_eq!(
            customer_draft.narrowest(internal),
            Exposure {
                visibility: Visibility::Internal,
                status: Status::Draft,
            }
        );
        assert_eq!(Exposure::DEFAULT.narrowest(internal), internal);
    }
}
