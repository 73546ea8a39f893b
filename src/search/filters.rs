//! Filters: which documents a request may match, by visibility, status, type, product, version
//! and tag. Filters restrict without scoring; the version and support bonuses are here too,
//! since they read the same catalog and fields.

use std::sync::Arc;

use chrono::Utc;
use tantivy::query::{BooleanQuery, ConstScoreQuery, EnableScoring, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{BitSet, Term};

use crate::content::article::{ALL_VERSIONS, Status, Visibility};
use crate::content::products::SupportStatus;
use crate::error::SearchError;
use crate::search::rank::{SUPPORTED_BONUS, VERSION_BONUS};
use crate::search::{KbSearcher, SearchRequest};

/// Audience, whether drafts count, and product: what decides which documents may be shown.
pub(super) type AllowedKey = (Visibility, bool, Option<String>);

/// Which request parameter a filter comes from; facets skip their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FilterKind {
    Visibility,
    Status,
    Type,
    Product,
    Version,
    Tag,
}

/// A filter clause and the request parameter it comes from.
pub(crate) type Filter = (FilterKind, Box<dyn Query>);

impl KbSearcher {
    /// Filter clauses, each tagged with the facet it belongs to: they restrict the matches and
    /// add nothing to the score.
    pub(crate) fn filters(&self, request: &SearchRequest) -> Result<Vec<Filter>, SearchError> {
        let schema = &self.schema;
        let mut filters: Vec<Filter> = Vec::new();
        let visible: Vec<&str> = Visibility::ALL
            .iter()
            .filter(|v| **v <= request.audience)
            .map(|v| v.as_str())
            .collect();
        filters.push((FilterKind::Visibility, any_of(schema.visibility, &visible)));
        if !request.include_drafts {
            filters.push((
                FilterKind::Status,
                any_of(schema.status, &[Status::Published.as_str()]),
            ));
        }
        if !request.types.is_empty() {
            let types: Vec<&str> = request.types.iter().map(|t| t.as_str()).collect();
            filters.push((FilterKind::Type, any_of(schema.kind, &types)));
        }
        if let Some(product) = &request.product {
            let name = self
                .catalog
                .product(product)
                .map_or(product.clone(), |p| p.name.clone());
            filters.push((
                FilterKind::Product,
                any_of(schema.product, &[name.as_str()]),
            ));
        }
        if let Some(version) = &request.version {
            let canonical = self.canonical_version(request.product.as_deref(), version)?;
            filters.push((
                FilterKind::Version,
                any_of(schema.versions, &[canonical.as_str(), ALL_VERSIONS]),
            ));
        }
        if !request.tags.is_empty() {
            let tags: Vec<String> = request.tags.iter().map(|t| t.to_lowercase()).collect();
            let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
            filters.push((FilterKind::Tag, any_of(schema.tags, &tags)));
        }
        Ok(filters)
    }

    /// Per segment, the live published documents `audience` may see, of `product` if given, for
    /// scoring loops that run outside a tantivy query. Kept per snapshot: a few kilobytes per
    /// audience and product, and computing them took 2 % of a deflection.
    pub fn allowed_documents(
        &self,
        audience: Visibility,
        product: Option<&str>,
    ) -> Result<Arc<Vec<BitSet>>, SearchError> {
        self.visible_documents(audience, false, product)
    }

    /// Per segment, the live documents `audience` may see (drafts too when `include_drafts`),
    /// of `product` if given; kept per snapshot.
    pub(super) fn visible_documents(
        &self,
        audience: Visibility,
        include_drafts: bool,
        product: Option<&str>,
    ) -> Result<Arc<Vec<BitSet>>, SearchError> {
        let key = (audience, include_drafts, product.map(str::to_string));
        if let Some(allowed) = self.allowed.lock().expect("allowed lock").get(&key) {
            return Ok(allowed.clone());
        }
        let filters: Vec<(Occur, Box<dyn Query>)> = self
            .filters(&SearchRequest {
                audience,
                include_drafts,
                product: key.2.clone(),
                ..SearchRequest::new("")
            })?
            .into_iter()
            .map(|(_, filter)| (Occur::Must, filter))
            .collect();
        let weight = BooleanQuery::new(filters)
            .weight(EnableScoring::disabled_from_searcher(&self.searcher))?;
        let mut allowed = Vec::with_capacity(self.searcher.segment_readers().len());
        for reader in self.searcher.segment_readers() {
            let mut documents = BitSet::with_max_value(reader.max_doc());
            let alive = reader.alive_bitset();
            weight.for_each_no_score(reader, &mut |docs| {
                for &doc in docs {
                    if alive.is_none_or(|alive| alive.is_alive(doc)) {
                        documents.insert(doc);
                    }
                }
            })?;
            allowed.push(documents);
        }
        let allowed = Arc::new(allowed);
        self.allowed
            .lock()
            .expect("allowed lock")
            .insert(key, allowed.clone());
        Ok(allowed)
    }

    /// Score bonuses: the version asked for, and articles not only about unsupported versions.
    pub(super) fn bonuses(
        &self,
        request: &SearchRequest,
    ) -> Result<Vec<Box<dyn Query>>, SearchError> {
        let mut bonuses: Vec<Box<dyn Query>> = Vec::new();
        let today = Utc::now().date_naive();
        let asked = match &request.version {
            Some(version) => Some(self.canonical_version(request.product.as_deref(), version)?),
            None => None,
        };
        if let Some(version) = &asked {
            let term = Term::from_field_text(self.schema.versions, version);
            let query = TermQuery::new(term, IndexRecordOption::Basic);
            bonuses.push(Box::new(ConstScoreQuery::new(
                Box::new(query),
                VERSION_BONUS,
            )));
        }
        let asked_is_unsupported = asked
            .as_deref()
            .is_some_and(|v| self.catalog.support_status(v, today) == SupportStatus::EndOfSupport);
        let versions = self.catalog.all_versions();
        let any_unsupported = versions
            .iter()
            .any(|v| self.catalog.support_status(v, today) == SupportStatus::EndOfSupport);
        if any_unsupported && !asked_is_unsupported {
            let mut current: Vec<&str> = versions
                .iter()
                .filter(|v| self.catalog.support_status(v, today) != SupportStatus::EndOfSupport)
                .map(String::as_str)
                .collect();
            current.push(ALL_VERSIONS);
            let query = BooleanQuery::new(
                current
                    .into_iter()
                    .map(|v| {
                        let term = Term::from_field_text(self.schema.versions, v);
                        let query: Box<dyn Query> =
                            Box::new(TermQuery::new(term, IndexRecordOption::Basic));
                        (Occur::Should, query)
                    })
                    .collect(),
            );
            bonuses.push(Box::new(ConstScoreQuery::new(
                Box::new(query),
                SUPPORTED_BONUS,
            )));
        }
        Ok(bonuses)
    }

    /// The catalog spelling of a version filter; unknown versions are an error when a catalog exists.
    pub fn canonical_version(
        &self,
        product: Option<&str>,
        version: &str,
    ) -> Result<String, SearchError> {
        if self.catalog.products.is_empty() {
            return Ok(version.trim().to_string());
        }
        self.catalog
            .canonical_version(product, version)
            .ok_or_else(|| SearchError::BadFilter {
                parameter: "version",
                value: version.to_string(),
                expected: self.catalog.all_versions().join(", "),
            })
    }

    /// Live published documents `audience` may see: a count that articles hidden from
    /// `audience` do not change.
    pub fn documents_visible_to(&self, audience: Visibility) -> Result<u64, SearchError> {
        let allowed = self.allowed_documents(audience, None)?;
        Ok(allowed.iter().map(|segment| segment.len() as u64).sum())
    }
}

/// Matches documents whose keyword `field` holds any of `values`, without scoring.
fn any_of(field: Field, values: &[&str]) -> Box<dyn Query> {
    let terms: Vec<(Occur, Box<dyn Query>)> = values
        .iter()
        .map(|value| {
            let term = Term::from_field_text(field, value);
            let query: Box<dyn Query> = Box::new(TermQuery::new(term, IndexRecordOption::Basic));
            (Occur::Should, query)
        })
        .collect();
    Box::new(ConstScoreQuery::new(
        Box::new(BooleanQuery::new(terms)),
        0.0,
    ))
}
