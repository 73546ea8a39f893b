//! Stored fields: what results and article pages show about an article, read from the index's
//! document store, and the article lookups by id and path, always through the caller's filters.

use chrono::{NaiveDate, Utc};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, Value};
use tantivy::{DocAddress, Searcher, TantivyDocument, Term};

use crate::content::article::{ALL_VERSIONS, Visibility};
use crate::content::front_matter;
use crate::content::markdown::Heading;
use crate::content::products::SupportStatus;
use crate::error::SearchError;
use crate::search::snippet::{Highlighted, Highlighter};
use crate::search::{
    ArticleInfo, Hit, KbSearcher, SearchRequest, SectionRef, StoredArticle, VersionSupport,
};

/// What a hit shows of a document, read once from the store (see [`crate::search::hit_docs`]).
pub struct DocFields {
    /// As stored; the support status of its versions is computed again at each use.
    pub info: ArticleInfo,
    /// Body text, for snippets.
    pub body: String,
    /// Headings with their body offsets, for deep links.
    pub sections: Vec<Heading>,
}

impl DocFields {
    /// Bytes held, near enough to bound a cache.
    pub fn size(&self) -> usize {
        let info = &self.info;
        let strings = [
            &info.id,
            &info.title,
            &info.kind,
            &info.path,
            &info.visibility,
            &info.status,
            &info.summary,
            &self.body,
        ];
        let lists = info.versions.iter().chain(&info.tags);
        let headings = self
            .sections
            .iter()
            .map(|h| h.text.len() + h.anchor.len() + 64);
        std::mem::size_of::<DocFields>()
            + strings.iter().map(|s| s.len()).sum::<usize>()
            + info.product.as_ref().map_or(0, String::len)
            + lists.map(|s| s.len() + 24).sum::<usize>()
            + headings.sum::<usize>()
    }
}

/// Reads stored fields of one document.
struct Stored<'a> {
    doc: &'a TantivyDocument,
}

impl<'a> Stored<'a> {
    fn text(&self, field: Field) -> String {
        self.borrowed(field).to_string()
    }

    /// The text of `field` without a copy (a body is kilobytes, read once per hit).
    fn borrowed(&self, field: Field) -> &'a str {
        self.doc
            .get_first(field)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
    }

    fn optional(&self, field: Field) -> Option<String> {
        self.doc
            .get_first(field)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    }

    fn all(&self, field: Field) -> Vec<String> {
        self.doc
            .get_all(field)
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    }

    fn date(&self, field: Field) -> Option<NaiveDate> {
        self.doc
            .get_first(field)
            .and_then(|v| v.as_datetime())
            .and_then(|d| chrono::DateTime::from_timestamp(d.into_timestamp_secs(), 0))
            .map(|d| d.date_naive())
    }
}

impl KbSearcher {
    /// Support status of each version, and whether all of them are past end of support.
    fn support(&self, versions: &[String]) -> (Vec<VersionSupport>, bool) {
        let today = Utc::now().date_naive();
        let support: Vec<VersionSupport> = versions
            .iter()
            .filter(|v| String::as_str(v) != ALL_VERSIONS)
            .map(|v| VersionSupport {
                version: v.clone(),
                status: self.catalog.support_status(v, today),
            })
            .collect();
        let end_of_support = !support.is_empty()
            && support
                .iter()
                .all(|s| s.status == SupportStatus::EndOfSupport);
        (support, end_of_support)
    }

    /// The article with `id`, if `audience` may see it (drafts only when `include_drafts`).
    pub fn article(
        &self,
        id: &str,
        audience: Visibility,
        include_drafts: bool,
    ) -> Result<Option<StoredArticle>, SearchError> {
        let searcher = &self.searcher;
        let Some(doc) = self.visible_doc(searcher, self.schema.id, id, audience, include_drafts)?
        else {
            return Ok(None);
        };
        let stored = Stored { doc: &doc };
        let schema = &self.schema;
        let extras: serde_json::Value =
            serde_json::from_str(&stored.text(schema.extras)).unwrap_or_default();
        Ok(Some(StoredArticle {
            info: self.info(&stored),
            sections: serde_json::from_str(&stored.text(schema.sections)).unwrap_or_default(),
            markdown: front_matter::body_of(&stored.text(schema.source)).to_string(),
            queries: serde_json::from_value(extras["queries"].clone()).unwrap_or_default(),
        }))
    }

    /// Every article of the index, drafts and all visibilities: the preview's article list.
    pub fn list_articles(&self) -> Result<Vec<ArticleInfo>, SearchError> {
        let mut articles = Vec::new();
        for segment in self.searcher.segment_readers() {
            let store = segment
                .get_store_reader(64)
                .map_err(tantivy::TantivyError::from)?;
            for doc_id in segment.doc_ids_alive() {
                let doc: TantivyDocument = store.get(doc_id)?;
                articles.push(self.info(&Stored { doc: &doc }));
            }
        }
        articles.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(articles)
    }

    /// The fields shown about the article in `stored`.
    fn info(&self, stored: &Stored<'_>) -> ArticleInfo {
        let schema = &self.schema;
        let versions = stored.all(schema.versions);
        let (support, end_of_support) = self.support(&versions);
        ArticleInfo {
            id: stored.text(schema.id),
            title: stored.text(schema.title),
            kind: stored.text(schema.kind),
            path: stored.text(schema.path),
            product: stored.optional(schema.product),
            versions,
            support,
            end_of_support,
            tags: stored.all(schema.tags),
            visibility: stored.text(schema.visibility),
            status: stored.text(schema.status),
            updated: stored.date(schema.updated),
            summary: stored.text(schema.summary),
        }
    }

    /// The id of the article stored from `path`, if `audience` may see it.
    pub fn id_for_path(
        &self,
        path: &str,
        audience: Visibility,
        include_drafts: bool,
    ) -> Result<Option<String>, SearchError> {
        let searcher = &self.searcher;
        let doc = self.visible_doc(searcher, self.schema.path, path, audience, include_drafts)?;
        Ok(doc.map(|doc| Stored { doc: &doc }.text(self.schema.id)))
    }

    fn visible_doc(
        &self,
        searcher: &Searcher,
        key_field: Field,
        key: &str,
        audience: Visibility,
        include_drafts: bool,
    ) -> Result<Option<TantivyDocument>, SearchError> {
        let mut request = SearchRequest::new("");
        request.audience = audience;
        request.include_drafts = include_drafts;
        let term = Term::from_field_text(key_field, key);
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(
            Occur::Must,
            Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
        )];
        clauses.extend(
            self.filters(&request)?
                .into_iter()
                .map(|(_, f)| (Occur::Must, f)),
        );
        let found = searcher.search(
            &BooleanQuery::new(clauses),
            &TopDocs::with_limit(1).order_by_score(),
        )?;
        match found.first() {
            Some((_, address)) => Ok(Some(searcher.doc(*address)?)),
            None => Ok(None),
        }
    }

    pub fn hit(
        &self,
        searcher: &Searcher,
        snippets: Option<&Highlighter>,
        score: f32,
        address: DocAddress,
    ) -> Result<Hit, SearchError> {
        let schema = &self.schema;
        let fields = self.hit_docs.get(searcher, address, |doc| {
            let stored = Stored { doc };
            DocFields {
                info: self.info(&stored),
                body: stored.text(schema.body),
                sections: serde_json::from_str(stored.borrowed(schema.sections))
                    .unwrap_or_default(),
            }
        })?;
        let found = snippets.and_then(|highlighter| highlighter.highlight(&fields.body));
        // The section holding the first highlighted word, not where the fragment starts.
        let section = found.as_ref().and_then(|snippet| {
            fields
                .sections
                .iter()
                .rev()
                .find(|h| h.text_offset <= snippet.first_match)
                .map(|h| SectionRef {
                    heading: h.text.clone(),
                    anchor: h.anchor.clone(),
                })
        });
        let highlighted = match found {
            Some(snippet) => snippet.highlighted,
            None => Highlighted {
                text: fields.info.summary.clone(),
                ranges: Vec::new(),
            },
        };
        let mut info = fields.info.clone();
        // Today's status: a kept document may outlive a day.
        (info.support, info.end_of_support) = self.support(&info.versions);
        Ok(Hit {
            info,
            score,
            snippet: highlighted,
            section,
        })
    }
}
