//! What a search returns: a page of hits with snippets and deep links, facet counts, and what
//! article pages show about an article. Plain data, serialized by the server as it is.

use chrono::NaiveDate;
use serde::Serialize;

use crate::content::markdown::Heading;
use crate::content::products::SupportStatus;
use crate::search::facets::Facets;
use crate::search::snippet::Highlighted;

/// The section of an article a hit points into.
#[derive(Debug, Clone, Serialize)]
pub struct SectionRef {
    pub heading: String,
    pub anchor: String,
}

/// Where one version of an article stands in its lifecycle.
#[derive(Debug, Clone, Serialize)]
pub struct VersionSupport {
    pub version: String,
    pub status: SupportStatus,
}

/// What results and article pages show about an article.
#[derive(Debug, Clone, Serialize)]
pub struct ArticleInfo {
    pub id: String,
    pub title: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub path: String,
    pub product: Option<String>,
    pub versions: Vec<String>,
    /// Support status of each version the article is for.
    pub support: Vec<VersionSupport>,
    /// True when every version the article is for is past its end of general support.
    pub end_of_support: bool,
    pub tags: Vec<String>,
    pub visibility: String,
    pub status: String,
    pub updated: Option<NaiveDate>,
    pub summary: String,
}

/// One search result.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    #[serde(flatten)]
    pub info: ArticleInfo,
    pub score: f32,
    pub snippet: Highlighted,
    pub section: Option<SectionRef>,
}

/// A page of results.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResults {
    /// Articles matching the query and filters, over all pages.
    pub total: usize,
    pub hits: Vec<Hit>,
    /// Counts per facet value over all matches, each ignoring its own filter.
    pub facets: Option<Facets>,
    /// A better-spelled query that has results, when the query had unknown words.
    pub did_you_mean: Option<String>,
    /// Things the caller should know, such as a shortened query.
    pub notices: Vec<String>,
    /// Ranked lexically only because the model was busy with another request: a result to
    /// show, not to cache.
    #[serde(skip)]
    pub provisional: bool,
}

/// An article as stored in the index, for article pages and the API.
#[derive(Debug, Clone, Serialize)]
pub struct StoredArticle {
    #[serde(flatten)]
    pub info: ArticleInfo,
    pub sections: Vec<Heading>,
    /// The markdown body of the indexed (last good) version.
    pub markdown: String,
    /// Queries the article should answer (front matter `queries:`), for ranking checks.
    pub queries: Vec<String>,
}
